//! `cargo xtask doctor`: is this host ready for a step? Read-only checks that say what is
//! wrong before a build fails after minutes, or pods crash-loop after a start. Every check
//! works on a host that lacks what it checks: that is a finding, not a crash.

use camino::Utf8PathBuf;
use serde_json::{json, Value};

use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::Sources;
use crate::inputs;

mod builders;
mod bundle;
mod device;
mod embed;
mod flightctl;
mod host;
mod mirror;
mod probe;
mod rollout;
mod signing;

use embed::embedding;
use host::*;
use probe::registry_of;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct DoctorArgs {
    /// Which step to check the host for
    #[arg(long = "for", value_name = "STEP", value_enum, default_value_t = Purpose::All)]
    pub purpose: Purpose,
    #[arg(long)]
    pub pull_secret: Option<String>,
    #[arg(long)]
    pub auth_config: Option<String>,
    #[arg(long)]
    pub iso: Option<String>,
    #[arg(long)]
    pub network: Option<String>,
    #[arg(long)]
    pub libvirt_uri: Option<String>,
    #[arg(long)]
    pub volume_group: Option<String>,
    #[arg(long, value_name = "IMAGE")]
    pub builder: Option<String>,
    /// With --for build: check for `build --embed` too (the pull secret covers every
    /// registry of the image's release list; room for the images)
    #[arg(long = "embed")]
    pub for_embed: bool,
    /// With --for mirror: the directory `mirror --to-dir` would fill (its free space)
    #[arg(long, value_name = "DIR")]
    pub to_dir: Option<String>,
    #[arg(long)]
    pub image_name: Option<String>,
    #[arg(long)]
    pub arch: Option<String>,
    #[arg(long, value_name = "[USER@]HOST[:PORT]", conflicts_with = "vm")]
    pub host: Option<String>,
    /// With --for upgrade: a libvirt VM that `vm` installed, reached over ssh
    #[arg(long, value_name = "NAME")]
    pub vm: Option<String>,
    #[arg(long)]
    pub ssh_user: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<String>,
    #[arg(long = "image", value_name = "REF")]
    pub device_image: Option<String>,
    /// With --for push: check that this host can sign what it pushes (the key, the method,
    /// the lookaside directory)
    #[arg(long)]
    pub sign: bool,
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<String>,
    /// With --for rollout: only the inventory's hosts this Ansible pattern matches
    #[arg(long, value_name = "PATTERN")]
    pub limit: Option<String>,
    /// With --for rollout: check for `rollout --flightctl FLEET` instead of Ansible (curl,
    /// the API answers, the token is accepted, the fleet exists, its devices are image-mode)
    #[arg(long, value_name = "FLEET", conflicts_with_all = ["inventory", "limit"])]
    pub flightctl: Option<String>,
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub api_ca: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<String>,
    /// With --for bundle: a bundle to check as a device checks it (its signature, every
    /// checksum), and the room on its file system
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub status: Level,
    pub found: String,
    pub fix: String,
}

fn finding(
    check: &'static str,
    status: Level,
    found: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        check,
        status,
        found: found.into(),
        fix: fix.into(),
    }
}

/// What `doctor --for` checks the host for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Purpose {
    Build,
    Push,
    Run,
    Vm,
    Disk,
    /// A running device (--host or --vm), for `upgrade`
    Upgrade,
    /// build and push, and each remote builder of the release
    Release,
    /// `mirror`: the mirror registry, the images to copy, room for --to-dir
    Mirror,
    /// `rollout`: ansible-playbook, the inventory, each host's address and key, each host
    /// over ssh; with --flightctl FLEET: curl, flightctl's API, the token, the fleet, its
    /// devices image-mode
    Rollout,
    /// `bundle` and carried updates: the public key and the signing key, the verifier's
    /// tools, a bundle verified (--bundle), room on the stick and on the device (--host)
    Bundle,
    #[default]
    All,
}

/// The steps a `--for` value covers.
pub fn steps(purpose: Purpose) -> Vec<&'static str> {
    match purpose {
        Purpose::Build => vec!["build"],
        Purpose::Push => vec!["push"],
        Purpose::Run => vec!["run"],
        Purpose::Vm => vec!["vm"],
        Purpose::Disk => vec!["disk"],
        Purpose::Upgrade => vec!["upgrade"],
        Purpose::Release => vec!["build", "push", "release"],
        Purpose::Mirror => vec!["mirror"],
        Purpose::Rollout => vec!["rollout"],
        Purpose::Bundle => vec!["bundle"],
        Purpose::All => vec!["build", "push", "run", "vm", "disk"],
    }
}

