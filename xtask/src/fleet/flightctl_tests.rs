//! A flightctl rollout's verdicts over looks as flightctl's API gives them: each device's
//! turn, when the watch is done (the rollout's own, stopped for an approval, ended), the
//! report and its batch that waits, and the printed plan's jq taking the same turns.

use serde_json::{json, Value};

use super::*;
use crate::plan::flightctl::{shell_done, shell_exit, shell_said};

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const AMD: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const ARM: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
const OTHER: &str = "sha256:9999999999999999999999999999999999999999999999999999999999999999";
const IMAGE: &str = "quay.io/org/os@sha256:aaaa";

fn plan(names: &[&str]) -> FlightctlPlan {
    FlightctlPlan {
        fleet: "edge".into(),
        api: "https://api.example.com".into(),
        image: IMAGE.into(),
        digests: vec![("amd64".into(), AMD.into()), ("arm64".into(), ARM.into())],
        devices: names
            .iter()
            .map(|n| FlightctlDevice {
                name: n.to_string(),
                architecture: Some("amd64".into()),
                before: Some(if n.starts_with("skip") { AMD } else { OLD }.to_string()),
                given: false,
            })
            .collect(),
        template_before: Some("edge-1".into()),
        changes_template: true,
        approved_batch: None,
        rerun: "cargo xtask rollout --flightctl edge --image quay.io/org/os@sha256:aaaa".into(),
        approve:
            "cargo xtask rollout --flightctl edge --image quay.io/org/os@sha256:aaaa --approve"
                .into(),
    }
}

/// A device as flightctl lists it: given the image or not, what it runs, what flightctl
/// says, its `Updating` condition.
fn dev(name: &str, arch: &str, given: bool, now: &str, updated: &str, summary: &str) -> Value {
    json!({
        "apiVersion": "v1beta1", "kind": "Device",
        "metadata": {"name": name, "annotations": {RENDERED_VERSION: "3"}},
        "spec": {"os": {"image": if given { IMAGE } else { "quay.io/org/os@sha256:old" }}},
        "status": {
            "conditions": [],
            "systemInfo": {"architecture": arch},
            "os": {"image": "x", "imageDigest": now},
            "updated": {"status": updated, "info": "what flightctl says"},
            "summary": {"status": summary, "info": "its summary"},
        },
    })
}

/// The device's agent reports it applied this rendered version (`status.config`).
fn applied(mut d: Value, version: &str) -> Value {
    d["status"]["config"] = json!({"renderedVersion": version});
    d
}

fn error(mut d: Value, version: &str) -> Value {
    d["status"]["conditions"] = json!([{
        "type": "Updating", "status": "False", "reason": "Error",
        "message": format!("Failed to update to renderedVersion: {version}: greenboot said no"),
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }]);
    d
}

fn fleet(tv: &str, batch: Option<i64>, reason: Option<&str>) -> Value {
    let mut f = json!({
        "apiVersion": "v1beta1", "kind": "Fleet",
        "metadata": {"name": "edge", "annotations": {TEMPLATE_VERSION: tv}},
        "spec": {"template": {"spec": {"os": {"image": IMAGE}}},
                 "rolloutPolicy": {"deviceSelection": {"strategy": "BatchSequence", "sequence": [{"limit": 1}, {"limit": 1}]}}},
        "status": {"conditions": []},
    });
    if let Some(b) = batch {
        f["metadata"]["annotations"][BATCH_NUMBER] = json!(b.to_string());
    }
    if let Some(r) = reason {
        f["status"]["conditions"] = json!([{"type": "RolloutInProgress", "status": "False", "reason": r, "message": "batch 2 failed: 50% ...", "lastTransitionTime": "2026-01-01T00:00:00Z"}]);
        f["metadata"]["annotations"][LAST_BATCH_REPORT] = json!(
            r#"{"batchName":"batch 2","successPercentage":50,"total":2,"successful":1,"failed":1,"timedOut":0}"#
        );
    }
    f
}

fn look(f: Value, devices: Vec<Value>) -> String {
    format!(
        "{}\n{}",
        f,
        json!({"apiVersion": "v1beta1", "kind": "DeviceList", "metadata": {}, "items": devices})
    )
}

/// The verdict words of a done look, or `None` when the watch goes on.
fn judged(text: &str, p: &FlightctlPlan) -> (bool, Value) {
    match judge(text, p, None) {
        Ok(report) => (true, report),
        Err(e) => {
            let n = e.downcast::<NotYet>().expect("a not yet");
            (false, n.detail["final"].clone())
        }
    }
}

fn words(report: &Value) -> Vec<String> {
    report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}={}",
                d["host"].as_str().unwrap(),
                d["verdict"].as_str().unwrap()
            )
        })
        .collect()
}

