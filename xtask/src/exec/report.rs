//! What happened, step by step: the `--json` document's `steps` and `results`, and the
//! lines worth telling a person.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::plan::{Plan, Step};

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// A question answered no (a probe, or a step that may fail).
    No,
    /// Its condition did not hold.
    Skipped,
    Failed,
    TimedOut,
    Interrupted,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::No => "no",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::TimedOut => "timed-out",
            Status::Interrupted => "interrupted",
        }
    }
}

/// One step as it ran: an entry of the `--json` document's `steps`.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub id: &'static str,
    pub about: String,
    pub status: Status,
    pub ms: u64,
    /// What the step's check or out-files produced.
    pub result: Option<Value>,
}

impl StepRecord {
    pub(super) fn new(step: &Step, status: Status, ms: u64) -> StepRecord {
        StepRecord {
            id: step.id,
            about: step.about.clone(),
            status,
            ms,
            result: None,
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({ "id": self.id, "about": self.about, "status": self.status.word(), "ms": self.ms });
        if let Some(r) = &self.result {
            v["result"] = r.clone();
        }
        v
    }
}

/// What happened, step by step: the data for `--json`, and the lines to tell a person.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub steps: Vec<StepRecord>,
    /// Each step's result, by step id.
    pub data: BTreeMap<String, Value>,
    /// What went well, worth a line each ("ok: pushed ..."), in step order.
    pub lines: Vec<String>,
}

impl Report {
    /// Put `value` under `key` into the result of the step `id` that ran earlier (in
    /// `results` and in its entry of `steps`).
    pub fn add_to_result(&mut self, id: &str, key: &str, value: Value) {
        let add = |result: &mut Option<Value>| {
            let mut object = match result.take() {
                Some(Value::Object(o)) => o,
                _ => serde_json::Map::new(),
            };
            object.insert(key.to_string(), value.clone());
            *result = Some(Value::Object(object));
        };
        let mut data = self.data.remove(id);
        add(&mut data);
        if let Some(d) = data {
            self.data.insert(id.to_string(), d);
        }
        if let Some(entry) = self.steps.iter_mut().rev().find(|s| s.id == id) {
            add(&mut entry.result);
        }
    }

    pub fn to_json(&self, plan: &Plan, ok: bool) -> Value {
        let steps: Vec<Value> = self.steps.iter().map(StepRecord::to_json).collect();
        json!({ "plan": plan.title, "ok": ok, "facts": plan.facts, "steps": steps, "results": self.data })
    }
}

/// Has this process printed its JSON document? (`--json` prints exactly one: when a command
/// fails before it printed its own, the error is the document.)
static PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Print a JSON document on stdout; a closed pipe is not worth a panic.
pub fn print_json(doc: &Value) {
    use std::io::Write;
    PRINTED.store(true, std::sync::atomic::Ordering::SeqCst);
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// Whether [`print_json`] printed a document.
pub fn printed_json() -> bool {
    PRINTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// An error as the `--json` document: what kind, the message, the hint, the exit code.
pub fn error_json(e: &anyhow::Error) -> Value {
    use crate::error::{BadInput, Interrupted, StepFailed};
    let code = crate::error::exit_code(e);
    let (kind, message, hint) = if let Some(bad) = e.downcast_ref::<BadInput>() {
        ("bad_input", bad.to_string(), None)
    } else if let Some(stop) = e.downcast_ref::<Interrupted>() {
        ("interrupted", stop.message.clone(), None)
    } else if let Some(f) = e.downcast_ref::<StepFailed>() {
        (f.kind(), f.message.clone(), f.hint.clone())
    } else {
        ("failed", format!("{e:#}"), None)
    };
    json!({ "kind": kind, "message": message, "hint": hint, "exit": code })
}

#[cfg(test)]
mod tests {
    use super::Status;

    /// Issue 29, item 19: every status a step can end with is in the list of the
    /// `--json` document's step statuses, and the list names no other.
    #[test]
    fn every_step_status_is_documented() {
        let all = [
            Status::Ok,
            Status::No,
            Status::Skipped,
            Status::Failed,
            Status::TimedOut,
            Status::Interrupted,
        ];
        // a new status fails to compile here until it is in `all`
        for s in all {
            match s {
                Status::Ok
                | Status::No
                | Status::Skipped
                | Status::Failed
                | Status::TimedOut
                | Status::Interrupted => {}
            }
        }
        let readme = std::fs::read_to_string(
            crate::config::project_root().join("docs/src/exit-codes-and-json.md"),
        )
        .unwrap();
        let (_, list) = readme
            .split_once("`status`: ")
            .expect("docs/src/exit-codes-and-json.md lists the step statuses (`status`: ...)");
        let list = list.split_whitespace().collect::<Vec<_>>().join(" ");
        let (list, _) = list
            .split_once("; `ms`")
            .expect("the page's step statuses end with `; `ms``");
        // the words, without what a parenthesis says of them
        let mut bare = String::new();
        let mut depth = 0;
        for c in list.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 => bare.push(c),
                _ => {}
            }
        }
        let documented: Vec<&str> = bare.split(',').map(str::trim).collect();
        let words: Vec<&str> = all.iter().map(|s| s.word()).collect();
        assert_eq!(documented, words, "the documented step statuses: {list}");
    }
}
