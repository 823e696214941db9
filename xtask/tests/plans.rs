//! Snapshots of every subcommand's plan, exactly as `--dry-run` prints it.

mod common;

use clap::Parser;
use common::{scrub, sources};
use serde_json::json;
use xtask::{plan_for, Cli};

/// The `--dry-run` text for a command line, on a machine with the given environment.
fn dry_run(as_root: bool, env: &[(&str, &str)], args: &[&str]) -> String {
    let cli =
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied())).unwrap();
    let plan = plan_for(&cli.command, &sources(as_root, env)).unwrap();
    let text = plan.render();
    let json = serde_json::to_string(&plan.to_json()).unwrap();
    for leak in ["canary-user-passwd-4f1d", "canary-registry-pw-9c2e"] {
        assert!(
            !text.contains(leak) && !json.contains(leak),
            "secret leaked into the plan"
        );
    }
    scrub(&text)
}

const LOGIN: &[(&str, &str)] = &[
    ("REGISTRY_USER", "robot"),
    ("REGISTRY_PASSWORD", "canary-registry-pw-9c2e"),
];

#[test]
fn build_plans() {
    insta::assert_snapshot!("build_default_root", dry_run(true, &[], &["build"]));
    insta::assert_snapshot!(
        "build_image_entry_app_arm64",
        dry_run(
            false,
            &[],
            &["build", "--image", "microshift-4.16-app", "--arch", "arm64"]
        )
    );
    insta::assert_snapshot!(
        "build_no_cache_amd64",
        dry_run(true, &[], &["build", "--arch", "amd64", "--no-cache"])
    );
    insta::assert_snapshot!(
        "build_amd64_root",
        dry_run(true, &[], &["build", "--arch", "amd64"])
    );
    insta::assert_snapshot!(
        "build_arm64_nonroot",
        dry_run(false, &[], &["build", "--arch", "arm64"])
    );
    insta::assert_snapshot!(
        "build_env_arch_custom",
        dry_run(
            false,
            &[("IMAGE_ARCH", "aarch64"), ("IMAGE_NAME", "edge-gateway")],
            &[
                "build",
                "--base-image",
                "localhost/base:linux-arm64",
                "--microshift-version",
                "4.17",
                "--build-arg",
                "EXTRA_PACKAGES=tcpdump strace",
                "--containerfile",
                "tests/containerfiles/Containerfile.test",
            ],
        )
    );
}

#[test]
fn embed_plans() {
    // the image built under <tag>-unembedded, the embedding layer on it under the image's
    // own tag with the pull secret as a build secret, then what it embeds listed
    insta::assert_snapshot!(
        "build_embed_arm64_root",
        dry_run(
            true,
            &[],
            &[
                "build",
                "--embed",
                "--arch",
                "arm64",
                "--embed-image",
                "quay.io/myorg/web@sha256:4d2b8c7f1e0a9b3c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
                "--embed-image",
                "quay.io/myorg/worker:1.2",
                "--build-network",
                "host",
            ]
        )
    );
    insta::assert_snapshot!(
        "build_embed_nonroot_no_cache",
        dry_run(false, &[], &["build", "--embed", "--no-cache"])
    );
    // release: each lane embeds its architecture's images
    insta::assert_snapshot!(
        "release_embed_root",
        dry_run(true, LOGIN, &["release", "--embed"])
    );
}

/// Each step of a command's plan as `ID PROGRAM ARGS`, with these keys replacing the
/// repository config's own.
fn steps(config: &str, args: &[&str]) -> Vec<String> {
    let mut s = sources(true, &[]);
    let mut doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.root.join("microshift-image.json")).unwrap(),
    )
    .unwrap();
    let extra: serde_json::Value = serde_json::from_str(config).unwrap();
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    s.config = xtask::config::Config::parse("test.json", &doc.to_string()).unwrap();
    let cli =
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied())).unwrap();
    let plan = plan_for(&cli.command, &s).unwrap();
    plan.steps
        .iter()
        .map(|st| {
            let (program, args) = st.command_line(true);
            let args: Vec<String> = args.iter().map(|a| a.plain()).collect();
            format!("{} {program} {}", st.id, args.join(" "))
        })
        .collect()
}

