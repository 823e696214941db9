//! The documentation cannot drift from the tool: the command reference is what the command
//! line's model generates, every relative link and `#anchor` of README.md and docs/ resolves,
//! every page is in the book's SUMMARY.md, every command has a reference page that a
//! hand-written page links to, and every example command line in the pages parses with the
//! tool's own command line.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use camino::{Utf8Path, Utf8PathBuf};
use common::repo_root;

/// README.md and every Markdown file under docs/, relative to the repository.
fn pages() -> Vec<Utf8PathBuf> {
    let root = repo_root();
    let mut all = vec![Utf8PathBuf::from("README.md")];
    let pattern = root.join("docs/**/*.md");
    for p in glob::glob(pattern.as_str()).unwrap().flatten() {
        let p = Utf8PathBuf::from_path_buf(p).unwrap();
        all.push(p.strip_prefix(&root).unwrap().to_path_buf());
    }
    all.sort();
    all
}

/// The page's text outside fenced code blocks, code spans taken out (links in code are
/// examples, not links).
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if fenced {
            out.push('\n');
            continue;
        }
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of the page's inline links `[text](target)` and images.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut found = Vec::new();
    let bytes = prose.as_bytes();
    let mut i = 0;
    while let Some(at) = prose[i..].find("](") {
        let start = i + at + 2;
        let mut depth = 0;
        let mut end = start;
        while end < bytes.len() {
            match bytes[end] {
                b'(' => depth += 1,
                b')' if depth == 0 => break,
                b')' => depth -= 1,
                b'\n' => break,
                _ => {}
            }
            end += 1;
        }
        let target = prose[start..end].trim();
        // `[text](<a b.md>)`, `[text](url "title")`
        let target = match target.strip_prefix('<') {
            Some(rest) => rest.split('>').next().unwrap_or(""),
            None => target.split_whitespace().next().unwrap_or(""),
        };
        found.push(target.to_string());
        i = end.max(start);
    }
    found
}

/// The anchors a page's headings get (GitHub's and mdBook's rule for ASCII text: lower case,
/// letters, digits, `-` and `_` kept, spaces to `-`, the rest dropped; a repeated heading
/// gets `-1`, `-2`).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#').trim();
        let mut slug = String::new();
        for c in heading.chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                slug.push(c);
            } else if c == ' ' {
                slug.push('-');
            }
        }
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

