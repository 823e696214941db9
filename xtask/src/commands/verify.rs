//! `cargo xtask verify`: the documented `watch oc get pods -A`, as a wait with a deadline —
//! in the container (podman exec), in the VM (ssh), or over a saved pod list.

use camino::Utf8PathBuf;

use super::{Action, Ctx};
use crate::config::Sources;
use crate::plan::Check;
use crate::plan::{Extract, Plan, Step, Wait};
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

fn oc_args() -> [&'static str; 7] {
    ["oc", "get", "pods", "-A", "-o", "json", "--kubeconfig"]
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
    let pods_hint = "the pods' own logs: `oc logs -n NAMESPACE POD` (see the hints above)";
    // the target: as given, else what `run` or `vm` made last, else the image's container
    let recorded = sources.record()?.entries.iter().rev().find(|e| {
        matches!(
            e.get("kind").and_then(|k| k.as_str()),
            Some("container" | "vm")
        )
    });
    let recorded_text = |k: &str| {
        recorded
            .and_then(|e| e.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let vm_target = match (&args.vm, &args.container) {
        (Some(vm), _) => Some(vm.clone()),
        (None, None) if recorded_text("kind").as_deref() == Some("vm") => recorded_text("name"),
        _ => None,
    };
    let mut plan = match vm_target {
        Some(vm) => {
            let vm = validate::simple_name("--vm", &vm)?;
            let recorded_uri = sources
                .record()?
                .find("vm", &vm)
                .and_then(|e| e.get("uri"))
                .and_then(|v| v.as_str())
                .map(str::to_string);
            let flag_uri = args.libvirt_uri.clone().or(recorded_uri);
            let uri = super::vm::libvirt_uri(flag_uri.as_deref(), sources)?;
            let user = sources.get(&crate::inputs::SSH_USER, args.ssh_user.as_deref())?;
            let user = validate::simple_name(&user.what, &user.value)?;
            let mut plan = Plan::new(format!("verify MicroShift in VM {vm}"), sources.as_root);
            plan.facts = serde_json::json!({ "vm": vm, "libvirt_uri": uri, "ssh_user": user });
            let root = super::vm::needs_root(&uri);
            // a VM that is not running will not come up by waiting: say so at once
            let mut running = Step::new("running", format!("check {vm} is running"), "virsh")
                .args(["--connect", &uri, "domstate", "--", &vm])
                .read_only()
                .root(root)
                .check(Check::State {
                    what: format!("VM {vm}"),
                    want: "running".to_string(),
                    wait: false,
                })
                .hint(format!(
                    "`virsh --connect {uri} list --all` lists the VMs; `virsh --connect {uri} start {vm}` starts it"
                ));
            if uri == "qemu:///system" {
                running = running.diagnose(
                    Step::new("log", "the VM's last log lines", "tail")
                        .args(["-n", "20", "--", &format!("/var/log/libvirt/qemu/{vm}.log")])
                        .root(true),
                );
            }
            plan.push(running);
            plan.push(
                Step::new("address", format!("find the address of {vm}"), "virsh")
                    .args(["--connect", &uri, "domifaddr", &vm])
                    .read_only()
                    .root(root)
                    .capture("VMIP", Extract::Ipv4)
                    .repeat()
                    .hint(format!(
                        "is {vm} running? `virsh --connect {uri} list --all`"
                    )),
            );
            // a command in the VM, once
            let ssh_once = |id: &'static str, about: &str| {
                Step::new(id, about.to_string(), "ssh")
                    .args([
                        "-o",
                        "BatchMode=yes",
                        "-o",
                        "StrictHostKeyChecking=accept-new",
                        "-o",
                        "ConnectTimeout=10",
                    ])
                    .var_arg(&format!("{user}@"), "VMIP")
            };
            // ... and again until it answers
            let ssh = |id: &'static str, about: &str| ssh_once(id, about).read_only().repeat();
            plan.push(
                ssh("service", "wait until the microshift service is active")
                    .args(["sudo", "systemctl", "is-active", "microshift"])
                    .check(service_active())
                    .hint(format!("ssh needs a key for {user} on the VM; `sudo journalctl -u microshift` there shows why the service is not active")),
            );
            plan.push(embedded_list(ssh_once("embedded", EMBEDDED_ABOUT)));
            plan.push(
                ssh("pods", "wait until every pod is ready")
                    .arg("sudo")
                    .args(oc_args())
                    .arg(KUBECONFIG)
                    .check(pods_ready())
                    .hint(pods_hint),
            );
            plan
        }
        None => {
            let name = match (&args.container, recorded_text("name")) {
                (Some(c), _) => c.clone(),
                (None, Some(recorded)) => recorded,
                (None, None) => crate::image::Image::name(args.image_name.as_deref(), sources)?,
            };
            let name = validate::simple_name("--container", &name)?;
            let mut plan = Plan::new(
                format!("verify MicroShift in container {name}"),
                sources.as_root,
            );
            plan.facts = serde_json::json!({ "container": name });
            // a container that is gone or stopped will not come up by waiting
            plan.push(
                Step::new("running", format!("check container {name} is running"), "podman")
                    .args(["exec", &name, "true"])
                    .read_only()
                    .root(true)
                    .diagnose(
                        Step::new("logs", "the container's last log lines", "podman")
                            .args(["logs", "--tail", "20", &name])
                            .root(true),
                    )
                    .hint(format!(
                        "container {name} does not exist or is not running (`podman ps -a`); `cargo xtask run -d` starts it"
                    )),
            );
            plan.push(
                Step::new("service", "wait until the microshift service is active", "podman")
                    .args(["exec", &name, "systemctl", "is-active", "microshift"])
                    .read_only()
                    .root(true)
                    .repeat()
                    .check(service_active())
                    .hint(format!(
                        "`podman exec {name} journalctl -u microshift` shows why the service is not active"
                    )),
            );
            plan.push(embedded_list(
                Step::new("embedded", EMBEDDED_ABOUT, "podman")
                    .args(["exec", &name])
                    .root(true),
            ));
            plan.push(
                Step::new("pods", "wait until every pod is ready", "podman")
                    .args(["exec", &name])
                    .args(oc_args())
                    .arg(KUBECONFIG)
                    .read_only()
                    .root(true)
                    .repeat()
                    .check(pods_ready())
                    .hint(pods_hint),
            );
            plan
        }
    };
    plan.deadline = Some(Wait {
        timeout_s,
        interval_s,
    });
    Ok(plan)
}

const EMBEDDED_ABOUT: &str = "read the list of embedded images, if the image has one";
/// The variable holding the embedded images' list file, for the pods' hints.
const EMBEDDED: &str = "EMBEDDED_IMAGES";

/// Read the list of images an image built with `--embed` holds (a missing list is an
/// answer: the image embeds none). `reach` is the command prefix that runs in the target.
fn embedded_list(reach: Step) -> Step {
    reach
        .args(["cat", crate::device::EMBEDDED_LIST])
        .read_only()
        .may_fail()
        .capture(EMBEDDED, Extract::Trim)
}

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
