//! A plan as JSON (`--dry-run --json`, and the snapshots): argv as it would run, secrets as
//! `${NAME}` references.

use super::{Arg, Effect, OnFail, Output, Plan, Stdin, When};

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
            Arg::SecretHeader {
                prefix,
                name,
                header,
                ..
            } => format!("{prefix}{}", super::bash::header_line(header, name)),
            Arg::Var {
                prefix,
                name,
                suffix,
            } => format!("{prefix}${{{name}}}{suffix}"),
            Arg::FirstVar { prefix, names } => format!("{prefix}{}", super::bash::first_var(names)),
            Arg::OutFile { file, .. } => file.to_string(),
        }
    }
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
                        Stdin::Text(text) => json!({ "text": text }),
                        Stdin::Template(text) => json!({ "template": text }),
                        Stdin::JsonOver { base, over, drop } => json!({ "json_over": { "base": format!("${{{base}}}"), "drop": drop.as_ref().map(super::DropKeys::to_json), "over": over } }),
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
                if let Some(seconds) = s.time_limit {
                    step["time_limit_s"] = json!(seconds);
                }
                if let Some((var, message)) = &s.exit_var {
                    step["exit_with"] = json!({ "var": var, "message": message });
                }
                if let Some(crate::plan::Watch::Fleet { results, .. }) = &s.watch {
                    step["watch"] = json!({ "results": results.as_str() });
                }
                if s.starts_wait {
                    step["starts_wait"] = json!(true);
                }
                step
            })
            .collect();
        let mut doc = json!({ "plan": self.title, "as_root": self.as_root, "steps": steps });
        if let Some(note) = &self.note {
            doc["note"] = json!(note);
        }
        if !self.report_files.is_empty() {
            doc["report_files"] = json!(self
                .report_files
                .iter()
                .map(|f| json!({ "path": f.path.as_str(), "what": f.what }))
                .collect::<Vec<_>>());
        }
        doc
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
        When::IfVarsDiffer(a, b) => json!({ "if_vars_differ": [a, b] }),
        When::IfVarsSame(a, b) => json!({ "if_vars_same": [a, b] }),
        When::AnyOf(all) => json!({ "any_of": all.iter().map(when_json).collect::<Vec<_>>() }),
        When::AllOf(all) => json!({ "all_of": all.iter().map(when_json).collect::<Vec<_>>() }),
    }
}
