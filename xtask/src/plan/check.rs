//! The checks a step's output is judged by, as data: what each one wants, in a few words
//! and as a test the printed plan runs (jq over JSON, awk or grep over text). The tool's
//! own judging, with its diagnoses and hints, is in `inspect.rs`; `tests` below holds the
//! two to the same verdicts.

use crate::arch::Arch;
use crate::plan::quote;

#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// `podman image inspect`: the image exists (and has the architecture, if given).
    Image {
        reference: String,
        arch: Option<Arch>,
    },
    /// A manifest list (`skopeo inspect --raw`): it holds exactly these architectures, and
    /// the entry of each architecture in `digests` has the digest the first non-empty of its
    /// variables holds (what was pushed now, else what the registry holds for that tag).
    ManifestList {
        expected: Vec<Arch>,
        digests: Vec<(Arch, Vec<&'static str>)>,
    },
    /// `oc get pods -A -o json`: every pod is ready ("not yet" otherwise). `embedded`: the
    /// variable that holds the image list of an image built with `--embed` when an earlier
    /// step read one, for the hints on failing pulls.
    Pods { embedded: &'static str },
    /// `vgs --reportformat json`: the volume group exists and has free space.
    VolumeGroup { name: String, hint: String },
    /// `podman image inspect`: the image's kernel-core against the host kernel (a report).
    Kernel { host: String },
    /// `df --output=avail -B1`: at least this many bytes free. `needs`: what needs them, for
    /// the message (a disk build's words when `None`).
    FreeSpace {
        path: String,
        min_bytes: u64,
        needs: Option<String>,
    },
    /// `sha256sum FILE`: an artifact that was built; its type, path, size and hash.
    Artifact { kind: String, path: String },
    /// `microshift-copy-images list`: the images embedded in an image (reference, digest,
    /// bytes per line); at least one.
    Embedded,
    /// A one-word state (`systemctl is-active`, `virsh domstate`) must be `want`; with
    /// `wait`, any other state is "not yet".
    State {
        what: String,
        want: String,
        wait: bool,
    },
    /// `bootc status --json`: the device's deployments (a report; malformed output fails,
    /// and so does a host without a booted deployment, or without a rollback one, when the
    /// step needs it).
    BootcHost { booted: bool, rollback: bool },
    /// A manifest list in the registry (`skopeo inspect --raw`): the digest of its entry for
    /// the architecture in `arch` (a variable). A single image is taken only when the
    /// reference names it by digest (`pinned`). With `booted` (a variable), the result says
    /// whether the device runs that digest (a report, never a failure).
    ListMember {
        arch: &'static str,
        pinned: Option<String>,
        booted: Option<&'static str>,
    },
    /// `bootc status --json`: the staged deployment is the digest in `expected`.
    Staged { expected: &'static str },
    /// `bootc status --json` of a device that runs the wanted image already: a deployment
    /// staged there (left by an upgrade refused before its reboot), or a rollback queued
    /// there (left by a rollback that did not reboot), boots at the next reboot instead; a
    /// report that says so, and how to undo it.
    LeftStaged,
    /// `/proc/sys/kernel/random/boot_id`: not the one in `from` any more (the device has
    /// rebooted); the same one is "not yet".
    BootChanged { from: &'static str },
    /// `bootc status --json`: the booted digest is the one in `want` (yes), the one in
    /// `other` (a definite no), or another or none yet (not yet). With `rollback`, the
    /// rollback deployment must be the one in that variable too.
    Booted {
        want: &'static str,
        other: Option<&'static str>,
        rollback: Option<&'static str>,
    },
    /// `systemctl show --property=LoadState,SubState greenboot-healthcheck.service`:
    /// greenboot's verdict. With `wait`: passed (or no greenboot) is yes, failed a definite
    /// no, anything else not yet; without, a report.
    Greenboot { wait: bool },
    /// `systemctl show --property=ActiveState,SubState UNIT`: a report.
    Unit { name: String },
    /// A unit's journal on the boot before this one: the lines, and the checks greenboot
    /// said failed (`Script 'NAME' FAILURE`).
    Journal { unit: String },
    /// `skopeo inspect --raw` of a tag a remote builder has just pushed to: an image (not a
    /// list) whose config is the image built there (the id in `image_id`: podman's image id
    /// is the digest of its config), and the digest of what the registry serves — not a
    /// foreign image someone pushed to the tag in between, or a mirror answers with.
    Pushed {
        reference: String,
        image_id: &'static str,
    },
    /// `podman system connection list --format json`: podman's connection `name`, which a
    /// release lane is sent to, exists and is no `tcp://` to another machine (as `--builder`
    /// refuses that URL given itself).
    Connection { name: String },
    /// `ansible-playbook`'s own output: kept off the terminal (its log file has it), the
    /// play's recap kept for the report.
    Playbook,
    /// The result documents a rollout's playbook wrote (one per device: its
    /// `upgrade --json` and exit code): every device's verdict, the fleet's report and its
    /// exit code.
    Fleet { plan: FleetPlan },
    /// `skopeo inspect --raw`: a manifest (or list) as a registry serves it, and its digest
    /// (the SHA-256 of those bytes). With `want`, it must be that digest: what `mirror` asked
    /// the destination for is what it serves.
    Manifest {
        reference: String,
        want: Option<Want>,
        /// The image this is a copy of (for the report).
        of: Option<String>,
    },
    /// The manifests of a list's images one after the other (`skopeo inspect --raw` of each):
    /// the bytes of their configs and layers, added up (what copying the list moved).
    Manifests { reference: String },
    /// A bundle's manifest (`bundle.json` of `cargo xtask bundle`, read on this host): its
    /// image for the architecture in the variable `arch`: digest, and bytes (as text, `need`).
    BundleMember { arch: &'static str },
    /// What a device's verifier says its upload of a bundle lacks or holds wrong
    /// (`microshift-usb-update missing`, one path a line): each one of `files` (the bundle's,
    /// every architecture's), never anything else; the result's `batch` is the sftp batch
    /// that sends them from `local` into `upload` (see [`missing_batch_jq`]).
    Missing {
        local: String,
        upload: String,
        files: Vec<String>,
    },
    /// The verifier's result (`microshift-usb-update stage`): the bundle verified, and its
    /// image staged, or the one the device runs already.
    Carried,
    /// flightctl's API on a fleet and its devices (`GET /api/v1/fleets/NAME` and
    /// `GET /api/v1/devices?fieldSelector=metadata.owner=Fleet/NAME`, one after the other):
    /// each device's verdict so far; done when every device given the image has one and the
    /// rollout has nothing more to do (or stopped for an approval); the fleet's report then
    /// (`fleet/flightctl.rs`). A token refused or the fleet gone is a definite no.
    Flightctl { plan: FlightctlPlan },
    /// flightctl's answer to a `PATCH` of a fleet: the fleet, its template naming `image`
    /// (flightctl's own message when it refused the patch).
    FlightctlPatched { fleet: String, image: String },
}

/// What `rollout --flightctl` planned: enough to judge, look after look, what flightctl's
/// API says of the fleet and its devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlightctlPlan {
    pub fleet: String,
    /// The API's base URL (`https://HOST[:PORT]`).
    pub api: String,
    /// The image pinned at the start, by the list's digest: what the fleet's template names.
    pub image: String,
    /// Each architecture's digest in that list (`("amd64", "sha256:...")`).
    pub digests: Vec<(String, String)>,
    /// The fleet's devices when the rollout began, sorted by name.
    pub devices: Vec<FlightctlDevice>,
    /// The fleet's template version (`fleet-controller/templateVersion`) when it was read.
    pub template_before: Option<String>,
    /// The patch changes the fleet's template: until flightctl has made the new template
    /// version, what the fleet says of its rollout is the last one's.
    pub changes_template: bool,
    /// The batch waiting for approval that this run approved (flightctl counts from 0): its
    /// stop is not this run's end.
    pub approved_batch: Option<i64>,
    /// The command that continues the rollout.
    pub rerun: String,
    /// The command that approves a batch that waits.
    pub approve: String,
}

impl FlightctlPlan {
    /// The pinned digest of an architecture (`None`: the list has no entry for it).
    pub fn digest(&self, arch: &str) -> Option<&str> {
        self.digests
            .iter()
            .find(|(a, _)| a == arch)
            .map(|(_, d)| d.as_str())
    }
}

/// A device of a [`FlightctlPlan`], as flightctl reported it before the rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlightctlDevice {
    pub name: String,
    pub architecture: Option<String>,
    /// The digest it ran (`status.os.imageDigest`).
    pub before: Option<String>,
    /// flightctl had given it the pinned image already (a run after one that stopped): its
    /// batch was an earlier run's.
    pub given: bool,
}

/// The sftp batch of what a device lacks of a bundle (the lines of `microshift-usb-update
/// missing` on stdin), as the printed plan makes it: the lines that are files of the bundle
/// (`files`), nothing else; the upload directory and each architecture's directories made
/// (`-`: one that exists is no error), then each file put. The tool makes the same text
/// (`inspect`).
pub fn missing_batch_jq(local: &str, upload: &str, files: &[String]) -> String {
    let allowed = serde_json::to_string(files).expect("strings print");
    format!(
        "jq -R -n -r --argjson allowed {} --arg local {} --arg up {} {}",
        quote(&allowed),
        quote(local),
        quote(upload),
        quote(MISSING_BATCH_FILTER)
    )
}

/// [`missing_batch_jq`]'s filter.
const MISSING_BATCH_FILTER: &str = "[inputs | select(. as $l | any($allowed[]; . == $l))] | unique as $m | ($m | map(split(\"/\")[0]) | unique) as $archs | \"-mkdir \\\"\\($up)\\\"\", ($archs[] | \"-mkdir \\\"\\($up)/\\(.)\\\"\", \"-mkdir \\\"\\($up)/\\(.)/blobs\\\"\", \"-mkdir \\\"\\($up)/\\(.)/blobs/sha256\\\"\"), ($m[] | \"put \\\"\\($local)/\\(.)\\\" \\\"\\($up)/\\(.)\\\"\")";

/// What a lane on a remote builder pushed, read back by tag (`skopeo inspect --raw`): the
/// check of [`Check::Pushed`].
pub const PUSHED_CONFIG_JQ: &str =
    ".config.digest == (\"sha256:\" + ($id | ltrimstr(\"sha256:\")))";

/// What `rollout` planned: enough to judge what its playbook wrote, and to show the wave
/// that runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetPlan {
    /// Every device, in the order the play takes them (inventory names, sorted), with its
    /// wave.
    pub hosts: Vec<FleetHost>,
    /// How many waves there are.
    pub waves: usize,
    /// The image pinned at the start, by the list's digest: `REPO@sha256:...`.
    pub image: String,
    /// Each architecture's digest in that list (`("amd64", "sha256:...")`).
    pub digests: Vec<(String, String)>,
    /// The command that continues the rollout (the same inventory and limit, the image by
    /// its pinned digest).
    pub rerun: String,
}

/// A device of a [`FleetPlan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetHost {
    /// Its inventory name.
    pub name: String,
    /// Its wave, from 1.
    pub wave: usize,
    /// How `upgrade` reaches it: `USER@HOST[:PORT]`.
    pub address: String,
}

