//! `cargo xtask build`: "Build Image" and the per-architecture build of "Appendix A".

use camino::Utf8PathBuf;

use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::Sources;
use crate::image::{Image, ImageArgs};
use crate::plan::{Plan, Secret, Step};
use crate::secrets;
use crate::validate::{self, bad};

/// The build secret id the Containerfile mounts (`RUN --mount=type=secret,id=user-passwd`).
pub const PASSWD_SECRET_ID: &str = "user-passwd";
/// The build secret id the embedding Containerfile mounts the pull secret as.
pub const PULL_SECRET_ID: &str = "pullsecret";
use crate::device::COPY_IMAGES;
/// The network modes `podman build --network` takes that make sense for a build.
const NETWORKS: [&str; 5] = ["bridge", "host", "none", "private", "slirp4netns"];

#[derive(clap::Args, Debug, Clone, Default)]
pub struct BuildArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub inputs: BuildInputs,
}

/// What a build takes besides the image's name and architecture (shared with `release`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BuildInputs {
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
    pub entry: Option<String>,
    /// Embed MicroShift's container images in the image (offline devices)
    #[arg(long)]
    pub embed: bool,
    #[arg(long = "embed-image", value_name = "REF")]
    pub embed_images: Vec<String>,
    #[arg(long)]
    pub embed_containerfile: Option<String>,
    #[arg(long, value_name = "MODE")]
    pub build_network: Option<String>,
}

/// `cargo xtask build`
pub fn act(args: &BuildArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    let build = Build::resolve(args, ctx.sources)?;
    Ok(Action::Plan(build.plan(ctx.sources.as_root)))
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
}

