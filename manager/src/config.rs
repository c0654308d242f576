//! berth's configuration file, like docker's daemon.json:
//! `/etc/berth/config.json` (or `--config FILE`, `BERTH_CONFIG`). Every key
//! is checked when berth starts; a bad one is an error naming the file and
//! the key. Flags and environment variables win over the file.
//!
//! ```json
//! { "data-root": "/var/lib/berth", "exec-root": "/run/berth",
//!   "insecure-registries": ["reg.local:5000"],
//!   "registry-mirrors": ["https://mirror.local"],
//!   "log-driver": "local", "log-opts": {"max-size": "10m", "max-file": "3"},
//!   "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 4096}},
//!   "seccomp-profile": "/etc/berth/seccomp.json", "cgroup-parent": "/berth",
//!   "dns": ["10.0.0.2"], "bip": "172.30.0.1/16", "mtu": 1450,
//!   "ipv6": true, "fixed-cidr-v6": "fd00:dead::/64" }
//! ```
//!
//! `registry-mirrors` is docker's list of Docker Hub mirrors; berth also takes
//! an object of mirrors per registry (like containerd's hosts.toml), e.g.
//! `{"docker.io": ["https://m1"], "reg.local:5000": ["http://127.0.0.1:5001"]}`.
//! A pull tries the mirrors in order and then the registry itself.

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

/// A registry mirror: where to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    /// `host[:port]`
    pub host: String,
    /// `http://` (plain HTTP, as the user asked) rather than `https://`.
    pub plain_http: bool,
}

impl Mirror {
    /// `https://host[:port][/]` or `http://...`; no path, query or user.
    fn parse(url: &str) -> Result<Mirror, String> {
        let (plain_http, rest) = if let Some(r) = url.strip_prefix("https://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (true, r)
        } else {
            return Err(format!("{url:?}: a mirror is an http:// or https:// URL"));
        };
        let host = rest.strip_suffix('/').unwrap_or(rest);
        if host.is_empty()
            || host.contains(['/', '?', '#', '@', ' '])
            || host.starts_with(':')
            || host.ends_with(':')
        {
            return Err(format!(
                "{url:?}: a mirror is scheme://host[:port], without a path"
            ));
        }
        Ok(Mirror {
            host: host.to_string(),
            plain_http,
        })
    }
}

