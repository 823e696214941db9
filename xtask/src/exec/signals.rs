//! SIGINT, SIGTERM and SIGHUP, caught: a flag the executor polls, and the signal passed on
//! to the command that runs. Plain libc calls (std links libc already): no crate needed.

use std::sync::atomic::{AtomicI32, Ordering};

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;
/// kill(2)'s "operation not permitted".
const EPERM: i32 = 1;

static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: i32) {
    // async-signal-safe: one atomic store
    CAUGHT.store(sig, Ordering::SeqCst);
}

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Catch the three signals (idempotent).
pub fn install() {
    for sig in [SIGHUP, SIGINT, SIGTERM] {
        // SAFETY: the handler only stores into an atomic
        unsafe {
            signal(sig, on_signal);
        }
    }
}

/// The signal caught so far, if any.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// What became of a signal sent to one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    /// There is no such process (any more).
    Gone,
    /// Not ours to signal (EPERM): another user's process, e.g. root's, that a command run
    /// through sudo started.
    Refused,
}

pub fn send(pid: u32, sig: i32) -> Sent {
    let Ok(pid) = i32::try_from(pid) else {
        return Sent::Gone;
    };
    // SAFETY: kill(2) on the pid of a process we started (or one it started)
    if unsafe { kill(pid, sig) } == 0 {
        return Sent::Delivered;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(EPERM) => Sent::Refused,
        _ => Sent::Gone,
    }
}

/// Send a signal to the process group `pgid` (a command spawned as its group's leader, with
/// everything it started).
pub fn send_group(pgid: u32, sig: i32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        if pgid > 1 {
            // SAFETY: kill(2) on the negated process group id of a child we started
            unsafe {
                kill(-pgid, sig);
            }
        }
    }
}

pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGHUP => "SIGHUP",
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
