//! Signatures through the mirror: the source registries that keep their images' signatures
//! at a lookaside (Red Hat's, as RHEL configures them, and `mirror.source_lookasides`), the
//! registries.d `mirror` hands skopeo (signatures read at the sources, written into the
//! mirror's lookaside directory), and the entry devices and the installer get for the mirror.
//!
//! containers/image reads the signatures of an image pulled through a mirror at the
//! registries.d entry of the *mirror's* location (the physical reference: its docker client
//! is made for the pull source, `newImageSourceAttempt` in `docker/docker_image_src.go`),
//! never at the source registry's entry, and checks them against the name asked for (the
//! logical reference). With no entry for the mirror it reads the built-in default,
//! `/var/lib/containers/sigstore`. So Red Hat's signatures, which RHEL's policy requires for
//! `registry.redhat.io` and `registry.access.redhat.com`, must be in the mirror's lookaside,
//! served at `mirror.lookaside_url`, and the device's entry for the mirror must read there.
//!
//! Every lookaside is written under both spellings of its keys: `lookaside` and
//! `lookaside-staging` (containers/image 5.22 and later, which read them first) and
//! `sigstore` and `sigstore-staging` (the only ones before 5.22, e.g. RHEL 9.0's skopeo);
//! both name the same place, so every version reads and writes the same files.

use crate::config::Sources;
use crate::signing::{Method, Signing};
use crate::validate::bad;

use super::{Mirror, MirrorArgs};

/// Where RHEL reads Red Hat's signatures (its /etc/containers/registries.d defaults).
pub const REDHAT_LOOKASIDE: &str = "https://registry.redhat.io/containers/sigstore";
pub const ACCESS_LOOKASIDE: &str = "https://access.redhat.com/webassets/docker/content/sigstore";

/// A source registry (or a namespace of one) that keeps its images' signatures at a
/// lookaside, as Red Hat's registries do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLookaside {
    /// `host[:port][/path]`: a registries.d namespace.
    pub scope: String,
    /// Where its signatures are read.
    pub url: String,
}

/// Red Hat's registries and their lookasides.
pub fn redhat() -> Vec<SourceLookaside> {
    [
        ("registry.redhat.io", REDHAT_LOOKASIDE),
        ("registry.access.redhat.com", ACCESS_LOOKASIDE),
    ]
    .into_iter()
    .map(|(scope, url)| SourceLookaside {
        scope: scope.to_string(),
        url: url.to_string(),
    })
    .collect()
}

/// The sources whose signatures `mirror` carries: Red Hat's, and those of
/// `--source-lookaside` / `mirror.source_lookasides` (`SCOPE=URL`; one naming a scope of
/// Red Hat's replaces its URL).
pub fn source_lookasides(
    args: &MirrorArgs,
    sources: &Sources,
) -> anyhow::Result<Vec<SourceLookaside>> {
    let (what, given) = sources.list(
        &crate::inputs::MIRROR_SOURCE_LOOKASIDES,
        &args.source_lookasides,
    )?;
    let mut out = redhat();
    for raw in given {
        let raw = raw.trim();
        let Some((scope, url)) = raw.split_once('=') else {
            return Err(bad(
                &what,
                raw,
                "give SCOPE=URL: a source registry or namespace (host[:port][/path]) and the http(s) URL of its lookaside",
            ));
        };
        let scope = super::location(&what, scope.trim())
            .map_err(|_| bad(&what, raw, "the scope is not a registry host[:port][/path]"))?;
        let url = crate::signing::lookaside_url(&what, url.trim())?;
        out.retain(|s| s.scope != scope);
        out.push(SourceLookaside { scope, url });
    }
    Ok(out)
}

