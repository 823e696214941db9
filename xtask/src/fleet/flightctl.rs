//! A flightctl rollout, judged: what flightctl's API says of the fleet and its devices (one
//! look: `GET /api/v1/fleets/NAME`, then `GET /api/v1/devices?fieldSelector=...`), every
//! device's verdict, whether the rollout is done (or stopped for an approval), and the same
//! report as the Ansible path's (`mod.rs`): its table, `--json`, `--junit`, its exit code.
//!
//! A device's verdict, in this order (the printed plan's jq, `plan/flightctl.rs`, takes the
//! same turns):
//! - its architecture has no entry in the pinned list: failed;
//! - it ran the pinned digest of its architecture before the rollout, and still does:
//!   skipped (flightctl gives it the new template, and nothing moves);
//! - given the image (`spec.os.image` is the pinned reference), it runs its architecture's
//!   pinned digest (`status.os.imageDigest`, as bootc reports it) and flightctl says it is
//!   `UpToDate`: upgraded;
//! - given the image, its agent gave up (condition `Updating`: False, `Error`, for the spec it
//!   was given) and flightctl says it is `OutOfDate`: rolled back when it runs the digest it
//!   ran before (greenboot failed the new image), failed otherwise;
//! - given the image, flightctl says it is `UpToDate` and its agent applied the spec naming
//!   it (`status.config.renderedVersion` is the rendered version flightctl gave it), yet it
//!   runs another digest: failed;
//! - flightctl says `Unknown` (it lost the device): gone when the watch ends;
//! - given the image, none of the above yet: updating; gone if the watch ends so;
//! - not given the image: waiting for its batch; not touched if the watch ends so.

use std::collections::BTreeMap;

use anyhow::anyhow;
use serde_json::{json, Value};

use super::{counts, digests_json, exit_code, said, Verdict};
use crate::error::{Definite, NotYet};
use crate::plan::{FlightctlDevice, FlightctlPlan};

/// flightctl's own names (api/core/v1beta1/consts.go).
pub const TEMPLATE_VERSION: &str = "fleet-controller/templateVersion";
pub const BATCH_NUMBER: &str = "fleet-controller/batchNumber";
pub const LAST_BATCH_REPORT: &str = "fleet-controller/lastBatchCompletionReport";
pub const APPROVAL_METHOD: &str = "fleet-controller/rolloutApprovalMethod";
pub const RENDERED_VERSION: &str = "device-controller/renderedVersion";
/// The variable the watch carries from look to look (which batch each device was seen in).
pub const CARRY: &str = "FLIGHTCTL_SEEN";
/// flightctl's success threshold when the fleet names none (`DefaultSuccessThreshold`).
pub const DEFAULT_THRESHOLD: u64 = 90;

/// One look: the fleet and its devices.
#[derive(Clone, Debug)]
pub struct Look {
    pub fleet: Value,
    pub devices: Vec<Value>,
}

/// One answer of flightctl's API to the `GET`s of a fleet and its devices, read.
pub enum Answer {
    /// flightctl's `Status` of an error: its code, and `CODE REASON: MESSAGE` to say.
    Status(i64, String),
    /// The fleet and its device list.
    Look(Value, Value),
    /// Anything else.
    Other,
}

/// The documents of an answer (`Err`: one is not JSON), as the watch and the read before
/// planning both take them.
pub fn answer(stdout: &str) -> Result<Answer, serde_json::Error> {
    let docs = serde_json::Deserializer::from_str(stdout)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(status) = docs.iter().find(|d| d["kind"] == "Status") {
        let code = status["code"].as_i64().unwrap_or(0);
        let message = crate::validate::escape_controls(status["message"].as_str().unwrap_or(""));
        let said = format!(
            "{code} {}: {message}",
            status["reason"].as_str().unwrap_or("")
        );
        return Ok(Answer::Status(code, said));
    }
    Ok(match <[Value; 2]>::try_from(docs) {
        Ok([f, l]) if f["kind"] == "Fleet" && l["kind"] == "DeviceList" => Answer::Look(f, l),
        _ => Answer::Other,
    })
}

