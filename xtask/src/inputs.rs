//! Every input that can come from more than the command line, declared once: its flag, the
//! environment variable of the documented procedure, the config-file key (and its type), the
//! built-in default and the help text. The resolvers in `config.rs` read these declarations
//! (flag > environment > config file > default), `--help` shows them (`cli()` fills each
//! flag's help from here), the config file's keys are checked against them, and `cargo
//! xtask docs` writes the command reference from them (docs/src/reference/; a test fails when
//! it is stale). Adding an input is one entry here plus its use: a field in a command's
//! arguments and a `sources.value(&INPUT, ...)` call.

/// What type a config key's value has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string (or null).
    Text,
    /// A whole number, or a string holding one (or null).
    Number,
    /// A list of strings (or null).
    List,
    /// The `images` list of objects (checked by [`Config::images`]).
    Images,
    /// true or false (or null).
    Bool,
}

#[derive(Debug)]
pub struct Input {
    /// The clap argument id (the field name), or "" for an input with no flag.
    pub id: &'static str,
    /// The flag as users type it (also the label in error messages).
    pub flag: &'static str,
    pub env: Option<&'static str>,
    pub key: Option<&'static str>,
    /// The type of the config key's value.
    pub kind: Kind,
    pub default: Option<&'static str>,
    pub help: &'static str,
    /// Its environment variable holds a secret: read once by the resolver, never passed on
    /// to a command the tool runs, never shown.
    pub secret: bool,
}

const fn input(id: &'static str, flag: &'static str, help: &'static str) -> Input {
    Input {
        id,
        flag,
        env: None,
        key: None,
        kind: Kind::Text,
        default: None,
        help,
        secret: false,
    }
}

impl Input {
    const fn env(mut self, env: &'static str) -> Input {
        self.env = Some(env);
        self
    }
    const fn key(mut self, key: &'static str) -> Input {
        self.key = Some(key);
        self
    }
    const fn kind(mut self, kind: Kind) -> Input {
        self.kind = kind;
        self
    }
    const fn default(mut self, default: &'static str) -> Input {
        self.default = Some(default);
        self
    }
    const fn secret(mut self) -> Input {
        self.secret = true;
        self
    }

    /// The name a secret input goes by in printed plans: its environment variable
    /// (`${USER_PASSWD_FILE}` is the file holding `USER_PASSWD`).
    pub const fn secret_name(&self) -> &'static str {
        match self.env {
            Some(env) => env,
            None => self.flag,
        }
    }

    /// The help text with where else the value may come from, as `--help` shows it.
    pub fn long_help(&self) -> String {
        let mut text = self.help.to_string();
        if let Some(env) = self.env {
            text.push_str(&format!(" [env: {env}]"));
        }
        if let Some(key) = self.key {
            text.push_str(&format!(" [config: {key}]"));
        }
        if let Some(default) = self.default {
            text.push_str(&format!(" [default: {default}]"));
        }
        text
    }
}

