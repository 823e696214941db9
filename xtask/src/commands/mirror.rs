//! `cargo xtask mirror`: MicroShift's images, workload images and the OS image copied into a
//! site's registry (or a directory carried to a site with no path at all), digests kept.
//!
//! What is copied: the release list of the built image's MicroShift
//! (`/usr/share/microshift/release/release-<arch>.json`, every configured architecture, read
//! from the local image before planning, or `--release-list FILE`), `embed.extra_images`, and
//! the OS image list `release` pushes (`REGISTRY/ORG/NAME:latest`). Each image is one unit of
//! the plan: asked of the destination by digest (there: nothing to do), else copied with
//! `skopeo copy --all --preserve-digests --retry-times 3`, then read back by digest and its
//! bytes hashed. `--jobs` lanes copy at the same time; an image that fails fails alone, the
//! others go on, and the run fails at the end naming each one.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};

use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::Sources;
use crate::image::Image;
use crate::mirror::{self, Mirror, MirrorArgs};
use crate::plan::{name, Check, Plan, ResultShell, Stdin, Step, Want, When, SHELL_DIGEST};
use crate::registry::{Registry, RegistryArgs};
use crate::validate::{self, bad};

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
                    let name = Image::name(args.image_name.as_deref(), sources)?;
                    let registry = Registry::resolve(&args.registry, sources, false)?;
                    let auth = sources.value(
                        &crate::inputs::AUTH_CONFIG,
                        args.registry.auth_config.as_deref(),
                    )?;
                    os_auth = match auth {
                        Some(p) => {
                            let path = sources.path(&p)?;
                            path.exists().then_some(path)
                        }
                        None => None,
                    };
                    Some(registry.remote(&name, Some("latest")))
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

    /// skopeo's global flags: podman's registries.conf (skopeo ignores the variable).
    fn skopeo(&self, id: &'static str, about: String) -> Step {
        let mut step = Step::new(id, about, "skopeo");
        if let Some(c) = &self.registries_conf {
            step = step.args(["--registries-conf", c.as_str()]);
        }
        if self.signing.is_some() {
            step = step.args(["--registries.d", self.registries_d.as_str()]);
        }
        step
    }

    /// Is this image's signature checked after its copy? The OS image, signed with gpg (its
    /// signature files can be looked at; sigstore attachments travel unchecked).
    fn checks_signature(&self, item: &Item) -> bool {
        item.kind == Kind::Os
            && self
                .signing
                .as_ref()
                .is_some_and(|s| s.method == crate::signing::Method::Gpg)
    }

    /// The signed OS image's scope (`registry/org`): where its signatures are read.
    fn os_scope(&self) -> Option<String> {
        self.items.iter().find(|i| i.kind == Kind::Os).map(|i| {
            let repo = validate::reference_parts(&i.reference).0;
            crate::signing::scope_of(repo).to_string()
        })
    }

    /// Where the first gpg signature of an image's copy is (`digest_path`: `sha256=<hex>`, or a
    /// variable holding it): in the mirror's lookaside directory, or in its `dir:` copy.
    fn signature_arg(
        &self,
        dest: &Dest,
        digest_path: &Want,
    ) -> (String, Option<&'static str>, String) {
        let (prefix, literal) = match dest {
            Dest::Registry { repo, .. } => {
                let m = self.mirror.as_ref().expect("a registry mode has a mirror");
                (format!("{}@", m.signature_path(repo)), true)
            }
            Dest::Dir(d) => (format!("{d}/"), false),
        };
        let suffix = "/signature-1".to_string();
        match (literal, digest_path) {
            (true, Want::Digest(p)) => (format!("{prefix}{p}{suffix}"), None, String::new()),
            (true, Want::Var(v)) => (prefix, Some(*v), suffix),
            // a dir: copy keeps its signatures beside its manifest
            (false, _) => (format!("{prefix}signature-1"), None, String::new()),
        }
    }

    /// The source's credentials.
    fn src_auth(&self, item: &Item) -> Option<&Utf8PathBuf> {
        match item.kind {
            Kind::Os => self.os_auth.as_ref(),
            _ => self.pull_secret.as_ref(),
        }
    }

    /// `skopeo inspect --raw` of the destination, judged by digest.
    fn inspect_dest(
        &self,
        id: &'static str,
        about: String,
        dest: &Dest,
        at: &str,
        want: Option<Want>,
        of: &str,
    ) -> Step {
        let mut step = self.skopeo(id, about).arg("inspect").arg("--raw");
        let (target, shown) = match dest {
            Dest::Registry { repo, .. } => {
                let m = self.mirror.as_ref().expect("a registry mode has a mirror");
                step = step.args(m.tls_args("--", &self.cert_dir));
                if let Some(a) = &m.auth {
                    step = step.args(["--authfile", a.as_str()]);
                }
                (format!("docker://{repo}{at}"), format!("{repo}{at}"))
            }
            Dest::Dir(d) => (format!("dir:{d}"), d.to_string()),
        };
        step.arg(target).read_only().check(Check::Manifest {
            reference: shown,
            want,
            of: Some(of.to_string()),
        })
    }

    /// The hint when a registry refused the credentials.
    fn unauthorized(&self, item: &Item) -> String {
        let source = match item.kind {
            Kind::Os => "the registry's auth file (--auth-config, AUTH_CONFIG, registry_auth)",
            _ => "the pull secret (PULL_SECRET)",
        };
        format!(
            "a registry asked for credentials: {source} must hold {}'s, and --mirror-auth the mirror's (`podman login --authfile FILE REGISTRY` writes them)",
            mirror::host_of(&item.reference)
        )
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
        plan.summary = Some(("mirror", summary));
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
        if let Some(signing) = &self.signing {
            let scope = self.os_scope().unwrap_or_default();
            let into = match self.mode {
                Mode::ToDir(_) => None,
                _ => self.mirror.as_ref(),
            };
            let text = mirror::copy_registries_d(signing, &scope, into);
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
            if let (crate::signing::Method::Gpg, Some(m), false) = (
                signing.method,
                &self.mirror,
                matches!(self.mode, Mode::ToDir(_)),
            ) {
                plan.push(
                    Step::new(
                        "signatures-dir",
                        format!("make the mirror's lookaside directory {}", m.lookaside_dir),
                        "mkdir",
                    )
                    .args(["-p", "--", m.lookaside_dir.as_str()]),
                );
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
            let dest = self.destination(item);
            let label = format!("image {n}/{total}");
            let mut steps = Vec::new();
            // the digest: known, or read from the source first
            let (want, at, src) = match (&item.digest, &self.mode) {
                (Some(d), Mode::FromDir(dir)) => {
                    let src = dir.join(item.dir.as_deref().unwrap_or_default());
                    // the carried copy is what its manifest says, before anything is copied
                    steps.push(
                        self.skopeo(name(format!("load-{n}")), format!("{label}: check the carried copy of {} is {d}", item.reference))
                            .args(["inspect", "--raw"])
                            .arg(format!("dir:{src}"))
                            .read_only()
                            .check(Check::Manifest { reference: src.to_string(), want: Some(Want::Digest(d.clone())), of: None })
                            .hint(format!("the directory's copy of {} is not what {} says: carry the directory again", item.reference, mirror::DIR_MANIFEST)),
                    );
                    (
                        Want::Digest(d.clone()),
                        format!("@{d}"),
                        format!("dir:{src}"),
                    )
                }
                (Some(d), _) => {
                    let repo = validate::reference_parts(&item.reference).0;
                    (
                        Want::Digest(d.clone()),
                        format!("@{d}"),
                        format!("docker://{repo}@{d}"),
                    )
                }
                (None, _) => {
                    let var = name(format!("SOURCE_DIGEST_{n}"));
                    let sigvar = name(format!("SOURCE_SIGPATH_{n}"));
                    let mut read = self
                        .skopeo(
                            name(format!("source-{n}")),
                            format!("{label}: read the digest of {}", item.reference),
                        )
                        .args(["inspect", "--raw"]);
                    if let Some(a) = self.src_auth(item) {
                        read = read.args(["--authfile", a.as_str()]);
                    }
                    if self.checks_signature(item) {
                        read = read.result_var(
                            sigvar,
                            "digest_path",
                            ResultShell::Stdout(format!("{SHELL_DIGEST} | sed 's/:/=/'")),
                        );
                    }
                    steps.push(
                        read.arg(format!("docker://{}", item.reference))
                            .read_only()
                            .check(Check::Manifest { reference: item.reference.clone(), want: None, of: None })
                            .result_var(var, "digest", ResultShell::Stdout(SHELL_DIGEST.to_string()))
                            .retries(3, 5)
                            .hint_when("unauthorized", self.unauthorized(item))
                            .hint(format!("can {} be read? The pull secret (PULL_SECRET) or the registry's auth file must hold its registry's credentials; `cargo xtask doctor --for mirror` checks every image", item.reference)),
                    );
                    let repo = validate::reference_parts(&item.reference).0;
                    let tag_at = match &dest {
                        Dest::Registry { to, .. } => {
                            format!(":{}", validate::reference_parts(to).1.unwrap_or("latest"))
                        }
                        Dest::Dir(_) => String::new(),
                    };
                    (
                        Want::Var(var),
                        tag_at,
                        format!("docker://{repo}@${{{var}}}"),
                    )
                }
            };
            let there = name(format!("there-{n}"));
            let copy = name(format!("copy-{n}"));
            let shown_dest = match &dest {
                Dest::Registry { to, .. } => to.clone(),
                Dest::Dir(d) => d.to_string(),
            };
            steps.push(
                self.inspect_dest(
                    there,
                    format!("{label}: is {} in {target} already?", item.reference),
                    &dest,
                    &at,
                    Some(want.clone()),
                    &item.reference,
                )
                .probe(),
            );
            // the signed OS image: its signature must be beside its copy, or it is copied again
            let signature = self.checks_signature(item).then(|| {
                let digest_path = match &want {
                    Want::Digest(d) => Want::Digest(d.replace(':', "=")),
                    Want::Var(_) => Want::Var(name(format!("SOURCE_SIGPATH_{n}"))),
                };
                self.signature_arg(&dest, &digest_path)
            });
            let test_signature = |id: &'static str, about: String| {
                let (path, var, suffix) = signature.clone().expect("a signed image");
                let step = Step::new(id, about, "test").arg("-s");
                match var {
                    Some(v) => step.var_arg_around(&path, v, &suffix),
                    None => step.arg(path),
                }
            };
            let copy_when = match &signature {
                Some(_) => {
                    let sig_there = name(format!("signature-there-{n}"));
                    steps.push(
                        test_signature(
                            sig_there,
                            format!("{label}: is its signature in the mirror already?"),
                        )
                        .probe(),
                    );
                    When::AnyOf(vec![When::IfFailed(there), When::IfFailed(sig_there)])
                }
                None => When::IfFailed(there),
            };
            let mut c = self
                .skopeo(
                    copy,
                    format!("{label}: copy {} to {shown_dest}", item.reference),
                )
                .args(["copy", "--all", "--preserve-digests", "--retry-times", "3"]);
            if let (Some(a), false) = (self.src_auth(item), matches!(self.mode, Mode::FromDir(_))) {
                c = c.args(["--src-authfile", a.as_str()]);
            }
            let dest_arg = match &dest {
                Dest::Registry { to, .. } => {
                    let m = self.mirror.as_ref().expect("a registry mode has a mirror");
                    c = c.args(m.tls_args("--dest-", &self.cert_dir));
                    if let Some(a) = &m.auth {
                        c = c.args(["--dest-authfile", a.as_str()]);
                    }
                    format!("docker://{to}")
                }
                Dest::Dir(d) => format!("dir:{d}"),
            };
            c = match &want {
                Want::Var(var) => {
                    let repo = validate::reference_parts(&item.reference).0;
                    c.var_arg(&format!("docker://{repo}@"), var)
                }
                Want::Digest(_) => c.arg(src.clone()),
            };
            let hint = match item.kind {
                Kind::Os => format!("can the OS image {} be read (the registry's auth file), and written to {target}?", item.reference),
                _ => format!("can {} be read (PULL_SECRET must hold its registry's credentials), and {target} written{}? `cargo xtask doctor --for mirror` checks both", item.reference, if self.mirror.as_ref().is_some_and(|m| m.auth.is_none()) { " (no --mirror-auth given: skopeo's own credentials are used)" } else { "" }),
            };
            steps.push(
                c.arg(dest_arg)
                    .when(copy_when)
                    .skip_note(format!("{} is in {target} already", item.reference))
                    .hint(hint)
                    .hint_when("unauthorized", self.unauthorized(item))
                    .hint_when("manifest unknown", format!("{} is not in its registry (any more): take it out of the list, or fix the reference", item.reference))
                    .hint_when("name unknown", format!("{} is not in its registry: take it out of the list, or fix the reference", item.reference)),
            );
            steps.push(
                self.inspect_dest(
                    name(format!("verify-{n}")),
                    format!("{label}: read {} back by digest", item.reference),
                    &dest,
                    &at,
                    Some(want.clone()),
                    &item.reference,
                )
                .when(When::IfSucceeded(copy)),
            );
            if signature.is_some() {
                steps.push(
                    test_signature(
                        name(format!("signature-{n}")),
                        format!("{label}: check its signature was copied"),
                    )
                    .when(When::IfSucceeded(copy))
                    .hint(format!(
                        "skopeo copied the OS image without its signature: is {} signed, and are its signatures served at signing.lookaside_url?",
                        item.reference
                    )),
                );
            }
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

/// The directory of an image in a `--to-dir` directory: `images/<sha256 of the reference>`.
fn dir_of(reference: &str) -> String {
    format!("images/{}", crate::digest::sha256_hex(reference.as_bytes()))
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

/// The release lists: the files given, else read from the local image (a container without
/// network that only reads the files; the one thing `--dry-run` runs too).
pub fn release_lists(
    args: &MirrorCmd,
    sources: &Sources,
    read_from: &mut Vec<String>,
) -> anyhow::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    if !args.release_lists.is_empty() {
        for f in &args.release_lists {
            let path = sources.flag_path("--release-list", f)?;
            let bytes = validate::read_bounded("--release-list", &path, 16 << 20)?;
            let doc: Value = serde_json::from_slice(&bytes)
                .map_err(|e| bad("--release-list", path.as_str(), format!("not JSON: {e}")))?;
            read_from.push(path.to_string());
            out.push((format!("--release-list {path}"), doc));
        }
        return Ok(out);
    }
    let name = Image::name(args.image_name.as_deref(), sources)?;
    let (what, raw) = sources.list(&crate::inputs::ARCHITECTURES, &args.archs)?;
    let mut archs = Vec::new();
    for a in &raw {
        let arch = Arch::parse(&what, a.trim())?;
        if !archs.contains(&arch) {
            archs.push(arch);
        }
    }
    // the image `build` made: without --arch, or of an architecture; the release list
    // package carries every architecture's list
    let mut candidates = vec![format!("localhost/{name}:latest")];
    for a in &archs {
        candidates.push(format!("localhost/{name}:{}", a.tag()));
    }
    let found = candidates
        .iter()
        .find(|c| podman(sources, &["image", "exists", c]).is_some_and(|o| o.status.success()));
    let Some(image) = found else {
        return Err(validate::refuse(format!(
            "mirror: the release list is read from the built image, and none of {} is built here: `cargo xtask build` first, or give the list with --release-list FILE (release-<arch>.json of the microshift-release-info package)",
            candidates.join(", ")
        )));
    };
    for a in &archs {
        let file = format!("/usr/share/microshift/release/release-{}.json", a.uname());
        let read = podman(
            sources,
            &[
                "run",
                "--rm",
                "--network=none",
                "--entrypoint",
                "cat",
                image,
                &file,
            ],
        );
        let doc: Option<Value> = read
            .as_ref()
            .filter(|o| o.status.success())
            .and_then(|o| serde_json::from_slice(&o.stdout).ok());
        let Some(doc) = doc else {
            return Err(validate::refuse(format!(
                "mirror: {image} has no readable {file}: does it have the microshift-release-info package (and --arch {a} a list)? Or give the list with --release-list FILE"
            )));
        };
        read_from.push(format!("{image}:{file}"));
        out.push((format!("{file} in {image}"), doc));
    }
    Ok(out)
}

/// Run as root, the copies are written by root: the directory (or, while it does not exist,
/// the nearest directory above it) must be one no other user can write, or a link planted
/// there would send root's writes elsewhere. As a user, the tool writes as that user.
fn not_shared(what: &str, dir: &Utf8Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = crate::record::effective_uid();
    let mut at = Some(dir);
    while let Some(d) = at {
        if let Ok(meta) = std::fs::symlink_metadata(d) {
            if meta.file_type().is_symlink() && d == dir {
                return Err(bad(
                    what,
                    dir.as_str(),
                    "is a symbolic link: give the directory itself",
                ));
            }
            let meta = std::fs::metadata(d).unwrap_or(meta);
            if meta.mode() & 0o022 != 0 || (meta.uid() != 0 && Some(meta.uid()) != me) {
                return Err(bad(
                    what,
                    dir.as_str(),
                    format!("'{d}' can be written by other users, who could plant links there for root to follow: run `mirror` as yourself (it needs no root), or choose a directory only root can write"),
                ));
            }
            return Ok(());
        }
        at = d.parent();
    }
    Ok(())
}

/// A read-only podman command run before planning (through sudo when the tool is not
/// root: the images are root's).
fn podman(sources: &Sources, args: &[&str]) -> Option<std::process::Output> {
    crate::exec::ask("podman", args, !sources.as_root)
}

/// A `--to-dir` directory's manifest, checked: the format, each reference and digest, each
/// directory inside it.
pub fn load_manifest(dir: &Utf8Path) -> anyhow::Result<Vec<Item>> {
    let path = dir.join(mirror::DIR_MANIFEST);
    let what = "--from-dir";
    if !path.is_file() {
        return Err(bad(
            what,
            dir.as_str(),
            format!(
                "has no {} (was it made by `mirror --to-dir`?)",
                mirror::DIR_MANIFEST
            ),
        ));
    }
    let bytes = validate::read_bounded(what, &path, 16 << 20)?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(what, path.as_str(), format!("not JSON: {e}")))?;
    if doc.get("format").and_then(Value::as_str) != Some(mirror::DIR_FORMAT) {
        return Err(bad(
            what,
            path.as_str(),
            format!("is not a manifest of format {}", mirror::DIR_FORMAT),
        ));
    }
    let Some(images) = doc.get("images").and_then(Value::as_array) else {
        return Err(bad(what, path.as_str(), "has no \"images\" list"));
    };
    let mut items = Vec::new();
    for (i, e) in images.iter().enumerate() {
        let at = format!("{path}: images[{i}]");
        let field = |k: &str| {
            e.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&at, &e.to_string(), format!("has no \"{k}\"")))
        };
        let reference = mirror::source_reference(&at, field("reference")?)?;
        let digest = field("digest")?;
        if !validate::is_digest(digest) {
            return Err(bad(&at, digest, "not a digest (sha256:<64 hex digits>)"));
        }
        let kind = Kind::parse(field("kind")?).ok_or_else(|| {
            bad(
                &at,
                field("kind").unwrap_or(""),
                "kind must be release, workload or os",
            )
        })?;
        let sub = field("dir")?;
        if sub != dir_of(&reference) {
            return Err(bad(
                &at,
                sub,
                format!(
                    "is not the directory of {reference} ({})",
                    dir_of(&reference)
                ),
            ));
        }
        if !dir.join(sub).join("manifest.json").is_file() {
            return Err(bad(
                &at,
                sub,
                format!(
                    "{} holds no image (manifest.json): the directory is incomplete",
                    dir.join(sub)
                ),
            ));
        }
        if let Some(d) = validate::reference_parts(&reference).2 {
            if d != digest {
                return Err(bad(
                    &at,
                    digest,
                    format!("is not the digest {reference} names"),
                ));
            }
        }
        items.push(Item {
            reference,
            kind,
            digest: Some(digest.to_string()),
            dir: Some(sub.to_string()),
        });
    }
    Ok(items)
}

