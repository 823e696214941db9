//! Signed images: who signs what is pushed, where the signatures go, and the policy that
//! checks them — after each push on the workstation, and on the device, whose image carries
//! the policy, the registries.d entry and the public key.
//!
//! Two methods, one configuration (`signing.*` in the config file):
//! - `sigstore`: a private key file (cosign's encrypted format); signatures are stored in the
//!   registry as attachments (`use-sigstore-attachments`). Needs podman/skopeo built with
//!   sigstore (RHEL 9, Fedora; Debian's build has it switched off).
//! - `gpg`: a key of the signing user's keyring, by fingerprint ("simple signing");
//!   signatures are written to a lookaside directory (`signing.lookaside_dir`) that the user
//!   publishes over HTTP at `signing.lookaside_url`, where devices read them.
//!
//! The tool signs with `skopeo copy --sign-by…` of what it has just pushed, by digest, onto
//! the same reference (podman push reads only the global registries.d; skopeo is handed a
//! directory the tool writes under `target/signing/`, never the user's global one). It checks
//! with `skopeo --policy --registries.d copy` of the image onto itself, by digest: the policy
//! is evaluated before anything is copied, and the registry already holds every blob, so
//! nothing is downloaded.

use camino::{Utf8Path, Utf8PathBuf};

use crate::config::Sources;
use crate::inputs;
use crate::plan::{Secret, Stdin, Step};
use crate::validate::{self, bad};

/// Key files, read through (`signing/keys.rs`).
pub mod keys;
pub use keys::{key_kind, KeyKind};
use keys::{private_key, public_key};

/// How images are signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Sigstore,
    Gpg,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Sigstore => "sigstore",
            Method::Gpg => "gpg",
        }
    }

    /// signing.method (`given`: its flag), checked: sigstore or gpg.
    pub fn resolve(sources: &Sources, given: Option<&str>) -> anyhow::Result<Method> {
        let method = sources.get(&inputs::SIGN_METHOD, given)?;
        Ok(
            match validate::one_of(&method.what, &method.value, &["sigstore", "gpg"])?.as_str() {
                "gpg" => Method::Gpg,
                _ => Method::Sigstore,
            },
        )
    }
}

/// The step that reads the signature policy image `base` has (podman's `cat` of
/// /etc/containers/policy.json) into `var`: a probe, none there being an answer.
pub fn base_policy_step(id: &'static str, base: &str, var: &'static str) -> Step {
    Step::new(
        id,
        format!("read the signature policy {base} has"),
        "podman",
    )
    .args(["run", "--rm", "--network=none", "--entrypoint", "cat", base])
    .arg("/etc/containers/policy.json")
    .root(true)
    .probe()
    .capture(var, crate::plan::Extract::Trim)
}

/// Where on the device the public key goes, by method.
pub fn device_key_path(method: Method) -> &'static str {
    match method {
        Method::Sigstore => "/etc/pki/containers/xtask-signing.pub",
        Method::Gpg => "/etc/pki/containers/xtask-signing.gpg",
    }
}

/// The registries.d file the tool writes (on the device and in `target/signing/`).
pub const REGISTRIES_D_FILE: &str = "xtask-signing.yaml";
/// How long each command of signing and of the checks after it (gpg's list check too) may
/// take: they write and read manifests, keys and signatures only, never layers. A tool that
/// hangs (gpgme waiting on a passphrase) is stopped instead of holding the release forever.
const SIGN_LIMIT_S: u64 = 600;
/// How long giving gpg-agent the passphrase may take.
const UNLOCK_LIMIT_S: u64 = 120;
/// Red Hat's release key on RHEL, which its default policy requires for Red Hat's registries.
const REDHAT_KEY: &str = "/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release";

/// The signing flags of `push`, `manifest`, `release` and `build`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SigningArgs {
    #[arg(long, value_name = "KEY")]
    pub sign_by: Option<String>,
    #[arg(long, value_name = "METHOD")]
    pub sign_method: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub sign_passphrase_file: Option<Utf8PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub sign_public_key: Option<String>,
    #[arg(long, value_name = "DIR")]
    pub lookaside_dir: Option<String>,
    #[arg(long, value_name = "URL")]
    pub lookaside_url: Option<String>,
    #[arg(long = "accept-unsigned", value_name = "SCOPE")]
    pub accept_unsigned: Vec<String>,
}

/// Who signs.
#[derive(Clone, Debug, PartialEq)]
pub enum Signer {
    /// A GPG key's fingerprint (40 hex digits), and the keyring it is in (`GNUPGHOME`).
    Gpg {
        fingerprint: String,
        gnupghome: Option<Utf8PathBuf>,
    },
    /// A sigstore private key file.
    Sigstore { key: Utf8PathBuf },
}

