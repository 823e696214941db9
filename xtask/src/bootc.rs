//! `bootc status --json` (schema `org.containers.bootc/v1alpha1` and `v1`, `BootcHost`):
//! the booted, staged and rollback deployments of a device, each with its image reference,
//! per-architecture digest, version and build time. Read field by field: a document of
//! another shape is an error that names the field, never a panic. Older documents (no
//! `type`, no `rollbackQueued`) read as well.

use anyhow::{anyhow, bail};
use serde_json::{json, Map, Value};

/// How a deployment's image is verified when bootc fetches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// `insecure`: no verification.
    Insecure,
    /// `containerPolicy`: the device's `containers-policy.json` decides.
    ContainerPolicy,
    /// An ostree remote's keys.
    OstreeRemote(String),
}

impl Signature {
    pub fn word(&self) -> String {
        match self {
            Signature::Insecure => "insecure (no signature verification)".to_string(),
            Signature::ContainerPolicy => "containerPolicy (the device's policy.json)".to_string(),
            Signature::OstreeRemote(r) => format!("ostree remote {r}"),
        }
    }
}

/// One deployment: what it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// The image reference, as bootc was told (a tag or a digest).
    pub reference: String,
    pub transport: String,
    pub signature: Option<Signature>,
    /// The per-architecture manifest digest (never a manifest list's).
    pub digest: String,
    pub architecture: String,
    pub version: Option<String>,
    pub timestamp: Option<String>,
    pub pinned: bool,
    pub incompatible: bool,
    pub download_only: bool,
}

/// The whole host, as `bootc status --json` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// The image the host follows (`spec.image.image`), if any.
    pub spec_image: Option<String>,
    pub booted: Option<Deployment>,
    pub staged: Option<Deployment>,
    pub rollback: Option<Deployment>,
    /// The rollback deployment boots next (`bootc rollback` without `--apply`); absent in
    /// older documents.
    pub rollback_queued: Option<bool>,
    pub is_container: Option<bool>,
}

/// A field that is there and not null.
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn text(v: &Value, path: &str, key: &str) -> anyhow::Result<String> {
    match field(v, key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => bail!("bootc status: {path}.{key}: expected a string, found {other}"),
        None => bail!("bootc status: {path}.{key}: missing"),
    }
}

fn optional_text(v: &Value, path: &str, key: &str) -> anyhow::Result<Option<String>> {
    match field(v, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => bail!("bootc status: {path}.{key}: expected a string, found {other}"),
    }
}

fn optional_flag(v: &Value, path: &str, key: &str) -> anyhow::Result<Option<bool>> {
    match field(v, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => bail!("bootc status: {path}.{key}: expected true or false, found {other}"),
    }
}

/// A flag that is false when absent.
fn flag(v: &Value, path: &str, key: &str) -> anyhow::Result<bool> {
    Ok(optional_flag(v, path, key)?.unwrap_or(false))
}

fn signature(v: Option<&Value>, path: &str) -> anyhow::Result<Option<Signature>> {
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "insecure" => Some(Signature::Insecure),
        Some(Value::String(s)) if s == "containerPolicy" => Some(Signature::ContainerPolicy),
        Some(Value::Object(o)) => match o.get("ostreeRemote") {
            Some(Value::String(r)) => Some(Signature::OstreeRemote(r.clone())),
            _ => bail!("bootc status: {path}.signature: an object without ostreeRemote"),
        },
        Some(other) => bail!("bootc status: {path}.signature: not a known signature mode: {other}"),
    })
}

fn deployment(v: &Value, path: &str) -> anyhow::Result<Option<Deployment>> {
    if v.is_null() {
        return Ok(None);
    }
    if !v.is_object() {
        bail!("bootc status: {path}: expected an object or null, found {v}");
    }
    let Some(image) = field(v, "image") else {
        // a deployment bootc did not make (no image): nothing to compare
        return Ok(None);
    };
    let ipath = format!("{path}.image");
    let reference =
        field(image, "image").ok_or_else(|| anyhow!("bootc status: {ipath}.image: missing"))?;
    let rpath = format!("{ipath}.image");
    Ok(Some(Deployment {
        reference: text(reference, &rpath, "image")?,
        transport: optional_text(reference, &rpath, "transport")?
            .unwrap_or_else(|| "registry".into()),
        signature: signature(reference.get("signature"), &rpath)?,
        digest: {
            let d = text(image, &ipath, "imageDigest")?;
            if !crate::validate::is_digest(&d) {
                bail!(
                    "bootc status: {ipath}.imageDigest: not a digest: {}",
                    crate::validate::show(&d)
                );
            }
            d
        },
        architecture: optional_text(image, &ipath, "architecture")?.unwrap_or_default(),
        version: optional_text(image, &ipath, "version")?,
        timestamp: optional_text(image, &ipath, "timestamp")?,
        pinned: flag(v, path, "pinned")?,
        incompatible: flag(v, path, "incompatible")?,
        download_only: flag(v, path, "downloadOnly")?,
    }))
}

