//! `cargo xtask doctor`: is this host ready for a step? Read-only checks that say what is
//! wrong before a build fails after minutes, or pods crash-loop after a start. Every check
//! works on a host that lacks what it checks: that is a finding, not a crash.

use std::process::Command;

use camino::Utf8PathBuf;
use serde_json::{json, Value};

use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::Sources;
use crate::inputs;
use crate::secrets;
use crate::validate;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct DoctorArgs {
    /// Which step to check the host for
    #[arg(long = "for", value_name = "STEP", value_enum, default_value_t = Step::All)]
    pub step: Step,
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
    #[arg(long)]
    pub image_name: Option<String>,
    #[arg(long)]
    pub arch: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub found: String,
    pub fix: String,
}

fn finding(
    check: &'static str,
    status: Status,
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
pub enum Step {
    Build,
    Push,
    Run,
    Vm,
    Disk,
    #[default]
    All,
}

/// The steps a `--for` value covers.
pub fn steps(step: Step) -> Vec<&'static str> {
    match step {
        Step::Build => vec!["build"],
        Step::Push => vec!["push"],
        Step::Run => vec!["run"],
        Step::Vm => vec!["vm"],
        Step::Disk => vec!["disk"],
        Step::All => vec!["build", "push", "run", "vm", "disk"],
    }
}

/// Run a read-only command; `None` when it cannot be started (not installed).
fn output(program: &str, args: &[&str]) -> Option<std::process::Output> {
    let mut cmd = Command::new(program);
    for name in crate::inputs::secret_env() {
        cmd.env_remove(name);
    }
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
}

fn stdout_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Is this image in podman's local storage?
fn local_image(reference: &str) -> bool {
    output("podman", &["image", "exists", reference]).is_some_and(|o| o.status.success())
}

/// `skopeo inspect --raw` of an image in its registry, with the pull secret and podman's
/// registries.conf: its manifest, or the cause of the failure. `None`: skopeo is missing.
fn remote_manifest(
    sources: &Sources,
    pull_secret: Option<&Utf8PathBuf>,
    reference: &str,
) -> Option<Result<Value, String>> {
    let mut a: Vec<String> = Vec::new();
    if let Some(c) = sources.registries_conf() {
        a.extend(["--registries-conf".to_string(), c.to_string()]);
    }
    a.extend(["inspect", "--raw", "--retry-times", "2"].map(String::from));
    if let Some(p) = pull_secret.filter(|p| p.exists()) {
        a.extend(["--authfile".to_string(), p.to_string()]);
    }
    a.push(format!("docker://{reference}"));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = output("skopeo", &refs)?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed");
        return Some(Err(tool_error(last)));
    }
    Some(serde_json::from_slice(&o.stdout).map_err(|e| format!("not a manifest: {e}")))
}

fn install_hint(pkg_debian: &str, pkg_rhel: &str) -> String {
    format!("install it: `sudo dnf install {pkg_rhel}` (RHEL) or `sudo apt-get install {pkg_debian}` (Debian)")
}

