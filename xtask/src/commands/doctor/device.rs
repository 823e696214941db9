//! `doctor --for upgrade`: is a running device ready to move to a new image? It answers over
//! ssh (batch mode, the host key known or accepted once), runs bootc with a booted image,
//! has credentials for the image's registry in /etc/ostree/auth.json (read for its registry
//! names only, never shown), room in /sysroot for the new image, and the image has an entry
//! for the device's architecture.

use camino::Utf8PathBuf;
use serde_json::Value;

use super::probe::{output, registry_of, remote_manifest, stdout_of};
use super::{finding, DoctorArgs, Finding, Level};
use crate::commands::lifecycle::{ImageFlags, Wanted};
use crate::config::Sources;
use crate::reach::{Device, DeviceArgs};

/// An image this size or smaller still gets this much room: ostree unpacks the layers, and
/// the old deployment stays for the rollback.
const MIN_FREE: u64 = 1 << 30;

pub(super) fn device_args(args: &DoctorArgs) -> DeviceArgs {
    DeviceArgs {
        host: args.host.clone(),
        vm: args.vm.clone(),
        container: None,
        ssh_user: args.ssh_user.clone(),
        identity: args.ssh_key.clone(),
        known_hosts: args.known_hosts.clone(),
        libvirt_uri: args.libvirt_uri.clone(),
    }
}

/// The device's flags checked as `upgrade` checks them (for `--dry-run`, which asks the
/// device nothing).
pub(super) fn validate(args: &DoctorArgs, sources: &Sources) -> anyhow::Result<()> {
    Device::resolve(&device_args(args), sources, false).map(|_| ())
}