/// `disk.types` is a list in the config file (an item may hold several, comma-separated).
#[test]
fn disk_types_from_the_config_file() {
    let built = steps(r#"{"disk": {"types": ["qcow2", "raw,vmdk"]}}"#, &["disk"]);
    let run = built
        .iter()
        .find(|l| l.starts_with("builder podman run"))
        .unwrap_or_else(|| panic!("{built:#?}"));
    for t in ["--type qcow2", "--type raw", "--type vmdk"] {
        assert!(run.contains(t), "{run}");
    }
}

/// `embed` in the config file: `embed.enabled` for the main image, `"embed": true` on an
/// `images` entry, `embed.extra_images`; `--embed` is then not needed.
#[test]
fn embed_from_the_config_file() {
    let on = steps(
        r#"{"embed": {"enabled": true, "extra_images": ["quay.io/myorg/web:2"]}}"#,
        &["build"],
    );
    assert!(
        on.iter().any(|l| l.starts_with("embed podman build")
            && l.contains("EXTRA_IMAGES=quay.io/myorg/web:2")),
        "{on:#?}"
    );
    // the flag replaces the config's list
    let flag = steps(
        r#"{"embed": {"enabled": true, "extra_images": ["quay.io/myorg/web:2"]}}"#,
        &["build", "--embed-image", "quay.io/myorg/other:3"],
    );
    assert!(
        flag.iter()
            .any(|l| l.contains("EXTRA_IMAGES=quay.io/myorg/other:3")),
        "{flag:#?}"
    );
    let off = steps(r#"{"embed": {"enabled": false}}"#, &["build"]);
    assert!(!off.iter().any(|l| l.starts_with("embed ")), "{off:#?}");
    // an images entry: its own `embed`, over embed.enabled
    let entry = r#"{"embed": {"enabled": false}, "images": [{"name": "app", "containerfile": "containerfiles/Containerfile.app-example", "base_image": "localhost/microshift-4.16-bootc:{tag}", "embed": true}]}"#;
    let app = steps(entry, &["build", "--image", "app"]);
    assert!(
        app.iter().any(|l| l.starts_with("build podman build")
            && l.contains("-t localhost/app:latest-unembedded")),
        "{app:#?}"
    );
    assert!(
        app.iter()
            .any(|l| l.starts_with("embed podman build") && l.contains("-t localhost/app:latest ")),
        "{app:#?}"
    );
    assert!(
        app.iter().any(|l| l.starts_with("embedded podman run")),
        "{app:#?}"
    );
}

#[test]
fn push_plans() {
    insta::assert_snapshot!("push_default_root", dry_run(true, &[], &["push"]));
    insta::assert_snapshot!(
        "push_arm64_login_nonroot",
        dry_run(false, LOGIN, &["push", "--arch", "arm64"])
    );
    insta::assert_snapshot!(
        "push_custom_registry_authfile",
        dry_run(
            true,
            &[
                ("REGISTRY_URL", "127.0.0.1:5001"),
                ("REGISTRY_ORG", "ci/images")
            ],
            &[
                "push",
                "--arch",
                "amd64",
                "--auth-config",
                "tests/fixtures/registry-auth.json"
            ],
        )
    );
}

#[test]
fn manifest_plans() {
    insta::assert_snapshot!("manifest_default_root", dry_run(true, &[], &["manifest"]));
    insta::assert_snapshot!(
        "manifest_login_nonroot",
        dry_run(false, LOGIN, &["manifest"])
    );
    insta::assert_snapshot!(
        "manifest_one_arch_custom_registry",
        dry_run(
            true,
            &[],
            &[
                "manifest",
                "--arch",
                "arm64",
                "--registry-url",
                "localhost:5000",
                "--registry-org",
                "team"
            ],
        )
    );
}

#[test]
fn run_plans() {
    insta::assert_snapshot!("run_interactive_root", dry_run(true, &[], &["run"]));
    insta::assert_snapshot!(
        "run_interactive_nonroot",
        dry_run(false, &[], &["run", "--arch", "arm64"])
    );
    insta::assert_snapshot!(
        "run_detached_loop_nonroot",
        dry_run(
            false,
            &[("VGSIZE", "2G")],
            &["run", "-d", "--lvm-loop", "1G", "--skip-openvswitch"]
        )
    );
    insta::assert_snapshot!(
        "run_detached_custom_root",
        dry_run(
            true,
            &[("VGFILE", "/srv/microshift/vg.img")],
            &[
                "run",
                "--detach",
                "--lvm-loop",
                "4G",
                "--volume-group",
                "microshift",
                "--name",
                "ushift-1",
                "--image-ref",
                "quay.io/myorg/mypath/microshift-4.16-bootc:latest",
                "--host-storage",
                "/srv/containers/storage",
            ],
        )
    );
}

#[test]
fn verify_and_clean_plans() {
    insta::assert_snapshot!("verify_container_root", dry_run(true, &[], &["verify"]));
    insta::assert_snapshot!(
        "verify_vm_nonroot",
        dry_run(
            false,
            &[],
            &[
                "verify",
                "--vm",
                "edge-1",
                "--timeout",
                "20m",
                "--interval",
                "30s",
                "--ssh-user",
                "admin"
            ]
        )
    );
    // clean removes what the record lists, newest first, and nothing else
    insta::assert_snapshot!("clean_nothing_recorded", dry_run(false, &[], &["clean"]));
    let made = [
        json!({"kind": "loop-file", "file": "/srv/microshift/vg.img"}),
        json!({"kind": "loop-device", "file": "/srv/microshift/vg.img", "device": "/dev/loop3"}),
        json!({"kind": "volume-group", "name": "microshift", "tag": "xtask-microshift", "file": "/srv/microshift/vg.img"}),
        json!({"kind": "container", "name": "ushift-1", "image": "localhost/x:latest", "id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}),
        json!({"kind": "container", "name": "ushift-2", "image": "localhost/x:latest"}),
    ];
    insta::assert_snapshot!(
        "clean_recorded_nonroot",
        with_record(false, &made, &["clean"])
    );
    // verify's default target is what `run` or `vm` made last
    insta::assert_snapshot!(
        "verify_recorded_vm_root",
        with_record(
            true,
            &[
                json!({"kind": "container", "name": "ushift-1"}),
                json!({"kind": "vm", "name": "edge-7", "uri": "qemu+ssh://hv1/system", "disk": "/var/lib/libvirt/images/edge-7.qcow2"}),
            ],
            &["verify"]
        )
    );
}

/// The `--dry-run` text with these entries in the record.
fn with_record(as_root: bool, made: &[serde_json::Value], args: &[&str]) -> String {
    let cli =
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied())).unwrap();
    let mut s = sources(as_root, &[]);
    s.record.entries = made
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
    scrub(&plan_for(&cli.command, &s).unwrap().render())
}

#[test]
fn release_plans() {
    // from scratch: every lane builds and pushes, the list is made
    insta::assert_snapshot!("release_login_nonroot", dry_run(false, LOGIN, &["release"]));
    // with the record of earlier pushes: each push, and the list, only when something changed
    let pushed = |arch: &str, id: &str, digest: &str| json!({"kind": "pushed", "name": format!("quay.io/myorg/mypath/microshift-4.16-bootc:linux-{arch}"), "image_id": id, "digest": digest});
    let made = [
        pushed("amd64", "sha256:aaaa", "sha256:1111"),
        pushed("arm64", "sha256:bbbb", "sha256:2222"),
    ];
    insta::assert_snapshot!("release_rerun_root", with_record(true, &made, &["release"]));
    // --force: as from scratch, whatever the record says
    let forced = with_record(true, &made, &["release", "--force", "--arch", "arm64"]);
    assert!(
        !forced.contains("REMOTE_DIGEST") && !forced.contains("list-current"),
        "{forced}"
    );
    // a registries.conf that sends reads of the registry to a mirror: skopeo would ask the
    // mirror, not where podman pushes, so nothing is skipped and the plan says why
    let conf = common::scratch("release-mirror").join("registries.conf");
    std::fs::write(
        &conf,
        "[[registry]]\nprefix = \"quay.io/myorg\"\nlocation = \"quay.io/myorg\"\n[[registry.mirror]]\nlocation = \"mirror.example.com/myorg\"\n",
    )
    .unwrap();
    let cli = Cli::try_parse_from(["cargo xtask", "release"]).unwrap();
    let mut s = sources(true, &[("CONTAINERS_REGISTRIES_CONF", conf.as_str())]);
    s.record.entries = made
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
    let mirrored = plan_for(&cli.command, &s).unwrap().render();
    assert!(
        !mirrored.contains("REMOTE_DIGEST") && !mirrored.contains("list-current"),
        "{mirrored}"
    );
    assert!(
        mirrored.contains("sends reads of quay.io to a mirror or another location"),
        "{mirrored}"
    );
    // the plan as JSON: each step's lane and condition
    let cli = Cli::try_parse_from(["cargo xtask", "release"]).unwrap();
    let mut s = sources(true, &[]);
    s.record.entries = made
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
    let plan = plan_for(&cli.command, &s).unwrap();
    insta::assert_snapshot!(
        "release_rerun_json",
        scrub(&serde_json::to_string_pretty(&plan.to_json()).unwrap())
    );
}

#[test]
fn disk_plans() {
    let key = common::scratch("disk-key").join("id.pub");
    std::fs::write(
        &key,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlanSnapshotKey plan@test\n",
    )
    .unwrap();
    let auth = common::repo_root().join("tests/fixtures/registry-auth.json");
    let auth = auth.as_str();
    insta::assert_snapshot!("disk_qcow2_root", dry_run(true, &[], &["disk"]));
    insta::assert_snapshot!(
        "disk_raw_vmdk_cross_nonroot",
        dry_run(
            false,
            &[],
            &[
                "disk",
                "--type",
                "raw,vmdk",
                "--arch",
                "arm64",
                "--min-free",
                "50G"
            ]
        )
    );
    insta::assert_snapshot!(
        "disk_iso_kickstart_root",
        dry_run(
            true,
            &[("AUTH_CONFIG", auth)],
            &["disk", "--type", "anaconda-iso", "--ssh-key", key.as_str()]
        )
    );
    // an --output whose parent is missing too: both are made, and given to the user
    let output = common::scratch("disk-sudo-output").join("made/disk");
    insta::assert_snapshot!(
        "disk_custom_builder_sudo",
        dry_run(
            true,
            &[("SUDO_UID", "1000"), ("SUDO_GID", "1000")],
            &[
                "disk",
                "--output",
                output.as_str(),
                "--builder",
                "quay.io/centos-bootc/bootc-image-builder:latest",
                "--ssh-key",
                key.as_str(),
                "--kernel-append",
                "console=ttyS0",
                "--root-size",
                "20",
            ]
        )
    );
}

/// Issue 29, item 14: a checkout without `target/` (a `CARGO_TARGET_DIR` elsewhere, a
/// fresh clone) plans `disk` all the same: a preview needs no output directory; the run
/// makes it with the parents it lacks, and under sudo gives each one it makes to the user.
#[test]
fn disk_plans_without_a_target_directory() {
    let checkout = common::scratch("disk-no-target");
    for (env, owner) in [
        (&[][..], None),
        (
            &[("SUDO_UID", "1000"), ("SUDO_GID", "1000")][..],
            Some("1000:1000"),
        ),
    ] {
        let mut s = sources(true, env);
        s.root = checkout.clone();
        s.cwd = checkout.clone();
        let cli = Cli::try_parse_from(["cargo xtask", "disk"]).unwrap();
        let plan = plan_for(&cli.command, &s)
            .unwrap_or_else(|e| panic!("disk without target/: {e:#}"))
            .to_json();
        let (target, out) = (checkout.join("target"), checkout.join("target/disk"));
        assert_eq!(
            common::argv(common::step(&plan, "output")),
            ["mkdir", "-p", "--", out.as_str()]
        );
        let chown = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["id"] == "output-owner");
        match owner {
            None => assert!(chown.is_none()),
            Some(o) => assert_eq!(
                common::argv(chown.unwrap()),
                ["chown", "-h", "--", o, target.as_str(), out.as_str()]
            ),
        }
        assert!(!target.exists(), "a plan made {target}");
    }
}

/// The generated config is TOML with only the builder's documented keys, and the kickstart
/// inside it comes back byte for byte, whatever the secrets hold.
#[test]
fn disk_config_is_documented_toml() {
    use xtask::plan::Arg;
    let dir = common::scratch("disk-config");
    // awkward secrets: quotes, TOML's own escapes, a heredoc-like line, Unicode, CRLF
    let pull = dir.join("pull-secret.json");
    let awkward = json!({"auths": {"registry.redhat.io": {
        "auth": "a\"b'''c\\d",
        "note": "\"\"\"x\"\"\" EOF $HOME `id` \u{e9}\u{1f600} %end",
    }}});
    std::fs::write(&pull, format!("{awkward}\r\n")).unwrap();
    let auth = dir.join("auth.json");
    std::fs::write(
        &auth,
        "{\"auths\": {\"quay.io\": {\"auth\": \"%end\\nXTASK_BASE64_EOF\"}}}",
    )
    .unwrap();
    let key = dir.join("id.pub");
    std::fs::write(
        &key,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRoundTrip round@trip\n",
    )
    .unwrap();
    let documented: &[&str] = &[
        "customizations",
        "customizations.user",
        "customizations.user.name",
        "customizations.user.password",
        "customizations.user.key",
        "customizations.user.groups",
        "customizations.filesystem",
        "customizations.filesystem.mountpoint",
        "customizations.filesystem.minsize",
        "customizations.kernel",
        "customizations.kernel.append",
        "customizations.installer",
        "customizations.installer.kickstart",
        "customizations.installer.kickstart.contents",
        "customizations.files",
        "customizations.files.path",
        "customizations.files.mode",
        "customizations.files.user",
        "customizations.files.group",
        "customizations.files.data",
    ];
    fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.push(key.clone());
                    keys(&key, v, out);
                }
            }
            toml::Value::Array(items) => items.iter().for_each(|i| keys(prefix, i, out)),
            _ => {}
        }
    }
    for types in ["qcow2", "anaconda-iso"] {
        let env = [
            ("PULL_SECRET", pull.as_str()),
            ("AUTH_CONFIG", auth.as_str()),
        ];
        let cli = Cli::try_parse_from([
            "cargo xtask",
            "disk",
            "--type",
            types,
            "--ssh-key",
            key.as_str(),
            "--kernel-append",
            "a=\"b\"",
        ])
        .unwrap();
        let plan = plan_for(&cli.command, &sources(true, &env)).unwrap();
        let config = plan
            .steps
            .iter()
            .flat_map(|s| s.args.iter())
            .find_map(|a| match a {
                Arg::SecretFile {
                    name: "BUILDER_CONFIG",
                    secret,
                    ..
                } => Some(secret.clone()),
                _ => None,
            })
            .expect("the builder gets its config as a private file");
        let text = String::from_utf8(config.expose().to_vec()).unwrap();
        let doc: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut found = Vec::new();
        keys("", &doc, &mut found);
        for k in &found {
            assert!(
                documented.contains(&k.as_str()),
                "{types}: undocumented key {k}\n{text}"
            );
        }
        let c = &doc["customizations"];
        assert_eq!(c["kernel"]["append"].as_str(), Some("a=\"b\""));
        assert_eq!(c["filesystem"][0]["minsize"].as_str(), Some("10 GiB"));
        if types == "anaconda-iso" {
            // no user customization next to a kickstart: the user is in the kickstart
            assert!(c.get("user").is_none(), "{text}");
            let contents = c["installer"]["kickstart"]["contents"].as_str().unwrap();
            let mut ks = xtask::commands::kickstart::Kickstart::resolve(
                &xtask::commands::kickstart::KickstartArgs::default(),
                &sources(true, &env),
            )
            .unwrap();
            ks.users = "user --name=redhat --groups=wheel\nsshkey --username=redhat \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRoundTrip round@trip\"".to_string();
            ks.ostreecontainer = false;
            assert_eq!(
                contents,
                ks.render(false).unwrap(),
                "the kickstart changed on its way through TOML"
            );
            assert!(
                !contents.contains("ostreecontainer"),
                "the builder adds ostreecontainer itself"
            );
            for secret in [&pull, &auth] {
                let encoded = xtask::commands::kickstart::base64(&std::fs::read(secret).unwrap());
                assert!(
                    contents.contains(&encoded[..60]),
                    "{secret} is not embedded"
                );
            }
            // and --dry-run shows none of it
            let shown = plan.render();
            assert!(
                !shown.contains(
                    &xtask::commands::kickstart::base64(&std::fs::read(&pull).unwrap())[..40]
                ),
                "{shown}"
            );
            assert!(shown.contains("<redacted: "), "{shown}");
        } else {
            assert_eq!(c["user"][0]["name"].as_str(), Some("redhat"));
            assert_eq!(c["user"][0]["groups"][0].as_str(), Some("wheel"));
            assert!(c["user"][0]["key"]
                .as_str()
                .unwrap()
                .starts_with("ssh-ed25519 "));
            // the device's registry credentials, 0600 root's, the auth file's very bytes;
            // --dry-run shows none of them
            let files = c["files"].as_array().unwrap();
            assert_eq!(files.len(), 1, "{text}");
            assert_eq!(files[0]["path"].as_str(), Some("/etc/ostree/auth.json"));
            assert_eq!(files[0]["mode"].as_str(), Some("0600"));
            assert_eq!(files[0]["user"].as_str(), Some("root"));
            assert_eq!(
                files[0]["data"].as_str().unwrap().as_bytes(),
                std::fs::read(&auth).unwrap()
            );
            let shown = plan.render();
            assert!(!shown.contains("%end"), "{shown}");
            assert!(shown.contains("<redacted: "), "{shown}");
        }
    }
}

