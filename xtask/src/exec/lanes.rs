//! The steps of several lanes (architectures) at the same time, a thread per lane, each
//! lane's steps in order; their output prefixed with the lane, or on a terminal one live
//! line per lane. A failing lane stops the others.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use xshell::Shell;

use super::{Report, Runner, State};
use crate::error::{Interrupted, Stopped};

/// Where a step's progress lines and its command's output go: straight to stderr outside
/// lanes; in a lane, each line prefixed with the lane (`[arm64] `), or, on a terminal, into
/// that lane's live line (and a tail kept to show if it fails).
#[derive(Clone, Default)]
pub(super) struct Io {
    pub(super) lane: Option<&'static str>,
    /// The plan's clean-up is running: a caught signal is not passed on (the clean-up
    /// must finish).
    pub(super) finishing: bool,
    /// Set when another lane failed: stop the running command.
    stop: Option<Arc<AtomicBool>>,
    live: Option<Arc<Live>>,
}

impl Io {
    /// The output of the plan's clean-up, which finishes whatever signal came.
    pub(super) fn finishing() -> Io {
        Io {
            finishing: true,
            ..Io::default()
        }
    }
    pub(super) fn say(&self, line: &str) {
        match (&self.live, self.lane) {
            (Some(live), Some(lane)) => live.update(lane, line),
            (None, Some(lane)) => eprintln!("[{lane}] {line}"),
            _ => eprintln!("{line}"),
        }
    }
    /// A command's output line (kept as the lane's tail on a terminal).
    pub(super) fn output(&self, line: &str) {
        match (&self.live, self.lane) {
            (Some(live), Some(lane)) => live.keep(lane, line),
            _ => self.say(line),
        }
    }
    pub(super) fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }
    /// An error message, naming the lane.
    pub(super) fn tag(&self, message: String) -> String {
        match self.lane {
            Some(lane) => format!("[{lane}] {message}"),
            None => message,
        }
    }
}

/// One live line per lane on a terminal: the step it runs and for how long.
struct Live {
    lanes: Vec<&'static str>,
    state: Mutex<LiveState>,
}

struct LiveState {
    /// Per lane: its current step line and when that step started.
    current: BTreeMap<&'static str, (String, Instant)>,
    tails: BTreeMap<&'static str, Vec<String>>,
    drawn: bool,
    done: bool,
}