/// The signing configuration, resolved and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Signing {
    pub method: Method,
    /// Who signs; `None` when only the public key is configured (a build, a device).
    pub signer: Option<Signer>,
    /// The key's passphrase (a sigstore key always has one; a GPG key may).
    pub passphrase: Option<Secret>,
    /// The public key: checks after each push; built into the image.
    pub public_key: Option<Utf8PathBuf>,
    /// gpg: where signatures are written.
    pub lookaside_dir: Utf8PathBuf,
    /// gpg: where they are read (devices, the check after push).
    pub lookaside_url: Option<String>,
    /// Registries or repositories the device's policy accepts without a signature.
    pub accept_unsigned: Vec<String>,
    /// Where `accept_unsigned` came from (`--accept-unsigned`, `signing.accept_unsigned`).
    pub accept_unsigned_from: String,
    /// Where the tool writes its registries.d and policy files (`target/signing`).
    pub dir: Utf8PathBuf,
    /// The user running the tool when not root: the lookaside directory, written by the
    /// signing step through sudo, is given back to them.
    pub owner: Option<u32>,
}

/// What a command needs of the signing configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Signs what it pushes (and checks it): `push`, `manifest`, `release`.
    Sign,
    /// Builds the public key and policy into the image: `build`.
    Enforce,
    /// Signs a bundle's manifest (`bundle`): a signer and the public key, no lookaside (the
    /// signature travels in the bundle).
    Bundle,
}

impl Signing {
    /// The signing configuration, or `None` when none is configured (no key, no public key).
    pub fn resolve(
        args: &SigningArgs,
        sources: &Sources,
        need: Need,
    ) -> anyhow::Result<Option<Signing>> {
        let sign_by = sources.value(&inputs::SIGN_BY, args.sign_by.as_deref())?;
        let public = sources.value(&inputs::SIGN_PUBLIC_KEY, args.sign_public_key.as_deref())?;
        let signs = matches!(need, Need::Sign | Need::Bundle);
        let signer_wanted = signs && sign_by.is_some();
        // nothing to sign with and nothing to enforce
        if !signer_wanted && public.is_none() {
            return Ok(None);
        }
        let method = Method::resolve(sources, args.sign_method.as_deref())?;
        let signer = match &sign_by {
            Some(picked) if signs => Some(match method {
                Method::Gpg => {
                    let fpr: String = picked
                        .value
                        .chars()
                        .filter(|c| *c != ' ')
                        .collect::<String>()
                        .to_ascii_uppercase();
                    if fpr.len() != 40 || !fpr.chars().all(|c| c.is_ascii_hexdigit()) {
                        return Err(bad(
                            &picked.what,
                            &picked.value,
                            "not a GPG key fingerprint (40 hexadecimal digits, as `gpg --list-secret-keys --with-colons` prints on its fpr line)",
                        ));
                    }
                    let gnupghome = sources.env_var("GNUPGHOME")?.map(Utf8PathBuf::from);
                    Signer::Gpg {
                        fingerprint: fpr,
                        gnupghome,
                    }
                }
                Method::Sigstore => {
                    let key = sources.path(picked)?;
                    private_key(&picked.what, &key, sources)?;
                    Signer::Sigstore { key }
                }
            }),
            _ => None,
        };
        let passphrase = if signer.is_some() {
            crate::secrets::password(
                sources,
                &inputs::SIGN_PASSPHRASE_FILE,
                args.sign_passphrase_file.as_deref(),
            )?
        } else {
            None
        };
        let passphrase = match passphrase {
            None if method == Method::Sigstore && signer.is_some() => {
                let why = format!(
                    "{}: missing; a sigstore private key is encrypted: give its passphrase (SIGN_PASSPHRASE, SIGN_PASSPHRASE_FILE or --sign-passphrase-file)",
                    inputs::SIGN_PASSPHRASE_FILE.secret_name()
                );
                if sources.preview_without(why.clone()) {
                    Some(Secret::new(Vec::new()))
                } else {
                    return Err(validate::refuse(why));
                }
            }
            other => other,
        };
        let public_key = match &public {
            Some(picked) => {
                let path = sources.path(picked)?;
                public_key(&picked.what, &path, method)?;
                Some(path)
            }
            None => None,
        };
        if signs && public_key.is_none() {
            return Err(validate::refuse(format!(
                "{}: missing; signing checks what it pushed with the public key: give --sign-public-key or signing.public_key (`cargo xtask keygen` writes one)",
                inputs::SIGN_PUBLIC_KEY.flag
            )));
        }
        let dir_picked = sources.get(&inputs::LOOKASIDE_DIR, args.lookaside_dir.as_deref())?;
        let lookaside_dir = sources.path(&dir_picked)?;
        let lookaside_url =
            match sources.value(&inputs::LOOKASIDE_URL, args.lookaside_url.as_deref())? {
                Some(p) => Some(lookaside_url(&p.what, &p.value)?),
                None => None,
            };
        if method == Method::Gpg && lookaside_url.is_none() && need != Need::Bundle {
            return Err(validate::refuse(format!(
                "{}: missing; gpg signatures are read from a web server (devices, and the check after each push): publish {} there and give its URL (signing.lookaside_url)",
                inputs::LOOKASIDE_URL.flag,
                lookaside_dir
            )));
        }
        let (what, accept) = sources.list(&inputs::ACCEPT_UNSIGNED, &args.accept_unsigned)?;
        let mut accept_unsigned = Vec::new();
        for scope in accept {
            let scope = scope.trim();
            if scope.is_empty()
                || scope.contains("://")
                || scope
                    .chars()
                    .any(|c| c.is_whitespace() || c == '"' || c == '\\')
            {
                return Err(bad(
                    &what,
                    scope,
                    "not a registry or repository (host[:port][/path], no scheme)",
                ));
            }
            accept_unsigned.push(scope.to_string());
        }
        Ok(Some(Signing {
            method,
            signer,
            passphrase,
            public_key,
            lookaside_dir,
            lookaside_url,
            accept_unsigned,
            accept_unsigned_from: what,
            dir: sources.root.join("target/signing"),
            owner: crate::record::effective_uid().filter(|uid| *uid != 0),
        }))
    }

