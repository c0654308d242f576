//! `berth update`: change containers' restart policy and resource limits.

use crate::cli::for_each_container;
use crate::container::options::{parse_restart, parse_size};
use crate::container::update::{update, UpdateOptions};
use crate::container::{self, ContainerStore};
use crate::context::Context;
use anyhow::Context as _;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long)]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Kernel memory limit (not supported)
    #[arg(long, hide = true)]
    pub kernel_memory: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

fn size(flag: &str, v: &Option<String>) -> anyhow::Result<Option<i64>> {
    v.as_deref()
        .map(|s| {
            if s == "-1" {
                Ok(-1)
            } else {
                parse_size(s).with_context(|| format!("--{flag}"))
            }
        })
        .transpose()
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    if args.kernel_memory.is_some() {
        anyhow::bail!("--kernel-memory is not supported by berth");
    }
    let opts = UpdateOptions {
        restart: args.restart.as_deref().map(parse_restart).transpose()?,
        memory: size("memory", &args.memory)?,
        memory_reservation: size("memory-reservation", &args.memory_reservation)?,
        memory_swap: size("memory-swap", &args.memory_swap)?,
        nano_cpus: args.cpus.map(|c| (c * 1e9) as i64),
        cpu_shares: args.cpu_shares,
        cpu_period: args.cpu_period,
        cpu_quota: args.cpu_quota,
        cpuset_cpus: args.cpuset_cpus.clone(),
        cpuset_mems: args.cpuset_mems.clone(),
        pids_limit: args.pids_limit,
        blkio_weight: args.blkio_weight,
    };
    let store = ContainerStore::open(ctx)?;
    Ok(for_each_container(&args.containers, |name| {
        let c = container::lock_by_name(&store, name)?;
        for w in update(ctx, &c, &opts)? {
            eprintln!("WARNING: {w}");
        }
        Ok(None)
    }))
}
