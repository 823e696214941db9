//! `doctor --for bundle`: can this host make and check a bundle of carried updates, does a
//! bundle verify, is there room for it? The public key devices check it with (and, to make
//! one, the signing key), the tools the verifier uses (it runs here as on a device), a
//! bundle given with `--bundle DIR` checked as a device checks it, the room on its file
//! system (a stick) or where `bundle.to` writes, and with `--host` the device: its image
//! has the verifier and the key, and room in /var for the upload, the verified copy and
//! bootc's import of it.

use camino::Utf8PathBuf;
use serde_json::Value;

use super::probe::{free_space, install_hint, output, stdout_of, Free};
use super::{finding, DoctorArgs, Finding, Level};
use crate::commands::build::USB_SCRIPT;
use crate::commands::bundle::local;
use crate::config::Sources;
use crate::device::USB_VERIFIER;
use crate::reach::Device;
use crate::signing::{Method, Need, Signer, Signing, SigningArgs};
use crate::validate::human;

pub(super) fn checks(args: &DoctorArgs, sources: &Sources) -> anyhow::Result<Vec<Finding>> {
    let mut out = Vec::new();
    // the public key: devices check a bundle with the one their image carries
    let public = match public_key(sources) {
        Ok(Some((key, method))) => {
            out.push(finding(
                "public-key",
                Level::Ok,
                format!(
                    "{key} ({}): what a device built with usb_updates checks a bundle with",
                    method.name()
                ),
                "",
            ));
            Some((key, method))
        }
        Ok(None) => {
            out.push(finding(
                "public-key",
                Level::Fail,
                "no signing.public_key: a device checks a bundle with the public key its image carries",
                "`cargo xtask keygen`, then put what it prints in microshift-image.json (signing.public_key, signing.key, signing.method)",
            ));
            None
        }
        Err(e) => {
            out.push(finding("public-key", Level::Fail, e.to_string(), ""));
            None
        }
    };
    let method = public.as_ref().map_or(Method::Gpg, |(_, m)| *m);
    // the signing key, to make one
    out.push(
        match Signing::resolve(&SigningArgs::default(), sources, Need::Bundle) {
            Ok(Some(Signing {
                signer: Some(Signer::Gpg {
                    fingerprint,
                    gnupghome,
                }),
                ..
            })) => {
                if super::signing::has_secret_key(&fingerprint, gnupghome.as_deref()) {
                    finding("signing-key", Level::Ok, format!("GPG key {fingerprint} in the keyring: `bundle` signs with it"), "")
                } else {
                    finding(
                        "signing-key",
                        Level::Fail,
                        format!("no secret GPG key {fingerprint} in the keyring"),
                        "`gpg --list-secret-keys` as yourself (GNUPGHOME selects another keyring); `cargo xtask keygen --method gpg` makes one",
                    )
                }
            }
            Ok(Some(Signing {
                signer: Some(Signer::Sigstore { key }),
                ..
            })) => match output("cosign", &["version"]) {
                Some(_) => finding("signing-key", Level::Ok, format!("{key}: `bundle` signs with it (cosign)"), ""),
                None => finding(
                    "signing-key",
                    Level::Fail,
                    format!("{key}: cosign, which signs a bundle's manifest with a sigstore key, is not installed"),
                    "`sudo dnf install cosign` (RHEL 9, Fedora), or sign with signing.method gpg",
                ),
            },
            Ok(_) => finding(
                "signing-key",
                Level::Warn,
                "no signing.key: needed to make a bundle (not to check one)",
                "`cargo xtask keygen`, then signing.key in microshift-image.json",
            ),
            Err(e) => finding("signing-key", Level::Fail, e.to_string(), ""),
        },
    );
    // the verifier's tools (it runs here as it runs on a device)
    let mut tools = vec![
        ("jq", install_hint("jq", "jq")),
        ("sha256sum", install_hint("coreutils", "coreutils")),
        ("skopeo", install_hint("skopeo", "skopeo")),
    ];
    match method {
        Method::Gpg => tools.push(("gpgv", install_hint("gpgv", "gnupg2"))),
        Method::Sigstore => tools.push(("openssl", install_hint("openssl", "openssl"))),
    }
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(t, _)| output(t, &["--version"]).is_none())
        .map(|(t, _)| *t)
        .collect();
    out.push(if missing.is_empty() {
        finding(
            "tools",
            Level::Ok,
            format!(
                "{}: the verifier's, and skopeo for the copies",
                tools.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
            ),
            "",
        )
    } else {
        finding(
            "tools",
            Level::Fail,
            format!("not installed: {}", missing.join(", ")),
            tools
                .iter()
                .filter(|(t, _)| missing.contains(t))
                .map(|(_, h)| h.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        )
    });
    // a bundle: verified as a device verifies it, and the room left where it is
    let mut need: Option<u64> = None;
    match &args.bundle {
        Some(dir) => {
            let path = sources.flag_path("--bundle", dir)?;
            match local::load("--bundle", &path) {
                Err(e) => out.push(finding(
                    "bundle",
                    Level::Fail,
                    e.to_string(),
                    "make one with `cargo xtask bundle --to DIR`",
                )),
                Ok(b) => {
                    need = b.images.iter().map(|(_, _, n)| *n).max();
                    out.push(verified(&b, public.as_ref(), sources));
                    out.push(room(
                        "stick-space",
                        path.clone(),
                        b.images.iter().map(|(_, _, n)| *n).sum(),
                        true,
                    ));
                }
            }
        }
        None => {
            if let Ok(Some(p)) = sources.value(&crate::inputs::BUNDLE_TO, None) {
                if let Ok(path) = sources.path(&p) {
                    out.push(room("stick-space", path, 0, false));
                }
            }
        }
    }
    if args.host.is_some() || args.vm.is_some() {
        out.push(device(args, sources, need)?);
    }
    Ok(out)
}

