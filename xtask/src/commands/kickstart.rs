//! The kickstart of "Prepare Kickstart File": `kickstarts/microshift-bootc.ks` filled in.
//!
//! The registry auth file (AUTH_CONFIG) goes to `/etc/ostree/auth.json` in `%pre-install`
//! (the installer pulls the image with it) and again in `%post` (the installed system pulls
//! its upgrades with it), the pull secret to `/etc/crio/openshift-pull-secret` (mode 600)
//! in `%post`. Both are
//! embedded base64-encoded in quoted heredocs: base64 text cannot clash with a heredoc
//! delimiter, `%end`, quotes, `$`, backticks or backslashes, and decodes to the same bytes
//! (a missing final newline included).

use camino::{Utf8Path, Utf8PathBuf};

use super::{Action, Ctx};
use crate::config::Sources;
use crate::image::{Image, ImageArgs};
use crate::plan::Secret;
use crate::registry::{Registry, RegistryArgs};
use crate::secrets;
use crate::validate::{self, bad};

pub const TEMPLATE: &str = "kickstarts/microshift-bootc.ks";
/// The kickstart's optional blocks.
pub const BLOCKS: &str = "kickstarts/blocks";
use crate::device::PULL_SECRET_TARGET;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct KickstartArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(long)]
    pub pull_secret: Option<String>,
    /// Install this tag instead of `latest` (or `linux-<arch>` with --arch)
    #[arg(long)]
    pub tag: Option<String>,
    /// Pin the image by digest (sha256:...), e.g. from `cargo xtask --json push`
    #[arg(long)]
    pub digest: Option<String>,
    /// ostreecontainer transport
    #[arg(long, value_enum, default_value_t = Transport::Registry)]
    pub transport: Transport,
    /// Install without verifying the image signature (ostreecontainer --no-signature-verification)
    #[arg(long)]
    pub no_signature_verification: bool,
    /// The registry speaks plain HTTP or has no trusted certificate: add a registries.conf
    /// drop-in marking it insecure
    #[arg(long)]
    pub insecure_registry: bool,
    /// The image is public: embed no registry authentication (without it, a registry auth
    /// file must be configured: --auth-config, AUTH_CONFIG or registry_auth)
    #[arg(long, conflicts_with = "auth_config")]
    pub public_image: bool,
    #[arg(long)]
    pub root_size: Option<String>,
    #[arg(long)]
    pub volume_group: Option<String>,
}

/// Where `ostreecontainer` takes the image from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// A container registry
    #[default]
    Registry,
    /// An OCI layout directory
    Oci,
    /// An OCI archive file
    OciArchive,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Registry => "registry",
            Transport::Oci => "oci",
            Transport::OciArchive => "oci-archive",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct KickstartCmd {
    #[command(flatten)]
    pub args: KickstartArgs,
    /// Write the full kickstart, secrets included, to this file (mode 0600)
    #[arg(long)]
    pub output: Option<camino::Utf8PathBuf>,
}

/// `cargo xtask kickstart`: print (redacted) or write (0600) the kickstart.
pub fn act(cmd: &KickstartCmd, ctx: &Ctx) -> anyhow::Result<Action> {
    let (sources, dry_run) = (ctx.sources, ctx.dry_run);
    use std::io::Write;
    let ks = Kickstart::resolve(&cmd.args, sources)?;
    let output = cmd
        .output
        .as_ref()
        .map(|p| sources.flag_path("--output", p.as_str()))
        .transpose()?;
    // a preview says first what a real run needs that it did not find
    let mut head = String::new();
    for w in sources.wanted.borrow().iter() {
        head.push_str(&format!(
            "# to write it for real, give: {}\n",
            crate::validate::escape_controls(w)
        ));
    }
    let written = match &output {
        Some(path) if !dry_run => {
            ks.write(path)?;
            eprintln!("ok: wrote {path} (mode 0600; it holds secrets)");
            Some(path)
        }
        Some(path) => {
            check_output(path)?;
            head.push_str(&format!("# would write {path} (mode 0600)\n"));
            None
        }
        None => None,
    };
    if ctx.json {
        // one document: the kickstart as printed (secrets left out), and the file written
        crate::exec::print_json(&serde_json::json!({
            "ok": true,
            "kickstart": ks.render(true)?,
            "written": written.map(|p| p.as_str()),
            "would_write": if dry_run { output.as_ref().map(|p| p.as_str()) } else { None },
            "wanted": *sources.wanted.borrow(),
        }));
    } else if written.is_none() {
        let _ = write!(std::io::stdout(), "{head}{}", ks.render(true)?);
    }
    Ok(Action::Done)
}

