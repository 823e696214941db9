//! End to end: the real `cargo xtask` binary against real podman, skopeo and two registries
//! on 127.0.0.1 (the test bed of `scripts/testbed.sh`). In CI a missing bed fails these
//! tests; locally they skip, saying why.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use common::{Bed, Ran};
use serde_json::Value;

/// The tests share the bed's registries, login file and storage: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const CANARY_PASSWD: &str = "canary-passwd-7Hq2-do-not-leak";
const CANARY_PULL: &str = "Y2FuYXJ5LXB1bGwtc2VjcmV0LTNkOWE=";

fn run(cmd: &mut std::process::Command) -> Ran {
    Ran::of(cmd.output().unwrap())
}

/// Common flags: a per-test image name and organization, so tests do not share images.
fn xtask(bed: &Bed, test: &str, args: &[&str]) -> std::process::Command {
    let mut c = bed.xtask();
    c.args(args);
    c.env("IMAGE_NAME", format!("e2e-{test}"));
    c.env("REGISTRY_ORG", format!("e2e/{test}"));
    c.env("USER_PASSWD", CANARY_PASSWD);
    c
}

fn with_login(mut c: std::process::Command, bed: &Bed) -> std::process::Command {
    c.env(
        "REGISTRY_PASSWORD",
        std::fs::read_to_string(bed.var("TESTBED_PASSWORD_FILE"))
            .unwrap()
            .trim(),
    );
    c
}

