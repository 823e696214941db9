//! The stand-in flightctl API (tests/flightctl/standin.py, a TEST FIXTURE) for the tests of
//! `rollout --flightctl` and `doctor --for rollout --flightctl`: started on a free port of
//! 127.0.0.1 with a scripted fleet, its requests and its OpenAPI violations read back, and a
//! skopeo stand-in serving the release's list (amd64 and arm64) for the pin.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};

use super::{in_ci, repo_root};

/// The token the stand-in takes.
pub const TOKEN: &str = "canary-flightctl-token-5e1f";
/// What the devices ran before: each architecture's digest of the last release.
pub const OLD_AMD64: &str =
    "sha256:a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0";
pub const OLD_ARM64: &str =
    "sha256:b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
/// The release rolled out: each architecture's image in its list.
pub const NEW_AMD64: &str =
    "sha256:a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
pub const NEW_ARM64: &str =
    "sha256:b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1";
pub const REPO: &str = "quay.io/xtask-flightctl/edge";
/// The fleet's image before the rollout.
pub const OLD_IMAGE: &str = "quay.io/xtask-flightctl/edge@sha256:0101010101010101010101010101010101010101010101010101010101010101";

/// The release's list as the registry serves it (bytes), and its digest.
pub fn list() -> (String, String) {
    let list = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": NEW_AMD64, "size": 500, "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": NEW_ARM64, "size": 500, "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    })
    .to_string();
    let digest = xtask::digest::digest(list.as_bytes());
    (list, digest)
}

/// The reference every device is given: the list by its digest.
pub fn pinned() -> String {
    format!("{REPO}@{}", list().1)
}

/// A device of a scenario: its name, architecture, what it runs, how its update goes
/// (`ok`, `rollback`, `unknown`).
pub fn device(name: &str, arch: &str, digest: &str, behaviour: &str) -> Value {
    json!({"name": name, "arch": arch, "digest": digest, "image": OLD_IMAGE, "behaviour": behaviour})
}

/// A scenario: the fleet `edge` with these devices (and this rollout policy).
pub fn scenario(devices: Vec<Value>, policy: Option<Value>) -> Value {
    let mut fleet = json!({"name": "edge", "image": OLD_IMAGE});
    if let Some(p) = policy {
        fleet["rolloutPolicy"] = p;
    }
    json!({
        "token": TOKEN,
        "fleet": fleet,
        "devices": devices,
        "images": {pinned(): {"amd64": NEW_AMD64, "arm64": NEW_ARM64}},
        "update_seconds": 1.0,
    })
}

/// Can the stand-in run here (python3 with openapi-core)? In CI it must: scripts/test.sh
/// installs openapi-core; locally the test is skipped with the reason.
pub fn available(test: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import openapi_core"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !in_ci(),
            "{test}: python3 with openapi-core is needed for the stand-in flightctl API, and CI must run this test (scripts/test.sh installs it)"
        );
        eprintln!(
            "SKIPPED {test}: python3 with openapi-core is not installed (`python3 -m pip install openapi-core==0.23.1`, as scripts/test.sh does)"
        );
    }
    ok
}

/// A running stand-in, stopped when dropped.
pub struct Standin {
    pub dir: Utf8PathBuf,
    pub url: String,
    child: std::process::Child,
}

impl Standin {
    /// Start it in `dir` (its state: port, requests, violations) with this scenario; with
    /// `tls`, over https with that certificate and key.
    pub fn start(dir: &Utf8Path, scenario: &Value, tls: Option<(&Utf8Path, &Utf8Path)>) -> Standin {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join("scenario.json");
        std::fs::write(&file, scenario.to_string()).unwrap();
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(repo_root().join("tests/flightctl/standin.py").as_str())
            .arg(file.as_str())
            .arg(dir.as_str())
            .args(["--lifetime", "240"])
            .stdout(std::fs::File::create(dir.join("out.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("err.log")).unwrap());
        if let Some((cert, key)) = tls {
            cmd.args(["--tls", cert.as_str(), key.as_str()]);
        }
        let child = cmd.spawn().unwrap();
        let port_file = dir.join("port");
        let started = std::time::Instant::now();
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p.trim().to_string();
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the stand-in flightctl API did not start: {}",
                std::fs::read_to_string(dir.join("err.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        Standin {
            dir: dir.to_path_buf(),
            url: format!("{scheme}://127.0.0.1:{port}"),
            child,
        }
    }

    /// Every request it got, in order.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The bodies of the PATCH requests it got (the patches sent).
    pub fn patches(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["method"] == "PATCH")
            .map(|r| r["body"].clone())
            .collect()
    }

    /// Forget the requests so far.
    pub fn forget(&self) {
        let _ = std::fs::remove_file(self.dir.join("requests.jsonl"));
    }

    /// What broke flightctl's OpenAPI document: a request the tool sent or a response the
    /// stand-in made (empty: nothing).
    pub fn violations(&self) -> String {
        std::fs::read_to_string(self.dir.join("violations.txt")).unwrap_or_default()
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("stop"), "");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory of stand-in programs for the rollout: skopeo serves the release's list (the
/// pin); everything else is the host's (curl, jq).
pub fn bin(dir: &Utf8Path) -> Utf8PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let served = dir.join("list.json");
    std::fs::write(&served, list().0).unwrap();
    super::write_executable(
        &bin.join("skopeo"),
        &format!(
            "#!/bin/sh\n# TEST FIXTURE: the registry's answer to `skopeo inspect --raw`, the release's list\ncat {served}\n"
        ),
    );
    bin
}

/// A self-signed certificate for 127.0.0.1 (its own CA) and its key, made with openssl.
pub fn certificate(dir: &Utf8Path) -> (Utf8PathBuf, Utf8PathBuf) {
    let (cert, key) = (dir.join("api.pem"), dir.join("api-key.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            key.as_str(),
            "-out",
            cert.as_str(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
