//! `cargo xtask rollout`: one release to a whole fleet, in waves, through Ansible, with every
//! device's verdict. The tool does not run the fleet itself: the repository's playbook
//! (`ansible/rollout.yml`, data a fork reads and changes) does, with `serial` from
//! `--waves`, `max_fail_percentage` from `--max-failed` and forks from `--parallel`; its
//! task hands each device to `cargo xtask upgrade` (this very binary, `--json`) on this
//! control node, and writes each device's result. The verdict of each device stays where it
//! is made: in `upgrade`.
//!
//! Before planning, the inventory is read with `ansible-inventory --list` and every host's
//! device checked as `upgrade` checks one; the image is pinned once, by the digest of its
//! list: every device is given that digest, from which `upgrade` takes its architecture's
//! image, so a tag that moves during the rollout changes nothing. The plan writes the
//! play's variables, runs `ansible-playbook`, and reads the results back into the fleet's
//! report (`fleet/`): a table, the devices not touched, `--json`, `--junit`, and the exit
//! code (0 all green, 4 a device rolled back, 3 one is gone, 1 otherwise).

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};

use super::fleet::{self, FleetDevice, Pinned, Reach};
use super::lifecycle::{ImageFlags, Wanted};
use super::{Action, Ctx};
use crate::config::{Origin, Sources};
use crate::fleet::inventory::{self, WaveSize};
use crate::inputs;
use crate::plan::{
    quote, Check, FleetHost, FleetPlan, Plan, ReportFile, ResultShell, Stdin, Step, Watch,
};
use crate::validate::{self, bad};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RolloutArgs {
    /// Hand the release to this flightctl fleet instead of Ansible: the fleet's template
    /// names the pinned image, flightctl's agents move the devices batch by batch under the
    /// fleet's rollout policy, and the tool watches its API and reports
    #[arg(
        long,
        value_name = "FLEET",
        conflicts_with_all = ["inventory", "limit", "parallel", "ssh_user", "identity", "known_hosts"]
    )]
    pub flightctl: Option<String>,
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub api_ca: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<String>,
    /// With --flightctl: let the batch that waits for approval go on (flightctl stopped the
    /// rollout before it: the batch before did not reach the success threshold); the tool
    /// never does on its own
    #[arg(long)]
    pub approve: bool,
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<String>,
    /// Only the inventory's hosts this Ansible pattern matches (a host, a group, `edge:!lab`),
    /// as `ansible-playbook --limit` takes it
    #[arg(long, value_name = "PATTERN")]
    pub limit: Option<String>,
    #[command(flatten)]
    pub image: ImageFlags,
    #[arg(long, value_delimiter = ',', value_name = "SIZES")]
    pub waves: Vec<String>,
    #[arg(long, value_name = "PERCENT")]
    pub max_failed: Option<String>,
    #[arg(long, value_name = "N")]
    pub parallel: Option<String>,
    /// Ansible: how long each device may take, from the reboot, to come back, pass greenboot
    /// and have every pod ready (config device.timeout, default 20m); with --flightctl: how
    /// long the whole rollout may take, from the patch to its last device (config
    /// fleet.flightctl.timeout, default 1h)
    #[arg(long = "timeout", id = "rollout_timeout", value_name = "DURATION")]
    pub upgrade_timeout: Option<String>,
    #[arg(long = "interval", value_name = "DURATION")]
    pub poll_interval: Option<String>,
    #[arg(long)]
    pub ssh_user: Option<String>,
    #[arg(long = "ssh-key", value_name = "FILE")]
    pub identity: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<String>,
    /// When the rollout ends, write a JUnit report there for CI: one test case per device,
    /// each failure with its reason
    #[arg(long, value_name = "FILE")]
    pub junit: Option<String>,
}

/// The playbook, in the repository (data: a fork reads it and changes it).
pub const PLAYBOOK: &str = "ansible/rollout.yml";
/// Where a rollout keeps its files, in the tool's state directory (`.xtask`, or
/// `XTASK_STATE_DIR`): the play's variables, each device's result, Ansible's log (the last
/// rollout's, replaced by the next), and the lock that keeps a second rollout from them
/// while one runs.
pub const DIR: &str = "rollout";
/// The variables the last step sets: the fleet's exit code and its counts line.
const FLEET_EXIT: &str = "FLEET_EXIT";
const FLEET_SAID: &str = "FLEET_SAID";

