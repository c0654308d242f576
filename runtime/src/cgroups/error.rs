//! Typed errors of the cgroup manager. The runtime wraps them in its own error
//! type; the messages name the file, value or controller involved so that a
//! failing `create`/`update` can be diagnosed from the log line alone.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no usable cgroup filesystem: {0}")]
    NoCgroupFs(String),

    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },

    #[error("systemd cgroup driver requested but systemd is not running (no /run/systemd/system)")]
    SystemdUnavailable,

    #[error("systemd cgroup driver: cannot reach systemd ({0})")]
    SystemdUnreachable(String),

    /// A systemd call failed: the unit and systemd's own error (which names
    /// the property it refused).
    #[error("systemd {op} of {unit}: {msg}")]
    Systemd {
        op: String,
        unit: String,
        msg: String,
    },

    #[error("invalid cgroup configuration: {0}")]
    Invalid(String),

    #[error("{0} cgroup controller is not available on this host")]
    ControllerUnavailable(String),

    /// v2: the host has the controller but the parent of `path` does not
    /// delegate it (e.g. the parent holds processes itself).
    #[error("{controller} cgroup controller is not enabled for {path} (missing from its cgroup.controllers; the parent does not delegate it)")]
    ControllerNotDelegated { controller: String, path: PathBuf },

    #[error("{0}")]
    Unsupported(String),

    #[error("unified resource {key:?} can't be set: {reason}")]
    Unified { key: String, reason: String },

    /// runc's words lead ("invalid configuration: cannot use unified on cgroup v1");
    /// the rest says why this host's v2 hierarchy cannot take the key either.
    #[error("invalid configuration: cannot use unified on cgroup v1: unified resource {key:?} can't be set: {reason}")]
    UnifiedOnV1 { key: String, reason: String },

    #[error("unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})")]
    MemoryBelowUsage { limit: i64, usage: u64, peak: u64 },

    #[error("{op} {path}: {source}")]
    Fs {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("failed to write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },

    #[error("unexpected content in {path}: {content:?}")]
    Parse { path: PathBuf, content: String },

    /// The kernel refused the cgroup v2 eBPF device filter (bpf(2) not
    /// permitted, RLIMIT_MEMLOCK too low on old kernels, verifier rejection).
    /// Distinct so that callers can decide to warn instead of failing, as runc
    /// does in rootless/user-namespace setups. Every other resource has been
    /// applied when this is returned from `apply`.
    #[error("cannot install the eBPF device filter on {path}: {stage}: {source}{log}")]
    DeviceFilter {
        path: PathBuf,
        stage: &'static str,
        #[source]
        source: io::Error,
        /// Verifier log, if any, with a leading separator.
        log: String,
    },

    #[error("freezer: {0}")]
    Freezer(String),

    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },

    #[error("signal {signal} to pid {pid}: {source}")]
    Signal {
        signal: i32,
        pid: i32,
        #[source]
        source: io::Error,
    },
}

impl CgroupError {
    pub(crate) fn fs(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        CgroupError::Fs {
            op,
            path: path.into(),
            source,
        }
    }

    /// The errno behind an I/O failure, if this is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            CgroupError::Fs { source, .. }
            | CgroupError::Write { source, .. }
            | CgroupError::DeviceFilter { source, .. }
            | CgroupError::Signal { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

pub type Result<T, E = CgroupError> = std::result::Result<T, E>;
