//! The `--json` documents of `status`, `upgrade`, `rollback`, `rollout`, `mirror`, `keygen`,
//! `kickstart` and `lint`, each from a real run: the device commands against the stub device
//! (tests/device/ssh-stub-device, an `ssh` that answers from files), `mirror` against a stub
//! skopeo, `keygen` with gpg in a throwaway GNUPGHOME. What varies from run to run is
//! redacted: the steps' `ms`, paths ([ROOT], [TMP]), a new key's fingerprint, a reboot's boot
//! id; a step's `result` that is its entry of `results` is said so, not repeated.

mod common;

use camino::Utf8PathBuf;
use common::{isolated_xtask, repo_root, scratch, Ran};
use serde_json::{json, Value};

/// The document on stdout, for a snapshot: `ms` and the values of `keys` replaced by
/// `[key]`, each step's `result` that equals its entry of `results` replaced by
/// `[= results.ID]`, paths scrubbed.
fn redacted(stdout: &str, keys: &[&str]) -> String {
    let mut doc: Value = serde_json::from_str(stdout).expect("one JSON document on stdout");
    let results = doc.get("results").cloned().unwrap_or(Value::Null);
    if let Some(steps) = doc.get_mut("steps").and_then(Value::as_array_mut) {
        for step in steps {
            let id = step["id"].as_str().unwrap_or_default().to_string();
            if let Some(result) = step.get_mut("result") {
                if results.get(&id) == Some(result) {
                    *result = json!(format!("[= results.{id}]"));
                }
            }
        }
    }
    fn walk(v: &mut Value, keys: &[&str]) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k == "ms" || keys.contains(&k.as_str()) {
                        *x = json!(format!("[{k}]"));
                    } else {
                        walk(x, keys);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, keys)),
            _ => {}
        }
    }
    walk(&mut doc, keys);
    common::scrub(&serde_json::to_string_pretty(&doc).unwrap())
}

const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A device that runs OLD (with `rollback` as its rollback deployment), reached through the
/// stub ssh; a registry (stub skopeo) whose list's amd64 image is NEW.
struct Device {
    dir: Utf8PathBuf,
}

impl Device {
    fn new(name: &str, rollback: Option<&str>) -> Device {
        let dir = scratch(name);
        for d in ["bin", "tmp", "state", "dev"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let ssh =
            std::fs::read_to_string(repo_root().join("tests/device/ssh-stub-device")).unwrap();
        common::write_executable(&dir.join("bin/ssh"), &ssh);
        let list = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{NEW}","platform":{{"architecture":"amd64","os":"linux"}}}},{{"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#
        );
        // TEST FIXTURE, not skopeo: the list by tag; an image by digest (a real registry serves
        // the image's manifest, with its layers)
        common::write_executable(
            &dir.join("bin/skopeo"),
            &format!(
                "#!/bin/sh\ncase \"$*\" in\n  *@sha256:*) echo '{{\"schemaVersion\":2,\"config\":{{}},\"layers\":[]}}' ;;\n  *) echo '{list}' ;;\nesac\n"
            ),
        );
        std::fs::write(dir.join("dev/booted"), format!("{OLD}\n")).unwrap();
        std::fs::write(dir.join("dev/boot_id"), "first-boot\n").unwrap();
        if let Some(r) = rollback {
            std::fs::write(dir.join("dev/rollback"), format!("{r}\n")).unwrap();
        }
        Device { dir }
    }

    fn xtask(&self, args: &[&str]) -> Ran {
        let mut c = isolated_xtask(&format!("{}:/usr/bin:/bin", self.dir.join("bin")));
        c.arg("--json")
            .args(args)
            .args(["--host", "redhat@192.0.2.10"])
            .env("STUB_DIR", self.dir.as_str())
            .env(
                "STUB_PODS",
                repo_root().join("tests/fixtures/pods/ready.json").as_str(),
            )
            .env("TMPDIR", self.dir.join("tmp").as_str())
            .env("XTASK_STATE_DIR", self.dir.join("state").as_str());
        Ran::of(c.output().unwrap())
    }
}

