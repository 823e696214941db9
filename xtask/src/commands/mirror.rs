//! `cargo xtask mirror`: MicroShift's images, workload images and the OS image copied into a
//! site's registry (or a directory carried to a site with no path at all), digests kept.
//!
//! What is copied: the release list of the built image's MicroShift
//! (`/usr/share/microshift/release/release-<arch>.json`, every configured architecture, read
//! from the local image before planning, or `--release-list FILE`), `embed.extra_images`, and
//! the OS image list `release` pushes (`REGISTRY/ORG/NAME:latest`). Each image is one unit of
//! the plan: a reference by tag is resolved to its digest at the source first; the mirror is
//! asked for the image by its tag there (the source's, or `mirrored-<hex>` for an image named
//! by digest) and must serve that digest (there: nothing to do), else it is copied with
//! `skopeo copy --all --preserve-digests --retry-times 3`, then read back the same way and
//! its bytes hashed (a list's images read too, for their bytes). The signed OS image's copy
//! is checked with the public key (`signatures.rs`). `--jobs` lanes copy at the same time; an
//! image that fails fails alone, the others go on, and the run fails at the end naming each
//! one.

use camino::Utf8PathBuf;
use serde_json::{json, Value};

use super::{Action, Ctx};
use crate::mirror::{self, Mirror, MirrorArgs};
use crate::plan::{name, Plan, Stdin, Step, Want};
use crate::registry::RegistryArgs;
use crate::validate::{self, bad};

mod carry;
mod item;
mod lists;
mod signatures;
mod summary;

pub use carry::load_manifest;
use carry::{dir_of, not_shared};
pub use lists::{os_image, release_lists};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct MirrorCmd {
    #[command(flatten)]
    pub site: MirrorArgs,
    /// Copy into this directory instead of a registry (carry it to the site, then
    /// `mirror --from-dir DIR --to REGISTRY` there); it gets a manifest of what it holds
    #[arg(long, value_name = "DIR", conflicts_with = "from_dir")]
    pub to_dir: Option<String>,
    /// Copy what a `--to-dir` directory holds into the mirror, each image checked against the
    /// directory's manifest first
    #[arg(long, value_name = "DIR")]
    pub from_dir: Option<String>,
    #[arg(long)]
    pub jobs: Option<String>,
    #[arg(long)]
    pub image_name: Option<String>,
    #[arg(long = "arch", value_delimiter = ',')]
    pub archs: Vec<String>,
    #[arg(long = "release-list", value_name = "FILE")]
    pub release_lists: Vec<String>,
    #[arg(long = "embed-image", value_name = "REFERENCE")]
    pub embed_images: Vec<String>,
    #[arg(long)]
    pub pull_secret: Option<String>,
    /// Leave the OS image (the list `release` pushes) out
    #[arg(long)]
    pub no_os_image: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub signing: crate::signing::SigningArgs,
}

/// What an image is to the site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// In MicroShift's release list.
    Release,
    /// `embed.extra_images`: a workload image.
    Extra,
    /// The bootc image itself (its list).
    Os,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Release => "release",
            Kind::Extra => "workload",
            Kind::Os => "os",
        }
    }
    fn parse(word: &str) -> Option<Kind> {
        match word {
            "release" => Some(Kind::Release),
            "workload" => Some(Kind::Extra),
            "os" => Some(Kind::Os),
            _ => None,
        }
    }
}

/// One image to copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Where it comes from (the source registry's reference).
    pub reference: String,
    pub kind: Kind,
    /// Its digest when known before copying (a reference by digest, a directory's manifest).
    pub digest: Option<String>,
    /// `--from-dir`: its directory, relative to the carried directory.
    pub dir: Option<String>,
}

/// Where the images go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Registry,
    ToDir(Utf8PathBuf),
    FromDir(Utf8PathBuf),
}

