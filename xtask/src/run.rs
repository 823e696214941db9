//! `cargo xtask run`: "Run MicroShift Bootc Image" — Configure CNI (openvswitch), Configure
//! CSI (a `rhel` volume group, optionally on a loop device), Run Container. And
//! `cargo xtask clean`, which undoes it.

use camino::Utf8PathBuf;

use crate::build::{Image, ImageArgs};
use crate::config::Sources;
use crate::inspect::Check;
use crate::plan::{Extract, Plan, Stdin, Step, When};
use crate::secrets;
use crate::validate::{self, bad};

/// The tag `run --lvm-loop` puts on the volume group it creates; `clean` removes only a
/// volume group that carries it, so a host's own `rhel` group is never touched.
pub const VG_TAG: &str = "xtask-microshift";
const STORAGE: &str = "/var/lib/containers/storage";

/// Flags naming the container and the loop-device volume group, shared by run and clean.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HostArgs {
    /// Container name [default: the image name]
    #[arg(long)]
    pub name: Option<String>,
    /// Volume group for the CSI driver [default: rhel]
    #[arg(long)]
    pub volume_group: Option<String>,
    /// File backing the loop-device volume group [env: VGFILE]
    /// [default: /var/lib/microshift-lvm-storage.img]
    #[arg(long)]
    pub loop_file: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub name: String,
    pub volume_group: String,
    pub loop_file: Utf8PathBuf,
}

impl Host {
    pub fn resolve(args: &HostArgs, image_name: &str, sources: &Sources) -> anyhow::Result<Host> {
        let name = sources.pick_or("--name", args.name.as_deref(), None, None, image_name)?;
        let name = validate::simple_name(&name.what, &name.value)?;
        let vg = sources.pick_or(
            "--volume-group",
            args.volume_group.as_deref(),
            None,
            Some("lvm.volume_group"),
            "rhel",
        )?;
        let volume_group = validate::simple_name(&vg.what, &vg.value)?;
        let file = sources.pick_or(
            "--loop-file",
            args.loop_file.as_deref(),
            Some("VGFILE"),
            Some("lvm.loop_file"),
            "/var/lib/microshift-lvm-storage.img",
        )?;
        let loop_file = sources.path(&file)?;
        if loop_file.as_str().ends_with('/') || loop_file.file_name().is_none() {
            return Err(bad(&file.what, &file.value, "must name a file"));
        }
        Ok(Host {
            name,
            volume_group,
            loop_file,
        })
    }

    fn vgs(&self, id: &'static str, hint: &str) -> Step {
        Step::new(
            id,
            format!("check volume group {}", self.volume_group),
            "vgs",
        )
        .args(crate::inspect::VGS_ARGS)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .read_only()
        .root(true)
        .check(Check::VolumeGroup {
            name: self.volume_group.clone(),
            hint: hint.to_string(),
        })
    }
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    #[command(flatten)]
    pub host: HostArgs,
    /// Run this image reference instead of localhost/<image name>:<tag>
    #[arg(long)]
    pub image_ref: Option<String>,
    /// Pull secret, mounted read-only at /etc/crio/openshift-pull-secret [env: PULL_SECRET]
    #[arg(long)]
    pub pull_secret: Option<String>,
    /// Start in the background (-d) instead of an interactive terminal (-it --rm)
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// When the volume group is missing, create it on a loop device backed by a sparse file
    /// of this size (e.g. 1G); without a value: VGSIZE, else lvm.loop_size, else 1G
    #[arg(long, value_name = "SIZE", num_args = 0..=1, default_missing_value = "")]
    pub lvm_loop: Option<String>,
    /// Start even when the openvswitch module cannot be loaded (ovnkube pods will fail)
    #[arg(long)]
    pub skip_openvswitch: bool,
    /// Host container storage shared with the container
    #[arg(long)]
    pub host_storage: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub image: String,
    pub host: Host,
    pub pull_secret: Utf8PathBuf,
    pub detach: bool,
    pub lvm_loop: Option<String>,
    pub skip_openvswitch: bool,
    pub host_storage: Utf8PathBuf,
    pub host_kernel: String,
}

