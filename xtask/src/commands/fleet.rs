//! What `rollout` and `doctor --for rollout` share: the user's Ansible inventory read with
//! `ansible-inventory --list` (never a parser of ours), each host's device (address, user,
//! port and key from the usual `ansible_*` variables) checked as `upgrade` checks a device,
//! and the image pinned once: the digest of its list and of each architecture's image.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use super::lifecycle::Wanted;
use crate::config::{Origin, Picked, Sources};
use crate::fleet::inventory::{self, Host};
use crate::inputs;
use crate::validate::{self, bad};

/// Ansible fails on an inventory it cannot parse, instead of warning and going on with none.
pub const STRICT_INVENTORY: (&str, &str) = ("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true");

/// The inventory file (or directory) the flags name, checked: it exists, and its path is
/// one Ansible reads as a path (a comma makes `-i` a list of hosts).
pub fn inventory_path(
    flag: Option<&str>,
    sources: &Sources,
) -> anyhow::Result<(String, Utf8PathBuf)> {
    let picked = sources.get(&inputs::FLEET_INVENTORY, flag)?;
    let path = sources.path(&picked)?;
    if path.as_str().contains(',') {
        return Err(bad(
            &picked.what,
            &picked.value,
            "holds a comma: Ansible reads `-i a,b` as a list of hosts; give one inventory file or directory",
        ));
    }
    if !path.exists() {
        return Err(bad(&picked.what, path.as_str(), "does not exist"));
    }
    Ok((picked.what, path))
}

/// `--limit`: an Ansible host pattern, never anything ansible could read as an option.
pub fn limit(flag: Option<&str>) -> anyhow::Result<Option<String>> {
    match flag {
        None => Ok(None),
        Some(p) if p.is_empty() || p.starts_with('-') || p.chars().any(char::is_whitespace) => {
            Err(bad(
                "--limit",
                p,
                "not an Ansible host pattern (a host, a group, `web*`, `edge:!lab`)",
            ))
        }
        Some(p) => Ok(Some(p.to_string())),
    }
}

/// The arguments of `ansible-inventory` that read the inventory.
pub fn inventory_args(path: &Utf8Path, limit: Option<&str>) -> Vec<String> {
    let mut a = vec!["-i".to_string(), path.to_string(), "--list".to_string()];
    if let Some(l) = limit {
        a.extend(["--limit".to_string(), l.to_string()]);
    }
    a
}

/// The inventory's hosts (sorted by name), read with `ansible-inventory --list`: a bad
/// inventory, or a `--limit` that matches nothing, is bad input naming it.
pub fn read_inventory(
    what: &str,
    path: &Utf8Path,
    limit: Option<&str>,
) -> anyhow::Result<Vec<Host>> {
    let args = inventory_args(path, limit);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(out) = crate::exec::ask_env("ansible-inventory", &refs, &[STRICT_INVENTORY]) else {
        return Err(validate::refuse(
            "ansible-inventory is not installed: rollout hands the waves to Ansible; install ansible-core (`pip install ansible-core`, or `sudo dnf install ansible-core`); `cargo xtask doctor --for rollout` checks",
        ));
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Ansible's own words: the first line that says what is wrong
        let why = stderr
            .lines()
            .map(str::trim)
            .map(|l| {
                l.trim_start_matches("[WARNING]: ")
                    .trim_start_matches("[ERROR]: ")
            })
            .find(|l| !l.is_empty())
            .unwrap_or("ansible-inventory failed");
        return Err(bad(
            what,
            path.as_str(),
            format!(
                "ansible-inventory cannot read it: {}",
                validate::escape_controls(why)
            ),
        ));
    }
    let doc: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        bad(
            what,
            path.as_str(),
            format!("ansible-inventory printed no JSON: {e}"),
        )
    })?;
    let hosts = inventory::hosts(&doc).map_err(|e| bad(what, path.as_str(), e))?;
    if hosts.is_empty() {
        return Err(match limit {
            Some(l) => bad("--limit", l, format!("matches no host of {path}")),
            None => bad(what, path.as_str(), "has no hosts"),
        });
    }
    Ok(hosts)
}

/// How a device of the fleet is reached when its host variables do not say: the user, the
/// key (`--ssh-user`, `--ssh-key` and their config keys), the known-hosts file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reach {
    pub user: String,
    pub key: Option<Utf8PathBuf>,
    pub known_hosts: Option<Utf8PathBuf>,
}

impl Reach {
    pub fn resolve(
        user: Option<&str>,
        key: Option<&str>,
        known_hosts: Option<&str>,
        sources: &Sources,
    ) -> anyhow::Result<Reach> {
        let u = sources.get(&inputs::SSH_USER, user)?;
        let user = validate::simple_name(&u.what, &u.value)?;
        let key = match sources.value(&inputs::DEVICE_SSH_KEY, key)? {
            Some(p) => Some(ssh_key(&p, sources)?),
            None => None,
        };
        let known_hosts = match sources.value(&inputs::KNOWN_HOSTS, known_hosts)? {
            Some(p) => {
                let path = sources.path(&p)?;
                crate::reach::ssh_path(&p.what, &path)?;
                Some(path)
            }
            None => None,
        };
        Ok(Reach {
            user,
            key,
            known_hosts,
        })
    }
}