/// The two documents of a look; flightctl's `Status` of an error: a token refused or the
/// fleet gone is a definite no, anything else (a server starting, too many requests) not yet.
pub fn look(stdout: &str, fleet: &str) -> anyhow::Result<Look> {
    match answer(stdout).map_err(|e| anyhow!("flightctl's API answered with no JSON: {e}"))? {
        Answer::Status(code, said) => Err(match code {
            401 | 403 => anyhow::Error::new(Definite(format!(
                "flightctl's API refused the token ({said})"
            ))),
            404 => anyhow::Error::new(Definite(format!(
                "flightctl's API has no fleet {fleet} any more ({said})"
            ))),
            _ => anyhow::Error::new(NotYet {
                progress: format!("flightctl's API answered {said}"),
                detail: Value::Null,
                diagnosis: format!("flightctl's API answered {said}"),
            }),
        }),
        Answer::Look(f, l) => Ok(Look {
            fleet: f,
            devices: l["items"].as_array().cloned().unwrap_or_default(),
        }),
        Answer::Other => Err(anyhow!(
            "flightctl's API did not answer with the fleet and its device list"
        )),
    }
}

/// A device's state in one look.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    /// Its verdict, and why when it is not green.
    Done(Verdict, Option<String>),
    /// Given the image, no verdict yet: what flightctl says.
    Running(String),
    /// flightctl says Unknown: what it says.
    Lost(String),
    /// Not given the image yet.
    Pending,
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// An annotation of a fleet or a device (`metadata.annotations[key]`).
pub fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// The device's `Updating` condition.
fn updating(d: &Value) -> Option<&Value> {
    d.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Updating"))
}

/// The agent's error names the rendered version it failed (`Failed to update to
/// renderedVersion: N: ...`): the one flightctl gave it now, or an older failure's.
fn same_version(d: &Value, condition: &Value) -> bool {
    let message = condition["message"].as_str().unwrap_or("");
    let named = message
        .split("renderedVersion: ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .find(|v| !v.is_empty());
    match named {
        Some(v) => v == annotation(d, RENDERED_VERSION).unwrap_or(""),
        None => true,
    }
}

/// A device's state in a look (`before`: what it was before the rollout, when it was in
/// the fleet then).
pub fn state(d: &Value, plan: &FlightctlPlan, before: Option<&FlightctlDevice>) -> State {
    let before = before.and_then(|b| b.before.as_deref());
    let arch = text(d, "/status/systemInfo/architecture");
    let want = arch.and_then(|a| plan.digest(a));
    let now = text(d, "/status/os/imageDigest");
    let updated = text(d, "/status/updated/status").unwrap_or("");
    let given = text(d, "/spec/os/image") == Some(plan.image.as_str());
    let lost = text(d, "/status/summary/status") == Some("Unknown") || updated == "Unknown";
    let info = |p: &str| crate::validate::escape_controls(text(d, p).unwrap_or(""));
    let condition = updating(d);
    let failed = given
        && updated == "OutOfDate"
        && condition.is_some_and(|c| {
            c["status"] == "False" && c["reason"] == "Error" && same_version(d, c)
        });
    let Some(want) = want else {
        return State::Done(
            Verdict::Failed,
            Some(format!(
                "the pinned image has no entry for its architecture ({})",
                arch.unwrap_or("unknown")
            )),
        );
    };
    if before == Some(want) && now == Some(want) && !lost {
        return State::Done(Verdict::Skipped, None);
    }
    if given && now == Some(want) && updated == "UpToDate" && !lost {
        return State::Done(Verdict::Upgraded, None);
    }
    if failed {
        let said = condition
            .and_then(|c| c["message"].as_str())
            .map(crate::validate::escape_controls)
            .unwrap_or_default();
        return if before.is_some() && now == before {
            State::Done(
                Verdict::RolledBack,
                Some(format!(
                    "its update failed and it runs its previous image again (greenboot, or the agent, rolled it back); flightctl: {said}"
                )),
            )
        } else {
            State::Done(
                Verdict::Failed,
                Some(format!(
                    "its update failed; it runs {}, not the pinned {want}; flightctl: {said}",
                    now.unwrap_or("no image")
                )),
            )
        };
    }
    // flightctl says it applied the spec naming the pinned image (UpToDate, its config the
    // rendered version flightctl gave it), yet it runs another digest: not green, and
    // waiting will not change it
    let applied = annotation(d, RENDERED_VERSION)
        .is_some_and(|v| text(d, "/status/config/renderedVersion") == Some(v));
    if given && updated == "UpToDate" && applied && !lost {
        return State::Done(
            Verdict::Failed,
            Some(format!(
                "flightctl says it is up to date with the pinned image, but it runs {}, not its architecture's {want}",
                now.unwrap_or("no image")
            )),
        );
    }
    if lost {
        return State::Lost(format!(
            "flightctl lost it (Unknown): {}",
            info("/status/summary/info")
        ));
    }
    if given {
        return State::Running(format!(
            "it did not finish its update in time: flightctl says {updated}: {}",
            info("/status/updated/info")
        ));
    }
    State::Pending
}

/// What the fleet says of its rollout.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rollout {
    /// The rollout is the one of the pinned image (flightctl has made its template version).
    pub ours: bool,
    /// The batch flightctl is at (from 0; the number after the last explicit batch is its
    /// final one), and how many there are: `None` without a batch sequence.
    pub batch: Option<i64>,
    pub batches: Option<usize>,
    /// The `RolloutInProgress` condition's reason and message.
    pub reason: String,
    pub message: String,
}

