//! `cargo xtask run`: "Run MicroShift Bootc Image" — Configure CNI (openvswitch), Configure
//! CSI (a `rhel` volume group, optionally on a loop device), Run Container. And
//! `cargo xtask clean`, which undoes it.

use camino::Utf8PathBuf;

use super::{Action, Ctx};
use crate::config::Sources;
use crate::image::{Image, ImageArgs};
use crate::plan::Check;
use crate::plan::{Entry, Extract, Plan, Recording, Stdin, Step, When};
use crate::secrets;
use crate::validate::{self, bad};

/// The tag `run --lvm-loop` puts on the volume group it creates; `clean` removes only a
/// volume group that carries it, so a host's own `rhel` group is never touched.
pub const VG_TAG: &str = "xtask-microshift";
/// Where the container expects the host's container storage (the documented mount target).
const STORAGE: &str = "/var/lib/containers/storage";

/// The variable that [`podman_storage_step`] captures.
pub const HOST_STORAGE: &str = "HOST_STORAGE";

/// Ask podman where its storage is (its graph root): the directory that `run` and the disk
/// builder share with their container, at [`STORAGE`].
pub fn podman_storage_step() -> Step {
    Step::new("host-storage", "ask podman where its storage is", "podman")
        .args(["info", "--format", "{{.Store.GraphRoot}}"])
        .read_only()
        .root(true)
        .capture(HOST_STORAGE, Extract::Trim)
}

/// The `-v` argument that shares the storage [`podman_storage_step`] found.
pub fn podman_storage_mount(step: Step) -> Step {
    step.arg("-v")
        .var_arg_suffix(HOST_STORAGE, &format!(":{STORAGE}"))
}

/// Flags naming the container and the loop-device volume group, shared by run and clean.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HostArgs {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub volume_group: Option<String>,
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
        let name = sources.value_or(
            &crate::inputs::CONTAINER_NAME,
            args.name.as_deref(),
            image_name,
        )?;
        let name = validate::simple_name(&name.what, &name.value)?;
        let vg = sources.get(&crate::inputs::VOLUME_GROUP, args.volume_group.as_deref())?;
        let volume_group = validate::simple_name(&vg.what, &vg.value)?;
        let file = sources.get(&crate::inputs::LOOP_FILE, args.loop_file.as_deref())?;
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
        // the group named as operand: vgs exits non-zero when it is missing, so the exit
        // status answers the question for a pasted plan too
        Step::new(
            id,
            format!("check volume group {}", self.volume_group),
            "vgs",
        )
        .args(crate::inspect::VGS_ARGS)
        .args(["--", &self.volume_group])
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .read_only()
        .root(true)
        .check(Check::VolumeGroup {
            name: self.volume_group.clone(),
            hint: hint.to_string(),
        })
    }
}

/// The loop file is made by root: its directory must be one that only its owner (root, or
/// the user running this) can write, or another user could plant a file or a link there
/// between the check and the `truncate`.
fn private_dir(what: &str, file: &camino::Utf8Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = file.parent().unwrap_or(camino::Utf8Path::new("/"));
    let Ok(meta) = std::fs::metadata(dir) else {
        // `truncate` names it when the plan runs (a plan made elsewhere may be for a host
        // that has it)
        return Ok(());
    };
    let me = crate::record::effective_uid();
    if meta.mode() & 0o022 != 0 || (meta.uid() != 0 && Some(meta.uid()) != me) {
        return Err(bad(
            what,
            file.as_str(),
            format!("its directory '{dir}' can be written by other users, who could plant a file or a link there for root to use: choose a directory only root can write (the default is /var/lib)"),
        ));
    }
    Ok(())
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
    #[arg(long)]
    pub pull_secret: Option<String>,
    /// Start in the background (-d) instead of an interactive terminal (-it --rm)
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[arg(long, value_name = "SIZE", num_args = 0..=1, default_missing_value = "")]
    pub lvm_loop: Option<String>,
    /// Start even when the openvswitch module cannot be loaded (ovnkube pods will fail)
    #[arg(long)]
    pub skip_openvswitch: bool,
    /// Host container storage shared with the container [default: podman's own, from
    /// `podman info`]
    #[arg(long)]
    pub host_storage: Option<String>,
}

/// `cargo xtask run`
pub fn act(args: &RunArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    let run = Run::resolve(args, ctx.sources)?;
    Ok(Action::plan(run.plan(ctx.sources.as_root)))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub image: String,
    pub host: Host,
    pub pull_secret: Utf8PathBuf,
    pub detach: bool,
    pub lvm_loop: Option<String>,
    pub skip_openvswitch: bool,
    /// `None`: podman's own storage, asked of `podman info` when the plan runs.
    pub host_storage: Option<Utf8PathBuf>,
    pub host_kernel: String,
    /// The record file, and whether it lists the loop file as made by `run`.
    pub record: Utf8PathBuf,
    pub loop_file_ours: bool,
}

