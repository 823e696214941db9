//! What `status`, `upgrade` and `rollback` share: the device's deployments read with
//! `bootc status --json`, the image a device should run and its digest for the device's
//! architecture in the registry, and the waits after a reboot.

use camino::Utf8PathBuf;

use crate::config::Sources;
use crate::device::{BOOT_ID_FILE, GREENBOOT_UNIT};
use crate::image::Image;
use crate::inputs;
use crate::plan::{Check, ResultShell, Step};
use crate::reach::Device;
use crate::registry::{Registry, RegistryArgs};
use crate::secrets::{self, AuthFile};
use crate::validate::{self, bad};

/// Variables the lifecycle plans share.
pub const BEFORE: &str = "BOOTED_BEFORE";
pub const ARCH: &str = "DEVICE_ARCH";
pub const BOOT_ID: &str = "BOOT_ID";
pub const EXPECTED: &str = "EXPECTED_DIGEST";
pub const TARGET: &str = "ROLLBACK_DIGEST";
/// What the device boots next, as `bootc status` says: `rollback` (a rollback is queued),
/// `staged` or `booted`.
pub const NEXT_BOOT: &str = "NEXT_BOOT";

/// The flags naming the image a device should run.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ImageFlags {
    #[arg(long = "image", value_name = "REF")]
    pub device_image: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The image a device should run: a reference in a registry, and how to read it there.
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted {
    /// As given (a tag or a digest).
    pub reference: String,
    /// Without tag or digest: what `bootc switch` is given with the digest.
    pub repository: String,
    /// The digest the reference names, if it names one.
    pub pinned: Option<String>,
    /// The auth file skopeo reads the registry with, if there is one.
    pub authfile: Option<Utf8PathBuf>,
    pub registries_conf: Option<Utf8PathBuf>,
}

impl Wanted {
    /// `--image REF`, else `device.image`, else the release's list
    /// (`REGISTRY/ORG/NAME:latest`).
    pub fn resolve(flags: &ImageFlags, sources: &Sources) -> anyhow::Result<Wanted> {
        let reference = match sources.value(&inputs::DEVICE_IMAGE, flags.device_image.as_deref())? {
            Some(p) => validate::single_reference(&p.what, &p.value)?,
            None => {
                let registry = Registry::resolve(&flags.registry, sources, false)?;
                registry.remote(&Image::name(None, sources)?, Some("latest"))
            }
        };
        let (repository, _, pinned) = validate::reference_parts(&reference);
        let (repository, pinned) = (repository.to_string(), pinned.map(str::to_string));
        // the registry is read on this host, with the auth file when there is one
        let authfile = match secrets::registry_auth(sources, flags.registry.auth_config.as_deref())?
        {
            AuthFile::Found(path, _) => Some(path),
            AuthFile::None => None,
            AuthFile::Missing { what, path } => {
                return Err(bad(&what, path.as_str(), "does not exist"))
            }
        };
        Ok(Wanted {
            reference,
            repository,
            pinned,
            authfile,
            registries_conf: sources.registries_conf(),
        })
    }

    /// `skopeo inspect --raw` of the reference, on this host.
    pub fn inspect(&self, id: &'static str, about: &str) -> Step {
        Step::new(id, about.to_string(), "skopeo")
            .args(self.inspect_args(&["--raw"], &self.reference))
            .read_only()
    }

