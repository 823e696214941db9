//! `doctor --for push --sign`: can this host sign what it pushes, with the configured
//! method and key?

use super::{finding, Finding, Level};
use crate::config::Sources;
use crate::signing::{Method, Need, Signer, Signing, SigningArgs};

/// What a skopeo binary built with sigstore switched off says (Debian's patch).
const SIGSTORE_DISABLED: &[u8] = b"sigstore disabled";

/// Is this binary built with sigstore switched off? Read from the binary itself: the
/// message Debian's change prints is in it.
pub fn sigstore_disabled(binary: &std::path::Path) -> Option<bool> {
    let bytes = std::fs::read(binary).ok()?;
    Some(
        bytes
            .windows(SIGSTORE_DISABLED.len())
            .any(|w| w == SIGSTORE_DISABLED),
    )
}

fn on_path(sources: &Sources, program: &str) -> Option<std::path::PathBuf> {
    let path = sources.env.get("PATH").cloned().unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// cosign 3's "new bundle" signatures are OCI referrers (an artifact of type
/// `application/vnd.dev.sigstore.bundle…`): podman, skopeo and bootc read none of them. On a
/// registry without the referrers API they are listed under the fallback tag
/// `sha256-<hex>`; this looks there, for the image's list and each image in it.
pub fn cosign_bundles(sources: &Sources) -> Option<Finding> {
    let registry = crate::registry::Registry::resolve(
        &crate::registry::RegistryArgs::default(),
        sources,
        false,
    )
    .ok()?;
    let name = crate::image::Image::name(None, sources).ok()?;
    let repository = registry.remote(&name, None);
    let auth = match crate::secrets::registry_auth(sources, None) {
        Ok(crate::secrets::AuthFile::Found(path, _)) => Some(path),
        _ => None,
    };
    // `skopeo inspect` with the registry's configuration and credentials: its output, or
    // None when it fails (nothing there)
    let inspect = |args: &[&str]| -> Option<String> {
        let mut c = std::process::Command::new("skopeo");
        if let Some(conf) = &registry.registries_conf {
            c.args(["--registries-conf", conf.as_str()]);
        }
        c.arg("inspect");
        if let Some(a) = &auth {
            c.args(["--authfile", a.as_str()]);
        }
        let out = c.args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let skopeo = |reference: &str| inspect(&["--raw", reference]);
    let digest = |reference: &str| {
        inspect(&["--format", "{{.Digest}}", reference]).map(|d| d.trim().to_string())
    };
    let latest = format!("docker://{repository}:latest");
    let top = digest(&latest)?;
    let mut digests = vec![top.clone()];
    if let Some(raw) = skopeo(&latest) {
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&raw) {
            for m in doc["manifests"].as_array().into_iter().flatten() {
                if let Some(d) = m["digest"].as_str() {
                    digests.push(d.to_string());
                }
            }
        }
    }
    let is_bundle =
        |v: &serde_json::Value| v.as_str().is_some_and(|t| t.contains("sigstore.bundle"));
    for d in &digests {
        let Some(hex) = d.strip_prefix("sha256:") else {
            continue;
        };
        let Some(index) = skopeo(&format!("docker://{repository}:sha256-{hex}")) else {
            continue;
        };
        let Ok(index) = serde_json::from_str::<serde_json::Value>(&index) else {
            continue;
        };
        for referrer in index["manifests"].as_array().into_iter().flatten() {
            // cosign lists some as `application/vnd.oci.empty.v1+json` (cosign issue 4422):
            // the artifact's own manifest says what it holds
            let mut found = is_bundle(&referrer["artifactType"]);
            if !found {
                if let Some(rd) = referrer["digest"].as_str() {
                    if let Some(m) = skopeo(&format!("docker://{repository}@{rd}")) {
                        if let Ok(m) = serde_json::from_str::<serde_json::Value>(&m) {
                            found = is_bundle(&m["artifactType"])
                                || m["layers"]
                                    .as_array()
                                    .into_iter()
                                    .flatten()
                                    .any(|l| is_bundle(&l["mediaType"]));
                        }
                    }
                }
            }
            if found {
                return Some(finding(
                    "cosign-bundle",
                    Level::Warn,
                    format!("{repository}@{d} has a cosign \"new bundle\" signature (an OCI referrer): podman, skopeo and bootc cannot read it, so a device's policy sees the image as unsigned"),
                    "sign with `cargo xtask release` (podman/skopeo signatures), or with cosign `--new-bundle-format=false` (its older format is what podman and bootc read as sigstore attachments)",
                ));
            }
        }
    }
    Some(finding(
        "cosign-bundle",
        Level::Ok,
        format!("no cosign \"new bundle\" signature under {repository}:sha256-<digest> for {} image(s) (a registry with the OCI referrers API keeps them elsewhere: not looked at)", digests.len()),
        "",
    ))
}

/// Is the secret GPG key `fingerprint` in the keyring (`gnupghome`: GNUPGHOME's)?
pub(super) fn has_secret_key(fingerprint: &str, gnupghome: Option<&camino::Utf8Path>) -> bool {
    let mut gpg = std::process::Command::new("gpg");
    gpg.args([
        "--batch",
        "--list-secret-keys",
        "--with-colons",
        fingerprint,
    ]);
    if let Some(home) = gnupghome {
        gpg.env("GNUPGHOME", home.as_str());
    }
    gpg.output().map(|o| o.status.success()).unwrap_or(false)
}

pub fn checks(sources: &Sources) -> Vec<Finding> {
    let signing = match Signing::resolve(&SigningArgs::default(), sources, Need::Sign) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return vec![finding(
                "signing",
                Level::Fail,
                "no signing configured (signing.key, signing.public_key)",
                "`cargo xtask keygen`, then put what it prints in microshift-image.json",
            )]
        }
        Err(e) => return vec![finding("signing", Level::Fail, e.to_string(), "")],
    };
    // what push, manifest and release refuse: an accepted scope covering the signed repository
    let repository = crate::image::Image::name(None, sources).and_then(|name| {
        crate::registry::Registry::resolve(
            &crate::registry::RegistryArgs::default(),
            sources,
            false,
        )
        .map(|r| r.remote(&name, None))
    });
    if let Err(e) = repository.and_then(|r| signing.refuse_covering(&r)) {
        return vec![finding("signing", Level::Fail, e.to_string(), "")];
    }
    let mut out = vec![finding(
        "signing",
        Level::Ok,
        format!(
            "{}: signatures go to {}",
            signing.method.name(),
            signing.where_signatures_go()
        ),
        "",
    )];
    match (&signing.signer, signing.method) {
        (Some(Signer::Sigstore { key }), Method::Sigstore) => {
            out.push(finding(
                "signing-key",
                Level::Ok,
                format!("{key}: a private sigstore key, yours, mode 600"),
                "",
            ));
            out.push(match on_path(sources, "skopeo").map(|p| (sigstore_disabled(&p), p)) {
                None => finding("sigstore", Level::Fail, "skopeo is not installed", "`sudo dnf install skopeo` or `sudo apt-get install skopeo`"),
                Some((Some(true), p)) => finding(
                    "sigstore",
                    Level::Fail,
                    format!("{} is built with sigstore switched off (\"Debian-local change: sigstore disabled\"): it cannot sign with a sigstore key", p.display()),
                    "sign with signing.method gpg (a GPG key and a lookaside directory served over HTTP), or run the tool on a host whose skopeo has sigstore (RHEL 9, Fedora)",
                ),
                Some((_, p)) => finding("sigstore", Level::Ok, format!("{} can sign with sigstore keys", p.display()), ""),
            });
        }
        (
            Some(Signer::Gpg {
                fingerprint,
                gnupghome,
            }),
            Method::Gpg,
        ) => {
            out.push(if has_secret_key(fingerprint, gnupghome.as_deref()) {
                finding("signing-key", Level::Ok, format!("GPG key {fingerprint} in the keyring"), "")
            } else {
                finding(
                    "signing-key",
                    Level::Fail,
                    format!("no secret GPG key {fingerprint} in the keyring{}", gnupghome.as_ref().map(|h| format!(" {h}")).unwrap_or_default()),
                    "`gpg --list-secret-keys` as the user the signing runs as; GNUPGHOME selects another keyring; `cargo xtask keygen --method gpg` makes one",
                )
            });
            let dir = &signing.lookaside_dir;
            let existing = dir
                .ancestors()
                .find(|d| d.exists())
                .map(|d| d.to_path_buf());
            let writable = existing.as_ref().is_some_and(|d| {
                let probe = d.join(format!(".xtask-doctor-{}", std::process::id()));
                let ok = std::fs::write(&probe, b"").is_ok();
                let _ = std::fs::remove_file(&probe);
                ok
            });
            out.push(if writable {
                finding("lookaside", Level::Ok, format!("{dir} can be written"), "")
            } else {
                finding(
                    "lookaside",
                    Level::Fail,
                    format!("{dir} cannot be written"),
                    "make it writable, or set signing.lookaside_dir",
                )
            });
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_without_sigstore_is_seen() {
        let dir = std::env::temp_dir().join(format!("xtask-sigstore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let off = dir.join("skopeo-off");
        std::fs::write(
            &off,
            b"\x7fELF...creating signature: Debian-local change: sigstore disabled...",
        )
        .unwrap();
        let on = dir.join("skopeo-on");
        std::fs::write(&on, b"\x7fELF...sigstore signing...").unwrap();
        assert_eq!(sigstore_disabled(&off), Some(true));
        assert_eq!(sigstore_disabled(&on), Some(false));
        assert_eq!(sigstore_disabled(&dir.join("none")), None);
        // this machine's skopeo, when it is Debian's: the real binary says it
        if let Ok(v) = std::process::Command::new("skopeo")
            .arg("--version")
            .output()
        {
            let debian = std::path::Path::new("/etc/debian_version").exists();
            if v.status.success() && debian {
                assert_eq!(
                    sigstore_disabled(std::path::Path::new("/usr/bin/skopeo")),
                    Some(true)
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
