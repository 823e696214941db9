//! Where inputs come from: flag > environment variable > the checked-in config file >
//! built-in default. [`Sources`] is read once at start-up; everything after it is pure.

use std::collections::BTreeMap;

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{Map, Value};

use crate::validate::bad;

/// The config file at the repository root that a fork edits.
pub const CONFIG_FILE: &str = "microshift-image.json";

/// What type a config key's value has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string (or null).
    Text,
    /// A whole number, or a string holding one (or null).
    Number,
    /// A list of strings (or null).
    List,
    /// The `images` list of objects (checked by [`Config::images`]).
    Images,
    /// true or false (or null).
    Bool,
}

/// The largest config file read (a fork's config is a few kilobytes).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The parsed config file: a flat map from dotted keys to values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    pub path: String,
    values: BTreeMap<String, Value>,
}

impl Config {
    pub fn parse(path: &str, text: &str) -> anyhow::Result<Config> {
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| crate::validate::refuse(format!("{path}: not valid JSON: {e}")))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| crate::validate::refuse(format!("{path}: must be a JSON object")))?;
        let mut values = BTreeMap::new();
        flatten(path, obj, &mut values)?;
        for (key, value) in &values {
            // the keys are those of the declared inputs (inputs.rs)
            let Some(kind) = crate::inputs::by_key(key).map(|i| i.kind) else {
                let known: Vec<&str> = crate::inputs::ALL.iter().filter_map(|i| i.key).collect();
                return Err(crate::validate::refuse(format!(
                    "{path}: unknown key '{key}' (known keys: {})",
                    known.join(", ")
                )));
            };
            let ok = match (kind, value) {
                (_, Value::Null) => true,
                (Kind::Text, Value::String(_)) => true,
                (Kind::Number, Value::Number(n)) => n.is_u64(),
                (Kind::Number, Value::String(_)) => true,
                (Kind::List, Value::Array(items)) => items.iter().all(Value::is_string),
                (Kind::Images, Value::Array(_)) => true,
                (Kind::Bool, Value::Bool(_)) => true,
                _ => false,
            };
            if !ok {
                let want = match kind {
                    Kind::Text => "a string",
                    Kind::Number => "a whole number",
                    Kind::List => "a list of strings",
                    Kind::Images => "a list of objects",
                    Kind::Bool => "true or false",
                };
                return Err(bad(
                    &format!("{path}: {key}"),
                    &value.to_string(),
                    format!("must be {want}"),
                ));
            }
            let mut texts = Vec::new();
            collect_strings(value, &mut texts);
            for t in texts {
                crate::validate::no_control(&format!("{path}: {key}"), t)?;
            }
        }
        Ok(Config {
            path: path.to_string(),
            values,
        })
    }

    pub fn load(path: &Utf8Path) -> anyhow::Result<Config> {
        let bytes = crate::validate::read_bounded("--config", path, MAX_CONFIG_BYTES)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| crate::validate::bad("--config", path.as_str(), "is not UTF-8 text"))?;
        Config::parse(path.as_str(), &text)
    }

    /// A scalar value as text (numbers are turned into their decimal text).
    pub fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(bad(
                &format!("{}: {key}", self.path),
                &other.to_string(),
                "must be a string or a number",
            )),
        }
    }

    /// A list of strings.
    pub fn get_list(&self, key: &str) -> anyhow::Result<Option<Vec<String>>> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(bad(
                        &format!("{}: {key}", self.path),
                        &other.to_string(),
                        "must be a list of strings",
                    )),
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(bad(
                &format!("{}: {key}", self.path),
                &other.to_string(),
                "must be a list of strings",
            )),
        }
    }

    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }
}