/// All checks for the steps, each once.
pub fn check(args: &DoctorArgs, sources: &Sources) -> anyhow::Result<Vec<Finding>> {
    let steps = steps(args.purpose);
    let has = |s: &str| steps.contains(&s);
    // the same declarations and resolvers as the commands (flag > environment > config file
    // > default): a bad value is bad input here too; a missing one is said in the finding
    let path_of =
        |input: &crate::inputs::Input, flag: Option<&str>| -> anyhow::Result<Option<Utf8PathBuf>> {
            sources
                .value(input, flag)?
                .map(|p| sources.path(&p))
                .transpose()
        };
    let text_of =
        |input: &crate::inputs::Input, flag: Option<&str>| -> anyhow::Result<Option<String>> {
            Ok(sources.value(input, flag)?.map(|p| p.value))
        };
    // a device, not this host: its own checks
    if has("upgrade") {
        return device::upgrade(args, sources);
    }
    // the control node, its inventory and the fleet's devices
    if has("rollout") {
        if let Some(fleet) = &args.flightctl {
            return flightctl::checks(args, fleet, sources);
        }
        return rollout::checks(args, sources);
    }
    // carried updates: the keys, a bundle, the stick, a device
    if has("bundle") {
        return bundle::checks(args, sources);
    }
    let pull_secret = path_of(&inputs::PULL_SECRET, args.pull_secret.as_deref())?;
    let auth = path_of(&inputs::AUTH_CONFIG, args.auth_config.as_deref())?;
    let base_registry = text_of(&inputs::BASE_IMAGE, None)?.map(|b| registry_of(&b));
    let registry = text_of(&inputs::REGISTRY_URL, None)?;
    let foreign = foreign_archs(sources)?;
    let mut out = vec![privileges(sources)];
    if has("build") || has("push") || has("run") {
        out.push(podman());
    }
    let pull_fix = crate::secrets::PULL_SECRET_HELP;
    if has("build") || has("run") || has("vm") || has("disk") {
        out.push(auth_file(
            "pull-secret",
            "pull secret",
            pull_secret.clone(),
            base_registry.as_deref(),
            pull_fix,
        ));
    }
    let embed = args.for_embed || sources.switch(&inputs::EMBED, false).unwrap_or(false);
    if has("build") && embed {
        out.extend(embedding(sources, args, pull_secret.as_ref()));
    }
    if has("build") {
        out.push(rhel_repos(
            text_of(&inputs::MICROSHIFT_VERSION, None)?.as_deref(),
        ));
        out.push(disk(sources));
        out.extend(emulation(&foreign));
    }
    if has("push") || has("vm") {
        out.push(tool("skopeo", "skopeo", &["--version"], "skopeo", "skopeo"));
        out.push(auth_file(
            "registry-auth",
            "registry auth file",
            auth,
            registry.as_deref(),
            &format!(
                "`cargo xtask push` with REGISTRY_USER and REGISTRY_PASSWORD logs in and writes it, or `podman login --authfile FILE {}`",
                registry.as_deref().unwrap_or("REGISTRY")
            ),
        ));
    }
    let signing = args.sign || sources.value(&inputs::SIGN_BY, None)?.is_some();
    if has("push") && signing {
        out.extend(signing::checks(sources));
        out.extend(signing::cosign_bundles(sources));
    }
    if has("release") {
        // the release's builders as the config file names them (`--builder` here is disk's)
        out.extend(builders::checks(&builders::resolve(
            &crate::builder::BuilderArgs::default(),
            sources,
        )?));
    }
    if has("mirror") {
        out.push(tool("skopeo", "skopeo", &["--version"], "skopeo", "skopeo"));
        out.extend(mirror::checks(sources, args, pull_secret.as_ref()));
    }
    if has("disk") {
        out.extend(disk_builder(
            sources,
            args.builder.as_deref(),
            pull_secret.as_ref(),
        )?);
        // a cross-architecture disk build runs the image's tools under emulation too
        if !has("build") {
            out.extend(emulation(&foreign));
        }
        let cross: Vec<String> = foreign.iter().map(ToString::to_string).collect();
        if !cross.is_empty() {
            out.push(finding(
                "cross-disk",
                Level::Warn,
                format!("disk images for {} are built with the builder's --target-arch", cross.join(", ")),
                "that is slow and experimental in bootc-image-builder: build them on a host of that architecture where you can",
            ));
        }
    }
    if has("run") {
        out.push(openvswitch(sources));
        let vg = sources.get(&inputs::VOLUME_GROUP, args.volume_group.as_deref())?;
        out.push(volume_group(&vg.value));
    }
    if has("vm") {
        let uri = sources.get(&inputs::LIBVIRT_URI, args.libvirt_uri.as_deref())?;
        let net = sources.get(&inputs::NETWORK, args.network.as_deref())?;
        out.extend(libvirt(&uri.value, &net.value));
        let arch = Arch::native().unwrap_or(Arch::Amd64);
        let iso_path = match sources.get(&inputs::ISO, args.iso.as_deref()) {
            Ok(picked) => {
                let picked = picked.expand(arch.uname(), &arch.tag());
                sources.path(&picked).map_err(|e| format!("{e}"))
            }
            Err(e) => Err(format!("{e}")),
        };
        out.push(iso(iso_path, arch));
    }
    Ok(out)
}

