//! Skipping a test (or a part of one) so that CI can tell a skip from a pass.
//!
//! Every skip prints one `SKIPPED...` line to the real stderr (not libtest's captured
//! output, so it reaches `tests/run.sh`'s log even for passing tests) ending in
//! [`SKIP_MARKER`] and the test's name; `tests/run.sh` counts those tests as skipped,
//! not passed. Under `CI=true` a missing peer that CI installs
//! (integration/install-deps.sh) fails the test instead: there it is a broken setup,
//! never a skip.

use std::io::Write;
use std::path::Path;

/// Ends every skip line, followed by `<test binary>::<test name>`.
pub const SKIP_MARKER: &str = "[berth-test-skip]";

/// Why a test (or part of it) does not run.
#[derive(Debug, Clone, Copy)]
pub enum Skip<'a> {
    /// A program or file that CI installs (runc, skopeo, umoci, zstd...): a failure
    /// under `CI=true`, a skip elsewhere.
    MissingPeer(&'a str),
    /// A property of the host that may be absent even in CI (no block device, no kvm,
    /// AppArmor enabled...): always a skip.
    Host(&'a str),
    /// runc 1.1.5 legitimately differs from the berth contract (the suite run against
    /// runc): always a skip.
    Runc(&'a str),
}

/// Whether the tests run in CI (`CI=true`, as CI services set it).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Record a skip (see the module doc); panics for a missing peer under CI.
pub fn skip(reason: Skip<'_>) {
    let (prefix, why) = match reason {
        Skip::MissingPeer(what) => {
            assert!(
                !under_ci(),
                "{what} is missing, but CI=true: CI installs it (integration/install-deps.sh), \
                 so this test must run"
            );
            ("SKIPPED", format!("{what} is not installed"))
        }
        Skip::Host(why) => ("SKIPPED", why.to_string()),
        Skip::Runc(why) => ("SKIPPED under runc 1.1.5", why.to_string()),
    };
    let line = format!("{prefix}: {why} {SKIP_MARKER} {}\n", test_name());
    // Straight to fd 2: libtest captures only the print macros.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Whether the peer program `prog` (on $PATH, or an absolute path) is installed; when it
/// is not, the skip is recorded (a failure under CI) and false returned.
pub fn peer_available(prog: &str) -> bool {
    if have(prog) {
        return true;
    }
    skip(Skip::MissingPeer(prog));
    false
}

fn have(prog: &str) -> bool {
    if prog.starts_with('/') {
        return Path::new(prog).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// `<test binary>::<test>`: libtest runs each test on a thread named after it; the
/// binary's name without cargo's hash suffix tells same-named tests of two files apart.
fn test_name() -> String {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let bin = match bin.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => bin,
    };
    let thread = std::thread::current();
    format!("{bin}::{}", thread.name().unwrap_or("main"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_peer_fails_under_ci_and_is_a_skip_elsewhere() {
        // The only test here that reads or sets CI.
        let saved = std::env::var_os("CI");
        std::env::set_var("CI", "true");
        let r = std::panic::catch_unwind(|| peer_available("/nonexistent/berth-peer"));
        let msg = r
            .expect_err("a missing peer must fail under CI")
            .downcast::<String>()
            .map(|s| *s)
            .unwrap_or_default();
        assert!(msg.contains("/nonexistent/berth-peer"), "{msg}");
        // Host properties and runc differences stay skips under CI.
        skip(Skip::Host("no such device"));
        skip(Skip::Runc("differs"));
        std::env::set_var("CI", "false");
        assert!(!peer_available("/nonexistent/berth-peer"));
        assert!(peer_available("/bin/sh"));
        match saved {
            Some(v) => std::env::set_var("CI", v),
            None => std::env::remove_var("CI"),
        }
    }

    #[test]
    fn names_the_test() {
        let n = test_name();
        assert!(n.ends_with("::skip::tests::names_the_test"), "{n}");
        assert!(!n.contains('/'), "{n}");
    }
}
