//! The remote registry: where images go, and how we authenticate to it.

use camino::{Utf8Path, Utf8PathBuf};

use crate::config::{Origin, Sources};
use crate::plan::{Secret, Stdin, Step};
use crate::secrets;
use crate::validate;

/// Registry flags shared by `push`, `manifest` and `vm`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RegistryArgs {
    #[arg(long)]
    pub registry_url: Option<String>,
    #[arg(long)]
    pub registry_org: Option<String>,
    #[arg(long)]
    pub registry_user: Option<String>,
    #[arg(long)]
    pub registry_password_file: Option<Utf8PathBuf>,
    #[arg(long)]
    pub auth_config: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Registry {
    pub url: String,
    pub org: String,
    /// The auth file given to podman with `--authfile`, if any.
    pub authfile: Option<Utf8PathBuf>,
    /// Log in first with this user and password (on stdin).
    pub login: Option<(String, Secret)>,
    /// The registries.conf podman uses (CONTAINERS_REGISTRIES_CONF), handed to skopeo, which
    /// does not read that variable.
    pub registries_conf: Option<Utf8PathBuf>,
    /// Said before the steps: how the push authenticates when that is not plain.
    pub note: Option<String>,
}

impl Registry {
    /// With `login`, a given password means `podman login` (writing the auth file), and an
    /// auth file given explicitly must be valid. Without, password and auth file are left to
    /// the caller (the kickstart checks its own).
    pub fn resolve(
        args: &RegistryArgs,
        sources: &Sources,
        login: bool,
    ) -> anyhow::Result<Registry> {
        let url = sources.get(&crate::inputs::REGISTRY_URL, args.registry_url.as_deref())?;
        let url = validate::registry_url(&url.what, &url.value)?;
        let org = sources.get(&crate::inputs::REGISTRY_ORG, args.registry_org.as_deref())?;
        let org = validate::registry_org(&org.what, &org.value)?;
        let password = if login {
            secrets::password(
                sources,
                &crate::inputs::REGISTRY_PASSWORD_FILE,
                args.registry_password_file.as_deref(),
            )?
        } else {
            None
        };
        let auth = if login {
            sources.value(&crate::inputs::AUTH_CONFIG, args.auth_config.as_deref())?
        } else {
            None
        };
        let explicit = auth.as_ref().is_some_and(|p| p.origin != Origin::Config);
        let mut note = None;
        let auth_path = auth.as_ref().map(|p| sources.path(p)).transpose()?;
        let login = match password {
            Some(pw) => {
                let user =
                    sources.get(&crate::inputs::REGISTRY_USER, args.registry_user.as_deref())?;
                if user.value.is_empty() || user.value.contains(char::is_whitespace) {
                    return Err(validate::bad(
                        &user.what,
                        &user.value,
                        "not a usable user name",
                    ));
                }
                Some((user.value, pw))
            }
            None => None,
        };
        let authfile = match (&login, auth_path) {
            // `podman login --authfile` creates or updates the file: its directory must exist
            (Some(_), Some(p)) => {
                let dir = p.parent().unwrap_or(Utf8Path::new("/"));
                if !dir.as_str().is_empty() && !dir.is_dir() {
                    let what = auth.as_ref().map_or("--auth-config", |a| a.what.as_str());
                    return Err(validate::bad(
                        what,
                        p.as_str(),
                        format!("directory '{dir}' does not exist"),
                    ));
                }
                Some(p)
            }
            (None, Some(p)) => {
                let what = auth.as_ref().map_or("--auth-config", |a| a.what.as_str());
                if p.exists() || explicit {
                    secrets::auth_json(what, &p)?;
                    Some(p)
                } else {
                    // the config file's default does not exist here: podman's own credentials
                    // (`podman login` as root) are used, and the plan says so
                    note = Some(format!(
                        "note: {what} names {p}, which does not exist: the push uses podman's own credentials (`sudo podman login {url}` writes them); give REGISTRY_PASSWORD and --registry-user to log in and write {p}"
                    ));
                    None
                }
            }
            (_, None) => None,
        };
        Ok(Registry {
            url,
            org,
            authfile,
            login,
            registries_conf: sources.registries_conf(),
            note,
        })
    }

    /// `<registry>/<org>/<name>[:<tag>]`
    pub fn remote(&self, name: &str, tag: Option<&str>) -> String {
        match tag {
            Some(t) => format!("{}/{}/{name}:{t}", self.url, self.org),
            None => format!("{}/{}/{name}", self.url, self.org),
        }
    }

