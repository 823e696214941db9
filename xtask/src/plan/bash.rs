//! A plan as a bash script (`--dry-run`): the same steps in the same order, under the same
//! conditions, stopping where the tool stops; secrets only as `${NAME}` references.

use super::{
    Arg, Effect, Extract, OnFail, Output, Plan, Recording, ResultShell, ResultVar, Stdin, Step,
    When,
};
use crate::validate::{escape_controls, is_hidden};

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
            Arg::SecretHeader {
                prefix,
                name,
                header,
                ..
            } => format!("{}{}", quote_prefix(prefix), header_line(header, name)),
            Arg::Var {
                prefix,
                name,
                suffix,
            } => format!(
                "{}\"${{{name}}}\"{}",
                quote_prefix(prefix),
                quote_prefix(suffix)
            ),
            Arg::FirstVar { prefix, names } => {
                format!("{}\"{}\"", quote_prefix(prefix), first_var(names))
            }
            Arg::OutFile { file, .. } => format!("\"${OUT_DIR}\"/{}", quote(file)),
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
            When::IfVarsDiffer(a, b) => {
                format!("[ -z \"${{{a}:-}}\" ] || [ \"${{{a}:-}}\" != \"${{{b}:-}}\" ]")
            }
            When::IfVarsSame(a, b) => {
                format!("[ -n \"${{{a}:-}}\" ] && [ \"${{{a}:-}}\" = \"${{{b}:-}}\" ]")
            }
            // each member grouped: bash's && and || bind alike, left to right
            When::AnyOf(all) | When::AllOf(all) => all
                .iter()
                .filter_map(|w| w.shell(number))
                .map(|t| {
                    if t.contains("&&") || t.contains("||") {
                        format!("{{ {t}; }}")
                    } else {
                        t
                    }
                })
                .collect::<Vec<_>>()
                .join(if matches!(self, When::AllOf(_)) {
                    " && "
                } else {
                    " || "
                }),
        })
    }

    /// The ids of earlier steps whose outcome this condition asks about.
    fn asks(&self) -> Vec<&'static str> {
        match self {
            When::IfSucceeded(id) | When::IfFailed(id) => vec![id],
            When::AnyOf(all) | When::AllOf(all) => all.iter().flat_map(When::asks).collect(),
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
            Extract::GpgFingerprint => " | awk -F: '$1 == \"fpr\" {print $10; exit}'",
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
        if let Some(seconds) = self.time_limit {
            words.push(format!("timeout {seconds}"));
        }
        words.push(quote(&program));
        for arg in &args {
            words.push(arg.shell());
        }
        let line = words.join(" ");
        match &self.stdin {
            Stdin::Secret { name, .. } => format!("printf '%s' \"${{{name}}}\" | {line}"),
            Stdin::Text(text) => format!("printf '%s' {} | {line}", quote(text)),
            Stdin::Template(text) => {
                format!("printf '%s' {} | {line}", with_vars(text))
            }
            Stdin::JsonOver { base, over, drop } => {
                // the keys `drop` names taken out of the base (when it has an object there),
                // as `DropKeys::apply` takes them
                let (drop_arg, drop_filter) = match drop {
                    Some(d) => (
                        format!(
                            " --argjson drop {}",
                            quote(&d.to_json().to_string())
                        ),
                        " | (try getpath($drop.path) catch null) as $at | if ($at | type) == \"object\" then setpath($drop.path; $at | with_entries(select(.key as $k | any($drop.prefixes[]; . as $p | $k | startswith($p)) | not))) else . end | .",
                    ),
                    None => (String::new(), ""),
                };
                format!(
                    "{{ if [ -n \"${{{base}:-}}\" ]; then printf '%s' \"${base}\"; else echo '{{}}'; fi; }} | jq --argjson over {}{drop_arg} 'if type == \"object\" then . else {{}} end{drop_filter} * $over' | {line}",
                    quote(&serde_json::to_string(over).expect("a JSON value prints"))
                )
            }
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

/// A header file made from a secret's variable as bash makes it, never on a command line
/// (`printf` is bash's own): `<(printf 'Authorization: Bearer %s\n' "${FLIGHTCTL_TOKEN}")`.
pub fn header_line(header: &str, name: &str) -> String {
    format!(
        "<(printf {} \"${{{name}}}\")",
        quote(&format!("{}%s\\n", header.replace('%', "%%")))
    )
}

/// The private directory the printed plan gives commands' output files (`--digestfile`).
const OUT_DIR: &str = "XTASK_OUT";

impl Plan {
    /// The `--dry-run` text: a bash script that runs what the tool runs, in the same order
    /// and under the same conditions (`if`, `||`, `until`), stopping where the tool stops
    /// (`set -euo pipefail`) and judging each command's output as the tool does (jq, awk or
    /// grep: a not-ready pod list fails the script as it fails the tool). Secrets appear only
    /// as `${NAME}` references that the script requires to be set. What only the tool does
    /// is said in comments: its record of what it made, and the reports it reads out of
    /// outputs (hashes, kernel versions).
    pub fn render(&self) -> String {
        let mut out = String::from("#!/usr/bin/env bash\n");
        out.push_str(&format!("# plan: {}\n", escape_controls(&self.title)));
        if let Some(note) = &self.note {
            for line in note.lines() {
                out.push_str(&format!("# {}\n", escape_controls(line)));
            }
        }
        out.push_str("set -euo pipefail\n");
        if let Some(dir) = &self.dir {
            out.push_str(&format!("cd -- {}\n", quote(dir.as_str())));
        }
        let mut secrets: Vec<String> = self.steps.iter().flat_map(Step::secret_names).collect();
        secrets.sort();
        secrets.dedup();
        for name in &secrets {
            let help = self.secrets.iter().find(|h| h.name == name.as_str());
            if let Some(h) = help {
                out.push_str(&format!("# {name}: {}\n", escape_controls(&h.how)));
            }
            let what = if name.ends_with("_FILE") {
                "a private (0600) file holding the secret"
            } else {
                "the secret"
            };
            out.push_str(&format!(
                ": \"${{{name}:?set {name} to {what}; the plan never shows secrets}}\"\n"
            ));
            if let Some(base) = help.and_then(|h| h.basename) {
                out.push_str(&format!(
                    "[ \"$(basename -- \"${name}\")\" = {base} ] || {{ echo {} >&2; exit 1; }}\n",
                    quote(&format!("{name} must name a file called {base}"))
                ));
            }
        }
        if self
            .steps
            .iter()
            .any(|s| s.shell_test().is_some_and(|t| t.starts_with("jq ")))
        {
            out.push_str("command -v jq >/dev/null || { echo 'this script checks outputs with jq, as the tool does: install jq' >&2; exit 1; }\n");
        }
        let out_files = self
            .steps
            .iter()
            .any(|s| s.args.iter().any(|a| matches!(a, Arg::OutFile { .. })));
        if out_files || !self.cleanup.is_empty() {
            let mut lines = Vec::new();
            if out_files {
                out.push_str(&format!("{OUT_DIR}=$(mktemp -d)\n"));
                lines.push(format!("rm -rf -- \"${OUT_DIR}\""));
            }
            for step in &self.cleanup {
                let line = format!("{} || true", step.render(self.as_root));
                lines.push(match step.when.shell(&|_| 0) {
                    Some(c) => format!("if {c}; then {line}; fi"),
                    None => line,
                });
            }
            out.push_str("# when the script ends, however it ends\n");
            out.push_str(&format!(
                "cleanup() {{\n{}}}\ntrap cleanup EXIT\n",
                lines.iter().map(|l| format!("  {l}\n")).collect::<String>()
            ));
        }
        for f in &self.report_files {
            out.push_str(&format!(
                "# when the plan has ended, the tool writes {} ({}) from the steps' results; this script does not\n",
                escape_controls(f.path.as_str()),
                f.what
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
                let how = if step.shell_test().is_some() {
                    "checks the output, as the tool does"
                } else {
                    "the tool reports from the output"
                };
                out.push_str(&format!(
                    "# {how}: {}\n",
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
        let command = step.render_captured(self.as_root);
        // the command, its output judged as the tool judges it
        let test = step.shell_test();
        let line = match &test {
            Some(t) => format!("{command} | {t}"),
            None => command.clone(),
        };
        let fail = |code: i32, why: &str| {
            let mut msg = format!("error: step {n} ({}) {why}", step.about);
            if let Some(h) = &step.hint {
                msg.push_str(&format!("; hint: {h}"));
            }
            format!("echo {} >&2; exit {code}", quote(&msg))
        };
        let interval = self.deadline.map_or(10, |w| w.interval_s);
        // the last pause ends at the deadline, for a last try there, as the tool's does
        let wait_more = format!(
            "[ \"$SECONDS\" -lt \"$deadline\" ] || {{ {}; }}\n  sleep \"$((deadline - SECONDS < {interval} ? deadline - SECONDS : {interval}))\"",
            fail(3, "timed out")
        );
        let mut body = if step.repeat && step.ends_at_deadline {
            // looks until the check says done, or the deadline: then the last look that could
            // be judged is judged as final (the tool does the same); a definite no stops it
            let ok = test.clone().unwrap_or_else(|| "true".to_string());
            let mut b = format!("STEP_OUT=\nwhile :; do\n  if try_out=$({command}); then\n");
            if let Some(no) = step.shell_no() {
                b.push_str(&format!(
                    "    if printf '%s\\n' \"$try_out\" | {no}; then {}; fi\n",
                    fail(step.fail_code(), "failed")
                ));
            }
            b.push_str(&match step.shell_seen() {
                Some(seen) => format!(
                    "    if printf '%s\\n' \"$try_out\" | {seen}; then STEP_OUT=$try_out; fi\n"
                ),
                None => "    STEP_OUT=$try_out\n".to_string(),
            });
            b.push_str(&format!(
                "    if printf '%s\\n' \"$try_out\" | {ok}; then break; fi\n  fi\n  [ \"$SECONDS\" -lt \"$deadline\" ] || break\n  sleep \"$((deadline - SECONDS < {interval} ? deadline - SECONDS : {interval}))\"\ndone\n[ -n \"$STEP_OUT\" ] || {{ {}; }}\n",
                fail(3, "timed out")
            ));
            for r in &step.result_vars {
                if let ResultShell::Stdout(filter) = &r.shell {
                    b.push_str(&format!(
                        "{}=$(printf '%s\\n' \"$STEP_OUT\" | {filter})\n",
                        r.var
                    ));
                }
            }
            b
        } else if step.repeat {
            match (step.shell_no(), step.on_fail) {
                // a question with three answers (yes, no, not yet): until yes or no
                (Some(no), OnFail::Record) => {
                    let ok = test.clone().unwrap_or_else(|| "true".to_string());
                    format!(
                        "while :; do\n  if STEP_OUT=$({command}); then\n    if printf '%s\\n' \"$STEP_OUT\" | {ok}; then step{n}=ok; break; fi\n    if printf '%s\\n' \"$STEP_OUT\" | {no}; then step{n}=no; break; fi\n  fi\n  {wait_more}\ndone\n"
                    )
                }
                (Some(no), OnFail::Abort) => {
                    let ok = test.clone().unwrap_or_else(|| "true".to_string());
                    format!(
                        "while :; do\n  if STEP_OUT=$({command}); then\n    if printf '%s\\n' \"$STEP_OUT\" | {ok}; then break; fi\n    if printf '%s\\n' \"$STEP_OUT\" | {no}; then {}; fi\n  fi\n  {wait_more}\ndone\n",
                        fail(step.fail_code(), "failed")
                    )
                }
                (None, _) => {
                    let cond = match &step.output {
                        Output::Capture { var, .. } => format!("{line} && [ -n \"${var}\" ]"),
                        _ => line.clone(),
                    };
                    let mut loop_ = format!("until {cond}; do\n  {wait_more}\ndone\n");
                    if asked {
                        loop_.push_str(&format!("step{n}=ok\n"));
                    }
                    loop_
                }
            }
        } else if step.expect_failure {
            format!("if {line}; then\n  {}\nfi\n", fail(1, "failed"))
        } else {
            let diagnose = step.diagnose.as_ref().map(|d| d.render(self.as_root));
            match (step.on_fail, &step.output) {
                // a later step asks about it: its outcome kept too
                (OnFail::Record, Output::Capture { var, .. }) if asked => {
                    format!("if {line}; then step{n}=ok; else {var}=''; step{n}=no; fi\n")
                }
                (OnFail::Record, Output::Capture { var, .. }) => {
                    format!("{line} || {var}=''\n")
                }
                (OnFail::Record, _) if asked => {
                    format!("if {line}; then step{n}=ok; else step{n}=no; fi\n")
                }
                (OnFail::Record, _) => format!("{line} || true\n"),
                (OnFail::Abort, Output::Capture { var, .. }) => format!(
                    "{} || {{ {}; }}\n[ -n \"${var}\" ] || {{ {}; }}\n",
                    retried(&line, step),
                    fail(1, "failed"),
                    fail(1, &format!("printed nothing to capture into {var}"))
                ),
                (OnFail::Abort, _) => {
                    // a failure ends the script as it ends the tool: exit 1, naming the step
                    let code = step.fail_code();
                    let or_fail = format!(" || {{ {}; }}", fail(code, "failed"));
                    let from_stdout: Vec<&ResultVar> = step
                        .result_vars
                        .iter()
                        .filter(|r| matches!(r.shell, ResultShell::Stdout(_)))
                        .collect();
                    let mut body = if let Some(d) = diagnose {
                        format!(
                            "if ! {}; then\n  {d} >&2 || true\n  {}\nfi\n",
                            retried(&line, step),
                            fail(code, "failed")
                        )
                    } else if !from_stdout.is_empty() {
                        let judged = match &test {
                            Some(t) => format!("printf '%s\\n' \"$STEP_OUT\" | {t}{or_fail}\n"),
                            None => String::new(),
                        };
                        let mut b =
                            format!("STEP_OUT=$({}){or_fail}\n{judged}", retried(&command, step));
                        for r in from_stdout {
                            if let ResultShell::Stdout(filter) = &r.shell {
                                b.push_str(&format!(
                                    "{}=$(printf '%s\\n' \"$STEP_OUT\" | {filter})\n",
                                    r.var
                                ));
                            }
                        }
                        b
                    } else {
                        format!("{}{or_fail}\n", retried(&line, step))
                    };
                    for r in &step.result_vars {
                        if let ResultShell::File(file) = &r.shell {
                            body.push_str(&format!(
                                "{}=$(cat \"${OUT_DIR}\"/{})\n",
                                r.var,
                                quote(file)
                            ));
                        }
                    }
                    body
                }
            }
        };
        if asked && step.on_fail == OnFail::Abort && !step.repeat && !step.expect_failure {
            // a failure ended the script: here it succeeded, for the steps that ask
            body.push_str(&format!("step{n}=ok\n"));
        }
        if let Some((var, value)) = &step.sets {
            body.push_str(&format!("{var}={}\n", quote(value)));
        }
        if let Some((var, message)) = &step.exit_var {
            // the code the step's result holds: the script ends with it, as the tool does
            let mut say = format!("echo {} >&2", with_vars(&format!("error: {message}")));
            if let Some(h) = &step.hint {
                say.push_str(&format!("; echo {} >&2", with_vars(&format!("hint: {h}"))));
            }
            body.push_str(&format!(
                "if [ \"${{{var}:-0}}\" != 0 ]; then {say}; exit \"${var}\"; fi\n"
            ));
        }
        if let (true, Some(w)) = (step.starts_wait, self.deadline) {
            // the waits after this step get the whole timeout, counted from its start
            body.insert_str(0, &format!("deadline=$((SECONDS + {}))\n", w.timeout_s));
        }
        if let Some((code, message)) = &step.then_exit {
            // `${NAME}` in the message: the variable's value, as the tool says it
            body.push_str(&format!(
                "echo {} >&2; exit {code}\n",
                with_vars(&format!("error: {message}"))
            ));
        }
        body
    }
}

/// `text` as one shell word, each `${NAME}` in it the variable's value (empty when unset),
/// the rest quoted: what the tool's interpolation says, in the script.
fn with_vars(text: &str) -> String {
    super::split_vars(text)
        .into_iter()
        .map(|p| match p {
            super::Piece::Text(t) => quote(t),
            super::Piece::Var(v) => format!("\"${{{v}:-}}\""),
        })
        .collect()
}

/// A command tried as the step says (`tries` times, `pause` seconds apart), as one bash
/// command that fails when the last try fails. A try stopped at the step's time limit
/// (`timeout` exits 124) is not tried again, as the tool does not.
fn retried(line: &str, step: &Step) -> String {
    match step.retries {
        Some((tries, pause)) if tries > 1 => {
            // the loop's own status says nothing (errexit is off on the left of `||`): the
            // group's last command says whether a try succeeded
            let ran_out = if step.time_limit.is_some() {
                " elif [ \"$?\" -eq 124 ]; then break;"
            } else {
                ""
            };
            format!(
                "{{ tried=no; for try in $(seq {tries}); do if {line}; then tried=ok; break;{ran_out} fi; [ \"$try\" -lt {tries} ] || break; sleep {pause}; done; [ \"$tried\" = ok ]; }}"
            )
        }
        _ => line.to_string(),
    }
}

impl Step {
    /// The bash test of this step's check, if it has one that the script can run.
    fn shell_test(&self) -> Option<String> {
        match &self.output {
            Output::Check(check) => check.shell_test(),
            _ => None,
        }
    }

    /// The bash test of this step's check saying a definite no, if it has one.
    fn shell_no(&self) -> Option<String> {
        match &self.output {
            Output::Check(check) => check.shell_no(),
            _ => None,
        }
    }

    /// The bash test that this step's output can be judged at all, if its check has one.
    fn shell_seen(&self) -> Option<String> {
        match &self.output {
            Output::Check(check) => check.shell_seen(),
            _ => None,
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
    if !word.chars().any(is_hidden) {
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
            // its UTF-8 bytes: the same bytes in any locale
            c if is_hidden(c) => {
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

/// The first of `names` that is set and not empty, as bash expands it (unquoted):
/// `${A:-${B}}`; unset all, `set -u` stops the script as the tool stops.
pub fn first_var(names: &[&'static str]) -> String {
    let mut text = String::new();
    for name in names.iter().rev() {
        text = if text.is_empty() {
            format!("${{{name}}}")
        } else {
            format!("${{{name}:-{text}}}")
        };
    }
    text
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
        // a bidirectional override or a line separator never reaches the terminal raw
        assert_eq!(quote("a\u{202e}b"), r"$'a\xe2\x80\xaeb'");
        assert_eq!(quote("a\u{2028}b"), r"$'a\xe2\x80\xa8b'");
        assert_eq!(escape_controls("x\u{202e}y"), r"x\u{202e}y");
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
