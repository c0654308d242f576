//! RUN steps: the one place where a build runs a command in a container.
//!
//! `StepRunner` is the seam: the executor hands the runner the step's build
//! state and command; the runner runs it in a container of that state and
//! returns the container's upper directory, which becomes the next layer.
//! `LifecycleRunner`, the one runner, goes through the container lifecycle
//! library, so a RUN step gets what `berth run` gets: networking (the default
//! bridge, a user network, none or host), extra hosts, ulimits, /dev/shm's size.

use super::BuildError;
use crate::container::{MountPoint, NetworkMode, Ulimit};
use crate::context::Context;
use crate::image::Image;
use std::io::Read;
use std::path::PathBuf;

/// `--network` (or `RUN --network`) as a container network mode: docker's
/// values for RUN: `default` (or nothing: the default bridge), `bridge`, `none`,
/// `host`, or a user network's name. `container:NAME` has no meaning in a build.
pub fn check_network(n: &str) -> Result<NetworkMode, BuildError> {
    let mode = NetworkMode::from(n.to_string());
    if let NetworkMode::Container(_) = mode {
        return Err(BuildError::Unsupported(format!(
            "network {n:?} for RUN (berth build supports default, bridge, none, host and user networks)"
        )));
    }
    Ok(mode)
}

/// A named network exists (checked before the first step, for a clear error).
pub fn check_network_exists(ctx: &Context, mode: &NetworkMode) -> Result<(), BuildError> {
    let hc = crate::container::HostConfig {
        network_mode: mode.clone(),
        ..Default::default()
    };
    crate::network::request::check(ctx, &hc, &Default::default())
        .map_err(|e| BuildError::Invalid(format!("--network for RUN: {e}")))
}

/// What a RUN step runs, and how.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub network: NetworkMode,
    /// Extra mounts (`RUN --mount`): binds and tmpfs.
    pub mounts: Vec<MountPoint>,
    /// `--add-host NAME:IP` (IP may be `host-gateway`).
    pub extra_hosts: Vec<String>,
    /// `--ulimit`.
    pub ulimits: Vec<Ulimit>,
    /// `--shm-size` in bytes (0: the default).
    pub shm_size: i64,
}

/// What a RUN step left: its exit code and its changes (an overlay upper
/// directory, valid while the outcome lives; dropping it releases the container).
pub struct RunOutcome {
    pub code: i32,
    pub upper: PathBuf,
    _keep: Box<dyn Send>,
}

pub trait StepRunner: Sync {
    /// Run `spec` in a container of the build state `image` (stored in the
    /// content store). Output goes to `out`.
    fn run(
        &self,
        image: &Image,
        spec: &RunSpec,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<RunOutcome, BuildError>;
}

/// RUN through the container lifecycle library: `create` from the state's
/// image id, `start`, `wait`, `on_exit`; the container's upper directory is the
/// step's layer; the container (and its anonymous volumes) is removed when the
/// outcome is dropped. The build state gets a dangling image record while its
/// container exists (the lifecycle resolves images by record).
pub struct LifecycleRunner<'a> {
    ctx: &'a Context,
}

impl<'a> LifecycleRunner<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        LifecycleRunner { ctx }
    }
}

/// Removes a RUN step's container (and the state's temporary record).
struct LifecycleGuard {
    ctx: Context,
    id: Option<String>,
    record: Option<crate::store::ImageRecord>,
}

impl Drop for LifecycleGuard {
    fn drop(&mut self) {
        use crate::container as c;
        if let Some(id) = &self.id {
            if let Ok(store) = c::ContainerStore::open(&self.ctx) {
                if let Ok(l) = c::lock(&store, id) {
                    let _ = c::remove(
                        &self.ctx,
                        l,
                        c::RemoveOptions {
                            force: true,
                            volumes: true,
                        },
                    );
                }
            }
        }
        if let Some(r) = &self.record {
            if let Ok(images) = crate::store::ImageStore::open(&self.ctx.root) {
                let _ = images.update(|all| {
                    all.retain(|i| i.name != r.name);
                    Ok(())
                });
            }
        }
    }
}

fn lc(e: crate::container::LifecycleError) -> BuildError {
    BuildError::Invalid(format!("RUN container: {e}"))
}

