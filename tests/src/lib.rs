//! End-to-end test harness for `berth-runtime` (and any runc-compatible runtime).
//!
//! * The workspace's binaries come from [`release_dir`] (`BERTH_RELEASE_DIR`, which
//!   tests/run.sh exports, else `<workspace>/target/<build target>/release`); the runtime
//!   from `BERTH_RUNTIME` if set: `BERTH_RUNTIME=/usr/bin/runc` runs the suite against
//!   runc.
//! * The container process is the static `berth-checker` (tests/checker, [`checker_bin`]),
//!   built with `tests/run.sh` or:
//!   `cargo build --release -p berth-checker --target x86_64-unknown-linux-gnu`
//! * Tests where runc 1.1.5 legitimately differs from the berth contract are skipped when
//!   the runtime is runc, unless `BERTH_STRICT=1`.
//! * `BERTH_KEEP_TMP=1` keeps bundles/roots under /tmp for debugging.
//! * A skipped test says so through [`skip()`]; under `CI=true` a missing peer that CI
//!   installs fails the test instead (see `skip.rs`).

pub mod bundle;
pub mod census;
pub mod cgroup;
pub mod console;
pub mod containers;
pub mod host;
pub mod host_census;
pub mod images;
pub mod interop;
pub mod manager;
pub mod notify;
pub mod registry;
pub mod runtime;
pub mod shim;
pub mod skip;
pub mod spec_template;
pub mod sys;
pub mod volumes;

pub use bundle::{all_caps, cap_mask, host_cap_bounding, Bundle};
pub use runtime::{assert_no_leaks, json_lines, Io, Output, Runtime};
pub use serde_json::{json, Value};
pub use skip::{peer_available, skip, under_ci, Skip};

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

static INIT: Once = Once::new();

/// Poll `f` every 50 ms until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Process-wide setup: become a child subreaper so that detached container inits are
/// reparented to the test process (and can be reaped by pid).
pub fn init() {
    INIT.call_once(|| {
        let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(r, 0, "prctl(PR_SET_CHILD_SUBREAPER) failed");
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the end-to-end tests must run as root"
        );
    });
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The directory of the workspace's release binaries: `$BERTH_RELEASE_DIR` (tests/run.sh
/// exports it), else `<workspace>/target/<target>/release` for the target this crate is
/// built for, which is the workspace's build target (.cargo/config.toml) as for the
/// binaries (build.rs passes it in).
pub fn release_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_RELEASE_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    workspace_root()
        .join("target")
        .join(env!("BERTH_BUILD_TARGET"))
        .join("release")
}

/// The runtime under test: `$BERTH_RUNTIME`, else the newest of
/// `<workspace>/target/release/berth-runtime` (a build without the workspace's target)
/// and `<release_dir>/berth-runtime`.
pub fn runtime_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_RUNTIME").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "BERTH_RUNTIME={} does not exist", p.display());
        return p;
    }
    let candidates = [
        workspace_root().join("target/release/berth-runtime"),
        release_dir().join("berth-runtime"),
    ];
    candidates
        .iter()
        .filter_map(|p| Some((std::fs::metadata(p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| {
            panic!(
                "runtime binary not found at {} or {}: build it with \
                 `cargo build --release -p berth-runtime` or set BERTH_RUNTIME \
                 (e.g. BERTH_RUNTIME=/usr/bin/runc)",
                candidates[0].display(),
                candidates[1].display()
            )
        })
}

/// The static checker binary: `$BERTH_CHECKER` (tests/run.sh exports it), else the glibc
/// build tests/run.sh makes (panics with build instructions if missing). It stays on
/// glibc while the workspace builds for musl: what it reports (the syscalls its libc
/// makes, under seccomp profiles) is what the tests were written against.
pub fn checker_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_CHECKER").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let p = workspace_root().join("target/x86_64-unknown-linux-gnu/release/berth-checker");
    assert!(
        p.is_file(),
        "checker binary {} not found; build it with:\n  \
         cargo build --release -p berth-checker --target x86_64-unknown-linux-gnu\n(or run tests/run.sh)",
        p.display()
    );
    p
}

/// Whether the runtime under test is runc (by file name, following symlinks).
pub fn is_runc() -> bool {
    let p = runtime_bin();
    let real = std::fs::canonicalize(&p).unwrap_or(p);
    real.file_name().is_some_and(|n| n == "runc")
}

/// For behaviour where runc 1.1.5 legitimately differs from the berth contract: when the
/// runtime under test is runc (and BERTH_STRICT is not set) print why and return true
/// so the test can return early.
pub fn skip_on_runc(why: &str) -> bool {
    if is_runc() && std::env::var_os("BERTH_STRICT").is_none() {
        skip(Skip::Runc(why));
        true
    } else {
        false
    }
}

/// A real runc for differential tests, if installed.
pub fn reference_runc() -> Option<PathBuf> {
    ["/usr/bin/runc", "/usr/sbin/runc", "/usr/local/sbin/runc"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// runc (the reference) first, then the runtime under test, for tests that run one
/// scenario under both; None (and a skip) without runc.
pub fn runc_then_under_test() -> Option<Vec<(&'static str, Runtime)>> {
    let Some(runc) = reference_runc() else {
        skip(Skip::MissingPeer("runc"));
        return None;
    };
    Some(vec![
        ("runc", Runtime::with_bin(runc)),
        ("under test", Runtime::new()),
    ])
}

/// A container id unique in this host's test run (pid and a counter).
pub fn unique_id() -> String {
    format!("{}-{}", std::process::id(), sys::unique())
}

/// A per-test context: a runtime with its own root and a bundle. Fields drop in order,
/// so containers are deleted before the bundle is removed.
pub struct Ctx {
    pub rt: Runtime,
    pub bundle: Bundle,
    name: String,
}

impl Ctx {
    pub fn new(name: &str) -> Ctx {
        init();
        Ctx {
            rt: Runtime::new(),
            bundle: Bundle::new(name),
            name: name.to_string(),
        }
    }

    /// A unique, valid container id for this test.
    pub fn id(&self, suffix: &str) -> String {
        format!(
            "{}-{}-{}-{}",
            self.name,
            suffix,
            std::process::id(),
            sys::unique()
        )
    }

    #[track_caller]
    pub fn assert_no_leaks(&self) {
        assert_no_leaks(&self.rt, &self.bundle);
    }
}

/// A pipe (read end, write end), both close-on-exec.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Read a pipe until EOF; None if EOF does not come within `timeout` (someone still
/// holds the write end).
pub fn read_to_eof(fd: &OwnedFd, timeout: Duration) -> Option<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(100) as i32) };
        if r <= 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            return Some(out);
        }
        if n < 0 {
            return None;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
}

