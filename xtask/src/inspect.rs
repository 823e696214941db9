//! Checks over the JSON that tools print (`podman image inspect`, `podman manifest inspect`).
//! Each check is pure: text in, a summary (for the report and `--json`) or an error out.

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use crate::validate::Arch;

#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// `podman image inspect`: the image exists (and has the architecture, if given).
    Image {
        reference: String,
        arch: Option<Arch>,
    },
    /// `podman manifest inspect`: the list holds exactly these architectures.
    ManifestArchs { expected: Vec<Arch> },
}

impl Check {
    /// A few words for the dry-run rendering.
    pub fn describe(&self) -> String {
        match self {
            Check::Image { arch: Some(a), .. } => format!("check the image is {a}"),
            Check::Image { arch: None, .. } => "check the image exists".to_string(),
            Check::ManifestArchs { expected } => format!(
                "check the list holds exactly {}",
                expected
                    .iter()
                    .map(|a| a.oci())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    pub fn judge(&self, stdout: &str) -> anyhow::Result<Value> {
        match self {
            Check::Image { reference, arch } => image(stdout, reference, *arch),
            Check::ManifestArchs { expected } => manifest_archs(stdout, expected),
        }
    }
}

fn parse(stdout: &str, what: &str) -> anyhow::Result<Value> {
    serde_json::from_str(stdout).with_context(|| format!("could not parse the JSON of {what}"))
}

/// Summarise `podman image inspect` output: id, digest, size, architecture, os, tags.
pub fn image(stdout: &str, reference: &str, arch: Option<Arch>) -> anyhow::Result<Value> {
    let doc = parse(stdout, "podman image inspect")?;
    let first = doc
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| anyhow!("podman image inspect returned no image"))?;
    let field = |k: &str| {
        first
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let id = field("Id");
    if id.is_empty() {
        bail!("podman image inspect returned an image without an Id");
    }
    let found = field("Architecture");
    if let Some(want) = arch {
        if found != want.oci() {
            bail!(
                "the image is built for '{found}', not '{want}' (is emulation for {want} set up? try `cargo xtask doctor --for build`)"
            );
        }
    }
    let size = first.get("Size").and_then(Value::as_u64).unwrap_or(0);
    let tags: Vec<Value> = first
        .get("RepoTags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(json!({
        "reference": reference,
        "id": id,
        "digest": field("Digest"),
        "size": size,
        "architecture": found,
        "os": field("Os"),
        "tags": tags,
    }))
}

/// Check a manifest list for exactly the expected architectures (each once).
pub fn manifest_archs(stdout: &str, expected: &[Arch]) -> anyhow::Result<Value> {
    let doc = parse(stdout, "podman manifest inspect")?;
    let manifests = doc
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("the pushed image is not a manifest list (no 'manifests' array)"))?;
    let mut found = Vec::new();
    let mut entries = Vec::new();
    for m in manifests {
        let arch = m
            .pointer("/platform/architecture")
            .and_then(Value::as_str)
            .unwrap_or("");
        let digest = m.get("digest").and_then(Value::as_str).unwrap_or("");
        found.push(arch.to_string());
        entries.push(json!({ "architecture": arch, "digest": digest }));
    }
    let mut want: Vec<String> = expected.iter().map(|a| a.oci().to_string()).collect();
    want.sort();
    let mut got = found.clone();
    got.sort();
    if got != want {
        bail!(
            "the manifest list holds [{}], expected exactly [{}] (push every architecture first: `cargo xtask push --arch A`)",
            got.join(", "),
            want.join(", ")
        );
    }
    Ok(json!({ "architectures": found, "manifests": entries }))
}

/// One line per result worth telling a person, after a plan succeeded.
pub fn summary(data: &std::collections::BTreeMap<String, Value>) -> Vec<String> {
    let mut lines = Vec::new();
    for v in data.values() {
        let text = |k: &str| v.get(k).and_then(Value::as_str);
        if let (Some(reference), Some(id), Some(arch)) =
            (text("reference"), text("id"), text("architecture"))
        {
            let size = crate::validate::human(v["size"].as_u64().unwrap_or(0));
            let short = &id[..id.len().min(12)];
            lines.push(format!(
                "ok: image {reference} ({arch}, {size}, id {short})"
            ));
        }
        if let Some(archs) = v.get("architectures").and_then(Value::as_array) {
            let names: Vec<&str> = archs.iter().filter_map(Value::as_str).collect();
            lines.push(format!("ok: manifest list holds {}", names.join(", ")));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_summary() {
        let out = r#"[{"Id":"abc","Digest":"sha256:d","Size":42,"Architecture":"arm64","Os":"linux","RepoTags":["localhost/x:linux-arm64"]}]"#;
        let v = image(out, "localhost/x:linux-arm64", Some(Arch::Arm64)).unwrap();
        assert_eq!(v["size"], 42);
        let e = image(out, "localhost/x:linux-arm64", Some(Arch::Amd64))
            .unwrap_err()
            .to_string();
        assert!(e.contains("built for 'arm64', not 'amd64'"), "{e}");
        assert!(image("[]", "x", None).is_err());
        assert!(image("not json", "x", None).is_err());
    }

    #[test]
    fn manifest_exact() {
        let list = |archs: &[&str]| {
            let m: Vec<Value> = archs
                .iter()
                .map(|a| json!({"digest": "sha256:x", "platform": {"architecture": a, "os": "linux"}}))
                .collect();
            json!({ "schemaVersion": 2, "manifests": m }).to_string()
        };
        let both = [Arch::Amd64, Arch::Arm64];
        assert!(manifest_archs(&list(&["arm64", "amd64"]), &both).is_ok());
        assert!(manifest_archs(&list(&["amd64"]), &both).is_err());
        assert!(manifest_archs(&list(&["amd64", "amd64", "arm64"]), &both).is_err());
        assert!(manifest_archs(&list(&["amd64", "arm64", "s390x"]), &both).is_err());
        assert!(manifest_archs(r#"{"schemaVersion":2}"#, &both).is_err());
    }
}
