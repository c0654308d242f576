//! Named crash points, a test hook for fault injection (tests/tests/faults.rs).
//!
//! `BERTH_CRASH_AT=<point>[,<point>...]` in the environment makes the process
//! SIGKILL itself when it reaches one of the named points, so that a test can
//! stop an operation between two of its side effects deterministically (kill -9
//! from outside only hits them by chance). The variable is read once; when it is
//! unset a point costs one load of an initialised `OnceLock`. The shim and the
//! runtime have the same hook for their own points (`shim:...`, `runtime:...`);
//! the manager's points carry no prefix. docs/faults.md lists them.

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
