//! The fleet's verdicts over result documents as the playbook writes them: each device's
//! turn, the exit code, the report, the JUnit file, the live line, and the printed plan's jq
//! taking the same turns.

use serde_json::{json, Value};

use super::*;

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const AMD: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const ARM: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
const OTHER: &str = "sha256:9999999999999999999999999999999999999999999999999999999999999999";

fn plan(names: &[(&str, usize)]) -> FleetPlan {
    FleetPlan {
        hosts: names
            .iter()
            .map(|(n, w)| FleetHost {
                name: n.to_string(),
                wave: *w,
                address: format!("redhat@{n}"),
            })
            .collect(),
        waves: names.iter().map(|(_, w)| *w).max().unwrap_or(0),
        image: "quay.io/org/os@sha256:aaaa".to_string(),
        digests: vec![("amd64".into(), AMD.into()), ("arm64".into(), ARM.into())],
        rerun: "cargo xtask rollout --inventory hosts.ini --image quay.io/org/os@sha256:aaaa"
            .to_string(),
    }
}

/// What `upgrade --json` prints, in short: its verdict, before and after, greenboot's
/// failing checks, its error.
fn upgrade(verdict: &str, arch: &str, after: &str, error: Option<&str>, failed: &[&str]) -> String {
    let mut doc = json!({
        "device": {
            "verdict": verdict,
            "before": {"booted_digest": OLD, "architecture": arch},
            "after": {"booted_digest": after, "architecture": arch},
        },
        "results": {"greenboot-journal": {"failed_checks": failed}},
    });
    if let Some(e) = error {
        doc["error"] = json!({"kind": "failed", "message": e, "hint": null});
    }
    doc.to_string()
}

fn raw(rc: i64, stdout: String) -> Value {
    json!({"rc": rc, "start": "", "end": "", "delta": "0:00:07.500000", "stdout": stdout, "stderr": ["last words"], "msg": ""})
}

/// Two waves' documents: every kind of device.
fn documents() -> String {
    let wave1 = json!({"batch": ["a-up"], "results": {
        "a-up": raw(0, upgrade("upgraded", "amd64", AMD, None, &["an-earlier-boot.sh"])),
    }});
    let wave2 = json!({"batch": ["b-skip", "c-red", "d-gone", "e-fail", "f-wrong", "g-bad", "h-s390x"], "results": {
        "b-skip": raw(0, upgrade("already_current", "arm64", ARM, None, &[])),
        "c-red": raw(4, upgrade("rolled_back", "arm64", OLD, Some("the device rolled back"), &["40_microshift_running_check.sh"])),
        "d-gone": raw(3, upgrade("timed_out", "amd64", OLD, Some("step 7/16 (wait until the device is back, with another boot id) timed out after 20s\nmore"), &[])),
        "e-fail": raw(1, upgrade("failed", "amd64", OLD, Some("step 4/16 (stage the image (bootc switch)) failed"), &[])),
        "f-wrong": raw(0, upgrade("upgraded", "amd64", OTHER, None, &[])),
        "g-bad": raw(0, "not json".to_string()),
        "h-s390x": raw(0, upgrade("upgraded", "s390x", OTHER, None, &[])),
    }});
    // as `find -exec cat` gives them: one after the other, no separator
    format!("{wave2}{wave1}")
}

fn fleet() -> FleetPlan {
    plan(&[
        ("a-up", 1),
        ("b-skip", 2),
        ("c-red", 2),
        ("d-gone", 2),
        ("e-fail", 2),
        ("f-wrong", 2),
        ("g-bad", 2),
        ("h-s390x", 2),
        ("i-later", 3),
    ])
}

