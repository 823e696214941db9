//! A running command: in a process group of its own (so that a signal reaches what it
//! started too), its piped output read as it comes (forwarded line by line, kept, or both),
//! a caught signal or a stopped lane passed on to the whole group and to every process it
//! started (a build's container runs in a session of its own, and outlives podman), SIGKILL
//! after a grace period, and a wait that never hangs on a grandchild that still holds the
//! output pipe.

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
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
/// The longest line shown as one: a longer one (a device that prints without end, never a
/// newline) is shown in pieces of this size, never gathered whole in memory.
const LINE: usize = 64 << 10;

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
    /// It was stopped because it ran past its step's time limit (and no signal came after).
    pub(super) timed_out: bool,
    /// What it started that still runs after a stop or a signal, not ours to signal
    /// (another user's: root's, started through sudo): `PID (NAME)` each.
    pub(super) left: Vec<String>,
}

/// A thread reading one stream: what it read so far, and word when the stream ended.
struct Reading {
    /// What was read (its end, when it is longer than [`KEEP`]), also while it still reads.
    kept: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Reading {
    /// What was read by `deadline`, whole if the stream ended by then: a process the
    /// command started may hold the pipe open long after the command ended, and what came
    /// before is still the command's output.
    fn collect(self, deadline: Instant) -> Vec<u8> {
        let _ = self
            .done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let mut kept = std::mem::take(&mut *kept);
        if kept.len() > KEEP {
            kept.drain(..kept.len() - KEEP);
        }
        kept
    }
}

fn reader(stream: Option<impl Read + Send + 'static>, how: Read2, io: &Io) -> Option<Reading> {
    let mut stream = stream?;
    let kept = Arc::new(Mutex::new(Vec::new()));
    let (tx, done) = mpsc::channel();
    let (io, shared) = (io.clone(), Arc::clone(&kept));
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        // the line being shown, up to its newline
        let mut line = Vec::new();
        let show = |line: &[u8]| {
            let text = String::from_utf8_lossy(line);
            io.output(text.trim_end_matches(['\n', '\r']));
        };
        loop {
            let n = match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            {
                let mut kept = shared.lock().unwrap_or_else(PoisonError::into_inner);
                kept.extend_from_slice(&chunk[..n]);
                // trimmed to its end now and then, not at every read
                if kept.len() > 2 * KEEP {
                    let cut = kept.len() - KEEP;
                    kept.drain(..cut);
                }
            }
            if how == Read2::Show {
                let mut rest = &chunk[..n];
                loop {
                    let room = LINE.saturating_sub(line.len()).max(1);
                    match rest.iter().take(room).position(|b| *b == b'\n') {
                        Some(end) => {
                            line.extend_from_slice(&rest[..=end]);
                            rest = &rest[end + 1..];
                        }
                        None if rest.len() >= room => {
                            // a line this long is shown in pieces
                            line.extend_from_slice(&rest[..room]);
                            rest = &rest[room..];
                        }
                        None => {
                            line.extend_from_slice(rest);
                            break;
                        }
                    }
                    show(&line);
                    line.clear();
                }
            }
        }
        if !line.is_empty() {
            show(&line);
        }
        let _ = tx.send(());
    });
    Some(Reading { kept, done })
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

/// The command's process (group) and every process it started, once a stop or a signal
/// is passed on to them.
struct Tree {
    pid: u32,
    group: bool,
    found: Vec<Proc>,
    /// Those a signal was refused to (EPERM: another user's, e.g. root's under sudo). No
    /// signal of ours reaches them: they are not waited for, and are named at the end.
    refused: Vec<Proc>,
}

impl Tree {
    /// Add what the command started since the last look.
    fn grow(&mut self) {
        for p in descendants(self.pid) {
            if !self.found.contains(&p) {
                self.found.push(p);
            }
        }
    }

    /// Signal the processes found that are still the ones found (same start time), not
    /// refused before: how many got it.
    fn signal(&mut self, sig: i32) -> usize {
        let mut alive = 0;
        for p in &self.found {
            if self.refused.contains(p) || started(p.0) != Some(p.1) {
                continue;
            }
            match signals::send(p.0, sig) {
                signals::Sent::Delivered => alive += 1,
                signals::Sent::Refused => self.refused.push(*p),
                signals::Sent::Gone => {}
            }
        }
        alive
    }

    /// A signal to the command (its group: through sudo, sudo passes it on) and to what it
    /// started that is still there.
    fn pass_on(&mut self, sig: i32) {
        if self.group {
            signals::send_group(self.pid, sig);
        } else {
            signals::send(self.pid, sig);
        }
        self.signal(sig);
    }

