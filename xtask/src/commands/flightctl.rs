//! `cargo xtask rollout --flightctl FLEET`: the same release, pinned the same way, handed to
//! a flightctl fleet instead of Ansible. flightctl's agent on each device moves it when the
//! fleet's template changes, batch by batch under the fleet's rollout policy; the tool sets
//! the template's image (a JSON Patch of the fleet), watches the fleet and its devices
//! through the API until the rollout is done, stopped for an approval, or out of time, and
//! reports every device's verdict as the Ansible path does (`fleet/flightctl.rs`).
//!
//! Before planning, three read-only questions: the image's list (pinned as the Ansible path
//! pins it), the fleet and its devices (`GET`: the fleet exists, the token is accepted, the
//! devices are image-mode, what each runs now). The plan then has two steps, both `curl`:
//! the `PATCH` (only what must change: the image, the rollout policy when `--waves` or
//! `--max-failed` asks, the success threshold when `--approve` lets a waiting batch go on),
//! and the watch (`GET` the fleet and its devices, look after look, judged in Rust).

use serde_json::{json, Value};

use super::fleet::{self, Pinned};
use super::lifecycle::Wanted;
use super::rollout::RolloutArgs;
use crate::config::Sources;
use crate::fleet::flightctl::{self as judged, TEMPLATE_VERSION};
use crate::fleet::inventory::{self, WaveSize};
use crate::flightctl::{self as api, Api};
use crate::inputs;
use crate::plan::{
    flightctl as jq, quote, Check, FlightctlDevice, FlightctlPlan, Plan, ReportFile, ResultShell,
    Stdin, Wait,
};
use crate::validate::{self, bad};

/// The variables the watch sets: the fleet's exit code and its counts line.
const FLEET_EXIT: &str = "FLEET_EXIT";
const FLEET_SAID: &str = "FLEET_SAID";

/// Everything a flightctl rollout needs, resolved, read and checked.
#[derive(Clone, Debug)]
pub struct FlightctlRollout {
    pub api: Api,
    pub pinned: Pinned,
    /// The fleet as read before planning.
    pub fleet: Value,
    pub plan: FlightctlPlan,
    /// The JSON Patch sent (empty: nothing to change; the rollout is only watched).
    pub patch: Vec<Value>,
    /// What the patch does, in words, for the printed plan.
    pub changes: Vec<String>,
    /// What else the printed plan says first (nothing to approve).
    pub remarks: Vec<String>,
    pub timeout_s: u64,
    pub interval_s: u64,
    pub junit: Option<camino::Utf8PathBuf>,
}

/// The waves as flightctl's batch sequence: a count is that many devices, a percentage the
/// share of the fleet updated by the end of that batch (flightctl's rule); the last size,
/// 100%, is flightctl's own final batch, which takes every device left.
pub fn sequence(waves: &[WaveSize]) -> Vec<Value> {
    let mut w = waves.to_vec();
    if w.last() == Some(&WaveSize::Percent(100)) {
        w.pop();
    }
    w.iter().map(|s| json!({ "limit": s.to_json() })).collect()
}