#[test]
fn every_device_gets_its_verdict() {
    let report = judge(&documents(), &fleet()).unwrap();
    let verdict = |h: &str| {
        report["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["host"] == h)
            .unwrap()
            .clone()
    };
    let words: Vec<String> = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["verdict"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        words,
        [
            "upgraded",
            "skipped",
            "rolled_back",
            "gone",
            "failed",
            "failed",
            "failed",
            "failed",
            "not_touched"
        ]
    );
    assert_eq!(
        verdict("c-red")["greenboot_failed"],
        json!(["40_microshift_running_check.sh"])
    );
    assert!(verdict("c-red")["reason"]
        .as_str()
        .unwrap()
        .contains("40_microshift_running_check.sh"));
    // the first line of upgrade's message
    assert_eq!(
        verdict("d-gone")["reason"],
        "step 7/16 (wait until the device is back, with another boot id) timed out after 20s"
    );
    assert!(verdict("f-wrong")["reason"]
        .as_str()
        .unwrap()
        .contains(&format!("runs {OTHER}, not the pinned {AMD}")));
    assert!(verdict("h-s390x")["reason"]
        .as_str()
        .unwrap()
        .contains("no entry for its architecture (s390x)"));
    assert_eq!(verdict("a-up")["seconds"], 7.5);
    // greenboot's checks are a rolled-back device's only
    assert_eq!(verdict("a-up")["greenboot_failed"], json!([]));
    assert_eq!(verdict("a-up")["expected"], AMD);
    // a rolled-back device: 4, whatever else
    assert_eq!(report["exit"], "4");
    assert_eq!(report["not_touched"], json!(["i-later"]));
    assert_eq!(report["last_wave_run"], 2);
    assert_eq!(report["waves"][2]["ran"], false);
    assert_eq!(
        report["said"],
        "9 devices: 1 upgraded, 1 skipped (already current), 1 rolled back, 1 gone, 4 failed, 1 not touched"
    );
    let lines = lines(&report).unwrap();
    assert!(lines.starts_with("wave  host"), "{lines}");
    assert!(
        lines.contains("not touched (the rollout stopped after wave 2/3): i-later"),
        "{lines}"
    );
    assert!(
        lines.contains("c-red (rolled back): greenboot failed"),
        "{lines}"
    );
    assert!(lines.ends_with(report["said"].as_str().unwrap()), "{lines}");
}

#[test]
fn the_exit_code_follows_the_worst() {
    use Verdict::*;
    assert_eq!(exit_code(&[Upgraded, Skipped]), 0);
    assert_eq!(exit_code(&[Upgraded, Gone, RolledBack]), 4);
    assert_eq!(exit_code(&[Upgraded, Gone, Failed]), 3);
    assert_eq!(exit_code(&[Upgraded, Failed]), 1);
    assert_eq!(exit_code(&[Upgraded, NotTouched]), 1);
    // no wave ran at all (the play failed before one): every device not touched
    let report = judge("", &plan(&[("a", 1), ("b", 2)])).unwrap();
    assert_eq!(report["exit"], "1");
    assert!(lines(&report)
        .unwrap()
        .contains("not touched (no wave ran): a, b"));
    // a document that is not the playbook's fails the step
    assert!(judge("{\"batch\": []}", &plan(&[("a", 1)])).is_err());
    assert!(judge("{", &plan(&[("a", 1)])).is_err());
}

#[test]
fn junit_has_a_case_per_device() {
    let report = judge(&documents(), &fleet()).unwrap();
    let xml = junit(&report).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 9, "{xml}");
    assert!(
        xml.contains("tests=\"9\" failures=\"6\" skipped=\"1\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure type=\"rolled_back\" message=\"rolled back: greenboot failed the new image (40_microshift_running_check.sh)"),
        "{xml}"
    );
    assert!(xml.contains("classname=\"rollout.wave-3\" name=\"i-later\">\n      <skipped message=\"not touched: the rollout stopped after wave 2/3\"/>"), "{xml}");
    // a rollout that stopped before any device ran took no time: 0, not -0 (a sum of no
    // f64 is -0.0)
    let none = judge("", &plan(&[("a", 1), ("b", 2)])).unwrap();
    let xml = junit(&none).unwrap();
    assert!(xml.contains("skipped=\"2\" time=\"0.000\""), "{xml}");
    // what a device said is escaped
    let mut odd = report.clone();
    odd["devices"][4]["reason"] = json!("a <b> & \"c\" 'd'\u{1b}");
    let xml = junit(&odd).unwrap();
    assert!(
        xml.contains("a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; "),
        "{xml}"
    );
}

