//! The errors that end a command, and the exit code each one gives (docs/src/exit-codes-and-json.md).
//!
//! - [`BadInput`]: a flag, environment variable, config value or input file is wrong;
//!   nothing ran (exit 2).
//! - [`StepFailed`]: a command failed or its output failed a check (exit 1), or a wait ran
//!   out of time (exit 3).
//! - [`Interrupted`]: SIGINT, SIGTERM or SIGHUP stopped the run (exit 128 + the signal).
//! - [`Stopped`]: a lane stopped because another lane failed (never reported alone).
//! - [`NotYet`]: a check saw a state that may still become the wanted one (pods starting);
//!   a waiting step tries again, any other step fails with its diagnosis.

use std::fmt;

/// Exit codes (documented in docs/src/exit-codes-and-json.md).
pub mod exit {
    /// Everything ran and every check passed.
    pub const OK: i32 = 0;
    /// A step failed (its command exited non-zero or its output failed a check).
    pub const FAILED: i32 = 1;
    /// Bad input: a flag, environment variable, config value or input file. Nothing ran.
    pub const BAD_INPUT: i32 = 2;
    /// `verify` (or another wait) ran out of time before the state was reached.
    pub const TIMEOUT: i32 = 3;
    /// `upgrade`: the device rolled back (greenboot failed the new image); it runs the
    /// image it ran before.
    pub const ROLLED_BACK: i32 = 4;
}

/// Bad user input: printed as one line, exit code 2, before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// A step's failure: the plan stops, the process exits with `code` (1; 3 when a repeated
/// step ran out of time; 4 when `upgrade` saw the device roll back).
#[derive(Debug)]
pub struct StepFailed {
    pub message: String,
    pub hint: Option<String>,
    pub code: i32,
}

impl StepFailed {
    /// A failure that is not a step's (doctor, lint, a judged file): exit 1, this message.
    pub fn error(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(StepFailed {
            message: message.into(),
            hint: None,
            code: exit::FAILED,
        })
    }

    /// The kind of the failure, as the `--json` document names it.
    pub fn kind(&self) -> &'static str {
        match self.code {
            exit::TIMEOUT => "timed_out",
            exit::ROLLED_BACK => "rolled_back",
            _ => "failed",
        }
    }
}

/// A check's definite "no" (greenboot failed the image, the device booted the other
/// image): a waiting step stops waiting; a question takes it as its answer.
#[derive(Debug)]
pub struct Definite(pub String);

impl fmt::Display for Definite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Definite {}

impl fmt::Display for StepFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

/// A lane stopped because another lane failed (not itself a failure to report).
#[derive(Debug)]
pub struct Stopped;

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stopped: another lane failed")
    }
}

impl std::error::Error for Stopped {}

/// A check's "not yet": the state is not the wanted one, but may become it. Repeated steps
/// wait on it; otherwise it fails the step with its diagnosis.
#[derive(Debug)]
pub struct NotYet {
    /// A few words for the progress line ("7/9 pods ready").
    pub progress: String,
    /// The data for `--json`.
    pub detail: serde_json::Value,
    /// Lines for a person: what is wrong and hints.
    pub diagnosis: String,
}

impl fmt::Display for NotYet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnosis)
    }
}

impl std::error::Error for NotYet {}

/// The exit code for an error that ended a command.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.is::<BadInput>() {
        return exit::BAD_INPUT;
    }
    if let Some(stop) = e.downcast_ref::<Interrupted>() {
        return 128 + stop.signal;
    }
    match e.downcast_ref::<StepFailed>() {
        Some(f) => f.code,
        None => exit::FAILED,
    }
}
