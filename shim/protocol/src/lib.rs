//! berth-shim's wire types, shared by the shim, the manager and the tests (see
//! docs/shim.md): attach frames, the attach hello, control requests and answers,
//! `status.json` and `shim.json`.

// Every unsafe block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(test)]
mod fuzz;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Attach frame kinds.
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const RESIZE: u8 = 3;
pub const STDIN_EOF: u8 = 4;
pub const EXIT: u8 = 5;
pub const HELLO: u8 = 6;

/// A frame header's size: `kind: u8, len: u32 BE`.
pub const HEADER_LEN: usize = 5;

/// Append one frame (`kind`, big-endian length, payload) to `out`.
pub fn frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// The (kind, payload length) of the header at the start of `buf`; None when
/// fewer than `HEADER_LEN` bytes are there.
pub fn decode_header(buf: &[u8]) -> Option<(u8, usize)> {
    let h = buf.get(..HEADER_LEN)?;
    Some((h[0], u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize))
}

/// A RESIZE payload: rows, cols as u16 BE.
pub fn resize_payload(rows: u16, cols: u16) -> [u8; 4] {
    let (r, c) = (rows.to_be_bytes(), cols.to_be_bytes());
    [r[0], r[1], c[0], c[1]]
}

/// (rows, cols) of a RESIZE payload; None unless it is 4 bytes.
pub fn decode_resize(p: &[u8]) -> Option<(u16, u16)> {
    match p {
        [a, b, c, d] => Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
        _ => None,
    }
}

/// The exit code of an EXIT payload (i32 BE); None unless it is 4 bytes.
pub fn decode_exit(p: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(p.try_into().ok()?))
}

/// The first frame a client sends on an attach socket (JSON).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    #[serde(default)]
    pub stdin: bool,
    #[serde(default = "yes")]
    pub stdout: bool,
    #[serde(default = "yes")]
    pub stderr: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detach_keys: Option<String>,
}

fn yes() -> bool {
    true
}

fn sigterm() -> i32 {
    15
}

fn ten() -> u64 {
    10
}

/// A control-socket request (one JSON line).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Start,
    Kill {
        #[serde(default = "sigterm")]
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    Stop {
        #[serde(default = "sigterm")]
        signal: i32,
        #[serde(default = "ten")]
        timeout_s: u64,
    },
    Wait,
    Status,
    Exec {
        sid: String,
        process: PathBuf,
        #[serde(default)]
        terminal: bool,
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        detach: bool,
    },
    ExecStart {
        sid: String,
    },
    ExecWait {
        sid: String,
    },
    Resize {
        #[serde(default)]
        sid: Option<String>,
        rows: u16,
        cols: u16,
    },
    Shutdown,
    /// Change the restart policy of the running container (`berth update
    /// --restart`): the shim applies it at the container's next exit.
    SetRestart {
        policy: String,
        #[serde(default)]
        max_retries: u32,
    },
}

/// The answer to `start` and `exec_start` (and the shim's launch report).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct PidResponse {
    pub pid: i32,
}

/// The answer to `exec`: the exec session's attach socket.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ExecResponse {
    pub socket: PathBuf,
}

/// The answer to `exec_wait`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct ExecWaitResponse {
    pub exit_code: i32,
}

/// Any failed request's answer (also the launch report of a shim that could not
/// start its container). `kind` is set when the runtime failed to start a process
/// (`start`, `exec_start`, the launch), so callers need not read the message.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ErrorResponse {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<StartErrorKind>,
}

/// The answer to `kill`, `resize` and `shutdown`: nothing but success.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq)]
pub struct Ack {}

/// A control answer as a client reads it: the request's response, or the
/// error (an object whose `error` is a string).
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum Answer<T> {
    Failed(ErrorResponse),
    Ok(T),
}

/// Why the runtime could not start a container's or exec's process, as the runtime
/// logged it (the `kind` field of its JSON log's error line).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StartErrorKind {
    /// The executable does not exist.
    NotFound,
    /// The executable cannot be executed (permissions, not a program).
    PermissionDenied,
    /// Anything else (also any kind this build does not know).
    #[default]
    #[serde(other)]
    Other,
}

