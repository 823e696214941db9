//! Issue 31: `rollout --flightctl` and `doctor --for rollout --flightctl` against the stand-in
//! flightctl API (tests/flightctl/standin.py, a TEST FIXTURE: it validates every request and
//! every response against flightctl's own OpenAPI document, and plays scripted rollouts in
//! seconds): all batches green over https with the API's CA; a device that rolls back in
//! batch 2, the rollout waiting for an approval that only `--approve` gives; a device that
//! goes Unknown, gone at the timeout; a refused token and a fleet that does not exist, which
//! change nothing. No test bed: the stand-in is all there is; CI runs these beside the
//! end-to-end tests (scripts/test.sh installs openapi-core).

mod common;

use camino::Utf8Path;
use common::flightctl::{
    available, bin, certificate, device, pinned, scenario, Standin, NEW_AMD64, NEW_ARM64,
    OLD_AMD64, OLD_ARM64, REPO, TOKEN,
};
use common::{scratch, Ran};
use serde_json::{json, Value};

/// `cargo xtask` with the stand-in skopeo first on PATH, the token in FLIGHTCTL_TOKEN.
fn xtask(dir: &Utf8Path, args: &[&str]) -> Ran {
    let bin = bin(dir);
    let mut c = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
    common::with_fixture_secrets(&mut c)
        .args(args)
        .env("FLIGHTCTL_TOKEN", TOKEN)
        .env("XTASK_STATE_DIR", dir.join("state").as_str())
        .env("TMPDIR", std::env::temp_dir());
    Ran::of(c.output().unwrap())
}

