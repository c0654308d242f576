//! `update`: change a container's restart policy and resource limits. The
//! record always (a stopped container gets them at its next start, as the
//! spec is generated at each start); a running one's cgroup now, through
//! `berth-runtime update`, and its shim's restart policy through a
//! `set_restart` request. Lock: the container's.

use super::error::LifecycleError;
use super::lock::Locked;
use super::record::RestartPolicy;
use super::{runtime, state};
use crate::context::Context;
use crate::shim_client::{self, Ack, Request};

/// What to change (None: keep).
#[derive(Debug, Default, Clone)]
pub struct UpdateOptions {
    pub restart: Option<RestartPolicy>,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

/// Update the container; returns warnings for the user (what takes effect
/// only at the next start).
pub fn update(ctx: &Context, c: &Locked, o: &UpdateOptions) -> Result<Vec<String>, LifecycleError> {
    let mut rec = c.record().clone();
    let hc = &mut rec.host_config;
    let mut warnings = Vec::new();
    if let Some(r) = o.restart {
        if hc.auto_remove && r != RestartPolicy::No {
            return Err(LifecycleError::Conflict(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        hc.restart_policy = r;
    }
    if let Some(m) = o.memory {
        hc.memory = m;
    }
    if let Some(m) = o.memory_reservation {
        hc.memory_reservation = m;
    }
    if let Some(m) = o.memory_swap {
        hc.memory_swap = m;
    }
    if hc.memory_swap > 0 && hc.memory > 0 && hc.memory_swap < hc.memory {
        return Err(LifecycleError::Invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if let Some(n) = o.nano_cpus {
        hc.nano_cpus = n;
    }
    if let Some(n) = o.cpu_shares {
        hc.cpu_shares = n;
    }
    if let Some(n) = o.cpu_period {
        hc.cpu_period = n;
    }
    if let Some(n) = o.cpu_quota {
        hc.cpu_quota = n;
    }
    if hc.nano_cpus > 0 && (o.cpu_period.is_some() || o.cpu_quota.is_some()) {
        return Err(LifecycleError::Invalid(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
                .into(),
        ));
    }
    if let Some(s) = &o.cpuset_cpus {
        hc.cpuset_cpus = s.clone();
    }
    if let Some(s) = &o.cpuset_mems {
        hc.cpuset_mems = s.clone();
    }
    if let Some(p) = o.pids_limit {
        hc.pids_limit = Some(p);
    }
    if let Some(w) = o.blkio_weight {
        if w != 0 && !(10..=1000).contains(&w) {
            return Err(LifecycleError::Invalid(format!(
                "invalid --blkio-weight {w}: must be between 10 and 1000"
            )));
        }
        hc.blkio_weight = w;
    }
    let st = state::state(ctx, c);
    if st.running {
        let mut args: Vec<String> = vec!["update".into()];
        let mut flag = |f: &str, v: String| {
            args.push(format!("--{f}"));
            args.push(v);
        };
        if let Some(m) = o.memory {
            flag("memory", m.to_string());
        }
        if let Some(m) = o.memory_reservation {
            flag("memory-reservation", m.to_string());
        }
        if let Some(m) = o.memory_swap {
            flag("memory-swap", m.to_string());
        }
        if let Some(n) = o.nano_cpus {
            // --cpus is a CFS quota over docker's 100 ms period.
            flag("cpu-period", "100000".into());
            flag("cpu-quota", (n * 100_000 / 1_000_000_000).to_string());
        }
        if let Some(n) = o.cpu_shares {
            flag("cpu-share", n.to_string());
        }
        if let Some(n) = o.cpu_period {
            flag("cpu-period", n.to_string());
        }
        if let Some(n) = o.cpu_quota {
            flag("cpu-quota", n.to_string());
        }
        if let Some(s) = &o.cpuset_cpus {
            flag("cpuset-cpus", s.clone());
        }
        if let Some(s) = &o.cpuset_mems {
            flag("cpuset-mems", s.clone());
        }
        if let Some(p) = o.pids_limit {
            flag("pids-limit", p.to_string());
        }
        if let Some(w) = o.blkio_weight {
            flag("blkio-weight", w.to_string());
        }
        if args.len() > 1 {
            args.push(rec.id.clone());
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            runtime::run(ctx, &argv)?;
        }
    }
    // The live shim supervises the container with the policy it was started
    // with: tell it the new one (also while it waits to restart it).
    if let (Some(r), true) = (o.restart, st.shim_alive) {
        let req = Request::SetRestart {
            policy: r.name().into(),
            max_retries: r.max_retries(),
        };
        if let Err(e) = shim_client::request::<Ack>(&c.shim_dir(ctx), &req) {
            // A shim started by an older berth (before an upgrade) does not
            // know the request: the record has it for the next start.
            warnings.push(format!(
                "{}: the running shim did not take the new restart policy ({e}); it applies from the container's next start",
                rec.name
            ));
        }
    }
    c.store().save(&rec)?;
    crate::events::container(ctx, &rec, "update", &[]);
    Ok(warnings)
}