/// `podman --version` and whether it parses Containerfile heredocs (podman 4.8+).
fn podman() -> Finding {
    let Some(o) = output("podman", &["--version"]) else {
        return finding(
            "podman",
            Status::Fail,
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
            Status::Fail,
            format!("podman {version}"),
            "podman 4 or later is needed (manifest lists, build secrets)",
        );
    }
    let heredoc = (major, minor) >= (4, 8);
    finding(
        "podman",
        Status::Ok,
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

fn tool(check: &'static str, program: &str, args: &[&str], deb: &str, rpm: &str) -> Finding {
    match output(program, args) {
        None => finding(check, Status::Fail, "not installed", install_hint(deb, rpm)),
        Some(o) => {
            let text = stdout_of(&o);
            finding(
                check,
                Status::Ok,
                text.lines().next().unwrap_or("").trim().to_string(),
                "",
            )
        }
    }
}

fn privileges(sources: &Sources) -> Finding {
    if sources.as_root {
        return finding("root", Status::Ok, "running as root", "");
    }
    match output("sudo", &["-n", "true"]) {
        None => finding(
            "root",
            Status::Fail,
            "not root, and no sudo",
            "run as root, or install sudo and give this user sudo rights",
        ),
        Some(o) if o.status.success() => {
            finding("root", Status::Ok, "sudo works without a password", "")
        }
        Some(_) => finding(
            "root",
            Status::Warn,
            "sudo needs a password",
            "commands that need root will ask for it (or run as root)",
        ),
    }
}

/// The registry host of an image reference (`docker.io` when it names none).
fn registry_of(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or("");
    if reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        first.to_string()
    } else {
        "docker.io".to_string()
    }
}

fn mode_note(path: &Utf8PathBuf) -> Option<String> {
    let mode = secrets::mode(path)?;
    (mode & 0o077 != 0).then(|| format!("mode {mode:04o} lets others read it"))
}

/// An auth file (pull secret or registry auth): exists, JSON, `auths`, an entry for `registry`,
/// mode 600 or tighter.
fn auth_file(
    check: &'static str,
    what: &str,
    path: Option<Utf8PathBuf>,
    registry: &str,
    missing_fix: &str,
) -> Finding {
    let Some(path) = path else {
        return finding(
            check,
            Status::Fail,
            format!("no {what} configured"),
            missing_fix,
        );
    };
    if !path.exists() {
        return finding(
            check,
            Status::Fail,
            format!("{path} does not exist"),
            missing_fix,
        );
    }
    let doc = match secrets::auth_json(what, &path) {
        Ok((_, doc)) => doc,
        Err(e) => {
            return finding(
                check,
                Status::Fail,
                format!("{e}"),
                format!("fix or replace {path}"),
            )
        }
    };
    let registries = secrets::auth_registries(&doc);
    let local = registry == "localhost";
    if !local
        && !registries
            .iter()
            .any(|r| r == registry || r.starts_with(&format!("{registry}/")))
    {
        return finding(
            check,
            Status::Fail,
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
            Status::Warn,
            format!("{path}: {note}"),
            format!("chmod 600 {path}"),
        ),
        None if local => finding(
            check,
            Status::Ok,
            format!("{path}: valid, mode 600 (the base image is local)"),
            "",
        ),
        None => finding(
            check,
            Status::Ok,
            format!("{path}: entry for {registry}, mode 600"),
            "",
        ),
    }
}

fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (get("ID"), get("VERSION_ID"))
}

fn rhel_repos(version: &str) -> Finding {
    let (id, ver) = os_release();
    if id != "rhel" {
        return finding(
            "rhel-repos",
            Status::Warn,
            format!("not a RHEL host ({} {ver})", if id.is_empty() { "unknown" } else { &id }),
            "the MicroShift image builds on a subscribed RHEL 9 host; elsewhere only test images build (scripts/testbed.sh)",
        );
    }
    match output("subscription-manager", &["status"]) {
        Some(o) if o.status.success() => {}
        _ => {
            return finding(
                "rhel-repos",
                Status::Fail,
                "the host is not subscribed",
                "`sudo subscription-manager register`, then attach a subscription with OpenShift",
            )
        }
    }
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
            Status::Ok,
            format!("RHEL {ver}, subscribed; {} available", wanted.join(", ")),
            "",
        )
    } else {
        finding(
            "rhel-repos",
            Status::Fail,
            format!("RHEL {ver}: the subscription gives no {}", missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
            "the build enables these repositories inside the image: the host subscription must include them (they need not be enabled on the host)",
        )
    }
}

/// Free space where podman stores images.
/// What `df` says of a file system's free space.
enum Free {
    Bytes(u64),
    NoDf,
    Unreadable,
}

/// The free space of the file system that holds `path` (measured at its nearest existing
/// directory, which is returned too).
fn free_space(path: Utf8PathBuf) -> (Utf8PathBuf, Free) {
    let mut dir = path;
    while !dir.exists() {
        match dir.parent() {
            Some(p) => dir = p.to_path_buf(),
            None => break,
        }
    }
    let free = match output("df", &["--output=avail", "-B1", dir.as_str()]) {
        None => Free::NoDf,
        Some(o) => stdout_of(&o)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<u64>().ok())
            .map_or(Free::Unreadable, Free::Bytes),
    };
    (dir, free)
}