    /// skopeo's arguments for `inspect EXTRA` of `reference` (in this registry) as this host
    /// reads it: with the registries' configuration and the auth file, retried.
    pub fn inspect_args(&self, extra: &[&str], reference: &str) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        if let Some(c) = &self.registries_conf {
            a.extend(["--registries-conf".to_string(), c.to_string()]);
        }
        a.push("inspect".into());
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(["--retry-times".to_string(), "3".to_string()]);
        if let Some(f) = &self.authfile {
            a.extend(["--authfile".to_string(), f.to_string()]);
        }
        a.push(format!("docker://{reference}"));
        a
    }

    /// The digest the device should run, for its architecture: `EXPECTED_DIGEST`.
    pub fn expected_step(&self) -> Step {
        self.inspect(
            "expected",
            &format!("ask the registry what {} is for the device's architecture", self.reference),
        )
        .check(Check::ListMember {
            arch: ARCH,
            pinned: self.pinned.clone(),
            booted: None,
        })
        .result_var(
            EXPECTED,
            "digest",
            ResultShell::Stdout(match &self.pinned {
                // a validated digest (sha256:hex): a plain JSON string inside the quotes
                Some(d) => format!(
                    "jq -r --arg a \"${{{ARCH}}}\" --arg d {} 'if .manifests then (.manifests[] | select(.platform.architecture == $a) | .digest) else $d end'",
                    crate::plan::quote(d)
                ),
                None => format!(
                    "jq -r --arg a \"${{{ARCH}}}\" '.manifests[] | select(.platform.architecture == $a) | .digest'"
                ),
            }),
        )
        .hint(format!(
            "is {} in the registry, with an entry for the device's architecture? `cargo xtask release` pushes the list",
            self.reference
        ))
    }
}

/// `bootc status --json` on the device, read (and its booted digest and architecture kept).
pub fn deployments(device: &Device, id: &'static str, about: &str, check: Check) -> Step {
    device
        .run(id, about.to_string(), &["bootc", "status", "--json"])
        .read_only()
        .check(check)
}

/// Wait until the device reports that it booted the digest in `want`; the one in `other`
/// is a definite no (it went back).
pub fn booted(
    device: &Device,
    id: &'static str,
    about: &str,
    want: &'static str,
    other: &'static str,
) -> Step {
    device.poll(deployments(
        device,
        id,
        about,
        Check::Booted {
            want,
            other: Some(other),
            rollback: None,
        },
    ))
}

/// The device's deployments, read at the start or the end (`id`): a booted image needed.
pub fn read(device: &Device, id: &'static str) -> Step {
    deployments(
        device,
        id,
        "read the device's deployments",
        Check::BootcHost {
            booted: true,
            rollback: false,
        },
    )
}

/// The wait settings of a device plan: `--timeout`, and a look every `--interval` (5s). The waits
/// after the reboot get the whole of it ([`reboot`] starts it again).
pub fn deadline(
    flag: Option<&str>,
    interval: Option<&str>,
    sources: &Sources,
) -> anyhow::Result<crate::plan::Wait> {
    let t = sources.get(&crate::inputs::UPGRADE_TIMEOUT, flag)?;
    let timeout_s = validate::duration(&t.what, &t.value)?;
    let i = sources.get(&crate::inputs::DEVICE_INTERVAL, interval)?;
    // a pause never runs past the deadline: a look comes at the deadline at the latest
    let interval_s = validate::duration(&i.what, &i.value)?;
    Ok(crate::plan::Wait {
        timeout_s,
        interval_s,
    })
}

/// How long the device may take to pull and stage the image (`--pull-timeout`), in seconds:
/// the time limit of each `bootc switch`.
pub fn pull_limit(flag: Option<&str>, sources: &Sources) -> anyhow::Result<u64> {
    let t = sources.get(&crate::inputs::PULL_TIMEOUT, flag)?;
    validate::duration(&t.what, &t.value)
}

/// The booted digest and architecture of a `bootc status` step, into variables.
pub fn keep_booted(step: Step) -> Step {
    step.result_var(
        BEFORE,
        "booted_digest",
        ResultShell::Stdout("jq -r '.status.booted.image.imageDigest'".to_string()),
    )
    .result_var(
        ARCH,
        "architecture",
        ResultShell::Stdout("jq -r '.status.booted.image.architecture'".to_string()),
    )
}

/// What the device boots next, from a `bootc status` step, into `NEXT_BOOT`: `rollback` (a
/// rollback is queued), `staged` or `booted`.
pub fn keep_next_boot(step: Step) -> Step {
    step.result_var(
        NEXT_BOOT,
        "next_boot",
        ResultShell::Stdout(
            "jq -r 'if .status.rollbackQueued == true then \"rollback\" elif .status.staged.image != null then \"staged\" else \"booted\" end'"
                .to_string(),
        ),
    )
}

