//! Driving real container engines with berth-runtime plugged in: a private containerd
//! (own config, root, state and socket under /tmp), `ctr` commands with timeouts, a
//! locally built busybox image, a pty runner for `-t`, and a teardown that leaves no
//! daemon, shim, container process, mount or cgroup behind.
//!
//! Self-contained (std + libc + serde_json only). Test files include it with
//! `#[path = "../src/engines.rs"] mod engines;`.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Time limit for one `ctr` command.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(60);

/// Shim state root that containerd's runc shim passes as `--root` by default.
pub const SHIM_RUNC_ROOT: &str = "/run/containerd/runc";

// ---------------------------------------------------------------------------------------
// paths and small helpers

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// berth-runtime: `$BERTH_RUNTIME`, else the newest of target/release/berth-runtime and
/// berth-runtime in [`berth_tests::release_dir`].
pub fn berth_runtime() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_RUNTIME").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "BERTH_RUNTIME={} does not exist", p.display());
        return fs::canonicalize(&p).unwrap_or(p);
    }
    let candidates = [
        workspace().join("target/release/berth-runtime"),
        berth_tests::release_dir().join("berth-runtime"),
    ];
    candidates
        .iter()
        .filter_map(|p| Some((fs::metadata(p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| {
            panic!(
                "berth-runtime not found at {} or {}: build it with \
                 `cargo build --release -p berth-runtime` or set BERTH_RUNTIME",
                candidates[0].display(),
                candidates[1].display()
            )
        })
}

/// The installed runc, for comparisons.
pub fn system_runc() -> Option<PathBuf> {
    ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Is a program on $PATH (or an absolute path that exists)?
pub fn have(prog: &str) -> bool {
    if prog.starts_with('/') {
        return Path::new(prog).is_file();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// Panics with install instructions unless we are root and containerd, ctr, the runc
/// shim, umoci and skopeo are installed.
pub fn require_containerd_tools() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the containerd tests must run as root"
    );
    let missing: Vec<&str> = [
        "containerd",
        "ctr",
        "containerd-shim-runc-v2",
        "umoci",
        "skopeo",
    ]
    .into_iter()
    .filter(|p| !have(p))
    .collect();
    assert!(
        missing.is_empty() && Path::new("/bin/busybox").is_file(),
        "missing {missing:?} (or /bin/busybox): apt-get install containerd umoci skopeo \
         busybox-static"
    );
}

static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// A number unique in this process.
pub fn unique() -> u32 {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// A unique container id with a readable prefix.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), unique())
}

pub use berth_tests::sys::wait_for;

/// Per-process scratch directory (image archives, wrapper scripts, command output),
/// removed at exit.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = PathBuf::from(format!("/tmp/berth-engines-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("create scratch dir");
        register_exit_cleanup();
        d
    })
}

// ---------------------------------------------------------------------------------------
// running commands

