//! The one executor: runs a [`Plan`] through xshell, step by step.
//!
//! Secrets reach commands only as stdin or as paths of 0600 files in a private 0700
//! directory that is removed when the plan ends (on failure too). Progress goes to stderr;
//! `-v` echoes each command as rendered (secrets as `${NAME}`), never its values.
//!
//! - `mod.rs`: the plan, step by step: conditions, the record, waiting, outcomes;
//! - `command.rs`: running one command (stdin, output, signals passed on, checks);
//! - `lanes.rs`: the steps of several lanes at the same time, and their live lines;
//! - `report.rs`, `secret_dir.rs`, `signals.rs`: the report, the secret files, signals;
//! - `watch.rs`: a step's live line while its command runs (a rollout's waves).

mod child;
mod command;
mod lanes;
mod report;
mod secret_dir;
pub mod signals;
mod watch;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde_json::Value;
use xshell::Shell;

pub(crate) use command::redact;
pub use report::{error_json, print_json, printed_json, Report, Status, StepRecord};
pub use secret_dir::sweep_stale_secret_dirs;

use crate::error::{Interrupted, StepFailed, Stopped};
use crate::plan::{OnFail, Output, Plan, Step};
use lanes::Io;
use secret_dir::SecretDir;

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub verbose: bool,
    /// Send the commands' own standard output to stderr (with `--json`, stdout holds only
    /// the JSON document).
    pub stdout_to_stderr: bool,
}

/// Ask a read-only question outside any plan (doctor's probes, what `mirror` reads before
/// it plans): the command's output, or `None` when it cannot be started. As every command
/// the tool runs, it gets none of the secrets of the tool's environment, and no stdin; with
/// `sudo`, it runs through sudo.
pub fn ask(program: &str, args: &[&str], sudo: bool) -> Option<std::process::Output> {
    let mut cmd = if sudo {
        let mut c = question("sudo");
        c.arg(program);
        c
    } else {
        question(program)
    };
    cmd.args(args).output().ok()
}

/// A command for a question: none of the secrets of the tool's environment, no stdin.
fn question(program: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    for name in crate::inputs::secret_env() {
        cmd.env_remove(name);
    }
    cmd.stdin(std::process::Stdio::null());
    cmd
}

/// [`ask`] with these environment variables set (Ansible's settings for one question).
pub fn ask_env(program: &str, args: &[&str], env: &[(&str, &str)]) -> Option<std::process::Output> {
    question(program)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .ok()
}

/// [`ask`], with a secret in a private 0600 file (removed when the command has ended): each
/// argument equal to `placeholder` becomes `prefix` and the file's path (`-H @FILE`).
/// `Ok(None)` when the command cannot be started. Its standard output is read up to `max`
/// bytes: past that (an answer without end, a file of gigabytes from a wrong URL) the
/// command is killed and its output holds `max + 1` bytes, which the caller says as such.
pub fn ask_with_secret_file(
    program: &str,
    args: &[String],
    placeholder: &str,
    prefix: &str,
    file: &str,
    content: &[u8],
    max: u64,
) -> anyhow::Result<Option<std::process::Output>> {
    let mut dir = SecretDir::default();
    let path = dir.write(file, content)?;
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if a == placeholder {
                format!("{prefix}{path}")
            } else {
                a.clone()
            }
        })
        .collect();
    Ok(ask_bounded(program, &args, max))
}

