//! The executor against stub programs that record what they were given: the private files
//! that carry secrets (mode, content, removal, also on failure), and `verify --vm`'s address
//! capture, ssh invocation and polling, which need a libvirt daemon and a VM otherwise.

mod common;

use camino::{Utf8Path, Utf8PathBuf};
use common::{fake_iso, repo_root, scratch, Ran};

/// Write an executable stub script.
fn stub(dir: &Utf8Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A stub that records, for the file given after `flag` (optionally as `key=...,src=FILE`),
/// its mode, its directory's mode and its content, then exits with STUB_EXIT.
fn recording_stub(dir: &Utf8Path, name: &str, log: &Utf8Path, prelude: &str) {
    stub(
        dir,
        name,
        &format!(
            r#"{prelude}
log={log}
echo "{name} $*" >> "$log"
for a in "$@"; do
  f=${{a#*src=}}
  case "$f" in *xtask-secrets-*) ;; *) continue ;; esac
  if [ -f "$f" ]; then
    echo "file=$f mode=$(stat -c %a "$f") dirmode=$(stat -c %a "$(dirname "$f")")" >> "$log"
    cp "$f" "$log.content"
  fi
done
exit "${{STUB_EXIT:-0}}""#
        ),
    );
}

fn run(bin: &Utf8Path, tmp: &Utf8Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let out = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"))
        .args(args)
        .env(
            "PULL_SECRET",
            repo_root().join("tests/fixtures/pull-secret.json").as_str(),
        )
        .env("TMPDIR", tmp.as_str())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Ran::of(out)
}

fn leftovers(tmp: &Utf8Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn secret_files_are_private_and_removed() {
    let (dir, bin, tmp) = common::scratch_bin_tmp("stub-secrets");
    let log = dir.join("calls.log");
    // `podman image inspect` answers as for a built image
    let inspect = r#"case "$*" in "image inspect "*) echo '[{"Id":"sha256:0a1b","Architecture":"amd64","Os":"linux","Size":1,"RepoTags":[]}]'; exit 0 ;; esac"#;
    recording_stub(&bin, "podman", &log, inspect);
    recording_stub(&bin, "virt-install", &log, "");
    // the VM checks: the network exists, no VM has the name
    stub(
        &bin,
        "virsh",
        "case \"$*\" in *net-info*) exit 0 ;; *dominfo*) exit 1 ;; esac; exit 0",
    );
    let iso = dir.join("x86.iso");
    fake_iso(&iso, "RHEL-9-4-0-BaseOS-x86_64");
    let password = "pw with 'quotes', $dollar and a trailing space ";
    for exit in ["0", "1"] {
        let _ = std::fs::remove_file(&log);
        // the build secret
        let ran = run(
            &bin,
            &tmp,
            &["build", "--arch", "amd64"],
            &[("USER_PASSWD", password), ("STUB_EXIT", exit)],
        );
        assert_eq!(ran.code.to_string(), exit, "{}", ran.stderr);
        let calls = std::fs::read_to_string(&log).unwrap();
        let line = calls
            .lines()
            .find(|l| l.starts_with("file="))
            .unwrap_or_else(|| panic!("no secret file seen:\n{calls}"));
        assert!(line.contains("mode=600 dirmode=700"), "{line}");
        assert_eq!(
            std::fs::read_to_string(dir.join("calls.log.content")).unwrap(),
            password,
            "the build secret is the password, byte for byte"
        );
        assert!(
            !calls.contains(password.trim()),
            "the password is on a command line:\n{calls}"
        );
        assert!(
            leftovers(&tmp).is_empty(),
            "secret files left behind (exit {exit}): {:?}",
            leftovers(&tmp)
        );

        // the kickstart handed to virt-install
        let _ = std::fs::remove_file(&log);
        let ran = run(
            &bin,
            &tmp,
            &[
                "vm",
                "--arch",
                "amd64",
                "--iso",
                iso.as_str(),
                "--libvirt-uri",
                "test:///default",
            ],
            &[
                (
                    "AUTH_CONFIG",
                    repo_root()
                        .join("tests/fixtures/registry-auth.json")
                        .as_str(),
                ),
                ("STUB_EXIT", exit),
            ],
        );
        assert_eq!(ran.code.to_string(), exit, "{}", ran.stderr);
        let calls = std::fs::read_to_string(&log).unwrap();
        let line = calls
            .lines()
            .find(|l| l.starts_with("file="))
            .unwrap_or_else(|| panic!("no kickstart seen:\n{calls}"));
        assert!(
            line.contains("/kickstart.ks mode=600 dirmode=700"),
            "{line}"
        );
        assert!(
            calls.contains("--extra-args inst.ks=file:/kickstart.ks"),
            "{calls}"
        );
        let ks = std::fs::read_to_string(dir.join("calls.log.content")).unwrap();
        assert!(
            ks.contains(
                "ostreecontainer --url=quay.io/myorg/mypath/microshift-4.16-bootc:linux-amd64"
            ),
            "{ks}"
        );
        assert!(ks.contains(
            &xtask::commands::kickstart::base64(
                &std::fs::read(repo_root().join("tests/fixtures/pull-secret.json")).unwrap()
            )[..40]
        ));
        assert!(
            leftovers(&tmp).is_empty(),
            "the kickstart was left behind (exit {exit}): {:?}",
            leftovers(&tmp)
        );
    }
}

#[test]
fn verify_vm_captures_the_address_and_polls_over_ssh() {
    let dir = scratch("stub-verify-vm");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log: Utf8PathBuf = dir.join("calls.log");
    let pods = repo_root().join("tests/fixtures/pods");
    // no address on the first call, then one (as while a VM boots)
    stub(
        &bin,
        "virsh",
        &format!(
            r#"echo "virsh $*" >> {log}
case "$*" in *domstate*) echo running; exit 0 ;; esac
n=$(grep -c '^virsh.*domifaddr' {log})
echo " Name       MAC address          Protocol     Address"
echo "-------------------------------------------------------------------------------"
[ "$n" -ge 2 ] && echo " vnet0      52:54:00:6b:3c:58    ipv4         192.168.122.47/24"
exit 0"#
        ),
    );
    // ssh: the service is active; the pod list is starting, then ready
    stub(
        &bin,
        "ssh",
        &format!(
            r#"echo "ssh $*" >> {log}
case "$*" in
  *"systemctl is-active microshift"*) echo active ;;
  *"oc get pods -A -o json --kubeconfig /var/lib/microshift/resources/kubeadmin/kubeconfig"*)
    n=$(grep -c 'oc get pods' {log})
    if [ "$n" -ge 2 ]; then cat {pods}/ready.json; else cat {pods}/starting.json; fi ;;
  *) echo "unexpected: $*" >&2; exit 255 ;;
esac"#
        ),
    );
    let ran = run(
        &bin,
        &dir,
        &[
            "verify",
            "--vm",
            "edge-1",
            "--libvirt-uri",
            "test:///default",
            "--interval",
            "1s",
            "--timeout",
            "30s",
        ],
        &[],
    )
    .ok();
    assert!(
        ran.stderr.contains("waiting: no VMIP yet"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("waiting: 4/9 pods ready"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("ok: all 10 pods ready"),
        "{}",
        ran.stderr
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("virsh --connect test:///default domifaddr edge-1"),
        "{calls}"
    );
    assert!(
        calls.contains("ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10 -o ServerAliveInterval=10 -o ServerAliveCountMax=3 redhat@192.168.122.47 sudo systemctl is-active microshift"),
        "{calls}"
    );

    // a VM that never gets an address: exit 3, naming the step
    let never = dir.join("never");
    std::fs::create_dir_all(&never).unwrap();
    stub(
        &never,
        "virsh",
        "case \"$*\" in *domstate*) echo running; exit 0 ;; esac; echo ' Name MAC address Protocol Address'; exit 0",
    );
    let ran = run(
        &never,
        &dir,
        &[
            "verify",
            "--vm",
            "edge-1",
            "--libvirt-uri",
            "test:///default",
            "--interval",
            "1s",
            "--timeout",
            "2s",
        ],
        &[],
    );
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("(find the address of edge-1) timed out"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("hint: is edge-1 running?"),
        "{}",
        ran.stderr
    );
}

/// Finding 7: `verify` for a container that is gone or stopped fails at once (exit 1) with
/// its last log lines, instead of polling `podman exec` for 15 minutes. Finding 17: while
/// it waits, `systemctl is-active`'s answers feed the progress line, not the terminal.
#[test]
fn verify_fails_fast_and_polls_quietly() {
    let dir = scratch("stub-verify-container");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    stub(
        &bin,
        "podman",
        r#"case "$*" in
  "exec gone true") echo "Error: no container with name or ID \"gone\" found" >&2; exit 125 ;;
  "logs --tail 20 gone") echo "systemd: starting"; echo "microshift: fatal: no volume group rhel" ;;
esac
exit 0"#,
    );
    let started = std::time::Instant::now();
    let ran = run(&bin, &dir, &["verify", "--container", "gone"], &[]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        ran.stderr
            .contains("step 1/4 (check container gone is running) failed"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("microshift: fatal: no volume group rhel"),
        "the container's last log lines: {}",
        ran.stderr
    );

    // a service that is activating, then active; pods ready
    let counter = dir.join("tries");
    let pods = repo_root().join("tests/fixtures/pods/ready.json");
    stub(
        &bin,
        "podman",
        &format!(
            r#"case "$*" in
  "exec up systemctl is-active microshift")
    n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}
    if [ "$n" -lt 2 ]; then echo activating; exit 3; fi
    echo active ;;
  "exec up oc get pods "*) cat {pods} ;;
