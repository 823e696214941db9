//! The one executor: runs a [`Plan`] through xshell, step by step.
//!
//! Secrets reach commands only as stdin or as paths of 0600 files in a private 0700
//! directory that is removed when the plan ends (on failure too). Progress goes to stderr;
//! `-v` echoes each command as rendered (secrets as `${NAME}`), never its values.

use std::collections::BTreeMap;
use std::fs;
use std::io::IsTerminal;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use camino::Utf8PathBuf;
use serde_json::{json, Value};
use xshell::Shell;

use crate::inspect::NotYet;
use crate::plan::{Arg, OnFail, Output, Plan, Stdin, Step};

/// A step's failure: the plan stops, the process exits 1 (3 when a repeated step ran out
/// of time).
#[derive(Debug)]
pub struct StepFailed {
    pub message: String,
    pub hint: Option<String>,
    pub timed_out: bool,
}

impl std::fmt::Display for StepFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StepFailed {}

/// The run was stopped by a signal (SIGINT, SIGTERM or SIGHUP): the running command got the
/// signal too, the secret files are removed, and the process exits 128 + the signal.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: i32,
    pub message: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

/// SIGINT, SIGTERM and SIGHUP, caught: a flag the executor polls, and the signal passed on
/// to the command that runs. Plain libc calls (std links libc already): no crate needed.
pub mod signals {
    use std::sync::atomic::{AtomicI32, Ordering};

    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGKILL: i32 = 9;
    pub const SIGTERM: i32 = 15;

    static CAUGHT: AtomicI32 = AtomicI32::new(0);

    extern "C" fn on_signal(sig: i32) {
        // async-signal-safe: one atomic store
        CAUGHT.store(sig, Ordering::SeqCst);
    }

    extern "C" {
        fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
        fn kill(pid: i32, sig: i32) -> i32;
    }

    /// Catch the three signals (idempotent).
    pub fn install() {
        for sig in [SIGHUP, SIGINT, SIGTERM] {
            // SAFETY: the handler only stores into an atomic
            unsafe {
                signal(sig, on_signal);
            }
        }
    }

    /// The signal caught so far, if any.
    pub fn caught() -> Option<i32> {
        match CAUGHT.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    pub fn send(pid: u32, sig: i32) {
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: kill(2) on a child's pid
            unsafe {
                kill(pid, sig);
            }
        }
    }

    pub fn name(sig: i32) -> &'static str {
        match sig {
            SIGHUP => "SIGHUP",
            SIGINT => "SIGINT",
            SIGTERM => "SIGTERM",
            _ => "a signal",
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub verbose: bool,
    /// Send the commands' own standard output to stderr (with `--json`, stdout holds only
    /// the JSON document).
    pub stdout_to_stderr: bool,
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// A question answered no (a probe, or a step that may fail).
    No,
    /// Its condition did not hold.
    Skipped,
    Failed,
    TimedOut,
    Interrupted,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::No => "no",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::TimedOut => "timed-out",
            Status::Interrupted => "interrupted",
        }
    }
}

/// One step as it ran: an entry of the `--json` document's `steps`.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub id: &'static str,
    pub about: String,
    pub status: Status,
    pub ms: u64,
    /// What the step's check or out-files produced.
    pub result: Option<Value>,
}

impl StepRecord {
    fn new(step: &Step, status: Status, ms: u64) -> StepRecord {
        StepRecord {
            id: step.id,
            about: step.about.clone(),
            status,
            ms,
            result: None,
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({ "id": self.id, "about": self.about, "status": self.status.word(), "ms": self.ms });
        if let Some(r) = &self.result {
            v["result"] = r.clone();
        }
        v
    }
}

/// What happened, step by step: the data for `--json`, and the lines to tell a person.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub steps: Vec<StepRecord>,
    /// Each step's result, by step id.
    pub data: BTreeMap<String, Value>,
    /// What went well, worth a line each ("ok: pushed ..."), in step order.
    pub lines: Vec<String>,
}

impl Report {
    pub fn to_json(&self, plan: &Plan, ok: bool) -> Value {
        let steps: Vec<Value> = self.steps.iter().map(StepRecord::to_json).collect();
        json!({ "plan": plan.title, "ok": ok, "facts": plan.facts, "steps": steps, "results": self.data })
    }
}

