//! The verdicts of `fleet/flightctl.rs` as jq, for the printed plan of `rollout --flightctl`:
//! over what flightctl's API says of the fleet and its devices (the two documents of one look,
//! slurped), whether the rollout is done, and the fleet's exit code and counts line, the same
//! as the tool's (`fleet/flightctl.rs`'s tests hold the two to the same answers).

use serde_json::json;

use super::{quote, FlightctlPlan};

/// The two documents of a look are the fleet and its device list (not flightctl's `Status`
/// of an error): the look can be judged.
pub const SHELL_SEEN: &str =
    "jq -e -s 'length == 2 and .[0].kind == \"Fleet\" and .[1].kind == \"DeviceList\"' >/dev/null";

/// flightctl refused the token (401, 403), or the fleet is gone (404): waiting will not help.
pub const SHELL_REFUSED: &str = "jq -e -s 'any(.[]; .kind == \"Status\" and (.code == 401 or .code == 403 or .code == 404))' >/dev/null";

/// Each device's state in a look (`states($plan)`, by name: the planned devices and the
/// listed ones), whether the rollout stopped for an approval or ended, and whether the watch
/// is done. A device's state: its verdict (`upgraded`, `skipped`, `rolled_back`, `failed`),
/// or `running` (given the image, no verdict yet), `lost` (flightctl says Unknown) or
/// `pending` (not given the image yet).
const STATES: &str = r#"
def updating($d): ([$d.status.conditions[]? | select(.type == "Updating")] | first) // {};
def same_version($d; $c):
  ([($c.message // "") | capture("renderedVersion: (?<v>[0-9]+)") | .v] | first) as $v
  | $v == null or $v == (($d.metadata.annotations // {})["device-controller/renderedVersion"] // "");
def state($d; $p):
  ($p.before[$d.metadata.name] // null) as $before
  | ($d.status.systemInfo.architecture // null) as $a
  | (if $a == null then null else ($p.digests[$a] // null) end) as $want
  | ($d.status.os.imageDigest // null) as $now
  | ($d.status.updated.status // "") as $updated
  | (($d.spec.os.image // null) == $p.image) as $given
  | (($d.status.summary.status // "") == "Unknown" or $updated == "Unknown") as $lost
  | updating($d) as $c
  | ($given and $c.status == "False" and $c.reason == "Error" and $updated == "OutOfDate" and same_version($d; $c)) as $failed
  | ((($d.metadata.annotations // {})["device-controller/renderedVersion"] // null) as $r | $r != null and ($d.status.config.renderedVersion // null) == $r) as $applied
  | if $want == null then "failed"
    elif $before == $want and $now == $want and ($lost | not) then "skipped"
    elif $given and $now == $want and $updated == "UpToDate" and ($lost | not) then "upgraded"
    elif $failed then (if $before != null and $now == $before then "rolled_back" else "failed" end)
    elif $given and $updated == "UpToDate" and $applied and ($lost | not) then "failed"
    elif $lost then "lost"
    elif $given then "running"
    else "pending" end;
def states($p): . as [$f, $l]
  | ([$l.items[] | {key: .metadata.name, value: .}] | from_entries) as $by
  | [([$p.names[], $l.items[].metadata.name] | unique)[] | if $by[.] == null then "failed" else state($by[.]; $p) end];
def ours($f; $p): ($p.changes_template | not) or ((($f.metadata.annotations // {})["fleet-controller/templateVersion"] // null) != $p.template_before);
def batch($f): ($f.status.rollout.currentBatch // ((($f.metadata.annotations // {})["fleet-controller/batchNumber"] // "") | tonumber?) // null);
def rollout($f): ([$f.status.conditions[]? | select(.type == "RolloutInProgress")] | first) // {};
def stopped($f; $p): ours($f; $p) and (rollout($f).reason == "Suspended" or rollout($f).reason == "Waiting") and ($p.approved_batch == null or batch($f) != $p.approved_batch);
def finished($f; $p): ours($f; $p) and rollout($f).reason == "Inactive" and ($f.spec.rolloutPolicy.deviceSelection != null);
def done($p): . as [$f, $l] | states($p) as $s
  | all($s[]; . != "running" and . != "lost") and (all($s[]; . != "pending") or stopped($f; $p) or finished($f; $p));
def verdicts($p): states($p) | map(if . == "running" or . == "lost" then "gone" elif . == "pending" then "not_touched" else . end);
"#;

/// What the jq programs know of the plan (`$plan`).
fn plan_json(plan: &FlightctlPlan) -> serde_json::Value {
    json!({
        "image": plan.image,
        "digests": crate::fleet::digests_json(&plan.digests),
        "names": plan.devices.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
        "before": plan.devices.iter().filter_map(|d| d.before.as_ref().map(|b| (d.name.clone(), json!(b)))).collect::<serde_json::Map<_, _>>(),
        "template_before": plan.template_before,
        "changes_template": plan.changes_template,
        "approved_batch": plan.approved_batch,
    })
}

/// `jq -s ...` with the plan as `$plan`, and a program after the definitions. The plan (a
/// fleet's every device) goes through a file that bash's own `printf` writes: no argument
/// of a command holds it, and a thousand devices stay under the kernel's limit of 128 KiB
/// for one argument.
fn jq(plan: &FlightctlPlan, flags: &str, program: &str) -> String {
    format!(
        "jq -s{flags} --slurpfile plan <(printf '%s' {}) {}",
        quote(&plan_json(plan).to_string()),
        // one line: the script stays readable (`quote` would escape line breaks)
        quote(&format!(
            "{} $plan[0] as $plan | {program}",
            STATES.split_whitespace().collect::<Vec<_>>().join(" ")
        ))
    )
}

/// Done: every device given the image has its verdict, and the rollout has nothing more to
/// do (every device given it, or flightctl stopped it for an approval, or ended it).
pub fn shell_done(plan: &FlightctlPlan) -> String {
    format!("{} >/dev/null", jq(plan, "e", "done($plan)"))
}

/// The exit code: 4 when a device rolled back, else 3 when one is gone, else 0 when every
/// device is green, else 1.
pub fn shell_exit(plan: &FlightctlPlan) -> String {
    jq(
        plan,
        "",
        r#"verdicts($plan) | if any(.[]; . == "rolled_back") then 4 elif any(.[]; . == "gone") then 3 elif all(.[]; . == "upgraded" or . == "skipped") then 0 else 1 end"#,
    )
}

/// The counts line, as `fleet::said` says it.
pub fn shell_said(plan: &FlightctlPlan) -> String {
    jq(
        plan,
        "r",
        r#"verdicts($plan) as $v | def n($w): [$v[] | select(. == $w)] | length; "\($v | length) devices: \(n("upgraded")) upgraded, \(n("skipped")) skipped (already current), \(n("rolled_back")) rolled back, \(n("gone")) gone, \(n("failed")) failed, \(n("not_touched")) not touched""#,
    )
}