impl Run {
    pub fn resolve(args: &RunArgs, sources: &Sources) -> anyhow::Result<Run> {
        let image = Image::resolve(&args.image, sources)?;
        let reference = match &args.image_ref {
            Some(r) => validate::image_reference("--image-ref", r)?,
            None => image.local(),
        };
        let host = Host::resolve(&args.host, &image.name, sources)?;
        let pull_secret = secrets::pull_secret(sources, args.pull_secret.as_deref())?;
        if pull_secret.as_str().contains(':') || pull_secret.as_str().contains(',') {
            return Err(bad(
                "--pull-secret",
                pull_secret.as_str(),
                "podman -v cannot mount a path with ':' or ','",
            ));
        }
        // only the flag asks for the loop device; VGSIZE or the config file only size it
        let lvm_loop = match args.lvm_loop.as_deref() {
            None => None,
            Some(given) => {
                let flag = Some(given).filter(|v| !v.is_empty());
                let p = sources.pick_or(
                    "--lvm-loop",
                    flag,
                    Some("VGSIZE"),
                    Some("lvm.loop_size"),
                    "1G",
                )?;
                validate::size(&p.what, &p.value, 64 << 20)?;
                Some(p.value)
            }
        };
        let storage = sources.pick_or(
            "--host-storage",
            args.host_storage.as_deref(),
            None,
            None,
            STORAGE,
        )?;
        let host_storage = sources.path(&storage)?;
        if host_storage.as_str().contains(':') || host_storage.as_str().contains(',') {
            return Err(bad(
                &storage.what,
                &storage.value,
                "podman -v cannot mount a path with ':' or ','",
            ));
        }
        Ok(Run {
            image: reference,
            host,
            pull_secret,
            detach: args.detach,
            lvm_loop,
            skip_openvswitch: args.skip_openvswitch,
            host_storage,
            host_kernel: sources.host_kernel.clone(),
        })
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        let h = &self.host;
        let mut plan = Plan::new(
            format!("run {} as container {}", self.image, h.name),
            as_root,
        );
        // Configure CNI: the container runs the host kernel, so the module comes from the host
        let mut ovs = Step::new(
            "openvswitch",
            "load the openvswitch module on the host",
            "modprobe",
        )
        .arg("openvswitch")
        .root(true);
        if self.skip_openvswitch {
            ovs = ovs.may_fail();
        } else {
            ovs = ovs.hint(format!(
                "the host kernel ({}) has no loadable openvswitch module, and the container cannot load its own (it runs the host kernel): install the kernel's extra modules (RHEL: kernel-modules-extra) or boot a kernel that has it, then run again. --skip-openvswitch starts anyway, but the ovnkube pods will fail",
                self.host_kernel
            ));
        }
        plan.push(ovs);
        plan.push(
            Step::new("kernel", format!("inspect {}", self.image), "podman")
                .args(["image", "inspect", &self.image])
                .read_only()
                .root(true)
                .check(Check::Kernel {
                    host: self.host_kernel.clone(),
                })
                .hint(format!(
                    "is {} built? `cargo xtask build` (or pull it)",
                    self.image
                )),
        );
        // Configure CSI
        let create_hint = "`cargo xtask run --lvm-loop 1G` creates one on a loop device";
        match &self.lvm_loop {
            None => plan.push(h.vgs("volume-group", create_hint)),
            Some(size) => {
                // a missing group is an answer here: the next steps make it
                plan.push(h.vgs("volume-group", "").may_fail());
                let missing = || When::IfFailed("volume-group");
                let file = h.loop_file.as_str();
                plan.push(
                    Step::new(
                        "loop-file",
                        format!("create {file} ({size}, sparse)"),
                        "truncate",
                    )
                    .args([format!("--size={size}"), file.to_string()])
                    .root(true)
                    .when(missing()),
                );
                plan.push(
                    Step::new(
                        "loop-device",
                        format!("attach {file} to a free loop device"),
                        "losetup",
                    )
                    .args(["-f", "--show", file])
                    .root(true)
                    .capture("VGLOOP", Extract::Trim)
                    .when(missing())
                    .hint("no free loop device? `losetup -a` lists them"),
                );
                plan.push(
                    Step::new(
                        "vgcreate",
                        format!("create volume group {} on it", h.volume_group),
                        "vgcreate",
                    )
                    .args(["--addtag", VG_TAG, "-f", "-y", &h.volume_group])
                    .var_arg("", "VGLOOP")
                    .env("LVM_SUPPRESS_FD_WARNINGS", "1")
                    .root(true)
                    .when(When::IfSet("VGLOOP"))
                    .hint(format!(
                        "a volume group {} may exist without free space: `sudo vgs`",
                        h.volume_group
                    )),
                );
                plan.push(h.vgs("volume-group-ok", create_hint).when(missing()));
            }
        }
        plan.push(
            Step::new("name-free", format!("check no container named {} exists", h.name), "podman")
                .args(["container", "exists", &h.name])
                .must_fail()
                .root(true)
                .hint(format!("a container named {0} exists: `cargo xtask clean --name {0}` removes it, or choose --name", h.name)),
        );
        // Run Container, as documented
        let mut run = Step::new(
            "run",
            format!("start {} as container {}", self.image, h.name),
            "podman",
        )
        .arg("run");
        run = if self.detach {
            run.arg("-d")
        } else {
            run.args(["--rm", "-it"]).stdin(Stdin::Inherit)
        };
        run = run
            .arg("--privileged")
            .args([
                "-v".to_string(),
                format!("{}:/etc/crio/openshift-pull-secret:ro", self.pull_secret),
            ])
            .args([
                "-v".to_string(),
                format!("{0}:{STORAGE}", self.host_storage),
            ])
            .args(["--name", &h.name, &self.image])
            .root(true);
        plan.push(run);
        plan
    }
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct CleanArgs {
    /// Image name, the default container name [env: IMAGE_NAME]
    #[arg(long)]
    pub image_name: Option<String>,
    #[command(flatten)]
    pub host: HostArgs,
}

/// `cargo xtask clean`: remove the container, and the loop-device volume group that
/// `run --lvm-loop` made (only one tagged by it), its loop device and file. Safe to repeat.
pub fn clean_plan(args: &CleanArgs, sources: &Sources) -> anyhow::Result<Plan> {
    let name = Image::name(args.image_name.as_deref(), sources)?;
    let h = Host::resolve(&args.host, &name, sources)?;
    let file = h.loop_file.as_str();
    let mut plan = Plan::new(
        format!("clean up container {} and the loop volume group", h.name),
        sources.as_root,
    );
    plan.push(
        Step::new(
            "container",
            format!("remove container {} (if any)", h.name),
            "podman",
        )
        .args(["rm", "--force", "--ignore", &h.name])
        .root(true),
    );
    plan.push(
        Step::new(
            "vgremove",
            format!(
                "remove volume group {} if `run` made it (tag {VG_TAG})",
                h.volume_group
            ),
            "vgremove",
        )
        .args([
            "--select".to_string(),
            format!("vg_name={} && vg_tags={VG_TAG}", h.volume_group),
            "--force".to_string(),
            "--yes".to_string(),
        ])
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .root(true),
    );
    plan.push(
        Step::new(
            "loop-device",
            format!("find the loop device of {file}"),
            "losetup",
        )
        .args(["-j", file])
        .probe()
        .capture("VGLOOP", Extract::BeforeColon)
        .root(true),
    );
    plan.push(
        Step::new("detach", "detach it", "losetup")
            .arg("-d")
            .var_arg("", "VGLOOP")
            .root(true)
            .when(When::IfSet("VGLOOP")),
    );
    plan.push(
        Step::new("loop-file", format!("delete {file} (if any)"), "rm")
            .args(["-f", file])
            .root(true),
    );
    Ok(plan)
}
