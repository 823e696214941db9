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
