//! Secret inputs: the pull secret, registry auth files and passwords. Validated before
//! anything runs; their contents never appear in an error message.

use std::os::unix::fs::PermissionsExt;

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use crate::config::Sources;
use crate::validate;

/// A secret: a password, the bytes of a pull secret or auth file, a rendered kickstart.
/// The one type secret bytes live in, from reading to writing; `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(value: impl Into<Vec<u8>>) -> Secret {
        Secret(value.into())
    }
    /// The bytes themselves: to feed stdin, write a 0600 file or embed in the kickstart.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn bad_file(what: &str, path: &Utf8Path, why: impl std::fmt::Display) -> anyhow::Error {
    crate::validate::refuse(format!("{what}: '{path}': {why}"))
}

/// Read a JSON file that must exist and parse. Parse errors name line and column only.
pub fn read_json(what: &str, path: &Utf8Path) -> anyhow::Result<(Secret, Value)> {
    // a pull secret is a few kilobytes; a device or a huge file is not one
    let bytes = validate::read_bounded(what, path, 1 << 20)?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json's message quotes no input, only the position
        bad_file(
            what,
            path,
            format!("not valid JSON (line {}, column {})", e.line(), e.column()),
        )
    })?;
    Ok((Secret::new(bytes), doc))
}

/// A pull secret or containers-auth.json(5) file: a JSON object with an `auths` object.
pub fn auth_json(what: &str, path: &Utf8Path) -> anyhow::Result<(Secret, Value)> {
    let (bytes, doc) = read_json(what, path)?;
    if !doc.get("auths").is_some_and(Value::is_object) {
        return Err(bad_file(
            what,
            path,
            "has no \"auths\" object (is it a pull secret / containers-auth.json file?)",
        ));
    }
    Ok((bytes, doc))
}

/// The registries an auth file has credentials for.
pub fn auth_registries(doc: &Value) -> Vec<String> {
    doc.get("auths")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Permission bits of a file, if it can be read.
pub fn mode(path: &Utf8Path) -> Option<u32> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

/// A password from its file flag, else the file its `<ENV>_FILE` variable names (the name
/// printed plans use, `USER_PASSWD_FILE`), else its environment variable, as `input`
/// declares them. `None` when none is given.
pub fn password(
    sources: &Sources,
    input: &crate::inputs::Input,
    file: Option<&Utf8Path>,
) -> anyhow::Result<Option<Secret>> {
    let read = |what: &str, path: Utf8PathBuf| -> anyhow::Result<Option<Secret>> {
        let bytes = validate::read_bounded(what, &path, 64 << 10)?;
        let text =
            String::from_utf8(bytes).map_err(|_| bad_file(what, &path, "is not UTF-8 text"))?;
        Ok(Some(Secret::new(validate::password(what, &text)?)))
    };
    if let Some(path) = file {
        return read(input.flag, sources.flag_path(input.flag, path.as_str())?);
    }
    let Some(env) = input.env else {
        return Ok(None);
    };
    let file_env = format!("{env}_FILE");
    if let Some(path) = sources.env_var(&file_env)? {
        return read(&file_env, sources.flag_path(&file_env, &path)?);
    }
    match sources.env_var(env)? {
        Some(v) => Ok(Some(Secret::new(validate::password(env, &v)?))),
        None => Ok(None),
    }
}

/// Where a pull secret comes from, for the error that it is missing and for doctor.
pub const PULL_SECRET_HELP: &str = "download it from Red Hat's console (https://console.redhat.com/openshift/install/pull-secret, \"Download pull secret\"), save it with mode 600, and point PULL_SECRET, --pull-secret or pull_secret at it";

/// The registry auth file (AUTH_CONFIG) as this host has it.
pub enum AuthFile {
    /// None configured, or the config file's entry (written for every host) is not on this
    /// one (it has not logged in).
    None,
    /// There: its path and its bytes (a JSON object with `auths`, checked).
    Found(Utf8PathBuf, Secret),
    /// Named by a flag or an environment variable, and not there: `what` names where from.
    Missing { what: String, path: Utf8PathBuf },
}

/// The registry auth file from `--auth-config` (`flag`), AUTH_CONFIG or the config file.
pub fn registry_auth(sources: &Sources, flag: Option<&str>) -> anyhow::Result<AuthFile> {
    let Some(picked) = sources.value(&crate::inputs::AUTH_CONFIG, flag)? else {
        return Ok(AuthFile::None);
    };
    let path = sources.path(&picked)?;
    if path.exists() {
        let (bytes, _) = auth_json(&picked.what, &path)?;
        return Ok(AuthFile::Found(path, bytes));
    }
    Ok(if picked.origin == crate::config::Origin::Config {
        AuthFile::None
    } else {
        AuthFile::Missing {
            what: picked.what,
            path,
        }
    })
}

/// The resolved path of an existing pull secret, checked, and its bytes.
pub fn pull_secret(sources: &Sources, flag: Option<&str>) -> anyhow::Result<(Utf8PathBuf, Secret)> {
    let picked = sources.get(&crate::inputs::PULL_SECRET, flag)?;
    let path = sources.path(&picked)?;
    if std::fs::symlink_metadata(&path).is_err() {
        if sources.preview_without(format!(
            "the pull secret {path} ({}): {PULL_SECRET_HELP}",
            picked.what
        )) {
            return Ok((path, Secret::new(Vec::new())));
        }
        return Err(bad_file(
            &picked.what,
            &path,
            format!("does not exist: {PULL_SECRET_HELP}"),
        ));
    }
    let (bytes, _) = auth_json(&picked.what, &path)?;
    Ok((path, bytes))
}
