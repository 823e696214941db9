//! The verdicts of `mod.rs` as jq, for the printed plan: over the result documents the
//! playbook wrote (slurped), the fleet's exit code and its counts line, the same as the
//! tool's (`tests` in `mod.rs` holds the two to the same answers).

use serde_json::json;

use crate::plan::{quote, FleetPlan};

/// Each planned device's verdict word, in the plan's order (`verdicts($plan)`).
const VERDICTS: &str = r#"def verdicts($plan):
  ([.[] | .results | to_entries[]] | from_entries) as $r
  | [$plan.hosts[] as $h | $r[$h]
    | if . == null then "not_touched"
      else (.rc // -1) as $rc
      | ((.stdout // "") | (fromjson? // {})) as $u
      | if $rc == 4 then "rolled_back"
        elif $rc == 3 then "gone"
        elif $rc != 0 then "failed"
        else ($u | try .device.before.architecture catch null) as $a
          | (if ($a | type) == "string" then ($plan.digests[$a] // null) else null end) as $want
          | ($u | try .device.after.booted_digest catch null) as $after
          | if $want != null and $after == $want then
              (if ($u | try .device.verdict catch null) == "already_current" then "skipped" else "upgraded" end)
            else "failed" end
        end
      end];
"#;

/// `jq -s ... --argjson plan ...`, with a program after the verdicts.
fn jq(plan: &FleetPlan, raw: bool, program: &str) -> String {
    let data = json!({
        "hosts": plan.hosts.iter().map(|h| h.name.clone()).collect::<Vec<_>>(),
        "digests": super::digests_json(&plan.digests),
    });
    format!(
        "jq -s{} --argjson plan {} {}",
        if raw { " -r" } else { "" },
        quote(&data.to_string()),
        // one line: the script stays readable (`quote` would escape line breaks)
        quote(&format!(
            "{}verdicts($plan) | {program}",
            VERDICTS.split_whitespace().collect::<Vec<_>>().join(" ")
        ))
    )
}

/// The exit code: 4 when a device rolled back, else 3 when one is gone, else 0 when every
/// device is green, else 1.
pub fn shell_exit(plan: &FleetPlan) -> String {
    jq(
        plan,
        false,
        r#"if any(.[]; . == "rolled_back") then 4 elif any(.[]; . == "gone") then 3 elif all(.[]; . == "upgraded" or . == "skipped") then 0 else 1 end"#,
    )
}

/// The counts line, as [`super::said`] says it.
pub fn shell_said(plan: &FleetPlan) -> String {
    jq(
        plan,
        true,
        r#". as $v | def n($w): [$v[] | select(. == $w)] | length; "\($v | length) devices: \(n("upgraded")) upgraded, \(n("skipped")) skipped (already current), \(n("rolled_back")) rolled back, \(n("gone")) gone, \(n("failed")) failed, \(n("not_touched")) not touched""#,
    )
}