/// A Containerfile input: where it came from, its path, its text (bounded, UTF-8).
fn containerfile(
    sources: &Sources,
    input: &crate::inputs::Input,
    flag: Option<&str>,
) -> anyhow::Result<(crate::config::Picked, Utf8PathBuf, String)> {
    let cf = sources.get(input, flag)?;
    let path = sources.path(&cf)?;
    let text = String::from_utf8(validate::read_bounded(&cf.what, &path, 1 << 20)?)
        .map_err(|_| bad(&cf.what, &cf.value, "is not UTF-8 text"))?;
    Ok((cf, path, text))
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
    fn resolve(args: &BuildInputs, sources: &Sources) -> anyhow::Result<Embed> {
        let (cf, containerfile, text) = containerfile(
            sources,
            &crate::inputs::EMBED_CONTAINERFILE,
            args.embed_containerfile.as_deref(),
        )?;
        if !text.contains(&format!("id={PULL_SECRET_ID}")) {
            return Err(bad(
                &cf.what,
                &cf.value,
                format!("does not mount the '{PULL_SECRET_ID}' build secret, which holds the pull secret the images are copied with"),
            ));
        }
        let context = containerfile
            .parent()
            .map(Utf8PathBuf::from)
            .unwrap_or_else(|| sources.root.clone());
        let (what, refs) = sources.list(&crate::inputs::EMBED_IMAGES, &args.embed_images)?;
        let mut extra_images: Vec<String> = Vec::new();
        for r in refs {
            // the list file is `REF,SHA` lines and the build argument space-separated
            let r = validate::image_reference(&what, r.trim())?;
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
        // an `images` entry of the config file supplies defaults for the flags
        let mut args = args.clone();
        let mut entry_embed = None;
        if let Some(wanted) = args.inputs.entry.clone() {
            let entries = sources.config.images()?;
            let entry = entries.iter().find(|e| e.name == wanted).ok_or_else(|| {
                let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
                bad(
                    "--image",
                    &wanted,
                    format!(
                        "no such entry in {}: images (it has: {})",
                        sources.config.path,
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                )
            })?;
            args.image.image_name = Some(entry.name.clone());
            args.inputs
                .containerfile
                .get_or_insert(entry.containerfile.clone());
            if let Some(b) = &entry.base_image {
                args.inputs.base_image.get_or_insert(b.clone());
            }
            if let Some(c) = &entry.context {
                args.inputs.context.get_or_insert(c.clone());
            }
            entry_embed = entry.embed;
        }
        let args = &args;
        let image = Image::resolve(&args.image, sources)?;
        let (cf, containerfile, text) = containerfile(
            sources,
            &crate::inputs::CONTAINERFILE,
            args.inputs.containerfile.as_deref(),
        )?;
        let context = match &args.inputs.context {
            Some(dir) => {
                let path = sources.flag_path("--context", dir)?;
                if !path.is_dir() {
                    return Err(bad("--context", dir, "not a directory"));
                }
                path
            }
            None => containerfile
                .parent()
                .map(Utf8PathBuf::from)
                .unwrap_or_else(|| sources.root.clone()),
        };
        let base = sources.get(
            &crate::inputs::BASE_IMAGE,
            args.inputs.base_image.as_deref(),
        )?;
        // `{arch}` picks a per-architecture base image (e.g. `...:linux-{arch}`)
        let arch_word = image.arch.or_else(Arch::native).map_or("amd64", Arch::oci);
        let base_image = validate::image_reference(
            &base.what,
            &crate::image::expand(&base.value, arch_word, &image.tag()),
        )?;
        let ver = sources.get(
            &crate::inputs::MICROSHIFT_VERSION,
            args.inputs.microshift_version.as_deref(),
        )?;
        let microshift_version = validate::microshift_version(&ver.what, &ver.value)?;
        let mut build_args = Vec::new();
        for raw in &args.inputs.build_args {
            // errors name the argument, never its value: a value may be a secret by mistake
            let Some((k, v)) = raw.split_once('=') else {
                return Err(crate::validate::refuse(
                    "--build-arg: expected NAME=VALUE (the value is not shown)".to_string(),
                ));
            };
            let name_ok = !k.is_empty()
                && k.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok {
                return Err(bad(
                    "--build-arg",
                    k,
                    "the name must be letters, digits and '_' (the value is not shown)",
                ));
            }
            if validate::looks_secret(k) {
                return Err(bad(
                    "--build-arg",
                    k,
                    "looks like a secret; build arguments are stored in the image history. Mount it as a build secret instead",
                ));
            }
            if k == "BASE_IMAGE" || k == "MICROSHIFT_VERSION" {
                return Err(bad(
                    "--build-arg",
                    k,
                    "set it with --base-image / --microshift-version",
                ));
            }
            if v.chars().any(char::is_control) {
                return Err(bad(
                    "--build-arg",
                    k,
                    "the value holds a control character (the value is not shown)",
                ));
            }
            build_args.push((k.to_string(), v.to_string()));
        }
        let (pull_secret, _) = secrets::pull_secret(sources, args.inputs.pull_secret.as_deref())?;
        let needs_passwd = text.contains(&format!("id={PASSWD_SECRET_ID}"));
        let user_passwd = if needs_passwd {
            let pw = secrets::password(
                sources,
                "--user-passwd-file",
                args.inputs.user_passwd_file.as_deref(),
                "USER_PASSWD",
            )?;
            Some(pw.ok_or_else(|| {
                crate::validate::refuse(format!(
                    "USER_PASSWD: missing; {cf} mounts the '{PASSWD_SECRET_ID}' build secret: set USER_PASSWD or --user-passwd-file",
                    cf = cf.value
                ))
            })?)
        } else {
            None
        };
        let network = sources
            .value(
                &crate::inputs::BUILD_NETWORK,
                args.inputs.build_network.as_deref(),
            )?
            .map(|p| {
                if NETWORKS.contains(&p.value.as_str()) {
                    Ok(p.value)
                } else {
                    Err(bad(
                        &p.what,
                        &p.value,
                        format!("use one of {}", NETWORKS.join(", ")),
                    ))
                }
            })
            .transpose()?;
        // --embed, else the `images` entry's own `embed`, else embed.enabled
        let embed = match (args.inputs.embed, entry_embed) {
            (true, _) => true,
            (false, Some(on)) => on,
            (false, None) => sources.switch(&crate::inputs::EMBED, false)?,
        };
        let embed = if embed {
            Some(Embed::resolve(&args.inputs, sources)?)
        } else {
            if !args.inputs.embed_images.is_empty() {
                return Err(bad(
                    "--embed-image",
                    &args.inputs.embed_images[0],
                    "only with --embed (or embed.enabled in the config file)",
                ));
            }
            None
        };
        Ok(Build {
            image,
            pull_secret,
            containerfile,
            context,
            base_image,
            microshift_version,
            build_args,
            user_passwd,
            no_cache: args.inputs.no_cache,
            network,
            embed,
        })
    }

    /// `podman build` flags both builds share: platform, cache, network.
    fn common(&self, mut build: Step) -> Step {
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
        // takes the image's own tag
        let first = match &self.embed {
            Some(_) => unembedded(&self.image),
            None => local.clone(),
        };
        let build = Step::new("build", format!("build {first}"), "podman")
            .args(["build", "--authfile", self.pull_secret.as_str()])
            .root(true)
            .hint("see podman's message above; `cargo xtask doctor --for build` checks the pull secret, repositories and emulation");
        let mut build = self
            .common(build)
            .args(["-t", &first])
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
                "USER_PASSWD",
                PASSWD_SECRET_ID,
                pw,
            );
        }
        build = build.args(["-f", self.containerfile.as_str(), self.context.as_str()]);
        plan.push(build);
        if let Some(embed) = &self.embed {
            plan.push(self.embed_step(embed, &first, &local));
        }
        plan.push(self.image.inspect_step());
        if self.embed.is_some() {
            plan.push(embedded_step(&local));
        }
        plan
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
        .hint("see the message above: microshift-copy-images names any image it could not copy. `cargo xtask doctor --for build --embed` checks that the pull secret covers every registry of the list and that each image can be read; a wrong embed.extra_images entry is removed from the config file");
        let mut step = self
            .common(step)
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
