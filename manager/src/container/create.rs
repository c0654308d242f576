//! `create`: a container from `CreateOptions`. The image's config is merged
//! here, once (Entrypoint/Cmd, Env, WorkingDir, User, Labels, StopSignal,
//! Healthcheck, and Volumes as anonymous volumes); the OCI spec itself is
//! generated at each start. Lock: the store's names lock while the name is
//! reserved and the directory renamed into place (`ContainerStore::create`).

use super::error::LifecycleError;
use super::image;
use super::kill::Signal;
use super::options::{merge_env, CreateOptions};
use super::record::{
    Config, ContainerRecord, HealthConfig, HostConfig, MountKind, MountPoint, RestartPolicy,
};
use super::store::{new_id, ContainerStore};
use crate::context::Context;
use crate::image::Image;
use crate::spec;
use crate::volume::VolumeStore;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The part of an image's config a container inherits (docker's names; the
/// stored JSON, for docker's extensions such as Healthcheck).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ImageDefaults {
    exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    env: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    labels: Option<BTreeMap<String, Option<String>>>,
    stop_signal: Option<String>,
    volumes: Option<BTreeMap<String, serde_json::Value>>,
    healthcheck: Option<HealthConfig>,
}

/// A volume's `subpath` stays inside the volume by its words: relative, no
/// `..` (symlinks are refused when it is resolved, at start).
fn check_subpath(sub: &str) -> Result<(), LifecycleError> {
    let p = Path::new(sub);
    if p.is_absolute()
        || p.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        return Err(invalid(format!(
            "invalid mount config for type \"volume\": subpath {sub:?} must be a relative path inside the volume (no \"..\")"
        )));
    }
    Ok(())
}

fn invalid(msg: impl Into<String>) -> LifecycleError {
    LifecycleError::Invalid(msg.into())
}

/// Check what can be checked before anything is pulled or made.
fn validate(opts: &CreateOptions) -> Result<(), LifecycleError> {
    let hc = &opts.host_config;
    spec::validate_security_opts(&hc.security_opt)?;
    if hc.memory != 0 && hc.memory < 6 << 20 {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if hc.auto_remove && hc.restart_policy != RestartPolicy::No {
        return Err(invalid(
            "conflicting options: cannot specify both --restart and --rm",
        ));
    }
    for c in hc.cap_add.iter().chain(&hc.cap_drop) {
        spec::normalize_cap(c)?;
    }
    if hc.init == Some(true) {
        spec::find_init()?;
    }
    if let Some(s) = &opts.config.stop_signal {
        Signal::parse(s)?;
    }
    Ok(())
}

/// `--security-opt seccomp=FILE`: the profile's content, checked.
fn seccomp_profile(opts: &CreateOptions) -> Result<Option<String>, LifecycleError> {
    if let Some(p) = &opts.seccomp_profile {
        spec::seccomp::convert(p, &[])?;
        return Ok(Some(p.clone()));
    }
    let mut out = None;
    for o in &opts.host_config.security_opt {
        if let Some(p) = o
            .strip_prefix("seccomp=")
            .or_else(|| o.strip_prefix("seccomp:"))
        {
            if p != "unconfined" {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| invalid(format!("opening seccomp profile ({p}): {e}")))?;
                spec::seccomp::convert(&text, &[])?;
                out = Some(text);
            }
        }
    }
    Ok(out)
}

/// docker's healthcheck merge: the caller's settings over the image's; a
/// caller's `NONE` disables it.
fn merge_health(
    user: Option<HealthConfig>,
    image: Option<HealthConfig>,
) -> Result<Option<HealthConfig>, LifecycleError> {
    let Some(mut h) = user else {
        return Ok(image);
    };
    if h.test.first().is_some_and(|t| t == "NONE") {
        return Ok(Some(h));
    }
    let img = image.unwrap_or_default();
    if h.test.is_empty() {
        h.test = img.test;
    }
    for (v, i) in [
        (&mut h.interval, img.interval),
        (&mut h.timeout, img.timeout),
        (&mut h.start_period, img.start_period),
        (&mut h.start_interval, img.start_interval),
        (&mut h.retries, img.retries),
    ] {
        if *v == 0 {
            *v = i;
        }
    }
    if h.test.is_empty() {
        return Err(invalid(
            "--health-* options need a healthcheck command (--health-cmd)",
        ));
    }
    Ok(Some(h))
}

