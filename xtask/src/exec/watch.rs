//! A step's live line while its command runs ([`crate::plan::Watch`]): made from what the
//! command writes (a rollout's results, wave by wave), redrawn in place on a terminal; a
//! wave that is over keeps its own line, as it ended. In logs, a line per change.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::plan::Watch;

/// How often the live line is made again.
const EVERY: Duration = Duration::from_millis(500);

/// Draw the live lines of `watch` until `done` is set, then their last state.
pub(super) fn run(watch: &Watch, done: &AtomicBool) {
    let tty = std::io::stderr().is_terminal();
    // the waves whose line is final, the last line shown, and since when its wave runs
    let mut over = 0usize;
    let mut last = String::new();
    let mut since = Instant::now();
    let mut live = crate::fleet::Live::default();
    loop {
        let finished = done.load(Ordering::SeqCst);
        let lines = match watch {
            Watch::Fleet { results, plan } => live.lines(results, plan),
        };
        let Some((current, before)) = lines.split_last() else {
            return;
        };
        for line in &before[over.min(before.len())..] {
            if tty {
                eprintln!("\r\x1b[2K{line} ({}s)", since.elapsed().as_secs());
            } else if *line != last {
                eprintln!("{line}");
            }
            last = line.clone();
            since = Instant::now();
        }
        over = before.len();
        if tty {
            eprint!("\r\x1b[2K{current} ({}s)", since.elapsed().as_secs());
            if finished {
                eprintln!();
            }
        } else if *current != last {
            eprintln!("{current}");
        }
        last = current.clone();
        if finished {
            return;
        }
        let pause = Instant::now();
        while pause.elapsed() < EVERY && !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
