//! `berth-checker`: a small static program run as a test container's process.
//!
//! It reports what the process observes from inside the container as JSON so the
//! end-to-end tests in `tests/` can assert on it. Only std, libc and serde_json are used,
//! and the binary is linked statically:
//!
//! ```text
//! cargo build --release -p berth-checker --target x86_64-unknown-linux-gnu
//! ```
//!
//! (static by .cargo/config.toml's flags for that target). It stays on glibc while the
//! workspace's binaries build for musl: the seccomp tests assert on the syscalls its
//! libc makes.
//!
//! Subcommands (argv[1]): report, stat, write, read, mkdir, sysctl, exit, sleep,
//! kill-self, echo, ls-fds, wait-signal, clock, exe-attack, alloc, fork, syscall-mkdir,
//! open, udp-echo, syscalls.
//! Run without arguments for usage.

mod syscalls;

use serde_json::{json, Map, Value};
use std::ffi::{CStr, CString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

const USAGE: &str = "usage: berth-checker <command> [args]
commands:
  report                 print one JSON object describing what the process observes
  stat PATH...           JSON array: lstat of each path
  write PATH [CONTENT]   create/truncate PATH and write CONTENT; JSON {ok, errno, error}
  read PATH              JSON {ok, content, errno, error}
  mkdir PATH             JSON {ok, errno, error}
  sysctl NAME            JSON {ok, value, errno, error} read from /proc/sys
  exit N                 exit with code N
  sleep SECS             sleep (SIGTERM/SIGINT/SIGHUP end it with 128+signal)
  kill-self SIGNAL       raise SIGNAL with its default action
  echo ARGS...           print the arguments joined by spaces
  ls-fds                 JSON object of open fds: number -> readlink target
  wait-signal            block until SIGTERM or SIGUSR1, print it, exit 0
  clock                  JSON {monotonic, boottime, realtime} in seconds
  exe-attack PATH SECS   CVE-2019-5736 probe: O_PATH-open PATH, then try to reopen it
                         for writing for SECS seconds (never modifies the file)
  alloc MIB              mmap MIB MiB and touch every page; then JSON {ok, mib}
  fork N [SECS]          fork N children that sleep SECS (default 30, die with the
                         parent); JSON {forked, errno} (errno of the first failed fork)
  syscall-mkdir PATH MODE  raw mkdir(2) with octal MODE; JSON {ok, errno, error}
  open PATH [r|w|rw]     open(2) PATH (default r) and close it; JSON {ok, errno, error}
  udp-echo PORT          answer every UDP datagram on 0.0.0.0:PORT with \"echo:\" + it
                         and the sender's address (busybox's nc has no UDP)
  syscalls               try every system call number (each in a child, arguments -1) and
                         a few with meaningful arguments; JSON {call: ok|errno:N|signal:N|...}";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        fail_usage("missing command");
    }
    let rest = &args[2..];
    match args[1].as_str() {
        "report" => print_json(&report()),
        "stat" => print_json(&Value::Array(rest.iter().map(|p| stat_path(p)).collect())),
        "write" => {
            let path = arg(rest, 0, "write PATH [CONTENT]");
            let content = rest.get(1).map(String::as_str).unwrap_or("x");
            print_json(&result_json(std::fs::write(path, content)))
        }
        "read" => {
            let path = arg(rest, 0, "read PATH");
            print_json(&result_json(std::fs::read(path)))
        }
        "mkdir" => {
            let path = arg(rest, 0, "mkdir PATH");
            print_json(&result_json(std::fs::create_dir(path)))
        }
        "sysctl" => {
            let name = arg(rest, 0, "sysctl NAME");
            let path = format!("/proc/sys/{}", name.replace('.', "/"));
            print_json(&result_json(std::fs::read(path)))
        }
        "exit" => {
            let code: i32 = parse(arg(rest, 0, "exit N"), "exit code");
            std::process::exit(code)
        }
        "sleep" => {
            let secs: f64 = parse(arg(rest, 0, "sleep SECS"), "seconds");
            install_exit_handlers();
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
        }
        "kill-self" => kill_self(arg(rest, 0, "kill-self SIGNAL")),
        "echo" => println!("{}", rest.join(" ")),
        "udp-echo" => udp_echo(arg(rest, 0, "udp-echo PORT")),
        "ls-fds" => print_json(&Value::Object(list_fds())),
        "wait-signal" => wait_signal(),
        "clock" => print_json(&json!({
            "monotonic": clock(libc::CLOCK_MONOTONIC),
            "boottime": clock(libc::CLOCK_BOOTTIME),
            "realtime": clock(libc::CLOCK_REALTIME),
        })),
        "exe-attack" => {
            let path = arg(rest, 0, "exe-attack PATH SECS");
            let secs: f64 = parse(arg(rest, 1, "exe-attack PATH SECS"), "seconds");
            print_json(&exe_attack(path, secs))
        }
        "alloc" => {
            let mib: usize = parse(arg(rest, 0, "alloc MIB"), "MiB");
            print_json(&alloc(mib))
        }
        "fork" => {
            let n: usize = parse(arg(rest, 0, "fork N [SECS]"), "count");
            let secs: u32 = rest.get(1).map(|s| parse(s, "seconds")).unwrap_or(30);
            print_json(&fork_children(n, secs))
        }
        "syscall-mkdir" => {
            let path = arg(rest, 0, "syscall-mkdir PATH MODE");
            let mode = arg(rest, 1, "syscall-mkdir PATH MODE");
            let mode = match u32::from_str_radix(mode, 8) {
                Ok(m) => m,
                Err(_) => fail_usage(&format!("invalid octal mode {mode:?}")),
            };
            print_json(&syscall_mkdir(path, mode))
        }
        "open" => {
            let path = arg(rest, 0, "open PATH [r|w|rw]");
            let flags = match rest.get(1).map(String::as_str).unwrap_or("r") {
                "r" => libc::O_RDONLY,
                "w" => libc::O_WRONLY,
                "rw" => libc::O_RDWR,
                m => fail_usage(&format!("invalid open mode {m:?}")),
            };
            print_json(&open_close(path, flags))
        }
        "syscalls" => print_json(&syscalls::all()),
        "-h" | "--help" | "help" => println!("{USAGE}"),
        other => fail_usage(&format!("unknown command {other:?}")),
    }
}

