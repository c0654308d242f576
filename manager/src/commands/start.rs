//! `berth start`: mount the rootfs, write config.json and start a shim (which
//! creates and starts the container and reports synchronously). Also the shared
//! start/exit handling used by run, restart and the shim's exit hook.

use super::create::load_image;
use crate::container::{self, ContainerRecord, ContainerStore};
use crate::context::Context;
use crate::image::Image;
use crate::shim_client::{
    self, Attach, AttachEnd, HealthSection, LogSection, RestartSection, ShimConfig,
};
use crate::snapshot::{SnapshotError, SnapshotStore};
use crate::spec;
use crate::volume::VolumeStore;
use anyhow::{bail, Context as _};
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// A start that failed in the runtime: docker's exit code for it (126, 127 or 125).
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct StartFailed {
    pub code: i32,
    pub msg: String,
}

fn start_failed(msg: String) -> StartFailed {
    StartFailed {
        code: shim_client::exec_error_code(&msg).unwrap_or(125),
        msg,
    }
}

pub fn is_mounted(p: &Path) -> bool {
    crate::volume::is_mountpoint(p)
}

/// Mount the container's root filesystem (idempotent).
fn mount_rootfs(ctx: &Context, rec: &ContainerRecord, image: &Image) -> anyhow::Result<()> {
    let rootfs = rec.rootfs(ctx);
    if is_mounted(&rootfs) {
        return Ok(());
    }
    let snaps = SnapshotStore::open(&ctx.root)?;
    let dir = rec.dir(ctx);
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    if rec.host_config.auto_remove {
        // A `--rm` container's layer is thrown away at its exit: mount it
        // `volatile` (no syncs of the upper layer), which makes the unmount at
        // exit ~0.1 ms instead of a journal commit (tens of ms, at times 100+).
        // A crash leaves `work/work/incompat/volatile`, which would refuse the
        // next mount: such a layer is dropped with the container anyway.
        let lowers = match snaps.lowerdirs(image) {
            Err(SnapshotError::NotUnpacked { .. }) => {
                let content = crate::store::ContentStore::open(&ctx.root)?;
                snaps.unpack(&content, image)?;
                snaps.lowerdirs(image)?
            }
            r => r?,
        };
        let _ = std::fs::remove_dir_all(work.join("work/incompat"));
        return mount_overlay(&ctx.root, &lowers, &upper, &work, &rootfs, true);
    }
    match snaps.mount_rootfs(image, &upper, &work, &rootfs) {
        Err(SnapshotError::NotUnpacked { .. }) => {
            let content = crate::store::ContentStore::open(&ctx.root)?;
            snaps.unpack(&content, image)?;
            snaps.mount_rootfs(image, &upper, &work, &rootfs)?;
        }
        r => r?,
    }
    Ok(())
}

