//! `cargo xtask build`: "Build Image" and the per-architecture build of "Appendix A".

use camino::Utf8PathBuf;

use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::{ImageEntry, Origin, Picked, Sources};
use crate::device::COPY_IMAGES;
use crate::image::{Image, ImageArgs};
use crate::inputs;
use crate::plan::{Plan, Step};
use crate::secrets::{self, Secret};
use crate::validate::{self, bad};

mod usb;
pub use usb::{label as usb_label, UsbLayer, USB_CONTAINERFILE, USB_DIR, USB_SCRIPT};

/// The build secret id the Containerfile mounts (`RUN --mount=type=secret,id=user-passwd`).
pub const PASSWD_SECRET_ID: &str = "user-passwd";
/// The build secret id the embedding Containerfile mounts the pull secret as.
pub const PULL_SECRET_ID: &str = "pullsecret";
/// The network modes `podman build --network` takes that make sense for a build.
const NETWORKS: [&str; 5] = ["bridge", "host", "none", "private", "slirp4netns"];

#[derive(clap::Args, Debug, Clone, Default)]
pub struct BuildArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub flags: BuildFlags,
    #[command(flatten)]
    pub signing: crate::signing::SigningArgs,
    #[command(flatten)]
    pub mirror: crate::mirror::MirrorArgs,
}

/// The flags of a build besides the image's name and architecture (shared with `release`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BuildFlags {
    #[arg(long)]
    pub pull_secret: Option<String>,
    #[arg(long)]
    pub user_passwd_file: Option<Utf8PathBuf>,
    #[arg(long)]
    pub containerfile: Option<String>,
    #[arg(long)]
    pub base_image: Option<String>,
    #[arg(long)]
    pub microshift_version: Option<String>,
    /// Extra build argument NAME=VALUE (repeatable); never for secrets
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    pub build_args: Vec<String>,
    /// Build every layer again (e.g. to pick up new packages)
    #[arg(long)]
    pub no_cache: bool,
    /// Build context directory [default: the Containerfile's directory]
    #[arg(long)]
    pub context: Option<String>,
    #[arg(long = "image", value_name = "NAME", conflicts_with = "image_name")]
    pub image_entry: Option<String>,
    #[arg(long)]
    pub embed: bool,
    #[arg(long = "embed-image", value_name = "REF")]
    pub embed_images: Vec<String>,
    #[arg(long)]
    pub embed_containerfile: Option<String>,
    #[arg(long, value_name = "MODE")]
    pub build_network: Option<String>,
    #[arg(long)]
    pub usb_updates: bool,
    #[arg(long, value_name = "LABEL")]
    pub usb_label: Option<String>,
    #[arg(long, value_name = "WHEN")]
    pub usb_apply: Option<String>,
}

