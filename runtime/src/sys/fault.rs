//! Named crash points, a test hook for fault injection (the manager's
//! `sys::fault` has the same hook; docs/faults.md lists every point).
//!
//! `BERTH_CRASH_AT=<point>[,<point>...]` makes the runtime SIGKILL itself at a
//! point named `runtime:<step>`, between two side effects of a command. Read
//! once; an unset variable costs one load of an initialised `OnceLock`.

use std::sync::OnceLock;

static POINTS: OnceLock<Vec<String>> = OnceLock::new();

/// SIGKILL this process if `BERTH_CRASH_AT` names `point`.
pub fn crash_point(point: &str) {
    let points = POINTS.get_or_init(|| {
        std::env::var("BERTH_CRASH_AT")
            .map(|v| {
                v.split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    });
    if points.iter().any(|p| p == point) {
        // SIGKILL cannot be caught: the process ends here, as under kill -9.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
