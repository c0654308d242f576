//! `berth events` (`system events`): what the commands and the shims' exit
//! hooks recorded in the store's event log; without `--until`, it then
//! follows the log for new events until interrupted.

use crate::context::Context;
use crate::events::{self, Filter};
use crate::format::{Style, Template};
use crate::system::prune::parse_time;
use anyhow::anyhow;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format the output using the given Go template
    #[arg(long)]
    pub format: Option<String>,
}

/// A time as `--since`/`--until` take it, in nanoseconds since the epoch.
fn nanos(flag: &str, s: &str) -> anyhow::Result<i128> {
    // A Unix timestamp may have a fraction (`1700000000.5`).
    if let Ok(f) = s.parse::<f64>() {
        return Ok((f * 1e9) as i128);
    }
    // A duration (`10m`): that long before now, to the nanosecond.
    if let Ok(ns) = crate::container::options::parse_duration_ns(s) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        return Ok(now - ns as i128);
    }
    parse_time(s)
        .map(|t| t as i128 * 1_000_000_000)
        .ok_or_else(|| anyhow!("--{flag} {s:?}: not a timestamp, date or duration"))
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let filter = Filter::parse(&args.filter)?;
    let since = args
        .since
        .as_deref()
        .map(|s| nanos("since", s))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| nanos("until", s))
        .transpose()?;
    let template = match args.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(f) => Some(Template::parse(f, Style::Go).map_err(|e| anyhow!(e))?),
    };
    let json = args.format.as_deref() == Some("json");
    let print = |evs: &[serde_json::Value]| -> anyhow::Result<()> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for ev in evs {
            let line = match &template {
                Some(t) => t.render(ev).map_err(|e| anyhow!(e))?,
                None if json => ev.to_string(),
                None => events::human(ev),
            };
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        Ok(())
    };
    // docker: without --since, only what happens from now on.
    let start_offset = match since {
        Some(_) => 0,
        None => std::fs::metadata(events::log_path(&ctx.root)).map_or(0, |m| m.len()),
    };
    let (evs, mut offset) = events::read(&ctx.root, start_offset, since, until, &filter)?;
    print(&evs)?;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128)
    };
    loop {
        if until.is_some_and(|u| now() > u) {
            return Ok(0);
        }
        // No daemon to push events: the log is polled (10 per second).
        std::thread::sleep(Duration::from_millis(100));
        let (evs, next) = events::read(&ctx.root, offset, since, until, &filter)?;
        offset = next;
        print(&evs)?;
    }
}
