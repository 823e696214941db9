//! `cargo xtask upgrade`: move a running device to a new image as one transaction and see
//! it through, as MicroShift's own test harness does: the image's digest for the device's
//! architecture (from the registry's list: bootc reports the per-architecture digest, never
//! the list's), staged by digest with `bootc switch` (tried three times), checked staged,
//! a reboot, the device back with another boot id, then greenboot's verdict and MicroShift's
//! pods (`verify`'s own steps). When greenboot fails the new image, the device rolls itself
//! back (greenboot's fallback): the tool waits for that and says so (exit 4). The pull has
//! a limit of its own (`--pull-timeout`): one that runs out ends the upgrade before any
//! reboot; the waits get the whole `--timeout` from the reboot on. A device that runs the
//! image already is only checked: greenboot red there ends the upgrade at once (exit 1,
//! nothing moved, nothing to wait for), and a deployment staged there is reported.
//!
//! `--from-bundle DIR` (a bundle of `cargo xtask bundle`, for a device with no network):
//! the image comes from the bundle instead of a registry, copied to the device over ssh and
//! verified there by the image's own verifier before bootc sees it (`carried.rs`); the
//! steps after it and the verdict are the same.

use super::lifecycle::{
    back, boot_id, booted, deadline, deployments, greenboot, keep_booted, keep_next_boot,
    pull_limit, read, reboot, reboot_left, ImageFlags, Wanted, BEFORE, EXPECTED, NEXT_BOOT,
};
use super::{Action, Ctx};
use crate::config::Sources;
use crate::device::GREENBOOT_UNIT;
use crate::error::exit;
use crate::plan::{Check, Plan, When};
use crate::reach::{Device, DeviceArgs};

/// The bundle's copy to a device, its check there and its staging.
mod carried;

/// What an upgrade interrupted once the pull started leaves (up to the reboot): the image
/// staged, or soon: ssh's end of `bootc switch` is stopped, not the pull on the device
/// (sshd does not stop a command whose client went away).
const PULL_LEFT: &str = "the image may be staged on the device, or be once the pull finishes there (a stop ends the ssh session, not `bootc switch` on the device): it then boots at the device's next reboot. `cargo xtask status` shows what is staged; run the upgrade again to see it through, or remove what was staged on the device (`sudo rpm-ostree cleanup --pending` on RHEL image mode)";

#[derive(clap::Args, Debug, Clone, Default)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub image: ImageFlags,
    #[arg(long = "timeout", value_name = "DURATION")]
    pub upgrade_timeout: Option<String>,
    #[arg(long = "interval", value_name = "DURATION")]
    pub poll_interval: Option<String>,
    #[arg(long, value_name = "DURATION")]
    pub pull_timeout: Option<String>,
    /// Switch the device to the image's tag, not its digest: the device's own `bootc
    /// upgrade` follows the tag afterwards (the staged digest is still checked before the
    /// reboot)
    #[arg(long)]
    pub follow_tag: bool,
    /// The image from a bundle of `cargo xtask bundle` instead of a registry (a device with no
    /// network): copied to the device over ssh (resumable), verified there with the key its
    /// image carries (an image built with usb_updates), then staged
    #[arg(long, value_name = "DIR", conflicts_with_all = ["follow_tag", "device_image"])]
    pub from_bundle: Option<String>,
}

/// `cargo xtask upgrade`
pub fn act(args: &UpgradeArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    plan(args, ctx.sources).map(Action::plan)
}