/// Where podman keeps its images: the graph root of `CONTAINERS_STORAGE_CONF`, else
/// /var/lib/containers.
fn graph_root(sources: &Sources) -> Utf8PathBuf {
    let mut dir = Utf8PathBuf::from("/var/lib/containers");
    if let Some(conf) = sources.env.get("CONTAINERS_STORAGE_CONF") {
        if let Ok(text) = std::fs::read_to_string(conf) {
            if let Some(root) = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("graphroot"))
                .and_then(|r| r.split('"').nth(1))
            {
                dir = Utf8PathBuf::from(root);
            }
        }
    }
    dir
}

fn disk(sources: &Sources) -> Finding {
    let (dir, free) = free_space(graph_root(sources));
    let avail = match free {
        Free::NoDf => {
            return finding(
                "disk",
                Status::Warn,
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
            Status::Warn,
            format!("could not read free space of {dir}"),
            "check free space by hand: the image needs about 2.5 GB",
        ),
        Some(b) if b < 2_500_000_000 => finding(
            "disk",
            Status::Fail,
            format!("{} free at {dir}", validate::human(b)),
            "a MicroShift image needs about 2.5 GB: free space or move podman's storage",
        ),
        Some(b) if b < 5_000_000_000 => finding(
            "disk",
            Status::Warn,
            format!("{} free at {dir}", validate::human(b)),
            "enough for one image (~2.5 GB), not for several",
        ),
        Some(b) => finding(
            "disk",
            Status::Ok,
            format!("{} free at {dir}", validate::human(b)),
            "",
        ),
    }
}

/// Does an auth file entry (a registry, or a registry and a repository path) cover this
/// image reference?
fn covers(entry: &str, reference: &str) -> bool {
    let entry = entry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let repo = reference.split(['@']).next().unwrap_or(reference);
    entry == registry_of(reference)
        || repo == entry
        || repo.starts_with(&format!("{entry}/"))
        || repo.starts_with(&format!("{entry}:"))
}

/// `doctor --for build --embed`: the release list of the image (read from the image once
/// built), every registry of it in the pull secret, every image reachable, and room for
/// the copies.
fn embedding(
    sources: &Sources,
    args: &DoctorArgs,
    pull_secret: Option<&Utf8PathBuf>,
) -> Vec<Finding> {
    let image_args = crate::image::ImageArgs {
        image_name: args.image_name.clone(),
        arch: args.arch.clone(),
    };
    let image = match crate::image::Image::resolve(&image_args, sources) {
        Ok(image) => image,
        Err(e) => {
            return vec![finding(
                "embed-list",
                Status::Fail,
                format!("{e:#}"),
                "set the image name and architecture as for `build`",
            )]
        }
    };
    let arch = image.arch;
    let local = image.local();
    // the image without its embedded images, else the image (both carry the list)
    let candidates = [super::build::unembedded(&image), local.clone()];
    let Some(built) = candidates.iter().find(|c| local_image(c)) else {
        return vec![finding(
            "embed-list",
            Status::Warn,
            format!("skipped: {local} is not built yet, and the list of images to embed is in it (the microshift-release-info package)"),
            format!("`cargo xtask build{}` once, then `cargo xtask doctor --for build --embed` again", arch.map(|a| format!(" --arch {a}")).unwrap_or_default()),
        )];
    };
    let uname = arch.or_else(Arch::native).unwrap_or(Arch::Amd64).uname();
    let release = format!("/usr/share/microshift/release/release-{uname}.json");
    let read = output(
        "podman",
        &[
            "run",
            "--rm",
            "--network=none",
            "--entrypoint",
            "cat",
            built,
            &release,
        ],
    );
    let doc: Option<Value> = read
        .as_ref()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok());
    let Some(listed) = doc
        .as_ref()
        .and_then(|d| d.get("images"))
        .and_then(Value::as_object)
    else {
        return vec![finding(
            "embed-list",
            Status::Fail,
            format!("{built} has no readable {release} with an \"images\" object"),
            "the image must have the microshift-release-info package (the Containerfile's `dnf install`)",
        )];
    };
    let mut refs: Vec<(String, bool)> = listed
        .values()
        .filter_map(Value::as_str)
        .map(|r| (r.to_string(), true))
        .collect();
    let extra = sources
        .list(&inputs::EMBED_IMAGES, &[])
        .map(|(_, l)| l)
        .unwrap_or_default();
    for r in extra {
        if !refs.iter().any(|(have, _)| *have == r) {
            refs.push((r, false));
        }
    }
    let mut out = vec![finding(
        "embed-list",
        Status::Ok,
        format!(
            "{} images to embed ({} from {release} in {built})",
            refs.len(),
            listed.len()
        ),
        "",
    )];
    // every image reachable, and its size (the sum of its layers, of every platform of a list)
    let raw = |reference: &str| -> Result<Value, String> {
        remote_manifest(sources, pull_secret, reference)
            .unwrap_or_else(|| Err("skopeo is not installed".to_string()))
    };
    let layers = |m: &Value| -> u64 {
        m.get("layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(m.get("config"))
            .filter_map(|l| l.get("size").and_then(Value::as_u64))
            .fold(0, u64::saturating_add)
    };
    let mut total: u64 = 0;
    let mut unreachable = Vec::new();
    for (r, _) in &refs {
        match raw(r) {
            Ok(m) => match m.get("manifests").and_then(Value::as_array) {
                // a list: `--all` copies every platform
                Some(list) => {
                    let repo = r.split('@').next().unwrap_or(r);
                    let repo = match repo.rsplit_once(':') {
                        Some((head, tag)) if !tag.contains('/') => head,
                        _ => repo,
                    };
                    for d in list
                        .iter()
                        .filter_map(|x| x.get("digest").and_then(Value::as_str))
                    {
                        match raw(&format!("{repo}@{d}")) {
                            Ok(inner) => total = total.saturating_add(layers(&inner)),
                            Err(e) => unreachable.push(format!("{repo}@{d}: {e}")),
                        }
                    }
                }
                None => total = total.saturating_add(layers(&m)),
            },
            Err(e) => unreachable.push(format!("{r}: {e}")),
        }
    }
    // the pull secret: an entry for every registry of the list
    let registries: Vec<String> = secrets_of(pull_secret);
    let mut missing: Vec<(String, Vec<&str>, bool)> = Vec::new();
    for (r, from_release) in &refs {
        if registries.iter().any(|e| covers(e, r)) {
            continue;
        }
        let reg = registry_of(r);
        match missing.iter_mut().find(|(m, _, _)| *m == reg) {
            Some(m) => {
                m.1.push(r);
                m.2 |= *from_release;
            }
            None => missing.push((reg, vec![r], *from_release)),
        }
    }
    let path = pull_secret.map_or("the pull secret".to_string(), |p| p.to_string());
    if missing.is_empty() {
        let mut regs: Vec<String> = refs.iter().map(|(r, _)| registry_of(r)).collect();
        regs.sort();
        regs.dedup();
        out.push(finding(
            "embed-pull-secret",
            Status::Ok,
            format!(
                "{path} has entries for every registry of the list ({})",
                regs.join(", ")
            ),
            "",
        ));
    }
    for (reg, images, from_release) in &missing {
        // read without credentials just now: a public registry needs no entry
        let public = images
            .iter()
            .all(|i| !unreachable.iter().any(|u| u.starts_with(&format!("{i}: "))));
        out.push(if public {
            finding(
                "embed-pull-secret",
                Status::Ok,
                format!(
                    "{path} has no entry for {reg}; its {} images of the list are readable without one",
                    images.len()
                ),
                "",
            )
        } else {
            finding(
                "embed-pull-secret",
                if *from_release { Status::Fail } else { Status::Warn },
                format!(
                    "{path} has no entry for {reg} ({} of the images, e.g. {})",
                    images.len(),
                    images[0],
                ),
                format!("add credentials for {reg}: `podman login --authfile {path} {reg}`"),
            )
        });
    }
    for u in &unreachable {
        out.push(finding(
            "embed-image",
            Status::Fail,
            format!("cannot read {u}"),
            "the build would fail on it: check the reference, the registry and the pull secret",
        ));
    }
    // the copies go into a layer, which is then committed: about twice their size
    let want = total.saturating_mul(2);
    let (dir, free) = free_space(graph_root(sources));
    out.push(match free {
        Free::Bytes(b) if b < want => finding(
            "embed-space",
            Status::Fail,
            format!("the images take {}, {} free at {dir}", validate::human(total), validate::human(b)),
            format!("the build needs about {} (the copies, then the committed layer): free space or move podman's storage", validate::human(want)),
        ),
        Free::Bytes(b) => finding(
            "embed-space",
            Status::Ok,
            format!("the images take {}{}; {} free at {dir}", validate::human(total), if unreachable.is_empty() { "" } else { " (of those that could be read)" }, validate::human(b)),
            "",
        ),
        _ => finding(
            "embed-space",
            Status::Warn,
            format!("the images take {}; the free space at {dir} could not be read", validate::human(total)),
            format!("make sure about {} are free", validate::human(want)),
        ),
    });
    out
}

/// The gist of a Go tool's error line (`time=... level=fatal msg="..."`): the message,
/// its end when long (where the cause is: "unauthorized", "manifest unknown").
fn tool_error(line: &str) -> String {
    let msg = line
        .split_once("msg=\"")
        .map_or(line, |(_, m)| m.strip_suffix('"').unwrap_or(m))
        .replace("\\\"", "\"");
    let msg = crate::validate::escape_controls(msg.trim());
    let chars: Vec<char> = msg.chars().collect();
    if chars.len() > 160 {
        format!(
            "...{}",
            chars[chars.len() - 160..].iter().collect::<String>()
        )
    } else {
        msg
    }
}

/// The registries of a pull secret's `auths` (none when it cannot be read).
fn secrets_of(path: Option<&Utf8PathBuf>) -> Vec<String> {
    path.and_then(|p| secrets::auth_json("pull secret", p).ok())
        .map(|(_, doc)| secrets::auth_registries(&doc))
        .unwrap_or_default()
}

/// binfmt_misc registrations for the other architectures of the manifest list.
/// `disk`: the builder image is there or reachable with the pull secret, the host has loop
/// devices (the builder partitions through them), the output directory has the space.
fn disk_builder(
    sources: &Sources,
    flag: Option<&str>,
    pull_secret: Option<&Utf8PathBuf>,
) -> Vec<Finding> {
    let builder = sources
        .value(&inputs::DISK_BUILDER, flag)
        .ok()
        .flatten()
        .map_or_else(String::new, |p| p.value);
    let mut out = Vec::new();
    out.push(if local_image(&builder) {
        finding("builder", Status::Ok, format!("{builder} is in the local storage"), "")
    } else {
        match remote_manifest(sources, pull_secret, &builder) {
            Some(Ok(_)) => {
                finding("builder", Status::Ok, format!("{builder} is reachable with the pull secret"), "")
            }
            Some(Err(why)) => finding(
                "builder",
                Status::Fail,
                format!("{builder}: {why}"),
                "the pull secret must hold credentials for its registry (registry.redhat.io for Red Hat's builder); or set disk.builder / --builder to a builder you can pull",
            ),
            None => finding("builder", Status::Warn, "skopeo is not installed: the builder image was not checked", install_hint("skopeo", "skopeo")),
        }
    });
    out.push(if std::path::Path::new("/dev/loop-control").exists() {
        finding("loop-devices", Status::Ok, "/dev/loop-control is there", "")
    } else {
        finding(
            "loop-devices",
            Status::Fail,
            "no /dev/loop-control: the builder partitions the disk through loop devices",
            "`sudo modprobe loop`, or run the builder on a host (not a container) that has them",
        )
    });
    let out_dir = sources
        .value(&inputs::DISK_OUTPUT, None)
        .ok()
        .flatten()
        .and_then(|p| sources.path(&p).ok())
        .unwrap_or_else(|| sources.root.join("target/disk"));
    let (dir, free) = free_space(out_dir);
    let need = sources
        .value(&inputs::DISK_MIN_FREE, None)
        .ok()
        .flatten()
        .and_then(|p| validate::size(&p.what, &p.value, 0).ok())
        .unwrap_or(20 << 30);
    let avail = match free {
        Free::Bytes(b) => Some(b),
        Free::NoDf | Free::Unreadable => None,
    };
    out.push(match avail {
        Some(b) if b >= need => finding("disk-space", Status::Ok, format!("{} free at {dir}", validate::human(b)), ""),
        Some(b) => finding(
            "disk-space",
            Status::Fail,
            format!("{} free at {dir}, {} wanted", validate::human(b), validate::human(need)),
            "disk images need several times the image size: free space, or set disk.output / --output elsewhere",
        ),
        None => finding("disk-space", Status::Warn, format!("could not read the free space of {dir}"), "check it by hand"),
    });
    out
}

/// The configured architectures that are not this host's.
fn foreign_archs(sources: &Sources) -> Vec<Arch> {
    let native = Arch::native();
    sources
        .config
        .get_list("architectures")
        .ok()
        .flatten()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| Arch::parse("architectures", a).ok())
        .filter(|a| Some(*a) != native)
        .collect()
}