pub const IMAGE_NAME: Input = input(
    "image_name",
    "--image-name",
    "Local image name, without tag",
)
.env("IMAGE_NAME")
.key("image_name");
pub const ARCH: Input = input(
    "arch",
    "--arch",
    "Target architecture: amd64 or arm64; tags the image linux-<arch>",
)
.env("IMAGE_ARCH");
pub const ARCHITECTURES: Input = input(
    "archs",
    "--arch",
    "Architectures of the manifest list, comma-separated or repeated",
)
.key("architectures")
.kind(Kind::List)
.default("amd64,arm64");
pub const PULL_SECRET: Input = input(
    "pull_secret",
    "--pull-secret",
    "OpenShift pull secret (JSON with \"auths\")",
)
.env("PULL_SECRET")
.key("pull_secret");
pub const USER_PASSWD_FILE: Input = input(
    "user_passwd_file",
    "--user-passwd-file",
    "File holding the password of the image's `redhat` user (USER_PASSWD holds the password itself)",
)
.env("USER_PASSWD")
.secret();
pub const CONTAINERFILE: Input = input(
    "containerfile",
    "--containerfile",
    "Containerfile to build; its directory is the build context",
)
.key("containerfile")
.default("containerfiles/Containerfile.bootc-rhel9");
pub const BASE_IMAGE: Input = input(
    "base_image",
    "--base-image",
    "Base image (build argument BASE_IMAGE); {arch} expands to amd64 or arm64, {tag} to the tag being built",
)
.key("base_image");
pub const MICROSHIFT_VERSION: Input = input(
    "microshift_version",
    "--microshift-version",
    "MicroShift version (build argument MICROSHIFT_VERSION), e.g. 4.16",
)
.key("microshift_version");
pub const IMAGE_ENTRY: Input = input(
    "image_entry",
    "--image",
    "Build this entry of the config file's `images` (name, Containerfile, base image)",
)
.key("images")
.kind(Kind::Images);
pub const EMBED: Input = input(
    "embed",
    "--embed",
    "Embed MicroShift's container images (its release list, plus embed.extra_images) in the image, for devices without a registry",
)
.key("embed.enabled")
.kind(Kind::Bool)
.default("false");
pub const EMBED_IMAGES: Input = input(
    "embed_images",
    "--embed-image",
    "Another image to embed with --embed (a workload image; repeatable; by digest keeps it exact)",
)
.key("embed.extra_images")
.kind(Kind::List);
pub const EMBED_CONTAINERFILE: Input = input(
    "embed_containerfile",
    "--embed-containerfile",
    "Containerfile of the embedding layer; its directory is its build context",
)
.key("embed.containerfile")
.default("containerfiles/Containerfile.bootc-embedded");
pub const BUILD_NETWORK: Input = input(
    "build_network",
    "--build-network",
    "Network of the build's RUN steps (podman build --network): bridge, host, none, private or slirp4netns; `host` reaches registries on the build host's loopback",
)
.key("build_network");
pub const REGISTRY_URL: Input = input("registry_url", "--registry-url", "Registry host[:port]")
    .env("REGISTRY_URL")
    .key("registry_url");
pub const REGISTRY_ORG: Input = input(
    "registry_org",
    "--registry-org",
    "Organization path in the registry, e.g. myorg/mypath",
)
.env("REGISTRY_ORG")
.key("registry_org");
pub const REGISTRY_USER: Input = input(
    "registry_user",
    "--registry-user",
    "User for `podman login`",
)
.env("REGISTRY_USER")
.key("registry_user");
pub const REGISTRY_PASSWORD_FILE: Input = input(
    "registry_password_file",
    "--registry-password-file",
    "File holding the registry password, fed to `podman login --password-stdin` (REGISTRY_PASSWORD holds the password itself)",
)
.env("REGISTRY_PASSWORD")
.secret();
pub const AUTH_CONFIG: Input = input(
    "auth_config",
    "--auth-config",
    "Registry auth file (containers-auth.json); `podman login` writes it, the kickstart embeds it",
)
.env("AUTH_CONFIG")
.key("registry_auth");
pub const CONTAINER_NAME: Input =
    input("name", "--name", "Container name [default: the image name]");
pub const VOLUME_GROUP: Input = input(
    "volume_group",
    "--volume-group",
    "LVM volume group for the CSI driver",
)
.key("lvm.volume_group")
.default("rhel");
pub const LOOP_FILE: Input = input(
    "loop_file",
    "--loop-file",
    "File backing the loop-device volume group that --lvm-loop makes",
)
.env("VGFILE")
.key("lvm.loop_file")
.default("/var/lib/microshift-lvm-storage.img");
pub const LOOP_SIZE: Input = input(
    "lvm_loop",
    "--lvm-loop",
    "When the volume group is missing, create it on a loop device backed by a sparse file of this size (e.g. 1G)",
)
.env("VGSIZE")
.key("lvm.loop_size")
.default("1G");
pub const VM_NAME: Input = input("vm_name", "--vm-name", "VM name [default: the image name]")
    .env("VMNAME")
    .key("vm.name");
pub const NETWORK: Input = input("network", "--network", "libvirt network")
    .env("NETNAME")
    .key("vm.network")
    .default("default");
pub const ISO: Input = input(
    "iso",
    "--iso",
    "RHEL boot ISO; {arch} expands to x86_64 or aarch64",
)
.key("vm.iso")
.default("/var/lib/libvirt/images/rhel-9.4-{arch}-boot.iso");
pub const VCPUS: Input = input("vcpus", "--vcpus", "Virtual CPUs")
    .key("vm.vcpus")
    .kind(Kind::Number)
    .default("2");
pub const MEMORY: Input = input("memory", "--memory", "Memory in MiB (at least 2048)")
    .key("vm.memory_mib")
    .kind(Kind::Number)
    .default("2048");
