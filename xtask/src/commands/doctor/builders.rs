//! `doctor --for release`: each remote builder reachable, its podman's version and
//! architecture (another architecture than its lane's builds under emulation), and the free
//! space of its storage.

use super::{finding, Finding, Level};
use crate::builder::Builder;
use crate::config::Sources;

/// Free space a builder's storage should have: a RHEL bootc image with MicroShift, its
/// layers and the build's working copies.
const MIN_FREE: u64 = 10 << 30;

fn podman(builder: &Builder, args: &[&str]) -> Result<serde_json::Value, String> {
    let reach = builder.args();
    let mut all: Vec<&str> = reach.iter().map(String::as_str).collect();
    all.extend_from_slice(args);
    let out = crate::exec::ask("podman", &all, false)
        .ok_or_else(|| "podman: could not be started".to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(crate::validate::escape_controls(last.trim()));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("podman printed no JSON ({e})"))
}

pub fn checks(builders: &[Builder]) -> Vec<Finding> {
    let mut out = Vec::new();
    if builders.is_empty() {
        out.push(finding(
            "builders",
            Level::Ok,
            "no remote builder: every lane builds here",
            "",
        ));
    }
    for b in builders {
        let name = b.describe();
        // a connection name is podman's own: its URL refused as `--builder` refuses it
        if let crate::builder::Target::Connection(n) = &b.target {
            let list = crate::exec::ask(
                "podman",
                &["system", "connection", "list", "--format", "json"],
                false,
            );
            if let Some(uri) = list.and_then(|o| tcp_elsewhere(&o.stdout, n)) {
                out.push(finding(
                    "builder",
                    Level::Fail,
                    format!(
                        "{} lane: podman connection {n} is {}: {}",
                        b.arch,
                        crate::validate::escape_controls(&uri),
                        crate::builder::TCP_REFUSED
                    ),
                    format!("`podman system connection add {n} ssh://USER@HOST/run/podman/podman.sock` (after `podman system connection remove {n}`)"),
                ));
                continue;
            }
        }
        let version = match podman(b, &["version", "--format", "json"]) {
            Ok(v) => v,
            Err(e) => {
                out.push(finding(
                    "builder",
                    Level::Fail,
                    format!("{} lane: {name} cannot be reached: {e}", b.arch),
                    match &b.target {
                        crate::builder::Target::Url(u) if u.starts_with("ssh://") => "on the builder: `systemctl enable --now podman.socket` (as the user the URL names, or root for /run/podman/podman.sock); here: an ssh key the builder accepts (`podman system connection add --identity KEY NAME URL`)".to_string(),
                        crate::builder::Target::Url(_) => "start the service: `systemctl enable --now podman.socket`, or `podman system service --time=0 URL`".to_string(),
                        crate::builder::Target::Connection(n) => format!("`podman system connection list` names the connections; `podman system connection add {n} ssh://USER@HOST/run/user/UID/podman/podman.sock` adds one"),
                    },
                ));
                continue;
            }
        };
        let server = version["Server"]["Version"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        out.push(finding(
            "builder",
            Level::Ok,
            format!("{} lane: {name}, podman {server}", b.arch),
            "",
        ));
        let info = match podman(b, &["info", "--format", "json"]) {
            Ok(i) => i,
            Err(e) => {
                out.push(finding(
                    "builder-info",
                    Level::Fail,
                    format!("{name}: podman info failed: {e}"),
                    "",
                ));
                continue;
            }
        };
        let arch = info["host"]["arch"].as_str().unwrap_or("?");
        out.push(if arch == b.arch.oci() {
            finding("builder-arch", Level::Ok, format!("{name} is {arch}: the {} lane builds natively", b.arch), "")
        } else {
            finding(
                "builder-arch",
                Level::Warn,
                format!("{name} is {arch}, not {}: the lane builds under emulation (several times slower)", b.arch),
                format!("give the {} lane a {} builder, or leave it out to build here", b.arch, b.arch),
            )
        });
        let store = &info["store"];
        let allocated = store["graphRootAllocated"].as_u64();
        let used = store["graphRootUsed"].as_u64();
        let root = store["graphRoot"].as_str().unwrap_or("?");
        out.push(match (allocated, used) {
            (Some(a), Some(u)) if a.saturating_sub(u) < MIN_FREE => finding(
                "builder-space",
                Level::Warn,
                format!("{name}: {} free in {root}", crate::validate::human(a.saturating_sub(u))),
                format!("a MicroShift image build wants {} or more: `podman system prune` on the builder", crate::validate::human(MIN_FREE)),
            ),
            (Some(a), Some(u)) => finding(
                "builder-space",
                Level::Ok,
                format!("{name}: {} free in {root}", crate::validate::human(a.saturating_sub(u))),
                "",
            ),
            _ => finding("builder-space", Level::Warn, format!("{name}: podman info says nothing of its storage's size"), ""),
        });
    }
    out
}

/// The URL of connection `name` in `podman system connection list --format json` output,
/// when it is `tcp://` to another machine than this one.
fn tcp_elsewhere(list: &[u8], name: &str) -> Option<String> {
    let list: serde_json::Value = serde_json::from_slice(list).ok()?;
    let uri = crate::builder::connection(&list, name)?;
    crate::builder::tcp_elsewhere(uri).then(|| uri.to_string())
}

/// The builders the release would use.
pub fn resolve(
    args: &crate::builder::BuilderArgs,
    sources: &Sources,
) -> anyhow::Result<Vec<Builder>> {
    let (what, raw) = sources.list(&crate::inputs::ARCHITECTURES, &[])?;
    let mut archs = Vec::new();
    for a in &raw {
        archs.push(crate::arch::Arch::parse(&what, a.trim())?);
    }
    crate::builder::resolve(args, sources, &archs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_connections_to_other_hosts() {
        // as podman 4.3 prints it
        let list = br#"[{"Name":"far","URI":"tcp://10.0.0.5:8888","Identity":"","IsMachine":false,"Default":true},
            {"Name":"tunnel","URI":"tcp://127.0.0.1:8888","Identity":"","IsMachine":false,"Default":false},
            {"Name":"arm","URI":"ssh://core@arm-1:22/run/podman/podman.sock","Identity":"/k","IsMachine":false,"Default":false}]"#;
        assert_eq!(
            tcp_elsewhere(list, "far").as_deref(),
            Some("tcp://10.0.0.5:8888")
        );
        assert_eq!(tcp_elsewhere(list, "tunnel"), None);
        assert_eq!(tcp_elsewhere(list, "arm"), None);
        assert_eq!(tcp_elsewhere(list, "none"), None);
        assert_eq!(tcp_elsewhere(b"not json", "far"), None);
    }
}
