//! Where berth keeps its state and which helper binaries it drives.

use std::path::{Path, PathBuf};

/// Default persistent store: images, snapshots, containers' records and logs, volumes.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";
/// Default runtime state: shim directories, the runtime's `--root`; gone at reboot.
pub const DEFAULT_STATE: &str = "/run/berth";

/// Everything a command needs to find the stores and the binaries it drives.
#[derive(Debug, Clone)]
pub struct Context {
    /// Persistent store (`--root`, `BERTH_ROOT`).
    pub root: PathBuf,
    /// Runtime state (`--state`, `BERTH_STATE`).
    pub state: PathBuf,
    /// The OCI runtime binary (`BERTH_RUNTIME_BIN`, else `berth-runtime` next to `berth`).
    pub runtime: PathBuf,
    /// The per-container supervisor (`BERTH_SHIM_BIN`, else `berth-shim` next to `berth`).
    pub shim: PathBuf,
    /// The configuration file's settings (defaults when there is none).
    pub settings: crate::config::Settings,
}

impl Context {
    pub fn new(root: PathBuf, state: PathBuf) -> Self {
        Context {
            runtime: helper_binary("BERTH_RUNTIME_BIN", "berth-runtime"),
            shim: helper_binary("BERTH_SHIM_BIN", "berth-shim"),
            settings: Default::default(),
            root,
            state,
        }
    }

    /// `--root` for berth-runtime: under the runtime state, never shared with runc's.
    pub fn runtime_root(&self) -> PathBuf {
        self.state.join("runtime")
    }

    /// The cgroup containers are made under unless `--cgroup-parent` says
    /// otherwise: the config file's `cgroup-parent`, else `/berth` for the default store; a private `--root` gets its
    /// own (`/berth-<8 hex digits of the root's path hash>`) so two stores'
    /// containers never share a parent.
    pub fn cgroup_parent(&self) -> String {
        if let Some(p) = &self.settings.cgroup_parent {
            return p.clone();
        }
        if self.root == Path::new(DEFAULT_ROOT) {
            return "/berth".into();
        }
        let mut h = crate::store::Hasher::new();
        h.update(self.root.as_os_str().as_encoded_bytes());
        let d = h.finish();
        format!("/berth-{}", &d.hex()[..8])
    }

    /// The `berth` binary itself (for exit hooks the shim runs).
    pub fn self_exe(&self) -> PathBuf {
        std::env::current_exe()
            .map(|p| installed_path(&p))
            .unwrap_or_else(|_| PathBuf::from("berth"))
    }
}

/// The path a running binary was installed at: when a package upgrade
/// replaced it (new file renamed over it), /proc/self/exe reads
/// "PATH (deleted)"; the new binary at PATH is the one to run from now on.
fn installed_path(exe: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    match exe.as_os_str().as_bytes().strip_suffix(b" (deleted)") {
        Some(p) => PathBuf::from(std::ffi::OsStr::from_bytes(p)),
        None => exe.to_path_buf(),
    }
}

/// A helper binary: the environment override, else the one installed beside this
/// executable, else a bare name looked up in PATH when it is run.
fn helper_binary(env: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| installed_path(&exe).parent().map(Path::to_path_buf))
        .map(|dir| dir.join(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}
