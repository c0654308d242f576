//! berth-runtime: an OCI runtime, drop-in compatible with runc.

// Every unsafe block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]
// libc calls `main` below directly, without Rust's runtime set-up (see there).
#![cfg_attr(not(test), no_main)]

mod bundle;
mod cgroups;
mod cli;
mod commands;
mod container;
mod error;
#[cfg(test)]
mod fuzz;
mod help;
mod hooks;
mod init;
mod launcher;
mod logging;
mod netdev;
mod rootfs;
mod seccomp;
mod sys;

/// The runtime-spec version this build implements.
pub const SPEC_VERSION: &str = "1.3.0";

/// The entry point libc calls, in place of Rust's `lang_start`. That set-up
/// costs every invocation (and `state`, `kill`, `delete` are little else)
/// a dozen syscalls: it reads `/proc/self/maps` to find the main thread's
/// stack guard, maps an alternate signal stack and installs SIGSEGV/SIGBUS
/// handlers for a "stack overflow" message (berth-runtime's stack use is
/// shallow, and a panic aborts anyway). What it does that matters is kept in
/// `sys::startup::init`: fds 0-2 opened on /dev/null when closed, SIGPIPE
/// ignored, and argv recorded (`sys::startup::args_os`: musl, unlike glibc,
/// leaves `std::env::args` to that set-up).
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: libc's own argc/argv, valid for the life of the process.
    unsafe { sys::startup::set_args(argc, argv) };
    sys::startup::init();
    berth_main();
    0
}

// Unit tests get the test harness's `main`.
#[cfg_attr(test, allow(dead_code))]
fn berth_main() {
    let mut args = Vec::new();
    for (i, a) in sys::startup::args_os().into_iter().enumerate() {
        match a.into_string() {
            Ok(a) => args.push(a),
            Err(a) => {
                eprintln!("error: argument {i} is not valid UTF-8: {a:?}");
                std::process::exit(1);
            }
        }
    }
    let args = cli::normalize_args(args);
    if help::requested(&args) {
        return;
    }
    let cli = match cli::parse(args) {
        Ok(c) => c,
        // Engines show stderr to the user; exit code 1 like any failure.
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let g = &cli.global;
    // The log exists before anything can fail: engines read it for errors.
    if let Err(e) = logging::init(g.log.as_deref(), g.log_format, g.debug) {
        eprintln!(
            "berth-runtime: open log {}: {e}",
            g.log
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        );
        std::process::exit(1);
    }
    if g.version {
        print_version();
        return;
    }
    let Some(cmd) = cli.command else {
        // No command: the global help, as runc prints it.
        print!("{}", help::render_global());
        return;
    };
    // Commands that start a process log their error's `kind` (why the process could
    // not start); the others keep runc's {level, msg, time}.
    let starts_process = matches!(
        cmd,
        cli::Command::Create { .. }
            | cli::Command::Run { .. }
            | cli::Command::Exec(_)
            | cli::Command::Start { .. }
    );
    if matches!(
        cmd,
        cli::Command::Create { .. } | cli::Command::Run { .. } | cli::Command::Exec(_)
    ) {
        if let Err(e) = sys::sealed_exe::ensure_sealed() {
            fail(g, &e.to_string(), Some(error::InitErrorKind::Other));
        }
    }
    // runc: any failure of `exec` exits 255, so callers can tell it from
    // the process's own exit code.
    let is_exec = matches!(cmd, cli::Command::Exec(_));
    match commands::dispatch(g, cmd) {
        Ok(code) => exit_now(code),
        Err(e) if is_exec => fail_with(
            g,
            &format!("exec failed: {e}"),
            Some(e.init_kind()),
            commands::exec::EXEC_FAILED,
        ),
        Err(e) => fail(g, &e.to_string(), starts_process.then(|| e.init_kind())),
    }
}

fn fail(g: &cli::GlobalOpts, msg: &str, kind: Option<error::InitErrorKind>) -> ! {
    fail_with(g, msg, kind, 1)
}

/// Log the final error (with, for a process that could not start, its
/// machine-readable kind in the JSON log) and exit.
fn fail_with(g: &cli::GlobalOpts, msg: &str, kind: Option<error::InitErrorKind>, code: i32) -> ! {
    match kind {
        Some(k) => logging::error_with_kind(k.name(), msg),
        None => log::error!("{msg}"),
    }
    if logging::logs_to_file(g.log.as_deref()) {
        eprintln!("{msg}");
    }
    exit_now(code)
}

/// End the process once Rust's stdout is flushed, without libc's exit
/// handlers: they have nothing of ours to do, and libgcc's deregistration of
/// the unwind tables (crtbeginT's destructor) reads `.eh_frame`, which costs
/// a 64 KiB fault-around window of the binary at the very end of `create`,
/// where its peak RSS is (docs/runtime.md, "Memory").
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    // Nothing to do about a failed flush: the exit code stands.
    let _ = std::io::stdout().flush();
    // SAFETY: `_exit` only ends the process; Rust's buffered output was
    // flushed above and stderr is unbuffered, the logger writes unbuffered.
    unsafe { libc::_exit(code) }
}

fn print_version() {
    print!("{}", version_text());
}

/// `--version` in runc's shape (name version, then `key: value` lines).
pub(crate) fn version_text() -> String {
    let mut s = format!(
        "berth-runtime version {}\nspec: {SPEC_VERSION}\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        s.push_str(&format!(
            "libseccomp: {}.{}.{}\n",
            v.major, v.minor, v.micro
        ));
    }
    s
}
