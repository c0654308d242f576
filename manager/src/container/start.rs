//! `start`: rootfs, volumes, the typed OCI spec (hooks prepare it), then a
//! shim, which creates and (with `StartMode::Now`) starts the container and
//! reports synchronously. Lock: the container's, held by the caller's
//! `Locked` for the whole call. A failed start gives back everything it took
//! (hooks released, rootfs and volumes unmounted), leaves the container
//! `created` with the error as docker does, and removes a `--rm` container.

use super::error::LifecycleError;
use super::exit;
use super::hooks::hooks;
use super::image;
use super::lock::Locked;
use super::record::{ContainerRecord, RestartPolicy};
use super::state::{self, ShimStatus};
use super::{rootfs, runtime};
use crate::context::Context;
use crate::image::Image;
use crate::shim_client::{
    self, Ack, HealthSection, LogSection, PidResponse, Request, RestartSection, ShimConfig,
};
use crate::spec;
use std::path::{Path, PathBuf};

/// What the shim reported: the container init's pid.
pub use crate::shim_client::Started;

/// Whether `start` also starts the container's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMode {
    /// Create and start.
    Now,
    /// Only create (the caller attaches to its stdio, then `start_created`).
    CreateOnly,
}

/// Start a created or exited container.
pub fn start(ctx: &Context, c: &Locked, mode: StartMode) -> Result<Started, LifecycleError> {
    start_with_image(ctx, c, mode, None)
}

/// `start` with the container's image already loaded (`run` has it from
/// `create`; this spares a second read).
pub fn start_with_image(
    ctx: &Context,
    c: &Locked,
    mode: StartMode,
    image: Option<Image>,
) -> Result<Started, LifecycleError> {
    let st = state::state(ctx, c);
    if st.running {
        return Err(LifecycleError::AlreadyRunning(c.name.clone()));
    }
    let shim_dir = c.shim_dir(ctx);
    if shim_dir.exists() {
        if st.shim_alive && st.shim_pid > 0 {
            // a finishing shim (running its exit hook): it has nothing left to do
            let _ = crate::sys::process::kill(st.shim_pid, libc::SIGKILL);
        }
        super::remove::remove_shim_dir(&shim_dir);
    }
    runtime::delete_force(ctx, &c.id);
    std::fs::create_dir_all(&shim_dir).map_err(LifecycleError::io("create", &shim_dir))?;
    let res = (|| {
        let image = match image {
            Some(i) => i,
            None => image::resolve(ctx, &image::ImageSource::Id(c.image.clone()), None)?,
        };
        rootfs::mount(ctx, c, &image)?;
        crate::sys::fault::crash_point("start:rootfs-mounted");
        let started = launch(ctx, c, mode)?;
        crate::sys::fault::crash_point("start:shim-spawned");
        Ok(started)
    })();
    if res.is_ok() && matches!(mode, StartMode::Now) {
        crate::events::container(ctx, c, "start", &[]);
        crate::timing::mark("start: event recorded");
    }
    res.map_err(|e| failed(ctx, c, e))
}

/// Send `start` to a shim that created the container (`StartMode::CreateOnly`).
pub fn start_created(ctx: &Context, c: &Locked) -> Result<(), LifecycleError> {
    match shim_client::request::<PidResponse>(&c.shim_dir(ctx), &Request::Start) {
        Ok(_) => {
            crate::events::container(ctx, c, "start", &[]);
            Ok(())
        }
        Err(e) => {
            let _ = shim_client::request::<Ack>(&c.shim_dir(ctx), &Request::Shutdown);
            Err(failed(ctx, c, start_error(&e)))
        }
    }
}

/// Give up a container that `StartMode::CreateOnly` made and that will not be
/// started (the caller could not attach to it): its shim is shut down and
/// everything is cleaned up as after a failed start. Returns the error.
pub fn abort(ctx: &Context, c: &Locked, why: String) -> LifecycleError {
    let _ = shim_client::request::<Ack>(&c.shim_dir(ctx), &Request::Shutdown);
    failed(
        ctx,
        c,
        LifecycleError::StartFailed {
            code: 125,
            msg: why,
        },
    )
}

