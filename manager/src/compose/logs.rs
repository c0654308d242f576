//! The containers' logs, interleaved as docker compose shows them: one
//! reader thread per container, each line prefixed with the container's
//! name in its colour (`web-1  | ...`).

use crate::container::logs::{parse_line, time_secs, LogEntry};
use crate::container::ContainerRecord;
use crate::context::Context;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Lines from the end of each log (None: all).
    pub tail: Option<usize>,
    pub timestamps: bool,
    /// Unix seconds: only entries at or after.
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub color: bool,
    /// Print the `name | ` prefix.
    pub prefix: bool,
    /// With `follow`: keep following after the container stops, until `stop`
    /// is set (attached `up`: a restarted container writes to the same log).
    pub until_stopped: bool,
}

/// docker compose's palette, one per container in turn.
const COLORS: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// Serialises whole lines from the reader threads.
pub struct Printer {
    width: usize,
    color: bool,
    prefix: bool,
    out: Mutex<()>,
}

impl Printer {
    pub fn new(names: &[String], opts: &LogOptions) -> Arc<Printer> {
        Arc::new(Printer {
            width: names.iter().map(|n| n.chars().count()).max().unwrap_or(0),
            color: opts.color,
            prefix: opts.prefix,
            out: Mutex::new(()),
        })
    }

    /// Prints one line of container `idx`'s output.
    pub fn line(&self, name: &str, idx: usize, text: &str, stderr: bool) {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let prefix = if !self.prefix {
            String::new()
        } else if self.color {
            let c = COLORS[idx % COLORS.len()];
            format!("\x1b[{c}m{name:<w$}  |\x1b[0m ", w = self.width)
        } else {
            format!("{name:<w$}  | ", w = self.width)
        };
        let _g = self.out.lock();
        let line = format!("{prefix}{text}\n");
        if stderr && !self.prefix {
            let _ = std::io::stderr().write_all(line.as_bytes());
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(line.as_bytes());
            let _ = o.flush();
        }
    }

    /// A line of compose's own (exits, restarts), prefixed like the logs.
    pub fn notice(&self, text: &str) {
        let _g = self.out.lock();
        println!("{text}");
    }
}

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

fn show(p: &Printer, name: &str, idx: usize, opts: &LogOptions, e: &LogEntry) {
    if opts.since.is_some() || opts.until.is_some() {
        let t = time_secs(&e.time).unwrap_or(0.0);
        if opts.since.is_some_and(|s| t < s) || opts.until.is_some_and(|u| t > u) {
            return;
        }
    }
    if opts.timestamps {
        p.line(name, idx, &format!("{} {}", e.time, e.log), e.stderr);
    } else {
        p.line(name, idx, &e.log, e.stderr);
    }
}

/// Prints one container's log; with `follow`, keeps printing until the
/// container stops (and its log is drained) or `stop` is set.
pub fn tail_one(
    ctx: &Context,
    rec: &ContainerRecord,
    name: &str,
    idx: usize,
    opts: &LogOptions,
    p: &Printer,
    stop: &AtomicBool,
) {
    let path = rec.log_path(ctx);
    let files = log_files(&path);
    let mut entries = Vec::new();
    let mut offset = 0u64;
    for (i, f) in files.iter().enumerate() {
        let Ok(file) = std::fs::File::open(f) else {
            continue;
        };
        let mut r = BufReader::new(file);
        let mut line = String::new();
        loop {
            line.clear();
            let n = match r.read_line(&mut line) {
                Ok(n) => n,
                Err(_) => break,
            };
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
    let skip = opts
        .tail
        .map(|t| entries.len().saturating_sub(t))
        .unwrap_or(0);
    for e in &entries[skip..] {
        show(p, name, idx, opts, e);
    }
    if !opts.follow {
        return;
    }
    let mut buf = Vec::new();
    loop {
        let alive = opts.until_stopped || crate::compose::observe::running(ctx, rec);
        let mut progressed = false;
        if let Ok(mut f) = std::fs::File::open(&path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offset {
                offset = 0;
            }
            if len > offset && f.seek(SeekFrom::Start(offset)).is_ok() {
                let mut chunk = Vec::new();
                if f.take(len - offset).read_to_end(&mut chunk).is_ok() {
                    offset = len;
                    buf.extend_from_slice(&chunk);
                    progressed = true;
                }
                while let Some(i) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=i).collect();
                    if let Some(e) = parse_line(String::from_utf8_lossy(&line).trim_end()) {
                        show(p, name, idx, opts, &e);
                    }
                }
            }
        }
        if (!progressed && !alive) || stop.load(Ordering::Relaxed) {
            return;
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Prints the logs of `members` (name, record) in parallel; returns when every
/// reader is done.
pub fn stream(
    ctx: &Context,
    members: Vec<(String, ContainerRecord)>,
    opts: &LogOptions,
    stop: Arc<AtomicBool>,
) {
    let names: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
    let p = Printer::new(&names, opts);
    std::thread::scope(|s| {
        for (idx, (name, rec)) in members.iter().enumerate() {
            let p = p.clone();
            let stop = stop.clone();
            s.spawn(move || tail_one(ctx, rec, name, idx, opts, &p, &stop));
        }
    });
}
