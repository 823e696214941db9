//! The GitHub Actions workflows: parsed as YAML (PyYAML, through python3), every
//! `cargo xtask` invocation parsed by the real command line model, secrets only through
//! `env:` and written to files, never echoed.

mod common;

use clap::Parser;
use common::{repo_root, require_tool};
use serde_json::Value;

fn load(name: &str) -> Option<Value> {
    if !require_tool("python3", "workflows") {
        return None;
    }
    let path = repo_root().join(".github/workflows").join(name);
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
            path.as_str(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named 'yaml'") {
        assert!(
            !common::in_ci(),
            "PyYAML is missing; scripts/test.sh installs it"
        );
        eprintln!("SKIPPED workflows: PyYAML is not installed (pip install pyyaml)");
        return None;
    }
    assert!(out.status.success(), "{name} is not valid YAML: {stderr}");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// Split one shell line into words: quotes and backslashes, up to a redirection or pipe.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => cur.extend(chars.next()),
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, '\\') => cur.extend(chars.next()),
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, '>' | '|' | ';' | '&') => break,
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every step of every job, with the job's name.
fn steps(doc: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (job, body) in doc["jobs"].as_object().unwrap() {
        for step in body["steps"].as_array().unwrap() {
            out.push((job.clone(), step.clone()));
        }
    }
    out
}

/// The `cargo xtask` invocations of a job, with `${{ matrix.arch }}` set to `arch`.
fn invocations(doc: &Value, job: &str, arch: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (j, step) in steps(doc) {
        if j != job {
            continue;
        }
        let Some(run) = step["run"].as_str() else {
            continue;
        };
        for line in run.replace("\\\n", " ").lines() {
            if let Some(i) = line.find("cargo xtask") {
                let line = line[i + "cargo xtask".len()..].replace("${{ matrix.arch }}", arch);
                out.push(words(&line));
            }
        }
    }
    out
}

fn check_secret_hygiene(name: &str, doc: &Value) {
    for (job, step) in steps(doc) {
        let run = step["run"].as_str().unwrap_or("");
        assert!(
            !run.contains("secrets."),
            "{name}/{job}: a secret is expanded into a script; pass it through env:"
        );
        // variables bound to secrets are only written to files with printf (a builtin)
        if let Some(env) = step["env"].as_object() {
            for (var, value) in env {
                if !value.as_str().unwrap_or("").contains("secrets.") {
                    continue;
                }
                for line in run.lines().filter(|l| l.contains(&format!("${var}"))) {
                    let ok = line.trim_start().starts_with("printf '%s' \"$")
                        && line.contains("> \"$RUNNER_TEMP/");
                    assert!(
                        ok,
                        "{name}/{job}: ${var} is used other than written to a file: {line}"
                    );
                    assert!(!line.contains("echo"), "{name}/{job}: ${var} echoed");
                }
            }
        }
    }
}

#[test]
fn image_workflow_runs_real_xtask_commands() {
    let Some(doc) = load("image.yml") else { return };
    check_secret_hygiene("image.yml", &doc);
    // one build job per architecture of the config file, on native runners
    let matrix = doc["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap();
    let archs: Vec<&str> = matrix.iter().map(|m| m["arch"].as_str().unwrap()).collect();
    let config =
        xtask::config::Config::load(&repo_root().join(xtask::config::CONFIG_FILE)).unwrap();
    assert_eq!(archs, config.get_list("architectures").unwrap().unwrap());
    for m in matrix {
        let labels = m["runner"].to_string();
        let native = if m["arch"] == "amd64" { "X64" } else { "ARM64" };
        assert!(labels.contains(native), "{m}");
    }
    assert_eq!(doc["jobs"]["manifest"]["needs"], "build");
    let mut seen = Vec::new();
    for (job, arch_list) in [("build", archs.clone()), ("manifest", vec!["amd64"])] {
        for arch in arch_list {
            for argv in invocations(&doc, job, arch) {
                let cli = xtask::Cli::try_parse_from(
                    std::iter::once("cargo xtask".to_string()).chain(argv.iter().cloned()),
                )
                .unwrap_or_else(|e| {
                    panic!(
                        "{job}: `cargo xtask {}` does not parse: {e}",
                        argv.join(" ")
                    )
                });
                seen.push(format!("{job}:{:?}", std::mem::discriminant(&cli.command)));
                if let Some(i) = argv.iter().position(|a| a == "--arch") {
                    if job == "build" {
                        assert_eq!(argv[i + 1], arch);
                    }
                }
            }
        }
    }
    let joined = invocations(&doc, "build", "amd64")
        .iter()
        .map(|a| a.join(" "))
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "doctor --for build",
        "--json build --arch amd64",
        "--json push --arch amd64",
    ] {
        assert!(
            joined.contains(needle),
            "the build job lacks `{needle}`:\n{joined}"
        );
    }
    let manifest = invocations(&doc, "manifest", "amd64");
    assert!(
        manifest.iter().any(|a| a.contains(&"manifest".to_string())),
        "{manifest:?}"
    );
}

#[test]
fn tests_workflow_runs_ci_run() {
    let Some(doc) = load("tests.yml") else { return };
    check_secret_hygiene("tests.yml", &doc);
    let runs: Vec<String> = steps(&doc)
        .into_iter()
        .filter_map(|(_, s)| s["run"].as_str().map(str::to_string))
        .collect();
    assert!(runs.iter().any(|r| r.contains("bash .ci/run")), "{runs:?}");
    // .ci/run calls the README's test command
    let ci = std::fs::read_to_string(repo_root().join(".ci/run")).unwrap();
    assert!(ci.contains("scripts/test.sh"));
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(readme.contains("sudo scripts/test.sh"));
}

#[test]
fn shell_words() {
    assert_eq!(
        words(r#" --json build --arch amd64 --pull-secret "$RUNNER_TEMP/p.json" > b.json"#),
        [
            "--json",
            "build",
            "--arch",
            "amd64",
            "--pull-secret",
            "$RUNNER_TEMP/p.json"
        ]
    );
    assert_eq!(words("a 'b c' \"d\\\"e\" ''"), ["a", "b c", "d\"e", ""]);
}

/// Every workflow passes GitHub's own workflow schema (check-jsonschema ships it).
#[test]
fn workflows_match_githubs_schema() {
    if !require_tool("check-jsonschema", "workflows_match_githubs_schema") {
        return;
    }
    let dir = repo_root().join(".github/workflows");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let out = std::process::Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // and the check fails on a workflow GitHub would refuse
    let bad = common::scratch("workflow-schema").join("bad.yml");
    std::fs::write(
        &bad,
        "name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n",
    )
    .unwrap();
    let out = std::process::Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows", bad.as_str()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a misspelt key passed the schema");
}
