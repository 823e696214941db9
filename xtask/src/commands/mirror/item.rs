//! One image of `mirror`'s plan: its digest (known, or read at the source), the question
//! whether the destination has it (by its tag there, the digest compared), its copy, the
//! read-back, the check of a signed OS image's signatures and a list's images' bytes.

use camino::Utf8PathBuf;

use super::{Dest, Item, Kind, MirrorPlan, Mode};
use crate::mirror;
use crate::plan::{name, Check, ResultShell, Stdin, Step, Want, When, SHELL_DIGEST};
use crate::validate;

impl MirrorPlan {
    /// The steps of image `n` (of the plan's images, copied into `target`), and the digest
    /// it is copied with (a `--to-dir` manifest names it).
    pub(super) fn item_steps(&self, n: usize, item: &Item, target: &str) -> (Vec<Step>, Want) {
        let total = self.items.len();
        let dest = self.destination(item);
        let label = format!("image {n}/{total}");
        let mut steps = Vec::new();
        // the digest: known, or read from the source first
        let (want, src) = match (&item.digest, &self.mode) {
            (Some(d), Mode::FromDir(dir)) => {
                let src = dir.join(item.dir.as_deref().unwrap_or_default());
                // the carried copy is what its manifest says, before anything is copied
                steps.push(
                    self.skopeo(
                        name(format!("load-{n}")),
                        format!(
                            "{label}: check the carried copy of {} is {d}",
                            item.reference
                        ),
                    )
                    .args(["inspect", "--raw"])
                    .arg(format!("dir:{src}"))
                    .read_only()
                    .check(Check::Manifest {
                        reference: src.to_string(),
                        want: Some(Want::Digest(d.clone())),
                        of: None,
                    })
                    .hint(format!(
                        "the directory's copy of {} is not what {} says: carry the directory again",
                        item.reference,
                        mirror::DIR_MANIFEST
                    )),
                );
                (Want::Digest(d.clone()), format!("dir:{src}"))
            }
            (Some(d), _) => {
                let repo = validate::reference_parts(&item.reference).0;
                (Want::Digest(d.clone()), format!("docker://{repo}@{d}"))
            }
            (None, _) => {
                let var = name(format!("SOURCE_DIGEST_{n}"));
                let mut read = self
                    .skopeo(
                        name(format!("source-{n}")),
                        format!("{label}: read the digest of {}", item.reference),
                    )
                    .args(["inspect", "--raw"]);
                if let Some(a) = self.src_auth(item) {
                    read = read.args(["--authfile", a.as_str()]);
                }
                steps.push(
                    read.arg(format!("docker://{}", item.reference))
                        .read_only()
                        .check(Check::Manifest { reference: item.reference.clone(), want: None, of: None })
                        .result_var(var, "digest", ResultShell::Stdout(SHELL_DIGEST.to_string()))
                        .retries(3, 5)
                        .hint_when("unauthorized", self.unauthorized(item))
                        .hint(format!("can {} be read? The pull secret (PULL_SECRET) or the registry's auth file must hold its registry's credentials; `cargo xtask doctor --for mirror` checks every image", item.reference)),
                );
                let repo = validate::reference_parts(&item.reference).0;
                (Want::Var(var), format!("docker://{repo}@${{{var}}}"))
            }
        };
        // the copy in a registry is asked for by its tag there (the source's, or
        // mirrored-<hex>) and must be that digest: a tag that moved, at the source or in
        // the mirror, is copied again
        let at = match &dest {
            Dest::Registry { to, .. } => {
                format!(":{}", validate::reference_parts(to).1.unwrap_or("latest"))
            }
            Dest::Dir(_) => String::new(),
        };
        let there = name(format!("there-{n}"));
        let copy = name(format!("copy-{n}"));
        let shown_dest = match &dest {
            Dest::Registry { to, .. } => to.clone(),
            Dest::Dir(d) => d.to_string(),
        };
        steps.push(
            self.inspect_dest(
                there,
                format!("{label}: is {} in {target} already?", item.reference),
                &dest,
                &at,
                Some(want.clone()),
                &item.reference,
            )
            .probe(),
        );
        // the signed OS image: its copy must be signed, checked with the public key, or
        // it is copied again
        let signed = self.checks_signature(item);
        let copy_when = if signed {
            let sig_there = name(format!("signature-there-{n}"));
            steps.push(
                self.signature_check(
                    sig_there,
                    format!("{label}: is its copy signed already?"),
                    item,
                    &dest,
                    &want,
                )
                .probe(),
            );
            When::AnyOf(vec![When::IfFailed(there), When::IfFailed(sig_there)])
        } else {
            When::IfFailed(there)
        };
        let mut c = self
            .skopeo(
                copy,
                format!("{label}: copy {} to {shown_dest}", item.reference),
            )
            .args(["copy", "--all", "--preserve-digests", "--retry-times", "3"]);
        if let (Some(a), false) = (self.src_auth(item), matches!(self.mode, Mode::FromDir(_))) {
            c = c.args(["--src-authfile", a.as_str()]);
        }
        let dest_arg = match &dest {
            Dest::Registry { to, .. } => {
                let m = self.mirror.as_ref().expect("a registry mode has a mirror");
                c = c.args(m.tls_args("--dest-", &self.cert_dir));
                if let Some(a) = &m.auth {
                    c = c.args(["--dest-authfile", a.as_str()]);
                }
                format!("docker://{to}")
            }
            Dest::Dir(d) => format!("dir:{d}"),
        };
        c = match &want {
            Want::Var(var) => {
                let repo = validate::reference_parts(&item.reference).0;
                c.var_arg(&format!("docker://{repo}@"), var)
            }
            Want::Digest(_) => c.arg(src.clone()),
        };
        let hint = match item.kind {
            Kind::Os => format!("can the OS image {} be read (the registry's auth file), and written to {target}?", item.reference),
            _ => format!("can {} be read (PULL_SECRET must hold its registry's credentials), and {target} written{}? `cargo xtask doctor --for mirror` checks both", item.reference, if self.mirror.as_ref().is_some_and(|m| m.auth.is_none()) { " (no --mirror-auth given: skopeo's own credentials are used)" } else { "" }),
        };
        steps.push(
            c.arg(dest_arg)
                .when(copy_when)
                .skip_note(format!("{} is in {target} already", item.reference))
                .hint(hint)
                .hint_when("unauthorized", self.unauthorized(item))
                .hint_when("manifest unknown", format!("{} is not in its registry (any more): take it out of the list, or fix the reference", item.reference))
                .hint_when("name unknown", format!("{} is not in its registry: take it out of the list, or fix the reference", item.reference)),
        );
        // read back as it was asked for; a list's images are read next, for their bytes
        let members = name(format!("MEMBERS_{n}"));
        steps.push(
            self.inspect_dest(
                name(format!("verify-{n}")),
                format!("{label}: read {shown_dest} back, its digest checked"),
                &dest,
                &at,
                Some(want.clone()),
                &item.reference,
            )
            .result_var(
                members,
                "member_digests",
                ResultShell::Stdout("jq -r '.manifests[]?.digest'".to_string()),
            )
            .when(When::IfSucceeded(copy)),
        );
        if signed {
            let key = self.signing.as_ref().map_or("", |s| s.public_key_str());
            steps.push(
                self.signature_check(
                    name(format!("signature-{n}")),
                    match dest {
                        Dest::Registry { .. } => format!(
                            "{label}: check the signatures of its copy (every image in it) with {key}"
                        ),
                        Dest::Dir(_) => {
                            format!("{label}: check the signature of its copy with {key}")
                        }
                    },
                    item,
                    &dest,
                    &want,
                )
                .when(When::IfSucceeded(copy))
                .done(crate::plan::Done::Say(format!(
                    "ok: the copy of {} in {target} is signed with {key}",
                    item.reference
                ))),
            );
        }
        steps.push(
            self.members_step(
                name(format!("members-{n}")),
                format!("{label}: if it is a list, add up its images' bytes"),
                item,
                &dest,
                members,
            )
            .when(When::IfSet(members)),
        );
        (steps, want)
    }