/// Every kind of device in one look of the pinned image's rollout, the last batch done.
fn every_kind() -> (String, FlightctlPlan) {
    let p = plan(&[
        "a-up", "b-red", "c-wrong", "d-gone", "e-s390x", "f-left", "skip-g", "h-stale", "j-other",
        "k-behind",
    ]);
    let text = look(
        fleet("edge-2", Some(2), Some("Inactive")),
        vec![
            dev("a-up", "amd64", true, AMD, "UpToDate", "Online"),
            error(dev("b-red", "arm64", true, OLD, "OutOfDate", "Online"), "3"),
            error(
                dev("c-wrong", "amd64", true, OTHER, "OutOfDate", "Online"),
                "3",
            ),
            dev("d-gone", "amd64", true, OLD, "Unknown", "Unknown"),
            dev("e-s390x", "s390x", true, OLD, "UpToDate", "Online"),
            dev("skip-g", "amd64", true, AMD, "UpToDate", "Online"),
            // an older failure's error, the device given the image since: still updating
            error(
                dev("h-stale", "amd64", true, OLD, "OutOfDate", "Online"),
                "2",
            ),
            // joined the fleet during the rollout, not given the image yet
            dev("i-new", "amd64", false, OLD, "OutOfDate", "Online"),
            // up to date with the spec naming the pinned image (its config version 3, the
            // one flightctl gave it), yet another digest: failed, now
            applied(
                dev("j-other", "amd64", true, OTHER, "UpToDate", "Online"),
                "3",
            ),
            // its agent has not applied version 3 yet (an UpToDate of the spec before):
            // still updating
            applied(
                dev("k-behind", "amd64", true, OLD, "UpToDate", "Online"),
                "2",
            ),
        ],
    );
    (text, p)
}

#[test]
fn each_device_takes_its_turn() {
    let (text, p) = every_kind();
    let (done, report) = judged(&text, &p);
    // updating (h-stale) and lost (d-gone): the watch goes on
    assert!(!done);
    assert_eq!(
        words(&report),
        [
            "a-up=upgraded",
            "b-red=rolled_back",
            "c-wrong=failed",
            "d-gone=gone",
            "e-s390x=failed",
            "f-left=failed",
            "h-stale=gone",
            "i-new=not_touched",
            "j-other=failed",
            "k-behind=gone",
            "skip-g=skipped",
        ]
    );
    assert_eq!(report["exit"], "4");
    let devices = report["devices"].as_array().unwrap();
    let reason = |h: &str| {
        devices.iter().find(|d| d["host"] == h).unwrap()["reason"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        reason("b-red").contains("previous image") && reason("b-red").contains("greenboot said no")
    );
    assert!(reason("c-wrong").contains(OTHER));
    assert!(reason("d-gone").contains("Unknown"));
    assert!(reason("e-s390x").contains("s390x"));
    assert!(reason("f-left").contains("left the fleet"));
    assert!(reason("h-stale").contains("did not finish"));
    assert!(
        reason("j-other").contains("up to date with the pinned image")
            && reason("j-other").contains(OTHER)
    );
    assert!(reason("k-behind").contains("did not finish"));
}

#[test]
fn the_watch_ends_when_the_rollout_does_or_waits() {
    let p = plan(&["a", "b", "c"]);
    let devices = || {
        vec![
            dev("a", "amd64", true, AMD, "UpToDate", "Online"),
            error(dev("b", "arm64", true, OLD, "OutOfDate", "Online"), "3"),
            dev("c", "amd64", false, OLD, "OutOfDate", "Online"),
        ]
    };
    // the fleet still says the last rollout's (flightctl has not made the new template
    // version): a Suspended of the old rollout is no end
    let (done, _) = judged(
        &look(fleet("edge-1", Some(2), Some("Suspended")), devices()),
        &p,
    );
    assert!(!done);
    // this rollout stopped before batch 3: the end, c not touched, the batch waiting
    let (done, report) = judged(
        &look(fleet("edge-2", Some(2), Some("Suspended")), devices()),
        &p,
    );
    assert!(done);
    assert_eq!(
        words(&report),
        ["a=upgraded", "b=rolled_back", "c=not_touched"]
    );
    let waiting = &report["flightctl"]["waiting"];
    assert_eq!(waiting["batch"], "3/3");
    assert_eq!(waiting["reached"], 50);
    assert_eq!(waiting["threshold"], 90);
    assert_eq!(waiting["approve"], p.approve.as_str());
    let lines = crate::fleet::lines(&report).unwrap();
    assert!(
        lines.contains("batch 3/3 waits for approval: batch 2 reached 50%, below the success threshold of 90% (flightctl's default)"),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("approve it with: {}", p.approve)),
        "{lines}"
    );
    assert!(
        lines.contains("not touched (the rollout stopped after batch"),
        "{lines}"
    );
    let xml = crate::fleet::junit(&report).unwrap();
    assert!(xml.contains("classname=\"rollout.batch-"), "{xml}");
    // the batch this run approved waits no more: flightctl has not looked again yet
    let mut approved = p.clone();
    approved.approved_batch = Some(2);
    let (done, _) = judged(
        &look(fleet("edge-2", Some(2), Some("Suspended")), devices()),
        &approved,
    );
    assert!(!done);
    // a manual approval (Waiting): the end too, and no command can give it
    let (done, report) = judged(
        &look(fleet("edge-2", Some(2), Some("Waiting")), devices()),
        &p,
    );
    assert!(done);
    assert_eq!(report["flightctl"]["waiting"]["approve"], Value::Null);
    // flightctl ended the rollout: the end, whatever it did not give the image to
    let (done, _) = judged(
        &look(fleet("edge-2", Some(2), Some("Inactive")), devices()),
        &p,
    );
    assert!(done);
    // still active, c waiting for its batch: not yet
    let (done, report) = judged(
        &look(fleet("edge-2", Some(1), Some("Active")), devices()),
        &p,
    );
    assert!(!done);
    assert_eq!(report["exit"], "4");
}