/// The digest a [`Check::Manifest`] wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// Known when the plan is made (a reference by digest).
    Digest(String),
    /// What an earlier step read (the source's digest of a reference by tag).
    Var(&'static str),
}

impl Want {
    /// The digest as the printed script has it: a literal, or `"${VAR}"`.
    pub fn shell(&self) -> String {
        match self {
            Want::Digest(d) => quote(d),
            Want::Var(v) => format!("\"${{{v}}}\""),
        }
    }
}

/// What a person must know of a deployment staged on a device that runs the wanted image
/// already ([`Check::LeftStaged`]), after what is staged.
pub const LEFT_STAGED: &str = "left by an upgrade that did not reboot it (refused, or stopped): it boots at the device's next reboot in place of the image it runs; remove it on the device (`sudo rpm-ostree cleanup --pending` on RHEL image mode)";

/// What a person must know of a rollback queued on a device that runs the wanted image
/// already ([`Check::LeftStaged`]), after the rollback deployment.
pub const LEFT_QUEUED: &str = "at the device's next reboot, in place of the image it runs (left by a rollback that did not reboot it, or queued by hand); cancel it on the device (`sudo bootc rollback`)";

/// The digest of the manifest on stdin, in bash: its SHA-256. The script gets a command's
/// output through `$(...)` and `printf '%s\n'`, which adds a newline the registry did not
/// send: one trailing newline is taken off first (manifests as pushed end without one; the
/// tool hashes the exact bytes).
pub const SHELL_DIGEST: &str = "sed -z 's/\\n$//' | sha256sum | sed -e 's/ .*//' -e 's/^/sha256:/'";

