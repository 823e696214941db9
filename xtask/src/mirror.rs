//! The site's mirror registry: where `mirror` copies MicroShift's images, the OS image and
//! workload images, and the registries.conf drop-in that sends a device's pulls there.
//!
//! One mapping, used by the copy and by every device: an image `HOST/PATH` (by tag or by
//! digest) lives at `MIRROR/<host>/PATH`, `<host>` being the source registry host as a path
//! component ([`host_component`]: `127.0.0.1:5000` becomes `127.0.0.1_5000`), one-to-one, so
//! two registries' repositories never meet (and `mirror` refuses sources that would). An
//! image named by digest gets the tag `mirrored-<hex>` there (registries may garbage-collect
//! untagged manifests); devices pull it by digest. The drop-in has one entry per source
//! registry, `mirror-by-digest-only`, and one per repository whose images are mirrored by
//! tag (the OS image's, workload images named by tag) that mirrors tags too: `bootc upgrade`
//! and a pod's `image: app:v1` follow a tag, which digest-only entries never redirect.

use camino::{Utf8Path, Utf8PathBuf};

use crate::config::Sources;
use crate::validate::{self, bad};

pub mod lookaside;
pub use lookaside::{
    copy_registries_d, source_lookasides, source_of, SourceLookaside, ACCESS_LOOKASIDE,
    REDHAT_LOOKASIDE,
};

/// Where the drop-in goes, on a device and in the image.
pub const DROP_IN: &str = "/etc/containers/registries.conf.d/999-microshift-mirror.conf";
/// Where the registries.d entry of the mirror goes, in the image and the installer:
/// signatures are read where images are pulled from ([`lookaside`]).
pub const REGISTRIES_D: &str = "/etc/containers/registries.d/xtask-mirror.yaml";
/// Where the mirror's CA goes in the image (the trust anchors; `update-ca-trust` extracts it).
pub const CA_ANCHOR: &str = "/etc/pki/ca-trust/source/anchors/microshift-mirror.crt";
/// The manifest of a `--to-dir` directory: what it holds, with digests.
pub const DIR_MANIFEST: &str = "mirror.json";
/// The manifest's format, checked on load.
pub const DIR_FORMAT: &str = "xtask-mirror/1";

/// Flags naming the mirror, shared by `mirror`, `build` and `kickstart`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MirrorArgs {
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub mirror_auth: Option<String>,
    #[arg(long)]
    pub mirror_ca: Option<String>,
    #[arg(long)]
    pub mirror_insecure: bool,
    #[arg(long, value_name = "DIR")]
    pub mirror_lookaside_dir: Option<String>,
    #[arg(long, value_name = "URL")]
    pub mirror_lookaside_url: Option<String>,
    #[arg(long = "source-lookaside", value_name = "SCOPE=URL")]
    pub source_lookasides: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    /// `host[:port][/path]`, no scheme.
    pub location: String,
    /// The auth file with the mirror's credentials.
    pub auth: Option<Utf8PathBuf>,
    /// The mirror's CA certificate (PEM).
    pub ca: Option<Utf8PathBuf>,
    /// Plain HTTP, or no TLS check.
    pub insecure: bool,
    /// Where the lookaside signatures of what is copied (gpg's, Red Hat's) are written
    /// (lookaside staging).
    pub lookaside_dir: Utf8PathBuf,
    /// Where the site serves them: devices read them there.
    pub lookaside_url: Option<String>,
    /// Said where it matters: where the value came from (`--to (from ...: mirror.registry)`).
    pub what: String,
}

impl Mirror {
    /// The mirror, when `--to`, MIRROR_REGISTRY or `mirror.registry` names one; its auth file
    /// and CA checked.
    pub fn resolve(args: &MirrorArgs, sources: &Sources) -> anyhow::Result<Option<Mirror>> {
        let Some(to) = sources.value(&crate::inputs::MIRROR_REGISTRY, args.to.as_deref())? else {
            return Ok(None);
        };
        let location = location(&to.what, &to.value)?;
        let auth = match sources.value(&crate::inputs::MIRROR_AUTH, args.mirror_auth.as_deref())? {
            Some(p) => {
                let path = sources.path(&p)?;
                crate::secrets::auth_json(&p.what, &path)?;
                Some(path)
            }
            None => None,
        };
        let ca = match sources.value(&crate::inputs::MIRROR_CA, args.mirror_ca.as_deref())? {
            Some(p) => {
                let path = sources.path(&p)?;
                certificate(&p.what, &path)?;
                Some(path)
            }
            None => None,
        };
        let insecure = sources.switch(&crate::inputs::MIRROR_INSECURE, args.mirror_insecure)?;
        if insecure && ca.is_some() {
            return Err(bad(
                "--mirror-insecure",
                "true",
                "a CA (--mirror-ca) is given too: a mirror with a CA is checked with it; drop one of them",
            ));
        }
        let dir = sources.get(
            &crate::inputs::MIRROR_LOOKASIDE_DIR,
            args.mirror_lookaside_dir.as_deref(),
        )?;
        let lookaside_dir = sources.path(&dir)?;
        let lookaside_url = match sources.value(
            &crate::inputs::MIRROR_LOOKASIDE_URL,
            args.mirror_lookaside_url.as_deref(),
        )? {
            Some(p) => Some(crate::signing::lookaside_url(&p.what, &p.value)?),
            None => None,
        };
        Ok(Some(Mirror {
            location,
            auth,
            ca,
            insecure,
            lookaside_dir,
            lookaside_url,
            what: to.what,
        }))
    }