/// overlayfs splits its options at ',' and lowerdir at ':'; both are escaped
/// with a backslash.
fn escape_overlay_path(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_string_lossy().chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The overlay mount `SnapshotStore::mount_rootfs` makes, with `volatile` as an
/// option.
fn mount_overlay(
    root: &Path,
    lowers: &[std::path::PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    volatile: bool,
) -> anyhow::Result<()> {
    for d in [upper, work, target] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut lower: Vec<String> = lowers.iter().map(|p| escape_overlay_path(p)).collect();
    if lower.is_empty() {
        let empty = root.join("snapshots/empty");
        std::fs::create_dir_all(&empty).with_context(|| format!("creating {}", empty.display()))?;
        lower.push(escape_overlay_path(&empty));
    }
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        escape_overlay_path(upper),
        escape_overlay_path(work)
    );
    if volatile {
        data.push_str(",volatile");
    }
    if data.len() >= 4096 {
        bail!(
            "mounting {}: overlay options are {} bytes, over the kernel's page-size limit",
            target.display(),
            data.len()
        );
    }
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
    .with_context(|| format!("mounting the overlay at {}", target.display()))
}

/// Unmount the rootfs, then the volumes the volume store mounted for this
/// container that no other container needs any more.
pub fn unmount_rootfs(ctx: &Context, rec: &ContainerRecord) -> anyhow::Result<()> {
    SnapshotStore::unmount_rootfs(&rec.rootfs(ctx))?;
    release_volumes(ctx, rec)
}

/// Unmount this container's local-driver volumes (tmpfs, bind, filesystem
/// options) that no other container uses now. "Uses" means its rootfs is
/// mounted: that covers running containers and ones being started, since
/// `start` mounts the rootfs before the volumes. Both sides hold the volume
/// store's lock around the check and the mount, so a volume is never
/// unmounted under a container that has just mounted it.
pub fn release_volumes(ctx: &Context, rec: &ContainerRecord) -> anyhow::Result<()> {
    let names: Vec<&str> = rec
        .mounts
        .iter()
        .filter(|m| m.r#type == "volume" && !m.name.is_empty())
        .map(|m| m.name.as_str())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let vs = VolumeStore::open(ctx)?;
    let mut mounted = Vec::new();
    for n in names {
        if let Some(v) = vs.get(n)? {
            if v.is_driver_mounted() && is_mounted(&v.mountpoint) {
                mounted.push(v);
            }
        }
    }
    if mounted.is_empty() {
        return Ok(());
    }
    let _lock = vs.lock()?;
    let store = ContainerStore::open(ctx)?;
    for v in mounted {
        let busy = crate::volume::users(ctx, &v.name)
            .iter()
            .filter(|id| **id != rec.id)
            .any(|id| store.load(id).is_ok_and(|o| is_mounted(&o.rootfs(ctx))));
        if !busy {
            vs.unmount(&v)?;
        }
    }
    Ok(())
}

/// Whether the runtime still has state for this container.
pub fn runtime_has(ctx: &Context, id: &str) -> bool {
    ctx.runtime_root().join(id).exists()
}

/// Start a created or exited container: rootfs, volumes, spec, shim. With
/// `start_now` false the shim only creates it (the caller attaches, then sends
/// `start`). The caller holds the container's lock.
pub fn start_container(
    ctx: &Context,
    rec: &ContainerRecord,
    image: Option<Image>,
    start_now: bool,
) -> anyhow::Result<shim_client::Started> {
    let st = container::state(ctx, rec)?;
    if st.running {
        bail!("container {} is already running", rec.name);
    }
    let shim_dir = rec.shim_dir(ctx);
    if shim_dir.exists() {
        if st.shim_alive && st.shim_pid > 0 {
            // a finishing shim (running its exit hook): it has nothing left to do
            unsafe { libc::kill(st.shim_pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&shim_dir);
    }
    if runtime_has(ctx, &rec.id) {
        let _ = super::stop::runtime(ctx, &["delete", "--force", &rec.id]);
    }
    std::fs::create_dir_all(&shim_dir)
        .with_context(|| format!("creating {}", shim_dir.display()))?;
    let image = match image {
        Some(i) => i,
        None => load_image(ctx, &rec.image)?.0,
    };
    mount_rootfs(ctx, rec, &image)?;
    let res = launch(ctx, rec, start_now);
    if let Err(e) = &res {
        let _ = crate::network::release(ctx, &rec.id);
        let _ = unmount_rootfs(ctx, rec);
        // docker leaves a container whose start failed as Created, with the error
        let code = e
            .downcast_ref::<StartFailed>()
            .map(|s| s.code)
            .unwrap_or(125);
        let st =
            serde_json::json!({"status": "created", "exit_code": code, "error": format!("{e:#}")});
        let _ = container::store::write_json(&shim_dir.join("status.json"), &st);
    }
    res
}

fn launch(
    ctx: &Context,
    rec: &ContainerRecord,
    start_now: bool,
) -> anyhow::Result<shim_client::Started> {
    let rootfs = rec.rootfs(ctx);
    // Volumes: make each available (the local driver may mount it) and seed an
    // unused one from the image's content at its destination.
    let mut rec = rec.clone();
    if rec.mounts.iter().any(|m| m.r#type == "volume") {
        let vs = VolumeStore::open(ctx)?;
        for m in rec.mounts.iter_mut().filter(|m| m.r#type == "volume") {
            let vol = vs.require(&m.name)?;
            // under the store's lock: see `release_volumes`
            let src = {
                let _lock = vs.lock()?;
                vs.mount(&vol)?
            };
            if !vol.seeded {
                vs.seed_from(&vol, &rootfs, &m.destination)?;
            }
            m.source = src.to_string_lossy().into_owned();
        }
    }
    let init = if rec.host_config.init == Some(true) {
        Some(spec::find_init()?)
    } else {
        None
    };
    let dir = rec.dir(ctx);
    let spec = spec::generate(&spec::Inputs {
        rec: &rec,
        rootfs: &rootfs,
        etc_dir: &dir,
        seccomp_profile: rec.seccomp_profile.as_deref(),
        init: init.as_deref(),
    })?;
    let mut spec = spec;
    // Networking: the pinned namespace, endpoints, port rules and /etc files
    // (released in `handle_exited`, `rm`, or below when the start fails).
    let prepared = crate::network::prepare(ctx, &rec, &dir)?;
    crate::network::apply_to_spec(&prepared, &mut spec);
    let cfg_path = rec.bundle(ctx).join("config.json");
    std::fs::write(&cfg_path, serde_json::to_vec(&spec)?)
        .with_context(|| format!("writing {}", cfg_path.display()))?;
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
    let rp = &rec.host_config.restart_policy;
    let cfg = ShimConfig {
        id: rec.id.clone(),
        bundle: rec.bundle(ctx),
        runtime: abs(&ctx.runtime),
        runtime_root: ctx.runtime_root(),
        terminal: rec.config.tty,
        stdin: rec.config.open_stdin,
        log: LogSection {
            path: rec.log_path(ctx),
            max_size: 0,
            max_files: 1,
        },
        restart: RestartSection {
            policy: if rp.name.is_empty() {
                "no".into()
            } else {
                rp.name.clone()
            },
            max_retries: rp.maximum_retry_count.max(0) as u32,
        },
        healthcheck,
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
        start: start_now,
    };
    shim_client::spawn(&ctx.shim, &rec.shim_dir(ctx), &cfg)
        .map_err(|e| start_failed(e.to_string()).into())
}

/// A binary path as given, made absolute through PATH when bare (the shim runs
/// with / as its working directory).
fn abs(p: &Path) -> std::path::PathBuf {
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

/// Send `start` to a shim that created the container with `start: false`.
pub fn shim_start(ctx: &Context, rec: &ContainerRecord) -> anyhow::Result<()> {
    match shim_client::request(&rec.shim_dir(ctx), &shim_client::Request::Start) {
        Ok(_) => Ok(()),
        Err(e) => {
            let f = start_failed(e.to_string());
            let _ = shim_client::request(&rec.shim_dir(ctx), &shim_client::Request::Shutdown);
            let _ = crate::network::release(ctx, &rec.id);
            let _ = unmount_rootfs(ctx, rec);
            let st = serde_json::json!({"status": "created", "exit_code": f.code, "error": f.msg});
            let _ = container::store::write_json(&rec.shim_dir(ctx).join("status.json"), &st);
            Err(f.into())
        }
    }
}

/// After the container exited and will not restart: unmount its rootfs, keep its
/// last status in the record directory, and remove it when it was `--rm`.
/// Idempotent; `shim_pid` (from the exit hook) ignores a stale hook of an older
/// run.
pub fn handle_exited(ctx: &Context, id: &str, shim_pid: Option<i32>) -> anyhow::Result<()> {
    let store = ContainerStore::open(ctx)?;
    let _lock = store.lock(id)?;
    let rec = match store.load(id) {
        Ok(r) => r,
        Err(container::ContainerError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let live = container::read_shim_status(ctx, &rec);
    if let (Some(pid), Some(s)) = (shim_pid, &live) {
        if s.shim_pid != 0 && s.shim_pid != pid {
            return Ok(());
        }
    }
    let st = container::state(ctx, &rec)?;
    if st.running {
        return Ok(());
    }
    // a failed network release must not keep the rootfs mounted; the next
    // berth command's repair retries it
    if let Err(e) = crate::network::release(ctx, &rec.id) {
        eprintln!("berth: releasing the network of {}: {e}", rec.id);
    }
    unmount_rootfs(ctx, &rec)?;
    if let Some(s) = live {
        let _ = container::store::write_json(&rec.dir(ctx).join("last-status.json"), &s);
    }
    if rec.host_config.auto_remove {
        super::rm::remove_container(ctx, &store, &rec, true)?;
    }
    Ok(())
}

/// Attach to a created container, start it and stream until it exits. Returns
/// the exit code, or None when detached.
pub fn attach_and_start(
    ctx: &Context,
    rec: &ContainerRecord,
    stdin: bool,
    detach_keys: Option<&str>,
) -> anyhow::Result<Option<i32>> {
    let att = Attach::connect(&rec.shim_dir(ctx).join("attach.sock"), stdin, detach_keys)?;
    shim_start(ctx, rec)?;
    match att.pump(stdin, rec.config.tty)? {
        AttachEnd::Exited(code) => Ok(Some(code)),
        AttachEnd::Detached => Ok(None),
    }
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let store = ContainerStore::open(ctx)?;
    if args.attach && args.containers.len() > 1 {
        bail!("you cannot start and attach multiple containers at once");
    }
    let mut failed = false;
    for c in &args.containers {
        let rec = match store.resolve(c) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
                continue;
            }
        };
        let lock = store.lock(&rec.id)?;
        let st = container::state(ctx, &rec)?;
        if st.running {
            drop(lock);
            if !args.attach {
                println!("{c}");
            }
            continue;
        }
        if args.attach {
            let started = start_container(ctx, &rec, None, false);
            drop(lock);
            started?;
            let code = attach_and_start(ctx, &rec, args.interactive, args.detach_keys.as_deref())?;
            return match code {
                Some(code) => {
                    handle_exited(ctx, &rec.id, None)?;
                    Ok(code)
                }
                None => Ok(0),
            };
        }
        match start_container(ctx, &rec, None, true) {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
