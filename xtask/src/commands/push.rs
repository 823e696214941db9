//! `cargo xtask push`: "Publish Image".

use super::{Action, Ctx};
use crate::config::Sources;
use crate::image::{Image, ImageArgs};
use crate::plan::{Plan, Step};
use crate::registry::{Registry, RegistryArgs};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PushArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `cargo xtask push`
pub fn act(args: &PushArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    let push = Push::resolve(args, ctx.sources)?;
    Ok(Action::plan(push.plan(ctx.sources.as_root)))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Push {
    pub image: Image,
    pub registry: Registry,
}

impl Push {
    pub fn resolve(args: &PushArgs, sources: &Sources) -> anyhow::Result<Push> {
        Ok(Push {
            image: Image::resolve(&args.image, sources)?,
            registry: Registry::resolve(&args.registry, sources, true)?,
        })
    }

    pub fn remote(&self) -> String {
        self.registry
            .remote(&self.image.name, Some(&self.image.tag()))
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        let local = self.image.local();
        let remote = self.remote();
        let mut plan = Plan::new(format!("push {local} to {remote}"), as_root);
        plan.facts = serde_json::json!({ "local": local, "reference": remote });
        plan.note = self.registry.note.clone();
        self.registry.add_login(&mut plan);
        plan.push(
            Step::new("push", format!("push to {remote}"), "podman")
                .arg("push")
                .args(self.registry.authfile_args())
                .arg("--digestfile")
                .out_file("push.digest", "digest")
                .args([local.as_str(), remote.as_str()])
                .root(true)
                .done(crate::plan::Done::Pushed {
                    reference: remote.clone(),
                })
                .hint(format!(
                    "if podman says the image is not known, build it first: `cargo xtask build{}`; otherwise: {}",
                    self.image.arch.map(|a| format!(" --arch {a}")).unwrap_or_default(),
                    self.registry.push_hint()
                )),
        );
        plan
    }
}