fn image_arch(bed: &Bed, image: &str) -> String {
    let out = bed.read("podman", &["image", "inspect", image]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    doc[0]["Architecture"].as_str().unwrap().to_string()
}

/// Architectures of a remote manifest list, through skopeo (parsed with serde_json).
fn remote_archs(bed: &Bed, reference: &str) -> Vec<String> {
    let conf = bed.var("CONTAINERS_REGISTRIES_CONF");
    let auth = bed.var("REGISTRY_AUTH_FILE");
    let out = bed.read(
        "skopeo",
        &[
            "--registries-conf",
            &conf,
            "inspect",
            "--raw",
            "--authfile",
            &auth,
            &format!("docker://{reference}"),
        ],
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    let mut archs: Vec<String> = doc["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
        .collect();
    archs.sort();
    archs
}

/// The parent of a process, from /proc/PID/stat (the field after the parenthesised name).
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Is `pid` a child, grandchild, ... of `ancestor`?
fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..64 {
        match parent(pid) {
            Some(p) if p == ancestor => return true,
            Some(p) if p > 1 => pid = p,
            _ => return false,
        }
    }
    false
}

/// Sample every process's command line, and the environment of every process the xtask
/// under test started (directly or not), until `stop` is set; return what contained a
/// needle. xtask's own environment holds what the test handed it and is not looked at.
fn sample_processes(
    stop: Arc<AtomicBool>,
    needles: Vec<String>,
    env_needles: Vec<String>,
    skip_env_of: Arc<Mutex<Option<u32>>>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        let mut samples = 0;
        let mut hits = Vec::new();
        let me = std::process::id();
        while !stop.load(Ordering::Relaxed) {
            samples += 1;
            let skip = *skip_env_of.lock().unwrap();
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                if pid == me {
                    continue;
                }
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                let environ = match skip {
                    Some(xtask) if descends_from(pid, xtask) => {
                        std::fs::read(entry.path().join("environ")).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                for needle in &needles {
                    let n = needle.as_bytes();
                    let found = |hay: &[u8]| hay.windows(n.len()).any(|w| w == n);
                    if found(&cmdline) {
                        hits.push(format!(
                            "pid {pid} cmdline: {}",
                            String::from_utf8_lossy(&cmdline).replace('\0', " ")
                        ));
                    }
                    if env_needles.contains(needle) && found(&environ) {
                        hits.push(format!(
                            "pid {pid} environ ({})",
                            String::from_utf8_lossy(&cmdline).replace('\0', " ")
                        ));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (samples, hits)
    })
}

#[test]
fn build_push_manifest_both_arches_without_leaking_secrets() {
    let Some(bed) = Bed::get("build_push_manifest_both_arches_without_leaking_secrets") else {
        return;
    };
    let _lock = serial();
    let test = "flow";
    // a pull secret holding a canary, in a private file
    let pull = bed.dir.join("canary-pull-secret.json");
    std::fs::write(
        &pull,
        format!(r#"{{"auths":{{"registry.redhat.io":{{"auth":"{CANARY_PULL}"}}}}}}"#),
    )
    .unwrap();
    let registry_pw = std::fs::read_to_string(bed.var("TESTBED_PASSWORD_FILE"))
        .unwrap()
        .trim()
        .to_string();
    let needles = vec![
        CANARY_PASSWD.to_string(),
        CANARY_PULL.to_string(),
        registry_pw.clone(),
    ];

    let mut outputs = Vec::new();
    for arch in ["amd64", "arm64"] {
        // the build, with every process sampled while it runs
        let stop = Arc::new(AtomicBool::new(false));
        let mut cmd = xtask(&bed, test, &["-v", "build", "--arch", arch]);
        cmd.env("PULL_SECRET", pull.as_str());
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        // xtask itself was handed USER_PASSWD in its environment by us: skip its environ only
        let xtask_pid = Arc::new(Mutex::new(Some(child.id())));
        // the bed's registry password is exported by its env file (a shell that sourced it
        // holds it): look for it on command lines only; the canaries are looked for in every
        // process's environment too
        let env_needles = vec![CANARY_PASSWD.to_string(), CANARY_PULL.to_string()];
        let sampler = sample_processes(stop.clone(), needles.clone(), env_needles, xtask_pid);
        let built = Ran::of(child.wait_with_output().unwrap());
        stop.store(true, Ordering::Relaxed);
        let (samples, hits) = sampler.join().unwrap();
        let built = built.ok();
        assert!(
            samples > 3,
            "the process list was sampled only {samples} times"
        );
        assert!(
            hits.is_empty(),
            "a secret showed in the process list: {hits:#?}"
        );
        assert!(
            built.stderr.contains(&format!(
                "ok: image localhost/e2e-{test}:linux-{arch} ({arch}"
            )),
            "{}",
            built.stderr
        );
        outputs.push(built.all());

        let image = format!("localhost/e2e-{test}:linux-{arch}");
        assert_eq!(image_arch(&bed, &image), arch);
        let uname = bed.read(
            "podman",
            &[
                "run",
                "--rm",
                "--arch",
                arch,
                &image,
                "cat",
                "/etc/xtask-test/build-info",
            ],
        );
        let want = if arch == "amd64" { "x86_64" } else { "aarch64" };
        assert!(uname.contains(&format!("arch={want}")), "{uname}");
        // the build secret reached the build: its hash is in the image, the secret is not
        let hash = bed.read(
            "podman",
            &[
                "run",
                "--rm",
                "--arch",
                arch,
                &image,
                "cat",
                "/etc/xtask-test/passwd.sha256",
            ],
        );
        let mut sha = bed
            .command("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        sha.stdin
            .take()
            .unwrap()
            .write_all(CANARY_PASSWD.as_bytes())
            .unwrap();
        let expected = String::from_utf8(sha.wait_with_output().unwrap().stdout).unwrap();
        assert_eq!(hash.trim(), expected.split_whitespace().next().unwrap());
        for view in [
            bed.read("podman", &["history", "--no-trunc", &image]),
            bed.read("podman", &["image", "inspect", &image]),
        ] {
            for n in &needles {
                assert!(
                    !view.contains(n.as_str()),
                    "a secret is in the image metadata of {image}"
                );
            }
        }

        let pushed = run(&mut with_login(
            xtask(&bed, test, &["-v", "push", "--arch", arch]),
            &bed,
        ))
        .ok();
        outputs.push(pushed.all());
    }
    let dry = run(
        xtask(&bed, test, &["--dry-run", "build", "--arch", "arm64"])
            .env("PULL_SECRET", pull.as_str()),
    )
    .ok();
    assert!(dry.stdout.contains("${USER_PASSWD_FILE}"), "{}", dry.stdout);
    outputs.push(dry.all());
    let dry = run(&mut with_login(
        xtask(&bed, test, &["--dry-run", "-v", "manifest"]),
        &bed,
    ))
    .ok();
    assert!(
        dry.stdout.contains("\"${REGISTRY_PASSWORD}\""),
        "{}",
        dry.stdout
    );
    outputs.push(dry.all());

    let listed = run(&mut with_login(
        xtask(&bed, test, &["-v", "--json", "manifest"]),
        &bed,
    ))
    .ok();
    outputs.push(listed.all());
    let doc: Value =
        serde_json::from_str(&listed.stdout).expect("--json prints one JSON document on stdout");
    assert_eq!(doc["ok"], true);
    assert_eq!(
        doc["results"]["list-inspect"]["architectures"],
        serde_json::json!(["amd64", "arm64"])
    );
    insta::assert_snapshot!("json_manifest", common::shape_text(&listed.stdout));
    // the documents a pipeline reads after each step (the schema, README "JSON output")
    let built = run(xtask(&bed, test, &["--json", "build", "--arch", "arm64"])
        .env("PULL_SECRET", pull.as_str()))
    .ok();
    let doc: Value = serde_json::from_str(&built.stdout).unwrap();
    assert_eq!(doc["results"]["inspect"]["architecture"], "arm64");
    assert_eq!(
        doc["facts"]["reference"],
        format!("localhost/e2e-{test}:linux-arm64")
    );
    insta::assert_snapshot!("json_build", common::shape_text(&built.stdout));
    let pushed = run(&mut with_login(
        xtask(&bed, test, &["--json", "push", "--arch", "arm64"]),
        &bed,
    ))
    .ok();
    let doc: Value = serde_json::from_str(&pushed.stdout).unwrap();
    assert!(
        doc["results"]["push"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{}",
        pushed.stdout
    );
    insta::assert_snapshot!("json_push", common::shape_text(&pushed.stdout));
    outputs.push(built.all());
    outputs.push(pushed.all());
    let remote = format!(
        "{}/e2e/{test}/e2e-{test}:latest",
        bed.var("TESTBED_AUTH_REGISTRY")
    );
    assert_eq!(remote_archs(&bed, &remote), ["amd64", "arm64"]);

    for out in &outputs {
        for n in &needles {
            assert!(
                !out.contains(n.as_str()),
                "a secret is in the tool's output:\n{out}"
            );
        }
    }
}

#[test]
fn faults_name_the_step_and_a_rerun_recovers() {
    let Some(bed) = Bed::get("faults_name_the_step_and_a_rerun_recovers") else {
        return;
    };
    let _lock = serial();
    let test = "faults";

    // a missing base image: the build step fails, exit 1; then the right one works
    let failed = run(&mut xtask(
        &bed,
        test,
        &[
            "build",
            "--arch",
            "amd64",
            "--base-image",
            "localhost/xtask-testbed/no-such-base:1",
        ],
    ));
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("error: step 1/2 (build localhost/e2e-faults:linux-amd64) failed"),
        "{}",
        failed.stderr
    );
    run(&mut xtask(&bed, test, &["build", "--arch", "amd64"])).ok();

    // pushing an architecture never built: the push step fails and says to build it
    let failed = run(&mut xtask(
        &bed,
        test,
        &[
            "push",
            "--arch",
            "arm64",
            "--registry-url",
            &bed.var("TESTBED_OPEN_REGISTRY"),
        ],
    ));
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("build it first: `cargo xtask build --arch arm64`"),
        "{}",
        failed.stderr
    );

    // a wrong registry password: the login step fails, exit 1
    let mut wrong = xtask(&bed, test, &["push", "--arch", "amd64"]);
    wrong.env("REGISTRY_PASSWORD", "not-the-password");
    let failed = run(&mut wrong);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("(log in to 127.0.0.1:"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("hint: check --registry-user"),
        "{}",
        failed.stderr
    );
    assert!(!failed.all().contains("not-the-password"));
    run(&mut with_login(
        xtask(&bed, test, &["push", "--arch", "amd64"]),
        &bed,
    ))
    .ok();
    // pushing the same tag again is fine
    run(&mut with_login(
        xtask(&bed, test, &["push", "--arch", "amd64"]),
        &bed,
    ))
    .ok();

    // the open registry stops between build and push: the push step fails, exit 1
    let open = bed.var("TESTBED_OPEN_REGISTRY");
    bed.script(&["stop-registry", "open"]);
    let mut stopped = xtask(
        &bed,
        test,
        &["push", "--arch", "amd64", "--registry-url", &open],
    );
    let failed = run(&mut stopped);
    bed.script(&["start-registry", "open"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains(&format!(
            "(push to {open}/e2e/faults/e2e-faults:linux-amd64) failed"
        )),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains(&format!("otherwise: is {open} reachable")),
        "{}",
        failed.stderr
    );
    run(&mut xtask(
        &bed,
        test,
        &["push", "--arch", "amd64", "--registry-url", &open],
    ))
    .ok();

    // a manifest list of an architecture never pushed: the add step fails and says why
    let failed = run(&mut xtask(
        &bed,
        test,
        &["manifest", "--arch", "amd64,arm64", "--registry-url", &open],
    ));
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("hint: ") && failed.stderr.contains("push --arch arm64"),
        "{}",
        failed.stderr
    );
    // with the one architecture there is, twice: the existing local list is replaced
    for _ in 0..2 {
        let ok = run(&mut xtask(
            &bed,
            test,
            &[
                "--json",
                "manifest",
                "--arch",
                "amd64",
                "--registry-url",
                &open,
            ],
        ))
        .ok();
        let doc: Value = serde_json::from_str(&ok.stdout).unwrap();
        assert_eq!(
            doc["results"]["list-inspect"]["architectures"],
            serde_json::json!(["amd64"])
        );
    }
}

#[test]
fn rebuild_hits_the_cache_and_repush_copies_nothing() {
    let Some(bed) = Bed::get("rebuild_hits_the_cache_and_repush_copies_nothing") else {
        return;
    };
    let _lock = serial();
    let test = "cache";
    let image = format!("localhost/e2e-{test}:linux-arm64");
    let first = run(&mut xtask(&bed, test, &["build", "--arch", "arm64"])).ok();
    let id = |bed: &Bed| {
        bed.read(
            "podman",
            &["image", "inspect", "--format", "{{.Id}}", &image],
        )
    };
    let before = id(&bed);
    let steps = first
        .stdout
        .lines()
        .filter(|l| l.starts_with("STEP "))
        .count();
    assert!(steps >= 5, "{}", first.stdout);
    let second = run(&mut xtask(&bed, test, &["build", "--arch", "arm64"])).ok();
    assert_eq!(
        id(&bed),
        before,
        "a rebuild with nothing changed made a new image"
    );
    let cached = second
        .stdout
        .lines()
        .filter(|l| l.starts_with("--> Using cache"))
        .count();
    // every step after FROM comes from the cache
    assert_eq!(cached, steps - 1, "{}", second.stdout);

    // the open registry's access log shows every blob upload (POST .../blobs/uploads/)
    let open = bed.var("TESTBED_OPEN_REGISTRY");
    let log = bed.dir.join("registry-open.log");
    let uploads_since = |offset: usize| -> Vec<String> {
        let text = std::fs::read_to_string(&log).unwrap();
        text[offset..]
            .lines()
            .filter(|l| l.contains("POST /v2/e2e/cache/") && l.contains("/blobs/uploads/"))
            .map(str::to_string)
            .collect()
    };
    let push = || {
        run(&mut xtask(
            &bed,
            test,
            &["push", "--arch", "arm64", "--registry-url", &open],
        ))
        .ok()
    };
    let offset = std::fs::read_to_string(&log).unwrap().len();
    push();
    let first_uploads = uploads_since(offset);
    let offset = std::fs::read_to_string(&log).unwrap().len();
    push();
    let again = uploads_since(offset);
    assert!(again.is_empty(), "a re-push uploaded blobs: {again:#?}");
    // and the log does record uploads when there are some (the first push of a new image
    // uploads its config at least, unless an earlier run pushed it already)
    let blobs = bed.read(
        "skopeo",
        &[
            "--registries-conf",
            &bed.var("CONTAINERS_REGISTRIES_CONF"),
            "inspect",
            "--raw",
            &format!("docker://{open}/e2e/cache/e2e-cache:linux-arm64"),
        ],
    );
    assert!(blobs.contains("layers"), "{blobs}");
    let _ = first_uploads;
}

fn container_exists(bed: &Bed, name: &str) -> bool {
    bed.command("podman")
        .args(["container", "exists", name])
        .status()
        .unwrap()
        .success()
}

fn volume_groups(bed: &Bed) -> String {
    let out = bed
        .command("vgs")
        .args(["--reportformat", "json", "-o", "vg_name,vg_tags"])
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn run_verify_clean_on_a_systemd_image() {
    let test = "run_verify_clean_on_a_systemd_image";
    let Some(bed) = Bed::get(test) else { return };
    if !common::require_root(test) || !common::require_tool("vgs", test) {
        return;
    }
    let _lock = serial();
    let t = "run";
    let name = "e2e-run";
    // the systemd test image, built through the same code path as the real one
    run(&mut xtask(
        &bed,
        t,
        &[
            "build",
            "--containerfile",
            "tests/Containerfile.systemd-test",
            "--base-image",
            "localhost/xtask-testbed/systemd:latest",
        ],
    ))
    .ok();
    let vg = "xtask-e2e-vg";
    let loop_file = bed.dir.join("e2e-lvm.img");
    let storage = common::scratch("run-host-storage");
    let host = ["--volume-group", vg, "--loop-file", loop_file.as_str()];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(host.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let xt = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&mut xtask(&bed, t, &refs))
    };
    xt(with(&["clean"])).ok(); // leftovers of an interrupted run

    // openvswitch: this kernel has no module, and run says so before doing anything else
    let modprobe = bed
        .command("modprobe")
        .args(["-n", "openvswitch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let start = with(&[
        "run",
        "-d",
        "--lvm-loop",
        "256M",
        "--host-storage",
        storage.as_str(),
    ]);
    if modprobe {
        eprintln!("NOTE {test}: this kernel has an openvswitch module; the failing check is not exercised");
    } else {
        let failed = xt(start.clone());
        assert_eq!(failed.code, 1, "{}", failed.stderr);
        assert!(
            failed
                .stderr
                .contains("error: step 1/9 (load the openvswitch module on the host) failed"),
            "{}",
            failed.stderr
        );
        assert!(
            failed.stderr.contains("has no loadable openvswitch module")
                && failed.stderr.contains("--skip-openvswitch"),
            "{}",
            failed.stderr
        );
        assert!(
            !container_exists(&bed, name)
                && !loop_file.exists()
                && !volume_groups(&bed).contains(vg),
            "run did something after the check failed"
        );
    }

    // going on without it: the loop-device volume group is made, the container starts
    let mut go = start.clone();
    go.push("--skip-openvswitch".into());
    let started = xt(go.clone()).ok();
    assert!(
        started.stderr.contains("note: host kernel"),
        "{}",
        started.stderr
    );
    assert!(
        started
            .stderr
            .contains(&format!("ok: volume group {vg} has")),
        "{}",
        started.stderr
    );
    let vgs = volume_groups(&bed);
    assert!(
        vgs.contains(&format!(
            "\"vg_name\":\"{vg}\", \"vg_tags\":\"{}\"",
            xtask::run::VG_TAG
        )),
        "{vgs}"
    );
    let attached = bed.read("losetup", &["-j", loop_file.as_str()]);
    assert!(attached.starts_with("/dev/loop"), "{attached}");
    assert_eq!(
        bed.read(
            "podman",
            &[
                "container",
                "inspect",
                "--format",
                "{{.State.Running}}",
                name
            ]
        )
        .trim(),
        "true"
    );
    // a second run stops at the existing container, and says how to clean it
    let again = xt(go.clone());
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains(&format!(
            "a container named {name} exists: `cargo xtask clean --name {name}`"
        )),
        "{}",
        again.stderr
    );

    // verify polls through real `podman exec` until the stand-in oc reports all pods ready
    let verified = run(&mut xtask(
        &bed,
        t,
        &["verify", "--interval", "1s", "--timeout", "90s"],
    ))
    .ok();
    assert!(
        verified.stderr.contains("waiting: 4/9 pods ready"),
        "{}",
        verified.stderr
    );
    assert!(
        verified.stderr.contains("ok: all 10 pods ready"),
        "{}",
        verified.stderr
    );

    // stuck pods: verify times out (exit 3) and says why, per pod, with the hints
    bed.read(
        "podman",
        &[
            "exec",
            name,
            "sh",
            "-c",
            "echo stuck > /etc/xtask-test/pods-sequence && rm -f /run/xtask-test-oc-calls",
        ],
    );
    let stuck = run(&mut xtask(
        &bed,
        t,
        &["--json", "verify", "--interval", "1s", "--timeout", "3s"],
    ));
    assert_eq!(stuck.code, 3, "{}", stuck.stderr);
    for needle in [
        "timed out after",
        "openshift-ingress/router-default-7cd8c9b8f5-6v9sz: ImagePullBackOff",
        "hint: image pulls fail",
        "hint: storage (topolvm) pods fail",
        "hint: ovnkube pods fail",
    ] {
        assert!(
            stuck.stderr.contains(needle),
            "missing {needle:?}:\n{}",
            stuck.stderr
        );
    }
    let doc: Value = serde_json::from_str(&stuck.stdout).unwrap();
    insta::assert_snapshot!("json_verify_timeout", common::shape_text(&stuck.stdout));
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["results"]["pods"]["all_ready"], false);
    assert_eq!(doc["results"]["pods"]["total"], 8);

    // clean undoes everything, and a second clean is fine
    for _ in 0..2 {
        xt(with(&["clean"])).ok();
        assert!(!container_exists(&bed, name));
        assert!(!volume_groups(&bed).contains(vg));
        assert!(bed
            .read("losetup", &["-j", loop_file.as_str()])
            .trim()
            .is_empty());
        assert!(!loop_file.exists());
    }
}

/// A second image from the config file's `images`, built for real: the app-layer example on
/// top of an image of the same tag (`{tag}`).
#[test]
fn an_images_entry_builds_on_its_base() {
    let Some(bed) = Bed::get("an_images_entry_builds_on_its_base") else {
        return;
    };
    let _lock = serial();
    let t = "app";
    run(&mut xtask(
        &bed,
        t,
        &["build", "--arch", "amd64", "--image-name", "e2e-appbase"],
    ))
    .ok();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(bed.var("XTASK_CONFIG")).unwrap()).unwrap();
    config["images"] = serde_json::json!([{
        "name": "e2e-app",
        "containerfile": "containerfiles/Containerfile.app-example",
        "base_image": "localhost/e2e-appbase:{tag}",
    }]);
    let path = bed.dir.join("e2e-app-config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let mut cmd = bed.xtask();
    cmd.env("XTASK_CONFIG", path.as_str())
        .args(["build", "--image", "e2e-app", "--arch", "amd64"]);
    let built = run(&mut cmd).ok();
    assert!(
        built
            .stderr
            .contains("ok: image localhost/e2e-app:linux-amd64 (amd64"),
        "{}",
        built.stderr
    );
    assert!(
        built
            .stdout
            .contains("FROM localhost/e2e-appbase:linux-amd64"),
        "{}",
        built.stdout
    );
    let manifest = bed.read(
        "podman",
        &[
            "run",
            "--rm",
            "localhost/e2e-app:linux-amd64",
            "cat",
            "/usr/lib/microshift/manifests.d/10-hello/kustomization.yaml",
        ],
    );
    assert!(manifest.contains("kind: Kustomization"), "{manifest}");
}