fn plan(args: &UpgradeArgs, sources: &Sources) -> anyhow::Result<Plan> {
    let wait = deadline(
        args.upgrade_timeout.as_deref(),
        args.poll_interval.as_deref(),
        sources,
    )?;
    let pull_s = pull_limit(args.pull_timeout.as_deref(), sources)?;
    let device = Device::resolve(&args.device, sources, false)?.within(wait.timeout_s);
    if let Some(dir) = &args.from_bundle {
        return carried::plan(dir, &device, wait, pull_s, sources);
    }
    let wanted = Wanted::resolve(&args.image, sources)?;
    if args.follow_tag && wanted.pinned.is_some() {
        return Err(crate::validate::bad(
            "--follow-tag",
            &wanted.reference,
            "the image is named by digest: there is no tag to follow (give a tag, or leave --follow-tag out)",
        ));
    }
    let mut plan = Plan::new(
        format!("upgrade {} to {}", device.describe(), wanted.reference),
        sources.as_root,
    );
    plan.facts = serde_json::json!({ "device": device.facts(), "image": wanted.reference });
    plan.note = device.note();
    plan.deadline = Some(wait);
    plan.summary = Some(("device", super::lifecycle::upgrade_summary));
    opening(&mut plan, &device);
    plan.push(wanted.expected_step());
    let (moving, already) = left_staged(&mut plan, &device);
    // with a public key configured, the images carry a policy that requires signatures:
    // bootc is asked to enforce it (and refuses a device whose policy accepts anything)
    let enforce = sources
        .value(&crate::inputs::SIGN_PUBLIC_KEY, None)?
        .is_some();
    let mut switch = if enforce {
        device
            .run(
                "switch",
                "stage the image (bootc switch), its signature checked by the device's policy",
                &["bootc", "switch", "--quiet", "--enforce-container-sigpolicy"],
            )
            .hint_when(
                "insecureAcceptAnything",
                "the device's /etc/containers/policy.json accepts unsigned images: the image it runs was built without signing.public_key. Install it (or switch it once, from the device) with an image built with the public key",
            )
            .hint_when(
                "signature",
                "the device refused the image's signature: is it signed with the key the device's image carries (`cargo xtask release` signs and checks), and can the device read the signatures (gpg: signing.lookaside_url)?",
            )
    } else {
        device.run(
            "switch",
            "stage the image (bootc switch)",
            &["bootc", "switch", "--quiet"],
        )
    };
    switch = if args.follow_tag {
        switch.arg(&wanted.reference)
    } else {
        switch.var_arg(&format!("{}@", wanted.repository), EXPECTED)
    };
    plan.push(
        switch
            .retries(3, 5)
            // the pull's own limit (a try that runs out is not tried again), however short
            // the waits after the reboot are
            .time_limit(pull_s)
            .when(moving.clone())
            .skip_note(format!("the device runs {} already: not staged again", wanted.reference))
            .leaves(PULL_LEFT)
            .hint(format!("the device pulls the image itself: it needs credentials for the registry in /etc/ostree/auth.json (`cargo xtask doctor --for upgrade` checks), and room in /sysroot. A pull past --pull-timeout ({pull_s}s) ends the upgrade before any reboot, but only its ssh session is stopped: the device may still finish the pull and stage the image, which boots at its next reboot (`cargo xtask status` shows it); a slow link needs a longer --pull-timeout")),
    );
    see_through(&mut plan, &device, &wanted.reference, moving, already);
    Ok(plan)
}

/// The first steps on the device: found, its deployments read (the booted digest and
/// architecture, a staged one), its boot id.
fn opening(plan: &mut Plan, device: &Device) {
    // what an interruption leaves on the device, step by step (said with the signal)
    plan.leaves = Some(
        "nothing on the device was changed by this run: it had not staged anything there yet"
            .to_string(),
    );
    for step in device.find_steps() {
        plan.push(step);
    }
    plan.push(keep_next_boot(keep_booted(read(device, "before"))));
    plan.push(boot_id(device));
}

/// Whether the device moves (it runs another digest than the expected one) or runs it
/// already (then it is only checked, and a deployment an upgrade refused before its reboot
/// left staged there is said: it boots at the next reboot).
fn left_staged(plan: &mut Plan, device: &Device) -> (When, When) {
    let moving = When::IfVarsDiffer(BEFORE, EXPECTED);
    let already = When::IfVarsSame(BEFORE, EXPECTED);
    plan.push(
        deployments(
            device,
            "left-staged",
            "read what the device boots next (a deployment staged, a rollback queued)",
            Check::LeftStaged,
        )
        .probe()
        .reports()
        .when(When::AllOf(vec![
            already.clone(),
            When::IfDiffers(vec![(NEXT_BOOT, "booted".to_string())]),
        ])),
    );
    (moving, already)
}