esac
exit 0"#
        ),
    );
    let ran = run(
        &bin,
        &dir,
        &["verify", "--container", "up", "--interval", "1s"],
        &[],
    )
    .ok();
    assert!(
        ran.stderr
            .contains("waiting: the microshift service is activating"),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr
            .lines()
            .any(|l| l.trim() == "activating" || l.trim() == "active"),
        "systemctl's raw answers reached the terminal:\n{}",
        ran.stderr
    );
}

/// Finding 15: a relative path from a flag is relative to where the command runs.
#[test]
fn relative_flag_paths_follow_the_current_directory() {
    let ran = Ran::of(
        common::isolated_xtask("/usr/bin:/bin")
            .current_dir(repo_root().join("tests/containerfiles"))
            .args([
                "--dry-run",
                "build",
                "--containerfile",
                "Containerfile.test",
                "--base-image",
                "localhost/base:1",
            ])
            .env(
                "PULL_SECRET",
                repo_root().join("tests/fixtures/pull-secret.json").as_str(),
            )
            .env("USER_PASSWD", "pw")
            .output()
            .unwrap(),
    )
    .ok();
    let want = format!(
        "-f {} ",
        repo_root().join("tests/containerfiles/Containerfile.test")
    );
    assert!(ran.stdout.contains(&want), "{}", ran.stdout);
}