/// An auth file's bytes with the `auths` entries of another (the mirror's) merged in, the
/// other's winning for the same registry.
fn with_entries(bytes: &Secret, other: &serde_json::Value, what: &str) -> anyhow::Result<Secret> {
    let mut doc: serde_json::Value = serde_json::from_slice(bytes.expose())
        .map_err(|e| crate::validate::refuse(format!("{what}: not JSON: {e}")))?;
    let Some(auths) = doc
        .get_mut("auths")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return Err(crate::validate::refuse(format!(
            "{what}: no \"auths\" object"
        )));
    };
    if let Some(extra) = other.get("auths").and_then(serde_json::Value::as_object) {
        for (k, v) in extra {
            auths.insert(k.clone(), v.clone());
        }
    }
    Ok(Secret::new(serde_json::to_vec(&doc).map_err(|e| {
        crate::validate::refuse(format!("{what}: {e}"))
    })?))
}

/// The installer's way to the site's mirror.
#[derive(Clone, Debug, PartialEq)]
pub struct InstallerMirror {
    /// The registries.conf drop-in: the OS image's repository through the mirror.
    pub conf: String,
    /// The mirror's host and CA certificate, when there is one.
    pub ca: Option<(String, Vec<u8>)>,
    /// The registries.d entry of the mirror the image carries, when it has one (signing, or
    /// the mirror's lookaside URL). containers/image reads signatures where it pulls from, the
    /// mirror (the entry of the image's own repository, `signing.lookaside_url`, is never
    /// asked), and checks them against the name asked for.
    pub registries_d: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Kickstart {
    pub url: String,
    pub transport: Transport,
    pub no_signature_verification: bool,
    pub insecure_registry: Option<String>,
    pub root_size_gib: u64,
    pub volume_group: String,
    /// The registry auth file and its bytes.
    pub auth: Option<(Utf8PathBuf, Secret)>,
    /// With a site mirror: what the installer gets to pull the OS image through it.
    pub mirror: Option<InstallerMirror>,
    /// Lines that create users (for an installer ISO, where the builder takes no user
    /// customization next to a kickstart); empty for `vm`.
    pub users: String,
    /// Write the `ostreecontainer` line (an installer ISO's builder adds its own).
    pub ostreecontainer: bool,
    pub pull_secret: (Utf8PathBuf, Secret),
    pub template: Template,
    pub image: Image,
    /// With signing.public_key: the installer checks the image's signature with the policy,
    /// registries.d entry and key the image carries.
    pub signing: Option<(crate::signing::Signing, String)>,
}

impl Kickstart {
    pub fn resolve(args: &KickstartArgs, sources: &Sources) -> anyhow::Result<Kickstart> {
        let image = Image::resolve(&args.image, sources)?;
        // credentials are written by `push` / `podman login`, never by the kickstart
        let registry = Registry::resolve(&args.registry, sources, false)?;
        let tag = match &args.tag {
            Some(t) => {
                validate::image_reference("--tag", &format!("x:{t}"))?;
                t.clone()
            }
            None => image.tag(),
        };
        let url = match &args.digest {
            Some(d) if !validate::is_digest(d) => {
                return Err(bad(
                    "--digest",
                    d,
                    "not a digest of the form sha256:<64 hex digits>",
                ))
            }
            Some(d) => {
                let url = registry.remote(&image.name, None) + "@" + d;
                validate::image_reference("--digest", &url).map_err(|_| {
                    bad(
                        "--digest",
                        d,
                        "not a digest of the form sha256:<64 hex digits>",
                    )
                })?;
                if args.tag.is_some() {
                    return Err(bad("--digest", d, "give either --tag or --digest"));
                }
                url
            }
            None => registry.remote(&image.name, Some(&tag)),
        };
        let transport = args.transport;
        let size = sources.get(&crate::inputs::ROOT_SIZE, args.root_size.as_deref())?;
        let root_size_gib = validate::count(&size.what, &size.value, 10, 65536)?;
        let vg = sources.get(&crate::inputs::VOLUME_GROUP, args.volume_group.as_deref())?;
        let volume_group = validate::simple_name(&vg.what, &vg.value)?;
        // the installer pulls the image itself: without the auth file a private image fails
        // deep inside the installation, so a configured file must exist, and "no
        // authentication" must be said (--public-image)
        let auth = if args.public_image {
            None
        } else {
            let picked = sources
                .value(&crate::inputs::AUTH_CONFIG, args.registry.auth_config.as_deref())?
                .ok_or_else(|| {
                    crate::validate::refuse(format!(
                        "--auth-config: missing; the installer needs the registry auth file to pull {url}: set --auth-config, AUTH_CONFIG or 'registry_auth' in {}, or say --public-image",
                        sources.config.path
                    ))
                })?;
            let p = sources.path(&picked)?;
            let how = format!(
                "log in first (`cargo xtask push` with REGISTRY_PASSWORD, or `podman login --authfile {p} {}`), or say --public-image if the image needs no authentication",
                registry.url
            );
            if !p.exists() {
                if sources.preview_without(format!(
                    "the registry auth file {p} ({}): {how}",
                    picked.what
                )) {
                    Some((p, Secret::new(Vec::new())))
                } else {
                    return Err(crate::validate::refuse(format!(
                        "{}: '{p}' does not exist: {how}",
                        picked.what
                    )));
                }
            } else {
                let (bytes, _) = secrets::auth_json(&picked.what, &p)?;
                Some((p, bytes))
            }
        };
        let (ps, ps_bytes) = secrets::pull_secret(sources, args.pull_secret.as_deref())?;
        // a site mirror's credentials go to the device with the pull secret (CRI-O) and with
        // the registry's auth file (bootc's upgrades from the mirror)
        let mirror =
            crate::mirror::Mirror::resolve(&crate::mirror::MirrorArgs::default(), sources)?;
        let (ps_bytes, auth) = match mirror.as_ref().and_then(|m| m.auth.as_ref()) {
            Some(mirror_auth) => {
                let (_, entries) = secrets::auth_json("mirror.auth", mirror_auth)?;
                let ps_bytes = with_entries(&ps_bytes, &entries, &format!("PULL_SECRET ({ps})"))?;
                let auth = match auth {
                    Some((p, bytes)) if !bytes.expose().is_empty() => {
                        let merged = with_entries(&bytes, &entries, &format!("AUTH_CONFIG ({p})"))?;
                        Some((p, merged))
                    }
                    other => other,
                };
                (ps_bytes, auth)
            }
            None => (ps_bytes, auth),
        };
        let template = read_template(sources)?;
        let signing = crate::signing::Signing::resolve(
            &crate::signing::SigningArgs::default(),
            sources,
            crate::signing::Need::Enforce,
        )?;
        if signing.is_some() && args.no_signature_verification {
            return Err(crate::validate::bad(
                "--no-signature-verification",
                "",
                "signing is configured (signing.public_key): the installer checks the image's signature; leave the flag out",
            ));
        }
        let repository = registry.remote(&image.name, None);
        if let Some(s) = &signing {
            s.refuse_covering(&repository)?;
        }
        let mirror = match &mirror {
            Some(m) => {
                let method = signing.as_ref().map(|s| s.method);
                if method == Some(crate::signing::Method::Gpg) && m.lookaside_url.is_none() {
                    return Err(crate::validate::refuse(format!(
                        "{}: missing; the installer checks the image's gpg signatures, which it reads where it pulls from, the mirror: serve {} at the site and give its URL (mirror.lookaside_url)",
                        crate::inputs::MIRROR_LOOKASIDE_URL.flag,
                        m.lookaside_dir
                    )));
                }
                // the image's own entry for the mirror
                let registries_d = m.device_registries_d(method);
                let ca = match &m.ca {
                    Some(path) => Some((
                        m.host().to_string(),
                        crate::validate::read_bounded("mirror.ca", path, 1 << 20)?,
                    )),
                    None => None,
                };
                Some(InstallerMirror {
                    conf: m.registries_conf(&[], Some(&repository)),
                    ca,
                    registries_d,
                })
            }
            None => None,
        };
        Ok(Kickstart {
            mirror,
            signing: signing.map(|s| (s, repository)),
            url,
            transport,
            no_signature_verification: args.no_signature_verification,
            insecure_registry: args.insecure_registry.then(|| registry.url.clone()),
            root_size_gib,
            volume_group,
            auth,
            users: String::new(),
            ostreecontainer: true,
            pull_secret: (ps, ps_bytes),
            template,
            image,
        })
    }

