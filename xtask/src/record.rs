//! The record of what the tool made on this host: containers, loop files and devices,
//! volume groups and VMs; and, for `release`, what it pushed (reference, image id, digest). `run` and `vm` add to it step by step (before a step that makes
//! something, so that an interrupted step is undone too); `clean`, `vm --destroy` and
//! `verify` read it, and `clean` removes exactly what it lists, nothing else.
//!
//! One JSON file, `.xtask/record.json` at the repository root (or `$XTASK_STATE_DIR/
//! record.json`), mode 0600 in a 0700 directory, replaced atomically on every change.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Map, Value};

pub const FILE: &str = "record.json";
/// The record is small; anything larger is not ours.
const MAX_BYTES: u64 = 1 << 20;

/// One change to the record of what the tool made, tied to a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recording {
    /// Written before the step runs: what it is about to make (so that an interrupted step
    /// is undone too).
    Before(Entry),
    /// Written after the step succeeded (its fields may hold values the step captured).
    After(Entry),
    /// Removed after the step succeeded: the step undid it.
    Forget(Entry),
    /// Removed when this probe answers no: there is nothing left to undo.
    ForgetIfNo(Entry),
}

/// An entry of the record: a kind (`container`, `loop-file`, `loop-device`,
/// `volume-group`, `vm`) and its fields; the first field is its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: &'static str,
    pub fields: Vec<(&'static str, Field)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Text(String),
    /// A variable captured by this or an earlier step.
    Var(&'static str),
}

impl Entry {
    pub fn new(kind: &'static str, key: &'static str, value: impl Into<String>) -> Entry {
        Entry {
            kind,
            fields: vec![(key, Field::Text(value.into()))],
        }
    }
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Entry {
        self.fields.push((key, Field::Text(value.into())));
        self
    }
    pub fn with_var(mut self, key: &'static str, var: &'static str) -> Entry {
        self.fields.push((key, Field::Var(var)));
        self
    }
    /// `kind name=value ...` for plan comments.
    pub fn describe(&self) -> String {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| match v {
                Field::Text(t) => format!("{k}={t}"),
                Field::Var(n) => format!("{k}=${{{n}}}"),
            })
            .collect();
        format!("{} {}", self.kind, fields.join(" "))
    }
}

/// The entries of the record, oldest first. Each is a JSON object with `kind` and fields;
/// the first field after `kind` is its key (`name` or `path`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    pub path: Utf8PathBuf,
    pub entries: Vec<Map<String, Value>>,
}

/// The key field of each kind of entry.
pub fn key_of(kind: &str) -> &'static str {
    match kind {
        "loop-file" | "loop-device" => "file",
        _ => "name",
    }
}

