//! `cargo xtask disk`: bootable disk images and installer ISOs from the bootc image, made by
//! bootc-image-builder (or a builder that works like it) as documented: a privileged
//! container given a generated config at `/config.toml`, an output directory at `/output`
//! and the host's container storage; the artifacts are then moved to `--output`, given to
//! the invoking user and hashed.

use camino::Utf8PathBuf;

use super::kickstart::{Kickstart, KickstartArgs};
use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::Sources;
use crate::image::Image;
use crate::inputs;
use crate::plan::Check;
use crate::plan::{Plan, Secret, Step};
use crate::validate::{self, bad};

/// An artifact type, as the builder names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum DiskType {
    Qcow2,
    Raw,
    Vmdk,
    Ami,
    AnacondaIso,
}

impl DiskType {
    pub fn name(self) -> &'static str {
        match self {
            DiskType::Qcow2 => "qcow2",
            DiskType::Raw => "raw",
            DiskType::Vmdk => "vmdk",
            DiskType::Ami => "ami",
            DiskType::AnacondaIso => "anaconda-iso",
        }
    }
    /// Where the builder writes it under `/output`, and the extension we give it.
    fn layout(self) -> (&'static str, &'static str) {
        match self {
            DiskType::Qcow2 => ("qcow2/disk.qcow2", "qcow2"),
            DiskType::Raw => ("image/disk.raw", "raw"),
            DiskType::Vmdk => ("vmdk/disk.vmdk", "vmdk"),
            DiskType::Ami => ("image/disk.raw", "ami.raw"),
            DiskType::AnacondaIso => ("bootiso/install.iso", "iso"),
        }
    }
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct DiskArgs {
    #[arg(long = "type", value_enum, value_delimiter = ',')]
    pub types: Vec<DiskType>,
    #[arg(long = "output", value_name = "DIR")]
    pub output_dir: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<String>,
    #[arg(long, value_name = "IMAGE")]
    pub builder: Option<String>,
    #[arg(long, value_name = "SIZE")]
    pub min_free: Option<String>,
    #[arg(long, value_name = "ARGS")]
    pub kernel_append: Option<String>,
    /// The image, the root volume and, for an installer ISO, its kickstart's secrets
    #[command(flatten)]
    pub kickstart: KickstartArgs,
}

/// `cargo xtask disk`
pub fn act(args: &DiskArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    Ok(Action::plan(
        Disk::resolve(args, ctx.sources)?.plan(ctx.sources.as_root),
    ))
}

/// The builder's config file (bootc-image-builder's `config.toml`), as TOML tables: the
/// `toml` crate writes it (a kickstart inside holds any bytes; no string formatting).
#[derive(Debug, Default, PartialEq)]
pub struct BuilderConfig {
    /// `[[customizations.user]]`: name, SSH key, groups.
    pub user: Option<(String, Option<String>, Vec<String>)>,
    /// `[[customizations.filesystem]]`: mountpoint and minimum size.
    pub filesystem: Vec<(String, String)>,
    /// `[customizations.kernel] append`.
    pub kernel_append: Option<String>,
    /// `[customizations.installer.kickstart] contents`.
    pub kickstart: Option<String>,
}

impl BuilderConfig {
    pub fn to_toml(&self) -> String {
        use toml::{Table, Value};
        let mut c = Table::new();
        if let Some((name, key, groups)) = &self.user {
            let mut u = Table::new();
            u.insert("name".into(), Value::String(name.clone()));
            if let Some(k) = key {
                u.insert("key".into(), Value::String(k.clone()));
            }
            u.insert(
                "groups".into(),
                Value::Array(groups.iter().cloned().map(Value::String).collect()),
            );
            c.insert("user".into(), Value::Array(vec![Value::Table(u)]));
        }
        if !self.filesystem.is_empty() {
            let fs = self
                .filesystem
                .iter()
                .map(|(mountpoint, minsize)| {
                    let mut f = Table::new();
                    f.insert("mountpoint".into(), Value::String(mountpoint.clone()));
                    f.insert("minsize".into(), Value::String(minsize.clone()));
                    Value::Table(f)
                })
                .collect();
            c.insert("filesystem".into(), Value::Array(fs));
        }
        if let Some(a) = &self.kernel_append {
            let mut k = Table::new();
            k.insert("append".into(), Value::String(a.clone()));
            c.insert("kernel".into(), Value::Table(k));
        }
        if let Some(contents) = &self.kickstart {
            let mut ks = Table::new();
            ks.insert("contents".into(), Value::String(contents.clone()));
            let mut installer = Table::new();
            installer.insert("kickstart".into(), Value::Table(ks));
            c.insert("installer".into(), Value::Table(installer));
        }
        let mut doc = Table::new();
        doc.insert("customizations".into(), Value::Table(c));
        doc.to_string()
    }
}