/// What the watch remembers from look to look: the batch each device was first seen given
/// the image in (a device given before this run: an earlier run's, 0).
#[test]
fn each_device_keeps_the_batch_it_was_seen_in() {
    let mut p = plan(&["a", "b"]);
    p.devices[1].given = true;
    let first = look(
        fleet("edge-2", Some(0), Some("Active")),
        vec![
            dev("a", "amd64", true, OLD, "Updating", "Rebooting"),
            dev("b", "amd64", true, AMD, "UpToDate", "Online"),
        ],
    );
    let e = judge(&first, &p, None)
        .unwrap_err()
        .downcast::<NotYet>()
        .unwrap();
    assert!(e.progress.starts_with("batch 1/3: "), "{}", e.progress);
    let carried = e.detail.to_string();
    let second = look(
        fleet("edge-2", Some(1), Some("Active")),
        vec![
            dev("a", "amd64", true, AMD, "UpToDate", "Online"),
            dev("b", "amd64", true, AMD, "UpToDate", "Online"),
        ],
    );
    let report = judge(&second, &p, Some(&carried)).unwrap();
    let wave = |i: usize| report["devices"][i]["wave"].as_u64().unwrap();
    assert_eq!((wave(0), wave(1)), (1, 0));
    assert!(crate::fleet::lines(&report).unwrap().contains("earlier"));
}

/// A refused token or a fleet gone: a definite no; a server busy: not yet.
#[test]
fn the_apis_errors() {
    let p = plan(&["a"]);
    let status = |code: i64| {
        json!({"apiVersion": "v1beta1", "kind": "Status", "status": "Failure", "code": code, "reason": "R", "message": "m"}).to_string()
    };
    for code in [401, 403, 404] {
        let e = judge(&status(code), &p, None).unwrap_err();
        assert!(e.is::<Definite>(), "{code}: {e}");
    }
    let e = judge(&status(503), &p, None).unwrap_err();
    assert!(e.is::<NotYet>(), "{e}");
    assert!(judge("not json", &p, None).is_err());
    let e = patched(&status(400), "edge", IMAGE)
        .unwrap_err()
        .to_string();
    assert!(e.contains("refused the patch") && e.contains("400"), "{e}");
    let ok = patched(&fleet("edge-2", None, None).to_string(), "edge", IMAGE).unwrap();
    assert_eq!(ok["template_version"], "edge-2");
}