/// Finding 3: SIGINT, SIGTERM or SIGHUP during a long step (the build, virt-install's
/// `--wait`) reaches the command, removes every secret file, and exits 128 + the signal.
/// And secret directories of processes that died (SIGKILL) are swept at the next start.
#[test]
fn signals_stop_the_step_and_remove_the_secrets() {
    let (dir, bin, tmp) = common::scratch_bin_tmp("stub-signals");
    let got = dir.join("got-signal");
    // a long command that says which signal reached it
    let slow = format!(
        r#"for s in INT TERM HUP; do trap "echo $s > {got}; exit 1" $s; done
case "$*" in
  "image inspect "*) echo '[{{"Id":"sha256:0a","Architecture":"amd64","Os":"linux","Size":1,"RepoTags":[]}}]'; exit 0 ;;
esac
i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done"#
    );
    stub(&bin, "podman", &slow);
    stub(&bin, "virt-install", &slow);
    stub(
        &bin,
        "virsh",
        "case \"$*\" in *net-info*) exit 0 ;; *dominfo*) exit 1 ;; esac; exit 0",
    );
    let iso = dir.join("x86.iso");
    fake_iso(&iso, "RHEL-9-4-0-BaseOS-x86_64");
    // left by a process that no longer exists, and one of a live process (ours)
    let stale = tmp.join("xtask-secrets-999999999-1");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("user-passwd"), "stale secret").unwrap();
    let live = tmp.join(format!("xtask-secrets-{}-1", std::process::id()));
    std::fs::create_dir_all(&live).unwrap();
    let build: &[&str] = &["build", "--arch", "amd64"];
    let vm: &[&str] = &[
        "vm",
        "--arch",
        "amd64",
        "--iso",
        iso.as_str(),
        "--libvirt-uri",
        "test:///default",
    ];
    for (args, signal, name, code) in [
        (build, 2, "INT", 130),
        (build, 15, "TERM", 143),
        (vm, 2, "INT", 130),
        (vm, 15, "TERM", 143),
        (vm, 1, "HUP", 129),
    ] {
        let _ = std::fs::remove_file(&got);
        let mut cmd = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
        let child = common::with_fixture_secrets(cmd.args(args))
            .env("USER_PASSWD", "canary-user-passwd")
            .env("TMPDIR", tmp.as_str())
            .env("XTASK_STATE_DIR", dir.join("state").as_str())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // wait until the secret file exists: the long command is running
        let ours = |e: &std::fs::DirEntry| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("xtask-secrets-")
                && !n.starts_with("xtask-secrets-999999999-")
                && n != format!("xtask-secrets-{}-1", std::process::id())
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let found = std::fs::read_dir(&tmp)
                .unwrap()
                .flatten()
                .filter(|e| ours(e))
                .any(|e| std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_some()));
            if found {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{args:?}: no secret file appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        let ran = Ran::of(out);
        assert_eq!(ran.code, code, "{args:?} SIG{name}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(&format!("interrupted by SIG{name}")),
            "{}",
            ran.stderr
        );
        assert_eq!(
            std::fs::read_to_string(&got).unwrap_or_default().trim(),
            name,
            "{args:?}: the running command did not get SIG{name}"
        );
        let left: Vec<String> = std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .filter(|e| ours(e) || e.file_name().to_string_lossy().contains("999999999"))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            left.is_empty(),
            "{args:?} SIG{name}: secret files left: {left:?}"
        );
    }
    assert!(!stale.exists(), "a dead process's secrets were not swept");
    assert!(live.exists(), "a live process's directory was swept");
}