/// The file's keys as dotted names: the objects `vm`, `lvm`, `disk` and `embed` are opened,
/// nothing else.
fn flatten(
    path: &str,
    obj: &Map<String, Value>,
    out: &mut BTreeMap<String, Value>,
) -> anyhow::Result<()> {
    for (k, v) in obj {
        if k.contains('.') {
            return Err(crate::validate::refuse(format!(
                "{path}: unknown key '{k}' (a nested key goes inside its object, e.g. {{\"vm\": {{\"vcpus\": 4}}}})"
            )));
        }
        match (k.as_str(), v) {
            ("vm" | "lvm" | "disk" | "embed", Value::Object(inner)) => {
                for (ik, iv) in inner {
                    out.insert(format!("{k}.{ik}"), iv.clone());
                }
            }
            ("vm" | "lvm" | "disk" | "embed", Value::Null) => {}
            ("vm" | "lvm" | "disk" | "embed", other) => {
                return Err(bad(
                    &format!("{path}: {k}"),
                    &other.to_string(),
                    "must be an object",
                ))
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// A resolved value and a label naming where it came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picked {
    pub value: String,
    pub what: String,
    pub origin: Origin,
}

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env,
    Config,
    Default,
}

/// Everything outside the plan that inputs come from, read once.
#[derive(Clone, Debug)]
pub struct Sources {
    pub env: BTreeMap<String, String>,
    /// Environment variables whose value is not UTF-8: an error when an input reads one.
    pub env_not_utf8: std::collections::BTreeSet<String>,
    pub config: Config,
    /// The repository root: relative paths in the config file are relative to it.
    pub root: Utf8PathBuf,
    /// The current directory: relative paths from flags and the environment are relative
    /// to it, as in any command-line tool.
    pub cwd: Utf8PathBuf,
    /// What the tool made on this host (`record.rs`). Read it through [`Sources::record`].
    pub record: crate::record::Record,
    /// Why the record could not be read, if it could not.
    pub record_error: Option<String>,
    pub as_root: bool,
    /// The running kernel's release (`uname -r`), for reports.
    pub host_kernel: String,
}

impl Sources {
    /// `flag` is the flag's name (e.g. `--image-name`), `value` what was given on the
    /// command line, `env` the environment variable and `key` the config key.
    fn pick(
        &self,
        flag: &str,
        value: Option<&str>,
        env: Option<&str>,
        key: Option<&str>,
    ) -> anyhow::Result<Option<Picked>> {
        if let Some(v) = value {
            crate::validate::no_control(flag, v)?;
            return Ok(Some(Picked {
                value: v.to_string(),
                what: flag.to_string(),
                origin: Origin::Flag,
            }));
        }
        if let Some(name) = env {
            if let Some(v) = self.env_var(name)? {
                let what = format!("{flag} (from {name})");
                crate::validate::no_control(&what, &v)?;
                return Ok(Some(Picked {
                    value: v,
                    what,
                    origin: Origin::Env,
                }));
            }
        }
        if let Some(k) = key {
            if let Some(v) = self.config.get(k)? {
                return Ok(Some(Picked {
                    value: v,
                    what: format!("{flag} (from {}: {k})", self.config.path),
                    origin: Origin::Config,
                }));
            }
        }
        Ok(None)
    }

    /// A declared input (`inputs.rs`): the flag's value, else its environment variable, else
    /// its config key, else its default. `None` when none of them gives one.
    pub fn value(
        &self,
        input: &crate::inputs::Input,
        flag: Option<&str>,
    ) -> anyhow::Result<Option<Picked>> {
        Ok(self
            .pick(input.flag, flag, input.env, input.key)?
            .or_else(|| {
                input.default.map(|d| Picked {
                    value: d.to_string(),
                    what: format!("{} (default)", input.flag),
                    origin: Origin::Default,
                })
            }))
    }

    /// Like [`Sources::value`], but the value is required: missing, the error names every
    /// way to give it.
    pub fn get(&self, input: &crate::inputs::Input, flag: Option<&str>) -> anyhow::Result<Picked> {
        self.value(input, flag)?
            .ok_or_else(|| self.missing(input.flag, input.env, input.key))
    }

    /// Like [`Sources::value`], with a default that depends on other inputs (the container
    /// name defaults to the image name).
    pub fn value_or(
        &self,
        input: &crate::inputs::Input,
        flag: Option<&str>,
        default: &str,
    ) -> anyhow::Result<Picked> {
        Ok(self.value(input, flag)?.unwrap_or_else(|| Picked {
            value: default.to_string(),
            what: format!("{} (default)", input.flag),
            origin: Origin::Default,
        }))
    }

    /// The registries.conf podman uses (`CONTAINERS_REGISTRIES_CONF`), which skopeo must be
    /// handed with `--registries-conf` (it ignores the variable).
    pub fn registries_conf(&self) -> Option<Utf8PathBuf> {
        self.env
            .get("CONTAINERS_REGISTRIES_CONF")
            .filter(|v| !v.is_empty())
            .map(Utf8PathBuf::from)
    }

    /// A list input: the flag's values when given, else its config list, else its default
    /// (comma-separated). Returns where the values came from, for error messages.
    pub fn list(
        &self,
        input: &crate::inputs::Input,
        flag: &[String],
    ) -> anyhow::Result<(String, Vec<String>)> {
        if !flag.is_empty() {
            for v in flag {
                crate::validate::no_control(input.flag, v)?;
            }
            return Ok((input.flag.to_string(), flag.to_vec()));
        }
        if let Some(k) = input.key {
            if let Some(items) = self.config.get_list(k)? {
                return Ok((
                    format!("{} (from {}: {k})", input.flag, self.config.path),
                    items,
                ));
            }
        }
        let items = input
            .default
            .map(|d| d.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default();
        Ok((format!("{} (default)", input.flag), items))
    }

    /// A yes/no input: on when its flag is given, else its config value (true or false),
    /// else its default.
    pub fn switch(&self, input: &crate::inputs::Input, flag: bool) -> anyhow::Result<bool> {
        if flag {
            return Ok(true);
        }
        match self.value(input, None)? {
            None => Ok(false),
            Some(p) => match p.value.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(bad(&p.what, other, "must be true or false")),
            },
        }
    }

    fn missing(&self, flag: &str, env: Option<&str>, key: Option<&str>) -> anyhow::Error {
        let mut ways = vec![flag.to_string()];
        if let Some(e) = env {
            ways.push(e.to_string());
        }
        if let Some(k) = key {
            ways.push(format!("'{k}' in {}", self.config.path));
        }
        crate::validate::refuse(format!("{flag}: missing; set {}", ways.join(" or ")))
    }

    /// The record of what the tool made; an error when its file exists but cannot be read.
    pub fn record(&self) -> anyhow::Result<&crate::record::Record> {
        match &self.record_error {
            Some(why) => Err(crate::validate::refuse(why.clone())),
            None => Ok(&self.record),
        }
    }

    /// An environment variable's value: `None` when unset or empty, an error when it is not
    /// UTF-8 (rather than acting as if it were unset).
    pub fn env_var(&self, name: &str) -> anyhow::Result<Option<String>> {
        if self.env_not_utf8.contains(name) {
            return Err(crate::validate::refuse(format!(
                "{name}: its value is not valid UTF-8"
            )));
        }
        Ok(self.env.get(name).filter(|v| !v.is_empty()).cloned())
    }

    /// A path: `~/` expands to `$HOME`; a relative path is relative to the current
    /// directory when it came from a flag or the environment, to the repository root when it
    /// came from the config file or a default. The result is absolute (so it can never be
    /// read as an option by the command it is given to).
    pub fn path(&self, picked: &Picked) -> anyhow::Result<Utf8PathBuf> {
        let v = picked.value.as_str();
        if v.is_empty() || v.contains('\0') {
            return Err(bad(&picked.what, v, "not a usable path"));
        }
        crate::validate::no_control(&picked.what, v)?;
        if let Some(rest) = v.strip_prefix("~/") {
            let home = self
                .env_var("HOME")?
                .ok_or_else(|| bad(&picked.what, v, "starts with ~/ but HOME is not set"))?;
            if !home.starts_with('/') {
                return Err(bad(
                    &picked.what,
                    v,
                    format!("starts with ~/ but HOME ('{home}') is not an absolute path"),
                ));
            }
            return Ok(Utf8PathBuf::from(home).join(rest));
        }
        let p = Utf8PathBuf::from(v);
        Ok(if p.is_absolute() {
            p
        } else {
            match picked.origin {
                Origin::Flag | Origin::Env => self.cwd.join(p),
                Origin::Config | Origin::Default => self.root.join(p),
            }
        })
    }

    /// A path given by a flag that has no other source (e.g. `--pods-file`).
    pub fn flag_path(&self, flag: &str, value: &str) -> anyhow::Result<Utf8PathBuf> {
        self.path(&Picked {
            value: value.to_string(),
            what: flag.to_string(),
            origin: Origin::Flag,
        })
    }

    /// The environment as it is, the config file from `--config` (or `XTASK_CONFIG`, or the
    /// repository's own).
    pub fn from_process(root: Utf8PathBuf, config: Option<&str>) -> anyhow::Result<Sources> {
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
        let path = match config
            .map(str::to_string)
            .or_else(|| env.get("XTASK_CONFIG").cloned())
        {
            Some(p) => {
                crate::validate::no_control("--config", &p)?;
                cwd.join(p)
            }
            None => root.join(CONFIG_FILE),
        };
        let config = Config::load(&path)?;
        let record_path = match env.get("XTASK_STATE_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => {
                crate::validate::no_control("XTASK_STATE_DIR", dir)?;
                cwd.join(dir).join(crate::record::FILE)
            }
            None => root.join(".xtask").join(crate::record::FILE),
        };
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
            as_root: effective_uid() == Some(0),
            host_kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".to_string()),
        })
    }
}

