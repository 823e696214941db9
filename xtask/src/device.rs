//! Where things are on a MicroShift device — the bootc image booted as a host or a VM, or
//! run as a container: the paths the image, the kickstart and the commands agree on.

/// Where CRI-O reads the pull secret: the kickstart writes it there, `run` mounts it there.
pub const PULL_SECRET_TARGET: &str = "/etc/crio/openshift-pull-secret";
/// MicroShift's kubeconfig for the cluster admin, readable by root on the device.
pub const KUBECONFIG: &str = "/var/lib/microshift/resources/kubeadmin/kubeconfig";
/// The script the embedding layer (`build --embed`) installs; `list` prints what the image
/// embeds, `copy` fills the container storage before every MicroShift start.
pub const COPY_IMAGES: &str = "/usr/bin/microshift-copy-images";
/// Where the embedded images are in the image (one directory per image).
pub const EMBEDDED_STORE: &str = "/usr/lib/containers/storage";
/// The list of embedded images (`REF,SHA` lines) in an image built with `--embed`.
pub const EMBEDDED_LIST: &str = "/usr/lib/containers/storage/image-list.txt";

/// Where a device keeps the credentials it pulls its own images with (bootc, ostree).
pub const OSTREE_AUTH: &str = "/etc/ostree/auth.json";
/// The kernel's id of the running boot: another one after a reboot.
pub const BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";
/// greenboot's health-check unit: its state is the verdict on the booted image.
pub const GREENBOOT_UNIT: &str = "greenboot-healthcheck.service";

/// The verifier of carried updates (`build` with usb_updates): a bundle of `cargo xtask
/// bundle` checked against the image's public key, then staged (`microshift-usb-update`).
pub const USB_VERIFIER: &str = "/usr/libexec/microshift-usb-update";
/// Its settings in the image (label, when to apply, signing method and key).
pub const USB_CONFIG: &str = "/usr/lib/microshift-usb-update/config";
/// Where it keeps verified copies, its lock and `result.json`: only root reads it.
pub const USB_STATE: &str = "/var/lib/microshift-usb-update";
/// The verified copies bootc is switched to: the one place the image's policy accepts
/// images of the `oci` transport from.
pub const USB_IMAGES: &str = "/var/lib/microshift-usb-update/images";
/// What a carried update did last (staged, current, refused or stopped, and why).
pub const USB_RESULT: &str = "/var/lib/microshift-usb-update/result.json";
/// The directory of a bundle on an update stick.
pub const STICK_BUNDLE: &str = "microshift-bundle";
