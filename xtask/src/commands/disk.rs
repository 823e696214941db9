//! `cargo xtask disk`: bootable disk images and installer ISOs from the bootc image, made by
//! bootc-image-builder (or a builder that works like it) as documented: a privileged
//! container given a generated config at `/config.toml`, an output directory at `/output`
//! and the host's container storage; the artifacts are then moved to `--output`, given to
//! the invoking user and hashed.

use camino::{Utf8Path, Utf8PathBuf};

use super::kickstart::{Kickstart, KickstartArgs};
use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::Sources;
use crate::image::Image;
use crate::inputs;
use crate::plan::{Check, Extract, When};
use crate::plan::{Plan, Step};
use crate::secrets::{AuthFile, Secret};
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuilderConfig {
    /// `[[customizations.user]]`: name, SSH key, groups.
    pub user: Option<(String, Option<String>, Vec<String>)>,
    /// `[[customizations.filesystem]]`: mountpoint and minimum size.
    pub filesystem: Vec<(String, String)>,
    /// `[customizations.kernel] append`.
    pub kernel_append: Option<String>,
    /// `[customizations.installer.kickstart] contents`.
    pub kickstart: Option<String>,
    /// `[[customizations.files]]`: path, mode, contents (root's).
    pub files: Vec<(String, String, String)>,
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
        if !self.files.is_empty() {
            let files = self
                .files
                .iter()
                .map(|(path, mode, data)| {
                    let mut f = Table::new();
                    f.insert("path".into(), Value::String(path.clone()));
                    f.insert("mode".into(), Value::String(mode.clone()));
                    f.insert("user".into(), Value::String("root".into()));
                    f.insert("group".into(), Value::String("root".into()));
                    f.insert("data".into(), Value::String(data.clone()));
                    Value::Table(f)
                })
                .collect();
            c.insert("files".into(), Value::Array(files));
        }
        let mut doc = Table::new();
        doc.insert("customizations".into(), Value::Table(c));
        doc.to_string()
    }
}

/// The directories a run must make for `output` (an absolute path): it and the parents it
/// lacks, outermost first (none when it is there). A preview needs none of them; the nearest
/// that exists must be a directory.
fn directories_to_make(what: &str, output: &Utf8Path) -> anyhow::Result<Vec<Utf8PathBuf>> {
    let mut made = Vec::new();
    let mut at = Some(output);
    while let Some(dir) = at {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => break,
            Ok(_) if dir == output => {
                return Err(bad(what, output.as_str(), "exists and is not a directory"))
            }
            Ok(_) => {
                return Err(bad(
                    what,
                    output.as_str(),
                    format!("'{dir}' is not a directory"),
                ))
            }
            // missing (or not readable: the run's mkdir says why)
            Err(_) => made.push(dir.to_path_buf()),
        }
        at = dir.parent();
    }
    made.reverse();
    Ok(made)
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
    /// One builder run for the disk images, one for an installer ISO (the builder takes a
    /// user customization, or a kickstart, never both in one config).
    pub runs: Vec<BuilderRun>,
    /// The invoking user (`SUDO_UID:SUDO_GID`) who gets the artifacts, when run through sudo.
    pub owner: Option<String>,
    /// The directories a run makes (`--output` and the parents it lacks, outermost first),
    /// as they were when the plan was made: those given to the invoking user under sudo.
    pub made: Vec<Utf8PathBuf>,
    /// Said before the steps (what the images will lack).
    pub note: Option<String>,
}