    /// `--authfile <file>` when one is in use.
    pub fn authfile_args(&self) -> Vec<String> {
        match &self.authfile {
            Some(p) => vec!["--authfile".to_string(), p.to_string()],
            None => Vec::new(),
        }
    }

    /// `skopeo inspect --raw` of a remote reference: the manifest (list) as the registry has it.
    pub fn inspect_raw_step(&self, id: &'static str, reference: &str) -> Step {
        let mut step = Step::new(id, format!("inspect {reference} in the registry"), "skopeo");
        if let Some(conf) = &self.registries_conf {
            step = step.args(["--registries-conf", conf.as_str()]);
        }
        step.args(["inspect", "--raw"])
            .args(self.authfile_args())
            .arg(format!("docker://{reference}"))
            .read_only()
            .root(true)
    }

    /// Like [`Registry::inspect_raw_step`], of `reference`'s repository at the digest in
    /// `digest_var`.
    pub fn inspect_raw_digest_step(
        &self,
        id: &'static str,
        reference: &str,
        digest_var: &'static str,
    ) -> Step {
        let repository = validate::reference_parts(reference).0;
        let mut step = Step::new(
            id,
            format!("inspect {repository}@${{{digest_var}}} in the registry"),
            "skopeo",
        );
        if let Some(conf) = &self.registries_conf {
            step = step.args(["--registries-conf", conf.as_str()]);
        }
        step.args(["inspect", "--raw"])
            .args(self.authfile_args())
            .var_arg(&format!("docker://{repository}@"), digest_var)
            .read_only()
            .root(true)
    }

    /// `skopeo inspect --format {{.Digest}}`: the digest the registry holds for a reference.
    pub fn digest_step(&self, id: &'static str, reference: &str) -> Step {
        let mut step = Step::new(
            id,
            format!("ask the registry for the digest of {reference}"),
            "skopeo",
        );
        if let Some(conf) = &self.registries_conf {
            step = step.args(["--registries-conf", conf.as_str()]);
        }
        step.args(["inspect", "--format", "{{.Digest}}"])
            .args(self.authfile_args())
            .arg(format!("docker://{reference}"))
            .read_only()
            .root(true)
    }

    /// `podman login` with the password on stdin, when a password was given.
    pub fn login_step(&self) -> Option<Step> {
        let (user, secret) = self.login.as_ref()?;
        Some(
            Step::new("login", format!("log in to {}", self.url), "podman")
                .arg("login")
                .args(self.authfile_args())
                .args(["--username", user, "--password-stdin", &self.url])
                .stdin(Stdin::Secret {
                    name: crate::inputs::REGISTRY_PASSWORD_FILE.secret_name(),
                    secret: secret.clone(),
                })
                // with an auth file, log in as the user, so the file stays theirs (root's
                // push reads it anyway); without, root's own credentials are what push uses
                .root(self.authfile.is_none())
                .hint("check --registry-user and the password (REGISTRY_PASSWORD or --registry-password-file)"),
        )
    }

    /// The login step, when a password was given, and what its secret is for a person who
    /// pastes the plan.
    pub fn add_login(&self, plan: &mut crate::plan::Plan) {
        if let Some(login) = self.login_step() {
            plan.push(login);
            plan.explain_secret(
                crate::inputs::REGISTRY_PASSWORD_FILE.secret_name(),
                format!(
                    "the password of {} at {} (`podman login --password-stdin` reads it)",
                    self.login.as_ref().map_or("", |(user, _)| user.as_str()),
                    self.url
                ),
            );
        }
    }

    /// The hint for a failed push: usually authentication.
    pub fn push_hint(&self) -> String {
        format!(
            "is {} reachable, and are you logged in? Give a password (REGISTRY_PASSWORD or --registry-password-file, with --registry-user) or an auth file (--auth-config)",
            self.url
        )
    }
}

