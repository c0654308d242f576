//! Driving the `berth` manager under test: a private `--root`/`--state` per test, the
//! runtime and shim from this workspace, busybox images built locally.
//!
//! Binaries: `BERTH_BIN`, `BERTH_SHIM`, `BERTH_RUNTIME` override the defaults in
//! [`crate::release_dir`].

use crate::runtime::{Cmd, Runtime};
use crate::sys::{self, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A binary of this workspace: `$env` if set, else the release build.
pub fn workspace_bin(env: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let p = crate::release_dir().join(name);
    assert!(
        p.is_file(),
        "{} not found: build with `cargo build --release` (or run tests/run.sh)",
        p.display()
    );
    p
}

pub fn berth_bin() -> PathBuf {
    workspace_bin("BERTH_BIN", "berth")
}

pub fn shim_bin() -> PathBuf {
    workspace_bin("BERTH_SHIM", "berth-shim")
}

/// One test's manager: its own persistent root (the harness's `--root`) and state dir.
/// Dropping it force-removes every container and checks that none of its processes,
/// mounts or runtime state remain.
pub struct Berth {
    pub rt: Runtime,
    state: TempDir,
    scratch: TempDir,
}

impl Default for Berth {
    fn default() -> Self {
        Self::new()
    }
}

impl Berth {
    /// A private store with busybox imported as `image` (most end-to-end
    /// tests start so).
    pub fn with_busybox(image: &str) -> Berth {
        crate::init();
        let b = Berth::new();
        b.import_busybox(image);
        b
    }

    pub fn new() -> Berth {
        Berth {
            rt: Runtime::with_bin(berth_bin()),
            state: TempDir::new("state"),
            scratch: TempDir::new("scratch"),
        }
    }

    /// `inspect -f FMT NAME`, trimmed (asserts success).
    pub fn inspect_format(&self, name: &str, fmt: &str) -> String {
        self.run(&["inspect", "-f", fmt, name])
            .assert_ok()
            .stdout
            .trim()
            .to_string()
    }

    /// kill -9 of container `name`'s (id `id`) shim and init, this test's
    /// own, then wait until berth no longer says it runs (reaping both when
    /// this process inherited them). Returns (init pid, shim pid).
    #[track_caller]
    pub fn kill_9_shim_and_init(&self, name: &str, id: &str) -> (i32, i32) {
        let pid: i32 = self
            .inspect_format(name, "{{.State.Pid}}")
            .parse()
            .expect("a running container's pid");
        let shim_pid = [id, &id[..16]]
            .iter()
            .find_map(|d| {
                std::fs::read_to_string(self.state().join("containers").join(d).join("status.json"))
                    .ok()
            })
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["shim_pid"].as_i64())
            .unwrap_or(0) as i32;
        assert!(shim_pid > 0, "no shim pid for {name}");
        for p in [shim_pid, pid] {
            // SAFETY: kill(2) of this test's own container's processes
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        assert!(crate::wait_until(Duration::from_secs(30), || {
            for p in [pid, shim_pid] {
                // SAFETY: reaps our own orphans when this process inherited them
                unsafe { libc::waitpid(p, std::ptr::null_mut(), libc::WNOHANG) };
            }
            self.inspect_format(name, "{{.State.Status}}") != "running"
        }));
        (pid, shim_pid)
    }

    /// This store's directories (`--root`, `--state`), as the census takes them.
    pub fn dirs(&self) -> Vec<std::path::PathBuf> {
        vec![self.root().to_path_buf(), self.state().to_path_buf()]
    }

    /// The persistent store (`--root`).
    pub fn root(&self) -> &Path {
        self.rt.root()
    }

    /// The runtime state directory (`--state`).
    pub fn state(&self) -> &Path {
        self.state.path()
    }

    /// A scratch directory for fixtures of this test.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.scratch.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// `berth --root R <args>` with `BERTH_STATE`, and the workspace's runtime and shim.
    pub fn cmd(&self) -> Cmd<'_> {
        self.rt
            .cmd()
            .env("BERTH_STATE", &self.state.path().to_string_lossy())
            .env("BERTH_RUNTIME_BIN", &crate::runtime_bin().to_string_lossy())
            .env("BERTH_SHIM_BIN", &shim_bin().to_string_lossy())
    }

    /// A compose project directory `name` holding `yaml` as compose.yaml.
    pub fn project(&self, name: &str, yaml: &str) -> PathBuf {
        let dir = self.scratch(name);
        std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
        dir
    }

    /// `berth compose ARGS` in the project directory `dir`.
    #[track_caller]
    pub fn compose(&self, dir: &Path, args: &[&str]) -> crate::Output {
        self.cmd()
            .cwd(dir)
            .timeout(Duration::from_secs(120))
            .arg("compose")
            .args(args)
            .run()
    }

    #[track_caller]
    pub fn run(&self, args: &[&str]) -> crate::Output {
        self.cmd().args(args).run()
    }

    /// A busybox rootfs tarball (busybox-static plus the usual applet links, /etc/passwd
    /// and /etc/group with root, nobody and a `berthuser` 1000:1000).
    pub fn busybox_rootfs_tar(&self) -> PathBuf {
        let tar = self.scratch.join("busybox-rootfs.tar");
        if tar.exists() {
            return tar;
        }
        let dir = self.scratch("busybox-rootfs");
        make_busybox_rootfs(&dir);
        let st = Command::new("tar")
            .args(["--numeric-owner", "-C"])
            .arg(&dir)
            .args(["-cf"])
            .arg(&tar)
            .arg(".")
            .status()
            .expect("running tar");
        assert!(st.success(), "tar of the busybox rootfs failed");
        tar
    }

    /// Import the busybox rootfs as image `name` (`berth import`).
    #[track_caller]
    pub fn import_busybox(&self, name: &str) {
        let tar = self.busybox_rootfs_tar();
        self.run(&["import", &tar.to_string_lossy(), name])
            .assert_ok();
    }

    /// Force-remove all containers (used on drop; harmless if there are none).
    pub fn cleanup(&self) {
        let Some(out) = self
            .cmd()
            .args(["ps", "-a", "-q", "--no-trunc"])
            .timeout(Duration::from_secs(10))
            .try_run()
        else {
            return;
        };
        for id in out.stdout.split_whitespace() {
            let _ = self
                .cmd()
                .args(["rm", "-f", "-v", id])
                .timeout(Duration::from_secs(20))
                .run_quiet();
        }
    }

    /// Assert nothing is left: no container in `ps -a`, no mount under the root or state,
    /// no runtime container state.
    #[track_caller]
    pub fn assert_no_leaks(&self) {
        let ps = self.run(&["ps", "-a", "-q"]);
        assert!(
            ps.stdout.trim().is_empty(),
            "containers left: {}",
            ps.stdout
        );
        for dir in [self.root(), self.state()] {
            let m = sys::mounts_under(dir);
            assert!(m.is_empty(), "mounts left under {}: {m:#?}", dir.display());
        }
        let rt_root = self.state().join("runtime");
        if let Ok(rd) = std::fs::read_dir(&rt_root) {
            // `@seccomp` is the runtime's cache of compiled filters, not a container.
            let left: Vec<_> = rd
                .flatten()
                .map(|e| e.file_name())
                .filter(|n| !n.to_string_lossy().starts_with('@'))
                .collect();
            assert!(left.is_empty(), "runtime state left: {left:?}");
        }
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        self.cleanup();
        // A private store's containers live under their own cgroup parent
        // (`/berth-<8 hex of sha256(root)>`), left empty once they are gone.
        let parent = format!(
            "berth-{}",
            &crate::images::sha256_hex(self.root().as_os_str().as_encoded_bytes())[..8]
        );
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in rd.flatten() {
                let _ = std::fs::remove_dir(e.path().join(&parent));
            }
        }
        for dir in [
            self.rt.root().to_path_buf(),
            self.state.path().to_path_buf(),
        ] {
            for m in sys::mounts_under(&dir).iter().rev() {
                sys::umount_detach(Path::new(&m.mount_point));
            }
        }
    }
}

/// Fill `dir` with a busybox-static rootfs.
pub fn make_busybox_rootfs(dir: &Path) {
    for d in [
        "bin",
        "etc",
        "tmp",
        "proc",
        "sys",
        "dev",
        "root",
        "home/berthuser",
        "var",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    sys::set_mode(&dir.join("tmp"), 0o1777);
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).expect("copy /bin/busybox");
    let out = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nberthuser:x:1000:1000::/home/berthuser:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nwheel:x:10:berthuser\nberthuser:x:1000:\nnogroup:x:65534:\n",
    )
    .unwrap();
    sys::chown(&dir.join("home/berthuser"), 1000, 1000);
}