/// Everything a rollout needs, resolved and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollout {
    pub inventory: Utf8PathBuf,
    pub limit: Option<String>,
    /// Every device, sorted by name (the play's `order: sorted`).
    pub devices: Vec<FleetDevice>,
    pub waves: Vec<WaveSize>,
    /// Each device's wave, from 1, in the order of `devices`.
    pub wave_of: Vec<usize>,
    pub max_failed: u64,
    pub parallel: u64,
    /// Each device's `upgrade --timeout`.
    pub timeout: String,
    /// Each device's `upgrade --interval`.
    pub interval: String,
    pub pinned: Pinned,
    pub reach: Reach,
    pub auth_config: Option<Utf8PathBuf>,
    /// The config file each `upgrade` reads (the one this run read).
    pub config: String,
    /// This binary: each device's `cargo xtask upgrade`.
    pub xtask: Utf8PathBuf,
    pub root: Utf8PathBuf,
    /// The rollout's files ([`DIR`] in the state directory).
    pub dir: Utf8PathBuf,
    pub junit: Option<Utf8PathBuf>,
    /// The command that continues the rollout.
    pub rerun: String,
}

/// `cargo xtask rollout`
pub fn act(args: &RolloutArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    if let Some(fleet) = &args.flightctl {
        let rollout = super::flightctl::FlightctlRollout::resolve(args, fleet, ctx.sources)?;
        return Ok(Action::plan(rollout.plan(ctx.sources.as_root)));
    }
    let rollout = Rollout::resolve(args, ctx.sources)?;
    if !ctx.dry_run {
        lock(&rollout.dir)?;
    }
    Ok(Action::plan(rollout.plan(ctx.sources.as_root)))
}

/// The lock of the rollout's files, held until this process ends (its descriptor is closed
/// on exec: the commands it runs do not hold it).
static HELD: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