pub const DISK_SIZE: Input = input("disk_size", "--disk-size", "Disk size in GiB")
    .key("vm.disk_gib")
    .kind(Kind::Number)
    .default("20");
pub const DISK_DIR: Input = input("disk_dir", "--disk-dir", "Directory of the VM's disk image")
    .key("vm.disk_dir")
    .default("/var/lib/libvirt/images");
pub const LIBVIRT_URI: Input = input("libvirt_uri", "--libvirt-uri", "libvirt connection URI")
    .env("LIBVIRT_DEFAULT_URI")
    .key("vm.libvirt_uri")
    .default("qemu:///system");
pub const ROOT_SIZE: Input = input(
    "root_size",
    "--root-size",
    "Size of the root logical volume in GiB (at least 10)",
)
.default("10");
pub const TIMEOUT: Input = input(
    "timeout",
    "--timeout",
    "How long to wait for all pods, e.g. 900s, 15m",
)
.default("15m");
pub const INTERVAL: Input = input("interval", "--interval", "Pause between tries").default("10s");
pub const SSH_USER: Input = input(
    "ssh_user",
    "--ssh-user",
    "User for ssh into the VM or device (sudo runs the commands there unless it is root)",
)
.key("device.ssh_user")
.default("redhat");
pub const DEVICE_HOST: Input = input(
    "host",
    "--host",
    "The device, reached over ssh: [USER@]HOST[:PORT]",
)
.env("DEVICE_HOST")
.key("device.host");
pub const DEVICE_SSH_KEY: Input = input(
    "identity",
    "--ssh-key",
    "Private key for ssh to the device (ssh -i; default: ssh's own keys and agent)",
)
.key("device.ssh_key");
pub const KNOWN_HOSTS: Input = input(
    "known_hosts",
    "--known-hosts",
    "ssh's known-hosts file for devices (a device seen the first time has its key accepted once, then checked)",
)
.key("device.known_hosts");
pub const DEVICE_IMAGE: Input = input(
    "device_image",
    "--image",
    "The image the device moves to [default: the release's list, REGISTRY/ORG/NAME:latest]",
)
.key("device.image");
pub const UPGRADE_TIMEOUT: Input = input(
    "upgrade_timeout",
    "--timeout",
    "How long the device may take, from the reboot, to come back, pass greenboot and have every pod ready",
)
.key("device.timeout")
.default("20m");
pub const DEVICE_INTERVAL: Input = input(
    "poll_interval",
    "--interval",
    "Pause between two looks at the device while waiting for it (back after the reboot, greenboot's verdict, a rollback, the pods)",
)
.key("device.interval")
.default("5s");
pub const FLEET_INVENTORY: Input = input(
    "inventory",
    "--inventory",
    "The fleet's Ansible inventory (INI or YAML, a file or a directory), read with ansible-inventory",
)
.env("ANSIBLE_INVENTORY")
.key("fleet.inventory");
pub const FLEET_WAVES: Input = input(
    "waves",
    "--waves",
    "Wave sizes, comma-separated: counts or percentages of the hosts; the last repeats until every host had its turn (the play's serial). With --flightctl only when given: the fleet's batch sequence (the config key and the default are the play's)",
)
.key("fleet.waves")
.kind(Kind::List)
.default("1,10%,100%");
pub const FLEET_MAX_FAILED: Input = input(
    "max_failed",
    "--max-failed",
    "The share of a wave's devices that may fail (rolled back, gone, failed) before the rollout stops after that wave: 0% to 100% (the play's max_fail_percentage). With --flightctl only when given: the fleet's success threshold, 100% minus it (the config key and the default are the play's)",
)
.key("fleet.max_failed")
.default("0%");
pub const FLEET_PARALLEL: Input = input(
    "parallel",
    "--parallel",
    "Devices upgraded at the same time within a wave (Ansible's forks; 1 to 500)",
)
.key("fleet.parallel")
.kind(Kind::Number)
.default("10");
pub const FLIGHTCTL_API: Input = input(
    "api",
    "--api",
    "With --flightctl: flightctl's API, https://HOST[:PORT] (http:// only to this machine), the URL `flightctl login` takes",
)
.key("fleet.flightctl.api");
pub const FLIGHTCTL_CA: Input = input(
    "api_ca",
    "--api-ca",
    "With --flightctl: the CA certificate (PEM) the API's certificate is checked with (default: the host's trust store)",
)
.key("fleet.flightctl.ca");
pub const FLIGHTCTL_TOKEN_FILE: Input = input(
    "token_file",
    "--token-file",
    "With --flightctl: file holding the API's bearer token, mode 600 (FLIGHTCTL_TOKEN holds the token itself)",
)
.env("FLIGHTCTL_TOKEN")
.key("fleet.flightctl.token_file")
.secret();
pub const FLIGHTCTL_TIMEOUT: Input = input(
    "",
    "--timeout",
    "With --flightctl: how long the whole rollout may take, from the patch to its last batch's last device (a device still updating or lost then is gone)",
)
.key("fleet.flightctl.timeout")
.default("1h");
pub const PULL_TIMEOUT: Input = input(
    "pull_timeout",
    "--pull-timeout",
    "How long the device may take to pull and stage the image (each `bootc switch`); one that runs out is stopped before any reboot",
)
.env("DEVICE_PULL_TIMEOUT")
.key("device.pull_timeout")
.default("1h");
pub const DISK_TYPES: Input = input(
    "types",
    "--type",
    "Artifacts to build, comma-separated or repeated: qcow2, raw, vmdk, ami, anaconda-iso",
)
.key("disk.types")
.kind(Kind::List)
.default("qcow2");
pub const DISK_OUTPUT: Input = input(
    "output_dir",
    "--output",
    "Directory the artifacts are moved to",
)
.key("disk.output")
.default("target/disk");
pub const DISK_SSH_KEY: Input = input(
    "ssh_key",
    "--ssh-key",
    "SSH public key file for the image's `redhat` user",
)
.key("disk.ssh_key");
pub const DISK_BUILDER: Input = input(
    "builder",
    "--builder",
    "The builder image (bootc-image-builder or one that works like it)",
)
.key("disk.builder")
.default("registry.redhat.io/rhel9/bootc-image-builder:latest");
pub const DISK_MIN_FREE: Input = input(
    "min_free",
    "--min-free",
    "Free space the output directory's file system must have: these builds need several times the image size",
)
.key("disk.min_free")
.default("20G");
pub const DISK_KERNEL_APPEND: Input = input(
    "kernel_append",
    "--kernel-append",
    "Kernel arguments added to the image's",
)
.key("disk.kernel_append");
pub const SIGN_BY: Input = input(
    "sign_by",
    "--sign-by",
    "Sign what is pushed with this key: a GPG key's fingerprint (signing.method gpg) or a sigstore private key file (sigstore)",
)
.key("signing.key");
pub const SIGN_METHOD: Input = input(
    "sign_method",
    "--sign-method",
    "How images are signed: sigstore (signatures stored in the registry) or gpg (signatures in a lookaside directory served over HTTP)",
)
.key("signing.method")
.default("sigstore");
pub const SIGN_PASSPHRASE_FILE: Input = input(
    "sign_passphrase_file",
    "--sign-passphrase-file",
    "File holding the signing key's passphrase (SIGN_PASSPHRASE holds the passphrase itself)",
)
.env("SIGN_PASSPHRASE")
.secret();
pub const SIGN_PUBLIC_KEY: Input = input(
    "sign_public_key",
    "--sign-public-key",
    "The signing key's public key: checks each push; built into the image, whose policy then rejects unsigned images of its repository",
)
.key("signing.public_key");
pub const LOOKASIDE_DIR: Input = input(
    "lookaside_dir",
    "--lookaside-dir",
    "gpg: the directory signatures are written to; publish it at the lookaside URL",
)
.key("signing.lookaside_dir")
.default("target/signatures");
pub const LOOKASIDE_URL: Input = input(
    "lookaside_url",
    "--lookaside-url",
    "gpg: the http(s) URL where the lookaside directory is served (devices and the check after push read it)",
)
.key("signing.lookaside_url");
pub const ACCEPT_UNSIGNED: Input = input(
    "accept_unsigned",
    "--accept-unsigned",
    "A registry or repository the image's policy accepts unsigned images from (workload images; repeatable): never the image's own repository, nor a tag or digest of it",
)
.key("signing.accept_unsigned")
.kind(Kind::List);
pub const BUILDERS: Input = input(
    "builders",
    "--builder",
    "Run an architecture's lane on another podman: ARCH=CONNECTION, a URL (unix:///path, ssh://[user@]host[:port]/socket; tcp://127.0.0.1:PORT only to this machine: podman's TCP API has no TLS, no authentication) or a `podman system connection` name (repeatable)",
)
.kind(Kind::List);
pub const BUILDER_AMD64: Input = input(
    "",
    "--builder",
    "The podman the amd64 lane runs on (see --builder)",
)
.key("builders.amd64");
pub const BUILDER_ARM64: Input = input(
    "",
    "--builder",
    "The podman the arm64 lane runs on (see --builder)",
)
.key("builders.arm64");
pub const MIRROR_REGISTRY: Input = input(
    "to",
    "--to",
    "The site's mirror registry, REGISTRY[:PORT][/PATH] (no scheme): `mirror` copies into it; `build` and `kickstart` point devices at it",
)
.env("MIRROR_REGISTRY")
.key("mirror.registry");
pub const MIRROR_JOBS: Input = input("jobs", "--jobs", "Images copied at the same time (1 to 16)")
    .key("mirror.jobs")
    .kind(Kind::Number)
    .default("4");