/// Read `bootc status --json`.
pub fn parse(stdout: &str) -> anyhow::Result<Host> {
    let doc: Value = serde_json::from_str(stdout)
        .map_err(|e| anyhow!("bootc status printed no JSON document: {e}"))?;
    let kind = doc.get("kind").and_then(Value::as_str);
    if kind != Some("BootcHost") {
        bail!(
            "bootc status: kind: expected BootcHost, found {}",
            doc.get("kind")
                .map_or("nothing".to_string(), Value::to_string)
        );
    }
    let status = doc
        .get("status")
        .filter(|s| s.is_object())
        .ok_or_else(|| anyhow!("bootc status: status: missing or not an object"))?;
    let spec_image = match doc.pointer("/spec/image") {
        None | Some(Value::Null) => None,
        Some(img) => Some(text(img, "spec.image", "image")?),
    };
    let part = |key: &str| -> anyhow::Result<Option<Deployment>> {
        match status.get(key) {
            None => Ok(None),
            Some(v) => deployment(v, &format!("status.{key}")),
        }
    };
    Ok(Host {
        spec_image,
        booted: part("booted")?,
        staged: part("staged")?,
        rollback: part("rollback")?,
        rollback_queued: optional_flag(status, "status", "rollbackQueued")?,
        is_container: optional_flag(status, "status", "isContainer")?,
    })
}

impl Deployment {
    pub fn to_json(&self) -> Value {
        json!({
            "image": self.reference,
            "transport": self.transport,
            "signature": self.signature.as_ref().map(Signature::word),
            "digest": self.digest,
            "architecture": self.architecture,
            "version": self.version,
            "timestamp": self.timestamp,
            "pinned": self.pinned,
        })
    }

    /// `REF (DIGEST, version V, built T)`, for a line (what the device said, its hidden
    /// characters escaped: it goes to a terminal).
    pub fn describe(&self) -> String {
        let mut extra = vec![self.digest.clone()];
        if let Some(v) = &self.version {
            extra.push(format!("version {v}"));
        }
        if let Some(t) = &self.timestamp {
            extra.push(format!("built {t}"));
        }
        if !self.architecture.is_empty() {
            extra.push(self.architecture.clone());
        }
        crate::validate::escape_controls(&format!("{} ({})", self.reference, extra.join(", ")))
    }
}

impl Host {
    /// The host as the `--json` report holds it.
    pub fn to_json(&self) -> Value {
        let part = |d: &Option<Deployment>| d.as_ref().map_or(Value::Null, Deployment::to_json);
        let mut m = Map::new();
        m.insert("spec_image".into(), json!(self.spec_image));
        m.insert("booted".into(), part(&self.booted));
        m.insert("staged".into(), part(&self.staged));
        m.insert("rollback".into(), part(&self.rollback));
        m.insert("rollback_queued".into(), json!(self.rollback_queued));
        m.insert("next_boot".into(), json!(self.next_boot()));
        // the values later steps compare with
        m.insert(
            "booted_digest".into(),
            json!(self.booted.as_ref().map(|d| d.digest.clone())),
        );
        m.insert(
            "staged_digest".into(),
            json!(self.staged.as_ref().map(|d| d.digest.clone())),
        );
        m.insert(
            "rollback_digest".into(),
            json!(self.rollback.as_ref().map(|d| d.digest.clone())),
        );
        m.insert(
            "architecture".into(),
            json!(self.booted.as_ref().map(|d| d.architecture.clone())),
        );
        m.insert("lines".into(), json!(self.lines()));
        Value::Object(m)
    }

