//! A fleet rollout's results, judged: what `ansible/rollout.yml` wrote for each wave (each
//! device's `cargo xtask upgrade --json` and exit code), every device's verdict, the fleet's
//! exit code, the report a person reads (a table, the devices not touched), the live line
//! while the play runs, and the JUnit file for CI.
//!
//! - `mod.rs`: the verdicts and the report;
//! - `flightctl.rs`: the same verdicts and report from what flightctl's API says of a fleet
//!   (`rollout --flightctl`), whose batches take the waves' place;
//! - `inventory.rs`: `ansible-inventory --list` read as data, and Ansible's waves;
//! - `shell.rs`: the same verdicts as jq, for the printed plan;
//! - `junit.rs`: the JUnit report.

pub mod flightctl;
pub mod inventory;
mod junit;
mod shell;

use std::collections::BTreeMap;

use anyhow::Context;
use serde_json::{json, Value};

use crate::plan::{FleetHost, FleetPlan};

pub use junit::junit;
pub use shell::{shell_exit, shell_said};

/// A device's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// It booted the pinned digest of its architecture and is healthy.
    Upgraded,
    /// It ran the pinned digest already, healthy: nothing was done (upgrade's
    /// `already_current`).
    Skipped,
    /// greenboot failed the new image; the device runs its previous image again (exit 4).
    RolledBack,
    /// It did not come back, or did not answer, in time (exit 3).
    Gone,
    /// Anything else: the upgrade failed, or the device booted another digest.
    Failed,
    /// Its wave never ran (the rollout stopped before it).
    NotTouched,
    /// The rollout was stopped (a signal) while its wave ran: its `upgrade` was stopped
    /// wherever it was (the image staged or not, the device rebooting or not): its state is
    /// unknown until it is asked again.
    Interrupted,
}

pub const VERDICTS: [Verdict; 7] = [
    Verdict::Upgraded,
    Verdict::Skipped,
    Verdict::RolledBack,
    Verdict::Gone,
    Verdict::Failed,
    Verdict::NotTouched,
    Verdict::Interrupted,
];

impl Verdict {
    /// The word of `--json` and of the printed plan's jq.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Upgraded => "upgraded",
            Verdict::Skipped => "skipped",
            Verdict::RolledBack => "rolled_back",
            Verdict::Gone => "gone",
            Verdict::Failed => "failed",
            Verdict::NotTouched => "not_touched",
            Verdict::Interrupted => "interrupted",
        }
    }

    /// As a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Upgraded => "upgraded",
            Verdict::Skipped => "skipped",
            Verdict::RolledBack => "rolled back",
            Verdict::Gone => "gone",
            Verdict::Failed => "failed",
            Verdict::NotTouched => "not touched",
            Verdict::Interrupted => "interrupted",
        }
    }

    fn green(self) -> bool {
        matches!(self, Verdict::Upgraded | Verdict::Skipped)
    }
}

/// The fleet's exit code: 0 when every device is green; 4 when any rolled back; 3 when any
/// is gone and none rolled back; 1 otherwise (a failure, or devices not touched).
pub fn exit_code(verdicts: &[Verdict]) -> i32 {
    if verdicts.contains(&Verdict::RolledBack) {
        crate::error::exit::ROLLED_BACK
    } else if verdicts.contains(&Verdict::Gone) {
        crate::error::exit::TIMEOUT
    } else if verdicts.iter().all(|v| v.green()) {
        crate::error::exit::OK
    } else {
        crate::error::exit::FAILED
    }
}

/// How many devices have each verdict, by its word (every verdict, 0 included): the
/// `counts` of a report and of each of its waves.
pub fn counts(verdicts: &[Verdict]) -> serde_json::Map<String, Value> {
    VERDICTS
        .iter()
        .map(|v| {
            let n = verdicts.iter().filter(|x| *x == v).count();
            (v.word().to_string(), json!(n))
        })
        .collect()
}

