//! `cargo xtask bundle`: the release for devices with no network at all, carried on a USB
//! stick or a laptop. For each architecture, the released image as an OCI layout, by the
//! digest the registry holds (the list pinned once, as `rollout` pins it; `skopeo copy
//! --preserve-digests`), and a manifest (`bundle.json`, format `xtask-bundle/1`: the image,
//! each architecture's digest, the MicroShift version, when it was made, every file and blob
//! with its SHA-256 and size) signed with the release key: a detached gpg signature (the
//! passphrase given to gpg-agent first, as signing does for skopeo), or a sigstore signature
//! (cosign). Signatures of the images do not travel in an OCI layout; the manifest's does,
//! and the device checks it with the key its image carries (`microshift-usb-update`, built
//! in with usb_updates) before bootc sees anything.
//!
//! Before planning: the list read from the registry (pinned), each image's size. The plan:
//! room checked first, the layouts written into `DIR.part` beside DIR, the manifest made and
//! signed, the whole checked with the device's own verifier (the signature with the public
//! key, every checksum and size, the blobs each index references), then DIR replaced by it.
//! A run that fails leaves DIR as it was.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::json;

use super::build::USB_SCRIPT;
use super::fleet::{self, Pinned};
use super::lifecycle::{ImageFlags, Wanted};
use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::Sources;
use crate::device::STICK_BUNDLE;
use crate::inputs;
use crate::inspect::carried::BUNDLE_FORMAT;
use crate::plan::{name, Check, Done, Plan, Stdin, Step};
use crate::signing::{Method, Need, Signer, Signing, SigningArgs};
use crate::validate::{self, bad};

/// A bundle on this host: read and checked (`upgrade --from-bundle`, `doctor --for bundle`).
pub mod local;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct BundleArgs {
    #[arg(long = "to", value_name = "DIR")]
    pub bundle_to: Option<String>,
    #[arg(long = "arch", value_delimiter = ',')]
    pub archs: Vec<String>,
    #[command(flatten)]
    pub image: ImageFlags,
    #[arg(long)]
    pub microshift_version: Option<String>,
    // the release key's flags (signing's, less the lookaside and policy ones: the manifest's
    // signature travels in the bundle)
    #[arg(long, value_name = "KEY")]
    pub sign_by: Option<String>,
    #[arg(long, value_name = "METHOD")]
    pub sign_method: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub sign_passphrase_file: Option<Utf8PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub sign_public_key: Option<String>,
}

/// One architecture's image in the bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub arch: Arch,
    pub digest: String,
    /// Its manifest's, config's and layers' bytes, as the registry says.
    pub bytes: u64,
}

/// Everything a bundle needs, resolved and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    /// The bundle directory.
    pub to: Utf8PathBuf,
    /// It exists (empty, or an earlier bundle): replaced at the end.
    pub replaces: bool,
    /// Where `df` looks for room: the directory `to` is in (the bundle is written beside it
    /// first), or the nearest one above it that exists.
    pub room_at: Utf8PathBuf,
    pub pinned: Pinned,
    pub members: Vec<Member>,
    pub microshift_version: String,
    pub signing: Signing,
    pub registries_conf: Option<Utf8PathBuf>,
    pub authfile: Option<Utf8PathBuf>,
    /// The verifier (containerfiles/usb/microshift-usb-update): it makes the manifest and
    /// checks the bundle as a device does.
    pub script: Utf8PathBuf,
}

/// `cargo xtask bundle`
pub fn act(args: &BundleArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    let bundle = Bundle::resolve(args, ctx.sources)?;
    Ok(Action::plan(bundle.plan(ctx.sources.as_root)))
}

