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
    let dir = scratch("stub-secrets");
    let bin = dir.join("bin");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
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
            &xtask::kickstart::base64(
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
        calls.contains("ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10 redhat@192.168.122.47 sudo systemctl is-active microshift"),
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
