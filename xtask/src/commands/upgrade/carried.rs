//! `upgrade --from-bundle DIR`: the image from a bundle of `cargo xtask bundle` (a device
//! with no network), not a registry. The bundle's image for the device's architecture is
//! the expected digest; the device's own verifier (`microshift-usb-update`, in an image built
//! with usb_updates) says first whether it can take it (its key, room for the upload, the
//! verified copy and bootc's import of it); the bundle is copied into the ssh user's home on the device (in /var),
//! resumably: with rsync when this host and the device both have it (`--partial
//! --append-verify`: a cut transfer goes on where it stopped, and every file is checked
//! whole); else with sftp, which every RHEL image-mode device has (openssh-server's
//! sftp-server; rsync is not in the bootc base images): the manifest and its signature
//! first, then the verifier names the files of its architecture the upload lacks or holds
//! wrong (each checked by size and SHA-256), and only those are sent (a cut transfer sends
//! again from the file it stopped in). The verifier then copies the upload into a directory
//! only root reads, checks the copy (signature, every checksum and size, the blobs its index
//! references) and stages it (`bootc switch --transport oci`); the upload is removed. From
//! the staged deployment on, the steps and the verdict are `upgrade`'s.

use super::{left_staged, opening, see_through};
use crate::commands::bundle::local;
use crate::commands::lifecycle::{ARCH, EXPECTED};
use crate::config::Sources;
use crate::device::USB_VERIFIER;
use crate::plan::{missing_batch_jq, Check, Extract, Plan, ResultShell, Stdin, Step, Wait, When};
use crate::reach::Device;

/// The bundle's image for the device: its architecture (the manifest's word) and bytes.
const BUNDLE_ARCH: &str = "BUNDLE_ARCH";
const BUNDLE_NEED: &str = "BUNDLE_NEED";
/// What the device lacks, as an sftp batch.
const UPLOAD_BATCH: &str = "UPLOAD_BATCH";