/// Issue 19, item 2: an `images` entry's paths are the config file's, relative to the
/// repository wherever the command runs (`cd containerfiles` first, as a user might), for
/// `build --image` and `release --image`; an error names the entry's key.
#[test]
fn images_entry_paths_are_relative_to_the_repository() {
    for args in [
        ["build", "--image", "microshift-4.16-app"],
        ["release", "--image", "microshift-4.16-app"],
    ] {
        let mut s = sources(true, &[]);
        s.cwd = s.root.join("containerfiles");
        let cli = Cli::try_parse_from(std::iter::once("cargo xtask").chain(args)).unwrap();
        let plan = plan_for(&cli.command, &s).unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
        let text = scrub(&plan.render());
        assert!(
            text.contains(
                "-f [ROOT]/containerfiles/Containerfile.app-example [ROOT]/containerfiles"
            ),
            "{args:?}:\n{text}"
        );
    }
    let mut s = sources(true, &[]);
    let mut doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.root.join("microshift-image.json")).unwrap(),
    )
    .unwrap();
    doc["images"][0]["containerfile"] = json!("containerfiles/Containerfile.missing");
    s.config = xtask::config::Config::parse("test.json", &doc.to_string()).unwrap();
    let cli =
        Cli::try_parse_from(["cargo xtask", "build", "--image", "microshift-4.16-app"]).unwrap();
    let e = plan_for(&cli.command, &s).unwrap_err().to_string();
    assert!(
        e.contains("--containerfile (from test.json: images[0].containerfile)")
            && e.contains("Containerfile.missing"),
        "{e}"
    );
}

