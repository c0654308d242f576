//! `berth stop`: the stop signal, then SIGKILL after the timeout (the shim does
//! both and answers once the container exited).

use crate::container::{self, ContainerRecord, ContainerStore};
use crate::context::Context;
use anyhow::{bail, Context as _};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth-runtime --root <state>/runtime <args>`; its stderr as the error.
pub fn runtime(ctx: &Context, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(&ctx.runtime)
        .arg("--root")
        .arg(ctx.runtime_root())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {}", ctx.runtime.display()))?;
    if !out.status.success() {
        bail!(
            "{} {}: {}",
            ctx.runtime.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Wait until the init pid is gone (shim-less containers).
fn wait_pid_gone(pid: i32, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while container::pid_alive(pid) {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Stop a container and handle its exit (rootfs unmounted, `--rm` removal).
pub fn stop_container(
    ctx: &Context,
    rec: &ContainerRecord,
    signal: Option<&str>,
    timeout: Option<i64>,
) -> anyhow::Result<()> {
    let st = container::state(ctx, rec)?;
    if !st.running {
        return super::start::handle_exited(ctx, &rec.id, None);
    }
    let sig_name = signal
        .map(str::to_string)
        .or_else(|| rec.config.stop_signal.clone())
        .unwrap_or_else(|| "TERM".into());
    let sig = super::kill::parse_signal(&sig_name)?;
    let timeout = timeout.or(rec.config.stop_timeout).unwrap_or(10);
    let timeout_s = if timeout < 0 { 1 << 31 } else { timeout as u64 };
    if st.paused {
        let _ = super::pause::set_paused(ctx, rec, false);
    }
    if st.shim_alive {
        crate::shim_client::request(
            &rec.shim_dir(ctx),
            &crate::shim_client::Request::Stop {
                signal: sig,
                timeout_s,
            },
        )?;
    } else {
        // The shim is gone: signal through the runtime, then SIGKILL.
        let _ = runtime(ctx, &["kill", &rec.id, &sig.to_string()]);
        if !wait_pid_gone(st.pid, Duration::from_secs(timeout_s.min(1 << 20))) {
            let _ = runtime(ctx, &["kill", "--all", &rec.id, "9"]);
            wait_pid_gone(st.pid, Duration::from_secs(10));
        }
        let _ = runtime(ctx, &["delete", "--force", &rec.id]);
        let mut s = container::read_shim_status(ctx, rec).unwrap_or_default();
        s.status = "exited".into();
        s.exit_code = Some(128 + sig);
        s.finished_at = Some(crate::store::now_rfc3339());
        s.shim_pid = 0;
        container::store::write_json(&rec.shim_dir(ctx).join("status.json"), &s)?;
    }
    super::start::handle_exited(ctx, &rec.id, None)
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    Ok(super::for_each_container(&args.containers, |c| {
        let rec = store.resolve(c)?;
        stop_container(ctx, &rec, args.signal.as_deref(), args.time)?;
        Ok(None)
    }))
}