/// The counts line: `6 devices: 2 upgraded, 1 skipped (already current), ...` (and the
/// devices interrupted, when the rollout was).
pub fn said(verdicts: &[Verdict]) -> String {
    let n = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
    let mut line = format!(
        "{} devices: {} upgraded, {} skipped (already current), {} rolled back, {} gone, {} failed, {} not touched",
        verdicts.len(),
        n(Verdict::Upgraded),
        n(Verdict::Skipped),
        n(Verdict::RolledBack),
        n(Verdict::Gone),
        n(Verdict::Failed),
        n(Verdict::NotTouched)
    );
    if n(Verdict::Interrupted) > 0 {
        line.push_str(&format!(
            ", {} interrupted (state unknown)",
            n(Verdict::Interrupted)
        ));
    }
    line
}

/// The result documents (one per device, `{"batch": [HOST], "results": {HOST: {...}}}`,
/// concatenated), as each device's raw result by host.
pub fn results(text: &str) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut all = BTreeMap::new();
    for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let doc = doc.context("a result document of the playbook is not JSON")?;
        let Some(results) = doc.get("results").and_then(Value::as_object) else {
            anyhow::bail!("a result document of the playbook has no \"results\" object");
        };
        for (host, r) in results {
            all.insert(host.clone(), r.clone());
        }
    }
    Ok(all)
}

/// Each architecture's digest (`("amd64", "sha256:...")`) as a JSON map, as the reports,
/// the printed plan's jq and the `--json` documents give them.
pub fn digests_json(digests: &[(String, String)]) -> serde_json::Map<String, Value> {
    digests.iter().map(|(a, d)| (a.clone(), json!(d))).collect()
}

/// One device, judged.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    pub host: FleetHost,
    pub verdict: Verdict,
    pub architecture: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    /// The pinned digest of its architecture.
    pub expected: Option<String>,
    pub seconds: Option<f64>,
    /// Why it is not green, in a line.
    pub reason: Option<String>,
    pub greenboot_failed: Vec<String>,
    /// `upgrade`'s exit code.
    pub rc: Option<i64>,
    /// `upgrade --json`'s `device` summary.
    pub upgrade: Value,
}

/// The strings of a JSON array (none when it is not one), each escaped
/// ([`crate::validate::escape_controls`]): they come from a device or flightctl's API.
fn escaped(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(crate::validate::escape_controls)
        .collect()
}

