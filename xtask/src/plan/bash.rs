//! A plan as a bash script (`--dry-run`): the same steps in the same order, under the same
//! conditions, stopping where the tool stops; secrets only as `${NAME}` references.

use super::{
    Arg, Effect, Extract, OnFail, Output, Plan, Recording, ResultShell, ResultVar, Stdin, Step,
    When,
};
use crate::validate::escape_controls;

impl Arg {
    /// The same as one bash word: literal parts quoted, the reference in double quotes.
    pub fn shell(&self) -> String {
        match self {
            Arg::Lit(x) => quote(x),
            Arg::SecretFile {
                prefix,
                name,
                suffix,
                ..
            } => format!(
                "{}\"${{{name}_FILE}}\"{}",
                quote_prefix(prefix),
                quote_prefix(suffix)
            ),
            Arg::Var {
                prefix,
                name,
                suffix,
            } => format!(
                "{}\"${{{name}}}\"{}",
                quote_prefix(prefix),
                quote_prefix(suffix)
            ),
            Arg::OutFile { file, .. } => quote(file),
        }
    }
}

impl When {
    /// The condition as a bash test (`number` finds a step's number by its id).
    fn shell(&self, number: &dyn Fn(&str) -> usize) -> Option<String> {
        Some(match self {
            When::Always => return None,
            When::IfSucceeded(id) => format!("[ \"${{step{}:-}}\" = ok ]", number(id)),
            When::IfFailed(id) => format!("[ \"${{step{}:-}}\" = no ]", number(id)),
            When::IfSet(var) => format!("[ -n \"${{{var}:-}}\" ]"),
            When::IfDiffers(pairs) => pairs
                .iter()
                .map(|(var, want)| format!("[ \"${{{var}:-}}\" != {} ]", quote(want)))
                .collect::<Vec<_>>()
                .join(" || "),
            When::AnyOf(all) => all
                .iter()
                .filter_map(|w| w.shell(number))
                .collect::<Vec<_>>()
                .join(" || "),
        })
    }

    /// The ids of earlier steps whose outcome this condition asks about.
    fn asks(&self) -> Vec<&'static str> {
        match self {
            When::IfSucceeded(id) | When::IfFailed(id) => vec![id],
            When::AnyOf(all) => all.iter().flat_map(When::asks).collect(),
            _ => Vec::new(),
        }
    }
}

impl Extract {
    fn shell(self) -> &'static str {
        match self {
            Extract::Trim => "",
            Extract::BeforeColon => " | cut -d: -f1",
            Extract::Ipv4 => " | grep -o '[0-9.]*/' | tr -d /",
        }
    }
}

impl Step {
    /// The command as one line of bash: secrets as variable references, everything else
    /// quoted as needed, a secret on stdin as `printf '%s' "${NAME}" | command`. Without the
    /// step's condition, capture or expected failure: [`Plan::render`] adds those.
    pub fn render(&self, as_root: bool) -> String {
        let (program, args) = self.command_line(as_root);
        let mut words = Vec::new();
        if !self.uses_sudo(as_root) {
            for (k, v) in &self.env {
                words.push(format!("{k}={}", quote(v)));
            }
        }
        words.push(quote(&program));
        for arg in &args {
            words.push(arg.shell());
        }
        let line = words.join(" ");
        match &self.stdin {
            Stdin::Secret { name, .. } => format!("printf '%s' \"${{{name}}}\" | {line}"),
            Stdin::Inherit | Stdin::Null => line,
        }
    }

    /// The command with its capture, as bash: `VAR=$(command | extract)`.
    fn render_captured(&self, as_root: bool) -> String {
        let line = self.render(as_root);
        match &self.output {
            Output::Capture { var, extract } => format!("{var}=$({line}{})", extract.shell()),
            _ => line,
        }
    }
}