#[test]
fn json_status() {
    let device = Device::new("json-status", Some(NEW));
    let ran = device
        .xtask(&["status", "--image", "quay.io/org/edge:v2"])
        .ok();
    insta::assert_snapshot!("json_status", redacted(&ran.stdout, &[]));
}

#[test]
fn json_upgrade() {
    let device = Device::new("json-upgrade", None);
    let ran = device
        .xtask(&["upgrade", "--image", "quay.io/org/edge:v2"])
        .ok();
    insta::assert_snapshot!("json_upgrade", redacted(&ran.stdout, &["boot_id"]));
}

#[test]
fn json_rollback() {
    let device = Device::new("json-rollback", Some(NEW));
    let ran = device.xtask(&["rollback"]).ok();
    insta::assert_snapshot!("json_rollback", redacted(&ran.stdout, &["boot_id"]));
}

/// `mirror` into an empty mirror: each image asked for, copied, read back by digest.
#[test]
fn json_mirror() {
    let (dir, bin, tmp) = common::scratch_bin_tmp("json-mirror");
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"size":1000},"layers":[{"size":2000000}]}"#;
    // TEST FIXTURE, not skopeo: every source serves `manifest`; the mirror serves what was
    // copied into it (a real mirror serves the copy's own manifest, the same bytes with
    // --preserve-digests)
    common::write_executable(
        &bin.join("skopeo"),
        &format!(
            r#"#!/bin/bash
last="${{@: -1}}"
case "$last" in *@*) repo="${{last%@*}}" ;; *) repo="${{last%:*}}" ;; esac
case "$*" in
  *"copy "*) echo "$repo" >> "$STUB_DIR/copied" ;;
  *"inspect --raw"*"docker://mirror.site.example"*)
    grep -qxF "$repo" "$STUB_DIR/copied" 2>/dev/null || exit 1
    printf '%s' '{manifest}' ;;
  *"inspect --raw"*) printf '%s' '{manifest}' ;;
  *) echo "stub skopeo: unexpected: $*" >&2; exit 1 ;;
esac
"#
        ),
    );
    let digest = xtask::digest::digest(manifest.as_bytes());
    let list = dir.join("release-x86_64.json");
    std::fs::write(
        &list,
        format!(r#"{{"images":{{"a":"quay.io/xtask-json/a@{digest}"}}}}"#),
    )
    .unwrap();
    let ran = Ran::of(
        isolated_xtask(&format!("{bin}:/usr/bin:/bin"))
            .args([
                "--json",
                "mirror",
                "--to",
                "mirror.site.example:8443/site",
                "--release-list",
                list.as_str(),
                "--embed-image",
                "quay.io/xtask-json/app:1.0",
                "--no-os-image",
                "--jobs",
                "1",
            ])
            .env("STUB_DIR", dir.as_str())
            .env("TMPDIR", tmp.as_str())
            .env("XTASK_STATE_DIR", dir.join("state").as_str())
            .output()
            .unwrap(),
    )
    .ok();
    insta::assert_snapshot!("json_mirror", redacted(&ran.stdout, &[]));
}

/// `keygen --method gpg` into a throwaway GNUPGHOME.
#[test]
fn json_keygen() {
    if !common::require_tool("gpg", "json_keygen") {
        return;
    }
    let dir = scratch("json-keygen");
    let gnupg = dir.join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let ran = Ran::of(
        isolated_xtask("/usr/bin:/bin")
            .args([
                "--json",
                "keygen",
                "--method",
                "gpg",
                "--output",
                dir.join("keys").as_str(),
            ])
            .env("GNUPGHOME", gnupg.as_str())
            .env("SIGN_PASSPHRASE", "json-keygen-passphrase")
            .env("TMPDIR", dir.join("tmp").as_str())
            .output()
            .unwrap(),
    );
    // the key's agent ends with its keyring
    let _ = std::process::Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", gnupg.as_str())
        .status();
    let ran = ran.ok();
    assert!(!ran.all().contains("json-keygen-passphrase"));
    insta::assert_snapshot!("json_keygen", redacted(&ran.stdout, &["FPR"]));
}

