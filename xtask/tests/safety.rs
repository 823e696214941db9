//! Root-safety on the paths a review found unsafe (issue 18), each against recording
//! stand-ins for the host tools (labelled test fixtures) and the real coreutils: links
//! planted in `disk --output`, a lane whose command ignores SIGTERM, `vm --destroy` and a
//! user's disk image, a record someone else could have written, a record that cannot be
//! written. A real host differs only in the tools stood in for (podman, virsh,
//! virt-install, skopeo): the files, links, owners, signals and process groups are real.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use common::{repo_root, Ran};

/// Write an executable stand-in.
fn stub(dir: &Utf8Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/bash\n# TEST FIXTURE: a stand-in for {name}\necho \"{name} $*\" >> \"$CALLS\"\n{body}\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn xtask<S: AsRef<std::ffi::OsStr>>(dir: &Utf8Path, args: &[S], env: &[(&str, &str)]) -> Ran {
    let mut cmd = common::isolated_xtask(&format!("{}:/usr/bin:/bin", dir.join("bin")));
    common::with_fixture_secrets(cmd.args(args))
        .env("USER_PASSWD", "pw")
        .env("CALLS", dir.join("calls.log").as_str())
        .env("TMPDIR", dir.join("tmp").as_str())
        .env("XTASK_STATE_DIR", dir.join("state").as_str())
        .envs(env.iter().copied());
    Ran::of(cmd.output().unwrap())
}

fn calls(dir: &Utf8Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

/// A stand-in podman for `disk`: the image is there, podman's storage is a directory, and
/// `run` (the builder) writes the artifacts into the directory mounted at /output, as the
/// real builder lays them out.
fn disk_bench(name: &str) -> Utf8PathBuf {
    let (dir, bin, _tmp) = common::scratch_bin_tmp(name);
    std::fs::create_dir_all(dir.join("storage")).unwrap();
    let storage = dir.join("storage");
    stub(
        &bin,
        "podman",
        &format!(
            r#"case "$1" in
  image) echo '[{{"Id":"sha256:0a1b","Architecture":"amd64","Os":"linux","Size":1,"RepoTags":[]}}]' ;;
  info) echo {storage} ;;
  run)
    for a in "$@"; do case "$a" in *:/output) out=${{a%:/output}} ;; esac; done
    mkdir -p "$out/qcow2" "$out/bootiso"
    echo qcow2-bytes > "$out/qcow2/disk.qcow2"
    echo iso-bytes > "$out/bootiso/install.iso" ;;
esac"#
        ),
    );
    dir
}

/// Issue 18, items 2 and 9: links planted in `--output` are never followed by root. A link
/// at an artifact's name to a root-owned directory: the artifact replaces the link (it is not
/// moved into the directory) and the directory keeps its owner. A link at the old
/// predictable build directory name: left alone, nothing written through it. An image name
/// with `/` gives one flat file name; a missing output directory is made and given to the
/// invoking user, as the artifacts are.
#[test]
fn disk_never_follows_links_planted_in_the_output() {
    if !common::require_root("disk_never_follows_links_planted_in_the_output") {
        return;
    }
    let dir = disk_bench("safety-disk");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let victim = dir.join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    let planted_build = dir.join("victim-build");
    std::fs::create_dir_all(&planted_build).unwrap();
    let artifact = out.join("microshift-4.16-bootc-latest.qcow2");
    std::os::unix::fs::symlink(&victim, &artifact).unwrap();
    std::os::unix::fs::symlink(
        &planted_build,
        out.join(".build-microshift-4.16-bootc-latest"),
    )
    .unwrap();
    let sudo = [("SUDO_UID", "65534"), ("SUDO_GID", "65534")];
    let ran = xtask(
        &dir,
        &[
            "disk",
            "--type",
            "qcow2",
            "--output",
            out.as_str(),
            "--min-free",
            "0",
        ],
        &sudo,
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let meta = std::fs::symlink_metadata(&artifact).unwrap();
    assert!(meta.is_file(), "the artifact is not a plain file: {meta:?}");
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(std::fs::read_to_string(&artifact).unwrap(), "qcow2-bytes\n");
    for d in [&victim, &planted_build] {
        assert_eq!(
            std::fs::read_dir(d).unwrap().count(),
            0,
            "{d} was written into"
        );
        assert_eq!(std::fs::metadata(d).unwrap().uid(), 0, "{d} changed owner");
    }
    // the private build directory is gone; the planted link is as it was
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".build-") && n != ".build-microshift-4.16-bootc-latest")
        .collect();
    assert!(left.is_empty(), "build directories left: {left:?}");
    let builder = calls(&dir)
        .lines()
        .find(|l| l.starts_with("podman run "))
        .unwrap()
        .to_string();
    assert!(
        builder.contains(&format!("{out}/.build-microshift-4.16-bootc-latest."))
            && !builder.contains(&format!("{out}/.build-microshift-4.16-bootc-latest:")),
        "the builder's /output is not a fresh directory: {builder}"
    );

    // an image name with `/`, into an output directory that is not there yet
    let fresh = dir.join("fresh");
    let ran = xtask(
        &dir,
        &[
            "disk",
            "--type",
            "qcow2",
            "--image-name",
            "myorg/edge",
            "--output",
            fresh.as_str(),
            "--min-free",
            "0",
        ],
        &sudo,
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let made = std::fs::metadata(&fresh).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (65534, 65534),
        "the output directory"
    );
    assert!(
        fresh.join("myorg-edge-latest.qcow2").is_file(),
        "{}",
        ran.stderr
    );
}