    /// The kickstart text. With `redact`, the secret files' contents are left out (for
    /// printing and snapshots); without, it is the file to install with.
    pub fn render(&self, redact: bool) -> anyhow::Result<String> {
        let t = &self.template;
        let registry_auth = match &self.auth {
            Some((path, bytes)) => fill(
                &t.registry_auth,
                &[(
                    "AUTH_BASE64",
                    payload(bytes.expose(), redact, &format!("AUTH_CONFIG ({path})")),
                )],
            )?,
            None => t.public_image.clone(),
        };
        let insecure_registry = match &self.insecure_registry {
            Some(host) => fill(&t.insecure_registry, &[("REGISTRY_HOST", host.clone())])?,
            None => String::new(),
        };
        let pull_secret = fill(
            &t.pull_secret,
            &[
                ("PULL_SECRET_TARGET", PULL_SECRET_TARGET.to_string()),
                (
                    "PULL_SECRET_BASE64",
                    payload(
                        self.pull_secret.1.expose(),
                        redact,
                        &format!("PULL_SECRET ({})", self.pull_secret.0),
                    ),
                ),
            ],
        )?;
        let mut ostree = format!(
            "ostreecontainer --url={} --transport={}",
            self.url,
            self.transport.as_str()
        );
        if self.no_signature_verification {
            ostree.push_str(" --no-signature-verification");
        }
        let values = [
            ("ROOT_SIZE_GIB", self.root_size_gib.to_string()),
            ("ROOT_SIZE_MIB", (self.root_size_gib * 1024).to_string()),
            ("VOLUME_GROUP", self.volume_group.clone()),
            ("REGISTRY_AUTH", registry_auth),
            ("INSECURE_REGISTRY", insecure_registry),
            (
                "OSTREECONTAINER",
                if self.ostreecontainer {
                    ostree
                } else {
                    String::new()
                },
            ),
            ("USERS", self.users.clone()),
            ("PULL_SECRET", pull_secret),
            ("SIGNATURE_POLICY", self.signature_policy()?),
            ("MIRROR", self.mirror_block()?),
        ];
        fill(&t.main, &values)
    }

