//! The signed OS image's copy, checked with the public key (before the copy: is it signed
//! already? after it: was it signed with it?), for the digest copied.
//!
//! In a registry (either method): the copy is copied onto itself by digest (`--all`: every
//! image of the list; the mirror holds every blob, so nothing is downloaded) through a policy
//! requiring the key for the name the images were signed as, the mirror's name read as the
//! original's (`remapIdentity`); the signatures are read where the mirror keeps them (gpg:
//! at `mirror.lookaside_url` when it is known, else in `mirror.lookaside_dir`, through the
//! run's registries.d; sigstore: attachments in the mirror), as a device reads them through
//! the mirror. In a `--to-dir` directory (gpg): the
//! list's own signature beside its manifest, with `skopeo standalone-verify` and a keyring
//! holding only the public key (sigstore attachments travel unchecked there; `--from-dir`
//! checks them in the mirror).

use camino::Utf8PathBuf;

use super::{Dest, Item, Kind, MirrorPlan, Mode};
use crate::plan::{Stdin, Step, Want};
use crate::signing::Method;
use crate::validate;

/// The public key's fingerprint, for the check of a directory's copy.
const FPR: &str = "MIRROR_CHECK_FPR";

impl MirrorPlan {
    /// Are the signatures of this image's copy checked? The OS image's, with signing
    /// configured: in a registry, with either method; in a directory, gpg's.
    pub(super) fn checks_signature(&self, item: &Item) -> bool {
        let Some(signing) = &self.signing else {
            return false;
        };
        item.kind == Kind::Os
            && (!matches!(self.mode, Mode::ToDir(_)) || signing.method == Method::Gpg)
    }

    /// The policy of the check in a registry.
    fn check_policy_path(&self) -> Utf8PathBuf {
        self.registries_d.with_file_name("check-policy.json")
    }

    /// The keyring of the check in a directory.
    fn check_keyring(&self) -> Utf8PathBuf {
        self.registries_d.with_file_name("check-gnupg")
    }

    /// The steps before the images: the check's policy (a registry) or keyring (a directory).
    pub(super) fn signature_setup(&self) -> Vec<Step> {
        let Some(signing) = &self.signing else {
            return Vec::new();
        };
        let checked: Vec<&Item> = self
            .items
            .iter()
            .filter(|i| self.checks_signature(i))
            .collect();
        if checked.is_empty() {
            return Vec::new();
        }
        match (&self.mode, &self.mirror) {
            (Mode::ToDir(_), _) | (_, None) => signing.keyring_steps(
                [
                    "signatures-key",
                    "signatures-keyring",
                    "signatures-key-import",
                ],
                &self.check_keyring(),
                FPR,
            ),
            (_, Some(m)) => {
                let copies: Vec<(String, String)> = checked
                    .iter()
                    .map(|i| {
                        let repo = validate::reference_parts(&i.reference).0;
                        (m.repository(repo), repo.to_string())
                    })
                    .collect();
                let path = self.check_policy_path();
                vec![Step::new(
                    "signatures-policy",
                    format!("write the policy the check of the OS image's copy applies: {path}"),
                    "install",
                )
                .args(["-D", "-m", "0644", "/dev/stdin", path.as_str()])
                .stdin(Stdin::Text(signing.copy_check_policy(&copies)))]
            }
        }
    }

    /// The check of the signatures of an image's copy at `dest`, of the digest `want`.
    pub(super) fn signature_check(
        &self,
        id: &'static str,
        about: String,
        item: &Item,
        dest: &Dest,
        want: &Want,
    ) -> Step {
        let signing = self.signing.as_ref().expect("a signed run");
        let key = signing.public_key_str();
        let reference = &item.reference;
        let other_key =
            format!("the copy of {reference} is signed by another key than {key}, or not for {reference}'s repository");
        match dest {
            Dest::Registry { repo, .. } => {
                let m = self.mirror.as_ref().expect("a registry mode has a mirror");
                let mut step = self
                    .skopeo(id, about)
                    .args(["--policy", self.check_policy_path().as_str()])
                    .args(["copy", "--all", "--preserve-digests", "--remove-signatures"])
                    .args(m.tls_args("--src-", &self.cert_dir))
                    .args(m.tls_args("--dest-", &self.cert_dir));
                if let Some(a) = &m.auth {
                    step = step.args(["--src-authfile", a.as_str(), "--dest-authfile", a.as_str()]);
                }
                let at = |s: Step| match want {
                    Want::Digest(d) => s.arg(format!("docker://{repo}@{d}")),
                    Want::Var(v) => s.var_arg(&format!("docker://{repo}@"), v),
                };
                let unsigned = match (signing.method, &m.lookaside_url) {
                    (Method::Gpg, None) => format!(
                        "its signatures are read from {} (mirror.lookaside_dir), where skopeo copied those of {reference}: is it signed, and are its signatures served at signing.lookaside_url?",
                        m.lookaside_dir
                    ),
                    (Method::Gpg, Some(url)) => format!(
                        "its signatures are read from {url} (mirror.lookaside_url), as devices read them, where skopeo copied those of {reference} into {} (mirror.lookaside_dir): does {url} serve that directory, and is {reference} signed (are its signatures served at signing.lookaside_url)?",
                        m.lookaside_dir
                    ),
                    (Method::Sigstore, _) => format!(
                        "skopeo copies sigstore attachments with the image: is {reference} signed?"
                    ),
                };

                let mut step = at(at(step)).read_only();
                if let Some(url) = &m.lookaside_url {
                    // skopeo names the signature's URL when it cannot be read (either method:
                    // the mirror's entry reads lookaside signatures there, as devices do)
                    step = step.hint_when(
                        crate::plan::name(url.clone()),
                        format!("the mirror's lookaside {url} (mirror.lookaside_url), where devices read the signatures, did not answer: serve {} there", m.lookaside_dir),
                    );
                }
                step
                    .hint_when(
                        "no signature exists",
                        format!("the copy of {reference} in {} is not signed: {unsigned}", m.location),
                    )
                    .hint_when("signature verification failed", other_key.clone())
                    .hint_when("Invalid GPG signature", other_key.clone())
                    .hint_when("not accepted", other_key)
                    .hint_when(
                        "sigstore disabled",
                        "this skopeo is built with sigstore switched off (Debian's is): check on a host whose skopeo has sigstore (RHEL 9, Fedora)",
                    )
                    .hint(format!(
                        "see skopeo's message above; the policy is {}",
                        self.check_policy_path()
                    ))
            }
            Dest::Dir(d) => Step::new(id, about, "skopeo")
                .env("GNUPGHOME", self.check_keyring().as_str())
                .args(["standalone-verify", d.join("manifest.json").as_str(), reference])
                .var_arg("", FPR)
                .arg(d.join("signature-1").as_str())
                .read_only()
                .hint_when(
                    "no such file",
                    format!("the copy of {reference} in {d} has no signature: is {reference} signed, and are its signatures served at signing.lookaside_url?"),
                )
                .hint(other_key),
        }
    }
}