pub const MIRROR_AUTH: Input = input(
    "mirror_auth",
    "--mirror-auth",
    "Auth file (containers-auth.json) with the mirror registry's credentials: `mirror` pushes with it; the device's pull secret and bootc's auth get its entry",
)
.env("MIRROR_AUTH_FILE")
.key("mirror.auth");
pub const MIRROR_CA: Input = input(
    "mirror_ca",
    "--mirror-ca",
    "The mirror's CA certificate (PEM): `mirror` trusts it for the mirror only; the image carries it in the trust anchors",
)
.key("mirror.ca");
pub const MIRROR_INSECURE: Input = input(
    "mirror_insecure",
    "--mirror-insecure",
    "The mirror speaks plain HTTP or has no verifiable certificate (a lab): no TLS check, on the host and on devices",
)
.key("mirror.insecure")
.kind(Kind::Bool);
pub const MIRROR_LOOKASIDE_DIR: Input = input(
    "mirror_lookaside_dir",
    "--mirror-lookaside-dir",
    "Where `mirror` writes the signatures of what it copies that are kept at a lookaside (gpg signing; Red Hat's images); serve it at the mirror's lookaside URL",
)
.key("mirror.lookaside_dir")
.default("target/mirror-signatures");
pub const MIRROR_LOOKASIDE_URL: Input = input(
    "mirror_lookaside_url",
    "--mirror-lookaside-url",
    "The http(s) URL where the site serves the mirror's lookaside directory: devices read there the signatures of what they pull through the mirror (needed with gpg signing, and for images of a registry that signs at a lookaside, as Red Hat's do)",
)
.key("mirror.lookaside_url");
pub const MIRROR_SOURCE_LOOKASIDES: Input = input(
    "source_lookasides",
    "--source-lookaside",
    "A source registry (or namespace) that keeps its images' signatures at a lookaside, SCOPE=URL (repeatable): `mirror` reads them there and writes them into the mirror's lookaside, which devices read; Red Hat's registries are known already",
)
.key("mirror.source_lookasides")
.kind(Kind::List);
pub const RELEASE_LIST: Input = input(
    "release_lists",
    "--release-list",
    "A MicroShift release list (release-<arch>.json) to mirror instead of the one in the built image (repeatable)",
)
.kind(Kind::List);
pub const BUNDLE_TO: Input = input(
    "bundle_to",
    "--to",
    "The bundle directory `bundle` writes (outside the repository's tracked files): on an update stick, its microshift-bundle/ directory",
)
.key("bundle.to");
pub const USB_UPDATES: Input = input(
    "usb_updates",
    "--usb-updates",
    "Build the verifier of carried updates into the image: a stick with usb_updates.label, or `upgrade --from-bundle`, stages a bundle whose manifest the image's public key (signing.public_key) verifies",
)
.key("usb_updates.enabled")
.kind(Kind::Bool)
.default("false");
pub const USB_LABEL: Input = input(
    "usb_label",
    "--usb-label",
    "The file system label of an update stick (1 to 16 letters, digits, '_' or '-')",
)
.key("usb_updates.label")
.default("MS-UPDATE");
pub const USB_APPLY: Input = input(
    "usb_apply",
    "--usb-apply",
    "When a verified stick's update is applied: next-boot (staged, booted at the next reboot) or now (the device reboots into it at once)",
)
.key("usb_updates.apply")
.default("next-boot");
pub const CONFIG: Input = input(
    "config",
    "--config",
    "Config file (a relative default is at the repository root)",
)
.env("XTASK_CONFIG")
.default("microshift-image.json");
pub const STATE_DIR: Input = input(
    "",
    "",
    "Directory of the record of what the tool made and pushed (a relative default is at the repository root)",
)
.env("XTASK_STATE_DIR")
.default(".xtask");

