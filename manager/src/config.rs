//! berth's configuration file, like docker's daemon.json:
//! `/etc/berth/config.json` (or `--config FILE`, `BERTH_CONFIG`). Every key
//! is checked when berth starts; a bad one is an error naming the file and
//! the key. Flags and environment variables win over the file.
//!
//! ```json
//! { "data-root": "/var/lib/berth", "exec-root": "/run/berth",
//!   "insecure-registries": ["reg.local:5000"],
//!   "log-driver": "local", "log-opts": {"max-size": "10m", "max-file": "3"},
//!   "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 4096}},
//!   "seccomp-profile": "/etc/berth/seccomp.json", "cgroup-parent": "/berth" }
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default configuration file (a missing one is an empty configuration).
pub const DEFAULT_CONFIG: &str = "/etc/berth/config.json";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// serde's message names the key (`unknown field `x``, `invalid type ...`).
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: key {key:?}: {why}")]
    Invalid {
        path: PathBuf,
        key: String,
        why: String,
    },
}

/// docker's `default-ulimits` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct UlimitEntry {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// The file's keys (docker's daemon.json names).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    #[serde(default)]
    pub registry_mirrors: Vec<String>,
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    pub bip: Option<String>,
    pub mtu: Option<u32>,
    pub log_driver: Option<String>,
    #[serde(default)]
    pub log_opts: BTreeMap<String, String>,
    #[serde(default)]
    pub default_ulimits: BTreeMap<String, UlimitEntry>,
    pub seccomp_profile: Option<PathBuf>,
    pub cgroup_parent: Option<String>,
    /// nftables | iptables (default: nftables where it works).
    pub firewall_backend: Option<String>,
}

impl Settings {
    /// Read `path`; `explicit`: given by the user, so a missing file is an error.
    pub fn load(path: &Path, explicit: bool) -> Result<Settings, ConfigError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Settings::default())
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let s: Settings = serde_json::from_slice(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        s.validate(path)?;
        Ok(s)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.into(),
            why,
        };
        for (key, p) in [
            ("data-root", &self.data_root),
            ("exec-root", &self.exec_root),
        ] {
            if p.as_ref().is_some_and(|p| !p.is_absolute()) {
                return Err(bad(key, "must be an absolute path".into()));
            }
        }
        // Keys whose feature is not in this build: refused, never ignored.
        if !self.registry_mirrors.is_empty() {
            return Err(bad(
                "registry-mirrors",
                "registry mirrors are not supported yet".into(),
            ));
        }
        if self.bip.is_some() || self.mtu.is_some() {
            let key = if self.bip.is_some() { "bip" } else { "mtu" };
            return Err(bad(
                key,
                "the default bridge is not configurable in this build (networking)".into(),
            ));
        }
        if let Some(d) = &self.log_driver {
            if !matches!(d.as_str(), "json-file" | "local" | "none") {
                return Err(bad(
                    "log-driver",
                    format!("{d:?}: berth has json-file, local and none"),
                ));
            }
        }
        for (k, v) in &self.log_opts {
            match k.as_str() {
                "max-size" => {
                    crate::container::options::parse_size(v)
                        .map_err(|e| bad("log-opts", format!("max-size: {e}")))?;
                }
                "max-file" => {
                    if v.parse::<u32>().ok().filter(|n| *n >= 1).is_none() {
                        return Err(bad(
                            "log-opts",
                            format!("max-file {v:?}: a positive number"),
                        ));
                    }
                }
                _ => return Err(bad("log-opts", format!("unknown log option {k:?}"))),
            }
        }
        for (name, u) in &self.default_ulimits {
            crate::spec::resources::rlimit_type(name).map_err(|e| bad("default-ulimits", e))?;
            if u.name != *name {
                return Err(bad(
                    "default-ulimits",
                    format!("{name}: Name is {:?}", u.name),
                ));
            }
            if u.hard >= 0 && (u.soft < 0 || u.soft > u.hard) {
                return Err(bad("default-ulimits", format!("{name}: Soft above Hard")));
            }
        }
        if let Some(p) = &self.seccomp_profile {
            let text = std::fs::read_to_string(p)
                .map_err(|e| bad("seccomp-profile", format!("{}: {e}", p.display())))?;
            crate::spec::seccomp::convert(&text, &[])
                .map_err(|e| bad("seccomp-profile", e.to_string()))?;
        }
        if let Some(c) = &self.cgroup_parent {
            if c.is_empty() || c.contains("..") {
                return Err(bad("cgroup-parent", format!("{c:?}: not a cgroup path")));
            }
        }
        if let Some(b) = &self.firewall_backend {
            crate::network::firewall::Backend::parse(b).map_err(|e| bad("firewall-backend", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Settings, ConfigError> {
        let p = std::env::temp_dir().join(format!(
            "berth-config-{}-{}.json",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&p, text).unwrap();
        let r = Settings::load(&p, true);
        let _ = std::fs::remove_file(&p);
        r
    }

    #[test]
    fn keys_are_checked() {
        let s = load(
            r#"{"data-root": "/srv/berth", "log-driver": "local", "log-opts": {"max-size": "1m"},
            "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 10, "Hard": 20}},
            "insecure-registries": ["r:5000"], "cgroup-parent": "/mine"}"#,
        )
        .unwrap();
        assert_eq!(s.data_root.as_deref(), Some(Path::new("/srv/berth")));
        assert_eq!(s.default_ulimits["nofile"].hard, 20);
        let e = load(r#"{"data-rot": "/x"}"#).unwrap_err().to_string();
        assert!(e.contains("unknown field `data-rot`"), "{e}");
        let e = load(r#"{"log-driver": "syslog"}"#).unwrap_err().to_string();
        assert!(e.contains("key \"log-driver\""), "{e}");
        let e = load(r#"{"mtu": 1400}"#).unwrap_err().to_string();
        assert!(e.contains("\"mtu\""), "{e}");
        let e =
            load(r#"{"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 30, "Hard": 20}}}"#)
                .unwrap_err()
                .to_string();
        assert!(e.contains("default-ulimits"), "{e}");
        let e = load(r#"{"data-root": 3}"#).unwrap_err().to_string();
        assert!(e.contains("invalid type"), "{e}");
        assert!(Settings::load(Path::new("/nonexistent/berth.json"), false).is_ok());
        assert!(Settings::load(Path::new("/nonexistent/berth.json"), true).is_err());
    }
}