/// A private key's shape (not a key), mode 600, for plans that name `--ssh-key`.
fn device_key() -> String {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::scratch("plans-device-key");
    let key = dir.join("id_ed25519");
    std::fs::write(
        &key,
        "-----BEGIN OPENSSH PRIVATE KEY-----\ntest fixture, not a key\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    key.to_string()
}

/// Issue 30: `rollout`'s plan from its resolved inputs (the inventory read and the image
/// pinned, as its resolution leaves them): the pin and the waves said first, the last
/// rollout's files removed, the play's variables written (each device's `upgrade` arguments,
/// the pinned list's digest for all), `ansible-playbook` with the inventory, the limit and
/// the forks, then every device's verdict read back and the plan's end taken from it.
#[test]
fn rollout_plans() {
    use xtask::commands::fleet::{FleetDevice, Pinned, Reach};
    use xtask::commands::rollout::Rollout;
    use xtask::fleet::inventory::WaveSize;
    let root = common::repo_root();
    let device = |name: &str, address: &str, key: Option<&str>| FleetDevice {
        name: name.to_string(),
        address: address.to_string(),
        key: key.map(camino::Utf8PathBuf::from),
    };
    let list = "sha256:4727bc91578621a68e7377759c0440d06a19f9f3b70d3be15b4901652002d10a";
    let rollout = Rollout {
        inventory: "/srv/fleet/hosts.yml".into(),
        limit: Some("edge:!lab".to_string()),
        devices: vec![
            device("edge-1", "redhat@192.0.2.10", Some("/home/ops/.ssh/edge")),
            device("edge-2", "core@192.0.2.11:2222", None),
            device("edge-3", "redhat@[fd00::3]", Some("/home/ops/.ssh/edge")),
        ],
        waves: vec![WaveSize::Count(1), WaveSize::Percent(100)],
        wave_of: vec![1, 2, 2],
        max_failed: 0,
        parallel: 10,
        timeout: "30m".to_string(),
        interval: "5s".to_string(),
        pinned: Pinned {
            given: "quay.io/myorg/microshift:v2".to_string(),
            reference: format!("quay.io/myorg/microshift@{list}"),
            digest: list.to_string(),
            members: vec![
                (
                    "amd64".to_string(),
                    "sha256:1111111111111111111111111111111111111111111111111111111111111111"
                        .to_string(),
                ),
                (
                    "arm64".to_string(),
                    "sha256:2222222222222222222222222222222222222222222222222222222222222222"
                        .to_string(),
                ),
            ],
            list: true,
        },
        reach: Reach {
            user: "redhat".to_string(),
            key: Some("/home/ops/.ssh/edge".into()),
            known_hosts: Some("/home/ops/.ssh/fleet_known_hosts".into()),
        },
        auth_config: Some("/home/ops/auth.json".into()),
        config: root.join("microshift-image.json").to_string(),
        xtask: "/usr/local/bin/cargo-xtask".into(),
        root: root.clone(),
        dir: root.join(".xtask/rollout"),
        junit: Some("/tmp/rollout-junit.xml".into()),
        rerun: format!("cargo xtask rollout --inventory /srv/fleet/hosts.yml --limit 'edge:!lab' --image quay.io/myorg/microshift@{list}"),
    };
    let plan = rollout.plan(false);
    insta::assert_snapshot!("rollout_two_waves_nonroot", scrub(&plan.render()));
    // the same plan as data: no step needs root; the play may fail (a host failed is
    // Ansible's exit 2), the last step ends the plan with the fleet's exit code
    let doc = plan.to_json();
    let steps: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["clear", "results-dir", "vars", "playbook", "report"]
    );
    assert_eq!(doc["steps"][3]["probe"], true);
    assert_eq!(doc["steps"][4]["exit_with"]["var"], "FLEET_EXIT");
    assert_eq!(doc["report_files"][0]["path"], "/tmp/rollout-junit.xml");
    assert!(doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["root"] == false));
    let vars = rollout.vars();
    assert_eq!(
        vars["xtask_rollout"]["devices"]["edge-2"],
        json!(["--host", "core@192.0.2.11:2222"])
    );
    assert_eq!(vars["xtask_rollout"]["waves"], json!([1, "100%"]));
}

/// Issue 21: `status`, `upgrade` and `rollback`, on a host over ssh
/// (a port, a key, a known-hosts file, root or a sudo user), a VM found through libvirt, the
/// VM `vm` made last (the record), and a container `run` started.
#[test]
fn lifecycle_plans() {
    let key = device_key();
    let kh = format!("{}.known_hosts", key);
    insta::assert_snapshot!(
        "upgrade_host_tag",
        dry_run(
            false,
            &[],
            &[
                "upgrade",
                "--host",
                "redhat@edge-1.example.com:2222",
                "--ssh-key",
                &key,
                "--known-hosts",
                &kh,
                "--image",
                "quay.io/myorg/microshift:v2",
                "--timeout",
                "30m",
                "--follow-tag"
            ]
        )
    );
    insta::assert_snapshot!(
        "upgrade_vm_pinned",
        dry_run(
            true,
            &[],
            &[
                "upgrade",
                "--vm",
                "edge-1",
                "--ssh-user",
                "root",
                "--image",
                "quay.io/myorg/microshift@sha256:4727bc91578621a68e7377759c0440d06a19f9f3b70d3be15b4901652002d10a"
            ]
        )
    );
    // no --image: the release's list; no device named: the VM `vm` made last
    insta::assert_snapshot!(
        "upgrade_recorded_vm_default_image",
        with_record(
            true,
            &[
                json!({"kind": "vm", "name": "microshift-vm", "uri": "qemu:///system", "disk": "/var/lib/libvirt/images/microshift-vm.qcow2"})
            ],
            &["upgrade"]
        )
    );
    insta::assert_snapshot!(
        "rollback_host_root",
        dry_run(false, &[], &["rollback", "--host", "root@192.0.2.10"])
    );
    insta::assert_snapshot!(
        "status_container",
        dry_run(true, &[], &["status", "--container", "microshift"])
    );
    insta::assert_snapshot!(
        "status_host_env",
        dry_run(
            false,
            &[("DEVICE_HOST", "redhat@192.0.2.10")],
            &["status", "--image", "quay.io/myorg/microshift:v1"]
        )
    );
}

