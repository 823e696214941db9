//! How commands reach a running MicroShift device: over ssh to a host (`--host
//! [USER@]HOST[:PORT]`), over ssh to a libvirt VM at the address libvirt reports (`--vm`),
//! or with `podman exec` into a container that `run` started (`--container`). ssh runs in
//! batch mode (never a password prompt), never with host-key checking off: a device seen for
//! the first time has its key accepted once (`StrictHostKeyChecking=accept-new`), into
//! `--known-hosts` when given; it is checked on every later connection.

use camino::Utf8PathBuf;

use crate::config::Sources;
use crate::inputs;
use crate::plan::{Check, Extract, Step};
use crate::validate::{self, bad};

/// The libvirt URI from a `--libvirt-uri` flag value (or its fallbacks), validated.
pub fn libvirt_uri(flag: Option<&str>, sources: &Sources) -> anyhow::Result<String> {
    let uri = sources.get(&inputs::LIBVIRT_URI, flag)?;
    let ok = uri.value.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+')
    }) && !uri.value.chars().any(char::is_whitespace);
    if !ok {
        return Err(bad(
            &uri.what,
            &uri.value,
            "not a libvirt URI such as qemu:///system",
        ));
    }
    Ok(uri.value)
}

/// Only the local system instance of libvirt needs root; remote and session URIs do not.
pub fn needs_root(uri: &str) -> bool {
    uri == "qemu:///system" || uri.starts_with("qemu:///system?")
}

/// The flags that name a device, shared by `status`, `upgrade` and `rollback`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DeviceArgs {
    #[arg(long, value_name = "[USER@]HOST[:PORT]", conflicts_with_all = ["vm", "container"])]
    pub host: Option<String>,
    /// A libvirt VM that `vm` installed, reached over ssh at the address libvirt reports
    #[arg(long, value_name = "NAME", conflicts_with = "container")]
    pub vm: Option<String>,
    /// A container that `run` started (podman exec)
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    #[arg(long)]
    pub ssh_user: Option<String>,
    #[arg(long = "ssh-key", value_name = "FILE")]
    pub identity: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<String>,
    #[arg(long)]
    pub libvirt_uri: Option<String>,
}

/// Where the device is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Host { host: String, port: Option<u16> },
    Vm { name: String, uri: String },
    Container { name: String },
}

/// A device and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub target: Target,
    /// The ssh user (not for a container).
    pub user: String,
    pub identity: Option<Utf8PathBuf>,
    pub known_hosts: Option<Utf8PathBuf>,
    /// No command on the device runs longer than this many seconds (the plan's whole wait,
    /// [`Device::within`], but at least [`MIN_LIMIT_S`]), whatever its own limit; the pull
    /// has its own.
    pub cap_s: Option<u64>,
}

/// How long one command on a device may run, in seconds: a read of its state (deployments,
/// boot id, greenboot's verdict, the journal, the pods), `bootc rollback`, the reboot
/// request. Past it the command is stopped and the step fails, naming the limit; a device
/// whose link dropped is found sooner by ssh's keepalives ([`KEEPALIVE`]).
pub const COMMAND_LIMIT_S: u64 = 60;

/// How long one try of a wait may run (a poll): stopped past it, the wait tries again
/// within its deadline.
pub const POLL_LIMIT_S: u64 = 30;

/// A short wait (`verify --timeout 3s`) limits its commands to itself, but not below this:
/// a slow answer (a loaded host's `podman exec`) still gives the wait its diagnosis.
pub const MIN_LIMIT_S: u64 = 10;

/// ssh's keepalives: a session whose device answers nothing for 3 × 10 seconds (it lost
/// power, its link dropped) ends (exit 255), never waiting for TCP to give up (hours).
pub const KEEPALIVE: [&str; 4] = [
    "-o",
    "ServerAliveInterval=10",
    "-o",
    "ServerAliveCountMax=3",
];

/// The variable holding a VM's address once libvirt reported it.
pub const VM_ADDRESS: &str = "VMIP";