impl Rollout {
    pub fn of(fleet: &Value, plan: &FlightctlPlan) -> Rollout {
        let tv = annotation(fleet, TEMPLATE_VERSION);
        let batch = fleet
            .pointer("/status/rollout/currentBatch")
            .and_then(Value::as_i64)
            .or_else(|| annotation(fleet, BATCH_NUMBER).and_then(|b| b.parse().ok()));
        let batches = fleet
            .pointer("/spec/rolloutPolicy/deviceSelection")
            .filter(|s| !s.is_null())
            .map(|s| s["sequence"].as_array().map_or(0, Vec::len) + 1);
        let condition = fleet
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "RolloutInProgress"));
        let field = |k: &str| {
            condition
                .and_then(|c| c[k].as_str())
                .map(crate::validate::escape_controls)
                .unwrap_or_default()
        };
        Rollout {
            ours: !plan.changes_template || tv.map(str::to_string) != plan.template_before,
            batch,
            batches,
            reason: field("reason"),
            message: field("message"),
        }
    }

    /// flightctl stopped the rollout before a batch that waits for an approval (not the one
    /// this run approved).
    pub fn stopped(&self, plan: &FlightctlPlan) -> bool {
        self.ours
            && matches!(self.reason.as_str(), "Suspended" | "Waiting")
            && (plan.approved_batch.is_none() || self.batch != plan.approved_batch)
    }

    /// flightctl ended the rollout of its batches.
    pub fn finished(&self) -> bool {
        self.ours && self.reason == "Inactive" && self.batches.is_some()
    }

    /// `2/3` (from 1), as a person counts batches.
    pub fn shown(&self) -> Option<String> {
        let (b, n) = (self.batch?, self.batches?);
        Some(format!("{}/{n}", (b + 1).clamp(1, n as i64)))
    }
}

/// Every device of a look, by name: the planned ones and the listed ones.
pub fn states(look: &Look, plan: &FlightctlPlan) -> Vec<(String, Option<Value>, State)> {
    let by: BTreeMap<&str, &Value> = look
        .devices
        .iter()
        .filter_map(|d| Some((text(d, "/metadata/name")?, d)))
        .collect();
    let mut names: Vec<&str> = plan.devices.iter().map(|d| d.name.as_str()).collect();
    names.extend(by.keys());
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let before = plan.devices.iter().find(|d| d.name == n);
            match by.get(n) {
                Some(d) => (n.to_string(), Some((*d).clone()), state(d, plan, before)),
                None => (
                    n.to_string(),
                    None,
                    State::Done(
                        Verdict::Failed,
                        Some("it left the fleet during the rollout (its labels, or the fleet's selector, changed)".to_string()),
                    ),
                ),
            }
        })
        .collect()
}

/// The watch's check: the fleet's report when the rollout is done; otherwise "not yet",
/// with the live line, what it saw so far (`seen`: the batch each device was first seen
/// given the image in) and the report as it would be if this look were the last (`final`).
pub fn judge(stdout: &str, plan: &FlightctlPlan, carried: Option<&str>) -> anyhow::Result<Value> {
    let look = look(stdout, &plan.fleet)?;
    let rollout = Rollout::of(&look.fleet, plan);
    let states = states(&look, plan);
    let mut seen: BTreeMap<String, u64> = carried
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .and_then(|c| serde_json::from_value(c["seen"].clone()).ok())
        .unwrap_or_default();
    let batch_now = match (rollout.batch, rollout.batches) {
        (Some(b), Some(n)) => (b + 1).clamp(1, n as i64) as u64,
        _ => 1,
    };
    for (name, doc, _) in &states {
        let given = doc
            .as_ref()
            .is_some_and(|d| text(d, "/spec/os/image") == Some(plan.image.as_str()));
        if given && rollout.ours && !seen.contains_key(name) {
            // given before this run: an earlier run's batch (0, "earlier")
            let earlier = plan.devices.iter().any(|d| &d.name == name && d.given);
            seen.insert(name.clone(), if earlier { 0 } else { batch_now });
        }
    }
    let report = report(&look, plan, &rollout, &states, &seen);
    let running = states
        .iter()
        .any(|(_, _, s)| matches!(s, State::Running(_) | State::Lost(_)));
    let pending = states.iter().any(|(_, _, s)| *s == State::Pending);
    let done = !running && (!pending || rollout.stopped(plan) || rollout.finished());
    if done {
        return Ok(report);
    }
    Err(anyhow::Error::new(NotYet {
        progress: live_line(&rollout, &states),
        diagnosis: super::lines(&report).unwrap_or_default(),
        detail: json!({ "seen": seen, "final": report }),
    }))
}