impl Live {
    fn new(lanes: &[&'static str]) -> Live {
        Live {
            lanes: lanes.to_vec(),
            state: Mutex::new(LiveState {
                current: BTreeMap::new(),
                tails: BTreeMap::new(),
                drawn: false,
                done: false,
            }),
        }
    }
    fn update(&self, lane: &'static str, line: &str) {
        if let Ok(mut st) = self.state.lock() {
            st.current.insert(lane, (line.to_string(), Instant::now()));
        }
        self.draw();
    }
    fn keep(&self, lane: &'static str, line: &str) {
        if let Ok(mut st) = self.state.lock() {
            let tail = st.tails.entry(lane).or_default();
            tail.push(line.to_string());
            if tail.len() > 30 {
                tail.remove(0);
            }
        }
    }
    fn draw(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.done {
            return;
        }
        let mut out = String::new();
        if st.drawn {
            out.push_str(&format!("\x1b[{}A", self.lanes.len()));
        }
        for lane in &self.lanes {
            let line = match st.current.get(lane) {
                Some((text, since)) => format!("{text} ({}s)", since.elapsed().as_secs()),
                None => "waiting".to_string(),
            };
            let line: String = crate::validate::escape_controls(&line)
                .chars()
                .take(150)
                .collect();
            out.push_str(&format!("\r\x1b[2K[{lane}] {line}\n"));
        }
        st.drawn = true;
        eprint!("{out}");
    }
    /// Stop redrawing; show the tail of the lanes that failed.
    fn finish(&self, failed: &[&'static str]) {
        self.draw();
        if let Ok(mut st) = self.state.lock() {
            st.done = true;
            for lane in failed {
                for line in st.tails.get(lane).into_iter().flatten() {
                    eprintln!("[{lane}] {line}");
                }
            }
        }
    }
}

impl Runner<'_> {
    /// Run the steps in `range`, lane by lane at the same time. Each lane has its own copy of
    /// the variables and its own secret directory (removed when the lane ends); when one lane
    /// fails, the others stop their running command and end. Afterwards the lanes' variables,
    /// outcomes and reports join the plan's.
    pub(super) fn lanes(
        &self,
        range: std::ops::Range<usize>,
        state: &mut State,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let (plan, opts, started) = (self.plan, self.opts, self.started);
        let mut lanes: Vec<&'static str> = Vec::new();
        for step in &plan.steps[range.clone()] {
            if let Some(l) = step.lane {
                if !lanes.contains(&l) {
                    lanes.push(l);
                }
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        // live lines on a terminal; plain prefixed lines in logs and with --json
        let live = (std::io::stderr().is_terminal() && !opts.stdout_to_stderr)
            .then(|| Arc::new(Live::new(&lanes)));
        let cwd = self.sh.current_dir();
        type LaneEnd = (
            Report,
            BTreeMap<&'static str, String>,
            BTreeMap<&'static str, bool>,
            anyhow::Result<()>,
            Vec<(&'static str, String, Option<String>)>,
        );
        let ends: Vec<(&'static str, LaneEnd)> = std::thread::scope(|scope| {
            let ticker = live.clone().map(|l| {
                let stop = stop.clone();
                scope.spawn(move || {
                    while !stop.load(Ordering::SeqCst) && !l.state.lock().map_or(true, |s| s.done) {
                        l.draw();
                        std::thread::sleep(Duration::from_millis(250));
                    }
                })
            });
            let handles: Vec<_> = lanes
                .iter()
                .map(|&lane| {
                    let io = Io {
                        lane: Some(lane),
                        finishing: false,
                        stop: Some(stop.clone()),
                        live: live.clone(),
                    };
                    let vars = state.vars.clone();
                    let outcomes = state.outcomes.clone();
                    let failed = state.failed.clone();
                    let wait_from = state.wait_from;
                    let leaves = state.leaves.clone();
                    let range = range.clone();
                    let cwd = cwd.clone();
                    let stop = stop.clone();
                    let handle = scope.spawn(move || -> LaneEnd {
                        let mut st = State {
                            vars,
                            outcomes,
                            failed,
                            wait_from,
                            leaves,
                            ..State::default()
                        };
                        let mut rep = Report::default();
                        let result = (|| {
                            let sh = Shell::new()?;
                            sh.change_dir(&cwd);
                            for i in range {
                                if plan.steps[i].lane == Some(lane) {
                                    let runner = Runner {
                                        sh: &sh,
                                        plan,
                                        opts,
                                        started,
                                    };
                                    runner.one(i, &mut st, &mut rep, &io)?;
                                }
                            }
                            Ok(())
                        })();
                        if result.is_err() {
                            stop.store(true, Ordering::SeqCst);
                        }
                        // the lane's secret files go with its state
                        let State {
                            vars,
                            outcomes,
                            failed,
                            ..
                        } = st;
                        (rep, vars, outcomes, result, failed)
                    });
                    (lane, handle)
                })
                .collect();
            let ends = handles
                .into_iter()
                .map(|(lane, h)| {
                    let end = h.join().unwrap_or_else(|_| {
                        (
                            Report::default(),
                            BTreeMap::new(),
                            BTreeMap::new(),
                            Err(anyhow!("internal: the {lane} lane panicked")),
                            Vec::new(),
                        )
                    });
                    (lane, end)
                })
                .collect();
            stop.store(true, Ordering::SeqCst);
            if let Some(t) = ticker {
                let _ = t.join();
            }
            ends
        });
        let failed: Vec<&'static str> = ends
            .iter()
            .filter(|(_, e)| {
                e.3.as_ref()
                    .is_err_and(|e| e.downcast_ref::<Stopped>().is_none())
            })
            .map(|(l, _)| *l)
            .collect();
        if let Some(live) = &live {
            live.finish(&failed);
        }
        let mut errors = Vec::new();
        for (_, (rep, vars, outcomes, result, failed)) in ends {
            for f in failed {
                if !state.failed.iter().any(|g| g.0 == f.0) {
                    state.failed.push(f);
                }
            }
            report.steps.extend(rep.steps);
            report.data.extend(rep.data);
            report.lines.extend(rep.lines);
            state.vars.extend(vars);
            state.outcomes.extend(outcomes);
            errors.extend(result.err());
        }
        // the cause to report: a signal, else a lane's failure, else (never alone) a lane that
        // was only stopped; the first lane's of each
        let rank = |e: &anyhow::Error| {
            if e.is::<Interrupted>() {
                0
            } else if e.is::<Stopped>() {
                2
            } else {
                1
            }
        };
        match errors.into_iter().min_by_key(rank) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