/// `cargo xtask build`
pub fn act(args: &BuildArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    let build = Build::resolve(args, ctx.sources)?;
    Ok(Action::plan(build.plan(ctx.sources.as_root)))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Build {
    pub image: Image,
    pub pull_secret: Utf8PathBuf,
    pub containerfile: Utf8PathBuf,
    pub context: Utf8PathBuf,
    pub base_image: String,
    pub microshift_version: String,
    pub build_args: Vec<(String, String)>,
    /// The `redhat` user's password, when the Containerfile mounts the build secret.
    pub user_passwd: Option<Secret>,
    pub no_cache: bool,
    /// `podman build --network`, when given.
    pub network: Option<String>,
    /// The embedding layer built on top, with `--embed`.
    pub embed: Option<Embed>,
    /// The signature policy layer built on top, when a public key is configured.
    pub enforce: Option<Enforce>,
    /// The mirror layer (registries.conf drop-in, CA), when a mirror registry is configured.
    pub mirror: Option<MirrorLayer>,
    /// The layer of carried updates (the verifier, its udev rule and unit), with usb_updates.
    pub usb: Option<UsbLayer>,
}

/// The layer that sends the device's pulls to the site's mirror
/// (`containerfiles/Containerfile.bootc-mirror`).
#[derive(Clone, Debug, PartialEq)]
pub struct MirrorLayer {
    pub mirror: crate::mirror::Mirror,
    /// `registry/org/name`: the OS image's repository, whose tags are mirrored too.
    pub os_repository: String,
    /// embed.extra_images: their registries are mirrored too.
    pub extra_images: Vec<String>,
    /// Where the tool writes the layer's build context.
    pub context: Utf8PathBuf,
    /// The device's registries.d entry for the mirror (where it reads the signatures of
    /// what it pulls through the mirror: at the mirror's lookaside URL when it is known,
    /// sigstore attachments with signing enforced), when there is one.
    pub registries_d: Option<String>,
    /// The scopes of the sources that keep their signatures at a lookaside (Red Hat's
    /// registries, `mirror.source_lookasides`): without the mirror's lookaside URL, the
    /// layer's script refuses a release list naming an image of one.
    pub lookaside_sources: Vec<String>,
    /// The layer's Containerfile and script (at the repository root).
    pub containerfile: Utf8PathBuf,
    pub script: Utf8PathBuf,
}

/// The Containerfile of the mirror layer, and its script, at the repository root.
pub const MIRROR_CONTAINERFILE: &str = "containerfiles/Containerfile.bootc-mirror";
pub const MIRROR_SCRIPT: &str = "containerfiles/mirror/microshift-mirror-conf";

/// The layer that makes the device enforce signatures: its policy, registries.d entry and
/// public key (`containerfiles/Containerfile.bootc-signed`).
#[derive(Clone, Debug, PartialEq)]
pub struct Enforce {
    pub signing: crate::signing::Signing,
    /// `registry/org/name`: the repository whose unsigned images the device rejects.
    pub repository: String,
    pub containerfile: Utf8PathBuf,
}

/// The Containerfile of the signature policy layer, at the repository root.
pub const SIGNED_CONTAINERFILE: &str = "containerfiles/Containerfile.bootc-signed";

impl Enforce {
    fn resolve(
        args: &crate::signing::SigningArgs,
        image: &Image,
        sources: &Sources,
    ) -> anyhow::Result<Option<Enforce>> {
        let Some(signing) =
            crate::signing::Signing::resolve(args, sources, crate::signing::Need::Enforce)?
        else {
            return Ok(None);
        };
        let registry = crate::registry::Registry::resolve(
            &crate::registry::RegistryArgs::default(),
            sources,
            false,
        )?;
        let repository = registry.remote(&image.name, None);
        signing.refuse_covering(&repository)?;
        let containerfile = sources.root.join(SIGNED_CONTAINERFILE);
        if !containerfile.is_file() {
            return Err(bad(
                inputs::SIGN_PUBLIC_KEY.flag,
                signing.public_key.as_ref().map_or("", |p| p.as_str()),
                format!("builds the signature policy into the image with {containerfile}, which is missing"),
            ));
        }
        Ok(Some(Enforce {
            repository,
            signing,
            containerfile,
        }))
    }
}

/// A Containerfile: where it came from, its path, its text (bounded, UTF-8).
struct Containerfile {
    picked: Picked,
    path: Utf8PathBuf,
    text: String,
}

impl Containerfile {
    fn read(sources: &Sources, picked: Picked) -> anyhow::Result<Containerfile> {
        let path = sources.path(&picked)?;
        let text = String::from_utf8(validate::read_bounded(&picked.what, &path, 1 << 20)?)
            .map_err(|_| bad(&picked.what, &picked.value, "is not UTF-8 text"))?;
        Ok(Containerfile { picked, path, text })
    }

    /// Its directory, the default build context.
    fn dir(&self, sources: &Sources) -> Utf8PathBuf {
        self.path
            .parent()
            .map(Utf8PathBuf::from)
            .unwrap_or_else(|| sources.root.clone())
    }

    /// Does it mount this build secret (`RUN --mount=type=secret,id=ID`)?
    fn mounts(&self, id: &str) -> bool {
        self.text.contains(&format!("id={id}"))
    }
}

/// The layer of embedded images (`build --embed`), built on the image just built.
#[derive(Clone, Debug, PartialEq)]
pub struct Embed {
    pub containerfile: Utf8PathBuf,
    pub context: Utf8PathBuf,
    /// Workload images embedded besides the release list.
    pub extra_images: Vec<String>,
}

impl Embed {
    fn resolve(flags: &BuildFlags, sources: &Sources) -> anyhow::Result<Embed> {
        let picked = sources.get(
            &inputs::EMBED_CONTAINERFILE,
            flags.embed_containerfile.as_deref(),
        )?;
        let cf = Containerfile::read(sources, picked)?;
        if !cf.mounts(PULL_SECRET_ID) {
            return Err(bad(
                &cf.picked.what,
                &cf.picked.value,
                format!("does not mount the '{PULL_SECRET_ID}' build secret, which holds the pull secret the images are copied with"),
            ));
        }
        let context = cf.dir(sources);
        let containerfile = cf.path;
        let (what, refs) = sources.list(&inputs::EMBED_IMAGES, &flags.embed_images)?;
        let mut extra_images: Vec<String> = Vec::new();
        for r in refs {
            // the list file is `REF,SHA` lines and the build argument space-separated
            let r = validate::single_reference(&what, r.trim())?;
            if r.contains(',') {
                return Err(bad(&what, &r, "an image reference has no ','"));
            }
            if !extra_images.contains(&r) {
                extra_images.push(r);
            }
        }
        Ok(Embed {
            containerfile,
            context,
            extra_images,
        })
    }
}

impl Build {
    pub fn resolve(args: &BuildArgs, sources: &Sources) -> anyhow::Result<Build> {
        let flags = &args.flags;
        // an `images` entry of the config file names the image and gives its Containerfile,
        // base image and context (a flag still wins)
        let entry = match &flags.image_entry {
            Some(name) => Some(Entry::find(name, sources)?),
            None => None,
        };
        let image = match &entry {
            Some(e) => Image {
                name: e.entry.name.clone(),
                arch: Image::arch(&args.image, sources)?,
            },
            None => Image::resolve(&args.image, sources)?,
        };
        let from_entry = |input, flag: Option<&str>, key, value: Option<&String>| match flag {
            Some(_) => sources.value(input, flag),
            None => match entry.as_ref().and_then(|e| e.value(input, key, value)) {
                Some(picked) => Ok(Some(picked)),
                None => sources.value(input, None),
            },
        };
        let entry_field =
            |f: fn(&ImageEntry) -> Option<&String>| entry.as_ref().and_then(|e| f(&e.entry));
        let picked = from_entry(
            &inputs::CONTAINERFILE,
            flags.containerfile.as_deref(),
            "containerfile",
            entry_field(|e| Some(&e.containerfile)),
        )?
        .ok_or_else(|| sources.missing(&inputs::CONTAINERFILE))?;
        let cf = Containerfile::read(sources, picked)?;
        let context = match (&flags.context, entry_field(|e| e.context.as_ref())) {
            (Some(dir), _) => Some(sources.flag_picked("--context", dir)),
            (None, Some(dir)) => entry.as_ref().map(|e| e.picked("context", dir)),
            (None, None) => None,
        };
        let context = match context {
            Some(picked) => {
                let path = sources.path(&picked)?;
                if !path.is_dir() {
                    return Err(bad(&picked.what, &picked.value, "not a directory"));
                }
                path
            }
            None => cf.dir(sources),
        };
        let base = from_entry(
            &inputs::BASE_IMAGE,
            flags.base_image.as_deref(),
            "base_image",
            entry_field(|e| e.base_image.as_ref()),
        )?
        .ok_or_else(|| sources.missing(&inputs::BASE_IMAGE))?;
        // `{arch}` picks a per-architecture base image (e.g. `...:linux-{arch}`)
        let arch_word = image.arch.or_else(Arch::native).map_or("amd64", Arch::oci);
        let base = base.expand(arch_word, &image.tag());
        let base_image = validate::image_reference(&base.what, &base.value)?;
        let version = sources.get(
            &inputs::MICROSHIFT_VERSION,
            flags.microshift_version.as_deref(),
        )?;
        let microshift_version = validate::microshift_version(&version.what, &version.value)?;
        let build_args = flags
            .build_args
            .iter()
            .map(|raw| validate::build_arg("--build-arg", raw))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (pull_secret, _) = secrets::pull_secret(sources, flags.pull_secret.as_deref())?;
        let user_passwd = if cf.mounts(PASSWD_SECRET_ID) {
            let pw = secrets::password(
                sources,
                &inputs::USER_PASSWD_FILE,
                flags.user_passwd_file.as_deref(),
            )?;
            let why = format!(
                "{cf} mounts the '{PASSWD_SECRET_ID}' build secret: set USER_PASSWD, USER_PASSWD_FILE or --user-passwd-file",
                cf = cf.picked.value
            );
            match pw {
                Some(pw) => Some(pw),
                None if sources.preview_without(format!("the `redhat` user's password: {why}")) => {
                    Some(Secret::new(Vec::new()))
                }
                None => {
                    return Err(crate::validate::refuse(format!(
                        "USER_PASSWD: missing; {why}"
                    )))
                }
            }
        } else {
            None
        };
        let network = sources
            .value(&inputs::BUILD_NETWORK, flags.build_network.as_deref())?
            .map(|p| validate::one_of(&p.what, &p.value, &NETWORKS))
            .transpose()?;
        // --embed, else the `images` entry's own `embed`, else embed.enabled
        let embed = match (flags.embed, entry.as_ref().and_then(|e| e.entry.embed)) {
            (true, _) => true,
            (false, Some(on)) => on,
            (false, None) => sources.switch(&inputs::EMBED, false)?,
        };
        let embed = if embed {
            Some(Embed::resolve(flags, sources)?)
        } else {
            if let Some(first) = flags.embed_images.first() {
                return Err(bad(
                    "--embed-image",
                    first,
                    "only with --embed (or embed.enabled in the config file)",
                ));
            }
            None
        };
        let enforce = Enforce::resolve(&args.signing, &image, sources)?;
        let usb = UsbLayer::resolve(flags, enforce.as_ref(), &image.tag(), sources)?;
        let mirror = match crate::mirror::Mirror::resolve(&args.mirror, sources)? {
            Some(mirror) => {
                let registry = crate::registry::Registry::resolve(
                    &crate::registry::RegistryArgs::default(),
                    sources,
                    false,
                )?;
                let (_, extra_images) = sources.list(&inputs::EMBED_IMAGES, &flags.embed_images)?;
                let method = enforce.as_ref().map(|e| e.signing.method);
                if method == Some(crate::signing::Method::Gpg) && mirror.lookaside_url.is_none() {
                    return Err(crate::validate::refuse(format!(
                        "{}: missing; the image enforces gpg signatures, which devices read where they pull from: serve {} at the site and give its URL (mirror.lookaside_url)",
                        inputs::MIRROR_LOOKASIDE_URL.flag,
                        mirror.lookaside_dir
                    )));
                }
                // the workload images are known now; the release lists' images only in the
                // image: its script refuses those (`LOOKASIDE_SOURCES`)
                let source_lookasides = crate::mirror::source_lookasides(&args.mirror, sources)?;
                let unverifiable: Vec<(&str, &crate::mirror::SourceLookaside)> = extra_images
                    .iter()
                    .filter_map(|r| {
                        crate::mirror::source_of(&source_lookasides, r.trim())
                            .map(|s| (r.trim(), s))
                    })
                    .collect();
                mirror.refuse_without_lookaside(&unverifiable)?;
                Some(MirrorLayer {
                    registries_d: mirror.device_registries_d(method),
                    lookaside_sources: source_lookasides.into_iter().map(|s| s.scope).collect(),
                    mirror,
                    os_repository: registry.remote(&image.name, None),
                    extra_images,
                    context: sources
                        .root
                        .join(format!("target/mirror/image-{}", image.tag())),
                    containerfile: sources.root.join(MIRROR_CONTAINERFILE),
                    script: sources.root.join(MIRROR_SCRIPT),
                })
            }
            None => None,
        };
        Ok(Build {
            mirror,
            usb,
            enforce,
            image,
            pull_secret,
            containerfile: cf.path,
            context,
            base_image,
            microshift_version,
            build_args,
            user_passwd,
            no_cache: flags.no_cache,
            network,
            embed,
        })
    }

    /// `podman build` flags the image's build and its embedding layer share: platform,
    /// cache, network.
    fn shared_flags(&self, mut build: Step) -> Step {
        if let Some(arch) = self.image.arch {
            build = build.args(["--platform".to_string(), arch.platform()]);
        }
        if self.no_cache {
            build = build.arg("--no-cache");
        }
        if let Some(network) = &self.network {
            build = build.arg(format!("--network={network}"));
        }
        build
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        let local = self.image.local();
        let mut plan = Plan::new(format!("build {local}"), as_root);
        plan.facts = serde_json::json!({ "reference": local, "architecture": self.image.arch.map(|a| a.oci()) });
        // with --embed, the image is built under another tag and the embedding layer on it
        // takes the image's own tag; with a signature policy, that layer comes last
        let before_policy = match &self.enforce {
            Some(_) => format!("{local}-nopolicy"),
            None => local.clone(),
        };
        // the layer of carried updates comes before the policy layer, which keeps its entry
        let before_usb = match &self.usb {
            Some(_) => format!("{local}-nousb"),
            None => before_policy.clone(),
        };
        let before_mirror = match &self.mirror {
            Some(_) => format!("{local}-nomirror"),
            None => before_usb.clone(),
        };
        let built = match &self.embed {
            Some(_) => unembedded(&self.image),
            None => before_mirror.clone(),
        };
        let build = Step::new("build", format!("build {built}"), "podman")
            .args(["build", "--authfile", self.pull_secret.as_str()])
            .root(true)
            .hint("see podman's message above; `cargo xtask doctor --for build` checks the pull secret, repositories and emulation");
        let mut build = self
            .shared_flags(build)
            .args(["-t", &built])
            .args([
                "--build-arg".to_string(),
                format!("BASE_IMAGE={}", self.base_image),
            ])
            .args([
                "--build-arg".to_string(),
                format!("MICROSHIFT_VERSION={}", self.microshift_version),
            ]);
        for (k, v) in &self.build_args {
            build = build.args(["--build-arg".to_string(), format!("{k}={v}")]);
        }
        if let Some(pw) = &self.user_passwd {
            build = build.arg("--secret").secret_file_arg(
                &format!("id={PASSWD_SECRET_ID},src="),
                inputs::USER_PASSWD_FILE.secret_name(),
                PASSWD_SECRET_ID,
                pw,
            );
            plan.explain_secret(
                "USER_PASSWD_FILE",
                "the password of the image's `redhat` user, in a file only you can read: (umask 077; printf '%s' \"$USER_PASSWD\" >FILE)",
            );
        }
        build = build.args(["-f", self.containerfile.as_str(), self.context.as_str()]);
        plan.push(build);
        if let Some(embed) = &self.embed {
            plan.push(self.embed_step(embed, &built, &before_mirror));
        }
        if let Some(layer) = &self.mirror {
            for step in self.mirror_steps(layer, &before_mirror, &before_usb) {
                plan.push(step);
            }
            if layer.mirror.lookaside_url.is_none() {
                let note = format!(
                    "note: the mirror has no lookaside URL (mirror.lookaside_url): the mirror layer fails if the image's release list names an image of {}, whose signatures devices read at the mirror's lookaside",
                    layer.lookaside_sources.join(" or ")
                );
                plan.note = Some(match plan.note.take() {
                    Some(n) => format!("{n}\n{note}"),
                    None => note,
                });
            }
            plan.facts["mirror"] = serde_json::json!({
                "registry": layer.mirror.location,
                "drop_in": crate::mirror::DROP_IN,
                "os_repository": layer.os_repository,
                "ca": layer.mirror.ca.as_ref().map(|_| crate::mirror::CA_ANCHOR),
            });
        }
        if let Some(layer) = &self.usb {
            for step in self.usb_steps(layer, &before_usb, &before_policy) {
                plan.push(step);
            }
            plan.facts["usb_updates"] = layer.facts();
        }
        if let Some(enforce) = &self.enforce {
            let repository = enforce.repository.as_str();
            let var = crate::plan::name(format!(
                "BASE_POLICY_{}",
                self.image
                    .tag()
                    .to_ascii_uppercase()
                    .replace(['-', '.'], "_")
            ));
            for step in enforce.signing.image_steps(
                crate::signing::scope_of(repository),
                repository,
                &enforce.signing.image_dir(&self.image.tag()),
                &before_policy,
                var,
            ) {
                plan.push(step);
            }
            plan.push(self.enforce_step(enforce, &before_policy, &local));
            plan.facts["signature_policy"] = serde_json::json!({
                "repository": repository,
                "method": enforce.signing.method.name(),
                "key": crate::signing::device_key_path(enforce.signing.method),
            });
        }
        plan.push(self.image.inspect_step());
        if self.embed.is_some() {
            plan.push(embedded_step(&local));
        }
        plan
    }

    /// The mirror layer: its build context written (the script, the CA), then built.
    fn mirror_steps(&self, layer: &MirrorLayer, base: &str, local: &str) -> Vec<Step> {
        let ctx = &layer.context;
        let mut steps = vec![
            Step::new(
                "mirror-context",
                format!("write the mirror layer's build context: {ctx}"),
                "rm",
            )
            .args(["-rf", "--", ctx.as_str()]),
            Step::new(
                "mirror-script",
                "copy the drop-in's script into it",
                "install",
            )
            .args(["-D", "-m", "0755", layer.script.as_str()])
            .arg(ctx.join("microshift-mirror-conf").as_str()),
        ];
        if let Some(text) = &layer.registries_d {
            steps.push(
                Step::new(
                    "mirror-signatures",
                    "write where devices read signatures of what they pull through the mirror",
                    "install",
                )
                .args(["-D", "-m", "0644", "/dev/stdin"])
                .arg(ctx.join("xtask-mirror.yaml").as_str())
                .stdin(crate::plan::Stdin::Text(text.clone())),
            );
        }
        if let Some(ca) = &layer.mirror.ca {
            steps.push(
                Step::new("mirror-ca", "copy the mirror's CA into it", "install")
                    .args(["-D", "-m", "0644", ca.as_str()])
                    .arg(ctx.join("microshift-mirror.crt").as_str()),
            );
        }
        let build = Step::new(
            "mirror-layer",
            format!("build the mirror's drop-in into {local}: pulls go to {}", layer.mirror.location),
            "podman",
        )
        .arg("build")
        .root(true)
        .hint("see the build's message above: the layer runs microshift-mirror-conf, which needs jq and the image's release lists")
        .hint_when(
            "has its signatures at a lookaside",
            format!(
                "serve {} at the site, give its URL (mirror.lookaside_url or --mirror-lookaside-url), and build again",
                layer.mirror.lookaside_dir
            ),
        )
        .hint_when("jq: not found", "the image has no jq, which the mirror layer's script needs (a RHEL bootc image with MicroShift has it)");
        let mut build = self
            .shared_flags(build)
            .arg("--pull=never")
            .args(["-t", local])
            .args(["--build-arg".to_string(), format!("BASE_IMAGE={base}")])
            .args([
                "--build-arg".to_string(),
                format!("MIRROR={}", layer.mirror.location),
            ])
            .args([
                "--build-arg".to_string(),
                format!("MIRROR_INSECURE={}", layer.mirror.insecure),
            ])
            .args([
                "--build-arg".to_string(),
                format!("OS_REPOSITORY={}", layer.os_repository),
            ]);
        if !layer.extra_images.is_empty() {
            build = build.args([
                "--build-arg".to_string(),
                format!("EXTRA_IMAGES={}", layer.extra_images.join(" ")),
            ]);
        }
        build = build.args([
            "--build-arg".to_string(),
            format!("LOOKASIDE_SOURCES={}", layer.lookaside_sources.join(" ")),
        ]);
        if let Some(url) = &layer.mirror.lookaside_url {
            build = build.args([
                "--build-arg".to_string(),
                format!("MIRROR_LOOKASIDE_URL={url}"),
            ]);
        }
        steps.push(
            build
                .args(["-f", layer.containerfile.as_str()])
                .arg(ctx.as_str()),
        );
        steps
    }

    /// The signature policy layer: policy.json, registries.d and the public key.
    fn enforce_step(&self, enforce: &Enforce, base: &str, local: &str) -> Step {
        let step = Step::new(
            "signature-policy",
            format!(
                "build the signature policy into {local}: unsigned images of {} are refused",
                enforce.repository
            ),
            "podman",
        )
        .arg("build")
        .root(true)
        .hint("see the build's message above");
        self.shared_flags(step)
            .arg("--pull=never")
            .args(["-t", local])
            .args(["--build-arg".to_string(), format!("BASE_IMAGE={base}")])
            .args(["-f", enforce.containerfile.as_str()])
            .arg(enforce.signing.image_dir(&self.image.tag()).as_str())
    }

    /// The embedding layer: the images of the release list copied in, with the pull secret
    /// as a build secret.
    fn embed_step(&self, embed: &Embed, base: &str, local: &str) -> Step {
        let step = Step::new(
            "embed",
            format!("embed MicroShift's container images in {local}"),
            "podman",
        )
        .arg("build")
        .root(true)
        .hint("see the build's message above; `cargo xtask doctor --for build --embed` checks what embedding needs")
        // a cause is named only where the build's output shows it
        .hint_when(
            "microshift-copy-images: cannot copy",
            "microshift-copy-images named the image it could not copy, above. `cargo xtask doctor --for build --embed` checks that the pull secret covers every registry of the list and that each image can be read; a wrong embed.extra_images entry is removed from the config file",
        )
        .hint_when(
            "microshift-release-info package",
            "the image has no MicroShift release list: --embed builds on a MicroShift image (its Containerfile installs microshift and microshift-release-info)",
        )
        .hint_when(
            "bootc: not found",
            "the image has no bootc (the embedding layer ends with `bootc container lint`): --embed builds on a bootc image",
        )
        .hint_when(
            "bootc: command not found",
            "the image has no bootc (the embedding layer ends with `bootc container lint`): --embed builds on a bootc image",
        );
        let mut step = self
            .shared_flags(step)
            // the base was just built here: never look for it in a registry
            .arg("--pull=never")
            .args(["-t", local])
            .args(["--build-arg".to_string(), format!("BASE_IMAGE={base}")]);
        if !embed.extra_images.is_empty() {
            step = step.args([
                "--build-arg".to_string(),
                format!("EXTRA_IMAGES={}", embed.extra_images.join(" ")),
            ]);
        }
        step.args([
            "--secret".to_string(),
            format!("id={PULL_SECRET_ID},src={}", self.pull_secret),
        ])
        .args(["-f", embed.containerfile.as_str(), embed.context.as_str()])
    }
}

/// The `images` entry `--image NAME` names, and where it is in the config file.
struct Entry {
    entry: ImageEntry,
    /// `<config file>: images[N]`, for labels.
    at: String,
}

impl Entry {
    fn find(name: &str, sources: &Sources) -> anyhow::Result<Entry> {
        let entries = sources.config.images()?;
        let Some(i) = entries.iter().position(|e| e.name == name) else {
            let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            return Err(bad(
                inputs::IMAGE_ENTRY.flag,
                name,
                format!(
                    "no such entry in {}: images (it has: {})",
                    sources.config.path,
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        };
        Ok(Entry {
            entry: entries[i].clone(),
            at: format!("{}: images[{i}]", sources.config.path),
        })
    }

    /// A field of the entry as a config value: a relative path is relative to the
    /// repository, and the label names the field.
    fn picked(&self, key: &str, value: &str) -> Picked {
        Picked {
            value: value.to_string(),
            what: format!("{}.{key}", self.at),
            origin: Origin::Config,
        }
    }

    /// The entry's value for an input, when it has one.
    fn value(&self, input: &inputs::Input, key: &str, value: Option<&String>) -> Option<Picked> {
        let mut picked = self.picked(key, value?);
        picked.what = format!("{} (from {})", input.flag, picked.what);
        Some(picked)
    }
}

/// The image without its embedded images, which `--embed` builds first and then builds on:
/// `localhost/<name>:<tag>-unembedded`.
pub fn unembedded(image: &Image) -> String {
    format!("{}-unembedded", image.local())
}

/// What the image embeds, as its own script lists it (reference, digest, size): a
/// throwaway container without a network.
fn embedded_step(image: &str) -> Step {
    Step::new(
        "embedded",
        format!("list the images embedded in {image}"),
        "podman",
    )
    .args([
        "run",
        "--rm",
        "--network=none",
        "--entrypoint",
        COPY_IMAGES,
        image,
        "list",
    ])
    .read_only()
    .root(true)
    .check(crate::plan::Check::Embedded)
    .hint(format!(
        "{image} has no {COPY_IMAGES}: was it built with --embed?"
    ))
}