/// Issue 18, item 3: when one lane fails, a command of another lane that ignores SIGTERM,
/// and the child it started, are killed after the grace period: `release` ends in seconds,
/// not when the command would have (five minutes), and leaves no process behind.
#[test]
fn a_stopped_lane_is_killed_with_what_it_started() {
    let (dir, bin, _tmp) = common::scratch_bin_tmp("safety-stop");
    let pid_file = dir.join("child.pid");
    stub(
        &bin,
        "podman",
        &format!(
            r#"case "$*" in
  *"build "*"linux/arm64"*)
    trap '' TERM
    sleep 300 &
    echo $! > {pid_file}
    wait ;;
  *"build "*) sleep 2; echo 'stand-in: the amd64 build fails' >&2; exit 1 ;;
  "manifest exists "*) exit 1 ;;
esac"#
        ),
    );
    stub(&bin, "skopeo", "exit 0");
    let started = Instant::now();
    let mut cmd = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
    let mut child =
        common::with_fixture_secrets(cmd.args(["release", "--registry-url", "127.0.0.1:5000"]))
            .env("USER_PASSWD", "pw")
            .env("CALLS", dir.join("calls.log").as_str())
            .env("TMPDIR", dir.join("tmp").as_str())
            .env("XTASK_STATE_DIR", dir.join("state").as_str())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    // never wait for the stand-in's five minutes
    let ended = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = started.elapsed();
    let out = Ran::of(child.wait_with_output().unwrap());
    let grandchild: Option<u32> = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|p| p.trim().parse().ok());
    let alive = grandchild.is_some_and(|p| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .is_ok_and(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
    });
    if let (true, Some(p)) = (alive, grandchild) {
        let _ = std::process::Command::new("kill")
            .args(["-9", &p.to_string()])
            .status();
    }
    let status = ended.expect("release still ran after 60 s: the stopped lane was never killed");
    assert_eq!(status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("error: [amd64] step"), "{}", out.stderr);
    assert!(
        took < Duration::from_secs(30),
        "release took {took:?}: the stopped lane held it"
    );
    assert!(
        grandchild.is_some(),
        "the arm64 build never started: {}",
        out.stderr
    );
    assert!(!alive, "the stopped build's child is still running");
}