fn emulation(sources: &Sources) -> Vec<Finding> {
    foreign_archs(sources)
        .into_iter()
        .map(|a| {
            let entry = format!("/proc/sys/fs/binfmt_misc/qemu-{}", a.uname());
            match std::fs::read_to_string(&entry) {
                Ok(text) if text.lines().next() == Some("enabled") => finding("emulation", Status::Ok, format!("{a} binaries run through {entry}"), ""),
                Ok(_) => finding("emulation", Status::Fail, format!("{entry} is disabled"), format!("echo 1 > {entry}")),
                Err(_) => finding(
                    "emulation",
                    Status::Fail,
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

fn openvswitch(sources: &Sources) -> Finding {
    if std::path::Path::new("/sys/module/openvswitch").exists() {
        return finding(
            "openvswitch",
            Status::Ok,
            "the openvswitch module is loaded",
            "",
        );
    }
    match output("modprobe", &["-n", "-q", "openvswitch"]) {
        Some(o) if o.status.success() => finding("openvswitch", Status::Ok, "the openvswitch module can be loaded (`run` loads it)", ""),
        Some(_) => finding(
            "openvswitch",
            Status::Fail,
            format!("kernel {} has no openvswitch module", sources.host_kernel),
            "install the kernel's extra modules (RHEL: kernel-modules-extra) or boot a kernel with it; a bootc container runs the host kernel, so ovnkube pods fail without it",
        ),
        None => finding("openvswitch", Status::Fail, "modprobe is not installed", install_hint("kmod", "kmod")),
    }
}

fn volume_group(name: &str) -> Finding {
    let Some(o) = output("vgs", &crate::inspect::VGS_ARGS) else {
        return finding(
            "volume-group",
            Status::Fail,
            "lvm2 is not installed",
            install_hint("lvm2", "lvm2"),
        );
    };
    if !o.status.success() {
        return finding(
            "volume-group",
            Status::Fail,
            "vgs failed (not root?)",
            "run doctor as root",
        );
    }
    match crate::inspect::volume_group(&stdout_of(&o), name, "") {
        Ok(v) => finding(
            "volume-group",
            Status::Ok,
            format!(
                "{name}: {} free",
                validate::human(v["free"].as_u64().unwrap_or(0))
            ),
            "",
        ),
        Err(e) => finding(
            "volume-group",
            Status::Fail,
            format!("{e:#}")
                .trim_end()
                .trim_end_matches('.')
                .to_string(),
            "`cargo xtask run --lvm-loop 1G` creates one on a loop device",
        ),
    }
}

fn libvirt(uri: &str, network: &str) -> Vec<Finding> {
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
            Status::Fail,
            "virsh is not installed",
            install_hint("libvirt-clients", "libvirt-client"),
        )),
        Some(o) if o.status.success() => out.push(finding(
            "libvirt",
            Status::Ok,
            format!("connected to {uri}"),
            "",
        )),
        Some(o) => out.push(finding(
            "libvirt",
            Status::Fail,
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
                    Status::Ok,
                    format!("libvirt network {network} is active"),
                    "",
                )
            } else {
                finding(
                    "network",
                    Status::Fail,
                    format!("libvirt network {network} is not active"),
                    format!("virsh --connect {uri} net-start {network}"),
                )
            });
        }
        Some(_) => out.push(finding(
            "network",
            Status::Fail,
            format!("no libvirt network {network}"),
            format!("`virsh --connect {uri} net-list --all`; or set vm.network"),
        )),
    }
    out
}