#[test]
fn the_reference_is_what_the_command_line_generates() {
    let dir = repo_root().join(xtask::commands::docs::DIR);
    let pages = xtask::commands::docs::reference(&xtask::cli());
    let mut problems = Vec::new();
    for (name, text) in &pages {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(on_disk) if on_disk == *text => {}
            Ok(_) => problems.push(format!("{name}: differs")),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !pages.iter().any(|(n, _)| *n == name) {
            problems.push(format!("{name}: no command generates it"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/src/reference is out of date (run `cargo xtask docs`):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_link_and_anchor_resolves() {
    let root = repo_root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(root.join(&page)).unwrap();
        let dir = page.parent().unwrap_or(Utf8Path::new(""));
        for target in links(&text) {
            if target.is_empty() {
                problems.push(format!("{page}: an empty link"));
                continue;
            }
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                normalize(&dir.join(file))
            };
            let full = root.join(&path);
            if !full.exists() {
                problems.push(format!("{page}: {target}: {path} does not exist"));
                continue;
            }
            if let Some(anchor) = anchor {
                let Ok(text) = std::fs::read_to_string(&full) else {
                    problems.push(format!("{page}: {target}: an anchor in a directory"));
                    continue;
                };
                if !anchors(&text).contains(anchor) {
                    problems.push(format!("{page}: {target}: {path} has no heading #{anchor}"));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} links found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `a/b/../c` → `a/c`.
fn normalize(path: &Utf8Path) -> Utf8PathBuf {
    let mut out: Vec<&str> = Vec::new();
    for part in path.components() {
        match part.as_str() {
            "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    Utf8PathBuf::from(out.join("/"))
}

#[test]
fn every_page_is_in_the_summary_and_every_command_has_one() {
    let root = repo_root();
    let summary = std::fs::read_to_string(root.join("docs/src/SUMMARY.md"))
        .expect("docs/src/SUMMARY.md: the book's table of contents");
    let listed: BTreeSet<Utf8PathBuf> = links(&summary)
        .iter()
        .map(|l| normalize(&Utf8Path::new("docs/src").join(l)))
        .collect();
    let mut problems = Vec::new();
    for page in pages() {
        let name = page.as_str();
        if !name.starts_with("docs/src/") || name == "docs/src/SUMMARY.md" {
            continue;
        }
        if !listed.contains(&page) {
            problems.push(format!(
                "{page}: not in SUMMARY.md (unreachable in the book)"
            ));
        }
    }
    // every command: a reference page, linked from a hand-written page
    let hand: String = pages()
        .iter()
        .filter(|p| !p.as_str().starts_with(xtask::commands::docs::DIR))
        .map(|p| std::fs::read_to_string(root.join(p)).unwrap())
        .collect();
    for sub in xtask::cli().get_subcommands() {
        let name = sub.get_name();
        let page = format!("{}/{name}.md", xtask::commands::docs::DIR);
        if !root.join(&page).exists() {
            problems.push(format!("{name}: no reference page {page}"));
        }
        if !hand.contains(&format!("reference/{name}.md")) {
            problems.push(format!(
                "{name}: no hand-written page links to its reference (reference/{name}.md)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The words of a shell command line, as bash splits them (quotes, backslashes); `None` at
/// the first word that ends the command (`|`, `&&`, `;`, `#`, a redirection).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut has_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                has_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                has_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            c if c.is_whitespace() => {
                if has_word {
                    words.push(std::mem::take(&mut word));
                    has_word = false;
                }
            }
            '|' | ';' | '&' | '>' | '<' | '#' if !has_word => break,
            _ => {
                has_word = true;
                word.push(c);
            }
        }
    }
    if has_word {
        words.push(word);
    }
    words
}

/// Every `cargo xtask ...` line of the pages' shell examples (```bash, ```sh, ```console
/// blocks; a `\` at a line's end continues it), with its page and line.
fn examples() -> Vec<(String, Vec<String>)> {
    let root = repo_root();
    let mut found = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(root.join(&page)).unwrap();
        let mut shell = false;
        let mut fenced = false;
        let mut pending = String::new();
        for (n, line) in text.lines().enumerate() {
            let t = line.trim_start();
            if let Some(info) = t.strip_prefix("```") {
                fenced = !fenced;
                shell = fenced && matches!(info.trim(), "bash" | "sh" | "shell" | "console");
                continue;
            }
            if !shell {
                continue;
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            let full = format!("{pending}{line}");
            pending.clear();
            let mut words = shell_words(full.trim_start_matches("$ "));
            // `sudo`, `env`, `VAR=value` in front
            while let Some(first) = words.first() {
                let assignment = first.split_once('=').is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                if first == "sudo" || first == "env" || assignment {
                    words.remove(0);
                } else {
                    break;
                }
            }
            if words.len() >= 2 && words[0] == "cargo" && words[1] == "xtask" {
                found.push((format!("{page}:{}", n + 1), words[2..].to_vec()));
            }
        }
    }
    found
}

#[test]
fn every_example_command_line_parses() {
    let examples = examples();
    assert!(
        examples.len() > 20,
        "only {} examples found",
        examples.len()
    );
    let mut problems = Vec::new();
    for (at, words) in &examples {
        let args = std::iter::once("cargo xtask".to_string()).chain(words.iter().cloned());
        if let Err(e) = xtask::parse(args.map(std::ffi::OsString::from)) {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                continue;
            }
            let first = e.render().to_string();
            problems.push(format!(
                "{at}: cargo xtask {}: {}",
                words.join(" "),
                first.lines().next().unwrap_or("")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_is_a_front_page() {
    let size = std::fs::metadata(repo_root().join("README.md"))
        .unwrap()
        .len();
    assert!(
        size <= 12 * 1024,
        "README.md is {size} bytes: a front page stays under 12 KB (topics go to docs/src)"
    );
}

#[test]
fn the_link_and_example_readers_read_what_they_should() {
    assert_eq!(
        links("see [a](x.md#b) and `[c](nope.md)` and [d](<y z.md>) ![i](img.png \"t\")"),
        ["x.md#b", "y z.md", "img.png"]
    );
    let a = anchors("# `cargo xtask` rollout: waves!\n## Tests\n## Tests\n```\n# not\n```\n");
    assert!(a.contains("cargo-xtask-rollout-waves"), "{a:?}");
    assert!(a.contains("tests") && a.contains("tests-1") && !a.contains("not"));
    assert_eq!(
        shell_words(r#"cargo xtask upgrade --host 'a b' --image "x\"y" | jq . # c"#),
        ["cargo", "xtask", "upgrade", "--host", "a b", "--image", "x\"y"]
    );
}

/// The README's walk-through on a fresh clone: each line previews (`--dry-run`, no secret,
/// no host, nothing installed) without bad input, except where it needs what the reader
/// makes first: their Ansible inventory (`rollout --inventory`), the release built before
/// (`mirror`). A path in it that a fresh clone does not have is a dead end for a newcomer.
#[test]
fn the_readmes_walk_through_previews_on_a_fresh_clone() {
    let text = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let block = text
        .split("## Day 1 and day 2")
        .nth(1)
        .and_then(|t| t.split("## ").next())
        .expect("README.md has its walk-through");
    let dir = common::scratch("readme-walk-through");
    let mut seen = 0;
    for line in block.lines().filter(|l| l.starts_with("cargo xtask ")) {
        let words = shell_words(line.split(" #").next().unwrap());
        let mut c = common::isolated_xtask("/usr/bin:/bin");
        c.arg("--dry-run")
            .args(&words[2..])
            .env("HOME", dir.as_str())
            .env("XTASK_STATE_DIR", dir.join("state").as_str());
        let ran = common::Ran::of(c.output().unwrap());
        seen += 1;
        let theirs = ran.stderr.contains("--inventory") || ran.stderr.contains("built image");
        assert!(
            ran.code != 2 || theirs,
            "README.md: `{line}` is bad input on a fresh clone: {}",
            ran.stderr
        );
    }
    assert!(seen >= 8, "only {seen} lines in the README's walk-through");
}