/// The mounts of `hc` (`-v` binds, `--mount`, `--tmpfs`) resolved to mount
/// points; volumes still unnamed when anonymous (named in `create`).
fn resolve_mounts(hc: &HostConfig) -> Result<Vec<MountPoint>, LifecycleError> {
    let mut out = Vec::new();
    for v in &hc.binds {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, mode) = match parts.as_slice() {
            [d] => ("", *d, ""),
            [s, d] => (*s, *d, ""),
            [s, d, m] => (*s, *d, *m),
            _ => return Err(invalid(format!("invalid volume specification: {v:?}"))),
        };
        if !dst.starts_with('/') {
            return Err(invalid(format!(
                "invalid volume specification: {v:?}: the destination must be an absolute path"
            )));
        }
        if let Some(m) = mode
            .split(',')
            .find(|m| !matches!(*m, "" | "ro" | "rw" | "z" | "Z"))
        {
            return Err(invalid(format!(
                "invalid volume specification: {v:?}: unknown mode {m:?}"
            )));
        }
        let mut mp = MountPoint {
            destination: dst.to_string(),
            rw: !mode.split(',').any(|m| m == "ro"),
            mode: mode.to_string(),
            ..Default::default()
        };
        if src.is_empty() {
            mp.r#type = MountKind::Volume;
            mp.anonymous = true;
        } else if src.starts_with('/') {
            mp.r#type = MountKind::Bind;
            // docker's -v creates a missing host directory (an existing file
            // is bound as it is)
            if !Path::new(src).exists() {
                std::fs::create_dir_all(src)
                    .map_err(LifecycleError::io("creating bind source", Path::new(src)))?;
            }
            mp.source = src.to_string();
            mp.propagation = "rprivate".into();
        } else {
            mp.r#type = MountKind::Volume;
            mp.name = src.to_string();
        }
        out.push(mp);
    }
    for spec in &hc.mounts {
        let mut mp = MountPoint {
            destination: spec.target.clone(),
            rw: !spec.read_only,
            r#type: spec.r#type,
            ..Default::default()
        };
        match spec.r#type {
            MountKind::Bind => {
                if !Path::new(&spec.source).exists() {
                    return Err(invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        spec.source
                    )));
                }
                mp.source = spec.source.clone();
                mp.propagation = "rprivate".into();
            }
            MountKind::Volume => {
                if spec.source.is_empty() {
                    mp.anonymous = true;
                } else {
                    mp.name = spec.source.clone();
                }
                if let Some(o) = &spec.volume_options {
                    mp.no_copy = o.no_copy;
                    if !o.subpath.is_empty() {
                        check_subpath(&o.subpath)?;
                        mp.subpath = o.subpath.clone();
                    }
                }
            }
            MountKind::Tmpfs => {
                if !spec.source.is_empty() {
                    return Err(invalid(
                        "invalid mount config for type \"tmpfs\": source must be empty",
                    ));
                }
                let mut o = Vec::new();
                if let Some(t) = &spec.tmpfs_options {
                    if t.size_bytes != 0 {
                        o.push(format!("size={}", t.size_bytes));
                    }
                    if t.mode != 0 {
                        o.push(format!("mode={:o}", t.mode));
                    }
                }
                mp.options = o.join(",");
            }
        }
        out.push(mp);
    }
    for (dst, opts) in &hc.tmpfs {
        if !dst.starts_with('/') {
            return Err(invalid(format!(
                "invalid --tmpfs {dst:?}: the destination must be an absolute path"
            )));
        }
        out.push(MountPoint {
            r#type: MountKind::Tmpfs,
            destination: dst.clone(),
            rw: !opts.split(',').any(|o| o == "ro"),
            options: opts
                .split(',')
                .filter(|o| !o.is_empty() && *o != "ro" && *o != "rw")
                .collect::<Vec<_>>()
                .join(","),
            ..Default::default()
        });
    }
    let mut seen = std::collections::HashSet::new();
    for m in &out {
        if !seen.insert(m.destination.trim_end_matches('/').to_string()) {
            return Err(invalid(format!("Duplicate mount point: {}", m.destination)));
        }
    }
    Ok(out)
}

/// Create the container (record, directories, volumes). Returns the record
/// and the loaded image (so a `run` that starts it does not read it again).
/// The config file's defaults for what the caller left unset: the log
/// driver and options, ulimits (by name), the seccomp profile.
fn config_defaults(ctx: &Context, opts: &mut CreateOptions) -> Result<(), LifecycleError> {
    let s = &ctx.settings;
    let hc = &mut opts.host_config;
    let default_log = hc.log_config == super::record::LogConfig::default();
    if default_log && (s.log_driver.is_some() || !s.log_opts.is_empty()) {
        hc.log_config = super::record::LogConfig {
            r#type: s.log_driver.clone().unwrap_or_else(|| "json-file".into()),
            config: s.log_opts.clone(),
        };
    }
    for u in s.default_ulimits.values() {
        if !hc.ulimits.iter().any(|x| x.name == u.name) {
            hc.ulimits.push(super::record::Ulimit {
                name: u.name.clone(),
                soft: u.soft,
                hard: u.hard,
            });
        }
    }
    let seccomp_given = hc
        .security_opt
        .iter()
        .any(|o| o.starts_with("seccomp=") || o.starts_with("seccomp:"));
    if let (Some(p), None, false) = (&s.seccomp_profile, &opts.seccomp_profile, seccomp_given) {
        let text = std::fs::read_to_string(p)
            .map_err(|e| invalid(format!("config seccomp-profile ({}): {e}", p.display())))?;
        opts.seccomp_profile = Some(text);
    }
    Ok(())
}