/// The device's checks.
pub(super) fn upgrade(args: &DoctorArgs, sources: &Sources) -> anyhow::Result<Vec<Finding>> {
    let device = match Device::resolve(&device_args(args), sources, false) {
        Ok(d) => d,
        // no device named at all is a finding; a badly named one is bad input
        Err(e) if e.to_string().starts_with("--host: missing") => {
            return Ok(vec![finding(
            "device",
            Level::Fail,
            "no device named",
            "name it: --host [USER@]HOST[:PORT] or --vm NAME (or device.host in the config file)",
        )])
        }
        Err(e) => return Err(e),
    };
    let wanted = Wanted::resolve(
        &ImageFlags {
            device_image: args.device_image.clone(),
            registry: crate::registry::RegistryArgs {
                auth_config: args.auth_config.clone(),
                ..Default::default()
            },
        },
        sources,
    )?;
    let mut out = Vec::new();
    // a VM: its address, as the plans find it
    let address = match device.vm() {
        None => None,
        Some((name, uri)) => {
            let found = output("virsh", &["--connect", uri, "domifaddr", name])
                .filter(|o| o.status.success())
                .map(|o| crate::plan::Extract::Ipv4.apply(&stdout_of(&o)))
                .filter(|a| !a.is_empty());
            match found {
                Some(a) => Some(a),
                None => {
                    out.push(finding(
                        "device",
                        Level::Fail,
                        format!("libvirt reports no address for VM {name}"),
                        format!("is it running? `virsh --connect {uri} list --all`"),
                    ));
                    return Ok(out);
                }
            }
        }
    };
    let ask = |argv: &[&str]| {
        let (program, a) = device.command_now(address.as_deref(), argv);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        output(&program, &refs)
    };
    let reach = ask(&["true"]);
    match &reach {
        Some(o) if o.status.success() => out.push(finding(
            "device",
            Level::Ok,
            format!("{} answers over ssh", device.describe()),
            "",
        )),
        Some(o) => {
            out.push(unreachable(&device, &String::from_utf8_lossy(&o.stderr)));
            return Ok(out);
        }
        None => {
            out.push(finding(
                "device",
                Level::Fail,
                "ssh is not installed on this host",
                super::probe::install_hint("openssh-client", "openssh-clients"),
            ));
            return Ok(out);
        }
    }
    let version = ask(&["bootc", "--version"])
        .filter(|o| o.status.success())
        .map(|o| stdout_of(&o).trim().to_string());
    let host = ask(&["bootc", "status", "--json"])
        .filter(|o| o.status.success())
        .map(|o| crate::bootc::parse(&stdout_of(&o)));
    let arch = match (&version, host) {
        (None, _) => {
            out.push(finding(
                "bootc",
                Level::Fail,
                "the device has no bootc (`bootc --version` failed)",
                "upgrade needs an image-mode (bootc) device: one installed from a bootc image (`cargo xtask vm`, or the kickstart's ostreecontainer)",
            ));
            None
        }
        (Some(v), Some(Ok(h))) => match &h.booted {
            Some(b) => {
                out.push(finding(
                    "bootc",
                    Level::Ok,
                    format!(
                        "{v}; booted {}{}; upgrade stages, then reboots the device itself (no `bootc switch --apply`, which needs bootc 0.1.16 or later)",
                        b.describe(),
                        if h.staged.is_some() {
                            "; an image is staged already (the upgrade replaces it)"
                        } else {
                            ""
                        }
                    ),
                    "",
                ));
                Some(b.architecture.clone())
            }
            None => {
                out.push(finding(
                    "bootc",
                    Level::Fail,
                    format!("{v}, but it reports no booted image"),
                    "is this a bootc host? (a container or a package-mode RHEL has no deployments)",
                ));
                None
            }
        },
        (Some(v), Some(Err(e))) => {
            out.push(finding(
                "bootc",
                Level::Fail,
                format!("{v}: {e:#}"),
                "`sudo bootc status` on the device shows what it reports",
            ));
            None
        }
        (Some(v), None) => {
            out.push(finding(
                "bootc",
                Level::Fail,
                format!("{v}: `bootc status --json` failed"),
                "`sudo bootc status` on the device says why",
            ));
            None
        }
    };
    let registry = registry_of(&wanted.reference);
    out.push(credentials(&ask, &registry, wanted.authfile.as_ref()));
    // the image for the device's architecture, and its size
    let mut size = None;
    if let Some(arch) = &arch {
        match remote_manifest(sources, wanted.authfile.as_ref(), &wanted.reference) {
            None => out.push(finding(
                "device-image",
                Level::Warn,
                "skopeo is not installed on this host: the image was not checked",
                super::probe::install_hint("skopeo", "skopeo"),
            )),
            Some(Err(e)) => out.push(finding(
                "device-image",
                Level::Fail,
                format!("{}: {e}", wanted.reference),
                "`cargo xtask release` pushes the list; --image names another",
            )),
            Some(Ok(doc)) => {
                match crate::inspect::list_member(&doc.to_string(), arch, wanted.pinned.as_deref())
                {
                    Ok(digest) => {
                        size = remote_manifest(
                            sources,
                            wanted.authfile.as_ref(),
                            &format!("{}@{digest}", wanted.repository),
                        )
                        .and_then(Result::ok)
                        .map(|m| layers_size(&m))
                        .or_else(|| Some(layers_size(&doc)));
                        out.push(finding(
                            "device-image",
                            Level::Ok,
                            format!("{} is {digest} for {arch}", wanted.reference),
                            "",
                        ));
                    }
                    Err(e) => out.push(finding(
                        "device-image",
                        Level::Fail,
                        format!("{}: {e:#}", wanted.reference),
                        "`cargo xtask release` builds and pushes every architecture of the list",
                    )),
                }
            }
        }
    }
    out.push(sysroot(&ask, size.filter(|s| *s > 0)));
    Ok(out)
}

/// Why ssh could not log in, in words that say what to do.
pub(super) fn unreachable(device: &Device, stderr: &str) -> Finding {
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("ssh failed")
        .trim();
    let last = crate::validate::escape_controls(last);
    let fix = if stderr.contains("Host key verification failed")
        || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        "the device's host key is not the one known for it (reinstalled? or another machine at that address): check it on the device's console, then remove the old one with `ssh-keygen -R HOST` (-f the --known-hosts file)".to_string()
    } else if stderr.contains("Permission denied") {
        format!(
            "the device does not take this host's key for {}: give --ssh-key (the private key whose .pub the kickstart's sshkey line or the user's authorized_keys holds), or --ssh-user",
            device.user
        )
    } else {
        "is the device up and on the network? (a VM: `virsh console NAME`)".to_string()
    };
    finding("device", Level::Fail, last, fix)
}