#[derive(Clone, Debug, PartialEq)]
pub struct MirrorPlan {
    pub mode: Mode,
    /// The registry (`None` only with `--to-dir`).
    pub mirror: Option<Mirror>,
    pub items: Vec<Item>,
    pub jobs: usize,
    /// Credentials to read MicroShift's and workload images.
    pub pull_secret: Option<Utf8PathBuf>,
    /// Credentials to read the OS image (the registry's auth file).
    pub os_auth: Option<Utf8PathBuf>,
    pub registries_conf: Option<Utf8PathBuf>,
    /// Where the tool keeps the mirror's CA for skopeo (`--cert-dir`).
    pub cert_dir: Utf8PathBuf,
    /// Where the images' lists were read, for the plan's note.
    pub read_from: Vec<String>,
    /// With signing configured: signatures travel with the images (the tool's registries.d
    /// says where they are read and written), and the OS image's are checked.
    pub signing: Option<crate::signing::Signing>,
    /// The sources that keep their images' signatures at a lookaside (Red Hat's registries,
    /// `mirror.source_lookasides`): those signatures travel with their images too.
    pub source_lookasides: Vec<mirror::SourceLookaside>,
    /// The registries.d directory the tool writes for the copies.
    pub registries_d: Utf8PathBuf,
}

/// `cargo xtask mirror`
pub fn act(args: &MirrorCmd, ctx: &Ctx) -> anyhow::Result<Action> {
    let plan = MirrorPlan::resolve(args, ctx)?;
    Ok(Action::plan(plan.plan(ctx.sources.as_root)))
}

impl MirrorPlan {
    pub fn resolve(args: &MirrorCmd, ctx: &Ctx) -> anyhow::Result<MirrorPlan> {
        let sources = ctx.sources;
        let mode = match (&args.to_dir, &args.from_dir) {
            (Some(d), None) => {
                let dir = sources.flag_path("--to-dir", d)?;
                if sources.as_root {
                    not_shared("--to-dir", &dir)?;
                }
                Mode::ToDir(dir)
            }
            (None, Some(d)) => Mode::FromDir(sources.flag_path("--from-dir", d)?),
            _ => Mode::Registry,
        };
        let mirror = Mirror::resolve(&args.site, sources)?;
        if mirror.is_none() && !matches!(mode, Mode::ToDir(_)) {
            return Err(sources.missing(&crate::inputs::MIRROR_REGISTRY));
        }
        let jobs = sources.get(&crate::inputs::MIRROR_JOBS, args.jobs.as_deref())?;
        let jobs = validate::count(&jobs.what, &jobs.value, 1, 16)? as usize;
        let pull_secret =
            match sources.value(&crate::inputs::PULL_SECRET, args.pull_secret.as_deref())? {
                Some(p) => {
                    let path = sources.path(&p)?;
                    if path.exists() || p.origin != crate::config::Origin::Config {
                        crate::secrets::auth_json(&p.what, &path)?;
                        Some(path)
                    } else {
                        None
                    }
                }
                None => None,
            };
        let signing = crate::signing::Signing::resolve(
            &args.signing,
            sources,
            crate::signing::Need::Enforce,
        )?;
        let mut read_from = Vec::new();
        let mut os_auth = None;
        let items = match &mode {
            Mode::FromDir(dir) => {
                read_from.push(dir.join(mirror::DIR_MANIFEST).to_string());
                load_manifest(dir)?
            }
            _ => {
                // every input checked before the lists are read from the image (the one
                // command this resolution runs)
                let (what, extra) =
                    sources.list(&crate::inputs::EMBED_IMAGES, &args.embed_images)?;
                let mut extras = Vec::new();
                for r in extra {
                    extras.push(mirror::source_reference(&what, r.trim())?);
                }
                let os = if args.no_os_image {
                    None
                } else {
                    let (reference, auth) =
                        os_image(args.image_name.as_deref(), &args.registry, sources)?;
                    os_auth = auth;
                    Some(reference)
                };
                let mut items = Vec::new();
                let lists = release_lists(args, sources, &mut read_from)?;
                for (what, doc) in &lists {
                    let Some(images) = doc.get("images").and_then(Value::as_object) else {
                        return Err(bad(what, "", "has no \"images\" object (is it a MicroShift release list, release-<arch>.json?)"));
                    };
                    for (key, v) in images {
                        let Some(r) = v.as_str() else {
                            return Err(bad(
                                &format!("{what}: images.{key}"),
                                &v.to_string(),
                                "not an image reference",
                            ));
                        };
                        let r = mirror::source_reference(&format!("{what}: images.{key}"), r)?;
                        push_item(&mut items, r, Kind::Release);
                    }
                }
                for r in extras {
                    push_item(&mut items, r, Kind::Extra);
                }
                if let Some(r) = os {
                    push_item(&mut items, r, Kind::Os);
                }
                items
            }
        };
        if items.is_empty() {
            return Err(validate::refuse("mirror: nothing to copy (the release lists name no image, and there are no extra images or OS image)"));
        }
        mirror::distinct_hosts(items.iter().map(|i| mirror::host_of(&i.reference)))?;
        // devices read the signatures of what they pull through the mirror at the mirror's
        // lookaside only: images whose source keeps theirs at a lookaside need its URL
        let source_lookasides = mirror::source_lookasides(&args.site, sources)?;
        if let (Some(m), false) = (&mirror, matches!(mode, Mode::ToDir(_))) {
            let unverifiable: Vec<(&str, &mirror::SourceLookaside)> = items
                .iter()
                .filter_map(|i| {
                    mirror::source_of(&source_lookasides, &i.reference)
                        .map(|s| (i.reference.as_str(), s))
                })
                .collect();
            m.refuse_without_lookaside(&unverifiable)?;
        }
        Ok(MirrorPlan {
            mode,
            mirror,
            items,
            jobs,
            pull_secret,
            os_auth,
            registries_conf: sources.registries_conf(),
            cert_dir: sources.root.join("target/mirror/certs"),
            read_from,
            signing,
            source_lookasides,
            registries_d: sources.root.join("target/mirror/registries.d"),
        })
    }