/// The fleet and its devices, as the API answers now: a refused token or an unknown fleet is
/// bad input naming it; nothing has changed.
fn read(api: &Api, name: &str) -> anyhow::Result<(Value, Vec<Value>)> {
    let out = api.ask(&[api.fleet_url(name), api.devices_url(name)])?;
    let answer = judged::answer(&out).map_err(|e| {
        crate::error::StepFailed::error(format!(
            "flightctl's API at {} answered with no JSON ({e}): is it flightctl's API?",
            api.url
        ))
    })?;
    match answer {
        judged::Answer::Status(code, said) => Err(match code {
            401 => validate::refuse(format!(
                "{}: flightctl's API at {} refused the token ({said}): give a token it takes (`flightctl login` makes one)",
                api.token_from, api.url
            )),
            403 => validate::refuse(format!(
                "{}: the token's user may not read or change fleet {name} at {} ({said})",
                api.token_from, api.url
            )),
            404 => bad(
                "--flightctl",
                name,
                format!("flightctl's API at {} has no such fleet ({said})", api.url),
            ),
            _ => crate::error::StepFailed::error(format!(
                "flightctl's API at {} answered {said}",
                api.url
            )),
        }),
        judged::Answer::Look(f, l) => {
            if l.pointer("/metadata/continue")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.is_empty())
            {
                return Err(bad(
                    "--flightctl",
                    name,
                    format!(
                        "the fleet has more than {} devices: the tool reads one page of them",
                        api::PAGE
                    ),
                ));
            }
            let devices = l["items"].as_array().cloned().unwrap_or_default();
            Ok((f, devices))
        }
        judged::Answer::Other => Err(crate::error::StepFailed::error(format!(
            "flightctl's API at {} did not answer with fleet {name} and its devices",
            api.url
        ))),
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

impl FlightctlRollout {
    /// Every input checked, then the read-only questions (the image's list, the fleet and
    /// its devices), then the patch worked out; bad input is one line naming it, and nothing
    /// has changed.
    pub fn resolve(args: &RolloutArgs, name: &str, sources: &Sources) -> anyhow::Result<Self> {
        let name = api::fleet_name("--flightctl", name)?;
        let api = Api::resolve(
            args.api.as_deref(),
            args.api_ca.as_deref(),
            args.token_file.as_deref(),
            sources,
        )?;
        // the policy only when the command line asks for it: a policy the fleet has is kept
        let waves = args
            .waves
            .iter()
            .map(|w| {
                validate::no_control("--waves", w)?;
                WaveSize::parse("--waves", w)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let max_failed = args
            .max_failed
            .as_deref()
            .map(|m| inventory::max_failed("--max-failed", m))
            .transpose()?;
        if args.approve && max_failed.is_some() {
            return Err(bad(
                "--approve",
                "",
                "--max-failed sets the success threshold, which --approve lowers to what the stopped batch reached: give one of them",
            ));
        }
        let t = sources.get(&inputs::FLIGHTCTL_TIMEOUT, args.upgrade_timeout.as_deref())?;
        let timeout_s = validate::duration(&t.what, &t.value)?;
        let i = sources.get(&inputs::DEVICE_INTERVAL, args.poll_interval.as_deref())?;
        let interval_s = validate::duration(&i.what, &i.value)?;
        let junit = match &args.junit {
            Some(j) => Some(super::rollout::junit_path(sources, j)?),
            None => None,
        };
        let wanted = Wanted::resolve(&args.image, sources)?;
        // the questions, read-only: the image's list, then the fleet and its devices
        let pinned = fleet::pin(&wanted)?;
        let (fleet, devices) = read(&api, &name)?;
        let package: Vec<&str> = devices
            .iter()
            .filter(|d| text(d, "/status/capabilities/osMode") == Some("package"))
            .filter_map(|d| text(d, "/metadata/name"))
            .collect();
        if !package.is_empty() {
            return Err(bad(
                "--flightctl",
                &name,
                format!(
                    "the fleet has package-mode devices ({}): they refuse an OS image and stall their batch; move them to a fleet without an OS image",
                    package.join(", ")
                ),
            ));
        }
        let mut planned: Vec<FlightctlDevice> = devices
            .iter()
            .filter_map(|d| {
                Some(FlightctlDevice {
                    name: text(d, "/metadata/name")?.to_string(),
                    architecture: text(d, "/status/systemInfo/architecture").map(str::to_string),
                    before: text(d, "/status/os/imageDigest").map(str::to_string),
                    given: text(d, "/spec/os/image") == Some(pinned.reference.as_str()),
                })
            })
            .collect();
        planned.sort_by(|a, b| a.name.cmp(&b.name));

        // the patch: the template's image, the policy asked for, the approval asked for
        let mut patch = Vec::new();
        let mut changes = Vec::new();
        let mut remarks = Vec::new();
        let image_now = text(&fleet, "/spec/template/spec/os/image");
        let changes_template = image_now != Some(pinned.reference.as_str());
        if changes_template {
            let os = fleet.pointer("/spec/template/spec/os");
            match (image_now, os.and_then(|o| o.get("catalogItemRef"))) {
                (Some(old), None) => {
                    // as read: a template someone changed since is not overwritten
                    patch.push(json!({"op": "test", "path": "/spec/template/spec/os/image", "value": old}));
                    patch.push(json!({"op": "replace", "path": "/spec/template/spec/os/image", "value": pinned.reference}));
                }
                _ => patch.push(json!({"op": "add", "path": "/spec/template/spec/os", "value": {"image": pinned.reference}})),
            }
            changes.push(format!(
                "the template's image: {} → {}",
                image_now.unwrap_or("none"),
                pinned.reference
            ));
        }
        let policy = fleet
            .pointer("/spec/rolloutPolicy")
            .filter(|p| !p.is_null());
        let selection = (!waves.is_empty())
            .then(|| json!({"strategy": "BatchSequence", "sequence": sequence(&waves)}));
        let threshold = max_failed.map(|m| format!("{}%", 100 - m));
        if selection.is_some() || threshold.is_some() {
            match policy {
                Some(_) => {
                    if let Some(s) = &selection {
                        patch.push(json!({"op": "add", "path": "/spec/rolloutPolicy/deviceSelection", "value": s}));
                    }
                    if let Some(t) = &threshold {
                        patch.push(json!({"op": "add", "path": "/spec/rolloutPolicy/successThreshold", "value": t}));
                    }
                }
                None if selection.is_none() => {
                    return Err(bad(
                        "--max-failed",
                        args.max_failed.as_deref().unwrap_or(""),
                        format!("fleet {name} has no rollout policy, and a success threshold needs batches: give --waves too"),
                    ))
                }
                None => {
                    let mut p = json!({"deviceSelection": selection});
                    if let Some(t) = &threshold {
                        p["successThreshold"] = json!(t);
                    }
                    patch.push(json!({"op": "add", "path": "/spec/rolloutPolicy", "value": p}));
                }
            }
            if let Some(s) = &selection {
                changes.push(format!(
                    "the rollout policy's batches (--waves): {}",
                    s["sequence"]
                ));
            }
            if let Some(t) = &threshold {
                changes.push(format!(
                    "the rollout policy's success threshold (--max-failed): {t}"
                ));
            }
        }
        let rerun = rerun(args, &name, &pinned, sources)?;
        let mut plan = FlightctlPlan {
            fleet: name.clone(),
            api: api.url.clone(),
            image: pinned.reference.clone(),
            digests: pinned.members.clone(),
            devices: planned,
            template_before: judged::annotation(&fleet, TEMPLATE_VERSION).map(str::to_string),
            changes_template,
            approved_batch: None,
            approve: format!("{rerun} --approve"),
            rerun,
        };
        if args.approve {
            match approval(&fleet, &plan)? {
                Some((batch, reached)) => {
                    patch.push(json!({"op": "add", "path": "/spec/rolloutPolicy/successThreshold", "value": format!("{reached}%")}));
                    changes.push(format!(
                        "the success threshold lowered to {reached}%, what the batch before the waiting one reached (--approve): flightctl lets the batch go on, and keeps that threshold for the batches after it"
                    ));
                    plan.approved_batch = Some(batch);
                }
                None => remarks.push(
                    "--approve: nothing to approve: no batch of this image's rollout waits for approval"
                        .to_string(),
                ),
            }
        }
        Ok(FlightctlRollout {
            api,
            pinned,
            fleet,
            plan,
            patch,
            changes,
            remarks,
            timeout_s,
            interval_s,
            junit,
        })
    }

    /// The plan: the patch (when something must change), then the watch.
    pub fn plan(&self, as_root: bool) -> Plan {
        let p = &self.plan;
        let mut plan = Plan::new(
            format!(
                "roll {} out to flightctl fleet {} ({} devices)",
                p.image,
                p.fleet,
                p.devices.len()
            ),
            as_root,
        );
        plan.note = Some(self.note());
        plan.summary = Some(("fleet", summary));
        plan.deadline = Some(Wait {
            timeout_s: self.timeout_s,
            interval_s: self.interval_s,
        });
        plan.explain_secret(
            api::TOKEN,
            "flightctl's bearer token (the one `flightctl login` gets); the script hands it to curl as a header file, never on a command line",
        );
        if let Some(j) = &self.junit {
            plan.report_files.push(ReportFile {
                path: j.clone(),
                what: "the JUnit report",
                make: junit_report,
            });
        }
        plan.facts = json!({
            "flightctl": { "api": p.api, "fleet": p.fleet, "template_version": p.template_before },
            "image": self.pinned.facts(),
            "devices": p.devices.iter().map(|d| json!({"name": d.name, "architecture": d.architecture, "before": d.before})).collect::<Vec<_>>(),
            "patch": self.patch,
            "timeout": self.timeout_s,
            "interval": self.interval_s,
            "rerun": p.rerun,
            "approve": p.approve,
        });
        // an interrupted run stops the tool's watch, not flightctl's rollout: said, with the
        // command that watches it again (the template naming the image then, nothing is
        // patched twice)
        let goes_on = format!(
            "flightctl goes on rolling fleet {} out on its own: its agents move the devices whether this tool watches or not. `{}` watches the rollout again (devices already on the pinned digest are skipped); `flightctl get fleet/{}` shows where it is",
            p.fleet, p.rerun, p.fleet
        );
        plan.leaves = Some(format!("nothing was sent to fleet {}", p.fleet));
        let fleet_url = self.api.fleet_url(&p.fleet);
        if !self.patch.is_empty() {
            plan.push(
                self.api
                    .step(
                        "patch",
                        format!("patch fleet {}: {}", p.fleet, self.changes.join("; ")),
                        &[
                            "-X".to_string(),
                            "PATCH".to_string(),
                            "-H".to_string(),
                            "Content-Type: application/json-patch+json".to_string(),
                            "--data-binary".to_string(),
                            "@-".to_string(),
                            fleet_url.clone(),
                        ],
                    )
                    .stdin(Stdin::Text(Value::Array(self.patch.clone()).to_string()))
                    .check(Check::FlightctlPatched {
                        fleet: p.fleet.clone(),
                        image: p.image.clone(),
                    })
                    .hint(format!(
                        "`flightctl get fleet/{} -o yaml` shows the fleet as it is now; a template changed since it was read fails the patch's test: run the same again",
                        p.fleet
                    ))
                    .leaves(format!(
                        "the patch may have reached flightctl: if `flightctl get fleet/{}` names the pinned image, {goes_on}",
                        p.fleet
                    )),
            );
        }
        plan.push(
            self.api
                .step(
                    "watch",
                    format!(
                        "watch fleet {}'s rollout until it is done, a batch waits for approval, or {}s have passed",
                        p.fleet, self.timeout_s
                    ),
                    &[fleet_url, self.api.devices_url(&p.fleet)],
                )
                .read_only()
                .repeat()
                .starts_wait()
                .carry(judged::CARRY)
                .ends_at_deadline()
                .check(Check::Flightctl { plan: p.clone() })
                .result_var(FLEET_EXIT, "exit", ResultShell::Stdout(jq::shell_exit(p)))
                .result_var(FLEET_SAID, "said", ResultShell::Stdout(jq::shell_said(p)))
                .exit_with(FLEET_EXIT, format!("${{{FLEET_SAID}}}"))
                .leaves(goes_on)
                .hint(format!(
                    "fix what the report shows (a device rolled back: greenboot's failing check, on the device; a gone one: its console), then run the same again: devices already on the pinned digest are skipped: {}",
                    p.rerun
                )),
        );
        plan
    }

    /// What the printed plan says first: the pin, the fleet read, the patch.
    fn note(&self) -> String {
        let p = &self.plan;
        let mut note = format!("{}; the fleet's template names this digest, from which each device's agent takes its architecture's image: a tag that moves now changes nothing", self.pinned.said());
        let on = p
            .devices
            .iter()
            .filter(|d| {
                d.before.is_some()
                    && d.architecture.as_deref().and_then(|a| p.digest(a)) == d.before.as_deref()
            })
            .count();
        let policy = match self.fleet.pointer("/spec/rolloutPolicy/deviceSelection") {
            Some(s) if !s.is_null() => format!(
                "batches {} then flightctl's final batch, success threshold {}%",
                s["sequence"],
                judged::threshold(&self.fleet).0
            ),
            _ => "no batches: every device at once".to_string(),
        };
        note.push_str(&format!(
            "\nfleet {} at {}, read before planning (template version {}, image {}; rollout policy: {policy}): {} devices, {on} already on the pinned digest",
            p.fleet,
            p.api,
            p.template_before.as_deref().unwrap_or("none"),
            text(&self.fleet, "/spec/template/spec/os/image").unwrap_or("none"),
            p.devices.len(),
        ));
        // the rollout's `RolloutInProgress` condition, when flightctl stopped it before a batch
        let now = judged::Rollout::of(&self.fleet, p);
        if matches!(now.reason.as_str(), "Suspended" | "Waiting") {
            note.push_str(&format!(
                "\nflightctl's rollout waits now: {}: {}",
                now.reason, now.message
            ));
        }
        for r in &self.remarks {
            note.push_str(&format!("\n{r}"));
        }
        if self.changes.is_empty() {
            note.push_str("\nnothing to patch: the fleet's template names the pinned image already; the rollout is watched");
        } else {
            for c in &self.changes {
                note.push_str(&format!("\nthe patch: {c}"));
            }
        }
        note
    }
}

/// `--approve`: the batch that waits (flightctl counts from 0) and the success percentage
/// the batch before it reached, when a batch of this image's rollout waits for an approval
/// the tool can give. flightctl lets the batch go on when that percentage meets the fleet's
/// success threshold (it looks again every 30 s); its approval annotation
/// (`fleet-controller/rolloutApproved`) is one its API drops from what a client sends.
fn approval(fleet: &Value, plan: &FlightctlPlan) -> anyhow::Result<Option<(i64, u64)>> {
    let rollout = judged::Rollout::of(fleet, plan);
    if plan.changes_template || !matches!(rollout.reason.as_str(), "Suspended" | "Waiting") {
        return Ok(None);
    }
    let refuse = |why: String| -> anyhow::Error {
        crate::error::StepFailed::error(format!("--approve: {why}; nothing was changed"))
    };
    // the batch as `Rollout::of` reads it (the fleet's status, else its batch annotation)
    let batch = rollout
        .batch
        .ok_or_else(|| refuse("flightctl says its rollout waits, but not at which batch".into()))?;
    let w = judged::waiting(fleet, plan, &rollout);
    if w["approve"].is_null() {
        return Err(refuse(
            w["line"]
                .as_str()
                .unwrap_or("this batch cannot be approved from here")
                .to_string(),
        ));
    }
    // what the batch before reached, as `waiting` read it from its lastBatchCompletionReport
    let reached = w["reached"].as_u64().ok_or_else(|| {
        refuse("flightctl has no report of the batch before the waiting one (its lastBatchCompletionReport)".into())
    })?;
    Ok(Some((batch, reached)))
}

/// The command that continues the rollout: the same fleet, the image by its pinned digest,
/// what a flag said said again (the policy is the fleet's now: not asked for again).
fn rerun(
    args: &RolloutArgs,
    name: &str,
    pinned: &Pinned,
    sources: &Sources,
) -> anyhow::Result<String> {
    let mut words = vec![
        "cargo".to_string(),
        "xtask".to_string(),
        "rollout".to_string(),
        "--flightctl".to_string(),
        name.to_string(),
        "--image".to_string(),
        pinned.reference.clone(),
    ];
    for (flag, value) in [
        ("--api", &args.api),
        ("--api-ca", &args.api_ca),
        ("--token-file", &args.token_file),
        ("--timeout", &args.upgrade_timeout),
        ("--interval", &args.poll_interval),
        ("--junit", &args.junit),
    ] {
        if let Some(v) = value {
            let v = match flag {
                // a path, as this run took it: the same file from wherever it runs
                "--api-ca" | "--token-file" | "--junit" => sources.flag_path(flag, v)?.to_string(),
                _ => v.clone(),
            };
            words.extend([flag.to_string(), v]);
        }
    }
    Ok(words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "))
}

/// The `--json` document's `fleet`: every device and batch, as the watch judged them.
fn summary(results: &std::collections::BTreeMap<String, Value>, code: i32) -> Value {
    match results.get("watch") {
        Some(r) => {
            let mut r = r.clone();
            r["exit"] = json!(code);
            r
        }
        None => json!({
            "devices": null,
            "exit": code,
            "note": "the rollout ended before the watch judged it",
        }),
    }
}

/// The JUnit report, from the watch's judgement (nothing when it did not end).
fn junit_report(results: &std::collections::BTreeMap<String, Value>, _code: i32) -> Value {
    results
        .get("watch")
        .and_then(crate::fleet::junit)
        .map_or(Value::Null, Value::String)
}
