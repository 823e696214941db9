//! `cargo xtask completions SHELL`: a completion script for the shell, from the same
//! command-line model (so it knows every flag and closed set of values).

use super::{Action, Ctx};

#[derive(clap::Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell the script is for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `cli` is the whole command line's model, which the dispatch hands over.
pub fn act(args: &CompletionsArgs, ctx: &Ctx, mut cmd: clap::Command) -> anyhow::Result<Action> {
    // for `alias xtask='cargo xtask'`: a shell cannot complete the two words `cargo xtask`
    if ctx.json {
        let mut script = Vec::new();
        clap_complete::generate(args.shell, &mut cmd, "xtask", &mut script);
        crate::exec::print_json(&serde_json::json!({
            "ok": true,
            "shell": args.shell.to_string(),
            "script": String::from_utf8_lossy(&script),
        }));
    } else {
        clap_complete::generate(args.shell, &mut cmd, "xtask", &mut std::io::stdout());
    }
    Ok(Action::Done)
}
