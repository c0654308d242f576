//! berth beside docker on the host.
//!
//! First, berth's bridges on a host where dockerd runs: dockerd sets iptables'
//! FORWARD policy to DROP and jumps to its `DOCKER-USER` chain first; an
//! accept in berth's own nftables table does not override that drop. berth
//! keeps accept rules for its bridges in DOCKER-USER. This test makes the
//! state dockerd makes (the chain and the jump when no dockerd did; the DROP
//! policy as DROP rules for the test's own bridges in DOCKER-USER, so that
//! other work on the host keeps forwarding; checked by hand against a
//! private dockerd too, see docs/networking.md), sends traffic across two
//! berth networks through a published port, and restores the host.
//!
//! Second, the differential: one scenario (published ports in docker's forms,
//! reached from the host on 127.0.0.1 and on its other address, from
//! containers through the host's address, the client address the server
//! sees; isolation, `--internal`, connect/disconnect, `--link`, `-P` with
//! EXPOSE, `port` and `ps` text) runs on berth and on a private dockerd with
//! its own iptables rules and default bridge (one this test makes, not
//! docker0), and the outcomes are compared.
//!
//! The tests of this file change the host's iptables state: they run one at
//! a time, also across processes (`serial`).

#[path = "../src/docker.rs"]
mod docker;
#[path = "../src/engine_kit.rs"]
mod engine_kit;

use berth_tests::census::root_tag;
use berth_tests::manager::Berth;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// Held while a test of this file runs.
struct Serial {
    _in_process: MutexGuard<'static, ()>,
    /// flock'ed: released when closed.
    _across_processes: std::fs::File,
}

/// One test of this file at a time, in this process (a failed one poisons
/// nothing) and across processes: the differential's dockerd takes the
/// host's `DOCKER*` chains away when it goes, so another run of this file
/// beside this one would flush `DOCKER-USER` under its test.
fn serial() -> Serial {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let path = std::env::temp_dir().join("berth-tests-network_docker.lock");
    let f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
    Serial {
        _in_process: g,
        _across_processes: f,
    }
}

