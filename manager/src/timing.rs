//! Timing probes for profiling a command's phases: with `BERTH_TIMING=1` in
//! the environment, `mark("phase")` prints the time since the process started
//! and since the previous mark to stderr (`berth[PID] +12.3ms (+1.2) phase`).
//! Unset, a mark costs one load of a cached flag.

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

struct Clock {
    start: Instant,
    last: Mutex<Instant>,
}

fn clock() -> Option<&'static Clock> {
    static CLOCK: OnceLock<Option<Clock>> = OnceLock::new();
    CLOCK
        .get_or_init(|| {
            std::env::var_os("BERTH_TIMING")
                .filter(|v| !v.is_empty() && v != "0")
                .map(|_| {
                    // the process's own start, not the first mark's: exec and
                    // argument parsing count too
                    let start = process_age()
                        .and_then(|age| Instant::now().checked_sub(age))
                        .unwrap_or_else(Instant::now);
                    Clock {
                        start,
                        last: Mutex::new(start),
                    }
                })
        })
        .as_ref()
}

/// How long ago this process started (its start time in /proc/self/stat
/// against the system's uptime), to the clock tick.
fn process_age() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the fields after the command name, which may hold spaces: the 22nd
    // field of the line is the 20th after ")"
    let start_ticks: f64 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // USER_HZ is 100 on every Linux ABI berth runs on
    let age = uptime - start_ticks / 100.0;
    (age >= 0.0).then(|| std::time::Duration::from_secs_f64(age))
}

/// Print a probe line for `what` when `BERTH_TIMING` is set.
pub fn mark(what: &str) {
    let Some(c) = clock() else {
        return;
    };
    let now = Instant::now();
    let since = match c.last.lock() {
        Ok(mut last) => {
            let d = now.duration_since(*last);
            *last = now;
            d
        }
        Err(_) => Default::default(),
    };
    eprintln!(
        "berth[{}] +{:.1}ms (+{:.1}) {what}",
        std::process::id(),
        now.duration_since(c.start).as_secs_f64() * 1e3,
        since.as_secs_f64() * 1e3
    );
}