impl StartErrorKind {
    /// The kind named by a runtime log line's `kind` field (unknown: Other).
    pub fn from_name(name: &str) -> StartErrorKind {
        match name {
            "not-found" => StartErrorKind::NotFound,
            "permission-denied" => StartErrorKind::PermissionDenied,
            _ => StartErrorKind::Other,
        }
    }

    /// docker's exit code for a process that could not be started: 127 for a
    /// missing command, 126 for one that cannot be executed, else 125.
    pub fn exit_code(self) -> i32 {
        match self {
            StartErrorKind::NotFound => 127,
            StartErrorKind::PermissionDenied => 126,
            StartErrorKind::Other => 125,
        }
    }
}

/// A start failure: the runtime's message and its kind.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    pub kind: StartErrorKind,
    pub msg: String,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for StartError {}

/// `status.json` (also the answer to `status`, `wait` and `stop`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Status {
    pub id: String,
    /// created | running | restarting | exited
    pub status: String,
    /// The container init's host pid (0 when none).
    pub pid: i32,
    pub shim_pid: i32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    pub restart_count: u32,
    pub user_stopped: bool,
    /// Why the last (re)start failed, if it did.
    pub error: Option<String>,
    pub health: Option<Health>,
    pub execs: BTreeMap<String, ExecStatus>,
}

/// One exec session in `status.json`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct ExecStatus {
    pub pid: i32,
    pub running: bool,
    pub exit_code: Option<i32>,
}

/// docker's `State.Health`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Health {
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "FailingStreak")]
    pub failing_streak: u32,
    #[serde(rename = "Log")]
    pub log: Vec<HealthLog>,
}

/// One probe's result in `Health.Log`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct HealthLog {
    #[serde(rename = "Start")]
    pub start: String,
    #[serde(rename = "End")]
    pub end: String,
    #[serde(rename = "ExitCode")]
    pub exit_code: i32,
    #[serde(rename = "Output")]
    pub output: String,
}

/// `shim.json`, written by the manager into the shim's directory (the shim
/// validates it).
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: PathBuf,
    pub runtime_root: PathBuf,
    #[serde(default)]
    pub terminal: bool,
    #[serde(default)]
    pub stdin: bool,
    pub log: LogSection,
    #[serde(default)]
    pub restart: RestartSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_hook: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub start: bool,
    /// Published ports the shim relays in userland for the container's life
    /// (those on [::1], which the kernel cannot forward). Absent when none,
    /// so a shim.json without relays reads as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relays: Vec<Relay>,
}

/// One relayed port: connections (tcp) or datagrams (udp) to `listen` go to
/// `target`, the container's address.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Relay {
    /// tcp | udp
    pub proto: String,
    pub listen: std::net::SocketAddr,
    pub target: std::net::SocketAddr,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub path: PathBuf,
    /// Bytes; 0 or negative = unlimited.
    #[serde(default)]
    pub max_size: i64,
    #[serde(default = "one")]
    pub max_files: u32,
}