pub struct Disk {
    pub image: Image,
    pub types: Vec<DiskType>,
    pub output: Utf8PathBuf,
    pub builder: String,
    pub pull_secret: Utf8PathBuf,
    pub min_free: u64,
    /// `--target-arch` when the image is not of this host's architecture.
    pub target_arch: Option<Arch>,
    /// The config, and the same with the kickstart's secrets left out (for `--dry-run`).
    pub config: Secret,
    pub config_shown: String,
    /// The invoking user (`SUDO_UID:SUDO_GID`) who gets the artifacts, when run through sudo.
    pub owner: Option<String>,
}

/// An SSH public key: one line of `TYPE BASE64 [COMMENT]`, never a private key.
fn public_key(what: &str, path: &camino::Utf8Path) -> anyhow::Result<String> {
    let bytes = validate::read_bounded(what, path, 16 << 10)?;
    let text = String::from_utf8(bytes).map_err(|_| bad(what, path.as_str(), "is not text"))?;
    let line = text.trim();
    let words: Vec<&str> = line.split_whitespace().collect();
    let kind_ok = words.first().is_some_and(|k| {
        k.starts_with("ssh-") || k.starts_with("ecdsa-sha2-") || k.starts_with("sk-")
    });
    if text.contains("PRIVATE KEY") || !kind_ok || words.len() < 2 || line.contains('\n') {
        return Err(bad(
            what,
            path.as_str(),
            "is not an SSH public key (one line: ssh-ed25519 AAAA... comment); never give the private key",
        ));
    }
    Ok(line.to_string())
}

impl Disk {
    pub fn resolve(args: &DiskArgs, sources: &Sources) -> anyhow::Result<Disk> {
        let image = Image::resolve(&args.kickstart.image, sources)?;
        let types = if args.types.is_empty() {
            // the config's list (each item may itself be comma-separated), else the default
            let (what, items) = sources.list(&inputs::DISK_TYPES, &[])?;
            let mut types = Vec::new();
            for t in items.iter().flat_map(|i| i.split(',')).map(str::trim) {
                let found = <DiskType as clap::ValueEnum>::from_str(t, false)
                    .map_err(|_| bad(&what, t, "use qcow2, raw, vmdk, ami or anaconda-iso"))?;
                types.push(found);
            }
            types
        } else {
            args.types.clone()
        };
        let mut types = types;
        types.sort();
        types.dedup();
        if types.contains(&DiskType::Raw) && types.contains(&DiskType::Ami) {
            return Err(bad(
                "--type",
                "raw,ami",
                "the builder writes both to image/disk.raw: build them one at a time",
            ));
        }
        let out = sources.get(&inputs::DISK_OUTPUT, args.output_dir.as_deref())?;
        let output = sources.path(&out)?;
        validate::no_comma(&out.what, output.as_str(), "podman's -v SRC:DST")?;
        if output.as_str().contains(':') {
            return Err(bad(
                &out.what,
                output.as_str(),
                "podman -v cannot mount a path with ':'",
            ));
        }
        match std::fs::metadata(&output) {
            Ok(m) if !m.is_dir() => {
                return Err(bad(
                    &out.what,
                    output.as_str(),
                    "exists and is not a directory",
                ))
            }
            Ok(_) => {}
            Err(_) => {
                let parent = output.parent().unwrap_or(camino::Utf8Path::new("/"));
                if !parent.is_dir() {
                    return Err(bad(
                        &out.what,
                        output.as_str(),
                        format!("its parent directory '{parent}' does not exist"),
                    ));
                }
            }
        }
        let builder = sources.get(&inputs::DISK_BUILDER, args.builder.as_deref())?;
        let builder = validate::image_reference(&builder.what, &builder.value)?;
        let min = sources.get(&inputs::DISK_MIN_FREE, args.min_free.as_deref())?;
        let min_free = validate::size(&min.what, &min.value, 0)?;
        let key = match sources.value(&inputs::DISK_SSH_KEY, args.ssh_key.as_deref())? {
            Some(p) => Some(public_key(&p.what, &sources.path(&p)?)?),
            None => None,
        };
        let root = sources.get(&inputs::ROOT_SIZE, args.kickstart.root_size.as_deref())?;
        let root_gib = validate::count(&root.what, &root.value, 10, 65536)?;
        let append = sources.value(&inputs::DISK_KERNEL_APPEND, args.kernel_append.as_deref())?;
        let (pull_secret, _) =
            crate::secrets::pull_secret(sources, args.kickstart.pull_secret.as_deref())?;
        // the builder refuses a user customization next to a kickstart: then the user goes
        // into the kickstart
        let user_lines = |key: &Option<String>| {
            let mut lines = vec!["user --name=redhat --groups=wheel".to_string()];
            if let Some(k) = key {
                lines.push(format!("sshkey --username=redhat \"{k}\""));
            }
            lines.join("\n")
        };
        let mut config = BuilderConfig::default();
        config
            .filesystem
            .push(("/".to_string(), format!("{root_gib} GiB")));
        config.kernel_append = append.map(|a| a.value);
        let mut shown = None;
        if types.contains(&DiskType::AnacondaIso) {
            let mut ks = Kickstart::resolve(&args.kickstart, sources)?;
            ks.users = user_lines(&key);
            ks.ostreecontainer = false;
            let contents = ks.render(false)?;
            let redacted = ks.render(true)?;
            config.kickstart = Some(contents);
            shown = Some(redacted);
        } else {
            config.user = Some(("redhat".to_string(), key, vec!["wheel".to_string()]));
        }
        let text = config.to_toml();
        let config_shown = match shown {
            Some(redacted) => BuilderConfig {
                kickstart: Some(redacted),
                ..config
            }
            .to_toml(),
            None => text.clone(),
        };
        let native = Arch::native();
        let target_arch = image.arch.filter(|a| Some(*a) != native);
        let owner = match (sources.env_var("SUDO_UID")?, sources.env_var("SUDO_GID")?) {
            (Some(u), Some(g))
                if u.chars().all(|c| c.is_ascii_digit())
                    && g.chars().all(|c| c.is_ascii_digit()) =>
            {
                Some(format!("{u}:{g}"))
            }
            _ => None,
        };
        Ok(Disk {
            image,
            types,
            output,
            builder,
            pull_secret,
            min_free,
            target_arch,
            config: Secret::new(text),
            config_shown,
            owner,
        })
    }