/// The result of one command: the harness's own type.
pub use berth_tests::runtime::Output as Out;

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `cmd` to completion with stdout and stderr captured through files (stdin as the
/// caller set it), in its own process group; after `timeout` the group is killed and
/// the result has `signal: Some(9)`.
pub fn run(mut cmd: Command, timeout: Duration) -> Out {
    let n = unique();
    let out_path = scratch().join(format!("{n}.out"));
    let err_path = scratch().join(format!("{n}.err"));
    let desc = describe(&cmd);
    cmd.stdout(File::create(&out_path).expect("capture file"));
    cmd.stderr(File::create(&err_path).expect("capture file"));
    cmd.process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {desc}: {e}"));
    let status = wait_child(&mut child, timeout);
    let read = |p: &Path| {
        let s = fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let _ = fs::remove_file(p);
        s
    };
    Out {
        cmd: desc,
        code: status.and_then(|s| s.code()),
        signal: status.map_or(Some(9), |s| s.signal()),
        stdout: read(&out_path),
        stderr: read(&err_path),
        elapsed: start.elapsed(),
    }
}

/// Wait for a child (in its own process group); kill the group after `timeout` (None).
fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            let pid = child.id() as i32;
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Run `cmd` with a new pty (of `rows` x `cols`) as its controlling terminal and stdio,
/// typing `input` into it; `stdout` of the result is everything read from the pty master
/// (including the echo of `input`).
pub fn run_in_pty(mut cmd: Command, rows: u16, cols: u16, input: &[u8], timeout: Duration) -> Out {
    let mut master = -1;
    let mut slave = -1;
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    unsafe {
        libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(slave.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
    }
    let desc = describe(&cmd);
    cmd.stdin(Stdio::from(slave.try_clone().expect("dup")));
    cmd.stdout(Stdio::from(slave.try_clone().expect("dup")));
    cmd.stderr(Stdio::from(slave.try_clone().expect("dup")));
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {desc}: {e}"));
    drop(slave);
    drop(cmd);
    if !input.is_empty() {
        let n = unsafe { libc::write(master.as_raw_fd(), input.as_ptr().cast(), input.len()) };
        assert_eq!(n, input.len() as isize, "write to pty master");
    }
    // Read the master until the child has exited and the pty is drained (read fails
    // with EIO once no slave fd is open any more).
    let deadline = start + timeout;
    let mut output = Vec::new();
    let mut status = None;
    let mut hung_up = false;
    let mut timed_out = false;
    while !(hung_up && status.is_some()) {
        if Instant::now() >= deadline {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGKILL);
            }
            timed_out = true;
            break;
        }
        if status.is_none() {
            status = child.try_wait().ok().flatten();
        }
        if hung_up {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        if unsafe { libc::poll(&mut pfd, 1, 20) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            output.extend_from_slice(&buf[..n as usize]);
        } else {
            hung_up = true;
        }
    }
    let reaped = child.wait().ok();
    let status = if timed_out { None } else { status.or(reaped) };
    Out {
        cmd: desc,
        code: status.and_then(|s| s.code()),
        signal: status.map_or(Some(9), |s| s.signal()),
        stdout: String::from_utf8_lossy(&output).into_owned(),
        stderr: String::new(),
        elapsed: start.elapsed(),
    }
}

// ---------------------------------------------------------------------------------------
// image

/// The busybox image built by integration/containerd/build-busybox-image.sh.
pub struct Image {
    pub name: String,
    pub oci_archive: PathBuf,
    pub docker_archive: PathBuf,
}

/// `docker.io/library/busybox:latest` built once per process (no network needed).
pub fn busybox_image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| build_image("docker.io/library/busybox:latest", "sh", "busybox"))
}

/// Build an image with the given reference and Cmd into the scratch dir.
pub fn build_image(name: &str, cmd: &str, file_stem: &str) -> Image {
    let img = Image {
        name: name.to_string(),
        oci_archive: scratch().join(format!("{file_stem}-oci.tar")),
        docker_archive: scratch().join(format!("{file_stem}-docker.tar")),
    };
    let mut c = Command::new(workspace().join("integration/containerd/build-busybox-image.sh"));
    c.arg("--oci-archive")
        .arg(&img.oci_archive)
        .arg("--docker-archive")
        .arg(&img.docker_archive)
        .args(["--name", name, "--cmd", cmd])
        .stdin(Stdio::null());
    run(c, Duration::from_secs(120)).assert_ok();
    img
}

// ---------------------------------------------------------------------------------------
// cgroups, mounts, processes

/// (fstype, mount point) of every cgroup/cgroup2 mount.
pub fn cgroup_mounts() -> Vec<(String, PathBuf)> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            let fstype = *f.get(sep + 1)?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| (fstype.to_string(), PathBuf::from(unescape(f[4]))))
        })
        .collect()
}

/// Is the host on the unified (v2-only) hierarchy?
pub fn cgroup_v2_only() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The cgroup directory of `pid` for a v1 controller (`memory`, `pids`, `freezer`, ...),
/// or its unified directory on a v2-only host.
pub fn cgroup_dir(pid: i32, controller: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let v2 = cgroup_v2_only();
    let rel = text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        let hit = if v2 {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        hit.then(|| path.to_string())
    })?;
    let base = if v2 {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        PathBuf::from("/sys/fs/cgroup").join(controller)
    };
    Some(base.join(rel.trim_start_matches('/')))
}