    /// The destination of an image: a reference in the mirror, or a directory.
    fn destination(&self, item: &Item) -> Dest {
        match &self.mode {
            Mode::ToDir(dir) => Dest::Dir(dir.join(dir_of(&item.reference))),
            _ => {
                let m = self.mirror.as_ref().expect("a registry mode has a mirror");
                let to = m.destination(&item.reference);
                let repo = validate::reference_parts(&to).0.to_string();
                Dest::Registry { to, repo }
            }
        }
    }

    /// Do signatures travel with the images: signing configured, or an image of a source
    /// that keeps its signatures at a lookaside?
    fn signatures_travel(&self) -> bool {
        self.signing.is_some()
            || self
                .items
                .iter()
                .any(|i| mirror::source_of(&self.source_lookasides, &i.reference).is_some())
    }

    /// skopeo's global flags: podman's registries.conf (skopeo ignores the variable), and
    /// when signatures travel the tool's registries.d (never the host's).
    fn skopeo_globals(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(c) = &self.registries_conf {
            out.extend(["--registries-conf".to_string(), c.to_string()]);
        }
        if self.signatures_travel() {
            out.extend(["--registries.d".to_string(), self.registries_d.to_string()]);
        }
        out
    }

    fn skopeo(&self, id: &'static str, about: String) -> Step {
        Step::new(id, about, "skopeo").args(self.skopeo_globals())
    }