fn one() -> u32 {
    1
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct RestartSection {
    #[serde(default)]
    pub policy: String,
    #[serde(default)]
    pub max_retries: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct HealthSection {
    pub test: Vec<String>,
    #[serde(default)]
    pub interval_ns: u64,
    #[serde(default)]
    pub timeout_ns: u64,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub start_period_ns: u64,
    #[serde(default)]
    pub start_interval_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Request, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }

    #[test]
    fn frames() {
        let mut f = Vec::new();
        frame(&mut f, EXIT, &3i32.to_be_bytes());
        assert_eq!(f, vec![5, 0, 0, 0, 4, 0, 0, 0, 3]);
        assert_eq!(decode_header(&f), Some((EXIT, 4)));
        assert_eq!(decode_exit(&f[HEADER_LEN..]), Some(3));
        assert_eq!(decode_header(&f[..4]), None);
        assert_eq!(decode_exit(&[1, 2]), None);
        let r = resize_payload(10, 300);
        assert_eq!(r, [0, 10, 1, 44]);
        assert_eq!(decode_resize(&r), Some((10, 300)));
        assert_eq!(decode_resize(&r[..3]), None);
    }

    #[test]
    fn parses_requests() {
        assert_eq!(p(r#"{"op":"start"}"#).unwrap(), Request::Start);
        assert_eq!(
            p(r#"{"op":"stop","signal":2,"timeout_s":1}"#).unwrap(),
            Request::Stop {
                signal: 2,
                timeout_s: 1
            }
        );
        assert_eq!(
            p(r#"{"op":"stop"}"#).unwrap(),
            Request::Stop {
                signal: 15,
                timeout_s: 10
            }
        );
        assert_eq!(
            p(r#"{"op":"resize","sid":null,"rows":10,"cols":20}"#).unwrap(),
            Request::Resize {
                sid: None,
                rows: 10,
                cols: 20
            }
        );
        assert!(p(r#"{"op":"kill","signal":9,"bogus":1}"#)
            .unwrap_err()
            .contains("bogus"));
        assert!(p(r#"{"op":"nope"}"#).is_err());
        let r = Request::ExecWait { sid: "a".into() };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"op":"exec_wait","sid":"a"}"#
        );
    }

    #[test]
    fn answers() {
        let a: Answer<PidResponse> = serde_json::from_str(r#"{"pid":7}"#).unwrap();
        assert_eq!(a, Answer::Ok(PidResponse { pid: 7 }));
        let a: Answer<PidResponse> = serde_json::from_str(r#"{"error":"no"}"#).unwrap();
        assert_eq!(
            a,
            Answer::Failed(ErrorResponse {
                error: "no".into(),
                kind: None
            })
        );
        let a: Answer<Status> =
            serde_json::from_str(r#"{"status":"exited","exit_code":3,"error":null}"#).unwrap();
        assert!(matches!(a, Answer::Ok(s) if s.exit_code == Some(3)));
        let a: Answer<Ack> = serde_json::from_str("{}").unwrap();
        assert_eq!(a, Answer::Ok(Ack {}));
    }

    #[test]
    fn start_error_kinds() {
        let e = ErrorResponse {
            error: "exec: \"nope\": executable file not found in $PATH".into(),
            kind: Some(StartErrorKind::NotFound),
        };
        let s = serde_json::to_string(&e).unwrap();
        assert!(s.contains(r#""kind":"not-found""#), "{s}");
        assert_eq!(serde_json::from_str::<ErrorResponse>(&s).unwrap(), e);
        // Answers without a kind (older shims) still parse.
        let old: ErrorResponse = serde_json::from_str(r#"{"error":"x"}"#).unwrap();
        assert_eq!(old.kind, None);
        assert!(!serde_json::to_string(&old).unwrap().contains("kind"));
        // A kind this build does not know is Other, not a parse error.
        let new: ErrorResponse = serde_json::from_str(r#"{"error":"x","kind":"busy"}"#).unwrap();
        assert_eq!(new.kind, Some(StartErrorKind::Other));
        assert_eq!(
            StartErrorKind::from_name("permission-denied").exit_code(),
            126
        );
        assert_eq!(StartErrorKind::from_name("not-found").exit_code(), 127);
        assert_eq!(StartErrorKind::from_name("").exit_code(), 125);
    }

    #[test]
    fn hello_defaults() {
        let h: Hello = serde_json::from_str("{}").unwrap();
        assert!(!h.stdin && h.stdout && h.stderr && h.detach_keys.is_none());
        let s = serde_json::to_string(&h).unwrap();
        assert_eq!(s, r#"{"stdin":false,"stdout":true,"stderr":true}"#);
    }

    #[test]
    fn status_json_names() {
        let mut st = Status {
            status: "running".into(),
            health: Some(Health {
                status: "healthy".into(),
                failing_streak: 0,
                log: vec![HealthLog::default()],
            }),
            ..Default::default()
        };
        st.execs.insert("x".into(), ExecStatus::default());
        let s = serde_json::to_string(&st).unwrap();
        assert_eq!(
            s,
            r#"{"id":"","status":"running","pid":0,"shim_pid":0,"started_at":null,"finished_at":null,"exit_code":null,"oom_killed":false,"restart_count":0,"user_stopped":false,"error":null,"health":{"Status":"healthy","FailingStreak":0,"Log":[{"Start":"","End":"","ExitCode":0,"Output":""}]},"execs":{"x":{"pid":0,"running":false,"exit_code":null}}}"#
        );
        let back: Status = serde_json::from_str(&s).unwrap();
        assert_eq!(back, st);
        let partial: Status = serde_json::from_str(r#"{"status":"exited"}"#).unwrap();
        assert_eq!(partial.status, "exited");
    }
}