/// Issue 12: when one lane of `release` fails, the other lane's running command is stopped
/// (it gets SIGTERM), its secret files are removed, and the error names the failing lane.
#[test]
fn a_failing_lane_stops_the_other() {
    let (dir, bin, tmp) = common::scratch_bin_tmp("stub-lanes");
    let got = dir.join("amd64-got");
    // arm64's build fails at once; amd64's build runs long (and says which signal ends it)
    stub(
        &bin,
        "podman",
        &format!(
            r#"case "$*" in
  "build "*linux-arm64*) sleep 1; echo "arm64: no such base image" >&2; exit 125 ;;
  "build "*linux-amd64*)
    trap "echo TERM > {got}; exit 143" TERM
    i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done ;;
esac
exit 0"#
        ),
    );
    stub(&bin, "skopeo", "exit 0");
    let started = std::time::Instant::now();
    let ran = run(
        &bin,
        &tmp,
        &["release", "--registry-url", "127.0.0.1:5000"],
        &[
            ("USER_PASSWD", "canary-user-passwd"),
            ("XTASK_STATE_DIR", dir.join("state").as_str()),
        ],
    );
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the amd64 lane was not stopped: {:?}",
        started.elapsed()
    );
    assert!(
        ran.stderr.contains("error: [arm64] step") && ran.stderr.contains("linux-arm64) failed"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("[arm64] arm64: no such base image"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&got).unwrap_or_default().trim(),
        "TERM",
        "the amd64 build was not stopped"
    );
    assert!(
        leftovers(&tmp).is_empty(),
        "secret files left: {:?}",
        leftovers(&tmp)
    );
}

/// Issue 12: on a terminal, `release` shows one live line per lane, redrawn in place (the
/// cursor moves up over the lanes' lines), instead of the lanes' interleaved output; in a
/// log (no terminal) every line is prefixed with its lane.
#[test]
fn release_shows_live_lines_on_a_terminal() {
    if !common::require_tool("script", "release_shows_live_lines_on_a_terminal") {
        return;
    }
    let (dir, bin, tmp) = common::scratch_bin_tmp("stub-live");
    let pods =
        r#"[{"Id":"sha256:0a1b","Architecture":"ARCH","Os":"linux","Size":1,"RepoTags":[]}]"#;
    stub(
        &bin,
        "podman",
        &format!(
            r#"case "$*" in
  "build "*) echo "STEP 1/2: building quietly"; sleep 1 ;;
  "image inspect "*linux-arm64) echo '{arm}' ;;
  "image inspect "*) echo '{amd}' ;;
  "manifest exists "*) exit 1 ;;
  "push "*|"manifest push "*) for a in "$@"; do [ "$prev" = --digestfile ] && echo sha256:1 > "$a"; prev=$a; done ;;
esac
exit 0"#,
            arm = pods.replace("ARCH", "arm64"),
            amd = pods.replace("ARCH", "amd64"),
        ),
    );
    // the list as the registry then holds it: each member the digest its push wrote
    let list = r#"{"manifests":[{"digest":"sha256:1","platform":{"architecture":"amd64"}},{"digest":"sha256:1","platform":{"architecture":"arm64"}}]}"#;
    stub(&bin, "skopeo", &format!("echo '{list}'"));
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let command = format!(
        "env -i PATH={bin}:/usr/bin:/bin HOME={home} TMPDIR={tmp} XTASK_STATE_DIR={state} PULL_SECRET={ps} USER_PASSWD=pw {xtask} release --registry-url 127.0.0.1:5000",
        home = repo_root().join("tests/fixtures/home"),
        state = dir.join("state"),
        ps = repo_root().join("tests/fixtures/pull-secret.json"),
    );
    let typescript = dir.join("typescript");
    let out = std::process::Command::new("script")
        .args(["-qec", &command, typescript.as_str()])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let screen = std::fs::read_to_string(&typescript).unwrap_or_default();
    assert!(out.status.success(), "{screen}");
    // the live lines: redrawn with the cursor moved up over the three lanes
    assert!(
        screen.contains("\x1b[3A"),
        "no redrawn live lines:\n{screen}"
    );
    for lane in ["[amd64] ==> ", "[arm64] ==> ", "[list] ==> "] {
        assert!(screen.contains(lane), "no live line {lane:?}:\n{screen}");
    }
    // the builds' own output is kept off the screen while all goes well
    assert!(!screen.contains("building quietly"), "{screen}");
    // without a terminal: plain lines, each prefixed with its lane, no cursor movement
    let plain = run(
        &bin,
        &tmp,
        &["release", "--registry-url", "127.0.0.1:5000"],
        &[
            ("USER_PASSWD", "pw"),
            ("XTASK_STATE_DIR", dir.join("state2").as_str()),
        ],
    )
    .ok();
    assert!(
        plain.stderr.contains("[arm64] STEP 1/2: building quietly"),
        "{}",
        plain.stderr
    );
    assert!(!plain.stderr.contains("\x1b["), "{}", plain.stderr);
}