/// `kickstart --output FILE`: the kickstart as printed (secrets left out) and the file.
#[test]
fn json_kickstart() {
    let dir = scratch("json-kickstart");
    let ran = Ran::of(
        common::with_fixture_secrets(&mut isolated_xtask("/usr/bin:/bin"))
            .args([
                "--json",
                "kickstart",
                "--output",
                dir.join("ks.cfg").as_str(),
            ])
            .output()
            .unwrap(),
    )
    .ok();
    insta::assert_snapshot!("json_kickstart", redacted(&ran.stdout, &[]));
}

/// `lint` over the repository (its linters: CI installs them).
#[test]
fn json_lint() {
    for tool in ["hadolint", "shellcheck", "ksvalidator"] {
        if !common::require_tool(tool, "json_lint") {
            return;
        }
    }
    let path = std::env::var("PATH").unwrap();
    let ran = Ran::of(
        isolated_xtask(&path)
            .args(["--json", "lint"])
            .output()
            .unwrap(),
    )
    .ok();
    insta::assert_snapshot!("json_lint", redacted(&ran.stdout, &[]));
}

/// Issue 30: `rollout` of two hosts, each handed to the real `upgrade` against the stub
/// device (both inventory hosts reach the one stub device: the first upgrades it, the second
/// finds it current and is skipped). TEST FIXTURES: `ansible-inventory` prints the inventory;
/// `ansible-playbook` runs the play as `ansible/rollout.yml` does (from its variables file:
/// each wave's `upgrade --json`, then the wave's results document), one wave after the
/// other; skopeo serves the list by tag and by its digest.
#[test]
fn json_rollout() {
    if !common::require_tool("jq", "json_rollout") {
        return;
    }
    let device = Device::new("json-rollout", None);
    let bin = device.dir.join("bin");
    let list = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"digest":"{NEW}","platform":{{"architecture":"amd64","os":"linux"}}}},{{"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#
    );
    // `echo` ends the list with a line break: its digest is of those bytes
    let list_digest = xtask::digest::digest(format!("{list}\n").as_bytes());
    common::write_executable(
        &bin.join("skopeo"),
        &format!(
            "#!/bin/sh\ncase \"$*\" in\n  *@{list_digest}*) echo '{list}' ;;\n  *@sha256:*) echo '{{\"schemaVersion\":2,\"config\":{{}},\"layers\":[]}}' ;;\n  *) echo '{list}' ;;\nesac\n"
        ),
    );
    common::write_executable(
        &bin.join("ansible-inventory"),
        "#!/bin/sh\necho '{\"_meta\": {\"hostvars\": {\"edge-a\": {\"ansible_host\": \"192.0.2.10\"}, \"edge-b\": {\"ansible_host\": \"192.0.2.11\"}}}, \"all\": {\"children\": [\"ungrouped\"]}, \"ungrouped\": {\"hosts\": [\"edge-a\", \"edge-b\"]}}'\n",
    );
    common::write_executable(
        &bin.join("ansible-playbook"),
        r#"#!/bin/bash
# TEST FIXTURE, not Ansible: the play of ansible/rollout.yml, one host per wave
set -u
while [ $# -gt 0 ]; do case "$1" in -e) vars=${2#@}; shift ;; esac; shift; done
results=$(jq -r .xtask_rollout.results "$vars")
xtask=$(jq -r .xtask_rollout.xtask "$vars")
for h in $(jq -r '.xtask_rollout.devices | keys[]' "$vars"); do
  mapfile -t args < <(jq -r --arg h "$h" '.xtask_rollout.devices[$h][], .xtask_rollout.upgrade[]' "$vars")
  out=$("$xtask" --json upgrade "${args[@]}" 2>/dev/null)
  rc=$?
  jq -n --arg h "$h" --argjson rc "$rc" --arg out "$out" \
    '{batch: [$h], results: {($h): {rc: $rc, start: "", end: "", delta: "0:00:09.000000", stdout: $out, stderr: [], msg: ""}}}' \
    >"$results/$h.json"
done
"#,
    );
    let inventory = device.dir.join("hosts.ini");
    std::fs::write(&inventory, "# read through the ansible-inventory stub\n").unwrap();
    let rollout = || {
        let mut c = isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
        c.args([
            "--json",
            "rollout",
            "--inventory",
            inventory.as_str(),
            "--image",
            "quay.io/org/edge:v2",
        ])
        .env("STUB_DIR", device.dir.as_str())
        .env(
            "STUB_PODS",
            repo_root().join("tests/fixtures/pods/ready.json").as_str(),
        )
        .env("TMPDIR", device.dir.join("tmp").as_str())
        .env("XTASK_STATE_DIR", device.dir.join("state").as_str());
        c
    };
    let ran = Ran::of(rollout().output().unwrap()).ok();
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(doc["fleet"]["counts"]["upgraded"], 1, "{}", ran.stderr);
    assert_eq!(doc["fleet"]["counts"]["skipped"], 1, "{}", ran.stderr);
    insta::assert_snapshot!("json_rollout", redacted(&ran.stdout, &["boot_id"]));

    // its files are in its state directory (XTASK_STATE_DIR), not in the checkout shared
    // by every rollout (and every test) run from it
    let files = device.dir.join("state/rollout");
    let kept = files.join("results/edge-a.json");
    assert!(kept.is_file(), "no {kept}: {}", ran.stderr);
    // while a rollout holds them (its lock), another is refused before anything runs:
    // it would remove the first one's results, and move the same devices
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(files.join("lock"))
        .unwrap_or_else(|e| panic!("no lock in {files}: {e}"));
    lock.try_lock().unwrap();
    std::fs::write(files.join("lock"), "4242\n").unwrap();
    let second = Ran::of(rollout().output().unwrap());
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!(
            "another rollout (pid 4242) is running from {files}"
        )) && second.stderr.contains("nothing was run"),
        "{}",
        second.stderr
    );
    assert!(kept.is_file(), "the first rollout's results were removed");
    drop(lock);
}

