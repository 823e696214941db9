//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod flightctl;

use camino::Utf8PathBuf;
use xtask::config::{Config, Sources};

pub fn repo_root() -> Utf8PathBuf {
    xtask::config::project_root()
}

/// Sources as on a user's machine: the repository's own config file, fixture secrets, a
/// fixed HOME, and the given extra environment.
pub fn sources(as_root: bool, env: &[(&str, &str)]) -> Sources {
    let root = repo_root();
    let config = Config::load(&root.join(xtask::config::CONFIG_FILE)).unwrap();
    let mut map: std::collections::BTreeMap<String, String> = [
        ("HOME", root.join("tests/fixtures/home").to_string()),
        (
            "PULL_SECRET",
            root.join("tests/fixtures/pull-secret.json").to_string(),
        ),
        ("USER_PASSWD", "canary-user-passwd-4f1d".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in env {
        map.insert(k.to_string(), v.to_string());
    }
    Sources {
        env: map,
        env_not_utf8: Default::default(),
        config,
        cwd: root.clone(),
        record: xtask::record::Record {
            path: root.join(".xtask/record.json"),
            entries: Vec::new(),
        },
        record_error: None,
        root,
        as_root,
        host_kernel: "6.1.0-18-amd64".to_string(),
        preview: false,
        wanted: Default::default(),
    }
}

/// The host programs the tool may run: the stand-ins of `bad_input.rs` (which record any
/// call: bad input runs nothing) and `script.rs` (which answer as a host would) cover them
/// all.
pub const HOST_PROGRAMS: &[&str] = &[
    "podman",
    "skopeo",
    "virsh",
    "virt-install",
    "modprobe",
    "vgs",
    "vgcreate",
    "vgremove",
    "losetup",
    "truncate",
    "rm",
    "ssh",
    "tail",
    "mkdir",
    "mv",
    "df",
    "sha256sum",
    "sudo",
    "hadolint",
    "shellcheck",
    "ksvalidator",
    "dnf",
    "subscription-manager",
    "cpio",
    "mktemp",
    "chown",
    "install",
    "gpg",
    "ansible-inventory",
    "ansible-playbook",
    "find",
    "curl",
];

/// Replace the machine-specific repository path with [ROOT].
pub fn scrub(text: &str) -> String {
    text.replace(env!("CARGO_TARGET_TMPDIR"), "[TMP]")
        .replace(repo_root().as_str(), "[ROOT]")
}

/// True when running under CI (`CI=true`): missing tools and test beds are failures there.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Is `tool` on PATH? In CI a missing tool fails the test; locally it skips loudly.
pub fn require_tool(tool: &str, test: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()));
    if !found {
        assert!(
            !in_ci(),
            "{test}: `{tool}` is not installed, and CI must run this test (.ci/run installs it)"
        );
        eprintln!(
            "SKIPPED {test}: `{tool}` is not installed (scripts/testbed.sh install provides it)"
        );
    }
    found
}

/// The test bed started by `scripts/testbed.sh up`: its environment file, parsed.
pub struct Bed {
    pub dir: Utf8PathBuf,
    pub env: Vec<(String, String)>,
}

