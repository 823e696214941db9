//! Start-up: [`Sources`] read from the process (its environment, current directory, the
//! config file and the record), and the repository root.

use std::collections::BTreeMap;

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};

use super::{Config, Sources};

impl Sources {
    /// The environment as it is, the config file from `--config` (or `XTASK_CONFIG`, or the
    /// repository's own).
    pub fn from_process(
        root: Utf8PathBuf,
        config: Option<&str>,
        preview: bool,
    ) -> anyhow::Result<Sources> {
        let mut env = BTreeMap::new();
        let mut env_not_utf8 = std::collections::BTreeSet::new();
        for (k, v) in std::env::vars_os() {
            let Ok(k) = k.into_string() else { continue };
            match v.into_string() {
                Ok(v) => {
                    env.insert(k, v);
                }
                Err(_) => {
                    env_not_utf8.insert(k);
                }
            }
        }
        let cwd = Utf8PathBuf::from_path_buf(std::env::current_dir().context("current directory")?)
            .map_err(|p| anyhow::anyhow!("the current directory is not UTF-8: {}", p.display()))?;
        // the config file and the state directory are found before there is a config file
        // to read: flag > environment > default (relative to where the value came from)
        let early =
            |input: &crate::inputs::Input, flag: Option<&str>| -> anyhow::Result<Utf8PathBuf> {
                let label = if input.flag.is_empty() {
                    input.env.unwrap_or("")
                } else {
                    input.flag
                };
                let given = flag.map(str::to_string).or_else(|| {
                    input
                        .env
                        .and_then(|e| env.get(e))
                        .filter(|v| !v.is_empty())
                        .cloned()
                });
                Ok(match given {
                    Some(p) => {
                        crate::validate::no_control(label, &p)?;
                        cwd.join(p)
                    }
                    None => root.join(input.default.unwrap_or_default()),
                })
            };
        let config = Config::load(&early(&crate::inputs::CONFIG, config)?)?;
        let record_path = early(&crate::inputs::STATE_DIR, None)?.join(crate::record::FILE);
        // a record the user cannot read (written through sudo by root) is an error only for
        // the commands that use it
        let (record, record_error) = match crate::record::Record::load(&record_path) {
            Ok(r) => (r, None),
            Err(e) => (
                crate::record::Record {
                    path: record_path.clone(),
                    entries: Vec::new(),
                },
                Some(format!(
                    "{e:#} (if it was written through sudo, run this with sudo too, or remove it once nothing it lists is left)"
                )),
            ),
        };
        Ok(Sources {
            env,
            env_not_utf8,
            config,
            root,
            cwd,
            record,
            record_error,
            as_root: crate::record::effective_uid() == Some(0),
            host_kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".to_string()),
            preview,
            wanted: Default::default(),
        })
    }
}

/// The repository root (the parent of the xtask crate).
pub fn project_root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in a workspace")
        .to_path_buf()
}