/// The signing fixtures, the sigstore private key made private first (git keeps no mode).
fn signing_fixtures() {
    use std::os::unix::fs::PermissionsExt;
    let key = common::repo_root().join("tests/fixtures/signing/sigstore.private");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
}

const SIGN_PASS: &[(&str, &str)] = &[("SIGN_PASSPHRASE", "canary-sign-pass-5b7e")];

const GPG: &[&str] = &[
    "--sign-method",
    "gpg",
    "--sign-by",
    "A6134A4D420C5D4D2AFDBC977D8C745D2AEEEEC0",
    "--sign-public-key",
    "tests/fixtures/signing/xtask-signing.gpg",
    "--lookaside-url",
    "https://sigs.example.com/signatures",
];
const SIGSTORE: &[&str] = &[
    "--sign-by",
    "tests/fixtures/signing/sigstore.private",
    "--sign-public-key",
    "tests/fixtures/signing/sigstore.pub",
];

fn with(base: &[&'static str], extra: &[&'static str]) -> Vec<&'static str> {
    base.iter().chain(extra).copied().collect()
}

#[test]
fn signing_plans() {
    signing_fixtures();
    let plans = [
        (
            "push_signed_gpg_nonroot",
            false,
            with(&["push", "--arch", "amd64"], GPG),
        ),
        (
            "push_signed_sigstore_root",
            true,
            with(&["push", "--arch", "arm64"], SIGSTORE),
        ),
        ("manifest_signed_gpg_root", true, with(&["manifest"], GPG)),
        (
            "release_signed_sigstore_root",
            true,
            with(&["release"], SIGSTORE),
        ),
        (
            "build_signature_policy_gpg",
            true,
            with(
                &[
                    "build",
                    "--arch",
                    "amd64",
                    "--accept-unsigned",
                    "quay.io/myorg/workloads",
                ],
                GPG,
            ),
        ),
        (
            "keygen_gpg",
            false,
            vec!["keygen", "--method", "gpg", "--name", "edge images"],
        ),
        (
            "keygen_sigstore",
            true,
            vec!["keygen", "--method", "sigstore"],
        ),
    ];
    for (name, root, args) in plans {
        let text = dry_run(root, SIGN_PASS, &args);
        assert!(
            !text.contains("canary-sign-pass-5b7e"),
            "{name}: passphrase leaked"
        );
        assert!(
            !text.contains("ENCRYPTED SIGSTORE PRIVATE KEY"),
            "{name}: private key bytes in the plan"
        );
        insta::assert_snapshot!(name, text);
    }
}

/// The policy the image carries, parsed: unsigned images of its repository rejected (and of
/// any registry not named), Red Hat's registries keyed, the accepted scope accepted.
#[test]
fn the_device_policy_rejects_unsigned_images() {
    signing_fixtures();
    let cli = Cli::try_parse_from(with(
        &[
            "cargo xtask",
            "build",
            "--arch",
            "amd64",
            "--accept-unsigned",
            "quay.io/myorg/workloads",
        ],
        GPG,
    ))
    .unwrap();
    let plan = plan_for(&cli.command, &sources(true, &[])).unwrap();
    let step = plan.steps.iter().find(|s| s.id == "device-policy").unwrap();
    let xtask::plan::Stdin::JsonOver { base, .. } = &step.stdin else {
        panic!("the policy is the base image's with the tool's entries over it")
    };
    // the base image's policy as RHEL ships it, plus a registry of the base's own, and
    // entries for a tag and a digest of the signed repository (which containers/image would
    // take before the repository's own entry: dropped), of the repository itself (replaced),
    // and of other repositories next to it (kept)
    let ours = "quay.io/myorg/mypath/microshift-4.16-bootc";
    let anything = json!([{"type": "insecureAcceptAnything"}]);
    let rhel = json!({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {
            "docker": {
                "registry.access.redhat.com": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"}],
                "registry.redhat.io": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"}],
                "quay.io/openshift-release-dev": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"}],
                format!("{ours}:latest"): anything,
                format!("{ours}@sha256:{}", "0".repeat(64)): anything,
                ours: anything,
                format!("{ours}-tools"): anything,
                format!("{ours}/sub:1"): anything
            },
            "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}
        }
    });
    let vars = std::collections::BTreeMap::from([(*base, rhel.to_string())]);
    let bytes = step.stdin.bytes(&vars).unwrap();
    let policy: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    // the base's other registries are kept as they were
    assert_eq!(
        policy["transports"]["docker"]["quay.io/openshift-release-dev"],
        rhel["transports"]["docker"]["quay.io/openshift-release-dev"]
    );
    // a base without a policy (unset, or not JSON): the tool's entries alone
    for other in [
        std::collections::BTreeMap::new(),
        std::collections::BTreeMap::from([(*base, "cat: no such file".to_string())]),
    ] {
        let alone: serde_json::Value =
            serde_json::from_slice(&step.stdin.bytes(&other).unwrap()).unwrap();
        assert_eq!(alone["default"], json!([{"type": "reject"}]));
        assert!(alone["transports"]["docker"]["quay.io/openshift-release-dev"].is_null());
    }
    assert_eq!(policy["default"], json!([{"type": "reject"}]));
    let docker = &policy["transports"]["docker"];
    let ours = &docker["quay.io/myorg/mypath/microshift-4.16-bootc"][0];
    assert_eq!(ours["type"], "signedBy");
    assert_eq!(ours["keyType"], "GPGKeys");
    assert_eq!(ours["keyPath"], "/etc/pki/containers/xtask-signing.gpg");
    assert_eq!(ours["signedIdentity"]["type"], "matchRepository");
    assert_eq!(docker["registry.redhat.io"][0]["type"], "signedBy");
    assert_eq!(
        docker["quay.io/myorg/workloads"][0]["type"],
        "insecureAcceptAnything"
    );
    // nothing else accepts anything from a registry
    let mut accepting: Vec<&String> = docker
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v[0]["type"] == "insecureAcceptAnything")
        .map(|(k, _)| k)
        .collect();
    accepting.sort();
    // the base's entries for other repositories kept; none for the signed one
    assert_eq!(
        accepting,
        vec![
            "quay.io/myorg/mypath/microshift-4.16-bootc-tools",
            "quay.io/myorg/mypath/microshift-4.16-bootc/sub:1",
            "quay.io/myorg/workloads"
        ]
    );
    assert_eq!(
        policy["transports"]["docker-daemon"][""][0]["type"],
        "insecureAcceptAnything"
    );
    let yaml = plan
        .steps
        .iter()
        .find(|s| s.id == "device-registries-d")
        .unwrap();
    let xtask::plan::Stdin::Text(yaml) = &yaml.stdin else {
        panic!("registries.d is written from stdin")
    };
    assert!(
        yaml.contains(
            "  quay.io/myorg/mypath:\n    lookaside: https://sigs.example.com/signatures\n"
        ),
        "{yaml}"
    );
}

