//! The runtime's log: runc's text or JSON line format, appended to `--log`
//! (or stderr). Engines parse every line of the JSON log, so each record is
//! exactly one JSON object on one line.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Set in forked children, which close the log's fd: from then on they
/// report through their channel instead.
static SILENCED: AtomicBool = AtomicBool::new(false);

pub fn silence() {
    SILENCED.store(true, Ordering::Relaxed);
}

/// The `kind` of the error record being logged by `error_with_kind` (the log
/// crate's records carry no fields without its `kv` feature).
static ERROR_KIND: Mutex<Option<&'static str>> = Mutex::new(None);

/// Log `msg` at error level; the JSON line also carries `"kind": kind` (why a
/// process could not be started: "not-found", "permission-denied", "other"), which
/// the shim reads instead of matching the message.
pub fn error_with_kind(kind: &'static str, msg: &str) {
    if let Ok(mut k) = ERROR_KIND.lock() {
        *k = Some(kind);
    }
    log::error!("{msg}");
    if let Ok(mut k) = ERROR_KIND.lock() {
        *k = None;
    }
}

struct Logger {
    sink: Mutex<Sink>,
    format: LogFormat,
    level: log::LevelFilter,
}

enum Sink {
    File(File),
    Stderr,
}

pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

fn level_name(l: log::Level) -> &'static str {
    match l {
        log::Level::Error => "error",
        log::Level::Warn => "warning",
        log::Level::Info => "info",
        log::Level::Debug => "debug",
        log::Level::Trace => "trace",
    }
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.level && !SILENCED.load(Ordering::Relaxed)
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args().to_string();
        let line = match self.format {
            LogFormat::Json => {
                let mut v = serde_json::json!({
                    "level": level_name(record.level()),
                    "msg": msg,
                    "time": rfc3339_now(),
                });
                let kind = ERROR_KIND.lock().ok().and_then(|k| *k);
                if let (Some(kind), log::Level::Error) = (kind, record.level()) {
                    v["kind"] = kind.into();
                }
                let mut s = v.to_string();
                s.push('\n');
                s
            }
            LogFormat::Text => format!(
                "time=\"{}\" level={} msg={:?}\n",
                rfc3339_now(),
                level_name(record.level()),
                msg
            ),
        };
        if let Ok(mut sink) = self.sink.lock() {
            // A single write per record keeps lines whole when several
            // runtime processes append to one log.
            let _ = match &mut *sink {
                Sink::File(f) => f.write_all(line.as_bytes()),
                Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
            };
        }
    }

    fn flush(&self) {}
}

/// Install the logger. The log file is created before anything else can
/// fail, and never truncated.
pub fn init(path: Option<&std::path::Path>, format: LogFormat, debug: bool) -> std::io::Result<()> {
    let sink = match path {
        Some(p) => Sink::File(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => Sink::Stderr,
    };
    let level = if debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Warn
    };
    let logger = Logger {
        sink: Mutex::new(sink),
        format,
        level,
    };
    log::set_max_level(level);
    let _ = log::set_boxed_logger(Box::new(logger));
    Ok(())
}

/// True when the log goes somewhere other than stderr, so the final error
/// must also be printed to stderr.
pub fn logs_to_file(path: Option<&std::path::Path>) -> bool {
    path.is_some()
}