impl Check {
    /// A few words for the dry-run rendering.
    pub fn describe(&self) -> String {
        match self {
            Check::Image { arch: Some(a), .. } => format!("check the image is {a}"),
            Check::Image { arch: None, .. } => "check the image exists".to_string(),
            Check::ManifestList { expected, digests } => format!(
                "check the list holds exactly {}{}",
                expected
                    .iter()
                    .map(|a| a.oci())
                    .collect::<Vec<_>>()
                    .join(", "),
                if digests.is_empty() {
                    ""
                } else {
                    ", each the digest pushed or in the registry"
                }
            ),
            Check::Pods { .. } => "check every pod is ready".to_string(),
            Check::VolumeGroup { name, .. } => {
                format!("check volume group {name} exists with free space")
            }
            Check::Kernel { host } => {
                format!("compare the image's kernel-core with the host kernel {host}")
            }
            Check::State { what, want, .. } => format!("check {what} is {want}"),
            Check::FreeSpace {
                path, min_bytes, ..
            } => format!(
                "check {path} has {} free",
                crate::validate::human(*min_bytes)
            ),
            Check::Artifact { kind, .. } => format!("record the {kind} artifact's hash and size"),
            Check::Embedded => "list the embedded images, their digests and sizes".to_string(),
            Check::BootcHost { rollback: true, .. } => {
                "read the deployments: a booted one, and a rollback one to go back to".to_string()
            }
            Check::BootcHost { .. } => {
                "read the booted, staged and rollback deployments".to_string()
            }
            Check::ListMember {
                arch, booted: None, ..
            } => {
                format!("take the digest of the list's entry for the device's architecture (${{{arch}}})")
            }
            Check::ListMember {
                booted: Some(b), ..
            } => {
                format!("compare the registry's digest for the device's architecture with the booted one (${{{b}}})")
            }
            Check::Staged { expected } => {
                format!("check the staged deployment is ${{{expected}}}")
            }
            Check::LeftStaged => {
                "report a deployment staged or a rollback queued on the device (it boots at the next reboot)"
                    .to_string()
            }
            Check::BootChanged { from } => format!("check the boot id is no longer ${{{from}}}"),
            Check::Booted {
                want,
                other,
                rollback,
            } => {
                let mut text = format!("check the device booted ${{{want}}}");
                if let Some(r) = rollback {
                    text.push_str(&format!(" with ${{{r}}} as its rollback"));
                }
                if let Some(o) = other {
                    text.push_str(&format!(" (${{{o}}}: a definite no)"));
                }
                text
            }
            Check::Greenboot { wait: true } => {
                "wait for greenboot's verdict: passed, or failed (red)".to_string()
            }
            Check::Greenboot { wait: false } => "read greenboot's verdict".to_string(),
            Check::Unit { name } => format!("read the state of {name}"),
            Check::Journal { unit } => format!("show {unit}'s lines and the checks it failed"),
            Check::Pushed { image_id, .. } => format!(
                "check the registry serves the image built (config sha256:${{{image_id}}}) and take its digest"
            ),
            Check::Connection { name } => format!(
                "check podman connection {name} exists and is no tcp:// to another machine"
            ),
            Check::Playbook => {
                "keep Ansible's own output off the terminal (the tool shows a line per wave)"
                    .to_string()
            }
            Check::Fleet { plan } => format!(
                "judge each of the {} devices: upgraded, skipped (already on the pinned digest), rolled back, gone, failed or not touched",
                plan.hosts.len()
            ),
            Check::Manifest { want: None, .. } => {
                "take the digest of what the registry serves".to_string()
            }
            Check::Flightctl { plan } => format!(
                "judge each of the {} devices of fleet {}: upgraded, skipped (already on the pinned digest), rolled back, gone, failed or not touched; done when flightctl has nothing more to do or a batch waits for approval",
                plan.devices.len(),
                plan.fleet
            ),
            Check::FlightctlPatched { fleet, image } => {
                format!("check flightctl took the patch: fleet {fleet}'s template names {image}")
            }
            Check::Manifests { .. } => "add up the bytes of the list's images".to_string(),
            Check::BundleMember { arch } => {
                format!("take the bundle's image for the device's architecture (${{{arch}}})")
            }
            Check::Missing { .. } => {
                "keep what the device lacks of the bundle (it checks each file's SHA-256)"
                    .to_string()
            }
            Check::Carried => {
                "read the verifier's result: the bundle verified, its image staged (or run already)"
                    .to_string()
            }
            Check::Manifest { want: Some(w), .. } => format!(
                "check the registry serves {}",
                match w {
                    Want::Digest(d) => d.clone(),
                    Want::Var(v) => format!("${{{v}}}"),
                }
            ),
        }
    }

