//! `syscalls`: try every system call number of the native ABI (and a few calls with
//! meaningful arguments) and report what each did, so that two confinements (berth's
//! default seccomp policy and docker's) can be compared call by call.
//!
//! Each call runs in a forked child with every argument -1 (an invalid fd, size,
//! flag set or pointer for nearly every call, so nothing is changed), and the child
//! sends back `ok` or `errno:N`; a child killed by a signal is `signal:N`, one that
//! exits by the call itself `exit:N`, one still blocked after a second `timeout`.

use serde_json::{Map, Value};

/// The highest x86_64 call number tried (a little beyond today's newest, to see
/// how unknown numbers are refused).
const MAX_NR: i64 = 475;

/// Calls with arguments that matter for the policy's conditions.
fn special() -> Vec<(&'static str, i64, [u64; 6])> {
    const SIGCHLD: u64 = 17;
    const NEWNS: u64 = 0x0002_0000;
    const NEWUSER: u64 = 0x1000_0000;
    const NEWNET: u64 = 0x4000_0000;
    let nr = |n: libc::c_long| -> i64 { n };
    vec![
        (
            "clone:SIGCHLD",
            nr(libc::SYS_clone),
            [SIGCHLD, 0, 0, 0, 0, 0],
        ),
        (
            "clone:NEWNS",
            nr(libc::SYS_clone),
            [SIGCHLD | NEWNS, 0, 0, 0, 0, 0],
        ),
        (
            "clone:NEWUSER",
            nr(libc::SYS_clone),
            [SIGCHLD | NEWUSER, 0, 0, 0, 0, 0],
        ),
        (
            "clone:NEWNET",
            nr(libc::SYS_clone),
            [SIGCHLD | NEWNET, 0, 0, 0, 0, 0],
        ),
        (
            "unshare:NEWUSER",
            nr(libc::SYS_unshare),
            [NEWUSER, 0, 0, 0, 0, 0],
        ),
        ("unshare:0", nr(libc::SYS_unshare), [0; 6]),
        (
            "personality:0",
            nr(libc::SYS_personality),
            [0, 0, 0, 0, 0, 0],
        ),
        (
            "personality:LINUX32",
            nr(libc::SYS_personality),
            [8, 0, 0, 0, 0, 0],
        ),
        (
            "personality:UNAME26",
            nr(libc::SYS_personality),
            [0x20000, 0, 0, 0, 0, 0],
        ),
        (
            "personality:UNAME26|LINUX32",
            nr(libc::SYS_personality),
            [0x20008, 0, 0, 0, 0, 0],
        ),
        (
            "personality:query",
            nr(libc::SYS_personality),
            [0xffff_ffff, 0, 0, 0, 0, 0],
        ),
        (
            "personality:ADDR_NO_RANDOMIZE",
            nr(libc::SYS_personality),
            [0x40000, 0, 0, 0, 0, 0],
        ),
        (
            "personality:READ_IMPLIES_EXEC",
            nr(libc::SYS_personality),
            [0x400000, 0, 0, 0, 0, 0],
        ),
        ("socket:AF_UNIX", nr(libc::SYS_socket), [1, 1, 0, 0, 0, 0]),
        ("socket:AF_INET", nr(libc::SYS_socket), [2, 1, 0, 0, 0, 0]),
        ("socket:AF_VSOCK", nr(libc::SYS_socket), [40, 1, 0, 0, 0, 0]),
        (
            "chroot:/",
            nr(libc::SYS_chroot),
            [c"/".as_ptr() as u64, 0, 0, 0, 0, 0],
        ),
        ("ptrace:TRACEME", nr(libc::SYS_ptrace), [0, 0, 0, 0, 0, 0]),
    ]
}

/// One call in a forked child; what it did.
fn probe(nr: i64, a: [u64; 6]) -> String {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return "probe-failed".into();
    }
    // SAFETY: the child only makes raw system calls and _exit()s: nothing that
    // needs locks another thread might hold (the checker is single-threaded anyway).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: raw system calls with integer arguments; a pointer argument of -1
        // is never dereferenced by user space (the kernel returns EFAULT).
        unsafe {
            let me = libc::syscall(libc::SYS_getpid);
            let r = libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
            let err = *libc::__errno_location();
            if libc::syscall(libc::SYS_getpid) != me {
                // a successful fork/clone: the new process leaves at once
                libc::_exit(0);
            }
            let msg = if r == -1 {
                format!("errno:{err}")
            } else {
                "ok".to_string()
            };
            libc::write(fds[1], msg.as_ptr().cast(), msg.len());
            libc::_exit(0);
        }
    }
    // SAFETY: closing the write end the parent owns.
    unsafe { libc::close(fds[1]) };
    if pid < 0 {
        // SAFETY: the read end is ours.
        unsafe { libc::close(fds[0]) };
        return "probe-failed".into();
    }
    let mut pfd = libc::pollfd {
        fd: fds[0],
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut pfd, 1, 1000) };
    let mut buf = [0u8; 64];
    let n = if ready > 0 {
        // SAFETY: reading into a buffer of the given size.
        unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len()) }
    } else {
        // SAFETY: the child is ours.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        -1
    };
    // SAFETY: the read end is ours.
    unsafe { libc::close(fds[0]) };
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if n > 0 {
        return String::from_utf8_lossy(&buf[..n as usize]).into_owned();
    }
    if ready <= 0 {
        "timeout".into()
    } else if libc::WIFSIGNALED(status) {
        format!("signal:{}", libc::WTERMSIG(status))
    } else {
        format!("exit:{}", libc::WEXITSTATUS(status))
    }
}

/// `{"0": "errno:9", ..., "clone:NEWNS": "errno:1", ...}`
pub fn all() -> Value {
    let mut out = Map::new();
    for nr in 0..=MAX_NR {
        out.insert(nr.to_string(), Value::String(probe(nr, [u64::MAX; 6])));
    }
    for (name, nr, a) in special() {
        out.insert(name.to_string(), Value::String(probe(nr, a)));
    }
    Value::Object(out)
}
