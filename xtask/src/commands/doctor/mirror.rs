//! `doctor --for mirror`: the mirror registry reachable with its credentials (and CA), the
//! release lists readable from the built image, every image `mirror` copies readable at its
//! source (the release lists', the extra images and the OS image list), and free space for
//! `mirror --to-dir`.

use camino::Utf8PathBuf;
use serde_json::Value;

use super::probe::*;
use super::{finding, DoctorArgs, Finding, Level};
use crate::commands::mirror::MirrorCmd;
use crate::config::Sources;
use crate::mirror::{Mirror, MirrorArgs};
use crate::validate;

/// What skopeo said when asked for a repository the mirror does not have: reachable, and
/// the credentials were taken (a registry answers "unauthorized" before "unknown").
const ANSWERED: [&str; 3] = ["manifest unknown", "name unknown", "not found"];

pub(super) fn checks(
    sources: &Sources,
    args: &DoctorArgs,
    pull_secret: Option<&Utf8PathBuf>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut site = None;
    match Mirror::resolve(&MirrorArgs::default(), sources) {
        Ok(Some(m)) => {
            out.push(reach(sources, &m));
            site = Some(m);
        }
        Ok(None) if args.to_dir.is_some() => {}
        Ok(None) => out.push(finding(
            "mirror",
            Level::Fail,
            "no mirror registry is configured",
            "set mirror.registry in the config file or MIRROR_REGISTRY (host[:port][/path])",
        )),
        Err(e) => out.push(finding(
            "mirror",
            Level::Fail,
            format!("{e:#}"),
            "fix the mirror's settings (mirror.registry, mirror.auth, mirror.ca)",
        )),
    }
    // the images: the release lists in the built image, the workload images
    let cmd = MirrorCmd {
        image_name: args.image_name.clone(),
        archs: args.arch.iter().cloned().collect(),
        ..MirrorCmd::default()
    };
    let mut read_from = Vec::new();
    let lists = match crate::commands::mirror::release_lists(&cmd, sources, &mut read_from) {
        Ok(l) => l,
        Err(e) => {
            out.push(finding(
                "mirror-list",
                Level::Fail,
                format!("{e:#}"),
                "`cargo xtask build` first, or run `mirror --release-list FILE`",
            ));
            return out;
        }
    };
    let mut refs: Vec<String> = lists
        .iter()
        .flat_map(|(_, doc)| {
            doc.get("images")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values().filter_map(Value::as_str).map(str::to_string))
        })
        .collect();
    let from_lists = refs.len();
    if let Ok((_, extra)) = sources.list(&crate::inputs::EMBED_IMAGES, &[]) {
        refs.extend(extra);
    }
    refs.sort();
    refs.dedup();
    // the OS image list, as `mirror` copies it: read with the registry's auth file
    let registry = crate::registry::RegistryArgs {
        auth_config: args.auth_config.clone(),
        ..Default::default()
    };
    let os = match crate::commands::mirror::os_image(args.image_name.as_deref(), &registry, sources)
    {
        Ok(os) => Some(os),
        Err(e) => {
            out.push(finding(
                "mirror-list",
                Level::Fail,
                format!("the OS image: {e:#}"),
                "fix the image's name and registry (image_name, registry_url, registry_org)",
            ));
            None
        }
    };
    refs.retain(|r| os.as_ref().is_none_or(|(o, _)| o != r));
    out.push(finding(
        "mirror-list",
        Level::Ok,
        format!(
            "{} images to mirror ({from_lists} from {}{})",
            refs.len() + usize::from(os.is_some()),
            read_from.join(", "),
            os.as_ref()
                .map(|(o, _)| format!("; the OS image list {o}"))
                .unwrap_or_default()
        ),
        "",
    ));
    if let Some(m) = &site {
        out.extend(signatures(sources, m, &refs));
    }
    let mut total: u64 = 0;
    let mut unreadable = Vec::new();
    for r in &refs {
        total = total.saturating_add(image_bytes(sources, pull_secret, r, &mut unreadable));
    }
    if let Some((o, auth)) = &os {
        total = total.saturating_add(image_bytes(sources, auth.as_ref(), o, &mut unreadable));
    }
    for u in &unreadable {
        out.push(finding(
            "mirror-source",
            Level::Fail,
            format!("cannot read {u}"),
            "`mirror` would fail on it: check the reference, the registry and the credentials (the pull secret, PULL_SECRET; for the OS image, the registry's auth file, AUTH_CONFIG)",
        ));
    }
    if unreadable.is_empty() {
        out.push(finding(
            "mirror-source",
            Level::Ok,
            format!(
                "every image is readable at its source ({}, lists with every platform)",
                validate::human(total)
            ),
            "",
        ));
    }
    if let Some(dir) = &args.to_dir {
        let path = Utf8PathBuf::from(dir);
        let (at, free) = free_space(path);
        out.push(match free {
            Free::Bytes(b) if b < total => finding(
                "mirror-space",
                Level::Fail,
                format!(
                    "the images take {}, {} free at {at}",
                    validate::human(total),
                    validate::human(b)
                ),
                "free space, or carry the images on a larger disk",
            ),
            Free::Bytes(b) => finding(
                "mirror-space",
                Level::Ok,
                format!(
                    "the images take {}; {} free at {at}",
                    validate::human(total),
                    validate::human(b)
                ),
                "",
            ),
            _ => finding(
                "mirror-space",
                Level::Warn,
                format!("the free space at {at} could not be read"),
                format!("make sure at least {} are free", validate::human(total)),
            ),
        });
    }
    out
}