/// One rollout at a time from these files: a second one would remove the first's results
/// while its play writes them, and both would move the same devices. The lock (`flock`) is
/// the kernel's: it goes with the process that holds it, however that ends.
fn lock(dir: &Utf8Path) -> anyhow::Result<()> {
    use std::io::{Seek, Write};
    let path = dir.join("lock");
    let failed = |e: std::io::Error| {
        crate::error::StepFailed::error(format!(
            "rollout: cannot take the lock {path}: {e} (set XTASK_STATE_DIR to a directory you can write)"
        ))
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {
            // who holds it, for the one refused
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = writeln!(file, "{}", std::process::id());
            let _ = HELD.set(file);
            Ok(())
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            let pid = validate::escape_controls(pid.trim());
            Err(anyhow::Error::new(crate::error::StepFailed {
                message: format!(
                    "rollout: another rollout (pid {}) is running from {dir}: its play writes its results there; nothing was run",
                    if pid.is_empty() { "unknown" } else { &pid }
                ),
                hint: Some(
                    "wait for it to end (its report names what is left), or give this one its own state directory: XTASK_STATE_DIR=DIR cargo xtask rollout ... (never two rollouts over the same devices)"
                        .to_string(),
                ),
                code: crate::error::exit::FAILED,
            }))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
    }
}

impl Rollout {
    /// Every input checked, then the two read-only questions (the inventory, the image's
    /// list); bad input is one line naming it, and nothing has run.
    pub fn resolve(args: &RolloutArgs, sources: &Sources) -> anyhow::Result<Rollout> {
        only_with_flightctl(args)?;
        let (inv_what, inventory) = fleet::inventory_path(args.inventory.as_deref(), sources)?;
        let limit = fleet::limit(args.limit.as_deref())?;
        let (waves_what, raw) = sources.list(&inputs::FLEET_WAVES, &args.waves)?;
        let waves = raw
            .iter()
            .map(|w| WaveSize::parse(&waves_what, w))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if waves.is_empty() {
            return Err(bad(&waves_what, "", "no wave sizes: give e.g. 1,10%,100%"));
        }
        let m = sources.get(&inputs::FLEET_MAX_FAILED, args.max_failed.as_deref())?;
        let max_failed = inventory::max_failed(&m.what, &m.value)?;
        let p = sources.get(&inputs::FLEET_PARALLEL, args.parallel.as_deref())?;
        let parallel = validate::count(&p.what, &p.value, 1, 500)?;
        let t = sources.get(&inputs::UPGRADE_TIMEOUT, args.upgrade_timeout.as_deref())?;
        let i = sources.get(&inputs::DEVICE_INTERVAL, args.poll_interval.as_deref())?;
        // checked as each device's `upgrade` checks them
        super::lifecycle::deadline(
            args.upgrade_timeout.as_deref(),
            args.poll_interval.as_deref(),
            sources,
        )?;
        let reach = Reach::resolve(
            args.ssh_user.as_deref(),
            args.identity.as_deref(),
            args.known_hosts.as_deref(),
            sources,
        )?;
        let junit = match &args.junit {
            Some(j) => Some(junit_path(sources, j)?),
            None => None,
        };
        let wanted = Wanted::resolve(&args.image, sources)?;
        let playbook = sources.root.join(PLAYBOOK);
        if !playbook.is_file() {
            return Err(validate::refuse(format!(
                "rollout: the playbook {playbook} is missing: it comes with the repository (restore it from git)"
            )));
        }
        let xtask = std::env::current_exe()
            .ok()
            .and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
            .ok_or_else(|| validate::refuse("rollout: the path of this program is not UTF-8"))?;
        // the play's engine, there before anything is asked or removed (a preview only
        // notes it: the printed plan may run where it is)
        if !super::lint::on_path(&sources.env, "ansible-playbook")
            && !sources
                .preview_without("ansible-playbook on PATH (install ansible-core)".to_string())
        {
            return Err(validate::refuse(
                "rollout: ansible-playbook is not installed: rollout hands the waves to it; install ansible-core (`pip install ansible-core`, or `sudo dnf install ansible-core`); `cargo xtask doctor --for rollout` checks",
            ));
        }
        // the two questions, read-only: the inventory, then the image's list
        let hosts = fleet::read_inventory(&inv_what, &inventory, limit.as_deref())?;
        let devices = hosts
            .iter()
            .map(|h| fleet::device_of(h, &reach, sources))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let sizes = inventory::wave_sizes(devices.len(), &waves);
        let wave_of: Vec<usize> = sizes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| std::iter::repeat_n(i + 1, *n))
            .collect();
        let pinned = fleet::pin(&wanted)?;
        let mut rerun = vec![
            "cargo".to_string(),
            "xtask".to_string(),
            "rollout".to_string(),
            "--inventory".to_string(),
            inventory.to_string(),
        ];
        if let Some(l) = &limit {
            rerun.extend(["--limit".to_string(), l.clone()]);
        }
        rerun.extend(["--image".to_string(), pinned.reference.clone()]);
        // what a flag said is said again; the rest comes from the same places again
        for (flag, picked) in [
            ("--max-failed", &m),
            ("--parallel", &p),
            ("--timeout", &t),
            ("--interval", &i),
        ] {
            if picked.origin == Origin::Flag {
                rerun.extend([flag.to_string(), picked.value.clone()]);
            }
        }
        if !args.waves.is_empty() {
            rerun.extend(["--waves".to_string(), raw.join(",")]);
        }
        if let Some(j) = &junit {
            rerun.extend(["--junit".to_string(), j.to_string()]);
        }
        Ok(Rollout {
            inventory,
            limit,
            devices,
            waves,
            wave_of,
            max_failed,
            parallel,
            timeout: t.value,
            interval: i.value,
            pinned,
            reach,
            auth_config: wanted.authfile.clone(),
            config: sources.config.path.clone(),
            xtask,
            root: sources.root.clone(),
            dir: rollout_dir(sources),
            junit,
            rerun: rerun.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "),
        })
    }

    /// What the judging needs: the devices and their waves, the pinned digests.
    pub fn fleet_plan(&self) -> FleetPlan {
        FleetPlan {
            hosts: self
                .devices
                .iter()
                .zip(&self.wave_of)
                .map(|(d, w)| FleetHost {
                    name: d.name.clone(),
                    wave: *w,
                    address: d.address.clone(),
                })
                .collect(),
            waves: self.wave_of.last().copied().unwrap_or(0),
            image: self.pinned.reference.clone(),
            digests: self.pinned.members.clone(),
            rerun: self.rerun.clone(),
        }
    }

    /// The play's variables (`-e @vars.json`): no secret in them.
    pub fn vars(&self) -> Value {
        let mut upgrade = vec![
            "--image".to_string(),
            self.pinned.reference.clone(),
            "--timeout".to_string(),
            self.timeout.clone(),
            "--interval".to_string(),
            self.interval.clone(),
            "--config".to_string(),
            self.config.clone(),
        ];
        if let Some(k) = &self.reach.known_hosts {
            upgrade.extend(["--known-hosts".to_string(), k.to_string()]);
        }
        if let Some(a) = &self.auth_config {
            upgrade.extend(["--auth-config".to_string(), a.to_string()]);
        }
        let devices: serde_json::Map<String, Value> = self
            .devices
            .iter()
            .map(|d| (d.name.clone(), json!(d.upgrade_args())))
            .collect();
        json!({
            "xtask_rollout": {
                "xtask": self.xtask.as_str(),
                "upgrade": upgrade,
                "devices": devices,
                "waves": self.waves.iter().map(|w| w.to_json()).collect::<Vec<_>>(),
                "max_failed": self.max_failed,
                "results": self.dir.join("results").as_str(),
                "reasons": {
                    "4": "rolled back: greenboot failed the new image and the device runs its previous image again (cargo xtask upgrade exited 4)",
                    "3": "gone: the device did not come back, or did not answer, in time (cargo xtask upgrade exited 3)",
                    "2": "bad input: cargo xtask upgrade refused its arguments (exit 2)",
                    "1": "failed: cargo xtask upgrade exited 1 (its JSON, in its result document, says why)",
                },
            }
        })
    }

    /// What the printed plan says first: the pin, the inventory read, the waves, the
    /// playbook.
    fn note(&self, fleet: &FleetPlan) -> String {
        let mut note = format!("{}; every device is given this digest, from which upgrade takes its architecture's image: a tag that moves now changes nothing", self.pinned.said());
        let args = fleet::inventory_args(&self.inventory, self.limit.as_deref());
        note.push_str(&format!(
            "\nthe inventory, read with `ansible-inventory {}`: {} hosts in {} waves ({}), in name order (the playbook's order: sorted)",
            args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "),
            self.devices.len(),
            fleet.waves,
            self.waves.iter().map(|w| w.text()).collect::<Vec<_>>().join(",")
        ));
        for w in 1..=fleet.waves {
            let of: Vec<String> = fleet
                .hosts
                .iter()
                .filter(|h| h.wave == w)
                .map(|h| format!("{} ({})", h.name, h.address))
                .collect();
            let shown = of.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
            let more = if of.len() > 8 {
                format!(" and {} more", of.len() - 8)
            } else {
                String::new()
            };
            note.push_str(&format!("\n  wave {w}: {shown}{more}"));
        }
        note.push_str(&format!(
            "\nthe playbook: {} (serial from --waves, max_fail_percentage {} from --max-failed, {} devices at a time); its task runs {} --json upgrade for each device on this host; Ansible's own output goes to {}",
            self.root.join(PLAYBOOK),
            self.max_failed,
            self.parallel,
            self.xtask,
            self.dir.join("ansible.log")
        ));
        note
    }

    pub fn plan(&self, as_root: bool) -> Plan {
        let fleet = self.fleet_plan();
        let dir = self.dir.clone();
        let (results, vars, log) = (
            dir.join("results"),
            dir.join("vars.json"),
            dir.join("ansible.log"),
        );
        let mut plan = Plan::new(
            format!(
                "roll {} out to {} devices in {} waves",
                self.pinned.reference,
                self.devices.len(),
                fleet.waves
            ),
            as_root,
        );
        plan.note = Some(self.note(&fleet));
        plan.summary = Some(("fleet", summary));
        if let Some(j) = &self.junit {
            plan.report_files.push(ReportFile {
                path: j.clone(),
                what: "the JUnit report",
                make: junit_report,
            });
        }
        plan.facts = json!({
            "inventory": self.inventory.as_str(),
            "limit": self.limit,
            "image": self.pinned.facts(),
            "waves": (1..=fleet.waves).map(|w| fleet.hosts.iter().filter(|h| h.wave == w).map(|h| h.name.clone()).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "addresses": fleet.hosts.iter().map(|h| (h.name.clone(), json!(h.address))).collect::<serde_json::Map<_, _>>(),
            "max_failed": self.max_failed,
            "parallel": self.parallel,
            "timeout": self.timeout,
            "interval": self.interval,
            "playbook": self.root.join(PLAYBOOK).as_str(),
            "results": results.as_str(),
            "log": log.as_str(),
            "rerun": self.rerun,
        });
        plan.push(
            Step::new(
                "clear",
                format!("remove the last rollout's files in {dir}"),
                "rm",
            )
            .args(["-rf", "--", results.as_str(), vars.as_str(), log.as_str()]),
        );
        plan.push(
            Step::new(
                "results-dir",
                format!("make {results} (each device's result goes there)"),
                "mkdir",
            )
            .args(["-p", "--", results.as_str()]),
        );
        // one line: the printed plan shows it as it is written
        let text = self.vars().to_string();
        plan.push(
            Step::new(
                "vars",
                format!("write the play's variables: {vars}"),
                "install",
            )
            .args(["-m", "0644", "/dev/stdin", vars.as_str()])
            .stdin(Stdin::Text(text)),
        );
        let mut play = Step::new(
            "playbook",
            format!(
                "run the waves: ansible-playbook {} on {} devices",
                PLAYBOOK,
                self.devices.len()
            ),
            "ansible-playbook",
        )
        .env("ANSIBLE_LOG_PATH", log.as_str())
        .env(fleet::STRICT_INVENTORY.0, fleet::STRICT_INVENTORY.1)
        .args(["-i", self.inventory.as_str()]);
        if let Some(l) = &self.limit {
            play = play.args(["--limit", l]);
        }
        plan.push(
            play.args(["--forks".to_string(), self.parallel.to_string()])
                .arg("-e")
                .arg(format!("@{vars}"))
                .arg(self.root.join(PLAYBOOK).as_str())
                // a failed host is Ansible's exit 2: the results say which and why
                .may_fail()
                .check(Check::Playbook)
                .watch(Watch::Fleet {
                    results: results.clone(),
                    plan: fleet.clone(),
                }),
        );
        plan.push(
            Step::new(
                "report",
                "read each device's result: every device's verdict",
                "find",
            )
            .args([
                results.as_str(),
                "-maxdepth",
                "1",
                "-name",
                "*.json",
                "-type",
                "f",
                "-exec",
                "cat",
                "--",
                "{}",
                "+",
            ])
            .read_only()
            .check(Check::Fleet {
                plan: fleet.clone(),
            })
            .result_var(
                FLEET_EXIT,
                "exit",
                ResultShell::Stdout(crate::fleet::shell_exit(&fleet)),
            )
            .result_var(
                FLEET_SAID,
                "said",
                ResultShell::Stdout(crate::fleet::shell_said(&fleet)),
            )
            .exit_with(FLEET_EXIT, format!("${{{FLEET_SAID}}}"))
            .hint(format!(
                "fix what the report shows (a device rolled back: greenboot's failing check; a gone one: its console; Ansible's log: {log}), then run the same again; devices already on the pinned digest are skipped: {}",
                self.rerun
            )),
        );
        plan
    }
}

/// The rollout's files: [`DIR`] in the state directory (where the record is).
pub fn rollout_dir(sources: &Sources) -> Utf8PathBuf {
    sources
        .record
        .path
        .parent()
        .map_or_else(|| sources.root.join(".xtask"), Utf8Path::to_path_buf)
        .join(DIR)
}

/// The flags of `--flightctl` are refused without it, rather than ignored.
fn only_with_flightctl(args: &RolloutArgs) -> anyhow::Result<()> {
    for (flag, given) in [
        ("--api", args.api.as_deref()),
        ("--api-ca", args.api_ca.as_deref()),
        ("--token-file", args.token_file.as_deref()),
        ("--approve", args.approve.then_some("")),
    ] {
        if let Some(v) = given {
            return Err(bad(
                flag,
                v,
                "is for a flightctl fleet: give --flightctl FLEET (the Ansible path has no API)",
            ));
        }
    }
    Ok(())
}

/// `--junit FILE`: in a directory that exists, not a directory itself.
pub(super) fn junit_path(sources: &Sources, value: &str) -> anyhow::Result<Utf8PathBuf> {
    let path = sources.flag_path("--junit", value)?;
    if path.is_dir() {
        return Err(bad("--junit", value, "is a directory: give a file name"));
    }
    match path.parent() {
        Some(p) if p.is_dir() => Ok(path),
        _ => Err(bad(
            "--junit",
            value,
            "its directory does not exist: make it first",
        )),
    }
}

/// The `--json` document's `fleet`: every device and wave, as the last step judged them;
/// when it did not run (the rollout was stopped, the play could not start), as the results
/// directory holds them now, with the lines for people that the last step did not show.
fn summary(results: &std::collections::BTreeMap<String, Value>, code: i32) -> Value {
    if let Some(r) = results.get("report") {
        let mut r = r.clone();
        r["exit"] = json!(code);
        return r;
    }
    match after_the_fact(results) {
        Some(mut r) => {
            r["exit"] = json!(code);
            if let Some(lines) = crate::fleet::lines(&r) {
                r["lines"] = json!(format!(
                    "{lines}\nto continue: {}",
                    r["rerun"].as_str().unwrap_or_default()
                ));
            }
            r
        }
        None => json!({
            "devices": null,
            "exit": code,
            "note": "the rollout ended before its results were read: the results directory holds what the playbook wrote",
        }),
    }
}

/// The JUnit report, from the last step's judgement, or from the results as they are when
/// it did not run.
fn junit_report(results: &std::collections::BTreeMap<String, Value>, _code: i32) -> Value {
    results
        .get("report")
        .cloned()
        .or_else(|| after_the_fact(results))
        .as_ref()
        .and_then(crate::fleet::junit)
        .map_or(Value::Null, Value::String)
}

/// Every device judged from what the play wrote, when the plan's last step did not judge
/// them: the play never reached (every device not touched: the results directory is not
/// this rollout's), stopped by a signal (the wave that ran: interrupted), or ended without
/// its results being read.
fn after_the_fact(results: &std::collections::BTreeMap<String, Value>) -> Option<Value> {
    let facts = results.get("_facts")?;
    let plan = fleet_of(facts)?;
    let dir = Utf8PathBuf::from(facts.get("results")?.as_str()?);
    match results
        .get("_steps")
        .and_then(|s| s.get("playbook"))
        .and_then(Value::as_str)
    {
        None | Some("skipped") => Some(crate::fleet::judge_results(
            &Default::default(),
            &plan,
            false,
        )),
        Some(status) => crate::fleet::judge_dir(&dir, &plan, status == "interrupted").ok(),
    }
}

/// The devices, their waves and the pin, from the plan's facts (what a summary is given).
fn fleet_of(facts: &Value) -> Option<FleetPlan> {
    let mut hosts = Vec::new();
    for (i, wave) in facts.get("waves")?.as_array()?.iter().enumerate() {
        for name in wave.as_array()? {
            let name = name.as_str()?.to_string();
            let address = facts
                .pointer(&format!("/addresses/{name}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            hosts.push(FleetHost {
                name,
                wave: i + 1,
                address,
            });
        }
    }
    Some(FleetPlan {
        waves: hosts.iter().map(|h| h.wave).max().unwrap_or(0),
        hosts,
        image: facts.pointer("/image/pinned")?.as_str()?.to_string(),
        digests: facts
            .pointer("/image/digests")?
            .as_object()?
            .iter()
            .filter_map(|(a, d)| Some((a.clone(), d.as_str()?.to_string())))
            .collect(),
        rerun: facts.get("rerun")?.as_str()?.to_string(),
    })
}
