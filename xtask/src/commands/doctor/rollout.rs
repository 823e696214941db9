//! `doctor --for rollout`: is this control node ready to roll a release out to the fleet?
//! ansible-playbook is there (its version), the inventory parses (read with
//! `ansible-inventory`, as `rollout` reads it), every host has an address and a key the tool
//! can read (checked as `rollout` and `upgrade` check them), and each host answers over
//! ssh, several at a time.

use super::probe::{output, stdout_of};
use super::{finding, DoctorArgs, Finding, Level};
use crate::commands::fleet::{self, FleetDevice, Reach};
use crate::config::Sources;

/// How many hosts are asked over ssh at the same time.
const AT_ONCE: usize = 16;

/// The flags checked as `rollout` checks them (a bad one is bad input, before anything is
/// asked; `--dry-run` asks nothing).
pub(super) fn validate(
    args: &DoctorArgs,
    sources: &Sources,
) -> anyhow::Result<(Option<String>, Reach)> {
    // flightctl's flags without --flightctl: refused, rather than ignored
    for (flag, given) in [
        ("--api", &args.api),
        ("--api-ca", &args.api_ca),
        ("--token-file", &args.token_file),
    ] {
        if let Some(v) = given {
            return Err(crate::validate::bad(
                flag,
                v,
                "is for a flightctl fleet: give --flightctl FLEET",
            ));
        }
    }
    let limit = fleet::limit(args.limit.as_deref())?;
    let reach = Reach::resolve(
        args.ssh_user.as_deref(),
        args.ssh_key.as_deref(),
        args.known_hosts.as_deref(),
        sources,
    )?;
    Ok((limit, reach))
}

pub(super) fn checks(args: &DoctorArgs, sources: &Sources) -> anyhow::Result<Vec<Finding>> {
    let (limit, reach) = validate(args, sources)?;
    let mut out = vec![ansible_playbook()];
    let (what, path) = match fleet::inventory_path(args.inventory.as_deref(), sources) {
        Ok(p) => p,
        Err(e) => {
            out.push(finding(
                "inventory",
                Level::Fail,
                format!("{e}"),
                "name the fleet's Ansible inventory: --inventory FILE, ANSIBLE_INVENTORY, or fleet.inventory in the config file",
            ));
            return Ok(out);
        }
    };
    let hosts = match fleet::read_inventory(&what, &path, limit.as_deref()) {
        Ok(h) => {
            out.push(finding(
                "inventory",
                Level::Ok,
                format!(
                    "{path}: {} hosts{}",
                    h.len(),
                    limit
                        .as_deref()
                        .map(|l| format!(" (--limit {l})"))
                        .unwrap_or_default()
                ),
                "",
            ));
            h
        }
        Err(e) => {
            out.push(finding(
                "inventory",
                Level::Fail,
                format!("{e}"),
                "`ansible-inventory -i FILE --list` shows what Ansible makes of it",
            ));
            return Ok(out);
        }
    };
    let mut devices: Vec<FleetDevice> = Vec::new();
    for h in &hosts {
        let check = crate::plan::name(format!("host {}", h.name));
        match fleet::device_of(h, &reach, sources) {
            Ok(d) => {
                out.push(finding(
                    check,
                    Level::Ok,
                    format!(
                        "{}, key {}",
                        d.address,
                        d.key
                            .as_ref()
                            .map_or("(ssh's own keys and agent)".to_string(), |k| k.to_string())
                    ),
                    "",
                ));
                devices.push(d);
            }
            Err(e) => out.push(finding(
                check,
                Level::Fail,
                format!("{e}"),
                "set the host's ansible_host, ansible_user, ansible_port and ansible_ssh_private_key_file (a private key, mode 600)",
            )),
        }
    }
    out.extend(answers(&devices, &reach));
    Ok(out)
}

/// `ansible-playbook --version`: there, and which.
fn ansible_playbook() -> Finding {
    let fix = "install ansible-core: `pip install ansible-core` (scripts/test.sh installs the version the tests run, 2.19) or `sudo dnf install ansible-core`";
    match output("ansible-playbook", &["--version"]) {
        Some(o) if o.status.success() => finding(
            "ansible-playbook",
            Level::Ok,
            stdout_of(&o)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string(),
            "",
        ),
        Some(o) => finding(
            "ansible-playbook",
            Level::Fail,
            format!(
                "`ansible-playbook --version` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            fix,
        ),
        None => finding(
            "ansible-playbook",
            Level::Fail,
            "ansible-playbook is not installed",
            fix,
        ),
    }
}

/// Each device asked over ssh (`true`, through sudo as the commands of `upgrade` run),
/// [`AT_ONCE`] at a time; a finding each, in the inventory's order.
fn answers(devices: &[FleetDevice], reach: &Reach) -> Vec<Finding> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let found: std::sync::Mutex<Vec<(usize, Finding)>> = Default::default();
    std::thread::scope(|scope| {
        for _ in 0..AT_ONCE.min(devices.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(d) = devices.get(i) else {
                    return;
                };
                let f = answer(d, reach);
                if let Ok(mut all) = found.lock() {
                    all.push((i, f));
                }
            });
        }
    });
    let mut all = found.into_inner().unwrap_or_default();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, f)| f).collect()
}

fn answer(d: &FleetDevice, reach: &Reach) -> Finding {
    let check = crate::plan::name(format!("ssh {}", d.name));
    let device = match d.device(reach) {
        Ok(dev) => dev,
        Err(e) => return finding(check, Level::Fail, format!("{e}"), ""),
    };
    let (program, args) = device.command_now(None, &["true"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    match output(&program, &refs) {
        Some(o) if o.status.success() => finding(
            check,
            Level::Ok,
            format!("{} answers over ssh", d.address),
            "",
        ),
        Some(o) => Finding {
            check,
            ..super::device::unreachable(&device, &String::from_utf8_lossy(&o.stderr))
        },
        None => finding(
            check,
            Level::Fail,
            "ssh is not installed on this host",
            super::probe::install_hint("openssh-client", "openssh-clients"),
        ),
    }
}
