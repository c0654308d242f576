//! Small host-side helpers: temp dirs, mountinfo, process inspection, reaping.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A process-wide unique number (combined with the pid it is unique per host).
pub fn unique() -> u32 {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// A directory under /tmp removed (after unmounting anything left below it) on drop.
/// Directories are created 0755 so that a container in a user namespace can traverse them.
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let base = std::env::var_os("BERTH_TEST_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        std::fs::create_dir_all(&base)
            .unwrap_or_else(|e| panic!("creating temp base {}: {e}", base.display()));
        // A fresh directory, never an existing one: pids wrap (pid_max is
        // often 32768), and a test process killed before its drop leaves its
        // dirs behind; a later process with the same pid would otherwise
        // reuse that stale root with its containers, networks and mounts.
        let path = loop {
            let p = base.join(format!(
                "berth-e2e-{prefix}-{}-{}",
                std::process::id(),
                unique()
            ));
            match std::fs::create_dir(&p) {
                Ok(()) => break p,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("creating temp dir {}: {e}", p.display()),
            }
        };
        set_mode(&path, 0o755);
        log_dir(&path);
        TempDir { path, keep: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }

    /// Keep the directory for post-mortem debugging (also: env BERTH_KEEP_TMP=1).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

/// Append `path` to the file named by `BERTH_TEST_DIRS_LOG` (tests/run.sh
/// sets it) so that the end-of-run census (`host_census`) knows every root
/// and state dir of the run, also once they are deleted. One short
/// `O_APPEND` write per line: lines of parallel tests never interleave.
fn log_dir(path: &Path) {
    use std::io::Write;
    let Some(log) = std::env::var_os("BERTH_TEST_DIRS_LOG").filter(|l| !l.is_empty()) else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
    {
        let mut line = path.as_os_str().as_bytes().to_vec();
        line.push(b'\n');
        let _ = f.write_all(&line);
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.keep || std::env::var_os("BERTH_KEEP_TMP").is_some() {
            return;
        }
        remove_tree_safely(&self.path);
    }
}

/// Unmount everything below `dir` (deepest first, lazily) and remove it, but never
/// recurse into a directory that still has something mounted below it (that could
/// delete host files through a bind mount).
pub fn remove_tree_safely(dir: &Path) {
    for _ in 0..3 {
        let mut below = mounts_under(dir);
        if below.is_empty() {
            break;
        }
        below.sort_by_key(|m| std::cmp::Reverse(m.mount_point.len()));
        for m in below {
            umount_detach(Path::new(&m.mount_point));
        }
    }
    if !mounts_under(dir).is_empty() {
        eprintln!(
            "berth-tests: NOT removing {}: mounts remain below it",
            dir.display()
        );
        return;
    }
    // A rootfs may contain read-only bits or immutable mode bits; best effort.
    let _ = std::fs::remove_dir_all(dir);
}

pub fn umount_detach(p: &Path) {
    if let Ok(c) = CString::new(p.as_os_str().as_bytes()) {
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

pub fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

/// One line of a mountinfo file.
#[derive(Debug, Clone)]
pub struct MountInfo {
    pub mount_point: String,
    pub root: String,
    pub options: String,
    pub propagation: Vec<String>,
    pub fs_type: String,
    pub source: String,
    pub super_options: String,
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 6 || r.len() < 3 {
                return None;
            }
            Some(MountInfo {
                root: unescape(l[3]),
                mount_point: unescape(l[4]),
                options: l[5].to_string(),
                propagation: l[6..].iter().map(|s| s.to_string()).collect(),
                fs_type: r[0].to_string(),
                source: unescape(r[1]),
                super_options: r[2].to_string(),
            })
        })
        .collect()
}

/// The host's (the test process's) mounts.
pub fn host_mounts() -> Vec<MountInfo> {
    parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// Host mounts at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<MountInfo> {
    let d = dir.to_string_lossy().trim_end_matches('/').to_string();
    host_mounts()
        .into_iter()
        .filter(|m| m.mount_point == d || m.mount_point.starts_with(&format!("{d}/")))
        .collect()
}

/// Fields of /proc/PID/stat we care about: (state char, ppid). None if gone.
pub fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    let mut it = after.split(' ');
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some((state, ppid))
}

pub fn pid_exists(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// If `pid` is a zombie child of this process, reap it (only that pid, so we never steal
/// the exit status of a `std::process::Child` another test thread is waiting for).
pub fn reap_if_zombie_child(pid: i32) {
    if pid <= 0 {
        return;
    }
    if let Some((state, ppid)) = proc_stat(pid) {
        if state == 'Z' && ppid == std::process::id() as i32 {
            let mut status = 0;
            unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        }
    }
}

/// Wait (reaping it if it becomes our zombie) until `pid` is gone. Returns false on timeout.
pub fn wait_pid_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        reap_if_zombie_child(pid);
        if !pid_exists(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Pids of processes whose environment contains `needle` (e.g. `BERTH_TEST_MARKER=...`).
pub fn pids_with_env(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    let me = std::process::id() as i32;
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
            if env.split(|&b| b == 0).any(|v| v == needle.as_bytes()) {
                // zombies have an empty environ, so these are live processes
                out.push(pid);
            }
        }
    }
    out
}

/// Wait until `f` returns Some, polling every 20 ms; None on timeout.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The inode of a namespace link such as `/proc/self/ns/net`.
pub fn ns_inode(path: &str) -> u64 {
    let t = std::fs::read_link(path).unwrap_or_else(|e| panic!("readlink {path}: {e}"));
    let t = t.to_string_lossy();
    t.rsplit_once('[')
        .and_then(|(_, r)| r.trim_end_matches(']').parse().ok())
        .unwrap_or_else(|| panic!("unexpected ns link {t}"))
}

/// Errors from libc calls as io::Error.
pub fn check(ret: libc::c_int, what: &str) -> std::io::Result<libc::c_int> {
    if ret < 0 {
        let e = std::io::Error::last_os_error();
        Err(std::io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(ret)
    }
}

/// A cheap content fingerprint (FNV-1a 64) plus length, for "file unchanged" checks.
pub fn fingerprint(p: &Path) -> (u64, u64) {
    let data = std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    let mut h: u64 = 0xcbf29ce484222325;
    for b in &data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h, data.len() as u64)
}

/// The caught-signal mask of `pid` (SigCgt in /proc/PID/status); 0 once it is gone.
pub fn caught_signals(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// The bit of signal `sig` in a /proc signal mask.
pub fn sig_bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// Wait until `pid` has handlers for every signal in `mask` (a shell's `trap` ran).
/// A signal sent before that reaches a namespace init without a handler and is
/// dropped, so a test that signals a trapping init waits for this, not for a time.
pub fn wait_caught(pid: i32, mask: u64, timeout: Duration) -> bool {
    wait_for(timeout, || {
        (caught_signals(pid) & mask == mask).then_some(())
    })
    .is_some()
}

/// Wait until `pid` is blocked in nanosleep/clock_nanosleep (x86_64 syscalls 35 and
/// 230, the first field of /proc/PID/syscall). The polling followers (`berth events`,
/// `berth compose events`) read or snapshot their starting point before their first
/// sleep, so once one sleeps, whatever happens next is new to it.
pub fn wait_sleeping(pid: i32, timeout: Duration) -> bool {
    wait_for(timeout, || {
        let s = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
        matches!(s.split_whitespace().next(), Some("35" | "230")).then_some(())
    })
    .is_some()
}

/// A child's output read on a thread as it comes, so that a test can wait for a line
/// while the child runs on (a fixed sleep before killing it could end it before the
/// line was written on a loaded machine).
pub struct OutputCollector {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl OutputCollector {
    pub fn new(mut r: impl std::io::Read + Send + 'static) -> OutputCollector {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let b = buf.clone();
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]);
            }
        });
        OutputCollector {
            buf,
            reader: Some(reader),
        }
    }

    /// What was read so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Wait until `f` holds for what was read; whether it did.
    pub fn wait(&self, timeout: Duration, f: impl Fn(&str) -> bool) -> bool {
        wait_for(timeout, || f(&self.text()).then_some(())).is_some()
    }

    /// Everything, once the writer closed its end (kill the child first).
    pub fn finish(mut self) -> String {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.text()
    }
}
