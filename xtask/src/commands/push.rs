//! `cargo xtask push`: "Publish Image".

use super::{Action, Ctx};
use crate::config::Sources;
use crate::image::{Image, ImageArgs};
use crate::plan::{Plan, ResultShell, Step};
use crate::registry::{Registry, RegistryArgs};
use crate::signing::{Need, Signing, SigningArgs};

/// The variable holding the digest `podman push` wrote.
const PUSHED_DIGEST: &str = "PUSHED_DIGEST";

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PushArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub signing: SigningArgs,
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
    /// Sign what was pushed and check it, when signing is configured.
    pub signing: Option<Signing>,
}

impl Push {
    pub fn resolve(args: &PushArgs, sources: &Sources) -> anyhow::Result<Push> {
        let push = Push {
            image: Image::resolve(&args.image, sources)?,
            registry: Registry::resolve(&args.registry, sources, true)?,
            signing: Signing::resolve(&args.signing, sources, Need::Sign)?,
        };
        if let Some(signing) = &push.signing {
            signing.refuse_covering(crate::signing::repository_of(&push.remote()))?;
        }
        Ok(push)
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
        if let Some(signing) = &self.signing {
            let repository = crate::signing::repository_of(&remote);
            for step in signing.config_steps(crate::signing::scope_of(repository), repository) {
                plan.push(step);
            }
            plan.facts["signing"] = signing.facts();
        }
        let push =
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
                ));
        plan.push(match &self.signing {
            // what is signed is what this push wrote, by digest
            Some(_) => push.result_var(PUSHED_DIGEST, "digest", ResultShell::File("push.digest")),
            None => push,
        });
        if let Some(signing) = &self.signing {
            signing.add_sign_and_check(&mut plan, &self.registry, &remote, PUSHED_DIGEST, None);
        }
        plan
    }
}