/// The source lookaside an image's signatures are read at: the longest scope that is its
/// repository or a namespace above it (containers/image's order: the repository, then each
/// parent namespace up to the registry), scopes compared as written.
pub fn source_of<'a>(
    lookasides: &'a [SourceLookaside],
    reference: &str,
) -> Option<&'a SourceLookaside> {
    let repository = crate::validate::reference_parts(reference).0;
    lookasides
        .iter()
        .filter(|s| {
            repository == s.scope
                || repository
                    .strip_prefix(s.scope.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|s| s.scope.len())
}

/// One namespace of a registries.d document.
#[derive(Clone, Debug, Default)]
struct Entry {
    /// Where signatures are read (and written, without `staging`).
    read: Option<String>,
    /// Where signatures are written.
    staging: Option<String>,
    /// Sigstore attachments in the registry, beside each image.
    attachments: bool,
}

/// A registries.d document: `head` (comment lines), then each namespace in order, quoted
/// (an IPv6 host's `[` would start a YAML list).
fn render(head: &str, entries: &[(String, Entry)]) -> String {
    let mut out = format!("{head}docker:\n");
    for (scope, e) in entries {
        out.push_str(&format!("  \"{scope}\":\n"));
        if let Some(r) = &e.read {
            out.push_str(&format!("    lookaside: {r}\n    sigstore: {r}\n"));
        }
        if let Some(s) = &e.staging {
            out.push_str(&format!(
                "    lookaside-staging: {s}\n    sigstore-staging: {s}\n"
            ));
        }
        if e.attachments {
            out.push_str("    use-sigstore-attachments: true\n");
        }
    }
    out
}

/// The entry of `scope`, added last when it is not there (one namespace, one entry:
/// containers/image refuses a namespace defined twice).
fn entry<'a>(entries: &'a mut Vec<(String, Entry)>, scope: &str) -> &'a mut Entry {
    let at = match entries.iter().position(|(s, _)| s == scope) {
        Some(i) => i,
        None => {
            entries.push((scope.to_string(), Entry::default()));
            entries.len() - 1
        }
    };
    &mut entries[at].1
}

/// The registries.d of a `mirror` run whose signatures travel (signing configured, or an
/// image of a source with a lookaside): where signatures are read — each source lookaside
/// (Red Hat's registries, as RHEL configures them), the signed OS image's `scope` (gpg:
/// `signing.lookaside_url`; sigstore: attachments) — and, copying into a registry (`into`),
/// where the copies' go and are read back by the check of the OS image's copy: lookaside
/// signatures (gpg's, Red Hat's), whatever the signing method, into the mirror's lookaside
/// directory, read at `mirror.lookaside_url` when it is known (as devices read them: a
/// lookaside server that is down, or serves another directory, fails the check instead of the
/// devices), else in the directory; with signing, sigstore attachments into the mirror. A
/// `dir:` copy keeps lookaside signatures in the image's directory. (`scope` is "" when
/// the OS image is not copied.)
pub fn copy_registries_d(
    signing: Option<&Signing>,
    scope: &str,
    lookasides: &[SourceLookaside],
    into: Option<&Mirror>,
) -> String {
    let mut entries: Vec<(String, Entry)> = Vec::new();
    for s in lookasides {
        entry(&mut entries, &s.scope).read = Some(s.url.clone());
    }
    if let (Some(signing), false) = (signing, scope.is_empty()) {
        match (signing.method, &signing.lookaside_url) {
            (Method::Gpg, Some(url)) => entry(&mut entries, scope).read = Some(url.clone()),
            (Method::Gpg, None) => {}
            (Method::Sigstore, _) => entry(&mut entries, scope).attachments = true,
        }
    }
    if let Some(m) = into {
        let e = entry(&mut entries, &m.location);
        e.read = Some(match &m.lookaside_url {
            Some(url) => url.clone(),
            None => format!("file://{}", m.lookaside_dir),
        });
        e.staging = Some(format!("file://{}", m.lookaside_dir));
        e.attachments = signing.is_some();
    }
    let head = format!(
        "# Written by cargo xtask mirror: where the signatures of the images it copies are read{}\n",
        if into.is_some() { " and written" } else { "" }
    );
    render(&head, &entries)
}

impl Mirror {
    /// The registries.d entry of the mirror that devices (the image) and the installer get:
    /// containers/image reads the signatures of what it pulls through the mirror at the
    /// mirror's entry, and checks them against the name asked for. It reads lookaside
    /// signatures (gpg's, Red Hat's) at `mirror.lookaside_url` when it is known, and, with
    /// signing enforced (`method`), sigstore attachments in the mirror. `None` when there is
    /// nothing to say (no lookaside URL, no signing). gpg without the URL is the caller's to
    /// refuse: nothing a device could read.
    pub fn device_registries_d(&self, method: Option<Method>) -> Option<String> {
        let e = Entry {
            read: self.lookaside_url.clone(),
            staging: None,
            attachments: method.is_some(),
        };
        if e.read.is_none() && !e.attachments {
            return None;
        }
        let head = format!(
            "# Written by cargo xtask: signatures of images pulled through the mirror {}\n",
            self.location
        );
        Some(render(&head, &[(self.location.clone(), e)]))
    }

