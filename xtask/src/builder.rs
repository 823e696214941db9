//! Remote builders: a release lane that runs on another machine's podman, through podman's
//! own remote API (`podman --url URL` or `podman --connection NAME`), not a scheduler of ours.
//! The lane's build, inspection and push run there; the push goes from the builder to the
//! registry directly. The podman client reads the local files the commands name (the build
//! context, `--authfile`, `--secret src=`) and sends their contents over the connection.

use crate::arch::Arch;
use crate::config::Sources;
use crate::inputs;
use crate::validate::bad;

/// The flags of `release` (and `doctor --for release`) that name builders.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BuilderArgs {
    #[arg(long = "builder", value_name = "ARCH=CONNECTION")]
    pub builders: Vec<String>,
}

/// Where a lane's podman runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `podman --url URL`: `unix:///path`, `ssh://[user@]host[:port][/socket]`, `tcp://host:port`
    /// (loopback only).
    Url(String),
    /// `podman --connection NAME`: a connection of `podman system connection list`.
    Connection(String),
}

/// A lane's builder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builder {
    pub arch: Arch,
    pub target: Target,
}

impl Builder {
    /// The podman flags that send a command to this builder.
    pub fn args(&self) -> Vec<String> {
        match &self.target {
            Target::Url(u) => vec!["--url".into(), u.clone()],
            Target::Connection(n) => vec!["--connection".into(), n.clone()],
        }
    }

    /// Does talking to it take root here? A unix socket is usually root's
    /// (`/run/podman/podman.sock`); ssh and named connections are the user's own (their
    /// keys, their `podman system connection` list), which sudo would not see.
    pub fn needs_root(&self) -> bool {
        matches!(&self.target, Target::Url(u) if u.starts_with("unix://"))
    }

    /// The builder as a person reads it.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Url(u) => u.clone(),
            Target::Connection(n) => format!("podman connection {n}"),
        }
    }
}

/// Why `tcp://` to another host is refused.
pub const TCP_REFUSED: &str = "podman's API over tcp:// has no TLS and no authentication: the pull secret, the password build secret and the registry credentials would cross the network in clear, and whoever reaches the port is root on the builder; use ssh://user@host/run/podman/podman.sock (podman's documented remote access), or tcp:// only to a loopback address (127.0.0.1, [::1], localhost: an ssh tunnel's end)";

/// Is `host:port` (`[v6]:port`) on this machine: `localhost` or a loopback address?
pub fn loopback(host_port: &str) -> bool {
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(h, _)| h),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Is `uri` podman's API over `tcp://` to another machine than this one (any case of the
/// scheme: podman reads it as `tcp`)?
pub fn tcp_elsewhere(uri: &str) -> bool {
    uri.get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("tcp://"))
        && !loopback(uri[6..].split('/').next().unwrap_or(""))
}

/// The URI of podman's connection `name` in `podman system connection list --format json`
/// output, when a lane may use it; why not otherwise: podman has no such connection, or it
/// is `tcp://` to another machine (a name hides the URL `--builder` refuses).
pub fn connection_uri(list: &str, name: &str) -> Result<String, String> {
    let list: serde_json::Value = serde_json::from_str(list)
        .map_err(|_| "podman printed no connection list (JSON)".to_string())?;
    let uri = connection(&list, name).ok_or_else(|| {
        format!(
            "podman has no connection {name} (`podman system connection list` names them, as the user the tool runs as): `podman system connection add {name} ssh://USER@HOST/run/podman/podman.sock` adds one"
        )
    })?;
    if tcp_elsewhere(uri) {
        return Err(format!(
            "podman connection {name} is {}: {TCP_REFUSED}",
            crate::validate::escape_controls(uri)
        ));
    }
    Ok(uri.to_string())
}

/// The URI of podman's connection `name` in its parsed connection list ("" when it has
/// none), `None` when there is no such connection.
pub fn connection<'a>(list: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    list.as_array()
        .into_iter()
        .flatten()
        .find(|c| c["Name"].as_str() == Some(name))
        .map(|c| c["URI"].as_str().unwrap_or_default())
}

