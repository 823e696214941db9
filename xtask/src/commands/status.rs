//! `cargo xtask status`: what a device runs — its booted, staged and rollback images (from
//! `bootc status --json`), greenboot's verdict, MicroShift's service, and whether the booted
//! image is what the registry holds now for the device's architecture. Read-only.

use super::lifecycle::{
    deployments, greenboot_state, keep_booted, ImageFlags, Wanted, ARCH, BEFORE,
};
use super::{Action, Ctx};
use crate::config::Sources;
use crate::plan::{Check, Plan, When};
use crate::reach::{Device, DeviceArgs};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct StatusArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub image: ImageFlags,
}

/// `cargo xtask status`
pub fn act(args: &StatusArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    plan(args, ctx.sources).map(Action::plan)
}

fn plan(args: &StatusArgs, sources: &Sources) -> anyhow::Result<Plan> {
    // only a VM's address is waited for, and not long: status reads what is there
    let wait = crate::plan::Wait {
        timeout_s: 60,
        interval_s: 5,
    };
    let device = Device::resolve(&args.device, sources, true)?.within(wait.timeout_s);
    let wanted = Wanted::resolve(&args.image, sources)?;
    let mut plan = Plan::new(format!("status of {}", device.describe()), sources.as_root);
    plan.facts = serde_json::json!({ "device": device.facts(), "image": wanted.reference });
    plan.note = device.note();
    plan.deadline = Some(wait);
    for step in device.find_steps() {
        plan.push(step);
    }
    let bootc = keep_booted(deployments(
        &device,
        "bootc",
        "read the device's deployments",
        Check::BootcHost {
            booted: false,
            rollback: false,
        },
    ))
    .hint("`bootc status` runs on a bootc host (image mode); a container or a package-mode host has none");
    // a container that `run` started has no deployments of its own: that is an answer
    plan.push(if device.is_container() {
        bootc.may_fail().reports()
    } else {
        bootc
    });
    plan.push(greenboot_state(&device, "read greenboot's verdict", false));
    plan.push(
        device
            .run(
                "microshift",
                "read the state of the microshift service",
                &[
                    "systemctl",
                    "show",
                    "--property=ActiveState,SubState",
                    "microshift.service",
                ],
            )
            .read_only()
            .check(Check::Unit {
                name: "microshift.service".to_string(),
            }),
    );
    // the registry may be out of reach (a disconnected site): then it is not compared
    plan.push(
        wanted
            .inspect(
                "registry",
                &format!("ask the registry what {} is now", wanted.reference),
            )
            .check(Check::ListMember {
                arch: ARCH,
                pinned: wanted.pinned.clone(),
                booted: Some(BEFORE),
            })
            .probe()
            .reports()
            .when(When::IfSet(ARCH)),
    );
    Ok(plan)
}
