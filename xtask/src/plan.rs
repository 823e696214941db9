//! Plans: what a subcommand would run, as data.
//!
//! A subcommand turns resolved inputs into a [`Plan`] without reading the environment or
//! touching the system. The one executor (`exec.rs`) runs plans; `--dry-run` prints them with
//! [`Plan::render`]. Secrets live in [`Secret`] values that never render: the shell rendering
//! refers to them by variable name, so a printed plan can be pasted into bash after setting
//! those variables.

use std::fmt;

/// A secret: a password, the bytes of a pull secret or auth file, a rendered kickstart.
/// The one type secret bytes live in, from reading to writing; `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(value: impl Into<Vec<u8>>) -> Secret {
        Secret(value.into())
    }
    /// The bytes themselves: to feed stdin, write a 0600 file or embed in the kickstart.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A name made at plan time (a lane's step id or variable, `arm64/push`) as the `'static`
/// string ids and variables are. Plans are made once per run, so the few bytes leaked are
/// the simple way there.
pub fn name(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// One argument of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    Lit(String),
    /// `prefix` followed by the path of a private 0600 file, named `file`, that holds the
    /// secret. The executor writes the file (and removes it afterwards); the rendering shows
    /// `prefix${NAME_FILE}`.
    SecretFile {
        prefix: String,
        name: &'static str,
        file: &'static str,
        secret: Secret,
        /// Literal text after the path (`:/config.toml:ro` for a bind mount).
        suffix: String,
    },
    /// `prefix` and the value of a variable captured by an earlier step (`Output::Capture`).
    Var {
        prefix: String,
        name: &'static str,
        suffix: String,
    },
    /// A file the command writes (e.g. `--digestfile`): the executor passes a path in its
    /// private directory and puts the content into the step's result under `key`. Rendered
    /// as the bare file name.
    OutFile {
        file: &'static str,
        key: &'static str,
    },
}

impl Arg {
    /// The argument with its secret or captured part as a `${NAME}` reference, unquoted
    /// (the `--json` plan's argv).
    pub fn plain(&self) -> String {
        match self {
            Arg::Lit(x) => x.clone(),
            Arg::SecretFile {
                prefix,
                name,
                suffix,
                ..
            } => format!("{prefix}${{{name}_FILE}}{suffix}"),
            Arg::Var {
                prefix,
                name,
                suffix,
            } => format!("{prefix}${{{name}}}{suffix}"),
            Arg::OutFile { file, .. } => file.to_string(),
        }
    }

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

/// What a step reads on standard input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stdin {
    /// Inherit the terminal (interactive commands, e.g. `podman run -it`).
    Inherit,
    /// Nothing (stdin is closed).
    Null,
    /// A secret, rendered as `printf '%s' "${NAME}" | command`.
    Secret { name: &'static str, secret: Secret },
}

/// Does a step change the system?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    ReadOnly,
    Changes,
}

