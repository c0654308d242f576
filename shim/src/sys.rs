//! Thin wrappers over the few syscalls the shim needs (libc directly: the poll loop
//! works on raw fds, and nix would add nothing here but size).

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The filesystem magic number of `path` (statfs's f_type), None when it cannot be
/// read.
pub fn fs_magic(path: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c` is NUL-terminated and `st` a writable statfs buffer that outlives
    // the call; statfs writes only into it.
    cvt(unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) }).ok()?;
    // SAFETY: statfs succeeded, so it filled the (zeroed) buffer.
    let st = unsafe { st.assume_init() };
    // f_type is signed in glibc, unsigned in musl; the magic numbers fit in 32 bits.
    #[allow(clippy::unnecessary_cast)] // the same type on glibc only
    Some(st.f_type as i64)
}

/// A close-on-exec pipe (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two fds.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two new fds we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Grow a pipe to /proc/sys/fs/pipe-max-size (fewer wakeups and context switches for a
/// fast writer; the buffer is kernel memory, not the shim's RSS).
pub fn grow_pipe(fd: &OwnedFd) {
    let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse::<libc::c_int>().ok())
        .unwrap_or(1 << 20);
    // SAFETY: plain fcntl on an fd we own.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, max) };
}

pub fn set_nonblock(fd: RawFd) {
    // SAFETY: plain fcntl calls.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// Below this many queued bytes a wake-up waits [`FILL_WAIT`] before reading.
const FILL_MIN: libc::c_int = 64 << 10;
const FILL_WAIT: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 1_000_000,
};

/// A fast writer that writes small chunks (a line, a stdio buffer) would wake
/// the shim for each: a read, a log write and a context switch per 4 KiB,
/// which costs the writer more than the copying. When little is queued, wait
/// a millisecond so each wake-up moves up to a pipe's worth (the pipe is
/// grown to pipe-max-size, so the writer does not block meanwhile); output
/// reaches the log at most a millisecond later.
pub fn let_pipe_fill(fd: RawFd) {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) };
    if r == 0 && queued > 0 && queued < FILL_MIN {
        // SAFETY: valid timespec; an interrupted sleep just ends early.
        unsafe { libc::nanosleep(&FILL_WAIT, std::ptr::null_mut()) };
    }
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes. MSG_NOSIGNAL is not available for
        // pipes; SIGPIPE is ignored by the Rust runtime, so EPIPE comes back instead.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

pub fn open_devnull(flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: static NUL-terminated path.
    let fd = cvt(unsafe { libc::open(c"/dev/null".as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: new fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Block the signals the loop handles and return a signalfd for them. Blocked signals
/// are reset in children by std's Command, so containers do not inherit the mask.
pub fn signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    // SAFETY: sigset manipulation on a local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        cvt(libc::sigprocmask(
            libc::SIG_BLOCK,
            &set,
            std::ptr::null_mut(),
        ))?;
        let fd = cvt(libc::signalfd(
            -1,
            &set,
            libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
        ))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Drain a signalfd, returning the signal numbers read.
pub fn read_signals(fd: &OwnedFd) -> Vec<u32> {
    let mut out = Vec::new();
    loop {
        // SAFETY: signalfd_siginfo is plain integers: all-zero is a valid value.
        let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        // SAFETY: reads at most one signalfd_siginfo into `si`, which is that big.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                (&mut si as *mut libc::signalfd_siginfo).cast(),
                std::mem::size_of::<libc::signalfd_siginfo>(),
            )
        };
        if n <= 0 {
            return out;
        }
        out.push(si.ssi_signo);
    }
}

/// Reap one exited child: Some((pid, exit code with signals as 128+n)).
pub fn reap_any() -> Option<(i32, i32)> {
    let mut st = 0;
    // SAFETY: valid status pointer.
    let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    Some((pid, decode_status(st)))
}

/// Wait for the child `pid` (blocking): its exit code, signals as 128+n.
pub fn wait_child(pid: i32) -> io::Result<i32> {
    let mut st = 0;
    loop {
        // SAFETY: valid status pointer; waits for one child of ours.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r == pid {
            return Ok(decode_status(st));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Start `bin` with `args` (after argv[0]) and `stdio` as its fds 0, 1 and 2, by
/// posix_spawn: glibc's is a clone(CLONE_VM | CLONE_VFORK) and an exec, so the shim's
/// page tables are not copied (a fork of a process with threads holds its memory map
/// locked for the copy, and its other threads then take copy-on-write faults: on the
/// path of a ttrpc reply while `runtime delete` is started, for one). std's Command
/// uses posix_spawn too, but falls back to fork when the child needs a step before
/// its exec, as the signal mask below did. As Command's children, the child starts
/// with no signal blocked (the shim blocks SIGCHLD and SIGTERM for its signalfd) and
/// SIGPIPE at its default (Rust ignores it in the shim). Returns the child's pid.
pub fn spawn(bin: &Path, args: &[&OsStr], stdio: [RawFd; 3]) -> io::Result<i32> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let cstr = |b: Vec<u8>| {
        CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte"))
    };
    let path = cstr(bin.as_os_str().as_bytes().to_vec())?;
    let mut argv_c = vec![path.clone()];
    for a in args {
        argv_c.push(cstr(a.as_bytes().to_vec())?);
    }
    let env_c: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv).ok()
        })
        .collect();
    let ptrs = |v: &[CString]| -> Vec<*mut libc::c_char> {
        v.iter()
            .map(|s| s.as_ptr().cast_mut())
            .chain(std::iter::once(std::ptr::null_mut()))
            .collect()
    };
    let (argv, envp) = (ptrs(&argv_c), ptrs(&env_c));
    // posix_spawn's dup2 onto the same number would keep close-on-exec set: move a
    // standard fd out of the way first (closed when this returns).
    let mut moved = Vec::new();
    let mut src = stdio;
    for fd in src.iter_mut() {
        if (0..3).contains(fd) {
            // SAFETY: F_DUPFD_CLOEXEC makes a new fd we own (>= 3).
            let d = cvt(unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) })?;
            // SAFETY: `d` was just made and is owned by nothing else.
            moved.push(unsafe { OwnedFd::from_raw_fd(d) });
            *fd = d;
        }
    }
    let mut pid: libc::pid_t = 0;
    // SAFETY: the file actions and attributes are initialised before use and destroyed
    // after; argv and envp are NULL-terminated arrays of pointers into CStrings that
    // outlive the call; the sigsets are initialised by sigemptyset.
    let r = unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut fa);
        libc::posix_spawnattr_init(&mut attr);
        let mut r = 0;
        for (target, fd) in src.iter().enumerate() {
            if r == 0 {
                r = libc::posix_spawn_file_actions_adddup2(&mut fa, *fd, target as libc::c_int);
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        if r == 0 {
            r = libc::posix_spawnattr_setsigmask(&mut attr, &none);
        }
        if r == 0 {
            r = libc::posix_spawnattr_setsigdefault(&mut attr, &pipe);
        }
        if r == 0 {
            let flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
            r = libc::posix_spawnattr_setflags(&mut attr, flags as libc::c_short);
        }
        if r == 0 {
            // A bare name is looked up on PATH, as Command does.
            let spawn = if path.as_bytes().contains(&b'/') {
                libc::posix_spawn
            } else {
                libc::posix_spawnp
            };
            r = spawn(
                &mut pid,
                path.as_ptr(),
                &fa,
                &attr,
                argv.as_ptr(),
                envp.as_ptr(),
            );
        }
        libc::posix_spawn_file_actions_destroy(&mut fa);
        libc::posix_spawnattr_destroy(&mut attr);
        r
    };
    drop(moved);
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(pid)
}

pub fn decode_status(st: libc::c_int) -> i32 {
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else if libc::WIFSIGNALED(st) {
        128 + libc::WTERMSIG(st)
    } else {
        255
    }
}

pub fn kill(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: plain kill.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Field 22 of /proc/PID/stat (start time in clock ticks since boot).
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    after.split(' ').nth(19)?.parse().ok()
}

/// Write a file atomically: temp file in the same directory, fsync-free rename (the
/// files are in tmpfs under /run; atomicity against readers is what matters).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// Receive one fd over a unix socket (the pty master from --console-socket).
pub fn recv_fd(sock: RawFd) -> io::Result<OwnedFd> {
    let mut buf = [0u8; 512];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr points at local buffers that outlive the call; CMSG macros walk
    // the control buffer the kernel filled.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        // socklen_t in musl, size_t in glibc.
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        cvt(libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) as libc::c_int)?;
        let c = libc::CMSG_FIRSTHDR(&msg);
        if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
            return Ok(OwnedFd::from_raw_fd(fd));
        }
    }
    Err(io::Error::other("no fd received on the console socket"))
}

/// Set a terminal's window size.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Wait until `fd` is readable or `timeout_ms` passes.
pub fn poll_in(fd: RawFd, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout_ms) > 0 }
}

/// fork(2): None in the child, Some(child pid) in the parent. Only for a process
/// that is still single-threaded (the shim before it starts anything).
pub fn fork() -> io::Result<Option<i32>> {
    // SAFETY: the shim calls this before any thread exists, so the child's copy of the
    // process is consistent (no lock held by a thread that is not copied).
    match cvt(unsafe { libc::fork() })? {
        0 => Ok(None),
        pid => Ok(Some(pid)),
    }
}

/// A new session (away from the caller's terminal), and the shim as child subreaper:
/// the container's orphans are reparented to it and reaped.
pub fn new_session_and_subreaper() -> io::Result<()> {
    // SAFETY: setsid takes no arguments; its only failure (already a group leader)
    // leaves the process as it was.
    unsafe { libc::setsid() };
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no memory is passed.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// dup2(fd, target): make `target` (a standard fd) refer to `fd`'s file.
pub fn dup2(fd: &impl AsRawFd, target: RawFd) -> io::Result<()> {
    // SAFETY: `fd` is open for the call; dup2 replaces `target` atomically, and the
    // standard fds it is used on are not owned by any Rust object.
    cvt(unsafe { libc::dup2(fd.as_raw_fd(), target) }).map(drop)
}

/// poll(2) over `fds`; the number ready (Err on EINTR and other failures).
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, exclusively borrowed array of that many pollfds.
    cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })
        .map(|n| n as usize)
}

/// Named crash points for fault-injection tests (`BERTH_CRASH_AT`, points
/// named `shim:<step>`): the hook the manager and the runtime share too.
pub use berth_fault::crash_point;

/// `shutdown(fd, SHUT_RD)`: wakes a thread blocked in accept or recv on a
/// socket (its call fails or returns 0). Errors (e.g. ENOTCONN for an
/// unconnected UDP socket, which is still woken) are of no use to the caller.
pub fn shutdown_read(fd: RawFd) {
    // SAFETY: shutdown takes any fd number; on a non-socket it fails harmlessly.
    unsafe { libc::shutdown(fd, libc::SHUT_RD) };
}

/// `splice(from, to, len)` without offsets (one of them must be a pipe):
/// bytes moved in the kernel, 0 at the end of `from`.
pub fn splice(
    from: std::os::fd::BorrowedFd,
    to: std::os::fd::BorrowedFd,
    len: usize,
) -> io::Result<usize> {
    // SAFETY: both fds are borrowed for the call; null offsets mean "the
    // file position", which splice requires for pipes and sockets.
    let r = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(fd: &OwnedFd) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = read(fd.as_raw_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The field `name` of /proc/self/status as a bit mask (hex).
    fn status_mask(status: &str, name: &str) -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(u64::MAX)
    }

    #[test]
    fn spawn_gives_stdio_an_empty_signal_mask_and_default_sigpipe() {
        // As the shim: SIGCHLD and SIGTERM blocked (its signalfd); SIGPIPE is ignored by
        // Rust's runtime in test binaries as in the shim.
        // SAFETY: sigset initialised by sigemptyset; only this thread's mask changes.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGCHLD);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        let (in_r, in_w) = pipe().unwrap();
        let (out_r, out_w) = pipe().unwrap();
        let null = open_devnull(libc::O_WRONLY).unwrap();
        write(in_w.as_raw_fd(), b"from-stdin\n").unwrap();
        drop(in_w);
        // A bare name: looked up on PATH.
        let args: [&OsStr; 2] = ["-c".as_ref(), "cat; cat /proc/self/status".as_ref()];
        let pid = spawn(
            Path::new("sh"),
            &args,
            [in_r.as_raw_fd(), out_w.as_raw_fd(), null.as_raw_fd()],
        )
        .unwrap();
        drop(out_w);
        let out = read_all(&out_r);
        assert_eq!(wait_child(pid).unwrap(), 0);
        assert!(out.starts_with("from-stdin\n"), "{out}");
        assert_eq!(status_mask(&out, "SigBlk:"), 0, "{out}");
        let pipe_bit = 1u64 << (libc::SIGPIPE - 1);
        assert_eq!(status_mask(&out, "SigIgn:") & pipe_bit, 0, "{out}");
    }

    #[test]
    fn spawn_reports_a_missing_binary_and_exit_codes() {
        let null = open_devnull(libc::O_RDWR).unwrap();
        let fd = null.as_raw_fd();
        let missing = spawn(Path::new("/nonexistent/berth-runtime"), &[], [fd, fd, fd]);
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
        let args: [&OsStr; 2] = ["-c".as_ref(), "exit 7".as_ref()];
        let pid = spawn(Path::new("/bin/sh"), &args, [fd, fd, fd]).unwrap();
        assert_eq!(wait_child(pid).unwrap(), 7);
    }
}