#[test]
fn the_live_line_follows_the_waves() {
    let dir = camino::Utf8PathBuf::from(std::env::temp_dir().to_str().unwrap())
        .join(format!("xtask-fleet-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = plan(&[("a", 1), ("b", 2), ("c", 2), ("d", 3)]);
    let mut live = Live::default();
    assert_eq!(
        live.lines(&dir, &p),
        ["wave 1/3: 0 ok, 0 rolled back, 0 gone, 0 failed, 1 running"]
    );
    std::fs::write(
        dir.join("a.json"),
        json!({"batch": ["a"], "results": {"a": raw(0, upgrade("upgraded", "amd64", AMD, None, &[]))}}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.json"),
        json!({"batch": ["b", "c"], "results": {
            "b": raw(4, upgrade("rolled_back", "amd64", OLD, None, &[])),
            "c": raw(0, upgrade("upgraded", "arm64", ARM, None, &[])),
        }})
        .to_string(),
    )
    .unwrap();
    assert_eq!(
        live.lines(&dir, &p),
        [
            "wave 1/3: 1 ok, 0 rolled back, 0 gone, 0 failed, 0 running",
            "wave 2/3: 1 ok, 1 rolled back, 0 gone, 0 failed, 0 running",
            "wave 3/3: 0 ok, 0 rolled back, 0 gone, 0 failed, 1 running",
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The printed plan's jq gives the exit code and the counts line the tool gives, for the
/// same documents (jq is what the printed plans need; CI installs it).
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
    let one = |h: &str, r: Value| json!({"batch": [h], "results": {h: r}}).to_string();
    let cases: Vec<(FleetPlan, String)> = vec![
        (fleet(), documents()),
        (plan(&[("a", 1), ("b", 2)]), String::new()),
        (
            plan(&[("a", 1)]),
            one("a", raw(0, upgrade("upgraded", "amd64", AMD, None, &[]))),
        ),
        (
            plan(&[("a", 1), ("b", 1)]),
            format!(
                "{}{}",
                one(
                    "a",
                    raw(0, upgrade("already_current", "arm64", ARM, None, &[]))
                ),
                one("b", raw(3, String::new()))
            ),
        ),
        (
            plan(&[("a", 1)]),
            one("a", json!({"rc": 1, "stdout": "", "stderr": []})),
        ),
        (
            plan(&[("a", 1)]),
            one("a", raw(0, json!({"device": "odd"}).to_string())),
        ),
    ];
    for (p, docs) in cases {
        let report = judge(&docs, &p).unwrap();
        for (filter, want) in [
            (shell_exit(&p), report["exit"].as_str().unwrap()),
            (shell_said(&p), report["said"].as_str().unwrap()),
        ] {
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("printf '%s\\n' \"$DOCS\" | {filter}"))
                .env("DOCS", &docs)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{filter}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want, "{docs}");
        }
    }
}

/// XML 1.0's characters (`Char`): a JUnit file with any other is refused whole by a parser.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// What a device says (its architecture, upgrade's message) reaches the JUnit file as XML
/// 1.0 can hold it, and the terminal's table with its hidden characters escaped.
#[test]
fn what_a_device_says_is_escaped() {
    let odd = "a ]]> b\u{1}c\u{fffe}d\u{ffff}e\u{1b}[31mred";
    let mut report = judge(&documents(), &fleet()).unwrap();
    report["devices"][4]["reason"] = json!(odd);
    report["devices"][4]["architecture"] = json!(odd);
    report["devices"][4]["after"] = json!(odd);
    let xml = junit(&report).unwrap();
    let bad: Vec<char> = xml.chars().filter(|c| !xml_char(*c)).collect();
    assert!(bad.is_empty(), "not XML 1.0: {bad:?}\n{xml}");
    assert!(xml.contains("a ]]&gt; b"), "{xml}");
    let table = lines(&report).unwrap();
    assert!(!table.contains('\u{1b}'), "{table}");
    assert!(table.contains("\\u{1b}[31mred"), "{table}");
}

/// `upgrade` exited 0 and printed no document: the device's state is unknown (not "the
/// pinned image has no entry for its architecture").
#[test]
fn a_device_without_a_document_is_not_green() {
    let report = judge(&documents(), &fleet()).unwrap();
    let g = &report["devices"][6];
    assert_eq!(g["host"], "g-bad");
    assert_eq!(g["verdict"], "failed");
    assert!(
        g["reason"]
            .as_str()
            .unwrap()
            .starts_with("cargo xtask upgrade exited 0 but printed no JSON document"),
        "{g}"
    );
}

/// A rollout stopped while its play ran: the waves that wrote their results keep their
/// verdicts, the wave that ran is interrupted (its devices' state unknown: not "not
/// touched"), the later ones not touched; the counts, the table, the JUnit file say so.
#[test]
fn an_interrupted_rollout_says_which_wave_ran() {
    let p = plan(&[("a", 1), ("b", 2), ("c", 2), ("d", 3)]);
    let raw = results(
        &json!({"batch": ["a"], "results": {"a": raw(0, upgrade("upgraded", "amd64", AMD, None, &[]))}})
            .to_string(),
    )
    .unwrap();
    let report = judge_results(&raw, &p, true);
    let words: Vec<&str> = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        words,
        ["upgraded", "interrupted", "interrupted", "not_touched"]
    );
    assert_eq!(report["interrupted_in_wave"], 2);
    assert_eq!(report["counts"]["interrupted"], 2);
    assert_eq!(
        report["said"],
        "4 devices: 1 upgraded, 0 skipped (already current), 0 rolled back, 0 gone, 0 failed, 1 not touched, 2 interrupted (state unknown)"
    );
    let table = lines(&report).unwrap();
    assert!(
        table.contains("not touched (the rollout was interrupted in wave 2/3): d"),
        "{table}"
    );
    assert!(table.contains("b (interrupted): "), "{table}");
    let xml = junit(&report).unwrap();
    assert!(xml.contains("errors=\"2\" skipped=\"1\""), "{xml}");
    assert_eq!(
        xml.matches("<error type=\"interrupted\"").count(),
        2,
        "{xml}"
    );
    // not stopped: the same results say what they said
    let report = judge_results(&raw, &p, false);
    assert_eq!(report["counts"]["not_touched"], 3);
    assert_eq!(report["interrupted_in_wave"], Value::Null);
}
