//! `berth compose logs`: the services' output, interleaved and prefixed.

use super::ProjectFlags;
use crate::compose::logs::{self, LogOptions};
use crate::compose::observe;
use crate::container::logs::InvalidTime;
use crate::context::Context;
use anyhow::anyhow;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (RFC 3339) or a relative time (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (RFC 3339) or a relative time (e.g. 42m)
    #[arg(long)]
    pub until: Option<String>,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print the prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// The replica index of the container (with one service)
    #[arg(long)]
    pub index: Option<u32>,
    pub service: Vec<String>,
}

pub fn run(ctx: &Context, flags: &ProjectFlags, args: Args) -> anyhow::Result<i32> {
    let name = super::project_name(flags)?;
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .map_err(|_| anyhow!("invalid --tail value {n:?}"))?,
        ),
    };
    let opts = LogOptions {
        follow: args.follow,
        tail,
        timestamps: args.timestamps,
        since: args.since.as_deref().map(parse_since).transpose()?,
        until: args.until.as_deref().map(parse_since).transpose()?,
        color: !args.no_color
            && std::io::IsTerminal::is_terminal(&std::io::stdout())
            && std::env::var_os("NO_COLOR").is_none(),
        prefix: !args.no_log_prefix,
        until_stopped: false,
    };
    let members: Vec<(String, crate::container::ContainerRecord)> = observe::members(ctx, &name)?
        .into_iter()
        .filter(|m| !m.oneoff)
        .filter(|m| args.service.is_empty() || args.service.contains(&m.service))
        .filter(|m| args.index.is_none_or(|i| m.number == i))
        .map(|m| (m.rec.name.clone(), m.rec))
        .collect();
    logs::stream(ctx, members, &opts, Arc::new(AtomicBool::new(false)));
    Ok(0)
}

/// `--since`/`--until` with compose's error wording.
fn parse_since(s: &str) -> anyhow::Result<f64> {
    crate::container::logs::parse_since(s).map_err(|InvalidTime(s)| {
        anyhow!("invalid time {s:?} (RFC 3339, Unix seconds or a duration like 10m)")
    })
}