/// From the staged deployment checked on: the reboot, the device back, greenboot's verdict
/// and the pods, or the rollback waited for and said (exit 4); `what` names the image.
fn see_through(plan: &mut Plan, device: &Device, what: &str, moving: When, already: When) {
    plan.push(
        deployments(
            device,
            "staged",
            "check the staged image is the one expected",
            Check::Staged { expected: EXPECTED },
        )
        .when(moving.clone())
        .hint("the device was not rebooted; the image it staged boots at its next reboot: run the upgrade again (it stages the expected digest in its place), or remove it on the device (`sudo rpm-ostree cleanup --pending` on RHEL image mode)"),
    );
    plan.push(
        reboot(device)
            .when(moving.clone())
            .leaves(reboot_left("the new image")),
    );
    plan.push(back(device).when(moving.clone()));
    plan.push(
        booted(
            device,
            "booted",
            "wait until the device reports the image it booted",
            EXPECTED,
            BEFORE,
        )
        .probe()
        .reports()
        .when(moving.clone()),
    );
    let healthy_candidate = When::AnyOf(vec![When::IfSucceeded("booted"), already.clone()]);
    plan.push(greenboot(device).probe().reports().when(healthy_candidate));
    // the verdict read may be of a later boot (greenboot reboots a red image, then rolls it
    // back): the device must still run the new image
    plan.push(
        booted(
            device,
            "confirm",
            "check the device still runs the image greenboot passed",
            EXPECTED,
            BEFORE,
        )
        .probe()
        .reports()
        .when(When::AllOf(vec![
            When::IfSucceeded("greenboot"),
            moving.clone(),
        ])),
    );
    // greenboot failed the new image (or the device booted the old one): its fallback rolls
    // it back; wait for that, then say so. Only a device that moved rolls back.
    let rolling_back = When::AllOf(vec![
        moving.clone(),
        When::AnyOf(vec![
            When::IfFailed("booted"),
            When::IfFailed("greenboot"),
            When::IfFailed("confirm"),
        ]),
    ]);
    plan.push(
        device
            .poll(deployments(
                device,
                "rolled-back",
                "wait until the device has rolled back to the image it ran before",
                Check::Booted {
                    want: BEFORE,
                    other: None,
                    rollback: Some(EXPECTED),
                },
            ))
            .when(rolling_back.clone())
        .hint("greenboot reboots into the new image up to its boot-attempt limit (3), then rolls back; a device without greenboot's fallback stays on the red image"),
    );
    plan.push(
        greenboot_journal(device, "greenboot-journal", "show what greenboot's checks said on the failed boot", "-1")
            .when(rolling_back)
            .then_exit(
                exit::ROLLED_BACK,
                format!(
                    "the device rolled back: greenboot failed {}; the device runs the image it ran before again (${{{BEFORE}}}), and the new one is its rollback deployment",
                    what
                ),
            ),
    );
    // greenboot failed the image the device ran already: nothing moved, nothing rolls back;
    // the image it runs is unhealthy, and greenboot's checks on this boot say why
    plan.push(
        greenboot_journal(device, "greenboot-now", "show what greenboot's checks said on this boot", "0")
            .when(When::AllOf(vec![already, When::IfFailed("greenboot")]))
            .then_exit(
                exit::FAILED,
                format!(
                    "the device runs {} already (${{{BEFORE}}}), and greenboot failed it: the image it runs is unhealthy; nothing was staged or rebooted",
                    what
                ),
            )
            .hint("`journalctl -u greenboot-healthcheck` on the device shows greenboot's checks; `cargo xtask rollback` boots the device's rollback deployment, or upgrade it to a fixed image"),
    );
    for step in super::verify::health_steps(device) {
        plan.push(step.when(When::IfSucceeded("greenboot")));
    }
    plan.push(read(device, "after").when(When::IfSucceeded("greenboot")));
}

/// What greenboot's checks said on a boot (`-1`: the one before, `0`: this one), its last 40
/// lines shown: read-only, and a device without the journal is no failure.
fn greenboot_journal(
    device: &Device,
    id: &'static str,
    about: &str,
    boot: &str,
) -> crate::plan::Step {
    device
        .run(
            id,
            about,
            &[
                "journalctl",
                "-b",
                boot,
                "-u",
                GREENBOOT_UNIT,
                "--no-pager",
                "-o",
                "cat",
                "-n",
                "40",
            ],
        )
        .read_only()
        .may_fail()
        .check(Check::Journal {
            unit: GREENBOOT_UNIT.to_string(),
        })
}
