//! From a service of the model to the container library's `CreateOptions`:
//! docker compose's labels, mounts, secrets and configs, resources, restart
//! policy, healthcheck. A key the container library cannot apply yet is an
//! error naming it, never dropped.

use crate::compose::error::{ComposeError, Result};
use crate::compose::model::{FileObject, FileRef, Project, Service};
use crate::compose::{networks, planner, units};
use crate::container::record::TmpfsOptions;
use crate::container::{
    CreateOptions, HealthConfig, ImageSource, MountKind, MountSpec, NetworkMode, PullPolicy,
    RestartPolicy, VolumeOptions,
};
use crate::context::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a new container of a service needs beyond the model.
pub struct Replica<'a> {
    pub project: &'a Project,
    pub service: &'a str,
    pub number: u32,
    /// A `run` container (`oneoff` label, its own name).
    pub oneoff: Option<String>,
    /// `network_mode: service:x` and `volumes_from`: the names of the running
    /// containers of those services.
    pub peers: &'a BTreeMap<String, String>,
}

fn unsupported(service: &str, key: &str) -> ComposeError {
    ComposeError::Invalid(format!(
        "services.{service}.{key}: berth's container library cannot apply this key yet"
    ))
}

fn ns(d: &Option<String>) -> i64 {
    d.as_deref()
        .and_then(|s| units::parse_duration(s).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

pub fn pull_policy(svc: &Service) -> Result<PullPolicy> {
    Ok(match svc.pull_policy.as_deref() {
        None | Some("missing") | Some("if_not_present") => PullPolicy::Missing,
        Some("always") | Some("daily") | Some("weekly") => PullPolicy::Always,
        Some("never") => PullPolicy::Never,
        // Only meaningful with `build:`, which `options` handles.
        Some("build") => PullPolicy::Never,
        Some(p) => return Err(ComposeError::Invalid(format!("invalid pull_policy {p:?}"))),
    })
}

/// compose's labels on every container of a service.
pub fn labels(
    project: &Project,
    service: &str,
    svc: &Service,
    number: u32,
    oneoff: bool,
) -> BTreeMap<String, String> {
    let mut l = svc.labels.clone();
    let deps: Vec<String> = svc
        .depends_on
        .iter()
        .map(|(d, c)| format!("{d}:{}:{}", c.condition, c.restart))
        .collect();
    let files: Vec<String> = project
        .config_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    for (k, v) in [
        (planner::LABEL_PROJECT, project.name.clone()),
        (planner::LABEL_SERVICE, service.to_string()),
        (planner::LABEL_NUMBER, number.to_string()),
        (planner::LABEL_CONFIG_HASH, planner::config_hash(svc)),
        (
            planner::LABEL_ONEOFF,
            if oneoff { "True" } else { "False" }.to_string(),
        ),
        (
            planner::LABEL_WORKING_DIR,
            project.working_dir.display().to_string(),
        ),
        (planner::LABEL_CONFIG_FILES, files.join(",")),
        (planner::LABEL_DEPENDS_ON, deps.join(",")),
        (planner::LABEL_IMAGE, project.image_of(service, svc)),
        (planner::LABEL_VERSION, planner::COMPOSE_VERSION.to_string()),
    ] {
        l.insert(k.to_string(), v);
    }
    l
}

/// Fails on the keys the container library has no option for.
fn check_supported(service: &str, s: &Service) -> Result<()> {
    let reservations = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.reservations.as_ref());
    let set: &[(&str, bool)] = &[
        (
            "deploy.resources.reservations.cpus",
            reservations.is_some_and(|r| r.cpus.is_some()),
        ),
        (
            "deploy.resources.reservations.pids",
            reservations.is_some_and(|r| r.pids.is_some()),
        ),
    ];
    for (key, present) in set {
        if *present {
            return Err(unsupported(service, key));
        }
    }
    Ok(())
}

/// `pid` / `ipc`: the container's own namespace (empty), the host's, or
/// another container's (`container:NAME`; `service:x` is x's running replica).
fn namespace_mode(rep: &Replica, service: &str, key: &str, v: &Option<String>) -> Result<String> {
    match v.as_deref() {
        None | Some("") | Some("private") => Ok(String::new()),
        Some("shareable") if key == "ipc" => Ok(String::new()),
        Some("host") => Ok("host".into()),
        Some(m) => {
            match (m.strip_prefix("service:"), m.strip_prefix("container:")) {
                (Some(svc), _) => rep
                    .peers
                    .get(svc)
                    .map(|c| format!("container:{c}"))
                    .ok_or_else(|| {
                        ComposeError::Invalid(format!(
                            "services.{service}.{key}: service {svc:?} has no container"
                        ))
                    }),
                (None, Some(c)) if !c.is_empty() => Ok(m.to_string()),
                _ => Err(ComposeError::Invalid(format!(
                "services.{service}.{key}: invalid {m:?} (host, service:NAME, container:NAME{})",
                if key == "ipc" { ", private or shareable" } else { "" }
            ))),
            }
        }
    }
}

fn volumes_from(rep: &Replica, service: &str, list: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in list {
        let (body, mode) = match v.rsplit_once(':') {
            Some((b, m)) if matches!(m, "ro" | "rw") => (b, Some(m)),
            _ => (v.as_str(), None),
        };
        let name = if let Some(c) = body.strip_prefix("container:") {
            c.to_string()
        } else {
            let svc = body.strip_prefix("service:").unwrap_or(body);
            rep.peers.get(svc).cloned().ok_or_else(|| {
                ComposeError::Invalid(format!(
                    "services.{service}.volumes_from: service {svc:?} has no container"
                ))
            })?
        };
        out.push(match mode {
            Some(m) => format!("{name}:{m}"),
            None => name,
        });
    }
    Ok(out)
}

fn restart_policy(service: &str, s: &Service) -> Result<RestartPolicy> {
    let text = match (&s.restart, s.deploy.as_ref().and_then(|d| d.restart_policy.as_ref())) {
        (Some(r), _) => r.clone(),
        (None, Some(p)) => match p.condition.as_deref() {
            Some("none") => "no".to_string(),
            Some("on-failure") => match p.max_attempts {
                Some(n) => format!("on-failure:{n}"),
                None => "on-failure".to_string(),
            },
            Some("any") | None => "always".to_string(),
            Some(c) => return Err(ComposeError::Invalid(format!("services.{service}.deploy.restart_policy.condition: invalid {c:?} (none, on-failure or any)"))),
        },
        (None, None) => "no".to_string(),
    };
    crate::container::options::parse_restart(&text)
        .map_err(|e| ComposeError::Invalid(format!("services.{service}.restart: {e}")))
}

/// The directory where berth keeps a project's generated files (secrets and
/// configs given by `environment` or `content`).
pub fn project_dir(ctx: &Context, project: &str) -> PathBuf {
    ctx.root.join("compose").join(project)
}

/// The host file for a secret or config: its `file`, or one written from its
/// `environment` or `content`, with the reference's uid/gid/mode.
fn materialize(
    ctx: &Context,
    project: &Project,
    kind: &str,
    r: &FileRef,
    def: &FileObject,
    env: &BTreeMap<String, String>,
) -> Result<PathBuf> {
    if let Some(f) = &def.file {
        let p = PathBuf::from(f);
        if !p.exists() {
            return Err(ComposeError::Invalid(format!(
                "{kind}.{}: file {f} not found",
                r.source
            )));
        }
        return Ok(p);
    }
    let content = match (&def.environment, &def.content) {
        (Some(var), _) => env.get(var).cloned().ok_or_else(|| {
            ComposeError::Invalid(format!(
                "{kind}.{}: environment variable {var} is not set",
                r.source
            ))
        })?,
        (None, Some(c)) => c.clone(),
        (None, None) => {
            return Err(ComposeError::Invalid(format!(
                "{kind}.{}: needs file, environment or content",
                r.source
            )))
        }
    };
    let dir = project_dir(ctx, &project.name).join(kind);
    std::fs::create_dir_all(&dir).map_err(|e| ComposeError::io(&dir, e))?;
    let path = dir.join(&r.source);
    std::fs::write(&path, content).map_err(|e| ComposeError::io(&path, e))?;
    use std::os::unix::fs::PermissionsExt;
    let mode = r.mode.unwrap_or(0o444);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| ComposeError::io(&path, e))?;
    let uid = r
        .uid
        .as_deref()
        .map(str::parse::<u32>)
        .transpose()
        .map_err(|_| ComposeError::Invalid(format!("{kind}.{}: uid must be a number", r.source)))?;
    let gid = r
        .gid
        .as_deref()
        .map(str::parse::<u32>)
        .transpose()
        .map_err(|_| ComposeError::Invalid(format!("{kind}.{}: gid must be a number", r.source)))?;
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::chown(&path, uid, gid).map_err(|e| ComposeError::io(&path, e))?;
    }
    Ok(path)
}