/// A host name (DNS labels), an IPv4 address, or an IPv6 address in brackets; an optional
/// port. Never anything ssh could read as an option. (`rollout` checks each inventory host's
/// address with it too.)
pub fn parse_host(
    what: &str,
    value: &str,
) -> anyhow::Result<(Option<String>, String, Option<u16>)> {
    let refuse = |why: &str| bad(what, value, why);
    if value.is_empty()
        || value.starts_with('-')
        || value
            .chars()
            .any(|c| c.is_whitespace() || crate::validate::is_hidden(c))
    {
        return Err(refuse("not a device address: [USER@]HOST[:PORT], e.g. redhat@edge-1.example.com or 192.0.2.10"));
    }
    let (user, rest) = match value.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, value),
    };
    if let Some(u) = &user {
        validate::simple_name(what, u)
            .map_err(|_| refuse("the user before '@' must be letters, digits, '_', '.' and '-'"))?;
    }
    // a ':' is the one port separator, or inside an IPv6 address's brackets: nowhere else
    if !rest.is_ascii() {
        return Err(refuse(
            "a host name goes in ASCII: an international name in its xn-- form (punycode)",
        ));
    }
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (h, tail) = inner
            .split_once(']')
            .ok_or_else(|| refuse("an IPv6 address goes in brackets: [fd00::1]"))?;
        if h.contains('%') {
            return Err(refuse(
                "an IPv6 address with a scope (%eth0) is not taken: give the device a routable address, or a name",
            ));
        }
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(refuse("not an IPv6 address in brackets"));
        }
        let port = match tail {
            "" => None,
            t => Some(
                t.strip_prefix(':')
                    .ok_or_else(|| refuse("a port follows ':'"))?,
            ),
        };
        (h.to_string(), port)
    } else {
        let (h, port) = match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        if port.is_some_and(|p| p.contains(':')) {
            return Err(refuse(
                "more than one ':': an IPv6 address goes in brackets ([fd00::1]:22); a host name has none",
            ));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !(h.len() <= 253 && h.split('.').all(label_ok)) {
            return Err(refuse("not a host name or address"));
        }
        // numbers are an IPv4 address, written as four of them: the resolver reads other
        // forms too (2130706433, 0x7f.1, 010.0.0.1 are 127.0.0.1, 8.0.0.1), and a host
        // name's last label is never a number
        let numeric = |l: &str| {
            l.chars().all(|c| c.is_ascii_digit())
                || l.get(..2).is_some_and(|x| x.eq_ignore_ascii_case("0x"))
                    && l[2..].chars().all(|c| c.is_ascii_hexdigit())
        };
        let last = h.rsplit('.').next().unwrap_or(h);
        if (h.split('.').all(numeric) || last.chars().all(|c| c.is_ascii_digit()))
            && h.parse::<std::net::Ipv4Addr>().is_err()
        {
            return Err(refuse(
                "not an IPv4 address (four numbers 0 to 255, e.g. 192.0.2.10) nor a host name (its last label is not a number)",
            ));
        }
        (h.to_string(), port)
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| refuse("the port must be 1 to 65535"))
        })
        .transpose()?;
    Ok((user, host, port))
}

/// A private key file ssh can log in with: a regular file, not the public key, a private key
/// in a format ssh reads (`-----BEGIN ... PRIVATE KEY-----`), readable by its owner only
/// (ssh refuses others' later, and in batch mode only as a failed login). `what` names where
/// the path came from.
pub fn private_key(what: &str, path: &camino::Utf8Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path)
        .map_err(|e| bad(what, path.as_str(), format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(bad(what, path.as_str(), "not a regular file"));
    }
    let head = crate::validate::read_bounded(what, path, 64 << 10)?;
    let head = String::from_utf8_lossy(&head);
    let first = head.trim_start().lines().next().unwrap_or("");
    if first.starts_with("ssh-") || first.starts_with("ecdsa-") {
        return Err(bad(
            what,
            path.as_str(),
            "is a public key: ssh needs the private key (the file without .pub)",
        ));
    }
    if !(first.starts_with("-----BEGIN") && first.contains("PRIVATE KEY")) {
        return Err(bad(
            what,
            path.as_str(),
            "is not a private key ssh reads (its first line is not -----BEGIN ... PRIVATE KEY-----)",
        ));
    }
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(bad(
            what,
            path.as_str(),
            format!(
                "others can read it (mode {:o}): ssh refuses such a key; chmod 600 it",
                meta.permissions().mode() & 0o777
            ),
        ));
    }
    Ok(())
}