/// The runtime's or shim's message as a typed start failure with docker's
/// exit code for it.
fn start_error(e: &shim_client::ShimError) -> LifecycleError {
    LifecycleError::StartFailed {
        code: shim_client::exec_error_code(e).unwrap_or(125),
        msg: e.to_string(),
    }
}

/// After a failed start: give back what it took, record the failure the way
/// docker shows it (still `created`, with the error and code), and remove a
/// `--rm` container. Returns the error, as a start failure.
fn failed(ctx: &Context, c: &Locked, e: LifecycleError) -> LifecycleError {
    let e = match e {
        e @ LifecycleError::StartFailed { .. } => e,
        e => LifecycleError::StartFailed {
            code: 125,
            msg: e.to_string(),
        },
    };
    // best effort: the start's own error is the one to report
    let _ = exit::release(ctx, c);
    let st = ShimStatus {
        status: "created".into(),
        exit_code: Some(e.exit_code()),
        error: Some(e.to_string()),
        ..Default::default()
    };
    let _ = super::store::write_json(&c.shim_dir(ctx).join("status.json"), &st);
    if c.host_config.auto_remove {
        let _ = super::remove::remove_stopped(ctx, c, true);
    }
    e
}

/// Volumes, spec (hooks prepare it), shim.
fn launch(ctx: &Context, c: &Locked, mode: StartMode) -> Result<Started, LifecycleError> {
    let mut rec: ContainerRecord = c.record().clone();
    rootfs::mount_volumes(ctx, &mut rec)?;
    if rec.host_config.cgroup_parent.is_empty() {
        rec.host_config.cgroup_parent = ctx.cgroup_parent();
    }
    let init = if rec.host_config.init == Some(true) {
        Some(spec::find_init()?)
    } else {
        None
    };
    let rootfs = rec.rootfs(ctx);
    let dir = rec.dir(ctx);
    let mut spec = spec::generate(&spec::Inputs {
        rec: &rec,
        rootfs: &rootfs,
        etc_dir: &dir,
        seccomp_profile: rec.seccomp_profile.as_deref(),
        init: init.as_deref(),
    })?;
    join_namespaces(ctx, &rec, &mut spec)?;
    crate::timing::mark("start: spec");
    for h in hooks() {
        h.prepare(ctx, c, &mut spec)
            .map_err(|source| LifecycleError::Hook {
                hook: h.name(),
                source,
            })?;
    }
    crate::timing::mark("start: hooks prepared");
    let cfg_path = rec.bundle(ctx).join("config.json");
    super::write_json_file(&cfg_path, &spec)?;
    crate::sys::fault::crash_point("start:bundle-written");
    let cfg = shim_config(ctx, &rec, mode);
    let r = shim_client::spawn(&ctx.shim, &rec.shim_dir(ctx), &cfg).map_err(|e| start_error(&e));
    crate::timing::mark("start: shim spawned");
    r
}

/// `pid`/`ipc` `container:NAME`: the spec's namespace joins that running
/// container's (by /proc/PID/ns path, read now: the other container must run).
/// /dev/shm stays the container's own: docker shares it through a tmpfs it
/// keeps on the host, which berth does not make (a bind of the other
/// container's, from its mount namespace, is refused by the kernel).
fn join_namespaces(
    ctx: &Context,
    rec: &ContainerRecord,
    spec: &mut oci_spec::runtime::Spec,
) -> Result<(), LifecycleError> {
    use oci_spec::runtime::LinuxNamespaceType as T;
    let hc = &rec.host_config;
    let wanted = [(T::Pid, "pid", &hc.pid_mode), (T::Ipc, "ipc", &hc.ipc_mode)];
    if !wanted.iter().any(|(_, _, m)| m.starts_with("container:")) {
        return Ok(());
    }
    let store = super::ContainerStore::open(ctx)?;
    for (typ, key, mode) in wanted {
        let Some(other) = mode.strip_prefix("container:") else {
            continue;
        };
        let o = store.resolve(other)?;
        let st = super::state(ctx, &o);
        if o.id == rec.id || !st.running || st.pid <= 0 {
            return Err(LifecycleError::Invalid(format!(
                "cannot join the {key} namespace of {other:?}: it is not a running container"
            )));
        }
        let path = PathBuf::from(format!("/proc/{}/ns/{key}", st.pid));
        if let Some(linux) = spec.linux_mut() {
            let mut nss = linux.namespaces().clone().unwrap_or_default();
            nss.retain(|n| n.typ() != typ);
            let mut ns = oci_spec::runtime::LinuxNamespace::default();
            ns.set_typ(typ).set_path(Some(path));
            nss.push(ns);
            linux.set_namespaces(Some(nss));
        }
    }
    Ok(())
}

