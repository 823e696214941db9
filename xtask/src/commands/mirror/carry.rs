//! The directory `mirror --to-dir` fills and `mirror --from-dir` copies from: where each
//! image goes in it, the manifest of what it holds, and (as root) who else can write there.

use camino::Utf8Path;
use serde_json::Value;

use super::{Item, Kind};
use crate::mirror;
use crate::validate::{self, bad};

/// The directory of an image in a `--to-dir` directory: `images/<sha256 of the reference>`.
pub(super) fn dir_of(reference: &str) -> String {
    format!("images/{}", crate::digest::sha256_hex(reference.as_bytes()))
}

/// Run as root, the copies are written by root: the directory (or, while it does not exist,
/// the nearest directory above it) must be one no other user can write, or a link planted
/// there would send root's writes elsewhere. As a user, the tool writes as that user.
pub(super) fn not_shared(what: &str, dir: &Utf8Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = crate::record::effective_uid();
    let mut at = Some(dir);
    while let Some(d) = at {
        if let Ok(meta) = std::fs::symlink_metadata(d) {
            if meta.file_type().is_symlink() && d == dir {
                return Err(bad(
                    what,
                    dir.as_str(),
                    "is a symbolic link: give the directory itself",
                ));
            }
            let meta = std::fs::metadata(d).unwrap_or(meta);
            if meta.mode() & 0o022 != 0 || (meta.uid() != 0 && Some(meta.uid()) != me) {
                return Err(bad(
                    what,
                    dir.as_str(),
                    format!("'{d}' can be written by other users, who could plant links there for root to follow: run `mirror` as yourself (it needs no root), or choose a directory only root can write"),
                ));
            }
            return Ok(());
        }
        at = d.parent();
    }
    Ok(())
}

/// A `--to-dir` directory's manifest, checked: the format, each reference and digest, each
/// directory inside it.
pub fn load_manifest(dir: &Utf8Path) -> anyhow::Result<Vec<Item>> {
    let path = dir.join(mirror::DIR_MANIFEST);
    let what = "--from-dir";
    if !path.is_file() {
        return Err(bad(
            what,
            dir.as_str(),
            format!(
                "has no {} (was it made by `mirror --to-dir`?)",
                mirror::DIR_MANIFEST
            ),
        ));
    }
    let bytes = validate::read_bounded(what, &path, 16 << 20)?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(what, path.as_str(), format!("not JSON: {e}")))?;
    if doc.get("format").and_then(Value::as_str) != Some(mirror::DIR_FORMAT) {
        return Err(bad(
            what,
            path.as_str(),
            format!("is not a manifest of format {}", mirror::DIR_FORMAT),
        ));
    }
    let Some(images) = doc.get("images").and_then(Value::as_array) else {
        return Err(bad(what, path.as_str(), "has no \"images\" list"));
    };
    let mut items = Vec::new();
    for (i, e) in images.iter().enumerate() {
        let at = format!("{path}: images[{i}]");
        let field = |k: &str| {
            e.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&at, &e.to_string(), format!("has no \"{k}\"")))
        };
        let reference = mirror::source_reference(&at, field("reference")?)?;
        let digest = field("digest")?;
        if !validate::is_digest(digest) {
            return Err(bad(&at, digest, "not a digest (sha256:<64 hex digits>)"));
        }
        let kind = Kind::parse(field("kind")?).ok_or_else(|| {
            bad(
                &at,
                field("kind").unwrap_or(""),
                "kind must be release, workload or os",
            )
        })?;
        let sub = field("dir")?;
        if sub != dir_of(&reference) {
            return Err(bad(
                &at,
                sub,
                format!(
                    "is not the directory of {reference} ({})",
                    dir_of(&reference)
                ),
            ));
        }
        if !dir.join(sub).join("manifest.json").is_file() {
            return Err(bad(
                &at,
                sub,
                format!(
                    "{} holds no image (manifest.json): the directory is incomplete",
                    dir.join(sub)
                ),
            ));
        }
        if let Some(d) = validate::reference_parts(&reference).2 {
            if d != digest {
                return Err(bad(
                    &at,
                    digest,
                    format!("is not the digest {reference} names"),
                ));
            }
        }
        items.push(Item {
            reference,
            kind,
            digest: Some(digest.to_string()),
            dir: Some(sub.to_string()),
        });
    }
    Ok(items)
}