/// The effective user id, from /proc (no libc needed).
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The repository root (the parent of the xtask crate).
pub fn project_root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in a workspace")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(env: &[(&str, &str)], config: &str) -> Sources {
        Sources {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            env_not_utf8: ["BROKEN".to_string()].into_iter().collect(),
            config: Config::parse("cfg.json", config).unwrap(),
            cwd: Utf8PathBuf::from("/work/dir"),
            record: Default::default(),
            record_error: None,
            root: Utf8PathBuf::from("/repo"),
            as_root: true,
            host_kernel: "6.1.0-test".to_string(),
        }
    }

    #[test]
    fn precedence() {
        let s = sources(
            &[("IMAGE_NAME", "from-env")],
            r#"{"image_name": "from-config"}"#,
        );
        let p = |flag| s.get(&crate::inputs::IMAGE_NAME, flag).unwrap();
        assert_eq!(p(Some("from-flag")).value, "from-flag");
        assert_eq!(p(None).value, "from-env");
        assert_eq!(p(None).what, "--image-name (from IMAGE_NAME)");
        let s = sources(&[], r#"{"image_name": "from-config"}"#);
        let got = s.get(&crate::inputs::IMAGE_NAME, None).unwrap();
        assert_eq!(got.value, "from-config");
        assert_eq!(got.what, "--image-name (from cfg.json: image_name)");
        let got = s.get(&crate::inputs::NETWORK, None).unwrap();
        assert_eq!(got.value, "default");
        assert_eq!(got.what, "--network (default)");
        let e = s
            .get(&crate::inputs::REGISTRY_URL, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--registry-url: missing; set --registry-url or REGISTRY_URL or 'registry_url' in cfg.json"),
            "{e}"
        );
    }

    #[test]
    fn config_errors() {
        assert!(Config::parse("c", "{").is_err());
        assert!(Config::parse("c", "[]").is_err());
        let e = Config::parse("c", r#"{"imgae_name": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key 'imgae_name'"), "{e}");
        let c = Config::parse("c", r#"{"vm": {"vcpus": 4}}"#).unwrap();
        assert_eq!(c.get("vm.vcpus").unwrap().as_deref(), Some("4"));
        assert!(Config::parse("c", r#"{"vm": {"cpus": 4}}"#).is_err());
        // types are checked when the file is read, whatever is used
        let e = Config::parse("c", r#"{"image_name": true}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("image_name") && e.contains("must be a string"),
            "{e}"
        );
        assert!(Config::parse("c", r#"{"vm": {"vcpus": "x"}}"#).is_ok());
        assert!(Config::parse("c", r#"{"vm": {"vcpus": -1}}"#).is_err());
        assert!(Config::parse("c", r#"{"architectures": "amd64"}"#).is_err());
        let e = Config::parse("c", r#"{"vm": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("vm") && e.contains("must be an object"), "{e}");
        let e = Config::parse("c", r#"{"vm.vcpus": 8, "vm": {"vcpus": 2}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key 'vm.vcpus'"), "{e}");
        let e = Config::parse("c", "{\"image_name\": \"a\\rb\"}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("control character"), "{e}");
    }

    #[test]
    fn paths() {
        let s = sources(&[("HOME", "/home/u")], "{}");
        let pk = |v: &str| Picked {
            value: v.into(),
            what: "--x".into(),
            origin: Origin::Flag,
        };
        assert_eq!(s.path(&pk("~/.ps.json")).unwrap(), "/home/u/.ps.json");
        // a flag's relative path is relative to where the command runs
        assert_eq!(
            s.path(&pk("secrets/ps.json")).unwrap(),
            "/work/dir/secrets/ps.json"
        );
        // the config file's, to the repository
        let from_config = Picked {
            origin: Origin::Config,
            ..pk("containerfiles/C")
        };
        assert_eq!(s.path(&from_config).unwrap(), "/repo/containerfiles/C");
        assert_eq!(s.path(&pk("/abs")).unwrap(), "/abs");
        assert!(s.path(&pk("a\rb")).is_err());
        let relative_home = sources(&[("HOME", "home/u")], "{}");
        assert!(relative_home.path(&pk("~/x")).is_err());
        let e = s.env_var("BROKEN").unwrap_err().to_string();
        assert!(e.contains("BROKEN: its value is not valid UTF-8"), "{e}");
    }
}

/// One entry of the config file's `images`: another image built with the same machinery
/// (e.g. an application layer on top of the MicroShift image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageEntry {
    pub name: String,
    pub containerfile: String,
    pub base_image: Option<String>,
    pub context: Option<String>,
    /// Embed MicroShift's container images in this image (`build --embed`).
    pub embed: Option<bool>,
}

impl Config {
    /// The `images` entries, validated.
    pub fn images(&self) -> anyhow::Result<Vec<ImageEntry>> {
        let Some(raw) = self.raw("images") else {
            return Ok(Vec::new());
        };
        let items = raw.as_array().ok_or_else(|| {
            crate::validate::refuse(format!("{}: images: must be a list of objects", self.path))
        })?;
        let mut out: Vec<ImageEntry> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let what = format!("{}: images[{i}]", self.path);
            let obj = item
                .as_object()
                .ok_or_else(|| crate::validate::refuse(format!("{what}: must be an object")))?;
            for key in obj.keys() {
                if !["name", "containerfile", "base_image", "context", "embed"]
                    .contains(&key.as_str())
                {
                    return Err(crate::validate::refuse(format!(
                        "{what}: unknown key '{key}' (known: name, containerfile, base_image, context, embed)"
                    )));
                }
            }
            let field = |k: &str| -> anyhow::Result<Option<String>> {
                match obj.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(other) => Err(bad(
                        &format!("{what}.{k}"),
                        &other.to_string(),
                        "must be a string",
                    )),
                }
            };
            let name = field("name")?
                .ok_or_else(|| crate::validate::refuse(format!("{what}: needs a name")))?;
            let name = crate::validate::image_name(&format!("{what}.name"), &name)?;
            if out.iter().any(|e| e.name == name) {
                return Err(bad(&format!("{what}.name"), &name, "listed twice"));
            }
            let containerfile = field("containerfile")?
                .ok_or_else(|| crate::validate::refuse(format!("{what}: needs a containerfile")))?;
            let base_image = field("base_image")?
                .map(|b| {
                    crate::validate::image_reference(
                        &format!("{what}.base_image"),
                        &crate::image::expand(&b, "amd64", "latest"),
                    )
                    .map(|_| b)
                })
                .transpose()?;
            let embed = match obj.get("embed") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(other) => {
                    return Err(bad(
                        &format!("{what}.embed"),
                        &other.to_string(),
                        "must be true or false",
                    ))
                }
            };
            out.push(ImageEntry {
                name,
                containerfile,
                base_image,
                context: field("context")?,
                embed,
            });
        }
        Ok(out)
    }
}
