//! The one executor: runs a [`Plan`] through xshell, step by step.
//!
//! Secrets reach commands only as stdin or as paths of 0600 files in a private 0700
//! directory that is removed when the plan ends (on failure too). Progress goes to stderr;
//! `-v` echoes each command as rendered (secrets as `${NAME}`), never its values.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::time::Instant;

use anyhow::{anyhow, Context};
use camino::Utf8PathBuf;
use serde_json::{json, Value};
use xshell::Shell;

use crate::plan::{Arg, OnFail, Output, Plan, Stdin, Step, When};

/// A step's failure: the plan stops, the process exits 1.
#[derive(Debug)]
pub struct StepFailed {
    pub message: String,
    pub hint: Option<String>,
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

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub verbose: bool,
    /// No progress lines on stderr.
    pub quiet: bool,
    /// Send the commands' own standard output to stderr (with `--json`, stdout holds only
    /// the JSON document).
    pub stdout_to_stderr: bool,
}

/// What happened, step by step: the data for `--json`.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub steps: Vec<Value>,
    pub data: BTreeMap<String, Value>,
}

impl Report {
    pub fn to_json(&self, title: &str, ok: bool) -> Value {
        json!({ "plan": title, "ok": ok, "steps": self.steps, "results": self.data })
    }
}

/// A private directory for secret files, removed on drop.
struct SecretDir {
    path: Option<Utf8PathBuf>,
}

impl SecretDir {
    fn new() -> SecretDir {
        SecretDir { path: None }
    }

    fn write(&mut self, name: &str, value: &str) -> anyhow::Result<Utf8PathBuf> {
        if self.path.is_none() {
            let base = Utf8PathBuf::from_path_buf(std::env::temp_dir())
                .map_err(|_| anyhow!("the temp directory is not UTF-8"))?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = base.join(format!("xtask-secrets-{}-{nanos}", std::process::id()));
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("creating private directory {dir}"))?;
            self.path = Some(dir);
        }
        let dir = self.path.as_ref().expect("set above");
        let file = dir.join(name);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .with_context(|| format!("creating {file}"))?;
        f.write_all(value.as_bytes())
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

pub fn run(sh: &Shell, plan: &Plan, opts: Options) -> (Report, anyhow::Result<()>) {
    let mut report = Report::default();
    let result = run_into(sh, plan, opts, &mut report);
    (report, result)
}

fn run_into(sh: &Shell, plan: &Plan, opts: Options, report: &mut Report) -> anyhow::Result<()> {
    let mut outcomes: BTreeMap<&str, bool> = BTreeMap::new();
    let mut secrets = SecretDir::new();
    let total = plan.steps.len();
    for (i, step) in plan.steps.iter().enumerate() {
        let n = i + 1;
        let skip = match &step.when {
            When::Always => false,
            When::IfSucceeded(id) => outcomes.get(id) != Some(&true),
            When::IfFailed(id) => outcomes.get(id) != Some(&false),
        };
        if skip {
            report
                .steps
                .push(json!({ "id": step.id, "about": step.about, "status": "skipped" }));
            continue;
        }
        if !opts.quiet {
            eprintln!("==> [{n}/{total}] {}", step.about);
            if opts.verbose {
                eprintln!("    $ {}", step.render(plan.as_root));
            }
        }
        let started = Instant::now();
        let result = run_step(sh, plan.as_root, step, &mut secrets, opts);
        let ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(out) => {
                outcomes.insert(step.id, true);
                let mut entry =
                    json!({ "id": step.id, "about": step.about, "status": "ok", "ms": ms });
                if let Some(data) = out {
                    report.data.insert(step.id.to_string(), data.clone());
                    entry["result"] = data;
                }
                report.steps.push(entry);
            }
            Err(failure) if step.on_fail == OnFail::Record && failure.exited => {
                outcomes.insert(step.id, false);
                report
                    .steps
                    .push(json!({ "id": step.id, "about": step.about, "status": "no", "ms": ms }));
            }
            Err(failure) => {
                report.steps.push(
                    json!({ "id": step.id, "about": step.about, "status": "failed", "ms": ms }),
                );
                return Err(anyhow::Error::new(StepFailed {
                    message: format!(
                        "step {n}/{total} ({}) failed: {}",
                        step.about, failure.message
                    ),
                    hint: step.hint.clone(),
                }));
            }
        }
    }
    Ok(())
}