    /// The registry host of the mirror (`host[:port]`).
    pub fn host(&self) -> &str {
        self.location.split('/').next().unwrap_or(&self.location)
    }

    /// Where `repository` (`HOST/PATH`, no tag or digest) is kept in the mirror.
    pub fn repository(&self, repository: &str) -> String {
        let (host, path) = repository.split_once('/').unwrap_or((repository, ""));
        format!("{}/{}/{path}", self.location, host_component(host))
    }

    /// Where an image is copied to: its repository in the mirror, and the tag (the source's,
    /// or `mirrored-<hex>` for an image named by digest).
    pub fn destination(&self, reference: &str) -> String {
        let (repository, tag, digest) = validate::reference_parts(reference);
        let tag = match (tag, digest) {
            (_, Some(d)) => format!("mirrored-{}", d.split_once(':').map_or(d, |(_, h)| h)),
            (Some(t), None) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        format!("{}:{tag}", self.repository(repository))
    }

    /// skopeo's TLS flags for the mirror (`prefix` is `--dest-` for a copy's destination,
    /// `--src-` for its source, or `--` for `inspect`); `cert_dir` is where the tool put the CA.
    pub fn tls_args(&self, prefix: &str, cert_dir: &Utf8Path) -> Vec<String> {
        if self.insecure {
            vec![format!("{prefix}tls-verify=false")]
        } else if self.ca.is_some() {
            vec![format!("{prefix}cert-dir"), cert_dir.to_string()]
        } else {
            Vec::new()
        }
    }

    /// The drop-in that sends a device's pulls of these images' registries to the mirror:
    /// by digest for each registry; tags too for the repositories of the images named by tag
    /// (which `mirror` copies by tag) and for the OS image's repository.
    pub fn registries_conf(&self, images: &[String], os_repository: Option<&str>) -> String {
        let mut hosts: Vec<&str> = images.iter().map(|r| host_of(r)).collect();
        hosts.sort_unstable();
        hosts.dedup();
        let mut by_tag: Vec<&str> = images
            .iter()
            .filter_map(|r| match validate::reference_parts(r) {
                (repository, _, None) => Some(repository),
                _ => None,
            })
            .chain(os_repository)
            .collect();
        by_tag.sort_unstable();
        by_tag.dedup();
        let insecure = if self.insecure {
            "insecure = true\n"
        } else {
            ""
        };
        let mut out = format!(
            "# Written by cargo xtask: pulls go to the site mirror {} first.\n# mirror-by-digest-only: only pulls by digest are sent there (MicroShift's release\n# list names every image by digest); the repositories of images mirrored by tag (the OS\n# image's, workload images named by tag) mirror tags too (the longest prefix wins).\n",
            self.location
        );
        for host in hosts {
            out.push_str(&format!(
                "\n[[registry]]\nlocation = \"{host}\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"{}/{}\"\n{insecure}",
                self.location,
                host_component(host)
            ));
        }
        for repo in by_tag {
            out.push_str(&format!(
                "\n[[registry]]\nprefix = \"{repo}\"\nlocation = \"{repo}\"\n[[registry.mirror]]\nlocation = \"{}\"\n{insecure}",
                self.repository(repo)
            ));
        }
        out
    }
}

/// A source registry host as one path component of the mirror, one-to-one for the hosts a
/// reference can name: lower case (host names are case-blind), the port after `_`, which no
/// host name has (`127.0.0.1:5000` is `127.0.0.1_5000`, while `reg.example.com-5000` stays
/// itself), an IPv6 address as `ipv6-` and its colons as `-` (`[::1]:5000` is
/// `ipv6---1_5000`; a trailing `::` gets its implied `0`). The image's script
/// (`containerfiles/mirror/microshift-mirror-conf`) maps them the same way.
pub fn host_component(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let (addr, tail) = rest.split_once(']').unwrap_or((rest, ""));
            let addr = if addr.ends_with(':') {
                format!("{addr}0")
            } else {
                addr.to_string()
            };
            (
                format!("ipv6-{}", addr.replace(':', "-")),
                tail.strip_prefix(':'),
            )
        }
        None => match host.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (host.clone(), None),
        },
    };
    match port {
        Some(p) => format!("{name}_{p}"),
        None => name,
    }
}