/// The device's boot id now: `BOOT_ID`.
pub fn boot_id(device: &Device) -> Step {
    device
        .run(
            "boot-id",
            "read the device's boot id",
            &["cat", BOOT_ID_FILE],
        )
        .read_only()
        .capture(BOOT_ID, crate::plan::Extract::Trim)
}

/// The reboot: the connection may drop before the command answers (that is no failure).
/// The waits after it get the whole `--timeout`, counted from here.
pub fn reboot(device: &Device) -> Step {
    device
        .run("reboot", "reboot the device", &["systemctl", "reboot"])
        .may_fail()
        .starts_wait()
}

/// What a plan interrupted once it asked the device to reboot into `what` leaves (the
/// note of [`crate::plan::Step::leaves`]).
pub fn reboot_left(what: &str) -> String {
    format!(
        "the device was asked to reboot into {what} (it may be rebooting now), and the run did not see it through: `cargo xtask status` shows what the device runs and greenboot's verdict"
    )
}

/// Wait until the device answers with another boot id: it rebooted.
pub fn back(device: &Device) -> Step {
    device
        .poll(
            device
                .run(
                    "boot",
                    "wait until the device is back, with another boot id",
                    &["cat", BOOT_ID_FILE],
                )
                .read_only()
                .check(Check::BootChanged { from: BOOT_ID }),
        )
        .hint("the device did not come back: its console shows why (a VM: `virsh console`)")
}

/// greenboot's unit state, read (`wait`: waited for, red a definite no).
pub fn greenboot_state(device: &Device, about: &str, wait: bool) -> Step {
    device
        .run(
            "greenboot",
            about.to_string(),
            &[
                "systemctl",
                "show",
                "--property=LoadState,SubState",
                GREENBOOT_UNIT,
            ],
        )
        .read_only()
        .check(Check::Greenboot { wait })
}

/// greenboot's verdict on the booted image: a question (red is a definite no).
pub fn greenboot(device: &Device) -> Step {
    device
        .poll(greenboot_state(
            device,
            "wait for greenboot's verdict on the booted image",
            true,
        ))
        .hint("greenboot runs its health checks after each boot (MicroShift's waits up to 10 minutes): `journalctl -u greenboot-healthcheck` on the device shows them")
}

/// The `--json` summary of `upgrade` and `rollback`: the device before, what was staged, the
/// device after (as the last read saw it), the verdict, and a deployment left staged or a
/// rollback queued on a device that ran the image already.
pub fn upgrade_summary(results: &Results, exit: i32) -> serde_json::Value {
    summary(results, exit, "upgraded")
}

/// [`upgrade_summary`] for `rollback`.
pub fn rollback_summary(results: &Results, exit: i32) -> serde_json::Value {
    summary(results, exit, "rolled_back_as_asked")
}

type Results = std::collections::BTreeMap<String, serde_json::Value>;

fn summary(results: &Results, exit: i32, moved: &str) -> serde_json::Value {
    use crate::error::exit as code;
    let get = |id: &str| results.get(id).cloned().unwrap_or(serde_json::Value::Null);
    let after = ["after", "rolled-back", "confirm", "booted"]
        .iter()
        .find_map(|id| results.get(*id).cloned())
        .unwrap_or(serde_json::Value::Null);
    let verdict = match exit {
        0 if results.contains_key("booted") => moved,
        0 => "already_current",
        code::ROLLED_BACK => "rolled_back",
        code::TIMEOUT => "timed_out",
        _ => "failed",
    };
    // a deployment found staged, a rollback found queued, on a device that ran the image
    // already (`upgrade`): each boots at its next reboot in place of the image it runs
    let left = results.get("left-staged");
    let left_staged = left
        .and_then(|v| v.get("staged"))
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let queued_rollback = left
        .filter(|v| v.get("rollback_queued") == Some(&serde_json::Value::Bool(true)))
        .and_then(|v| v.get("rollback"))
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "before": get("before"),
        "staged": get("staged"),
        "after": after,
        "greenboot": get("greenboot"),
        "verdict": verdict,
        "left_staged": left_staged,
        "queued_rollback": queued_rollback,
    })
}