struct Failure {
    message: String,
    /// The command ran and exited non-zero (as opposed to: could not be started, or its
    /// output failed a check).
    exited: bool,
}

fn run_step(
    sh: &Shell,
    as_root: bool,
    step: &Step,
    secrets: &mut SecretDir,
    opts: Options,
) -> Result<Option<Value>, Failure> {
    let stdout_to_stderr = opts.stdout_to_stderr;
    let (program, args) = step.command_line(as_root);
    let mut words = Vec::with_capacity(args.len());
    for arg in &args {
        words.push(match arg {
            Arg::Lit(s) => s.clone(),
            Arg::SecretFile {
                prefix,
                file,
                secret,
                ..
            } => {
                let path = secrets.write(file, secret.expose()).map_err(|e| Failure {
                    message: format!("{e:#}"),
                    exited: false,
                })?;
                format!("{prefix}{path}")
            }
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
    let not_started = |e: std::io::Error| Failure {
        message: format!("could not start `{program}`: {e}"),
        exited: false,
    };
    let exit_failure = |status: std::process::ExitStatus| Failure {
        message: if step.expect_failure {
            format!("`{shown}`: the command succeeded")
        } else {
            format!("`{shown}` exited with {}", describe(status))
        },
        exited: true,
    };
    match (&step.stdin, &step.output) {
        (Stdin::Inherit, output) => {
            let mut command = std::process::Command::from(cmd);
            command.stdin(std::process::Stdio::inherit());
            if stdout_to_stderr {
                command.stdout(stderr_stdio());
            }
            let status = command.status().map_err(not_started)?;
            if status.success() == step.expect_failure {
                return Err(exit_failure(status));
            }
            if let Output::Check(_) = output {
                return Err(Failure {
                    message: "internal: an interactive step cannot be checked".into(),
                    exited: false,
                });
            }
            Ok(None)
        }
        (stdin, output) => {
            use std::process::Stdio;
            let mut command = std::process::Command::from(cmd);
            // a question's answer is its exit code: its output ("error: no such domain") would
            // only alarm; any other command's stderr reaches the user, as it carries the
            // tools' own error messages
            let question = step.is_question();
            command.stderr(if question {
                Stdio::null()
            } else {
                Stdio::inherit()
            });
            command.stdout(match output {
                Output::Check(_) => Stdio::piped(),
                Output::Inherit if question => Stdio::null(),
                Output::Inherit if stdout_to_stderr => stderr_stdio(),
                Output::Inherit => Stdio::inherit(),
            });
            let feed = match stdin {
                Stdin::Secret { secret, .. } => Some(secret.expose().as_bytes()),
                _ => None,
            };
            command.stdin(if feed.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
            let mut child = command.spawn().map_err(not_started)?;
            if let (Some(bytes), Some(mut input)) = (feed, child.stdin.take()) {
                // a command that exits without reading its stdin is not our failure
                let _ = input.write_all(bytes);
            }
            let result = child.wait_with_output().map_err(not_started)?;
            if result.status.success() == step.expect_failure {
                return Err(exit_failure(result.status));
            }
            match output {
                Output::Check(check) => {
                    let text = String::from_utf8_lossy(&result.stdout);
                    check.judge(&text).map(Some).map_err(|e| Failure {
                        message: format!("{e:#}"),
                        exited: false,
                    })
                }
                Output::Inherit => Ok(None),
            }
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