fn iso(path: Result<Utf8PathBuf, String>, arch: Arch) -> Finding {
    let path = match path {
        Ok(p) => p,
        Err(e) => return finding("boot-iso", Status::Fail, e, "set --iso or vm.iso"),
    };
    if !path.exists() {
        return finding(
            "boot-iso",
            Status::Fail,
            format!("{path} does not exist"),
            "download a RHEL boot ISO (developers.redhat.com) and set --iso or vm.iso",
        );
    }
    match super::vm::iso_arch(&path) {
        Err(e) => finding(
            "boot-iso",
            Status::Fail,
            format!("{path}: {e}"),
            "use a RHEL boot ISO",
        ),
        Ok((label, Some(a))) if a != arch => finding(
            "boot-iso",
            Status::Fail,
            format!(
                "{path} ({label}) is for {}, the image for {}",
                a.uname(),
                arch.uname()
            ),
            "use the boot ISO of the image's architecture",
        ),
        Ok((label, _)) => finding("boot-iso", Status::Ok, format!("{path} ({label})"), ""),
    }
}

/// All checks for the steps, each once.
pub fn check(args: &DoctorArgs, sources: &Sources) -> anyhow::Result<Vec<Finding>> {
    let steps = steps(args.step);
    let has = |s: &str| steps.contains(&s);
    // the same resolvers as the commands: flag > environment > config file > default
    let path_of = |input: &crate::inputs::Input, flag: Option<&str>| -> Option<Utf8PathBuf> {
        sources
            .value(input, flag)
            .ok()
            .flatten()
            .and_then(|p| sources.path(&p).ok())
    };
    let text_of = |input: &crate::inputs::Input, flag: Option<&str>, fallback: &str| {
        sources
            .value(input, flag)
            .ok()
            .flatten()
            .map_or_else(|| fallback.to_string(), |p| p.value)
    };
    let pull_secret = path_of(&inputs::PULL_SECRET, args.pull_secret.as_deref());
    let auth = path_of(&inputs::AUTH_CONFIG, args.auth_config.as_deref());
    let base_registry = registry_of(&text_of(
        &inputs::BASE_IMAGE,
        None,
        "registry.redhat.io/rhel9/rhel-bootc:9.4",
    ));
    let registry = text_of(&inputs::REGISTRY_URL, None, "quay.io");
    let mut out = vec![privileges(sources)];
    if has("build") || has("push") || has("run") {
        out.push(podman());
    }
    let pull_fix = "download it from console.redhat.com/openshift/install/pull-secret, save it with mode 600, and set PULL_SECRET or pull_secret";
    if has("build") || has("run") || has("vm") || has("disk") {
        out.push(auth_file(
            "pull-secret",
            "pull secret",
            pull_secret.clone(),
            &base_registry,
            pull_fix,
        ));
    }
    let embed = args.for_embed || sources.switch(&inputs::EMBED, false).unwrap_or(false);
    if has("build") && embed {
        out.extend(embedding(sources, args, pull_secret.as_ref()));
    }
    if has("build") {
        out.push(rhel_repos(&text_of(
            &inputs::MICROSHIFT_VERSION,
            None,
            "4.16",
        )));
        out.push(disk(sources));
        out.extend(emulation(sources));
    }
    if has("push") || has("vm") {
        out.push(tool("skopeo", "skopeo", &["--version"], "skopeo", "skopeo"));
        out.push(auth_file(
            "registry-auth",
            "registry auth file",
            auth,
            &registry,
            &format!("`cargo xtask push` with REGISTRY_USER and REGISTRY_PASSWORD logs in and writes it, or `podman login --authfile FILE {registry}`"),
        ));
    }
    if has("disk") {
        out.extend(disk_builder(
            sources,
            args.builder.as_deref(),
            pull_secret.as_ref(),
        ));
        // a cross-architecture disk build runs the image's tools under emulation too
        if !has("build") {
            out.extend(emulation(sources));
        }
        let cross: Vec<String> = foreign_archs(sources)
            .iter()
            .map(ToString::to_string)
            .collect();
        if !cross.is_empty() {
            out.push(finding(
                "cross-disk",
                Status::Warn,
                format!("disk images for {} are built with the builder's --target-arch", cross.join(", ")),
                "that is slow and experimental in bootc-image-builder: build them on a host of that architecture where you can",
            ));
        }
    }
    if has("run") {
        out.push(openvswitch(sources));
        let vg = text_of(&inputs::VOLUME_GROUP, args.volume_group.as_deref(), "rhel");
        out.push(volume_group(&vg));
    }
    if has("vm") {
        let uri = text_of(
            &inputs::LIBVIRT_URI,
            args.libvirt_uri.as_deref(),
            "qemu:///system",
        );
        let net = text_of(&inputs::NETWORK, args.network.as_deref(), "default");
        out.extend(libvirt(&uri, &net));
        let arch = Arch::native().unwrap_or(Arch::Amd64);
        let iso_path = match sources.get(&inputs::ISO, args.iso.as_deref()) {
            Ok(picked) => {
                let picked = crate::image::expand_picked(&picked, arch.uname(), &arch.tag());
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
    let steps = steps(args.step);
    if dry_run {
        let _ = writeln!(
            std::io::stdout(),
            "# doctor is read-only: it checks the host for {}",
            steps.join(", ")
        );
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
        .filter(|f| f.status == Status::Fail)
        .map(|f| f.check)
        .collect();
    if failed.is_empty() {
        Ok(Action::Done)
    } else {
        Err(crate::error::StepFailed::error(format!(
            "the host is not ready for {}: {} failed",
            steps.join(", "),
            failed.join(", ")
        )))
    }
}

pub fn to_json(findings: &[Finding]) -> Value {
    json!({
        "ok": findings.iter().all(|f| f.status != Status::Fail),
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
        if !f.fix.is_empty() && f.status != Status::Ok {
            out.push_str(&format!("{:<w$}  {:<6}  fix: {}\n", "", "", f.fix));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_of_references() {
        assert_eq!(
            registry_of("registry.redhat.io/rhel9/rhel-bootc:9.4"),
            "registry.redhat.io"
        );
        assert_eq!(registry_of("localhost/x:1"), "localhost");
        assert_eq!(registry_of("127.0.0.1:5000/a/b"), "127.0.0.1:5000");
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("library/busybox"), "docker.io");
    }

    #[test]
    fn tool_errors_keep_their_cause() {
        let line = r#"time="2026-11-30T13:48:13Z" level=fatal msg="Error parsing image name \"docker://127.0.0.1:5111/embed/three@sha256:a76e81528d00b91cfeed98ad5d74754607c22b4b0f829693056697aa5de90198\": reading manifest sha256:a76e81528d00b91cfeed98ad5d74754607c22b4b0f829693056697aa5de90198 in 127.0.0.1:5111/embed/three: unauthorized: authentication required""#;
        let e = tool_error(line);
        assert!(e.ends_with("unauthorized: authentication required"), "{e}");
        assert!(e.chars().count() <= 163, "{e}");
        assert_eq!(tool_error("plain failure"), "plain failure");
    }

    #[test]
    fn auth_entries_cover_references() {
        assert!(covers(
            "quay.io",
            "quay.io/openshift-release-dev/ocp@sha256:1"
        ));
        assert!(covers(
            "quay.io/openshift-release-dev",
            "quay.io/openshift-release-dev/ocp@sha256:1"
        ));
        assert!(!covers(
            "quay.io/other",
            "quay.io/openshift-release-dev/ocp@sha256:1"
        ));
        assert!(covers(
            "https://registry.redhat.io/",
            "registry.redhat.io/a/b:1"
        ));
        assert!(!covers("registry.redhat.io", "quay.io/a/b:1"));
        assert!(covers("127.0.0.1:5001", "127.0.0.1:5001/a/b:1"));
        assert!(covers("docker.io", "busybox:1"));
    }

    #[test]
    fn steps_are_validated() {
        assert_eq!(steps(Step::All).len(), 5);
        assert_eq!(steps(Step::Vm), ["vm"]);
    }
}
