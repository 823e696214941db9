//! The kickstart and the VM: snapshots (secrets redacted), pykickstart's validator, the
//! secret-writing script bodies run in a throwaway root, and real virt-install.

mod common;

use camino::{Utf8Path, Utf8PathBuf};
use clap::Parser;
use common::{
    busybox_root, chroot, fake_iso, repo_root, require_root, require_tool, scratch, scrub, section,
    sources,
};
use xtask::commands::kickstart::Kickstart;
use xtask::{plan_for, Cli, Command};

const AUTH: &str = "tests/fixtures/registry-auth.json";

/// Environment for the kickstart: the fixture auth file as AUTH_CONFIG, plus `extra`.
fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![(
        "AUTH_CONFIG".to_string(),
        repo_root().join(AUTH).to_string(),
    )];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn resolve_ks(env: &[(String, String)], args: &[&str]) -> Kickstart {
    let cli = Cli::try_parse_from(
        ["cargo xtask", "kickstart"]
            .iter()
            .copied()
            .chain(args.iter().copied()),
    )
    .unwrap();
    let Command::Kickstart(cmd) = cli.command else {
        unreachable!()
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Kickstart::resolve(&cmd.args, &sources(true, &env)).unwrap()
}

const VARIANTS: &[(&str, &[&str])] = &[
    ("default", &[]),
    (
        "arm64_digest_options",
        &[
            "--arch",
            "arm64",
            "--digest",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "--no-signature-verification",
            "--insecure-registry",
            "--root-size",
            "24",
            "--volume-group",
            "data",
            "--registry-url",
            "127.0.0.1:5000",
        ],
    ),
    (
        "tag_oci_transport",
        &["--tag", "v1.2", "--transport", "oci"],
    ),
];

#[test]
fn kickstart_snapshots_are_redacted() {
    for (name, args) in VARIANTS {
        let ks = resolve_ks(&env(&[]), args);
        let text = ks.render(true).unwrap();
        let full = ks.render(false).unwrap();
        // the redacted text shows no secret, the full one embeds both files
        let encoded = xtask::commands::kickstart::base64(ks.pull_secret.1.expose());
        assert!(!text.contains(&encoded[..40]) && full.contains(&encoded[..40]));
        insta::assert_snapshot!(format!("kickstart_{name}"), scrub(&text));
    }
    // a public image, said so: nothing is written to /etc/ostree
    let mut s = sources(true, &[]);
    s.env.remove("AUTH_CONFIG");
    let cli = Cli::try_parse_from(["cargo xtask", "kickstart", "--public-image"]).unwrap();
    let Command::Kickstart(cmd) = cli.command else {
        unreachable!()
    };
    let text = Kickstart::resolve(&cmd.args, &s)
        .unwrap()
        .render(true)
        .unwrap();
    assert!(!text.contains("/etc/ostree/auth.json"), "{text}");
    assert!(text.contains("No registry authentication (--public-image)"));
}

#[test]
fn bad_kickstart_inputs_are_refused() {
    let broken = scratch("ks-bad").join("broken.json");
    std::fs::write(&broken, "{\"auths\": ").unwrap();
    let noauths = scratch("ks-noauths").join("x.json");
    std::fs::write(&noauths, "{\"credHelpers\": {}}").unwrap();
    for (args, env_extra, expect) in [
        (
            vec!["--pull-secret", broken.as_str()],
            vec![],
            "not valid JSON",
        ),
        (
            vec!["--pull-secret", noauths.as_str()],
            vec![],
            "has no \"auths\" object",
        ),
        (
            vec!["--auth-config", broken.as_str()],
            vec![],
            "not valid JSON",
        ),
        (
            vec!["--auth-config", "/nonexistent/auth.json"],
            vec![],
            "does not exist",
        ),
        (vec!["--root-size", "5"], vec![], "between 10 and"),
        (
            vec!["--digest", "sha256:xyz"],
            vec![],
            "sha256:<64 hex digits>",
        ),
        (vec!["--volume-group", "bad vg"], vec![], "letters, digits"),
    ] {
        let cli = Cli::try_parse_from(
            ["cargo xtask", "kickstart"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .unwrap();
        let Command::Kickstart(cmd) = cli.command else {
            unreachable!()
        };
        let e = env(&env_extra);
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let err = Kickstart::resolve(&cmd.args, &sources(true, &e)).unwrap_err();
        assert!(
            err.downcast_ref::<xtask::error::BadInput>().is_some(),
            "{args:?}: {err:#}"
        );
        assert!(format!("{err}").contains(expect), "{args:?}: {err}");
        // the secret files' contents are never quoted in an error
        assert!(!format!("{err}").contains("\"auths\": "));
    }
}

#[test]
fn rendered_kickstarts_pass_ksvalidator() {
    if !require_tool("ksvalidator", "rendered_kickstarts_pass_ksvalidator") {
        return;
    }
    let dir = scratch("ksvalidator");
    for (name, args) in VARIANTS {
        let path = dir.join(format!("{name}.ks"));
        std::fs::write(&path, resolve_ks(&env(&[]), args).render(false).unwrap()).unwrap();
        let out = std::process::Command::new("ksvalidator")
            .args(["-v", "RHEL9", path.as_str()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: ksvalidator -v RHEL9 failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The busybox roots run while other threads of the test binary start processes (as
/// ksvalidator, xorriso and the other chroots of this file's tests do): not one run fails
/// with ETXTBSY. (With the copy written by this process, 4 to 17 of 300 runs failed here.)
#[test]
fn busybox_roots_run_while_other_threads_spawn() {
    let test = "busybox_roots_run_while_other_threads_spawn";
    if !require_root(test) || !require_tool("busybox", test) {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let spawning = std::sync::Arc::clone(&stop);
    let spawner = std::thread::spawn(move || {
        while !spawning.load(Ordering::SeqCst) {
            let _ = std::process::Command::new("true").status();
        }
    });
    let dir = scratch("busybox-roots");
    let mut failed = Vec::new();
    for i in 0..300 {
        let root = dir.join(format!("r{i}"));
        busybox_root(&root);
        std::fs::write(root.join("x.sh"), "echo ran\n").unwrap();
        let out = std::process::Command::new(chroot())
            .args([root.as_str(), "/bin/sh", "-e", "/x.sh"])
            .env_clear()
            .env("PATH", "/bin")
            .output()
            .unwrap();
        if out.stdout != b"ran\n" {
            failed.push(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let _ = std::fs::remove_dir_all(&root);
    }
    stop.store(true, Ordering::SeqCst);
    spawner.join().unwrap();
    assert!(
        failed.is_empty(),
        "{} of 300 runs failed: {:?}",
        failed.len(),
        failed.first()
    );
}

#[test]
fn embedded_secrets_are_written_byte_for_byte() {
    let test = "embedded_secrets_are_written_byte_for_byte";
    if !require_root(test) || !require_tool("busybox", test) {
        return;
    }
    let long_line = format!(
        "{{\"auths\":{{\"quay.io\":{{\"auth\":\"{}\"}}}}}}",
        "A".repeat(200_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("plain", b"{\"auths\":{\"quay.io\":{\"auth\":\"eDp5\"}}}\n".to_vec()),
        ("no_final_newline", b"{\"auths\":{}}".to_vec()),
        ("shell_metacharacters", br#"{"auths":{"q.io":{"auth":"$HOME `id` $(id) \\ \" ' ; & | > < * ? ~ ! #"}}}"#.to_vec()),
        ("heredoc_words", b"{\n\"auths\": {\n\"EOF\": {},\n\"XTASK_BASE64_EOF\": {\"auth\": \"\\nEOF\\n%end\\n\"}\n},\n\"%end\": 1\n}\n".to_vec()),
        ("crlf_and_tabs", b"{\r\n\t\"auths\": {}\r\n}\r\n".to_vec()),
        ("unicode", "{\"auths\":{\"r\u{e9}gistre.example\":{\"auth\":\"\u{1F600} \u{5BC6}\u{7801} \u{202E}rtl \u{0301}\"}}}\n".as_bytes().to_vec()),
        ("very_long_line", long_line.into_bytes()),
    ];
    let dir = scratch("chroot-secrets");
    let chroot = chroot();
    for (name, bytes) in cases {
        let root = dir.join(name);
        busybox_root(&root);
        let auth = dir.join(format!("{name}-auth.json"));
        let pull = dir.join(format!("{name}-pull.json"));
        std::fs::write(&auth, &bytes).unwrap();
        // a pull secret that differs from the auth file, so a mix-up would show
        let mut pull_bytes = bytes.clone();
        pull_bytes.extend_from_slice(b"\n");
        std::fs::write(&pull, &pull_bytes).unwrap();
        let ks = resolve_ks(
            &env(&[
                ("AUTH_CONFIG", auth.as_str()),
                ("PULL_SECRET", pull.as_str()),
            ]),
            &[],
        );
        let text = ks.render(false).unwrap();
        for (header, script) in [("%pre-install", "pre.sh"), ("%post", "post.sh")] {
            // what the installer's environment got is not the installed system's: %post
            // must write the registry credentials again (the device's upgrades pull with
            // them)
            let _ = std::fs::remove_file(root.join("etc/ostree/auth.json"));
            std::fs::write(root.join(script), section(&text, header)).unwrap();
            let out = std::process::Command::new(chroot)
                .args([root.as_str(), "/bin/sh", "-e", &format!("/{script}")])
                .env_clear()
                .env("PATH", "/bin")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name} {header}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let written = |p: &str| std::fs::read(root.join(p.trim_start_matches('/'))).unwrap();
        assert!(
            written("/etc/ostree/auth.json") == bytes,
            "{name}: /etc/ostree/auth.json differs"
        );
        assert!(
            written(xtask::device::PULL_SECRET_TARGET) == pull_bytes,
            "{name}: the pull secret differs"
        );
        let mode = |p: &str| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(root.join(p.trim_start_matches('/')))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(xtask::device::PULL_SECRET_TARGET), 0o600, "{name}");
        assert_eq!(mode("/etc/ostree/auth.json"), 0o600, "{name}");
    }
}

#[test]
fn kickstart_output_file_is_private() {
    let dir = scratch("ks-output");
    let out = dir.join("ks.cfg");
    std::fs::write(&out, "old").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ks = resolve_ks(&env(&[]), &[]);
    ks.write(&out).unwrap();
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        ks.render(false).unwrap()
    );
}

fn vm_plan(as_root: bool, extra_env: &[(&str, &str)], args: &[&str]) -> xtask::plan::Plan {
    let cli = Cli::try_parse_from(
        ["cargo xtask", "vm"]
            .iter()
            .copied()
            .chain(args.iter().copied()),
    )
    .unwrap();
    let env = env(extra_env);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    plan_for(&cli.command, &sources(as_root, &env)).unwrap()
}

fn isos() -> (Utf8PathBuf, Utf8PathBuf) {
    let dir = scratch("vm-isos");
    let x86 = dir.join("rhel-9.4-x86_64-boot.iso");
    let arm = dir.join("rhel-9.4-aarch64-boot.iso");
    fake_iso(&x86, "RHEL-9-4-0-BaseOS-x86_64");
    fake_iso(&arm, "RHEL-9-4-0-BaseOS-aarch64");
    (x86, arm)
}

#[test]
fn vm_plans() {
    let (x86, arm) = isos();
    let iso_pattern = x86.as_str().replace("x86_64", "{arch}");
    let text = |p: xtask::plan::Plan| scrub(&p.render());
    insta::assert_snapshot!(
        "vm_default_nonroot",
        text(vm_plan(
            false,
            &[],
            &["--arch", "amd64", "--iso", &iso_pattern]
        ))
    );
    insta::assert_snapshot!(
        "vm_arm64_remote_nonroot",
        text(vm_plan(
            false,
            &[("VMNAME", "edge-1"), ("NETNAME", "isolated")],
            &[
                "--arch",
                "arm64",
                "--iso",
                arm.as_str(),
                "--vcpus",
                "4",
                "--memory",
                "8192",
                "--disk-size",
                "64",
                "--root-size",
                "16",
                "--libvirt-uri",
                "qemu+ssh://hv1/system"
            ],
        ))
    );
    let destroy = |uri: &str| {
        let cli = Cli::try_parse_from([
            "cargo xtask",
            "vm",
            "--destroy",
            "edge-1",
            "--libvirt-uri",
            uri,
        ])
        .unwrap();
        // only a VM the record lists
        let mut s = sources(false, &[]);
        s.record.entries.push(
            serde_json::json!({"kind": "vm", "name": "edge-1", "uri": "qemu:///system", "disk": "/var/lib/libvirt/images/edge-1.qcow2"})
                .as_object()
                .unwrap()
                .clone(),
        );
        scrub(&plan_for(&cli.command, &s).unwrap().render())
    };
    insta::assert_snapshot!("vm_destroy_nonroot", destroy("qemu:///system"));
    // a built disk image, imported as it is; a built installer ISO: no kickstart, no secrets
    let built = scratch("vm-built");
    let qcow2 = built.join("disk.qcow2");
    let mut bytes = b"QFI\xfb".to_vec();
    bytes.resize(4096, 0);
    std::fs::write(&qcow2, bytes).unwrap();
    insta::assert_snapshot!(
        "vm_import_qcow2_root",
        text(vm_plan(
            true,
            &[],
            &["--disk", qcow2.as_str(), "--vm-name", "edge-2"]
        ))
    );
    let iso = built.join("install.iso");
    fake_iso(&iso, "Bootc-install");
    insta::assert_snapshot!(
        "vm_installer_iso_nonroot",
        text(vm_plan(
            false,
            &[],
            &[
                "--iso-image",
                iso.as_str(),
                "--arch",
                "amd64",
                "--disk-size",
                "30"
            ]
        ))
    );
    // the kickstart is a secret file: never in the plan
    let plan = vm_plan(true, &[], &["--arch", "amd64", "--iso", x86.as_str()]);
    let json = serde_json::to_string(&plan.to_json()).unwrap();
    assert!(!json.contains("base64 -d") && json.contains("${KICKSTART_FILE}"));
}

/// An installer ISO as virt-install expects it: RHEL's label and layout, a .treeinfo. The
/// test driver's guests are i686, so the tree lists its kernel for i686 too.
fn real_iso(dir: &Utf8Path) -> Utf8PathBuf {
    let tree = dir.join("tree");
    for d in ["images/pxeboot", "isolinux"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
        std::fs::write(tree.join(d).join("vmlinuz"), b"kernel").unwrap();
        std::fs::write(tree.join(d).join("initrd.img"), b"initrd").unwrap();
    }
    let images = "kernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\n";
    std::fs::write(
        tree.join(".treeinfo"),
        format!("[general]\narch = x86_64\nfamily = Red Hat Enterprise Linux\nname = Red Hat Enterprise Linux 9.4\nversion = 9.4\nplatforms = x86_64\n[tree]\narch = x86_64\nbuild_timestamp = 1700000000\nplatforms = x86_64\nvariants = BaseOS\n[release]\nname = Red Hat Enterprise Linux\nshort = RHEL\nversion = 9.4\n[images-x86_64]\n{images}[images-i686]\n{images}"),
    )
    .unwrap();
    let iso = dir.join("rhel-9.4-x86_64-boot.iso");
    let out = std::process::Command::new("xorriso")
        .args([
            "-as",
            "mkisofs",
            "-quiet",
            "-V",
            "RHEL-9-4-0-BaseOS-x86_64",
            "-R",
            "-J",
            "-o",
            iso.as_str(),
            tree.as_str(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xorriso: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    iso
}

#[test]
fn virt_install_accepts_the_plan() {
    let test = "virt_install_accepts_the_plan";
    if !require_tool("virt-install", test)
        || !require_tool("xorriso", test)
        || !require_tool("virsh", test)
        || !require_tool("cpio", test)
    {
        return;
    }
    let dir = scratch("virt-install");
    let iso = real_iso(&dir);
    let plan = vm_plan(
        true,
        &[],
        &[
            "--arch",
            "amd64",
            "--iso",
            iso.as_str(),
            "--libvirt-uri",
            "test:///default",
            "--vm-name",
            "microshift-test",
        ],
    );
    let ks = dir.join(xtask::commands::vm::KICKSTART_NAME);
    std::fs::write(
        &ks,
        resolve_ks(&env(&[]), &["--arch", "amd64"])
            .render(false)
            .unwrap(),
    )
    .unwrap();
    let json = plan.to_json();
    for step in json["steps"].as_array().unwrap() {
        let argv: Vec<String> = common::argv(step)
            .iter()
            .map(|a| a.replace("${KICKSTART_FILE}", ks.as_str()))
            .collect();
        let mut cmd = std::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        if argv[0] == "virt-install" {
            // the exact argument list, checked by virt-install without creating anything
            cmd.arg("--dry-run");
        }
        let out = cmd.output().unwrap();
        let ok = out.status.success() != step["expect_failure"].as_bool().unwrap();
        assert!(
            ok,
            "{argv:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // the pre-checks catch what virt-install's dry run would not: a missing network, a taken name
    let taken = vm_plan(
        true,
        &[],
        &[
            "--arch",
            "amd64",
            "--iso",
            iso.as_str(),
            "--libvirt-uri",
            "test:///default",
            "--vm-name",
            "test",
        ],
    );
    let name_free = taken.steps.iter().find(|s| s.id == "name-free").unwrap();
    let st = std::process::Command::new("virsh")
        .args(name_free.args.iter().map(|a| match a {
            xtask::plan::Arg::Lit(s) => s.clone(),
            _ => unreachable!(),
        }))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "the test driver's VM 'test' should exist, so the name check fails"
    );
}

/// `vm --disk` and `vm --iso-image`: virt-install accepts the exact argument lists for a real
/// qcow2 (qemu-img), a raw file and an installer ISO (xorriso).
#[test]
fn virt_install_accepts_built_images() {
    let test = "virt_install_accepts_built_images";
    if !require_tool("virt-install", test)
        || !require_tool("qemu-img", test)
        || !require_tool("xorriso", test)
    {
        return;
    }
    let dir = scratch("virt-install-built");
    let qcow2 = dir.join("disk.qcow2");
    let made = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", qcow2.as_str(), "64M"])
        .status()
        .unwrap();
    assert!(made.success());
    let raw = dir.join("disk.raw");
    std::fs::write(&raw, vec![0u8; 1 << 20]).unwrap();
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("README"), "installer").unwrap();
    let iso = dir.join("install.iso");
    let made = std::process::Command::new("xorriso")
        .args([
            "-as",
            "mkisofs",
            "-quiet",
            "-V",
            "Bootc-x86_64",
            "-o",
            iso.as_str(),
            tree.as_str(),
        ])
        .status()
        .unwrap();
    assert!(made.success());
    for (args, format) in [
        (vec!["--disk", qcow2.as_str()], Some("format=qcow2")),
        (vec!["--disk", raw.as_str()], Some("format=raw")),
        (vec!["--iso-image", iso.as_str(), "--arch", "amd64"], None),
    ] {
        let mut all = args.clone();
        all.extend([
            "--libvirt-uri",
            "test:///default",
            "--vm-name",
            "built-test",
        ]);
        let plan = vm_plan(true, &[], &all);
        let argv = common::argv(common::step(&plan.to_json(), "virt-install"));
        if let Some(f) = format {
            assert!(argv.iter().any(|a| a.ends_with(f)), "{argv:?}");
            assert!(argv.contains(&"--import".to_string()), "{argv:?}");
        } else {
            assert!(argv.contains(&"--cdrom".to_string()), "{argv:?}");
        }
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .arg("--dry-run")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{argv:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Issue 24: with a site mirror and its auth file, the device's pull secret (CRI-O) and
/// registry auth file (bootc) carry the mirror's credentials too, beside their own entries.
#[test]
fn the_device_gets_the_mirrors_credentials() {
    let dir = common::scratch("ks-mirror");
    let mirror_auth = dir.join("mirror-auth.json");
    std::fs::write(
        &mirror_auth,
        r#"{"auths":{"mirror.site.example:8443":{"auth":"bWlycm9yOnNlY3JldA=="}}}"#,
    )
    .unwrap();
    let env = env(&[
        ("MIRROR_REGISTRY", "mirror.site.example:8443/microshift"),
        ("MIRROR_AUTH_FILE", mirror_auth.as_str()),
    ]);
    let ks = resolve_ks(&env, &[]);
    let pull: serde_json::Value = serde_json::from_slice(ks.pull_secret.1.expose()).unwrap();
    assert!(
        pull["auths"]["mirror.site.example:8443"]["auth"].is_string(),
        "{pull}"
    );
    let own: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::repo_root().join("tests/fixtures/pull-secret.json")).unwrap(),
    )
    .unwrap();
    for k in own["auths"].as_object().unwrap().keys() {
        assert!(pull["auths"].get(k).is_some(), "the pull secret lost {k}");
    }
    let (_, auth) = ks
        .auth
        .as_ref()
        .expect("the fixture config has a registry auth file");
    let auth: serde_json::Value = serde_json::from_slice(auth.expose()).unwrap();
    assert!(
        auth["auths"]["mirror.site.example:8443"].is_object(),
        "{auth}"
    );
    // the rendered file holds them (base64, as the installer writes them)
    let text = ks.render(false).unwrap();
    let encoded = xtask::commands::kickstart::base64(ks.pull_secret.1.expose());
    // (wrapped into lines)
    let joined: String = text.split_whitespace().collect();
    assert!(joined.contains(&encoded));
}

/// The kickstart of the repository's config file with `patch` merged into it (the mirror's
/// settings that have no environment variable) and `env`.
fn ks_with_config(
    name: &str,
    patch: serde_json::Value,
    env_: &[(&str, &str)],
) -> anyhow::Result<Kickstart> {
    let dir = scratch(name);
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join(xtask::config::CONFIG_FILE)).unwrap(),
    )
    .unwrap();
    for (k, v) in patch.as_object().unwrap() {
        config[k] = v.clone();
    }
    let file = dir.join("config.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let env = env(env_);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut sources = common::sources(true, &env);
    sources.config = xtask::config::Config::load(&file).unwrap();
    let cli = Cli::try_parse_from(["cargo xtask", "kickstart"]).unwrap();
    let Command::Kickstart(cmd) = cli.command else {
        unreachable!()
    };
    Kickstart::resolve(&cmd.args, &sources)
}

/// Issue 29: a signed install through a mirror. containers/image reads signatures where it
/// pulls from (the mirror), so the installer gets the mirror's registries.d entry, the one
/// the image carries, beside the policy and the image repository's entry; without the
/// mirror's lookaside URL, a gpg-signed install through a mirror is refused.
#[test]
fn a_signed_install_reads_signatures_at_the_mirror() {
    let test = "a_signed_install_reads_signatures_at_the_mirror";
    let key = repo_root().join("tests/fixtures/signing/xtask-signing.gpg");
    let signing = serde_json::json!({
        "method": "gpg",
        "public_key": key.as_str(),
        "lookaside_url": "https://sigs.example.com",
    });
    let env = [("MIRROR_REGISTRY", "mirror.site.example:8443/microshift")];
    let ks = ks_with_config(
        "ks-mirror-signed",
        serde_json::json!({
            "signing": signing,
            "mirror": { "lookaside_url": "https://mirror-sigs.site.example" },
        }),
        &env,
    )
    .unwrap();
    let want = xtask::mirror::Mirror {
        location: "mirror.site.example:8443/microshift".to_string(),
        auth: None,
        ca: None,
        insecure: false,
        what: String::new(),
        lookaside_dir: camino::Utf8PathBuf::from("/unused"),
        lookaside_url: Some("https://mirror-sigs.site.example".to_string()),
    }
    .device_registries_d(Some(xtask::signing::Method::Gpg))
    .unwrap();
    let text = ks.render(false).unwrap();
    if require_tool("ksvalidator", test) {
        let path = scratch("ks-mirror-signed-validate").join("signed.ks");
        std::fs::write(&path, &text).unwrap();
        let out = std::process::Command::new("ksvalidator")
            .args(["-v", "RHEL9", path.as_str()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    if require_root(test) && require_tool("busybox", test) {
        let root = scratch("ks-mirror-signed-chroot");
        let ran = common::run_pre_install(&root, &text);
        assert!(
            ran.status.success(),
            "{}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let read = |p: &str| {
            std::fs::read_to_string(root.join(p))
                .unwrap_or_else(|e| panic!("%pre-install did not write /{p}: {e}"))
        };
        assert_eq!(read("etc/containers/registries.d/xtask-mirror.yaml"), want);
        // the image repository's own entry and the policy are there as before
        assert!(read("etc/containers/registries.d/xtask-signing.yaml")
            .contains("lookaside: https://sigs.example.com"));
        assert!(read("etc/containers/policy.json").contains("xtask-signing.gpg"));
    }
    let refused = ks_with_config(
        "ks-mirror-signed-no-url",
        serde_json::json!({ "signing": signing }),
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("--mirror-lookaside-url: missing"),
        "{refused}"
    );
}

/// The reviewer's finding (signatures through the mirror): the installer gets the image's
/// own entry for the mirror, for every method — the mirror's lookaside whenever
/// `mirror.lookaside_url` is set (on main: none without signing, and none of the lookaside
/// with sigstore), and sigstore attachments there with signing (the sigstore-signed OS
/// image, read at the mirror's location, the physical reference).
#[test]
fn the_installer_gets_the_images_entry_for_the_mirror() {
    let url = "https://mirror-sigs.site.example";
    let env = [("MIRROR_REGISTRY", "mirror.site.example:8443/microshift")];
    let m = |url: Option<&str>| xtask::mirror::Mirror {
        location: "mirror.site.example:8443/microshift".to_string(),
        auth: None,
        ca: None,
        insecure: false,
        what: String::new(),
        lookaside_dir: camino::Utf8PathBuf::from("/unused"),
        lookaside_url: url.map(str::to_string),
    };
    let gpg = repo_root().join("tests/fixtures/signing/xtask-signing.gpg");
    let sigstore = repo_root().join("tests/fixtures/signing/sigstore.pub");
    for (name, signing, method) in [
        ("none", serde_json::Value::Null, None),
        (
            "gpg",
            serde_json::json!({"method": "gpg", "public_key": gpg.as_str(), "lookaside_url": "https://sigs.example.com"}),
            Some(xtask::signing::Method::Gpg),
        ),
        (
            "sigstore",
            serde_json::json!({"method": "sigstore", "public_key": sigstore.as_str()}),
            Some(xtask::signing::Method::Sigstore),
        ),
    ] {
        for with_url in [true, false] {
            if method == Some(xtask::signing::Method::Gpg) && !with_url {
                continue; // refused: a_signed_install_reads_signatures_at_the_mirror
            }
            let url = with_url.then_some(url);
            let ks = ks_with_config(
                &format!("ks-mirror-entry-{name}-{with_url}"),
                serde_json::json!({ "signing": signing, "mirror": { "lookaside_url": url } }),
                &env,
            )
            .unwrap();
            let got = ks.mirror.as_ref().unwrap().registries_d.clone();
            assert_eq!(got, m(url).device_registries_d(method), "{name} {url:?}");
            let got = got.unwrap_or_default();
            assert_eq!(
                got.contains(&format!("    lookaside: {}\n", url.unwrap_or("-"))),
                with_url,
                "{name}: {got}"
            );
            assert_eq!(
                got.contains("    use-sigstore-attachments: true\n"),
                method.is_some(),
                "{name}: {got}"
            );
            // the %pre-install block writes it, as the image carries it
            let text = ks.render(false).unwrap();
            assert_eq!(
                section(&text, "%pre-install").contains(xtask::mirror::REGISTRIES_D),
                method.is_some() || with_url,
                "{name} {url:?}"
            );
        }
    }
}

/// Issue 24: with a site mirror (and its CA), the installer pulls the OS image through it:
/// `%pre-install` writes the drop-in the tool renders for the OS image's repository and the
/// CA for the mirror alone; run in a busybox chroot, the files are those; ksvalidator takes it.
#[test]
fn the_installer_pulls_through_the_mirror() {
    let test = "the_installer_pulls_through_the_mirror";
    let ca = repo_root().join("tests/fixtures/mirror/ca.crt");
    // the CA comes from the config file (mirror.ca): the repository's, with it added
    let ks = ks_with_config(
        "ks-mirror-installer",
        serde_json::json!({ "mirror": { "ca": ca.as_str() } }),
        &[("MIRROR_REGISTRY", "mirror.site.example:8443/microshift")],
    )
    .unwrap();
    let text = ks.render(false).unwrap();
    let pre = section(&text, "%pre-install");
    assert!(pre.contains("999-microshift-mirror.conf"), "{pre}");
    // no signing configured: no registries.d entry
    assert!(!pre.contains("xtask-mirror.yaml"), "{pre}");
    let want_conf = xtask::mirror::Mirror {
        location: "mirror.site.example:8443/microshift".to_string(),
        auth: None,
        ca: None,
        insecure: false,
        what: String::new(),
        lookaside_dir: camino::Utf8PathBuf::from("/unused"),
        lookaside_url: None,
    }
    .registries_conf(&[], Some("quay.io/myorg/mypath/microshift-4.16-bootc"));
    if require_tool("ksvalidator", test) {
        let dir = scratch("ks-mirror-validate");
        let path = dir.join("mirror.ks");
        std::fs::write(&path, &text).unwrap();
        let out = std::process::Command::new("ksvalidator")
            .args(["-v", "RHEL9", path.as_str()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    if !require_root(test) || !require_tool("busybox", test) {
        return;
    }
    let root = scratch("ks-mirror-chroot");
    let ran = common::run_pre_install(&root, &text);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(
        read("etc/containers/registries.conf.d/999-microshift-mirror.conf"),
        want_conf
    );
    assert_eq!(
        read("etc/containers/certs.d/mirror.site.example:8443/ca.crt"),
        std::fs::read_to_string(&ca).unwrap()
    );
}
