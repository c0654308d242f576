//! A docker-registry 2.8 with bearer-token auth (`auth: token:`) and the token server
//! it trusts (tests/fixtures/token_server.py, python3): an RSA key and self-signed
//! certificate made with openssl, the certificate as the registry's `rootcertbundle`
//! and as the `x5c` chain in every JWT header. For tests/tests/interop.rs.

use crate::sys::TempDir;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN_USER: &str = "tokenuser";
pub const TOKEN_PASSWORD: &str = "t0ken-pw";
pub const SERVICE: &str = "test-registry";
pub const ISSUER: &str = "test-issuer";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[track_caller]
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Debian's python3 (python3-cryptography), else whatever `python3` is on PATH.
pub fn python3() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/python3");
    if debian.is_file() {
        debian
    } else {
        PathBuf::from("python3")
    }
}

fn wait_listening(port: u16, what: &str, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{what} did not listen on {port}:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The registry and its token server; both killed on drop.
pub struct TokenRegistry {
    registry: Child,
    tokens: Child,
    pub port: u16,
    pub token_port: u16,
    pub dir: TempDir,
    /// The registry's log (access log lines included).
    pub log: PathBuf,
    /// The token server's request log (one JSON object a line).
    pub token_log: PathBuf,
}

impl TokenRegistry {
    pub fn start() -> TokenRegistry {
        let dir = TempDir::new("token-registry");
        let d = dir.path().to_path_buf();
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=berth test token signer"])
            .arg("-keyout")
            .arg(d.join("token.key"))
            .arg("-out")
            .arg(d.join("token.crt"))
            .stderr(Stdio::null()));
        let token_port = free_port();
        let token_log = d.join("tokens.jsonl");
        std::fs::write(&token_log, "").unwrap();
        let script = crate::workspace_root().join("tests/fixtures/token_server.py");
        let tlog = std::fs::File::create(d.join("token-server.out")).unwrap();
        let tokens = Command::new(python3())
            .arg(&script)
            .arg(token_port.to_string())
            .arg(d.join("token.key"))
            .arg(d.join("token.crt"))
            .args([TOKEN_USER, TOKEN_PASSWORD, ISSUER])
            .arg(&token_log)
            .stdin(Stdio::null())
            .stdout(tlog.try_clone().unwrap())
            .stderr(tlog)
            .spawn()
            .expect("starting the token server (python3)");

        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n\
             http:\n  addr: 127.0.0.1:{port}\n\
             auth:\n  token:\n    realm: http://127.0.0.1:{token_port}/token\n\
             \x20   service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {cert}\n",
            storage = d.join("storage").display(),
            cert = d.join("token.crt").display(),
        );
        std::fs::write(d.join("config.yml"), config).unwrap();
        let log = d.join("registry.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let registry = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("starting /usr/bin/docker-registry (apt-get install docker-registry)");
        let r = TokenRegistry {
            registry,
            tokens,
            port,
            token_port,
            dir,
            log,
            token_log,
        };
        wait_listening(port, "docker-registry", &r.log);
        wait_listening(token_port, "token server", &d.join("token-server.out"));
        r
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The token server's requests so far.
    pub fn token_requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.token_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The registry's access log lines for requests under `/v2/` (method and status).
    pub fn access_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" /v2/") && l.contains(" HTTP/1.1\" "))
            .map(String::from)
            .collect()
    }

    /// How the token server says it signs (`cryptography` or `openssl`).
    pub fn signer(&self) -> String {
        std::fs::read_to_string(self.dir.join("token-server.out")).unwrap_or_default()
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        for c in [&mut self.registry, &mut self.tokens] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