/// Issue 18, item 4: a VM entry of the record says only what the last `vm` made: a failed
/// installation that recorded a disk, then `vm --disk` of the user's own image under the
/// same name, leaves `vm --destroy` keeping that image. And `vm` never makes a VM disk where
/// a file already is.
#[test]
fn vm_destroy_keeps_a_users_disk() {
    let (dir, bin, _tmp) = common::scratch_bin_tmp("safety-vm");
    stub(
        &bin,
        "virsh",
        r#"case "$*" in *dominfo*) [ -e "$(dirname "$CALLS")/vm-exists" ] || exit 1 ;; esac; exit 0"#,
    );
    stub(&bin, "virt-install", r#"exit "${VIRT_EXIT:-0}""#);
    let disks = dir.join("images");
    std::fs::create_dir_all(&disks).unwrap();
    let iso = dir.join("install.iso");
    common::fake_iso(&iso, "RHEL-9-4-0-BaseOS-x86_64");
    // `vm` of edge1 from a source (`--iso-image FILE`, `--disk FILE`)
    let vm = |source: &str, file: &str| -> Vec<String> {
        [
            "vm",
            "--arch",
            "amd64",
            source,
            file,
            "--vm-name",
            "edge1",
            "--libvirt-uri",
            "test:///default",
            "--disk-dir",
            disks.as_str(),
        ]
        .map(String::from)
        .to_vec()
    };
    // an installer ISO whose installation fails: the record lists the VM and its disk
    let args = vm("--iso-image", iso.as_str());
    let failed = xtask(&dir, &args, &[("VIRT_EXIT", "1")]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    // the user's own image, at the path that disk would have had, booted as edge1
    let users = disks.join("edge1.qcow2");
    let mut qcow = vec![0u8; 1024];
    qcow[..4].copy_from_slice(b"QFI\xfb");
    std::fs::write(&users, &qcow).unwrap();
    let args = vm("--disk", users.as_str());
    xtask(&dir, &args, &[]).ok();
    std::fs::write(dir.join("vm-exists"), "").unwrap();
    let plan = xtask(&dir, &["--dry-run", "vm", "--destroy", "edge1"], &[]).ok();
    assert!(
        !plan.stdout.contains("--storage"),
        "vm --destroy would delete the user's image:\n{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("its disk image is yours and stays"),
        "{}",
        plan.stdout
    );
    let _ = std::fs::remove_file(dir.join("vm-exists"));
    // a new VM's disk where a file is: refused before virt-install runs
    let _ = std::fs::remove_file(dir.join("calls.log"));
    let args = vm("--iso-image", iso.as_str());
    let refused = xtask(&dir, &args, &[]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!("{users} exists")),
        "{}",
        refused.stderr
    );
    assert!(!calls(&dir).contains("virt-install"), "{}", calls(&dir));
    assert_eq!(
        std::fs::read(&users).unwrap(),
        qcow,
        "the user's image changed"
    );
}

/// Issue 18, item 5: the record is read only when no one else could have written it. A
/// world-writable state directory holding a record that is a link (to another user's file
/// that lists root's file as made by `run`): `clean` refuses, and root's file stays. A
/// record of the wrong shape is refused, not read as empty. A record that cannot be
/// written stops `release` before its first step.
#[test]
fn the_record_is_trusted_only_when_private() {
    if !common::require_root("the_record_is_trusted_only_when_private") {
        return;
    }
    let (dir, bin, _tmp) = common::scratch_bin_tmp("safety-record");
    stub(&bin, "losetup", "exit 1");
    stub(&bin, "podman", "exit 0");
    stub(&bin, "skopeo", "exit 0");
    let precious = dir.join("precious");
    std::fs::write(&precious, "root's own").unwrap();
    let evil = dir.join("evil.json");
    std::fs::write(
        &evil,
        format!("{{\"made\": [{{\"kind\": \"loop-file\", \"file\": \"{precious}\"}}]}}"),
    )
    .unwrap();
    std::os::unix::fs::chown(&evil, Some(65534), Some(65534)).unwrap();
    let open = dir.join("open-state");
    std::fs::create_dir_all(&open).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::symlink(&evil, open.join("record.json")).unwrap();
    let ran = xtask(&dir, &["clean"], &[("XTASK_STATE_DIR", open.as_str())]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("can be written by other users"),
        "{}",
        ran.stderr
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "root's own");
    // the same record as a link in a private directory, then another user's file there
    let private = dir.join("private-state");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&evil, private.join("record.json")).unwrap();
    let ran = xtask(&dir, &["clean"], &[("XTASK_STATE_DIR", private.as_str())]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("symbolic link"), "{}", ran.stderr);
    std::fs::remove_file(private.join("record.json")).unwrap();
    std::fs::copy(&evil, private.join("record.json")).unwrap();
    std::os::unix::fs::chown(private.join("record.json"), Some(65534), Some(65534)).unwrap();
    let ran = xtask(&dir, &["clean"], &[("XTASK_STATE_DIR", private.as_str())]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("belongs to another user"),
        "{}",
        ran.stderr
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "root's own");
    // shapes the tool never writes
    for shape in ["[]", "{\"made\": {}}", "{\"made\": [1]}", "{}"] {
        std::fs::remove_file(private.join("record.json")).unwrap();
        std::fs::write(private.join("record.json"), shape).unwrap();
        let ran = xtask(&dir, &["clean"], &[("XTASK_STATE_DIR", private.as_str())]);
        assert_eq!(ran.code, 2, "{shape}: {}", ran.stderr);
    }
    // a record that cannot be written: `release` stops before it builds or pushes anything
    let nowhere = dir.join("nowhere");
    std::os::unix::fs::symlink(dir.join("missing/target"), &nowhere).unwrap();
    let _ = std::fs::remove_file(dir.join("calls.log"));
    let ran = xtask(
        &dir,
        &["release", "--registry-url", "127.0.0.1:5000"],
        &[("XTASK_STATE_DIR", nowhere.as_str())],
    );
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("cannot be written"), "{}", ran.stderr);
    assert!(!calls(&dir).contains("podman"), "it ran:\n{}", calls(&dir));
    let _ = repo_root();
}
