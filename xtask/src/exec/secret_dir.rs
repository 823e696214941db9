//! The private directory secret files are written to: `$TMPDIR/xtask-secrets-<pid>-<nanos>`,
//! mode 0700, files 0600, removed when the plan (or its lane) ends; and the sweep of those
//! that killed processes left.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use anyhow::{anyhow, Context};
use camino::Utf8PathBuf;

/// The private directories for secret files are `$TMPDIR/xtask-secrets-<pid>-<nanos>`.
pub const SECRET_DIR_PREFIX: &str = "xtask-secrets-";

/// Remove the secret directories that processes which no longer exist left in the temp
/// directory (a SIGKILL cannot be caught). Only our own: owned by this user, named by us,
/// and their process gone.
pub fn sweep_stale_secret_dirs() {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let me = crate::record::effective_uid();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SECRET_DIR_PREFIX))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !meta.is_dir() || Some(meta.uid()) != me || pid == std::process::id() {
            continue;
        }
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = fs::remove_dir_all(entry.path());
    }
}

/// A private directory for secret files, made on first use, removed on drop.
#[derive(Default)]
pub(super) struct SecretDir {
    path: Option<Utf8PathBuf>,
    /// The files written so far, and what each holds: a step that runs again (a watch's
    /// every look) finds its file there, the same secret in it.
    written: std::collections::BTreeMap<String, Vec<u8>>,
}

impl SecretDir {
    /// The private directory, made on first use.
    pub(super) fn dir(&mut self) -> anyhow::Result<Utf8PathBuf> {
        if self.path.is_none() {
            let base = Utf8PathBuf::from_path_buf(std::env::temp_dir())
                .map_err(|_| anyhow!("the temp directory is not UTF-8"))?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = base.join(format!("{SECRET_DIR_PREFIX}{}-{nanos}", std::process::id()));
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("creating private directory {dir}"))?;
            self.path = Some(dir);
        }
        Ok(self.path.clone().expect("set above"))
    }

    pub(super) fn write(&mut self, name: &str, value: &[u8]) -> anyhow::Result<Utf8PathBuf> {
        let file = self.dir()?.join(name);
        if self
            .written
            .get(name)
            .is_some_and(|v| v.as_slice() == value)
        {
            return Ok(file);
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .with_context(|| format!("creating {file}"))?;
        f.write_all(value)
            .with_context(|| format!("writing {file}"))?;
        self.written.insert(name.to_string(), value.to_vec());
        Ok(file)
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.path {
            let _ = fs::remove_dir_all(dir);
        }
    }
}