/// The `--json` summary: each image (from the plan's facts), where it went, its digest and
/// size, and whether it was copied now, was there already, or failed; and a line for people.
fn summary(results: &std::collections::BTreeMap<String, Value>, _code: i32) -> Value {
    let planned = results
        .get("_facts")
        .and_then(|f| f.get("images"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut images = Vec::new();
    let (mut copied, mut there, mut failed, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for (i, p) in planned.iter().enumerate() {
        let n = i + 1;
        let (state, found) = match (
            results.get(&format!("verify-{n}")),
            results.get(&format!("there-{n}")),
        ) {
            (Some(v), _) => ("copied", Some(v)),
            (None, Some(t)) => ("already_there", Some(t)),
            (None, None) => ("failed", None),
        };
        let size = found.and_then(|f| f["size"].as_u64()).unwrap_or(0);
        match state {
            "copied" => {
                copied += 1;
                bytes += size;
            }
            "already_there" => there += 1,
            _ => failed += 1,
        }
        images.push(json!({
            "reference": p["reference"],
            "kind": p["kind"],
            "destination": p["destination"],
            "digest": found.map(|f| f["digest"].clone()),
            "manifest": found.map(|f| f["kind"].clone()),
            "size": found.map(|_| size),
            "state": state,
        }));
    }
    json!({
        "images": images,
        "copied": copied,
        "already_there": there,
        "failed": failed,
        "bytes_copied": bytes,
        "line": format!(
            "ok: {} images mirrored: {copied} copied ({}), {there} there already",
            copied + there,
            crate::validate::human(bytes)
        ),
    })
}
