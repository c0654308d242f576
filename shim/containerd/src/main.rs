//! containerd-shim-berth-v2: berth as a containerd runtime (`io.containerd.berth.v2`).
//! containerd runs `start` to get a shim's address, speaks the shim v2 Task API to it
//! over ttrpc, and runs `delete` when a shim died. Each container is driven by
//! berth-shim's supervisor, which runs berth-runtime. See docs/containerd-shim.md.

mod cli;
mod commands;
mod events;
mod layout;
mod mounts;
mod rtcmd;
mod service;
mod stats;
mod stdio;
mod task;

use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};

/// `-debug` (containerd passes it when its own log level is debug): timings to stderr,
/// which is containerd's shim log; stamped in containerd's own log format so that a
/// run's shim lines and containerd's lines can be put on one time line
/// (integration/bench/containerd_shim_trace.py).
pub static DEBUG: AtomicBool = AtomicBool::new(false);

#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => {
        if $crate::DEBUG.load(std::sync::atomic::Ordering::Relaxed) {
            // Not eprintln!, which panics when the write fails: containerd may have
            // closed the log FIFO's reading end already (EPIPE).
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "time=\"{}\" level=debug msg=\"containerd-shim-berth-v2: {}\"",
                berth_shim::time::rfc3339_nano(berth_shim::time::now_unix_ns()),
                format_args!($($t)*)
            );
        }
    };
}
use cli::Action;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;

/// The Task service's ttrpc names: containerd 1.6/1.7 call `containerd.task.v2.Task`,
/// containerd 2 `containerd.task.v3.Task`; the messages are the same.
const TASK_V3: &str = "/containerd.task.v3.Task/";
const TASK_V2: &str = "/containerd.task.v2.Task/";

/// berth-runtime beside this binary, else from PATH.
fn default_runtime() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("berth-runtime")))
        .filter(|p| p.exists());
    beside.unwrap_or_else(|| PathBuf::from("berth-runtime"))
}

fn main() {
    let flags = match cli::parse(std::env::args().skip(1)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("containerd-shim-berth-v2: {e}");
            std::process::exit(2)
        }
    };
    DEBUG.store(flags.debug, Ordering::Relaxed);
    let r = match flags.action {
        Action::Version => {
            println!("containerd-shim-berth-v2 {}", service::VERSION);
            Ok(())
        }
        Action::Start => commands::start(&flags),
        Action::Delete => commands::delete(&flags, &default_runtime()),
    };
    if let Err(e) = r {
        eprintln!("containerd-shim-berth-v2: {e:#}");
        std::process::exit(1)
    }
}

/// Send our stderr to containerd's shim log FIFO (`<bundle>/log`) when containerd reads it.
fn stderr_to_containerd_log() {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("log");
    if let Ok(f) = f {
        // SAFETY: dup2 onto stderr of an fd we own.
        unsafe { libc::dup2(f.as_raw_fd(), 2) };
    }
}

// glibc's limit on its cache of the stacks of exited threads (bytes): a global of
// glibc's static library (nptl-stack.c), which its `glibc.pthread.stack_cache_size`
// tunable sets at start-up. The daemon is a fork of the `start` command, so it cannot
// be given the tunable through its environment; it sets the same limit directly.
// (A glibc without this symbol fails the static link, loudly.) musl keeps no such
// cache: a thread's stack is unmapped when it exits or is joined.
#[cfg(target_env = "gnu")]
extern "C" {
    static mut __nptl_stack_cache_maxsize: usize;
}

/// No cache of exited threads' stacks: ttrpc starts and ends a worker around each
/// blocking `Wait`, and glibc would keep those stacks, with the pages they touched,
/// for reuse, so an idle shim would keep resident the stacks of every exec it served
/// (measured: 56 KiB of an idle shim, 140 KiB of a pod's shim). With no cache they
/// are unmapped at the thread's exit.
pub fn no_thread_stack_cache() {
    #[cfg(target_env = "gnu")]
    // SAFETY: called before the process starts any thread (the start command's fork
    // is single-threaded), so nothing reads the variable concurrently; glibc reads it
    // only when a thread exits.
    unsafe {
        __nptl_stack_cache_maxsize = 0
    };
}

/// Files the daemon writes into the bundle once it serves: the shim's `address`
/// (containerd reads it when it restarts and looks for its shims) and `shim.pid`.
pub struct DaemonFiles {
    pub bundle: PathBuf,
    pub address: String,
}

impl DaemonFiles {
    fn write(&self) {
        let pid = std::process::id().to_string();
        let r = std::fs::write(self.bundle.join("shim.pid"), pid)
            .and_then(|()| std::fs::write(self.bundle.join("address"), &self.address));
        if let Err(e) = r {
            eprintln!("containerd-shim-berth-v2: writing the address file: {e}");
        }
    }
}

/// The daemon (a fork of the `start` command): serve the Task API on `listener` until
/// told to shut down.
pub fn serve(
    flags: &cli::Flags,
    listener: OwnedFd,
    files: Option<DaemonFiles>,
) -> anyhow::Result<()> {
    // Before any thread exists: the signalfd's signals are blocked in every thread.
    let sigfd = berth_shim::sys::signalfd(&[libc::SIGCHLD, libc::SIGTERM, libc::SIGINT])
        .context("signalfd")?;
    // SAFETY: plain prctl; container processes are reparented to us.
    berth_shim::sys::cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
        .context("PR_SET_CHILD_SUBREAPER")?;
    stderr_to_containerd_log();
    // One malloc arena for all threads: glibc's ttrpc workers would otherwise each touch
    // an arena of their own, most of an idle shim's anonymous memory. (musl's allocator
    // has a single heap and no mallopt.)
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1)
    };
    let events =
        events::Publisher::start(std::env::var("TTRPC_ADDRESS").ok(), flags.namespace.clone());
    let (shim, wake_r) = task::Shim::new(events, flags.namespace.clone()).context("wake pipe")?;
    let svc = Arc::new(service::Service {
        shim: shim.clone(),
        default_runtime: default_runtime(),
    });
    let v3 = containerd_shim_protos::create_task(svc.clone());
    let v2: std::collections::HashMap<_, _> = containerd_shim_protos::create_task(svc)
        .into_iter()
        .map(|(k, v)| (k.replacen(TASK_V3, TASK_V2, 1), v))
        .collect();
    let mut server = ttrpc::Server::new()
        .set_thread_count_min(1)
        .set_thread_count_default(2)
        .set_thread_count_max(3)
        .add_listener(listener.as_raw_fd())
        .context("ttrpc listener")?
        .register_service(v3)
        .register_service(v2);
    server.start().context("starting the ttrpc server")?;
    // After the server is up: containerd's Create, which may already be waiting on the
    // socket, does not wait for these two file creations.
    if let Some(f) = files {
        f.write();
    }
    task::run(&shim, sigfd, wake_r);
    debug!("shutting down");
    shim.events.flush(std::time::Duration::from_secs(2));
    if let Some(sock) = &flags.socket {
        let _ = std::fs::remove_file(sock);
    }
    drop(listener);
    debug!("exiting");
    // containerd takes a Shutdown whose reply is cut short by our exit as done.
    std::process::exit(0)
}