    /// Where the builder writes: a directory of its own inside the output directory.
    fn build_dir(&self) -> Utf8PathBuf {
        self.output
            .join(format!(".build-{}-{}", self.image.name, self.image.tag()))
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        let local = self.image.local();
        let kinds: Vec<&str> = self.types.iter().map(|t| t.name()).collect();
        let mut plan = Plan::new(format!("{} of {local}", kinds.join(", ")), as_root);
        plan.note = Some(format!(
            "the builder's config (/config.toml), secrets left out:\n{}",
            self.config_shown.trim_end()
        ));
        plan.facts = serde_json::json!({ "reference": local, "types": kinds, "output": self.output.as_str() });
        let mut inspect = self.image.inspect_step();
        inspect.about = format!("check {local} is in the local storage");
        plan.push(inspect.hint(format!(
                "build it first: `cargo xtask build{}`",
                self.image
                    .arch
                    .map(|a| format!(" --arch {a}"))
                    .unwrap_or_default()
            )));
        plan.push(super::run::podman_storage_step());
        let build = self.build_dir();
        plan.push(
            Step::new("output", format!("make {build}"), "mkdir")
                .args(["-p", "--", build.as_str()])
                .root(true),
        );
        plan.push(
            Step::new(
                "free-space",
                format!("check the free space of {}", self.output),
                "df",
            )
            .args(["--output=avail", "-B1", "--", self.output.as_str()])
            .read_only()
            .check(Check::FreeSpace {
                path: self.output.to_string(),
                min_bytes: self.min_free,
            }),
        );
        let mut run = Step::new(
            "builder",
            format!("build {} with {}", kinds.join(", "), self.builder),
            "podman",
        )
        .args([
            "run",
            "--rm",
            "--privileged",
            "--pull=newer",
            "--security-opt",
            "label=type:unconfined_t",
            "--authfile",
            self.pull_secret.as_str(),
            "-v",
        ])
        .secret_file_arg_suffix(
            "BUILDER_CONFIG",
            "config.toml",
            &self.config,
            ":/config.toml:ro",
        )
        .args(["-v".to_string(), format!("{build}:/output")]);
        run = super::run::podman_storage_mount(run).arg(&self.builder);
        for t in &self.types {
            run = run.args(["--type", t.name()]);
        }
        run = run.args(["--rootfs", "xfs"]);
        if let Some(a) = self.target_arch {
            run = run.args(["--target-arch", a.uname()]);
        }
        plan.push(
            run.arg(&local)
                .root(true)
                .hint("see the builder's message above; `cargo xtask doctor --for disk` checks the builder image, loop devices, space and emulation"),
        );
        for t in &self.types {
            let (inside, ext) = t.layout();
            let from = build.join(inside);
            let to = self
                .output
                .join(format!("{}-{}.{ext}", self.image.name, self.image.tag()));
            let id: &'static str = crate::plan::name(format!("{}-move", t.name()));
            plan.push(
                Step::new(id, format!("move the {} to {to}", t.name()), "mv")
                    .args(["-f", "--", from.as_str(), to.as_str()])
                    .root(true)
                    .hint(format!(
                        "the builder wrote no {inside}: see its message above"
                    )),
            );
            if let Some(owner) = &self.owner {
                let id: &'static str = crate::plan::name(format!("{}-owner", t.name()));
                plan.push(
                    Step::new(id, format!("give {to} to the invoking user"), "chown")
                        .args(["--", owner.as_str(), to.as_str()])
                        .root(true),
                );
            }
            let id: &'static str = crate::plan::name(t.name().to_string());
            plan.push(
                Step::new(id, format!("hash {to}"), "sha256sum")
                    .args(["--", to.as_str()])
                    .read_only()
                    .check(Check::Artifact {
                        kind: t.name().to_string(),
                        path: to.to_string(),
                    }),
            );
        }
        plan.push(
            Step::new("tidy", format!("remove {build}"), "rm")
                .args(["-rf", "--", build.as_str()])
                .root(true),
        );
        plan
    }
}