/// Issue 29: a lane on a remote builder writes no digest file (podman's remote client does
/// not), so what it pushed is read back by tag: taken only when the registry serves the
/// image built on the builder (its config is the image's id), then the list adds every
/// member by digest, and `--json` gives the remote push's digest under `digest` as a local
/// push's. When someone else pushes to the tag between the push and the read, the release
/// stops there: nothing of theirs is listed, pushed as the list, or signed.
#[test]
fn a_remote_lane_takes_only_the_image_it_built() {
    if !common::require_root("a_remote_lane_takes_only_the_image_it_built") {
        return; // the local lane's commands would go through sudo, which is not stood in for
    }
    let (dir, bin, tmp) = common::scratch_bin_tmp("stub-remote-lane");
    let id = "0a1b2c3d4e5f0a1b2c3d4e5f0a1b2c3d4e5f0a1b2c3d4e5f0a1b2c3d4e5f0a1b";
    let image = r#"[{"Id":"ID","Digest":"sha256:1","Size":1,"Architecture":"ARCH","Os":"linux","RepoTags":[]}]"#
        .replace("ID", id);
    // TEST FIXTURE: podman here and on the builder (`--url` dropped); a real builder builds
    // and pushes the image whose id it reports; as podman's remote client (4.3), a push on
    // the builder writes no --digestfile
    stub(
        &bin,
        "podman",
        &format!(
            r#"echo "podman $*" >> {dir}/calls
case "$1" in --url|--connection) shift 2; remote=yes ;; esac
[ -n "$remote" ] && [ "$1" = push ] && exit 0
case "$*" in
  "image inspect "*linux-arm64) echo '{arm}' ;;
  "image inspect "*) echo '{amd}' ;;
  "manifest exists "*) exit 1 ;;
  "manifest add "*) for a in "$@"; do last=$a; done; echo "$last" >> {dir}/adds ;;
  "push "*|"manifest push "*) for a in "$@"; do [ "$prev" = --digestfile ] && echo sha256:{aaaa} > "$a"; prev=$a; done ;;
esac
exit 0"#,
            arm = image.replace("ARCH", "arm64"),
            amd = image.replace("ARCH", "amd64"),
            aaaa = "a".repeat(64),
        ),
    );
    // TEST FIXTURE: skopeo reading the registry: the arm64 tag serves the image pushed from
    // the builder (config = its id), or with `foreign` someone else's (its manifest, or its
    // digest with --format); the list holds what was added, a member added by tag being
    // what the tag held then, as a registry's list would
    stub(
        &bin,
        "skopeo",
        &format!(
            r#"echo "skopeo $*" >> {dir}/calls
arm() {{
  config=sha256:{id}; [ -e {dir}/foreign ] && config=sha256:{other}
  printf '{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":1}},"layers":[]}}' "$config"
}}
for a in "$@"; do last=$a; done
case "$last" in
  *:linux-arm64)
    case "$*" in
      *--format*) echo "sha256:$(arm | sha256sum | cut -c1-64)" ;;
      *) arm ;;
    esac ;;
  *)
    printf '{{"schemaVersion":2,"manifests":['; sep=; n=0
    for arch in amd64 arm64; do
      n=$((n+1)); d=$(sed -n "${{n}}p" {dir}/adds)
      case "$d" in
        *@*) d=${{d##*@}} ;;
        *:linux-amd64) d=sha256:{aaaa} ;;
        *:linux-arm64) d=sha256:$(arm | sha256sum | cut -c1-64) ;;
      esac
      printf '%s{{"digest":"%s","platform":{{"architecture":"%s","os":"linux"}}}}' "$sep" "$d" "$arch"; sep=,
    done
    printf ']}}' ;;
