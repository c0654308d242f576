//! A private dockerd for the docker end-to-end tests, with berth-runtime registered as
//! runtime `berth` (`--add-runtime berth=<path>`).
//!
//! The daemon gets its own `--data-root`, `--exec-root`, unix socket, pid file and
//! daemon.json under `/tmp/berth-docker-<pid>-<n>`, no bridge and no iptables rules
//! (containers run with `--network none`), and its own top-level cgroup parent; dockerd
//! starts its own containerd under the exec root. The environment's watchdog (see
//! engine_kit.rs) started dockerd and stops it again: it removes every container, stops
//! dockerd with SIGTERM, and then kills, unmounts and removes whatever is still left.
//!
//! Included with `#[path = "../src/docker.rs"] mod docker;` next to engine_kit.

#![allow(dead_code)]

use crate::engine_kit::{self, sh_quote, Engine, Env, Out, CLI_TIMEOUT};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The name berth-runtime is registered under.
pub const RUNTIME_NAME: &str = "berth";

const DOCKER_SH: &str = r#"
docker_cli() { DOCKER_CONFIG="$DIR/cli" timeout 60 "$DOCKER_CLI" -H "unix://$DIR/docker.sock" "$@"; }
on_kill() { # a shim we had to kill leaves its socket in /run/containerd/s
  c=$(cmdline "$1")
  id=$(echo "$c" | sed -n 's/.* -id \([^ ]*\).*/\1/p')
  ns=$(echo "$c" | sed -n 's/.* -namespace \([^ ]*\).*/\1/p')
  if [ -n "$id" ] && [ -n "$ns" ]; then
    h=$(printf '%s' "$DIR/exec/containerd/containerd.sock/$ns/$id" | sha256sum | cut -d' ' -f1)
    rm -f "/run/containerd/s/$h"
  fi
}
engine_stop() {
  dpid=$(cat "$DIR/docker.pid" 2>/dev/null)
  if [ -n "$dpid" ] && is_ours "$dpid"; then
    ids=$(docker_cli ps -aq 2>/dev/null)
    if [ -n "$ids" ]; then
      out=$(docker_cli rm -f -v $ids 2>&1) || note "docker rm -f failed: $out"
    fi
    kill -TERM "$dpid"
    if ! wait_gone "$dpid" 60; then
      note "dockerd $dpid did not stop within 60 s of SIGTERM, killed"
      kill -KILL "$dpid"; wait_gone "$dpid" 10
    fi
  fi
  cpid=$(cat "$DIR/exec/containerd/containerd.pid" 2>/dev/null)
  if [ -n "$cpid" ] && is_ours "$cpid"; then
    note "containerd $cpid still running after dockerd stopped, killed"
    kill -TERM "$cpid"; wait_gone "$cpid" 10 || kill -KILL "$cpid"
  fi
  reap_matching "-address $DIR/exec/containerd/containerd.sock" 10
  if [ "$RUN_DOCKER_CREATED" = 1 ]; then rmdir /run/docker/plugins /run/docker 2>/dev/null; fi
}
"#;

pub struct Docker {
    pub env: Env,
    /// The runtime registered as `berth` (berth-runtime, or $BERTH_RUNTIME).
    pub runtime: PathBuf,
    pub cli: PathBuf,
    pub storage_driver: String,
}

fn find_tool(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().find_map(|c| engine_kit::which(c))
}

