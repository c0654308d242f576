//! `events`: resource statistics and OOM notifications in runc's JSON
//! line shape, once (`--stats`) or every interval until the container stops.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::cgroups::Cgroup;
use crate::cli::GlobalOpts;
use crate::container::{Status, Store};
use crate::error::{Error, Result, SysContext};

pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || Error::Invalid(format!("invalid interval {s:?} (e.g. 5s, 500ms, 1m)"));
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if secs <= 0.0 || !secs.is_finite() {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// One event line with runc's key order (`type`, `id`, `data`): a struct,
/// because serde_json's maps sort their keys.
#[derive(serde::Serialize)]
struct Event<'a, T: serde::Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

fn emit<T: serde::Serialize>(kind: &str, id: &str, data: Option<T>) -> Result<()> {
    let line = serde_json::to_string(&Event { kind, id, data })
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").ctx(|| "write event")?;
    out.flush().ctx(|| "write event")
}

fn stats(cg: &Cgroup) -> Result<crate::cgroups::stats::Stats> {
    cg.stats().map_err(Error::from)
}

pub fn run(g: &GlobalOpts, id: &str, once: bool, interval: &str) -> Result<()> {
    let store = Store::new(&g.root);
    let (state, status) = store.read(id)?;
    if status == Status::Stopped {
        return Err(Error::NotRunning);
    }
    let cg = state
        .cgroup
        .clone()
        .ok_or_else(|| Error::Invalid(format!("container {id} has no cgroup")))?;
    if once {
        return emit("stats", id, Some(stats(&cg)?));
    }
    let every = parse_duration(interval)?;
    let tick = every.min(Duration::from_millis(200));
    let mut ooms = cg.oom_kill_count();
    let mut next = Instant::now();
    loop {
        // Read before the liveness check: an OOM kill of the init itself
        // must still be reported.
        let alive = state.init_alive();
        let now_ooms = cg.oom_kill_count();
        if now_ooms > ooms {
            ooms = now_ooms;
            emit::<()>("oom", id, None)?;
        }
        if !alive {
            return Ok(());
        }
        if Instant::now() >= next {
            match stats(&cg) {
                Ok(s) => emit("stats", id, Some(s))?,
                // A delete between the check above and the read took the
                // cgroup: the stream ends as it does when the init is gone.
                Err(_) if !state.init_alive() => return Ok(()),
                Err(e) => return Err(e),
            }
            next += every;
        }
        std::thread::sleep(tick);
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("abc").is_err());
    }
}