/// `batch 2/3: 1 ok, 0 rolled back, 0 gone, 0 failed, 2 running`: every device so far.
fn live_line(rollout: &Rollout, states: &[(String, Option<Value>, State)]) -> String {
    let n = |f: &dyn Fn(&State) -> bool| states.iter().filter(|(_, _, s)| f(s)).count();
    let head = match (rollout.ours, rollout.shown()) {
        (false, _) => "flightctl has not taken the new template yet".to_string(),
        (true, Some(b)) => format!("batch {b}"),
        (true, None) => "all devices at once".to_string(),
    };
    format!(
        "{head}: {} ok, {} rolled back, {} lost, {} failed, {} updating, {} waiting for their batch",
        n(&|s| matches!(s, State::Done(Verdict::Upgraded | Verdict::Skipped, _))),
        n(&|s| matches!(s, State::Done(Verdict::RolledBack, _))),
        n(&|s| matches!(s, State::Lost(_))),
        n(&|s| matches!(s, State::Done(Verdict::Failed, _))),
        n(&|s| matches!(s, State::Running(_))),
        n(&|s| *s == State::Pending),
    )
}

/// The fleet's report, this look judged as the last: every device's verdict (updating or
/// lost: gone; waiting for its batch: not touched), in the Ansible path's shape, with what
/// flightctl said of its rollout, and the batch that waits for approval, if one does.
pub fn report(
    look: &Look,
    plan: &FlightctlPlan,
    rollout: &Rollout,
    states: &[(String, Option<Value>, State)],
    seen: &BTreeMap<String, u64>,
) -> Value {
    let waiting = rollout
        .stopped(plan)
        .then(|| waiting(&look.fleet, plan, rollout));
    let batches = rollout.batches.unwrap_or(1) as u64;
    let last_run = seen.values().copied().max().unwrap_or(0);
    let mut devices = Vec::new();
    let mut verdicts = Vec::new();
    for (name, doc, s) in states {
        let (verdict, reason) = match s {
            State::Done(v, r) => (*v, r.clone()),
            State::Running(r) | State::Lost(r) => (Verdict::Gone, Some(r.clone())),
            State::Pending => (Verdict::NotTouched, None),
        };
        verdicts.push(verdict);
        let planned = plan.devices.iter().find(|d| &d.name == name);
        let arch = doc
            .as_ref()
            .and_then(|d| text(d, "/status/systemInfo/architecture"))
            .map(str::to_string)
            .or_else(|| planned.and_then(|p| p.architecture.clone()));
        let expected = arch
            .as_deref()
            .and_then(|a| plan.digest(a))
            .map(str::to_string);
        let wave = seen.get(name).copied().unwrap_or(match verdict {
            Verdict::NotTouched => last_run + 1,
            _ => last_run.max(1),
        });
        let field = |p: &str| doc.as_ref().and_then(|d| text(d, p)).map(str::to_string);
        devices.push(json!({
            "host": name,
            "wave": wave.min(batches.max(1)),
            "address": null,
            "verdict": verdict.word(),
            "architecture": arch,
            "before": planned.and_then(|p| p.before.clone()),
            "after": field("/status/os/imageDigest"),
            "expected": expected,
            "seconds": null,
            "reason": reason,
            "greenboot_failed": [],
            "upgrade_exit": null,
            "upgrade": null,
            "flightctl": {
                "given": doc.as_ref().is_some_and(|d| text(d, "/spec/os/image") == Some(plan.image.as_str())),
                "updated": field("/status/updated/status"),
                "updated_info": field("/status/updated/info"),
                "summary": field("/status/summary/status"),
            },
        }));
    }
    let code = exit_code(&verdicts);
    let waves: Vec<Value> = (1..=batches)
        .map(|w| {
            let (of, wave_verdicts): (Vec<&Value>, Vec<Verdict>) = devices
                .iter()
                .zip(&verdicts)
                .filter(|(d, _)| d["wave"] == w)
                .unzip();
            json!({
                "wave": w,
                "hosts": of.iter().map(|d| d["host"].clone()).collect::<Vec<_>>(),
                "ran": w <= last_run,
                "counts": counts(&wave_verdicts),
            })
        })
        .collect();
    let mut all = counts(&verdicts);
    all.insert("devices".to_string(), json!(devices.len()));
    let not_touched: Vec<Value> = devices
        .iter()
        .filter(|d| d["verdict"] == "not_touched")
        .map(|d| d["host"].clone())
        .collect();
    json!({
        "unit": "batch",
        "image": plan.image,
        "digests": digests_json(&plan.digests),
        "waves": waves,
        "last_wave_run": last_run,
        "wave_count": batches,
        "devices": devices,
        "counts": all,
        "not_touched": not_touched,
        "exit": code.to_string(),
        "said": said(&verdicts),
        "rerun": plan.rerun,
        "flightctl": {
            "fleet": plan.fleet,
            "api": plan.api,
            "template_version": annotation(&look.fleet, TEMPLATE_VERSION),
            "batch": rollout.shown(),
            "rollout": { "reason": rollout.reason, "message": rollout.message },
            "waiting": waiting,
        },
    })
}

