//! The runtime verbs berth-shim's `Runtime` does not carry (pause, resume, ps, update),
//! run with the same global flags (`--root`, `--log` as JSON) so that errors come back
//! as the runtime's own message.

use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum RtError {
    #[error("running {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("{verb}: {msg}")]
    Failed { verb: &'static str, msg: String },
    #[error("{verb}: unexpected output: {msg}")]
    Output { verb: &'static str, msg: String },
}

#[derive(Clone, Debug)]
pub struct RtCmd {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub log: PathBuf,
    pub id: String,
}

impl RtCmd {
    /// The global flags every verb gets, before the verb: `--root`, `--log` (as JSON).
    fn global_args<'a>(&'a self, log: &'a Path) -> [&'a OsStr; 6] {
        [
            "--root".as_ref(),
            self.root.as_os_str(),
            "--log".as_ref(),
            log.as_os_str(),
            "--log-format".as_ref(),
            "json".as_ref(),
        ]
    }

    fn run(
        &self,
        verb: &'static str,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<Vec<u8>, RtError> {
        let mut c = Command::new(&self.bin);
        berth_shim::runtime::unblock_signals_in_child(&mut c);
        c.args(self.global_args(&self.log))
            .arg(verb)
            .args(args)
            .arg(&self.id)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn = |source| RtError::Spawn {
            bin: self.bin.clone(),
            source,
        };
        let log_len = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let mut child = c.spawn().map_err(spawn)?;
        if let (Some(data), Some(mut w)) = (input, child.stdin.take()) {
            let _ = w.write_all(data);
        }
        let out = child.wait_with_output().map_err(spawn)?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let msg = log_error_since(&self.log, log_len)
            .or_else(|| {
                let s = String::from_utf8_lossy(&out.stderr).trim().to_string();
                (!s.is_empty()).then_some(s)
            })
            .unwrap_or_else(|| format!("{} {verb} failed: {}", self.bin.display(), out.status));
        Err(RtError::Failed { verb, msg })
    }

    pub fn pause(&self) -> Result<(), RtError> {
        self.run("pause", &[], None).map(drop)
    }

    pub fn resume(&self) -> Result<(), RtError> {
        self.run("resume", &[], None).map(drop)
    }

    /// `ps --format json`: the container's pids.
    pub fn ps(&self) -> Result<Vec<u32>, RtError> {
        let out = self.run("ps", &["--format", "json"], None)?;
        serde_json::from_slice::<Option<Vec<u32>>>(&out)
            .map(Option::unwrap_or_default)
            .map_err(|e| RtError::Output {
                verb: "ps",
                msg: format!("{e}: {}", String::from_utf8_lossy(&out)),
            })
    }

    /// `update --resources -` with OCI LinuxResources JSON.
    pub fn update(&self, resources_json: &[u8]) -> Result<(), RtError> {
        self.run("update", &["--resources", "-"], Some(resources_json))
            .map(drop)
    }

    /// Start `delete` of an exited container without waiting: the shim's reaper
    /// collects its exit (so must no one else). Returns the child's pid. It logs
    /// nowhere: the work directory holding the log is removed meanwhile, and a failure
    /// is retried with `--force`, whose error is reported.
    pub fn spawn_delete(&self) -> Result<u32, RtError> {
        let spawn_err = |source| RtError::Spawn {
            bin: self.bin.clone(),
            source,
        };
        let null = berth_shim::sys::open_devnull(libc::O_RDWR).map_err(spawn_err)?;
        let mut argv = self.global_args(Path::new("/dev/null")).to_vec();
        argv.push("delete".as_ref());
        argv.push(self.id.as_ref());
        // posix_spawn, not Command (which forks here, for the signal mask): the fork
        // of the shim would hold its memory map locked while the Wait reply that the
        // exit just woke is being sent.
        let fd = null.as_raw_fd();
        berth_shim::sys::spawn(&self.bin, &argv, [fd, fd, fd])
            .map(|pid| pid as u32)
            .map_err(spawn_err)
    }

    /// `delete --force` (cleanup of a container whose shim is gone).
    pub fn force_delete(&self) -> Result<(), RtError> {
        self.run("delete", &["--force"], None).map(drop)
    }
}

/// "msg" of the last error-level line the runtime logged after offset `from`.
fn log_error_since(log: &Path, from: u64) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let text = text.get(from as usize..)?;
    text.split(|&b| b == b'\n')
        .rev()
        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "error" || v["level"] == "fatal")
        .find_map(|v| v["msg"].as_str().map(str::to_string))
}
