//! `cargo xtask vm`: "Create Virtual Machine" — virt-install with the rendered kickstart
//! injected into the installer's initrd. `vm --destroy NAME` removes a VM and its storage.

use std::io::Read;

use camino::Utf8PathBuf;

use super::kickstart::{Kickstart, KickstartArgs};
use super::{Action, Ctx};
use crate::arch::Arch;
use crate::config::Sources;
use crate::plan::{Entry, Plan, Recording, Secret, Step};
use crate::reach::{libvirt_uri, needs_root};
use crate::validate::{self, bad};

/// The kickstart's file name inside the installer's initrd.
pub const KICKSTART_NAME: &str = "kickstart.ks";

#[derive(clap::Args, Debug, Clone, Default)]
pub struct VmArgs {
    #[arg(long)]
    pub vm_name: Option<String>,
    #[arg(long)]
    pub network: Option<String>,
    #[arg(long)]
    pub iso: Option<String>,
    #[arg(long)]
    pub vcpus: Option<String>,
    #[arg(long)]
    pub memory: Option<String>,
    #[arg(long)]
    pub disk_size: Option<String>,
    #[arg(long)]
    pub disk_dir: Option<String>,
    #[arg(long)]
    pub libvirt_uri: Option<String>,
    /// Remove a VM that `vm` made, and its disk, instead of creating one [default: the last
    /// VM the record lists]
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "", conflicts_with = "vm_name")]
    pub destroy: Option<String>,
    /// Boot this disk image (qcow2 or raw, e.g. from bootc-image-builder) as it is, with
    /// `virt-install --import`: no installer, no kickstart; the file stays yours
    #[arg(long = "disk", value_name = "FILE", conflicts_with_all = ["iso", "iso_image", "destroy"])]
    pub disk_image: Option<String>,
    /// Install from this installer ISO, which carries its own kickstart (e.g.
    /// bootc-image-builder's anaconda-iso), booted with `virt-install --cdrom`
    #[arg(long, value_name = "FILE", conflicts_with_all = ["iso", "destroy"])]
    pub iso_image: Option<String>,
    #[command(flatten)]
    pub kickstart: KickstartArgs,
}

/// How the VM gets its system.
#[derive(Clone, Debug, PartialEq)]
pub enum Boot {
    /// The documented network install: the RHEL boot ISO, the kickstart injected.
    Kickstart {
        iso: Utf8PathBuf,
        kickstart: Box<Kickstart>,
    },
    /// A built disk image, imported as it is.
    Import {
        disk: Utf8PathBuf,
        format: &'static str,
    },
    /// A built installer ISO with its own kickstart.
    InstallerIso { iso: Utf8PathBuf },
}

/// The OS virt-install tunes the VM for: RHEL 9 (every libosinfo database that knows RHEL 9
/// knows this name; the minor versions vary).
const OSINFO: &str = "rhel9.0";

/// `cargo xtask vm`, or `vm --destroy`
pub fn act(args: &VmArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    let plan = match &args.destroy {
        Some(_) => destroy_plan(args, ctx.sources)?,
        None => Vm::resolve(args, ctx.sources)?.plan(ctx.sources.as_root)?,
    };
    Ok(Action::plan(plan))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Vm {
    pub name: String,
    pub network: String,
    pub boot: Boot,
    pub vcpus: u64,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub disk_dir: Utf8PathBuf,
    pub uri: String,
    pub record: Utf8PathBuf,
}

/// The architecture named in an ISO 9660 volume label (RHEL boot ISOs: `RHEL-9-4-0-BaseOS-x86_64`).
pub fn iso_arch(iso: &Utf8PathBuf) -> std::io::Result<(String, Option<Arch>)> {
    let mut f = std::fs::File::open(iso)?;
    let mut sector = vec![0u8; 16 * 2048 + 2048];
    f.read_exact(&mut sector)?;
    let pvd = &sector[16 * 2048..];
    if pvd[0] != 1 || &pvd[1..6] != b"CD001" {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not an ISO 9660 image",
        ));
    }
    let label = String::from_utf8_lossy(&pvd[40..72]).trim().to_string();
    let lower = label.to_ascii_lowercase();
    let arch = if lower.contains("x86_64") || lower.contains("amd64") {
        Some(Arch::Amd64)
    } else if lower.contains("aarch64") || lower.contains("arm64") {
        Some(Arch::Arm64)
    } else {
        None
    };
    Ok((label, arch))
}