/// The registry auth file a device installed from a disk image pulls its upgrades with: the
/// configured one (AUTH_CONFIG), none with --public-image or when none is configured (or
/// the config file's is not on this host).
fn device_auth(
    args: &KickstartArgs,
    sources: &Sources,
) -> anyhow::Result<Option<(camino::Utf8PathBuf, Secret)>> {
    if args.public_image {
        return Ok(None);
    }
    match crate::secrets::registry_auth(sources, args.registry.auth_config.as_deref())? {
        AuthFile::Found(path, bytes) => Ok(Some((path, bytes))),
        AuthFile::None => Ok(None),
        AuthFile::Missing { what, path } => {
            if sources.preview_without(format!(
                "the registry auth file {path} ({what}), for the disk images' /etc/ostree/auth.json"
            )) {
                return Ok(Some((path, Secret::new(Vec::new()))));
            }
            Err(crate::validate::refuse(format!(
                "{what}: '{path}' does not exist: log in first (`cargo xtask push` with REGISTRY_PASSWORD), or say --public-image when the device needs no registry credentials"
            )))
        }
    }
}

/// One run of the builder: its artifact types and its config.
pub struct BuilderRun {
    pub types: Vec<DiskType>,
    /// The config, and the same with the kickstart's secrets left out (for `--dry-run`).
    pub config: Secret,
    pub config_shown: String,
    /// Names in the plan: the step id, the config's secret, the private build directory's
    /// variable.
    pub id: &'static str,
    pub secret: &'static str,
    pub dir_var: &'static str,
    /// The config's file name in the private secret directory.
    pub file: &'static str,
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
    // the key goes inside the kickstart's quotes (`sshkey --username=redhat "KEY"`): a quote
    // or a backslash in its comment would end them and add words of its own
    if line.contains(['"', '\\']) || line.chars().any(crate::validate::is_hidden) {
        return Err(bad(
            what,
            path.as_str(),
            "holds a quote, a backslash or a control character (in its comment?): an SSH public key has none; remove them",
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
        let made = directories_to_make(&out.what, &output)?;
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
        let mut base = BuilderConfig::default();
        base.filesystem
            .push(("/".to_string(), format!("{root_gib} GiB")));
        base.kernel_append = append.map(|a| a.value);
        // the builder refuses a user customization next to a kickstart: the disk images get
        // the user from their config, an installer ISO from its kickstart, each in a run of
        // its own. Without a key there is no user to add: the image's own users stay.
        let disks: Vec<DiskType> = types
            .iter()
            .copied()
            .filter(|t| *t != DiskType::AnacondaIso)
            .collect();
        let mut runs = Vec::new();
        let mut note = None;
        if !disks.is_empty() {
            let config = BuilderConfig {
                user: key.as_ref().map(|k| {
                    (
                        "redhat".to_string(),
                        Some(k.clone()),
                        vec!["wheel".to_string()],
                    )
                }),
                ..base.clone()
            };
            // the device pulls its upgrades from the registry itself: the registry auth
            // file goes into the disk images as /etc/ostree/auth.json (0600), as the
            // kickstart's %post writes it on an installed one
            let (config, shown) = match device_auth(&args.kickstart, sources)? {
                Some((path, bytes)) => {
                    let file = |data: String| {
                        vec![(
                            crate::device::OSTREE_AUTH.to_string(),
                            "0600".to_string(),
                            data,
                        )]
                    };
                    let text = String::from_utf8(bytes.expose().to_vec())
                        .map_err(|_| bad("--auth-config", path.as_str(), "is not UTF-8 JSON"))?;
                    let shown = BuilderConfig {
                        files: file(format!(
                            "<redacted: {} bytes of AUTH_CONFIG ({path})>",
                            text.len()
                        )),
                        ..config.clone()
                    };
                    (
                        BuilderConfig {
                            files: file(text),
                            ..config
                        },
                        shown,
                    )
                }
                None => {
                    if !args.kickstart.public_image {
                        note = Some(format!(
                            "the disk images carry no registry credentials (no registry auth file is configured, or the configured one is not on this host): a device installed from them cannot pull upgrades from a private registry until {} is there; give --auth-config, or --public-image when the image needs none",
                            crate::device::OSTREE_AUTH
                        ));
                    }
                    (config.clone(), config)
                }
            };
            runs.push(BuilderRun {
                types: disks,
                config: Secret::new(config.to_toml()),
                config_shown: shown.to_toml(),
                id: "builder",
                secret: "BUILDER_CONFIG",
                dir_var: "BUILD_DIR",
                file: "config.toml",
            });
        }
        if types.contains(&DiskType::AnacondaIso) {
            let mut ks = Kickstart::resolve(&args.kickstart, sources)?;
            if let Some(k) = &key {
                ks.users =
                    format!("user --name=redhat --groups=wheel\nsshkey --username=redhat \"{k}\"");
            }
            ks.ostreecontainer = false;
            let config = BuilderConfig {
                kickstart: Some(ks.render(false)?),
                ..base.clone()
            };
            let shown = BuilderConfig {
                kickstart: Some(ks.render(true)?),
                ..base
            };
            let first = runs.is_empty();
            runs.push(BuilderRun {
                types: vec![DiskType::AnacondaIso],
                config: Secret::new(config.to_toml()),
                config_shown: shown.to_toml(),
                id: if first { "builder" } else { "iso-builder" },
                secret: if first {
                    "BUILDER_CONFIG"
                } else {
                    "ISO_BUILDER_CONFIG"
                },
                dir_var: if first { "BUILD_DIR" } else { "ISO_BUILD_DIR" },
                file: if first {
                    "config.toml"
                } else {
                    "iso-config.toml"
                },
            });
        }
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
            runs,
            owner,
            made,
            note,
        })
    }

