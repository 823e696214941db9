//! The subcommands, one file each, with what only they use. Every one has the same shape:
//! its clap arguments and one entry point `act(args, ctx) -> Action`. Most return a
//! [`Action::Plan`] for the one executor (or `--dry-run`); six act directly and return
//! [`Action::Done`]: `kickstart` (prints or writes the file), `doctor` and `lint` (reports),
//! `completions`, `docs` (the reference pages) and `verify --pods-file` (judges a saved file).

pub mod build;
pub mod bundle;
pub mod clean;
pub mod completions;
pub mod disk;
pub mod docs;
pub mod doctor;
pub mod fleet;
pub mod flightctl;
pub mod keygen;
pub mod kickstart;
pub mod lifecycle;
pub mod lint;
pub mod manifest;
pub mod mirror;
pub mod push;
pub mod release;
pub mod rollback;
pub mod rollout;
pub mod run;
pub mod status;
pub mod upgrade;
pub mod verify;
pub mod vm;

use crate::config::Sources;
use crate::plan::Plan;

/// What a subcommand does: a plan for the one executor (printed by `--dry-run`), or an
/// action it carried out itself (a report, a file, a completion script).
pub enum Action {
    Plan(Box<Plan>),
    Done,
}

impl Action {
    pub fn plan(plan: Plan) -> Action {
        Action::Plan(Box::new(plan))
    }
}

/// How the command line asked the subcommand to run, and where its inputs come from.
pub struct Ctx<'a> {
    pub sources: &'a Sources,
    pub dry_run: bool,
    pub json: bool,
    pub verbose: bool,
}
