//! `cargo xtask verify`: the documented `watch oc get pods -A`, as a wait with a deadline —
//! in the container (podman exec), in the VM (ssh), or over a saved pod list.

use camino::Utf8PathBuf;

use super::{Action, Ctx};
use crate::config::Sources;
use crate::plan::Check;
use crate::plan::{Extract, Plan, Step, Wait};
use crate::reach::{Device, DeviceArgs, Target};
use crate::validate;

use crate::device::KUBECONFIG;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct VerifyArgs {
    /// The container started by `run` [default: the last container or VM the record lists,
    /// else the image name]
    #[arg(long, conflicts_with_all = ["vm", "pods_file"])]
    pub container: Option<String>,
    /// The libvirt VM installed by `vm` (reached over ssh at its libvirt address)
    #[arg(long, conflicts_with = "pods_file")]
    pub vm: Option<String>,
    /// Judge a saved `oc get pods -A -o json` document instead (exit 0 only when all ready)
    #[arg(long)]
    pub pods_file: Option<Utf8PathBuf>,
    #[arg(long)]
    pub timeout: Option<String>,
    #[arg(long)]
    pub interval: Option<String>,
    #[arg(long)]
    pub ssh_user: Option<String>,
    #[arg(long)]
    pub libvirt_uri: Option<String>,
    #[arg(long)]
    pub image_name: Option<String>,
}

pub fn act(args: &VerifyArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    match &args.pods_file {
        Some(path) => pods_file(path, ctx.sources, ctx.json).map(|()| Action::Done),
        None => plan(args, ctx.sources).map(Action::plan),
    }
}

/// `verify --pods-file`: judge a saved pod list; exit 0 only when every pod is ready.
fn pods_file(path: &camino::Utf8Path, sources: &Sources, json: bool) -> anyhow::Result<()> {
    let path = &sources.flag_path("--pods-file", path.as_str())?;
    // a pod list of a big cluster is a few megabytes; /dev/zero is not one
    let bytes = crate::validate::read_bounded("--pods-file", path, 64 << 20)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| crate::validate::bad("--pods-file", path.as_str(), "is not UTF-8 text"))?;
    let verdict = crate::pods::judge(&text)
        .map_err(|e| crate::validate::refuse(format!("--pods-file: '{path}': {e:#}")))?;
    if json {
        crate::exec::print_json(&verdict.to_json());
    }
    if verdict.all_ready() {
        eprintln!("ok: all {} pods ready", verdict.ready());
        Ok(())
    } else {
        Err(crate::error::StepFailed::error(format!(
            "not every pod is ready ({path})\n{}",
            verdict.diagnosis()
        )))
    }
}

fn plan(args: &VerifyArgs, sources: &Sources) -> anyhow::Result<Plan> {
    let timeout = sources.get(&crate::inputs::TIMEOUT, args.timeout.as_deref())?;
    let timeout_s = validate::duration(&timeout.what, &timeout.value)?;
    let interval = sources.get(&crate::inputs::INTERVAL, args.interval.as_deref())?;
    let interval_s = validate::duration(&interval.what, &interval.value)?;
    // the target: as given, else what `run` or `vm` made last, else the image's container
    let (recorded_kind, recorded_name) = crate::reach::recorded_device(sources)?.unzip();
    let device_args = DeviceArgs {
        ssh_user: args.ssh_user.clone(),
        libvirt_uri: args.libvirt_uri.clone(),
        ..DeviceArgs::default()
    };
    let device_args = match (&args.vm, &args.container) {
        (Some(vm), _) => DeviceArgs {
            vm: Some(vm.clone()),
            ..device_args
        },
        (None, None) if recorded_kind.as_deref() == Some("vm") => DeviceArgs {
            vm: recorded_name,
            ..device_args
        },
        (None, container) => {
            let name = match (container, recorded_name) {
                (Some(c), _) => c.clone(),
                (None, Some(recorded)) => recorded,
                (None, None) => crate::image::Image::name(args.image_name.as_deref(), sources)?,
            };
            DeviceArgs {
                container: Some(name),
                ..device_args
            }
        }
    };
    let device = Device::resolve(&device_args, sources, true)?.within(timeout_s);
    let mut plan = Plan::new(
        format!("verify MicroShift in {}", device.describe()),
        sources.as_root,
    );
    plan.facts = device.facts();
    for step in device.find_steps() {
        plan.push(step);
    }
    for step in health_steps(&device) {
        plan.push(step);
    }
    plan.deadline = Some(Wait {
        timeout_s,
        interval_s,
    });
    Ok(plan)
}

/// MicroShift's health on a device, as `verify` judges it and `upgrade` and `rollback` wait
/// for it: the service active, then every pod ready (the hints knowing what the image
/// embeds). Each waits within the plan's deadline.
pub fn health_steps(device: &Device) -> Vec<Step> {
    let service_hint = match &device.target {
        Target::Container { name } => format!(
            "`podman exec {name} journalctl -u microshift` shows why the service is not active"
        ),
        _ => format!(
            "ssh needs a key for {} on the device; `sudo journalctl -u microshift` there shows why the service is not active",
            device.user
        ),
    };
    vec![
        device
            .poll(
                device
                    .run(
                        "service",
                        "wait until the microshift service is active",
                        &["systemctl", "is-active", "microshift"],
                    )
                    .read_only()
                    .check(service_active()),
            )
            .hint(service_hint),
        device
            .run(
                "embedded",
                EMBEDDED_ABOUT,
                &["cat", crate::device::EMBEDDED_LIST],
            )
            .read_only()
            .may_fail()
            .capture(EMBEDDED, Extract::Trim),
        device
            .poll(
                device
                    .run(
                        "pods",
                        "wait until every pod is ready",
                        &[
                            "oc",
                            "get",
                            "pods",
                            "-A",
                            "-o",
                            "json",
                            "--kubeconfig",
                            KUBECONFIG,
                        ],
                    )
                    .read_only()
                    .check(pods_ready()),
            )
            .hint("the pods' own logs: `oc logs -n NAMESPACE POD` (see the hints above)"),
    ]
}

const EMBEDDED_ABOUT: &str = "read the list of embedded images, if the image has one";
/// The variable holding the embedded images' list file, for the pods' hints.
const EMBEDDED: &str = "EMBEDDED_IMAGES";

/// Every pod ready, the hints knowing what the image embeds.
fn pods_ready() -> Check {
    Check::Pods { embedded: EMBEDDED }
}

/// `systemctl is-active microshift` answers one word: wait for "active".
fn service_active() -> Check {
    Check::State {
        what: "the microshift service".to_string(),
        want: "active".to_string(),
        wait: true,
    }
}