/// Mount points at or under `dir`, deepest last as in mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(|m| PathBuf::from(unescape(m))))
        .filter(|m| m.starts_with(dir))
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every pid with its command line (NUL-separated args joined by spaces).
pub fn processes() -> Vec<(i32, String)> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let s = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Some((pid, s.trim_end().to_string()))
    })
    .collect()
}

/// Pids whose cgroup path (any hierarchy) is `/<top>` or below.
pub fn pids_in_cgroup_tree(top: &str) -> Vec<i32> {
    let prefix = format!("/{top}/");
    let exact = format!("/{top}");
    processes()
        .into_iter()
        .filter(|(pid, _)| {
            fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .map(|t| {
                    t.lines().any(|l| {
                        let p = l.splitn(3, ':').nth(2).unwrap_or("");
                        p == exact || p.starts_with(&prefix)
                    })
                })
                .unwrap_or(false)
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// Is `pid` alive (not a zombie)?
pub fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .map(|zombie| !zombie)
        .unwrap_or(false)
}

/// Cgroup directories `<mount>/<top>` that exist.
pub fn cgroup_trees(top: &str) -> Vec<PathBuf> {
    cgroup_mounts()
        .into_iter()
        .map(|(_, m)| m.join(top))
        .filter(|p| p.is_dir())
        .collect()
}

/// Remove a cgroup tree bottom-up (rmdir only; a cgroup with processes stays).
fn remove_cgroup_tree(dir: &Path) -> std::io::Result<()> {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                let _ = remove_cgroup_tree(&e.path());
            }
        }
    }
    fs::remove_dir(dir)
}

