//! Helpers shared by the integration tests.
#![allow(dead_code)]

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
        config,
        root,
        as_root,
    }
}

/// Replace the machine-specific repository path with [ROOT].
pub fn scrub(text: &str) -> String {
    text.replace(repo_root().as_str(), "[ROOT]")
}