/// Refuse sources whose registries would share a place in the mirror (two hosts that
/// differ in more than case, mapped to the same component).
pub fn distinct_hosts<'a>(hosts: impl IntoIterator<Item = &'a str>) -> anyhow::Result<()> {
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for host in hosts {
        let component = host_component(host);
        match seen.get(&component) {
            Some(other) if !other.eq_ignore_ascii_case(host) => {
                return Err(validate::refuse(format!(
                    "mirror: the registries {other} and {host} would share MIRROR/{component}: copy one of them into another mirror path (--to HOST/OTHER-PATH)"
                )))
            }
            Some(_) => {}
            None => {
                seen.insert(component, host.to_string());
            }
        }
    }
    Ok(())
}

/// The registry host of a full reference (`quay.io/a/b@sha256:...` is `quay.io`).
pub fn host_of(reference: &str) -> &str {
    reference.split('/').next().unwrap_or(reference)
}

/// A mirror location: `host[:port]` and an optional path, no scheme.
pub fn location(what: &str, value: &str) -> anyhow::Result<String> {
    if let Some((scheme, _)) = value.split_once("://") {
        return Err(bad(
            what,
            value,
            format!("give the mirror as host[:port][/path], without the '{scheme}://' scheme"),
        ));
    }
    let value = value.trim_end_matches('/');
    let (host, path) = match value.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (value, None),
    };
    validate::registry_url(what, host)
        .map_err(|_| bad(what, value, "not a registry host[:port][/path]"))?;
    if let Some(p) = path {
        validate::registry_org(what, p)?;
    }
    Ok(value.to_string())
}

/// A full image reference the mirror can map: a registry host first, a tag or a digest.
pub fn source_reference(what: &str, value: &str) -> anyhow::Result<String> {
    let value = validate::single_reference(what, value)?;
    let first = host_of(&value);
    let has_host =
        value.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if !has_host {
        return Err(bad(
            what,
            &value,
            "name the registry host too (e.g. quay.io/org/name@sha256:...): the mirror keeps each registry's images apart",
        ));
    }
    if first == "localhost" {
        return Err(bad(
            what,
            &value,
            "a local image is not in a registry: push it first",
        ));
    }
    Ok(value)
}