impl Run {
    pub fn resolve(args: &RunArgs, sources: &Sources) -> anyhow::Result<Run> {
        let image = Image::resolve(&args.image, sources)?;
        let reference = match &args.image_ref {
            Some(r) => validate::image_reference("--image-ref", r)?,
            None => image.local(),
        };
        let host = Host::resolve(&args.host, &image.name, sources)?;
        let (pull_secret, _) = secrets::pull_secret(sources, args.pull_secret.as_deref())?;
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
                let p = sources.get(&crate::inputs::LOOP_SIZE, flag)?;
                validate::size(&p.what, &p.value, 64 << 20)?;
                let what = sources
                    .get(&crate::inputs::LOOP_FILE, args.host.loop_file.as_deref())?
                    .what;
                private_dir(&what, &host.loop_file)?;
                Some(p.value)
            }
        };
        let host_storage = match &args.host_storage {
            Some(dir) => {
                let path = sources.flag_path("--host-storage", dir)?;
                if path.as_str().contains(':') || path.as_str().contains(',') {
                    return Err(bad(
                        "--host-storage",
                        dir,
                        "podman -v cannot mount a path with ':' or ','",
                    ));
                }
                Some(path)
            }
            None => None,
        };
        let loop_file_ours = sources
            .record()?
            .find("loop-file", host.loop_file.as_str())
            .is_some();
        Ok(Run {
            image: reference,
            host,
            pull_secret,
            detach: args.detach,
            lvm_loop,
            skip_openvswitch: args.skip_openvswitch,
            host_storage,
            host_kernel: sources.host_kernel.clone(),
            record: sources.record()?.path.clone(),
            loop_file_ours,
        })
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        let h = &self.host;
        let mut plan = Plan::new(
            format!("run {} as container {}", self.image, h.name),
            as_root,
        );
        plan.facts = serde_json::json!({
            "container": h.name,
            "image": self.image,
            "detached": self.detach,
            "volume_group": h.volume_group,
            "loop_file": self.lvm_loop.as_ref().map(|_| h.loop_file.as_str()),
        });
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
        // the host's container storage, shared with the container: podman's own, unless given
        match &self.host_storage {
            Some(dir) => {
                plan.push(
                    Step::new(
                        "host-storage",
                        format!("check the host storage {dir} is a directory"),
                        "test",
                    )
                    .args(["-d", dir.as_str()])
                    .read_only()
                    .root(true)
                    .hint("--host-storage must name the host's container storage directory (`podman info --format '{{.Store.GraphRoot}}'` prints it)"),
                );
            }
            None => plan.push(
                podman_storage_step()
                    .hint("`podman info` must work as root; or give --host-storage"),
            ),
        }
        // Configure CSI
        let create_hint = "`cargo xtask run --lvm-loop 1G` creates one on a loop device";
        match &self.lvm_loop {
            None => plan.push(h.vgs("volume-group", create_hint)),
            Some(size) => {
                // a missing group is an answer here: the next steps make it
                plan.push(h.vgs("volume-group", "").may_fail());
                let missing = || When::IfFailed("volume-group");
                let file = h.loop_file.as_str();
                // never take over (or resize) a file `run` did not make
                let hint = if self.loop_file_ours {
                    format!("an earlier `run` made {file} and stopped before the volume group was ready: `cargo xtask clean` removes it, then run again")
                } else {
                    format!("{file} exists and was not made by `cargo xtask run`: choose another --loop-file (VGFILE), or remove it yourself if it is unused")
                };
                plan.push(
                    Step::new(
                        "loop-file-free",
                        format!("check nothing (no file, no link) is at {file}"),
                        "test",
                    )
                    // -L too: a dangling link would have root's truncate create its target
                    .args(["-e", file, "-o", "-L", file])
                    .must_fail()
                    .root(true)
                    .when(missing())
                    .hint(hint),
                );
                plan.push(
                    Step::new(
                        "loop-file",
                        format!("create {file} ({size}, sparse)"),
                        "truncate",
                    )
                    .args([format!("--size={size}"), "--".to_string(), file.to_string()])
                    .root(true)
                    .when(missing())
                    .record(Recording::Before(Entry::new(
                        "loop-file",
                        "file",
                        file,
                    ))),
                );
                plan.push(
                    Step::new(
                        "loop-device",
                        format!("attach {file} to a free loop device"),
                        "losetup",
                    )
                    .args(["-f", "--show", "--", file])
                    .root(true)
                    .capture("VGLOOP", Extract::Trim)
                    .when(missing())
                    .record(Recording::After(
                        Entry::new("loop-device", "file", file).with_var("device", "VGLOOP"),
                    ))
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
                    .record(Recording::Before(
                        Entry::new("volume-group", "name", &h.volume_group)
                            .with("tag", VG_TAG)
                            .with("file", file),
                    ))
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
                .hint(format!("a container named {0} exists: `cargo xtask clean` removes it if `run` started it (else `podman rm -f {0}`), or choose --name", h.name)),
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
        run = run.arg("--privileged").args([
            "-v".to_string(),
            format!(
                "{}:{}:ro",
                self.pull_secret,
                crate::device::PULL_SECRET_TARGET
            ),
        ]);
        run = match &self.host_storage {
            Some(dir) => run.args(["-v".to_string(), format!("{dir}:{STORAGE}")]),
            None => podman_storage_mount(run),
        };
        run = run.args(["--name", &h.name, &self.image]).root(true);
        if self.detach {
            // written before: a run stopped before podman answered is found again by `clean`
            // by its name and image; an interactive run (`--rm`) removes its container itself,
            // and nothing of it is recorded (a later container of that name is not ours)
            run = run.record(Recording::Before(
                Entry::new("container", "name", &h.name).with("image", &self.image),
            ));
        }
        if self.detach {
            // podman prints the new container's id: the record keeps it
            run = run
                .done(crate::plan::Done::Say(format!(
                    "ok: started container {}; `cargo xtask verify` waits until every pod is ready, `cargo xtask clean` removes what run made",
                    h.name
                )))
                .capture("CONTAINER_ID", Extract::Trim)
                .record(Recording::After(
                    Entry::new("container", "name", &h.name)
                        .with("image", &self.image)
                        .with_var("id", "CONTAINER_ID"),
                ));
        }
        plan.push(run);
        plan.record = Some(self.record.clone());
        plan
    }
}
