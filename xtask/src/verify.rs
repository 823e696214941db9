//! `cargo xtask verify`: the documented `watch oc get pods -A`, as a wait with a deadline —
//! in the container (podman exec), in the VM (ssh), or over a saved pod list.

use camino::Utf8PathBuf;

use crate::config::Sources;
use crate::inspect::Check;
use crate::plan::{Extract, Plan, Step, Wait};
use crate::validate;

pub const KUBECONFIG: &str = "/var/lib/microshift/resources/kubeadmin/kubeconfig";

#[derive(clap::Args, Debug, Clone, Default)]
pub struct VerifyArgs {
    /// The container started by `run` [default: the image name]
    #[arg(long, conflicts_with_all = ["vm", "pods_file"])]
    pub container: Option<String>,
    /// The libvirt VM installed by `vm` (reached over ssh at its libvirt address)
    #[arg(long, conflicts_with = "pods_file")]
    pub vm: Option<String>,
    /// Judge a saved `oc get pods -A -o json` document instead (exit 0 only when all ready)
    #[arg(long)]
    pub pods_file: Option<Utf8PathBuf>,
    /// How long to wait for all pods, e.g. 900s, 15m [default: 15m]
    #[arg(long)]
    pub timeout: Option<String>,
    /// Pause between tries [default: 10s]
    #[arg(long)]
    pub interval: Option<String>,
    /// User for ssh into the VM [default: redhat]
    #[arg(long)]
    pub ssh_user: Option<String>,
    /// libvirt connection URI, with --vm [default: qemu:///system]
    #[arg(long)]
    pub libvirt_uri: Option<String>,
    /// Image name, the default container name [env: IMAGE_NAME]
    #[arg(long)]
    pub image_name: Option<String>,
}

fn oc_args() -> [&'static str; 7] {
    ["oc", "get", "pods", "-A", "-o", "json", "--kubeconfig"]
}

pub fn plan(args: &VerifyArgs, sources: &Sources) -> anyhow::Result<Plan> {
    let timeout = sources.pick_or("--timeout", args.timeout.as_deref(), None, None, "15m")?;
    let timeout_s = validate::duration(&timeout.what, &timeout.value)?;
    let interval = sources.pick_or("--interval", args.interval.as_deref(), None, None, "10s")?;
    let interval_s = validate::duration(&interval.what, &interval.value)?;
    let pods_hint = "the pods' own logs: `oc logs -n NAMESPACE POD` (see the hints above)";
    let mut plan = match &args.vm {
        Some(vm) => {
            let vm = validate::simple_name("--vm", vm)?;
            let uri = crate::vm::libvirt_uri(args.libvirt_uri.as_deref(), sources)?;
            let user =
                sources.pick_or("--ssh-user", args.ssh_user.as_deref(), None, None, "redhat")?;
            let user = validate::simple_name(&user.what, &user.value)?;
            let mut plan = Plan::new(format!("verify MicroShift in VM {vm}"), sources.as_root);
            let root = crate::vm::needs_root(&uri);
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
            let ssh = |id: &'static str, about: &str| {
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
                    .read_only()
                    .repeat()
            };
            plan.push(
                ssh("service", "wait until the microshift service is active")
                    .args(["sudo", "systemctl", "is-active", "microshift"])
                    .hint(format!("ssh needs a key for {user} on the VM; `sudo journalctl -u microshift` there shows why the service is not active")),
            );
            plan.push(
                ssh("pods", "wait until every pod is ready")
                    .arg("sudo")
                    .args(oc_args())
                    .arg(KUBECONFIG)
                    .check(Check::Pods)
                    .hint(pods_hint),
            );
            plan
        }
        None => {
            let name = match &args.container {
                Some(c) => c.clone(),
                None => crate::build::Image::name(args.image_name.as_deref(), sources)?,
            };
            let name = validate::simple_name("--container", &name)?;
            let mut plan = Plan::new(
                format!("verify MicroShift in container {name}"),
                sources.as_root,
            );
            plan.push(
                Step::new("service", "wait until the microshift service is active", "podman")
                    .args(["exec", &name, "systemctl", "is-active", "microshift"])
                    .read_only()
                    .root(true)
                    .repeat()
                    .hint(format!(
                        "is the container running (`podman ps -a`)? `podman exec {name} journalctl -u microshift` shows why the service is not active"
                    )),
            );
            plan.push(
                Step::new("pods", "wait until every pod is ready", "podman")
                    .args(["exec", &name])
                    .args(oc_args())
                    .arg(KUBECONFIG)
                    .read_only()
                    .root(true)
                    .repeat()
                    .check(Check::Pods)
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