/// Every declared input.
pub const ALL: &[&Input] = &[
    &IMAGE_NAME,
    &ARCH,
    &ARCHITECTURES,
    &PULL_SECRET,
    &USER_PASSWD_FILE,
    &CONTAINERFILE,
    &BASE_IMAGE,
    &MICROSHIFT_VERSION,
    &IMAGE_ENTRY,
    &EMBED,
    &EMBED_IMAGES,
    &EMBED_CONTAINERFILE,
    &BUILD_NETWORK,
    &REGISTRY_URL,
    &REGISTRY_ORG,
    &REGISTRY_USER,
    &REGISTRY_PASSWORD_FILE,
    &AUTH_CONFIG,
    &CONTAINER_NAME,
    &VOLUME_GROUP,
    &LOOP_FILE,
    &LOOP_SIZE,
    &VM_NAME,
    &NETWORK,
    &ISO,
    &VCPUS,
    &MEMORY,
    &DISK_SIZE,
    &DISK_DIR,
    &LIBVIRT_URI,
    &ROOT_SIZE,
    &TIMEOUT,
    &INTERVAL,
    &SSH_USER,
    &DEVICE_HOST,
    &DEVICE_SSH_KEY,
    &KNOWN_HOSTS,
    &DEVICE_IMAGE,
    &UPGRADE_TIMEOUT,
    &DEVICE_INTERVAL,
    &FLEET_INVENTORY,
    &FLEET_WAVES,
    &FLEET_MAX_FAILED,
    &FLEET_PARALLEL,
    &FLIGHTCTL_API,
    &FLIGHTCTL_CA,
    &FLIGHTCTL_TOKEN_FILE,
    &FLIGHTCTL_TIMEOUT,
    &PULL_TIMEOUT,
    &DISK_TYPES,
    &DISK_OUTPUT,
    &DISK_SSH_KEY,
    &DISK_BUILDER,
    &DISK_MIN_FREE,
    &DISK_KERNEL_APPEND,
    &SIGN_BY,
    &SIGN_METHOD,
    &SIGN_PASSPHRASE_FILE,
    &SIGN_PUBLIC_KEY,
    &LOOKASIDE_DIR,
    &LOOKASIDE_URL,
    &ACCEPT_UNSIGNED,
    &BUILDERS,
    &BUILDER_AMD64,
    &BUILDER_ARM64,
    &MIRROR_REGISTRY,
    &MIRROR_JOBS,
    &MIRROR_AUTH,
    &MIRROR_CA,
    &MIRROR_INSECURE,
    &MIRROR_LOOKASIDE_DIR,
    &MIRROR_LOOKASIDE_URL,
    &MIRROR_SOURCE_LOOKASIDES,
    &RELEASE_LIST,
    &BUNDLE_TO,
    &USB_UPDATES,
    &USB_LABEL,
    &USB_APPLY,
    &CONFIG,
    &STATE_DIR,
];

/// The environment variables that hold secrets: never inherited by the commands the tool
/// runs.
pub fn secret_env() -> impl Iterator<Item = &'static str> {
    ALL.iter().filter(|i| i.secret).filter_map(|i| i.env)
}

/// The declaration of a clap argument id, if it has one.
pub fn by_id(id: &str) -> Option<&'static Input> {
    ALL.iter().copied().find(|i| !i.id.is_empty() && i.id == id)
}

/// The declaration of a config-file key.
pub fn by_key(key: &str) -> Option<&'static Input> {
    ALL.iter().copied().find(|i| i.key == Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_unique() {
        let mut ids: Vec<&str> = ALL.iter().map(|i| i.id).filter(|i| !i.is_empty()).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(n, ids.len(), "an argument id is declared twice");
        let mut keys: Vec<&str> = ALL.iter().filter_map(|i| i.key).collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(n, keys.len(), "a config key is declared twice");
    }
}
