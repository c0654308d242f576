//! `berth compose up` (and `berth up`): create and start the project's
//! containers, converging what already runs.

use super::ProjectFlags;
use crate::compose::attached::{self, AttachOptions};
use crate::compose::engine::{self, UpFlags};
use crate::compose::planner::UpOptions;
use crate::context::Context;
use anyhow::{anyhow, bail};
use std::time::Duration;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Detached mode: run containers in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long)]
    pub pull: Option<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    pub no_recreate: bool,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    pub no_start: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Wait for services to be running|healthy (implies detached mode)
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration to wait for the project to be running|healthy (seconds)
    #[arg(long)]
    pub wait_timeout: Option<u64>,
    /// Scale SERVICE to NUM instances (SERVICE=NUM)
    #[arg(long)]
    pub scale: Vec<String>,
    /// Stops all containers if any container was stopped
    #[arg(long)]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container (implies --abort-on-container-exit)
    #[arg(long)]
    pub exit_code_from: Option<String>,
    /// Shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    pub service: Vec<String>,
}

/// `-t` in docker's seconds (negative: wait for ever).
pub fn timeout(t: Option<i64>) -> Option<Duration> {
    t.map(|s| {
        u64::try_from(s)
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(1 << 31))
    })
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    if args.build && args.no_build {
        bail!("--build and --no-build are incompatible");
    }
    if args.force_recreate && args.no_recreate {
        bail!("--force-recreate and --no-recreate are incompatible");
    }
    if args.detach && (args.abort_on_container_exit || args.exit_code_from.is_some()) {
        bail!("--abort-on-container-exit and --exit-code-from cannot be combined with --detach");
    }
    let project = super::load(flags, &args.service)?;
    let mut scale = std::collections::BTreeMap::new();
    for s in &args.scale {
        let (svc, n) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid --scale {s:?} (SERVICE=NUM)"))?;
        if !project.services.contains_key(svc) {
            bail!("--scale: no such service: {svc}");
        }
        scale.insert(
            svc.to_string(),
            n.parse::<usize>()
                .map_err(|_| anyhow!("invalid --scale {s:?} (SERVICE=NUM)"))?,
        );
    }
    let up = UpFlags {
        plan: UpOptions {
            force_recreate: args.force_recreate,
            no_recreate: args.no_recreate,
            remove_orphans: args.remove_orphans,
            scale,
            services: args.service.clone(),
            no_deps: args.no_deps,
            image_ids: Default::default(),
        },
        no_start: args.no_start,
        wait: args.wait,
        wait_timeout: args.wait_timeout.map(Duration::from_secs),
        timeout: timeout(args.timeout),
        pull: args.pull.clone(),
        build: args.build,
        no_build: args.no_build,
        build_flags: Default::default(),
    };
    let containers = engine::up(ctx, &project, &up)?;
    if args.detach || args.wait || args.no_start {
        return Ok(0);
    }
    let opts = AttachOptions {
        abort_on_container_exit: args.abort_on_container_exit || args.exit_code_from.is_some(),
        exit_code_from: args.exit_code_from.clone(),
        timeout: timeout(args.timeout),
        color: !args.no_color
            && std::io::IsTerminal::is_terminal(&std::io::stdout())
            && std::env::var_os("NO_COLOR").is_none(),
        prefix: !args.no_log_prefix,
        timestamps: args.timestamps,
    };
    Ok(attached::run(ctx, &project.name, &containers, &opts)?)
}