/// `--to`: outside the repository's tracked files (a bundle in them would be committed, or
/// overwrite them), not the repository or a directory above it; empty, new, or an earlier
/// bundle (replaced).
pub fn target(what: &str, dir: &Utf8Path, root: &Utf8Path) -> anyhow::Result<bool> {
    local::quotable(what, dir)?;
    if dir.parent().is_none() {
        return Err(bad(
            what,
            dir.as_str(),
            "not a directory a bundle can be written to",
        ));
    }
    if root.starts_with(dir) {
        return Err(bad(
            what,
            dir.as_str(),
            "is the repository or holds it: give a directory of its own (a stick's microshift-bundle/, or one under target/)",
        ));
    }
    if let Ok(rel) = dir.strip_prefix(root) {
        if tracked(root, rel) {
            return Err(bad(
                what,
                dir.as_str(),
                "is inside the repository's tracked files, where git does not ignore it: a bundle there would be committed with them, or overwrite them; give a directory outside the repository, or under target/",
            ));
        }
    }
    match std::fs::symlink_metadata(dir) {
        Err(_) => Ok(false),
        Ok(m) if m.file_type().is_symlink() => Err(bad(
            what,
            dir.as_str(),
            "is a symbolic link: give the directory itself",
        )),
        Ok(m) if !m.is_dir() => Err(bad(what, dir.as_str(), "exists and is not a directory")),
        Ok(m) if mount_point(dir, &m) => Err(bad(
            what,
            dir.as_str(),
            format!("is a mount point (a stick's root?): the bundle is written beside it and renamed into place, which cannot cross into another file system; give a directory on it: {}", dir.join(STICK_BUNDLE)),
        )),
        Ok(_) => {
            let names: Vec<String> = std::fs::read_dir(dir)
                .map_err(|e| bad(what, dir.as_str(), format!("cannot be read: {e}")))?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()
                .map_err(|e| bad(what, dir.as_str(), format!("cannot be read: {e}")))?;
            if names.is_empty() || earlier_bundle(dir, &names) {
                Ok(true)
            } else {
                Err(bad(
                    what,
                    dir.as_str(),
                    "holds other files: give a new or empty directory, or an earlier bundle (it is replaced)",
                ))
            }
        }
    }
}

/// Is `dir` (its metadata `m`) the root of a file system mounted there: on another device
/// than its parent?
fn mount_point(dir: &Utf8Path, m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let parent = match dir.parent() {
        Some(p) if !p.as_str().is_empty() => p,
        _ => Utf8Path::new("."),
    };
    std::fs::metadata(parent).is_ok_and(|p| p.dev() != m.dev())
}

/// Is `dir` (holding `names`) a bundle an earlier run wrote, which the run may remove
/// whole? Its manifest of format xtask-bundle/1 and nothing but a bundle's names: a
/// directory that merely holds a file called bundle.json (or a bundle and the user's files
/// beside it) is not removed.
fn earlier_bundle(dir: &Utf8Path, names: &[String]) -> bool {
    let bundle_names = [
        "bundle.json",
        "bundle.json.sig",
        Arch::Amd64.oci(),
        Arch::Arm64.oci(),
    ];
    if !names.iter().all(|n| bundle_names.contains(&n.as_str())) {
        return false;
    }
    let manifest = dir.join("bundle.json");
    let Ok(bytes) = validate::read_bounded("--to", &manifest, local::MAX_MANIFEST) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .is_ok_and(|doc| doc.get("format").and_then(|f| f.as_str()) == Some(BUNDLE_FORMAT))
}

/// Would a bundle at `rel` (in the repository) go with its tracked files? Everywhere git
/// does not ignore (`git check-ignore`: `target/` is ignored, a new directory in `docs/`
/// would be committed with the rest); without git (a copy of the repository), everywhere
/// but `target/`.
fn tracked(root: &Utf8Path, rel: &Utf8Path) -> bool {
    if rel.as_str().is_empty() {
        return true;
    }
    match crate::exec::ask(
        "git",
        &[
            "-C",
            root.as_str(),
            "check-ignore",
            "-q",
            "--",
            rel.as_str(),
        ],
        false,
    ) {
        Some(out) if matches!(out.status.code(), Some(0) | Some(1)) => !out.status.success(),
        _ => !rel.starts_with("target"),
    }
}

