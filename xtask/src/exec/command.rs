//! One command of a step: its arguments (secret files written, captured variables filled
//! in), stdin, where its output goes, the signal passed on while it runs, and its output
//! judged by the step's check.

use std::fs;
use std::io::Write;

use serde_json::{json, Value};

use super::lanes::Io;
use super::{signals, Runner, State};
use crate::error::NotYet;
use crate::plan::{Arg, Output, Stdin, Step};

/// Every occurrence of `secret` in `text` replaced by `${NAME}`. A secret shorter than 8
/// bytes is not looked for: it would match ordinary words.
pub(crate) fn redact(text: &mut Vec<u8>, secret: &[u8], name: &str) {
    if secret.len() < 8 || text.len() < secret.len() {
        return;
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(secret) {
            out.extend_from_slice(format!("${{{name}}}").as_bytes());
            i += secret.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    *text = out;
}

/// How long a watch's look may run past the plan's deadline ([`Step::ends_at_deadline`]): the
/// last look, taken at the deadline, gets this long to answer.
const LOOK_PAST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

pub(super) struct Failure {
    pub(super) message: String,
    /// The command ran and said no: it exited non-zero (or zero, for a step that must
    /// fail), or its output failed a check. Not: it could not be started at all.
    pub(super) answered: bool,
    /// A check said "not yet" (e.g. pods still starting): worth waiting for.
    pub(super) not_yet: Option<Box<NotYet>>,
    /// We were stopped by this signal while the command ran.
    pub(super) signal: Option<i32>,
    /// Another lane failed and this one's command was stopped.
    pub(super) stopped: bool,
    /// What the command said (its stderr, then stdout, as far as they were read): the step's
    /// hints name a cause only where this shows it.
    pub(super) said: String,
    /// The check's definite no: no use waiting or trying again.
    pub(super) definite: bool,
    /// It was stopped at its time limit: a step's other tries are not started (a pull that
    /// ran out of time would only run out again); a watch's next look still is.
    pub(super) timed_out: bool,
}

impl Failure {
    pub(super) fn internal(message: String) -> Failure {
        Failure {
            message,
            answered: false,
            not_yet: None,
            signal: None,
            stopped: false,
            said: String::new(),
            definite: false,
            timed_out: false,
        }
    }
}

impl Runner<'_> {
    /// Run a step's diagnose command; its last 20 lines of output, if it printed any.
    pub(super) fn diagnose(&self, step: &Step, state: &mut State, io: &Io) -> Option<String> {
        let mut probe = step.clone();
        probe.output = Output::Capture {
            var: "DIAGNOSIS",
            extract: crate::plan::Extract::Trim,
        };
        self.command(&probe, state, io).ok()?;
        let text = state.vars.remove("DIAGNOSIS")?;
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(20)..];
        Some(
            tail.iter()
                .map(|l| format!("  {}", crate::validate::escape_controls(l)))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }

    /// Run the step's command once, and judge its output.
    pub(super) fn command(
        &self,
        step: &Step,
        state: &mut State,
        io: &Io,
    ) -> Result<Option<Value>, Failure> {
        let (sh, as_root, opts) = (self.sh, self.plan.as_root, self.opts);
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
                Arg::SecretHeader {
                    prefix,
                    file,
                    header,
                    secret,
                    ..
                } => {
                    let mut line = header.as_bytes().to_vec();
                    line.extend_from_slice(secret.expose());
                    line.push(b'\n');
                    let path = state
                        .secrets
                        .write(file, &line)
                        .map_err(|e| Failure::internal(format!("{e:#}")))?;
                    format!("{prefix}{path}")
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
                Arg::FirstVar { prefix, names } => {
                    match names
                        .iter()
                        .filter_map(|n| state.vars.get(n))
                        .find(|v| !v.is_empty())
                    {
                        Some(v) => format!("{prefix}{v}"),
                        None => {
                            return Err(Failure::internal(format!(
                                "internal: none of {} was captured by an earlier step",
                                names.join(", ")
                            )))
                        }
                    }
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
        for name in crate::inputs::secret_env() {
            cmd = cmd.env_remove(name);
        }
        if !step.uses_sudo(as_root) {
            for (k, v) in &step.env {
                cmd = cmd.env(k, v);
            }
        }
        let not_started =
            |e: std::io::Error| Failure::internal(format!("could not start `{program}`: {e}"));
        let exit_failure = |status: std::process::ExitStatus, said: String| Failure {
            said,
            definite: false,
            timed_out: false,
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
        // for the progress line and the final error, not printed at every try; in a lane, what
        // would reach the terminal goes through `io` (prefixed); a step whose hint depends on
        // what the command said has its stderr read (and shown) as it comes
        let in_lane = io.lane.is_some();
        let reads_stderr = in_lane || !step.hints.is_empty();
        command.stderr(if question {
            Stdio::null()
        } else if step.repeat || reads_stderr {
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
        let feed = step.stdin.bytes(&state.vars);
        command.stdin(match (&step.stdin, &feed) {
            (_, Some(_)) => Stdio::piped(),
            (Stdin::Inherit, None) => Stdio::inherit(),
            _ => Stdio::null(),
        });
        // its own process group, so that a stop reaches what it starts too; not a command
        // that reads the terminal (it must stay in the terminal's foreground group)
        let group = step.stdin != Stdin::Inherit;
        if group {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let mut child = command.spawn().map_err(not_started)?;
        if let (Some(bytes), Some(mut input)) = (feed, child.stdin.take()) {
            // a command that exits without reading its stdin is not our failure
            let _ = input.write_all(&bytes);
        }
        use super::child::Read2;
        let out = if captures { Read2::Keep } else { Read2::Show };
        let err = if step.repeat {
            Read2::Keep
        } else {
            Read2::Show
        };
        let mut limit = step.time_limit.map(std::time::Duration::from_secs);
        if let (Some(wait), true) = (self.plan.deadline, step.repeat && step.ends_at_deadline) {
            // a watch that ends at the plan's deadline ends there also while a look hangs (an
            // API that stopped answering): the command gets what is left of the wait and a
            // moment more, then what the check saw last is final
            let from = state.wait_from.unwrap_or(self.started);
            let left = std::time::Duration::from_secs(wait.timeout_s)
                .saturating_sub(from.elapsed())
                + LOOK_PAST_DEADLINE;
            limit = Some(limit.map_or(left, |l| l.min(left)));
        }
        let ended = match &step.watch {
            None => super::child::wait(child, out, err, group, io, limit),
            // a live line made from what the command writes, while it runs
            Some(watch) => {
                let done = std::sync::atomic::AtomicBool::new(false);
                std::thread::scope(|scope| {
                    let drawing = scope.spawn(|| super::watch::run(watch, &done));
                    let ended = super::child::wait(child, out, err, group, io, limit);
                    done.store(true, std::sync::atomic::Ordering::SeqCst);
                    let _ = drawing.join();
                    ended
                })
            }
        }
        .map_err(not_started)?;
        // what it started and we could not stop is said, not waited for
        let left = match ended.left.as_slice() {
            [] => String::new(),
            left => {
                let pids: Vec<&str> = left.iter().filter_map(|p| p.split(' ').next()).collect();
                let note = format!(
                    "left running, not ours to signal (another user's, e.g. root's through sudo): {}; `sudo kill {}` ends them",
                    left.join(", "),
                    pids.join(" ")
                );
                io.say(&format!("warning: `{shown}`: {note}"));
                format!("; {note}")
            }
        };
        if ended.timed_out {
            return Err(Failure {
                message: format!(
                    "`{shown}` did not end within {}s: stopped{left}",
                    limit.map_or(0.0, |l| l.as_secs_f64().round())
                ),
                answered: true,
                not_yet: None,
                signal: None,
                stopped: false,
                said: String::from_utf8_lossy(&ended.stderr).into_owned(),
                definite: false,
                timed_out: true,
            });
        }
        if ended.stopped {
            return Err(Failure {
                message: format!("`{shown}` stopped: another lane failed{left}"),
                answered: false,
                not_yet: None,
                signal: None,
                stopped: true,
                said: String::new(),
                definite: false,
                timed_out: false,
            });
        }
        if let Some(sig) = ended.signal {
            return Err(Failure {
                message: format!("`{shown}` stopped by {}", signals::name(sig)),
                answered: false,
                not_yet: None,
                signal: Some(sig),
                stopped: false,
                said: String::new(),
                definite: false,
                timed_out: false,
            });
        }
        let mut result = ended;
        // a secret of the step said back by what it asked (a server that quotes the token it
        // refused) reaches no check's message, log or report: `${NAME}` stands in its place
        for arg in &args {
            if let Arg::SecretFile { name, secret, .. } | Arg::SecretHeader { name, secret, .. } =
                arg
            {
                redact(&mut result.stdout, secret.expose(), name);
                redact(&mut result.stderr, secret.expose(), name);
            }
        }
        if result.status.success() == step.expect_failure {
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&result.stderr),
                String::from_utf8_lossy(&result.stdout)
            );
            let mut failure = exit_failure(result.status, said);
            if step.repeat {
                let stderr = String::from_utf8_lossy(&result.stderr);
                if let Some(last) = stderr.lines().rev().find(|l| !l.trim().is_empty()) {
                    let last: String = crate::validate::escape_controls(last.trim())
                        .chars()
                        .take(160)
                        .collect();
                    failure.message = format!("{}: {last}", failure.message);
                    failure.not_yet = Some(Box::new(NotYet {
                        progress: format!("not yet ({last})"),
                        detail: Value::Null,
                        diagnosis: failure.message.clone(),
                    }));
                }
                // a state that is not the wanted one yet ("activating") is worth showing
                if let Output::Check(check) = &step.output {
                    if let Err(e) =
                        check.judge_with(&String::from_utf8_lossy(&result.stdout), &state.vars)
                    {
                        if let Ok(not_yet) = e.downcast::<NotYet>() {
                            failure.not_yet = Some(Box::new(escaped(not_yet)));
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
                        said: String::new(),
                        definite: false,
                        timed_out: false,
                        not_yet: Some(Box::new(NotYet {
                            progress: format!("no {var} yet"),
                            detail: json!({ (*var): null }),
                            diagnosis: format!("`{shown}` printed nothing to capture into {var}"),
                        })),
                    });
                }
                state.vars.insert(var, value.clone());
                Ok(Some(json!({ (*var): value })))
            }
            Output::Check(check) => check.judge_with(&text, &state.vars).map(Some).map_err(|e| {
                // a check's words hold what the command printed (a device's, a registry's):
                // shown with its hidden characters escaped
                match e.downcast::<NotYet>().map(escaped) {
                    Ok(not_yet) => Failure {
                        message: not_yet.diagnosis.clone(),
                        answered: false,
                        not_yet: Some(Box::new(not_yet)),
                        signal: None,
                        stopped: false,
                        said: String::new(),
                        definite: false,
                        timed_out: false,
                    },
                    Err(e) => Failure {
                        definite: e.is::<crate::error::Definite>(),
                        timed_out: false,
                        message: crate::validate::escape_lines(&format!("{e:#}")),
                        answered: true,
                        not_yet: None,
                        signal: None,
                        stopped: false,
                        said: String::new(),
                    },
                }
            }),
        }
    }
}

/// A check's "not yet", its words (which hold what the command printed) with their hidden
/// characters escaped, line by line.
fn escaped(not_yet: NotYet) -> NotYet {
    NotYet {
        progress: crate::validate::escape_lines(&not_yet.progress),
        diagnosis: crate::validate::escape_lines(&not_yet.diagnosis),
        ..not_yet
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
