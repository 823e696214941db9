//! The layer of carried updates (`usb_updates`): the verifier of `cargo xtask bundle`'s
//! bundles, its udev rule and unit, its settings, and the policy entry that lets bootc read
//! the verified copies (`containerfiles/Containerfile.bootc-usb`). Built on the image (after
//! the mirror layer) and before the signature policy layer, whose public key it verifies
//! with: a device without that key would have nothing to check a stick against.

use camino::Utf8PathBuf;

use super::{Build, BuildFlags, Enforce};
use crate::config::Sources;
use crate::device::{USB_IMAGES, USB_STATE, USB_VERIFIER};
use crate::inputs;
use crate::plan::{DropKeys, Stdin, Step};
use crate::validate::{self, bad};

/// The Containerfile of the layer and the directory of its files, at the repository root.
pub const USB_CONTAINERFILE: &str = "containerfiles/Containerfile.bootc-usb";
pub const USB_DIR: &str = "containerfiles/usb";
/// The verifier (a POSIX sh script), its unit and its udev rule, in [`USB_DIR`].
pub const USB_SCRIPT: &str = "containerfiles/usb/microshift-usb-update";
const UNIT: &str = "microshift-usb-update@.service";
const RULE: &str = "90-microshift-usb-update.rules";

/// When a verified stick's update is applied.
pub const APPLY: [&str; 2] = ["next-boot", "now"];

#[derive(Clone, Debug, PartialEq)]
pub struct UsbLayer {
    pub label: String,
    pub apply: String,
    /// `gpg` or `sigstore`, and where the key is in the image.
    pub method: crate::signing::Method,
    /// The udev rule with the label written in (the repository's, `@LABEL@` replaced).
    pub rule: String,
    /// Where the tool writes the layer's build context.
    pub context: Utf8PathBuf,
    pub containerfile: Utf8PathBuf,
    pub script: Utf8PathBuf,
    pub unit: Utf8PathBuf,
}

/// A stick's label: what udev's ID_FS_LABEL holds unchanged (it replaces other bytes), and
/// what every file system takes (FAT's labels are at most 11 characters).
pub fn label(what: &str, value: &str) -> anyhow::Result<String> {
    let ok = !value.is_empty()
        && value.len() <= 16
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(bad(
            what,
            &validate::escape_controls(value),
            "not a file system label a device can match: 1 to 16 letters, digits, '_' or '-' (FAT takes 11)",
        ));
    }
    Ok(value.to_string())
}

impl UsbLayer {
    /// The layer, when usb_updates is on: the label and when to apply checked, the signature
    /// policy (with its public key) required.
    pub(super) fn resolve(
        flags: &BuildFlags,
        enforce: Option<&Enforce>,
        tag: &str,
        sources: &Sources,
    ) -> anyhow::Result<Option<UsbLayer>> {
        if !sources.switch(&inputs::USB_UPDATES, flags.usb_updates)? {
            for (flag, given) in [
                ("--usb-label", &flags.usb_label),
                ("--usb-apply", &flags.usb_apply),
            ] {
                if let Some(v) = given {
                    return Err(bad(
                        flag,
                        v,
                        "only with --usb-updates (or usb_updates.enabled in the config file)",
                    ));
                }
            }
            return Ok(None);
        }
        let l = sources.get(&inputs::USB_LABEL, flags.usb_label.as_deref())?;
        let label = label(&l.what, &l.value)?;
        let a = sources.get(&inputs::USB_APPLY, flags.usb_apply.as_deref())?;
        let apply = validate::one_of(&a.what, &a.value, &APPLY)?;
        let Some(enforce) = enforce else {
            return Err(validate::refuse(format!(
                "{}: missing; usb_updates verifies a bundle's signed manifest with the public key the image carries: give --sign-public-key or signing.public_key (`cargo xtask keygen` writes one)",
                inputs::SIGN_PUBLIC_KEY.flag
            )));
        };
        let root = &sources.root;
        let containerfile = root.join(USB_CONTAINERFILE);
        let script = root.join(USB_SCRIPT);
        let unit = root.join(USB_DIR).join(UNIT);
        let rule_file = root.join(USB_DIR).join(RULE);
        for f in [&containerfile, &script, &unit, &rule_file] {
            if !f.is_file() {
                return Err(validate::refuse(format!(
                    "usb_updates: {f} is missing: it comes with the repository (restore it from git)"
                )));
            }
        }
        let template =
            String::from_utf8(validate::read_bounded("usb_updates", &rule_file, 64 << 10)?)
                .map_err(|_| bad("usb_updates", rule_file.as_str(), "is not UTF-8 text"))?;
        if !template.contains("@LABEL@") {
            return Err(bad(
                "usb_updates",
                rule_file.as_str(),
                "has no @LABEL@ for the tool to write the label in",
            ));
        }
        Ok(Some(UsbLayer {
            rule: template.replace("@LABEL@", &label),
            label,
            apply,
            method: enforce.signing.method,
            context: root.join(format!("target/usb/image-{tag}")),
            containerfile,
            script,
            unit,
        }))
    }