    /// `<image>-<tag>`, the artifacts' name: one file name (an image name's `/` becomes `-`).
    fn artifact_stem(&self) -> String {
        format!("{}-{}", self.image.name.replace('/', "-"), self.image.tag())
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        let local = self.image.local();
        let kinds: Vec<&str> = self.types.iter().map(|t| t.name()).collect();
        let mut plan = Plan::new(format!("{} of {local}", kinds.join(", ")), as_root);
        let mut note = String::new();
        for run in &self.runs {
            let names: Vec<&str> = run.types.iter().map(|t| t.name()).collect();
            note.push_str(&format!(
                "the builder's config for {} (/config.toml), secrets left out:\n{}\n",
                names.join(", "),
                run.config_shown.trim_end()
            ));
            plan.explain_secret(
                run.secret,
                if run.types.contains(&DiskType::AnacondaIso) {
                    "the builder's config printed at the top, its kickstart with the secrets filled in (`cargo xtask kickstart` with the same inputs prints that kickstart); the tool writes it as a 0600 file and removes it"
                } else {
                    "the builder's config printed at the top, the registry auth file's JSON as the data of /etc/ostree/auth.json when it holds one; the tool writes it as a 0600 file and removes it"
                },
            );
        }
        if let Some(n) = &self.note {
            note.push_str(n);
        }
        plan.note = Some(note.trim_end().to_string());
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
        let output = self.output.as_str();
        // made here when missing, and then the invoking user's (under sudo)
        plan.push(
            Step::new(
                "output-exists",
                format!("is there a directory {output}?"),
                "test",
            )
            .args(["-d", output])
            .probe(),
        );
        plan.push(
            Step::new("output", format!("make {output}"), "mkdir")
                .args(["-p", "--", output])
                .root(true)
                .when(When::IfFailed("output-exists")),
        );
        if let Some(owner) = &self.owner {
            // what the run makes: --output, with the parents it lacked when planned
            let made: Vec<&str> = match self.made.as_slice() {
                [] => vec![output],
                made => made.iter().map(|d| d.as_str()).collect(),
            };
            plan.push(
                Step::new(
                    "output-owner",
                    format!("give {} to the invoking user", made.join(", ")),
                    "chown",
                )
                .args(["-h", "--", owner.as_str()])
                .args(made)
                .root(true)
                .when(When::IfFailed("output-exists")),
            );
        }
        plan.push(
            Step::new(
                "free-space",
                format!("check the free space of {output}"),
                "df",
            )
            .args(["--output=avail", "-B1", "--", output])
            .read_only()
            .check(Check::FreeSpace {
                path: self.output.to_string(),
                min_bytes: self.min_free,
                needs: None,
            }),
        );
        let stem = self.artifact_stem();
        for run in &self.runs {
            self.push_run(&mut plan, run, &stem);
        }
        plan
    }