    /// The signed OS image's scope (`registry/org`): where its signatures are read.
    fn os_scope(&self) -> Option<String> {
        self.items.iter().find(|i| i.kind == Kind::Os).map(|i| {
            let repo = validate::reference_parts(&i.reference).0;
            crate::signing::scope_of(repo).to_string()
        })
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        let total = self.items.len();
        let target = match (&self.mode, &self.mirror) {
            (Mode::ToDir(d), _) => d.to_string(),
            (_, Some(m)) => m.location.clone(),
            (_, None) => String::new(),
        };
        let mut plan = Plan::new(format!("mirror {total} images into {target}"), as_root);
        plan.keep_going = Some("images");
        plan.summary = Some(("mirror", summary::summary));
        let mut note = format!(
            "{total} images from {}; {} at a time; an image that fails fails alone, the others go on",
            self.read_from.join(", "),
            self.jobs.min(total)
        );
        if let Some(m) = &self.mirror {
            if m.insecure {
                note.push_str(&format!(
                    "\nnote: {} is used without TLS checks (--mirror-insecure)",
                    m.location
                ));
            }
        }
        plan.note = Some(note);
        if let (Some(m), false) = (&self.mirror, matches!(self.mode, Mode::ToDir(_))) {
            if let Some(ca) = &m.ca {
                plan.push(
                    Step::new(
                        "mirror-ca",
                        format!("give skopeo the mirror's CA: {}", self.cert_dir),
                        "install",
                    )
                    .args(["-D", "-m", "0644", ca.as_str()])
                    .arg(self.cert_dir.join("ca.crt").as_str()),
                );
            }
        }
        if self.signatures_travel() {
            let scope = self.os_scope().unwrap_or_default();
            let into = match self.mode {
                Mode::ToDir(_) => None,
                _ => self.mirror.as_ref(),
            };
            let text = mirror::copy_registries_d(
                self.signing.as_ref(),
                &scope,
                &self.source_lookasides,
                into,
            );
            let file = self.registries_d.join("xtask-mirror.yaml");
            plan.push(
                Step::new(
                    "signatures-config",
                    format!("write where signatures are read and written: {file}"),
                    "install",
                )
                .args(["-D", "-m", "0644", "/dev/stdin", file.as_str()])
                .stdin(Stdin::Text(text)),
            );
            if let Some(m) = into {
                plan.push(
                    Step::new(
                        "signatures-dir",
                        format!("make the mirror's lookaside directory {}", m.lookaside_dir),
                        "mkdir",
                    )
                    .args(["-p", "--", m.lookaside_dir.as_str()]),
                );
            }
            for step in self.signature_setup() {
                plan.push(step);
            }
        }
        if let Mode::ToDir(dir) = &self.mode {
            plan.push(Step::new("dir", format!("make {dir}"), "mkdir").args([
                "-p",
                "--",
                dir.join("images").as_str(),
            ]));
        }
        let lanes: Vec<&'static str> = (1..=self.jobs.min(total))
            .map(|j| name(format!("job{j}")))
            .collect();
        let mut manifest_entries = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
            let n = i + 1;
            let unit = name(item.reference.clone());
            let lane = lanes[i % lanes.len()];
            let (steps, want) = self.item_steps(n, item, &target);
            for s in steps {
                plan.push(s.unit(unit).in_lane(lane));
            }
            if let Mode::ToDir(_) = self.mode {
                let digest = match &want {
                    Want::Digest(d) => d.clone(),
                    Want::Var(v) => format!("${{{v}}}"),
                };
                manifest_entries.push(json!({
                    "reference": item.reference,
                    "kind": item.kind.word(),
                    "digest": digest,
                    "dir": dir_of(&item.reference),
                }));
            }
        }
        if let Mode::ToDir(dir) = &self.mode {
            let doc = json!({ "format": mirror::DIR_FORMAT, "images": manifest_entries });
            let text = serde_json::to_string_pretty(&doc).expect("a JSON value prints") + "\n";
            plan.push(
                Step::new("manifest", format!("write what {dir} holds: {}", dir.join(mirror::DIR_MANIFEST)), "install")
                    .args(["-m", "0644", "/dev/stdin"])
                    .arg(dir.join(mirror::DIR_MANIFEST).as_str())
                    .stdin(Stdin::Template(text))
                    .done(crate::plan::Done::Say(format!("ok: {total} images in {dir}; carry it to the site, then `cargo xtask mirror --from-dir DIR --to REGISTRY`"))),
            );
        }
        plan.facts = json!({
            "mirror": self.mirror.as_ref().map(|m| m.location.clone()),
            "to_dir": match &self.mode { Mode::ToDir(d) => Some(d.to_string()), _ => None },
            "from_dir": match &self.mode { Mode::FromDir(d) => Some(d.to_string()), _ => None },
            "jobs": self.jobs,
            "images": self.items.iter().enumerate().map(|(i, item)| json!({
                "unit": i + 1,
                "reference": item.reference,
                "kind": item.kind.word(),
                "destination": match self.destination(item) { Dest::Registry { to, .. } => to, Dest::Dir(d) => d.to_string() },
            })).collect::<Vec<_>>(),
        });
        plan
    }
}

/// Where one image goes.
enum Dest {
    Registry { to: String, repo: String },
    Dir(Utf8PathBuf),
}

fn push_item(items: &mut Vec<Item>, reference: String, kind: Kind) {
    if items.iter().any(|i| i.reference == reference) {
        return;
    }
    let digest = validate::reference_parts(&reference).2.map(str::to_string);
    items.push(Item {
        reference,
        kind,
        digest,
        dir: None,
    });
}
