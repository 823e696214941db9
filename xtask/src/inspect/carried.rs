//! Judging what a carried update's steps print: a bundle's manifest (its image for a
//! device's architecture), what a device's verifier says its upload lacks, and the
//! verifier's result.

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// The manifest format `cargo xtask bundle` writes and the verifier reads.
pub const BUNDLE_FORMAT: &str = "xtask-bundle/1";

/// `bundle.json`'s image for `arch`: its digest, and its bytes (every file and blob).
pub fn bundle_member(stdout: &str, arch: &str) -> anyhow::Result<Value> {
    let doc: Value = serde_json::from_str(stdout).context("the bundle's manifest is not JSON")?;
    if doc.get("format").and_then(Value::as_str) != Some(BUNDLE_FORMAT) {
        bail!("the bundle's manifest is not of format {BUNDLE_FORMAT}");
    }
    let images: Vec<&Value> = doc
        .get("images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let has: Vec<&str> = images
        .iter()
        .filter_map(|i| i.get("architecture").and_then(Value::as_str))
        .collect();
    let mine: Vec<&&Value> = images
        .iter()
        .filter(|i| i.get("architecture").and_then(Value::as_str) == Some(arch))
        .collect();
    let [image] = mine.as_slice() else {
        bail!(
            "the bundle has no image for the device's architecture {} (it has: {}): make one with `cargo xtask bundle --arch {}`",
            crate::validate::escape_controls(arch),
            has.join(", "),
            crate::validate::escape_controls(arch)
        );
    };
    let digest = image
        .get("digest")
        .and_then(Value::as_str)
        .filter(|d| crate::validate::is_digest(d))
        .context("the bundle's manifest gives no digest for the image")?;
    let bytes = ["files", "blobs"]
        .iter()
        .filter_map(|k| image.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|f| f.get("size").and_then(Value::as_u64))
        .fold(0u64, u64::saturating_add);
    Ok(json!({
        "architecture": arch,
        "digest": digest,
        "bytes": bytes,
        "need": bytes.to_string(),
    }))
}

/// The sftp batch that sends `lines` (paths in the bundle) from `local` into `upload`: the
/// same text as the printed plan's [`crate::plan::missing_batch_jq`].
pub fn missing_batch(local: &str, upload: &str, lines: &[String]) -> String {
    let mut m: Vec<&str> = lines.iter().map(String::as_str).collect();
    m.sort_unstable();
    m.dedup();
    let mut archs: Vec<&str> = m
        .iter()
        .map(|l| l.split('/').next().unwrap_or(""))
        .collect();
    archs.sort_unstable();
    archs.dedup();
    let mut out = format!("-mkdir \"{upload}\"\n");
    for a in archs {
        for sub in ["", "/blobs", "/blobs/sha256"] {
            out.push_str(&format!("-mkdir \"{upload}/{a}{sub}\"\n"));
        }
    }
    for f in m {
        out.push_str(&format!("put \"{local}/{f}\" \"{upload}/{f}\"\n"));
    }
    out
}

/// What the device lacks: each line one of the bundle's files (a device naming anything
/// else is refused: its words never reach the batch), and the batch that sends them.
pub fn missing(stdout: &str, local: &str, upload: &str, files: &[String]) -> anyhow::Result<Value> {
    let lines: Vec<String> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(odd) = lines.iter().find(|l| !files.contains(l)) {
        bail!(
            "the device named '{}' as missing, which is no file of the bundle",
            crate::validate::escape_controls(odd)
        );
    }
    let batch = missing_batch(local, upload, &lines);
    // the batch as the printed plan's jq prints it: no newline after the last line
    let batch = batch.strip_suffix('\n').unwrap_or(&batch).to_string();
    Ok(json!({ "missing": lines, "count": lines.len(), "batch": batch }))
}

/// The verifier's result document: staged or current (a refusal exits non-zero first).
pub fn carried(stdout: &str) -> anyhow::Result<Value> {
    let doc: Value =
        serde_json::from_str(stdout).context("the verifier printed no result (JSON)")?;
    match doc.get("result").and_then(Value::as_str) {
        Some("staged") | Some("current") => Ok(doc),
        Some("refused") => bail!(
            "the device refused the bundle: {}",
            crate::validate::escape_controls(
                doc.get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given")
            )
        ),
        _ => bail!("the verifier printed no result it knows"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_batches() {
        let doc = r#"{"format": "xtask-bundle/1", "images": [
            {"architecture": "amd64", "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
             "files": [{"size": 31}, {"size": 100}], "blobs": [{"size": 1000}, {"size": 24}]}]}"#;
        let m = bundle_member(doc, "amd64").unwrap();
        assert_eq!(m["bytes"], 1155);
        assert_eq!(m["need"], "1155");
        let e = bundle_member(doc, "arm64").unwrap_err().to_string();
        assert!(
            e.contains("no image for the device's architecture arm64 (it has: amd64)"),
            "{e}"
        );
        assert!(bundle_member(&doc.replace("xtask-bundle/1", "x/2"), "amd64").is_err());
        let files = vec![
            "amd64/index.json".to_string(),
            "amd64/blobs/sha256/ab".to_string(),
        ];
        let v = missing("amd64/index.json\n", "/b", "up", &files).unwrap();
        assert_eq!(
            v["batch"],
            "-mkdir \"up\"\n-mkdir \"up/amd64\"\n-mkdir \"up/amd64/blobs\"\n-mkdir \"up/amd64/blobs/sha256\"\nput \"/b/amd64/index.json\" \"up/amd64/index.json\""
        );
        // a device's words never reach the batch
        let e = missing("!rm -rf ~\n", "/b", "up", &files)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no file of the bundle"), "{e}");
        assert_eq!(
            missing("", "/b", "up", &files).unwrap()["batch"],
            "-mkdir \"up\""
        );
    }
}
