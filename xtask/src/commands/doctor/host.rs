//! The host's checks, one function each: tools, privileges, auth files, repositories, space,
//! emulation, kernel modules, volume groups, libvirt, the boot ISO.

use camino::Utf8PathBuf;

use super::probe::*;
use super::{finding, Finding, Level};
use crate::arch::Arch;
use crate::config::Sources;
use crate::inputs;
use crate::secrets;
use crate::validate;

/// `podman --version` and whether it parses Containerfile heredocs (podman 4.8+).
pub(super) fn podman() -> Finding {
    let Some(o) = output("podman", &["--version"]) else {
        return finding(
            "podman",
            Level::Fail,
            "not installed",
            install_hint("podman", "podman"),
        );
    };
    let text = stdout_of(&o);
    let version = text.split_whitespace().last().unwrap_or("").to_string();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if major < 4 {
        return finding(
            "podman",
            Level::Fail,
            format!("podman {version}"),
            "podman 4 or later is needed (manifest lists, build secrets)",
        );
    }
    let heredoc = (major, minor) >= (4, 8);
    finding(
        "podman",
        Level::Ok,
        format!(
            "podman {version}; Containerfile heredocs {}",
            if heredoc {
                "supported"
            } else {
                "NOT supported (needs 4.8): keep Containerfiles heredoc-free"
            }
        ),
        "",
    )
}

pub(super) fn tool(
    check: &'static str,
    program: &str,
    args: &[&str],
    deb: &str,
    rpm: &str,
) -> Finding {
    match output(program, args) {
        None => finding(check, Level::Fail, "not installed", install_hint(deb, rpm)),
        Some(o) => {
            let text = stdout_of(&o);
            finding(
                check,
                Level::Ok,
                text.lines().next().unwrap_or("").trim().to_string(),
                "",
            )
        }
    }
}

pub(super) fn privileges(sources: &Sources) -> Finding {
    if sources.as_root {
        return finding("root", Level::Ok, "running as root", "");
    }
    match output("sudo", &["-n", "true"]) {
        None => finding(
            "root",
            Level::Fail,
            "not root, and no sudo",
            "run as root, or install sudo and give this user sudo rights",
        ),
        Some(o) if o.status.success() => {
            finding("root", Level::Ok, "sudo works without a password", "")
        }
        Some(_) => finding(
            "root",
            Level::Warn,
            "sudo needs a password",
            "commands that need root will ask for it (or run as root)",
        ),
    }
}

/// An auth file (pull secret or registry auth): exists, JSON, `auths`, an entry for `registry`,
/// mode 600 or tighter.
pub(super) fn auth_file(
    check: &'static str,
    what: &str,
    path: Option<Utf8PathBuf>,
    registry: Option<&str>,
    missing_fix: &str,
) -> Finding {
    let Some(path) = path else {
        return finding(
            check,
            Level::Fail,
            format!("no {what} configured"),
            missing_fix,
        );
    };
    if !path.exists() {
        return finding(
            check,
            Level::Fail,
            format!("{path} does not exist"),
            missing_fix,
        );
    }
    let doc = match secrets::auth_json(what, &path) {
        Ok((_, doc)) => doc,
        Err(e) => {
            return finding(
                check,
                Level::Fail,
                format!("{e}"),
                format!("fix or replace {path}"),
            )
        }
    };
    let registries = secrets::auth_registries(&doc);
    let Some(registry) = registry else {
        // nothing configured names the registry: the file is checked, not its entries
        return match mode_note(&path) {
            Some(note) => finding(check, Level::Warn, format!("{path}: {note}"), format!("chmod 600 {path}")),
            None => finding(
                check,
                Level::Ok,
                format!("{path}: valid, mode 600 (no registry configured: its entries were not checked)"),
                "",
            ),
        };
    };
    let local = registry == "localhost";
    if !local
        && !registries
            .iter()
            .any(|r| r == registry || r.starts_with(&format!("{registry}/")))
    {
        return finding(
            check,
            Level::Fail,
            format!(
                "{path} has no entry for {registry} (it has: {})",
                if registries.is_empty() {
                    "none".to_string()
                } else {
                    registries.join(", ")
                }
            ),
            missing_fix,
        );
    }
    match mode_note(&path) {
        Some(note) => finding(
            check,
            Level::Warn,
            format!("{path}: {note}"),
            format!("chmod 600 {path}"),
        ),
        None if local => finding(
            check,
            Level::Ok,
            format!("{path}: valid, mode 600 (the base image is local)"),
            "",
        ),
        None => finding(
            check,
            Level::Ok,
            format!("{path}: entry for {registry}, mode 600"),
            "",
        ),
    }
}