    /// One builder run: a fresh private build directory (mktemp: a new random name, mode
    /// 0700, root's), the builder writing into it, then each artifact given to the invoking
    /// user and hashed while still in that directory, and moved out with rename semantics
    /// (`mv -T`: a link planted at the destination is replaced, never followed). The build
    /// directory is removed when the plan ends, however it ends.
    fn push_run(&self, plan: &mut Plan, run: &BuilderRun, stem: &str) {
        let names: Vec<&str> = run.types.iter().map(|t| t.name()).collect();
        let dir_step: &'static str = crate::plan::name(format!("{}-dir", run.id));
        plan.push(
            Step::new(
                dir_step,
                format!("make a private build directory in {}", self.output),
                "mktemp",
            )
            .args([
                "-d".to_string(),
                format!("--tmpdir={}", self.output),
                format!(".build-{stem}.XXXXXXXXXX"),
            ])
            .root(true)
            .capture(run.dir_var, Extract::Trim),
        );
        plan.cleanup.push(
            Step::new(
                crate::plan::name(format!("{}-tidy", run.id)),
                "remove the private build directory",
                "rm",
            )
            .args(["-rf", "--"])
            .var_arg("", run.dir_var)
            .root(true)
            .when(When::IfSet(run.dir_var)),
        );
        let mut builder = Step::new(
            run.id,
            format!("build {} with {}", names.join(", "), self.builder),
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
        .secret_file_arg_suffix(run.secret, run.file, &run.config, ":/config.toml:ro")
        .arg("-v")
        .var_arg_suffix(run.dir_var, ":/output");
        builder = super::run::podman_storage_mount(builder).arg(&self.builder);
        for t in &run.types {
            builder = builder.args(["--type", t.name()]);
        }
        builder = builder.args(["--rootfs", "xfs"]);
        if let Some(a) = self.target_arch {
            builder = builder.args(["--target-arch", a.uname()]);
        }
        plan.push(
            builder
                .arg(self.image.local())
                .root(true)
                .hint("see the builder's message above; `cargo xtask doctor --for disk` checks the builder image, loop devices, space and emulation"),
        );
        for t in &run.types {
            let (inside, ext) = t.layout();
            let to = self.output.join(format!("{stem}.{ext}"));
            let built = format!("/{inside}");
            if let Some(owner) = &self.owner {
                let id: &'static str = crate::plan::name(format!("{}-owner", t.name()));
                plan.push(
                    Step::new(
                        id,
                        format!("give the {} to the invoking user", t.name()),
                        "chown",
                    )
                    .args(["-h", "--", owner.as_str()])
                    .var_arg_suffix(run.dir_var, &built)
                    .root(true)
                    .hint(format!(
                        "the builder wrote no {inside}: see its message above"
                    )),
                );
            }
            let id: &'static str = crate::plan::name(t.name().to_string());
            plan.push(
                Step::new(id, format!("hash the {}", t.name()), "sha256sum")
                    .arg("--")
                    .var_arg_suffix(run.dir_var, &built)
                    .read_only()
                    .root(true)
                    .check(Check::Artifact {
                        kind: t.name().to_string(),
                        path: to.to_string(),
                    })
                    .hint(format!(
                        "the builder wrote no {inside}: see its message above"
                    )),
            );
            let id: &'static str = crate::plan::name(format!("{}-move", t.name()));
            plan.push(
                Step::new(id, format!("move the {} to {to}", t.name()), "mv")
                    .args(["-T", "-f", "--"])
                    .var_arg_suffix(run.dir_var, &built)
                    .arg(to.as_str())
                    .root(true)
                    .hint(format!("{to} must be a file or nothing (not a directory)")),
            );
        }
    }
}