impl StepRunner for LifecycleRunner<'_> {
    fn run(
        &self,
        image: &Image,
        spec: &RunSpec,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<RunOutcome, BuildError> {
        use crate::container as c;
        let images = crate::store::ImageStore::open(&self.ctx.root)?;
        let mut guard = LifecycleGuard {
            ctx: self.ctx.clone(),
            id: None,
            record: None,
        };
        if images.by_id(&image.record.config)?.is_empty() {
            let r = crate::store::ImageRecord {
                name: crate::store::images::dangling_name(&image.record.config),
                ..image.record.clone()
            };
            images.put(r.clone())?;
            guard.record = Some(r);
        }
        let mut opts = c::CreateOptions::new(c::ImageSource::Id(image.record.config.to_string()));
        // Named after this build's pid: what a killed build leaves is found by it.
        opts.name = Some(step_id());
        opts.config.cmd = Some(spec.args.clone());
        opts.config.entrypoint = Some(Vec::new());
        opts.config.env = spec.env.clone();
        opts.config.user = spec.user.clone();
        opts.config.working_dir = spec.workdir.clone();
        opts.config.hostname = "buildkitsandbox".into();
        opts.config.healthcheck = Some(c::HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        });
        opts.host_config.network_mode = spec.network.clone();
        opts.host_config.extra_hosts = spec.extra_hosts.clone();
        opts.host_config.ulimits = spec.ulimits.clone();
        opts.host_config.shm_size = spec.shm_size;
        for m in &spec.mounts {
            opts.host_config.mounts.push(c::MountSpec {
                r#type: m.r#type,
                source: m.source.clone(),
                target: m.destination.clone(),
                read_only: !m.rw,
                tmpfs_options: None,
                volume_options: None,
            });
        }
        let (rec, img) = c::create(self.ctx, opts).map_err(lc)?;
        guard.id = Some(rec.id.clone());
        let store =
            c::ContainerStore::open(self.ctx).map_err(|e| BuildError::Invalid(e.to_string()))?;
        let l = c::lock(&store, &rec.id).map_err(lc)?;
        let mut log = LogTail::new(rec.log_path(self.ctx));
        let code = match c::start_with_image(self.ctx, &l, c::StartMode::Now, Some(img)) {
            Ok(_) => {
                let shim_pid = c::state(self.ctx, &l).shim_pid;
                drop(l);
                // Wait in a thread; stream the container's log meanwhile.
                let (tx, rx) = std::sync::mpsc::channel();
                let res = std::thread::scope(|sc| {
                    let id = rec.id.clone();
                    let ctx = self.ctx;
                    sc.spawn(move || {
                        let _ = tx.send(c::wait(ctx, &id, c::WaitCondition::NotRunning));
                    });
                    loop {
                        let r = rx.recv_timeout(std::time::Duration::from_millis(50));
                        log.pump(out);
                        match r {
                            Ok(r) => break r,
                            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                                break Err(c::LifecycleError::Invalid(
                                    "the RUN step's wait ended without a result".into(),
                                ))
                            }
                        }
                    }
                });
                let code = res.map_err(lc)?;
                c::on_exit(self.ctx, &rec.id, Some(shim_pid)).map_err(lc)?;
                code
            }
            Err(c::LifecycleError::StartFailed { code, msg }) => {
                out(format!("{msg}\n").as_bytes());
                code
            }
            Err(e) => return Err(lc(e)),
        };
        log.pump(out);
        Ok(RunOutcome {
            code,
            upper: rec.dir(self.ctx).join("upper"),
            _keep: Box::new(guard),
        })
    }
}

/// Follows a container's json-file log: each complete line's `log` text.
struct LogTail {
    path: PathBuf,
    pos: u64,
    partial: Vec<u8>,
}

impl LogTail {
    fn new(path: PathBuf) -> LogTail {
        LogTail {
            path,
            pos: 0,
            partial: Vec::new(),
        }
    }

    fn pump(&mut self, out: &mut dyn FnMut(&[u8])) {
        use std::io::{Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return;
        };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return;
        }
        self.pos += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        while let Some(n) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=n).collect();
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) {
                if let Some(s) = v["log"].as_str() {
                    out(s.as_bytes());
                }
            }
        }
    }
}

/// Remove the RUN containers of builds that are gone (kill -9): named
/// `berth-build-<pid>-...` after a pid that no longer runs.
pub fn remove_stale_containers(ctx: &Context) {
    use crate::container as c;
    let Ok(store) = c::ContainerStore::open(ctx) else {
        return;
    };
    let Ok(list) = store.list() else {
        return;
    };
    for rec in list {
        let Some(pid) = rec
            .name
            .strip_prefix("berth-build-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() as i32 || crate::sys::process::pid_alive(pid) {
            continue;
        }
        if let Ok(l) = c::lock(&store, &rec.id) {
            let _ = c::remove(
                ctx,
                l,
                c::RemoveOptions {
                    force: true,
                    volumes: true,
                },
            );
        }
    }
}

fn step_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("berth-build-{}-{n}-{nanos:08x}", std::process::id())
}