/// The fleet's success threshold, as flightctl takes it: the fleet's, else 90%.
pub fn threshold(fleet: &Value) -> (u64, bool) {
    match text(fleet, "/spec/rolloutPolicy/successThreshold")
        .and_then(|t| t.strip_suffix('%'))
        .and_then(|t| t.parse().ok())
    {
        Some(t) => (t, true),
        None => (DEFAULT_THRESHOLD, false),
    }
}

/// The batch that waits for approval: which, after what, and how to let it go on.
pub fn waiting(fleet: &Value, plan: &FlightctlPlan, rollout: &Rollout) -> Value {
    let batch = rollout.shown().unwrap_or_else(|| "?".to_string());
    let last: Value = annotation(fleet, LAST_BATCH_REPORT)
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let reached = last["successPercentage"].as_u64();
    let after = last["batchName"].as_str().unwrap_or("the batch before");
    let (threshold, named) = threshold(fleet);
    let own = rollout.batch.and_then(|b| {
        fleet
            .pointer(&format!(
                "/spec/rolloutPolicy/deviceSelection/sequence/{b}/successThreshold"
            ))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let how = if rollout.reason == "Waiting" {
        format!("flightctl waits for a manual approval (its {APPROVAL_METHOD} is not automatic): it takes that approval from an annotation of the fleet that its API does not let a client set, so this tool cannot give it")
    } else if let Some(own) = &own {
        format!("batch {batch} has a success threshold of its own ({own}): approving it would change the fleet's batch sequence, which starts the rollout again; change the fleet's policy yourself")
    } else {
        format!("approve it with: {}", plan.approve)
    };
    let line = format!(
        "batch {batch} waits for approval: {after} reached {}, below the success threshold of {threshold}%{} (flightctl: {}); {how}",
        reached.map_or("less".to_string(), |r| format!("{r}%")),
        if named { "" } else { " (flightctl's default)" },
        rollout.message
    );
    json!({
        "batch": batch,
        "reason": rollout.reason,
        "after": after,
        "reached": reached,
        "threshold": threshold,
        "approve": (rollout.reason == "Suspended" && own.is_none()).then(|| plan.approve.clone()),
        "line": line,
    })
}

/// flightctl's answer to a `PATCH` of the fleet: the fleet, its template naming `image`.
pub fn patched(stdout: &str, fleet: &str, image: &str) -> anyhow::Result<Value> {
    let doc: Value = serde_json::from_str(stdout)
        .map_err(|e| anyhow!("flightctl's API answered the patch with no JSON: {e}"))?;
    if doc["kind"] == "Status" {
        anyhow::bail!(
            "flightctl refused the patch of fleet {fleet}: {} {}: {}",
            doc["code"],
            doc["reason"].as_str().unwrap_or(""),
            crate::validate::escape_controls(doc["message"].as_str().unwrap_or(""))
        );
    }
    let now = text(&doc, "/spec/template/spec/os/image");
    if doc["kind"] != "Fleet" || now != Some(image) {
        anyhow::bail!(
            "flightctl answered the patch of fleet {fleet} with a template naming {}, not {image}",
            now.unwrap_or("no image")
        );
    }
    Ok(json!({
        "fleet": fleet,
        "image": image,
        "template_version": annotation(&doc, TEMPLATE_VERSION),
        "rollout_policy": doc.pointer("/spec/rolloutPolicy"),
    }))
}

#[cfg(test)]
#[path = "flightctl_tests.rs"]
mod tests;