/// The printed plan's jq says done, and gives the exit code and the counts line, as the tool
/// does, for the same looks (jq is what the printed plans need; CI installs it).
#[test]
fn the_printed_plans_jq_judges_as_the_tool_does() {
    let has_jq = std::process::Command::new("jq")
        .arg("--version")
        .output()
        .is_ok();
    if !has_jq {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "jq is not installed, and CI must run this test");
        eprintln!("SKIPPED the_printed_plans_jq_judges_as_the_tool_does: jq is not installed");
        return;
    }
    let p = plan(&["a", "b", "c"]);
    let mut approved = p.clone();
    approved.approved_batch = Some(2);
    let mut same_image = p.clone();
    same_image.changes_template = false;
    let ok = |n: &str| dev(n, "amd64", true, AMD, "UpToDate", "Online");
    let red = |n: &str| error(dev(n, "arm64", true, OLD, "OutOfDate", "Online"), "3");
    let pending = |n: &str| dev(n, "amd64", false, OLD, "OutOfDate", "Online");
    let cases: Vec<(FlightctlPlan, String)> = vec![
        {
            let (text, p) = every_kind();
            (p, text)
        },
        (
            p.clone(),
            look(
                fleet("edge-2", Some(2), Some("Inactive")),
                vec![ok("a"), ok("b"), ok("c")],
            ),
        ),
        (
            p.clone(),
            look(
                fleet("edge-1", Some(2), Some("Suspended")),
                vec![ok("a"), red("b"), pending("c")],
            ),
        ),
        (
            p.clone(),
            look(
                fleet("edge-2", Some(2), Some("Suspended")),
                vec![ok("a"), red("b"), pending("c")],
            ),
        ),
        (
            approved,
            look(
                fleet("edge-2", Some(2), Some("Suspended")),
                vec![ok("a"), red("b"), pending("c")],
            ),
        ),
        (
            same_image,
            look(
                fleet("edge-1", Some(2), Some("Waiting")),
                vec![ok("a"), red("b"), pending("c")],
            ),
        ),
        (
            p.clone(),
            look(
                fleet("edge-2", None, None),
                vec![
                    ok("a"),
                    dev("b", "amd64", true, OLD, "Unknown", "Unknown"),
                    ok("c"),
                ],
            ),
        ),
        (
            p.clone(),
            look(fleet("edge-2", None, None), vec![ok("a"), ok("b")]),
        ),
        (
            p.clone(),
            look(
                fleet("edge-2", None, None),
                vec![
                    ok("a"),
                    ok("b"),
                    applied(dev("c", "amd64", true, OTHER, "UpToDate", "Online"), "3"),
                ],
            ),
        ),
    ];
    for (p, text) in cases {
        let (done, report) = judged(&text, &p);
        for (filter, want) in [
            (shell_exit(&p), report["exit"].as_str().unwrap().to_string()),
            (shell_said(&p), report["said"].as_str().unwrap().to_string()),
            (
                format!("{{ {} && echo done || echo not; }}", shell_done(&p)),
                if done { "done" } else { "not" }.to_string(),
            ),
        ] {
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("printf '%s\\n' \"$LOOK\" | {filter}"))
                .env("LOOK", &text)
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                want,
                "{filter}\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A fleet of 1200 devices: the printed plan's jq still runs (the plan goes through a file,
/// not an argument past the kernel's 128 KiB), and says what the tool says.
#[test]
fn the_printed_plans_jq_takes_a_large_fleet() {
    if std::process::Command::new("jq")
        .arg("--version")
        .output()
        .is_err()
    {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "jq is not installed, and CI must run this test");
        eprintln!("SKIPPED the_printed_plans_jq_takes_a_large_fleet: jq is not installed");
        return;
    }
    let names: Vec<String> = (0..1200)
        .map(|i| format!("edge-site-with-a-rather-long-device-name-{i:04}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let p = plan(&refs);
    let devices = names
        .iter()
        .map(|n| dev(n, "amd64", true, AMD, "UpToDate", "Online"))
        .collect();
    let text = look(fleet("edge-2", Some(2), Some("Inactive")), devices);
    let report = judge(&text, &p, None).unwrap();
    assert_eq!(report["exit"], "0");
    use std::io::Write;
    // the script as a user has it: a file (as `bash -c` would, it is larger than one argument)
    let file =
        std::env::temp_dir().join(format!("xtask-flightctl-large-{}.sh", std::process::id()));
    std::fs::write(&file, shell_exit(&p)).unwrap();
    let mut child = std::process::Command::new("bash")
        .arg(&file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Names come from flightctl's API: one with an escape sequence or a line break (a server
/// that does not validate them, or a proxy) is shown escaped in the report, never acted on by
/// the terminal, in the table, the reasons and the devices not touched alike.
#[test]
fn names_from_the_api_are_shown_escaped() {
    let (up, left, later) = (
        "edge-\u{1b}[2J",
        "gone-\u{1b}]0;x\u{7}",
        "new\r\nok: all green",
    );
    let p = plan(&[up, left]);
    let text = look(
        fleet("edge-2", Some(1), Some("Suspended")),
        vec![
            dev(up, "amd64", true, AMD, "UpToDate", "Online"),
            dev(later, "amd64", false, OLD, "OutOfDate", "Online"),
        ],
    );
    let (_, report) = judged(&text, &p);
    let shown = crate::fleet::lines(&report).unwrap();
    assert!(
        !shown
            .chars()
            .any(|c| c == '\u{1b}' || c == '\r' || c == '\u{7}'),
        "{shown:?}"
    );
    assert!(shown.contains("edge-\\u{1b}[2J"), "{shown}");
    assert!(shown.contains("gone-\\u{1b}]0;x\\u{7}"), "{shown}");
    assert!(shown.contains("new\\r\\nok: all green"), "{shown}");
}
