//! The checks a step's output is judged by, as data: what each one wants, in a few words
//! for the printed plan. The judging itself is in `inspect.rs`.

use crate::arch::Arch;

#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// `podman image inspect`: the image exists (and has the architecture, if given).
    Image {
        reference: String,
        arch: Option<Arch>,
    },
    /// `podman manifest inspect`: the list holds exactly these architectures.
    ManifestArchs { expected: Vec<Arch> },
    /// `oc get pods -A -o json`: every pod is ready ("not yet" otherwise). `embedded`: the
    /// variable that holds the image list of an image built with `--embed` when an earlier
    /// step read one, for the hints on failing pulls.
    Pods { embedded: &'static str },
    /// `vgs --reportformat json`: the volume group exists and has free space.
    VolumeGroup { name: String, hint: String },
    /// `podman image inspect`: the image's kernel-core against the host kernel (a report).
    Kernel { host: String },
    /// `df --output=avail -B1`: at least this many bytes free.
    FreeSpace { path: String, min_bytes: u64 },
    /// `sha256sum FILE`: an artifact that was built; its type, path, size and hash.
    Artifact { kind: String, path: String },
    /// `microshift-copy-images list`: the images embedded in an image (reference, digest,
    /// bytes per line); at least one.
    Embedded,
    /// A one-word state (`systemctl is-active`, `virsh domstate`) must be `want`; with
    /// `wait`, any other state is "not yet".
    State {
        what: String,
        want: String,
        wait: bool,
    },
}

impl Check {
    /// A few words for the dry-run rendering.
    pub fn describe(&self) -> String {
        match self {
            Check::Image { arch: Some(a), .. } => format!("check the image is {a}"),
            Check::Image { arch: None, .. } => "check the image exists".to_string(),
            Check::ManifestArchs { expected } => format!(
                "check the list holds exactly {}",
                expected
                    .iter()
                    .map(|a| a.oci())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Check::Pods { .. } => "check every pod is ready".to_string(),
            Check::VolumeGroup { name, .. } => {
                format!("check volume group {name} exists with free space")
            }
            Check::Kernel { host } => {
                format!("compare the image's kernel-core with the host kernel {host}")
            }
            Check::State { what, want, .. } => format!("check {what} is {want}"),
            Check::FreeSpace { path, min_bytes } => format!(
                "check {path} has {} free",
                crate::validate::human(*min_bytes)
            ),
            Check::Artifact { kind, .. } => format!("record the {kind} artifact's hash and size"),
            Check::Embedded => "list the embedded images, their digests and sizes".to_string(),
        }
    }
}