/// A private key's path, checked as `upgrade` checks `--ssh-key`: a private key ssh reads,
/// its owner's only, a path ssh's options can hold.
fn ssh_key(picked: &Picked, sources: &Sources) -> anyhow::Result<Utf8PathBuf> {
    let path = sources.path(picked)?;
    crate::reach::private_key(&picked.what, &path)?;
    crate::reach::ssh_path(&picked.what, &path)?;
    Ok(path)
}

/// A device of the fleet: its inventory name, how `upgrade --host` reaches it, its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetDevice {
    pub name: String,
    /// `USER@HOST[:PORT]`, as `upgrade --host` takes it.
    pub address: String,
    pub key: Option<Utf8PathBuf>,
}

impl FleetDevice {
    /// `upgrade`'s arguments that name this device.
    pub fn upgrade_args(&self) -> Vec<String> {
        let mut a = vec!["--host".to_string(), self.address.clone()];
        if let Some(k) = &self.key {
            a.extend(["--ssh-key".to_string(), k.to_string()]);
        }
        a
    }

    /// A [`crate::reach::Device`] for a read-only question now (doctor's ssh probe).
    pub fn device(&self, reach: &Reach) -> anyhow::Result<crate::reach::Device> {
        let (user, host, port) = crate::reach::parse_host("--host", &self.address)?;
        Ok(crate::reach::Device {
            target: crate::reach::Target::Host { host, port },
            user: user.unwrap_or_else(|| reach.user.clone()),
            identity: self.key.clone(),
            known_hosts: reach.known_hosts.clone(),
            cap_s: None,
        })
    }
}

/// A host's device from its variables (`ansible_host`, `ansible_user`, `ansible_port`,
/// `ansible_ssh_private_key_file`, or their `ansible_ssh_*` / `ansible_private_key_file`
/// names), checked as `upgrade` checks `--host` and `--ssh-key`.
pub fn device_of(host: &Host, reach: &Reach, sources: &Sources) -> anyhow::Result<FleetDevice> {
    let name = &host.name;
    let what = |var: &str| format!("--inventory: host {name}: {var}");
    validate::simple_name(&format!("--inventory: host {name}"), name).map_err(|_| {
        bad(
            "--inventory",
            name,
            "an inventory host name the tool uses in file names: letters, digits, '_', '.' and '-' (give the address in ansible_host)",
        )
    })?;
    // a variable's text: a string (or a number), never a template the tool would not expand
    let var = |names: &[&'static str]| -> anyhow::Result<Option<(&'static str, String)>> {
        for n in names {
            match host.vars.get(*n) {
                None => continue,
                Some(Value::String(s)) if s.contains("{{") || s.contains("{%") => {
                    return Err(bad(
                        &what(n),
                        s,
                        "is a Jinja template: the tool reads the inventory as data (ansible-inventory --list); give the value itself",
                    ))
                }
                Some(Value::String(s)) => return Ok(Some((n, s.clone()))),
                Some(Value::Number(x)) => return Ok(Some((n, x.to_string()))),
                Some(Value::Null) => return Ok(Some((n, String::new()))),
                Some(other) => {
                    return Err(bad(&what(n), &other.to_string(), "must be a string"))
                }
            }
        }
        Ok(None)
    };
    let address = match var(&["ansible_host", "ansible_ssh_host"])? {
        Some((n, a)) if a.trim().is_empty() => {
            return Err(bad(
                &what(n),
                &a,
                "the host has no address: give ansible_host its address or name",
            ))
        }
        Some((_, a)) => a,
        // as Ansible does: the inventory name is the address
        None => name.clone(),
    };
    let address = if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]")
    } else {
        address
    };
    let user = match var(&["ansible_user", "ansible_ssh_user"])? {
        Some((n, u)) => validate::simple_name(&what(n), &u)?,
        None => reach.user.clone(),
    };
    let port = match var(&["ansible_port", "ansible_ssh_port"])? {
        Some((n, p)) => {
            let port = validate::count(&what(n), &p, 1, 65535)?;
            format!(":{port}")
        }
        None => String::new(),
    };
    let full = format!("{user}@{address}{port}");
    crate::reach::parse_host(&format!("--inventory: host {name}"), &full)?;
    let key = match var(&["ansible_ssh_private_key_file", "ansible_private_key_file"])? {
        Some((n, k)) => {
            let picked = Picked {
                value: k,
                what: what(n),
                origin: Origin::Flag,
            };
            Some(ssh_key(&picked, sources)?)
        }
        None => reach.key.clone(),
    };
    Ok(FleetDevice {
        name: name.clone(),
        address: full,
        key,
    })
}

