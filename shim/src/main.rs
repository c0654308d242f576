//! berth-shim: the per-container supervisor. `berth-shim --dir DIR` reads
//! DIR/shim.json, forks a detached supervisor (own session, child subreaper) that
//! creates and starts the container, and prints the supervisor's one-line report:
//! `{"pid":N,"shim_pid":M}` (exit 0) or `{"error":"..."}` (exit 1). See docs/shim.md.

// Every unsafe block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

mod attach;
mod config;
mod control;
mod error;
mod event_loop;
mod health;
mod logs;
mod oom;
mod relay;
mod restart;
mod runtime;
mod status;
mod supervisor;
mod sys;
mod time;

use anyhow::Context;
use config::ConfigExt;
use status::StatusExt;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

const USAGE: &str =
    "usage: berth-shim --dir DIR   (DIR/shim.json describes the container; see docs/shim.md)";

fn print_report(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn fail(msg: impl std::fmt::Display) -> ! {
    print_report(&serde_json::json!({ "error": msg.to_string() }));
    std::process::exit(1)
}

fn parse_args() -> PathBuf {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dir" | "-dir" => dir = args.next(),
            s if s.starts_with("--dir=") => dir = Some(s["--dir=".len()..].to_string()),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            "-v" | "--version" => {
                println!("berth-shim {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0)
            }
            _ => fail(format!("unknown argument {a:?}; {USAGE}")),
        }
    }
    match dir {
        Some(d) => PathBuf::from(d),
        None => fail(USAGE),
    }
}

fn main() {
    let dir = parse_args();
    let dir = std::fs::canonicalize(&dir)
        .unwrap_or_else(|e| fail(format!("--dir {}: {e}", dir.display())));
    let cfg = config::Config::load(&dir).unwrap_or_else(|e| fail(e));
    let (r, w) = sys::pipe().unwrap_or_else(|e| fail(format!("pipe: {e}")));
    // Single-threaded here, as fork needs.
    match sys::fork() {
        Err(e) => fail(format!("fork: {e}")),
        Ok(None) => {
            drop(r);
            let code = match supervise(cfg, &dir, w) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("berth-shim: {e:#}");
                    1
                }
            };
            std::process::exit(code)
        }
        Ok(Some(_child)) => {
            drop(w);
            relay_report(&r, &dir)
        }
    }
}

/// The invoking process: wait for the supervisor's one report line and print it.
fn relay_report(r: &OwnedFd, dir: &Path) -> ! {
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sys::read(r.as_raw_fd(), &mut buf) {
        if n == 0 {
            break;
        }
        line.extend_from_slice(&buf[..n]);
        if line.contains(&b'\n') {
            break;
        }
    }
    let v: serde_json::Value = match serde_json::from_slice(line.trim_ascii()) {
        Ok(v) => v,
        Err(_) => fail(format!(
            "berth-shim exited before reporting (see {})",
            dir.join("shim.log").display()
        )),
    };
    print_report(&v);
    std::process::exit(if v.get("error").is_some() { 1 } else { 0 })
}

/// Detach from the caller: own session, subreaper, stdio away from the caller's
/// terminal and pipes (stderr to DIR/shim.log for diagnostics).
fn detach(dir: &Path) -> anyhow::Result<()> {
    sys::new_session_and_subreaper().context("PR_SET_CHILD_SUBREAPER")?;
    let null = sys::open_devnull(libc::O_RDWR)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("shim.log"))
        .context("opening shim.log")?;
    sys::dup2(&null, 0).context("dup2 stdin")?;
    sys::dup2(&null, 1).context("dup2 stdout")?;
    sys::dup2(&log, 2).context("dup2 stderr")?;
    std::env::set_current_dir("/").context("chdir /")?;
    Ok(())
}

fn supervise(cfg: config::Config, dir: &Path, report: OwnedFd) -> anyhow::Result<()> {
    let send = |v: serde_json::Value| {
        let mut line = v.to_string();
        line.push('\n');
        let _ = sys::write(report.as_raw_fd(), line.as_bytes());
    };
    let setup = (|| -> anyhow::Result<_> {
        detach(dir)?;
        // Before any child exists, so no SIGCHLD is missed.
        let sigfd = sys::signalfd(&[libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP])
            .context("signalfd")?;
        let me = std::process::id() as i32;
        let start = sys::proc_start_time(me).unwrap_or(0);
        sys::write_atomic(&dir.join("shim.pid"), format!("{me} {start}\n").as_bytes())
            .context("writing shim.pid")?;
        let front = event_loop::Front::new(dir.to_owned()).context("binding the sockets")?;
        let mut sup = supervisor::Supervisor::new(cfg, dir)?;
        // before the container starts: a published [::1] port taken by
        // another program fails the start with its error
        sup.publish_relays()?;
        Ok((sigfd, front, sup))
    })();
    let (sigfd, front, mut sup) = match setup {
        Ok(x) => x,
        Err(e) => {
            send(serde_json::json!({ "error": format!("{e:#}") }));
            let _ = std::fs::remove_file(dir.join("shim.pid"));
            return Err(e);
        }
    };
    match sup.launch() {
        Ok(pid) => send(serde_json::json!({ "pid": pid, "shim_pid": std::process::id() })),
        Err(e) => {
            // The report carries the start error's kind (docker's 126/127) with its text.
            send(e.to_json());
            sup.abandon();
            sup.status.status = "exited".into();
            sup.status.error = Some(e.to_string());
            let _ = sup.status.save(dir);
            drop(front);
            let _ = std::fs::remove_file(dir.join("shim.pid"));
            anyhow::bail!("launch failed: {e}");
        }
    }
    drop(report);
    event_loop::run(sup, front, sigfd);
    let _ = std::fs::remove_file(dir.join("shim.pid"));
    Ok(())
}
