//! `cargo xtask keygen`: a signing key for `push`, `manifest` and `release`, made by the
//! real tools: gpg (`--quick-gen-key`, in the user's keyring or `GNUPGHOME`) or skopeo
//! (`generate-sigstore-key`, skopeo >= 1.11). The passphrase reaches them through a file in
//! the private secret directory, never the command line.

use camino::Utf8PathBuf;

use super::{Action, Ctx};
use crate::config::Sources;
use crate::inputs;
use crate::plan::{Done, Extract, Plan, Step};
use crate::validate::bad;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeygenArgs {
    /// gpg or sigstore [default: signing.method, else sigstore]
    #[arg(long, value_name = "METHOD")]
    pub method: Option<String>,
    /// gpg: the key's user id [default: "<image name> image signing"]
    #[arg(long = "name", value_name = "USER_ID")]
    pub user_id: Option<String>,
    /// Directory the public key (and a sigstore private key) is written to [default: target/signing/keys]
    #[arg(long, value_name = "DIR")]
    pub output: Option<Utf8PathBuf>,
    #[arg(long)]
    pub sign_passphrase_file: Option<Utf8PathBuf>,
}

/// The variable holding the new GPG key's fingerprint.
const FPR: &str = "FPR";

/// `cargo xtask keygen`
pub fn act(args: &KeygenArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    plan(args, ctx.sources).map(Action::plan)
}

fn plan(args: &KeygenArgs, sources: &Sources) -> anyhow::Result<Plan> {
    let method = match &args.method {
        Some(m) => sources.flag_picked("--method", m),
        None => sources.get(&inputs::SIGN_METHOD, None)?,
    };
    let method = crate::validate::one_of(&method.what, &method.value, &["sigstore", "gpg"])?;
    let out = match &args.output {
        Some(dir) => sources.flag_path("--output", dir.as_str())?,
        None => sources.root.join("target/signing/keys"),
    };
    let passphrase = crate::secrets::password(
        sources,
        &inputs::SIGN_PASSPHRASE_FILE,
        args.sign_passphrase_file.as_deref(),
    )?;
    let mut plan = Plan::new(format!("make a {method} signing key"), sources.as_root);
    plan.push(
        Step::new("key-dir", format!("make {out} (mode 0700)"), "install").args([
            "-d",
            "-m",
            "0700",
            "--",
            out.as_str(),
        ]),
    );
    let secret = inputs::SIGN_PASSPHRASE_FILE.secret_name();
    if method == "gpg" {
        let image = crate::image::Image::name(None, sources)?;
        let uid = args
            .user_id
            .clone()
            .unwrap_or_else(|| format!("{image} image signing"));
        if uid.trim().is_empty() || uid.chars().any(char::is_control) || uid.starts_with('-') {
            return Err(bad("--name", &uid, "not a usable GPG user id"));
        }
        let public = out.join("xtask-signing.gpg");
        let mut gen = Step::new("gpg-key", format!("make the GPG key \"{uid}\""), "gpg").args([
            "--batch",
            "--pinentry-mode",
            "loopback",
        ]);
        gen = match &passphrase {
            Some(pass) => {
                gen.arg("--passphrase-file")
                    .secret_file_arg("", secret, "sign-passphrase", pass)
            }
            // a key without a passphrase (CI keys kept in a secret store): said in the plan
            None => gen.args(["--passphrase", ""]),
        };
        plan.push(
            gen.args(["--quick-gen-key", &uid, "ed25519", "sign", "never"])
                .hint_when(
                    "already exists",
                    format!("a key \"{uid}\" is in the keyring already: `gpg --list-secret-keys`; give another --name, or use that key (signing.key: its fingerprint)"),
                )
                .hint("see gpg's message above (GNUPGHOME selects another keyring)"),
        );
        plan.push(
            Step::new("gpg-fingerprint", "read the key's fingerprint", "gpg")
                .args(["--list-secret-keys", "--with-colons", "--"])
                .arg(format!("={uid}"))
                .read_only()
                .capture(FPR, Extract::GpgFingerprint),
        );
        plan.push(
            Step::new("gpg-export", format!("export the public key to {public}"), "gpg")
                .args(["--batch", "--yes", "--output", public.as_str(), "--export"])
                .var_arg("", FPR)
                .done(Done::Say(format!(
                    "ok: GPG key ${{{FPR}}}, public key {public}; in microshift-image.json: \"signing\": {{\"method\": \"gpg\", \"key\": \"${{{FPR}}}\", \"public_key\": \"{public}\", \"lookaside_url\": \"<where you serve target/signatures>\"}}"
                ))),
        );
        if passphrase.is_some() {
            plan.explain_secret(secret, "the new key's passphrase, in a file only you can read: (umask 077; printf '%s' \"$SIGN_PASSPHRASE\" >FILE)");
        }
    } else {
        let Some(pass) = &passphrase else {
            return Err(crate::validate::refuse(format!(
                "{secret}: missing; a sigstore private key is always encrypted: give its passphrase (SIGN_PASSPHRASE, SIGN_PASSPHRASE_FILE or --sign-passphrase-file)"
            )));
        };
        let prefix = out.join("xtask-signing");
        plan.push(
            Step::new("sigstore-key", format!("make the sigstore key pair {prefix}.{{private,pub}}"), "skopeo")
                .args(["generate-sigstore-key", "--output-prefix", prefix.as_str()])
                .arg("--passphrase-file")
                .secret_file_arg("", secret, "sign-passphrase", pass)
                .hint_when(
                    "unknown flag: --output-prefix",
                    "this skopeo has no generate-sigstore-key (it arrived in skopeo 1.11: RHEL 9.2 and later, Fedora; Debian 12 has 1.9): make the key on such a host, or with cosign (`cosign generate-key-pair`), or use --method gpg",
                )
                .hint_when(
                    "unknown command",
                    "this skopeo has no generate-sigstore-key (it arrived in skopeo 1.11: RHEL 9.2 and later, Fedora; Debian 12 has 1.9): make the key on such a host, or with cosign (`cosign generate-key-pair`), or use --method gpg",
                )
                .hint("see skopeo's message above")
                .done(Done::Say(format!(
                    "ok: sigstore key {prefix}.private (keep it private), public key {prefix}.pub; in microshift-image.json: \"signing\": {{\"method\": \"sigstore\", \"key\": \"{prefix}.private\", \"public_key\": \"{prefix}.pub\"}}"
                ))),
        );
        plan.explain_secret(secret, "the new key's passphrase, in a file only you can read: (umask 077; printf '%s' \"$SIGN_PASSPHRASE\" >FILE)");
    }
    plan.facts = serde_json::json!({ "method": method, "output": out.as_str() });
    Ok(plan)
}
