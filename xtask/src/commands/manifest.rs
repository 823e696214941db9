//! `cargo xtask manifest`: the manifest list of "Appendix A: Multi-Architecture Image Build".

use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::Sources;
use crate::image::Image;
use crate::plan::Check;
use crate::plan::{Plan, Step, When};
use crate::registry::{Registry, RegistryArgs};
use crate::signing::{Need, Signing, SigningArgs};
use crate::validate::bad;

/// The tag of the local manifest list.
const LOCAL_LIST_TAG: &str = "manifest-list";
/// The variable holding the digest of the list in the registry (signing signs that one).
const LIST_DIGEST: &str = "LIST_DIGEST";

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ManifestArgs {
    #[arg(long)]
    pub image_name: Option<String>,
    #[arg(long = "arch", value_delimiter = ',')]
    pub archs: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// `cargo xtask manifest`
pub fn act(args: &ManifestArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    let manifest = Manifest::resolve(args, ctx.sources)?;
    Ok(Action::plan(manifest.plan(ctx.sources.as_root)))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub archs: Vec<Arch>,
    pub registry: Registry,
    /// Sign the list and every image in it, and check them, when signing is configured.
    pub signing: Option<Signing>,
}

impl Manifest {
    pub fn resolve(args: &ManifestArgs, sources: &Sources) -> anyhow::Result<Manifest> {
        let name = Image::name(args.image_name.as_deref(), sources)?;
        // the flag's values, else the config's `architectures`, else amd64 and arm64
        let (what, raw) = sources.list(&crate::inputs::ARCHITECTURES, &args.archs)?;
        let mut archs = Vec::new();
        for a in &raw {
            let arch = Arch::parse(&what, a.trim())?;
            if archs.contains(&arch) {
                return Err(bad(&what, a, "listed twice"));
            }
            archs.push(arch);
        }
        if archs.is_empty() {
            return Err(bad(&what, "", "name at least one architecture"));
        }
        let manifest = Manifest {
            name,
            archs,
            registry: Registry::resolve(&args.registry, sources, true)?,
            signing: Signing::resolve(&args.signing, sources, Need::Sign)?,
        };
        if let Some(signing) = &manifest.signing {
            signing.refuse_covering(crate::signing::repository_of(&manifest.remote()))?;
        }
        Ok(manifest)
    }

    /// The local list: `localhost/<name>:manifest-list`, a name of its own (`build`
    /// without `--arch` makes an image `localhost/<name>:latest`, which would collide).
    pub fn local(&self) -> String {
        format!("localhost/{}:{LOCAL_LIST_TAG}", self.name)
    }

    pub fn remote(&self) -> String {
        self.registry.remote(&self.name, Some("latest"))
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        self.plan_checking(as_root, Vec::new())
    }

    /// The plan, its last check also holding each architecture's entry to the digest in the
    /// first non-empty of its variables (`release`: what was pushed now, else what the
    /// registry holds).
    pub fn plan_checking(&self, as_root: bool, digests: Vec<(Arch, Vec<&'static str>)>) -> Plan {
        let local = self.local();
        let remote = self.remote();
        let mut plan = Plan::new(format!("manifest list {remote}"), as_root);
        plan.facts = serde_json::json!({
            "reference": remote,
            "sources": self.archs.iter().map(|a| self.registry.remote(&self.name, Some(&a.tag()))).collect::<Vec<_>>(),
        });
        plan.note = self.registry.note.clone();
        self.registry.add_login(&mut plan);
        if let Some(signing) = &self.signing {
            let repository = crate::signing::repository_of(&remote);
            for step in signing.config_steps(crate::signing::scope_of(repository), repository) {
                plan.push(step);
            }
            plan.facts["signing"] = signing.facts();
        }
        // Re-running must not add duplicate entries: an existing local list is replaced.
        plan.push(
            Step::new(
                "list-exists",
                format!("is there a local list {local}?"),
                "podman",
            )
            .args(["manifest", "exists", &local])
            .probe()
            .root(true),
        );
        plan.push(
            Step::new(
                "list-rm",
                format!("remove the old local list {local}"),
                "podman",
            )
            .args(["manifest", "rm", &local])
            .root(true)
            .when(When::IfSucceeded("list-exists")),
        );
        plan.push(
            Step::new(
                "list-create",
                format!("create the local list {local}"),
                "podman",
            )
            .args(["manifest", "create", &local])
            .root(true),
        );
        let repository = self.registry.remote(&self.name, None);
        for arch in &self.archs {
            let src = self.registry.remote(&self.name, Some(&arch.tag()));
            let add = Step::new("list-add", format!("add {src}"), "podman")
                .args(["manifest", "add"])
                .args(self.registry.authfile_args())
                .arg(local.as_str())
                .root(true);
            // `release`: by the digest pushed (or the registry's, when the push was not
            // needed), never by the tag, which anyone may have pushed to since
            let add = match digests.iter().find(|(a, _)| a == arch) {
                Some((_, vars)) => {
                    let mut add = add.first_var_arg(&format!("docker://{repository}@"), vars.clone());
                    add.about = format!("add the image pushed to {src}, by its digest");
                    add.hint(format!(
                        "the registry must still hold the image pushed to {src}, by its digest"
                    ))
                }
                None => add.arg(format!("docker://{src}")).hint(format!(
                    "{src} must be in the registry first: `cargo xtask push --arch {arch}` (after `build --arch {arch}`)"
                )),
            };
            plan.push(add);
        }
        plan.push(
            Step::new("list-push", format!("push the list to {remote}"), "podman")
                .args(["manifest", "push", "--all"])
                .args(self.registry.authfile_args())
                .arg("--digestfile")
                .out_file("manifest.digest", "digest")
                .args([local.as_str(), &format!("docker://{remote}")])
                .root(true)
                .done(crate::plan::Done::Pushed {
                    reference: remote.clone(),
                })
                .hint(self.registry.push_hint()),
        );
        // `podman manifest inspect` cannot authenticate in podman 4.x: ask skopeo
        let check = Check::ManifestList {
            expected: self.archs.clone(),
            digests,
        };
        match &self.signing {
            None => plan.push(
                self.registry
                    .inspect_raw_step("list-inspect", &remote)
                    .check(check),
            ),
            Some(signing) => {
                // what is signed is the list checked here, by digest: not whatever the tag
                // names by the time the signing runs
                plan.push(
                    self.registry
                        .digest_step("list-digest", &remote)
                        .capture(LIST_DIGEST, crate::plan::Extract::Trim),
                );
                plan.push(
                    self.registry
                        .inspect_raw_digest_step("list-inspect", &remote, LIST_DIGEST)
                        .check(check),
                );
                signing.add_sign_and_check(
                    &mut plan,
                    &self.registry,
                    &remote,
                    LIST_DIGEST,
                    Some(&self.archs),
                );
            }
        }
        plan
    }
}