    /// The refused processes still running: `PID (NAME)` each.
    fn left(&self) -> Vec<String> {
        self.refused
            .iter()
            .filter(|p| started(p.0) == Some(p.1))
            .map(|(pid, _)| {
                let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                format!("{pid} ({})", crate::validate::escape_controls(name.trim()))
            })
            .collect()
    }
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
    let mut forwarded: Option<(i32, Instant)> = None;
    let mut killed = false;
    let mut stopped = false;
    // once a stop or a signal is passed on: every process the command started
    let mut tree = Tree {
        pid,
        group,
        found: Vec::new(),
        refused: Vec::new(),
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
            tree.grow();
        }
        if limit.is_some_and(|l| started.elapsed() > l) && forwarded.is_none() && caught.is_none() {
            // it ran past its time limit (a tool that hangs): ended as a stop is
            stopped = true;
            timed_out = true;
            tree.grow();
            tree.pass_on(signals::SIGTERM);
            forwarded = Some((signals::SIGTERM, Instant::now()));
        }
        if io.stopped() && forwarded.is_none() && caught.is_none() {
            // another lane failed: end this lane's command too
            stopped = true;
            tree.grow();
            tree.pass_on(signals::SIGTERM);
            forwarded = Some((signals::SIGTERM, Instant::now()));
        }
        match (caught, forwarded) {
            (Some(sig), None) => {
                tree.grow();
                tree.pass_on(sig);
                forwarded = Some((sig, Instant::now()));
            }
            (Some(sig), Some((_, when))) if stopped => {
                // a signal came after the stop (or the time limit): it is what ends the
                // run, and how it is reported (128 + the signal)
                stopped = false;
                timed_out = false;
                tree.pass_on(sig);
                forwarded = Some((sig, when));
            }
            _ => {}
        }
        if let Some((_, when)) = forwarded {
            if !killed && when.elapsed() > GRACE {
                // it (or what it started) ignores the signal
                tree.pass_on(signals::SIGKILL);
                killed = true;
            }
        }
    };
    // what it started may outlive it (a build's container, in a session of its own): given
    // the rest of the grace period, then killed; what is not ours to signal is not waited for
    if let Some((_, when)) = forwarded {
        while tree.signal(0) > 0 && when.elapsed() <= GRACE {
            std::thread::sleep(Duration::from_millis(100));
        }
        tree.signal(signals::SIGKILL);
    }
    // a command that ended may have left a grandchild holding its pipe: read on for a
    // moment, then go on with what was read
    let deadline = Instant::now() + DRAIN;
    let stdout = stdout.map_or_else(Vec::new, |r| r.collect(deadline));
    let stderr = stderr.map_or_else(Vec::new, |r| r.collect(deadline));
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
        left: tree.left(),
    })
}

#[cfg(test)]
mod tests {
    use super::GRACE;
    use crate::exec::{run, Options, Status};
    use crate::plan::{Extract, Plan, Step};
    use std::path::{Path, PathBuf};
    use xshell::Shell;

    /// A fresh directory for one test, every user may write (a test runs a part as nobody).
    fn scratch(name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        dir
    }