impl Plan {
    /// The `--dry-run` text: a bash script that runs what the tool runs, in the same order
    /// and under the same conditions (`if`, `||`, `until`), stopping where the tool stops
    /// (`set -euo pipefail`). Secrets appear only as `${NAME}` references that the script
    /// requires to be set. What only the tool does is said in comments: judging a
    /// command's output (a "check") and keeping its record of what it made.
    pub fn render(&self) -> String {
        let mut out = String::from("#!/usr/bin/env bash\n");
        out.push_str(&format!("# plan: {}\n", escape_controls(&self.title)));
        if let Some(note) = &self.note {
            for line in note.lines() {
                out.push_str(&format!("# {}\n", escape_controls(line)));
            }
        }
        out.push_str("set -euo pipefail\n");
        let mut secrets: Vec<String> = self.steps.iter().flat_map(Step::secret_names).collect();
        secrets.sort();
        secrets.dedup();
        for name in &secrets {
            let what = if name.ends_with("_FILE") {
                "a private (0600) file holding the secret"
            } else {
                "the secret"
            };
            out.push_str(&format!(
                ": \"${{{name}:?set {name} to {what}; the plan never shows secrets}}\"\n"
            ));
        }
        if let Some(path) = &self.record {
            if self.steps.iter().any(|s| !s.records.is_empty()) {
                out.push_str(&format!(
                    "# the tool keeps a record of what it makes in {} (comments say what)\n",
                    escape_controls(path.as_str())
                ));
            }
        }
        if let Some(w) = self.deadline {
            out.push_str(&format!("deadline=$((SECONDS + {}))\n", w.timeout_s));
        }
        if self.steps.iter().any(|s| s.lane.is_some()) {
            out.push_str("# the tool runs the steps of each lane (architecture) at the same time, each lane in order;\n# this script runs them one after the other\n");
        }
        // steps whose outcome a later step asks about get a variable: stepN=ok|no
        let asked: Vec<&str> = self.steps.iter().flat_map(|s| s.when.asks()).collect();
        let ids: Vec<&str> = self.steps.iter().map(|s| s.id).collect();
        let number = |id: &str| ids.iter().position(|x| *x == id).map_or(0, |p| p + 1);
        let total = self.steps.len();
        for (i, step) in self.steps.iter().enumerate() {
            let n = i + 1;
            out.push('\n');
            let mut notes = vec![format!("{n}/{total} {}", step.about)];
            if step.effect == Effect::ReadOnly {
                notes.push("read-only".to_string());
            }
            if step.on_fail == OnFail::Record && step.effect == Effect::Changes {
                notes.push("may fail".to_string());
            }
            if let Some(lane) = step.lane {
                notes.push(format!("lane {lane}"));
            }
            out.push_str(&format!("# {}\n", escape_controls(&notes.join("; "))));
            if let Output::Check(check) = &step.output {
                out.push_str(&format!(
                    "# the tool then checks the output: {}\n",
                    escape_controls(&check.describe())
                ));
            }
            for r in &step.records {
                let line = match r {
                    Recording::Before(e) => format!("the tool records, before: {}", e.describe()),
                    Recording::After(e) => format!("the tool records, after: {}", e.describe()),
                    Recording::Forget(e) => {
                        format!("the tool forgets, after: {}", e.describe())
                    }
                    Recording::ForgetIfNo(e) => {
                        format!("the tool forgets, if it answers no: {}", e.describe())
                    }
                };
                out.push_str(&format!("# {}\n", escape_controls(&line)));
            }
            let body = self.render_body(step, n, asked.contains(&step.id));
            let condition = step.when.shell(&number);
            match condition {
                None => out.push_str(&body),
                Some(c) => {
                    out.push_str(&format!("if {c}; then\n"));
                    for line in body.lines() {
                        out.push_str(&format!("  {line}\n"));
                    }
                    out.push_str("fi\n");
                }
            }
        }
        out
    }