/// The private directories for secret files are `$TMPDIR/xtask-secrets-<pid>-<nanos>`.
pub const SECRET_DIR_PREFIX: &str = "xtask-secrets-";

/// Remove the secret directories that processes which no longer exist left in the temp
/// directory (a SIGKILL cannot be caught). Only our own: owned by this user, named by us,
/// and their process gone.
pub fn sweep_stale_secret_dirs() {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let me = crate::config::effective_uid();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SECRET_DIR_PREFIX))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !meta.is_dir() || Some(meta.uid()) != me || pid == std::process::id() {
            continue;
        }
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = fs::remove_dir_all(entry.path());
    }
}

/// A private directory for secret files, made on first use, removed on drop.
#[derive(Default)]
struct SecretDir {
    path: Option<Utf8PathBuf>,
}

impl SecretDir {
    /// The private directory, made on first use.
    fn dir(&mut self) -> anyhow::Result<Utf8PathBuf> {
        if self.path.is_none() {
            let base = Utf8PathBuf::from_path_buf(std::env::temp_dir())
                .map_err(|_| anyhow!("the temp directory is not UTF-8"))?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = base.join(format!("{SECRET_DIR_PREFIX}{}-{nanos}", std::process::id()));
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("creating private directory {dir}"))?;
            self.path = Some(dir);
        }
        Ok(self.path.clone().expect("set above"))
    }

    fn write(&mut self, name: &str, value: &[u8]) -> anyhow::Result<Utf8PathBuf> {
        let file = self.dir()?.join(name);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .with_context(|| format!("creating {file}"))?;
        f.write_all(value)
            .with_context(|| format!("writing {file}"))?;
        Ok(file)
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.path {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Run every step of `plan` in order. Stops at the first failing step (unless it is a probe).
/// The report holds every step run so far, also when one failed.
/// Environment variables that hold secrets: read once by the resolver, never inherited by
/// the commands we run.
pub const SECRET_ENV: [&str; 2] = ["USER_PASSWD", "REGISTRY_PASSWORD"];

/// Run every step of `plan` in order. Stops at the first failing step (unless it is a probe).
/// The report holds every step run so far, also when one failed.
pub fn run(sh: &Shell, plan: &Plan, opts: Options) -> (Report, anyhow::Result<()>) {
    signals::install();
    sweep_stale_secret_dirs();
    let mut report = Report::default();
    let result = run_into(sh, plan, opts, &mut report);
    (report, result)
}

/// What the steps so far have left for the ones after them.
#[derive(Default)]
struct State {
    outcomes: BTreeMap<&'static str, bool>,
    vars: BTreeMap<&'static str, String>,
    secrets: SecretDir,
}

fn run_into(sh: &Shell, plan: &Plan, opts: Options, report: &mut Report) -> anyhow::Result<()> {
    let mut state = State::default();
    let started = Instant::now();
    let io = Io::default();
    let mut i = 0;
    while i < plan.steps.len() {
        match plan.steps[i].lane {
            None => {
                run_one(sh, plan, i, &mut state, opts, report, &io, started)?;
                i += 1;
            }
            Some(_) => {
                // the steps of every lane up to the next step outside them: at the same time
                let end = (i..plan.steps.len())
                    .find(|&j| plan.steps[j].lane.is_none())
                    .unwrap_or(plan.steps.len());
                run_lanes(sh, plan, i..end, &mut state, opts, report, started)?;
                i = end;
            }
        }
    }
    Ok(())
}

/// Run step `i`: its condition, the record, the command (repeated while it waits), its
/// outcome into `state` and `report`.
#[allow(clippy::too_many_arguments)]
fn run_one(
    sh: &Shell,
    plan: &Plan,
    i: usize,
    state: &mut State,
    opts: Options,
    report: &mut Report,
    io: &Io,
    started: Instant,
) -> anyhow::Result<()> {
    let step = &plan.steps[i];
    let n = i + 1;
    let total = plan.steps.len();
    if !step.when.holds(&state.outcomes, &state.vars) {
        report.steps.push(StepRecord::new(step, Status::Skipped, 0));
        if let Some(note) = &step.skip_note {
            io.say(&format!("skipped: {note}"));
            report.lines.push(io.tag(format!("ok: {note}")));
        }
        return Ok(());
    }
    if let Some(sig) = signals::caught() {
        return Err(interrupted(sig, n, total, step, report, 0));
    }
    if io.stopped() {
        // another lane failed: start nothing more
        report.steps.push(StepRecord::new(step, Status::Skipped, 0));
        return Err(anyhow::Error::new(Stopped));
    }
    record(plan, step, state, Moment::Before)?;
    io.say(&format!("==> [{n}/{total}] {}", step.about));
    if opts.verbose {
        io.say(&format!("    $ {}", step.render(plan.as_root)));
    }
    let step_started = Instant::now();
    let mut progress = Progress::new();
    let result = loop {
        let result = run_step(sh, plan.as_root, step, state, opts, io);
        let (Some(wait), true, Err(failure)) = (plan.deadline, step.repeat, &result) else {
            break result;
        };
        if !failure.answered && failure.not_yet.is_none()
            || failure.signal.is_some()
            || failure.stopped
        {
            break result; // could not run at all (or stopped): waiting will not help
        }
        let elapsed = started.elapsed();
        if elapsed >= Duration::from_secs(wait.timeout_s) {
            progress.finish();
            let mut message = format!(
                "step {n}/{total} ({}) timed out after {}s: {}",
                step.about,
                elapsed.as_secs(),
                failure.message
            );
            if let Some(not_yet) = &failure.not_yet {
                message = format!(
                    "step {n}/{total} ({}) timed out after {}s\n{}",
                    step.about,
                    elapsed.as_secs(),
                    not_yet.diagnosis
                );
                report
                    .data
                    .insert(step.id.to_string(), not_yet.detail.clone());
            }
            let ms = step_started.elapsed().as_millis() as u64;
            report
                .steps
                .push(StepRecord::new(step, Status::TimedOut, ms));
            return Err(anyhow::Error::new(StepFailed {
                message: io.tag(message),
                hint: step.hint.clone(),
                timed_out: true,
            }));
        }
        let what = failure
            .not_yet
            .as_ref()
            .map_or("not yet", |n| n.progress.as_str());
        progress.show(&format!(
            "    waiting: {what} ({}s of {}s)",
            elapsed.as_secs(),
            wait.timeout_s
        ));
        let pause = Instant::now();
        while pause.elapsed() < Duration::from_secs(wait.interval_s)
            && signals::caught().is_none()
            && !io.stopped()
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(sig) = signals::caught() {
            progress.finish();
            let ms = step_started.elapsed().as_millis() as u64;
            return Err(interrupted(sig, n, total, step, report, ms));
        }
    };
    progress.finish();
    let ms = step_started.elapsed().as_millis() as u64;
    if let Err(Failure {
        signal: Some(sig), ..
    }) = &result
    {
        return Err(interrupted(*sig, n, total, step, report, ms));
    }
    if let Err(Failure { stopped: true, .. }) = &result {
        report
            .steps
            .push(StepRecord::new(step, Status::Interrupted, ms));
        return Err(anyhow::Error::new(Stopped));
    }
    match result {
        Ok(out) => {
            state.outcomes.insert(step.id, true);
            if let Some((var, value)) = &step.sets {
                state.vars.insert(var, value.to_string());
            }
            if let (Some(rv), Some(data)) = (&step.result_var, &out) {
                if let Some(v) = data.get(rv.key).and_then(Value::as_str) {
                    state.vars.insert(rv.var, v.to_string());
                }
            }
            record(plan, step, state, Moment::After)?;
            let mut entry = StepRecord::new(step, Status::Ok, ms);
            if let Some(line) = step.done.as_ref().and_then(|d| d.line(out.as_ref())) {
                report.lines.push(line);
            }
            if let Some(data) = out {
                // a probe's answer is not news; a check's result is
                if let (Output::Check(check), OnFail::Abort) = (&step.output, step.on_fail) {
                    report.lines.extend(check.summary(&data));
                }
                report.data.insert(step.id.to_string(), data.clone());
                entry.result = Some(data);
            }
            report.steps.push(entry);
        }
        Err(failure) if step.on_fail == OnFail::Record && failure.answered => {
            state.outcomes.insert(step.id, false);
            record(plan, step, state, Moment::No)?;
            report.steps.push(StepRecord::new(step, Status::No, ms));
        }
        Err(failure) => {
            report.steps.push(StepRecord::new(step, Status::Failed, ms));
            let message = match &failure.not_yet {
                Some(not_yet) => {
                    report
                        .data
                        .insert(step.id.to_string(), not_yet.detail.clone());
                    format!(
                        "step {n}/{total} ({}) failed\n{}",
                        step.about, not_yet.diagnosis
                    )
                }
                None => format!(
                    "step {n}/{total} ({}) failed: {}",
                    step.about, failure.message
                ),
            };
            let message = match &step.diagnose {
                Some(d) => match diagnose(sh, plan.as_root, d, state, opts, io) {
                    Some(text) => {
                        format!("{message}\n`{}` says:\n{text}", d.render(plan.as_root))
                    }
                    None => message,
                },
                None => message,
            };
            return Err(anyhow::Error::new(StepFailed {
                message: io.tag(message),
                hint: step.hint.clone(),
                timed_out: false,
            }));
        }
    }
    Ok(())
}

/// A lane stopped because another lane failed (not itself a failure to report).
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped: another lane failed")
    }
}