pub(super) fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (get("ID"), get("VERSION_ID"))
}

pub(super) fn rhel_repos(version: Option<&str>) -> Finding {
    let (id, ver) = os_release();
    if id != "rhel" {
        return finding(
            "rhel-repos",
            Level::Warn,
            format!("not a RHEL host ({} {ver})", if id.is_empty() { "unknown" } else { &id }),
            "the MicroShift image builds on a subscribed RHEL 9 host; elsewhere only test images build (scripts/testbed.sh)",
        );
    }
    match output("subscription-manager", &["status"]) {
        Some(o) if o.status.success() => {}
        _ => {
            return finding(
                "rhel-repos",
                Level::Fail,
                "the host is not subscribed",
                "`sudo subscription-manager register`, then attach a subscription with OpenShift",
            )
        }
    }
    let Some(version) = version else {
        return finding(
            "rhel-repos",
            Level::Warn,
            format!("RHEL {ver}, subscribed; no MicroShift version is configured, so its repositories were not checked"),
            "set microshift_version (or --microshift-version when building)",
        );
    };
    let arch = std::env::consts::ARCH;
    let wanted = [
        format!("rhocp-{version}-for-rhel-9-{arch}-rpms"),
        format!("fast-datapath-for-rhel-9-{arch}-rpms"),
    ];
    let listed = output("dnf", &["repolist", "--all"])
        .map(|o| stdout_of(&o))
        .unwrap_or_default();
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|r| !listed.contains(r.as_str()))
        .collect();
    if missing.is_empty() {
        finding(
            "rhel-repos",
            Level::Ok,
            format!("RHEL {ver}, subscribed; {} available", wanted.join(", ")),
            "",
        )
    } else {
        finding(
            "rhel-repos",
            Level::Fail,
            format!("RHEL {ver}: the subscription gives no {}", missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
            "the build enables these repositories inside the image: the host subscription must include them (they need not be enabled on the host)",
        )
    }
}

pub(super) fn disk(sources: &Sources) -> Finding {
    let (dir, free) = free_space(graph_root(sources));
    let avail = match free {
        Free::NoDf => {
            return finding(
                "disk",
                Level::Warn,
                "df is not available",
                "check free space by hand: the image needs about 2.5 GB",
            )
        }
        Free::Unreadable => None,
        Free::Bytes(b) => Some(b),
    };
    match avail {
        None => finding(
            "disk",
            Level::Warn,
            format!("could not read free space of {dir}"),
            "check free space by hand: the image needs about 2.5 GB",
        ),
        Some(b) if b < 2_500_000_000 => finding(
            "disk",
            Level::Fail,
            format!("{} free at {dir}", validate::human(b)),
            "a MicroShift image needs about 2.5 GB: free space or move podman's storage",
        ),
        Some(b) if b < 5_000_000_000 => finding(
            "disk",
            Level::Warn,
            format!("{} free at {dir}", validate::human(b)),
            "enough for one image (~2.5 GB), not for several",
        ),
        Some(b) => finding(
            "disk",
            Level::Ok,
            format!("{} free at {dir}", validate::human(b)),
            "",
        ),
    }
}

