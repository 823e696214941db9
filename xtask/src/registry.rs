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
                    // the config file's default does not exist here: rely on `podman login`
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
