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
    pub fn to_json(&self, plan: &Plan, ok: bool) -> Value {
        let steps: Vec<Value> = self.steps.iter().map(StepRecord::to_json).collect();
        json!({ "plan": plan.title, "ok": ok, "facts": plan.facts, "steps": steps, "results": self.data })
    }
}

/// Print a JSON document on stdout; a closed pipe is not worth a panic.
pub fn print_json(doc: &Value) {
    use std::io::Write;
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    let _ = writeln!(std::io::stdout(), "{text}");
}