/// The options for one container of a service.
pub fn options(
    ctx: &Context,
    rep: &Replica,
    env: &BTreeMap<String, String>,
) -> Result<CreateOptions> {
    let project = rep.project;
    let service = rep.service;
    let s = project
        .services
        .get(service)
        .ok_or_else(|| ComposeError::Invalid(format!("no such service: {service}")))?;
    check_supported(service, s)?;
    // A service that builds runs the image its build made (never pulled).
    let policy = if s.build.is_some() {
        PullPolicy::Never
    } else {
        pull_policy(s)?
    };
    let mut o = CreateOptions::new(ImageSource::Ref(project.image_of(service, s), policy));
    o.name = Some(match &rep.oneoff {
        Some(n) => n.clone(),
        None => planner::container_name(&project.name, service, s, rep.number),
    });
    o.platform = s.platform.clone();
    let c = &mut o.config;
    c.cmd = s.command.clone();
    c.entrypoint = s.entrypoint.clone();
    c.env = s
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    c.user = s.user.clone().unwrap_or_default();
    c.working_dir = s.working_dir.clone().unwrap_or_default();
    c.hostname = s.hostname.clone().unwrap_or_default();
    c.domainname = s.domainname.clone().unwrap_or_default();
    c.tty = s.tty;
    c.open_stdin = s.stdin_open;
    c.labels = labels(project, service, s, rep.number, rep.oneoff.is_some());
    c.stop_signal = s.stop_signal.clone();
    c.stop_timeout = s
        .stop_grace_period
        .as_ref()
        .map(|_| s.grace_period().as_secs() as i64);
    if let Some(h) = &s.healthcheck {
        c.healthcheck = Some(
            if h.disable || h.test.first().map(String::as_str) == Some("NONE") {
                HealthConfig {
                    test: vec!["NONE".into()],
                    ..HealthConfig::default()
                }
            } else {
                HealthConfig {
                    test: h.test.clone(),
                    interval: ns(&h.interval),
                    timeout: ns(&h.timeout),
                    start_period: ns(&h.start_period),
                    start_interval: ns(&h.start_interval),
                    retries: h.retries.unwrap_or(0),
                }
            },
        );
    }
    let hc = &mut o.host_config;
    let limits = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    hc.memory = s
        .mem_limit
        .or_else(|| limits.and_then(|l| l.memory))
        .unwrap_or(0);
    hc.nano_cpus = s
        .cpus
        .or_else(|| limits.and_then(|l| l.cpus))
        .map(|c| (c * 1e9) as i64)
        .unwrap_or(0);
    hc.pids_limit = s.pids_limit.or_else(|| limits.and_then(|l| l.pids));
    hc.memory_reservation = s
        .mem_reservation
        .or_else(|| {
            s.deploy
                .as_ref()
                .and_then(|d| d.resources.as_ref())
                .and_then(|r| r.reservations.as_ref())
                .and_then(|r| r.memory)
        })
        .unwrap_or(0);
    hc.cpu_shares = s.cpu_shares.unwrap_or(0);
    hc.shm_size = s.shm_size.unwrap_or(0);
    hc.annotations = s.annotations.clone();
    hc.pid_mode = namespace_mode(rep, service, "pid", &s.pid)?;
    hc.ipc_mode = namespace_mode(rep, service, "ipc", &s.ipc)?;
    if let Some(m) = &s.userns_mode {
        crate::spec::userns::parse_mode(m)
            .map_err(|e| ComposeError::Invalid(format!("services.{service}.userns_mode: {e}")))?;
        hc.userns_mode = m.clone();
    }
    let host_net = s.network_mode.as_deref() == Some("host");
    for (k, v) in &s.sysctls {
        crate::spec::resources::check_sysctl(k, host_net)
            .map_err(|e| ComposeError::Invalid(format!("services.{service}.sysctls.{k}: {e}")))?;
        hc.sysctls.insert(k.clone(), v.clone());
    }
    for (name, u) in &s.ulimits {
        crate::spec::resources::rlimit_type(name).map_err(|e| {
            ComposeError::Invalid(format!("services.{service}.ulimits.{name}: {e}"))
        })?;
        if u.hard >= 0 && (u.soft > u.hard || u.soft < 0) {
            return Err(ComposeError::Invalid(format!(
                "services.{service}.ulimits.{name}: soft limit {} is above the hard limit {}",
                u.soft, u.hard
            )));
        }
        hc.ulimits.push(crate::container::record::Ulimit {
            name: name.clone(),
            soft: u.soft,
            hard: u.hard,
        });
    }
    for (i, d) in s.devices.iter().enumerate() {
        let perms_ok =
            !d.permissions.is_empty() && d.permissions.chars().all(|c| "rwm".contains(c));
        if !d.source.starts_with('/') || !d.target.starts_with('/') || !perms_ok {
            return Err(ComposeError::Invalid(format!(
                "services.{service}.devices[{i}]: invalid device {}:{}:{} (absolute paths and permissions of r, w, m)",
                d.source, d.target, d.permissions
            )));
        }
        hc.devices.push(crate::container::record::DeviceMapping {
            path_on_host: d.source.clone(),
            path_in_container: d.target.clone(),
            cgroup_permissions: d.permissions.clone(),
        });
    }
    hc.volumes_from = volumes_from(rep, service, &s.volumes_from)?;
    hc.readonly_rootfs = s.read_only;
    hc.cap_add = s.cap_add.clone();
    hc.cap_drop = s.cap_drop.clone();
    hc.privileged = s.privileged;
    hc.security_opt = s.security_opt.clone();
    hc.restart_policy = restart_policy(service, s)?;
    hc.init = s.init;
    hc.auto_remove = false;
    if let Some(l) = &s.logging {
        if let Some(d) = &l.driver {
            hc.log_config.r#type = d.clone();
        }
        hc.log_config.config = l
            .options
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect();
    }
    for t in &s.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        hc.tmpfs.insert(path.to_string(), opts.to_string());
    }
    for m in &s.volumes {
        match m.r#type.as_str() {
            "bind" => {
                let src = m.source.clone().unwrap_or_default();
                if m.bind.as_ref().is_some_and(|b| b.create_host_path) && !Path::new(&src).exists()
                {
                    std::fs::create_dir_all(&src).map_err(|e| ComposeError::io(&src, e))?;
                }
                if m.bind
                    .as_ref()
                    .and_then(|b| b.propagation.as_ref())
                    .is_some()
                {
                    return Err(unsupported(service, "volumes.bind.propagation"));
                }
                hc.mounts.push(MountSpec {
                    r#type: MountKind::Bind,
                    source: src,
                    target: m.target.clone(),
                    read_only: m.read_only,
                    tmpfs_options: None,
                    volume_options: None,
                });
            }
            "volume" => {
                let source = match &m.source {
                    Some(v) => project
                        .volumes
                        .get(v)
                        .map(|d| d.name.clone())
                        .ok_or_else(|| {
                            ComposeError::Invalid(format!(
                                "services.{service}.volumes: undefined volume {v:?}"
                            ))
                        })?,
                    None => String::new(),
                };
                let volume_options = m.volume.as_ref().map(|v| VolumeOptions {
                    no_copy: v.nocopy,
                    subpath: v.subpath.clone().unwrap_or_default(),
                });
                if source.is_empty() && volume_options.is_none() {
                    // Anonymous: docker's `-v /path`.
                    hc.binds.push(m.target.clone());
                } else {
                    hc.mounts.push(MountSpec {
                        r#type: MountKind::Volume,
                        source,
                        target: m.target.clone(),
                        read_only: m.read_only,
                        tmpfs_options: None,
                        volume_options,
                    });
                }
            }
            "tmpfs" => {
                let t = m.tmpfs.as_ref();
                hc.mounts.push(MountSpec {
                    r#type: MountKind::Tmpfs,
                    source: String::new(),
                    target: m.target.clone(),
                    read_only: m.read_only,
                    tmpfs_options: Some(TmpfsOptions {
                        size_bytes: t.and_then(|t| t.size).unwrap_or(0),
                        mode: t.and_then(|t| t.mode).unwrap_or(0),
                    }),
                    volume_options: None,
                });
            }
            other => {
                return Err(ComposeError::Invalid(format!(
                    "services.{service}.volumes: unsupported type {other:?}"
                )))
            }
        }
    }
    // Secrets at /run/secrets/NAME, configs at /NAME (docker's defaults).
    for (kind, refs, defs) in [
        ("secrets", &s.secrets, &project.secrets),
        ("configs", &s.configs, &project.configs),
    ] {
        for r in refs {
            let def = defs.get(&r.source).ok_or_else(|| {
                ComposeError::Invalid(format!(
                    "services.{service}.{kind}: undefined {:?}",
                    r.source
                ))
            })?;
            let host = materialize(ctx, project, kind, r, def, env)?;
            let target = match (&r.target, kind) {
                (Some(t), "secrets") if !t.starts_with('/') => format!("/run/secrets/{t}"),
                (Some(t), _) => t.clone(),
                (None, "secrets") => format!("/run/secrets/{}", r.source),
                (None, _) => format!("/{}", r.source),
            };
            hc.mounts.push(MountSpec {
                r#type: MountKind::Bind,
                source: host.display().to_string(),
                target,
                read_only: true,
                tmpfs_options: None,
                volume_options: None,
            });
        }
    }
    hc.network_mode = match s.network_mode.as_deref() {
        // The project's networks: set by networks::apply.
        None => NetworkMode::Default,
        Some("host") => NetworkMode::Host,
        Some("none") => NetworkMode::None,
        Some("bridge") => NetworkMode::Bridge,
        Some("default") => NetworkMode::Default,
        Some(m) => match (m.strip_prefix("service:"), m.strip_prefix("container:")) {
            (Some(svc), _) => {
                NetworkMode::Container(rep.peers.get(svc).cloned().ok_or_else(|| {
                    ComposeError::Invalid(format!(
                        "services.{service}.network_mode: service {svc:?} has no running container"
                    ))
                })?)
            }
            (None, Some(c)) => NetworkMode::Container(c.to_string()),
            _ => {
                return Err(ComposeError::Invalid(format!(
                    "services.{service}.network_mode: invalid {m:?}"
                )))
            }
        },
    };
    networks::apply(project, service, s, &mut o)?;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::loader::{load, Options};

    fn project(yaml: &str) -> (Project, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "berth-compose-create-{}-{}",
            std::process::id(),
            yaml.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("compose.yaml");
        std::fs::write(&f, yaml).unwrap();
        let opts = Options {
            files: vec![f],
            workdir: dir.clone(),
            os_env: [("SECRET_V".to_string(), "sv".to_string())].into(),
            ..Options::default()
        };
        (load(&opts).unwrap().project, dir)
    }

    fn opts_for(p: &Project, dir: &Path, service: &str) -> Result<CreateOptions> {
        let ctx = Context::new(dir.join("root"), dir.join("state"));
        let peers = BTreeMap::new();
        let rep = Replica {
            project: p,
            service,
            number: 2,
            oneoff: None,
            peers: &peers,
        };
        options(&ctx, &rep, &p.environment)
    }

    #[test]
    fn service_to_create_options() {
        let (p, dir) = project(
            "name: p\nservices:\n  web:\n    image: busybox\n    command: [httpd, -f]\n    entrypoint: [/bin/sh, -c]\n    environment: {A: '1', UNSET: null}\n    user: '1000'\n    working_dir: /w\n    hostname: h\n    labels: {mine: x}\n    restart: on-failure:3\n    stop_signal: SIGINT\n    stop_grace_period: 3s\n    healthcheck: {test: [CMD, 'true'], interval: 1s, retries: 2}\n    mem_limit: 64m\n    cpus: 0.5\n    read_only: true\n    tmpfs: ['/run:size=1m']\n    volumes: [./data:/data:ro, vol:/v, /anon]\n    secrets: [s]\n    network_mode: host\nvolumes:\n  vol: {}\nsecrets:\n  s: {environment: SECRET_V}\n",
        );
        let o = opts_for(&p, &dir, "web").unwrap();
        assert_eq!(o.name.as_deref(), Some("p-web-2"));
        assert_eq!(o.config.cmd, Some(vec!["httpd".to_string(), "-f".into()]));
        assert_eq!(
            o.config.entrypoint,
            Some(vec!["/bin/sh".to_string(), "-c".into()])
        );
        assert_eq!(o.config.env, vec!["A=1".to_string()]);
        assert_eq!(
            (
                o.config.user.as_str(),
                o.config.working_dir.as_str(),
                o.config.hostname.as_str()
            ),
            ("1000", "/w", "h")
        );
        let l = &o.config.labels;
        assert_eq!(l["mine"], "x");
        assert_eq!(l[planner::LABEL_PROJECT], "p");
        assert_eq!(l[planner::LABEL_SERVICE], "web");
        assert_eq!(l[planner::LABEL_NUMBER], "2");
        assert_eq!(l[planner::LABEL_ONEOFF], "False");
        assert_eq!(
            l[planner::LABEL_CONFIG_HASH],
            planner::config_hash(&p.services["web"])
        );
        assert_eq!(o.host_config.restart_policy, RestartPolicy::OnFailure(3));
        assert_eq!(o.config.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(o.config.stop_timeout, Some(3));
        let hc = o.config.healthcheck.unwrap();
        assert_eq!(
            (hc.test, hc.interval, hc.retries),
            (vec!["CMD".to_string(), "true".into()], 1_000_000_000, 2)
        );
        assert_eq!(o.host_config.memory, 64 << 20);
        assert_eq!(o.host_config.nano_cpus, 500_000_000);
        assert!(o.host_config.readonly_rootfs);
        assert_eq!(o.host_config.tmpfs["/run"], "size=1m");
        let m = &o.host_config.mounts;
        assert_eq!(
            (m[0].r#type, m[0].source.as_str(), m[0].read_only),
            (MountKind::Bind, dir.join("data").to_str().unwrap(), true)
        );
        // The missing bind source was created, as docker compose does.
        assert!(dir.join("data").is_dir());
        assert_eq!(
            (m[1].r#type, m[1].source.as_str()),
            (MountKind::Volume, "p_vol")
        );
        assert_eq!(o.host_config.binds, vec!["/anon".to_string()]);
        assert_eq!(m[2].target, "/run/secrets/s");
        assert_eq!(std::fs::read_to_string(&m[2].source).unwrap(), "sv");
        assert_eq!(o.host_config.network_mode, NetworkMode::Host);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn what_cannot_be_applied_is_named() {
        let (p, dir) = project(
            "services:\n  a: {image: x, annotations: {k: v}}\n  b: {image: x, ports: ['80:80']}\n  c: {build: .}\n  d: {image: x, networks: [back]}\n  e: {image: x, restart: always, deploy: {restart_policy: {condition: on-failure}}}\n  f: {image: x, deploy: {resources: {reservations: {cpus: '0.5'}}}}\nnetworks:\n  back: {}\n",
        );
        let err = |s: &str| opts_for(&p, &dir, s).unwrap_err().to_string();
        assert_eq!(
            err("f"),
            "services.f.deploy.resources.reservations.cpus: berth's container library cannot apply this key yet"
        );
        // Annotations go to the spec through the host config.
        let a = opts_for(&p, &dir, "a").unwrap();
        assert_eq!(a.host_config.annotations["k"], "v");
        // Ports and named networks go to the network library's fields.
        let b = opts_for(&p, &dir, "b").unwrap();
        assert_eq!(b.host_config.port_bindings["80/tcp"][0].host_port, "80");
        assert_eq!(
            b.host_config.network_mode,
            NetworkMode::Named(format!("{}_default", p.name))
        );
        assert_eq!(
            b.networking.endpoints_config[&format!("{}_default", p.name)].aliases,
            vec!["b".to_string(), format!("{}-b-2", p.name)]
        );
        // A service that builds runs its built image, never pulled.
        let c = opts_for(&p, &dir, "c").unwrap();
        assert!(
            matches!(c.image, ImageSource::Ref(ref r, PullPolicy::Never) if *r == format!("{}-c", p.name))
        );
        let d = opts_for(&p, &dir, "d").unwrap();
        assert_eq!(
            d.host_config.network_mode,
            NetworkMode::Named(format!("{}_back", p.name))
        );
        // `restart` wins over deploy.restart_policy.
        assert_eq!(
            opts_for(&p, &dir, "e").unwrap().host_config.restart_policy,
            RestartPolicy::Always
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn namespaces_devices_and_resources_reach_the_host_config() {
        let (p, dir) = project(
            "name: p\nservices:\n  a:\n    image: x\n    pid: host\n    ipc: host\n    devices: ['/dev/null:/dev/nul2:rw', {source: /dev/zero, target: /dev/zero, permissions: r}]\n    sysctls: {net.core.somaxconn: '1024'}\n    ulimits: {nofile: {soft: 100, hard: 200}, nproc: 50}\n    shm_size: 1m\n    cpu_shares: 512\n    mem_reservation: 32m\n    volumes_from: [b, 'container:other:ro']\n  b: {image: x, ipc: shareable}\n  c: {image: x, pid: 'service:b', ipc: 'container:other'}\n  d: {image: x, ipc: bogus}\n  e: {image: x, devices: ['/dev/null:/dev/x:rwz']}\n",
        );
        let mut peers = BTreeMap::new();
        peers.insert("b".to_string(), "p-b-1".to_string());
        let ctx = Context::new(dir.join("root"), dir.join("state"));
        let rep = |service| Replica {
            project: &p,
            service,
            number: 1,
            oneoff: None,
            peers: &peers,
        };
        let a = options(&ctx, &rep("a"), &BTreeMap::new()).unwrap();
        let hc = &a.host_config;
        assert_eq!(
            (hc.pid_mode.as_str(), hc.ipc_mode.as_str()),
            ("host", "host")
        );
        let devs: Vec<_> = hc
            .devices
            .iter()
            .map(|d| {
                (
                    d.path_on_host.as_str(),
                    d.path_in_container.as_str(),
                    d.cgroup_permissions.as_str(),
                )
            })
            .collect();
        assert_eq!(
            devs,
            vec![
                ("/dev/null", "/dev/nul2", "rw"),
                ("/dev/zero", "/dev/zero", "r")
            ]
        );
        assert_eq!(hc.sysctls["net.core.somaxconn"], "1024");
        let mut u: Vec<_> = hc
            .ulimits
            .iter()
            .map(|u| (u.name.as_str(), u.soft, u.hard))
            .collect();
        u.sort();
        assert_eq!(u, vec![("nofile", 100, 200), ("nproc", 50, 50)]);
        assert_eq!(
            (hc.shm_size, hc.cpu_shares, hc.memory_reservation),
            (1 << 20, 512, 32 << 20)
        );
        assert_eq!(
            hc.volumes_from,
            vec!["p-b-1".to_string(), "other:ro".to_string()]
        );
        let b = options(&ctx, &rep("b"), &BTreeMap::new()).unwrap();
        assert_eq!(b.host_config.ipc_mode, "");
        let err = |s| {
            options(&ctx, &rep(s), &BTreeMap::new())
                .unwrap_err()
                .to_string()
        };
        // Joining another container's namespaces: service:x is its replica.
        let c = options(&ctx, &rep("c"), &BTreeMap::new()).unwrap();
        assert_eq!(
            (
                c.host_config.pid_mode.as_str(),
                c.host_config.ipc_mode.as_str()
            ),
            ("container:p-b-1", "container:other")
        );
        assert!(
            err("d").contains("services.d.ipc: invalid \"bogus\""),
            "{}",
            err("d")
        );
        assert!(
            err("e").contains("services.e.devices[0]: invalid device /dev/null:/dev/x:rwz"),
            "{}",
            err("e")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