/// `0:00:07.512345` (Ansible's `delta`) in seconds.
fn seconds(delta: &str) -> Option<f64> {
    let mut parts = delta.trim().split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

fn first_line(text: &str) -> String {
    crate::validate::escape_controls(text.lines().next().unwrap_or("").trim())
}

/// A device's verdict from its raw result (`None`: its wave never ran). The printed plan's
/// jq (`shell.rs`) takes the same turns.
pub fn judge_device(host: &FleetHost, raw: Option<&Value>, plan: &FleetPlan) -> Device {
    let mut d = Device {
        host: host.clone(),
        verdict: Verdict::NotTouched,
        architecture: None,
        before: None,
        after: None,
        expected: None,
        seconds: None,
        reason: None,
        greenboot_failed: Vec::new(),
        rc: None,
        upgrade: Value::Null,
    };
    let Some(raw) = raw else {
        return d;
    };
    let rc = raw.get("rc").and_then(Value::as_i64).unwrap_or(-1);
    d.rc = Some(rc);
    d.seconds = raw.get("delta").and_then(Value::as_str).and_then(seconds);
    let doc: Value = raw
        .get("stdout")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().map(str::to_string);
    d.upgrade = doc.get("device").cloned().unwrap_or(Value::Null);
    d.architecture = text(&d.upgrade["before"]["architecture"]);
    d.before = text(&d.upgrade["before"]["booted_digest"]);
    d.after = text(&d.upgrade["after"]["booted_digest"]);
    d.expected = d.architecture.as_ref().and_then(|a| {
        plan.digests
            .iter()
            .find(|(arch, _)| arch == a)
            .map(|(_, digest)| digest.clone())
    });
    // greenboot's failing checks, for a device that rolled back (its verdict's reason)
    if rc == 4 {
        d.greenboot_failed = escaped(&doc["results"]["greenboot-journal"]["failed_checks"]);
    }
    // what upgrade said when it failed, else the last line of its output, else Ansible's
    let said = text(&doc["error"]["message"])
        .map(|m| first_line(&m))
        .or_else(|| {
            raw.get("stderr")
                .and_then(Value::as_array)
                .and_then(|l| l.iter().rev().find_map(Value::as_str))
                .map(first_line)
        })
        .filter(|s| !s.is_empty())
        .or_else(|| raw.get("msg").and_then(Value::as_str).map(first_line))
        .unwrap_or_default();
    let (verdict, reason) = match rc {
        4 => (
            Verdict::RolledBack,
            Some(if d.greenboot_failed.is_empty() {
                "greenboot failed the new image; the device runs its previous image again"
                    .to_string()
            } else {
                format!(
                    "greenboot failed the new image ({}); the device runs its previous image again",
                    d.greenboot_failed.join(", ")
                )
            }),
        ),
        3 => (Verdict::Gone, Some(said)),
        2 => (Verdict::Failed, Some(format!("bad input: {said}"))),
        // exit 0 and no document: nothing says what the device runs
        0 if doc.get("device").is_none() => (
            Verdict::Failed,
            Some(format!(
                "cargo xtask upgrade exited 0 but printed no JSON document: what the device runs is unknown{}",
                if said.is_empty() { String::new() } else { format!(" ({said})") }
            )),
        ),
        0 => match (&d.expected, &d.after) {
            (Some(want), Some(after)) if want == after => (
                if d.upgrade["verdict"] == "already_current" {
                    Verdict::Skipped
                } else {
                    Verdict::Upgraded
                },
                None,
            ),
            (None, _) => (
                Verdict::Failed,
                Some(format!(
                    "the pinned image has no entry for its architecture ({})",
                    d.architecture.as_deref().unwrap_or("unknown")
                )),
            ),
            (Some(want), after) => (
                Verdict::Failed,
                Some(format!(
                    "it runs {}, not the pinned {want}",
                    after.as_deref().unwrap_or("no image")
                )),
            ),
        },
        -1 => (
            Verdict::Failed,
            Some(format!("cargo xtask upgrade did not run: {said}")),
        ),
        _ => (Verdict::Failed, Some(said)),
    };
    d.verdict = verdict;
    d.reason = reason;
    d
}

/// The fleet's report from the result documents (`stdout`: their concatenation): every
/// device and wave, the counts, the exit code (a string, for the variable the plan ends
/// with) and what to do next.
pub fn judge(stdout: &str, plan: &FleetPlan) -> anyhow::Result<Value> {
    Ok(judge_results(&results(stdout)?, plan, false))
}

/// The same from the results directory as the play left it, when the plan's last step did
/// not read it (the rollout was stopped, or the play could not start): its documents as
/// that step reads them (`*.json`, regular files, not below). `interrupted`: the rollout
/// was stopped while the play ran.
pub fn judge_dir(
    dir: &camino::Utf8Path,
    plan: &FleetPlan,
    interrupted: bool,
) -> anyhow::Result<Value> {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut files: Vec<std::path::PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            text.push_str(&std::fs::read_to_string(&f).with_context(|| f.display().to_string())?);
        }
    }
    Ok(judge_results(&results(&text)?, plan, interrupted))
}