/// A file ssh is handed in an option (`-i`, `-o UserKnownHostsFile=`): no comma, space,
/// `%` or `$` (ssh expands %-tokens such as %d, %u, %h and `${NAME}` variables in both), no
/// quote or backslash (ssh takes them out of an option's value): ssh reads the very file the
/// tool checked and names.
pub fn ssh_path(what: &str, path: &camino::Utf8Path) -> anyhow::Result<()> {
    validate::no_comma(what, path.as_str(), "ssh's -o option")?;
    if path.as_str().contains(char::is_whitespace) {
        return Err(bad(what, path.as_str(), "ssh options cannot hold a space"));
    }
    if path.as_str().contains('%') {
        return Err(bad(
            what,
            path.as_str(),
            "ssh would read its '%' as a token (%d, %u, %h): rename the file",
        ));
    }
    if path.as_str().contains('$') {
        return Err(bad(
            what,
            path.as_str(),
            "ssh would read its '$' as a variable (${HOME}): rename the file",
        ));
    }
    if path.as_str().contains(['"', '\'', '\\']) {
        return Err(bad(
            what,
            path.as_str(),
            "ssh takes quotes and backslashes out of an option's value: rename the file",
        ));
    }
    Ok(())
}

impl Device {
    /// The device the flags name; else `device.host` from the config file; else what `run`
    /// or `vm` made last (the record). `container` says whether a container will do (not
    /// for `upgrade`: a container does not reboot into a new image).
    pub fn resolve(
        args: &DeviceArgs,
        sources: &Sources,
        container: bool,
    ) -> anyhow::Result<Device> {
        let user = sources.get(&inputs::SSH_USER, args.ssh_user.as_deref())?;
        let mut user_name = validate::simple_name(&user.what, &user.value)?;
        let identity = match sources.value(&inputs::DEVICE_SSH_KEY, args.identity.as_deref())? {
            Some(p) => {
                let path = sources.path(&p)?;
                private_key(&p.what, &path)?;
                ssh_path(&p.what, &path)?;
                Some(path)
            }
            None => None,
        };
        let known_hosts = match sources.value(&inputs::KNOWN_HOSTS, args.known_hosts.as_deref())? {
            Some(p) => {
                let path = sources.path(&p)?;
                ssh_path(&p.what, &path)?;
                Some(path)
            }
            None => None,
        };
        let host = sources.value(&inputs::DEVICE_HOST, args.host.as_deref())?;
        let target = match (&args.vm, &args.container, host) {
            (Some(vm), _, _) => Target::Vm {
                name: validate::simple_name("--vm", vm)?,
                uri: vm_uri(vm, args, sources)?,
            },
            (None, Some(c), _) => {
                if !container {
                    return Err(bad(
                        "--container",
                        c,
                        "a container does not boot another image: give --host or --vm",
                    ));
                }
                Target::Container {
                    name: validate::simple_name("--container", c)?,
                }
            }
            (None, None, Some(h)) => {
                let (u, host, port) = parse_host(&h.what, &h.value)?;
                if let Some(u) = u {
                    user_name = u;
                }
                Target::Host { host, port }
            }
            (None, None, None) => {
                let (kind, name) = recorded_device(sources)?.unzip();
                match (kind.as_deref(), name) {
                    (Some("vm"), Some(name)) => Target::Vm {
                        uri: vm_uri(&name, args, sources)?,
                        name: validate::simple_name("record: vm", &name)?,
                    },
                    (Some("container"), Some(name)) if container => Target::Container {
                        name: validate::simple_name("record: container", &name)?,
                    },
                    _ => {
                        return Err(crate::validate::refuse(
                            "--host: missing; name the device with --host [USER@]HOST, --vm NAME (or device.host in the config file)".to_string(),
                        ))
                    }
                }
            }
        };
        Ok(Device {
            target,
            user: user_name,
            identity,
            known_hosts,
            cap_s: None,
        })
    }

