//! What a new container is made from (`CreateOptions`, built by the run/create
//! verbs from flags, by compose from its model, by build from a step), and the
//! parsers of docker's option syntaxes that several clients share: durations,
//! restart policies, signals, sizes, `--mount`, `--tmpfs`, env and labels.

use super::error::LifecycleError;
use super::image::ImageSource;
use super::record::{
    Config, HostConfig, MountKind, MountSpec, NetworkingConfig, RestartPolicy, TmpfsOptions,
};
use std::collections::BTreeMap;

/// Everything `create` needs. `config` holds what the caller asked; what it
/// leaves empty comes from the image (docker's merge): an empty `user`,
/// `working_dir` or `hostname`, a `None` entrypoint, cmd (unless an entrypoint
/// is given), stop signal or healthcheck. `env` and `labels` are added to the
/// image's. `entrypoint: Some(vec![])` clears the image's entrypoint.
#[derive(Clone, Debug)]
pub struct CreateOptions {
    /// The container's name; None picks a free random one.
    pub name: Option<String>,
    pub image: ImageSource,
    /// `os/arch[/variant]` to pull (default: this host's).
    pub platform: Option<String>,
    pub config: Config,
    pub host_config: HostConfig,
    pub networking: NetworkingConfig,
    /// `--security-opt seccomp=FILE`: the profile's content. None reads the
    /// file named in `host_config.security_opt`, if any.
    pub seccomp_profile: Option<String>,
}

impl CreateOptions {
    /// Options for `image` with nothing else asked.
    pub fn new(image: ImageSource) -> CreateOptions {
        CreateOptions {
            name: None,
            image,
            platform: None,
            config: Config::default(),
            host_config: HostConfig::default(),
            networking: NetworkingConfig::default(),
            seccomp_profile: None,
        }
    }
}

fn invalid(msg: String) -> LifecycleError {
    LifecycleError::Invalid(msg)
}

/// Go durations as docker takes them: 30s, 1m30s, 500ms, 1h, 2.5s; in
/// nanoseconds.
pub fn parse_duration_ns(s: &str) -> Result<i64, LifecycleError> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid(format!("invalid duration {s:?}")));
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| invalid(format!("invalid duration {s:?}: missing unit")))?;
        let v: f64 = rest[..n]
            .parse()
            .map_err(|_| invalid(format!("invalid duration {s:?}")))?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mul = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => {
                return Err(invalid(format!(
                    "invalid duration {s:?}: unknown unit {other:?}"
                )))
            }
        };
        total += v * mul;
        rest = &rest[u..];
    }
    Ok(total as i64)
}

/// docker's `--restart`: no, always, on-failure[:N], unless-stopped.
pub fn parse_restart(s: &str) -> Result<RestartPolicy, LifecycleError> {
    let (name, n) = match s.split_once(':') {
        Some((name, n)) => (name, Some(n)),
        None => (s, None),
    };
    match (name, n) {
        ("" | "no", None) => Ok(RestartPolicy::No),
        ("always", None) => Ok(RestartPolicy::Always),
        ("unless-stopped", None) => Ok(RestartPolicy::UnlessStopped),
        ("on-failure", None) => Ok(RestartPolicy::OnFailure(0)),
        ("on-failure", Some(n)) => n
            .parse()
            .map(RestartPolicy::OnFailure)
            .map_err(|_| invalid(format!("invalid restart policy {s:?}: bad retry count"))),
        _ => Err(invalid(format!(
            "invalid restart policy {s:?} (no, always, on-failure[:N], unless-stopped)"
        ))),
    }
}

/// docker's sizes: 512m, 1g, 100k, 1024b, plain bytes.
pub fn parse_size(s: &str) -> Result<i64, LifecycleError> {
    Ok(crate::spec::parse_size(s)?)
}

fn parse_bool(v: &str) -> bool {
    !matches!(v, "false" | "0")
}