/// The public key (signing.public_key) and the method, checked as `build` checks them.
fn public_key(sources: &Sources) -> anyhow::Result<Option<(Utf8PathBuf, Method)>> {
    let Some(picked) = sources.value(&crate::inputs::SIGN_PUBLIC_KEY, None)? else {
        return Ok(None);
    };
    let method = Method::resolve(sources, None)?;
    let path = sources.path(&picked)?;
    crate::signing::keys::public_key(&picked.what, &path, method)?;
    Ok(Some((path, method)))
}

/// The bundle checked with the device's own verifier, here: signature, every checksum and
/// size, the blobs each index references.
fn verified(
    b: &local::Local,
    public: Option<&(Utf8PathBuf, Method)>,
    sources: &Sources,
) -> Finding {
    let Some((key, method)) = public else {
        return finding(
            "bundle",
            Level::Fail,
            format!("{}: not checked (no public key)", b.dir),
            "",
        );
    };
    let script = sources.root.join(USB_SCRIPT);
    let ran = output(
        "sh",
        &[
            script.as_str(),
            "verify",
            "--key",
            key.as_str(),
            "--method",
            method.name(),
            b.dir.as_str(),
        ],
    );
    let images = b
        .images
        .iter()
        .map(|(a, d, n)| format!("{a} {d} ({})", human(*n)))
        .collect::<Vec<_>>()
        .join(", ");
    match ran {
        Some(o) if o.status.success() => finding(
            "bundle",
            Level::Ok,
            format!("{} verifies with {key}: {images}", b.dir),
            "",
        ),
        Some(o) => {
            let said = String::from_utf8_lossy(&o.stderr);
            let why = said
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("refused");
            finding(
                "bundle",
                Level::Fail,
                format!("{}: {}", b.dir, crate::validate::escape_controls(why)),
                "a device refuses it too: make it again with `cargo xtask bundle` (signed with the key whose public half the devices carry)",
            )
        }
        None => finding("bundle", Level::Fail, "sh cannot be run", ""),
    }
}

/// The free space where `path` is (a stick: its file system); `bytes` the bundle's.
fn room(check: &'static str, path: Utf8PathBuf, bytes: u64, there: bool) -> Finding {
    let (at, free) = free_space(path);
    match free {
        Free::Bytes(f) if there => finding(
            check,
            Level::Ok,
            format!(
                "{at}'s file system: {} free, beside the bundle's {}",
                human(f),
                human(bytes)
            ),
            "",
        ),
        Free::Bytes(f) => finding(
            check,
            Level::Ok,
            format!(
                "{at} (bundle.to): {} free (`bundle` checks the release's size against it first)",
                human(f)
            ),
            "",
        ),
        Free::NoDf | Free::Unreadable => finding(
            check,
            Level::Warn,
            format!("the free space of {at} cannot be read (df)"),
            "",
        ),
    }
}

/// The device: its verifier's own check (the key, the tools, room for the upload and the
/// verified copy of a bundle of `need` bytes).
fn device(args: &DoctorArgs, sources: &Sources, need: Option<u64>) -> anyhow::Result<Finding> {
    let device = Device::resolve(&super::device::device_args(args), sources, false)?;
    let address = match device.vm() {
        None => None,
        Some((name, uri)) => output("virsh", &["--connect", uri, "domifaddr", name])
            .filter(|o| o.status.success())
            .map(|o| crate::plan::Extract::Ipv4.apply(&stdout_of(&o)))
            .filter(|a| !a.is_empty()),
    };
    let need = need.unwrap_or(0).to_string();
    let (program, a) = device.command_now(address.as_deref(), &[USB_VERIFIER, "check", &need]);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let Some(o) = output(&program, &refs) else {
        return Ok(finding(
            "device",
            Level::Fail,
            "ssh is not installed on this host",
            install_hint("openssh-client", "openssh-clients"),
        ));
    };
    let said = String::from_utf8_lossy(&o.stderr);
    let doc: Option<Value> = serde_json::from_slice(&o.stdout).ok();
    // the device's words, shown with its control characters escaped
    let text = |v: &Value| crate::validate::escape_controls(v.as_str().unwrap_or(""));
    Ok(match doc {
        Some(d) if d["ready"] == true => finding(
            "device",
            Level::Ok,
            format!(
                "{}: its verifier has the key {} ({}); {} free in {} for the upload, the verified copy and bootc's import of it",
                device.describe(),
                text(&d["key"]),
                text(&d["method"]),
                human(d["free_bytes"].as_u64().unwrap_or(0)),
                text(&d["state"])
            ),
            "",
        ),
        Some(d) => finding(
            "device",
            Level::Fail,
            format!(
                "{}: {}",
                device.describe(),
                d["problems"].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join("; ")
            ),
            "an image built with usb_updates and signing.public_key carries the verifier and the key; free space in /var",
        ),
        None if said.contains("not found") || said.contains("No such file") => finding(
            "device",
            Level::Fail,
            format!("{}: its image has no {USB_VERIFIER}", device.describe()),
            "build the image with usb_updates (`cargo xtask build --usb-updates`, with signing.public_key) and move the device to it once",
        ),
        None => finding(
            "device",
            Level::Fail,
            format!(
                "{} did not answer: {}",
                device.describe(),
                crate::validate::escape_controls(said.lines().last().unwrap_or("no answer"))
            ),
            "`cargo xtask doctor --for upgrade --host ...` checks the ssh connection",
        ),
    })
}