/// [`connection_uri`]'s verdict as jq over the same list (`$n`: the name), for the printed
/// plan: the connection exists, and its URI is no `tcp://` to another machine than
/// `localhost`, 127.0.0.0/8 or `[::1]`.
pub const CONNECTION_JQ: &str = r#"[.[]? | select(.Name == $n) | .URI // ""] | length > 0 and all(.[]; (ascii_downcase | startswith("tcp://") | not) or (.[6:] | split("/")[0] | ascii_downcase | if startswith("[") then (.[1:] | split("]")[0] | test("^[0:]*:[0:]*1$")) else (sub(":[^:]*$"; "") | . == "localhost" or test("^127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}$")) end))"#;

/// `ARCH=CONNECTION`, checked.
pub fn parse(what: &str, raw: &str) -> anyhow::Result<Builder> {
    let Some((arch, connection)) = raw.split_once('=') else {
        return Err(bad(
            what,
            raw,
            "not ARCH=CONNECTION (e.g. arm64=ssh://builder@arm-host/run/podman/podman.sock)",
        ));
    };
    let arch = Arch::parse(what, arch.trim())?;
    Ok(Builder {
        arch,
        target: target(what, connection)?,
    })
}

/// A podman connection: a URL podman's `--url` takes, or a connection name.
pub fn target(what: &str, value: &str) -> anyhow::Result<Target> {
    if value.is_empty()
        || value.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | '`' | '$')
        })
    {
        return Err(bad(
            what,
            value,
            "not a podman connection (a URL or a connection name, without spaces or quotes)",
        ));
    }
    if let Some((scheme, rest)) = value.split_once("://") {
        let ok = match scheme {
            "unix" => rest.starts_with('/') && rest.len() > 1,
            "ssh" => {
                let host = rest.split('/').next().unwrap_or("");
                let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
                !host.is_empty() && !host.starts_with(':') && !host.starts_with('-')
            }
            "tcp" => rest
                .split('/')
                .next()
                .is_some_and(|h| h.contains(':') && !h.starts_with(':')),
            _ => false,
        };
        if !ok {
            return Err(bad(
                what,
                value,
                "not a podman URL: unix:///path/podman.sock, ssh://[user@]host[:port][/socket] or tcp://127.0.0.1:port",
            ));
        }
        if tcp_elsewhere(value) {
            return Err(bad(what, value, TCP_REFUSED));
        }
        return Ok(Target::Url(value.to_string()));
    }
    let first = value.chars().next().unwrap_or('-');
    if !first.is_ascii_alphanumeric()
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(bad(
            what,
            value,
            "not a podman connection name (letters, digits, '.', '_', '-', '@', starting with a letter or digit: `podman system connection list`)",
        ));
    }
    Ok(Target::Connection(value.to_string()))
}

