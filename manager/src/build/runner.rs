//! RUN steps: the one place where a build runs a command in a container.
//!
//! `StepRunner` is the seam: the executor mounts the step's root filesystem (an
//! overlay of the current layers with the step's own upper directory) and asks
//! the runner to run the command on it; the upper directory then becomes the
//! next layer. `RuntimeRunner` generates the OCI spec with the manager's spec
//! generator and runs `berth-runtime run` in the foreground (a short-lived
//! container: no shim, no record), streaming its output. When the container
//! lifecycle library lands, a runner on top of it replaces this one here.

use super::context::TmpDir;
use super::BuildError;
use crate::container::{ContainerRecord, MountPoint};
use crate::context::Context;
use crate::image::Image;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// RUN's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    None,
    Host,
}

/// `--network` values berth can honour (until berth has networks: none and host).
pub fn check_network(n: &str) -> Result<Network, BuildError> {
    match n {
        "none" | "default" | "" => Ok(Network::None),
        "host" => Ok(Network::Host),
        other => Err(BuildError::Unsupported(format!(
            "network {other:?} for RUN (berth build supports none, default (= none) and host)"
        ))),
    }
}

/// What a RUN step runs, and how.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub network: Network,
    /// Extra mounts (`RUN --mount`): binds and tmpfs.
    pub mounts: Vec<MountPoint>,
    /// `--add-host NAME:IP`.
    pub add_hosts: Vec<(String, String)>,
    /// `--ulimit`: (RLIMIT_NAME, soft, hard).
    pub ulimits: Vec<(String, u64, u64)>,
    pub shm_size: Option<i64>,
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

    /// Whether the lifecycle's CreateOptions can express `opts`' RUN settings
    /// (it has no extra hosts, ulimits or shm size yet).
    pub fn supports(opts: &super::BuildOptions) -> bool {
        opts.add_hosts.is_empty() && opts.ulimits.is_empty() && opts.shm_size.is_none()
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
        opts.host_config.network_mode = match spec.network {
            Network::Host => c::NetworkMode::Host,
            Network::None => c::NetworkMode::None,
        };
        for m in &spec.mounts {
            opts.host_config.mounts.push(c::MountSpec {
                r#type: m.r#type,
                source: m.source.clone(),
                target: m.destination.clone(),
                read_only: !m.rw,
                tmpfs_options: None,
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

pub struct RuntimeRunner<'a> {
    ctx: &'a Context,
}

impl<'a> RuntimeRunner<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        RuntimeRunner { ctx }
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

/// Remove a RUN step's runtime container (after a killed build).
pub fn delete_container(ctx: &Context, id: &str) {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return;
    }
    let _ = Command::new(&ctx.runtime)
        .arg("--root")
        .arg(ctx.runtime_root())
        .args(["delete", "--force", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
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

impl StepRunner for RuntimeRunner<'_> {
    fn run(
        &self,
        image: &Image,
        spec: &RunSpec,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<RunOutcome, BuildError> {
        let tmp = TmpDir::new(self.ctx, "run")?;
        let dir = tmp.path.clone();
        let snaps = crate::snapshot::SnapshotStore::open(&self.ctx.root)?;
        {
            let content = crate::store::ContentStore::open(&self.ctx.root)?;
            let _l = crate::store::StoreLock::shared(&self.ctx.root)?;
            snaps.unpack(&content, image)?;
        }
        let (upper, work, rootfs) = (dir.join("upper"), dir.join("work"), dir.join("rootfs"));
        // Volatile: the upper directory is read once, right after the run.
        snaps.mount_rootfs(image, &upper, &work, &rootfs, true)?;
        let res = self.run_mounted(&dir, spec, out);
        crate::snapshot::SnapshotStore::unmount_rootfs(&rootfs)?;
        Ok(RunOutcome {
            code: res?,
            upper,
            _keep: Box::new(tmp),
        })
    }
}

impl RuntimeRunner<'_> {
    fn run_mounted(
        &self,
        dir: &Path,
        spec: &RunSpec,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<i32, BuildError> {
        let id = step_id();
        let mut rec = ContainerRecord {
            id: id.clone(),
            name: id.clone(),
            path: spec.args.first().cloned().unwrap_or_default(),
            args: spec.args.iter().skip(1).cloned().collect(),
            mounts: spec.mounts.clone(),
            ..Default::default()
        };
        rec.config.hostname = "buildkitsandbox".into();
        rec.config.env = spec.env.clone();
        rec.config.user = spec.user.clone();
        rec.config.working_dir = spec.workdir.clone();
        rec.host_config.network_mode = match spec.network {
            Network::Host => crate::container::NetworkMode::Host,
            Network::None => crate::container::NetworkMode::None,
        };
        let rootfs = dir.join("rootfs");
        let spec_typed = crate::spec::generate(&crate::spec::Inputs {
            rec: &rec,
            rootfs: &rootfs,
            etc_dir: dir,
            seccomp_profile: None,
            init: None,
        })?;
        // The few settings CreateOptions has no field for are made on the JSON form.
        let mut v = serde_json::to_value(&spec_typed)
            .map_err(|e| BuildError::Invalid(format!("the generated spec: {e}")))?;
        if !spec.add_hosts.is_empty() {
            let hosts = dir.join("hosts");
            let mut text = std::fs::read_to_string(&hosts).unwrap_or_default();
            for (name, ip) in &spec.add_hosts {
                text.push_str(&format!("{ip}\t{name}\n"));
            }
            std::fs::write(&hosts, text).map_err(BuildError::io("write", &hosts))?;
        }
        if !spec.ulimits.is_empty() {
            let mut rl: Vec<serde_json::Value> = v["process"]["rlimits"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for (ty, soft, hard) in &spec.ulimits {
                rl.retain(|r| r["type"] != ty.as_str());
                rl.push(serde_json::json!({"type": ty, "soft": soft, "hard": hard}));
            }
            v["process"]["rlimits"] = serde_json::json!(rl);
        }
        if let Some(size) = spec.shm_size {
            if let Some(ms) = v["mounts"].as_array_mut() {
                for m in ms.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
                    m["options"] = serde_json::json!([
                        "nosuid",
                        "noexec",
                        "nodev",
                        "mode=1777",
                        format!("size={size}")
                    ]);
                }
            }
        }
        let cfg = dir.join("config.json");
        std::fs::write(&cfg, serde_json::to_vec(&v).expect("serializable"))
            .map_err(BuildError::io("write", &cfg))?;
        // For the cleanup of a killed build.
        let idf = dir.join("container-id");
        std::fs::write(&idf, &id).map_err(BuildError::io("write", &idf))?;
        let (mut reader, writer) = std::io::pipe().map_err(BuildError::io("pipe", dir))?;
        let writer2 = writer.try_clone().map_err(BuildError::io("pipe", dir))?;
        let mut cmd = Command::new(&self.ctx.runtime);
        cmd.arg("--root")
            .arg(self.ctx.runtime_root())
            .arg("run")
            .arg("--bundle")
            .arg(dir)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(writer2);
        let mut child = cmd
            .spawn()
            .map_err(BuildError::io("run", &self.ctx.runtime))?;
        // The writers live in the child only now: EOF comes when it exits.
        drop(cmd);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let status = child
            .wait()
            .map_err(BuildError::io("wait", &self.ctx.runtime))?;
        // `run` removes its container; make sure after a runtime error too.
        delete_container(self.ctx, &id);
        use std::os::unix::process::ExitStatusExt;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }
}