impl Bed {
    /// The bed named by XTASK_TESTBED, or the repository's `.testbed`. In CI a missing bed
    /// fails the test; locally the test is skipped with a reason.
    pub fn get(test: &str) -> Option<Bed> {
        let dir = std::env::var("XTASK_TESTBED")
            .map(Utf8PathBuf::from)
            .unwrap_or_else(|_| repo_root().join(".testbed"));
        let env_file = dir.join("env");
        let Ok(text) = std::fs::read_to_string(&env_file) else {
            assert!(
                !in_ci(),
                "{test}: the test bed is not up ({env_file} missing); .ci/run must start it"
            );
            eprintln!("SKIPPED {test}: no test bed at {dir} (run: sudo scripts/testbed.sh up)");
            return None;
        };
        let env = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Bed { dir, env })
    }

    pub fn var(&self, key: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the test bed's env has no {key}"))
    }

    /// A command with the bed's environment and none of the inputs a developer's shell may
    /// have set.
    pub fn command(&self, program: &str) -> std::process::Command {
        let mut c = std::process::Command::new(program);
        for k in [
            "IMAGE_NAME",
            "IMAGE_ARCH",
            "REGISTRY_URL",
            "REGISTRY_ORG",
            "PULL_SECRET",
            "AUTH_CONFIG",
            "USER_PASSWD",
            "REGISTRY_USER",
            "REGISTRY_PASSWORD",
            "VMNAME",
            "NETNAME",
        ] {
            c.env_remove(k);
        }
        // secrets from the env file are added by each test where it means to
        c.envs(
            self.env
                .iter()
                .filter(|(k, _)| k != "REGISTRY_PASSWORD" && k != "USER_PASSWD")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        c.current_dir(repo_root());
        c
    }

    /// `cargo xtask` (the built binary) in the bed.
    pub fn xtask(&self) -> std::process::Command {
        self.command(env!("CARGO_BIN_EXE_xtask"))
    }

    /// Run a helper command of the bed and return its stdout; panics on failure.
    pub fn read(&self, program: &str, args: &[&str]) -> String {
        let out = self.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `scripts/testbed.sh <args> <dir>`; panics when it fails.
    pub fn script(&self, args: &[&str]) {
        assert!(self.try_script(args), "testbed.sh {args:?} failed");
    }

    /// `scripts/testbed.sh <args> <dir>`: did it succeed? (For clean-up in `Drop`, which
    /// must not panic.)
    pub fn try_script(&self, args: &[&str]) -> bool {
        let script = repo_root().join("scripts/testbed.sh");
        self.command("bash")
            .arg(script.as_str())
            .args(args)
            .arg(self.dir.as_str())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// A finished command: exit code and both outputs.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn of(out: std::process::Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    #[track_caller]
    pub fn ok(self) -> Ran {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Are we root? Tests that chroot or loop-mount need it; in CI they must run.
pub fn require_root(test: &str) -> bool {
    let root = xtask::record::effective_uid() == Some(0);
    if !root {
        assert!(!in_ci(), "{test}: CI runs as root");
        eprintln!("SKIPPED {test}: needs root");
    }
    root
}

/// The body of a `%section` of a kickstart (up to its `%end`).
pub fn section(ks: &str, header: &str) -> String {
    let start = ks
        .lines()
        .position(|l| l.starts_with(header))
        .unwrap_or_else(|| panic!("no {header}"));
    ks.lines()
        .skip(start + 1)
        .take_while(|l| *l != "%end")
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// A minimal root with busybox's shell, base64, mkdir, chmod.
pub fn busybox_root(dir: &camino::Utf8Path) {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| camino::Utf8Path::new(p).exists())
        .expect("busybox");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    // written by `cp`, never by this process: a file this process holds open for writing is
    // inherited by every child another test's thread forks at that moment (until that
    // child's exec closes it), and exec'ing the copy while such a child still holds it fails
    // with ETXTBSY ("chroot: failed to run command '/bin/sh': Text file busy"), now and then,
    // the more often the busier the machine
    let copied = std::process::Command::new("cp")
        .args(["--", busybox, dir.join("bin/busybox").as_str()])
        .status()
        .unwrap();
    assert!(copied.success(), "cp {busybox} into {dir}: {copied}");
    for applet in ["sh", "base64", "mkdir", "chmod", "cat", "printf"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
}

/// The chroot program (found on our PATH: the chrooted shell gets PATH=/bin only).
pub fn chroot() -> &'static str {
    ["/usr/sbin/chroot", "/sbin/chroot", "/usr/bin/chroot"]
        .into_iter()
        .find(|p| camino::Utf8Path::new(p).exists())
        .expect("chroot")
}

/// A kickstart's `%pre-install` run as the installer runs it, in a fresh busybox chroot at
/// `root` (needs root and busybox: check with [`require_root`] and [`require_tool`]).
pub fn run_pre_install(root: &camino::Utf8Path, kickstart: &str) -> std::process::Output {
    let _ = std::fs::remove_dir_all(root);
    busybox_root(root);
    std::fs::write(root.join("pre.sh"), section(kickstart, "%pre-install")).unwrap();
    std::process::Command::new(chroot())
        .args([root.as_str(), "/bin/sh", "-e", "/pre.sh"])
        .env_clear()
        .env("PATH", "/bin")
        .output()
        .unwrap()
}

/// A file that reads as an ISO 9660 image with this volume label (the primary volume
/// descriptor is all that `vm` looks at).
pub fn fake_iso(path: &camino::Utf8Path, label: &str) {
    let mut bytes = vec![0u8; 18 * 2048];
    let pvd = 16 * 2048;
    bytes[pvd] = 1;
    bytes[pvd + 1..pvd + 6].copy_from_slice(b"CD001");
    let mut l = [b' '; 32];
    l[..label.len()].copy_from_slice(label.as_bytes());
    bytes[pvd + 40..pvd + 72].copy_from_slice(&l);
    std::fs::write(path, bytes).unwrap();
}

/// A private scratch directory under the target dir, made anew.
pub fn scratch(name: &str) -> Utf8PathBuf {
    let dir = Utf8PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The shape of a JSON document: keys and structure kept, each value replaced by its type,
/// an array by its distinct element shapes. Snapshotted, it documents the `--json` schema
/// without the run-specific values (or counts).
pub fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => {
            let mut distinct: Vec<Value> = Vec::new();
            for s in a.iter().map(shape) {
                if !distinct.contains(&s) {
                    distinct.push(s);
                }
            }
            Value::Array(distinct)
        }
        Value::String(_) => Value::String("<string>".into()),
        Value::Number(_) => Value::String("<number>".into()),
        Value::Bool(_) => Value::String("<bool>".into()),
        Value::Null => Value::Null,
    }
}

pub fn shape_text(doc: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(doc).expect("one JSON document on stdout");
    serde_json::to_string_pretty(&shape(&v)).unwrap()
}

/// The xtask binary with nothing of the caller's environment: run from the repository root,
/// with this PATH and the fixture HOME (whose `~/` paths do not exist).
pub fn isolated_xtask(path: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.current_dir(repo_root())
        .env_clear()
        .env("PATH", path)
        .env("HOME", repo_root().join("tests/fixtures/home").as_str());
    c
}

/// The fixture secrets a command needs to resolve its inputs: the pull secret and the
/// registry auth file of `tests/fixtures`.
pub fn with_fixture_secrets(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env(
        "PULL_SECRET",
        repo_root().join("tests/fixtures/pull-secret.json").as_str(),
    )
    .env(
        "AUTH_CONFIG",
        repo_root()
            .join("tests/fixtures/registry-auth.json")
            .as_str(),
    )
}

/// A scratch directory with `bin/` (for stub programs) and `tmp/` (a TMPDIR) in it.
pub fn scratch_bin_tmp(name: &str) -> (Utf8PathBuf, Utf8PathBuf, Utf8PathBuf) {
    let dir = scratch(name);
    let (bin, tmp) = (dir.join("bin"), dir.join("tmp"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    (dir, bin, tmp)
}

/// A step's argv from a plan's JSON (`plan.to_json()` or `--dry-run --json`).
pub fn argv(step: &serde_json::Value) -> Vec<String> {
    step["argv"]
        .as_array()
        .expect("a plan step has an argv")
        .iter()
        .map(|a| a.as_str().expect("argv holds strings").to_string())
        .collect()
}

/// The step of a plan's JSON with this id.
pub fn step<'a>(plan: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    plan["steps"]
        .as_array()
        .expect("a plan has steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in the plan"))
}

/// An executable file with this text (a stub program), written by a child process: a file
/// this process held open for writing is inherited by any child another test's thread forks
/// at that moment, until that child's exec, and running the file then fails with ETXTBSY
/// ("Text file busy").
pub fn write_executable(path: &camino::Utf8Path, text: &str) {
    use std::io::Write;
    let mut sh = std::process::Command::new("sh")
        .args([
            "-c",
            "cat > \"$1\" && chmod 755 \"$1\"",
            "sh",
            path.as_str(),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    sh.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(sh.wait().unwrap().success(), "writing {path}");
}

/// A small OCI layout of one image, as `skopeo copy ... oci:DIR` writes it (oci-layout,
/// index.json, its manifest, config and one layer under blobs/sha256): built here, byte by
/// byte, for the bundle's tests. Its manifest's bytes and digest.
pub fn oci_layout(dir: &camino::Utf8Path, arch: &str, note: &str) -> (String, String) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = xtask::digest::sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer, layer_size) = put(format!("test fixture layer: {arch} {note}\n").as_bytes());
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": { "Labels": { "org.opencontainers.image.version": note } },
        "rootfs": { "type": "layers", "diff_ids": [layer] },
    })
    .to_string();
    let (config, config_size) = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size }],
    })
    .to_string();
    let (digest, size) = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion": "1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size }],
        })
        .to_string(),
    )
    .unwrap();
    (manifest, digest)
}

/// A throwaway GPG key without a passphrase in a keyring of its own (`dir`, made anew): the
/// keyring, the key's fingerprint and its public key (exported, binary). `None` when gpg is
/// not installed (the caller skips, saying so).
pub fn gpg_key(dir: &camino::Utf8Path, name: &str) -> Option<(Utf8PathBuf, String, Utf8PathBuf)> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        std::process::Command::new("gpg")
            .env("GNUPGHOME", dir.as_str())
            .args(["--batch", "--quiet"])
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        name,
        "ed25519",
        "sign",
        "never",
    ])?;
    let listed = gpg(&["--with-colons", "--list-secret-keys"])?;
    let fpr = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .find(|l| l.starts_with("fpr:"))?
        .split(':')
        .nth(9)?
        .to_string();
    let public = dir.join("public.gpg");
    gpg(&["--yes", "--output", public.as_str(), "--export", &fpr])?;
    Some((dir.to_path_buf(), fpr, public))
}