    /// The `%pre-install` block sending the installer's pull of the OS image through the
    /// site's mirror (trusting its CA, reading signatures there), or "".
    fn mirror_block(&self) -> anyhow::Result<String> {
        let Some(InstallerMirror {
            conf,
            ca,
            registries_d,
        }) = &self.mirror
        else {
            return Ok(String::new());
        };
        let ca = match ca {
            Some((host, bytes)) => format!(
                "mkdir -p '/etc/containers/certs.d/{host}'\nbase64 -d > '/etc/containers/certs.d/{host}/ca.crt' <<'XTASK_BASE64_EOF'\n{}\nXTASK_BASE64_EOF",
                base64(bytes)
            ),
            None => String::new(),
        };
        let registries_d = match registries_d {
            Some(text) => format!(
                "mkdir -p /etc/containers/registries.d\nbase64 -d > {} <<'XTASK_BASE64_EOF'\n{}\nXTASK_BASE64_EOF",
                crate::mirror::REGISTRIES_D,
                payload(text.as_bytes(), false, "")
            ),
            None => String::new(),
        };
        fill(
            &self.template.mirror,
            &[
                ("MIRROR_CONF_BASE64", base64(conf.as_bytes())),
                ("MIRROR_CA", ca),
                ("MIRROR_REGISTRIES_D", registries_d),
            ],
        )
    }