impl Vm {
    pub fn resolve(args: &VmArgs, sources: &Sources) -> anyhow::Result<Vm> {
        // a built disk or installer ISO needs no kickstart (nor its secrets)
        let built = args.disk_image.is_some() || args.iso_image.is_some();
        let kickstart = if built {
            None
        } else {
            Some(Kickstart::resolve(&args.kickstart, sources)?)
        };
        let image = crate::image::Image::resolve(&args.kickstart.image, sources)?;
        let arch = image.arch.or_else(Arch::native).unwrap_or(Arch::Amd64);
        let default_name = image.name.clone();
        let root_size_gib = kickstart.as_ref().map_or(10, |k| k.root_size_gib);
        let name = sources.value_or(
            &crate::inputs::VM_NAME,
            args.vm_name.as_deref(),
            &default_name,
        )?;
        let name = validate::simple_name(&name.what, &name.value)?;
        let net = sources.get(&crate::inputs::NETWORK, args.network.as_deref())?;
        let network = validate::simple_name(&net.what, &net.value)?;
        let vcpus = sources.get(&crate::inputs::VCPUS, args.vcpus.as_deref())?;
        let vcpus = validate::count(&vcpus.what, &vcpus.value, 1, 512)?;
        let memory = sources.get(&crate::inputs::MEMORY, args.memory.as_deref())?;
        let memory_mib = validate::count(&memory.what, &memory.value, 2048, 4 * 1024 * 1024)
            .map_err(|e| {
                crate::validate::refuse(format!("{e} (MiB; MicroShift needs at least 2048)"))
            })?;
        let disk = sources.get(&crate::inputs::DISK_SIZE, args.disk_size.as_deref())?;
        // the root volume plus boot partitions must fit, with room left for the CSI driver
        let min_disk = root_size_gib + 2;
        let disk_gib = validate::count(&disk.what, &disk.value, min_disk, 65536).map_err(|_| {
            bad(
                &disk.what,
                &disk.value,
                format!("needs at least {min_disk} GiB: the {root_size_gib} GiB root volume, boot partitions, and free space for the CSI driver"),
            )
        })?;
        let dir = sources.get(&crate::inputs::DISK_DIR, args.disk_dir.as_deref())?;
        let disk_dir = sources.path(&dir)?;
        validate::no_comma(
            &dir.what,
            disk_dir.as_str(),
            "virt-install's --disk path=...,size=...",
        )?;
        let uri = libvirt_uri(args.libvirt_uri.as_deref(), sources)?;
        let boot = match (&args.disk_image, &args.iso_image, kickstart) {
            (Some(file), _, _) => {
                let disk = sources.flag_path("--disk", file)?;
                validate::no_comma("--disk", disk.as_str(), "virt-install's --disk path=...")?;
                let format = disk_format(&disk).map_err(|why| bad("--disk", disk.as_str(), why))?;
                Boot::Import { disk, format }
            }
            (None, Some(file), _) => {
                let iso = sources.flag_path("--iso-image", file)?;
                validate::no_comma("--iso-image", iso.as_str(), "virt-install's --cdrom")?;
                match iso_arch(&iso) {
                    Err(e) => {
                        return Err(bad("--iso-image", iso.as_str(), format!("not a readable ISO image: {e}")))
                    }
                    Ok((label, Some(found))) if found != arch => {
                        return Err(bad(
                            "--iso-image",
                            iso.as_str(),
                            format!("is an {} ISO (volume label {label}) but the VM is {arch}; use --arch {found}", found.uname()),
                        ))
                    }
                    Ok(_) => {}
                }
                Boot::InstallerIso { iso }
            }
            (None, None, Some(kickstart)) => {
                let iso = sources.get(&crate::inputs::ISO, args.iso.as_deref())?;
                let iso_path = sources.path(&iso.expand(arch.uname(), &arch.tag()))?;
                validate::no_comma(&iso.what, iso_path.as_str(), "virt-install's --location")?;
                match iso_arch(&iso_path) {
                Err(e) => return Err(bad(&iso.what, iso_path.as_str(), format!("cannot read the boot ISO: {e}"))),
                Ok((label, Some(found))) if found != arch => {
                    return Err(bad(
                        &iso.what,
                        iso_path.as_str(),
                        format!("is an {} ISO (volume label {label}) but the image is {arch}; use the {} boot ISO or --arch {found}", found.uname(), arch.uname()),
                    ))
                }
                Ok(_) => {}
            }
                Boot::Kickstart {
                    iso: iso_path,
                    kickstart: Box::new(kickstart),
                }
            }
            (None, None, None) => {
                unreachable!("a kickstart is resolved unless a built image is given")
            }
        };
        Ok(Vm {
            name,
            network,
            boot,
            vcpus,
            memory_mib,
            disk_gib,
            disk_dir,
            uri,
            record: sources.record()?.path.clone(),
        })
    }

    /// The record's entry for a VM whose disk `vm` creates (and `vm --destroy` removes).
    fn made_with_disk(&self) -> Entry {
        Entry::new("vm", "name", &self.name)
            .with("uri", &self.uri)
            .with("disk", self.disk().as_str())
    }