/// The file's keys (docker's daemon.json names).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    /// As written (a list or an object); `mirrors` is what it means.
    #[serde(default, rename = "registry-mirrors")]
    registry_mirrors_raw: Option<serde_json::Value>,
    /// Registry (as images name it: `docker.io`, `host:port`) -> its mirrors.
    #[serde(skip)]
    pub mirrors: BTreeMap<String, Vec<Mirror>>,
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    pub bip: Option<String>,
    /// IPv6 on the default bridge (docker's `ipv6`), with its subnet
    /// `fixed-cidr-v6` (docker's default pools have no v6 pool).
    pub ipv6: Option<bool>,
    #[serde(rename = "fixed-cidr-v6")]
    pub fixed_cidr_v6: Option<String>,
    /// Upstream resolvers of the networks' DNS responders (dockerd's `dns`).
    #[serde(default)]
    pub dns: Vec<String>,
    pub mtu: Option<u32>,
    pub log_driver: Option<String>,
    #[serde(default)]
    pub log_opts: BTreeMap<String, String>,
    #[serde(default)]
    pub default_ulimits: BTreeMap<String, UlimitEntry>,
    pub seccomp_profile: Option<PathBuf>,
    pub cgroup_parent: Option<String>,
    /// `USER[:GROUP]` or `default`: containers run in a user namespace
    /// mapped to USER's subordinate ids (see `spec::userns`).
    pub userns_remap: Option<String>,
    /// nftables | iptables (default: nftables where it works).
    pub firewall_backend: Option<String>,
    /// Published TCP ports reached from 127.0.0.1 by a socket redirect
    /// instead of NAT (default true where the kernel allows; see
    /// `network::sockredirect`).
    pub socket_redirect: Option<bool>,
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
        let mut s = s;
        s.mirrors = s.parse_mirrors(path)?;
        s.validate(path)?;
        Ok(s)
    }

    /// The mirrors of `registry` (`docker.io`, `host:port`), in order.
    pub fn mirrors_of(&self, registry: &str) -> &[Mirror] {
        self.mirrors.get(registry).map_or(&[], Vec::as_slice)
    }

    /// `registry-mirrors`: docker's list (Docker Hub's mirrors) or berth's
    /// object of lists per registry.
    fn parse_mirrors(&self, path: &Path) -> Result<BTreeMap<String, Vec<Mirror>>, ConfigError> {
        use serde_json::Value;
        let bad = |why: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: "registry-mirrors".into(),
            why,
        };
        let list = |v: &Value, what: &str| -> Result<Vec<Mirror>, ConfigError> {
            let arr = v
                .as_array()
                .ok_or_else(|| bad(format!("{what}: a list of URLs")))?;
            arr.iter()
                .map(|u| {
                    u.as_str()
                        .ok_or_else(|| bad(format!("{what}: {u} is not a string")))
                        .and_then(|u| Mirror::parse(u).map_err(|e| bad(format!("{what}: {e}"))))
                })
                .collect()
        };
        let mut out = BTreeMap::new();
        match &self.registry_mirrors_raw {
            None | Some(Value::Null) => {}
            Some(v @ Value::Array(_)) => {
                out.insert("docker.io".to_string(), list(v, "docker.io")?);
            }
            Some(Value::Object(m)) => {
                for (reg, v) in m {
                    if reg.is_empty() || reg.contains(['/', ' ']) {
                        return Err(bad(format!("{reg:?}: not a registry host[:port]")));
                    }
                    let reg = match reg.as_str() {
                        "index.docker.io" | "registry-1.docker.io" => "docker.io",
                        r => r,
                    };
                    out.insert(reg.to_string(), list(v, reg)?);
                }
            }
            Some(_) => {
                return Err(bad(
                    "a list of Docker Hub mirrors, or an object of lists per registry".into(),
                ))
            }
        }
        Ok(out)
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
        // The default bridge's address and MTU: used when the store's
        // `bridge` network is made (its first use), as docker's at start.
        if let Some(b) = &self.bip {
            crate::network::model::Subnet::parse(b).map_err(|e| bad("bip", e))?;
            let host_ok = b
                .split_once('/')
                .and_then(|(a, _)| a.parse::<std::net::Ipv4Addr>().ok())
                .is_some();
            if !host_ok {
                return Err(bad(
                    "bip",
                    format!("{b:?}: an IPv4 address/prefix, e.g. 172.30.0.1/16"),
                ));
            }
        }
        crate::network::default_bridge_v6(self.ipv6, self.fixed_cidr_v6.as_deref())
            .map_err(|(key, why)| bad(key, why))?;
        if let Some(m) = self.mtu {
            if !(68..=65535).contains(&m) {
                return Err(bad("mtu", format!("{m}: between 68 and 65535")));
            }
        }
        for d in &self.dns {
            // dockerd's key takes addresses; berth also takes ADDRESS:PORT
            let ok =
                d.parse::<std::net::IpAddr>().is_ok() || d.parse::<std::net::SocketAddr>().is_ok();
            if !ok {
                return Err(bad("dns", format!("{d:?} is not an IP address")));
            }
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
        if let Some(v) = &self.userns_remap {
            crate::spec::userns::parse_setting(v)
                .map_err(|e| bad("userns-remap", e.to_string()))?;
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
    fn socket_redirect_is_a_bool() {
        assert_eq!(
            load(r#"{"socket-redirect": false}"#)
                .unwrap()
                .socket_redirect,
            Some(false)
        );
        assert_eq!(load("{}").unwrap().socket_redirect, None);
        assert!(load(r#"{"socket-redirect": "off"}"#).is_err());
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
        let e = load(r#"{"mtu": 20}"#).unwrap_err().to_string();
        assert!(e.contains("\"mtu\""), "{e}");
        let e = load(r#"{"bip": "10.0.0.1"}"#).unwrap_err().to_string();
        assert!(e.contains("\"bip\""), "{e}");
        let s = load(r#"{"ipv6": true, "fixed-cidr-v6": "fd00:dead::/64"}"#).unwrap();
        assert_eq!(s.fixed_cidr_v6.as_deref(), Some("fd00:dead::/64"));
        for (text, key) in [
            (r#"{"ipv6": true}"#, "\"fixed-cidr-v6\""),
            (
                r#"{"ipv6": true, "fixed-cidr-v6": "fd00:dead::"}"#,
                "\"fixed-cidr-v6\"",
            ),
            (
                r#"{"ipv6": true, "fixed-cidr-v6": "10.0.0.0/8"}"#,
                "\"fixed-cidr-v6\"",
            ),
            (
                r#"{"ipv6": true, "fixed-cidr-v6": "fd00::/127"}"#,
                "\"fixed-cidr-v6\"",
            ),
            (
                r#"{"fixed-cidr-v6": "fd00:dead::/64"}"#,
                "\"fixed-cidr-v6\"",
            ),
            (r#"{"ipv6": "yes"}"#, "invalid type"),
        ] {
            let e = load(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        let s = load(r#"{"bip": "10.77.0.1/24", "mtu": 1400}"#).unwrap();
        assert_eq!(s.mtu, Some(1400));
        let e =
            load(r#"{"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 30, "Hard": 20}}}"#)
                .unwrap_err()
                .to_string();
        assert!(e.contains("default-ulimits"), "{e}");
        let e = load(r#"{"data-root": 3}"#).unwrap_err().to_string();
        assert!(e.contains("invalid type"), "{e}");
        assert!(Settings::load(Path::new("/nonexistent/berth.json"), false).is_ok());
        let s = load(r#"{"registry-mirrors": ["https://m1/", "http://127.0.0.1:5001"]}"#).unwrap();
        assert_eq!(
            s.mirrors_of("docker.io"),
            [
                Mirror {
                    host: "m1".into(),
                    plain_http: false
                },
                Mirror {
                    host: "127.0.0.1:5001".into(),
                    plain_http: true
                }
            ]
        );
        let s = load(r#"{"registry-mirrors": {"r:5000": ["http://m2:5001"]}}"#).unwrap();
        assert_eq!(s.mirrors_of("r:5000").len(), 1);
        assert!(s.mirrors_of("docker.io").is_empty());
        for bad in [
            r#"{"registry-mirrors": ["ftp://m"]}"#,
            r#"{"registry-mirrors": ["https://m/path"]}"#,
            r#"{"registry-mirrors": [3]}"#,
            r#"{"registry-mirrors": "https://m"}"#,
            r#"{"registry-mirrors": {"a/b": []}}"#,
        ] {
            let e = load(bad).unwrap_err().to_string();
            assert!(e.contains("key \"registry-mirrors\""), "{bad}: {e}");
        }
        assert!(Settings::load(Path::new("/nonexistent/berth.json"), true).is_err());
    }
}