/// /etc/ostree/auth.json on the device: there, mode 600, an entry for the registry (the
/// file is searched for the registry's name; nothing of it is read back).
fn credentials(
    ask: &dyn Fn(&[&str]) -> Option<std::process::Output>,
    registry: &str,
    here: Option<&Utf8PathBuf>,
) -> Finding {
    const FILE: &str = "/etc/ostree/auth.json";
    let fix = format!(
        "the device pulls the image itself with {FILE}: the kickstart's %post writes it at install; on a running device: `sudo install -m 600 auth.json {FILE}` (an auth file with an entry for {registry})"
    );
    let mode = ask(&["stat", "-c", "%a", FILE])
        .filter(|o| o.status.success())
        .map(|o| stdout_of(&o).trim().to_string());
    let Some(mode) = mode else {
        // an open registry needs no credentials: only a warning when this host has none
        // for it either
        let level = if here.is_some() {
            Level::Fail
        } else {
            Level::Warn
        };
        return finding(
            "device-credentials",
            level,
            format!("the device has no {FILE}"),
            fix,
        );
    };
    // the registry's name as grep's fixed string (a plain word: host and port; ssh hands
    // the words to the device's shell); the count is all that comes back
    let covered = (crate::plan::quote(registry) == registry)
        .then(|| ask(&["grep", "-c", "-F", "-e", registry, FILE]))
        .flatten()
        .map(|o| stdout_of(&o).trim().parse::<u32>().unwrap_or(0) > 0);
    match covered {
        Some(false) => finding(
            "device-credentials",
            Level::Fail,
            format!("{FILE} has no entry for {registry}"),
            fix,
        ),
        _ if u32::from_str_radix(&mode, 8).is_ok_and(|m| m & 0o077 != 0) => finding(
            "device-credentials",
            Level::Warn,
            format!("{FILE} has mode {mode}: others on the device can read it"),
            format!("`sudo chmod 600 {FILE}` on the device"),
        ),
        _ => finding(
            "device-credentials",
            Level::Ok,
            format!("{FILE}: an entry for {registry}, mode {mode}"),
            "",
        ),
    }
}

/// Free space in /sysroot against the new image: ostree unpacks its layers (about three
/// times their compressed size), and keeps the booted deployment for the rollback.
fn sysroot(ask: &dyn Fn(&[&str]) -> Option<std::process::Output>, size: Option<u64>) -> Finding {
    // the sizes are the registry's word: saturated, never an overflow
    let need = size.map_or(MIN_FREE, |s| s.saturating_mul(3).max(MIN_FREE));
    let free = ask(&["df", "--output=avail", "-B1", "/sysroot"])
        .filter(|o| o.status.success())
        .and_then(|o| crate::inspect::df_avail(&stdout_of(&o)));
    let human = crate::validate::human;
    let basis = match size {
        Some(s) => format!("the image's layers are {} compressed", human(s)),
        None => "the image's size is unknown".to_string(),
    };
    match free {
        None => finding(
            "sysroot",
            Level::Warn,
            "the free space of /sysroot could not be read (`df /sysroot` failed)",
            "`df -h /sysroot` on the device",
        ),
        Some(f) if f < need => finding(
            "sysroot",
            Level::Fail,
            format!("/sysroot has {} free; {basis}: the upgrade needs about {}", human(f), human(need)),
            "free space on the device: `sudo ostree admin cleanup` removes old deployments' leftovers; `sudo podman image prune -a` unused images",
        ),
        Some(f) => finding(
            "sysroot",
            Level::Ok,
            format!("/sysroot has {} free ({basis})", human(f)),
            "",
        ),
    }
}

/// The layers' compressed size in a manifest (0 for a list), saturated.
fn layers_size(manifest: &Value) -> u64 {
    manifest
        .get("layers")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|x| x.get("size").and_then(Value::as_u64))
                .fold(0, u64::saturating_add)
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 29, item 13: the sizes a registry serves are its word, not a promise to add up:
    /// layers that claim more than 64 bits hold, and the room wanted for them, saturate
    /// (the dev profile `cargo xtask` runs in panics on an overflow).
    #[test]
    fn a_registrys_huge_sizes_do_not_overflow() {
        let manifest = serde_json::json!({
            "layers": [{ "size": u64::MAX }, { "size": u64::MAX / 2 }, { "size": 7 }]
        });
        assert_eq!(layers_size(&manifest), u64::MAX);
        let df = |_: &[&str]| {
            use std::os::unix::process::ExitStatusExt;
            Some(std::process::Output {
                status: std::process::ExitStatus::from_raw(0),
                stdout: b"   Avail\n1073741824000\n".to_vec(),
                stderr: Vec::new(),
            })
        };
        for size in [u64::MAX / 2, u64::MAX] {
            let found = sysroot(&df, Some(size));
            assert_eq!(found.status, Level::Fail, "{}", found.found);
            assert!(found.found.contains("1000.0 GiB free"), "{}", found.found);
        }
    }
}