/// `cargo xtask doctor`: the checks' table (or JSON); exit 1 when one fails.
pub fn act(args: &DoctorArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    let (sources, json, dry_run) = (ctx.sources, ctx.json, ctx.dry_run);
    use std::io::Write;
    let steps = steps(args.purpose);
    if dry_run && args.purpose == Purpose::Upgrade {
        device::validate(args, sources)?;
    }
    if dry_run && args.purpose == Purpose::Rollout {
        match &args.flightctl {
            Some(fleet) => {
                let (_fleet, _api) = flightctl::validate(args, fleet, sources)?;
            }
            None => {
                rollout::validate(args, sources)?;
            }
        }
    }
    if dry_run {
        if json {
            crate::exec::print_json(&json!({ "ok": true, "read_only": true, "checks_for": steps }));
        } else {
            let _ = writeln!(
                std::io::stdout(),
                "# doctor is read-only: it checks the {} for {}",
                if args.purpose == Purpose::Upgrade {
                    "device (over ssh)"
                } else {
                    "host"
                },
                steps.join(", ")
            );
        }
        return Ok(Action::Done);
    }
    let findings = check(args, sources)?;
    if json {
        crate::exec::print_json(&to_json(&findings));
    } else {
        let _ = write!(std::io::stdout(), "{}", table(&findings));
    }
    let failed: Vec<&str> = findings
        .iter()
        .filter(|f| f.status == Level::Fail)
        .map(|f| f.check)
        .collect();
    if failed.is_empty() {
        Ok(Action::Done)
    } else {
        Err(crate::error::StepFailed::error(format!(
            "the {} is not ready for {}: {} failed",
            if args.purpose == Purpose::Upgrade {
                "device"
            } else {
                "host"
            },
            steps.join(", "),
            failed.join(", ")
        )))
    }
}

pub fn to_json(findings: &[Finding]) -> Value {
    json!({
        "ok": findings.iter().all(|f| f.status != Level::Fail),
        "checks": findings.iter().map(|f| json!({
            "check": f.check,
            "status": f.status.word(),
            "found": f.found,
            "fix": f.fix,
        })).collect::<Vec<_>>(),
    })
}

/// The table: check, status, what it found, how to fix.
pub fn table(findings: &[Finding]) -> String {
    let w = findings
        .iter()
        .map(|f| f.check.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!("{:<w$}  {:<6}  {}\n", "check", "status", "found / fix");
    for f in findings {
        out.push_str(&format!(
            "{:<w$}  {:<6}  {}\n",
            f.check,
            f.status.word(),
            f.found
        ));
        if !f.fix.is_empty() && f.status != Level::Ok {
            out.push_str(&format!("{:<w$}  {:<6}  fix: {}\n", "", "", f.fix));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_validated() {
        assert_eq!(steps(Purpose::All).len(), 5);
        assert_eq!(steps(Purpose::Vm), ["vm"]);
    }
}