    /// The `%pre-install` block giving the installer the image's signature policy, or "".
    fn signature_policy(&self) -> anyhow::Result<String> {
        let Some((signing, repository)) = &self.signing else {
            return Ok(String::new());
        };
        let key = match &signing.public_key {
            Some(path) => validate::read_bounded("signing.public_key", path, 1 << 20)?,
            None => return Ok(String::new()),
        };
        let scope = crate::signing::scope_of(repository);
        fill(
            &self.template.signature_policy,
            &[
                (
                    "POLICY_BASE64",
                    payload(signing.device_policy(repository).as_bytes(), false, ""),
                ),
                (
                    "REGISTRIES_D_BASE64",
                    payload(signing.read_registries_d(scope).as_bytes(), false, ""),
                ),
                (
                    "KEY_PATH",
                    crate::signing::device_key_path(signing.method).to_string(),
                ),
                ("KEY_BASE64", payload(&key, false, "")),
            ],
        )
    }

    /// The kickstart of the config file's image, with placeholder secrets: for linting it
    /// anywhere (no pull secret or auth file needed).
    pub fn with_placeholders(sources: &Sources) -> anyhow::Result<Kickstart> {
        let mut config_only = sources.clone();
        config_only.env.retain(|k, _| k == "HOME");
        let image = Image::resolve(&ImageArgs::default(), &config_only)?;
        let registry = Registry::resolve(&RegistryArgs::default(), &config_only, false)?;
        let vg = config_only.get(&crate::inputs::VOLUME_GROUP, None)?;
        let placeholder = |host: &str| {
            Secret::new(format!(
                "{{\"auths\":{{\"{host}\":{{\"auth\":\"cGxhY2Vob2xkZXI6cGxhY2Vob2xkZXI=\"}}}}}}\n"
            ))
        };
        let signing = match crate::signing::Signing::resolve(
            &crate::signing::SigningArgs::default(),
            &config_only,
            crate::signing::Need::Enforce,
        )? {
            Some(s) => {
                let repository = registry.remote(&image.name, None);
                s.refuse_covering(&repository)?;
                Some((s, repository))
            }
            None => None,
        };
        Ok(Kickstart {
            mirror: None,
            signing,
            url: registry.remote(&image.name, Some(&image.tag())),
            transport: Transport::Registry,
            no_signature_verification: false,
            insecure_registry: None,
            root_size_gib: 10,
            volume_group: validate::simple_name(&vg.what, &vg.value)?,
            users: String::new(),
            ostreecontainer: true,
            auth: Some((
                Utf8PathBuf::from("placeholder-auth.json"),
                placeholder(&registry.url),
            )),
            pull_secret: (
                Utf8PathBuf::from("placeholder-pull-secret.json"),
                placeholder("registry.redhat.io"),
            ),
            template: read_template(sources)?,
            image,
        })
    }