/// [`ask`] (no sudo), its standard output read up to `max` bytes (`max + 1` kept when there
/// is more: the command is killed), its standard error up to 64 KiB.
fn ask_bounded(program: &str, args: &[String], max: u64) -> Option<std::process::Output> {
    use std::io::Read;
    let mut child = question(program)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let stderr = child.stderr.take().map(|e| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut e = e;
            let _ = e.by_ref().take(64 << 10).read_to_end(&mut kept);
            // the rest is read and dropped: a full pipe would stall the command
            let _ = std::io::copy(&mut e, &mut std::io::sink());
            kept
        })
    });
    let mut stdout = Vec::new();
    if let Some(o) = child.stdout.take() {
        let _ = o.take(max + 1).read_to_end(&mut stdout);
    }
    if stdout.len() as u64 > max {
        let _ = child.kill();
    }
    let status = child.wait().ok()?;
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    Some(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// Run every step of `plan` in order. Stops at the first failing step (unless it is a probe).
/// The report holds every step run so far, also when one failed.
pub fn run(sh: &Shell, plan: &Plan, opts: Options) -> (Report, anyhow::Result<()>) {
    signals::install();
    sweep_stale_secret_dirs();
    let mut report = Report::default();
    // a record that cannot be kept stops the plan before it makes anything
    if let Some(path) = &plan.record {
        if plan.steps.iter().any(|s| !s.records.is_empty()) {
            if let Err(e) = crate::record::Record::check_writable(path) {
                return (report, Err(e));
            }
        }
    }
    let runner = Runner {
        sh,
        plan,
        opts,
        started: Instant::now(),
    };
    let result = runner.all(&mut report);
    (report, result)
}

/// What the steps so far have left for the ones after them.
#[derive(Default)]
struct State {
    outcomes: BTreeMap<&'static str, bool>,
    vars: BTreeMap<&'static str, String>,
    secrets: SecretDir,
    /// The units that failed in a plan that keeps going: the unit, why, and the hint.
    failed: Vec<(&'static str, String, Option<String>)>,
    /// The start of the last step that starts the wait ([`Step::starts_wait`]: a reboot);
    /// the deadline counts from there, else from the plan's start.
    wait_from: Option<Instant>,
    /// What is left where the plan works should it be interrupted now: the note of the last
    /// step started that [`Step::leaves`] one, else the plan's.
    leaves: Option<String>,
}

/// A plan being run: where, how, and since when (the deadline of waiting steps counts from
/// the plan's start, or from a step that starts the wait).
#[derive(Clone, Copy)]
struct Runner<'a> {
    sh: &'a Shell,
    plan: &'a Plan,
    opts: Options,
    started: Instant,
}

impl Runner<'_> {
    fn all(&self, report: &mut Report) -> anyhow::Result<()> {
        let mut state = State {
            leaves: self.plan.leaves.clone(),
            ..State::default()
        };
        let result = self
            .steps(&mut state, report)
            .and_then(|()| self.failed_units(&state));
        // the plan's clean-up, however the steps ended (a signal too: it is not passed on to
        // the clean-up's commands)
        let finishing = Io::finishing();
        for step in &self.plan.cleanup {
            if step.when.holds(&state.outcomes, &state.vars) {
                if let Err(failure) = self.command(step, &mut state, &finishing) {
                    eprintln!("warning: {}: {}", step.about, failure.message);
                }
            }
        }
        result
    }

    /// In a plan that keeps going: the failure naming every unit that failed, if any.
    fn failed_units(&self, state: &State) -> anyhow::Result<()> {
        let (Some(noun), false) = (self.plan.keep_going, state.failed.is_empty()) else {
            return Ok(());
        };
        let mut units: Vec<&'static str> = Vec::new();
        for u in self.plan.steps.iter().filter_map(|s| s.unit) {
            if !units.contains(&u) {
                units.push(u);
            }
        }
        let mut failed = state.failed.clone();
        failed.sort_by_key(|(u, _, _)| units.iter().position(|x| x == u));
        let mut message = format!(
            "{} of {} {noun} failed (the others went on):",
            failed.len(),
            units.len()
        );
        for (unit, why, _) in &failed {
            message.push_str(&format!("\n  - {unit}: {why}"));
        }
        let mut hints: Vec<String> = Vec::new();
        for h in failed.iter().filter_map(|(_, _, h)| h.clone()) {
            if !hints.contains(&h) {
                hints.push(h);
            }
        }
        Err(anyhow::Error::new(StepFailed {
            message,
            hint: (!hints.is_empty()).then(|| hints.join("\n")),
            code: 1,
        }))
    }

    fn steps(&self, state: &mut State, report: &mut Report) -> anyhow::Result<()> {
        let plan = self.plan;
        let io = Io::default();
        let mut i = 0;
        while i < plan.steps.len() {
            match plan.steps[i].lane {
                None => {
                    self.one(i, state, report, &io)?;
                    i += 1;
                }
                Some(_) => {
                    // the steps of every lane up to the next step outside them: at the same time
                    let end = (i..plan.steps.len())
                        .find(|&j| plan.steps[j].lane.is_none())
                        .unwrap_or(plan.steps.len());
                    self.lanes(i..end, state, report)?;
                    i = end;
                }
            }
        }
        Ok(())
    }

    fn one(&self, i: usize, state: &mut State, report: &mut Report, io: &Io) -> anyhow::Result<()> {
        let plan = self.plan;
        let step = &plan.steps[i];
        let n = i + 1;
        let total = plan.steps.len();
        if plan.keep_going.is_some()
            && match step.unit {
                Some(unit) => state.failed.iter().any(|(u, _, _)| *u == unit),
                None => !state.failed.is_empty(),
            }
        {
            // its unit failed (or, for a step of no unit, some unit did)
            report.steps.push(StepRecord::new(step, Status::Skipped, 0));
            return Ok(());
        }
        if !step.when.holds(&state.outcomes, &state.vars) {
            report.steps.push(StepRecord::new(step, Status::Skipped, 0));
            if let Some(note) = &step.skip_note {
                io.say(&format!("skipped: {note}"));
                report.lines.push(io.tag(format!("ok: {note}")));
            }
            return Ok(());
        }
        if let Some(sig) = signals::caught() {
            return Err(self.interrupted(sig, n, step, state, report, 0));
        }
        if io.stopped() {
            // another lane failed: start nothing more
            report.steps.push(StepRecord::new(step, Status::Skipped, 0));
            return Err(anyhow::Error::new(Stopped));
        }
        if step.leaves.is_some() {
            state.leaves.clone_from(&step.leaves);
        }
        self.record(step, state, Moment::Before)?;
        io.say(&format!("==> [{n}/{total}] {}", step.about));
        if self.opts.verbose {
            io.say(&format!("    $ {}", step.render(plan.as_root)));
        }
        let step_started = Instant::now();
        if step.starts_wait {
            state.wait_from = Some(step_started);
        }
        // the waits count from the plan's start, or from the step that started them
        let wait_from = state.wait_from.unwrap_or(self.started);
        let mut progress = Progress::new();
        let result = loop {
            let result = self.tries(step, state, io);
            // what the check saw this time, for its next try (a watch's memory)
            if let (Some(var), Err(f)) = (step.carry, &result) {
                if let Some(detail) = f.not_yet.as_ref().map(|n| &n.detail) {
                    if !detail.is_null() {
                        state.vars.insert(var, detail.to_string());
                    }
                }
            }
            let (Some(wait), true, Err(failure)) = (plan.deadline, step.repeat, &result) else {
                break result;
            };
            if !failure.answered && failure.not_yet.is_none()
                || failure.signal.is_some()
                || failure.stopped
                || failure.definite
            {
                // could not run at all (or stopped), or a definite no: waiting will not help
                break result;
            }
            let elapsed = wait_from.elapsed();
            let timeout = Duration::from_secs(wait.timeout_s);
            if elapsed >= timeout && step.ends_at_deadline {
                // the last look that could be judged (this one, else the one carried), as final
                let last = step
                    .carry
                    .and_then(|v| state.vars.get(v))
                    .and_then(|text| serde_json::from_str::<Value>(text).ok())
                    .and_then(|d| d.get("final").cloned());
                if let Some(last) = last {
                    progress.finish();
                    break Ok(Some(last));
                }
            }
            if elapsed >= timeout {
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
                    code: crate::error::exit::TIMEOUT,
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
            // the last pause ends at the deadline, for a last try there (never a pause past it)
            let pause = Duration::from_secs(wait.interval_s).min(timeout - elapsed);
            let paused = Instant::now();
            while paused.elapsed() < pause && signals::caught().is_none() && !io.stopped() {
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Some(sig) = signals::caught() {
                progress.finish();
                let ms = step_started.elapsed().as_millis() as u64;
                return Err(self.interrupted(sig, n, step, state, report, ms));
            }
        };
        progress.finish();
        let ms = step_started.elapsed().as_millis() as u64;
        if let Err(command::Failure {
            signal: Some(sig), ..
        }) = &result
        {
            return Err(self.interrupted(*sig, n, step, state, report, ms));
        }
        if let Err(command::Failure { stopped: true, .. }) = &result {
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
                if let Some(data) = &out {
                    for rv in &step.result_vars {
                        if let Some(v) = data.get(rv.key).and_then(Value::as_str) {
                            state.vars.insert(rv.var, v.to_string());
                        }
                    }
                }
                // a verdict made of many (a fleet's): its report, then its exit code
                let verdict = step.exit_var.as_ref().and_then(|(var, message)| {
                    let code = state.vars.get(var)?.trim().parse::<i32>().ok()?;
                    (code != 0).then(|| (code, message.clone()))
                });
                if let Some((code, message)) = verdict {
                    self.record(step, state, Moment::After)?;
                    let mut entry = StepRecord::new(step, Status::Ok, ms);
                    if let (Some(data), Output::Check(check)) = (out, &step.output) {
                        if let Some(lines) = check.summary(&data) {
                            for line in lines.lines() {
                                io.say(line);
                            }
                        }
                        report.data.insert(step.id.to_string(), data.clone());
                        entry.result = Some(data);
                    }
                    report.steps.push(entry);
                    return Err(anyhow::Error::new(StepFailed {
                        message: io.tag(crate::plan::interpolate(&message, &state.vars)),
                        hint: step
                            .hint
                            .as_ref()
                            .map(|h| crate::plan::interpolate(h, &state.vars)),
                        code,
                    }));
                }
                if let Some((code, message)) = &step.then_exit {
                    self.record(step, state, Moment::After)?;
                    // the ending's message, with what the step's output showed
                    let mut message = crate::plan::interpolate(message, &state.vars);
                    let mut entry = StepRecord::new(step, Status::Ok, ms);
                    if let (Some(data), Output::Check(check)) = (out, &step.output) {
                        if let Some(line) = check.summary(&data) {
                            message.push('\n');
                            message.push_str(&line);
                        }
                        report.data.insert(step.id.to_string(), data.clone());
                        entry.result = Some(data);
                    }
                    report.steps.push(entry);
                    return Err(anyhow::Error::new(StepFailed {
                        message: io.tag(message),
                        hint: step.hint.clone(),
                        code: *code,
                    }));
                }
                self.record(step, state, Moment::After)?;
                let mut entry = StepRecord::new(step, Status::Ok, ms);
                if let Some(line) = step.done.as_ref().and_then(|d| d.line(out.as_ref())) {
                    // a line may name what an earlier step found (`${FPR}`)
                    report
                        .lines
                        .push(crate::plan::interpolate(&line, &state.vars));
                }
                if let Some(data) = out {
                    // a probe's answer is not news; a check's result is
                    if let (Output::Check(check), true) =
                        (&step.output, step.on_fail == OnFail::Abort || step.reports)
                    {
                        report.lines.extend(check.summary(&data));
                    }
                    if let Some((id, key)) = step.result_to {
                        if let Some(value) = data.get(key) {
                            report.add_to_result(id, key, value.clone());
                        }
                    }
                    report.data.insert(step.id.to_string(), data.clone());
                    entry.result = Some(data);
                }
                report.steps.push(entry);
            }
            Err(failure) if step.on_fail == OnFail::Record && failure.answered => {
                state.outcomes.insert(step.id, false);
                if step.reports {
                    io.say(&format!(
                        "    no: {}",
                        crate::validate::escape_controls(&failure.message)
                    ));
                }
                if let Some((code, message)) = &step.then_exit {
                    // the ending stands; the step only could not add to it
                    report.steps.push(StepRecord::new(step, Status::No, ms));
                    return Err(anyhow::Error::new(StepFailed {
                        message: io.tag(format!(
                            "{}\n({} failed: {})",
                            crate::plan::interpolate(message, &state.vars),
                            step.about,
                            failure.message
                        )),
                        hint: step.hint.clone(),
                        code: *code,
                    }));
                }
                self.record(step, state, Moment::No)?;
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
                    Some(d) => match self.diagnose(d, state, io) {
                        Some(text) => {
                            format!("{message}\n`{}` says:\n{text}", d.render(plan.as_root))
                        }
                        None => message,
                    },
                    None => message,
                };
                if let (Some(_), Some(unit)) = (plan.keep_going, step.unit) {
                    // the unit failed; the plan goes on with the others
                    io.say(&format!("failed: {unit}: {}", failure.message));
                    state.failed.push((
                        unit,
                        format!("{} failed: {}", step.about, failure.message),
                        step.hint_for(&failure.said),
                    ));
                    return Ok(());
                }
                return Err(anyhow::Error::new(StepFailed {
                    message: io.tag(message),
                    hint: step.hint_for(&failure.said),
                    code: step.fail_code(),
                }));
            }
        }
        Ok(())
    }

    /// The step's command, tried again as the step says (`retries`) while it fails.
    fn tries(
        &self,
        step: &Step,
        state: &mut State,
        io: &Io,
    ) -> Result<Option<Value>, command::Failure> {
        let (tries, pause) = step.retries.unwrap_or((1, 0));
        let mut attempt = 1;
        loop {
            let result = self.command(step, state, io);
            match &result {
                // a try stopped at its time limit (a pull that ran out of time) is not tried
                // again
                Err(f)
                    if attempt < tries
                        && f.signal.is_none()
                        && !f.stopped
                        && !f.definite
                        && !f.timed_out =>
                {
                    io.say(&format!(
                        "    try {attempt}/{tries} failed: {}; again in {pause}s",
                        crate::validate::escape_controls(&f.message)
                    ));
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_secs(pause)
                        && signals::caught().is_none()
                        && !io.stopped()
                    {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    // a signal (or another lane's failure) in the pause ends the step there:
                    // no other try is started (a pull on a device would run on after it)
                    if let Some(sig) = signals::caught() {
                        return Err(command::Failure {
                            signal: Some(sig),
                            ..command::Failure::internal(format!(
                                "stopped by {} before try {}/{tries}",
                                signals::name(sig),
                                attempt + 1
                            ))
                        });
                    }
                    if io.stopped() {
                        return Err(command::Failure {
                            stopped: true,
                            ..command::Failure::internal(format!(
                                "stopped before try {}/{tries}: another lane failed",
                                attempt + 1
                            ))
                        });
                    }
                    attempt += 1;
                }
                _ => return result,
            }
        }
    }

    /// The error of a signal caught at step `n`: what was stopped, what the record holds
    /// (a plan that keeps one), and what is left where the plan works ([`Step::leaves`]).
    fn interrupted(
        &self,
        sig: i32,
        n: usize,
        step: &Step,
        state: &State,
        report: &mut Report,
        ms: u64,
    ) -> anyhow::Error {
        report
            .steps
            .push(StepRecord::new(step, Status::Interrupted, ms));
        let mut message = format!(
            "interrupted by {} at step {n}/{} ({}): the command was stopped and the secret files removed",
            signals::name(sig),
            self.plan.steps.len(),
            step.about
        );
        if self.plan.record.is_some() {
            message.push_str(
                "; what was made so far is in the record (`cargo xtask clean` undoes it)",
            );
        }
        if let Some(left) = &state.leaves {
            message.push('\n');
            message.push_str(left);
        }
        anyhow::Error::new(Interrupted {
            signal: sig,
            message,
        })
    }

    /// Write the step's recordings of this moment into the record file.
    fn record(&self, step: &Step, state: &State, moment: Moment) -> anyhow::Result<()> {
        use crate::plan::Recording;
        let Some(path) = &self.plan.record else {
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
        crate::record::apply(path, &due, &state.vars)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Moment {
    Before,
    After,
    /// A probe answered no.
    No,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Step;

    /// A command that runs past its step's time limit is stopped, with what it started, and
    /// the step fails saying so (a signing tool that hangs must not hold a release forever).
    #[test]
    fn a_step_past_its_time_limit_is_stopped() {
        let dir = std::env::temp_dir().join(format!("xtask-limit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("child.pid");
        let mut plan = Plan::new("time limit", true);
        plan.push(
            Step::new("hangs", "a command that hangs", "bash")
                .arg("-c")
                .arg(format!(
                    "sleep 300 & echo $! > {}; wait",
                    pid_file.display()
                ))
                .time_limit(1),
        );
        let sh = Shell::new().unwrap();
        let started = std::time::Instant::now();
        let (_, result) = run(&sh, &plan, Options::default());
        let error = format!("{:#}", result.unwrap_err());
        assert!(error.contains("did not end within 1s"), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        assert!(
            !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "what the command started is still running"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