    /// SIGKILL to the process whose pid the file holds (a test's leftover).
    fn kill_listed(pid_file: &Path) {
        if let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            crate::exec::signals::send(pid, crate::exec::signals::SIGKILL);
        }
    }

    /// The ignored test `name` of this binary, run in a process of its own (what it catches
    /// and what it is, stay there), after `wrapper`'s words; its output.
    fn run_alone(name: &str, wrapper: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let exe = std::env::current_exe().unwrap();
        let mut argv: Vec<std::ffi::OsString> = wrapper.iter().map(Into::into).collect();
        argv.push(exe.into());
        let mut cmd = std::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .args([
                &format!("exec::child::tests::{name}"),
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("XTASK_ALONE", name)
            .envs(env.iter().copied());
        cmd.output().unwrap()
    }

    /// Is this the process `run_alone` started for `name`? (An ignored test run with the
    /// others does nothing.)
    fn alone(name: &str) -> bool {
        std::env::var("XTASK_ALONE").is_ok_and(|n| n == name)
    }

    /// Issue 29, item 12: a capture step whose command leaves a background process holding
    /// the output pipe keeps what the command printed (read up to the drain deadline).
    #[test]
    fn output_held_open_by_what_the_command_started_is_kept() {
        let dir = scratch("held-pipe");
        let pid_file = dir.join("sleep.pid");
        let mut plan = Plan::new("a held pipe", true);
        plan.push(
            Step::new("held", "a command whose child holds its output", "bash")
                .arg("-c")
                .arg(format!(
                    "printf 'the-value\\nmore '; sleep 60 & echo $! > {}",
                    pid_file.display()
                ))
                .capture("HELD", Extract::Trim),
        );
        let (report, result) = run(&Shell::new().unwrap(), &plan, Options::default());
        kill_listed(&pid_file);
        let _ = std::fs::remove_dir_all(&dir);
        result.unwrap();
        assert_eq!(report.data["held"]["HELD"], "the-value\nmore");
    }

    /// A shown stream's line without end (a device that prints and never a newline) is
    /// shown in pieces of at most [`super::LINE`] bytes, never gathered whole: all of it shown,
    /// no piece longer. Run in a process of its own (what it shows is its stderr).
    #[test]
    fn a_line_without_end_is_shown_in_pieces() {
        let out = run_alone("line_without_end", &[], &[]);
        let shown = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{}",
            &shown[shown.len().saturating_sub(2000)..]
        );
        let pieces: Vec<&str> = shown.lines().filter(|l| l.starts_with('a')).collect();
        let longest = pieces.iter().map(|l| l.len()).max().unwrap_or(0);
        assert!(
            longest <= super::LINE,
            "a line of {longest} bytes shown whole"
        );
        let total: usize = pieces.iter().map(|l| l.len()).sum();
        assert_eq!(total, 1 << 20, "not all of it was shown");
    }

    #[test]
    #[ignore = "run in a process of its own by a_line_without_end_is_shown_in_pieces"]
    fn line_without_end() {
        if !alone("line_without_end") {
            return;
        }
        let mut plan = Plan::new("a line without end", true);
        // a hint that depends on what it says: its stderr is read and shown as it comes
        plan.push(
            Step::new("endless", "a command that never ends its line", "bash")
                .arg("-c")
                .arg("head -c 1048576 /dev/zero | tr '\\0' a >&2")
                .hint_when("never said", "a hint"),
        );
        let (_, result) = run(&Shell::new().unwrap(), &plan, Options::default());
        result.unwrap();
    }

    /// A signal in the pause between two tries of a step (`retries`: a pull that failed)
    /// ends the run there, as the signal: no other try is started. The command ignores
    /// SIGTERM, so a try started after the signal would run. In a process of its own.
    #[test]
    fn a_signal_between_tries_starts_no_other_try() {
        let dir = scratch("signal-between-tries");
        let out = run_alone(
            "signal_between_tries",
            &[],
            &[("XTASK_TEST_DIR", dir.to_str().unwrap())],
        );
        let tries = std::fs::read_to_string(dir.join("tries")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(tries.lines().count(), 1, "tries started: {tries:?}");
    }

    #[test]
    #[ignore = "run in a process of its own by a_signal_between_tries_starts_no_other_try"]
    fn signal_between_tries() {
        if !alone("signal_between_tries") {
            return;
        }
        let dir = PathBuf::from(std::env::var("XTASK_TEST_DIR").unwrap());
        let tries = dir.join("tries");
        let mut plan = Plan::new("a signal between tries", true);
        plan.push(
            Step::new("flaky", "a command that fails, tried again", "env")
                .arg("--ignore-signal=TERM")
                .arg("bash")
                .arg("-c")
                .arg(format!("echo try >> {}; exit 1", tries.display()))
                .retries(3, 5),
        );
        // SIGTERM to this process once the first try failed (in the pause before the next)
        let watched = tries.clone();
        std::thread::spawn(move || {
            let since = std::time::Instant::now();
            while !watched.exists() && since.elapsed() < std::time::Duration::from_secs(30) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            crate::exec::signals::send(std::process::id(), crate::exec::signals::SIGTERM);
        });
        let started = std::time::Instant::now();
        let (report, result) = run(&Shell::new().unwrap(), &plan, Options::default());
        let error = result.unwrap_err();
        assert_eq!(crate::error::exit_code(&error), 143, "{error:#}");
        assert_eq!(report.steps[0].status, Status::Interrupted);
        assert!(started.elapsed() < std::time::Duration::from_secs(4));
    }

    /// Issue 29, item 12: a signal that comes while a command stopped at its time limit
    /// still runs (it took the stop's SIGTERM, not the signal's) ends the run as that
    /// signal: 128 + the signal, the step interrupted, not timed out.
    #[test]
    fn a_signal_after_the_time_limit_is_reported_as_the_signal() {
        let out = run_alone("signal_after_time_limit", &[], &[]);
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    #[ignore = "run in a process of its own by a_signal_after_the_time_limit_is_reported_as_the_signal"]
    fn signal_after_time_limit() {
        if !alone("signal_after_time_limit") {
            return;
        }
        let dir = scratch("limit-then-signal");
        let marker = dir.join("terms");
        let mut plan = Plan::new("a time limit, then a signal", true);
        // the first SIGTERM (the time limit's) is shrugged off; the second ends it
        plan.push(
            Step::new("stubborn", "a command that outlives its limit", "bash")
                .arg("-c")
                .arg(format!(
                    "trap 'n=$((n+1)); echo $n > {}; [ $n -lt 2 ] || exit 0' TERM; while :; do sleep 0.1; done",
                    marker.display()
                ))
                .time_limit(1),
        );
        // SIGTERM to this process, once the time limit has stopped the command
        let watched = marker.clone();
        std::thread::spawn(move || {
            let since = std::time::Instant::now();
            while !watched.exists() && since.elapsed() < std::time::Duration::from_secs(30) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            crate::exec::signals::send(std::process::id(), crate::exec::signals::SIGTERM);
        });
        let (report, result) = run(&Shell::new().unwrap(), &plan, Options::default());
        let _ = std::fs::remove_dir_all(&dir);
        let error = result.unwrap_err();
        assert_eq!(crate::error::exit_code(&error), 143, "{error:#}");
        assert!(
            format!("{error:#}").contains("interrupted by SIGTERM"),
            "{error:#}"
        );
        assert_eq!(report.steps[0].status, Status::Interrupted);
    }

    /// Issue 29, item 12: a process the command started that is not ours to signal (root's,
    /// as under sudo; here a setuid copy of setpriv makes it) is not waited for through the
    /// grace period, and is named. Run as nobody, in a process of its own.
    #[test]
    fn a_process_not_ours_to_signal_is_named_not_waited_for() {
        let test = "a_process_not_ours_to_signal_is_named_not_waited_for";
        let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        if crate::record::effective_uid() != Some(0) {
            assert!(!in_ci, "{test}: CI runs as root");
            eprintln!("SKIPPED {test}: needs root (to make a setuid program)");
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("not-ours");
        let setuid = dir.join("setpriv");
        std::fs::copy("/usr/bin/setpriv", &setuid).unwrap();
        std::fs::set_permissions(&setuid, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let nobody = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ];
        // a file system mounted nosuid makes the setuid copy an ordinary program
        let works = std::process::Command::new(nobody[0])
            .args(&nobody[1..])
            .arg(&setuid)
            .args(["--reuid=0", "--regid=0", "--clear-groups", "true"])
            .status()
            .is_ok_and(|s| s.success());
        if !works {
            let _ = std::fs::remove_dir_all(&dir);
            assert!(
                !in_ci,
                "{test}: a setuid program does not work in {}",
                dir.display()
            );
            eprintln!(
                "SKIPPED {test}: a setuid program does not work in {} (nosuid?)",
                dir.display()
            );
            return;
        }
        let out = run_alone(
            "not_ours_to_signal",
            &nobody,
            &[("XTASK_TEST_DIR", dir.to_str().unwrap())],
        );
        kill_listed(&dir.join("sleep.pid"));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    #[ignore = "run as nobody by a_process_not_ours_to_signal_is_named_not_waited_for"]
    fn not_ours_to_signal() {
        if !alone("not_ours_to_signal") {
            return;
        }
        let dir = PathBuf::from(std::env::var("XTASK_TEST_DIR").unwrap());
        let pid_file = dir.join("sleep.pid");
        let mut plan = Plan::new("a root process under nobody's command", true);
        plan.push(
            Step::new(
                "hangs",
                "a command that hangs, with a child of root's",
                "bash",
            )
            .arg("-c")
            .arg(format!(
                "{} --reuid=0 --regid=0 --clear-groups sleep 120 >/dev/null 2>&1 & echo $! > {}; wait",
                dir.join("setpriv").display(),
                pid_file.display()
            ))
            .time_limit(1),
        );
        let started = std::time::Instant::now();
        let (_, result) = run(&Shell::new().unwrap(), &plan, Options::default());
        let waited = started.elapsed();
        let error = format!("{:#}", result.unwrap_err());
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        assert!(error.contains("did not end within 1s"), "{error}");
        assert!(
            error.contains(&format!("left running, not ours to signal (another user's, e.g. root's through sudo): {} (sleep)", pid.trim())),
            "{error}"
        );
        assert!(
            waited < GRACE / 2,
            "waited {waited:?} for a process it cannot signal"
        );
    }
}