    /// The disk image virt-install creates for the VM.
    pub fn disk(&self) -> Utf8PathBuf {
        self.disk_dir.join(format!("{}.qcow2", self.name))
    }

    pub fn plan(&self, as_root: bool) -> anyhow::Result<Plan> {
        let uri = self.uri.as_str();
        let root = needs_root(uri);
        let from = match &self.boot {
            Boot::Kickstart { kickstart, .. } => kickstart.url.clone(),
            Boot::Import { disk, .. } => disk.to_string(),
            Boot::InstallerIso { iso } => iso.to_string(),
        };
        let mut plan = Plan::new(format!("install VM {} from {from}", self.name), as_root);
        plan.facts = serde_json::json!({
            "vm": self.name,
            "libvirt_uri": uri,
            "from": from,
            "disk": match &self.boot {
                Boot::Import { disk, .. } => disk.to_string(),
                _ => self.disk().to_string(),
            },
            "disk_is_made": !matches!(self.boot, Boot::Import { .. }),
        });
        plan.push(
            Step::new("network", format!("check the libvirt network {} exists", self.network), "virsh")
                .args(["--connect", uri, "net-info", &self.network])
                .read_only()
                .root(root)
                .hint(format!("list the networks with `virsh --connect {uri} net-list --all`; start one with `virsh net-start NAME`, or choose --network")),
        );
        plan.push(
            Step::new("name-free", format!("check no VM named {} exists", self.name), "virsh")
                .args(["--connect", uri, "dominfo", &self.name])
                .must_fail()
                .root(root)
                .hint(format!("a VM named {0} exists: `cargo xtask vm --destroy {0}` removes it if `vm` made it (the record lists it), or choose --vm-name", self.name)),
        );
        if !matches!(self.boot, Boot::Import { .. }) {
            // virt-install would reuse (or overwrite) a disk that is there, and `vm --destroy`
            // would later delete it: it must be a new file
            let disk = self.disk();
            plan.push(
                Step::new(
                    "disk-free",
                    format!("check nothing (no file, no link) is at {disk}"),
                    "test",
                )
                .args(["-e", disk.as_str(), "-o", "-L", disk.as_str()])
                .must_fail()
                .root(root)
                .hint(format!(
                    "{disk} exists: a VM's disk is made new. Choose another --vm-name (or --disk-dir), or move the file away if it is yours; `vm --disk FILE` boots an existing image without touching it"
                )),
            );
        }
        let common = |step: Step| {
            step.args(["--connect", uri, "--name", &self.name])
                .args(["--vcpus".to_string(), self.vcpus.to_string()])
                .args(["--memory".to_string(), self.memory_mib.to_string()])
        };
        let network = format!("network={},model=virtio", self.network);
        match &self.boot {
            Boot::Kickstart { iso, kickstart } => {
                plan.explain_named_secret(
                    "KICKSTART_FILE",
                    KICKSTART_NAME,
                    format!("the kickstart with its secrets, in a file named {KICKSTART_NAME} (the installer reads it by that name): `cargo xtask kickstart --output DIR/{KICKSTART_NAME}` with the same inputs writes it (mode 0600)"),
                );
                let kickstart = Secret::new(kickstart.render(false)?);
                plan.push(
                    common(Step::new("virt-install", format!("install {} (waits for the installation to finish)", self.name), "virt-install"))
                        .args([
                            "--disk".to_string(),
                            format!("path={},size={}", self.disk(), self.disk_gib),
                        ])
                        .args(["--network".to_string(), network])
                        .args(["--events", "on_reboot=restart", "--location", iso.as_str()])
                        .arg("--initrd-inject")
                        .secret_file_arg("", "KICKSTART", KICKSTART_NAME, &kickstart)
                        .args(["--extra-args".to_string(), format!("inst.ks=file:/{KICKSTART_NAME}")])
                        .arg("--wait")
                        .root(root)
                        // before: an interrupted installation leaves a VM and a disk to remove
                        .record(Recording::Before(self.made_with_disk()))
                        .hint(format!(
                            "the installer's console shows why; `cargo xtask kickstart` prints the kickstart. Remove a half-made VM with `cargo xtask vm --destroy {}`",
                            self.name
                        )),
                );
            }
            Boot::Import { disk, format } => plan.push(
                common(Step::new(
                    "virt-install",
                    format!("start {} from {disk}", self.name),
                    "virt-install",
                ))
                .arg("--import")
                .args(["--disk".to_string(), format!("path={disk},format={format}")])
                .args(["--network".to_string(), network])
                .args(["--osinfo", OSINFO, "--noautoconsole"])
                .root(root)
                // the disk image is the user's: destroying the VM leaves it
                .record(Recording::Before(Entry::new("vm", "name", &self.name).with("uri", uri)))
                .hint(format!(
                    "`virsh --connect {uri} console {}` shows the boot; `cargo xtask vm --destroy {}` removes the VM (not the disk image)",
                    self.name, self.name
                )),
            ),
            Boot::InstallerIso { iso } => plan.push(
                common(Step::new(
                    "virt-install",
                    format!("install {} from {iso} (waits for the installation to finish)", self.name),
                    "virt-install",
                ))
                .args([
                    "--disk".to_string(),
                    format!("path={},size={}", self.disk(), self.disk_gib),
                ])
                .args(["--network".to_string(), network])
                .args(["--events", "on_reboot=restart", "--cdrom", iso.as_str()])
                .args(["--osinfo", OSINFO, "--wait"])
                .root(root)
                .record(Recording::Before(self.made_with_disk()))
                .hint(format!(
                    "the installer's console shows why (`virsh --connect {uri} console {}`); `cargo xtask vm --destroy {}` removes the half-made VM",
                    self.name, self.name
                )),
            ),
        }
        plan.record = Some(self.record.clone());
        Ok(plan)
    }
}

