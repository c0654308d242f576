//! Named crash points, a test hook for fault injection (tests/tests/faults.rs).
//!
//! `BERTH_CRASH_AT=<point>[,<point>...]` in the environment makes a berth
//! process SIGKILL itself when it reaches one of the named points, so that a
//! test can stop an operation between two of its side effects
//! deterministically (kill -9 from outside only hits them by chance). The
//! manager's points carry no prefix, the shim's are `shim:<step>`, the
//! runtime's `runtime:<step>`; docs/faults.md lists them. The variable is read
//! once; when it is unset a point costs one load of an initialised `OnceLock`.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::sync::OnceLock;

static POINTS: OnceLock<Vec<String>> = OnceLock::new();

/// SIGKILL this process if `BERTH_CRASH_AT` names `point`.
pub fn crash_point(point: &str) {
    let points = POINTS.get_or_init(|| {
        std::env::var("BERTH_CRASH_AT")
            .map(|v| parse(&v))
            .unwrap_or_default()
    });
    if points.iter().any(|p| p == point) {
        // SIGKILL cannot be caught: the process ends here, as under kill -9.
        // SAFETY: raise takes a signal number only and touches no memory.
        unsafe { libc::raise(libc::SIGKILL) };
    }
}

fn parse(v: &str) -> Vec<String> {
    v.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn points_are_comma_separated() {
        assert_eq!(super::parse("a,,shim:b"), ["a", "shim:b"]);
        assert!(super::parse("").is_empty());
    }
}