/// Every command on a device has its limit: each try of a wait 30 s (then the wait tries
/// again within its deadline), the pull `--pull-timeout`, any other command 60 s.
#[test]
fn device_commands_have_their_limits() {
    for args in [
        &[
            "upgrade",
            "--host",
            "edge-1",
            "--image",
            "quay.io/a/b:1",
            "--pull-timeout",
            "15m",
        ][..],
        &["rollback", "--host", "edge-1"][..],
    ] {
        let cli = Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
            .unwrap();
        let plan = plan_for(&cli.command, &sources(true, &[])).unwrap();
        for step in plan.steps.iter().filter(|s| s.program == "ssh") {
            let want = match (step.repeat, step.id) {
                (true, _) => 30,
                (false, "switch") => 900,
                (false, _) => 60,
            };
            assert_eq!(
                step.time_limit,
                Some(want),
                "{args:?}: {} ({})",
                step.id,
                step.about
            );
        }
    }
}

/// The reviewer's finding (Red Hat's signatures through the mirror): whatever the signing
/// method — none, gpg, sigstore — `mirror` reads the signatures of Red Hat's images (and of
/// a `--source-lookaside` source) at their source's lookaside and writes them into the
/// mirror's lookaside directory (the tool's registries.d for every skopeo call; on main:
/// none without signing, the host's default directory with sigstore), and the image's entry
/// for the mirror reads them at `mirror.lookaside_url` (on main: no entry without signing,
/// none of the lookaside with sigstore). Without the URL, Red Hat's images are refused.
#[test]
fn signatures_through_the_mirror_for_every_method() {
    let list = common::repo_root().join("tests/fixtures/mirror/release-x86_64.json");
    let gpg = common::repo_root().join("tests/fixtures/signing/xtask-signing.gpg");
    let sigstore = common::repo_root().join("tests/fixtures/signing/sigstore.pub");
    let url = "https://mirror-sigs.site.example";
    let methods: [(&str, Vec<&str>); 3] = [
        ("none", vec![]),
        (
            "gpg",
            vec![
                "--sign-method",
                "gpg",
                "--sign-public-key",
                gpg.as_str(),
                "--lookaside-url",
                "https://sigs.example.com",
            ],
        ),
        (
            "sigstore",
            vec![
                "--sign-method",
                "sigstore",
                "--sign-public-key",
                sigstore.as_str(),
            ],
        ),
    ];
    let plan = |args: &[&str]| {
        let cli = Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
            .unwrap();
        plan_for(&cli.command, &sources(true, &[]))
    };
    let text_of = |plan: &xtask::plan::Plan, id: &str| -> String {
        let step = plan
            .steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no step {id}: {}", plan.render()));
        match &step.stdin {
            xtask::plan::Stdin::Text(t) => t.clone(),
            _ => panic!("{id} is written from stdin"),
        }
    };
    for (name, signing) in &methods {
        let mut args = vec![
            "mirror",
            "--to",
            "mirror.site.example:8443/microshift",
            "--release-list",
            list.as_str(),
            "--no-os-image",
            "--mirror-lookaside-dir",
            "/srv/mirror-signatures",
            "--mirror-lookaside-url",
            url,
            "--source-lookaside",
            "quay.io/openshift-release-dev=https://sigs.quay.example",
        ];
        args.extend(signing);
        let p = plan(&args).unwrap();
        let yaml = text_of(&p, "signatures-config");
        for want in [
            "  \"registry.redhat.io\":\n    lookaside: https://registry.redhat.io/containers/sigstore\n    sigstore: https://registry.redhat.io/containers/sigstore\n".to_string(),
            "  \"quay.io/openshift-release-dev\":\n    lookaside: https://sigs.quay.example\n".to_string(),
            format!("  \"mirror.site.example:8443/microshift\":\n    lookaside: {url}\n    sigstore: {url}\n    lookaside-staging: file:///srv/mirror-signatures\n    sigstore-staging: file:///srv/mirror-signatures\n"),
        ] {
            assert!(yaml.contains(&want), "{name}: {want}\n{yaml}");
        }
        // every skopeo call reads the tool's registries.d, never the host's
        for step in p.steps.iter().filter(|s| s.program == "skopeo") {
            let args: Vec<String> = step.args.iter().map(|a| a.plain()).collect();
            assert!(
                args.iter().any(|a| a == "--registries.d"),
                "{name}: {args:?}"
            );
        }
        assert!(p.steps.iter().any(|s| s.id == "signatures-dir"), "{name}");
        // without the mirror's lookaside URL: refused, naming Red Hat's image and the fix
        let without: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| *a != "--mirror-lookaside-url" && *a != url)
            .collect();
        let e = plan(&without).unwrap_err().to_string();
        assert!(
            e.starts_with("--mirror-lookaside-url: missing; ")
                && e.contains("@sha256:")
                && e.contains("serve /srv/mirror-signatures at the site"),
            "{name}: {e}"
        );
        // into a carried directory: Red Hat's signatures come along (inside each image's
        // directory), no URL needed there
        let mut to_dir = vec![
            "mirror",
            "--to-dir",
            "/media/carry",
            "--release-list",
            list.as_str(),
            "--no-os-image",
        ];
        to_dir.extend(signing);
        let p = plan(&to_dir).unwrap();
        let yaml = text_of(&p, "signatures-config");
        assert!(
            yaml.contains("registry.redhat.io") && !yaml.contains("staging"),
            "{name}: {yaml}"
        );

        // the image's entry for the mirror, for this method
        let mut build = vec![
            "build",
            "--to",
            "mirror.site.example:8443/microshift",
            "--mirror-lookaside-url",
            url,
        ];
        build.extend(signing);
        let p = plan(&build).unwrap();
        let method = match *name {
            "gpg" => Some(xtask::signing::Method::Gpg),
            "sigstore" => Some(xtask::signing::Method::Sigstore),
            _ => None,
        };
        let want = xtask::mirror::Mirror {
            location: "mirror.site.example:8443/microshift".to_string(),
            auth: None,
            ca: None,
            insecure: false,
            what: String::new(),
            lookaside_dir: camino::Utf8PathBuf::from("/unused"),
            lookaside_url: Some(url.to_string()),
        }
        .device_registries_d(method)
        .unwrap();
        let entry = text_of(&p, "mirror-signatures");
        assert_eq!(entry, want, "{name}");
        assert!(
            entry.contains(&format!("    lookaside: {url}\n")),
            "{name}: {entry}"
        );
        // the sigstore-signed OS image through the mirror: attachments read there
        assert_eq!(
            entry.contains("    use-sigstore-attachments: true\n"),
            method.is_some(),
            "{name}: {entry}"
        );
        let layer = p.steps.iter().find(|s| s.id == "mirror-layer").unwrap();
        let args: Vec<String> = layer.args.iter().map(|a| a.plain()).collect();
        assert!(
            args.contains(&format!("MIRROR_LOOKASIDE_URL={url}"))
                && args.contains(
                    &"LOOKASIDE_SOURCES=registry.redhat.io registry.access.redhat.com".to_string()
                ),
            "{name}: {args:?}"
        );
    }
    // a build without the URL: the image's script refuses a release list naming Red Hat's
    // images (it knows the lists); a workload image of Red Hat's is refused here already
    let p = plan(&["build", "--to", "mirror.site.example:8443/microshift"]).unwrap();
    let layer = p.steps.iter().find(|s| s.id == "mirror-layer").unwrap();
    let args: Vec<String> = layer.args.iter().map(|a| a.plain()).collect();
    assert!(
        !args.iter().any(|a| a.starts_with("MIRROR_LOOKASIDE_URL=")),
        "{args:?}"
    );
    assert!(!p.steps.iter().any(|s| s.id == "mirror-signatures"));
    let e = plan(&[
        "build",
        "--embed",
        "--embed-image",
        "registry.redhat.io/ubi9/ubi@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        "--to",
        "mirror.site.example:8443/microshift",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("--mirror-lookaside-url: missing; registry.redhat.io/ubi9/ubi@"),
        "{e}"
    );
}