esac"#,
            other = "f".repeat(64),
            aaaa = "a".repeat(64),
        ),
    );
    let release = |state: &str| {
        let _ = std::fs::remove_file(dir.join("adds"));
        let _ = std::fs::remove_file(dir.join("calls"));
        run(
            &bin,
            &tmp,
            &[
                "--json",
                "release",
                "--registry-url",
                "127.0.0.1:5000",
                "--builder",
                "arm64=ssh://core@arm-1.example.com/run/podman/podman.sock",
            ],
            &[
                ("USER_PASSWD", "canary-user-passwd"),
                ("XTASK_STATE_DIR", dir.join(state).as_str()),
            ],
        )
    };
    let ran = release("state-1");
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    // the digest of what the registry serves (the image built there), under `digest` as a
    // local lane's
    let served = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{id}","size":1}},"layers":[]}}"#
    );
    let digest = xtask::digest::digest(served.as_bytes());
    assert_eq!(
        doc["results"]["arm64/push"]["digest"],
        digest.as_str(),
        "{doc:#}"
    );
    assert_eq!(
        doc["results"]["amd64/push"]["digest"],
        format!("sha256:{}", "a".repeat(64)),
        "{doc:#}"
    );
    let entry = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "arm64/push")
        .unwrap();
    assert_eq!(entry["result"]["digest"], digest.as_str(), "{entry}");
    // every member added by digest, never by tag
    let adds = std::fs::read_to_string(dir.join("adds")).unwrap();
    assert_eq!(
        adds.lines().collect::<Vec<_>>(),
        [
            format!(
                "docker://127.0.0.1:5000/myorg/mypath/microshift-4.16-bootc@sha256:{}",
                "a".repeat(64)
            ),
            format!("docker://127.0.0.1:5000/myorg/mypath/microshift-4.16-bootc@{digest}"),
        ]
    );
    // someone else's image under the tag after the builder's push
    std::fs::write(dir.join("foreign"), "").unwrap();
    let ran = release("state-2");
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let message = doc["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("holds another image than the one just built and pushed")
            && message.contains(&format!("the image built is sha256:{id}")),
        "{doc:#}"
    );
    let calls = std::fs::read_to_string(dir.join("calls")).unwrap();
    assert!(!calls.contains("manifest push"), "{calls}");
    assert!(!dir.join("adds").exists(), "{calls}");
}

/// Review of issue 29: a builder named by podman connection hides its URL from `--builder`'s
/// check; the release reads podman's list first, and a `tcp://` connection to another
/// machine stops it there — the tool and the pasted plan alike — before any lane builds or
/// sends a secret. A tunnel's end (`tcp://127.0.0.1`) goes on to the lanes.
#[test]
fn a_release_refuses_a_connection_over_tcp_to_another_machine() {
    let (dir, bin, tmp) = common::scratch_bin_tmp("stub-connection");
    // TEST FIXTURE: podman's connection list as podman 4.3 prints it (from a file); every
    // other podman command only recorded (a real builder would build and push)
    stub(
        &bin,
        "podman",
        &format!(
            r#"echo "podman $*" >> {dir}/calls
case "$*" in
  "system connection list --format json") cat {dir}/connections ;;
esac
exit 0"#
        ),
    );
    let secrets = dir.join("user-passwd");
    std::fs::write(&secrets, "canary-user-passwd").unwrap();
    let args = [
        "release",
        "--builder",
        "arm64=far",
        "--registry-url",
        "127.0.0.1:5000",
    ];
    let state = dir.join("state");
    let env = [
        ("USER_PASSWD", "canary-user-passwd"),
        ("XTASK_STATE_DIR", state.as_str()),
    ];
    let connections = |uri: &str| {
        std::fs::write(
            dir.join("connections"),
            format!(
                r#"[{{"Name":"far","URI":"{uri}","Identity":"","IsMachine":false,"Default":true}}]"#
            ),
        )
        .unwrap();
        let _ = std::fs::remove_file(dir.join("calls"));
    };
    let calls = || std::fs::read_to_string(dir.join("calls")).unwrap_or_default();
    connections("tcp://10.0.0.5:8888");
    let ran = run(&bin, &tmp, &args, &env);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("podman connection far is tcp://10.0.0.5:8888")
            && ran.stderr.contains("no TLS"),
        "{}",
        ran.stderr
    );
    assert_eq!(calls(), "podman system connection list --format json\n");
    // the pasted plan stops at the same step
    let mut dry = vec!["--dry-run"];
    dry.extend_from_slice(&args);
    let script = run(&bin, &tmp, &dry, &env).ok().stdout;
    connections("tcp://10.0.0.5:8888");
    let pasted = Ran::of(
        std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env_clear()
            .env("PATH", format!("{bin}:/usr/bin:/bin"))
            .env("TMPDIR", tmp.as_str())
            .env("USER_PASSWD_FILE", secrets.as_str())
            .output()
            .unwrap(),
    );
    assert_eq!(pasted.code, 1, "{}", pasted.stderr);
    assert!(
        pasted.stderr.contains("read what podman connection far is"),
        "{}",
        pasted.stderr
    );
    assert_eq!(calls(), "podman system connection list --format json\n");
    // an ssh tunnel's end on this machine: the lanes run
    connections("tcp://127.0.0.1:8888");
    let tunnel = run(&bin, &tmp, &args, &env);
    assert!(
        calls().contains("podman --connection far build "),
        "{}\n{}",
        calls(),
        tunnel.stderr
    );
}