/// The registries configuration files podman and skopeo read, in their order: the main file
/// (`CONTAINERS_REGISTRIES_CONF`, else the user's, else the system's) and the drop-ins.
fn registries_files(sources: &Sources) -> Vec<Utf8PathBuf> {
    let home = sources
        .env_var("HOME")
        .ok()
        .flatten()
        .map(Utf8PathBuf::from);
    let user = home.as_ref().map(|h| h.join(".config/containers"));
    let mut files = Vec::new();
    match sources.registries_conf() {
        Some(conf) => files.push(conf),
        None => match user.as_ref().map(|u| u.join("registries.conf")) {
            Some(f) if f.is_file() => files.push(f),
            _ => files.push(Utf8PathBuf::from("/etc/containers/registries.conf")),
        },
    }
    let mut dirs = vec![Utf8PathBuf::from("/etc/containers/registries.conf.d")];
    dirs.extend(user.map(|u| u.join("registries.conf.d")));
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<Utf8PathBuf> = entries
            .flatten()
            .filter_map(|e| Utf8PathBuf::from_path_buf(e.path()).ok())
            .filter(|p| p.extension() == Some("conf"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// Does a registries configuration file send reads of `url` elsewhere: a `[[registry]]`
/// whose prefix (or location) covers the registry and that has mirrors or another location?
/// A light reading of the TOML (the tables and their `prefix`, `location` and `mirror` keys):
/// what it cannot tell apart counts as a redirection, which only costs a push.
fn redirects(text: &str, url: &str) -> bool {
    let value = |line: &str, key: &str| -> Option<String> {
        let rest = line
            .trim()
            .strip_prefix(key)?
            .trim_start()
            .strip_prefix('=')?;
        let rest = rest.trim();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        rest[1..].split(quote).next().map(str::to_string)
    };
    let covers = |pattern: &str| {
        let pattern = pattern.trim_end_matches('/');
        match pattern.strip_prefix("*.") {
            Some(domain) => url.ends_with(&format!(".{domain}")),
            None => pattern == url || pattern.starts_with(&format!("{url}/")),
        }
    };
    for block in text.split("[[registry]]").skip(1) {
        // the table ends at the next table that is not one of its mirrors
        let mut end = block.len();
        for (i, _) in block.match_indices('[') {
            let rest = &block[i..];
            let line_start = block[..i].rfind('\n').map_or(0, |n| n + 1);
            if block[line_start..i].trim().is_empty() && !rest.starts_with("[[registry.mirror]]") {
                end = i;
                break;
            }
        }
        let block = &block[..end];
        let mut prefix = None;
        let mut location = None;
        for line in block.lines() {
            let line = line.split('#').next().unwrap_or("");
            prefix = prefix.or_else(|| value(line, "prefix"));
            location = location.or_else(|| value(line, "location"));
        }
        let Some(scope) = prefix.clone().or_else(|| location.clone()) else {
            continue;
        };
        if !covers(&scope) {
            continue;
        }
        let moved = matches!((&prefix, &location), (Some(p), Some(l)) if p.trim_end_matches('/') != l.trim_end_matches('/'));
        if moved || block.contains("[[registry.mirror]]") || block.contains("mirror") {
            return true;
        }
    }
    false
}

/// The first registries configuration file that sends reads of `url` elsewhere (a mirror,
/// or a location rewrite), if any: `podman push` writes to the registry itself, so what
/// skopeo reads there says nothing of what was pushed.
pub fn redirected_by(sources: &Sources, url: &str) -> Option<Utf8PathBuf> {
    registries_files(sources)
        .into_iter()
        .find(|f| std::fs::read_to_string(f).is_ok_and(|text| redirects(&text, url)))
}

#[cfg(test)]
mod tests {
    use super::redirects;

    #[test]
    fn mirrors_and_rewrites_are_seen() {
        let plain = "[[registry]]\nlocation = \"127.0.0.1:5101\"\ninsecure = true\n";
        assert!(!redirects(plain, "127.0.0.1:5101"));
        let mirrored = "unqualified-search-registries = [\"quay.io\"]\n[[registry]]\nprefix = \"quay.io/myorg\"\nlocation = \"quay.io/myorg\"\n[[registry.mirror]]\nlocation = \"mirror.local/myorg\"\n";
        assert!(redirects(mirrored, "quay.io"));
        assert!(!redirects(mirrored, "registry.redhat.io"));
        let moved = "[[registry]]\nprefix = \"quay.io\"\nlocation = \"proxy.local/quay\"\n";
        assert!(redirects(moved, "quay.io"));
        let wildcard = "[[registry]]\nprefix = \"*.example.com\"\nlocation = \"mirror.local\"\n";
        assert!(redirects(wildcard, "reg.example.com"));
        // another registry's mirror says nothing of this one
        let other = "[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"m.local\"\n\n[[registry]]\nlocation = \"quay.io\"\n";
        assert!(!redirects(other, "quay.io"));
        assert!(redirects(other, "docker.io"));
    }
}
