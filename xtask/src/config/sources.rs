//! [`Sources`]: everything outside the plan that inputs come from (environment, config
//! file, record, current directory), read once at start-up; and the resolvers that pick
//! each declared input's value: flag > environment variable > config file > default,
//! saying where it came from.

use std::collections::BTreeMap;

use camino::Utf8PathBuf;

use super::Config;
use crate::validate::bad;

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
    /// A preview (`--dry-run`): a secret that is missing here is not an error (the plan shows
    /// secrets only as `${NAME}`); it is said in [`Sources::wanted`] instead.
    pub preview: bool,
    /// What a real run will need that this preview did not find.
    pub wanted: std::cell::RefCell<Vec<String>>,
}

impl Sources {
    /// In a preview, note what a real run needs and is missing here, and go on (`true`);
    /// otherwise `false`: the caller refuses.
    pub fn preview_without(&self, what: String) -> bool {
        if self.preview {
            let mut wanted = self.wanted.borrow_mut();
            if !wanted.contains(&what) {
                wanted.push(what);
            }
        }
        self.preview
    }

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
        self.value(input, flag)?.ok_or_else(|| self.missing(input))
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

    /// The error for a required input that nothing gives: it names every way to give it.
    pub fn missing(&self, input: &crate::inputs::Input) -> anyhow::Error {
        let flag = input.flag;
        let mut ways = vec![flag.to_string()];
        if let Some(e) = input.env {
            ways.push(e.to_string());
        }
        if let Some(k) = input.key {
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
        self.path(&self.flag_picked(flag, value))
    }

    /// A value given by a flag that has no other source, as a [`Picked`].
    pub fn flag_picked(&self, flag: &str, value: &str) -> Picked {
        Picked {
            value: value.to_string(),
            what: flag.to_string(),
            origin: Origin::Flag,
        }
    }
}

/// `{arch}` and `{tag}` in a configured value (a base image, a boot ISO path) become these
/// words: the architecture as that value names it (`amd64` or `x86_64`) and the tag.
pub fn expand(value: &str, arch: &str, tag: &str) -> String {
    value.replace("{arch}", arch).replace("{tag}", tag)
}

impl Picked {
    /// [`expand`] on a resolved value, keeping where it came from.
    pub fn expand(&self, arch: &str, tag: &str) -> Picked {
        Picked {
            value: expand(&self.value, arch, tag),
            ..self.clone()
        }
    }
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
            preview: false,
            wanted: Default::default(),
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