/// A disk image's format from its first bytes: qcow2 (`QFI\xfb`) or raw.
fn disk_format(path: &Utf8PathBuf) -> Result<&'static str, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    if meta.len() < 512 {
        return Err("too small to be a disk image".to_string());
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| format!("cannot read: {e}"))?;
    Ok(if &magic == b"QFI\xfb" { "qcow2" } else { "raw" })
}

/// `vm --destroy [NAME]`: stop a VM that `vm` made (the record's last one by default), then
/// undefine it and remove the disk `vm` created for it — not every volume attached to it,
/// which could be the boot ISO. A VM the record does not list is refused: the tool removes
/// only what it made.
pub fn destroy_plan(args: &VmArgs, sources: &Sources) -> anyhow::Result<Plan> {
    let rec = sources.record()?;
    let given = args.destroy.as_deref().filter(|n| !n.is_empty());
    let entry = match given {
        Some(name) => {
            let name = validate::simple_name("--destroy", name)?;
            rec.find("vm", &name).ok_or_else(|| {
                crate::validate::refuse(format!(
                    "--destroy: '{name}': not a VM that `cargo xtask vm` made (the record {} does not list it); to remove it yourself: virsh destroy {name}; virsh undefine {name} --nvram --remove-all-storage (this also deletes every volume attached to it)",
                    rec.path
                ))
            })?
        }
        None => rec.of_kind("vm").last().ok_or_else(|| {
            crate::validate::refuse(format!(
                "--destroy: the record {} lists no VM that `cargo xtask vm` made; name one with --destroy NAME",
                rec.path
            ))
        })?,
    };
    let text = |k: &str| {
        entry
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let name = validate::simple_name(&format!("record {}: vm", rec.path), &text("name"))?;
    let recorded_uri = text("uri");
    let flag_uri = args
        .libvirt_uri
        .clone()
        .or_else(|| Some(recorded_uri).filter(|u| !u.is_empty()));
    let uri = libvirt_uri(flag_uri.as_deref(), sources)?;
    let disk = text("disk");
    validate::no_control(&format!("record {}: disk", rec.path), &disk)?;
    let root = needs_root(&uri);
    let what = if disk.is_empty() {
        format!("{name} (its disk image is yours and stays)")
    } else {
        format!("{name} and its disk {disk}")
    };
    let mut plan = Plan::new(format!("remove VM {what}"), sources.as_root);
    plan.record = Some(rec.path.clone());
    plan.facts = serde_json::json!({
        "vm": name,
        "libvirt_uri": uri,
        "disk_removed": if disk.is_empty() { None } else { Some(&disk) },
    });
    let forget = || Entry::new("vm", "name", &name);
    // running twice is fine: a VM that does not exist is already removed
    plan.push(
        Step::new("exists", format!("does {name} exist?"), "virsh")
            .args(["--connect", &uri, "dominfo", &name])
            .probe()
            .root(root)
            .record(Recording::ForgetIfNo(forget())),
    );
    plan.push(
        Step::new("destroy", format!("stop {name} (if it runs)"), "virsh")
            .args(["--connect", &uri, "destroy", &name])
            .may_fail()
            .root(root)
            .when(crate::plan::When::IfSucceeded("exists")),
    );
    let mut undefine = Step::new("undefine", format!("remove {what}"), "virsh").args([
        "--connect",
        &uri,
        "undefine",
        &name,
        "--nvram",
    ]);
    if !disk.is_empty() {
        undefine = undefine.args(["--storage", &disk]);
    }
    plan.push(
        undefine
            .root(root)
            .when(crate::plan::When::IfSucceeded("exists"))
            .record(Recording::Forget(forget()))
            .hint(format!("`virsh --connect {uri} list --all` lists the VMs")),
    );
    Ok(plan)
}
