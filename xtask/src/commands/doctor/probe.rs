//! Read-only questions to the host: run a tool and keep its answer, an image in the local
//! storage or a registry, free space, what an auth file covers.

use camino::Utf8PathBuf;
use serde_json::Value;

use crate::config::Sources;
use crate::secrets;

/// Run a read-only command; `None` when it cannot be started (not installed).
pub(super) fn output(program: &str, args: &[&str]) -> Option<std::process::Output> {
    crate::exec::ask(program, args, false)
}

pub(super) fn stdout_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Is this image in podman's local storage?
pub(super) fn local_image(reference: &str) -> bool {
    output("podman", &["image", "exists", reference]).is_some_and(|o| o.status.success())
}

/// The bytes an image takes in a registry, read there: its config and layers, or, for a
/// list (`--all` copies every platform), those of each of its images. Each reference that
/// could not be read is said in `unreadable`.
pub(super) fn image_bytes(
    sources: &Sources,
    pull_secret: Option<&Utf8PathBuf>,
    reference: &str,
    unreadable: &mut Vec<String>,
) -> u64 {
    let raw = |r: &str| -> Result<Value, String> {
        remote_manifest(sources, pull_secret, r)
            .unwrap_or_else(|| Err("skopeo is not installed".to_string()))
    };
    match raw(reference) {
        Ok(m) => match m.get("manifests").and_then(Value::as_array) {
            Some(list) => {
                let repo = crate::validate::reference_parts(reference).0;
                let mut total: u64 = 0;
                for d in list
                    .iter()
                    .filter_map(|x| x.get("digest").and_then(Value::as_str))
                {
                    match raw(&format!("{repo}@{d}")) {
                        Ok(inner) => {
                            total = total.saturating_add(crate::inspect::image_bytes(&inner))
                        }
                        Err(e) => unreadable.push(format!("{repo}@{d}: {e}")),
                    }
                }
                total
            }
            None => crate::inspect::image_bytes(&m),
        },
        Err(e) => {
            unreadable.push(format!("{reference}: {e}"));
            0
        }
    }
}

/// `skopeo inspect --raw` of an image in its registry, with the pull secret and podman's
/// registries.conf: its manifest, or the cause of the failure. `None`: skopeo is missing.
pub(super) fn remote_manifest(
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

pub(super) fn install_hint(pkg_debian: &str, pkg_rhel: &str) -> String {
    format!("install it: `sudo dnf install {pkg_rhel}` (RHEL) or `sudo apt-get install {pkg_debian}` (Debian)")
}

/// The registry host of an image reference (`docker.io` when it names none).
pub(super) fn registry_of(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or("");
    if reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        first.to_string()
    } else {
        "docker.io".to_string()
    }
}

pub(super) fn mode_note(path: &Utf8PathBuf) -> Option<String> {
    let mode = secrets::mode(path)?;
    (mode & 0o077 != 0).then(|| format!("mode {mode:04o} lets others read it"))
}

/// Free space where podman stores images.
/// What `df` says of a file system's free space.
pub(super) enum Free {
    Bytes(u64),
    NoDf,
    Unreadable,
}

/// The free space of the file system that holds `path` (measured at its nearest existing
/// directory, which is returned too).
pub(super) fn free_space(path: Utf8PathBuf) -> (Utf8PathBuf, Free) {
    let mut dir = path;
    while !dir.exists() {
        match dir.parent() {
            Some(p) => dir = p.to_path_buf(),
            None => break,
        }
    }
    let free = match output("df", &["--output=avail", "-B1", dir.as_str()]) {
        None => Free::NoDf,
        Some(o) => crate::inspect::df_avail(&stdout_of(&o)).map_or(Free::Unreadable, Free::Bytes),
    };
    (dir, free)
}

/// Where podman keeps its images: the graph root of `CONTAINERS_STORAGE_CONF`, else
/// /var/lib/containers.
pub(super) fn graph_root(sources: &Sources) -> Utf8PathBuf {
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

/// Does an auth file entry (a registry, or a registry and a repository path) cover this
/// image reference?
pub(super) fn covers(entry: &str, reference: &str) -> bool {
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

/// The gist of a Go tool's error line (`time=... level=fatal msg="..."`): the message,
/// its end when long (where the cause is: "unauthorized", "manifest unknown").
pub(super) fn tool_error(line: &str) -> String {
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
pub(super) fn secrets_of(path: Option<&Utf8PathBuf>) -> Vec<String> {
    path.and_then(|p| secrets::auth_json("pull secret", p).ok())
        .map(|(_, doc)| secrets::auth_registries(&doc))
        .unwrap_or_default()
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
}