/// One `--mount type=...,source=...,target=...[,readonly][,tmpfs-size=..]`.
pub fn parse_mount(m: &str) -> Result<MountSpec, LifecycleError> {
    let mut spec = MountSpec::default();
    for kv in m.split(',') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, "true"));
        match k {
            "type" => {
                spec.r#type = match v {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    t => {
                        return Err(invalid(format!(
                            "invalid --mount {m:?}: unsupported type {t:?} (bind, volume, tmpfs)"
                        )))
                    }
                }
            }
            "source" | "src" => spec.source = v.to_string(),
            "target" | "destination" | "dst" => spec.target = v.to_string(),
            "readonly" | "ro" => spec.read_only = parse_bool(v),
            "tmpfs-size" => {
                spec.tmpfs_options
                    .get_or_insert_with(TmpfsOptions::default)
                    .size_bytes = parse_size(v)?;
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(v, 8)
                    .map_err(|_| invalid(format!("invalid tmpfs-mode {v:?}")))?;
                spec.tmpfs_options
                    .get_or_insert_with(TmpfsOptions::default)
                    .mode = mode;
            }
            "volume-nocopy" => {
                spec.volume_options
                    .get_or_insert_with(Default::default)
                    .no_copy = parse_bool(v);
            }
            "volume-subpath" => {
                spec.volume_options
                    .get_or_insert_with(Default::default)
                    .subpath = v.to_string();
            }
            "bind-propagation" | "consistency" => {}
            _ => return Err(invalid(format!("invalid field {k:?} in --mount {m:?}"))),
        }
    }
    if !spec.target.starts_with('/') {
        return Err(invalid(format!(
            "invalid --mount {m:?}: target must be an absolute path"
        )));
    }
    Ok(spec)
}

/// One `--tmpfs DEST[:OPTIONS]` as (destination, options).
pub fn parse_tmpfs(t: &str) -> Result<(String, String), LifecycleError> {
    let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
    if !dst.starts_with('/') {
        return Err(invalid(format!(
            "invalid --tmpfs {t:?}: the destination must be an absolute path"
        )));
    }
    Ok((dst.to_string(), opts.to_string()))
}

/// `KEY=VALUE` settings as given on a command line or in an env file; a bare
/// `KEY` takes this process's value (and is dropped when it has none).
pub fn resolve_env(list: &[String]) -> Vec<String> {
    list.iter()
        .filter_map(|a| {
            if a.contains('=') {
                Some(a.clone())
            } else {
                std::env::var(a).ok().map(|v| format!("{a}={v}"))
            }
        })
        .collect()
}

/// The lines of an env file (comments and blank lines skipped).
pub fn read_env_file(path: &str) -> Result<Vec<String>, LifecycleError> {
    let text = std::fs::read_to_string(path)
        .map_err(LifecycleError::io("open", std::path::Path::new(path)))?;
    Ok(text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// Merge `KEY=VALUE` settings into `env`, replacing the same keys.
pub fn merge_env(env: &mut Vec<String>, adds: &[String]) {
    for kv in adds {
        let k = kv.split('=').next().unwrap_or("");
        match env.iter_mut().find(|e| e.split('=').next() == Some(k)) {
            Some(e) => e.clone_from(kv),
            None => env.push(kv.clone()),
        }
    }
}

/// `KEY=VALUE` labels (a bare `KEY` gets an empty value).
pub fn parse_labels(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration_ns("500ms").unwrap(), 500_000_000);
        assert!(parse_duration_ns("5").is_err());
    }

    #[test]
    fn env_merge() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        merge_env(&mut env, &["A=2".into(), "B=3".into()]);
        assert_eq!(env, vec!["PATH=/bin", "A=2", "B=3"]);
        let r = resolve_env(&["X=1".into(), "BERTH_SURELY_UNSET_VAR".into()]);
        assert_eq!(r, vec!["X=1"]);
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart("on-failure:3").unwrap(),
            RestartPolicy::OnFailure(3)
        );
        assert_eq!(parse_restart("no").unwrap(), RestartPolicy::No);
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("always:2").is_err());
    }

    #[test]
    fn mounts() {
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(m.r#type, MountKind::Tmpfs);
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (1 << 20, 0o1770));
        assert_eq!(
            parse_mount("source=v,target=/v").unwrap().r#type,
            MountKind::Volume
        );
        assert!(parse_mount("type=nfs,target=/x").is_err());
        assert!(parse_mount("type=bind,source=/a,target=rel").is_err());
        assert!(parse_mount("type=bind,bogus=1,target=/a").is_err());
        assert_eq!(
            parse_tmpfs("/t:size=1m").unwrap(),
            ("/t".into(), "size=1m".into())
        );
        assert!(parse_tmpfs("t").is_err());
        let v = parse_mount("type=volume,source=v,target=/v,volume-nocopy,volume-subpath=a/b")
            .unwrap()
            .volume_options
            .unwrap();
        assert!(v.no_copy);
        assert_eq!(v.subpath, "a/b");
    }
}