/// The builders of a release: `--builder ARCH=CONNECTION` flags, else the config file's
/// `builders.<arch>`. Every builder's lane must be one of `archs`.
pub fn resolve(
    args: &BuilderArgs,
    sources: &Sources,
    archs: &[Arch],
) -> anyhow::Result<Vec<Builder>> {
    let mut builders: Vec<Builder> = Vec::new();
    let flag = inputs::BUILDERS.flag;
    if args.builders.is_empty() {
        for (input, arch) in [
            (&inputs::BUILDER_AMD64, Arch::Amd64),
            (&inputs::BUILDER_ARM64, Arch::Arm64),
        ] {
            if let Some(picked) = sources.value(input, None)? {
                builders.push(Builder {
                    arch,
                    target: target(&picked.what, &picked.value)?,
                });
            }
        }
    } else {
        for raw in &args.builders {
            let b = parse(flag, raw)?;
            if builders.iter().any(|o| o.arch == b.arch) {
                return Err(bad(flag, raw, format!("a second builder for {}", b.arch)));
            }
            builders.push(b);
        }
    }
    for b in &builders {
        if !archs.contains(&b.arch) {
            return Err(bad(
                flag,
                &format!("{}={}", b.arch, b.describe()),
                format!(
                    "the release has no {} lane (its architectures: {})",
                    b.arch,
                    archs.iter().map(|a| a.oci()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(builders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections() {
        assert!(matches!(
            target("x", "unix:///run/podman/podman.sock"),
            Ok(Target::Url(_))
        ));
        assert!(matches!(
            target("x", "ssh://core@arm-1:2222/run/podman/podman.sock"),
            Ok(Target::Url(_))
        ));
        // podman's TCP API: no TLS, no authentication; only to this machine
        for local in [
            "tcp://127.0.0.1:8888",
            "tcp://127.1.2.3:8888",
            "tcp://[::1]:8888",
            "tcp://localhost:8888",
        ] {
            assert!(matches!(target("x", local), Ok(Target::Url(_))), "{local}");
        }
        for far in [
            "tcp://10.0.0.5:8888",
            "tcp://builder.example.com:8888",
            "tcp://[2001:db8::1]:8888",
            "tcp://0.0.0.0:8888",
            "tcp://127.0.0.1.example.com:8888",
        ] {
            let e = target("x", far).unwrap_err().to_string();
            assert!(e.contains("no TLS") && e.contains("ssh://"), "{far}: {e}");
        }
        assert!(matches!(
            target("x", "arm-builder"),
            Ok(Target::Connection(_))
        ));
        for bad in [
            "",
            "unix://relative",
            "ssh://",
            "ssh://-oProxyCommand=x",
            "http://host",
            "-oProxyCommand=sh",
            "ssh://host/a b",
            "name with space",
            "a;b",
        ] {
            assert!(target("x", bad).is_err(), "{bad}");
        }
        for odd in [
            "TCP://10.0.0.5:8888",
            "tcp://0x7f000001:8888",
            "tcp://[::ffff:1.2.3.4]:8888",
            "tcp://localhost.evil.com:8888",
            "tcp://127.0.0.1:80@evil.com:80",
        ] {
            assert!(target("x", odd).is_err(), "{odd}");
        }
        assert!(parse("x", "riscv=unix:///s").is_err());
        assert!(parse("x", "arm64").is_err());
        assert_eq!(parse("x", "aarch64=b1").unwrap().arch, Arch::Arm64);
    }

    /// Review of issue 29: a connection name hides its URL from `--builder`'s check; the
    /// release reads podman's list and judges the URL the same way, and the printed plan's
    /// jq gives the same verdicts.
    #[test]
    fn a_connection_name_is_judged_by_its_url() {
        let list = |uri: &str| {
            format!(
                r#"[{{"Name":"other","URI":"tcp://10.9.9.9:1","Identity":"","IsMachine":false,"Default":true}},{{"Name":"b","URI":"{uri}","Identity":"","IsMachine":false,"Default":false}}]"#
            )
        };
        let cases = [
            ("tcp://10.0.0.5:8888", false),
            ("TCP://10.0.0.5:8888", false),
            ("tcp://builder.example.com:8888", false),
            ("tcp://127.0.0.1.evil.com:8888", false),
            ("tcp://localhost.evil.com:8888", false),
            ("tcp://[::ffff:1.2.3.4]:8888", false),
            ("tcp://[2001:db8::1]:8888", false),
            ("tcp://0x7f000001:8888", false),
            ("tcp://127.0.0.1:8888", true),
            ("tcp://127.3.2.1:8888/", true),
            ("tcp://LOCALHOST:8888", true),
            ("tcp://[::1]:8888", true),
            ("ssh://core@arm-1:22/run/podman/podman.sock", true),
            ("unix:///run/podman/podman.sock", true),
        ];
        let jq = std::process::Command::new("jq")
            .arg("--version")
            .output()
            .is_ok();
        if !jq {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(!ci, "jq is not installed, and CI must run this test");
            eprintln!("SKIPPED the jq half of a_connection_name_is_judged_by_its_url: jq is not installed");
        }
        let by_jq = |text: &str, name: &str| {
            use std::io::Write;
            let mut child = std::process::Command::new("jq")
                .args(["-e", "--arg", "n", name, CONNECTION_JQ])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child.wait().unwrap().success()
        };
        for (uri, ok) in cases {
            let text = list(uri);
            let verdict = connection_uri(&text, "b");
            assert_eq!(verdict.is_ok(), ok, "{uri}: {verdict:?}");
            if !ok {
                let e = verdict.unwrap_err();
                assert!(
                    e.contains("podman connection b is") && e.contains("no TLS"),
                    "{e}"
                );
            }
            if jq {
                assert_eq!(by_jq(&text, "b"), ok, "jq on {uri}");
            }
        }
        let e = connection_uri(&list("ssh://x/y"), "missing").unwrap_err();
        assert!(e.contains("podman has no connection missing"), "{e}");
        assert!(connection_uri("not json", "b").is_err());
        if jq {
            assert!(!by_jq(&list("ssh://x/y"), "missing"));
            assert!(!by_jq("[]", "b"));
        }
    }
}