/// binfmt_misc registrations for the other architectures of the manifest list.
/// `disk`: the builder image is there or reachable with the pull secret, the host has loop
/// devices (the builder partitions through them), the output directory has the space.
pub(super) fn disk_builder(
    sources: &Sources,
    flag: Option<&str>,
    pull_secret: Option<&Utf8PathBuf>,
) -> anyhow::Result<Vec<Finding>> {
    let builder = sources.get(&inputs::DISK_BUILDER, flag)?.value;
    let mut out = Vec::new();
    out.push(if local_image(&builder) {
        finding("builder", Level::Ok, format!("{builder} is in the local storage"), "")
    } else {
        match remote_manifest(sources, pull_secret, &builder) {
            Some(Ok(_)) => {
                finding("builder", Level::Ok, format!("{builder} is reachable with the pull secret"), "")
            }
            Some(Err(why)) => finding(
                "builder",
                Level::Fail,
                format!("{builder}: {why}"),
                "the pull secret must hold credentials for its registry (registry.redhat.io for Red Hat's builder); or set disk.builder / --builder to a builder you can pull",
            ),
            None => finding("builder", Level::Warn, "skopeo is not installed: the builder image was not checked", install_hint("skopeo", "skopeo")),
        }
    });
    out.push(if std::path::Path::new("/dev/loop-control").exists() {
        finding("loop-devices", Level::Ok, "/dev/loop-control is there", "")
    } else {
        finding(
            "loop-devices",
            Level::Fail,
            "no /dev/loop-control: the builder partitions the disk through loop devices",
            "`sudo modprobe loop`, or run the builder on a host (not a container) that has them",
        )
    });
    let out_dir = sources.path(&sources.get(&inputs::DISK_OUTPUT, None)?)?;
    let (dir, free) = free_space(out_dir);
    let need = sources.get(&inputs::DISK_MIN_FREE, None)?;
    let need = validate::size(&need.what, &need.value, 0)?;
    let avail = match free {
        Free::Bytes(b) => Some(b),
        Free::NoDf | Free::Unreadable => None,
    };
    out.push(match avail {
        Some(b) if b >= need => finding("disk-space", Level::Ok, format!("{} free at {dir}", validate::human(b)), ""),
        Some(b) => finding(
            "disk-space",
            Level::Fail,
            format!("{} free at {dir}, {} wanted", validate::human(b), validate::human(need)),
            "disk images need several times the image size: free space, or set disk.output / --output elsewhere",
        ),
        None => finding("disk-space", Level::Warn, format!("could not read the free space of {dir}"), "check it by hand"),
    });
    Ok(out)
}

/// The architectures `manifest` and `release` build (`architectures`) that are not this
/// host's.
pub(super) fn foreign_archs(sources: &Sources) -> anyhow::Result<Vec<Arch>> {
    let native = Arch::native();
    let (what, listed) = sources.list(&inputs::ARCHITECTURES, &[])?;
    let mut out = Vec::new();
    for a in &listed {
        let arch = Arch::parse(&what, a.trim())?;
        if Some(arch) != native && !out.contains(&arch) {
            out.push(arch);
        }
    }
    Ok(out)
}

pub(super) fn emulation(foreign: &[Arch]) -> Vec<Finding> {
    foreign
        .iter()
        .copied()
        .map(|a| {
            let entry = format!("/proc/sys/fs/binfmt_misc/qemu-{}", a.uname());
            match std::fs::read_to_string(&entry) {
                Ok(text) if text.lines().next() == Some("enabled") => finding("emulation", Level::Ok, format!("{a} binaries run through {entry}"), ""),
                Ok(_) => finding("emulation", Level::Fail, format!("{entry} is disabled"), format!("echo 1 > {entry}")),
                Err(_) => finding(
                    "emulation",
                    Level::Fail,
                    format!("no emulation for {a}: `build --arch {a}` fails on this host"),
                    format!(
                        "install qemu-user-static, then register it: `sudo /lib/systemd/systemd-binfmt /usr/lib/binfmt.d/qemu-{}.conf` (mount binfmt_misc first if /proc/sys/fs/binfmt_misc is empty); or build {a} on a native host",
                        a.uname()
                    ),
                ),
            }
        })
        .collect()
}

pub(super) fn openvswitch(sources: &Sources) -> Finding {
    if std::path::Path::new("/sys/module/openvswitch").exists() {
        return finding(
            "openvswitch",
            Level::Ok,
            "the openvswitch module is loaded",
            "",
        );
    }
    match output("modprobe", &["-n", "-q", "openvswitch"]) {
        Some(o) if o.status.success() => finding("openvswitch", Level::Ok, "the openvswitch module can be loaded (`run` loads it)", ""),
        Some(_) => finding(
            "openvswitch",
            Level::Fail,
            format!("kernel {} has no openvswitch module", sources.host_kernel),
            "install the kernel's extra modules (RHEL: kernel-modules-extra) or boot a kernel with it; a bootc container runs the host kernel, so ovnkube pods fail without it",
        ),
        None => finding("openvswitch", Level::Fail, "modprobe is not installed", install_hint("kmod", "kmod")),
    }
}

