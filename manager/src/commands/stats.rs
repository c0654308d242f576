//! `berth stats`: containers' resource usage, docker's columns. Samples come from
//! `berth-runtime events --stats ID` (runc's JSON shape); CPU % is the CPU time used
//! between two samples over the wall time between them, as docker computes it.

use crate::container::{self, ContainerRecord, ContainerStore};
use crate::context::Context;
use crate::format::{bytes_size, human_size, tabulate, Style, Template};
use anyhow::Context as _;
use serde_json::Value;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Format the output with a Go-style template
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// One reading of a container's cgroup.
#[derive(Clone, Copy, Default, Debug)]
struct Sample {
    at: Option<Instant>,
    cpu_ns: u64,
    mem: u64,
    limit: u64,
    read: u64,
    write: u64,
    pids: u64,
    /// Bytes received and sent by the container's interfaces.
    net: (u64, u64),
}

fn sample(ctx: &Context, rec: &ContainerRecord) -> Option<Sample> {
    let out = std::process::Command::new(&ctx.runtime)
        .arg("--root")
        .arg(ctx.runtime_root())
        .args(["events", "--stats", &rec.id])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = text
        .lines()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())?;
    let mut s = parse_sample(&v["data"]);
    let pid = crate::container::state(ctx, rec).pid;
    s.net = crate::network::stats_bytes(ctx, rec, pid).unwrap_or((0, 0));
    Some(s)
}

fn parse_sample(d: &Value) -> Sample {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let usage = n(&d["memory"]["usage"]["usage"]);
    // docker (cgroup v1): usage minus inactive page cache.
    let inactive = n(&d["memory"]["raw"]["total_inactive_file"]);
    let mut read = 0;
    let mut write = 0;
    if let Some(entries) = d["blkio"]["ioServiceBytesRecursive"].as_array() {
        for e in entries {
            match e["op"].as_str().unwrap_or("").to_ascii_lowercase().as_str() {
                "read" => read += n(&e["value"]),
                "write" => write += n(&e["value"]),
                _ => {}
            }
        }
    }
    Sample {
        at: Some(Instant::now()),
        cpu_ns: n(&d["cpu"]["usage"]["total"]),
        mem: usage.saturating_sub(inactive),
        limit: n(&d["memory"]["usage"]["limit"]),
        read,
        write,
        pids: n(&d["pids"]["current"]),
        net: (0, 0),
    }
}

/// The host's memory (docker shows it as the limit of an unlimited container).
fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn row(rec: &ContainerRecord, prev: Option<&Sample>, cur: Option<&Sample>, trunc: bool) -> Value {
    let id = if trunc {
        rec.short_id().to_string()
    } else {
        rec.id.clone()
    };
    let net = cur
        .map(|c| format!("{} / {}", human_size(c.net.0), human_size(c.net.1)))
        .unwrap_or_else(|| "0B / 0B".into());
    let (cpu, mem_usage, mem_perc, block, pids) = match cur {
        Some(c) => {
            let cpu = match prev {
                Some(p) => {
                    let wall =
                        c.at.zip(p.at)
                            .map(|(a, b)| a.duration_since(b).as_nanos() as f64)
                            .unwrap_or(0.0);
                    if wall > 0.0 {
                        c.cpu_ns.saturating_sub(p.cpu_ns) as f64 / wall * 100.0
                    } else {
                        0.0
                    }
                }
                None => 0.0,
            };
            let host = host_memory();
            let limit = if c.limit == 0 || (host > 0 && c.limit > host) {
                host
            } else {
                c.limit
            };
            let perc = if limit > 0 {
                c.mem as f64 / limit as f64 * 100.0
            } else {
                0.0
            };
            (
                format!("{cpu:.2}%"),
                format!("{} / {}", bytes_size(c.mem), bytes_size(limit)),
                format!("{perc:.2}%"),
                format!("{} / {}", human_size(c.read), human_size(c.write)),
                c.pids.to_string(),
            )
        }
        None => (
            "0.00%".into(),
            "0B / 0B".into(),
            "0.00%".into(),
            "0B / 0B".into(),
            "0".into(),
        ),
    };
    serde_json::json!({
        "ID": id,
        "Container": id,
        "Name": rec.name,
        "CPUPerc": cpu,
        "MemUsage": mem_usage,
        "MemPerc": mem_perc,
        "NetIO": net,
        "BlockIO": block,
        "PIDs": pids,
    })
}

fn title(f: &str) -> String {
    match f {
        "ID" => "CONTAINER ID",
        "Container" => "CONTAINER",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        other => return other.to_uppercase(),
    }
    .to_string()
}

fn is_running(ctx: &Context, rec: &ContainerRecord) -> bool {
    container::state(ctx, rec).status.is_active()
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let explicit = !args.containers.is_empty();
    let select = || -> anyhow::Result<Vec<ContainerRecord>> {
        if explicit {
            args.containers
                .iter()
                .map(|c| store.resolve(c).map_err(anyhow::Error::from))
                .collect()
        } else {
            Ok(store
                .list()?
                .into_iter()
                .filter(|r| args.all || is_running(ctx, r))
                .collect())
        }
    };
    let t = Template::parse(args.format.as_deref().unwrap_or(DEFAULT_FORMAT), Style::Row)
        .map_err(anyhow::Error::msg)?;
    let mut prev: std::collections::HashMap<String, Sample> = Default::default();
    let mut first = true;
    loop {
        let recs = select()?;
        if first {
            // CPU % needs two readings: take the first ~0.5 s before the one printed.
            for r in &recs {
                if let Some(s) = sample(ctx, r) {
                    prev.insert(r.id.clone(), s);
                }
            }
            if !prev.is_empty() {
                std::thread::sleep(Duration::from_millis(500));
            }
            first = false;
        }
        let mut lines = Vec::new();
        if t.is_table() {
            lines.push(t.header(&title));
        }
        for r in &recs {
            let cur = sample(ctx, r);
            let row = row(r, prev.get(&r.id), cur.as_ref(), !args.no_trunc);
            lines.push(t.render(&row).map_err(anyhow::Error::msg)?);
            if let Some(c) = cur {
                prev.insert(r.id.clone(), c);
            }
        }
        let text = if t.is_table() {
            tabulate(&lines)
        } else {
            lines.iter().map(|l| format!("{l}\n")).collect()
        };
        let mut out = std::io::stdout().lock();
        if !args.no_stream {
            // Clear the screen and home the cursor, as docker's streaming view does.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("writing stats")?;
        if args.no_stream {
            return Ok(0);
        }
        drop(out);
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runc_stats() {
        let d = serde_json::json!({
            "cpu": {"usage": {"total": 5}},
            "memory": {"usage": {"usage": 3000, "limit": 67108864}, "raw": {"total_inactive_file": 1000}},
            "pids": {"current": 3},
            "blkio": {"ioServiceBytesRecursive": [{"op": "Read", "value": 10}, {"op": "Write", "value": 4}]}
        });
        let s = parse_sample(&d);
        assert_eq!(
            (s.mem, s.limit, s.pids, s.read, s.write),
            (2000, 67108864, 3, 10, 4)
        );
    }
}