/// Major version of dockerd (`Docker version 20.10.24+dfsg1, build ...`).
fn dockerd_major(dockerd: &Path) -> u32 {
    let out = Command::new(dockerd)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.split_whitespace()
        .nth(2)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

impl Engine for Docker {
    const NAME: &'static str = "docker";
    const RM_FORCE: &'static [&'static str] = &["rm", "-f", "-v"];

    fn start() -> Docker {
        Docker::start_with(&[])
    }

    fn env(&self) -> &Env {
        &self.env
    }

    /// A docker CLI command for this daemon.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.cli);
        cmd.env("DOCKER_CONFIG", self.env.join("cli"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .arg("-H")
            .arg(format!("unix://{}", self.env.join("docker.sock").display()))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn run_with(&self, runtime: &str, args: &[&str]) -> Out {
        Docker::run_with(self, runtime, args)
    }

    fn default_runtime(&self) -> String {
        RUNTIME_NAME.into()
    }

    /// `docker create --runtime berth ARGS...`
    fn create(&self, args: &[&str]) -> Out {
        let mut a = vec!["create", "--runtime", RUNTIME_NAME];
        a.extend_from_slice(args);
        self.docker(&a)
    }

    fn runtime(&self) -> &Path {
        &self.runtime
    }

    fn runtime_root(&self) -> PathBuf {
        Docker::runtime_root(self)
    }

    fn runtime_root_arg(&self) -> Option<PathBuf> {
        Some(self.runtime_root())
    }

    fn state(&self, name: &str) -> String {
        self.inspect(name, "{{.State.Status}}")
    }
}

// `start`, `run`, `run_with` and `runtime_root` are also inherent so that the other test
// files using this daemon need not import `Engine`.
impl Docker {
    /// Start a private dockerd (and its containerd) and load the busybox image.
    pub fn start() -> Docker {
        Docker::start_with(&[])
    }

    /// [`Docker::start`] with dockerd flags (`--name=value`) replacing the defaults of
    /// the same name (compose_docker.rs: `--userland-proxy=true`, so that published
    /// ports answer on the host without iptables rules).
    pub fn start_with(overrides: &[&str]) -> Docker {
        let dockerd = find_tool(&["/usr/sbin/dockerd", "/usr/bin/dockerd", "dockerd"]);
        // Prefer the CLI of Debian's docker.io (same API version as its daemon).
        let cli = find_tool(&["/usr/bin/docker", "docker"]);
        let (Some(dockerd), Some(cli)) = (dockerd, cli) else {
            panic!("dockerd/docker not found: apt-get install docker.io (and containerd, runc)")
        };
        for tool in ["containerd", "containerd-shim-runc-v2"] {
            assert!(
                engine_kit::which(tool).is_some(),
                "{tool} not found: apt-get install containerd"
            );
        }
        let runtime = berth_tests::runtime_bin();
        let runtime = fs::canonicalize(&runtime).unwrap_or(runtime);
        let env = Env::new("docker");
        let dir = env.dir.clone();

        // daemon.json: nothing in /etc/docker (20.10 writes its trust key to
        // /etc/docker/key.json unless told otherwise; the key is gone in 23+).
        let mut conf = serde_json::Map::new();
        if dockerd_major(&dockerd) < 23 {
            conf.insert(
                "deprecated-key-path".into(),
                dir.join("key.json").to_string_lossy().into(),
            );
        }
        fs::write(
            dir.join("daemon.json"),
            serde_json::to_string_pretty(&conf).unwrap(),
        )
        .unwrap();
        fs::create_dir_all(dir.join("cli")).unwrap();

        let storage_driver = std::env::var("BERTH_DOCKER_STORAGE_DRIVER")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                let fs_list = fs::read_to_string("/proc/filesystems").unwrap_or_default();
                if fs_list.lines().any(|l| l.trim_end().ends_with("overlay")) {
                    "overlay2".into()
                } else {
                    "vfs".into()
                }
            });
        let d = |p: &str| dir.join(p).to_string_lossy().into_owned();
        let args: Vec<String> = vec![
            dockerd.to_string_lossy().into(),
            format!("--config-file={}", d("daemon.json")),
            format!("--data-root={}", d("data")),
            format!("--exec-root={}", d("exec")),
            format!("--host=unix://{}", d("docker.sock")),
            format!("--pidfile={}", d("docker.pid")),
            format!("--add-runtime={RUNTIME_NAME}={}", runtime.display()),
            format!("--storage-driver={storage_driver}"),
            format!("--cgroup-parent=/{}", env.cg),
            "--exec-opt=native.cgroupdriver=cgroupfs".into(),
            "--bridge=none".into(),
            "--iptables=false".into(),
            "--ip6tables=false".into(),
            "--ip-masq=false".into(),
            "--userland-proxy=false".into(),
        ];
        let flag = |a: &str| a.split('=').next().unwrap_or(a).to_string();
        let mut args: Vec<String> = args
            .into_iter()
            .filter(|a| !overrides.iter().any(|o| flag(o) == flag(a)))
            .collect();
        args.extend(overrides.iter().map(|o| o.to_string()));
        let quoted: Vec<String> = args.iter().map(|a| sh_quote(a)).collect();
        let engine_sh = format!(
            "{DOCKER_SH}\nengine_start() {{\n  ( exec {} </dev/null >>\"$DIR/dockerd.log\" 2>&1 ) &\n}}\n",
            quoted.join(" ")
        );
        let run_docker_created = !Path::new("/run/docker").exists();
        env.start_watchdog(
            &[
                ("DOCKER_CLI", cli.to_string_lossy().into()),
                (
                    "RUN_DOCKER_CREATED",
                    if run_docker_created { "1" } else { "0" }.into(),
                ),
            ],
            &engine_sh,
        );
        let docker = Docker {
            env,
            runtime,
            cli,
            storage_driver,
        };
        let up = engine_kit::wait_for(Duration::from_secs(60), || {
            if !docker.env.watchdog_alive() {
                return Some(false);
            }
            (docker.dir().join("docker.sock").exists()
                && docker
                    .docker_timeout(
                        &["version", "--format", "{{.Server.Version}}"],
                        Duration::from_secs(10),
                    )
                    .ok())
            .then_some(true)
        });
        assert!(
            up == Some(true),
            "dockerd did not come up within 60 s\n--- dockerd.log (tail) ---\n{}\n--- watchdog ---\n{}",
            docker.daemon_log_tail(40),
            docker.env.log()
        );
        let archive = docker.dir().join("busybox.tar");
        engine_kit::build_image_archive(&archive, &docker.env.out_dir());
        docker
            .docker(&["load", "-i", &archive.to_string_lossy()])
            .assert_ok();
        docker
    }

    pub fn dir(&self) -> &Path {
        &self.env.dir
    }

    /// The exec root: dockerd's and containerd's state, the runtime's state root.
    pub fn exec_root(&self) -> PathBuf {
        self.env.join("exec")
    }

    /// The `--root` dockerd's runc shim gives the runtime (`<exec-root>/runtime-runc`
    /// plus the containerd namespace `moby`), where berth keeps its container state.
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root().join("runtime-runc/moby")
    }

    /// The last `n` lines of dockerd's log.
    pub fn daemon_log_tail(&self, n: usize) -> String {
        let log = fs::read_to_string(self.env.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn docker_timeout(&self, args: &[&str], timeout: Duration) -> Out {
        engine_kit::run(self.command(args), &self.env.out_dir(), timeout)
    }

    /// `docker ARGS...`
    pub fn docker(&self, args: &[&str]) -> Out {
        self.docker_timeout(args, CLI_TIMEOUT)
    }

    /// `docker run --runtime berth --network none ARGS...` (ARGS end with the image and
    /// command).
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_with(RUNTIME_NAME, args)
    }

    /// `docker run --runtime RUNTIME --network none ARGS...`
    pub fn run_with(&self, runtime: &str, args: &[&str]) -> Out {
        let mut a = vec!["run", "--runtime", runtime, "--network", "none"];
        a.extend_from_slice(args);
        self.docker(&a)
    }
}

static SHARED: OnceLock<Result<Docker, String>> = OnceLock::new();

extern "C" fn teardown_shared() {
    engine_kit::teardown_shared(&SHARED);
}

/// The dockerd shared by all tests of this process (started on first use, stopped and
/// cleaned up at exit).
#[track_caller]
pub fn shared() -> &'static Docker {
    engine_kit::shared(&SHARED, teardown_shared)
}
