//! Checks over the repository's own files ("tidy"): the Containerfiles, the shell scripts.

mod common;

use camino::Utf8PathBuf;
use common::{repo_root, require_tool};

fn files(pattern: &str) -> Vec<Utf8PathBuf> {
    let root = repo_root();
    let found: Vec<Utf8PathBuf> = glob::glob(root.join(pattern).as_str())
        .unwrap()
        .map(|p| Utf8PathBuf::from_path_buf(p.unwrap()).unwrap())
        .collect();
    assert!(!found.is_empty(), "no files match {pattern}");
    found
}

fn containerfiles() -> Vec<Utf8PathBuf> {
    let mut all = files("containerfiles/**/Containerfile*");
    all.extend(files("tests/Containerfile*"));
    all.extend(files("tests/containerfiles/**/Containerfile*"));
    all
}

/// Our own rules (xtask::lint): no bare dnf upgrade, no secret build argument, no heredoc,
/// every COPY source present.
#[test]
fn containerfiles_follow_our_rules() {
    for cf in containerfiles() {
        let text = std::fs::read_to_string(&cf).unwrap();
        // the signature policy, mirror and update layers' contexts are written by the tool
        // for each build
        let context = match cf.ends_with(xtask::commands::build::SIGNED_CONTAINERFILE)
            || cf.ends_with(xtask::commands::build::MIRROR_CONTAINERFILE)
            || cf.ends_with(xtask::commands::build::USB_CONTAINERFILE)
        {
            true => None,
            false => cf.parent(),
        };
        let findings = xtask::commands::lint::containerfile(&text, context);
        assert!(findings.is_empty(), "{cf}: {findings:#?}");
    }
}

/// The real Containerfile has what the documented procedure requires.
#[test]
fn the_microshift_containerfile_has_the_documented_pieces() {
    let text =
        std::fs::read_to_string(repo_root().join("containerfiles/Containerfile.bootc-rhel9"))
            .unwrap();
    for needle in [
        "ARG BASE_IMAGE=",
        "FROM ${BASE_IMAGE}",
        "ARG MICROSHIFT_VERSION=",
        "dnf upgrade -y --releasever=\"${VERSION_ID}\"",
        "rhocp-${MICROSHIFT_VERSION}-for-rhel-9-$(uname -m)-rpms",
        "fast-datapath-for-rhel-9-$(uname -m)-rpms",
        "microshift microshift-release-info",
        "firewalld",
        "jq",
        "systemctl enable microshift",
        "RUN --mount=type=secret,id=user-passwd",
        "useradd -m -d /var/home/redhat -G wheel redhat",
        "--zone=public --add-port=22/tcp",
        "--zone=trusted --add-source=10.42.0.0/16",
        "--zone=trusted --add-source=169.254.169.1",
        "--zone=trusted --add-source=fd01::/48",
        "--add-port=80/tcp",
        "--add-port=443/tcp",
        "--add-port=30000-32767/tcp",
        "--add-port=30000-32767/udp",
        "COPY files/microshift-make-rshared.service",
        "systemctl enable microshift-make-rshared.service",
    ] {
        assert!(
            text.contains(needle),
            "Containerfile.bootc-rhel9 lacks `{needle}`"
        );
    }
    assert!(
        !text.contains("USER_PASSWD"),
        "the password must not be a build argument"
    );
    // the build secret id is the one `cargo xtask build` mounts
    assert!(text.contains(&format!("id={}", xtask::commands::build::PASSWD_SECRET_ID)));
}