/// The bytes of an image by digest (its manifest, config and layers), as its registry says,
/// and those of its largest blob.
fn image_bytes(wanted: &Wanted, reference: &str) -> anyhow::Result<(u64, u64)> {
    let a = wanted.inspect_args(&["--raw"], reference);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = crate::exec::ask("skopeo", &refs, false)
        .filter(|o| o.status.success())
        .ok_or_else(|| {
            crate::error::StepFailed::error(format!(
                "cannot read {reference} from its registry to size the bundle"
            ))
        })?;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        crate::error::StepFailed::error(format!(
            "{reference}: the registry served no manifest (JSON): {e}"
        ))
    })?;
    let largest = doc
        .get("layers")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .chain(doc.get("config"))
        .filter_map(|l| l.get("size").and_then(serde_json::Value::as_u64))
        .max()
        .unwrap_or(0);
    Ok((
        crate::inspect::image_bytes(&doc) + out.stdout.len() as u64,
        largest,
    ))
}

/// The largest file a FAT (vfat) file system holds: 4 GiB less a byte.
const FAT_LARGEST: u64 = (4 << 30) - 1;

/// The type of the file system `dir` is on, as `stat -f` names it (`msdos` for vfat), if
/// it can be read.
fn file_system(dir: &Utf8Path) -> Option<String> {
    crate::exec::ask("stat", &["-f", "-c", "%T", "--", dir.as_str()], false)
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

impl Bundle {
    /// Every input checked, then the two read-only questions of the registry: the list
    /// (pinned) and each image's size.
    pub fn resolve(args: &BundleArgs, sources: &Sources) -> anyhow::Result<Bundle> {
        let picked = sources
            .value(&inputs::BUNDLE_TO, args.bundle_to.as_deref())?
            .ok_or_else(|| sources.missing(&inputs::BUNDLE_TO))?;
        let to = sources.path(&picked)?;
        let replaces = target(&picked.what, &to, &sources.root)?;
        let (what, raw) = sources.list(&inputs::ARCHITECTURES, &args.archs)?;
        let archs = Arch::parse_list(&what, &raw)?;
        if archs.is_empty() {
            return Err(bad(&what, "", "no architecture: give amd64, arm64 or both"));
        }
        let v = sources.get(
            &inputs::MICROSHIFT_VERSION,
            args.microshift_version.as_deref(),
        )?;
        let microshift_version = validate::microshift_version(&v.what, &v.value)?;
        let flags = SigningArgs {
            sign_by: args.sign_by.clone(),
            sign_method: args.sign_method.clone(),
            sign_passphrase_file: args.sign_passphrase_file.clone(),
            sign_public_key: args.sign_public_key.clone(),
            ..SigningArgs::default()
        };
        let signing = match Signing::resolve(&flags, sources, Need::Bundle)? {
            Some(s) if s.signer.is_some() => s,
            _ => {
                return Err(validate::refuse(format!(
                    "{}: missing; bundle signs its manifest with the release key (devices check it with the public key their image carries): give --sign-by or signing.key, and signing.public_key",
                    inputs::SIGN_BY.flag
                )))
            }
        };
        let wanted = Wanted::resolve(&args.image, sources)?;
        let script = sources.root.join(USB_SCRIPT);
        if !script.is_file() {
            return Err(validate::refuse(format!(
                "bundle: {script} is missing: it comes with the repository (restore it from git)"
            )));
        }
        // the bundle is written beside `to` first: room where that is
        let room_at = to
            .parent()
            .into_iter()
            .flat_map(Utf8Path::ancestors)
            .find(|d| d.is_dir())
            .unwrap_or(Utf8Path::new("/"))
            .to_path_buf();
        // the two questions, read-only: the list, then each image's size
        let pinned = fleet::pin(&wanted)?;
        let mut members = Vec::new();
        let mut largest: Option<(Arch, u64)> = None;
        for arch in archs {
            let Some((_, digest)) = pinned.members.iter().find(|(a, _)| a == arch.oci()) else {
                let has: Vec<&str> = pinned.members.iter().map(|(a, _)| a.as_str()).collect();
                return Err(validate::refuse(format!(
                    "{} has no {arch} image (it has: {}): give --arch {}",
                    pinned.given,
                    has.join(", "),
                    has.join(",")
                )));
            };
            let repository = validate::reference_parts(&pinned.reference).0;
            let (bytes, blob) = image_bytes(&wanted, &format!("{repository}@{digest}"))?;
            if largest.is_none_or(|(_, b)| blob > b) {
                largest = Some((arch, blob));
            }
            members.push(Member {
                arch,
                digest: digest.clone(),
                bytes,
            });
        }
        // a stick as it comes is FAT32 (vfat): a layer of 4 GiB or more (an --embed image's
        // layer of workload images, say) cannot be written to it, and the copy would fail
        // half way
        if let Some((arch, blob)) = largest.filter(|(_, b)| *b > FAT_LARGEST) {
            if file_system(&room_at).as_deref() == Some("msdos") {
                return Err(bad(
                    &picked.what,
                    to.as_str(),
                    format!(
                        "is on a vfat (FAT32) file system, which holds no file of 4 GiB or more, and the {arch} image has a layer of {}: format the stick exfat (or ext4: a device mounts vfat, exfat, ext4 and xfs), or give another disk",
                        validate::human(blob)
                    ),
                ));
            }
        }
        Ok(Bundle {
            to,
            replaces,
            room_at,
            pinned,
            members,
            microshift_version,
            signing,
            registries_conf: wanted.registries_conf,
            authfile: wanted.authfile,
            script,
        })
    }

    /// The bytes of every image, and the room the plan asks for: those, a twentieth more (the
    /// file system's blocks), and 16 MiB.
    pub fn bytes(&self) -> u64 {
        self.members.iter().map(|m| m.bytes).sum()
    }
    fn room(&self) -> u64 {
        let b = self.bytes();
        b + b / 20 + (16 << 20)
    }

    /// Each image, as the plan names them: `amd64 sha256:..., arm64 sha256:...`.
    fn images(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{} {}", m.arch, m.digest))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Where the bundle is written before it replaces `to`: beside it, on the same file
    /// system (a rename, never a copy).
    pub fn partial(&self) -> Utf8PathBuf {
        let name = self.to.file_name().unwrap_or("bundle");
        self.to.with_file_name(format!(".{name}.part"))
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        let part = self.partial();
        let to = &self.to;
        let repository = validate::reference_parts(&self.pinned.reference).0;
        let archs: Vec<&str> = self.members.iter().map(|m| m.arch.oci()).collect();
        let mut plan = Plan::new(
            format!(
                "bundle {} ({}) into {to}",
                self.pinned.reference,
                archs.join(", ")
            ),
            as_root,
        );
        let mut note = format!(
            "{} pinned: {}; {} in all. The OS image travels as the registry holds it: one built with --embed carries MicroShift's and the workload images inside it, so they travel too (without --embed, a device with no network cannot pull them at MicroShift's start)",
            self.pinned.given,
            self.images(),
            validate::human(self.bytes())
        );
        if to.file_name() != Some(STICK_BUNDLE) {
            note.push_str(&format!(
                "\nnote: a device reads an update stick's {STICK_BUNDLE}/ only: on a stick, give --to STICK/{STICK_BUNDLE}"
            ));
        }
        plan.note = Some(note);
        plan.push(
            Step::new(
                "room",
                format!("check {} has room for the bundle", self.room_at),
                "df",
            )
            .args(["--output=avail", "-B1", self.room_at.as_str()])
            .read_only()
            .check(Check::FreeSpace {
                path: self.room_at.to_string(),
                min_bytes: self.room(),
                needs: Some(format!("the bundle ({})", archs.join(", "))),
            })
            .hint("free some space, or give --to on a larger disk or stick"),
        );
        plan.push(
            Step::new(
                "clear",
                format!("remove what an earlier run left: {part}"),
                "rm",
            )
            .args(["-rf", "--", part.as_str()]),
        );
        plan.push(Step::new("dir", format!("make {part}"), "mkdir").args([
            "-p",
            "--",
            part.as_str(),
        ]));
        plan.cleanup.push(
            Step::new(
                "clear-part",
                format!("remove {part} (a run that did not finish)"),
                "rm",
            )
            .args(["-rf", "--", part.as_str()]),
        );
        for m in &self.members {
            let mut copy = Step::new(
                name(format!("copy-{}", m.arch)),
                format!(
                    "copy the {} image ({}) into an OCI layout, its digest kept",
                    m.arch, m.digest
                ),
                "skopeo",
            );
            if let Some(c) = &self.registries_conf {
                copy = copy.args(["--registries-conf", c.as_str()]);
            }
            copy = copy.args([
                "copy",
                "--preserve-digests",
                "--remove-signatures",
                "--retry-times",
                "3",
            ]);
            if let Some(a) = &self.authfile {
                copy = copy.args(["--authfile", a.as_str()]);
            }
            plan.push(
                copy.arg(format!("docker://{repository}@{}", m.digest))
                    .arg(format!("oci:{}", part.join(m.arch.oci())))
                    .hint(format!("can this host read {repository}? The registry's auth file (--auth-config) must hold its credentials")),
            );
        }
        let mut manifest = Step::new(
            "manifest",
            format!("write the manifest ({BUNDLE_FORMAT}): every file and blob with its SHA-256 and size"),
            "sh",
        )
        .args([
            self.script.as_str(),
            "manifest",
            part.as_str(),
            &self.pinned.reference,
            &self.pinned.digest,
            &self.microshift_version,
        ]);
        for m in &self.members {
            manifest = manifest.arg(format!("{}={}", m.arch, m.digest));
        }
        plan.push(manifest.hint("the manifest is made with sh, jq and sha256sum: `cargo xtask doctor --for bundle` checks them"));
        for step in self.sign_steps(&part) {
            plan.push(step);
        }
        if self.signing.passphrase.is_some() {
            plan.explain_secret(
                inputs::SIGN_PASSPHRASE_FILE.secret_name(),
                match self.signing.method {
                    Method::Gpg => "the signing key's passphrase, in a file only you can read: (umask 077; printf '%s' \"$SIGN_PASSPHRASE\" >FILE)",
                    Method::Sigstore => "the signing key's passphrase (cosign reads it on its stdin)",
                },
            );
        }
        let public = self.signing.public_key.clone().unwrap_or_default();
        plan.push(
            Step::new(
                "verify",
                format!("check the bundle as a device does: the signature with {public}, every checksum and size, the blobs each index references"),
                "sh",
            )
            .args([self.script.as_str(), "verify", "--key", public.as_str(), "--method", self.signing.method.name(), part.as_str()])
            .read_only()
            .hint(format!("the bundle does not verify with {public}: is signing.public_key the public half of signing.key?")),
        );
        if self.replaces {
            plan.push(
                Step::new("replace", format!("remove the earlier bundle {to}"), "rm").args([
                    "-rf",
                    "--",
                    to.as_str(),
                ]),
            );
        }
        plan.push(
            Step::new("publish", format!("put the bundle in place: {to}"), "mv")
                .args(["-T", "--", part.as_str(), to.as_str()])
                .done(Done::Say(format!(
                    "ok: bundle {to}: {} ({}), signed ({}) and verified; carry it on a stick labelled as the devices' usb_updates.label says (as its {STICK_BUNDLE}/), or `cargo xtask upgrade --host DEVICE --from-bundle {to}`",
                    self.images(),
                    validate::human(self.bytes()),
                    self.signing.method.name()
                ))),
        );
        plan.facts = json!({
            "to": to.as_str(),
            "format": BUNDLE_FORMAT,
            "image": self.pinned.reference,
            "given": self.pinned.given,
            "list_digest": self.pinned.digest,
            "microshift_version": self.microshift_version,
            "images": self.members.iter().map(|m| json!({
                "architecture": m.arch.oci(),
                "digest": m.digest,
                "bytes": m.bytes,
            })).collect::<Vec<_>>(),
            "bytes": self.bytes(),
            "signing": {
                "method": self.signing.method.name(),
                "public_key": self.signing.public_key.as_ref().map(|p| p.as_str()),
            },
        });
        plan
    }

    /// The manifest's signature: gpg (its passphrase given to gpg-agent first, never on a
    /// command line) or sigstore (cosign, the passphrase on its stdin).
    fn sign_steps(&self, part: &Utf8Path) -> Vec<Step> {
        let manifest = part.join("bundle.json");
        let signature = part.join("bundle.json.sig");
        let mut steps = Vec::new();
        match &self.signing.signer {
            Some(Signer::Gpg {
                fingerprint,
                gnupghome,
            }) => {
                // this host's keyring, as this user: nothing of a bundle needs root
                if let Some(unlock) = self.signing.unlock_step() {
                    steps.push(unlock.root(false));
                }
                let mut sign = Step::new(
                    "sign",
                    format!("sign the manifest with GPG key {fingerprint} (a detached signature)"),
                    "gpg",
                );
                if let Some(home) = gnupghome {
                    sign = sign.env("GNUPGHOME", home.as_str());
                }
                steps.push(
                    sign.args(["--batch", "--yes", "--local-user", fingerprint, "--detach-sign", "--output"])
                        .arg(signature.as_str())
                        .arg(manifest.as_str())
                        .time_limit(600)
                        .hint_when(
                            "No secret key",
                            "the GPG key is not in this keyring: `gpg --list-secret-keys` (GNUPGHOME)",
                        )
                        .hint_when(
                            "did not end within",
                            "gpg may be waiting for a passphrase (give SIGN_PASSPHRASE or --sign-passphrase-file) or for a smartcard",
                        )
                        .hint("see gpg's message above"),
                );
            }
            Some(Signer::Sigstore { key }) => {
                let mut sign = Step::new(
                    "sign",
                    format!("sign the manifest with the sigstore key {key}"),
                    "cosign",
                )
                .args(["sign-blob", "--yes", "--key", key.as_str(), "--tlog-upload=false", "--output-signature"])
                .arg(signature.as_str())
                .arg(manifest.as_str())
                .time_limit(600)
                .hint("cosign signs the manifest (a blob): install cosign (RHEL 9, Fedora: `dnf install cosign`), or sign with signing.method gpg");
                // cosign reads the passphrase from its stdin when it is no terminal
                if let Some(pass) = &self.signing.passphrase {
                    sign = sign.stdin(Stdin::Secret {
                        name: inputs::SIGN_PASSPHRASE_FILE.secret_name(),
                        secret: pass.clone(),
                    });
                }
                steps.push(sign);
            }
            None => {}
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--to` in the repository: refused in its tracked files (git says which), taken under
    /// `target/`; never the repository itself or a directory above it.
    #[test]
    fn bundle_directories() {
        let root = crate::config::project_root();
        let refused = |dir: Utf8PathBuf, why: &str| {
            let e = target("--to", &dir, &root).unwrap_err().to_string();
            assert!(e.contains(why), "{dir}: {e}");
        };
        refused(root.join("containerfiles/usb"), "tracked files");
        refused(root.join("docs/src/new-bundle"), "tracked files");
        refused(root.clone(), "is the repository");
        refused(root.parent().unwrap().to_path_buf(), "is the repository");
        refused(Utf8PathBuf::from("/tmp/a\"b"), "'\"'");
        // a file system's root (an empty stick's, say; /proc here): the bundle could not be
        // renamed into it
        refused(Utf8PathBuf::from("/proc"), "is a mount point");
        // a new directory under target/: taken, nothing to replace
        assert!(!target("--to", &root.join("target/no-such-bundle"), &root).unwrap());
        // an earlier bundle is replaced; a directory that merely holds a bundle.json (another
        // tool's, or a bundle with the user's files beside it) is refused, never removed
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .unwrap()
            .join(format!("xtask-bundle-directories-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("amd64")).unwrap();
        std::fs::write(dir.join("bundle.json"), r#"{"format": "xtask-bundle/1"}"#).unwrap();
        std::fs::write(dir.join("bundle.json.sig"), "sig").unwrap();
        assert!(target("--to", &dir, &root).unwrap());
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        refused(dir.clone(), "holds other files");
        std::fs::remove_file(dir.join("notes.txt")).unwrap();
        std::fs::write(dir.join("bundle.json"), r#"{"name": "my-app"}"#).unwrap();
        refused(dir.clone(), "holds other files");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
