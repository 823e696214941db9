//! Where inputs come from: flag > environment variable > the checked-in config file >
//! built-in default. [`Sources`] is read once at start-up; everything after it is pure.

use std::collections::BTreeMap;

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{Map, Value};

use crate::validate::{bad, BadInput};

/// The config file at the repository root that a fork edits.
pub const CONFIG_FILE: &str = "microshift-image.json";

/// Every key the config file may hold (dotted for nested objects), with a one-line meaning.
/// Unknown keys are an error, so a typo in a fork's config is caught.
pub const KEYS: &[(&str, &str)] = &[
    ("image_name", "local image name (IMAGE_NAME)"),
    ("microshift_version", "MicroShift minor version, e.g. 4.16"),
    (
        "base_image",
        "RHEL bootc base image matching the MicroShift version",
    ),
    (
        "containerfile",
        "Containerfile, relative to the repository root",
    ),
    ("architectures", "architectures of the manifest list"),
    ("registry_url", "remote registry host (REGISTRY_URL)"),
    (
        "registry_org",
        "organization path in the registry (REGISTRY_ORG)",
    ),
    (
        "registry_user",
        "registry user name for `podman login` (REGISTRY_USER)",
    ),
    ("pull_secret", "OpenShift pull secret file (PULL_SECRET)"),
    (
        "registry_auth",
        "registry auth file, containers-auth.json(5) (AUTH_CONFIG)",
    ),
    ("vm.name", "libvirt VM name (VMNAME)"),
    ("vm.vcpus", "VM virtual CPUs"),
    ("vm.memory_mib", "VM memory in MiB"),
    ("vm.disk_gib", "VM disk size in GiB"),
    ("vm.network", "libvirt network (NETNAME)"),
    (
        "vm.iso",
        "RHEL boot ISO; {arch} expands to x86_64 or aarch64",
    ),
    ("vm.libvirt_uri", "libvirt connection URI"),
    ("vm.disk_dir", "directory of the VM disk images"),
    ("lvm.volume_group", "volume group for the CSI driver"),
    (
        "lvm.loop_file",
        "file backing the loop device volume group (VGFILE)",
    ),
    ("lvm.loop_size", "size of that file (VGSIZE)"),
    (
        "images",
        "extra images: a list of objects with name, containerfile and optional base_image",
    ),
];

/// The parsed config file: a flat map from dotted keys to values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    pub path: String,
    values: BTreeMap<String, Value>,
}

impl Config {
    pub fn parse(path: &str, text: &str) -> anyhow::Result<Config> {
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| anyhow::Error::new(BadInput(format!("{path}: not valid JSON: {e}"))))?;
        let obj = doc.as_object().ok_or_else(|| {
            anyhow::Error::new(BadInput(format!("{path}: must be a JSON object")))
        })?;
        let mut values = BTreeMap::new();
        flatten("", obj, &mut values);
        for key in values.keys() {
            if !KEYS.iter().any(|(k, _)| k == key) {
                let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                return Err(anyhow::Error::new(BadInput(format!(
                    "{path}: unknown key '{key}' (known keys: {})",
                    known.join(", ")
                ))));
            }
        }
        Ok(Config {
            path: path.to_string(),
            values,
        })
    }

    pub fn load(path: &Utf8Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::Error::new(BadInput(format!("--config: cannot read '{path}': {e}")))
        })?;
        Config::parse(path.as_str(), &text)
    }

    /// A scalar value as text (numbers are turned into their decimal text).
    pub fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
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

fn flatten(prefix: &str, obj: &Map<String, Value>, out: &mut BTreeMap<String, Value>) {
    for (k, v) in obj {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(inner) if prefix.is_empty() && (k == "vm" || k == "lvm") => {
                flatten(&key, inner, out)
            }
            other => {
                out.insert(key, other.clone());
            }
        }
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
    pub config: Config,
    /// The repository root: relative paths in the config file are relative to it.
    pub root: Utf8PathBuf,
    pub as_root: bool,
    /// The running kernel's release (`uname -r`), for reports.
    pub host_kernel: String,
}