/// Run `cmd` for at most `limit` seconds, its output in files (a command it left running
/// cannot hold a pipe open): what it said, or a failure saying it hung.
fn bounded(mut cmd: std::process::Command, dir: &Utf8Path, limit: u64) -> Ran {
    let (out, err) = (dir.join("bounded.out"), dir.join("bounded.err"));
    cmd.stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let mut child = cmd.spawn().unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(limit) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after {limit}s, a device command unbounded:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    }
}

/// The stub device of tests/device/ssh-stub-device as `ssh`, with a registry (`skopeo`)
/// whose list has 2222... for amd64; the device in `dev`, booted 1111... .
fn stub_device(name: &str) -> (Utf8PathBuf, Utf8PathBuf) {
    let dir = scratch(name);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(
        repo_root().join("tests/device/ssh-stub-device"),
        bin.join("ssh"),
    )
    .unwrap();
    stub(
        &bin,
        "skopeo",
        r#"echo '{"schemaVersion":2,"manifests":[{"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","platform":{"architecture":"amd64","os":"linux"}}]}'"#,
    );
    (dir, bin)
}

/// Issue 29, item 7: a device that stops answering with the connection open (power lost
/// mid-command, a link that dropped) never hangs the tool: a single command past its limit
/// fails naming the step and the limit (exit 1), a wait's poll past it is a try that did
/// not answer, and the wait ends at its deadline (exit 3). With `--timeout 3s` the limits
/// are their floor, 10 s. ssh's keepalives are on every connection.
#[test]
fn a_device_that_stops_answering_ends_the_command_in_bounded_time() {
    let (dir, bin) = stub_device("stub-device-hangs");
    let dev = dir.join("dev");
    for (hang_on, code, says) in [
        (
            "bootc status --json",
            1,
            "step 1/18 (read the device's deployments) failed: ",
        ),
        (
            "systemctl show --property=LoadState,SubState greenboot-healthcheck.service",
            3,
            "(wait for greenboot's verdict on the booted image) timed out after 10s: ",
        ),
    ] {
        let _ = std::fs::remove_dir_all(&dev);
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(
            dev.join("booted"),
            "sha256:1111111111111111111111111111111111111111111111111111111111111111\n",
        )
        .unwrap();
        std::fs::write(dev.join("boot_id"), "first-boot\n").unwrap();
        std::fs::write(dev.join("hang-on"), format!("{hang_on}\n")).unwrap();
        let mut cmd = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
        cmd.args([
            "upgrade",
            "--host",
            "redhat@192.0.2.10",
            "--image",
            "quay.io/org/edge:v2",
            "--timeout",
            "3s",
        ])
        .env("STUB_DIR", dir.as_str())
        .env("TMPDIR", dir.as_str())
        .env("XTASK_STATE_DIR", dir.join("state").as_str());
        let started = std::time::Instant::now();
        let ran = bounded(cmd, &dir, 60);
        assert_eq!(ran.code, code, "{hang_on}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(says) && ran.stderr.contains("did not end within 10s: stopped"),
            "{hang_on}: {}",
            ran.stderr
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{hang_on}: took {:?}",
            started.elapsed()
        );
        let calls = std::fs::read_to_string(dir.join("calls.log")).unwrap();
        assert!(
            calls
                .lines()
                .all(|l| l.contains("-o ServerAliveInterval=10 -o ServerAliveCountMax=3")),
            "{calls}"
        );
    }
}