/// A PEM file holding at least one certificate (and no private key, of any form the public
/// key files are read for: it is built into the image and kickstarts too).
pub fn certificate(what: &str, path: &Utf8Path) -> anyhow::Result<()> {
    let bytes = validate::read_bounded(what, path, 1 << 20)?;
    if let Some(private) = crate::signing::keys::KeyFile::scan(&bytes).private() {
        return Err(bad(
            what,
            path.as_str(),
            format!("holds a private key ({private}): give the CA's certificate only"),
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("-----BEGIN CERTIFICATE-----") || !text.contains("-----END CERTIFICATE-----")
    {
        return Err(bad(
            what,
            path.as_str(),
            "is not a PEM certificate (no -----BEGIN CERTIFICATE----- block)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(location: &str) -> Mirror {
        Mirror {
            location: location.to_string(),
            auth: None,
            ca: None,
            insecure: false,
            what: "--to".to_string(),
            lookaside_dir: Utf8PathBuf::from("/srv/mirror-signatures"),
            lookaside_url: None,
        }
    }

    #[test]
    fn each_registry_has_its_own_place() {
        let m = mirror("mirror.example.com:8443/site");
        assert_eq!(
            m.destination("quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            "mirror.example.com:8443/site/quay.io/openshift-release-dev/ocp-v4.0-art-dev:mirrored-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        );
        assert_eq!(
            m.destination("127.0.0.1:5000/a/b:1.2"),
            "mirror.example.com:8443/site/127.0.0.1_5000/a/b:1.2"
        );
        assert_eq!(
            host_component("Registry.Example.COM"),
            "registry.example.com"
        );
        // a port is not a host name with a dash (issue 29): the two are two repositories
        assert_ne!(
            m.destination("reg.example.com:5000/a/b:1"),
            m.destination("reg.example.com-5000/a/b:1")
        );
        assert_eq!(
            host_component("reg.example.com-5000"),
            "reg.example.com-5000"
        );
        assert_eq!(
            host_component("reg.example.com:5000"),
            "reg.example.com_5000"
        );
        assert_eq!(host_component("[::1]:5000"), "ipv6---1_5000");
        assert_eq!(host_component("[FE80::]"), "ipv6-fe80--0");
        // every component is one a registry takes as a path component
        let grammar = |c: &str| {
            let mut prev_sep: Option<char> = None;
            let mut run = 0;
            for (i, ch) in c.chars().enumerate() {
                if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
                    if let Some(s) = prev_sep {
                        let ok = matches!((s, run), ('.', 1) | ('_', 1) | ('_', 2) | ('-', _));
                        if !ok {
                            return false;
                        }
                    }
                    prev_sep = None;
                    run = 0;
                } else if i == 0 || !matches!(ch, '.' | '_' | '-') {
                    return false;
                } else {
                    if prev_sep.is_some_and(|s| s != ch) {
                        return false;
                    }
                    prev_sep = Some(ch);
                    run += 1;
                }
            }
            prev_sep.is_none() && !c.is_empty()
        };
        for host in [
            "quay.io",
            "127.0.0.1:5000",
            "reg.example.com-5000",
            "[::1]:5000",
            "[2001:db8::]",
            "Example-Registry.IO:5000",
            "localhost:5000",
        ] {
            assert!(
                grammar(&host_component(host)),
                "{host}: {}",
                host_component(host)
            );
        }
    }

    #[test]
    fn sources_that_would_meet_are_refused() {
        assert!(distinct_hosts(["reg.example.com:5000", "reg.example.com-5000"]).is_ok());
        // the same registry spelt in two cases is one registry
        assert!(distinct_hosts(["Quay.io", "quay.io"]).is_ok());
        let e = distinct_hosts(["[fe80::1]:5000", "quay.io", "ipv6-fe80--1:5000"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[fe80::1]:5000") && e.contains("ipv6-fe80--1:5000"),
            "{e}"
        );
    }

    #[test]
    fn locations_and_references_are_checked() {
        assert!(location("--to", "https://mirror.local").is_err());
        assert!(location("--to", "mirror.local/Upper").is_err());
        assert_eq!(
            location("--to", "mirror.local:5000/site/").unwrap(),
            "mirror.local:5000/site"
        );
        assert!(source_reference("x", "busybox:1").is_err());
        assert!(source_reference("x", "localhost/a:1").is_err());
        assert!(source_reference("x", "quay.io/a/b:1").is_ok());
    }

    /// Review of issue 29: the CA is built into the image and kickstarts; a private key
    /// beside it is refused in the forms a public key file is read for.
    #[test]
    fn a_ca_with_a_private_key_is_refused() {
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .unwrap()
            .join(format!("xtask-mirror-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        for (name, extra, refused) in [
            ("ca.crt", "", false),
            (
                "pem.crt",
                "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
                true,
            ),
            (
                "spaced.crt",
                "-----BEGIN EC  PRIVATE  KEY-----\nAAAA\n-----END EC  PRIVATE  KEY-----\n",
                true,
            ),
            (
                "putty.crt",
                "PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\nAAAA\n",
                true,
            ),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, format!("{cert}{extra}")).unwrap();
            let got = certificate("--mirror-ca", &path);
            assert_eq!(got.is_err(), refused, "{name}: {got:?}");
            if refused {
                assert!(got.unwrap_err().to_string().contains("holds a private key"));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_drop_in_maps_each_registry_once() {
        let m = mirror("mirror.local:5000");
        let conf = m.registries_conf(
            &[
                "quay.io/a/b@sha256:1111111111111111111111111111111111111111111111111111111111111111".into(),
                "registry.redhat.io/c/d@sha256:2222222222222222222222222222222222222222222222222222222222222222".into(),
                "quay.io/org/app:v1".into(),
                "quay.io/org/app:v2".into(),
            ],
            Some("registry.example.com/org/os"),
        );
        assert_eq!(conf.matches("location = \"quay.io\"").count(), 1);
        assert!(conf.contains("location = \"mirror.local:5000/registry.redhat.io\""));
        assert!(conf.contains(
            "prefix = \"registry.example.com/org/os\"\nlocation = \"registry.example.com/org/os\"\n[[registry.mirror]]\nlocation = \"mirror.local:5000/registry.example.com/org/os\""
        ));
        assert!(!conf.contains("insecure"));
        // a workload image named by tag is pulled by tag: its repository mirrors tags
        // (issue 29), once for both tags; a repository named by digest only does not
        assert_eq!(
            conf.matches("prefix = \"quay.io/org/app\"\nlocation = \"quay.io/org/app\"\n[[registry.mirror]]\nlocation = \"mirror.local:5000/quay.io/org/app\"\n").count(),
            1,
            "{conf}"
        );
        assert!(!conf.contains("prefix = \"quay.io/a/b\""), "{conf}");
    }
}
