//! `cargo xtask rollback`: back to the device's rollback deployment (`bootc rollback`, then
//! a reboot), with the same waits and checks as `upgrade`: the device back with another boot
//! id, running the rollback image, greenboot's verdict, MicroShift's pods. A rollback that
//! is queued already is only rebooted into: `bootc rollback` swaps the boot order, so a
//! second one would cancel the first.

use super::lifecycle::{
    back, boot_id, booted, deadline, deployments, greenboot, keep_booted, keep_next_boot, read,
    reboot, reboot_left, BEFORE, NEXT_BOOT, TARGET,
};
use super::{Action, Ctx};
use crate::config::Sources;
use crate::plan::{Check, Plan, ResultShell, When};
use crate::reach::{Device, DeviceArgs};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    #[arg(long = "timeout", value_name = "DURATION")]
    pub upgrade_timeout: Option<String>,
    #[arg(long = "interval", value_name = "DURATION")]
    pub poll_interval: Option<String>,
}

/// `cargo xtask rollback`
pub fn act(args: &RollbackArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    plan(args, ctx.sources).map(Action::plan)
}

fn plan(args: &RollbackArgs, sources: &Sources) -> anyhow::Result<Plan> {
    let wait = deadline(
        args.upgrade_timeout.as_deref(),
        args.poll_interval.as_deref(),
        sources,
    )?;
    let device = Device::resolve(&args.device, sources, false)?.within(wait.timeout_s);
    let mut plan = Plan::new(format!("roll back {}", device.describe()), sources.as_root);
    plan.facts = serde_json::json!({ "device": device.facts() });
    plan.note = device.note();
    plan.deadline = Some(wait);
    plan.summary = Some(("device", super::lifecycle::rollback_summary));
    // what an interruption leaves on the device, step by step (said with the signal)
    plan.leaves = Some(
        "nothing on the device was changed by this run: it had not queued the rollback yet"
            .to_string(),
    );
    for step in device.find_steps() {
        plan.push(step);
    }
    plan.push(keep_next_boot(
        keep_booted(deployments(
            &device,
            "before",
            "read the device's deployments",
            Check::BootcHost {
                booted: true,
                rollback: true,
            },
        ))
        .result_var(
            TARGET,
            "rollback_digest",
            ResultShell::Stdout("jq -r '.status.rollback.image.imageDigest'".to_string()),
        ),
    ));
    plan.push(boot_id(&device));
    plan.push(
        device
            .run(
                "rollback",
                "queue the rollback deployment for the next boot (bootc rollback)",
                &["bootc", "rollback"],
            )
            .when(When::IfDiffers(vec![(NEXT_BOOT, "rollback".to_string())]))
            .skip_note(
                "a rollback is queued already (bootc status: rollbackQueued): not queued again, which would cancel it; the device is only rebooted",
            )
            .leaves("a rollback may be queued on the device: it boots its rollback deployment at its next reboot. `cargo xtask rollback` again reboots into it (a rollback queued already is not queued twice); `sudo bootc rollback` on the device cancels it"),
    );
    plan.push(reboot(&device).leaves(format!(
        "{}; had it not rebooted, the rollback stays queued for its next boot",
        reboot_left("its rollback deployment")
    )));
    plan.push(back(&device));
    plan.push(
        booted(
            &device,
            "booted",
            "wait until the device reports the image it booted",
            TARGET,
            BEFORE,
        )
        .hint("the device booted the image it ran before the rollback: its boot loader did not take the rollback deployment"),
    );
    plan.push(
        greenboot(&device)
            .hint("greenboot failed the image the device rolled back to: `journalctl -u greenboot-healthcheck` on the device shows its checks"),
    );
    for step in super::verify::health_steps(&device) {
        plan.push(step);
    }
    plan.push(read(&device, "after"));
    Ok(plan)
}