/// Every gpg and skopeo command of signing and of the checks after it has a time limit,
/// the gpg list check's too (a gpg waiting on an agent, a skopeo on a lookaside server that
/// never answers, must not hold a release forever).
#[test]
fn signing_and_its_checks_have_a_time_limit() {
    signing_fixtures();
    for args in [with(&["release"], GPG), with(&["release"], SIGSTORE)] {
        let cli = Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
            .unwrap();
        let plan = plan_for(&cli.command, &sources(true, SIGN_PASS)).unwrap();
        let signing: Vec<&xtask::plan::Step> = plan
            .steps
            .iter()
            .filter(|s| {
                s.id.starts_with("sign")
                    || matches!(
                        s.id,
                        "list-key" | "list-key-import" | "list-fetch" | "list-sig-check"
                    )
            })
            .filter(|s| matches!(s.program.as_str(), "gpg" | "skopeo"))
            .collect();
        let gpg = args.contains(&"gpg");
        // gpg: unlock, sign, check, and the list's four; sigstore: sign and check
        assert_eq!(signing.len(), if gpg { 7 } else { 2 }, "{args:?}");
        for step in signing {
            // giving gpg-agent the passphrase has a shorter one of its own
            let limit = if step.id == "sign-unlock" { 120 } else { 600 };
            assert_eq!(
                step.time_limit,
                Some(limit),
                "{args:?}: {} ({}) has no time limit",
                step.id,
                step.about
            );
        }
    }
}

/// `release` with its arm64 lane on another podman: that lane's podman commands carry
/// `--url` (run as the user for ssh, through sudo for a unix socket), its digest is asked of
/// the registry after its push, and `--json` names the builder.
#[test]
fn release_on_builders() {
    insta::assert_snapshot!(
        "release_builder_ssh_nonroot",
        dry_run(
            false,
            &[],
            &[
                "release",
                "--builder",
                "arm64=ssh://core@arm-1.example.com/run/podman/podman.sock"
            ]
        )
    );
    let cli = Cli::try_parse_from([
        "cargo xtask",
        "release",
        "--builder",
        "arm64=unix:///run/podman/podman.sock",
        "--builder",
        "amd64=x86-builder",
    ])
    .unwrap();
    let plan = plan_for(&cli.command, &sources(false, &[])).unwrap();
    let doc = plan.to_json();
    assert_eq!(
        plan.facts["builders"],
        json!({"arm64": "unix:///run/podman/podman.sock", "amd64": "podman connection x86-builder"})
    );
    let arm_build = common::step(&doc, "arm64/build");
    let argv = common::argv(arm_build);
    assert_eq!(
        &argv[..4],
        ["sudo", "podman", "--url", "unix:///run/podman/podman.sock"]
    );
    let amd_push = common::argv(common::step(&doc, "amd64/push"));
    assert_eq!(&amd_push[..3], ["podman", "--connection", "x86-builder"]);
    // the list is made here
    assert_eq!(
        common::argv(common::step(&doc, "list-push"))[..2],
        ["sudo", "podman"]
    );
    // issue 29: a builder lane's push writes no digest file (podman's remote client does
    // not); what it pushed is read back by tag and taken only when it is the image built
    // there (its config is the image's id); the list adds every member by that digest
    let arm_push = common::argv(common::step(&doc, "arm64/push"));
    assert!(
        !arm_push.iter().any(|a| a == "--digestfile"),
        "{arm_push:?}"
    );
    let read_back = common::step(&doc, "arm64/pushed-digest");
    let argv = common::argv(read_back);
    assert!(
        argv.ends_with(&[
            "inspect".to_string(),
            "--raw".to_string(),
            "docker://quay.io/myorg/mypath/microshift-4.16-bootc:linux-arm64".to_string()
        ]),
        "{argv:?}"
    );
    let read_back = plan
        .steps
        .iter()
        .find(|s| s.id == "arm64/pushed-digest")
        .unwrap();
    assert_eq!(
        read_back.output,
        xtask::plan::Output::Check(xtask::plan::Check::Pushed {
            reference: "quay.io/myorg/mypath/microshift-4.16-bootc:linux-arm64".into(),
            image_id: "LOCAL_ID_arm64",
        })
    );
    assert_eq!(read_back.result_to, Some(("arm64/push", "digest")));
    let adds: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| s.id == "list-add")
        .map(|s| s.args.last().unwrap().plain())
        .collect();
    assert_eq!(
        adds,
        [
            "docker://quay.io/myorg/mypath/microshift-4.16-bootc@${PUSHED_DIGEST_amd64}",
            "docker://quay.io/myorg/mypath/microshift-4.16-bootc@${PUSHED_DIGEST_arm64}"
        ]
    );
}

/// Issue 24: `mirror`, registry to registry (with the mirror's credentials and CA), into a
/// directory, and the build's mirror layer. Issue 29: the mirror asked by tag, a list's
/// images read for their bytes, the OS image's copy checked with the public key.
#[test]
fn mirror_plans() {
    let list = common::repo_root().join("tests/fixtures/mirror/release-x86_64.json");
    let auth = common::repo_root().join("tests/fixtures/registry-auth.json");
    let ca = common::repo_root().join("tests/fixtures/mirror/ca.crt");
    insta::assert_snapshot!(
        "mirror_to_registry",
        dry_run(
            false,
            &[],
            &[
                "mirror",
                "--to",
                "mirror.site.example:8443/microshift",
                "--mirror-auth",
                auth.as_str(),
                "--mirror-ca",
                ca.as_str(),
                "--release-list",
                list.as_str(),
                "--embed-image",
                "quay.io/example/app:1.0",
                "--jobs",
                "2",
                "--mirror-lookaside-url",
                "https://mirror-sigs.site.example",
            ]
        )
    );
    insta::assert_snapshot!(
        "mirror_to_dir",
        dry_run(
            true,
            &[],
            &[
                "mirror",
                "--to-dir",
                "/media/carry",
                "--release-list",
                list.as_str(),
                "--no-os-image"
            ]
        )
    );
    let gpg_public = common::repo_root().join("tests/fixtures/signing/xtask-signing.gpg");
    insta::assert_snapshot!(
        "mirror_signed_gpg",
        dry_run(
            true,
            &[],
            &[
                "mirror",
                "--to",
                "mirror.site.example:8443/microshift",
                "--release-list",
                list.as_str(),
                "--sign-method",
                "gpg",
                "--sign-public-key",
                gpg_public.as_str(),
                "--lookaside-url",
                "https://sigs.example.com",
                "--mirror-lookaside-dir",
                "/srv/mirror-signatures",
                "--mirror-lookaside-url",
                "https://mirror-sigs.site.example",
            ]
        )
    );
    // issue 29: a carried directory's OS image checked with the public key (its list's own
    // signature, `standalone-verify`), not for a file being there
    insta::assert_snapshot!(
        "mirror_to_dir_signed_gpg",
        dry_run(
            true,
            &[],
            &[
                "mirror",
                "--to-dir",
                "/media/carry",
                "--release-list",
                list.as_str(),
                "--sign-method",
                "gpg",
                "--sign-public-key",
                gpg_public.as_str(),
                "--lookaside-url",
                "https://sigs.example.com",
            ]
        )
    );
    insta::assert_snapshot!(
        "build_with_mirror_signed",
        dry_run(
            true,
            &[("MIRROR_REGISTRY", "mirror.site.example:8443/microshift")],
            &[
                "build",
                "--sign-method",
                "gpg",
                "--sign-public-key",
                gpg_public.as_str(),
                "--lookaside-url",
                "https://sigs.example.com",
                "--mirror-lookaside-url",
                "https://mirror-sigs.site.example",
            ]
        )
    );
    insta::assert_snapshot!(
        "build_with_mirror",
        dry_run(
            true,
            &[("MIRROR_REGISTRY", "mirror.site.example:8443/microshift")],
            &["build", "--mirror-ca", ca.as_str()]
        )
    );
}