/// Top-level keys of a JSON object in document order (serde_json's Map is sorted, so
/// key-order assertions need this).
pub fn top_level_keys(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut keys = Vec::new();
    let mut depth = 0i32;
    let mut i = 0;
    let mut expect_key = false;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && b[i] == b'{';
            }
            b'}' | b']' => depth -= 1,
            b',' if depth == 1 => expect_key = true,
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if depth == 1 && expect_key {
                    keys.push(text[start..i].to_string());
                    expect_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    keys
}

/// Is `s` an RFC 3339 UTC timestamp with a fractional-seconds part
/// (`YYYY-MM-DDTHH:MM:SS.fffffffffZ`, 1 to 9 fraction digits as Go's RFC3339Nano)?
pub fn is_rfc3339_nano_utc(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 22 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let frac = &s[20..s.len() - 1];
    digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && (1..=9).contains(&frac.len())
        && frac.bytes().all(|c| c.is_ascii_digit())
        && s.ends_with('Z')
}

/// Is `s` an RFC 3339 timestamp (any offset, optional fraction)?
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let d = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let date_time = d(0..4)
        && b[4] == b'-'
        && d(5..7)
        && b[7] == b'-'
        && d(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && d(11..13)
        && b[13] == b':'
        && d(14..16)
        && b[16] == b':'
        && d(17..19);
    if !date_time {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &r[n..];
    }
    rest == "Z"
        || rest == "z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':'
            && rest[1..3].bytes().all(|c| c.is_ascii_digit())
            && rest[4..6].bytes().all(|c| c.is_ascii_digit()))
}

/// Find the mount with this mount point in a checker report (the last one wins, as the
/// topmost mount is listed last).
pub fn report_mount<'a>(report: &'a Value, mount_point: &str) -> Option<&'a Value> {
    report["mounts"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["mount_point"] == mount_point)
}

/// Does a comma-separated option string contain `opt`?
pub fn has_opt(opts: &Value, opt: &str) -> bool {
    opts.as_str().unwrap_or("").split(',').any(|o| o == opt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order() {
        let k = top_level_keys(r#"{"b":1,"a":{"x":[1,{"y":2}]},"c":"s,\"d\":"}"#);
        assert_eq!(k, vec!["b", "a", "c"]);
    }

    #[test]
    fn timestamps() {
        assert!(is_rfc3339_nano_utc("2024-01-02T03:04:05.123456789Z"));
        assert!(is_rfc3339_nano_utc("2024-01-02T03:04:05.1Z"));
        assert!(!is_rfc3339_nano_utc("2024-01-02T03:04:05Z"));
        assert!(!is_rfc3339_nano_utc("2024-01-02T03:04:05.123+01:00"));
        assert!(is_rfc3339("2024-01-02T03:04:05Z"));
        assert!(is_rfc3339("2024-01-02T03:04:05.5+01:00"));
        assert!(!is_rfc3339("2024-01-02 03:04:05"));
    }

    #[test]
    fn cap_masks() {
        assert_eq!(
            cap_mask(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]),
            "0000000000000401"
        );
    }

    #[test]
    fn mountinfo_parsing() {
        let m = sys::parse_mountinfo(
            "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n",
        );
        assert_eq!(m[0].mount_point, "/mnt/a b");
        assert_eq!(m[0].propagation, vec!["master:1"]);
        assert_eq!(m[0].fs_type, "ext3");
    }
}