    /// The same verdict as a bash pipeline stage that reads the command's output on stdin
    /// and fails when the check fails; `None` for a check that only reports (a hash, a
    /// kernel version).
    pub fn shell_test(&self) -> Option<String> {
        let jq =
            |args: &str, filter: &str| Some(format!("jq -e {args}{} >/dev/null", quote(filter)));
        match self {
            Check::Image { arch: Some(a), .. } => jq(
                "",
                &format!(".[0].Id != null and .[0].Architecture == \"{}\"", a.oci()),
            ),
            Check::Image { arch: None, .. } => jq("", ".[0].Id != null"),
            Check::ManifestList { expected, digests } => {
                let mut want: Vec<&str> = expected.iter().map(|a| a.oci()).collect();
                want.sort();
                let list = want
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join(",");
                let mut args = String::new();
                for (arch, vars) in digests {
                    // the first variable that is set, as the tool takes it
                    let mut value = String::new();
                    for var in vars.iter().rev() {
                        value = if value.is_empty() {
                            format!("${{{var}:-}}")
                        } else {
                            format!("${{{var}:-{value}}}")
                        };
                    }
                    args.push_str(&format!("--arg {} \"{value}\" ", arch.oci()));
                }
                let mut filter = format!("([.manifests[].platform.architecture] | sort) == [{list}]");
                if !digests.is_empty() {
                    filter.push_str(" and all(.manifests[]; ($ARGS.named[.platform.architecture] // \"\") as $want | $want == \"\" or .digest == $want)");
                }
                jq(&args, &filter)
            }
            Check::Pods { .. } => jq("", PODS_READY),
            Check::VolumeGroup { name, .. } => jq(
                &format!("--arg vg {} ", quote(name)),
                "[.report[0].vg[]? | select(.vg_name == $vg and ((.vg_free | rtrimstr(\"B\") | tonumber) > 0))] | length > 0",
            ),
            Check::FreeSpace { min_bytes, .. } => Some(format!(
                "awk -v min={min_bytes} '$1 ~ /^[0-9]+$/ {{ found = 1; ok = ($1 >= min) }} END {{ exit !(found && ok) }}'"
            )),
            Check::Embedded => Some(
                "awk -F '\\t' 'NF == 3 && $2 ~ /^sha256:/ { n++ } END { exit !n }'".to_string(),
            ),
            Check::State { want, .. } => Some(format!("grep -qx -- {}", quote(want))),
            Check::BootcHost { booted, rollback } => {
                let mut filter = ".kind == \"BootcHost\"".to_string();
                if *booted {
                    filter.push_str(" and .status.booted.image.imageDigest != null");
                }
                if *rollback {
                    filter.push_str(" and .status.rollback.image.imageDigest != null");
                }
                jq("", &filter)
            }
            Check::ListMember { booted: Some(_), .. } => None,
            Check::ListMember { arch, pinned, .. } => {
                let single = match pinned {
                    Some(_) => "(.manifests | not)",
                    None => "false",
                };
                jq(
                    &format!("--arg a \"${{{arch}}}\" "),
                    &format!("{single} or ([.manifests[]? | select(.platform.architecture == $a)] | length == 1)"),
                )
            }
            Check::Staged { expected } => jq(
                &format!("--arg d \"${{{expected}}}\" "),
                ".status.staged.image.imageDigest == $d",
            ),
            Check::BootChanged { from } => Some(format!("grep -qvxF -- \"${{{from}}}\"")),
            Check::Booted { want, rollback, .. } => {
                let mut args = format!("--arg w \"${{{want}}}\" ");
                let mut filter = ".status.booted.image.imageDigest == $w".to_string();
                if let Some(r) = rollback {
                    args.push_str(&format!("--arg r \"${{{r}}}\" "));
                    filter.push_str(" and .status.rollback.image.imageDigest == $r");
                }
                jq(&args, &filter)
            }
            Check::Greenboot { wait: true } => {
                Some("grep -qxE 'SubState=exited|LoadState=not-found'".to_string())
            }
            // a report, never a failure: the script says it as the tool does
            Check::LeftStaged => Some(format!(
                "jq -r --arg rest {} --arg queued {} '(.status.staged.image // empty | \"warning: the device has \\(.image.image) (\\(.imageDigest)) staged, \\($rest)\"), (select(.status.rollbackQueued == true) | .status.rollback.image // empty | \"warning: the device has a rollback queued: it boots \\(.image.image) (\\(.imageDigest)) \\($queued)\")' >&2",
                quote(LEFT_STAGED),
                quote(LEFT_QUEUED)
            )),
            Check::Greenboot { wait: false } | Check::Unit { .. } | Check::Journal { .. } => None,
            Check::Kernel { .. } | Check::Artifact { .. } | Check::Playbook => None,
            Check::Pushed { image_id, .. } => jq(
                &format!("--arg id \"${{{image_id}}}\" "),
                PUSHED_CONFIG_JQ,
            ),
            Check::Connection { name } => jq(
                &format!("--arg n {} ", quote(name)),
                crate::builder::CONNECTION_JQ,
            ),
            // one JSON document per device that ran (none when the play stopped before one)
            Check::Fleet { .. } => jq("-s ", "all(.[]; (.results | type) == \"object\")"),
            Check::Manifest { want: None, .. } => Some("jq -e . >/dev/null".to_string()),
            Check::Manifests { .. } => Some("jq -s -e 'length > 0' >/dev/null".to_string()),
            Check::BundleMember { arch } => jq(
                &format!("--arg a \"${{{arch}}}\" "),
                "[.images[]? | select(.architecture == $a)] | length == 1",
            ),
            Check::Missing { files, .. } => jq(
                &format!(
                    "-R -n --argjson allowed {} ",
                    quote(&serde_json::to_string(files).expect("strings print"))
                ),
                "all(inputs; . as $l | any($allowed[]; . == $l))",
            ),
            Check::Carried => jq("", ".result == \"staged\" or .result == \"current\""),
            Check::Manifest { want: Some(w), .. } => {
                Some(format!("[ \"$({SHELL_DIGEST})\" = {} ]", w.shell()))
            }
            Check::Flightctl { plan } => Some(super::flightctl::shell_done(plan)),
            Check::FlightctlPatched { image, .. } => jq(
                &format!("--arg i {} ", quote(image)),
                ".kind == \"Fleet\" and .spec.template.spec.os.image == $i",
            ),
        }
    }