    /// What boots next: `rollback` (a rollback is queued: `bootc rollback` again would
    /// cancel it), `staged`, or `booted` (the same again).
    pub fn next_boot(&self) -> &'static str {
        if self.rollback_queued == Some(true) {
            "rollback"
        } else if self.staged.is_some() {
            "staged"
        } else {
            "booted"
        }
    }

    /// Lines for a person: each deployment, and what boots next.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut say = |what: &str, d: &Option<Deployment>| {
            if let Some(d) = d {
                out.push(format!("{what}: {}", d.describe()));
            }
        };
        say("booted", &self.booted);
        say("staged (boots next)", &self.staged);
        say("rollback", &self.rollback);
        if self.rollback_queued == Some(true) {
            out.push("rollback queued: the rollback deployment boots next".to_string());
        }
        if let Some(sig) = self.booted.as_ref().and_then(|d| d.signature.as_ref()) {
            out.push(format!("signature: {}", sig.word()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deployment as bootc prints it (written from the schema, host-v1.schema.json).
    fn entry(reference: &str, digest: &str, extra: &str) -> String {
        format!(
            r#"{{"image": {{"image": {{"image": "{reference}", "transport": "registry", "signature": "insecure"}}, "architecture": "amd64", "version": "9.6.20250101", "timestamp": "2025-01-01T10:00:00Z", "imageDigest": "{digest}"}}, "incompatible": false, "pinned": false, "downloadOnly": false, "ostree": {{"checksum": "abc", "deploySerial": 0, "stateroot": "default"}}{extra}}}"#
        )
    }

    fn host(booted: &str, staged: &str, rollback: &str, tail: &str) -> String {
        format!(
            r#"{{"apiVersion": "org.containers.bootc/v1", "kind": "BootcHost", "metadata": {{"name": "host"}}, "spec": {{"image": {{"image": "quay.io/org/edge:latest", "transport": "registry"}}, "bootOrder": "default"}}, "status": {{"staged": {staged}, "booted": {booted}, "rollback": {rollback}{tail}}}}}"#
        )
    }

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn every_state() {
        let booted = entry("quay.io/org/edge:latest", A, "");
        // only booted, newer document
        let h = parse(&host(
            &booted,
            "null",
            "null",
            r#", "rollbackQueued": false, "type": "bootcHost""#,
        ))
        .unwrap();
        assert_eq!(h.booted.as_ref().unwrap().digest, A);
        assert!(h.staged.is_none() && h.rollback.is_none());
        assert_eq!(h.rollback_queued, Some(false));
        // staged
        let staged = entry("quay.io/org/edge@sha256:bb", B, "");
        let h = parse(&host(&booted, &staged, "null", "")).unwrap();
        assert_eq!(h.next_boot(), "staged");
        assert_eq!(h.staged.unwrap().digest, B);
        // rollback, queued
        let h = parse(&host(
            &booted,
            "null",
            &entry("r", B, ""),
            r#", "rollbackQueued": true"#,
        ))
        .unwrap();
        assert_eq!(h.next_boot(), "rollback");
        assert_eq!(h.rollback.unwrap().digest, B);
        assert_eq!(h.rollback_queued, Some(true));
        // pinned; an older document without type or rollbackQueued
        let pinned = entry("quay.io/org/edge:latest", A, r#", "pinned": true"#)
            .replace(r#""pinned": false, "#, "");
        let h = parse(&host(&pinned, "null", "null", "")).unwrap();
        assert!(h.booted.unwrap().pinned);
        assert_eq!(h.rollback_queued, None);
        // nothing booted by bootc (a container, or v1 with nulls)
        let h = parse(r#"{"apiVersion":"org.containers.bootc/v1","kind":"BootcHost","metadata":{"name":"host"},"spec":{"image":null,"bootOrder":"default"},"status":{"staged":null,"booted":null,"rollback":null,"rollbackQueued":false,"type":null}}"#).unwrap();
        assert!(h.booted.is_none() && h.spec_image.is_none());
        // a signature from an ostree remote
        let remote = booted.replace(
            r#""signature": "insecure""#,
            r#""signature": {"ostreeRemote": "fedora"}"#,
        );
        let h = parse(&host(&remote, "null", "null", "")).unwrap();
        assert_eq!(
            h.booted.unwrap().signature,
            Some(Signature::OstreeRemote("fedora".into()))
        );
    }

    #[test]
    fn malformed_documents_name_the_field() {
        let booted = entry("q", A, "");
        for (doc, field) in [
            ("not json".to_string(), "no JSON"),
            ("[]".to_string(), "kind"),
            (r#"{"kind": "BootcHost"}"#.to_string(), "status"),
            (
                host(&booted.replace(A, "sha256:short"), "null", "null", ""),
                "status.booted.image.imageDigest",
            ),
            (
                host(
                    &booted.replace(&format!(r#""imageDigest": "{A}""#), r#""imageDigest": 7"#),
                    "null",
                    "null",
                    "",
                ),
                "status.booted.image.imageDigest",
            ),
            (
                host(&booted, "null", "null", r#", "rollbackQueued": "yes""#),
                "status.rollbackQueued",
            ),
            (host("[1]", "null", "null", ""), "status.booted"),
            (
                host(
                    &booted.replace(r#""signature": "insecure""#, r#""signature": "maybe""#),
                    "null",
                    "null",
                    "",
                ),
                "signature",
            ),
            (
                host(
                    &booted.replace(r#""pinned": false"#, r#""pinned": "no""#),
                    "null",
                    "null",
                    "",
                ),
                "status.booted.pinned",
            ),
        ] {
            let e = parse(&doc).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }
}
