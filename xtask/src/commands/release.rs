//! `cargo xtask release`: every architecture built and pushed at the same time (a lane
//! each), then the manifest list created, pushed and checked — one plan for what the
//! documented procedure does in six commands, one after the other.
//!
//! Nothing is done twice: a push is skipped when the registry still holds the very image
//! (the record keeps, per remote reference, the image id and digest of the last push, and
//! the digest is checked against the registry), and the list is pushed again only when a
//! member was pushed or the registry's list is missing or wrong. `--force` does it all.

use super::build::{Build, BuildArgs, BuildFlags};
use super::manifest::{Manifest, ManifestArgs};
use super::push::Push;
use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::Sources;
use crate::image::ImageArgs;
use crate::plan::Check;
use crate::plan::{Arg, Entry, Extract, Plan, Recording, ResultShell, Step, When, SHELL_DIGEST};
use crate::registry::RegistryArgs;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReleaseArgs {
    #[arg(long)]
    pub image_name: Option<String>,
    #[arg(long = "arch", value_delimiter = ',')]
    pub archs: Vec<String>,
    #[command(flatten)]
    pub build: BuildFlags,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Build, push and list everything again, even what the registry already holds
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub signing: crate::signing::SigningArgs,
    #[command(flatten)]
    pub builders: crate::builder::BuilderArgs,
}

/// `cargo xtask release`
pub fn act(args: &ReleaseArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    Ok(Action::plan(
        Release::resolve(args, ctx.sources)?.plan(ctx.sources.as_root),
    ))
}

pub struct Release {
    pub manifest: Manifest,
    pub builds: Vec<Build>,
    pub pushes: Vec<Push>,
    /// Per architecture: what the record says was last pushed to its reference (image id,
    /// digest), unless --force.
    pub last_pushed: Vec<Option<(String, String)>>,
    pub record: camino::Utf8PathBuf,
    /// The registries configuration file that sends skopeo's reads of the registry
    /// elsewhere (`registry::redirected_by`): then nothing is skipped.
    pub redirected_by: Option<camino::Utf8PathBuf>,
    /// Lanes that run on another podman (`--builder ARCH=CONNECTION`).
    pub builders: Vec<crate::builder::Builder>,
}

/// The steps writing the signing's files (see `signing::config_steps`).
const SIGNING_CONFIG: [&str; 4] = [
    "sign-config",
    "check-config",
    "check-policy",
    "lookaside-dir",
];
/// The steps of signing and checking the list, which run whether or not it was pushed now.
const SIGNING_STEPS: &[&str] = &[
    "list-digest",
    "sign-unlock",
    "sign",
    "sign-owner",
    "sign-check",
    "list-key",
    "list-keyring",
    "list-key-import",
    "list-clear",
    "list-fetch",
    "list-sig-check",
];

/// A lane's podman command sent to its builder (`podman --url URL ...`): run as the user,
/// unless the builder is a unix socket (root's, usually).
fn on_builder(mut step: Step, builder: &crate::builder::Builder) -> Step {
    if step.program != "podman" {
        return step;
    }
    let mut args: Vec<crate::plan::Arg> = builder
        .args()
        .into_iter()
        .map(crate::plan::Arg::Lit)
        .collect();
    args.append(&mut step.args);
    step.args = args;
    step.root = builder.needs_root();
    step.about = format!("{} (on {})", step.about, builder.describe());
    // podman's service writes a build secret into its temporary directory and the build
    // container; it removes them when the build ends, not when the service dies mid-build
    let secret = step
        .args
        .iter()
        .any(|a| matches!(a, crate::plan::Arg::Lit(l) if l == "--secret"))
        || step
            .args
            .iter()
            .any(|a| matches!(a, crate::plan::Arg::SecretFile { .. }));
    if secret {
        let keeps = format!(
            "; if {} died mid-build, it may still hold the build secret: on it, remove libpod_builder*/ (with podman-build-secret* files) from its podman's temporary directory (/var/tmp by default) and the build container (`podman ps --all --storage`, `podman rm --storage ID`)",
            builder.describe()
        );
        step.hint = Some(format!("{}{keeps}", step.hint.take().unwrap_or_default()));
        for (_, hint) in &mut step.hints {
            hint.push_str(&keeps);
        }
    }
    step
}