fn fail_usage(msg: &str) -> ! {
    eprintln!("berth-checker: {msg}\n{USAGE}");
    std::process::exit(2)
}

fn arg<'a>(rest: &'a [String], i: usize, usage: &str) -> &'a str {
    match rest.get(i) {
        Some(s) => s,
        None => fail_usage(&format!("missing argument; usage: {usage}")),
    }
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> T {
    match s.parse() {
        Ok(v) => v,
        Err(_) => fail_usage(&format!("invalid {what}: {s:?}")),
    }
}

fn print_json(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `{ok: true, ...}` or `{ok: false, errno, error}`. A `Vec<u8>` result is returned as
/// `content` (lossy UTF-8) and, for sysctl, `value` (trimmed).
fn result_json<T: ResultPayload>(r: std::io::Result<T>) -> Value {
    match r {
        Ok(v) => {
            let mut m = Map::new();
            m.insert("ok".into(), json!(true));
            v.fill(&mut m);
            Value::Object(m)
        }
        Err(e) => {
            json!({"ok": false, "errno": e.raw_os_error().unwrap_or(0), "error": e.to_string()})
        }
    }
}

trait ResultPayload {
    fn fill(&self, m: &mut Map<String, Value>);
}
impl ResultPayload for () {
    fn fill(&self, _m: &mut Map<String, Value>) {}
}
impl ResultPayload for Vec<u8> {
    fn fill(&self, m: &mut Map<String, Value>) {
        let s = String::from_utf8_lossy(self).into_owned();
        m.insert("value".into(), json!(s.trim()));
        m.insert("content".into(), json!(s));
    }
}

fn read_string(path: &str) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

// ---------------------------------------------------------------------------------------
// report

fn report() -> Value {
    let mut m = Map::new();
    unsafe {
        m.insert("pid".into(), json!(libc::getpid()));
        m.insert("ppid".into(), json!(libc::getppid()));
        let (mut r, mut e, mut s) = (0, 0, 0);
        libc::getresuid(&mut r, &mut e, &mut s);
        m.insert("uid".into(), json!(r));
        m.insert("euid".into(), json!(e));
        m.insert("suid".into(), json!(s));
        libc::getresgid(&mut r, &mut e, &mut s);
        m.insert("gid".into(), json!(r));
        m.insert("egid".into(), json!(e));
        m.insert("sgid".into(), json!(s));
        let n = libc::getgroups(0, std::ptr::null_mut());
        let mut groups = vec![0 as libc::gid_t; n.max(0) as usize];
        let n = libc::getgroups(n, groups.as_mut_ptr());
        groups.truncate(n.max(0) as usize);
        m.insert("groups".into(), json!(groups));
        m.insert("sid".into(), json!(libc::getsid(0)));
        m.insert("pgid".into(), json!(libc::getpgrp()));
    }

    // /proc/self/status: capabilities, NoNewPrivs, Seccomp, Umask.
    let status = read_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> Option<String> {
        status.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        })
    };
    let mut caps = Map::new();
    for c in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        caps.insert(c.into(), json!(field(c)));
    }
    m.insert("caps".into(), Value::Object(caps));
    let num = |v: Option<String>| -> Value {
        v.and_then(|s| s.parse::<i64>().ok())
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    m.insert("no_new_privs".into(), num(field("NoNewPrivs")));
    m.insert("seccomp".into(), num(field("Seccomp")));
    m.insert("umask".into(), json!(field("Umask")));

    m.insert(
        "cwd".into(),
        json!(std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|e| format!("error: {e}"))),
    );
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        m.insert("hostname".into(), json!(cstr_field(&u.nodename)));
        m.insert("domainname".into(), json!(cstr_field(&u.domainname)));
    }
    let env: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    m.insert("env".into(), json!(env));
    m.insert("rlimits".into(), rlimits());
    m.insert("fds".into(), Value::Object(list_fds()));

    let mut ns = Map::new();
    for n in [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "pid_for_children",
        "time",
        "time_for_children",
        "user",
        "uts",
    ] {
        let ino = std::fs::read_link(format!("/proc/self/ns/{n}"))
            .ok()
            .and_then(|t| {
                let t = t.to_string_lossy().into_owned();
                t.rsplit_once('[')
                    .and_then(|(_, r)| r.trim_end_matches(']').parse::<u64>().ok())
            });
        ns.insert(n.into(), json!(ino));
    }
    m.insert("ns".into(), Value::Object(ns));
    m.insert("uid_map".into(), json!(read_string("/proc/self/uid_map")));
    m.insert("gid_map".into(), json!(read_string("/proc/self/gid_map")));
    m.insert(
        "oom_score_adj".into(),
        num(read_string("/proc/self/oom_score_adj").map(|s| s.trim().to_string())),
    );
    m.insert("mounts".into(), mounts());

    let isatty = |fd| unsafe { libc::isatty(fd) == 1 };
    m.insert(
        "tty".into(),
        json!({"stdin": isatty(0), "stdout": isatty(1), "stderr": isatty(2)}),
    );
    if isatty(1) {
        let name = std::fs::read_link("/proc/self/fd/1")
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        m.insert("ttyname".into(), json!(name));
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0;
        m.insert(
            "winsize".into(),
            if ok {
                json!({"rows": ws.ws_row, "cols": ws.ws_col})
            } else {
                Value::Null
            },
        );
    } else {
        m.insert("ttyname".into(), Value::Null);
        m.insert("winsize".into(), Value::Null);
    }
    m.insert(
        "attr_current".into(),
        match std::fs::read("/proc/self/attr/current") {
            Ok(b) => json!({"readable": true,
                "content": String::from_utf8_lossy(&b).trim_end_matches(['\0', '\n']).to_string()}),
            Err(e) => json!({"readable": false, "error": e.to_string()}),
        },
    );
    m.insert("etc_hostname".into(), json!(read_string("/etc/hostname")));
    Value::Object(m)
}

