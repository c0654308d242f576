//! Healthcheck state machine with docker's semantics (the probe itself is run by the
//! supervisor through `runtime exec`): status starting -> healthy/unhealthy, failures
//! inside start_period do not count and checks then run every start_interval, the last
//! five results are kept with output truncated to 4 KiB.

use crate::config::HealthConfig;
pub use berth_shim_protocol::{Health as HealthState, HealthLog as HealthResult};
use std::time::{Duration, Instant};

pub const MAX_LOG_ENTRIES: usize = 5;
pub const MAX_OUTPUT: usize = 4096;

pub struct Health {
    pub cfg: HealthConfig,
    pub state: HealthState,
    started: Instant,
    pub next_at: Instant,
}

impl Health {
    /// A fresh monitor for a container that started at `now`.
    pub fn new(cfg: HealthConfig, now: Instant) -> Health {
        let first = if cfg.start_period > Duration::ZERO {
            cfg.start_interval
        } else {
            cfg.interval
        };
        Health {
            state: HealthState {
                status: "starting".into(),
                failing_streak: 0,
                log: Vec::new(),
            },
            started: now,
            next_at: now + first,
            cfg,
        }
    }

    fn in_start_period(&self, at: Instant) -> bool {
        at < self.started + self.cfg.start_period
    }

    /// Record a probe that started at `probe_start`; schedules the next one from `now`.
    pub fn record(&mut self, probe_start: Instant, result: HealthResult, now: Instant) {
        if result.exit_code == 0 {
            self.state.failing_streak = 0;
            self.state.status = "healthy".into();
        } else if !(self.state.status == "starting" && self.in_start_period(probe_start)) {
            self.state.failing_streak += 1;
            if self.state.failing_streak >= self.cfg.retries {
                self.state.status = "unhealthy".into();
            }
        }
        self.state.log.push(result);
        if self.state.log.len() > MAX_LOG_ENTRIES {
            self.state.log.remove(0);
        }
        let interval = if self.state.status == "starting" && self.in_start_period(now) {
            self.cfg.start_interval
        } else {
            self.cfg.interval
        };
        self.next_at = now + interval;
    }
}

/// Output as docker keeps it: lossy UTF-8, at most 4 KiB.
pub fn output_text(raw: &[u8]) -> String {
    String::from_utf8_lossy(&raw[..raw.len().min(MAX_OUTPUT)]).into_owned()
}

/// Go's time.Duration formatting for the common cases ("30s", "1.5s", "500ms").
pub fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) && d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        let s = format!("{:.9}", d.as_secs_f64());
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(retries: u32, start_period: u64) -> HealthConfig {
        HealthConfig {
            argv: vec!["true".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            retries,
            start_period: Duration::from_secs(start_period),
            start_interval: Duration::from_millis(100),
        }
    }

    fn res(code: i32) -> HealthResult {
        HealthResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn turns_unhealthy_after_retries() {
        let t0 = Instant::now();
        let mut h = Health::new(cfg(2, 0), t0);
        assert_eq!(h.next_at, t0 + Duration::from_secs(1));
        h.record(t0, res(1), t0);
        assert_eq!(
            (h.state.status.as_str(), h.state.failing_streak),
            ("starting", 1)
        );
        h.record(t0, res(1), t0);
        assert_eq!(
            (h.state.status.as_str(), h.state.failing_streak),
            ("unhealthy", 2)
        );
        h.record(t0, res(0), t0);
        assert_eq!(
            (h.state.status.as_str(), h.state.failing_streak),
            ("healthy", 0)
        );
        for _ in 0..10 {
            h.record(t0, res(0), t0);
        }
        assert_eq!(h.state.log.len(), MAX_LOG_ENTRIES);
    }

    #[test]
    fn start_period_failures_do_not_count() {
        let t0 = Instant::now();
        let mut h = Health::new(cfg(1, 60), t0);
        assert_eq!(h.next_at, t0 + Duration::from_millis(100));
        h.record(t0, res(1), t0);
        assert_eq!(
            (h.state.status.as_str(), h.state.failing_streak),
            ("starting", 0)
        );
        assert_eq!(h.next_at, t0 + Duration::from_millis(100));
        h.record(t0, res(0), t0);
        assert_eq!(h.state.status, "healthy");
        assert_eq!(h.next_at, t0 + Duration::from_secs(1));
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
    }
}
