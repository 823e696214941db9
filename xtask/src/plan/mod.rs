//! Plans: what a subcommand would run, as data.
//!
//! A subcommand turns resolved inputs into a [`Plan`] without reading the environment or
//! touching the system. The one executor (`exec/`) runs plans; `--dry-run` prints them as
//! bash ([`Plan::render`], `bash.rs`) or JSON ([`Plan::to_json`], `json.rs`). Secrets live
//! in [`Secret`] values that never render: the renderings refer to them by variable name,
//! so a printed plan can be pasted into bash after setting those variables.

mod bash;
mod check;
pub mod flightctl;
mod json;

pub use crate::record::{Entry, Field, Recording};
pub use crate::secrets::Secret;
pub use bash::quote;
pub use check::{
    missing_batch_jq, Check, FleetHost, FleetPlan, FlightctlDevice, FlightctlPlan, Want,
    LEFT_QUEUED, LEFT_STAGED, SHELL_DIGEST,
};

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
    /// `prefix` and the path of a private 0600 file, named `file`, holding one HTTP header
    /// line: `header` and the secret (curl's `-H @FILE`: a bearer token never on a command
    /// line). The executor writes the file; the rendering makes the same line from the
    /// secret's variable with bash's own `printf`, `prefix<(printf 'HEADER%s\n' "${NAME}")`.
    SecretHeader {
        prefix: String,
        name: &'static str,
        file: &'static str,
        header: String,
        secret: Secret,
    },
    /// `prefix` and the value of a variable captured by an earlier step (`Output::Capture`).
    Var {
        prefix: String,
        name: &'static str,
        suffix: String,
    },
    /// `prefix` and the value of the first of these variables that an earlier step set (not
    /// empty): a list member's digest, pushed now or else the one the registry holds.
    FirstVar {
        prefix: String,
        names: Vec<&'static str>,
    },
    /// A file the command writes (e.g. `--digestfile`): the executor passes a path in its
    /// private directory and puts the content into the step's result under `key`. Rendered
    /// as the bare file name.
    OutFile {
        file: &'static str,
        key: &'static str,
    },
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
    /// Text that is no secret (a configuration file the tool writes), rendered as
    /// `printf '%s' 'TEXT' | command`.
    Text(String),
    /// Text with `${NAME}`s that earlier steps set (a manifest naming the digests they
    /// read), rendered as `printf '%s' "TEXT"` with the variables expanded by bash.
    Template(String),
    /// A JSON document: the one an earlier step captured into `base` (`{}` when it is unset
    /// or not a JSON object), less the keys `drop` names, with `over` merged into it, objects
    /// key by key and everything else replaced (jq's `*`): the base image's policy.json with
    /// the tool's entries.
    JsonOver {
        base: &'static str,
        over: serde_json::Value,
        drop: Option<DropKeys>,
    },
}

/// Keys taken out of a [`Stdin::JsonOver`] base before the merge: in the object at `path`
/// (when there is one), every key that starts with one of `prefixes` (the base policy's
/// entries for a tag or a digest of the signed repository).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropKeys {
    pub path: Vec<String>,
    pub prefixes: Vec<String>,
}

impl DropKeys {
    /// As the printed plan hands it to jq (`$drop.path`, `$drop.prefixes`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "path": self.path, "prefixes": self.prefixes })
    }

    /// Take the keys out of `doc`.
    pub fn apply(&self, doc: &mut serde_json::Value) {
        let mut at = doc;
        for key in &self.path {
            match at.get_mut(key.as_str()) {
                Some(next) => at = next,
                None => return,
            }
        }
        if let Some(object) = at.as_object_mut() {
            object.retain(|k, _| !self.prefixes.iter().any(|p| k.starts_with(p.as_str())));
        }
    }
}

/// `base` with `over` merged in: objects merged key by key, recursively; any other value of
/// `over` replaces the base's (jq's `$base * $over`).
pub fn json_over(base: &serde_json::Value, over: &serde_json::Value) -> serde_json::Value {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(existing) => json_over(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            serde_json::Value::Object(out)
        }
        (_, o) => o.clone(),
    }
}

