//! `berth logs`: read the container's json-file log (and its rotated files, the
//! oldest first): stdout lines to stdout, stderr lines to stderr.

use crate::container::logs::{self, parse_line, LogEntry};
use crate::container::{self, ContainerStore};
use crate::context::Context;
use anyhow::{anyhow, bail};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" or N)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (RFC3339) or a relative time (e.g. 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (RFC3339) or a relative time (e.g. 10m)
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

/// `--since`/`--until` with this verb's error wording.
fn parse_time(s: &str) -> anyhow::Result<f64> {
    logs::parse_since(s)
        .map_err(|_| anyhow!("invalid value for \"since\": {s:?} (RFC3339 or a duration like 10m)"))
}

fn entry_secs(e: &LogEntry) -> f64 {
    parse_time(&e.time).unwrap_or(0.0)
}

/// The log files, oldest first.
fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated = Vec::new();
    for i in 1.. {
        let p = PathBuf::from(format!("{}.{i}", path.display()));
        if !p.exists() {
            break;
        }
        rotated.push(p);
    }
    rotated.reverse();
    rotated.push(path.to_path_buf());
    rotated
}

struct Printer {
    timestamps: bool,
    since: Option<f64>,
    until: Option<f64>,
}

impl Printer {
    fn print(&self, e: &LogEntry) {
        if self.since.is_some() || self.until.is_some() {
            let t = entry_secs(e);
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t > u) {
                return;
            }
        }
        let text = if self.timestamps {
            format!("{} {}", e.time, e.log)
        } else {
            e.log.clone()
        };
        if e.stderr {
            let _ = std::io::stderr().write_all(text.as_bytes());
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(text.as_bytes());
            let _ = o.flush();
        }
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    let rec = store.resolve(&args.container)?;
    if rec.host_config.log_config.r#type == "none" {
        anyhow::bail!("configured logging driver does not support reading");
    }
    let tail: Option<usize> = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .map_err(|_| anyhow!("invalid --tail value {n:?}"))?,
        ),
    };
    let p = Printer {
        timestamps: args.timestamps,
        since: args.since.as_deref().map(parse_time).transpose()?,
        until: args.until.as_deref().map(parse_time).transpose()?,
    };
    let path = rec.log_path(ctx);
    let mut entries = Vec::new();
    let mut offset = 0u64;
    let files = log_files(&path);
    for (i, f) in files.iter().enumerate() {
        let Ok(file) = std::fs::File::open(f) else {
            continue;
        };
        let mut r = BufReader::new(file);
        let mut line = String::new();
        loop {
            line.clear();
            let n = r.read_line(&mut line)?;
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            if i + 1 == files.len() {
                offset += n as u64;
            }
            if let Some(e) = parse_line(line.trim_end()) {
                entries.push(e);
            }
        }
    }
    let skip = tail.map(|t| entries.len().saturating_sub(t)).unwrap_or(0);
    for e in &entries[skip..] {
        p.print(e);
    }
    if !args.follow {
        return Ok(0);
    }
    // Follow: poll the current file; a rotation shows as a shorter file.
    let mut buf = Vec::new();
    loop {
        let st = container::state(ctx, &rec);
        let mut progressed = false;
        if let Ok(mut f) = std::fs::File::open(&path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offset {
                offset = 0;
            }
            if len > offset {
                f.seek(SeekFrom::Start(offset))?;
                let mut chunk = Vec::new();
                f.take(len - offset).read_to_end(&mut chunk)?;
                offset = len;
                buf.extend_from_slice(&chunk);
                while let Some(i) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=i).collect();
                    if let Some(e) = parse_line(String::from_utf8_lossy(&line).trim_end()) {
                        p.print(&e);
                    }
                }
                progressed = true;
            }
        } else if !store.exists(&rec.id) {
            bail!("No such container: {}", args.container);
        }
        if !progressed && !st.running {
            return Ok(0);
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