/// The image pinned once, at the start: the digest of the list the reference names now,
/// and of each architecture's image in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    /// As given (a tag or a digest).
    pub given: String,
    /// `REPO@sha256:...`: what every device is given.
    pub reference: String,
    /// The list's digest (or the image's, for a single image).
    pub digest: String,
    /// Each architecture's image digest (`amd64`, `sha256:...`).
    pub members: Vec<(String, String)>,
    /// A list (not a single image).
    pub list: bool,
}

impl Pinned {
    /// The pin as the printed plans say it first: `pinned at the start: REF (a list: amd64
    /// sha256:..., ...), read from GIVEN with skopeo`.
    pub fn said(&self) -> String {
        let digests: Vec<String> = self
            .members
            .iter()
            .map(|(a, d)| format!("{a} {d}"))
            .collect();
        format!(
            "pinned at the start: {} ({}{}), read from {} with skopeo",
            self.reference,
            if self.list { "a list: " } else { "one image: " },
            digests.join(", "),
            self.given
        )
    }

    /// The pin as the plans' facts give it (`facts.image` of `--json`).
    pub fn facts(&self) -> serde_json::Value {
        serde_json::json!({
            "given": self.given,
            "pinned": self.reference,
            "digest": self.digest,
            "list": self.list,
            "digests": self.digests_json(),
        })
    }

    /// Each architecture's digest, as the `--json` documents give them.
    pub fn digests_json(&self) -> serde_json::Map<String, serde_json::Value> {
        crate::fleet::digests_json(&self.members)
    }
}

/// skopeo's words for a failed question: its last line.
fn last_line(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    validate::escape_controls(
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("skopeo failed")
            .trim(),
    )
}

/// Read the image's list from its registry now (`skopeo inspect --raw`, as `upgrade` does)
/// and pin it: its digest is the SHA-256 of the bytes served, each architecture's digest
/// its entry. A single image (not a list) is refused.
pub fn pin(wanted: &Wanted) -> anyhow::Result<Pinned> {
    let skopeo = |extra: &[&str], reference: &str| -> anyhow::Result<std::process::Output> {
        let a = wanted.inspect_args(extra, reference);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = crate::exec::ask("skopeo", &refs, false).ok_or_else(|| {
            validate::refuse(
                "skopeo is not installed: rollout reads the image's list with it (as upgrade does)",
            )
        })?;
        if !out.status.success() {
            return Err(crate::error::StepFailed::error(format!(
                "cannot read {reference} from its registry to pin it: {}\nhint: is it pushed (`cargo xtask release`), and does the registry's auth file (--auth-config) hold its credentials?",
                last_line(&out)
            )));
        }
        Ok(out)
    };
    let out = skopeo(&["--raw"], &wanted.reference)?;
    let digest = crate::digest::digest(&out.stdout);
    if let Some(p) = &wanted.pinned {
        if *p != digest {
            return Err(crate::error::StepFailed::error(format!(
                "the registry served {digest} for {}: not the digest named",
                wanted.reference
            )));
        }
    }
    let doc: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        crate::error::StepFailed::error(format!(
            "{}: the registry served no manifest (JSON): {e}",
            wanted.reference
        ))
    })?;
    let reference = format!("{}@{digest}", wanted.repository);
    let (members, list) = match doc.get("manifests").and_then(Value::as_array) {
        Some(entries) => {
            let mut members: Vec<(String, String)> = Vec::new();
            for e in entries {
                let (Some(arch), Some(d)) = (
                    e.pointer("/platform/architecture").and_then(Value::as_str),
                    e.get("digest").and_then(Value::as_str),
                ) else {
                    continue;
                };
                // attestations and the like are no image to boot
                if arch == "unknown" || !validate::is_digest(d) {
                    continue;
                }
                if !members.iter().any(|(a, _)| a == arch) {
                    members.push((arch.to_string(), d.to_string()));
                }
            }
            (members, true)
        }
        // One image, of one architecture: `upgrade` takes a single image as it is given, and
        // a device of another architecture would be switched to it (and rebooted into an
        // image that cannot boot there). Which architectures the fleet has is known only as
        // each wave runs: refused before anything runs.
        None => {
            let arch = skopeo(&["--config"], &reference)
                .ok()
                .and_then(|c| serde_json::from_slice::<Value>(&c.stdout).ok())
                .and_then(|c| {
                    c.get("architecture")
                        .and_then(Value::as_str)
                        .map(crate::validate::escape_controls)
                })
                .unwrap_or_else(|| "its architecture unread".to_string());
            return Err(bad(
                "--image",
                &wanted.reference,
                format!(
                    "names one image ({arch}), not a manifest list: every device is given the list's entry for its own architecture, and a device of another architecture would be switched to this image; give the release's list (`cargo xtask release` pushes one, also for a single architecture)"
                ),
            ));
        }
    };
    if members.is_empty() || members.iter().any(|(a, _)| a.is_empty()) {
        return Err(crate::error::StepFailed::error(format!(
            "{} names no image of any architecture: nothing to roll out",
            wanted.reference
        )));
    }
    Ok(Pinned {
        given: wanted.reference.clone(),
        reference,
        digest,
        members,
        list,
    })
}