impl Sources {
    /// `flag` is the flag's name (e.g. `--image-name`), `value` what was given on the
    /// command line, `env` the environment variable and `key` the config key.
    pub fn pick(
        &self,
        flag: &str,
        value: Option<&str>,
        env: Option<&str>,
        key: Option<&str>,
    ) -> anyhow::Result<Option<Picked>> {
        if let Some(v) = value {
            return Ok(Some(Picked {
                value: v.to_string(),
                what: flag.to_string(),
                origin: Origin::Flag,
            }));
        }
        if let Some(name) = env {
            if let Some(v) = self.env.get(name).filter(|v| !v.is_empty()) {
                return Ok(Some(Picked {
                    value: v.clone(),
                    what: format!("{flag} (from {name})"),
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

    /// Like [`Sources::pick`], with a built-in default.
    pub fn pick_or(
        &self,
        flag: &str,
        value: Option<&str>,
        env: Option<&str>,
        key: Option<&str>,
        default: &str,
    ) -> anyhow::Result<Picked> {
        Ok(self.pick(flag, value, env, key)?.unwrap_or_else(|| Picked {
            value: default.to_string(),
            what: format!("{flag} (default)"),
            origin: Origin::Default,
        }))
    }

    /// Like [`Sources::pick`], but the value is required.
    pub fn require(
        &self,
        flag: &str,
        value: Option<&str>,
        env: Option<&str>,
        key: Option<&str>,
    ) -> anyhow::Result<Picked> {
        self.pick(flag, value, env, key)?.ok_or_else(|| {
            let mut ways = vec![flag.to_string()];
            if let Some(e) = env {
                ways.push(e.to_string());
            }
            if let Some(k) = key {
                ways.push(format!("'{k}' in {}", self.config.path));
            }
            anyhow::Error::new(BadInput(format!(
                "{flag}: missing; set {}",
                ways.join(" or ")
            )))
        })
    }

    /// A path: `~/` expands to `$HOME`, relative paths are relative to the repository root.
    pub fn path(&self, picked: &Picked) -> anyhow::Result<Utf8PathBuf> {
        let v = picked.value.as_str();
        if v.is_empty() || v.contains('\0') || v.contains('\n') {
            return Err(bad(&picked.what, v, "not a usable path"));
        }
        if let Some(rest) = v.strip_prefix("~/") {
            let home = self
                .env
                .get("HOME")
                .ok_or_else(|| bad(&picked.what, v, "starts with ~/ but HOME is not set"))?;
            return Ok(Utf8PathBuf::from(home).join(rest));
        }
        let p = Utf8PathBuf::from(v);
        Ok(if p.is_absolute() {
            p
        } else {
            self.root.join(p)
        })
    }

    /// The environment as it is, the config file from `--config` (or `XTASK_CONFIG`, or the
    /// repository's own).
    pub fn from_process(root: Utf8PathBuf, config: Option<&str>) -> anyhow::Result<Sources> {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let path = match config
            .map(str::to_string)
            .or_else(|| env.get("XTASK_CONFIG").cloned())
        {
            Some(p) => {
                let p = Utf8PathBuf::from(p);
                if p.is_absolute() {
                    p
                } else {
                    Utf8PathBuf::from_path_buf(
                        std::env::current_dir().context("current directory")?,
                    )
                    .map_err(|p| {
                        anyhow::anyhow!("current directory is not UTF-8: {}", p.display())
                    })?
                    .join(p)
                }
            }
            None => root.join(CONFIG_FILE),
        };
        let config = Config::load(&path)?;
        Ok(Sources {
            env,
            config,
            root,
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
            config: Config::parse("cfg.json", config).unwrap(),
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
        let p = |flag| {
            s.pick("--image-name", flag, Some("IMAGE_NAME"), Some("image_name"))
                .unwrap()
                .unwrap()
        };
        assert_eq!(p(Some("from-flag")).value, "from-flag");
        assert_eq!(p(None).value, "from-env");
        assert_eq!(p(None).what, "--image-name (from IMAGE_NAME)");
        let s = sources(&[], r#"{"image_name": "from-config"}"#);
        let got = s
            .pick("--image-name", None, Some("IMAGE_NAME"), Some("image_name"))
            .unwrap()
            .unwrap();
        assert_eq!(got.value, "from-config");
        assert_eq!(got.what, "--image-name (from cfg.json: image_name)");
        let got = s
            .pick_or(
                "--network",
                None,
                Some("NETNAME"),
                Some("vm.network"),
                "default",
            )
            .unwrap();
        assert_eq!(got.value, "default");
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
        assert_eq!(
            s.path(&pk("containerfiles/C")).unwrap(),
            "/repo/containerfiles/C"
        );
        assert_eq!(s.path(&pk("/abs")).unwrap(), "/abs");
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
}

impl Config {
    /// The `images` entries, validated.
    pub fn images(&self) -> anyhow::Result<Vec<ImageEntry>> {
        let Some(raw) = self.raw("images") else {
            return Ok(Vec::new());
        };
        let items = raw.as_array().ok_or_else(|| {
            anyhow::Error::new(BadInput(format!(
                "{}: images: must be a list of objects",
                self.path
            )))
        })?;
        let mut out: Vec<ImageEntry> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let what = format!("{}: images[{i}]", self.path);
            let obj = item.as_object().ok_or_else(|| {
                anyhow::Error::new(BadInput(format!("{what}: must be an object")))
            })?;
            for key in obj.keys() {
                if !["name", "containerfile", "base_image", "context"].contains(&key.as_str()) {
                    return Err(anyhow::Error::new(BadInput(format!(
                        "{what}: unknown key '{key}' (known: name, containerfile, base_image, context)"
                    ))));
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
                .ok_or_else(|| anyhow::Error::new(BadInput(format!("{what}: needs a name"))))?;
            let name = crate::validate::image_name(&format!("{what}.name"), &name)?;
            if out.iter().any(|e| e.name == name) {
                return Err(bad(&format!("{what}.name"), &name, "listed twice"));
            }
            let containerfile = field("containerfile")?.ok_or_else(|| {
                anyhow::Error::new(BadInput(format!("{what}: needs a containerfile")))
            })?;
            let base_image = field("base_image")?
                .map(|b| {
                    crate::validate::image_reference(
                        &format!("{what}.base_image"),
                        &b.replace("{arch}", "amd64").replace("{tag}", "latest"),
                    )
                    .map(|_| b)
                })
                .transpose()?;
            out.push(ImageEntry {
                name,
                containerfile,
                base_image,
                context: field("context")?,
            });
        }
        Ok(out)
    }
}