/// Ctrl-C at each stage of `upgrade` and `rollback` says what is left on the device, not
/// that `cargo xtask clean` undoes it (these plans keep no record): before anything changed,
/// nothing; during the pull, that only ssh was stopped and the device may still stage the
/// image; after the reboot was asked for (mid-pause of the wait for the device), that the
/// device may be rebooting; after `bootc rollback`, that a rollback may be queued.
#[test]
fn an_interrupted_device_plan_says_what_it_leaves_on_the_device() {
    let (dir, bin) = stub_device("stub-device-interrupted");
    let dev = dir.join("dev");
    const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    let upgrade: &[&str] = &["upgrade", "--image", "quay.io/org/edge:v2"];
    // the command, the device's control files, what shows the stage is running (the stub's
    // calls), what the error says
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 4] = [
        (
            upgrade,
            &[("hang-on", "bootc status --json")],
            "bootc status",
            "nothing on the device was changed by this run",
        ),
        (
            upgrade,
            &[("switch-seconds", "30")],
            "bootc switch",
            "the image may be staged on the device, or be once the pull finishes there (a stop ends the ssh session, not `bootc switch` on the device): it then boots at the device's next reboot",
        ),
        (
            upgrade,
            &[("boot-tries", "1000")],
            "systemctl reboot",
            "the device was asked to reboot into the new image (it may be rebooting now)",
        ),
        (
            &["rollback"],
            &[("rollback", NEW), ("hang-on", "bootc rollback")],
            "bootc rollback",
            "a rollback may be queued on the device: it boots its rollback deployment at its next reboot",
        ),
    ];
    for (args, control, running, says) in cases {
        let _ = std::fs::remove_dir_all(&dev);
        let _ = std::fs::remove_file(dir.join("calls.log"));
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(
            dev.join("booted"),
            "sha256:1111111111111111111111111111111111111111111111111111111111111111\n",
        )
        .unwrap();
        std::fs::write(dev.join("boot_id"), "first-boot\n").unwrap();
        for (file, text) in control {
            std::fs::write(dev.join(file), format!("{text}\n")).unwrap();
        }
        let mut cmd = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
        let child = cmd
            .args(args)
            .args(["--host", "redhat@192.0.2.10"])
            .env("STUB_DIR", dir.as_str())
            .env("TMPDIR", dir.as_str())
            .env("XTASK_STATE_DIR", dir.join("state").as_str())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !std::fs::read_to_string(dir.join("calls.log")).is_ok_and(|c| c.contains(running)) {
            assert!(
                std::time::Instant::now() < deadline,
                "{args:?}: `{running}` never ran"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let ran = Ran::of(child.wait_with_output().unwrap());
        assert_eq!(ran.code, 130, "{args:?}, {running}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("interrupted by SIGINT") && ran.stderr.contains(says),
            "{args:?}, {running}: no {says:?} in\n{}",
            ran.stderr
        );
        assert!(
            !ran.stderr.contains("cargo xtask clean"),
            "{args:?}, {running}: a device plan keeps no record:\n{}",
            ran.stderr
        );
    }
}

/// What a device says reaches the terminal in a check's error with its hidden characters
/// escaped: a staged reference holding an escape sequence (here one that retitles the
/// terminal), an 8-bit CSI and a right-to-left override cannot act on the terminal or hide
/// what follows.
#[test]
fn a_devices_words_in_an_error_cannot_drive_the_terminal() {
    let (dir, bin) = stub_device("stub-device-escapes");
    // a device whose staged deployment's reference is not what was asked for, and holds
    // hidden characters (JSON escapes: real characters once read)
    stub(
        &bin,
        "ssh",
        r#"case "$*" in
*"bootc status --json") printf '%s\n' '{"kind":"BootcHost","status":{"booted":{"image":{"image":{"image":"q.io/a/b:1","transport":"registry"},"imageDigest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","architecture":"amd64"}},"staged":{"image":{"image":{"image":"x\u001b]0;TITLE\u0007y\u009b2J\u202ez","transport":"registry"},"imageDigest":"sha256:9999999999999999999999999999999999999999999999999999999999999999","architecture":"amd64"}}}}' ;;
*"cat /proc/sys/kernel/random/boot_id") echo first-boot ;;
esac
exit 0"#,
    );
    let mut cmd = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
    cmd.args([
        "upgrade",
        "--host",
        "redhat@192.0.2.10",
        "--image",
        "quay.io/org/edge:v2",
    ])
    .env("TMPDIR", dir.as_str())
    .env("XTASK_STATE_DIR", dir.join("state").as_str());
    let ran = Ran::of(cmd.output().unwrap());
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let error = &ran.stderr[ran.stderr.find("error: ").expect(&ran.stderr)..];
    assert!(
        error.contains("the device staged sha256:9999")
            && error.contains("x\\u{1b}]0;TITLE\\u{7}y\\u{9b}2J\\u{202e}z"),
        "{error:?}"
    );
    assert!(
        !error.contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}']),
        "{error:?}"
    );
}

/// Issue 29, item 20: a wait ends at its deadline, not a pause after it: `--timeout 2s` with
/// tries 5 s apart is a try at 0 s, a pause of 2 s, a last try, and "timed out after 2s".
#[test]
fn a_wait_ends_at_its_deadline_not_a_pause_later() {
    let dir = scratch("stub-wait-deadline");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    stub(
        &bin,
        "podman",
        r#"case "$*" in
  "exec edge systemctl is-active microshift") echo activating; exit 3 ;;
esac
exit 0"#,
    );
    let started = std::time::Instant::now();
    let ran = run(
        &bin,
        &dir,
        &[
            "verify",
            "--container",
            "edge",
            "--timeout",
            "2s",
            "--interval",
            "20s",
        ],
        &[],
    );
    let took = started.elapsed();
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("(wait until the microshift service is active) timed out after 2s"),
        "{}",
        ran.stderr
    );
    // a pause past the deadline would end it after 20 s; margin for a loaded machine
    assert!(took < std::time::Duration::from_secs(12), "took {took:?}");
}
