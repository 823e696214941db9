//! A bundle on this host (`upgrade --from-bundle DIR`, `doctor --for bundle --bundle DIR`):
//! its manifest read and its shape checked before anything runs. Its signature and
//! checksums are the device's to check (the verifier), or doctor's.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use crate::inspect::carried::BUNDLE_FORMAT;
use crate::validate::{self, bad};

/// The largest manifest read (the verifier refuses larger ones too).
pub const MAX_MANIFEST: u64 = 1 << 20;

/// A bundle directory, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Local {
    pub dir: Utf8PathBuf,
    /// The first 16 hex digits of the manifest's SHA-256: its upload's name on a device
    /// (`microshift-bundle-<id>`), the same for the same bundle, another for another.
    pub id: String,
    /// The image it carries, as the manifest names it (the pinned list).
    pub image: String,
    /// Each architecture's image: architecture, digest, bytes.
    pub images: Vec<(String, String, u64)>,
    /// Every file of the bundle, relative to it (`amd64/blobs/sha256/<hex>`), every
    /// architecture's: what a device may say it lacks.
    pub files: Vec<String>,
}

impl Local {
    /// The upload's directory on a device, relative to the ssh user's home.
    pub fn upload(&self) -> String {
        format!("{}-{}", crate::device::STICK_BUNDLE, self.id)
    }
}

/// A bundle directory's path as sftp's batches quote it: no '"' or '\\' in it. `what`
/// names the flag.
pub fn quotable(what: &str, dir: &Utf8Path) -> anyhow::Result<()> {
    if dir.as_str().chars().any(|c| matches!(c, '"' | '\\')) {
        return Err(bad(
            what,
            dir.as_str(),
            "a bundle directory's path holds no '\"' or '\\' (sftp's batches quote it)",
        ));
    }
    Ok(())
}

/// Read `dir` as a bundle of `cargo xtask bundle`: a directory with bundle.json (format
/// xtask-bundle/1, an image per architecture, each with its files and blobs) and
/// bundle.json.sig, and each architecture's layout. `what` names the flag.
pub fn load(what: &str, dir: &Utf8Path) -> anyhow::Result<Local> {
    let not = |why: String| {
        bad(
            what,
            dir.as_str(),
            format!("is not a bundle of `cargo xtask bundle`: {why}"),
        )
    };
    quotable(what, dir)?;
    if !dir.is_dir() {
        return Err(not("no such directory".into()));
    }
    let manifest = dir.join("bundle.json");
    if !manifest.is_file() {
        return Err(not("it has no bundle.json".into()));
    }
    if !dir.join("bundle.json.sig").is_file() {
        return Err(not(
            "it has no bundle.json.sig (the manifest's signature)".into()
        ));
    }
    let bytes = validate::read_bounded(what, &manifest, MAX_MANIFEST)?;
    let doc: Value =
        serde_json::from_slice(&bytes).map_err(|e| not(format!("bundle.json is not JSON: {e}")))?;
    if doc.get("format").and_then(Value::as_str) != Some(BUNDLE_FORMAT) {
        return Err(not(format!("bundle.json is not of format {BUNDLE_FORMAT}")));
    }
    let image = doc
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let entries = doc
        .get("images")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| not("bundle.json names no image".into()))?;
    let mut images = Vec::new();
    let mut files = Vec::new();
    for e in entries {
        let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
        let arch = text("architecture");
        if !matches!(arch, "amd64" | "arm64") || text("dir") != arch {
            return Err(not(format!(
                "bundle.json names an image of architecture '{}'",
                validate::escape_controls(arch)
            )));
        }
        if images.iter().any(|(a, _, _)| a == arch) {
            return Err(not(format!("bundle.json names {arch} twice")));
        }
        let digest = text("digest");
        if !validate::is_digest(digest) {
            return Err(not(format!("bundle.json gives no digest for {arch}")));
        }
        if !dir.join(arch).join("index.json").is_file() {
            return Err(not(format!("it has no {arch}/index.json")));
        }
        let mut total: u64 = 0;
        for f in e
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = f.get("path").and_then(Value::as_str).unwrap_or("");
            if !matches!(path, "oci-layout" | "index.json") {
                return Err(not(format!(
                    "bundle.json names a file '{}' in {arch}/",
                    validate::escape_controls(path)
                )));
            }
            files.push(format!("{arch}/{path}"));
            total = total.saturating_add(f.get("size").and_then(Value::as_u64).unwrap_or(0));
        }
        for b in e
            .get("blobs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let d = b.get("digest").and_then(Value::as_str).unwrap_or("");
            if !validate::is_digest(d) {
                return Err(not(format!(
                    "bundle.json names a blob of {arch} by no digest"
                )));
            }
            files.push(format!("{arch}/blobs/sha256/{}", &d["sha256:".len()..]));
            total = total.saturating_add(b.get("size").and_then(Value::as_u64).unwrap_or(0));
        }
        images.push((arch.to_string(), digest.to_string(), total));
    }
    let id = crate::digest::sha256_hex(&bytes)[..16].to_string();
    Ok(Local {
        dir: dir.to_path_buf(),
        id,
        image,
        images,
        files,
    })
}