fn iptables(args: &[&str]) -> bool {
    Command::new("iptables")
        .args(["-w", "5"])
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

fn iptables_out(args: &[&str]) -> String {
    Command::new("iptables")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The host state of a dockerd, undone on drop: its `DOCKER-USER` chain
/// jumped to first from FORWARD (made when no dockerd made it), and its
/// FORWARD DROP policy for this test's bridges only, as DROP rules at the
/// end of DOCKER-USER (before its RETURN), below berth's accept rules. A
/// DROP policy would be host-wide: it would cut the forwarding of every
/// other berth root (other tests, other work on the host) meanwhile. And
/// a rule later in FORWARD could be passed by another root's accept first
/// (the iptables backend's chain accepts every DNATed connection), so the
/// test would not see what berth's DOCKER-USER rules do.
struct DockerLikeForward {
    made: bool,
    /// iptables-nft's `ip filter` table existed before (else it is removed).
    had_table: bool,
    /// The bridges whose forwarding ends in a DROP rule.
    dropped: Vec<String>,
}

impl DockerLikeForward {
    fn setup() -> DockerLikeForward {
        if iptables(&["-S", "DOCKER-USER"]) {
            // a real dockerd's chain: use it as it is
            return DockerLikeForward {
                made: false,
                had_table: true,
                dropped: Vec::new(),
            };
        }
        let had_table = Command::new("nft")
            .args(["list", "table", "ip", "filter"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(iptables(&["-N", "DOCKER-USER"]));
        assert!(iptables(&["-A", "DOCKER-USER", "-j", "RETURN"]));
        assert!(iptables(&["-I", "FORWARD", "-j", "DOCKER-USER"]));
        DockerLikeForward {
            made: true,
            had_table,
            dropped: Vec::new(),
        }
    }

    /// docker's DROP policy for traffic from and to `bridge`: what berth's
    /// rules in DOCKER-USER (inserted at its top) do not accept is dropped.
    fn drop_forward_of(&mut self, bridge: &str) {
        self.dropped.push(bridge.to_string());
        for dir in ["-i", "-o"] {
            let rules = iptables_out(&["-S", "DOCKER-USER"]);
            let n = rules.lines().filter(|l| l.starts_with("-A ")).count();
            let ends_in_return = rules
                .lines()
                .rev()
                .find(|l| l.starts_with("-A "))
                .is_some_and(|l| l.trim_end() == "-A DOCKER-USER -j RETURN");
            let ok = if ends_in_return {
                let at = n.to_string();
                iptables(&["-I", "DOCKER-USER", &at, dir, bridge, "-j", "DROP"])
            } else {
                iptables(&["-A", "DOCKER-USER", dir, bridge, "-j", "DROP"])
            };
            assert!(ok, "DROP for {dir} {bridge} in DOCKER-USER");
        }
    }
}

impl Drop for DockerLikeForward {
    fn drop(&mut self) {
        for bridge in &self.dropped {
            for dir in ["-i", "-o"] {
                iptables(&["-D", "DOCKER-USER", dir, bridge, "-j", "DROP"]);
            }
        }
        if self.made {
            iptables(&["-D", "FORWARD", "-j", "DOCKER-USER"]);
            iptables(&["-F", "DOCKER-USER"]);
            iptables(&["-X", "DOCKER-USER"]);
            if !self.had_table {
                let _ = Command::new("nft")
                    .args(["delete", "table", "ip", "filter"])
                    .status();
            }
        }
    }
}

/// The bridge of network `name` of `b`.
fn bridge_of(b: &Berth, name: &str) -> String {
    let v = b.run(&["network", "inspect", name]).assert_ok().json();
    v[0]["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .expect("a bridge name in Options")
        .to_string()
}

#[test]
fn published_port_across_networks_under_dockers_forward_drop() {
    berth_tests::init();
    let _serial = serial();
    if Command::new("iptables").arg("-V").output().is_err() {
        eprintln!("skipped: iptables is not installed");
        return;
    }
    let b = Berth::new();
    b.import_busybox("busybox");
    let mut fwd = DockerLikeForward::setup();
    b.run(&["network", "create", "d1"]).assert_ok();
    b.run(&["network", "create", "d2"]).assert_ok();
    for n in ["d1", "d2"] {
        fwd.drop_forward_of(&bridge_of(&b, n));
    }
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    b.run(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "d2",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        "mkdir /w && echo across > /w/index.html && exec httpd -f -p 80 -h /w",
    ])
    .assert_ok();
    b.run(&[
        "run",
        "-d",
        "--name",
        "cli",
        "--network",
        "d1",
        "busybox",
        "sleep",
        "60",
    ])
    .assert_ok();
    // the gateway of d1 is a host address: the traffic is DNAT'ed to d2's
    // bridge and forwarded, through iptables' FORWARD chain
    let gw = b
        .run(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.d1.Gateway}}",
            "cli",
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    // this root's rules only: other berth roots on the host (other tests,
    // other work) have theirs in DOCKER-USER too
    let mark = format!("berth:berth_{}", root_tag(b.root()));
    let rules = iptables_out(&["-S", "DOCKER-USER"]);
    assert!(
        rules.contains(&mark),
        "no rules of this root ({mark}) in DOCKER-USER:\n{rules}"
    );
    let mut got = String::new();
    for _ in 0..20 {
        let out = b.run(&[
            "exec",
            "cli",
            // (busybox's `wget -T` crashes; `timeout` bounds it instead)
            "timeout",
            "5",
            "wget",
            "-qO-",
            &format!("http://{gw}:{port}/"),
        ]);
        if out.ok() {
            got = out.stdout.clone();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        got.trim(),
        "across",
        "forwarding blocked under FORWARD DROP"
    );
    // without berth's accept rules, docker's DROP policy wins
    for line in iptables_out(&["-S", "DOCKER-USER"]).lines() {
        if line.contains(&mark) {
            let del = line.replacen("-A ", "-D ", 1).replace('"', "");
            let args: Vec<&str> = del.split_whitespace().collect();
            assert!(iptables(&args), "{del}");
        }
    }
    let out = b.run(&[
        "exec",
        "cli",
        "timeout",
        "3",
        "wget",
        "-qO-",
        &format!("http://{gw}:{port}/"),
    ]);
    assert!(
        !out.ok(),
        "reached without berth's DOCKER-USER rules:\n{out}"
    );
    b.run(&["rm", "-f", "srv", "cli"]).assert_ok();
    b.run(&["network", "rm", "d1", "d2"]).assert_ok();
    // this root's rules leave DOCKER-USER with its bridges
    let rules = iptables_out(&["-S", "DOCKER-USER"]);
    assert!(
        !rules.contains(&mark),
        "rules of this root ({mark}) left:\n{rules}"
    );
    drop(fwd);
    b.assert_no_leaks();
}

// ---------------------------------------------------------------------------
// The differential: one scenario, berth and a private dockerd.

/// An engine's CLI: `ARGS` -> (success, stdout, stderr).
type EngineCmd<'a> = dyn Fn(&[&str]) -> (bool, String, String) + 'a;

/// How the scenario drives one engine.
struct Engine<'a> {
    name: &'static str,
    /// `ARGS` -> (success, stdout, stderr).
    cmd: Box<EngineCmd<'a>>,
    /// What every `run` starts with (docker's names berth-runtime).
    run: Vec<&'static str>,
    image: &'static str,
    /// Names' prefix (networks, containers, images).
    p: &'static str,
    /// The second octet of the engine's first subnet (three in a row; 241
    /// and 244: no other test file's subnets, which run beside these).
    block: u8,
    ports: HostPorts,
}

impl Engine<'_> {
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = (self.cmd)(args);
        assert!(ok, "{} {args:?}: {out}{err}", self.name);
        out
    }

    /// `run -d --name NAME OPTS IMAGE CMD...`
    #[track_caller]
    fn run_d(&self, name: &str, opts: &[&str], cmd: &[&str]) {
        let mut a = self.run.clone();
        a.extend_from_slice(&["-d", "--name", name]);
        a.extend_from_slice(opts);
        a.push(self.image);
        a.extend_from_slice(cmd);
        self.ok(&a);
    }

    fn n(&self, s: &str) -> String {
        format!("{}{s}", self.p)
    }

    fn subnet(&self, i: u8) -> String {
        format!("10.{}.{}.0/24", self.block + i, std::process::id() % 200)
    }

    fn ip(&self, c: &str, net: &str) -> String {
        let out = self.ok(&["inspect", c]);
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{} inspect {c}: {e}: {out}", self.name));
        v[0]["NetworkSettings"]["Networks"][net]["IPAddress"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The gateway of `net` as container `c` sees it (docker's `network
    /// inspect` shows a gateway only when one was given).
    fn gateway(&self, c: &str, net: &str) -> String {
        let out = self.ok(&["inspect", c]);
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{} inspect {c}: {e}: {out}", self.name));
        v[0]["NetworkSettings"]["Networks"][net]["Gateway"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// `wget` of the server's address page from container `from`.
    fn wget(&self, from: &str, host: &str, port: u16) -> Option<String> {
        let url = format!("http://{host}:{port}/cgi-bin/ip");
        // (busybox's `wget -T` crashes; `timeout` bounds it instead)
        let (ok, out, _) = (self.cmd)(&["exec", from, "timeout", "4", "wget", "-qO-", &url]);
        ok.then(|| out.trim().to_string())
    }
}

/// The host ports an engine's scenario publishes (free when chosen).
#[derive(Clone, Copy)]
struct HostPorts {
    /// `-p H1:80`
    h1: u16,
    /// `-p 127.0.0.1:H2:80`
    h2: u16,
    /// `-p R0-R1:7000-7001`
    r0: u16,
    /// `-p U:9000/udp`
    u: u16,
    /// `-p HI:80` on the internal network
    hi: u16,
}

/// Six consecutive ports free for TCP and UDP on every address, from `from`.
fn free_ports(from: u16) -> HostPorts {
    let free = |p: u16| {
        TcpListener::bind(("0.0.0.0", p)).is_ok() && UdpSocket::bind(("0.0.0.0", p)).is_ok()
    };
    let mut base = from;
    while !(base..base + 6).all(free) {
        base += 7;
    }
    HostPorts {
        h1: base,
        h2: base + 1,
        r0: base + 2,
        u: base + 4,
        hi: base + 5,
    }
}

/// The host's address on its default route (eth0's), where published
/// ports must answer as on 127.0.0.1.
fn host_address() -> Option<String> {
    let out = Command::new("ip")
        .args(["-4", "route", "get", "192.0.2.200"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "src")?;
    words.next().map(str::to_string)
}

/// The body of `GET /cgi-bin/ip` (the client address the server saw).
fn http_get(addr: &str, port: u16) -> Option<String> {
    try_http_get(addr, port).ok()
}

fn try_http_get(addr: &str, port: u16) -> Result<String, String> {
    let sa = format!("{addr}:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut s = TcpStream::connect_timeout(&sa, Duration::from_secs(3))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /cgi-bin/ip HTTP/1.0\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut r = String::new();
    s.read_to_string(&mut r).map_err(|e| format!("read: {e}"))?;
    // (busybox httpd passes the CGI's own `\n\n` after its headers)
    if !r.starts_with("HTTP/1.") {
        return Err(format!("no HTTP answer: {r:?}"));
    }
    let body = r
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    Ok(body.trim().to_string())
}

/// One datagram to the UDP echo server: the client address it saw.
fn udp_ask(addr: &str, port: u16) -> Option<String> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    for _ in 0..3 {
        s.send_to(b"who\n", (addr, port)).ok()?;
        let mut buf = [0u8; 100];
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            return Some(String::from_utf8_lossy(&buf[..n]).trim().to_string());
        }
    }
    None
}

/// Up to `tries` attempts, 300 ms apart, until one gives an answer.
fn attempt(tries: u32, mut f: impl FnMut() -> Option<String>) -> Option<String> {
    for i in 0..tries {
        if let Some(v) = f() {
            return Some(v);
        }
        if i + 1 < tries {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    None
}

/// The httpd server: `/cgi-bin/ip` answers the client's address.
const HTTPD: &str = "mkdir -p /w/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /w/cgi-bin/ip && chmod +x /w/cgi-bin/ip && httpd -p 7000 -h /w && httpd -p 7001 -h /w && exec httpd -f -p 80 -h /w";

/// A UDP echo of the client's address (busybox-static has no UDP server:
/// the host's python3, bind-mounted read only).
const UDP_ECHO: &str = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',9000))\nwhile True:\n    d,a=s.recvfrom(100)\n    s.sendto(a[0].encode(),a)\n";

/// Names the addresses a server may see, so two engines' outcomes compare.
struct Classes(Vec<(String, &'static str)>);

impl Classes {
    fn outcome(&self, seen: Option<String>) -> String {
        match seen {
            None => "unreachable".into(),
            Some(ip) => {
                // httpd on a dual-stack socket: `[::ffff:10.1.2.3]`
                let ip = ip.trim_start_matches("[::ffff:").trim_end_matches(']');
                self.class(ip)
            }
        }
    }

    fn class(&self, ip: &str) -> String {
        match self.0.iter().find(|(a, _)| a == ip) {
            Some((_, c)) => format!("ok, client seen as {c}"),
            None => format!("ok, client seen as other address {ip}"),
        }
    }
}

/// Text with the engine's names, host ports and ephemeral ports made
/// generic; IPv6 bindings left out (berth publishes IPv4 only, see
/// docs/networking.md).
fn generic(text: &str, subst: &[(String, String)]) -> String {
    let mut lines = Vec::new();
    let v6 = |p: &str| p.starts_with(":::") || p.starts_with("[::]");
    for l in text.lines() {
        if !l.is_empty() && l.split(", ").all(|p| v6(p) || p.contains(" -> :::")) {
            continue;
        }
        let parts: Vec<String> = l
            .split(", ")
            .filter(|p| !v6(p))
            .map(|p| {
                let mut p = p.to_string();
                for (from, to) in subst {
                    p = p.replace(from.as_str(), to);
                }
                p
            })
            .collect();
        lines.push(parts.join(", "));
    }
    lines.join("\n")
}

fn sorted(text: &str) -> String {
    let mut l: Vec<&str> = text.lines().collect();
    l.sort();
    l.join("\n")
}

/// A host port ephemeral in `port` output (`80/tcp -> 0.0.0.0:49153`).
fn ephemeral_of(port_out: &str) -> Vec<String> {
    port_out
        .lines()
        .filter(|l| !l.contains(":::") && !l.contains("[::]"))
        .filter_map(|l| l.rsplit(':').next())
        .map(|p| p.trim().to_string())
        .collect()
}

/// The scenario: outcomes by what was tried, in words both engines share.
fn scenario(e: &Engine, host: &str) -> BTreeMap<String, String> {
    let mut o = BTreeMap::new();
    let hp = e.ports;
    let (na, nb, ni) = (e.n("neta"), e.n("netb"), e.n("netint"));
    e.ok(&["network", "create", "--subnet", &e.subnet(0), &na]);
    e.ok(&["network", "create", "--subnet", &e.subnet(1), &nb]);
    e.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &e.subnet(2),
        &ni,
    ]);
    let (srv, usrv, cli, cli2, cint) = (
        e.n("srv"),
        e.n("usrv"),
        e.n("cli"),
        e.n("cli2"),
        e.n("cint"),
    );
    e.run_d(
        &srv,
        &[
            "--network",
            &na,
            "-p",
            &format!("{}:80", hp.h1),
            "-p",
            &format!("127.0.0.1:{}:80", hp.h2),
            "-p",
            "80",
            "-p",
            &format!("{}-{}:7000-7001", hp.r0, hp.r0 + 1),
        ],
        &["sh", "-c", HTTPD],
    );
    e.run_d(
        &usrv,
        &[
            "--network",
            &na,
            "-p",
            &format!("{}:9000/udp", hp.u),
            "-v",
            "/usr:/usr:ro",
            "-v",
            "/lib:/lib:ro",
            "-v",
            "/lib64:/lib64:ro",
        ],
        &["/usr/bin/python3", "-c", UDP_ECHO],
    );
    e.run_d(&cli, &["--network", &na], &["sleep", "300"]);
    e.run_d(&cli2, &["--network", &nb], &["sleep", "300"]);
    let classes = Classes(vec![
        ("127.0.0.1".into(), "127.0.0.1"),
        (host.to_string(), "the host's address"),
        (e.gateway(&srv, &na), "the server network's gateway"),
        (e.gateway(&cli2, &nb), "the client network's gateway"),
        (e.ip(&cli, &na), "the client container"),
        (e.ip(&cli2, &nb), "the client container"),
    ]);
    let srv_ip = e.ip(&srv, &na);
    // ready: the first published port answers
    let first = attempt(30, || http_get("127.0.0.1", hp.h1));
    if first.is_none() {
        let sh = |c: &str| {
            Command::new("sh")
                .args(["-c", c])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        eprintln!(
            "{}: 127.0.0.1:{} does not answer\n{}\n{}",
            e.name,
            hp.h1,
            sh(&format!("ss -ltnp | grep {}", hp.h1)),
            sh("iptables -t nat -S; iptables -S; nft list ruleset | head -100")
        );
    }
    o.insert("-p H:80, host -> 127.0.0.1:H", classes.outcome(first));
    let t = |addr: &str, port: u16| classes.outcome(attempt(3, || http_get(addr, port)));
    o.insert("-p H:80, host -> host address:H", t(host, hp.h1));
    o.insert(
        "-p 127.0.0.1:H:80, host -> 127.0.0.1:H",
        t("127.0.0.1", hp.h2),
    );
    o.insert("-p 127.0.0.1:H:80, host -> host address:H", t(host, hp.h2));
    o.insert("-p R-R:7000-7001, host -> host address:R", t(host, hp.r0));
    o.insert(
        "-p R-R:7000-7001, host -> host address:R+1",
        t(host, hp.r0 + 1),
    );
    let port80 = e.ok(&["port", &srv, "80/tcp"]);
    let eph: Vec<String> = ephemeral_of(&port80)
        .into_iter()
        .filter(|p| *p != hp.h1.to_string() && *p != hp.h2.to_string())
        .collect();
    assert_eq!(
        eph.len(),
        1,
        "{}: one ephemeral port for -p 80:\n{port80}",
        e.name
    );
    let ephp: u16 = eph[0].parse().unwrap_or(0);
    o.insert(
        "-p 80 (ephemeral), host -> 127.0.0.1:E",
        t("127.0.0.1", ephp),
    );
    let mut subst = vec![
        (hp.h1.to_string(), "H1".to_string()),
        (hp.h2.to_string(), "H2".to_string()),
        (hp.r0.to_string(), "R0".to_string()),
        ((hp.r0 + 1).to_string(), "R1".to_string()),
        (hp.u.to_string(), "U".to_string()),
        (hp.hi.to_string(), "HI".to_string()),
        (eph[0].clone(), "E".to_string()),
    ];
    // (the order of one port's several bindings is not compared: docker
    // gives them in the reverse of the command line's)
    o.insert("port SRV 80/tcp", sorted(&generic(&port80, &subst)));
    o.insert("port SRV", sorted(&generic(&e.ok(&["port", &srv]), &subst)));
    let ps = e.ok(&["ps", "--format", "{{.Names}}|{{.Ports}}"]);
    let ports_col = ps
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{srv}|")))
        .unwrap_or_else(|| panic!("{}: {srv} not in ps:\n{ps}", e.name));
    o.insert("ps PORTS of SRV", generic(ports_col, &subst));
    o.insert(
        "-p U:9000/udp, host -> 127.0.0.1:U",
        classes.outcome(attempt(5, || udp_ask("127.0.0.1", hp.u))),
    );
    o.insert(
        "-p U:9000/udp, host -> host address:U",
        classes.outcome(udp_ask(host, hp.u)),
    );
    // from containers
    let w = |from: &str, addr: &str, port: u16| {
        classes.outcome(attempt(2, || e.wget(from, addr, port)))
    };
    o.insert(
        "client on the same network -> server:80",
        w(&cli, &srv_ip, 80),
    );
    o.insert(
        "client on the same network -> host address:H (hairpin)",
        w(&cli, host, hp.h1),
    );
    o.insert(
        "client on another network -> host address:H",
        w(&cli2, host, hp.h1),
    );
    o.insert(
        "client on another network -> server:80",
        w(&cli2, &srv_ip, 80),
    );
    // an internal network: no way out, and its published port
    let (ok, _, err) = {
        let mut a = e.run.clone();
        let port = format!("{}:80", hp.hi);
        a.extend_from_slice(&["-d", "--name", &cint, "--network", &ni, "-p", &port]);
        a.extend_from_slice(&[e.image, "sh", "-c", HTTPD]);
        (e.cmd)(&a)
    };
    o.insert(
        "run -p HI:80 on an --internal network",
        if ok {
            "ok".into()
        } else {
            format!("refused: {err}")
        },
    );
    if ok {
        o.insert("internal: host -> 127.0.0.1:HI", t("127.0.0.1", hp.hi));
        o.insert("internal: host -> host address:HI", t(host, hp.hi));
        o.insert("internal: client -> host address:H", w(&cint, host, hp.h1));
        o.insert(
            "internal: client -> server:80 on another network",
            w(&cint, &srv_ip, 80),
        );
        o.insert("port CINT", generic(&e.ok(&["port", &cint]), &subst));
    }
    // connect and disconnect a running container, with --ip and --alias
    let fixed = format!("10.{}.{}.50", e.block + 1, std::process::id() % 200);
    let al = e.n("al");
    let (ok, _, err) = (e.cmd)(&[
        "network", "connect", "--ip", &fixed, "--alias", &al, &nb, &cli,
    ]);
    o.insert(
        "network connect --ip --alias (running)",
        if ok {
            "ok".into()
        } else {
            format!("refused: {err}")
        },
    );
    let has_ip = |c: &str| {
        let (_, out, _) = (e.cmd)(&["exec", c, "ip", "-4", "-o", "addr"]);
        out.contains(&format!("inet {fixed}/"))
    };
    let ping = |from: &str, to: &str| {
        let (ok, _, _) = (e.cmd)(&["exec", from, "ping", "-c", "1", "-W", "2", to]);
        if ok { "answers" } else { "no answer" }.to_string()
    };
    o.insert(
        "connected: the --ip address inside",
        has_ip(&cli).to_string(),
    );
    o.insert(
        "connected: ping the --alias from the new network",
        ping(&cli2, &al),
    );
    o.insert(
        "connected: ping by name from the new network",
        ping(&cli2, &cli),
    );
    o.insert(
        "connected: inspect IPAddress on the new network",
        (e.ip(&cli, &nb) == fixed).to_string(),
    );
    let (ok, _, err) = (e.cmd)(&["network", "disconnect", &nb, &cli]);
    o.insert(
        "network disconnect (running)",
        if ok {
            "ok".into()
        } else {
            format!("refused: {err}")
        },
    );
    o.insert(
        "disconnected: the --ip address inside",
        has_ip(&cli).to_string(),
    );
    o.insert(
        "disconnected: ping the --alias from the network",
        ping(&cli2, &al),
    );
    // --link on the default bridge: /etc/hosts and the environment
    let (target, linker) = (e.n("linked"), e.n("linker"));
    e.run_d(
        &target,
        &["--expose", "5432", "--expose", "53/udp", "-e", "PGV=13"],
        &["sleep", "300"],
    );
    let target_ip = e
        .ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &target])
        .trim()
        .to_string();
    let target_id = e
        .ok(&["inspect", "-f", "{{.Id}}", &target])
        .trim()
        .to_string();
    let link = format!("{target}:db");
    let mut a = e.run.clone();
    a.extend_from_slice(&[
        "--rm",
        "--name",
        &linker,
        "--link",
        &link,
        e.image,
        "sh",
        "-c",
        "env | grep ^DB_ | sort; grep -w db /etc/hosts",
    ]);
    let linkout = e.ok(&a);
    let lsubst = vec![
        (target_ip, "IP".to_string()),
        (target_id[..12].to_string(), "ID".to_string()),
        (target.clone(), "TARGET".to_string()),
        (linker.clone(), "LINKER".to_string()),
    ];
    o.insert("--link: env and /etc/hosts", generic(&linkout, &lsubst));
    // -P with the image's EXPOSE
    let ctx = std::env::temp_dir().join(format!("berth-netdiff-{}-{}", e.name, std::process::id()));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {}\nEXPOSE 8080 9090/udp\n", e.image),
    )
    .unwrap();
    let tag = format!("{}exposed:1", e.p);
    e.ok(&["build", "-q", "-t", &tag, &ctx.to_string_lossy()]);
    let _ = std::fs::remove_dir_all(&ctx);
    let pub_all = e.n("puball");
    let mut a = e.run.clone();
    a.extend_from_slice(&["-d", "--name", &pub_all, "-P", &tag, "sleep", "300"]);
    e.ok(&a);
    let pout = e.ok(&["port", &pub_all]);
    for p in ephemeral_of(&pout) {
        subst.push((p, "E".to_string()));
    }
    let mut lines: Vec<String> = generic(&pout, &subst).lines().map(str::to_string).collect();
    lines.sort();
    o.insert("-P with EXPOSE: port", lines.join("\n"));
    // clean up
    let (_, _, _) = (e.cmd)(&[
        "rm", "-f", &srv, &usrv, &cli, &cli2, &cint, &target, &pub_all,
    ]);
    for n in [&na, &nb, &ni] {
        e.ok(&["network", "rm", n]);
    }
    let _ = (e.cmd)(&["rmi", &tag]);
    o.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A private dockerd with its own iptables rules (`--iptables=true`, the
/// userland proxy as docker's default has it) and a default bridge of its
/// own: a bridge this test makes (`--bridge`), never `docker0`, which another
/// dockerd on the host may own. `--ip-forward=false` keeps dockerd from
/// setting the host's FORWARD policy to DROP under the other tests.
/// Everything it added to the host (its chains and jumps, the bridge's
/// rules, the bridge) goes on drop.
struct IptablesDocker {
    d: Option<docker::Docker>,
    /// The default bridge this test made for the dockerd.
    bridge: String,
}

/// `ip ARGS`, true on success.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

impl IptablesDocker {
    fn start() -> Option<IptablesDocker> {
        if iptables(&["-S", "DOCKER"]) || iptables(&["-t", "nat", "-S", "DOCKER"]) {
            // (its chains would be this dockerd's too, and go on drop)
            eprintln!("skipped: another dockerd's iptables chains are on the host");
            return None;
        }
        // per process, so runs beside each other do not share it (a name
        // left by an earlier run of this pid is that run's: it goes)
        let bridge = format!("bdk{}", std::process::id());
        let _ = Command::new("ip")
            .args(["link", "del", &bridge])
            .stderr(std::process::Stdio::null())
            .status();
        let addr = format!("10.240.{}.1/24", std::process::id() % 200);
        // (docker refuses `--bip` beside `--bridge`: the bridge's address
        // is the network's)
        let made = ip(&["link", "add", &bridge, "type", "bridge"]);
        // from here on, a panic removes the bridge again
        let mut dk = IptablesDocker {
            d: None,
            bridge: bridge.clone(),
        };
        assert!(
            made && ip(&["addr", "add", &addr, "dev", &bridge])
                && ip(&["link", "set", &bridge, "up"]),
            "making the dockerd's bridge {bridge} ({addr})"
        );
        let d = docker::Docker::start_with(&[
            "--iptables=true",
            "--ip-forward=false",
            "--ip-masq=true",
            "--userland-proxy=true",
            &format!("--bridge={bridge}"),
        ]);
        dk.d = Some(d);
        Some(dk)
    }
}

impl Drop for IptablesDocker {
    fn drop(&mut self) {
        if let Some(d) = self.d.take() {
            let ids = d.docker(&["ps", "-aq"]).stdout.clone();
            let mut a = vec!["rm", "-f"];
            a.extend(ids.split_whitespace());
            if a.len() > 2 {
                let _ = d.docker(&a);
            }
            let _ = d.docker(&["network", "prune", "-f"]);
            for l in d.env.teardown() {
                eprintln!("docker teardown: {l}");
            }
        }
        // dockerd leaves its bridge's rules, its chains and the bridge behind
        for table in ["filter", "nat"] {
            for l in iptables_out(&["-t", table, "-S"]).lines() {
                let builtin = [
                    "-A INPUT ",
                    "-A FORWARD ",
                    "-A OUTPUT ",
                    "-A PREROUTING ",
                    "-A POSTROUTING ",
                ]
                .iter()
                .any(|b| l.starts_with(b));
                let ours = l.contains("DOCKER") || l.split_whitespace().any(|w| w == self.bridge);
                if builtin && ours {
                    let del = l.replacen("-A ", "-D ", 1);
                    let mut args = vec!["-t", table];
                    args.extend(del.split_whitespace());
                    iptables(&args);
                }
            }
            for l in iptables_out(&["-t", table, "-S"]).lines() {
                if let Some(chain) = l.strip_prefix("-N ") {
                    if chain.starts_with("DOCKER") {
                        iptables(&["-t", table, "-F", chain]);
                    }
                }
            }
            for l in iptables_out(&["-t", table, "-S"]).lines() {
                if let Some(chain) = l.strip_prefix("-N ") {
                    if chain.starts_with("DOCKER") {
                        iptables(&["-t", table, "-X", chain]);
                    }
                }
            }
        }
        ip(&["link", "del", &self.bridge]);
    }
}

/// Where berth's behaviour differs from docker's on purpose (see
/// docs/networking.md, "Differences from docker"): key -> (docker's, berth's).
fn intended_differences() -> BTreeMap<&'static str, (&'static str, &'static str)> {
    BTreeMap::new()
}

#[test]
fn published_ports_isolation_links_and_text_as_docker() {
    berth_tests::init();
    let _serial = serial();
    let Some(host) = host_address() else {
        eprintln!("skipped: the host has no address on a default route");
        return;
    };
    let x = 20000 + (std::process::id() % 4000) as u16 * 2;
    let bports = free_ports(x);
    let dports = free_ports(bports.hi + 1);
    let b = Berth::new();
    b.import_busybox("busybox");
    let be = Engine {
        name: "berth",
        cmd: Box::new(|a: &[&str]| {
            let o = b.run(a);
            (o.ok(), o.stdout.clone(), o.stderr.clone())
        }),
        run: vec!["run"],
        image: "busybox",
        p: "",
        block: 241,
        ports: bports,
    };
    let t0 = Instant::now();
    let berth_out = scenario(&be, &host);
    eprintln!("berth's scenario: {:?}", t0.elapsed());
    drop(be);
    b.assert_no_leaks();
    let Some(dk) = IptablesDocker::start() else {
        return;
    };
    let d = dk.d.as_ref().unwrap();
    let de = Engine {
        name: "docker",
        cmd: Box::new(|a: &[&str]| {
            let o = d.docker(a);
            (o.ok(), o.stdout.clone(), o.stderr.clone())
        }),
        run: vec!["run", "--runtime", docker::RUNTIME_NAME],
        image: engine_kit::IMAGE,
        p: "dk",
        block: 244,
        ports: dports,
    };
    let t0 = Instant::now();
    let docker_out = scenario(&de, &host);
    eprintln!("docker's scenario: {:?}", t0.elapsed());
    drop(de);
    drop(dk);
    let intended = intended_differences();
    let mut diffs = Vec::new();
    for (k, dv) in &docker_out {
        let bv = berth_out
            .get(k)
            .cloned()
            .unwrap_or_else(|| "(not tried)".into());
        let ok = match intended.get(k.as_str()) {
            Some((want_d, want_b)) => dv == want_d && bv == *want_b,
            None => *dv == bv,
        };
        if !ok {
            diffs.push(format!("{k}:\n  docker: {dv:?}\n  berth:  {bv:?}"));
        }
    }
    for k in berth_out.keys() {
        if !docker_out.contains_key(k) {
            diffs.push(format!("{k}: berth only: {:?}", berth_out[k]));
        }
    }
    eprintln!("outcomes (docker):");
    for (k, v) in &docker_out {
        eprintln!("  {k}: {v:?}");
    }
    assert!(
        diffs.is_empty(),
        "berth differs from docker:\n{}",
        diffs.join("\n")
    );
}