impl Stdin {
    /// The bytes fed to the command, given the captured variables (`None`: nothing).
    pub fn bytes(
        &self,
        vars: &std::collections::BTreeMap<&'static str, String>,
    ) -> Option<Vec<u8>> {
        match self {
            Stdin::Secret { secret, .. } => Some(secret.expose().to_vec()),
            Stdin::Text(text) => Some(text.as_bytes().to_vec()),
            Stdin::Template(text) => Some(interpolate(text, vars).into_bytes()),
            Stdin::JsonOver { base, over, drop } => {
                let mut base = vars
                    .get(base)
                    .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
                    .filter(serde_json::Value::is_object)
                    .unwrap_or_else(|| serde_json::json!({}));
                if let Some(drop) = drop {
                    drop.apply(&mut base);
                }
                let doc = json_over(&base, over);
                Some(
                    (serde_json::to_string_pretty(&doc).expect("a JSON value prints") + "\n")
                        .into_bytes(),
                )
            }
            Stdin::Inherit | Stdin::Null => None,
        }
    }
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
    /// Only when these two variables hold different values (or one is unset).
    IfVarsDiffer(&'static str, &'static str),
    /// Only when these two variables hold the same, set value.
    IfVarsSame(&'static str, &'static str),
    /// When any of these holds.
    AnyOf(Vec<When>),
    /// When all of these hold.
    AllOf(Vec<When>),
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
            When::IfVarsDiffer(a, b) => {
                vars.get(a).filter(|v| !v.is_empty()) != vars.get(b).filter(|v| !v.is_empty())
                    || vars.get(a).is_none_or(String::is_empty)
            }
            When::IfVarsSame(a, b) => vars
                .get(a)
                .is_some_and(|x| !x.is_empty() && Some(x) == vars.get(b)),
            When::AnyOf(all) => all.iter().any(|w| w.holds(outcomes, vars)),
            When::AllOf(all) => all.iter().all(|w| w.holds(outcomes, vars)),
        }
    }
}

/// A message with `${NAME}` in it, each replaced by the variable's value (when an earlier
/// step set it).
pub fn interpolate(
    message: &str,
    vars: &std::collections::BTreeMap<&'static str, String>,
) -> String {
    let mut out = String::new();
    for part in split_vars(message) {
        match part {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => match vars.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&format!("${{{name}}}")),
            },
        }
    }
    out
}

/// A piece of a message: text, or a `${NAME}` (NAME starting with a capital; letters, digits
/// and `_`).
pub enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