fn verdicts(doc: &Value) -> Vec<(String, String)> {
    doc["fleet"]["devices"]
        .as_array()
        .unwrap_or_else(|| panic!("no devices in {doc}"))
        .iter()
        .map(|d| {
            (
                d["host"].as_str().unwrap().to_string(),
                d["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn doc(ran: &Ran) -> Value {
    serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{e}: no JSON document\n{}\n{}", ran.stdout, ran.stderr))
}

/// Every batch green: the fleet gets the pinned list and the batches and threshold `--waves`
/// and `--max-failed` ask for (its disruption budget kept), over https (`--api-ca`); a
/// device already on the release is
/// skipped; each device is judged by its own architecture's digest; exit 0, the report,
/// `--json` and `--junit`; the token nowhere in what the tool says, even with `-v`.
#[test]
fn every_batch_green_over_https() {
    let test = "every_batch_green_over_https";
    if !available(test) || !common::require_tool("openssl", test) {
        return;
    }
    let dir = scratch("flightctl-green");
    let (cert, key) = certificate(&dir);
    let api = Standin::start(
        &dir.join("api"),
        &scenario(
            vec![
                device("edge-amd-1", "amd64", OLD_AMD64, "ok"),
                device("edge-amd-2", "amd64", NEW_AMD64, "ok"),
                device("edge-arm-1", "arm64", OLD_ARM64, "ok"),
                device("edge-arm-2", "arm64", OLD_ARM64, "ok"),
            ],
            // a policy without batches: --waves adds them, the disruption budget stays
            Some(json!({"disruptionBudget": {"groupBy": ["site"], "maxUnavailable": 1}})),
        ),
        Some((&cert, &key)),
    );
    // doctor first: the API answers over https, the token is taken, the fleet is there
    let doctor = xtask(
        &dir,
        &[
            "doctor",
            "--for",
            "rollout",
            "--flightctl",
            "edge",
            "--api",
            &api.url,
            "--api-ca",
            cert.as_str(),
        ],
    );
    assert_eq!(doctor.code, 0, "{}{}", doctor.stdout, doctor.stderr);
    for want in [
        "flightctl-api",
        "accepted",
        "fleet edge",
        "all 4 devices are image-mode",
    ] {
        assert!(doctor.stdout.contains(want), "{want}: {}", doctor.stdout);
    }
    // without the CA, curl does not trust the API: nothing is changed
    let untrusted = xtask(
        &dir,
        &[
            "rollout",
            "--flightctl",
            "edge",
            "--api",
            &api.url,
            "--image",
            &format!("{REPO}:v2"),
        ],
    );
    assert_eq!(untrusted.code, 1, "{}", untrusted.stderr);
    assert!(
        untrusted.stderr.contains("cannot reach flightctl's API"),
        "{}",
        untrusted.stderr
    );
    assert!(api.patches().is_empty());
    let junit = dir.join("rollout.xml");
    let ran = xtask(
        &dir,
        &[
            "--json",
            "-v",
            "rollout",
            "--flightctl",
            "edge",
            "--api",
            &api.url,
            "--api-ca",
            cert.as_str(),
            "--image",
            &format!("{REPO}:v2"),
            "--waves",
            "1,50%,100%",
            "--max-failed",
            "0%",
            "--interval",
            "1s",
            "--timeout",
            "60s",
            "--junit",
            junit.as_str(),
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let d = doc(&ran);
    assert_eq!(
        verdicts(&d),
        pairs(&[
            ("edge-amd-1", "upgraded"),
            ("edge-amd-2", "skipped"),
            ("edge-arm-1", "upgraded"),
            ("edge-arm-2", "upgraded"),
        ])
    );
    for dev in d["fleet"]["devices"].as_array().unwrap() {
        let want = if dev["architecture"] == "amd64" {
            NEW_AMD64
        } else {
            NEW_ARM64
        };
        assert_eq!(dev["after"], want, "{dev}");
        assert_eq!(dev["expected"], want, "{dev}");
        let batch = dev["wave"].as_u64().unwrap();
        assert!((1..=3).contains(&batch), "{dev}");
    }
    assert_eq!(d["fleet"]["unit"], "batch");
    assert_eq!(d["fleet"]["image"], pinned());
    assert_eq!(d["fleet"]["flightctl"]["waiting"], Value::Null);
    // the patch: the pinned list in the template (as read: tested first), the batches and
    // the threshold asked for
    insta::assert_snapshot!(
        "flightctl_patch_every_batch_green",
        serde_json::to_string_pretty(&api.patches()).unwrap()
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"4\" failures=\"0\""), "{xml}");
    assert!(xml.contains("classname=\"rollout.batch-"), "{xml}");
    for out in [&ran.stdout, &ran.stderr] {
        assert!(!out.contains(TOKEN), "the token was shown:\n{out}");
    }
    assert!(api.requests().iter().all(|r| r["authorized"] == true));
    assert_eq!(
        api.violations(),
        "",
        "flightctl's OpenAPI document was broken"
    );
}

/// A device rolls back in batch 2 of the fleet's own policy (kept: the patch is the image
/// alone): the batch misses the success threshold, flightctl stops
/// the rollout before batch 3, and the tool ends there (exit 4) saying the batch waits for
/// approval and the command that gives it; it never approves on its own. That command
/// lowers the threshold to what batch 2 reached, flightctl lets batch 3 go on, and the
/// rollout ends (exit 4 still: the device that rolled back runs its old image).
#[test]
fn a_rollback_in_batch_two_waits_for_approval() {
    let test = "a_rollback_in_batch_two_waits_for_approval";
    if !available(test) {
        return;
    }
    let dir = scratch("flightctl-rollback");
    let api = Standin::start(
        &dir.join("api"),
        &scenario(
            vec![
                device("edge-1", "amd64", OLD_AMD64, "ok"),
                device("edge-2", "arm64", OLD_ARM64, "rollback"),
                device("edge-3", "amd64", OLD_AMD64, "ok"),
            ],
            // the fleet's own policy, kept: no --waves, no --max-failed
            Some(json!({
                "deviceSelection": {"strategy": "BatchSequence", "sequence": [{"limit": 1}, {"limit": 1}]},
                "successThreshold": "100%",
            })),
        ),
        None,
    );
    let ran = xtask(
        &dir,
        &[
            "--json",
            "rollout",
            "--flightctl",
            "edge",
            "--api",
            &api.url,
            "--image",
            &format!("{REPO}:v2"),
            "--interval",
            "1s",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(ran.code, 4, "{}", ran.stderr);
    let d = doc(&ran);
    assert_eq!(
        verdicts(&d),
        pairs(&[
            ("edge-1", "upgraded"),
            ("edge-2", "rolled_back"),
            ("edge-3", "not_touched")
        ])
    );
    let waiting = &d["fleet"]["flightctl"]["waiting"];
    assert_eq!(waiting["batch"], "3/3", "{waiting}");
    assert_eq!(waiting["reached"], 0, "{waiting}");
    let approve = waiting["approve"]
        .as_str()
        .unwrap_or_else(|| panic!("{waiting}"));
    assert!(
        approve.ends_with(" --approve") && approve.contains(&pinned()),
        "{approve}"
    );
    assert!(
        ran.stderr.contains("batch 3/3 waits for approval"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains(approve), "{}", ran.stderr);
    let rolled = &d["fleet"]["devices"][1];
    assert_eq!(rolled["after"], OLD_ARM64, "{rolled}");
    assert!(
        rolled["reason"].as_str().unwrap().contains("greenboot"),
        "{rolled}"
    );
    // the tool approved nothing: one patch, the image alone
    assert_eq!(api.patches().len(), 1);
    // the command it named lets batch 3 go on
    let words: Vec<&str> = approve.split_whitespace().skip(2).collect();
    let mut args = vec!["--json"];
    args.extend(words);
    let again = xtask(&dir, &args);
    assert_eq!(again.code, 4, "{}", again.stderr);
    assert_eq!(
        verdicts(&doc(&again)),
        pairs(&[
            ("edge-1", "skipped"),
            ("edge-2", "rolled_back"),
            ("edge-3", "upgraded")
        ])
    );
    insta::assert_snapshot!(
        "flightctl_patches_rollback_then_approve",
        serde_json::to_string_pretty(&api.patches()).unwrap()
    );
    assert_eq!(
        api.violations(),
        "",
        "flightctl's OpenAPI document was broken"
    );
}

/// A device flightctl loses (Unknown) while the others update, the fleet without batches:
/// at the timeout the tool ends with what it saw last, the lost device gone (exit 3), the
/// others judged, the report printed. Run again and interrupted while it watches: exit 130,
/// the error saying that flightctl's rollout goes on, and how to watch it again. Run again
/// with an API that stops answering during the watch: it ends at the timeout all the same.
/// Then the token revoked, quoted back by what answers: never repeated.
#[test]
fn a_lost_device_is_gone_at_the_timeout() {
    let test = "a_lost_device_is_gone_at_the_timeout";
    if !available(test) {
        return;
    }
    let dir = scratch("flightctl-lost");
    let api = Standin::start(
        &dir.join("api"),
        &scenario(
            vec![
                device("edge-1", "amd64", OLD_AMD64, "ok"),
                device("edge-2", "arm64", OLD_ARM64, "unknown"),
            ],
            None,
        ),
        None,
    );
    let started = std::time::Instant::now();
    let ran = xtask(
        &dir,
        &[
            "--json",
            "rollout",
            "--flightctl",
            "edge",
            "--api",
            &api.url,
            "--image",
            &format!("{REPO}:v2"),
            "--interval",
            "1s",
            "--timeout",
            "3s",
        ],
    );
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let d = doc(&ran);
    assert_eq!(
        verdicts(&d),
        pairs(&[("edge-1", "upgraded"), ("edge-2", "gone")])
    );
    let lost = d["fleet"]["devices"][1]["reason"].as_str().unwrap();
    assert!(lost.contains("Unknown"), "{lost}");
    assert!(ran.stderr.contains("1 gone"), "{}", ran.stderr);
    // no batches asked for: the patch is the image alone
    assert_eq!(
        api.patches(),
        vec![json!([
            {"op": "test", "path": "/spec/template/spec/os/image", "value": common::flightctl::OLD_IMAGE},
            {"op": "replace", "path": "/spec/template/spec/os/image", "value": pinned()},
        ])]
    );
    // interrupted while it watches (the template names the image now: nothing to patch):
    // exit 130, and the error says that flightctl's rollout goes on without the tool, with
    // the command that watches it again
    api.forget();
    let bin = bin(&dir);
    let mut c = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
    let err = dir.join("interrupted.err");
    let child = common::with_fixture_secrets(&mut c)
        .args([
            "rollout",
            "--flightctl",
            "edge",
            "--api",
            &api.url,
            "--image",
            &format!("{REPO}:v2"),
            "--interval",
            "1s",
            "--timeout",
            "60s",
        ])
        .env("FLIGHTCTL_TOKEN", TOKEN)
        .env("XTASK_STATE_DIR", dir.join("state").as_str())
        .env("TMPDIR", std::env::temp_dir())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&err)
        .unwrap_or_default()
        .contains("==> [1/1] watch")
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let ran = Ran::of(child.wait_with_output().unwrap());
    let said = std::fs::read_to_string(&err).unwrap();
    assert_eq!(ran.code, 130, "{said}");
    for want in [
        "interrupted by SIGINT",
        "flightctl goes on rolling fleet edge out on its own",
        &format!("`cargo xtask rollout --flightctl edge --image {}", pinned()),
        "watches the rollout again",
    ] {
        assert!(said.contains(want), "{want}: {said}");
    }
    assert!(api.patches().is_empty(), "{:?}", api.patches());
    // the API stops answering once the fleet is read (its two GETs): the watch's look hangs,
    // and the watch still ends at its timeout (and a moment), not at curl's 30 s per request
    std::fs::write(api.dir.join("hang"), "2").unwrap();
    let started = std::time::Instant::now();
    let ran = xtask(
        &dir,
        &[
            "rollout",
            "--flightctl",
            "edge",
            "--api",
            &api.url,
            "--image",
            &format!("{REPO}:v2"),
            "--interval",
            "1s",
            "--timeout",
            "1s",
        ],
    );
    let took = started.elapsed();
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("did not end within 3s"),
        "{}",
        ran.stderr
    );
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    // the token revoked and quoted back by what answers (a careless proxy): never repeated,
    // whether the fleet's read before planning (exit 2) or the watch (exit 1) is refused
    std::fs::remove_file(api.dir.join("hang")).unwrap();
    for (left, code) in [("0", 2), ("2", 1)] {
        std::fs::write(api.dir.join("revoke"), left).unwrap();
        let ran = xtask(
            &dir,
            &[
                "--json",
                "rollout",
                "--flightctl",
                "edge",
                "--api",
                &api.url,
                "--image",
                &format!("{REPO}:v2"),
                "--interval",
                "1s",
                "--timeout",
                "30s",
            ],
        );
        assert_eq!(ran.code, code, "{}", ran.stderr);
        assert!(
            ran.stderr.contains("refused the token")
                && ran.stderr.contains("token ${FLIGHTCTL_TOKEN} was revoked"),
            "{}",
            ran.stderr
        );
        assert!(!ran.all().contains(TOKEN), "{}", ran.all());
    }
    assert_eq!(
        api.violations(),
        "",
        "flightctl's OpenAPI document was broken"
    );
}

/// A token the API refuses, a fleet it does not have, a fleet with a package-mode device:
/// bad input naming each, exit 2, the fleet not patched; doctor says the same as findings.
#[test]
fn a_refused_token_or_an_unknown_fleet_changes_nothing() {
    let test = "a_refused_token_or_an_unknown_fleet_changes_nothing";
    if !available(test) {
        return;
    }
    let dir = scratch("flightctl-refused");
    let mut package = device("edge-pkg", "amd64", OLD_AMD64, "ok");
    package["osMode"] = json!("package");
    let api = Standin::start(
        &dir.join("api"),
        &scenario(
            vec![device("edge-1", "amd64", OLD_AMD64, "ok"), package],
            None,
        ),
        None,
    );
    let image = format!("{REPO}:v2");
    let bin = bin(&dir);
    let run = |token: &str, fleet: &str, doctor: bool| {
        let mut c = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
        if doctor {
            c.args(["doctor", "--for", "rollout"]);
        } else {
            c.args(["rollout", "--image", &image]);
        }
        common::with_fixture_secrets(&mut c)
            .args(["--flightctl", fleet, "--api", &api.url])
            .env("FLIGHTCTL_TOKEN", token)
            .env("XTASK_STATE_DIR", dir.join("state").as_str());
        Ran::of(c.output().unwrap())
    };
    for (token, fleet, want) in [
        (
            "a-token-it-refuses",
            "edge",
            vec!["FLIGHTCTL_TOKEN", "refused the token", "401"],
        ),
        (
            TOKEN,
            "nope",
            vec!["--flightctl", "'nope'", "no such fleet", "404"],
        ),
        (
            TOKEN,
            "edge",
            vec!["--flightctl", "'edge'", "package-mode", "edge-pkg"],
        ),
    ] {
        let ran = run(token, fleet, false);
        assert_eq!(ran.code, 2, "{fleet}: {}", ran.stderr);
        let line = ran.stderr.trim_end();
        assert!(
            line.lines().count() == 1 && line.starts_with("error: "),
            "{line}"
        );
        for w in &want {
            assert!(line.contains(w), "{w}: {line}");
        }
        assert!(
            !line.contains("a-token-it-refuses") && !line.contains(TOKEN),
            "{line}"
        );
        let doctor = run(token, fleet, true);
        assert_eq!(doctor.code, 1, "{}", doctor.stdout);
        assert!(doctor.stdout.contains(" fail "), "{}", doctor.stdout);
    }
    assert!(api.patches().is_empty(), "{:?}", api.patches());
    assert_eq!(
        api.violations(),
        "",
        "flightctl's OpenAPI document was broken"
    );
}

/// A URL that is not flightctl's API and answers without end (a file server, a proxy's
/// stream): the questions before planning read at most 64 MiB of it, then stop curl and say
/// so, exit 1, the memory of the tool bounded, nothing sent but the two GETs. The server is
/// a TEST FIXTURE thread (a real API answers a fleet of a thousand devices in a few MiB).
#[test]
fn an_answer_without_end_is_cut_before_planning() {
    let test = "an_answer_without_end_is_cut_before_planning";
    if !common::require_tool("curl", test) {
        return;
    }
    use std::io::{Read, Write};
    let dir = scratch("flightctl-endless");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut head = [0u8; 4096];
                let _ = conn.read(&mut head);
                let _ =
                    conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n");
                // 200 MiB of blanks (bounded, so that the tool before the fix ends too)
                let chunk = vec![b' '; 1 << 20];
                for _ in 0..200 {
                    if conn.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let started = std::time::Instant::now();
    let ran = xtask(
        &dir,
        &[
            "--dry-run",
            "rollout",
            "--flightctl",
            "edge",
            "--api",
            &format!("http://127.0.0.1:{port}"),
            "--image",
            &format!("{REPO}:v2"),
        ],
    );
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("answered more than 64 MiB"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains(TOKEN) && !ran.stdout.contains(TOKEN));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