    /// Where the lookaside signatures of a repository in the mirror are kept, in
    /// containers/image's lookaside layout: `<this>@sha256=<hex>/signature-<n>`.
    pub fn signature_path(&self, mirrored_repository: &str) -> camino::Utf8PathBuf {
        let path = mirrored_repository
            .split_once('/')
            .map_or(mirrored_repository, |(_, p)| p);
        self.lookaside_dir.join(path)
    }

    /// A refusal when devices pulling `unverifiable` (images of sources that keep their
    /// signatures at a lookaside, each with its source) through the mirror could read no
    /// signature of them: the mirror has no lookaside URL.
    pub fn refuse_without_lookaside(
        &self,
        unverifiable: &[(&str, &SourceLookaside)],
    ) -> anyhow::Result<()> {
        let (Some((first, source)), None) = (unverifiable.first(), &self.lookaside_url) else {
            return Ok(());
        };
        let more = match unverifiable.len() {
            1 => String::new(),
            n => format!(" (and {} more such images)", n - 1),
        };
        Err(crate::validate::refuse(format!(
            "{}: missing; {first}{more} has its signatures at a lookaside ({} for {}), and devices pulling it through the mirror read them at the mirror's lookaside only (RHEL's policy requires Red Hat's signatures): serve {} at the site and give its URL (mirror.lookaside_url)",
            crate::inputs::MIRROR_LOOKASIDE_URL.flag,
            source.url,
            source.scope,
            self.lookaside_dir
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camino::Utf8PathBuf;

    fn mirror(url: Option<&str>) -> Mirror {
        Mirror {
            location: "mirror.local:5000/site".to_string(),
            auth: None,
            ca: None,
            insecure: false,
            what: "--to".to_string(),
            lookaside_dir: Utf8PathBuf::from("/srv/mirror-signatures"),
            lookaside_url: url.map(str::to_string),
        }
    }

    fn signing(method: Method) -> Signing {
        Signing {
            method,
            signer: None,
            passphrase: None,
            public_key: None,
            lookaside_dir: Utf8PathBuf::from("/srv/sigs"),
            lookaside_url: (method == Method::Gpg).then(|| "https://sigs.example.com".to_string()),
            accept_unsigned: Vec::new(),
            accept_unsigned_from: String::new(),
            dir: Utf8PathBuf::from("/unused"),
            owner: None,
        }
    }

    /// The namespace `scope`'s lines in a registries.d document.
    fn entry_of(doc: &str, scope: &str) -> String {
        let head = format!("  \"{scope}\":\n");
        let start = doc.find(&head).unwrap_or_else(|| panic!("{scope}:\n{doc}")) + head.len();
        doc[start..]
            .lines()
            .take_while(|l| l.starts_with("    "))
            .map(|l| format!("{}\n", l.trim()))
            .collect()
    }

    /// The reviewer's finding: with sigstore signing, or none, Red Hat's signatures went to
    /// the host's default directory and devices read none. Whatever the method, lookaside
    /// signatures go into the mirror's lookaside directory, read back where devices read them.
    #[test]
    fn lookaside_signatures_go_into_the_mirror_for_every_method() {
        let url = "https://mirror-sigs.site.example";
        for method in [None, Some(Method::Gpg), Some(Method::Sigstore)] {
            let s = method.map(signing);
            let doc = copy_registries_d(
                s.as_ref(),
                "quay.io/org",
                &redhat(),
                Some(&mirror(Some(url))),
            );
            assert_eq!(
                entry_of(&doc, "registry.redhat.io"),
                format!("lookaside: {REDHAT_LOOKASIDE}\nsigstore: {REDHAT_LOOKASIDE}\n"),
                "{method:?}"
            );
            assert!(entry_of(&doc, "registry.access.redhat.com").contains(ACCESS_LOOKASIDE));
            let m = entry_of(&doc, "mirror.local:5000/site");
            for line in [
                format!("lookaside: {url}"),
                format!("sigstore: {url}"),
                "lookaside-staging: file:///srv/mirror-signatures".to_string(),
                "sigstore-staging: file:///srv/mirror-signatures".to_string(),
            ] {
                assert!(
                    m.contains(&format!("{line}\n")),
                    "{method:?}: {line}\n{doc}"
                );
            }
            assert_eq!(
                m.contains("use-sigstore-attachments: true"),
                method.is_some(),
                "{method:?}\n{doc}"
            );
            match method {
                Some(Method::Gpg) => {
                    assert!(entry_of(&doc, "quay.io/org")
                        .contains("lookaside: https://sigs.example.com\n"))
                }
                Some(Method::Sigstore) => assert_eq!(
                    entry_of(&doc, "quay.io/org"),
                    "use-sigstore-attachments: true\n"
                ),
                None => assert!(!doc.contains("quay.io/org"), "{doc}"),
            }
        }
        // without the site's URL the copies are read back from the directory; into a
        // carried directory nothing is written to the mirror's
        let doc = copy_registries_d(None, "", &redhat(), Some(&mirror(None)));
        assert!(entry_of(&doc, "mirror.local:5000/site")
            .starts_with("lookaside: file:///srv/mirror-signatures\n"));
        let doc = copy_registries_d(None, "", &redhat(), None);
        assert!(
            !doc.contains("mirror.local") && !doc.contains("staging"),
            "{doc}"
        );
    }

    /// A source lookaside naming the signed OS image's scope shares its one entry.
    #[test]
    fn one_namespace_one_entry() {
        let mut l = redhat();
        l.push(SourceLookaside {
            scope: "quay.io/org".into(),
            url: "https://other.example.com".into(),
        });
        let doc = copy_registries_d(
            Some(&signing(Method::Sigstore)),
            "quay.io/org",
            &l,
            Some(&mirror(None)),
        );
        assert_eq!(doc.matches("\"quay.io/org\":").count(), 1, "{doc}");
        assert_eq!(
            entry_of(&doc, "quay.io/org"),
            "lookaside: https://other.example.com\nsigstore: https://other.example.com\nuse-sigstore-attachments: true\n"
        );
    }

    /// The device's (and the installer's) entry for the mirror, for each method: the
    /// mirror's lookaside whenever its URL is known (Red Hat's signatures, gpg's), sigstore
    /// attachments with signing enforced (the sigstore-signed OS image).
    #[test]
    fn the_devices_entry_for_the_mirror() {
        let url = "https://mirror-sigs.site.example";
        let with = mirror(Some(url));
        let lookaside = format!("lookaside: {url}\nsigstore: {url}\n");
        for (method, want) in [
            (None, lookaside.clone()),
            (
                Some(Method::Gpg),
                format!("{lookaside}use-sigstore-attachments: true\n"),
            ),
            (
                Some(Method::Sigstore),
                format!("{lookaside}use-sigstore-attachments: true\n"),
            ),
        ] {
            let doc = with.device_registries_d(method).unwrap();
            assert_eq!(entry_of(&doc, "mirror.local:5000/site"), want, "{method:?}");
        }
        let without = mirror(None);
        assert_eq!(without.device_registries_d(None), None);
        assert_eq!(
            entry_of(
                &without.device_registries_d(Some(Method::Sigstore)).unwrap(),
                "mirror.local:5000/site"
            ),
            "use-sigstore-attachments: true\n"
        );
    }

    #[test]
    fn which_source_an_image_is_of() {
        let mut l = redhat();
        l.push(SourceLookaside {
            scope: "registry.redhat.io/lvms4".into(),
            url: "https://lvms.example.com".into(),
        });
        let of = |r: &str| source_of(&l, r).map(|s| s.url.as_str());
        assert_eq!(
            of("registry.redhat.io/rhel9/rhel-bootc@sha256:00"),
            Some(REDHAT_LOOKASIDE)
        );
        assert_eq!(
            of("registry.redhat.io/lvms4/op:1"),
            Some("https://lvms.example.com")
        );
        assert_eq!(of("registry.redhat.io.example.com/a/b:1"), None);
        assert_eq!(of("quay.io/openshift-release-dev/x@sha256:00"), None);
    }

    #[test]
    fn the_refusal_names_the_image_and_the_fix() {
        let l = redhat();
        let m = mirror(None);
        let e = m
            .refuse_without_lookaside(&[("registry.redhat.io/a/b@sha256:00", &l[0])])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--mirror-lookaside-url: missing; registry.redhat.io/a/b@sha256:00 has its signatures at a lookaside (https://registry.redhat.io/containers/sigstore for registry.redhat.io)")
                && e.contains("serve /srv/mirror-signatures at the site"),
            "{e}"
        );
        assert!(mirror(Some("https://x.example"))
            .refuse_without_lookaside(&[("registry.redhat.io/a/b:1", &l[0])])
            .is_ok());
    }
}
