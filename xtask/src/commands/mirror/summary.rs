//! The `--json` summary of a `mirror` run, from the plan's facts and the steps' results.

use serde_json::{json, Value};

/// The `--json` summary: each image (from the plan's facts), where it went, its digest and
/// size (a list's: its images' bytes, read after its copy; unknown for a list that was there
/// already), and whether it was copied now, was there already, or failed; and a line for
/// people.
pub(super) fn summary(results: &std::collections::BTreeMap<String, Value>, _code: i32) -> Value {
    let planned = results
        .get("_facts")
        .and_then(|f| f.get("images"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut images = Vec::new();
    let (mut copied, mut there, mut failed, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for (i, p) in planned.iter().enumerate() {
        let n = i + 1;
        let (state, found) = match (
            results.get(&format!("verify-{n}")),
            results.get(&format!("there-{n}")),
        ) {
            (Some(v), _) => ("copied", Some(v)),
            (None, Some(t)) => ("already_there", Some(t)),
            (None, None) => ("failed", None),
        };
        let size = found.and_then(|f| match f["kind"].as_str() {
            Some("list") => results
                .get(&format!("members-{n}"))
                .and_then(|m| m["size"].as_u64()),
            _ => f["size"].as_u64(),
        });
        match state {
            "copied" => {
                copied += 1;
                bytes = bytes.saturating_add(size.unwrap_or(0));
            }
            "already_there" => there += 1,
            _ => failed += 1,
        }
        images.push(json!({
            "reference": p["reference"],
            "kind": p["kind"],
            "destination": p["destination"],
            "digest": found.map(|f| f["digest"].clone()),
            "manifest": found.map(|f| f["kind"].clone()),
            "size": size,
            "state": state,
        }));
    }
    json!({
        "images": images,
        "copied": copied,
        "already_there": there,
        "failed": failed,
        "bytes_copied": bytes,
        "line": format!(
            "ok: {} images mirrored: {copied} copied ({}), {there} there already",
            copied + there,
            crate::validate::human(bytes)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 29: a list copied counts its images' bytes (the list's own manifest has none).
    #[test]
    fn a_copied_list_counts_its_images() {
        let mut results = std::collections::BTreeMap::new();
        results.insert(
            "_facts".to_string(),
            json!({ "images": [
                { "reference": "q.io/a/os:latest", "kind": "os", "destination": "m/q.io/a/os:latest" },
                { "reference": "q.io/a/app:1", "kind": "workload", "destination": "m/q.io/a/app:1" },
                { "reference": "q.io/a/lib:1", "kind": "workload", "destination": "m/q.io/a/lib:1" },
            ] }),
        );
        results.insert(
            "verify-1".into(),
            json!({ "kind": "list", "size": 0, "digest": "sha256:1" }),
        );
        results.insert("members-1".into(), json!({ "images": 2, "size": 3000 }));
        results.insert(
            "verify-2".into(),
            json!({ "kind": "image", "size": 500, "digest": "sha256:2" }),
        );
        results.insert(
            "there-3".into(),
            json!({ "kind": "list", "size": 0, "digest": "sha256:3" }),
        );
        let doc = summary(&results, 0);
        assert_eq!(doc["bytes_copied"], 3500, "{doc}");
        assert_eq!(doc["images"][0]["size"], 3000);
        // a list that was there: its images were not read, its size is not known
        assert_eq!(doc["images"][2]["size"], Value::Null);
        assert_eq!(doc["already_there"], 1);
    }
}