/// A lane's own variable (`LOCAL_ID_arm64`).
fn lane_name(base: &str, arch: Arch) -> &'static str {
    crate::plan::name(format!("{base}{}", arch.oci()))
}

impl Release {
    pub fn resolve(args: &ReleaseArgs, sources: &Sources) -> anyhow::Result<Release> {
        // an `images` entry names the image too
        let image_name = args.build.image_entry.clone().or(args.image_name.clone());
        let manifest = Manifest::resolve(
            &ManifestArgs {
                image_name: image_name.clone(),
                archs: args.archs.clone(),
                registry: args.registry.clone(),
                signing: args.signing.clone(),
            },
            sources,
        )?;
        let redirected_by = crate::registry::redirected_by(sources, &manifest.registry.url);
        let builders = crate::builder::resolve(&args.builders, sources, &manifest.archs)?;
        let mut builds = Vec::new();
        let mut pushes = Vec::new();
        let mut last_pushed = Vec::new();
        for arch in &manifest.archs {
            let image = ImageArgs {
                image_name: if args.build.image_entry.is_some() {
                    None
                } else {
                    Some(manifest.name.clone())
                },
                arch: Some(arch.oci().to_string()),
            };
            let build = Build::resolve(
                &BuildArgs {
                    image: image.clone(),
                    flags: args.build.clone(),
                    signing: args.signing.clone(),
                    mirror: Default::default(),
                },
                sources,
            )?;
            let push = Push {
                image: build.image.clone(),
                registry: manifest.registry.clone(),
                // the list's signing signs every image in it
                signing: None,
            };
            let remote = push.remote();
            // what the registry holds is asked of skopeo, which reads through mirrors and
            // location rewrites that `podman push` does not use: with those, nothing is
            // skipped
            let last = if args.force || redirected_by.is_some() {
                None
            } else {
                sources.record()?.find("pushed", &remote).and_then(|e| {
                    let text = |k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_string);
                    Some((text("image_id")?, text("digest")?))
                })
            };
            builds.push(build);
            pushes.push(push);
            last_pushed.push(last);
        }
        Ok(Release {
            manifest,
            builds,
            pushes,
            last_pushed,
            record: sources.record()?.path.clone(),
            redirected_by,
            builders,
        })
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        let m = &self.manifest;
        let archs: Vec<&str> = m.archs.iter().map(|a| a.oci()).collect();
        let list = m.remote();
        let mut plan = Plan::new(format!("release {list} for {}", archs.join(", ")), as_root);
        plan.record = Some(self.record.clone());
        plan.facts = serde_json::json!({
            "reference": list,
            "sources": self.pushes.iter().map(Push::remote).collect::<Vec<_>>(),
            "architectures": archs,
        });
        // one login for every push, before the lanes start
        plan.note = m.registry.note.clone();
        if let Some(file) = &self.redirected_by {
            let said = format!(
                "note: {file} sends reads of {} to a mirror or another location, where skopeo would look instead of where podman pushes: every image and the list are pushed, whatever the record says",
                m.registry.url
            );
            plan.note = Some(match plan.note.take() {
                Some(n) => format!("{n}\n{said}"),
                None => said,
            });
        }
        m.registry.add_login(&mut plan);
        if let Some(signing) = &m.signing {
            plan.facts["signing"] = signing.facts();
        }
        if !self.builders.is_empty() {
            plan.facts["builders"] = serde_json::Value::Object(
                self.builders
                    .iter()
                    .map(|b| (b.arch.oci().to_string(), serde_json::json!(b.describe())))
                    .collect(),
            );
            let said: Vec<String> = self
                .builders
                .iter()
                .map(|b| {
                    format!(
                        "the {} lane builds, inspects and pushes on {}",
                        b.arch,
                        b.describe()
                    )
                })
                .collect();
            let said = format!(
                "note: {}; the other lanes and the list run here",
                said.join("; ")
            );
            plan.note = Some(match plan.note.take() {
                Some(n) => format!("{n}\n{said}"),
                None => said,
            });
        }
        let mut pushed_vars = Vec::new();
        // per architecture, the digest its list entry must have: pushed now, else in the
        // registry (the probe of a skipped push)
        let mut digests: Vec<(Arch, Vec<&'static str>)> = Vec::new();
        for ((build, push), last) in self.builds.iter().zip(&self.pushes).zip(&self.last_pushed) {
            let arch = build.image.arch.unwrap_or(Arch::Amd64);
            let lane = arch.oci();
            let local_id = lane_name("LOCAL_ID_", arch);
            let pushed = lane_name("PUSHED_", arch);
            let digest = lane_name("PUSHED_DIGEST_", arch);
            pushed_vars.push(pushed);
            // what was pushed now, else (a skipped push) what the registry holds
            let mut digest_vars = vec![digest];
            if last.is_some() {
                digest_vars.push(lane_name("REMOTE_DIGEST_", arch));
            }
            digests.push((arch, digest_vars));
            let remote = push.remote();
            let build_plan = build.plan(as_root);
            plan.explain_secrets_of(&build_plan);
            let builder = self.builders.iter().find(|b| b.arch == arch);
            for mut step in build_plan.steps {
                step.id = crate::plan::name(format!("{lane}/{}", step.id));
                if let Some(b) = builder {
                    step = on_builder(step, b);
                }
                let mut step = step.in_lane(lane);
                if matches!(step.output, crate::plan::Output::Check(Check::Image { .. })) {
                    step = step.result_var(
                        local_id,
                        "id",
                        ResultShell::Stdout(
                            "grep -o '\"Id\": *\"[^\"]*\"' | head -n 1 | cut -d '\"' -f 4"
                                .to_string(),
                        ),
                    );
                }
                plan.push(step);
            }
            let mut push_step = push
                .plan(as_root)
                .steps
                .into_iter()
                .find(|s| s.id == "push")
                .expect("a push plan has a push step");
            let push_id = crate::plan::name(format!("{lane}/push"));
            push_step.id = push_id;
            if let Some(b) = builder {
                push_step = on_builder(push_step, b);
                // podman's remote client (4.3) writes no --digestfile: left out
                let mut args = std::mem::take(&mut push_step.args).into_iter().peekable();
                while let Some(arg) = args.next() {
                    let digestfile = matches!(&arg, Arg::Lit(l) if l == "--digestfile");
                    if digestfile && matches!(args.peek(), Some(Arg::OutFile { .. })) {
                        args.next();
                        continue;
                    }
                    push_step.args.push(arg);
                }
            }
            let entry = Entry::new("pushed", "name", &remote)
                .with_var("image_id", local_id)
                .with_var("digest", digest);
            // a builder lane's digest is read by tag right after its push, and taken only
            // when the registry serves the very image built on the builder (its config is
            // the image's id): not another one pushed to the tag in between, or a mirror's
            let digest_after = builder.map(|b| {
                m.registry
                    .inspect_raw_step(crate::plan::name(format!("{lane}/pushed-digest")), &remote)
                    .check(Check::Pushed {
                        reference: remote.clone(),
                        image_id: local_id,
                    })
                    .result_var(digest, "digest", ResultShell::Stdout(SHELL_DIGEST.to_string()))
                    .result_to(push_id, "digest")
                    .in_lane(lane)
                    .when(When::IfSet(pushed))
                    .record(Recording::After(entry.clone()))
                    .hint(format!(
                        "when the registry serves another image under {remote} than {} built and pushed: find who else pushes to that tag (or the registries.conf mirror that answers reads of it), then push again (`cargo xtask release --force`)",
                        b.describe()
                    ))
                    .done(crate::plan::Done::Say(format!(
                        "ok: pushed {remote} from {} (${{{digest}}}), the image built there",
                        b.describe()
                    )))
            });
            push_step = push_step.in_lane(lane).sets(pushed, "yes");
            push_step = match &digest_after {
                Some(_) => {
                    push_step.done = None;
                    push_step
                }
                None => push_step
                    .result_var(digest, "digest", ResultShell::File("push.digest"))
                    .record(Recording::After(entry)),
            };
            if let Some((image_id, pushed_digest)) = last {
                // the registry's digest now, against the last push of this very image
                let remote_digest = lane_name("REMOTE_DIGEST_", arch);
                plan.push(
                    m.registry
                        .digest_step(crate::plan::name(format!("{lane}/remote-digest")), &remote)
                        .capture(remote_digest, Extract::Trim)
                        .probe()
                        .in_lane(lane),
                );
                push_step = push_step
                    .when(When::IfDiffers(vec![
                        (local_id, image_id.clone()),
                        (remote_digest, pushed_digest.clone()),
                    ]))
                    .skip_note(format!(
                        "{remote} already holds this image ({pushed_digest}): not pushed again"
                    ));
            }
            plan.push(push_step);
            if let Some(step) = digest_after {
                plan.push(step);
            }
        }
        // the list: again only when a member changed, or the registry's list is not right
        let list_plan = m.plan_checking(as_root, digests.clone());
        plan.explain_secrets_of(&list_plan);
        let mut list_steps: Vec<Step> = list_plan
            .steps
            .into_iter()
            .filter(|s| s.id != "login")
            .collect();
        // the signing's files are written before anything is built: an unwritable
        // directory stops the release before its work, not after it
        let config: Vec<Step> = list_steps
            .iter()
            .filter(|s| SIGNING_CONFIG.contains(&s.id))
            .cloned()
            .collect();
        list_steps.retain(|s| !SIGNING_CONFIG.contains(&s.id));
        let at = plan
            .steps
            .iter()
            .position(|s| s.lane.is_some())
            .unwrap_or(plan.steps.len());
        // a builder named by podman connection: its URL, which the name hides, checked as
        // `--builder` checks a URL (no tcp:// to another machine), before any lane sends a
        // secret or a build context there
        let connections: Vec<Step> = self
            .builders
            .iter()
            .filter_map(|b| match &b.target {
                crate::builder::Target::Connection(n) => Some(
                    Step::new(
                        crate::plan::name(format!("{}/connection", b.arch.oci())),
                        format!("read what podman connection {n} is"),
                        "podman",
                    )
                    .args(["system", "connection", "list", "--format", "json"])
                    .read_only()
                    .check(Check::Connection { name: n.clone() }),
                ),
                crate::builder::Target::Url(_) => None,
            })
            .collect();
        for (i, step) in connections.into_iter().chain(config).enumerate() {
            plan.steps.insert(at + i, step);
        }
        // the local list is made anew while the architectures build (its own lane): local
        // work that does not wait for any push
        let prepare: Vec<Step> = list_steps
            .iter()
            .filter(|s| matches!(s.id, "list-exists" | "list-rm" | "list-create"))
            .cloned()
            .map(|s| s.in_lane("list"))
            .collect();
        list_steps.retain(|s| !matches!(s.id, "list-exists" | "list-rm" | "list-create"));
        for step in prepare {
            plan.push(step);
        }
        let all_known = self.last_pushed.iter().all(Option::is_some);
        if all_known {
            plan.push(
                m.registry
                    .inspect_raw_step("list-current", &list)
                    .check(Check::ManifestList {
                        expected: m.archs.clone(),
                        digests,
                    })
                    .probe(),
            );
            // pushed again when a member was pushed, or the registry's list is missing,
            // wrong, or names other images than the ones pushed or in the registry now
            let mut any = vec![When::IfFailed("list-current")];
            any.extend(pushed_vars.iter().map(|v| When::IfSet(v)));
            let changed = When::AnyOf(any);
            for step in &mut list_steps {
                // what is signed and checked is the registry's list, pushed now or not: a
                // run after a failed signing signs it
                if SIGNING_STEPS.contains(&step.id) {
                    continue;
                }
                let when = match std::mem::replace(&mut step.when, When::Always) {
                    When::Always => changed.clone(),
                    // the probe-dependent removal of an old local list keeps its condition
                    other => other,
                };
                step.when = when;
                if step.id == "list-push" {
                    step.skip_note = Some(format!(
                        "{list} already lists these images: not pushed again"
                    ));
                }
            }
        }
        for step in list_steps {
            plan.push(step);
        }
        plan
    }
}