    /// That the output can be judged at all, as a bash test (a watch keeps the last such
    /// output: what it judges as final at the deadline).
    pub fn shell_seen(&self) -> Option<String> {
        match self {
            Check::Flightctl { .. } => Some(super::flightctl::SHELL_SEEN.to_string()),
            _ => None,
        }
    }

    /// A definite "no" of a check that has three answers (yes, no, not yet), as a bash test
    /// like [`Check::shell_test`].
    pub fn shell_no(&self) -> Option<String> {
        match self {
            Check::Booted {
                other: Some(other), ..
            } => Some(format!(
                "jq -e --arg o \"${{{other}}}\" '.status.booted.image.imageDigest == $o' >/dev/null"
            )),
            Check::Greenboot { wait: true } => Some("grep -qx 'SubState=failed'".to_string()),
            Check::Flightctl { .. } => Some(super::flightctl::SHELL_REFUSED.to_string()),
            _ => None,
        }
    }

    /// The exit code when the check fails.
    pub fn fail_code(&self) -> i32 {
        1
    }
}

/// Every pod is ready, as `pods.rs` judges it: there are pods; none is terminating; each has
/// succeeded (a finished job), or runs with every container ready and every init container
/// completed (or ready).
const PODS_READY: &str = "(.items | length > 0) and all(.items[]; .metadata.deletionTimestamp == null and (.status.phase == \"Succeeded\" or (.status.phase == \"Running\" and ((.status.containerStatuses // []) | length > 0 and all(.ready == true)) and all((.status.initContainerStatuses // [])[]; .ready == true or .state.terminated.reason == \"Completed\"))))";