/// The embedding layer (`build --embed`) has the documented pieces: the pull secret as a
/// build secret, one directory per image with digests preserved, the list file, the
/// copy-at-start drop-in (and no additional image store).
#[test]
fn the_embedding_layer_has_the_documented_pieces() {
    let root = repo_root();
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let cf = read("containerfiles/Containerfile.bootc-embedded");
    let script = read("containerfiles/embedded/microshift-copy-images");
    let dropin = read("containerfiles/embedded/microshift-copy-images.conf");
    for needle in [
        "ARG BASE_IMAGE=",
        "FROM ${BASE_IMAGE}",
        &format!(
            "RUN --mount=type=secret,id={},dst=/run/secrets/pull-secret.json",
            xtask::commands::build::PULL_SECRET_ID
        ),
        &format!(
            "COPY embedded/microshift-copy-images {}",
            xtask::device::COPY_IMAGES
        ),
        "COPY embedded/microshift-copy-images.conf /usr/lib/systemd/system/microshift.service.d/",
        "microshift-copy-images pull",
        "ARG EXTRA_IMAGES=",
    ] {
        assert!(
            cf.contains(needle),
            "Containerfile.bootc-embedded lacks `{needle}`"
        );
    }
    assert!(xtask::commands::lint::bootc_lint_last(&cf).is_none());
    for needle in [
        "/usr/share/microshift/release/release-$(uname -m).json",
        ".images | to_entries[] | .value",
        "skopeo copy --quiet --all --preserve-digests",
        "\"docker://$ref\" \"dir:$store/$sha\"",
        "\"dir:$store/$sha\" \"containers-storage:$ref\"",
        // REF,SHA as documented, and the kind (release or workload) after them
        "echo \"$ref,$sha,$kind\"",
        "image-list.txt",
    ] {
        assert!(
            script.contains(needle),
            "microshift-copy-images lacks `{needle}`"
        );
    }
    assert!(script.contains(&format!(
        "store=${{EMBEDDED_STORE:-{}}}",
        xtask::device::EMBEDDED_STORE
    )));
    assert!(dropin.contains(&format!("ExecStartPre={} copy", xtask::device::COPY_IMAGES)));
    for text in [&cf, &script, &dropin] {
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with("additionalimagestores")),
            "no additional image store: bootc upgrades replace it"
        );
    }
}