    /// The device of a plan whose waits take `wait_s` seconds in all: no command on it
    /// (but the pull, which has its own limit) runs longer than that, or [`MIN_LIMIT_S`].
    pub fn within(mut self, wait_s: u64) -> Device {
        self.cap_s = Some(wait_s.max(MIN_LIMIT_S));
        self
    }

    /// `seconds`, or the plan's whole wait when that is shorter (see [`Device::within`]).
    pub fn limit(&self, seconds: u64) -> u64 {
        self.cap_s.map_or(seconds, |c| seconds.min(c))
    }

    /// A step repeated until it succeeds, within the plan's deadline (a wait): each try
    /// limited to [`POLL_LIMIT_S`].
    pub fn poll(&self, step: Step) -> Step {
        step.repeat().time_limit(self.limit(POLL_LIMIT_S))
    }

    /// `redhat@edge-1`, `VM edge-1`, `container edge-1`, for titles.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Host { host, .. } => format!("{}@{host}", self.user),
            Target::Vm { name, .. } => format!("VM {name}"),
            Target::Container { name } => format!("container {name}"),
        }
    }

    /// What a person should know before the tool connects: how ssh treats the device's
    /// host key (none for a container).
    pub fn note(&self) -> Option<String> {
        if self.is_container() {
            return None;
        }
        Some(format!(
            "ssh runs in batch mode (never a password prompt) with StrictHostKeyChecking=accept-new: a device seen for the first time has its host key accepted and recorded in {}, and checked on every later connection (a changed key stops the command)",
            self.known_hosts
                .as_ref()
                .map_or("~/.ssh/known_hosts".to_string(), |k| k.to_string())
        ))
    }

    /// The device as the `--json` facts name it.
    pub fn facts(&self) -> serde_json::Value {
        match &self.target {
            Target::Host { host, port } => {
                serde_json::json!({ "host": host, "port": port, "ssh_user": self.user })
            }
            Target::Vm { name, uri } => {
                serde_json::json!({ "vm": name, "libvirt_uri": uri, "ssh_user": self.user })
            }
            Target::Container { name } => serde_json::json!({ "container": name }),
        }
    }

    /// The steps that find the device before anything runs on it: for a VM, that it runs
    /// and its address (waiting for libvirt to report one).
    pub fn find_steps(&self) -> Vec<Step> {
        let (vm, uri) = match &self.target {
            Target::Host { .. } => return Vec::new(),
            // a container that is gone or stopped will not come up by waiting
            Target::Container { name } => {
                return vec![Step::new("running", format!("check container {name} is running"), "podman")
                    .args(["exec", name, "true"])
                    .read_only()
                    .root(true)
                    .time_limit(self.limit(COMMAND_LIMIT_S))
                    .diagnose(
                        Step::new("logs", "the container's last log lines", "podman")
                            .args(["logs", "--tail", "20", name])
                            .root(true)
                            .time_limit(self.limit(COMMAND_LIMIT_S)),
                    )
                    .hint(format!(
                        "container {name} does not exist or is not running (`podman ps -a`); `cargo xtask run -d` starts it"
                    ))]
            }
            Target::Vm { name, uri } => (name, uri),
        };
        let root = needs_root(uri);
        // a VM that is not running will not come up by waiting: say so at once
        let mut running = Step::new("running", format!("check {vm} is running"), "virsh")
            .args(["--connect", uri, "domstate", "--", vm])
            .read_only()
            .root(root)
            .time_limit(self.limit(COMMAND_LIMIT_S))
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
        vec![
            running,
            self.poll(
                Step::new("address", format!("find the address of {vm}"), "virsh")
                    .args(["--connect", uri, "domifaddr", vm])
                    .read_only()
                    .root(root)
                    .capture(VM_ADDRESS, Extract::Ipv4),
            )
            .hint(format!(
                "is {vm} running? `virsh --connect {uri} list --all`"
            )),
        ]
    }

    /// A step that runs `argv` on the device, as root: through `podman exec` for a
    /// container; through ssh (batch mode, never host-key checking off, keepalives)
    /// otherwise, with `sudo` in front unless the ssh user is root. The words are plain
    /// tokens (commands, flags, image references): ssh hands them to the device's shell
    /// joined by spaces. The command may run [`COMMAND_LIMIT_S`] (a poll and the pull set
    /// their own limits).
    pub fn run(&self, id: &'static str, about: impl Into<String>, argv: &[&str]) -> Step {
        debug_assert!(argv.iter().all(|w| crate::plan::quote(w) == *w), "{argv:?}");
        let step = match &self.target {
            Target::Container { name } => Step::new(id, about, "podman")
                .args(["exec", name])
                .root(true),
            Target::Host { host, port } => {
                let mut s = self.ssh(id, about);
                if let Some(p) = port {
                    s = s.args(["-p".to_string(), p.to_string()]);
                }
                s.arg(format!("{}@{host}", self.user))
            }
            Target::Vm { .. } => self
                .ssh(id, about)
                .var_arg(&format!("{}@", self.user), VM_ADDRESS),
        };
        let step = if self.user != "root" && !matches!(self.target, Target::Container { .. }) {
            step.arg("sudo")
        } else {
            step
        };
        step.args(argv.iter().copied())
            .time_limit(self.limit(COMMAND_LIMIT_S))
    }

    /// `ssh` with its options, before the destination.
    fn ssh(&self, id: &'static str, about: impl Into<String>) -> Step {
        Step::new(id, about, "ssh").args(self.ssh_options())
    }

    /// ssh's options (batch mode, host keys, keepalives, the key): [`Device::run`]'s, and
    /// those of the tools that speak ssh themselves (sftp, rsync's `-e`).
    pub fn ssh_options(&self) -> Vec<String> {
        let mut o: Vec<String> = [
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "ConnectTimeout=10",
        ]
        .iter()
        .chain(KEEPALIVE.iter())
        .map(|s| s.to_string())
        .collect();
        if let Some(k) = &self.known_hosts {
            o.extend(["-o".to_string(), format!("UserKnownHostsFile={k}")]);
        }
        if let Some(i) = &self.identity {
            o.extend([
                "-o".to_string(),
                "IdentitiesOnly=yes".to_string(),
                "-i".to_string(),
                i.to_string(),
            ]);
        }
        o
    }

    /// The device's port, when not ssh's own (sftp takes it as `-P`, ssh as `-p`).
    pub fn port(&self) -> Option<u16> {
        match &self.target {
            Target::Host { port, .. } => *port,
            _ => None,
        }
    }

    /// `USER@HOST` and `suffix` (`:path` for rsync) as one argument of `step`, as sftp and
    /// rsync take it (an IPv6 address in brackets); for a VM, its address as libvirt reported
    /// it. Not for a container (nothing speaks ssh to it).
    pub fn destination(&self, step: Step, suffix: &str) -> Step {
        match &self.target {
            Target::Host { host, .. } if host.contains(':') => {
                step.arg(format!("{}@[{host}]{suffix}", self.user))
            }
            Target::Host { host, .. } => step.arg(format!("{}@{host}{suffix}", self.user)),
            Target::Vm { .. } => {
                step.var_arg_around(&format!("{}@", self.user), VM_ADDRESS, suffix)
            }
            Target::Container { name } => step.arg(format!("{name}{suffix}")),
        }
    }

    /// The program and arguments of [`Device::run`], for a read-only question asked now
    /// (doctor): a VM's address given (as a step would have captured it).
    pub fn command_now(&self, address: Option<&str>, argv: &[&str]) -> (String, Vec<String>) {
        let step = self.run("now", "", argv);
        let args = step
            .args
            .iter()
            .map(|a| match a {
                crate::plan::Arg::Lit(s) => s.clone(),
                crate::plan::Arg::Var { prefix, suffix, .. } => {
                    format!("{prefix}{}{suffix}", address.unwrap_or(""))
                }
                // a device command carries no secret and writes no file
                _ => String::new(),
            })
            .collect();
        (step.program, args)
    }

    /// A VM's name and libvirt URI, for finding its address.
    pub fn vm(&self) -> Option<(&str, &str)> {
        match &self.target {
            Target::Vm { name, uri } => Some((name, uri)),
            _ => None,
        }
    }

    /// A container is reached without a network; the others over ssh.
    pub fn is_container(&self) -> bool {
        matches!(self.target, Target::Container { .. })
    }
}

