//! A running command: in a process group of its own (so that a signal reaches what it
//! started too), its piped output read as it comes (forwarded line by line, kept, or both),
//! a caught signal or a stopped lane passed on to the whole group, SIGKILL after a grace
//! period, and a wait that never hangs on a grandchild that still holds the output pipe.

use std::io::{BufRead, Read};
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::lanes::Io;
use super::signals;

/// How long a signalled command may take to stop before its group gets SIGKILL.
pub(super) const GRACE: Duration = Duration::from_secs(10);
/// How long the output of a command that ended is still read (a grandchild that outlived
/// it may hold the pipe open).
const DRAIN: Duration = Duration::from_secs(2);
/// The most of a stream kept (its end, when it is longer).
const KEEP: usize = 64 << 20;

/// What becomes of a piped stream.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Read2 {
    /// Kept whole (a captured output), not shown.
    Keep,
    /// Shown line by line as it comes (prefixed in a lane); its end is kept for hints.
    Show,
}

/// How a command ended.
pub(super) struct Ended {
    pub(super) status: ExitStatus,
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
    /// The caught signal passed on to it, if one ended the run.
    pub(super) signal: Option<i32>,
    /// It was stopped because another lane failed.
    pub(super) stopped: bool,
}

/// A thread reading one stream: what it kept, sent when the stream ends.
fn reader(
    stream: Option<Box<dyn Read + Send>>,
    how: Read2,
    io: &Io,
) -> Option<mpsc::Receiver<Vec<u8>>> {
    let stream = stream?;
    let (tx, rx) = mpsc::channel();
    let io = io.clone();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut lines = std::io::BufReader::new(stream);
        let mut line = Vec::new();
        while lines.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            if how == Read2::Show {
                let text = String::from_utf8_lossy(&line);
                io.output(text.trim_end_matches(['\n', '\r']));
            }
            kept.extend_from_slice(&line);
            if kept.len() > KEEP {
                kept.drain(..kept.len() - KEEP);
            }
            line.clear();
        }
        let _ = tx.send(kept);
    });
    Some(rx)
}

/// Wait for `child` (spawned in its own process group when `group`), reading its piped
/// streams as said, passing on a caught signal or a lane's stop to its group.
pub(super) fn wait(
    mut child: Child,
    out: Read2,
    err: Read2,
    group: bool,
    io: &Io,
) -> std::io::Result<Ended> {
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        out,
        io,
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        err,
        io,
    );
    let pid = child.id();
    let send = |sig: i32| {
        if group {
            signals::send_group(pid, sig);
        } else {
            signals::send(pid, sig);
        }
    };
    let mut forwarded: Option<(i32, Instant)> = None;
    let mut killed = false;
    let mut stopped = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
        let caught = if io.finishing {
            None
        } else {
            signals::caught()
        };
        if io.stopped() && forwarded.is_none() && caught.is_none() {
            // another lane failed: end this lane's command too
            stopped = true;
            send(signals::SIGTERM);
            forwarded = Some((signals::SIGTERM, Instant::now()));
        }
        match (caught, forwarded) {
            (Some(sig), None) => {
                send(sig);
                forwarded = Some((sig, Instant::now()));
            }
            (Some(sig), Some((_, when))) if stopped => {
                // a signal came after the stop: it is what ends the run
                stopped = false;
                send(sig);
                forwarded = Some((sig, when));
            }
            _ => {}
        }
        if let Some((_, when)) = forwarded {
            if !killed && when.elapsed() > GRACE {
                // it (or what it started) ignores the signal
                send(signals::SIGKILL);
                killed = true;
            }
        }
    };
    // a command that ended may have left a grandchild holding its pipe: read on for a
    // moment, then go on without the rest
    let deadline = Instant::now() + DRAIN;
    let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| {
        rx.and_then(|rx| {
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()
        })
        .unwrap_or_default()
    };
    let stdout = collect(stdout);
    let stderr = collect(stderr);
    if group && (forwarded.is_some() || stopped) {
        // whatever of the group is left after a stop
        signals::send_group(pid, signals::SIGKILL);
    }
    Ok(Ended {
        status,
        stdout,
        stderr,
        signal: forwarded.map(|(s, _)| s).filter(|_| !stopped),
        stopped,
    })
}
