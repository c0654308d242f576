//! `shim.json`, written by the manager into the shim's directory.

use crate::error::SettingError;
pub use berth_shim_protocol::{Config, HealthSection};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: field `{field}`: {why}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        why: String,
    },
}

/// The restart policy, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    Always,
    /// Max retries, 0 = unlimited.
    OnFailure(u32),
    UnlessStopped,
}

/// Healthcheck settings with docker's defaults applied (0 means default).
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// argv run inside the container.
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
    pub start_interval: Duration,
}

/// The shim's side of `shim.json`: loading, validation and the parsed settings.
pub trait ConfigExt: Sized {
    fn load(dir: &Path) -> Result<Self, ConfigError>;
    fn validate(&self, path: &Path) -> Result<(), ConfigError>;
    fn restart_policy(&self) -> Result<RestartPolicy, SettingError>;
    fn health(&self) -> Option<HealthConfig>;
    fn log_config(&self) -> crate::logs::LogConfig;
}

impl ConfigExt for Config {
    fn load(dir: &Path) -> Result<Config, ConfigError> {
        let path = dir.join("shim.json");
        let text = std::fs::read(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let cfg: Config = serde_json::from_slice(&text).map_err(|source| ConfigError::Parse {
            path: path.clone(),
            source,
        })?;
        cfg.validate(&path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |field: &'static str, why: &str| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            why: why.to_string(),
        };
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err(bad("id", "must be non-empty [A-Za-z0-9_.-]"));
        }
        for (field, p) in [
            ("bundle", &self.bundle),
            ("runtime", &self.runtime),
            ("runtime_root", &self.runtime_root),
            ("log.path", &self.log.path),
        ] {
            if !p.is_absolute() {
                return Err(bad(field, "must be an absolute path"));
            }
        }
        if self.log.max_files == 0 {
            return Err(bad("log.max_files", "must be at least 1"));
        }
        self.restart_policy()
            .map_err(|why| bad("restart.policy", &why.to_string()))?;
        if let Some(h) = &self.healthcheck {
            h.resolve()
                .map_err(|why| bad("healthcheck.test", &why.to_string()))?;
        }
        for r in &self.relays {
            if !matches!(r.proto.as_str(), "tcp" | "udp") {
                return Err(bad("relays.proto", "must be tcp or udp"));
            }
        }
        if let Some(h) = &self.exit_hook {
            if h.is_empty() {
                return Err(bad("exit_hook", "must be null or a non-empty argv"));
            }
        }
        Ok(())
    }

    /// `no` (or empty), `always`, `unless-stopped`, `on-failure` (with
    /// `restart.max_retries`) or `on-failure:N`.
    fn restart_policy(&self) -> Result<RestartPolicy, SettingError> {
        crate::restart::parse(&self.restart.policy, self.restart.max_retries)
    }

    fn health(&self) -> Option<HealthConfig> {
        self.healthcheck
            .as_ref()
            .and_then(|h| h.resolve().ok().flatten())
    }

    fn log_config(&self) -> crate::logs::LogConfig {
        crate::logs::LogConfig {
            path: self.log.path.clone(),
            max_size: self.log.max_size.max(0) as u64,
            max_files: self.log.max_files,
        }
    }
}

/// Healthcheck settings resolved with docker's defaults.
pub trait HealthSectionExt {
    /// None for `["NONE"]` (disabled); docker's defaults for zero durations.
    fn resolve(&self) -> Result<Option<HealthConfig>, SettingError>;
}

impl HealthSectionExt for HealthSection {
    fn resolve(&self) -> Result<Option<HealthConfig>, SettingError> {
        let argv: Vec<String> = match self.test.first().map(String::as_str) {
            Some("NONE") => return Ok(None),
            Some("CMD") if self.test.len() > 1 => self.test[1..].to_vec(),
            Some("CMD-SHELL") if self.test.len() == 2 => {
                vec!["/bin/sh".into(), "-c".into(), self.test[1].clone()]
            }
            _ => return Err(SettingError::HealthTest),
        };
        let d = |ns: u64, default_s: u64| {
            if ns == 0 {
                Duration::from_secs(default_s)
            } else {
                Duration::from_nanos(ns)
            }
        };
        Ok(Some(HealthConfig {
            argv,
            interval: d(self.interval_ns, 30),
            timeout: d(self.timeout_ns, 30),
            retries: if self.retries == 0 { 3 } else { self.retries },
            start_period: Duration::from_nanos(self.start_period_ns),
            start_interval: d(self.start_interval_ns, 5),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, String> {
        let c: Config = serde_json::from_str(s).map_err(|e| e.to_string())?;
        c.validate(Path::new("shim.json"))
            .map_err(|e| e.to_string())?;
        Ok(c)
    }

    const BASE: &str =
        r#""id":"a","bundle":"/b","runtime":"/r","runtime_root":"/rr","log":{"path":"/l"}"#;

    #[test]
    fn minimal_and_defaults() {
        let c = parse(&format!("{{{BASE}}}")).unwrap();
        assert!(c.start);
        assert_eq!(c.log.max_files, 1);
        assert_eq!(c.restart_policy().unwrap(), RestartPolicy::No);
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(&format!("{{{BASE},\"bogus\":1}}")).unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let e = parse(&format!(
            "{{{BASE},\"restart\":{{\"policy\":\"sometimes\"}}}}"
        ))
        .unwrap_err();
        assert!(e.contains("restart.policy"), "{e}");
        let e = parse(
            r#"{"id":"a","bundle":"b","runtime":"/r","runtime_root":"/rr","log":{"path":"/l"}}"#,
        )
        .unwrap_err();
        assert!(e.contains("bundle"), "{e}");
    }

    #[test]
    fn policies_and_health() {
        let c = parse(&format!(
            "{{{BASE},\"restart\":{{\"policy\":\"on-failure:3\"}},\"healthcheck\":{{\"test\":[\"CMD-SHELL\",\"true\"]}}}}"
        ))
        .unwrap();
        assert_eq!(c.restart_policy().unwrap(), RestartPolicy::OnFailure(3));
        let h = c.health().unwrap();
        assert_eq!(h.argv, vec!["/bin/sh", "-c", "true"]);
        assert_eq!(h.interval, Duration::from_secs(30));
        assert_eq!(h.retries, 3);
    }
}