impl std::error::Error for Stopped {}

/// Where a step's progress lines and its command's output go: straight to stderr outside
/// lanes; in a lane, each line prefixed with the lane (`[arm64] `), or, on a terminal, into
/// that lane's live line (and a tail kept to show if it fails).
#[derive(Clone, Default)]
struct Io {
    lane: Option<&'static str>,
    /// Set when another lane failed: stop the running command.
    stop: Option<Arc<AtomicBool>>,
    live: Option<Arc<Live>>,
}

impl Io {
    fn say(&self, line: &str) {
        match (&self.live, self.lane) {
            (Some(live), Some(lane)) => live.update(lane, line),
            (None, Some(lane)) => eprintln!("[{lane}] {line}"),
            _ => eprintln!("{line}"),
        }
    }
    /// A command's output line (kept as the lane's tail on a terminal).
    fn output(&self, line: &str) {
        match (&self.live, self.lane) {
            (Some(live), Some(lane)) => live.keep(lane, line),
            _ => self.say(line),
        }
    }
    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }
    /// An error message, naming the lane.
    fn tag(&self, message: String) -> String {
        match self.lane {
            Some(lane) => format!("[{lane}] {message}"),
            None => message,
        }
    }
}

/// One live line per lane on a terminal: the step it runs and for how long.
struct Live {
    lanes: Vec<&'static str>,
    state: Mutex<LiveState>,
}