pub(super) fn volume_group(name: &str) -> Finding {
    let Some(o) = output("vgs", &crate::inspect::VGS_ARGS) else {
        return finding(
            "volume-group",
            Level::Fail,
            "lvm2 is not installed",
            install_hint("lvm2", "lvm2"),
        );
    };
    if !o.status.success() {
        return finding(
            "volume-group",
            Level::Fail,
            "vgs failed (not root?)",
            "run doctor as root",
        );
    }
    match crate::inspect::volume_group(&stdout_of(&o), name, "") {
        Ok(v) => finding(
            "volume-group",
            Level::Ok,
            format!(
                "{name}: {} free",
                validate::human(v["free"].as_u64().unwrap_or(0))
            ),
            "",
        ),
        Err(e) => finding(
            "volume-group",
            Level::Fail,
            format!("{e:#}")
                .trim_end()
                .trim_end_matches('.')
                .to_string(),
            "`cargo xtask run --lvm-loop 1G` creates one on a loop device",
        ),
    }
}

pub(super) fn libvirt(uri: &str, network: &str) -> Vec<Finding> {
    let mut out = vec![
        tool(
            "virt-install",
            "virt-install",
            &["--version"],
            "virtinst",
            "virt-install",
        ),
        tool("cpio", "cpio", &["--version"], "cpio", "cpio"),
    ];
    match output("virsh", &["--connect", uri, "uri"]) {
        None => out.push(finding(
            "libvirt",
            Level::Fail,
            "virsh is not installed",
            install_hint("libvirt-clients", "libvirt-client"),
        )),
        Some(o) if o.status.success() => out.push(finding(
            "libvirt",
            Level::Ok,
            format!("connected to {uri}"),
            "",
        )),
        Some(o) => out.push(finding(
            "libvirt",
            Level::Fail,
            format!(
                "cannot connect to {uri}: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
            ),
            "start libvirtd (`sudo systemctl enable --now libvirtd`), or set vm.libvirt_uri",
        )),
    }
    match output("virsh", &["--connect", uri, "net-info", network]) {
        None => {}
        Some(o) if o.status.success() => {
            let active = stdout_of(&o)
                .lines()
                .any(|l| l.starts_with("Active:") && l.contains("yes"));
            out.push(if active {
                finding(
                    "network",
                    Level::Ok,
                    format!("libvirt network {network} is active"),
                    "",
                )
            } else {
                finding(
                    "network",
                    Level::Fail,
                    format!("libvirt network {network} is not active"),
                    format!("virsh --connect {uri} net-start {network}"),
                )
            });
        }
        Some(_) => out.push(finding(
            "network",
            Level::Fail,
            format!("no libvirt network {network}"),
            format!("`virsh --connect {uri} net-list --all`; or set vm.network"),
        )),
    }
    out
}

pub(super) fn iso(path: Result<Utf8PathBuf, String>, arch: Arch) -> Finding {
    let path = match path {
        Ok(p) => p,
        Err(e) => return finding("boot-iso", Level::Fail, e, "set --iso or vm.iso"),
    };
    if !path.exists() {
        return finding(
            "boot-iso",
            Level::Fail,
            format!("{path} does not exist"),
            "download a RHEL boot ISO (developers.redhat.com) and set --iso or vm.iso",
        );
    }
    match crate::commands::vm::iso_arch(&path) {
        Err(e) => finding(
            "boot-iso",
            Level::Fail,
            format!("{path}: {e}"),
            "use a RHEL boot ISO",
        ),
        Ok((label, Some(a))) if a != arch => finding(
            "boot-iso",
            Level::Fail,
            format!(
                "{path} ({label}) is for {}, the image for {}",
                a.uname(),
                arch.uname()
            ),
            "use the boot ISO of the image's architecture",
        ),
        Ok((label, _)) => finding("boot-iso", Level::Ok, format!("{path} ({label})"), ""),
    }
}