impl Record {
    /// The record at `path`; an absent file is an empty record. What `clean` and
    /// `vm --destroy` remove comes from here, so a record is read only when no one else could
    /// have written it: its directory writable by nobody but its owner (the user running
    /// this, or root), the file a regular file (never a link) of the user running this, and
    /// of the shape the tool writes. Anything else is refused, never read as empty.
    pub fn load(path: &Utf8Path) -> anyhow::Result<Record> {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        let refuse = |why: String| {
            crate::validate::refuse(format!(
                "record '{path}': {why}; it lists what the tool made, and `clean` and `vm --destroy` remove what it lists"
            ))
        };
        let me = effective_uid();
        let dir = path.parent().unwrap_or(Utf8Path::new("."));
        if let Ok(d) = std::fs::metadata(if dir.as_str().is_empty() {
            Utf8Path::new(".")
        } else {
            dir
        }) {
            if d.mode() & 0o022 != 0 {
                return Err(refuse(format!(
                    "its directory '{dir}' can be written by other users (mode {:04o}), who could plant a record; make it 0700",
                    d.mode() & 0o7777
                )));
            }
            if d.uid() != 0 && Some(d.uid()) != me {
                return Err(refuse(format!(
                    "its directory '{dir}' belongs to another user (uid {})",
                    d.uid()
                )));
            }
        }
        let before = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Record {
                    path: path.to_path_buf(),
                    entries: Vec::new(),
                })
            }
            Err(e) => return Err(refuse(format!("cannot be read: {e}"))),
        };
        if before.file_type().is_symlink() {
            return Err(refuse(
                "is a symbolic link: refusing to follow it".to_string(),
            ));
        }
        if !before.is_file() {
            return Err(refuse("is not a regular file".to_string()));
        }
        if Some(before.uid()) != me {
            return Err(refuse(format!(
                "belongs to another user (uid {})",
                before.uid()
            )));
        }
        let file = std::fs::File::open(path).map_err(|e| refuse(format!("cannot be read: {e}")))?;
        // the file opened is the one checked (not swapped for a link in between)
        let opened = file
            .metadata()
            .map_err(|e| refuse(format!("cannot be read: {e}")))?;
        if (opened.dev(), opened.ino()) != (before.dev(), before.ino()) {
            return Err(refuse("changed while it was read".to_string()));
        }
        let mut bytes = Vec::new();
        file.take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| refuse(format!("cannot be read: {e}")))?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(refuse(
                "is larger than any record the tool writes".to_string(),
            ));
        }
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| refuse(format!("not valid JSON ({e}): fix or remove it")))?;
        let made = doc
            .as_object()
            .and_then(|o| o.get("made"))
            .and_then(Value::as_array)
            .ok_or_else(|| {
                refuse("is not a record of this tool (an object whose \"made\" is a list): fix or remove it".to_string())
            })?;
        let mut entries = Vec::new();
        for e in made {
            let entry = e
                .as_object()
                .filter(|o| o.get("kind").is_some_and(Value::is_string))
                .ok_or_else(|| {
                    refuse(format!(
                        "an entry is not an object with a \"kind\": {}",
                        crate::validate::show(&e.to_string())
                    ))
                })?;
            entries.push(entry.clone());
        }
        Ok(Record {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// Can the record at `path` be written? Checked before a plan that records anything
    /// runs, so that a record that cannot be kept stops the run before its first step, not
    /// after it made something. Makes its directory (0700) when missing, as writing would.
    pub fn check_writable(path: &Utf8Path) -> anyhow::Result<()> {
        let refuse = |why: String| {
            crate::validate::refuse(format!(
                "record '{path}' cannot be written ({why}); nothing was run. Set XTASK_STATE_DIR to a directory you can write, or run this as the user who wrote it"
            ))
        };
        Record::load(path)?;
        if let Some(why) = unsafe_target(path) {
            return Err(refuse(why));
        }
        let dir = path.parent().unwrap_or(Utf8Path::new("."));
        let dir = if dir.as_str().is_empty() {
            Utf8Path::new(".")
        } else {
            dir
        };
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| refuse(format!("cannot make {dir}: {e}")))?;
        }
        let probe = dir.join(format!(".record-probe-{}", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&probe)
            .map_err(|e| refuse(format!("cannot create a file in {dir}: {e}")))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }

    /// Entries of one kind, oldest first.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Map<String, Value>> {
        self.entries
            .iter()
            .filter(move |e| e.get("kind").and_then(Value::as_str) == Some(kind))
    }

    /// A field of the entry of `kind` whose key is `key`.
    pub fn find(&self, kind: &str, key: &str) -> Option<&Map<String, Value>> {
        let k = key_of(kind);
        self.entries.iter().find(|e| {
            e.get("kind").and_then(Value::as_str) == Some(kind)
                && e.get(k).and_then(Value::as_str) == Some(key)
        })
    }

    /// Add an entry, or replace the entry of the same kind and key: an entry says all that
    /// is known of what was made, never a field left over from something made before under
    /// the same name (a failed `vm` that recorded a disk, then a `vm --disk` of the user's
    /// own image).
    pub fn upsert(&mut self, entry: Map<String, Value>) {
        let kind = entry.get("kind").and_then(Value::as_str).unwrap_or("");
        let k = key_of(kind);
        let key = entry.get(k).cloned();
        match self.entries.iter_mut().find(|e| {
            e.get("kind").and_then(Value::as_str) == Some(kind) && e.get(k) == key.as_ref()
        }) {
            Some(old) => *old = entry,
            None => self.entries.push(entry),
        }
    }

    /// Remove the entry of `kind` with `key`.
    pub fn forget(&mut self, kind: &str, key: &str) {
        let k = key_of(kind);
        self.entries.retain(|e| {
            !(e.get("kind").and_then(Value::as_str) == Some(kind)
                && e.get(k).and_then(Value::as_str) == Some(key))
        });
    }

    /// Write the record: a new 0600 file beside it, renamed over it (never half-written).
    /// An empty record removes the file.
    pub fn save(&self) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Utf8Path::new("."));
        if !dir.as_str().is_empty() && !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {dir} for the record"))?;
        }
        if self.entries.is_empty() {
            match std::fs::remove_file(&self.path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e).with_context(|| format!("removing {}", self.path)),
            }
        }
        let doc = json!({
            "about": "what `cargo xtask run` and `vm` made on this host (`cargo xtask clean` and `vm --destroy` remove exactly that), and what `release` pushed (so that it is not pushed again)",
            "made": self.entries,
        });
        let text = serde_json::to_string_pretty(&doc)? + "\n";
        write_private(&self.path, text.as_bytes())
    }
}