/// The images of sources that keep their signatures at a lookaside (Red Hat's registries,
/// `mirror.source_lookasides`): devices read those signatures at the mirror's lookaside, so
/// `mirror` refuses to copy them without its URL. No row when there are none.
fn signatures(sources: &Sources, m: &Mirror, refs: &[String]) -> Option<Finding> {
    match crate::mirror::source_lookasides(&MirrorArgs::default(), sources) {
        Ok(l) => signatures_row(&l, m, refs),
        Err(e) => Some(finding(
            "mirror-signatures",
            Level::Fail,
            format!("{e:#}"),
            "fix mirror.source_lookasides (SCOPE=URL entries)",
        )),
    }
}

fn signatures_row(
    lookasides: &[crate::mirror::SourceLookaside],
    m: &Mirror,
    refs: &[String],
) -> Option<Finding> {
    let mut scopes: Vec<&str> = Vec::new();
    let mut count = 0;
    for r in refs {
        if let Some(s) = crate::mirror::source_of(lookasides, r) {
            count += 1;
            if !scopes.contains(&s.scope.as_str()) {
                scopes.push(&s.scope);
            }
        }
    }
    if count == 0 {
        return None;
    }
    let what = format!(
        "{count} {} of {} {} signatures at a lookaside",
        if count == 1 { "image" } else { "images" },
        scopes.join(", "),
        if count == 1 { "has its" } else { "have their" }
    );
    Some(match &m.lookaside_url {
        Some(url) => finding(
            "mirror-signatures",
            Level::Ok,
            format!(
                "{what}: `mirror` copies them into {}, which devices read at {url}",
                m.lookaside_dir
            ),
            "",
        ),
        None => finding(
            "mirror-signatures",
            Level::Fail,
            format!("{what}, which devices pulling them through the mirror read at the mirror's lookaside only: it has no URL (mirror.lookaside_url), and `mirror` refuses to copy them"),
            format!(
                "serve {} at the site and set mirror.lookaside_url to its URL",
                m.lookaside_dir
            ),
        ),
    })
}