    /// The source's credentials.
    fn src_auth(&self, item: &Item) -> Option<&Utf8PathBuf> {
        match item.kind {
            Kind::Os => self.os_auth.as_ref(),
            _ => self.pull_secret.as_ref(),
        }
    }

    /// `skopeo inspect --raw` of the destination, judged by digest.
    fn inspect_dest(
        &self,
        id: &'static str,
        about: String,
        dest: &Dest,
        at: &str,
        want: Option<Want>,
        of: &str,
    ) -> Step {
        let mut step = self.skopeo(id, about).arg("inspect").arg("--raw");
        let (target, shown) = match dest {
            Dest::Registry { repo, .. } => {
                let m = self.mirror.as_ref().expect("a registry mode has a mirror");
                step = step.args(m.tls_args("--", &self.cert_dir));
                if let Some(a) = &m.auth {
                    step = step.args(["--authfile", a.as_str()]);
                }
                (format!("docker://{repo}{at}"), format!("{repo}{at}"))
            }
            Dest::Dir(d) => (format!("dir:{d}"), d.to_string()),
        };
        step.arg(target).read_only().check(Check::Manifest {
            reference: shown,
            want,
            of: Some(of.to_string()),
        })
    }

    /// `skopeo inspect --raw` of each image of a list that was copied (their digests, one a
    /// line, in `var`), one after the other through xargs: in the mirror, or (a directory)
    /// at the source.
    fn members_step(
        &self,
        id: &'static str,
        about: String,
        item: &Item,
        dest: &Dest,
        var: &'static str,
    ) -> Step {
        let mut step = Step::new(id, about, "xargs")
            .args(["-r", "-I{}", "skopeo"])
            .args(self.skopeo_globals())
            .args(["inspect", "--raw"]);
        let repo = match dest {
            Dest::Registry { repo, .. } => {
                let m = self.mirror.as_ref().expect("a registry mode has a mirror");
                step = step.args(m.tls_args("--", &self.cert_dir));
                if let Some(a) = &m.auth {
                    step = step.args(["--authfile", a.as_str()]);
                }
                repo.clone()
            }
            Dest::Dir(_) => {
                if let Some(a) = self.src_auth(item) {
                    step = step.args(["--authfile", a.as_str()]);
                }
                validate::reference_parts(&item.reference).0.to_string()
            }
        };
        step.arg(format!("docker://{repo}@{{}}"))
            .stdin(Stdin::Template(format!("${{{var}}}")))
            .read_only()
            .check(Check::Manifests {
                reference: item.reference.clone(),
            })
    }

    /// The hint when a registry refused the credentials.
    fn unauthorized(&self, item: &Item) -> String {
        let source = match item.kind {
            Kind::Os => "the registry's auth file (--auth-config, AUTH_CONFIG, registry_auth)",
            _ => "the pull secret (PULL_SECRET)",
        };
        format!(
            "a registry asked for credentials: {source} must hold {}'s, and --mirror-auth the mirror's (`podman login --authfile FILE REGISTRY` writes them)",
            mirror::host_of(&item.reference)
        )
    }
}