#[test]
fn hadolint_finds_nothing() {
    if !require_tool("hadolint", "hadolint_finds_nothing") {
        return;
    }
    let mut all = containerfiles();
    // its build context is assembled by the test: hadolint only, not the COPY check
    all.extend(files("tests/embedded/Containerfile*"));
    for cf in all {
        let out = std::process::Command::new("hadolint")
            .arg("--no-color")
            .arg(cf.as_str())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hadolint {cf}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn shellcheck_finds_nothing() {
    if !require_tool("shellcheck", "shellcheck_finds_nothing") {
        return;
    }
    let mut scripts = files("scripts/*.sh");
    scripts.push(repo_root().join(".ci/run"));
    scripts.push(repo_root().join("containerfiles/embedded/microshift-copy-images"));
    for s in scripts {
        let out = std::process::Command::new("shellcheck")
            .args(["-s", "bash"])
            .arg(s.as_str())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "shellcheck {s}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // the verifier of carried updates runs on devices as POSIX sh: checked as such (its
    // shebang), and `cargo xtask lint` covers it
    let verifier = repo_root().join(xtask::commands::build::USB_SCRIPT);
    let out = std::process::Command::new("shellcheck")
        .arg(verifier.as_str())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck {verifier}:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let path = std::env::var("PATH").unwrap_or_default();
    let lint = xtask::commands::lint::prepare(&common::sources(true, &[("PATH", &path)])).unwrap();
    let shellcheck = lint
        .plan
        .steps
        .iter()
        .find(|s| s.id == "shellcheck")
        .expect("lint runs shellcheck");
    assert!(
        shellcheck
            .args
            .iter()
            .any(|a| a.plain() == xtask::commands::build::USB_SCRIPT),
        "lint does not cover {}",
        xtask::commands::build::USB_SCRIPT
    );
}

/// The config file is the one a fork edits: it must parse and name every key we document.
#[test]
fn the_config_file_parses() {
    let root = repo_root();
    let config = xtask::config::Config::load(&root.join(xtask::config::CONFIG_FILE)).unwrap();
    for key in [
        "image_name",
        "microshift_version",
        "base_image",
        "containerfile",
        "registry_url",
        "registry_org",
        "pull_secret",
    ] {
        assert!(config.get(key).unwrap().is_some(), "{key} missing");
    }
}

/// Every snapshot file belongs to a snapshot some test still takes (no stale files).
#[test]
fn no_stale_snapshots() {
    let root = repo_root();
    for snap in files("xtask/tests/snapshots/*.snap") {
        let name = snap.file_stem().unwrap();
        let (test_file, snapshot) = name.split_once("__").unwrap();
        let source =
            std::fs::read_to_string(root.join(format!("xtask/tests/{test_file}.rs"))).unwrap();
        // a literal name, or a `format!("prefix_{name}")` with `"name"` in the same file
        let literal = source.contains(&format!("\"{snapshot}\""));
        let formatted = source.match_indices("format!(\"").any(|(i, m)| {
            let prefix = source[i + m.len()..].split('{').next().unwrap_or("");
            !prefix.is_empty()
                && !prefix.contains('"')
                && snapshot
                    .strip_prefix(prefix)
                    .is_some_and(|tail| source.contains(&format!("\"{tail}\"")))
        });
        assert!(
            literal || formatted,
            "{snap} is not taken by any test: delete it"
        );
    }
}

/// The exit codes the book lists are the ones the tool uses.
#[test]
fn exit_codes_are_documented() {
    let readme =
        std::fs::read_to_string(repo_root().join("docs/src/exit-codes-and-json.md")).unwrap();
    for (code, words) in [
        (xtask::exit::OK, "everything ran"),
        (xtask::exit::FAILED, "a step failed"),
        (xtask::exit::BAD_INPUT, "bad input"),
        (xtask::exit::TIMEOUT, "timed out"),
    ] {
        let row = format!("| {code} | ");
        let line = readme
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("docs/src/exit-codes-and-json.md has no exit code {code}"));
        assert!(line.contains(words), "{line}");
    }
}

/// The mirror layer's script (run inside the image at build time) writes the very drop-in
/// the tool renders for the same release lists, extra images and OS repository: the same
/// host components (a port is not a dash, issue 29), and the repositories of images named by
/// tag mirrored by tag too (issue 29). Registries that would share a place are refused, and
/// so are Red Hat's images without the mirror's lookaside URL.
#[test]
fn the_mirror_script_writes_what_the_tool_renders() {
    let test = "the_mirror_script_writes_what_the_tool_renders";
    if !common::require_tool("jq", test) {
        return;
    }
    let dir = common::scratch("mirror-script");
    let root = common::repo_root();
    std::fs::copy(
        root.join("tests/fixtures/mirror/release-x86_64.json"),
        dir.join("release-x86_64.json"),
    )
    .unwrap();
    let aarch64 = [
        "Example-Registry.IO:5000/team/a@sha256:4444444444444444444444444444444444444444444444444444444444444444",
        "reg.example.com-5000/team/b:2",
        "[fe80::1]:5000/team/c@sha256:5555555555555555555555555555555555555555555555555555555555555555",
    ];
    std::fs::write(
        dir.join("release-aarch64.json"),
        serde_json::json!({ "images": { "a": aarch64[0], "b": aarch64[1], "c": aarch64[2] } })
            .to_string(),
    )
    .unwrap();
    let extra = [
        "docker.example.com/a/b:1",
        "quay.io/x/y:2",
        "reg.example.com:5000/team/b:2",
        "quay.io/x/y@sha256:6666666666666666666666666666666666666666666666666666666666666666",
    ];
    let list: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("release-x86_64.json")).unwrap())
            .unwrap();
    let mut images: Vec<String> = list["images"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    images.extend(aarch64.iter().chain(&extra).map(|s| s.to_string()));
    let out = dir.join("999-microshift-mirror.conf");
    let script_with = |insecure: bool, extra: &str, env: &[(&str, &str)]| {
        std::process::Command::new("sh")
            .arg(root.join(xtask::commands::build::MIRROR_SCRIPT))
            .env("MIRROR", "mirror.local:5000/site")
            .env("MIRROR_INSECURE", insecure.to_string())
            .env("OS_REPOSITORY", "registry.example.com:5000/org/os")
            .env("EXTRA_IMAGES", extra)
            .env("RELEASE_DIR", dir.as_str())
            .env("OUT", out.as_str())
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let url = [("MIRROR_LOOKASIDE_URL", "https://mirror-sigs.local")];
    let script = |insecure: bool, extra: &str| script_with(insecure, extra, &url);
    for insecure in [false, true] {
        let ran = script(insecure, &extra.join(" "));
        assert!(
            ran.status.success(),
            "{}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let rendered = xtask::mirror::Mirror {
            location: "mirror.local:5000/site".to_string(),
            auth: None,
            ca: None,
            insecure,
            what: "--to".to_string(),
            lookaside_dir: camino::Utf8PathBuf::from("/unused"),
            lookaside_url: None,
        }
        .registries_conf(&images, Some("registry.example.com:5000/org/os"));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            rendered,
            "insecure={insecure}"
        );
        for want in [
            "location = \"mirror.local:5000/site/example-registry.io_5000\"",
            "location = \"mirror.local:5000/site/reg.example.com_5000\"",
            "location = \"mirror.local:5000/site/reg.example.com-5000\"",
            "location = \"mirror.local:5000/site/ipv6-fe80--1_5000\"",
            "prefix = \"quay.io/x/y\"",
            "prefix = \"reg.example.com-5000/team/b\"",
            "location = \"mirror.local:5000/site/reg.example.com_5000/team/b\"",
        ] {
            assert!(rendered.contains(want), "{want}:\n{rendered}");
        }
    }
    // the reviewer's finding: without the mirror's lookaside URL, an image of a source that
    // keeps its signatures at a lookaside (Red Hat's registries by default; the tool passes
    // LOOKASIDE_SOURCES) fails the build, named: devices would read none of its signatures
    let _ = std::fs::remove_file(&out);
    let ran = script_with(false, &extra.join(" "), &[]);
    let err = String::from_utf8_lossy(&ran.stderr);
    assert!(
        !ran.status.success()
            && err.contains("registry.redhat.io/lvms4/lvms-rhel9-operator@sha256:2222")
            && err.contains("set mirror.lookaside_url"),
        "{err}"
    );
    assert!(!out.exists(), "a drop-in was written");
    // a configured scope covers a repository named by tag (quay.io/x/y:2)
    let ran = script_with(
        false,
        &extra.join(" "),
        &[("LOOKASIDE_SOURCES", "quay.io/x")],
    );
    let err = String::from_utf8_lossy(&ran.stderr);
    assert!(
        !ran.status.success() && err.contains("quay.io/x/y"),
        "{err}"
    );
    for env in [
        &[("LOOKASIDE_SOURCES", "")][..],
        &[(
            "LOOKASIDE_SOURCES",
            "quay.io/x/y-other registry.redhat.io.example",
        )][..],
    ] {
        let ran = script_with(false, &extra.join(" "), env);
        assert!(
            ran.status.success(),
            "{env:?}: {}",
            String::from_utf8_lossy(&ran.stderr)
        );
    }
    // two registries that would share MIRROR/<host>: the build fails, naming both
    let ran = script(false, "ipv6-fe80--1:5000/team/d:1");
    let err = String::from_utf8_lossy(&ran.stderr);
    assert!(
        !ran.status.success()
            && err.contains("ipv6-fe80--1:5000")
            && err.contains("[fe80::1]:5000"),
        "{err}"
    );
}

/// Issue 29, item 21: the book's account (docs/src/signing.md) of the device's signature policy names every
/// entry the tool merges over the base image's policy: each transport, each scope (the
/// image's repository, the `signing.accept_unsigned` scopes, the others by name) and each
/// key path other than the image's own.
#[test]
fn the_book_names_what_the_device_policy_sets() {
    use clap::Parser;
    let accepted = "quay.io/myorg/workloads";
    let cli = xtask::Cli::try_parse_from([
        "cargo xtask",
        "build",
        "--arch",
        "amd64",
        "--sign-method",
        "gpg",
        "--sign-by",
        "A6134A4D420C5D4D2AFDBC977D8C745D2AEEEEC0",
        "--sign-public-key",
        "tests/fixtures/signing/xtask-signing.gpg",
        "--lookaside-url",
        "https://sigs.example.com/signatures",
        "--accept-unsigned",
        accepted,
    ])
    .unwrap();
    let plan = xtask::plan_for(&cli.command, &common::sources(true, &[])).unwrap();
    let step = plan.steps.iter().find(|s| s.id == "device-policy").unwrap();
    let xtask::plan::Stdin::JsonOver { over, .. } = &step.stdin else {
        panic!("the device's policy is the base's with the tool's entries over it")
    };
    let readme = std::fs::read_to_string(repo_root().join("docs/src/signing.md")).unwrap();
    let said = readme
        .split("- **Enforced on the device.**")
        .nth(1)
        .and_then(|rest| rest.split("\n- **").next())
        .expect("the book says how the policy is enforced on the device")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let repository = "quay.io/myorg/mypath/microshift-4.16-bootc";
    let mut missing = Vec::new();
    if over["default"] == serde_json::json!([{ "type": "reject" }])
        && !said.contains("`default` becomes `reject`")
    {
        missing.push("default: reject".to_string());
    }
    for (transport, scopes) in over["transports"].as_object().unwrap() {
        if !said.contains(&format!("`{transport}`")) {
            missing.push(format!("the transport {transport}"));
        }
        for (scope, requirements) in scopes.as_object().unwrap() {
            let name = match scope.as_str() {
                s if s == repository => "the image's repository".to_string(),
                s if s == accepted => "`signing.accept_unsigned`".to_string(),
                s => format!("`{}`", if s.is_empty() { "\"\"" } else { s }),
            };
            if !said.contains(&name) {
                missing.push(format!("{transport} {scope:?} ({name})"));
            }
            for r in requirements.as_array().unwrap() {
                let key = r["keyPath"].as_str().unwrap_or_default();
                if !key.is_empty() && scope != repository && !said.contains(&format!("`{key}`")) {
                    missing.push(format!("{transport} {scope:?}: the key {key}"));
                }
                if r["type"] == "insecureAcceptAnything" && !said.contains("accepted as it is") {
                    missing.push(format!("{transport} {scope:?}: accepted as it is"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the book does not name: {missing:?}\n{said}"
    );
}

/// The README's test command and the demo on a fresh machine where the Rust toolchain is the
/// user's (rustup's ~/.cargo/bin, which sudo leaves off root's PATH): each says so first, exit
/// 1, before it installs or starts anything. Run here with a PATH of only what the scripts
/// need before that check, and a stand-in `id` (a TEST FIXTURE) saying "not root", so that
/// nothing is installed or started even by a script without the check.
#[test]
fn the_scripts_say_first_when_cargo_is_not_on_the_path() {
    let dir = common::scratch("no-cargo");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["bash", "dirname", "date", "mktemp", "cat", "rm"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Utf8PathBuf::from(*d).join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} is not in /usr/bin or /bin"));
        let _ = std::fs::remove_file(bin.join(tool));
        std::os::unix::fs::symlink(&found, bin.join(tool)).unwrap();
    }
    common::write_executable(
        &bin.join("id"),
        "#!/bin/bash\n# TEST FIXTURE: a user who is not root (a real `id -u` says the caller's uid)\necho 1000\n",
    );
    for (script, name) in [("scripts/test.sh", "test.sh"), ("scripts/demo.sh", "demo")] {
        let out = std::process::Command::new(bin.join("bash"))
            .arg(repo_root().join(script))
            .env_clear()
            .env("PATH", bin.as_str())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{script}: {said}");
        assert!(
            said.starts_with(&format!("{name}: cargo is not on the PATH"))
                && said.contains("nothing was installed or started")
                && said.lines().count() == 1,
            "{script}: {said}"
        );
    }
}
