//! A running command: in a process group of its own (so that a signal reaches what it
//! started too), its piped output read as it comes (forwarded line by line, kept, or both),
//! a caught signal or a stopped lane passed on to the whole group and to every process it
//! started (a build's container runs in a session of its own, and outlives podman), SIGKILL
//! after a grace period, and a wait that never hangs on a grandchild that still holds the
//! output pipe.

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
    /// It was stopped because it ran past its step's time limit.
    pub(super) timed_out: bool,
}

/// A thread reading one stream: what it kept, sent when the stream ends.
fn reader(
    stream: Option<impl Read + Send + 'static>,
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

/// A process, told apart from a later one with the same pid by its start time.
type Proc = (u32, u64);

/// A process's parent and start time (fields 4 and 22 of /proc/PID/stat), if it is there.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// The start time of a process, if it is there.
fn started(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// Every process descended from `root` now (its children, theirs, ...), whatever their
/// process group or session: one read of each process's stat.
fn descendants(root: u32) -> Vec<Proc> {
    // (pid, parent, start)
    let mut all: Vec<(u32, u32, u64)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((ppid, start)) = stat(pid) {
                all.push((pid, ppid, start));
            }
        }
    }
    let mut found = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for (child, _, start) in all.iter().filter(|(_, pp, _)| *pp == p) {
            found.push((*child, *start));
            todo.push(*child);
        }
    }
    found
}

/// Signal the processes of `tree` that are still the ones found (same start time).
fn signal_tree(tree: &[Proc], sig: i32) -> usize {
    let mut alive = 0;
    for (pid, start) in tree {
        if started(*pid) == Some(*start) {
            signals::send(*pid, sig);
            alive += 1;
        }
    }
    alive
}

/// Wait for `child` (spawned in its own process group when `group`), reading its piped
/// streams as said, passing on a caught signal or a lane's stop to its group.
pub(super) fn wait(
    mut child: Child,
    out: Read2,
    err: Read2,
    group: bool,
    io: &Io,
    limit: Option<Duration>,
) -> std::io::Result<Ended> {
    let started = Instant::now();
    let mut timed_out = false;
    let stdout = reader(child.stdout.take(), out, io);
    let stderr = reader(child.stderr.take(), err, io);
    let pid = child.id();
    // a signal to the command (its group) and to what it started that is still there
    let pass_on = |tree: &[Proc], sig: i32| {
        if group {
            signals::send_group(pid, sig);
        } else {
            signals::send(pid, sig);
        }
        signal_tree(tree, sig);
    };
    let mut forwarded: Option<(i32, Instant)> = None;
    let mut killed = false;
    let mut stopped = false;
    // once a stop or a signal is passed on: every process the command started
    let mut tree: Vec<Proc> = Vec::new();
    let grow = |tree: &mut Vec<Proc>| {
        for p in descendants(pid) {
            if !tree.contains(&p) {
                tree.push(p);
            }
        }
    };
    // short commands (a registry asked for a manifest) end within milliseconds: look often
    // at first, then every 50 ms
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
        let caught = if io.finishing {
            None
        } else {
            signals::caught()
        };
        if forwarded.is_some() {
            grow(&mut tree);
        }
        if limit.is_some_and(|l| started.elapsed() > l) && forwarded.is_none() && caught.is_none() {
            // it ran past its time limit (a tool that hangs): ended as a stop is
            stopped = true;
            timed_out = true;
            grow(&mut tree);
            pass_on(&tree, signals::SIGTERM);
            forwarded = Some((signals::SIGTERM, Instant::now()));
        }
        if io.stopped() && forwarded.is_none() && caught.is_none() {
            // another lane failed: end this lane's command too
            stopped = true;
            grow(&mut tree);
            pass_on(&tree, signals::SIGTERM);
            forwarded = Some((signals::SIGTERM, Instant::now()));
        }
        match (caught, forwarded) {
            (Some(sig), None) => {
                grow(&mut tree);
                pass_on(&tree, sig);
                forwarded = Some((sig, Instant::now()));
            }
            (Some(sig), Some((_, when))) if stopped => {
                // a signal came after the stop: it is what ends the run
                stopped = false;
                pass_on(&tree, sig);
                forwarded = Some((sig, when));
            }
            _ => {}
        }
        if let Some((_, when)) = forwarded {
            if !killed && when.elapsed() > GRACE {
                // it (or what it started) ignores the signal
                pass_on(&tree, signals::SIGKILL);
                killed = true;
            }
        }
    };
    // what it started may outlive it (a build's container, in a session of its own): given
    // the rest of the grace period, then killed
    if let Some((_, when)) = forwarded {
        while signal_tree(&tree, 0) > 0 && when.elapsed() <= GRACE {
            std::thread::sleep(Duration::from_millis(100));
        }
        signal_tree(&tree, signals::SIGKILL);
    }
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
        stopped: stopped && !timed_out,
        timed_out,
    })
}