fn cstr_field(f: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = f
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn rlimits() -> Value {
    // The resource's type differs between glibc and musl: inferred.
    let all = [
        ("RLIMIT_AS", libc::RLIMIT_AS),
        ("RLIMIT_CORE", libc::RLIMIT_CORE),
        ("RLIMIT_CPU", libc::RLIMIT_CPU),
        ("RLIMIT_DATA", libc::RLIMIT_DATA),
        ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", libc::RLIMIT_NICE),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        ("RLIMIT_RSS", libc::RLIMIT_RSS),
        ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
        ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        ("RLIMIT_STACK", libc::RLIMIT_STACK),
    ];
    let mut m = Map::new();
    for (name, res) in all {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if unsafe { libc::getrlimit(res, &mut rl) } == 0 {
            m.insert(
                name.into(),
                json!({"soft": rl.rlim_cur, "hard": rl.rlim_max}),
            );
        }
    }
    Value::Object(m)
}

/// Open fds of this process: number -> readlink target. The entry names are collected
/// first and resolved after the directory is closed, so the fd used to read
/// /proc/self/fd disappears (its readlink fails) and is left out.
fn list_fds() -> Map<String, Value> {
    let mut names: Vec<String> = match std::fs::read_dir("/proc/self/fd") {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort_by_key(|n| n.parse::<i64>().unwrap_or(i64::MAX));
    let mut m = Map::new();
    for n in names {
        if let Ok(t) = std::fs::read_link(format!("/proc/self/fd/{n}")) {
            m.insert(n, json!(t.to_string_lossy()));
        }
    }
    m
}

/// Unescape the octal escapes (\040 etc.) the kernel uses in mountinfo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                out.push((oct[0] - b'0') * 64 + (oct[1] - b'0') * 8 + (oct[2] - b'0'));
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mounts() -> Value {
    let text = read_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        out.push(json!({
            "id": l[0].parse::<u64>().unwrap_or(0),
            "parent": l[1].parse::<u64>().unwrap_or(0),
            "major_minor": l[2],
            "root": unescape(l[3]),
            "mount_point": unescape(l[4]),
            "options": l[5],
            "propagation": l[6..].to_vec(),
            "fs_type": r[0],
            "source": unescape(r[1]),
            "super_options": r[2],
        }));
    }
    Value::Array(out)
}

// ---------------------------------------------------------------------------------------
// stat

fn stat_path(p: &str) -> Value {
    match std::fs::symlink_metadata(p) {
        Err(e) => {
            json!({"path": p, "exists": false, "errno": e.raw_os_error(), "error": e.to_string()})
        }
        Ok(md) => {
            let ft = md.file_type();
            let kind = if ft.is_dir() {
                "dir"
            } else if ft.is_file() {
                "file"
            } else if ft.is_symlink() {
                "symlink"
            } else if ft.is_char_device() {
                "char"
            } else if ft.is_block_device() {
                "block"
            } else if ft.is_fifo() {
                "fifo"
            } else if ft.is_socket() {
                "socket"
            } else {
                "unknown"
            };
            let rdev = md.rdev();
            let target = if ft.is_symlink() {
                std::fs::read_link(p)
                    .ok()
                    .map(|t| t.to_string_lossy().into_owned())
            } else {
                None
            };
            json!({
                "path": p,
                "exists": true,
                "type": kind,
                "mode": md.mode() & 0o7777,
                "uid": md.uid(),
                "gid": md.gid(),
                "size": md.size(),
                "major": libc::major(rdev),
                "minor": libc::minor(rdev),
                "target": target,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// signals, clocks

extern "C" fn exit_on_signal(sig: libc::c_int) {
    unsafe { libc::_exit(128 + sig) }
}

fn install_exit_handlers() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        unsafe {
            libc::signal(
                sig,
                exit_on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    let s = s.strip_prefix("SIG").unwrap_or(s);
    Some(match s {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ABRT" => libc::SIGABRT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "SEGV" => libc::SIGSEGV,
        "TERM" => libc::SIGTERM,
        _ => return None,
    })
}

/// Raise a signal with its default action. Note: the init of a pid namespace ignores
/// signals sent from inside its namespace that it has no handler for (even SIGKILL), so
/// as pid 1 this usually does nothing; the checker then exits with 99.
fn kill_self(s: &str) {
    let Some(sig) = signal_number(s) else {
        fail_usage(&format!("unknown signal {s:?}"))
    };
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    eprintln!("berth-checker: still alive after raising signal {sig}");
    std::process::exit(99)
}

fn wait_signal() {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let mut sig = 0;
        if libc::sigwait(&set, &mut sig) != 0 {
            eprintln!("berth-checker: sigwait failed");
            std::process::exit(1);
        }
        let name = if sig == libc::SIGTERM {
            "SIGTERM"
        } else {
            "SIGUSR1"
        };
        print_json(&json!({"signal": name}));
    }
}

fn clock(id: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

// ---------------------------------------------------------------------------------------
// exe-attack

/// Probe for CVE-2019-5736: open PATH (e.g. /proc/1/exe of a runtime init) with O_PATH,
/// then for SECS seconds keep trying to reopen it through /proc/self/fd/N for writing
/// (which succeeds once nobody executes the file any more if it is the host binary).
/// On success, one byte is read and written back unchanged, so the file is never
/// modified. Reports the inode identity so the caller can tell whether it was the host
/// binary. Prints `{"phase": "opened", ...}` as soon as the O_PATH fd is held.
fn exe_attack(path: &str, secs: f64) -> Value {
    let cpath = CString::new(Path::new(path).as_os_str().as_bytes()).unwrap();
    let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = errno();
        return json!({"opened_path": false, "errno": e, "error": strerror(e), "write_ok": false});
    }
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    unsafe { libc::fstat(fd, &mut st) };
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    // Tell the caller the O_PATH fd is held (it then lets the target process exec).
    print_json(&json!({"phase": "opened", "target": target, "dev": st.st_dev, "ino": st.st_ino}));
    let reopen = CString::new(format!("/proc/self/fd/{fd}")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    let mut last_errno;
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        let wfd = unsafe { libc::open(reopen.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if wfd >= 0 {
            // Read one byte and write the same byte back: proves writability, changes nothing.
            let mut b = [0u8; 1];
            let n = unsafe { libc::pread(wfd, b.as_mut_ptr().cast(), 1, 0) };
            let w = if n == 1 {
                unsafe { libc::pwrite(wfd, b.as_ptr().cast(), 1, 0) }
            } else {
                -1
            };
            let werr = if w == 1 { 0 } else { errno() };
            unsafe { libc::close(wfd) };
            return json!({"opened_path": true, "target": target, "dev": st.st_dev, "ino": st.st_ino,
                "write_open_ok": true, "write_ok": w == 1, "write_errno": werr, "attempts": attempts});
        }
        last_errno = errno();
        if std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    json!({"opened_path": true, "target": target, "dev": st.st_dev, "ino": st.st_ino,
        "write_open_ok": false, "write_ok": false, "errno": last_errno, "error": strerror(last_errno),
        "attempts": attempts})
}

fn strerror(e: i32) -> String {
    unsafe { CStr::from_ptr(libc::strerror(e)) }
        .to_string_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------------------
// alloc, fork, syscall-mkdir

/// Map `mib` MiB of anonymous memory and write to every page (so it is really charged
/// to the memory cgroup). Prints progress to stderr every 16 MiB.
fn alloc(mib: usize) -> Value {
    let size = mib << 20;
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        let e = errno();
        return json!({"ok": false, "errno": e, "error": strerror(e)});
    }
    let base = p.cast::<u8>();
    for off in (0..size).step_by(4096) {
        unsafe { std::ptr::write_volatile(base.add(off), 1) };
        if off % (16 << 20) == 0 {
            eprintln!("berth-checker: touched {} MiB", off >> 20);
        }
    }
    json!({"ok": true, "mib": mib})
}

/// Fork `n` children that sleep `secs` seconds (killed when the parent dies). The
/// children do not keep the parent's stdio open (a runtime that copies the output
/// through a pipe would wait for them).
fn fork_children(n: usize, secs: u32) -> Value {
    let mut forked = 0;
    let mut err = 0;
    let parent = unsafe { libc::getpid() };
    for _ in 0..n {
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            err = errno();
            break;
        }
        if pid == 0 {
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(0); // the parent is already gone
                }
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                for fd in 0..3 {
                    if null >= 0 {
                        libc::dup2(null, fd);
                    } else {
                        libc::close(fd);
                    }
                }
                libc::sleep(secs);
                libc::_exit(0);
            }
        }
        forked += 1;
    }
    json!({"forked": forked, "errno": err, "error": if err == 0 { Value::Null } else { json!(strerror(err)) }})
}

/// mkdir(2) as a raw system call (no libc wrapper choosing mkdirat).
fn syscall_mkdir(path: &str, mode: u32) -> Value {
    let c = CString::new(path).unwrap();
    let r = unsafe { libc::syscall(libc::SYS_mkdir, c.as_ptr(), mode as libc::c_ulong) };
    if r < 0 {
        let e = errno();
        json!({"ok": false, "errno": e, "error": strerror(e)})
    } else {
        json!({"ok": true})
    }
}

/// open(2) and close: only the open is checked (e.g. by the device cgroup).
fn open_close(path: &str, flags: i32) -> Value {
    let c = CString::new(path).unwrap();
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if fd < 0 {
        let e = errno();
        json!({"ok": false, "errno": e, "error": strerror(e)})
    } else {
        unsafe { libc::close(fd) };
        json!({"ok": true})
    }
}

/// A UDP echo server: replies "echo:<data> from <peer>" to each datagram.
fn udp_echo(port: &str) {
    let sock = match std::net::UdpSocket::bind(format!("0.0.0.0:{port}")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("udp-echo: bind {port}: {e}");
            std::process::exit(1);
        }
    };
    let mut buf = [0u8; 2048];
    loop {
        if let Ok((n, peer)) = sock.recv_from(&mut buf) {
            let msg = format!("echo:{} from {peer}", String::from_utf8_lossy(&buf[..n]));
            let _ = sock.send_to(msg.as_bytes(), peer);
        }
    }
}
