//! `cargo xtask completions SHELL`: a completion script for the shell, from the same
//! command-line model (so it knows every flag and closed set of values).

use crate::{Action, Ctx};

#[derive(clap::Args, Debug, Clone)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn act(args: &CompletionsArgs, _ctx: &Ctx) -> anyhow::Result<Action> {
    let mut cmd = crate::cli();
    // for `alias xtask='cargo xtask'`: a shell cannot complete the two words `cargo xtask`
    clap_complete::generate(args.shell, &mut cmd, "xtask", &mut std::io::stdout());
    Ok(Action::Done)
}
