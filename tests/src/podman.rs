//! A private podman environment for the podman end-to-end tests: storage (`--root`,
//! `--runroot`), `--tmpdir`, network config dir, containers.conf and storage.conf under
//! `/tmp/berth-podman-<pid>-<n>`, cgroupfs with the environment's own cgroup parent,
//! the file events backend and no network (`netns = "none"`).
//!
//! containers.conf (`CONTAINERS_CONF`, so no system file is read) also registers the
//! runtime by name, `[engine.runtimes] berth = [PATH]`, and passes CONTAINERS_CONF on to
//! conmon (`conmon_env_vars`) so that the exit commands conmon runs
//! (`podman container cleanup`) use it too. Podman calls the runtime without `--root`,
//! so berth keeps its state in its default root (/run/berth-runtime).
//!
//! Included with `#[path = "../src/podman.rs"] mod podman;` next to engine_kit.

#![allow(dead_code)]

use crate::engine_kit::{self, Engine, Env, Out, CLI_TIMEOUT};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The name berth-runtime is registered under in containers.conf.
pub const RUNTIME_NAME: &str = "berth";

const PODMAN_SH: &str = r#"
engine_start() { :; }
pod() {
  CONTAINERS_CONF="$DIR/containers.conf" CONTAINERS_STORAGE_CONF="$DIR/storage.conf" \
    timeout 120 "$PODMAN" $GLOBAL_ARGS "$@"
}
engine_stop() {
  ids=""
  for d in "$DIR"/root/overlay-containers/*/; do
    [ -d "$d" ] && ids="$ids $(basename "$d")"
  done
  if [ -n "$ids" ]; then
    out=$(pod rm -af -t 0 2>&1) || note "podman rm -af failed: $out"
  fi
  reap_matching "-b $DIR/root/overlay-containers/" 10   # conmon
  reap_matching "--root $DIR/root" 10                    # podman container cleanup
  # containers/storage's overlay driver keeps its home bind-mounted (private) until a
  # podman process shuts the store down with no layer mounted; that is expected.
  if mounts | grep -qx "$DIR/root/overlay"; then umount "$DIR/root/overlay" 2>/dev/null; fi
  for id in $ids; do
    if [ -e "$RT_ROOT/$id" ]; then
      note "runtime state $RT_ROOT/$id left by podman, deleted"
      "$RUNTIME" delete --force "$id" >/dev/null 2>&1
      rm -rf "$RT_ROOT/$id"
    fi
  done
}
"#;

pub struct Podman {
    pub env: Env,
    /// berth-runtime (or $BERTH_RUNTIME), given to podman as `--runtime PATH`.
    pub runtime: PathBuf,
    pub podman: PathBuf,
    /// Where the runtime keeps state when called without --root.
    pub runtime_root: PathBuf,
    /// Whether containers.conf lowers the default rlimits (see `start`).
    pub lowered_ulimits: bool,
}

impl Engine for Podman {
    const NAME: &'static str = "podman";
    const RM_FORCE: &'static [&'static str] = &["rm", "-f", "-t", "0"];

    fn start() -> Podman {
        Podman::start_env()
    }

    fn env(&self) -> &Env {
        &self.env
    }

    /// `podman --runtime <berth path> ARGS...`
    fn command(&self, args: &[&str]) -> Command {
        self.command_with(&self.default_runtime(), args)
    }

    /// `podman --runtime RUNTIME run --cgroup-parent /<cg> ARGS...`
    fn run_with(&self, runtime: &str, args: &[&str]) -> Out {
        let cg = format!("--cgroup-parent=/{}", self.env.cg);
        let mut a = vec!["run", cg.as_str()];
        a.extend_from_slice(args);
        self.podman_with(runtime, &a)
    }

    fn default_runtime(&self) -> String {
        self.runtime.to_string_lossy().into_owned()
    }

    /// `podman create --cgroup-parent /<cg> ARGS...`
    fn create(&self, args: &[&str]) -> Out {
        let cg = format!("--cgroup-parent=/{}", self.env.cg);
        let mut a = vec!["create", cg.as_str()];
        a.extend_from_slice(args);
        self.podman(&a)
    }

    fn runtime(&self) -> &Path {
        &self.runtime
    }

    fn runtime_root(&self) -> PathBuf {
        self.runtime_root.clone()
    }

    /// Podman calls the runtime without global options: its default --root.
    fn runtime_root_arg(&self) -> Option<PathBuf> {
        None
    }

    fn state(&self, name: &str) -> String {
        let e = self.ps_entry(name);
        e["State"].as_str().unwrap_or_default().to_string()
    }
}

impl Podman {
    /// Set up the environment and load the busybox image.
    pub fn start_env() -> Podman {
        let podman = engine_kit::which("podman")
            .unwrap_or_else(|| panic!("podman not found: apt-get install podman (with conmon)"));
        assert!(
            engine_kit::which("conmon").is_some()
                || Path::new("/usr/libexec/podman/conmon").is_file(),
            "conmon not found: apt-get install conmon"
        );
        let runtime = berth_tests::runtime_bin();
        let runtime = fs::canonicalize(&runtime).unwrap_or(runtime);
        let runtime_root = PathBuf::from(if berth_tests::is_runc() {
            "/run/runc"
        } else {
            "/run/berth-runtime"
        });
        let env = Env::new("podman");
        let dir = env.dir.clone();
        let p = |s: &str| dir.join(s).to_string_lossy().into_owned();
        for sub in ["root", "runroot", "tmp", "net"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        // As root podman raises RLIMIT_NOFILE/NPROC to 1048576/4194304 by default, which
        // needs CAP_SYS_RESOURCE; a host without it (some sandboxes) fails with any
        // runtime, so lower the defaults there.
        let lowered_ulimits = engine_kit::host_cap_bounding() & (1 << 24) == 0;
        let ulimits = if lowered_ulimits {
            "default_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n"
        } else {
            ""
        };
        let toml_str = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let conf = format!(
            "# Generated by berth-tests.\n\
             [containers]\n\
             netns = \"none\"\n\
             {ulimits}\
             \n[engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             tmp_dir = {tmp}\n\
             runtime = \"{RUNTIME_NAME}\"\n\
             runtime_supports_json = [\"crun\", \"runc\", \"kata\", \"{RUNTIME_NAME}\"]\n\
             conmon_env_vars = [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", \
             {conf_env}, {storage_env}]\n\
             \n[engine.runtimes]\n\
             {RUNTIME_NAME} = [{rt}]\n\
             \n[network]\n\
             network_config_dir = {net}\n",
            tmp = toml_str(&p("tmp")),
            conf_env = toml_str(&format!("CONTAINERS_CONF={}", p("containers.conf"))),
            storage_env = toml_str(&format!("CONTAINERS_STORAGE_CONF={}", p("storage.conf"))),
            rt = toml_str(&runtime.to_string_lossy()),
            net = toml_str(&p("net")),
        );
        fs::write(dir.join("containers.conf"), conf).unwrap();
        fs::write(
            dir.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\nrunroot = {}\ngraphroot = {}\n",
                toml_str(&p("runroot")),
                toml_str(&p("root"))
            ),
        )
        .unwrap();
        let global = Self::global_args_for(&dir);
        env.start_watchdog(
            &[
                ("PODMAN", podman.to_string_lossy().into()),
                ("GLOBAL_ARGS", global.join(" ")),
                ("RUNTIME", runtime.to_string_lossy().into()),
                ("RT_ROOT", runtime_root.to_string_lossy().into()),
            ],
            PODMAN_SH,
        );
        let pm = Podman {
            env,
            runtime,
            podman,
            runtime_root,
            lowered_ulimits,
        };
        let archive = pm.env.join("busybox.tar");
        engine_kit::build_image_archive(&archive, &pm.env.out_dir());
        pm.podman(&["load", "-i", &archive.to_string_lossy()])
            .assert_ok();
        pm
    }

    fn global_args_for(dir: &Path) -> Vec<String> {
        let p = |s: &str| dir.join(s).to_string_lossy().into_owned();
        vec![
            format!("--root={}", p("root")),
            format!("--runroot={}", p("runroot")),
            format!("--tmpdir={}", p("tmp")),
            format!("--network-config-dir={}", p("net")),
            "--storage-driver=overlay".into(),
            "--cgroup-manager=cgroupfs".into(),
            "--events-backend=file".into(),
        ]
    }

    pub fn dir(&self) -> &Path {
        &self.env.dir
    }

    /// A podman command with this environment's global options and the given runtime
    /// (`--runtime RUNTIME`: a path or a name from containers.conf).
    pub fn command_with(&self, runtime: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.podman);
        cmd.env("CONTAINERS_CONF", self.env.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.env.join("storage.conf"))
            .env_remove("CONTAINER_HOST")
            .env_remove("CONTAINER_CONNECTION")
            .args(Self::global_args_for(self.dir()))
            .arg("--runtime")
            .arg(runtime)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// `podman --runtime <berth path> ARGS...`
    pub fn podman(&self, args: &[&str]) -> Out {
        self.cli(args)
    }

    pub fn podman_with(&self, runtime: &str, args: &[&str]) -> Out {
        engine_kit::run(
            self.command_with(runtime, args),
            &self.env.out_dir(),
            CLI_TIMEOUT,
        )
    }

    /// `podman ps -a --format json` entry of a container.
    #[track_caller]
    pub fn ps_entry(&self, name: &str) -> serde_json::Value {
        let filter = format!("name=^{name}$");
        let out = self.podman(&["ps", "-a", "--filter", &filter, "--format", "json"]);
        out.assert_ok();
        let v = out.json();
        let arr = v.as_array().cloned().unwrap_or_default();
        assert_eq!(arr.len(), 1, "expected one entry for {name}\n{out}");
        arr[0].clone()
    }

    /// Poll `podman ps -a` until the container's State is `state`; its entry.
    #[track_caller]
    pub fn wait_ps_state(&self, name: &str, state: &str) -> serde_json::Value {
        let mut e = serde_json::Value::Null;
        let ok = engine_kit::wait_for(Duration::from_secs(10), || {
            e = self.ps_entry(name);
            (e["State"] == state).then_some(())
        });
        assert!(ok.is_some(), "{name}: State is not {state:?}: {e}");
        e
    }
}

static SHARED: OnceLock<Result<Podman, String>> = OnceLock::new();

extern "C" fn teardown_shared() {
    engine_kit::teardown_shared(&SHARED);
}

/// The podman environment shared by all tests of this process.
#[track_caller]
pub fn shared() -> &'static Podman {
    engine_kit::shared(&SHARED, teardown_shared)
}