struct LiveState {
    /// Per lane: its current step line and when that step started.
    current: BTreeMap<&'static str, (String, Instant)>,
    tails: BTreeMap<&'static str, Vec<String>>,
    drawn: bool,
    done: bool,
}

impl Live {
    fn new(lanes: &[&'static str]) -> Live {
        Live {
            lanes: lanes.to_vec(),
            state: Mutex::new(LiveState {
                current: BTreeMap::new(),
                tails: BTreeMap::new(),
                drawn: false,
                done: false,
            }),
        }
    }
    fn update(&self, lane: &'static str, line: &str) {
        if let Ok(mut st) = self.state.lock() {
            st.current.insert(lane, (line.to_string(), Instant::now()));
        }
        self.draw();
    }
    fn keep(&self, lane: &'static str, line: &str) {
        if let Ok(mut st) = self.state.lock() {
            let tail = st.tails.entry(lane).or_default();
            tail.push(line.to_string());
            if tail.len() > 30 {
                tail.remove(0);
            }
        }
    }
    fn draw(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.done {
            return;
        }
        let mut out = String::new();
        if st.drawn {
            out.push_str(&format!("\x1b[{}A", self.lanes.len()));
        }
        for lane in &self.lanes {
            let line = match st.current.get(lane) {
                Some((text, since)) => format!("{text} ({}s)", since.elapsed().as_secs()),
                None => "waiting".to_string(),
            };
            let line: String = crate::plan::comment(&line).chars().take(150).collect();
            out.push_str(&format!("\r\x1b[2K[{lane}] {line}\n"));
        }
        st.drawn = true;
        eprint!("{out}");
    }
    /// Stop redrawing; show the tail of the lanes that failed.
    fn finish(&self, failed: &[&'static str]) {
        self.draw();
        if let Ok(mut st) = self.state.lock() {
            st.done = true;
            for lane in failed {
                for line in st.tails.get(lane).into_iter().flatten() {
                    eprintln!("[{lane}] {line}");
                }
            }
        }
    }
}

/// Run the steps in `range`, lane by lane at the same time. Each lane has its own copy of
/// the variables and its own secret directory (removed when the lane ends); when one lane
/// fails, the others stop their running command and end. Afterwards the lanes' variables,
/// outcomes and reports join the plan's.
#[allow(clippy::too_many_arguments)]
fn run_lanes(
    sh: &Shell,
    plan: &Plan,
    range: std::ops::Range<usize>,
    state: &mut State,
    opts: Options,
    report: &mut Report,
    started: Instant,
) -> anyhow::Result<()> {
    let mut lanes: Vec<&'static str> = Vec::new();
    for step in &plan.steps[range.clone()] {
        if let Some(l) = step.lane {
            if !lanes.contains(&l) {
                lanes.push(l);
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    // live lines on a terminal; plain prefixed lines in logs and with --json
    let live = (std::io::stderr().is_terminal() && !opts.stdout_to_stderr)
        .then(|| Arc::new(Live::new(&lanes)));
    let cwd = sh.current_dir();
    type LaneEnd = (
        Report,
        BTreeMap<&'static str, String>,
        BTreeMap<&'static str, bool>,
        anyhow::Result<()>,
    );
    let ends: Vec<(&'static str, LaneEnd)> = std::thread::scope(|scope| {
        let ticker = live.clone().map(|l| {
            let stop = stop.clone();
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) && !l.state.lock().map_or(true, |s| s.done) {
                    l.draw();
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        });
        let handles: Vec<_> = lanes
            .iter()
            .map(|&lane| {
                let io = Io {
                    lane: Some(lane),
                    stop: Some(stop.clone()),
                    live: live.clone(),
                };
                let vars = state.vars.clone();
                let outcomes = state.outcomes.clone();
                let range = range.clone();
                let cwd = cwd.clone();
                let stop = stop.clone();
                let handle = scope.spawn(move || -> LaneEnd {
                    let mut st = State {
                        vars,
                        outcomes,
                        ..State::default()
                    };
                    let mut rep = Report::default();
                    let result = (|| {
                        let sh = Shell::new()?;
                        sh.change_dir(&cwd);
                        for i in range {
                            if plan.steps[i].lane == Some(lane) {
                                run_one(&sh, plan, i, &mut st, opts, &mut rep, &io, started)?;
                            }
                        }
                        Ok(())
                    })();
                    if result.is_err() {
                        stop.store(true, Ordering::SeqCst);
                    }
                    // the lane's secret files go with its state
                    let State { vars, outcomes, .. } = st;
                    (rep, vars, outcomes, result)
                });
                (lane, handle)
            })
            .collect();
        let ends = handles
            .into_iter()
            .map(|(lane, h)| {
                let end = h.join().unwrap_or_else(|_| {
                    (
                        Report::default(),
                        BTreeMap::new(),
                        BTreeMap::new(),
                        Err(anyhow!("internal: the {lane} lane panicked")),
                    )
                });
                (lane, end)
            })
            .collect();
        stop.store(true, Ordering::SeqCst);
        if let Some(t) = ticker {
            let _ = t.join();
        }
        ends
    });
    let failed: Vec<&'static str> = ends
        .iter()
        .filter(|(_, e)| {
            e.3.as_ref()
                .is_err_and(|e| e.downcast_ref::<Stopped>().is_none())
        })
        .map(|(l, _)| *l)
        .collect();
    if let Some(live) = &live {
        live.finish(&failed);
    }
    let mut errors = Vec::new();
    for (_, (rep, vars, outcomes, result)) in ends {
        report.steps.extend(rep.steps);
        report.data.extend(rep.data);
        report.lines.extend(rep.lines);
        state.vars.extend(vars);
        state.outcomes.extend(outcomes);
        errors.extend(result.err());
    }
    // the cause to report: a signal, else a lane's failure, else (never alone) a lane that
    // was only stopped; the first lane's of each
    let rank = |e: &anyhow::Error| {
        if e.is::<Interrupted>() {
            0
        } else if e.is::<Stopped>() {
            2
        } else {
            1
        }
    };
    match errors.into_iter().min_by_key(rank) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn interrupted(
    sig: i32,
    n: usize,
    total: usize,
    step: &Step,
    report: &mut Report,
    ms: u64,
) -> anyhow::Error {
    report
        .steps
        .push(StepRecord::new(step, Status::Interrupted, ms));
    anyhow::Error::new(Interrupted {
        signal: sig,
        message: format!(
            "interrupted by {} at step {n}/{total} ({}): the command was stopped and the secret files removed; what was made so far is in the record (`cargo xtask clean` undoes it)",
            signals::name(sig),
            step.about
        ),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Moment {
    Before,
    After,
    /// A probe answered no.
    No,
}

/// Write the step's [`Recording`]s of this moment into the record file.
fn record(plan: &Plan, step: &Step, state: &State, moment: Moment) -> anyhow::Result<()> {
    use crate::plan::{Field, Recording};
    let Some(path) = &plan.record else {
        return Ok(());
    };
    let due: Vec<&Recording> = step
        .records
        .iter()
        .filter(|r| match r {
            Recording::Before(_) => moment == Moment::Before,
            Recording::After(_) | Recording::Forget(_) => moment == Moment::After,
            Recording::ForgetIfNo(_) => moment == Moment::No,
        })
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    // lanes update the record at the same time: one read-modify-write at a time
    static RECORD_LOCK: Mutex<()> = Mutex::new(());
    let _guard = RECORD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut rec = crate::record::Record::load(path)?;
    for r in due {
        match r {
            Recording::Before(e) | Recording::After(e) => {
                let mut entry = serde_json::Map::new();
                entry.insert("kind".into(), json!(e.kind));
                for (k, v) in &e.fields {
                    let value = match v {
                        Field::Text(t) => t.clone(),
                        Field::Var(name) => match state.vars.get(name) {
                            Some(v) if !v.is_empty() => v.clone(),
                            _ => continue,
                        },
                    };
                    entry.insert((*k).into(), json!(value));
                }
                rec.upsert(entry);
            }
            Recording::Forget(e) | Recording::ForgetIfNo(e) => {
                if let Some((_, Field::Text(key))) = e.fields.first() {
                    rec.forget(e.kind, key);
                }
            }
        }
    }
    rec.save()
        .with_context(|| format!("updating the record {path}"))
}

/// Run a step's diagnose command; its last 20 lines of output, if it printed any.
fn diagnose(
    sh: &Shell,
    as_root: bool,
    step: &Step,
    state: &mut State,
    opts: Options,
    io: &Io,
) -> Option<String> {
    let mut probe = step.clone();
    probe.output = Output::Capture {
        var: "DIAGNOSIS",
        extract: crate::plan::Extract::Trim,
    };
    run_step(sh, as_root, &probe, state, opts, io).ok()?;
    let text = state.vars.remove("DIAGNOSIS")?;
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(20)..];
    Some(
        tail.iter()
            .map(|l| format!("  {}", crate::plan::comment(l)))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// A live progress line: rewritten in place on a terminal, a line per change otherwise.
struct Progress {
    tty: bool,
    last: String,
    shown: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            last: String::new(),
            shown: false,
        }
    }
    fn show(&mut self, line: &str) {
        if self.tty {
            eprint!("\r\x1b[2K{line}");
            self.shown = true;
        } else {
            // logs get a line when the state changes, not one per try
            let state = line.split(" (").next().unwrap_or(line).to_string();
            if state != self.last {
                eprintln!("{line}");
                self.last = state;
            }
        }
    }
    fn finish(&mut self) {
        if self.shown {
            eprintln!();
            self.shown = false;
        }
    }
}

struct Failure {
    message: String,
    /// The command ran and said no: it exited non-zero (or zero, for a step that must
    /// fail), or its output failed a check. Not: it could not be started at all.
    answered: bool,
    /// A check said "not yet" (e.g. pods still starting): worth waiting for.
    not_yet: Option<NotYet>,
    /// We were stopped by this signal while the command ran.
    signal: Option<i32>,
    /// Another lane failed and this one's command was stopped.
    stopped: bool,
}

impl Failure {
    fn internal(message: String) -> Failure {
        Failure {
            message,
            answered: false,
            not_yet: None,
            signal: None,
            stopped: false,
        }
    }
}

fn run_step(
    sh: &Shell,
    as_root: bool,
    step: &Step,
    state: &mut State,
    opts: Options,
    io: &Io,
) -> Result<Option<Value>, Failure> {
    let (program, args) = step.command_line(as_root);
    let mut words = Vec::with_capacity(args.len());
    let mut out_files = Vec::new();
    for arg in &args {
        words.push(match arg {
            Arg::Lit(s) => s.clone(),
            Arg::SecretFile {
                prefix,
                file,
                secret,
                suffix,
                ..
            } => {
                let dir = &mut state.secrets;
                let path = dir
                    .write(file, secret.expose())
                    .map_err(|e| Failure::internal(format!("{e:#}")))?;
                format!("{prefix}{path}{suffix}")
            }
            Arg::OutFile { file, key } => {
                let dir = &mut state.secrets;
                let path = dir
                    .dir()
                    .map_err(|e| Failure::internal(format!("{e:#}")))?
                    .join(file);
                out_files.push((*key, path.clone()));
                path.to_string()
            }
            Arg::Var {
                prefix,
                name,
                suffix,
            } => match state.vars.get(name) {
                Some(v) if !v.is_empty() => format!("{prefix}{v}{suffix}"),
                _ => {
                    return Err(Failure::internal(format!(
                        "internal: ${{{name}}} was not captured by an earlier step"
                    )))
                }
            },
        });
    }
    let shown = step.render(as_root);
    let mut cmd = sh.cmd(&program).args(&words).quiet();
    // secrets we were given through the environment are not passed on to any command
    for name in SECRET_ENV {
        cmd = cmd.env_remove(name);
    }
    if !step.uses_sudo(as_root) {
        for (k, v) in &step.env {
            cmd = cmd.env(k, v);
        }
    }
    let not_started =
        |e: std::io::Error| Failure::internal(format!("could not start `{program}`: {e}"));
    let exit_failure = |status: std::process::ExitStatus| Failure {
        message: if step.expect_failure {
            format!("`{shown}`: the command succeeded")
        } else {
            format!("`{shown}` exited with {}", describe(status))
        },
        answered: true,
        not_yet: None,
        signal: None,
        stopped: false,
    };
    use std::process::Stdio;
    let mut command = std::process::Command::from(cmd);
    let captures = !matches!(step.output, Output::Inherit);
    // a question's answer is its exit code: its output ("error: no such domain") would only
    // alarm; any other command's stderr reaches the user, as it carries the tools' own
    // error messages
    let question = step.is_question();
    // a repeated step's complaints ("connection refused" while a service starts) are kept
    // for the progress line and the final error, not printed at every try
    // in a lane, what would reach the terminal goes through `io` instead (prefixed)
    let in_lane = io.lane.is_some();
    command.stderr(if question {
        Stdio::null()
    } else if step.repeat || in_lane {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    command.stdout(if captures || (in_lane && !question) {
        Stdio::piped()
    } else if question {
        Stdio::null()
    } else if opts.stdout_to_stderr {
        stderr_stdio()
    } else {
        Stdio::inherit()
    });
    let feed = match &step.stdin {
        Stdin::Secret { secret, .. } => Some(secret.expose()),
        Stdin::Inherit | Stdin::Null => None,
    };
    command.stdin(match (&step.stdin, feed) {
        (_, Some(_)) => Stdio::piped(),
        (Stdin::Inherit, None) => Stdio::inherit(),
        _ => Stdio::null(),
    });
    let mut child = command.spawn().map_err(not_started)?;
    if let (Some(bytes), Some(mut input)) = (feed, child.stdin.take()) {
        // a command that exits without reading its stdin is not our failure
        let _ = input.write_all(bytes);
    }
    // lane output: read line by line as it comes, through `io`
    let mut readers = Vec::new();
    if in_lane {
        let streams: Vec<Box<dyn std::io::Read + Send>> = [
            (!captures)
                .then(|| child.stdout.take())
                .flatten()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            (!step.repeat)
                .then(|| child.stderr.take())
                .flatten()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        for stream in streams {
            let io = io.clone();
            readers.push(std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stream)
                    .lines()
                    .map_while(Result::ok)
                {
                    io.output(&line);
                }
            }));
        }
    }
    let result = wait_or_forward(child, io).map_err(not_started)?;
    for r in readers {
        let _ = r.join();
    }
    if result.2 {
        return Err(Failure {
            message: format!("`{shown}` stopped: another lane failed"),
            answered: false,
            not_yet: None,
            signal: None,
            stopped: true,
        });
    }
    if let Some(sig) = result.1 {
        return Err(Failure {
            message: format!("`{shown}` stopped by {}", signals::name(sig)),
            answered: false,
            not_yet: None,
            signal: Some(sig),
            stopped: false,
        });
    }
    let result = result.0;
    if result.status.success() == step.expect_failure {
        let mut failure = exit_failure(result.status);
        if step.repeat {
            let stderr = String::from_utf8_lossy(&result.stderr);
            if let Some(last) = stderr.lines().rev().find(|l| !l.trim().is_empty()) {
                let last: String = crate::plan::comment(last.trim())
                    .chars()
                    .take(160)
                    .collect();
                failure.message = format!("{}: {last}", failure.message);
                failure.not_yet = Some(NotYet {
                    progress: format!("not yet ({last})"),
                    detail: Value::Null,
                    diagnosis: failure.message.clone(),
                });
            }
            // a state that is not the wanted one yet ("activating") is worth showing
            if let Output::Check(check) = &step.output {
                if let Err(e) =
                    check.judge_with(&String::from_utf8_lossy(&result.stdout), &state.vars)
                {
                    if let Ok(not_yet) = e.downcast::<NotYet>() {
                        failure.not_yet = Some(not_yet);
                    }
                }
            }
        }
        return Err(failure);
    }
    // what the command wrote to its output files (e.g. `--digestfile`) joins its result
    let mut written = serde_json::Map::new();
    for (key, path) in &out_files {
        let value = fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        written.insert(key.to_string(), Value::String(value));
    }
    let text = String::from_utf8_lossy(&result.stdout);
    match &step.output {
        Output::Inherit if written.is_empty() => Ok(None),
        Output::Inherit => Ok(Some(Value::Object(written))),
        Output::Capture { var, extract } => {
            let value = extract.apply(&text);
            if value.is_empty() {
                // nothing to capture (yet): no address, no loop device
                return Err(Failure {
                    message: format!("`{shown}` printed nothing to capture into {var}"),
                    answered: true,
                    signal: None,
                    stopped: false,
                    not_yet: Some(NotYet {
                        progress: format!("no {var} yet"),
                        detail: json!({ (*var): null }),
                        diagnosis: format!("`{shown}` printed nothing to capture into {var}"),
                    }),
                });
            }
            state.vars.insert(var, value.clone());
            Ok(Some(json!({ (*var): value })))
        }
        Output::Check(check) => check.judge_with(&text, &state.vars).map(Some).map_err(|e| {
            match e.downcast::<NotYet>() {
                Ok(not_yet) => Failure {
                    message: not_yet.diagnosis.clone(),
                    answered: false,
                    not_yet: Some(not_yet),
                    signal: None,
                    stopped: false,
                },
                Err(e) => Failure {
                    message: format!("{e:#}"),
                    answered: true,
                    not_yet: None,
                    signal: None,
                    stopped: false,
                },
            }
        }),
    }
}

/// Wait for a child, passing on a signal we catch meanwhile: the child gets it, then ten
/// seconds to stop before it is killed. Returns its output, and the signal if one came.
fn wait_or_forward(
    child: std::process::Child,
    io: &Io,
) -> std::io::Result<(std::process::Output, Option<i32>, bool)> {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let mut forwarded: Option<(i32, Instant)> = None;
    let mut stopped = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(out) => {
                return out.map(|o| {
                    let sig = forwarded.map(|(s, _)| s).filter(|_| !stopped);
                    (o, sig, stopped)
                })
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(std::io::Error::other("lost the command's status"))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if io.stopped() && forwarded.is_none() && signals::caught().is_none() {
            // another lane failed: end this lane's command too
            stopped = true;
            signals::send(pid, signals::SIGTERM);
            forwarded = Some((signals::SIGTERM, Instant::now()));
        }
        match (signals::caught(), forwarded) {
            (Some(sig), None) => {
                signals::send(pid, sig);
                forwarded = Some((sig, Instant::now()));
            }
            (Some(sig), Some((_, when))) if stopped => {
                // a signal came after the stop: it is what ends the run
                stopped = false;
                signals::send(pid, sig);
                forwarded = Some((sig, when));
            }
            (Some(_), Some((_, when))) if when.elapsed() > Duration::from_secs(10) => {
                signals::send(pid, signals::SIGKILL);
            }
            _ => {}
        }
    }
}

/// Our stderr, as a child's stdout.
fn stderr_stdio() -> std::process::Stdio {
    use std::os::fd::AsFd;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => std::process::Stdio::from(fd),
        Err(_) => std::process::Stdio::null(),
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("exit status {c}"),
        None => "a signal".to_string(),
    }
}