/// Thaw every frozen cgroup under `/<top>` (SIGKILL does not act on frozen tasks).
fn thaw_tree(top: &str) {
    for (_, m) in cgroup_mounts() {
        let root = m.join(top);
        if !root.is_dir() {
            continue;
        }
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
            let _ = fs::write(d.join("cgroup.freeze"), "0");
            if let Ok(rd) = fs::read_dir(&d) {
                stack.extend(
                    rd.flatten()
                        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                        .map(|e| e.path()),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// containerd

/// Options for a private containerd.
#[derive(Clone, Default)]
pub struct ContainerdOpts {
    /// Enable the CRI plugin with a runtime handler of this name whose runc shim uses
    /// `BinaryName = <runtime>` and a private `Root`.
    pub cri_handler: Option<String>,
    /// CRI sandbox ("pause") image reference.
    pub sandbox_image: Option<String>,
}

/// A containerd of our own. Everything lives under `dir` except the shim sockets
/// (/run/containerd/s/<hash>, removed by the shims or by the teardown) and the runc
/// shim's default `--root` /run/containerd/runc/<namespace> (removed by the teardown).
pub struct Containerd {
    pub dir: PathBuf,
    pub address: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    /// The namespace used by `ctr()`, unique to this instance; container cgroups go to
    /// `/<namespace>/<id>` (ctr's default), CRI pods to `/<namespace>-cri/...`.
    pub namespace: String,
    pub runtime: PathBuf,
    pub opts: ContainerdOpts,
    daemon: Mutex<Option<Child>>,
    torn_down: AtomicBool,
}

/// Top-level directories under /run we may create; removed at the end only if they
/// did not exist before this process started a containerd.
static RUN_DIRS_PREEXISTING: OnceLock<Vec<(PathBuf, bool)>> = OnceLock::new();

fn note_run_dirs() {
    RUN_DIRS_PREEXISTING.get_or_init(|| {
        [
            "/run/containerd",
            "/run/containerd/runc",
            "/run/containerd/s",
            "/run/containerd/fifo",
        ]
        .iter()
        .map(|p| (PathBuf::from(p), Path::new(p).exists()))
        .collect()
    });
}

impl Containerd {
    /// Start a containerd without CRI (for ctr).
    pub fn start(label: &str) -> Containerd {
        Self::start_with(label, ContainerdOpts::default())
    }

    pub fn start_with(label: &str, opts: ContainerdOpts) -> Containerd {
        require_containerd_tools();
        note_run_dirs();
        sweep_stale();
        let n = unique();
        let pid = std::process::id();
        let dir = PathBuf::from(format!("/tmp/berth-ctd-{pid}-{n}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create containerd dir");
        let namespace = format!("berth-e2e-{label}-{pid}-{n}");
        let c = Containerd {
            address: dir.join("c.sock"),
            config: dir.join("config.toml"),
            log: dir.join("containerd.log"),
            namespace,
            runtime: berth_runtime(),
            opts,
            dir,
            daemon: Mutex::new(None),
            torn_down: AtomicBool::new(false),
        };
        // What the stale sweep of a later run needs if this process dies unexpectedly.
        fs::write(
            c.dir.join("owner"),
            format!("{pid} {}\n{}\n", proc_start_time(pid as i32), c.namespace),
        )
        .expect("write owner file");
        fs::write(&c.config, c.config_toml()).expect("write config.toml");
        c.start_daemon();
        c
    }

    fn config_toml(&self) -> String {
        let d = self.dir.display();
        let mut disabled = vec![
            "io.containerd.snapshotter.v1.aufs",
            "io.containerd.snapshotter.v1.btrfs",
            "io.containerd.snapshotter.v1.devmapper",
            "io.containerd.snapshotter.v1.zfs",
            "io.containerd.tracing.processor.v1.otlp",
            "io.containerd.internal.v1.tracing",
        ];
        if self.opts.cri_handler.is_none() {
            disabled.push("io.containerd.grpc.v1.cri");
        }
        let disabled = disabled
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut t = format!(
            r#"# Generated by tests/src/engines.rs: a private containerd for berth's tests.
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{disabled}]

[grpc]
  address = "{d}/c.sock"

[ttrpc]
  address = "{d}/c.sock.ttrpc"

[debug]
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
        );
        if let Some(handler) = &self.opts.cri_handler {
            let sandbox = self
                .opts
                .sandbox_image
                .clone()
                .unwrap_or_else(|| "registry.k8s.io/pause:3.6".into());
            let rt = self.runtime.display();
            t.push_str(&format!(
                r#"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # Cap pod oom_score_adj at containerd's own: lowering it needs CAP_SYS_RESOURCE,
  # which sandboxed CI machines may lack (the pause container asks for -998).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "{handler}"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{handler}]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{handler}.options]
        BinaryName = "{rt}"
        Root = "{d}/runc-root"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf.d"
"#
            ));
        }
        t
    }

    /// Start (or restart) the daemon and wait until it answers.
    pub fn start_daemon(&self) {
        let mut guard = self.daemon.lock().unwrap();
        assert!(guard.is_none(), "containerd already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("containerd log");
        let mut cmd = Command::new("containerd");
        cmd.arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .process_group(0);
        let child = cmd.spawn().expect("spawn containerd");
        fs::write(self.dir.join("daemon.pid"), child.id().to_string()).ok();
        *guard = Some(child);
        drop(guard);
        let up = wait_for(Duration::from_secs(20), || {
            if let Some(st) = self
                .daemon
                .lock()
                .unwrap()
                .as_mut()
                .unwrap()
                .try_wait()
                .ok()?
            {
                panic!(
                    "containerd exited ({st}) while starting:\n{}",
                    self.log_tail(40)
                );
            }
            if !self.address.exists() {
                return None;
            }
            self.ctr_global(&["version"]).ok().then_some(())
        });
        assert!(
            up.is_some(),
            "containerd did not answer within 20s:\n{}",
            self.log_tail(40)
        );
    }

    /// Stop the daemon (SIGTERM, then SIGKILL after 10 s). Shims and containers live on.
    pub fn stop_daemon(&self) {
        let Some(mut child) = self.daemon.lock().unwrap().take() else {
            return;
        };
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        if wait_child_for(&mut child, Duration::from_secs(10)).is_none() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    pub fn daemon_pid(&self) -> Option<i32> {
        self.daemon.lock().unwrap().as_ref().map(|c| c.id() as i32)
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `ctr --address A <args>` (no namespace).
    pub fn ctr_global(&self, args: &[&str]) -> Out {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(&self.address).args(args);
        c.stdin(Stdio::null());
        run(c, CTR_TIMEOUT)
    }

    /// A `ctr --address A -n NS` command, not yet run (for custom stdio or a pty).
    pub fn ctr_command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(&self.address)
            .arg("-n")
            .arg(&self.namespace)
            .args(args);
        c
    }

    /// `ctr --address A -n NS <args>`, stdin /dev/null.
    pub fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        let mut c = self.ctr_command(args);
        c.stdin(Stdio::null());
        run(c, CTR_TIMEOUT)
    }

    /// Where ctr keeps the FIFOs of our containers (kept under our dir, not in
    /// /run/containerd/fifo).
    pub fn fifo_dir(&self) -> PathBuf {
        self.dir.join("fifo")
    }

    /// `ctr run` arguments up to the image: `run --fifo-dir F --runc-binary RT`.
    pub fn run_prefix(&self, runtime: &Path) -> Vec<String> {
        vec![
            "run".into(),
            "--fifo-dir".into(),
            self.fifo_dir().display().to_string(),
            "--runc-binary".into(),
            runtime.display().to_string(),
        ]
    }

    /// Import an image archive into our namespace (and unpack it for overlayfs).
    pub fn import(&self, image: &Image) {
        self.import_into(&self.namespace.clone(), &image.docker_archive);
    }

    pub fn import_into(&self, namespace: &str, archive: &Path) {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(&self.address)
            .args(["-n", namespace, "images", "import"])
            .arg(archive)
            .stdin(Stdio::null());
        run(c, CTR_TIMEOUT).assert_ok();
    }

    /// The bundle directory the runc shim uses for a task of our namespace.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.dir
            .join("state/io.containerd.runtime.v2.task")
            .join(&self.namespace)
            .join(id)
    }

    /// The `--root` containerd's runc shim passes to the runtime for our namespace.
    pub fn runtime_root(&self) -> PathBuf {
        Path::new(SHIM_RUNC_ROOT).join(&self.namespace)
    }

    /// `ctr task ls` as {id: (pid, status)}.
    pub fn tasks(&self) -> Vec<(String, i32, String)> {
        let o = self.ctr(&["task", "ls"]);
        o.assert_ok();
        o.stdout
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((
                    f.first()?.to_string(),
                    f.get(1)?.parse().ok()?,
                    f.get(2)?.to_string(),
                ))
            })
            .collect()
    }

    pub fn task(&self, id: &str) -> Option<(i32, String)> {
        self.tasks()
            .into_iter()
            .find(|t| t.0 == id)
            .map(|(_, pid, st)| (pid, st))
    }

    /// Wait until `ctr task ls` shows `status` for `id`; panics after 20 s.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) -> i32 {
        wait_for(Duration::from_secs(20), || {
            self.task(id).filter(|(_, st)| st == status).map(|(p, _)| p)
        })
        .unwrap_or_else(|| {
            panic!(
                "task {id} did not reach {status}; tasks: {:?}\n{}",
                self.tasks(),
                self.log_tail(20)
            )
        })
    }

    /// Kill (SIGKILL), delete the task and the container; ignores errors.
    pub fn remove(&self, id: &str) {
        let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", id]);
        let _ = wait_for(Duration::from_secs(10), || match self.task(id) {
            Some((_, st)) if st == "RUNNING" || st == "PAUSED" => None,
            _ => Some(()),
        });
        let _ = self.ctr(&["task", "delete", "--force", id]);
        let _ = self.ctr(&["containers", "rm", id]);
    }

    /// Namespaces this daemon knows.
    fn namespaces(&self) -> Vec<String> {
        let o = self.ctr_global(&["namespaces", "ls", "-q"]);
        o.stdout.lines().map(str::to_string).collect()
    }

    /// Stop everything and remove everything. Returns what could not be cleaned up.
    pub fn teardown(&self) -> Vec<String> {
        if self.torn_down.swap(true, Ordering::SeqCst) {
            return Vec::new();
        }
        // Politely first, while the daemon is up: kill, delete tasks and containers.
        if self.daemon_pid().is_some() {
            thaw_tree(&self.namespace);
            thaw_tree(&format!("{}-cri", self.namespace));
            for ns in self.namespaces() {
                let ctr = |args: &[&str]| {
                    let mut c = Command::new("ctr");
                    c.arg("--address")
                        .arg(&self.address)
                        .args(["-n", ns.as_str()])
                        .args(args)
                        .stdin(Stdio::null());
                    run(c, Duration::from_secs(20))
                };
                let tasks = ctr(&["task", "ls", "-q"]).stdout;
                for t in tasks.lines() {
                    let _ = ctr(&["task", "kill", "-a", "-s", "SIGKILL", t]);
                }
                for t in tasks.lines() {
                    let _ = wait_for(Duration::from_secs(5), || {
                        let o = ctr(&["task", "ls"]);
                        (!o.stdout.lines().any(|l| {
                            l.split_whitespace().next() == Some(t) && l.contains("RUNNING")
                        }))
                        .then_some(())
                    });
                    let _ = ctr(&["task", "delete", "--force", t]);
                }
                for c in ctr(&["containers", "ls", "-q"]).stdout.lines() {
                    let _ = ctr(&["containers", "rm", c]);
                }
            }
        }
        self.stop_daemon();
        let problems = cleanup_dir(&self.dir, &self.namespace);
        if !problems.is_empty() {
            eprintln!(
                "containerd teardown of {} left: {problems:#?}\n--- containerd log tail ---\n{}",
                self.dir.display(),
                self.log_tail(30)
            );
        }
        problems
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn wait_child_for(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    wait_for(timeout, || child.try_wait().ok().flatten())
}

fn proc_start_time(pid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(19).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Hard cleanup of one containerd directory, usable without the daemon (and for a run
/// that died): kill the daemon and its shims, every process in the namespace cgroups,
/// unmount, remove cgroups, runtime state, shim sockets and the directory.
fn cleanup_dir(dir: &Path, namespace: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let address = dir.join("c.sock").display().to_string();
    let dir_s = dir.display().to_string();
    let cri_top = format!("{namespace}-cri");

    // Shim sockets, read before the shims die (a killed shim leaves its socket).
    let mut sockets = Vec::new();
    let tasks_root = dir.join("state/io.containerd.runtime.v2.task");
    if let Ok(nss) = fs::read_dir(&tasks_root) {
        for ns in nss.flatten() {
            if let Ok(ids) = fs::read_dir(ns.path()) {
                for id in ids.flatten() {
                    if let Ok(a) = fs::read_to_string(id.path().join("address")) {
                        if let Some(p) = a.trim().strip_prefix("unix://") {
                            sockets.push(PathBuf::from(p));
                        }
                    }
                }
            }
        }
    }

    // The daemon (when the struct is gone: a stale run), the shims, the containers.
    for _ in 0..3 {
        thaw_tree(namespace);
        thaw_tree(&cri_top);
        let mut victims: Vec<i32> = processes()
            .into_iter()
            .filter(|(_, cmd)| {
                (cmd.starts_with("containerd ") && cmd.contains(&dir_s))
                    || (cmd.contains("containerd-shim") && cmd.contains(&address))
            })
            .map(|(p, _)| p)
            .collect();
        victims.extend(pids_in_cgroup_tree(namespace));
        victims.extend(pids_in_cgroup_tree(&cri_top));
        victims.retain(|p| *p != std::process::id() as i32);
        if victims.is_empty() {
            break;
        }
        for p in &victims {
            unsafe {
                libc::kill(*p, libc::SIGKILL);
            }
        }
        let _ = wait_for(Duration::from_secs(5), || {
            victims.iter().all(|p| !alive(*p)).then_some(())
        });
        reap_children();
    }
    let left: Vec<i32> = pids_in_cgroup_tree(namespace)
        .into_iter()
        .chain(pids_in_cgroup_tree(&cri_top))
        .filter(|p| alive(*p))
        .collect();
    if !left.is_empty() {
        problems.push(format!("processes still alive: {left:?}"));
    }

    for s in sockets {
        let _ = fs::remove_file(s);
    }

    // Mounts (rootfs overlays, CRI shm), deepest first.
    for m in mounts_under(dir).into_iter().rev() {
        let c = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).unwrap();
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
    let left = mounts_under(dir);
    if !left.is_empty() {
        problems.push(format!("mounts left: {left:?}"));
    }

    // Cgroups: /<namespace>/... (ctr) and /<namespace>-cri/... (CRI pods).
    for top in [namespace, cri_top.as_str()] {
        let trees = cgroup_trees(top);
        let gone = wait_for(Duration::from_secs(20), || {
            trees
                .iter()
                .all(|t| remove_cgroup_tree(t).is_ok() || !t.exists())
                .then_some(())
        });
        if gone.is_none() {
            problems.push(format!(
                "cgroups left: {:?}",
                trees.iter().filter(|t| t.exists()).collect::<Vec<_>>()
            ));
        }
    }

    // Runtime state of the shim's default root for our namespace.
    let rt_root = Path::new(SHIM_RUNC_ROOT).join(namespace);
    if rt_root.exists() && fs::remove_dir_all(&rt_root).is_err() {
        problems.push(format!("could not remove {}", rt_root.display()));
    }

    if mounts_under(dir).is_empty() {
        if let Err(e) = fs::remove_dir_all(dir) {
            if dir.exists() {
                problems.push(format!("could not remove {}: {e}", dir.display()));
            }
        }
    }
    problems
}

fn reap_children() {
    loop {
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if r <= 0 {
            break;
        }
    }
}

/// Clean up the directories of earlier test processes that died without a teardown.
fn sweep_stale() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let Ok(rd) = fs::read_dir("/tmp") else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("berth-engines-") {
                // The scratch dir of a dead test process.
                if pid.parse::<i32>().is_ok_and(|p| !alive(p)) {
                    let _ = fs::remove_dir_all(e.path());
                }
                continue;
            }
            if !name.starts_with("berth-ctd-") {
                continue;
            }
            let Ok(owner) = fs::read_to_string(e.path().join("owner")) else {
                continue;
            };
            let mut lines = owner.lines();
            let mut first = lines.next().unwrap_or("").split_whitespace();
            let pid: i32 = first.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let start: u64 = first.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let ns = lines.next().unwrap_or("").trim().to_string();
            let owner_alive = pid > 0 && alive(pid) && proc_start_time(pid) == start;
            if owner_alive || !ns.starts_with("berth-e2e-") {
                continue;
            }
            eprintln!(
                "cleaning up the leftovers of a dead test run: {}",
                e.path().display()
            );
            let problems = cleanup_dir(&e.path(), &ns);
            if !problems.is_empty() {
                eprintln!("  could not clean everything: {problems:?}");
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// process exit

static SHARED: OnceLock<Containerd> = OnceLock::new();

/// The containerd shared by the tests of one test binary (started on first use, with
/// the busybox image imported; torn down when the test process exits).
pub fn shared() -> &'static Containerd {
    SHARED.get_or_init(|| {
        let c = Containerd::start("shared");
        c.import(busybox_image());
        c
    })
}

fn register_exit_cleanup() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| unsafe {
        libc::atexit(exit_cleanup);
    });
}

/// Runs at process exit (the test harness returns from main or calls exit()).
extern "C" fn exit_cleanup() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(c) = SHARED.get() {
            c.teardown();
        }
        if let Some(v) = RUN_DIRS_PREEXISTING.get() {
            // Deepest first; only directories we created, only if empty.
            for (p, existed) in v.iter().rev() {
                if !existed {
                    let _ = fs::remove_dir(p);
                }
            }
        }
        if std::env::var_os("BERTH_KEEP_TMP").is_none() {
            let _ = fs::remove_dir_all(format!("/tmp/berth-engines-{}", std::process::id()));
        }
    });
}

/// Write an executable shell script.
pub fn write_script(path: &Path, body: &str) {
    fs::write(path, body).expect("write script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod script");
}

/// Read a whole file to a String ("" if missing).
pub fn read(path: impl AsRef<Path>) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}