/// Write these recordings into the record at `path`: entries made (their variable fields
/// filled from `vars`; a field whose variable is empty is left out) or forgotten. Lanes
/// update the record at the same time: one read-modify-write at a time.
pub fn apply(
    path: &Utf8Path,
    due: &[&Recording],
    vars: &std::collections::BTreeMap<&'static str, String>,
) -> anyhow::Result<()> {
    if due.is_empty() {
        return Ok(());
    }
    static RECORD_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = RECORD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut rec = Record::load(path)?;
    for r in due {
        match r {
            Recording::Before(e) | Recording::After(e) => {
                let mut entry = Map::new();
                entry.insert("kind".into(), json!(e.kind));
                for (k, v) in &e.fields {
                    let value = match v {
                        Field::Text(t) => t.clone(),
                        Field::Var(name) => match vars.get(name) {
                            Some(v) if !v.is_empty() => v.clone(),
                            _ => continue,
                        },
                    };
                    entry.insert((*k).into(), json!(value));
                }
                rec.upsert(entry);
            }
            Recording::Forget(e) | Recording::ForgetIfNo(e) => {
                if let Some((_, Field::Text(key))) = e.fields.first() {
                    rec.forget(e.kind, key);
                }
            }
        }
    }
    rec.save()
        .with_context(|| format!("updating the record {path}"))
}

/// Why an existing `target` must not be replaced by a file holding secrets, if it must not:
/// it is a symbolic link, not a regular file, or another user's (who could read them).
pub fn unsafe_target(target: &Utf8Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_symlink() => {
            Some("is a symbolic link: refusing to write secrets through it".to_string())
        }
        Ok(m) if !m.file_type().is_file() => Some("exists and is not a regular file".to_string()),
        Ok(m) if Some(m.uid()) != effective_uid() => Some(format!(
            "exists and belongs to another user (uid {}), who could read the secrets",
            m.uid()
        )),
        _ => None,
    }
}

/// Write `bytes` to `target` as a private file (0600): created new and exclusively (never
/// through a link) in the target's directory, then renamed into place. A target that
/// [`unsafe_target`] refuses is left alone.
pub fn write_private(target: &Utf8Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(why) = unsafe_target(target) {
        anyhow::bail!("'{target}' {why}");
    }
    let dir = target.parent().unwrap_or(Utf8Path::new("."));
    let dir = if dir.as_str().is_empty() {
        Utf8Path::new(".")
    } else {
        dir
    };
    let name = target.file_name().unwrap_or("file");
    // a name of its own: the process, a count of this process's writes (two threads in one
    // nanosecond must not meet), the time
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.xtask-{}-{n}-{nanos}", std::process::id()));
    let result = (|| {
        // create_new: O_CREAT|O_EXCL, which never follows a link
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {tmp}"))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {tmp}"))?;
        std::fs::rename(&tmp, target).with_context(|| format!("renaming {tmp} to {target}"))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The effective user id, from /proc (no libc needed).
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// Many threads writing one private file at once: every write lands whole, none fails
    /// on another's temporary file, nothing is left beside it.
    #[test]
    fn private_writes_at_once_each_land() {
        let dir = Utf8PathBuf::from_path_buf(
            std::env::temp_dir().join(format!("xtask-private-test-{}", std::process::id())),
        )
        .unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("secret");
        std::thread::scope(|s| {
            for t in 0..4 {
                let target = &target;
                s.spawn(move || {
                    for i in 0..200 {
                        write_private(target, format!("{t}-{i}").as_bytes()).unwrap();
                    }
                });
            }
        });
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(std::fs::read_to_string(&target).unwrap().contains('-'));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn upsert_forget_save_load() {
        let dir = std::env::temp_dir().join(format!("xtask-record-test-{}", std::process::id()));
        let path = Utf8PathBuf::from_path_buf(dir.join("state/record.json")).unwrap();
        let mut r = Record::load(&path).unwrap();
        assert!(r.entries.is_empty());
        r.upsert(entry(json!({"kind": "container", "name": "a"})));
        r.upsert(entry(
            json!({"kind": "container", "name": "a", "id": "123"}),
        ));
        r.upsert(entry(json!({"kind": "loop-file", "file": "/x.img"})));
        r.save().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = Record::load(&path).unwrap();
        assert_eq!(back.entries.len(), 2);
        assert_eq!(back.find("container", "a").unwrap()["id"], "123");
        let mut back = back;
        back.forget("container", "a");
        back.forget("loop-file", "/x.img");
        back.save().unwrap();
        assert!(!path.exists(), "an empty record is no file");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn private_files_refuse_links() {
        let dir = std::env::temp_dir().join(format!("xtask-private-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = Utf8PathBuf::from_path_buf(dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.join("out.ks");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(write_private(&link, b"secret").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let plain = dir.join("plain.ks");
        write_private(&plain, b"one").unwrap();
        write_private(&plain, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), "two");
        let _ = std::fs::remove_dir_all(dir);
    }
}