/// Issue 30 (review): the repository's playbook, run by the real `ansible-playbook` (its task
/// `ansible/action_plugins/xtask_upgrade.py`): each device's command gets its arguments as
/// they are (no shell: quotes, `$(...)`, spaces reach it untouched), each device's result is
/// kept as soon as that device is done (not when its wave ends: the live line counts
/// devices; here a device of wave 2 waits for its wave-mate's result, which the old
/// per-wave results task wrote only after both ended), a failing device is failed with the
/// reason of its exit code, and the wave after it is never touched. TEST FIXTURE: the
/// command stands for `cargo xtask --json upgrade`; it records its arguments and ends as
/// its `--host` says.
#[test]
fn the_playbook_keeps_each_device_as_it_ends() {
    let test = "the_playbook_keeps_each_device_as_it_ends";
    if !common::require_tool("ansible-playbook", test) {
        return;
    }
    let dir = scratch("rollout-playbook");
    let results = dir.join("results");
    std::fs::create_dir_all(&results).unwrap();
    let fixture = dir.join("upgrade");
    common::write_executable(
        &fixture,
        &format!(
            r#"#!/bin/sh
# TEST FIXTURE, not cargo xtask: `xtask --json upgrade --host ADDRESS ...` records its
# arguments and ends as ADDRESS says (a real upgrade moves the device and says how it went)
printf '%s\n' "$@" > {dir}/argv.$4
case $4 in
  wait-for-c)
    i=0
    while [ ! -e {results}/c.json ]; do
      i=$((i + 1)); [ $i -gt 150 ] && {{ echo "c's result was not kept while b ran" >&2; exit 1; }}
      sleep 0.1
    done ;;
  red) echo '{{"device": {{"verdict": "rolled_back"}}}}'; exit 4 ;;
esac
echo '{{"device": {{"verdict": "upgraded"}}}}'
"#
        ),
    );
    let inventory = dir.join("hosts.ini");
    std::fs::write(&inventory, "a\nb\nc\nd\ne\n").unwrap();
    let odd = ["it's", "$(touch pwned)", "a b", "\"q\";|&`x`", "*"];
    let device = |address: &str| json!(["--host", address]);
    let reasons = json!({"4": "rolled back: greenboot failed the new image"});
    let vars = json!({"xtask_rollout": {
        "xtask": fixture.as_str(),
        "upgrade": odd,
        "devices": {
            "a": device("ok-a"), "b": device("wait-for-c"), "c": device("ok-c"),
            "d": device("red"), "e": device("ok-e"),
        },
        "waves": [1, 2, 1, 1],
        "max_failed": 0,
        "results": results.as_str(),
        "reasons": reasons,
    }});
    let vars_file = dir.join("vars.json");
    std::fs::write(&vars_file, vars.to_string()).unwrap();
    let out = std::process::Command::new("ansible-playbook")
        .args(["-i", inventory.as_str(), "--forks", "5", "-e"])
        .arg(format!("@{vars_file}"))
        .arg(repo_root().join("ansible/rollout.yml").as_str())
        .current_dir(&dir)
        .env("ANSIBLE_LOCAL_TEMP", dir.join("tmp").as_str())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // a host failed: Ansible's 2
    assert_eq!(out.status.code(), Some(2), "{said}");
    let result = |h: &str| -> Value {
        let text = std::fs::read_to_string(results.join(format!("{h}.json")))
            .unwrap_or_else(|e| panic!("no result of {h}: {e}\n{said}"));
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["batch"], json!([h]), "{doc}");
        doc["results"][h].clone()
    };
    for h in ["a", "b", "c"] {
        let r = result(h);
        assert_eq!(r["rc"], 0, "{h}: {r}\n{said}");
        assert_eq!(
            r["stdout"], "{\"device\": {\"verdict\": \"upgraded\"}}",
            "{h}"
        );
        assert!(r["delta"].as_str().unwrap().starts_with("0:00:"), "{r}");
    }
    let d = result("d");
    assert_eq!(d["rc"], 4, "{d}");
    assert_eq!(d["msg"], reasons["4"]);
    assert!(
        said.contains("rolled back: greenboot failed the new image"),
        "{said}"
    );
    // the wave after the failure: never touched
    assert!(
        !results.join("e.json").exists() && !dir.join("argv.ok-e").exists(),
        "{said}"
    );
    let argv: Vec<String> = std::fs::read_to_string(dir.join("argv.red"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let mut want = vec!["--json", "upgrade", "--host", "red"];
    want.extend(odd);
    assert_eq!(argv, want);
    assert!(!dir.join("pwned").exists());
    // no half-written document left beside them
    let names: Vec<String> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

/// Issue 30 (review): a rollout stopped (Ctrl-C) while its play runs still reports: the
/// waves that wrote their results keep their verdicts, the devices of the wave that ran are
/// `interrupted` (their upgrade stopped wherever it was: their state is unknown, not "not
/// touched"), the later waves not touched; the table, `--json`'s `fleet`, the JUnit file,
/// the command that continues; exit 130. TEST FIXTURES: `ansible-inventory` prints three
/// hosts; `ansible-playbook` writes wave 1's results (edge-a upgraded), then waits in
/// wave 2 as a play waits on its devices, until the tool passes the signal on.
#[test]
fn json_rollout_interrupted() {
    let device = Device::new("json-rollout-interrupted", None);
    let bin = device.dir.join("bin");
    common::write_executable(
        &bin.join("ansible-inventory"),
        "#!/bin/sh\necho '{\"_meta\": {\"hostvars\": {\"edge-a\": {\"ansible_host\": \"192.0.2.10\"}, \"edge-b\": {\"ansible_host\": \"192.0.2.11\"}, \"edge-c\": {\"ansible_host\": \"192.0.2.12\"}}}, \"all\": {\"children\": [\"ungrouped\"]}, \"ungrouped\": {\"hosts\": [\"edge-a\", \"edge-b\", \"edge-c\"]}}'\n",
    );
    let upgraded = json!({"device": {
        "verdict": "upgraded",
        "before": {"booted_digest": OLD, "architecture": "amd64"},
        "after": {"booted_digest": NEW, "architecture": "amd64"},
    }});
    let wave1 = device.dir.join("wave1.json");
    std::fs::write(
        &wave1,
        json!({"batch": ["edge-a"], "results": {"edge-a": {
            "rc": 0, "delta": "0:00:09.000000", "stdout": upgraded.to_string(), "stderr": [], "msg": ""
        }}})
        .to_string(),
    )
    .unwrap();
    common::write_executable(
        &bin.join("ansible-playbook"),
        &format!(
            r#"#!/bin/sh
# TEST FIXTURE, not Ansible: wave 1 done, wave 2 running (a real play waits on its devices)
while [ $# -gt 0 ]; do case "$1" in -e) vars=${{2#@}}; shift ;; esac; shift; done
cp {wave1} "${{vars%/*}}/results/.edge-a.tmp" && mv "${{vars%/*}}/results/.edge-a.tmp" "${{vars%/*}}/results/edge-a.json"
exec sleep 60
"#
        ),
    );
    let inventory = device.dir.join("hosts.ini");
    std::fs::write(&inventory, "# read through the ansible-inventory stub\n").unwrap();
    let junit = device.dir.join("junit.xml");
    let mut c = isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
    c.args([
        "--json",
        "rollout",
        "--inventory",
        inventory.as_str(),
        "--image",
        "quay.io/org/edge:v2",
        "--waves",
        "1",
        "--junit",
        junit.as_str(),
    ])
    .env("TMPDIR", device.dir.join("tmp").as_str())
    .env("XTASK_STATE_DIR", device.dir.join("state").as_str())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let written = device.dir.join("state/rollout/results/edge-a.json");
    let started = std::time::Instant::now();
    while !written.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "wave 1's results never came"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // the live line reads it: then Ctrl-C
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let ran = Ran::of(child.wait_with_output().unwrap());
    assert_eq!(ran.code, 130, "{}", ran.stderr);
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    let fleet = &doc["fleet"];
    let verdicts: Vec<(&str, &str)> = fleet["devices"]
        .as_array()
        .unwrap_or_else(|| panic!("no devices: {fleet}"))
        .iter()
        .map(|d| (d["host"].as_str().unwrap(), d["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("edge-a", "upgraded"),
            ("edge-b", "interrupted"),
            ("edge-c", "not_touched")
        ]
    );
    assert_eq!(fleet["exit"], 130);
    assert_eq!(doc["exit"], 130);
    for line in [
        "1/3   edge-a  amd64  sha256:111111111111 → sha256:222222222222  upgraded",
        "edge-b (interrupted): the rollout was stopped while its wave ran",
        "not touched (the rollout was interrupted in wave 2/3): edge-c",
        "3 devices: 1 upgraded, 0 skipped (already current), 0 rolled back, 0 gone, 0 failed, 1 not touched, 1 interrupted (state unknown)",
        "to continue: cargo xtask rollout --inventory ",
        "error: interrupted by SIGINT at step 4/5",
    ] {
        assert!(ran.stderr.contains(line), "no {line:?}:\n{}", ran.stderr);
    }
    // nothing to undo in a record: a rollout keeps none
    assert!(!ran.stderr.contains("cargo xtask clean"), "{}", ran.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap_or_else(|e| panic!("no JUnit file: {e}"));
    assert!(
        xml.contains("tests=\"3\" failures=\"0\" errors=\"1\" skipped=\"1\"")
            && xml.contains("name=\"edge-b\">\n      <error type=\"interrupted\""),
        "{xml}"
    );
}