pub fn split_vars(message: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = message;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            // a lane's variables end in its architecture (`PUSHED_DIGEST_arm64`)
            Some(end)
                if end > 0
                    && after[..1].chars().all(|c| c.is_ascii_uppercase())
                    && after[..end]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                if start > 0 {
                    pieces.push(Piece::Text(&rest[..start]));
                }
                pieces.push(Piece::Var(&after[..end]));
                rest = &after[end + 1..];
            }
            _ => {
                pieces.push(Piece::Text(&rest[..start + 2]));
                rest = after;
            }
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    pieces
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
    Check(crate::plan::Check),
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
    /// The first fingerprint of `gpg --with-colons` output (field 10 of its `fpr:` line).
    GpgFingerprint,
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
            Extract::GpgFingerprint => output
                .lines()
                .find(|l| l.starts_with("fpr:"))
                .and_then(|l| l.split(':').nth(9))
                .unwrap_or("")
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
    /// Printed under the error when the step fails (unless one of `hints` fits better).
    pub hint: Option<String>,
    /// Hints for a cause the command's output shows: when the output holds the text, its
    /// hint is printed instead of `hint`.
    pub hints: Vec<(&'static str, String)>,
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
    /// Tell a person what the step's check found even when the step is a question (a probe
    /// or a step that may fail): a report such as `status`'s.
    pub reports: bool,
    /// Put values of the step's result (its check's or out-file's) into variables.
    pub result_vars: Vec<ResultVar>,
    /// Try the command this many times in all, pausing this many seconds between tries,
    /// before its failure counts (a registry that answers late).
    pub retries: Option<(u32, u64)>,
    /// When the step succeeded, end the plan here with this exit code and message (what a
    /// person must know: "the device rolled back").
    pub then_exit: Option<(i32, String)>,
    /// Stop the command when it runs longer than this many seconds (a tool known to hang
    /// now and then, a device that lost power): the step fails, saying so. A try of a
    /// repeated step past it is a "not yet"; a try past it is not tried again (`retries`).
    pub time_limit: Option<u64>,
    /// Also put this value of the step's result (its key) into the result of an earlier
    /// step (its id), under the same key: what a remote lane's push wrote, read after it.
    pub result_to: Option<(&'static str, &'static str)>,
    /// The plan's deadline ([`Plan::deadline`]) counts from this step's start: the waits
    /// after a reboot get the whole timeout, however long the steps before it took (an image
    /// pull has a limit of its own).
    pub starts_wait: bool,
    /// What the step is part of (one image of `mirror`'s): in a plan that keeps going
    /// ([`Plan::keep_going`]), a failing step fails its unit only: the unit's later steps are
    /// skipped, the other units go on, and the plan fails at the end naming each failed unit.
    pub unit: Option<&'static str>,
    /// While the command runs, a live line made from what it writes (a rollout's waves).
    pub watch: Option<Watch>,
    /// A repeated step whose check remembers across its tries: the detail of its last "not
    /// yet" is in this variable (JSON) at its next try (which batch each device of a
    /// flightctl rollout was seen in).
    pub carry: Option<&'static str>,
    /// A repeated step that, when the deadline passes, ends with what its check last saw,
    /// judged as final (its last "not yet" detail's `final`), instead of failing the plan:
    /// a rollout watched until its end or the timeout, reported either way.
    pub ends_at_deadline: bool,
    /// When the step succeeded and this variable (set from its result) holds an exit code
    /// other than 0: the step's report is shown, and the plan ends with that code and this
    /// message (`${NAME}`s filled in). A verdict made of many ("a device rolled back").
    pub exit_var: Option<(&'static str, String)>,
    /// What is left where the plan works (a device) once this step has started, should the
    /// run be interrupted at it or at a later step (until another step says otherwise): a
    /// pull the device may still finish, a reboot asked for. The error of a signal says it.
    pub leaves: Option<String>,
}

/// What a live line watches while a step's command runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Watch {
    /// A rollout's results directory (one document per device, as the playbook writes them):
    /// the wave running and its devices' verdicts so far.
    Fleet {
        results: camino::Utf8PathBuf,
        plan: FleetPlan,
    },
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
            hints: Vec::new(),
            expect_failure: false,
            repeat: false,
            records: Vec::new(),
            diagnose: None,
            done: None,
            lane: None,
            skip_note: None,
            sets: None,
            reports: false,
            result_vars: Vec::new(),
            retries: None,
            then_exit: None,
            time_limit: None,
            result_to: None,
            starts_wait: false,
            unit: None,
            watch: None,
            carry: None,
            ends_at_deadline: false,
            exit_var: None,
            leaves: None,
        }
    }
    /// Remember the last "not yet" detail in `var` for the next try (see [`Step::carry`]).
    pub fn carry(mut self, var: &'static str) -> Step {
        self.carry = Some(var);
        self
    }
    /// At the deadline, end with the last look judged as final (see
    /// [`Step::ends_at_deadline`]).
    pub fn ends_at_deadline(mut self) -> Step {
        self.ends_at_deadline = true;
        self
    }
    /// Also put `key` of this step's result into the result of the earlier step `id`.
    pub fn result_to(mut self, id: &'static str, key: &'static str) -> Step {
        self.result_to = Some((id, key));
        self
    }
    /// Part of this unit (see [`Step::unit`]).
    pub fn unit(mut self, unit: &'static str) -> Step {
        self.unit = Some(unit);
        self
    }
    /// Show a live line made from what the command writes, while it runs.
    pub fn watch(mut self, watch: Watch) -> Step {
        self.watch = Some(watch);
        self
    }
    /// End the plan with the exit code in `var` (from the step's result) when it is not 0
    /// (see [`Step::exit_var`]).
    pub fn exit_with(mut self, var: &'static str, message: impl Into<String>) -> Step {
        self.exit_var = Some((var, message.into()));
        self
    }
    /// Stop the command after `seconds`: the step fails, saying it did not end.
    pub fn time_limit(mut self, seconds: u64) -> Step {
        self.time_limit = Some(seconds);
        self
    }
    /// What is left once this step has started, should the run be interrupted (see
    /// [`Step::leaves`]).
    pub fn leaves(mut self, note: impl Into<String>) -> Step {
        self.leaves = Some(note.into());
        self
    }
    /// The plan's deadline counts from this step's start (see [`Step::starts_wait`]).
    pub fn starts_wait(mut self) -> Step {
        self.starts_wait = true;
        self
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
    /// `prefix` and a private file holding the header line `header` + the secret (see
    /// [`Arg::SecretHeader`]).
    pub fn secret_header_arg(
        mut self,
        prefix: &str,
        name: &'static str,
        file: &'static str,
        header: &str,
        secret: &Secret,
    ) -> Step {
        self.args.push(Arg::SecretHeader {
            prefix: prefix.to_string(),
            name,
            file,
            header: header.to_string(),
            secret: secret.clone(),
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
    pub fn check(mut self, check: Check) -> Step {
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
    /// Literal text and the first of these captured variables that is set, as one argument.
    pub fn first_var_arg(mut self, prefix: &str, names: Vec<&'static str>) -> Step {
        self.args.push(Arg::FirstVar {
            prefix: prefix.to_string(),
            names,
        });
        self
    }
    /// Literal text, a captured variable and literal text, as one argument.
    pub fn var_arg_around(mut self, prefix: &str, var: &'static str, suffix: &str) -> Step {
        self.args.push(Arg::Var {
            prefix: prefix.to_string(),
            name: var,
            suffix: suffix.to_string(),
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
    /// A hint for one cause: printed when the step fails and its output holds `shows`.
    pub fn hint_when(mut self, shows: &'static str, hint: impl Into<String>) -> Step {
        self.hints.push((shows, hint.into()));
        self
    }
    /// The hint for a failure whose command said `said`.
    pub fn hint_for(&self, said: &str) -> Option<String> {
        self.hints
            .iter()
            .find(|(shows, _)| said.contains(shows))
            .map(|(_, h)| h.clone())
            .or_else(|| self.hint.clone())
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
        self.result_vars.push(ResultVar { var, key, shell });
        self
    }
    /// Tell what the check found, even for a question (see [`Step::reports`]).
    pub fn reports(mut self) -> Step {
        self.reports = true;
        self
    }
    /// Try the command `tries` times in all, `pause_s` seconds apart.
    pub fn retries(mut self, tries: u32, pause_s: u64) -> Step {
        self.retries = Some((tries, pause_s));
        self
    }
    /// When the step succeeded, end the plan with this exit code and message.
    pub fn then_exit(mut self, code: i32, message: impl Into<String>) -> Step {
        self.then_exit = Some((code, message.into()));
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

    /// The exit code when this step fails: its check's (4: the device rolled back), else 1.
    pub fn fail_code(&self) -> i32 {
        match &self.output {
            Output::Check(check) => check.fail_code(),
            _ => 1,
        }
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

    /// The names of the secrets this step uses (for the plan's header).
    pub fn secret_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for arg in &self.args {
            match arg {
                Arg::SecretFile { name, .. } => names.push(format!("{name}_FILE")),
                Arg::SecretHeader { name, .. } => names.push(name.to_string()),
                _ => {}
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
    /// How long repeated steps may take in all, and the pause between tries: counted from
    /// the plan's start, or from the start of the last step that [`Step::starts_wait`]. The
    /// last pause ends at the deadline, for a last try there.
    pub deadline: Option<Wait>,
    /// What a pipeline needs to know beside the results (e.g. the pushed reference); part
    /// of the `--json` document.
    pub facts: serde_json::Value,
    /// The record file the steps' [`Recording`]s go to.
    pub record: Option<camino::Utf8PathBuf>,
    /// Said before the steps (and, with no steps, all there is to say).
    pub note: Option<String>,
    /// What each secret of the printed plan is and how to make it.
    pub secrets: Vec<SecretHelp>,
    /// The directory relative paths of the steps are relative to (the tool runs every plan
    /// at the repository root; the printed plan says `cd` first when it has such paths).
    pub dir: Option<camino::Utf8PathBuf>,
    /// Steps that run when the plan ends, however it ends (also on failure and on a
    /// signal), each when its condition holds: removing what only this run needs (a
    /// private build directory). The printed plan runs them from an `EXIT` trap.
    pub cleanup: Vec<Step>,
    /// A summary for the `--json` document, from the steps' results (by step id) and the
    /// exit code: its key and how to make it (the device's before, after and verdict).
    pub summary: Option<(&'static str, Summary)>,
    /// Go on past failing steps that belong to a unit ([`Step::unit`]), and fail at the end
    /// naming every failed unit; the units are called this (`images`). Steps of no unit
    /// after a failure are skipped.
    pub keep_going: Option<&'static str>,
    /// Reports the tool writes from the steps' results when the plan has ended, however it
    /// ended, when the results hold what they need (a JUnit file for CI), as it keeps its
    /// record: the printed plan says so.
    pub report_files: Vec<ReportFile>,
    /// What is left where the plan works when it is interrupted before any step that
    /// [`Step::leaves`] something has started ("nothing on the device was changed").
    pub leaves: Option<String>,
}

/// A report file the tool writes when the plan has ended (see [`Plan::report_files`]).
#[derive(Clone, Debug)]
pub struct ReportFile {
    pub path: camino::Utf8PathBuf,
    /// What it is, for the printed plan (`a JUnit report`).
    pub what: &'static str,
    /// Its text, from the steps' results and the exit code (`null`: nothing to write).
    pub make: Summary,
}

/// Two report files are the same file of the same kind (how each is made is not compared:
/// function addresses are not).
impl PartialEq for ReportFile {
    fn eq(&self, other: &ReportFile) -> bool {
        self.path == other.path && self.what == other.what
    }
}

/// Makes a plan's `--json` summary from the steps' results and the exit code.
pub type Summary =
    fn(&std::collections::BTreeMap<String, serde_json::Value>, i32) -> serde_json::Value;

/// What a secret of the printed plan (`${NAME}`) is, for the person who pastes the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretHelp {
    /// The variable, as the plan names it (`USER_PASSWD_FILE`).
    pub name: &'static str,
    /// What it holds and how to make it.
    pub how: String,
    /// A file whose name matters (`kickstart.ks`: the installer finds it by that name).
    pub basename: Option<&'static str>,
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
            secrets: Vec::new(),
            dir: None,
            cleanup: Vec::new(),
            summary: None,
            keep_going: None,
            report_files: Vec::new(),
            leaves: None,
        }
    }
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }
    /// Say what a secret of the printed plan is and how to make it.
    pub fn explain_secret(&mut self, name: &'static str, how: impl Into<String>) {
        self.secrets.push(SecretHelp {
            name,
            how: how.into(),
            basename: None,
        });
    }
    /// Take over what another plan says of its secrets (a plan made of other plans' steps).
    pub fn explain_secrets_of(&mut self, other: &Plan) {
        for help in &other.secrets {
            if !self.secrets.iter().any(|h| h.name == help.name) {
                self.secrets.push(help.clone());
            }
        }
    }
    /// The same, for a secret file that must carry this name.
    pub fn explain_named_secret(
        &mut self,
        name: &'static str,
        basename: &'static str,
        how: impl Into<String>,
    ) {
        self.secrets.push(SecretHelp {
            name,
            how: how.into(),
            basename: Some(basename),
        });
    }
}