/// Where the shim writes the container's output, from `--log-driver` and
/// `--log-opt`: json-file and local rotate at `max-size` keeping `max-file`
/// files (local: docker's defaults 20m x 5); none writes nowhere.
fn log_section(ctx: &Context, rec: &ContainerRecord) -> LogSection {
    let lc = &rec.host_config.log_config;
    let opt = |k: &str| lc.config.get(k).map(String::as_str);
    let local = lc.r#type == "local";
    let max_size = opt("max-size")
        .and_then(|s| crate::container::options::parse_size(s).ok())
        .unwrap_or(if local { 20 << 20 } else { 0 });
    let max_files = opt("max-file")
        .and_then(|s| s.parse().ok())
        .unwrap_or(if local { 5 } else { 1 });
    LogSection {
        path: if lc.r#type == "none" {
            "/dev/null".into()
        } else {
            rec.log_path(ctx)
        },
        max_size,
        max_files,
    }
}

/// shim.json for this container.
fn shim_config(ctx: &Context, rec: &ContainerRecord, mode: StartMode) -> ShimConfig {
    let healthcheck = rec
        .config
        .healthcheck
        .as_ref()
        .filter(|h| !h.test.is_empty() && h.test[0] != "NONE")
        .map(|h| HealthSection {
            test: h.test.clone(),
            interval_ns: h.interval.max(0) as u64,
            timeout_ns: h.timeout.max(0) as u64,
            retries: h.retries.max(0) as u32,
            start_period_ns: h.start_period.max(0) as u64,
            start_interval_ns: h.start_interval.max(0) as u64,
        });
    let rp: RestartPolicy = rec.host_config.restart_policy;
    ShimConfig {
        id: rec.id.clone(),
        bundle: rec.bundle(ctx),
        runtime: abs(&ctx.runtime),
        runtime_root: ctx.runtime_root(),
        terminal: rec.config.tty,
        stdin: rec.config.open_stdin,
        log: log_section(ctx, rec),
        restart: RestartSection {
            policy: rp.name().into(),
            max_retries: rp.max_retries(),
        },
        healthcheck,
        // `berth internal exited <id>`: reaches `on_exit` with the shim's pid
        // (the hook's parent), so a late hook of an older shim does nothing.
        exit_hook: Some(vec![
            abs(&ctx.self_exe()).to_string_lossy().into_owned(),
            "--root".into(),
            ctx.root.to_string_lossy().into_owned(),
            "--state".into(),
            ctx.state.to_string_lossy().into_owned(),
            "internal".into(),
            "exited".into(),
            rec.id.clone(),
        ]),
        start: mode == StartMode::Now,
        // published ports on [::1], which only a userland relay can answer
        relays: crate::network::relay::relays(ctx, rec),
    }
}

/// A binary path as given, made absolute through PATH when bare (the shim runs
/// with / as its working directory).
fn abs(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    if p.components().count() == 1 {
        if let Some(path) = std::env::var_os("PATH") {
            for d in std::env::split_paths(&path) {
                let c = d.join(p);
                if c.is_file() {
                    return c;
                }
            }
        }
    }
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