    /// Write the full kickstart to `path` as a private file (0600): created new beside it
    /// and renamed into place, never through a link, never over another user's file.
    pub fn write(&self, path: &Utf8Path) -> anyhow::Result<()> {
        check_output(path)?;
        let text = self.render(false)?;
        crate::record::write_private(path, text.as_bytes())
            .map_err(|e| crate::validate::refuse(format!("--output: cannot write '{path}': {e:#}")))
    }
}

/// `--output`: its directory must exist and be writable, and the file itself, if it exists,
/// must be a regular file of ours (checked in `--dry-run` too).
pub fn check_output(path: &Utf8Path) -> anyhow::Result<()> {
    let out = |why: String| crate::validate::refuse(format!("--output: '{path}': {why}"));
    validate::no_control("--output", path.as_str())?;
    let dir = match path.parent() {
        Some(d) if !d.as_str().is_empty() => d,
        _ => Utf8Path::new("."),
    };
    let meta = std::fs::metadata(dir)
        .map_err(|e| out(format!("its directory '{dir}' cannot be used: {e}")))?;
    if !meta.is_dir() {
        return Err(out(format!("'{dir}' is not a directory")));
    }
    if !dir_writable(dir) {
        return Err(out(format!("its directory '{dir}' is not writable")));
    }
    match crate::record::unsafe_target(path) {
        Some(why) => Err(out(why)),
        None => Ok(()),
    }
}

/// Can we create files in `dir`? (access(2) with W_OK|X_OK.)
fn dir_writable(dir: &Utf8Path) -> bool {
    extern "C" {
        fn access(path: *const std::os::raw::c_char, mode: i32) -> i32;
    }
    let Ok(c) = std::ffi::CString::new(dir.as_str()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path
    unsafe { access(c.as_ptr(), 2 | 1) == 0 }
}

/// The checked-in kickstart: the template and its optional blocks (`kickstarts/blocks/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub main: String,
    pub registry_auth: String,
    pub public_image: String,
    pub insecure_registry: String,
    pub pull_secret: String,
    pub signature_policy: String,
    pub mirror: String,
}

fn read_template(sources: &Sources) -> anyhow::Result<Template> {
    let read = |rel: &str| -> anyhow::Result<String> {
        let path = sources.root.join(rel);
        let text = String::from_utf8(validate::read_bounded(rel, &path, 1 << 20)?)
            .map_err(|_| anyhow::anyhow!("{path}: not UTF-8 text"))?;
        Ok(text)
    };
    // a block goes in as lines of the template, without its final newline
    let block = |name: &str| -> anyhow::Result<String> {
        Ok(read(&format!("{BLOCKS}/{name}.ks.in"))?
            .trim_end_matches('\n')
            .to_string())
    };
    Ok(Template {
        main: read(TEMPLATE)?,
        registry_auth: block("registry-auth")?,
        public_image: block("public-image")?,
        insecure_registry: block("insecure-registry")?,
        pull_secret: block("pull-secret")?,
        signature_policy: block("signature-policy")?,
        mirror: block("mirror")?,
    })
}

/// Replace every `@NAME@` of the template; an unknown name is an error. A line that holds
/// only a placeholder whose value is empty is left out (an optional block that is not there).
pub fn fill(template: &str, values: &[(&str, String)]) -> anyhow::Result<String> {
    let mut kept = Vec::new();
    for line in template.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        let empty_block = bare.len() > 2
            && bare.starts_with('@')
            && bare.ends_with('@')
            && values
                .iter()
                .any(|(k, v)| v.is_empty() && bare[1..bare.len() - 1] == **k);
        if !empty_block {
            kept.push(line);
        }
    }
    let template = kept.concat();
    let mut out = String::with_capacity(template.len() + 4096);
    let mut rest = template.as_str();
    while let Some(start) = rest.find('@') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('@') {
            Some(end)
                if after[..end]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
                    && end > 0 =>
            {
                let name = &after[..end];
                let value = values
                    .iter()
                    .find(|(k, _)| *k == name)
                    .ok_or_else(|| anyhow::anyhow!("{TEMPLATE}: unknown placeholder @{name}@"))?;
                out.push_str(&value.1);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The body of a secret file's heredoc: its bytes base64-encoded in lines of 76, or (for
/// printing) a note of what was left out.
fn payload(bytes: &[u8], redact: bool, source: &str) -> String {
    if redact {
        return format!("<redacted: {} bytes of {source}>", bytes.len());
    }
    let encoded = base64(bytes);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    lines.join("\n")
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn fill_placeholders() {
        let v = [("A", "1".to_string())];
        assert_eq!(fill("x @A@ y user@host", &v).unwrap(), "x 1 y user@host");
        assert!(fill("@B@", &v).is_err());
        // an optional block that is not there takes its line with it
        let v = [("A", "1".to_string()), ("GONE", String::new())];
        assert_eq!(fill("x\n@GONE@\n@A@\n", &v).unwrap(), "x\n1\n");
    }
}