/// `--volumes-from CONTAINER[:ro|rw]`: that container's bind and volume
/// mounts at the same places (read-only with `:ro`; else as it has them),
/// unless this container mounts something there itself. The volumes stay the
/// other container's: they are never this one's anonymous volumes.
fn volumes_from(
    ctx: &Context,
    from: &[String],
    mounts: &mut Vec<MountPoint>,
) -> Result<(), LifecycleError> {
    if from.is_empty() {
        return Ok(());
    }
    let store = ContainerStore::open(ctx)?;
    for spec in from {
        let (name, mode) = match spec.rsplit_once(':') {
            Some((n, m)) if matches!(m, "ro" | "rw") => (n, Some(m)),
            _ => (spec.as_str(), None),
        };
        let src = store.resolve(name)?;
        for m in src.mounts.iter().filter(|m| m.r#type != MountKind::Tmpfs) {
            if mounts.iter().any(|x| x.destination == m.destination) {
                continue;
            }
            let mut m = m.clone();
            m.anonymous = false;
            match mode {
                Some("ro") => m.rw = false,
                Some(_) => m.rw = true,
                None => {}
            }
            m.mode = if m.rw { String::new() } else { "ro".into() };
            mounts.push(m);
        }
    }
    Ok(())
}

pub fn create(
    ctx: &Context,
    opts: CreateOptions,
) -> Result<(ContainerRecord, Image), LifecycleError> {
    validate(&opts)?;
    let mut opts = opts;
    config_defaults(ctx, &mut opts)?;
    // the networks named exist, the addresses and ports parse
    crate::network::request::check(ctx, &opts.host_config, &opts.networking)
        .map_err(|e| LifecycleError::Invalid(e.to_string()))?;
    let seccomp_profile = seccomp_profile(&opts)?;
    let userns_mode = super::userns::mode(ctx, &opts.host_config)?;
    let image = image::resolve(ctx, &opts.image, opts.platform.as_deref())?;
    let mut mounts = resolve_mounts(&opts.host_config)?;
    volumes_from(ctx, &opts.host_config.volumes_from, &mut mounts)?;
    let ic = ImageDefaults::deserialize(&image.config_json["config"]).unwrap_or_default();

    let mut id = new_id();
    while ctx.root.join("containers").join(&id).exists() {
        id = new_id();
    }
    let CreateOptions {
        name,
        image: source,
        config: user,
        host_config,
        networking,
        ..
    } = opts;
    let mut env = ic.env.unwrap_or_default();
    merge_env(&mut env, &user.env);

    let (entrypoint, cmd) = match user.entrypoint {
        // `--entrypoint ""` clears the image's, and its Cmd with it
        Some(e) if e.is_empty() => (None, Some(user.cmd.unwrap_or_default())),
        Some(e) => (Some(e), Some(user.cmd.unwrap_or_default())),
        None => (
            ic.entrypoint,
            match user.cmd {
                Some(c) if !c.is_empty() => Some(c),
                _ => ic.cmd,
            },
        ),
    };
    let mut argv: Vec<String> = entrypoint.clone().unwrap_or_default();
    argv.extend(cmd.clone().unwrap_or_default());
    if argv.is_empty() {
        return Err(invalid("No command specified"));
    }
    let healthcheck = merge_health(user.healthcheck, ic.healthcheck)?;
    let hostname = if !user.hostname.is_empty() {
        user.hostname
    } else if host_config.network_mode.is_host() {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| id[..12].to_string())
    } else {
        id[..12].to_string()
    };
    let mut labels: BTreeMap<String, String> = ic
        .labels
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    labels.extend(user.labels);

    // The image's VOLUMEs become anonymous volumes unless something is mounted there.
    let mut image_volumes: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for dst in ic.volumes.unwrap_or_default().into_keys() {
        let taken = mounts
            .iter()
            .any(|m| m.destination.trim_end_matches('/') == dst.trim_end_matches('/'));
        if !taken {
            mounts.push(MountPoint {
                r#type: MountKind::Volume,
                destination: dst.clone(),
                rw: true,
                anonymous: true,
                ..Default::default()
            });
        }
        image_volumes.insert(dst, serde_json::Value::Object(Default::default()));
    }
    let config = Config {
        hostname,
        domainname: user.domainname,
        user: if user.user.is_empty() {
            ic.user.unwrap_or_default()
        } else {
            user.user
        },
        attach_stdin: user.attach_stdin,
        attach_stdout: user.attach_stdout,
        attach_stderr: user.attach_stderr,
        tty: user.tty,
        open_stdin: user.open_stdin,
        stdin_once: user.stdin_once,
        env,
        cmd,
        healthcheck,
        image: source.name().to_string(),
        volumes: (!image_volumes.is_empty()).then_some(image_volumes),
        working_dir: if user.working_dir.is_empty() {
            ic.working_dir.unwrap_or_default()
        } else {
            user.working_dir
        },
        entrypoint,
        labels,
        stop_signal: user.stop_signal.or(ic.stop_signal),
        stop_timeout: user.stop_timeout,
        // the image's EXPOSE, `--expose` and the published ports
        exposed_ports: {
            let mut e = ic.exposed_ports.unwrap_or_default();
            e.extend(user.exposed_ports);
            for k in host_config.port_bindings.keys() {
                e.entry(k.clone()).or_insert_with(|| serde_json::json!({}));
            }
            e
        },
        mac_address: user.mac_address,
    };
    // Volumes: named ones are created when missing, anonymous ones get a name now.
    let mut vstore = None;
    for m in mounts.iter_mut().filter(|m| m.r#type == MountKind::Volume) {
        let vs = match &vstore {
            Some(v) => v,
            None => vstore.insert(VolumeStore::open(ctx)?),
        };
        let vol = vs.create(
            (!m.anonymous).then_some(m.name.as_str()),
            BTreeMap::new(),
            BTreeMap::new(),
            m.anonymous,
        )?;
        m.name = vol.name.clone();
        m.source = vol.mountpoint.to_string_lossy().into_owned();
        m.driver = vol.driver.clone();
    }
    let mut rec = ContainerRecord {
        id,
        name: name.unwrap_or_default(),
        image: image.record.config.to_string(),
        image_name: image.record.name.clone(),
        created: crate::store::now_rfc3339(),
        path: argv[0].clone(),
        args: argv[1..].to_vec(),
        config,
        host_config,
        networking,
        mounts,
        seccomp_profile,
        userns_remap: None,
    };
    // an auto range is held from here until the record is in the store
    let (userns_remap, _userns_lock) = match super::userns::remap(ctx, &userns_mode, &image) {
        Ok(r) => r,
        Err(e) => {
            if let Some(vs) = &vstore {
                for name in rec.anonymous_volumes() {
                    let _ = vs.remove(&name, &[]);
                }
            }
            return Err(e);
        }
    };
    rec.userns_remap = userns_remap;
    crate::sys::fault::crash_point("create:userns-allocated");
    let store = ContainerStore::open(ctx)?;
    let res = store.create(&mut rec, |dir| {
        let p = dir.join("bundle/rootfs");
        std::fs::create_dir_all(&p).map_err(|source| super::ContainerError::Io {
            op: "create",
            path: p,
            source,
        })
    });
    if let Err(e) = res {
        // anonymous volumes made for this container are not anyone's
        if let Some(vs) = &vstore {
            for name in rec.anonymous_volumes() {
                let _ = vs.remove(&name, &[]);
            }
        }
        return Err(e.into());
    }
    crate::sys::fault::crash_point("create:record-written");
    crate::events::container(ctx, &rec, "create", &[]);
    Ok((rec, image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subpaths_stay_inside() {
        for ok in ["a", "a/b", "./a"] {
            assert!(check_subpath(ok).is_ok(), "{ok}");
        }
        for bad in ["/a", "../a", "a/../../b", "a/.."] {
            assert!(check_subpath(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn health_merge() {
        let img = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval: 5,
            retries: 3,
            ..Default::default()
        };
        let user = HealthConfig {
            interval: 9,
            ..Default::default()
        };
        let h = merge_health(Some(user), Some(img.clone()))
            .unwrap()
            .unwrap();
        assert_eq!((h.test.len(), h.interval, h.retries), (2, 9, 3));
        assert_eq!(merge_health(None, Some(img.clone())).unwrap(), Some(img));
        assert!(merge_health(Some(HealthConfig::default()), None).is_err());
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert_eq!(merge_health(Some(none.clone()), None).unwrap(), Some(none));
    }
}