    /// Refuse an `accept_unsigned` scope that would accept unsigned images of `repository`,
    /// the signed one (see [`covers`]).
    pub fn refuse_covering(&self, repository: &str) -> anyhow::Result<()> {
        match self.accept_unsigned.iter().find(|s| covers(s, repository)) {
            Some(scope) => Err(bad(
                &self.accept_unsigned_from,
                scope,
                format!(
                    "would accept unsigned images of {repository}, whose images must be signed: the policy's entry for the repository, or for a tag or digest of it, replaces or comes before its signature requirement; accept other repositories, or a whole registry or namespace (quay.io, quay.io/org), which the repository's own requirement overrides"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The registries.d document of the signing side: where signatures of `scope`
    /// (registry/org) are written.
    pub fn sign_registries_d(&self, scope: &str) -> String {
        match self.method {
            Method::Gpg => format!(
                "# written by cargo xtask: where signatures of {scope} are written\ndocker:\n  {scope}:\n    lookaside-staging: file://{}\n",
                self.lookaside_dir
            ),
            Method::Sigstore => sigstore_registries_d(scope),
        }
    }

    /// The registries.d document of the reading side (the check after push, the device).
    pub fn read_registries_d(&self, scope: &str) -> String {
        match self.method {
            Method::Gpg => format!(
                "# written by cargo xtask: where signatures of {scope} are read\ndocker:\n  {scope}:\n    lookaside: {}\n",
                self.lookaside_url.as_deref().unwrap_or("")
            ),
            Method::Sigstore => sigstore_registries_d(scope),
        }
    }

    /// The requirement a signed image of the repository must meet, with the key at `key`.
    fn requirement(&self, key: &str) -> serde_json::Value {
        // matchRepository: the device pulls the list by its tag and the instance by digest;
        // each is signed with the list's reference, and a tag may be pulled by another name
        self.requirement_for(key, serde_json::json!({ "type": "matchRepository" }))
    }

    /// The requirement with another `signedIdentity`.
    fn requirement_for(&self, key: &str, identity: serde_json::Value) -> serde_json::Value {
        match self.method {
            Method::Gpg => serde_json::json!({
                "type": "signedBy",
                "keyType": "GPGKeys",
                "keyPath": key,
                "signedIdentity": identity,
            }),
            Method::Sigstore => serde_json::json!({
                "type": "sigstoreSigned",
                "keyPath": key,
                "signedIdentity": identity,
            }),
        }
    }

    /// The public key's path, or "" without one.
    pub fn public_key_str(&self) -> &str {
        self.public_key.as_ref().map_or("", |p| p.as_str())
    }

    /// The policy of the check after push: the repository signed with the public key,
    /// everything else rejected.
    pub fn check_policy(&self, repository: &str) -> String {
        self.check_policy_of(|key| vec![(repository.to_string(), self.requirement(key))])
    }

    /// The policy of a check of copies kept elsewhere (`copies`: each copy's repository, a
    /// mirror's, and the repository it is a copy of): signed with the public key for the
    /// name it was signed as (`remapIdentity`: the copy's name read as the original's),
    /// everything else rejected.
    pub fn copy_check_policy(&self, copies: &[(String, String)]) -> String {
        self.check_policy_of(|key| {
            copies
                .iter()
                .map(|(copy, original)| {
                    let identity = serde_json::json!({
                        "type": "remapIdentity",
                        "prefix": copy,
                        "signedPrefix": original,
                    });
                    (copy.clone(), self.requirement_for(key, identity))
                })
                .collect()
        })
    }

    /// A check's policy: each repository's requirement, made with the public key's path
    /// (`requirements`), everything else rejected.
    fn check_policy_of(
        &self,
        requirements: impl FnOnce(&str) -> Vec<(String, serde_json::Value)>,
    ) -> String {
        let key = self.public_key_str();
        let docker: serde_json::Map<String, serde_json::Value> = requirements(key)
            .into_iter()
            .map(|(repository, requirement)| (repository, serde_json::json!([requirement])))
            .collect();
        let doc = serde_json::json!({
            "default": [{ "type": "reject" }],
            "transports": { "docker": docker },
        });
        serde_json::to_string_pretty(&doc).expect("a JSON value prints") + "\n"
    }

    /// The device's `/etc/containers/policy.json`: unsigned images of the repository are
    /// rejected (and, `default: reject`, those of any registry not named: bootc's
    /// `--enforce-container-sigpolicy` refuses a default that accepts anything); Red Hat's
    /// registries signed with Red Hat's key, as RHEL's own policy has them; the registries
    /// of `signing.accept_unsigned` accepted as they are; local storage accepted.
    pub fn device_policy(&self, repository: &str) -> String {
        serde_json::to_string_pretty(&self.device_policy_doc(repository))
            .expect("a JSON value prints")
            + "\n"
    }

    /// [`Signing::device_policy`] as a JSON value: what is merged over the base image's own
    /// policy (its other entries kept).
    pub fn device_policy_doc(&self, repository: &str) -> serde_json::Value {
        let redhat = serde_json::json!([{
            "type": "signedBy",
            "keyType": "GPGKeys",
            "keyPath": REDHAT_KEY,
        }]);
        let mut docker = serde_json::Map::new();
        docker.insert(
            repository.to_string(),
            serde_json::json!([self.requirement(device_key_path(self.method))]),
        );
        docker.insert("registry.access.redhat.com".into(), redhat.clone());
        docker.insert("registry.redhat.io".into(), redhat);
        for scope in &self.accept_unsigned {
            docker.insert(
                scope.clone(),
                serde_json::json!([{ "type": "insecureAcceptAnything" }]),
            );
        }
        let anything = serde_json::json!({ "": [{ "type": "insecureAcceptAnything" }] });
        serde_json::json!({
            "default": [{ "type": "reject" }],
            "transports": {
                "docker": docker,
                "containers-storage": anything,
                "docker-daemon": anything,
            },
        })
    }

    /// The tool's files: the signing side's registries.d, and the check's.
    pub fn sign_dir(&self) -> Utf8PathBuf {
        self.dir.join("sign/registries.d")
    }
    pub fn check_dir(&self) -> Utf8PathBuf {
        self.dir.join("check/registries.d")
    }
    pub fn check_policy_path(&self) -> Utf8PathBuf {
        self.dir.join("check/policy.json")
    }
    /// The build context of the signing layer of an image tagged `tag`: what goes into the
    /// image (one per tag: a release's lanes write theirs at the same time).
    pub fn image_dir(&self, tag: &str) -> Utf8PathBuf {
        self.dir.join(format!("image-{tag}"))
    }

    /// Steps writing the tool's registries.d and policy files for signing `repository`
    /// (`registry/org/name`; the registries.d entries cover `scope`, `registry/org`).
    pub fn config_steps(&self, scope: &str, repository: &str) -> Vec<Step> {
        let mut steps = vec![
            write_step(
                "sign-config",
                &self.sign_dir().join(REGISTRIES_D_FILE),
                self.sign_registries_d(scope),
                "where the signatures go",
            ),
            write_step(
                "check-config",
                &self.check_dir().join(REGISTRIES_D_FILE),
                self.read_registries_d(scope),
                "where the check after push reads signatures",
            ),
            write_step(
                "check-policy",
                &self.check_policy_path(),
                self.check_policy(repository),
                "the policy the check after push applies",
            ),
        ];
        if self.method == Method::Gpg {
            steps.push(
                Step::new(
                    "lookaside-dir",
                    format!("make the lookaside directory {}", self.lookaside_dir),
                    "mkdir",
                )
                .args(["-p", "--", self.lookaside_dir.as_str()])
                .hint(format!(
                    "signatures are written to {}: make it writable, or set signing.lookaside_dir",
                    self.lookaside_dir
                )),
            );
        }
        steps
    }

    /// Steps writing the signing layer's build context: the device's policy (the base
    /// image's own, `base`, with the tool's entries over it), registries.d entry and public
    /// key. `var` holds the base's policy between the steps.
    pub fn image_steps(
        &self,
        scope: &str,
        repository: &str,
        dir: &Utf8Path,
        base: &str,
        var: &'static str,
    ) -> Vec<Step> {
        let key = self.public_key.clone().unwrap_or_default();
        let path = dir.join("policy.json");
        vec![
            // no policy.json in the base (not a containers image): the tool's alone
            base_policy_step("base-policy", base, var),
            Step::new(
                "device-policy",
                format!("write the device's signature policy (the base's, with the repository's signature required): {path}"),
                "install",
            )
            .args(["-D", "-m", "0644", "/dev/stdin", path.as_str()])
            .stdin(Stdin::JsonOver {
                base: var,
                over: self.device_policy_doc(repository),
                // the base's entries for a tag or digest of the repository would come before
                // the tool's requirement (see `covers`)
                drop: Some(crate::plan::DropKeys {
                    path: vec!["transports".into(), "docker".into()],
                    prefixes: vec![format!("{repository}:"), format!("{repository}@")],
                }),
            }),
            write_step(
                "device-registries-d",
                &dir.join(REGISTRIES_D_FILE),
                self.read_registries_d(scope),
                "where the device reads signatures",
            ),
            Step::new(
                "device-key",
                format!("copy the public key {key} into the signing layer"),
                "install",
            )
            .args(["-D", "-m", "0644", "--", key.as_str()])
            .arg(
                dir.join(
                    device_key_path(self.method)
                        .rsplit('/')
                        .next()
                        .unwrap_or("xtask-signing.pub"),
                )
                .as_str(),
            ),
        ]
    }

    /// What `--json` says of the signing: the method and where the signatures went.
    pub fn facts(&self) -> serde_json::Value {
        serde_json::json!({
            "method": self.method.name(),
            "signatures": self.where_signatures_go(),
            "public_key": self.public_key.as_ref().map(|p| p.as_str()),
        })
    }

    /// Where the signatures go, in words.
    pub fn where_signatures_go(&self) -> String {
        match self.method {
            Method::Gpg => format!(
                "{} (publish it at {})",
                self.lookaside_dir,
                self.lookaside_url.as_deref().unwrap_or("")
            ),
            Method::Sigstore => "the registry, as sigstore attachments".to_string(),
        }
    }

    /// The signing of `reference@${digest_var}` and the check that follows it (`members`:
    /// a list, and its architectures in order).
    pub fn add_sign_and_check(
        &self,
        plan: &mut crate::plan::Plan,
        registry: &crate::registry::Registry,
        reference: &str,
        digest_var: &'static str,
        members: Option<&[crate::arch::Arch]>,
    ) {
        if let Some(unlock) = self.unlock_step() {
            plan.push(unlock);
        }
        plan.push(
            self.sign_step("sign", registry, reference, digest_var, members.is_some())
                .done(crate::plan::Done::Say(format!(
                    "ok: signed {reference}{} ({}): signatures in {}",
                    if members.is_some() {
                        " and every image in it"
                    } else {
                        ""
                    },
                    self.method.name(),
                    self.where_signatures_go()
                ))),
        );
        if let (Some(uid), Method::Gpg, false) = (self.owner, self.method, plan.as_root) {
            plan.push(
                Step::new(
                    "sign-owner",
                    format!("give {} back to uid {uid}", self.lookaside_dir),
                    "chown",
                )
                .args(["-R", "--no-dereference", &uid.to_string(), "--"])
                .arg(self.lookaside_dir.as_str())
                .root(true),
            );
        }
        if self.passphrase.is_some() {
            plan.explain_secret(
                inputs::SIGN_PASSPHRASE_FILE.secret_name(),
                "the signing key's passphrase, in a file only you can read: (umask 077; printf '%s' \"$SIGN_PASSPHRASE\" >FILE)",
            );
        }
        plan.push(
            self.check_step("sign-check", registry, reference, digest_var, members)
                .done(crate::plan::Done::Say(format!(
                    "ok: {reference}{} signed with {}",
                    if members.is_some() {
                        " and every image in it"
                    } else {
                        ""
                    },
                    self.public_key_str()
                ))),
        );
        if members.is_some() && self.method == Method::Gpg {
            for step in self.list_check_steps(registry, reference, digest_var) {
                plan.push(step);
            }
        }
    }

    /// gpg: the list's own signature, which no policy check reads (skopeo applies a policy
    /// to images, not to lists): the list and its signature fetched as the lookaside serves
    /// them, then `skopeo standalone-verify` with the public key in a keyring of its own.
    fn list_check_steps(
        &self,
        registry: &crate::registry::Registry,
        reference: &str,
        digest_var: &'static str,
    ) -> Vec<Step> {
        const FPR: &str = "CHECK_FPR";
        let repository = repository_of(reference);
        let key = self.public_key_str();
        let home = self.dir.join("check/gnupg");
        let fetched = self.dir.join("check/list");
        let mut fetch = Step::new(
            "list-fetch",
            format!("fetch the list {repository}@${{{digest_var}}} and its signature"),
            "skopeo",
        );
        if let Some(conf) = &registry.registries_conf {
            fetch = fetch.args(["--registries-conf", conf.as_str()]);
        }
        fetch = fetch
            .args([
                "--insecure-policy",
                "--registries.d",
                self.check_dir().as_str(),
            ])
            .args(["copy", "--multi-arch", "index-only"])
            .args(registry.authfile_args())
            .var_arg(&format!("docker://{repository}@"), digest_var)
            .arg(format!("dir:{fetched}"))
            .root(true)
            .time_limit(SIGN_LIMIT_S);
        let mut steps =
            self.keyring_steps(["list-key", "list-keyring", "list-key-import"], &home, FPR);
        steps.extend([
            Step::new(
                "list-clear",
                format!("remove what an earlier check fetched: {fetched}"),
                "rm",
            )
            .args(["-rf", "--", fetched.as_str()])
            .root(true),
            fetch,
            Step::new(
                "list-sig-check",
                format!("check the signature of the list {reference} itself"),
                "skopeo",
            )
            .env("GNUPGHOME", home.as_str())
            .args(["standalone-verify", fetched.join("manifest.json").as_str(), reference])
            .var_arg("", FPR)
            .arg(fetched.join("signature-1").as_str())
            .read_only()
            .root(true)
            .time_limit(SIGN_LIMIT_S)
            .hint_when(
                "no such file",
                format!(
                    "the list {reference} itself is not signed: no signature for it at {} (publish {} there)",
                    self.lookaside_url.as_deref().unwrap_or(""),
                    self.lookaside_dir
                ),
            )
            .hint(format!(
                "the list {reference} is not signed by {key} (or for another reference)"
            ))
            .done(crate::plan::Done::Say(format!(
                "ok: the list {reference} itself signed with {key}"
            ))),
        ]);
        steps
    }

    /// gpg: the public key's fingerprint read into `fpr` and the key imported into a keyring
    /// of its own (`home`), for `skopeo standalone-verify` (`ids`: the three steps' ids).
    pub fn keyring_steps(
        &self,
        ids: [&'static str; 3],
        home: &Utf8Path,
        fpr: &'static str,
    ) -> Vec<Step> {
        let key = self.public_key_str();
        vec![
            Step::new(ids[0], format!("read the fingerprint of {key}"), "gpg")
                .args(["--batch", "--show-keys", "--with-colons", "--", key])
                .read_only()
                .time_limit(SIGN_LIMIT_S)
                .capture(fpr, crate::plan::Extract::GpgFingerprint),
            Step::new(
                ids[1],
                format!("a keyring holding only {key}: {home}"),
                "install",
            )
            .args(["-d", "-m", "0700", "--", home.as_str()]),
            Step::new(ids[2], format!("import {key} into {home}"), "gpg")
                .args([
                    "--batch",
                    "--quiet",
                    "--homedir",
                    home.as_str(),
                    "--import",
                    "--",
                ])
                .arg(key)
                .time_limit(SIGN_LIMIT_S),
        ]
    }

    /// gpg with a passphrase: gpg signs nothing once with it (loopback, from its private
    /// file), so that gpg-agent holds it for the signing that follows (its cache lasts ten
    /// minutes by default).
    pub fn unlock_step(&self) -> Option<Step> {
        let (
            Some(Signer::Gpg {
                fingerprint,
                gnupghome,
            }),
            Some(pass),
        ) = (&self.signer, &self.passphrase)
        else {
            return None;
        };
        let mut step = Step::new(
            "sign-unlock",
            format!("give the passphrase of GPG key {fingerprint} to gpg-agent"),
            "gpg",
        );
        if let Some(home) = gnupghome {
            step = step.env("GNUPGHOME", home.as_str());
        }
        Some(
            step.args(["--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase-file"])
                .secret_file_arg(
                    "",
                    inputs::SIGN_PASSPHRASE_FILE.secret_name(),
                    "sign-passphrase",
                    pass,
                )
                .args(["--local-user", fingerprint, "--output", "/dev/null", "--sign"])
                .root(true)
                .hint_when(
                    "Bad passphrase",
                    "the passphrase (SIGN_PASSPHRASE, SIGN_PASSPHRASE_FILE or --sign-passphrase-file) is not the key's",
                )
                .hint_when(
                    "No secret key",
                    "the GPG key is not in this keyring: `gpg --list-secret-keys` as the user the signing step runs as (root, or GNUPGHOME)",
                )
                .hint("see gpg's message above")
                .time_limit(UNLOCK_LIMIT_S),
        )
    }

    /// `skopeo copy --sign-by…` of `reference@${digest_var}` onto `reference`: signs what
    /// was just pushed (`all`: the list and every image in it).
    pub fn sign_step(
        &self,
        id: &'static str,
        registry: &crate::registry::Registry,
        reference: &str,
        digest_var: &'static str,
        all: bool,
    ) -> Step {
        let repository = repository_of(reference);
        let what = if all {
            "the list and every image in it"
        } else {
            "the image"
        };
        let mut step = Step::new(
            id,
            format!("sign {what} ({}) of {reference}", self.method.name()),
            "skopeo",
        );
        if let Some(Signer::Gpg {
            gnupghome: Some(home),
            ..
        }) = &self.signer
        {
            step = step.env("GNUPGHOME", home.as_str());
        }
        if let Some(conf) = &registry.registries_conf {
            step = step.args(["--registries-conf", conf.as_str()]);
        }
        // the source is what this run pushed, by digest: no policy applies to reading it
        step = step
            .args([
                "--insecure-policy",
                "--registries.d",
                self.sign_dir().as_str(),
            ])
            .arg("copy");
        if all {
            step = step.arg("--all");
        }
        step = step
            .args(["--preserve-digests", "--remove-signatures"])
            .args(registry.authfile_args());
        step = match &self.signer {
            Some(Signer::Gpg { fingerprint, .. }) => step.args(["--sign-by", fingerprint]),
            Some(Signer::Sigstore { key }) => {
                step.args(["--sign-by-sigstore-private-key", key.as_str()])
            }
            None => step,
        };
        // a GPG key's passphrase is given to gpg-agent first (`unlock_step`): skopeo's own
        // passphrase callback hung, spinning, on the second signature of a `copy --all`
        // (skopeo 1.9, gpgme), where the agent's cache needs none
        if let (Some(pass), Method::Sigstore) = (&self.passphrase, self.method) {
            step = step.arg("--sign-passphrase-file").secret_file_arg(
                "",
                inputs::SIGN_PASSPHRASE_FILE.secret_name(),
                "sign-passphrase",
                pass,
            );
        }
        step.var_arg(&format!("docker://{repository}@"), digest_var)
            .arg(format!("docker://{reference}"))
            .root(true)
            .time_limit(SIGN_LIMIT_S)
            .hint_when(
                "did not end within",
                "the signing did not end: gpg may be waiting for a passphrase (give SIGN_PASSPHRASE or --sign-passphrase-file) or for a smartcard",
            )
            .hint_when(
                "sigstore disabled",
                "this skopeo is built with sigstore switched off (Debian's is): sign with signing.method gpg, or run the tool on a host whose skopeo has sigstore (RHEL 9, Fedora)",
            )
            .hint_when(
                "No secret key",
                "the GPG key is not in this keyring: `gpg --list-secret-keys` as the user the signing step runs as (root, or GNUPGHOME)",
            )
            .hint(match self.method {
                Method::Gpg => format!(
                    "see skopeo's message above; `cargo xtask doctor --for push --sign` checks the key and {}",
                    self.lookaside_dir
                ),
                Method::Sigstore => "see skopeo's message above; `cargo xtask doctor --for push --sign` checks the key and whether skopeo can sign with sigstore".to_string(),
            })
    }

    /// The check after push: `reference@${digest_var}` read with the public key's policy
    /// (`all`: the list, then every image in it), copied onto itself by digest.
    pub fn check_step(
        &self,
        id: &'static str,
        registry: &crate::registry::Registry,
        reference: &str,
        digest_var: &'static str,
        members: Option<&[crate::arch::Arch]>,
    ) -> Step {
        let repository = repository_of(reference);
        let mut step = Step::new(
            id,
            match members {
                Some(_) => format!("check the signature of every image in the list {reference}"),
                None => format!("check the signature of {reference}"),
            },
            "skopeo",
        );
        if let Some(conf) = &registry.registries_conf {
            step = step.args(["--registries-conf", conf.as_str()]);
        }
        step = step
            .args([
                "--policy",
                self.check_policy_path().as_str(),
                "--registries.d",
                self.check_dir().as_str(),
            ])
            .arg("copy");
        if members.is_some() {
            step = step.arg("--all");
        }
        let source = |s: Step| s.var_arg(&format!("docker://{repository}@"), digest_var);
        step = step
            .args(["--preserve-digests", "--remove-signatures"])
            .args(registry.authfile_args());
        step = source(source(step));
        let order = members.map(|archs| {
            archs
                .iter()
                .enumerate()
                .map(|(i, a)| format!("image {}/{} is {a}", i + 1, archs.len()))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let whose = match &order {
            Some(o) => format!(" ({o})"),
            None => String::new(),
        };
        let mut step = step
            .read_only()
            .root(true)
            .time_limit(SIGN_LIMIT_S)
            .hint_when(
                "no signature exists",
                format!(
                    "{reference} is not signed{whose}: {}",
                    match self.method {
                        Method::Gpg => format!(
                            "gpg signatures are read from {}: publish {} there (the tool writes them there); a list pushed without --all has unsigned images",
                            self.lookaside_url.as_deref().unwrap_or(""),
                            self.lookaside_dir
                        ),
                        Method::Sigstore => "sign every image and the list (`podman manifest push --all --sign-by-sigstore-private-key`, or `cargo xtask release`)".to_string(),
                    }
                ),
            )
            .hint_when(
                "signature verification failed",
                format!("{reference} is signed by another key than {}{whose}", self.public_key_str()),
            )
            .hint_when(
                "Invalid GPG signature",
                format!("{reference} is signed by another key than {}{whose}", self.public_key_str()),
            )
            .hint_when(
                "not accepted",
                format!("{reference} is signed by another key than {}{whose}", self.public_key_str()),
            );
        step.hint = Some(format!(
            "see skopeo's message above{whose}; the policy is {}",
            self.check_policy_path()
        ));
        step
    }
}

/// Does the docker-transport policy scope `scope` decide for images of `repository` instead
/// of `repository`'s own entry? containers/image looks an image up by its identity first
/// (`repository:tag` or `repository@digest`), then by the repository, then by each parent
/// namespace up to the registry (`quay.io/org`, `quay.io`), then by wildcards
/// (`*.example.com`), and the first scope the policy has decides. So the repository itself
/// and the repository with a tag or digest come before (or are) its own entry; a parent
/// namespace or registry comes after it; `repository/sub` is another repository, and
/// `repository-2` too. Scopes are compared as written, as containers/image compares them.
pub fn covers(scope: &str, repository: &str) -> bool {
    scope == repository
        || scope
            .strip_prefix(repository)
            .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('@'))
}

/// `registry/org/name` of `registry/org/name:tag`.
pub fn repository_of(reference: &str) -> &str {
    validate::reference_parts(reference).0
}

/// `registry/org` of `registry/org/name`: the scope of the registries.d entries.
pub fn scope_of(repository: &str) -> &str {
    repository.rsplit_once('/').map_or(repository, |(s, _)| s)
}

fn sigstore_registries_d(scope: &str) -> String {
    format!(
        "# written by cargo xtask: signatures of {scope} are stored in the registry\ndocker:\n  {scope}:\n    use-sigstore-attachments: true\n"
    )
}

/// A step writing `text` to `path` (mode 0644, directories made): the text on stdin, shown in
/// the printed plan (it holds no secret).
fn write_step(id: &'static str, path: &Utf8Path, text: String, what: &str) -> Step {
    Step::new(id, format!("write {what}: {path}"), "install")
        .args(["-D", "-m", "0644", "/dev/stdin", path.as_str()])
        .stdin(Stdin::Text(text))
}

/// A lookaside URL: http(s), a host, no spaces or quotes.
pub fn lookaside_url(what: &str, value: &str) -> anyhow::Result<String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && !r.starts_with('/')
                && !value.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\')
                }) =>
        {
            Ok(value.trim_end_matches('/').to_string())
        }
        _ => Err(bad(
            what,
            value,
            "not an http:// or https:// URL (where the lookaside directory is served)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_that_cover_the_repository() {
        let repo = "registry.example.com:5000/org/os";
        for scope in [
            repo,
            "registry.example.com:5000/org/os:latest",
            "registry.example.com:5000/org/os:linux-arm64",
            "registry.example.com:5000/org/os@sha256:0123",
        ] {
            assert!(covers(scope, repo), "{scope}");
        }
        for scope in [
            "registry.example.com:5000",
            "registry.example.com:5000/org",
            "registry.example.com:5000/org/os/sub",
            "registry.example.com:5000/org/os2",
            "registry.example.com:5000/org/os-tools:latest",
            "registry.example.com/org/os",
            "*.example.com",
            "quay.io",
        ] {
            assert!(!covers(scope, repo), "{scope}");
        }
    }

    #[test]
    fn lookaside_urls() {
        assert!(lookaside_url("x", "http://127.0.0.1:8080/").is_ok());
        assert!(lookaside_url("x", "file:///srv").is_err());
        assert!(lookaside_url("x", "http://a b").is_err());
        assert!(lookaside_url("x", "http:///x").is_err());
    }
}
