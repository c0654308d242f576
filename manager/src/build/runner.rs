//! RUN steps: the one place where a build runs a command in a container.
//!
//! `StepRunner` is the seam: the executor mounts the step's root filesystem (an
//! overlay of the current layers with the step's own upper directory) and asks
//! the runner to run the command on it; the upper directory then becomes the
//! next layer. `RuntimeRunner` generates the OCI spec with the manager's spec
//! generator and runs `berth-runtime run` in the foreground (a short-lived
//! container: no shim, no record), streaming its output. When the container
//! lifecycle library lands, a runner on top of it replaces this one here.

use super::BuildError;
use crate::container::{ContainerRecord, MountPoint};
use crate::context::Context;
use std::io::Read;
use std::path::Path;
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

pub trait StepRunner: Sync {
    /// Run `spec` on the root filesystem mounted at `dir/rootfs`; `dir` is the
    /// step's own directory (the bundle). Output goes to `out` as it comes.
    /// Returns the command's exit code.
    fn run(
        &self,
        dir: &Path,
        spec: &RunSpec,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<i32, BuildError>;
}

pub struct RuntimeRunner<'a> {
    ctx: &'a Context,
}

impl<'a> RuntimeRunner<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        RuntimeRunner { ctx }
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