/// The device `run` or `vm` made last, from the record: its kind (`container` or `vm`) and
/// name.
pub fn recorded_device(sources: &Sources) -> anyhow::Result<Option<(String, String)>> {
    let record = sources.record()?;
    Ok(record.entries.iter().rev().find_map(|e| {
        let text = |k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_string);
        match (text("kind"), text("name")) {
            (Some(kind), Some(name)) if kind == "vm" || kind == "container" => Some((kind, name)),
            _ => None,
        }
    }))
}

/// A VM's libvirt URI: the flag, else the record's for that VM, else the configured one.
fn vm_uri(vm: &str, args: &DeviceArgs, sources: &Sources) -> anyhow::Result<String> {
    let recorded = sources
        .record()?
        .find("vm", vm)
        .and_then(|e| e.get("uri"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    libvirt_uri(args.libvirt_uri.clone().or(recorded).as_deref(), sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device's commands: their own limit, within the plan's wait, never below the floor.
    #[test]
    fn limits() {
        let device = Device {
            target: Target::Host {
                host: "edge-1".into(),
                port: None,
            },
            user: "redhat".into(),
            identity: None,
            known_hosts: None,
            cap_s: None,
        };
        assert_eq!(device.limit(COMMAND_LIMIT_S), 60);
        assert_eq!(device.clone().within(1200).limit(POLL_LIMIT_S), 30);
        assert_eq!(device.clone().within(20).limit(COMMAND_LIMIT_S), 20);
        assert_eq!(device.within(3).limit(COMMAND_LIMIT_S), MIN_LIMIT_S);
    }

    #[test]
    fn device_addresses() {
        let ok = |v: &str| parse_host("--host", v).unwrap();
        assert_eq!(ok("edge-1"), (None, "edge-1".into(), None));
        assert_eq!(
            ok("redhat@192.0.2.10:2222"),
            (Some("redhat".into()), "192.0.2.10".into(), Some(2222))
        );
        assert_eq!(
            ok("core@[fd00::1]:22"),
            (Some("core".into()), "fd00::1".into(), Some(22))
        );
        assert_eq!(ok("[::1]"), (None, "::1".into(), None));
        // numbers in a name, a name that ends in letters
        assert_eq!(ok("10.0.0.1"), (None, "10.0.0.1".into(), None));
        assert_eq!(ok("7.edge-1"), (None, "7.edge-1".into(), None));
        assert_eq!(ok("1-2.example"), (None, "1-2.example".into(), None));
        assert_eq!(
            ok("xn--bcher-kva.example"),
            (None, "xn--bcher-kva.example".into(), None)
        );
        for no in [
            "",
            "-oProxyCommand=touch /tmp/x",
            "a b",
            "edge:0",
            "edge:99999",
            "u@-x",
            "@host",
            "ed ge@x",
            "[::1",
            "host\u{202e}",
            "a..b",
            // a ':' only as the one port separator or inside an IPv6 address's brackets
            "a:b$(touch${IFS}/tmp/p):22",
            "a:b:22",
            "fd00::1",
            "redhat@fd00::1:22",
            "[fd00::1;x]:22",
            "[::1]:22:22",
            "[fe80::1%eth0]",
            "host:",
            ":22",
            // what the resolver would read as another address than it shows, or as none
            "999.1.1.1",
            "1.2.3.4.5",
            "2130706433",
            "0x7f.1",
            "0x7f",
            "010.0.0.1",
            "redhat@10.0.0.256:22",
            "bücher.example",
        ] {
            assert!(parse_host("--host", no).is_err(), "{no:?}");
        }
    }
}
