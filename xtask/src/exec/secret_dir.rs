//! The private directory secret files are written to: `$TMPDIR/xtask-secrets-<pid>-<n>-<nanos>`,
//! mode 0700, files 0600, removed when the plan (or its lane) ends; and the sweep of those
//! that killed processes left.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use anyhow::{anyhow, Context};
use camino::Utf8PathBuf;

/// The private directories for secret files are `$TMPDIR/xtask-secrets-<pid>-<n>-<nanos>`.
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

/// A name no other secret directory of this process has: the process id (what the sweep
/// reads), a count of this process's directories (two lanes that start at the same
/// nanosecond once made the same name, and the second failed with "File exists"), and the
/// time (so that the name is not known in advance).
fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static MADE: AtomicU64 = AtomicU64::new(0);
    let n = MADE.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{SECRET_DIR_PREFIX}{}-{n}-{nanos}", std::process::id())
}

/// Make a new private directory (0700) in `base`, named by `name`; a name that exists
/// already (left by a process whose id this one has now, or made by someone else in a shared
/// temp directory) is never used: the next name is tried, a few times.
fn private_dir_in(
    base: &camino::Utf8Path,
    mut name: impl FnMut() -> String,
) -> anyhow::Result<Utf8PathBuf> {
    let mut tries = 0;
    loop {
        let dir = base.join(name());
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 16 => tries += 1,
            Err(e) => return Err(e).with_context(|| format!("creating private directory {dir}")),
        }
    }
}

impl SecretDir {
    /// The private directory, made on first use.
    pub(super) fn dir(&mut self) -> anyhow::Result<Utf8PathBuf> {
        if self.path.is_none() {
            let base = Utf8PathBuf::from_path_buf(std::env::temp_dir())
                .map_err(|_| anyhow!("the temp directory is not UTF-8"))?;
            self.path = Some(private_dir_in(&base, unique_name)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Two lanes of one plan start at once: each gets a directory of its own. (Before: the
    /// name was the process id and the nanosecond only, and a CI run failed with "creating
    /// private directory ...: File exists" when two lanes met in one nanosecond; a name
    /// that exists is now passed over.)
    #[test]
    fn a_name_that_exists_is_passed_over() {
        let base = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .unwrap()
            .join(format!("secret-dir-test-{}", std::process::id()));
        // (what a run of this test that stopped half way left)
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        let mut names = ["same", "same", "other"].into_iter();
        let first = private_dir_in(&base, || names.next().unwrap().to_string()).unwrap();
        let second = private_dir_in(&base, || names.next().unwrap().to_string()).unwrap();
        assert_eq!(first, base.join("same"));
        assert_eq!(second, base.join("other"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&second).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // the names this process makes never repeat, from many threads at once
        let made: Vec<String> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..500).map(|_| unique_name()).collect::<Vec<_>>()))
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        let distinct: std::collections::BTreeSet<&String> = made.iter().collect();
        assert_eq!(distinct.len(), made.len());
        assert!(made[0].starts_with(&format!("{SECRET_DIR_PREFIX}{}-", std::process::id())));
        fs::remove_dir_all(&base).unwrap();
    }
}
