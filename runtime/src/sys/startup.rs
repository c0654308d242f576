//! What Rust's runtime set-up did before `main` that berth-runtime still
//! needs, now that libc calls `main` directly (see `main` in main.rs).

use std::ffi::{c_char, c_int, CStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;

static ARGS: OnceLock<Vec<OsString>> = OnceLock::new();

/// Keep the arguments libc passed to `main`. `std::env::args` is filled by
/// glibc's `.init_array` hook, but on musl only by Rust's own `lang_start`,
/// which berth-runtime skips: there it would be empty.
///
/// # Safety
/// `argv` must be `main`'s: `argc` pointers to NUL-terminated strings that
/// live for the whole process (or null).
#[cfg_attr(test, allow(dead_code))]
pub unsafe fn set_args(argc: c_int, argv: *const *const c_char) {
    let mut args = Vec::new();
    if !argv.is_null() {
        for i in 0..usize::try_from(argc).unwrap_or(0) {
            // SAFETY: i < argc, so argv[i] is one of main's arguments (the
            // caller's contract).
            let p = unsafe { *argv.add(i) };
            if p.is_null() {
                break;
            }
            // SAFETY: a non-null argv entry is a NUL-terminated string.
            let arg = unsafe { CStr::from_ptr(p) };
            args.push(OsString::from_vec(arg.to_bytes().to_vec()));
        }
    }
    let _ = ARGS.set(args);
}

/// The process's arguments: those `main` received, else (unit tests, which
/// run under Rust's own set-up) `std::env::args_os`.
pub fn args_os() -> Vec<OsString> {
    match ARGS.get() {
        Some(args) => args.clone(),
        None => std::env::args_os().collect(),
    }
}

/// Open /dev/null on whichever of fds 0-2 is closed, so that no file the
/// runtime opens later lands on a standard stream (the container's stdio
/// is the runtime's), and ignore SIGPIPE so that a write to a closed pipe
/// is an EPIPE error, as in every Rust program (the init gives SIGPIPE
/// back its default before the container's process runs).
#[cfg_attr(test, allow(dead_code))]
pub fn init() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes only the three pollfd structs of the
    // array, whose length is passed; events 0 only reports POLLNVAL for a
    // closed fd. (Raw fds: a closed fd cannot be a `BorrowedFd`.)
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
    if r >= 0 {
        for fd in &fds {
            if fd.revents & libc::POLLNVAL != 0 {
                // open returns the lowest free fd: the closed one. It stays
                // open for the life of the process on purpose.
                let _ = nix::fcntl::open(
                    "/dev/null",
                    nix::fcntl::OFlag::O_RDWR,
                    nix::sys::stat::Mode::empty(),
                )
                .map(std::mem::forget::<std::os::fd::OwnedFd>);
            }
        }
    }
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_IGN runs no code of ours; the previous disposition is not
    // used.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}