/// Is the mirror reachable, and does it take the credentials? A repository it cannot have is
/// asked for: "unknown" is the answer of a registry that let us in.
fn reach(sources: &Sources, m: &Mirror) -> Finding {
    let mut a: Vec<String> = Vec::new();
    if let Some(c) = sources.registries_conf() {
        a.extend(["--registries-conf".to_string(), c.to_string()]);
    }
    a.extend(["inspect".to_string(), "--raw".to_string()]);
    if m.insecure {
        a.push("--tls-verify=false".to_string());
    }
    let cert_dir = sources.root.join("target/mirror/doctor-certs");
    if let Some(ca) = &m.ca {
        let _ = std::fs::create_dir_all(&cert_dir);
        if std::fs::copy(ca, cert_dir.join("ca.crt")).is_ok() {
            a.extend(["--cert-dir".to_string(), cert_dir.to_string()]);
        }
    }
    if let Some(auth) = &m.auth {
        a.extend(["--authfile".to_string(), auth.to_string()]);
    }
    a.push(format!("docker://{}/xtask-doctor/probe:none", m.location));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let Some(o) = output("skopeo", &refs) else {
        return finding(
            "mirror",
            Level::Fail,
            "skopeo is not installed",
            install_hint("skopeo", "skopeo"),
        );
    };
    let said = String::from_utf8_lossy(&o.stderr).to_lowercase();
    let creds = match &m.auth {
        Some(p) => format!("with {p}"),
        None => "with skopeo's own credentials (no mirror.auth)".to_string(),
    };
    if o.status.success() || ANSWERED.iter().any(|w| said.contains(w)) {
        finding(
            "mirror",
            Level::Ok,
            format!("{} answers {creds}", m.location),
            "",
        )
    } else if said.contains("unauthorized")
        || said.contains("authentication required")
        || said.contains("denied")
    {
        finding(
            "mirror",
            Level::Fail,
            format!("{} refuses the credentials ({creds})", m.location),
            format!(
                "`podman login --authfile FILE {}`, then mirror.auth or --mirror-auth FILE",
                m.host()
            ),
        )
    } else if said.contains("x509") || said.contains("certificate") {
        finding(
            "mirror",
            Level::Fail,
            format!(
                "{}: its TLS certificate is not trusted: {}",
                m.location,
                tool_error(said.lines().last().unwrap_or(""))
            ),
            "give the mirror's CA (mirror.ca, --mirror-ca FILE)",
        )
    } else {
        finding("mirror", Level::Fail, format!("{} cannot be reached: {}", m.location, tool_error(String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or(""))), "is the registry running, and its host and port right? A plain-HTTP lab registry needs mirror.insecure")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reviewer's finding, in doctor: Red Hat's images to mirror and no lookaside URL
    /// for the mirror fail, with the fix; with the URL they are ok; none, no row.
    #[test]
    fn red_hats_images_need_the_mirrors_lookaside() {
        let mut m = Mirror {
            location: "mirror.local/site".into(),
            auth: None,
            ca: None,
            insecure: false,
            lookaside_dir: "/srv/mirror-signatures".into(),
            lookaside_url: None,
            what: String::new(),
        };
        let l = crate::mirror::lookaside::redhat();
        let refs = [
            "registry.redhat.io/lvms4/op@sha256:22".to_string(),
            "quay.io/openshift-release-dev/x@sha256:11".to_string(),
        ];
        let row = signatures_row(&l, &m, &refs).unwrap();
        assert_eq!(row.status, Level::Fail);
        assert!(
            row.found
                .starts_with("1 image of registry.redhat.io has its signatures at a lookaside")
                && row.fix.contains("serve /srv/mirror-signatures at the site"),
            "{row:?}"
        );
        m.lookaside_url = Some("https://sigs.site.example".into());
        let row = signatures_row(&l, &m, &refs).unwrap();
        assert_eq!(row.status, Level::Ok, "{row:?}");
        assert!(signatures_row(&l, &m, &refs[1..]).is_none());
    }
}