/// Every device judged from its raw result by host. `interrupted`: the devices without a
/// result in the first wave that has any were being upgraded when the rollout was stopped
/// (or about to be): [`Verdict::Interrupted`], not "not touched".
pub fn judge_results(raw: &BTreeMap<String, Value>, plan: &FleetPlan, interrupted: bool) -> Value {
    let in_flight = interrupted
        .then(|| {
            plan.hosts
                .iter()
                .filter(|h| !raw.contains_key(&h.name))
                .map(|h| h.wave)
                .min()
        })
        .flatten();
    let devices: Vec<Device> = plan
        .hosts
        .iter()
        .map(|h| {
            let mut d = judge_device(h, raw.get(&h.name), plan);
            if d.verdict == Verdict::NotTouched && in_flight == Some(h.wave) {
                d.verdict = Verdict::Interrupted;
                d.reason = Some(
                    "the rollout was stopped while its wave ran: its upgrade was stopped wherever it was (staged, rebooting or waiting); ask it (`cargo xtask status`), or run the rollout again: a device already on the pinned digest is skipped".to_string(),
                );
            }
            d
        })
        .collect();
    let verdicts: Vec<Verdict> = devices.iter().map(|d| d.verdict).collect();
    let code = exit_code(&verdicts);
    let last_run = devices
        .iter()
        .filter(|d| d.verdict != Verdict::NotTouched)
        .map(|d| d.host.wave)
        .max()
        .unwrap_or(0);
    let waves: Vec<Value> = (1..=plan.waves)
        .map(|w| {
            let of: Vec<&Device> = devices.iter().filter(|d| d.host.wave == w).collect();
            let verdicts: Vec<Verdict> = of.iter().map(|d| d.verdict).collect();
            json!({
                "wave": w,
                "hosts": of.iter().map(|d| d.host.name.clone()).collect::<Vec<_>>(),
                "ran": w <= last_run,
                "counts": counts(&verdicts),
            })
        })
        .collect();
    let mut all = counts(&verdicts);
    all.insert("devices".to_string(), json!(devices.len()));
    let not_touched: Vec<&str> = devices
        .iter()
        .filter(|d| d.verdict == Verdict::NotTouched)
        .map(|d| d.host.name.as_str())
        .collect();
    json!({
        "image": plan.image,
        "digests": digests_json(&plan.digests),
        "waves": waves,
        "last_wave_run": last_run,
        "wave_count": plan.waves,
        "interrupted_in_wave": in_flight,
        "devices": devices.iter().map(device_json).collect::<Vec<_>>(),
        "counts": all,
        "not_touched": not_touched,
        "exit": code.to_string(),
        "said": said(&verdicts),
        "rerun": plan.rerun,
    })
}

fn device_json(d: &Device) -> Value {
    json!({
        "host": d.host.name,
        "wave": d.host.wave,
        "address": d.host.address,
        "verdict": d.verdict.word(),
        "architecture": d.architecture,
        "before": d.before,
        "after": d.after,
        "expected": d.expected,
        "seconds": d.seconds,
        "reason": d.reason,
        "greenboot_failed": d.greenboot_failed,
        "upgrade_exit": d.rc,
        "upgrade": d.upgrade,
    })
}

/// `sha256:1a2b3c4d5e6f`: a digest, short enough for a table.
fn short(digest: Option<&str>) -> String {
    match digest {
        Some(d) => crate::validate::escape_controls(&d.chars().take(19).collect::<String>()),
        None => "-".to_string(),
    }
}

/// The report a person reads, from [`judge`]'s document: a table of the devices that ran
/// (wave, host, architecture, before → after, verdict, time, greenboot's failing check),
/// why each one that is not green is not, the devices not touched, the counts.
pub fn lines(report: &Value) -> Option<String> {
    let devices = report.get("devices")?.as_array()?;
    let waves = report.get("wave_count")?.as_u64()?;
    // flightctl's batches take the place of Ansible's waves
    let unit = report.get("unit").and_then(Value::as_str).unwrap_or("wave");
    // names, architectures and reasons come from the inventory, a device or flightctl's
    // API: an escape sequence or a line break in one is shown escaped, never acted on
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(crate::validate::escape_controls)
    };
    let mut rows: Vec<[String; 7]> = vec![[
        unit.into(),
        "host".into(),
        "arch".into(),
        "before → after".into(),
        "verdict".into(),
        "time".into(),
        "greenboot".into(),
    ]];
    let mut why = Vec::new();
    for d in devices.iter().filter(|d| d["verdict"] != "not_touched") {
        let verdict = text(d, "verdict").unwrap_or_default();
        let label = VERDICTS
            .iter()
            .find(|v| v.word() == verdict)
            .map_or(verdict.as_str(), |v| v.label());
        let failed = escaped(&d["greenboot_failed"]);
        rows.push([
            // a flightctl batch of an earlier run (one that stopped before this one)
            match d["wave"].as_u64() {
                Some(0) => "earlier".to_string(),
                _ => format!("{}/{waves}", d["wave"]),
            },
            text(d, "host").unwrap_or_default(),
            text(d, "architecture").unwrap_or_else(|| "-".into()),
            format!(
                "{} → {}",
                short(d["before"].as_str()),
                short(d["after"].as_str())
            ),
            label.to_string(),
            d["seconds"]
                .as_f64()
                .map_or("-".to_string(), |s| format!("{s:.0}s")),
            failed.join(", "),
        ]);
        if let Some(r) = text(d, "reason") {
            why.push(format!(
                "{} ({label}): {r}",
                text(d, "host").unwrap_or_default()
            ));
        }
    }
    let mut out = Vec::new();
    if rows.len() > 1 {
        let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        let widths: Vec<usize> = (0..7).map(width).collect();
        for r in &rows {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                if i + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                }
            }
            out.push(line.trim_end().to_string());
        }
    }
    out.extend(why);
    let not_touched = escaped(&report["not_touched"]);
    if !not_touched.is_empty() {
        let last = report["last_wave_run"].as_u64().unwrap_or(0);
        let when = match report["interrupted_in_wave"].as_u64() {
            Some(w) => format!("the rollout was interrupted in {unit} {w}/{waves}"),
            None if last == 0 => format!("no {unit} ran"),
            None => format!("the rollout stopped after {unit} {last}/{waves}"),
        };
        out.push(format!("not touched ({when}): {}", not_touched.join(", ")));
    }
    // a flightctl batch that waits for approval, and the command that gives it
    if let Some(line) = report
        .pointer("/flightctl/waiting/line")
        .and_then(Value::as_str)
    {
        out.push(crate::validate::escape_controls(line));
    }
    out.push(text(report, "said")?);
    Some(out.join("\n"))
}