/// A small bundle of `cargo xtask bundle` on disk (its manifest's shape, not real blobs):
/// what `upgrade --from-bundle` reads before it plans.
fn bundle_fixture(name: &str) -> camino::Utf8PathBuf {
    let dir = common::scratch(name).join("microshift-bundle");
    let hex = |c: char| c.to_string().repeat(64);
    let image = |arch: &str, d: char| {
        json!({
            "architecture": arch,
            "digest": format!("sha256:{}", hex(d)),
            "dir": arch,
            "files": [
                {"path": "oci-layout", "sha256": hex('a'), "size": 31},
                {"path": "index.json", "sha256": hex('b'), "size": 245},
            ],
            "blobs": [
                {"digest": format!("sha256:{}", hex(d)), "size": 769},
                {"digest": format!("sha256:{}", hex('c')), "size": 1_900_000_000u64},
            ],
        })
    };
    let manifest = json!({
        "format": "xtask-bundle/1",
        "image": format!("quay.io/myorg/microshift@sha256:{}", hex('4')),
        "list_digest": format!("sha256:{}", hex('4')),
        "microshift_version": "4.16",
        "created": "2026-01-01T00:00:00Z",
        "images": [image("amd64", '1'), image("arm64", '2')],
    });
    for arch in ["amd64", "arm64"] {
        std::fs::create_dir_all(dir.join(arch)).unwrap();
        std::fs::write(dir.join(arch).join("index.json"), "{}").unwrap();
    }
    std::fs::write(
        dir.join("bundle.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("bundle.json.sig"), "signature").unwrap();
    dir
}

/// Issue 33: carried updates. `build --usb-updates`: the verifier's layer (its context
/// written: the script, unit, the udev rule with the label, the settings, the base's policy
/// with the `oci` entry for the verified copies) built between the image and the signature
/// policy layer. `bundle`, from its resolved inputs (the list pinned, each image sized):
/// room first, the layouts into a partial directory by digest, the manifest, the signature
/// (gpg: the passphrase to gpg-agent first; sigstore: cosign, the passphrase on its stdin),
/// the device's own check, then the partial directory put in place (an earlier bundle
/// replaced), the partial one removed however the run ends. `upgrade --from-bundle`: the
/// bundle's digest for the device's architecture, the verifier asked, rsync when both ends
/// have it, else sftp (the manifest, then what the device says it lacks), the verified
/// staging, then `upgrade`'s own steps.
#[test]
fn bundle_plans() {
    use xtask::commands::bundle::{Bundle, Member};
    use xtask::commands::fleet::Pinned;
    use xtask::signing::{Need, Signing, SigningArgs};
    signing_fixtures();
    let usb = with(
        &[
            "build",
            "--arch",
            "amd64",
            "--usb-updates",
            "--usb-label",
            "SITE-7",
            "--usb-apply",
            "now",
        ],
        GPG,
    );
    let text = dry_run(true, SIGN_PASS, &usb);
    insta::assert_snapshot!("build_usb_updates_gpg", text);
    let root = common::repo_root();
    let hex = |c: char| c.to_string().repeat(64);
    let pinned = Pinned {
        given: "quay.io/myorg/microshift:v2".to_string(),
        reference: format!("quay.io/myorg/microshift@sha256:{}", hex('4')),
        digest: format!("sha256:{}", hex('4')),
        members: vec![
            ("amd64".to_string(), format!("sha256:{}", hex('1'))),
            ("arm64".to_string(), format!("sha256:{}", hex('2'))),
        ],
        list: true,
    };
    let signing = |args: &[&str]| -> Signing {
        let flags = SigningArgs {
            sign_method: args.first().map(|s| s.to_string()),
            sign_by: Some(args[1].to_string()),
            sign_public_key: Some(root.join(args[2]).to_string()),
            ..Default::default()
        };
        Signing::resolve(&flags, &common::sources(false, SIGN_PASS), Need::Bundle)
            .unwrap()
            .unwrap()
    };
    let gpg = signing(&[
        "gpg",
        "A6134A4D420C5D4D2AFDBC977D8C745D2AEEEEC0",
        "tests/fixtures/signing/xtask-signing.gpg",
    ]);
    let sigstore = signing(&[
        "sigstore",
        root.join("tests/fixtures/signing/sigstore.private")
            .as_str(),
        "tests/fixtures/signing/sigstore.pub",
    ]);
    let bundle = Bundle {
        to: "/run/media/tech/MS-UPDATE/microshift-bundle".into(),
        replaces: true,
        room_at: "/run/media/tech/MS-UPDATE".into(),
        pinned,
        members: vec![
            Member {
                arch: xtask::arch::Arch::Amd64,
                digest: format!("sha256:{}", hex('1')),
                bytes: 2_100_000_000,
            },
            Member {
                arch: xtask::arch::Arch::Arm64,
                digest: format!("sha256:{}", hex('2')),
                bytes: 2_000_000_000,
            },
        ],
        microshift_version: "4.16".to_string(),
        signing: gpg,
        registries_conf: None,
        authfile: Some("/home/ops/.quay-auth.json".into()),
        script: root.join(xtask::commands::build::USB_SCRIPT),
    };
    let plan = bundle.plan(false);
    let text = scrub(&plan.render());
    assert!(
        !text.contains("canary-sign-pass-5b7e"),
        "the passphrase leaked"
    );
    insta::assert_snapshot!("bundle_gpg_stick_nonroot", text);
    let doc = plan.to_json();
    let ids: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "room",
            "clear",
            "dir",
            "copy-amd64",
            "copy-arm64",
            "manifest",
            "sign-unlock",
            "sign",
            "verify",
            "replace",
            "publish"
        ]
    );
    // nothing of a bundle needs root: the user's own keyring and registry credentials
    assert!(doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["root"] == false));
    let cleanup: Vec<&str> = plan.cleanup.iter().map(|s| s.id).collect();
    assert_eq!(cleanup, ["clear-part"]);
    assert_eq!(plan.facts["bytes"], 4_100_000_000u64);
    let sigstore_bundle = Bundle {
        to: root.join("target/bundle"),
        replaces: false,
        room_at: root.join("target"),
        signing: sigstore,
        members: bundle.members[..1].to_vec(),
        ..bundle.clone()
    };
    let text = scrub(&sigstore_bundle.plan(true).render());
    assert!(
        !text.contains("canary-sign-pass-5b7e"),
        "the passphrase leaked"
    );
    insta::assert_snapshot!("bundle_sigstore_target_root", text);
    let dir = bundle_fixture("plans-bundle");
    let text = dry_run(
        false,
        &[],
        &[
            "upgrade",
            "--host",
            "redhat@192.0.2.10:2222",
            "--from-bundle",
            dir.as_str(),
        ],
    );
    insta::assert_snapshot!("upgrade_from_bundle_host", text);
}