pub(super) fn plan(
    dir: &str,
    device: &Device,
    wait: Wait,
    pull_s: u64,
    sources: &Sources,
) -> anyhow::Result<Plan> {
    let path = sources.flag_path("--from-bundle", dir)?;
    let bundle = local::load("--from-bundle", &path)?;
    let what = format!("the bundle {} ({})", bundle.dir, bundle.image);
    let up = bundle.upload();
    let mut plan = Plan::new(
        format!("upgrade {} from {what}", device.describe()),
        sources.as_root,
    );
    plan.facts = serde_json::json!({
        "device": device.facts(),
        "image": bundle.image,
        "bundle": bundle.dir.as_str(),
        "upload": up,
    });
    plan.note = device.note();
    plan.deadline = Some(wait);
    plan.summary = Some(("device", crate::commands::lifecycle::upgrade_summary));
    opening(&mut plan, device);
    let manifest = bundle.dir.join("bundle.json");
    let pick = |then: &str| {
        ResultShell::Stdout(format!(
            "jq -r --arg a \"${{{ARCH}}}\" '.images[] | select(.architecture == $a) | {then}'"
        ))
    };
    plan.push(
        Step::new(
            "expected",
            format!("read the bundle's image for the device's architecture: {manifest}"),
            "cat",
        )
        .arg(manifest.as_str())
        .read_only()
        .check(Check::BundleMember { arch: ARCH })
        .result_var(EXPECTED, "digest", pick(".digest"))
        .result_var(BUNDLE_ARCH, "architecture", pick(".architecture"))
        .result_var(
            BUNDLE_NEED,
            "need",
            pick("[(.files[]?, .blobs[]?) | .size] | add | tostring"),
        ),
    );
    let (moving, already) = left_staged(&mut plan, device);
    let moving_and = |w: When| When::AllOf(vec![moving.clone(), w]);
    // what the shell's "not found" or "No such file" for the verifier means
    let no_verifier = format!("the device's image has no {USB_VERIFIER}: build it with usb_updates (`cargo xtask build --usb-updates`, with signing.public_key) and install or upgrade the device to it once");
    plan.push(
        device
            .run(
                "verifier",
                "ask the device's verifier whether it can take the bundle: its key, its tools, room for the upload, the verified copy and bootc's import of it",
                &[USB_VERIFIER, "check"],
            )
            .var_arg("", BUNDLE_NEED)
            .read_only()
            .when(moving.clone())
            .hint_when("not found", no_verifier.clone())
            .hint_when("No such file", no_verifier)
            .hint("the verifier said what the device lacks, above (`cargo xtask doctor --for bundle --host ...` checks it too)"),
    );
    // rsync when both ends have it: resumable within a file
    plan.push(
        // through env: a host without rsync is an answer (127), not a command that cannot start
        Step::new("rsync-here", "is rsync on this host?", "env")
            .args(["rsync", "--version"])
            .probe()
            .capture("RSYNC_HERE", Extract::Trim)
            .when(moving.clone()),
    );
    plan.push(
        device
            .run(
                "rsync-there",
                "is rsync on the device?",
                &["rsync", "--version"],
            )
            .probe()
            .capture("RSYNC_THERE", Extract::Trim)
            .when(moving_and(When::IfSucceeded("rsync-here"))),
    );
    let mut e = String::from("ssh");
    for o in device.ssh_options() {
        e.push(' ');
        e.push_str(&o);
    }
    if let Some(p) = device.port() {
        e.push_str(&format!(" -p {p}"));
    }
    let rsync = Step::new(
        "upload-rsync",
        format!("copy the bundle's manifest and its ${{{BUNDLE_ARCH}}} image to the device with rsync: ~/{up}"),
        "rsync",
    )
    .args(["--recursive", "--partial", "--append-verify", "-e", &e, "--"])
    .arg(bundle.dir.join("bundle.json").as_str())
    .arg(bundle.dir.join("bundle.json.sig").as_str())
    .var_arg(&format!("{}/", bundle.dir), BUNDLE_ARCH);
    plan.push(
        device
            .destination(rsync, &format!(":{up}/"))
            .when(moving_and(When::IfSucceeded("rsync-there")))
            .hint("a cut transfer goes on where it stopped: run the upgrade again"),
    );
    // else sftp: the manifest first, then what the device lacks
    let by_sftp = moving_and(When::AnyOf(vec![
        When::IfFailed("rsync-here"),
        When::IfFailed("rsync-there"),
    ]));
    let sftp = |id: &'static str, about: String, stdin: Stdin| {
        let mut s = Step::new(id, about, "sftp")
            .args(["-b", "-"])
            .args(device.ssh_options());
        if let Some(p) = device.port() {
            s = s.args(["-P".to_string(), p.to_string()]);
        }
        device
            .destination(s, "")
            .stdin(stdin)
            .when(by_sftp.clone())
            .hint("a cut transfer goes on from the file it stopped in: run the upgrade again")
    };
    plan.push(sftp(
        "upload-manifest",
        format!("copy the bundle's manifest and its signature to the device with sftp: ~/{up}"),
        Stdin::Text(format!(
            "-mkdir \"{up}\"\nput \"{dir}/bundle.json\" \"{up}/bundle.json\"\nput \"{dir}/bundle.json.sig\" \"{up}/bundle.json.sig\"\n",
            dir = bundle.dir
        )),
    ));
    plan.push(
        device
            .run(
                "missing",
                "ask the device which files of its architecture the upload lacks or holds wrong",
                &[USB_VERIFIER, "missing", &up],
            )
            .read_only()
            .check(Check::Missing {
                local: bundle.dir.to_string(),
                upload: up.clone(),
                files: bundle.files.clone(),
            })
            .result_var(
                UPLOAD_BATCH,
                "batch",
                ResultShell::Stdout(missing_batch_jq(bundle.dir.as_str(), &up, &bundle.files)),
            )
            .when(by_sftp.clone())
            .hint("the device checks the manifest's signature with the key its image carries: is the bundle signed with the release key (`cargo xtask doctor --for bundle --bundle DIR`)?"),
    );
    plan.push(sftp(
        "upload",
        format!("copy those files to the device with sftp: ~/{up}"),
        Stdin::Template(format!("${{{UPLOAD_BATCH}}}\n")),
    ));
    plan.push(
        device
            .run(
                "stage",
                "verify the bundle on the device (its copy in /var, with the key its image carries) and stage it (bootc switch --transport oci)",
                &[USB_VERIFIER, "stage", &up],
            )
            .check(Check::Carried)
            .time_limit(pull_s)
            .when(moving.clone())
            .leaves("the bundle's image may be staged on the device, or be once its verifier finishes there (a stop ends the ssh session, not the verifier on the device): it then boots at the device's next reboot. `cargo xtask status` shows what is staged; run the upgrade again to see it through, or remove what was staged on the device (`sudo rpm-ostree cleanup --pending` on RHEL image mode)")
            .skip_note(format!("the device runs {what} already: nothing copied or staged"))
            .hint(format!("the device's verifier refused the bundle or could not stage it (the reason above; on the device: {}); nothing was staged", crate::device::USB_RESULT)),
    );
    plan.push(
        device
            .run(
                "upload-clear",
                "remove the upload (the device keeps its verified copy)",
                &["rm", "-rf", "--", &up],
            )
            .may_fail()
            .when(When::IfSucceeded("stage")),
    );
    see_through(&mut plan, device, &what, moving, already);
    Ok(plan)
}
