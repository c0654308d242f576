//! `stop`: the stop signal, then SIGKILL after the timeout (the shim does both
//! and answers once the container exited), then `on_exit`. Lock: the
//! container's, for the whole stop (the shim's exit hook waits for it and then
//! finds the work done).

use super::error::LifecycleError;
use super::exit::on_exit_locked;
use super::kill::Signal;
use super::lock::Locked;
use super::pause::set_paused;
use super::runtime;
use super::state::{self, read_shim_status, ShimStatus};
use super::store::write_json;
use crate::context::Context;
use crate::shim_client::{self, Request};
use crate::sys::process::pid_running;
use std::time::{Duration, Instant};

/// docker's default grace period.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A negative timeout (docker's -1) waits for ever; "for ever" is this long.
const FOREVER: Duration = Duration::from_secs(1 << 31);

/// A timeout in docker's seconds: negative waits for ever.
pub fn timeout_from_secs(s: i64) -> Duration {
    u64::try_from(s).map(Duration::from_secs).unwrap_or(FOREVER)
}

/// Stop the container: `signal` (default: its stop signal, else SIGTERM),
/// SIGKILL after `timeout` (default: its stop timeout, else 10 s). A container
/// that is not running is not an error (its exit is handled).
pub fn stop(
    ctx: &Context,
    c: &Locked,
    timeout: Option<Duration>,
    signal: Option<Signal>,
) -> Result<(), LifecycleError> {
    let st = state::state(ctx, c);
    if !st.running {
        return on_exit_locked(ctx, c, None);
    }
    let sig = match (signal, &c.config.stop_signal) {
        (Some(s), _) => s,
        (None, Some(name)) => Signal::parse(name)?,
        (None, None) => Signal::TERM,
    };
    let timeout = timeout
        .or(c.config.stop_timeout.map(timeout_from_secs))
        .unwrap_or(DEFAULT_TIMEOUT);
    if st.paused {
        let _ = set_paused(ctx, c, false);
    }
    if st.shim_alive {
        shim_client::request::<ShimStatus>(
            &c.shim_dir(ctx),
            &Request::Stop {
                signal: sig.number(),
                timeout_s: timeout.as_secs(),
            },
        )?;
    } else {
        // The shim is gone: signal through the runtime, then SIGKILL.
        let _ = runtime::run(ctx, &["kill", &c.id, &sig.number().to_string()]);
        if !wait_pid_gone(st.pid, timeout.min(Duration::from_secs(1 << 20))) {
            let _ = runtime::run(ctx, &["kill", "--all", &c.id, "9"]);
            wait_pid_gone(st.pid, Duration::from_secs(10));
        }
        let _ = runtime::run(ctx, &["delete", "--force", &c.id]);
        let mut s = read_shim_status(ctx, c).unwrap_or_default();
        s.status = "exited".into();
        s.exit_code = Some(128 + sig.number());
        s.finished_at = Some(crate::store::now_rfc3339());
        s.shim_pid = 0;
        write_json(&c.shim_dir(ctx).join("status.json"), &s)?;
    }
    crate::sys::fault::crash_point("stop:exited");
    let res = on_exit_locked(ctx, c, None);
    crate::events::container(ctx, c, "stop", &[]);
    res
}

/// Wait until the init pid is gone or a zombie (shim-less containers).
fn wait_pid_gone(pid: i32, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while pid_running(pid) {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}