    /// One step's lines, without its condition.
    fn render_body(&self, step: &Step, n: usize, asked: bool) -> String {
        let line = step.render_captured(self.as_root);
        let fail = |code: u8, why: &str| {
            let mut msg = format!("error: step {n} ({}) {why}", step.about);
            if let Some(h) = &step.hint {
                msg.push_str(&format!("; hint: {h}"));
            }
            format!("echo {} >&2; exit {code}", quote(&msg))
        };
        if step.repeat {
            let cond = match &step.output {
                Output::Capture { var, .. } => format!("{line} && [ -n \"${var}\" ]"),
                _ => line,
            };
            let interval = self.deadline.map_or(10, |w| w.interval_s);
            return format!(
                "until {cond}; do\n  [ \"$SECONDS\" -lt \"$deadline\" ] || {{ {}; }}\n  sleep {interval}\ndone\n",
                fail(3, "timed out")
            );
        }
        if step.expect_failure {
            return format!("if {line}; then\n  {}\nfi\n", fail(1, "failed"));
        }
        let diagnose = step.diagnose.as_ref().map(|d| d.render(self.as_root));
        match (step.on_fail, &step.output) {
            (OnFail::Record, Output::Capture { var, .. }) => {
                format!("{line} || {var}=''\n")
            }
            (OnFail::Record, _) if asked => {
                format!("if {line}; then step{n}=ok; else step{n}=no; fi\n")
            }
            (OnFail::Record, _) => format!("{line} || true\n"),
            (OnFail::Abort, Output::Capture { var, .. }) => format!(
                "{line}\n[ -n \"${var}\" ] || {{ {}; }}\n",
                fail(1, &format!("printed nothing to capture into {var}"))
            ),
            (OnFail::Abort, _) => {
                let mut body = match (diagnose, &step.result_var) {
                    (Some(d), _) => format!(
                        "if ! {line}; then\n  {d} >&2 || true\n  {}\nfi\n",
                        fail(1, "failed")
                    ),
                    (
                        None,
                        Some(ResultVar {
                            var,
                            shell: ResultShell::Stdout(filter),
                            ..
                        }),
                    ) => {
                        format!(
                            "STEP_OUT=$({line})\nprintf '%s\\n' \"$STEP_OUT\"\n{var}=$(printf '%s\\n' \"$STEP_OUT\" | {filter})\n"
                        )
                    }
                    (
                        None,
                        Some(ResultVar {
                            var,
                            shell: ResultShell::File(file),
                            ..
                        }),
                    ) => {
                        format!("{line}\n{var}=$(cat {})\n", quote(file))
                    }
                    (None, None) => format!("{line}\n"),
                };
                if let Some((var, value)) = &step.sets {
                    body.push_str(&format!("{var}={}\n", quote(value)));
                }
                body
            }
        }
    }
}

/// Quote a word for bash only when it needs it: single quotes, or `$'...'` with escapes
/// when it holds a control character (which single quotes would pass through raw).
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '@' | '+' | '%')
        })
        && !word.starts_with('=');
    if plain {
        return word.to_string();
    }
    if !word.chars().any(char::is_control) {
        return format!("'{}'", word.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Quote the literal part in front of a secret reference (may be empty).
fn quote_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        quote(prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Secret;

    #[test]
    fn quoting() {
        assert_eq!(quote("podman"), "podman");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
        // a control character never reaches the terminal raw, not even inside quotes
        assert_eq!(quote("a\rb"), r"$'a\rb'");
        assert_eq!(quote("it's\n"), r"$'it\'s\n'");
        assert_eq!(quote("x\u{1b}[2J\\"), r"$'x\x1b[2J\\'");
        assert_eq!(
            escape_controls("a\rtouch /tmp/x\nrm"),
            r"a\rtouch /tmp/x\nrm"
        );
    }

    #[test]
    fn secrets_never_render() {
        let s = Secret::new("hunter2");
        let step = Step::new("login", "log in", "podman")
            .args(["login", "--password-stdin", "quay.io"])
            .secret_file_arg("id=pw,src=", "USER_PASSWD", "pw", &s)
            .stdin(Stdin::Secret {
                name: "REGISTRY_PASSWORD",
                secret: s.clone(),
            })
            .root(true);
        let mut plan = Plan::new("t", false);
        plan.push(step);
        let text = format!("{}{:?}", plan.render(), plan);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("printf '%s' \"${REGISTRY_PASSWORD}\" | sudo podman login"));
        assert!(text.contains("id=pw,src=\"${USER_PASSWD_FILE}\""));
    }
}