    /// The verifier's settings in the image (`KEY=VALUE` lines it reads, never sources).
    pub fn config(&self) -> String {
        format!(
            "# written by cargo xtask build (usb_updates): read by {USB_VERIFIER}\nLABEL={}\nAPPLY={}\nMETHOD={}\nKEY={}\nSTATE={USB_STATE}\n",
            self.label,
            self.apply,
            self.method.name(),
            crate::signing::device_key_path(self.method)
        )
    }

    /// What the image's policy gets: the verified copies, and nothing else, accepted from
    /// the `oci` transport (the verifier checked their signed manifest).
    pub fn policy_over() -> serde_json::Value {
        serde_json::json!({
            "transports": { "oci": { USB_IMAGES: [{ "type": "insecureAcceptAnything" }] } }
        })
    }

    /// What `--json` says of it.
    pub fn facts(&self) -> serde_json::Value {
        serde_json::json!({
            "label": self.label,
            "apply": self.apply,
            "verifier": USB_VERIFIER,
            "key": crate::signing::device_key_path(self.method),
            "images": USB_IMAGES,
        })
    }
}

impl Build {
    /// The layer: its build context written (the script, unit, rule, settings, the base's
    /// policy with the `oci` entry), then built on `base` as `local`.
    pub(super) fn usb_steps(&self, layer: &UsbLayer, base: &str, local: &str) -> Vec<Step> {
        let ctx = &layer.context;
        let var = crate::plan::name(format!(
            "USB_BASE_POLICY_{}",
            self.image
                .tag()
                .to_ascii_uppercase()
                .replace(['-', '.'], "_")
        ));
        let write = |id: &'static str, about: String, mode: &str, from: &str, to: &str| {
            Step::new(id, about, "install")
                .args(["-D", "-m", mode, from])
                .arg(ctx.join(to).as_str())
        };
        let build = Step::new(
            "usb-layer",
            format!(
                "build the verifier of carried updates into {local}: a stick labelled {} is checked with the image's key and staged ({})",
                layer.label, layer.apply
            ),
            "podman",
        )
        .arg("build")
        .root(true)
        .hint("see the build's message above");
        vec![
            Step::new(
                "usb-context",
                format!("write the update layer's build context: {ctx}"),
                "rm",
            )
            .args(["-rf", "--", ctx.as_str()]),
            write(
                "usb-script",
                "copy the verifier into it".into(),
                "0755",
                layer.script.as_str(),
                "microshift-usb-update",
            ),
            write(
                "usb-unit",
                "copy its unit into it".into(),
                "0644",
                layer.unit.as_str(),
                UNIT,
            ),
            write(
                "usb-rule",
                format!("write its udev rule (label {})", layer.label),
                "0644",
                "/dev/stdin",
                RULE,
            )
            .stdin(Stdin::Text(layer.rule.clone())),
            write(
                "usb-config",
                "write its settings".into(),
                "0644",
                "/dev/stdin",
                "config",
            )
            .stdin(Stdin::Text(layer.config())),
            crate::signing::base_policy_step("usb-base-policy", base, var),
            write(
                "usb-policy",
                format!("write the policy with the verified copies ({USB_IMAGES}) accepted from the oci transport"),
                "0644",
                "/dev/stdin",
                "policy.json",
            )
            .stdin(Stdin::JsonOver {
                base: var,
                over: UsbLayer::policy_over(),
                drop: None::<DropKeys>,
            }),
            self.shared_flags(build)
                .arg("--pull=never")
                .args(["-t", local])
                .args(["--build-arg".to_string(), format!("BASE_IMAGE={base}")])
                .args(["-f", layer.containerfile.as_str()])
                .arg(ctx.as_str()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["MS-UPDATE", "upd_1", "A"] {
            assert!(label("--usb-label", ok).is_ok(), "{ok}");
        }
        for no in [
            "",
            "MS UPDATE",
            "a/b",
            "x\u{1b}[31m",
            "ÄPFEL",
            "12345678901234567",
            "a\"b",
        ] {
            assert!(label("--usb-label", no).is_err(), "{no:?}");
        }
    }
}