/// The live lines while the play runs, from the result documents written so far: one for
/// each wave up to the one that runs (the first with a device without a result), each with
/// its devices' verdicts so far. A document is read once (the playbook writes each whole,
/// renamed into place, and never again).
#[derive(Clone, Debug, Default)]
pub struct Live {
    read: std::collections::BTreeSet<std::ffi::OsString>,
    verdicts: BTreeMap<String, Verdict>,
}

impl Live {
    pub fn lines(&mut self, results_dir: &camino::Utf8Path, plan: &FleetPlan) -> Vec<String> {
        if let Ok(entries) = std::fs::read_dir(results_dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                if !name.to_string_lossy().ends_with(".json") || self.read.contains(&name) {
                    continue;
                }
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let Ok(raw) = results(&text) else {
                    continue;
                };
                for h in plan.hosts.iter().filter(|h| raw.contains_key(&h.name)) {
                    let d = judge_device(h, raw.get(&h.name), plan);
                    self.verdicts.insert(h.name.clone(), d.verdict);
                }
                self.read.insert(name);
            }
        }
        let verdict = |h: &FleetHost| {
            self.verdicts
                .get(&h.name)
                .copied()
                .unwrap_or(Verdict::NotTouched)
        };
        let running = (1..=plan.waves)
            .find(|w| {
                plan.hosts
                    .iter()
                    .any(|h| h.wave == *w && verdict(h) == Verdict::NotTouched)
            })
            .unwrap_or(plan.waves);
        (1..=running)
            .map(|w| {
                let of: Vec<Verdict> = plan
                    .hosts
                    .iter()
                    .filter(|h| h.wave == w)
                    .map(verdict)
                    .collect();
                wave_line(&of, w, plan.waves)
            })
            .collect()
    }
}

/// `wave 2/3: 1 ok, 1 rolled back, 0 gone, 0 failed, 0 running`, from its devices' verdicts
/// (not touched yet: running).
pub fn wave_line(verdicts: &[Verdict], wave: usize, waves: usize) -> String {
    let n = |f: &dyn Fn(Verdict) -> bool| verdicts.iter().filter(|v| f(**v)).count();
    format!(
        "wave {wave}/{waves}: {} ok, {} rolled back, {} gone, {} failed, {} running",
        n(&|v| v.green()),
        n(&|v| v == Verdict::RolledBack),
        n(&|v| v == Verdict::Gone),
        n(&|v| v == Verdict::Failed),
        n(&|v| v == Verdict::NotTouched),
    )
}

#[cfg(test)]
pub(crate) mod tests;