/// When a step runs, relative to an earlier probe step (named by its id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    IfSucceeded(&'static str),
    IfFailed(&'static str),
    /// Only when an earlier capture left this variable non-empty.
    IfSet(&'static str),
    /// Only when one of these variables is unset or holds another value (e.g. "push unless
    /// the registry already holds this very image").
    IfDiffers(Vec<(&'static str, String)>),
    /// When any of these holds.
    AnyOf(Vec<When>),
}

impl When {
    /// Does the condition hold, given the earlier steps' outcomes and captured variables?
    pub fn holds(
        &self,
        outcomes: &std::collections::BTreeMap<&'static str, bool>,
        vars: &std::collections::BTreeMap<&'static str, String>,
    ) -> bool {
        match self {
            When::Always => true,
            When::IfSucceeded(id) => outcomes.get(id) == Some(&true),
            When::IfFailed(id) => outcomes.get(id) == Some(&false),
            When::IfSet(var) => vars.get(var).is_some_and(|v| !v.is_empty()),
            When::IfDiffers(pairs) => pairs.iter().any(|(var, want)| vars.get(var) != Some(want)),
            When::AnyOf(all) => all.iter().any(|w| w.holds(outcomes, vars)),
        }
    }

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

/// What to do when a step exits non-zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFail {
    /// Stop the plan with an error naming the step.
    Abort,
    /// A probe: failure is an answer, recorded for later `When` conditions.
    Record,
}

/// How the executor treats a step's standard output.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Passed through to the terminal.
    Inherit,
    /// Captured and judged by a check (see `inspect.rs`); the check's result goes into the
    /// report and its error, if any, stops the plan.
    Check(crate::inspect::Check),
    /// Captured into a variable for later steps (`Arg::Var`), like `VAR=$(command)`.
    Capture { var: &'static str, extract: Extract },
}

/// What of a captured output goes into the variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extract {
    /// The output, trimmed.
    Trim,
    /// The first line's text before its first ':' (`losetup -j` prints `/dev/loop0: ...`).
    BeforeColon,
    /// The first IPv4 address, without its prefix length (`virsh domifaddr`).
    Ipv4,
}

impl Extract {
    pub fn apply(self, output: &str) -> String {
        match self {
            Extract::Trim => output.trim().to_string(),
            Extract::BeforeColon => output
                .lines()
                .next()
                .and_then(|l| l.split(':').next())
                .unwrap_or("")
                .trim()
                .to_string(),
            Extract::Ipv4 => output
                .split(|c: char| c.is_whitespace() || c == '/')
                .find(|w| {
                    w.split('.').count() == 4 && w.split('.').all(|p| p.parse::<u8>().is_ok())
                })
                .unwrap_or("")
                .to_string(),
        }
    }
    fn shell(self) -> &'static str {
        match self {
            Extract::Trim => "",
            Extract::BeforeColon => " | cut -d: -f1",
            Extract::Ipv4 => " | grep -o '[0-9.]*/' | tr -d /",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Stable identifier, used by `When` conditions and the JSON report.
    pub id: &'static str,
    /// One line saying what the step does, for progress lines and errors.
    pub about: String,
    pub program: String,
    pub args: Vec<Arg>,
    pub env: Vec<(String, String)>,
    pub stdin: Stdin,
    pub effect: Effect,
    /// Needs root: prefixed with `sudo` when the plan is not run as root.
    pub root: bool,
    pub when: When,
    pub on_fail: OnFail,
    pub output: Output,
    /// Printed under the error when the step fails.
    pub hint: Option<String>,
    /// The step succeeds when its command fails (e.g. "no VM of that name exists").
    pub expect_failure: bool,
    /// Run again until it succeeds, within the plan's deadline (waiting for a service).
    pub repeat: bool,
    /// What the step makes or undoes, for the record of what the tool made (`record.rs`).
    pub records: Vec<Recording>,
    /// When the step fails: a read-only command whose output explains why (e.g. a
    /// container's last log lines), shown under the error.
    pub diagnose: Option<Box<Step>>,
    /// What to tell a person when the step succeeded.
    pub done: Option<Done>,
    /// Runs in this lane (an architecture): the steps of different lanes that follow each
    /// other run at the same time, each lane's in order.
    pub lane: Option<&'static str>,
    /// Said when the step's condition does not hold (e.g. "already in the registry").
    pub skip_note: Option<String>,
    /// Set this variable to this value when the step succeeded.
    pub sets: Option<(&'static str, &'static str)>,
    /// Put a value of the step's result (its check's or out-file's) into a variable.
    pub result_var: Option<ResultVar>,
}

/// A value of a step's result kept in a variable for later steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultVar {
    pub var: &'static str,
    /// The key in the step's result.
    pub key: &'static str,
    /// How the printed script gets the same value.
    pub shell: ResultShell,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResultShell {
    /// A filter over the command's standard output (e.g. `grep -o ... | cut ...`).
    Stdout(String),
    /// The out-file the command wrote (`--digestfile`).
    File(&'static str),
}

/// A step's success, in a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// `ok: pushed REFERENCE (DIGEST)`, the digest from the step's result.
    Pushed { reference: String },
    /// A fixed line.
    Say(String),
}

impl Done {
    pub fn line(&self, result: Option<&serde_json::Value>) -> Option<String> {
        match self {
            Done::Pushed { reference } => {
                let digest = result?.get("digest")?.as_str()?;
                Some(format!("ok: pushed {reference} ({digest})"))
            }
            Done::Say(text) => Some(text.clone()),
        }
    }
}

/// One change to the record of what the tool made, tied to a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recording {
    /// Written before the step runs: what it is about to make (so that an interrupted step
    /// is undone too).
    Before(Entry),
    /// Written after the step succeeded (its fields may hold values the step captured).
    After(Entry),
    /// Removed after the step succeeded: the step undid it.
    Forget(Entry),
    /// Removed when this probe answers no: there is nothing left to undo.
    ForgetIfNo(Entry),
}

/// An entry of the record: a kind (`container`, `loop-file`, `loop-device`,
/// `volume-group`, `vm`) and its fields; the first field is its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: &'static str,
    pub fields: Vec<(&'static str, Field)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Text(String),
    /// A variable captured by this or an earlier step.
    Var(&'static str),
}

impl Entry {
    pub fn new(kind: &'static str, key: &'static str, value: impl Into<String>) -> Entry {
        Entry {
            kind,
            fields: vec![(key, Field::Text(value.into()))],
        }
    }
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Entry {
        self.fields.push((key, Field::Text(value.into())));
        self
    }
    pub fn with_var(mut self, key: &'static str, var: &'static str) -> Entry {
        self.fields.push((key, Field::Var(var)));
        self
    }
    /// `kind name=value ...` for plan comments.
    pub fn describe(&self) -> String {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| match v {
                Field::Text(t) => format!("{k}={t}"),
                Field::Var(n) => format!("{k}=${{{n}}}"),
            })
            .collect();
        format!("{} {}", self.kind, fields.join(" "))
    }
}

impl Step {
    pub fn new(id: &'static str, about: impl Into<String>, program: &str) -> Step {
        Step {
            id,
            about: about.into(),
            program: program.to_string(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: Stdin::Null,
            effect: Effect::Changes,
            root: false,
            when: When::Always,
            on_fail: OnFail::Abort,
            output: Output::Inherit,
            hint: None,
            expect_failure: false,
            repeat: false,
            records: Vec::new(),
            diagnose: None,
            done: None,
            lane: None,
            skip_note: None,
            sets: None,
            result_var: None,
        }
    }
    pub fn arg(mut self, arg: impl Into<String>) -> Step {
        self.args.push(Arg::Lit(arg.into()));
        self
    }
    pub fn args<I, S>(mut self, args: I) -> Step
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args
            .extend(args.into_iter().map(|a| Arg::Lit(a.into())));
        self
    }
    pub fn secret_file_arg(
        mut self,
        prefix: &str,
        name: &'static str,
        file: &'static str,
        secret: &Secret,
    ) -> Step {
        self.args.push(Arg::SecretFile {
            prefix: prefix.to_string(),
            name,
            file,
            secret: secret.clone(),
            suffix: String::new(),
        });
        self
    }
    /// Like [`Step::secret_file_arg`], with literal text after the path.
    pub fn secret_file_arg_suffix(
        mut self,
        name: &'static str,
        file: &'static str,
        secret: &Secret,
        suffix: &str,
    ) -> Step {
        self.args.push(Arg::SecretFile {
            prefix: String::new(),
            name,
            file,
            secret: secret.clone(),
            suffix: suffix.to_string(),
        });
        self
    }
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Step {
        self.env.push((key.to_string(), value.into()));
        self
    }
    pub fn stdin(mut self, stdin: Stdin) -> Step {
        self.stdin = stdin;
        self
    }
    pub fn read_only(mut self) -> Step {
        self.effect = Effect::ReadOnly;
        self
    }
    pub fn root(mut self, root: bool) -> Step {
        self.root = root;
        self
    }
    pub fn when(mut self, when: When) -> Step {
        self.when = when;
        self
    }
    /// A read-only question whose failure is an answer.
    pub fn probe(mut self) -> Step {
        self.effect = Effect::ReadOnly;
        self.on_fail = OnFail::Record;
        self
    }
    pub fn check(mut self, check: crate::inspect::Check) -> Step {
        self.output = Output::Check(check);
        self
    }
    /// A changing step whose failure is tolerated (recorded, not fatal).
    pub fn may_fail(mut self) -> Step {
        self.on_fail = OnFail::Record;
        self
    }
    /// Capture the output into a variable for later steps.
    pub fn capture(mut self, var: &'static str, extract: Extract) -> Step {
        self.output = Output::Capture { var, extract };
        self
    }
    pub fn var_arg(mut self, prefix: &str, var: &'static str) -> Step {
        self.args.push(Arg::Var {
            prefix: prefix.to_string(),
            name: var,
            suffix: String::new(),
        });
        self
    }
    /// A captured variable followed by literal text, as one argument.
    pub fn var_arg_suffix(mut self, var: &'static str, suffix: &str) -> Step {
        self.args.push(Arg::Var {
            prefix: String::new(),
            name: var,
            suffix: suffix.to_string(),
        });
        self
    }
    /// A file the command writes, whose content becomes `key` of the step's result.
    pub fn out_file(mut self, file: &'static str, key: &'static str) -> Step {
        self.args.push(Arg::OutFile { file, key });
        self
    }
    /// Repeat until the step succeeds, within the plan's deadline.
    pub fn repeat(mut self) -> Step {
        self.repeat = true;
        self
    }
    /// A read-only check that passes when the command fails; rendered as `! command`.
    pub fn must_fail(mut self) -> Step {
        self.effect = Effect::ReadOnly;
        self.expect_failure = true;
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Step {
        self.hint = Some(hint.into());
        self
    }
    /// Record what this step makes or undoes.
    pub fn record(mut self, recording: Recording) -> Step {
        self.records.push(recording);
        self
    }
    /// Run in this lane (see [`Step::lane`]).
    pub fn in_lane(mut self, lane: &'static str) -> Step {
        self.lane = Some(lane);
        self
    }
    /// Say this when the condition does not hold.
    pub fn skip_note(mut self, note: impl Into<String>) -> Step {
        self.skip_note = Some(note.into());
        self
    }
    /// Set `var` to `value` when the step succeeded.
    pub fn sets(mut self, var: &'static str, value: &'static str) -> Step {
        self.sets = Some((var, value));
        self
    }
    /// Put `key` of the step's result into `var`; `shell` says how the script gets it.
    pub fn result_var(mut self, var: &'static str, key: &'static str, shell: ResultShell) -> Step {
        self.result_var = Some(ResultVar { var, key, shell });
        self
    }
    /// What to tell a person when the step succeeded.
    pub fn done(mut self, done: Done) -> Step {
        self.done = Some(done);
        self
    }
    /// When the step fails, run this read-only command and show its output.
    pub fn diagnose(mut self, step: Step) -> Step {
        self.diagnose = Some(Box::new(step.read_only()));
        self
    }

    /// A read-only question answered by the exit code (a probe, or a check that must fail).
    pub fn is_question(&self) -> bool {
        self.effect == Effect::ReadOnly && (self.on_fail == OnFail::Record || self.expect_failure)
    }

    /// Whether the step runs through `sudo` (it needs root and the plan does not run as root).
    pub fn uses_sudo(&self, as_root: bool) -> bool {
        self.root && !as_root
    }

    /// The program and arguments as they will run: with `sudo` (and `env` for variables) in
    /// front when the step needs root and the plan does not run as root.
    pub fn command_line(&self, as_root: bool) -> (String, Vec<Arg>) {
        if self.uses_sudo(as_root) {
            let mut args = Vec::new();
            if !self.env.is_empty() {
                args.push(Arg::Lit("env".to_string()));
                for (k, v) in &self.env {
                    args.push(Arg::Lit(format!("{k}={v}")));
                }
            }
            args.push(Arg::Lit(self.program.clone()));
            args.extend(self.args.iter().cloned());
            ("sudo".to_string(), args)
        } else {
            (self.program.clone(), self.args.clone())
        }
    }

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

    /// The names of the secrets this step uses (for the plan's header).
    pub fn secret_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for arg in &self.args {
            if let Arg::SecretFile { name, .. } = arg {
                names.push(format!("{name}_FILE"));
            }
        }
        if let Stdin::Secret { name, .. } = &self.stdin {
            names.push(name.to_string());
        }
        names
    }
}

/// An ordered list of steps, and whether it will run as root.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub title: String,
    pub as_root: bool,
    pub steps: Vec<Step>,
    /// How long repeated steps may take in all, and the pause between tries.
    pub deadline: Option<Wait>,
    /// What a pipeline needs to know beside the results (e.g. the pushed reference); part
    /// of the `--json` document.
    pub facts: serde_json::Value,
    /// The record file the steps' [`Recording`]s go to.
    pub record: Option<camino::Utf8PathBuf>,
    /// Said before the steps (and, with no steps, all there is to say).
    pub note: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    pub timeout_s: u64,
    pub interval_s: u64,
}

impl Plan {
    pub fn new(title: impl Into<String>, as_root: bool) -> Plan {
        Plan {
            title: title.into(),
            as_root,
            steps: Vec::new(),
            deadline: None,
            facts: serde_json::Value::Null,
            record: None,
            note: None,
        }
    }
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// The `--dry-run` text: a bash script that runs what the tool runs, in the same order
    /// and under the same conditions (`if`, `||`, `until`), stopping where the tool stops
    /// (`set -euo pipefail`). Secrets appear only as `${NAME}` references that the script
    /// requires to be set. What only the tool does is said in comments: judging a
    /// command's output (a "check") and keeping its record of what it made.
    pub fn render(&self) -> String {
        let mut out = String::from("#!/usr/bin/env bash\n");
        out.push_str(&format!("# plan: {}\n", comment(&self.title)));
        if let Some(note) = &self.note {
            for line in note.lines() {
                out.push_str(&format!("# {}\n", comment(line)));
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
                    comment(path.as_str())
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
            out.push_str(&format!("# {}\n", comment(&notes.join("; "))));
            if let Output::Check(check) = &step.output {
                out.push_str(&format!(
                    "# the tool then checks the output: {}\n",
                    comment(&check.describe())
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
                out.push_str(&format!("# {}\n", comment(&line)));
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

/// Text for a `#` comment: control characters (a line break would end the comment, a
/// carriage return hide what follows) are shown escaped.
pub fn comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl Plan {
    /// The plan as data, for `--dry-run --json` and snapshots: argv as it would run (with
    /// `sudo` when needed), secrets as `${NAME}` references.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| {
                let (program, args) = s.command_line(self.as_root);
                let mut argv = vec![program];
                argv.extend(args.iter().map(Arg::plain));
                let when = when_json(&s.when);
                let mut step = json!({
                    "id": s.id,
                    "about": s.about,
                    "argv": argv,
                    "env": s.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
                    "stdin": match &s.stdin {
                        Stdin::Inherit => json!("terminal"),
                        Stdin::Null => json!(null),
                        Stdin::Secret { name, .. } => json!(format!("${{{name}}}")),
                    },
                    "read_only": s.effect == Effect::ReadOnly,
                    "probe": s.on_fail == OnFail::Record,
                    "expect_failure": s.expect_failure,
                    "root": s.root,
                    "when": when,
                    "check": match &s.output {
                        Output::Check(c) => json!(c.describe()),
                        Output::Inherit | Output::Capture { .. } => json!(null),
                    },
                    "capture": match &s.output {
                        Output::Capture { var, .. } => json!(var),
                        _ => json!(null),
                    },
                    "repeat": s.repeat,
                });
                if let Some(lane) = s.lane {
                    step["lane"] = json!(lane);
                }
                step
            })
            .collect();
        json!({ "plan": self.title, "as_root": self.as_root, "steps": steps })
    }
}

fn when_json(when: &When) -> serde_json::Value {
    use serde_json::json;
    match when {
        When::Always => json!(null),
        When::IfSucceeded(id) => json!({ "if_succeeded": id }),
        When::IfFailed(id) => json!({ "if_failed": id }),
        When::IfSet(var) => json!({ "if_set": var }),
        When::IfDiffers(pairs) => {
            json!({ "if_differs": pairs.iter().map(|(k, v)| json!({ "var": k, "from": v })).collect::<Vec<_>>() })
        }
        When::AnyOf(all) => json!({ "any_of": all.iter().map(when_json).collect::<Vec<_>>() }),
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
        assert_eq!(comment("a\rtouch /tmp/x\nrm"), r"a\rtouch /tmp/x\nrm");
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
