//! Names on user networks through each network's DNS responder, with real
//! lookups from busybox (nslookup, wget): by container name, alias and short
//! id, PTR, service replicas in rotating order, answers that follow stop,
//! rename, connect and disconnect, other names forwarded to an upstream this
//! test serves (the config file's `dns`, and a container's `--dns`),
//! isolation between networks, the default bridge without names, and the
//! responder's life: started on demand, restarted after kill -9, gone when
//! its network empties or is removed. The name scenarios also run against a
//! private dockerd to show that berth answers as docker does.

#[path = "../src/docker.rs"]
mod docker;
#[path = "../src/engine_kit.rs"]
mod engine_kit;

use berth_tests::manager::Berth;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// What the upstreams answer for `outside.test`.
const OUTSIDE: &str = "192.0.2.77";
const OUTSIDE_ALT: &str = "192.0.2.78";

/// A minimal authoritative server for one name (a test fixture, so written
/// by hand): A `outside.test` -> `answer`, NOERROR/empty for its other
/// types, NXDOMAIN for every other name.
fn serve_upstream(sock: UdpSocket, answer: Ipv4Addr) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let q = &buf[..n];
            if n < 17 {
                continue;
            }
            // the question: labels from byte 12, then type and class
            let mut i = 12;
            let mut labels = Vec::new();
            while i < n && q[i] != 0 {
                let l = q[i] as usize;
                labels.push(String::from_utf8_lossy(&q[i + 1..(i + 1 + l).min(n)]).to_lowercase());
                i += 1 + l;
            }
            let end = i + 5;
            if end > n {
                continue;
            }
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let known = labels.join(".") == "outside.test";
            let mut r = Vec::from(&q[..2]);
            let rcode = if known { 0 } else { 3 };
            r.extend_from_slice(&[0x81 | (q[2] & 1), 0x80 | rcode]);
            let an: u16 = if known && qtype == 1 { 1 } else { 0 };
            r.extend_from_slice(&[0, 1]);
            r.extend_from_slice(&an.to_be_bytes());
            r.extend_from_slice(&[0, 0, 0, 0]);
            r.extend_from_slice(&q[12..end]);
            if an == 1 {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
                r.extend_from_slice(&answer.octets());
            }
            let _ = sock.send_to(&r, from);
        }
    });
}

/// Port 53 on `n` free addresses of the host's loopback (all of 127/8 is
/// local), each bound now so that it stays this process's: another run of
/// this file (or any other program) may hold any fixed one. The search
/// starts at an address derived from the pid, so runs beside each other
/// seldom try the same ones.
fn free_loopback53(n: usize) -> Vec<(Ipv4Addr, UdpSocket)> {
    let pid = std::process::id();
    let start = (pid % 200) * 250 + (pid / 200) % 250;
    let mut out = Vec::new();
    for i in 0..50_000u32 {
        let k = (start + i) % 50_000;
        // 127.10.0.1 ..= 127.209.249.1: clear of 127.0.0.x (systemd's
        // 127.0.0.53, the host's own services)
        let a = Ipv4Addr::new(127, 10 + (k / 250) as u8, (k % 250) as u8, 1);
        if let Ok(s) = UdpSocket::bind((a, 53)) {
            out.push((a, s));
            if out.len() == n {
                return out;
            }
        }
    }
    panic!("no free port 53 on 127/8 for the test's upstream resolvers");
}

/// The upstream resolvers this test serves on the host's loopback (the
/// responder runs on the host, so loopback upstreams work, as
/// systemd-resolved's 127.0.0.53 does): the config file's (named in
/// `config`), and `alt` for a container's `--dns`. Started once per process.
struct Upstreams {
    main: Ipv4Addr,
    alt: Ipv4Addr,
}

fn upstreams() -> &'static Upstreams {
    static UP: OnceLock<Upstreams> = OnceLock::new();
    UP.get_or_init(|| {
        let [(main, s1), (alt, s2)]: [_; 2] = free_loopback53(2).try_into().unwrap();
        serve_upstream(s1, OUTSIDE.parse().unwrap());
        serve_upstream(s2, OUTSIDE_ALT.parse().unwrap());
        Upstreams { main, alt }
    })
}

/// The config file naming the test's upstream, in the test's scratch
/// directory (removed with it: a per-process file under /tmp outlived every
/// run).
fn config(b: &Berth) -> PathBuf {
    let config = b.scratch("dns-config").join("config.json");
    if !config.exists() {
        let main = upstreams().main;
        std::fs::write(&config, format!("{{\"dns\": [\"{main}\"]}}")).unwrap();
    }
    config
}

/// `berth ARGS` with the test's config file.
#[track_caller]
fn bt(b: &Berth, args: &[&str]) -> berth_tests::Output {
    b.cmd()
        .env("BERTH_CONFIG", &config(b).to_string_lossy())
        .args(args)
        .run()
}

/// `network create` arguments for a subnet outside every engine's default
/// pools (`block` picks one per network): other engines on this host (a
/// dockerd, podman) do not avoid berth's subnets, so a network they make
/// meanwhile on the same default subnet would take its traffic.
fn subnet(block: u8) -> String {
    format!("--subnet=10.{block}.{}.0/24", std::process::id() % 200)
}

/// The IPv4 addresses of an nslookup answer (after the server's lines).
fn answers(out: &str) -> Vec<String> {
    out.split("\n\n")
        .skip(1)
        .flat_map(|block| block.lines())
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().to_string())
        .filter(|a| a.parse::<Ipv4Addr>().is_ok())
        .collect()
}

/// How an engine is driven by the shared scenarios: `docker` or `berth`
/// arguments, (success, stdout + stderr).
type Engine<'a> = &'a dyn Fn(&[&str]) -> (bool, String);

/// `nslookup NAME` in container `from`: the addresses (empty: not found).
fn lookup(e: Engine, from: &str, name: &str) -> Vec<String> {
    let (_, out) = e(&["exec", from, "nslookup", name]);
    answers(&out)
}

fn ip_of(e: Engine, c: &str, net: &str) -> String {
    let (ok, out) = e(&["inspect", c]);
    assert!(ok, "inspect {c}: {out}");
    let start = out.find('[').unwrap_or(0);
    let v: serde_json::Value = serde_json::Deserializer::from_str(&out[start..])
        .into_iter()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("inspect {c}: {out}"));
    v[0]["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A berth network's gateway (where its responder listens).
fn gateway(b: &Berth, net: &str) -> String {
    let v = bt(b, &["network", "inspect", net]).assert_ok().json();
    v[0]["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The name scenarios both engines must pass alike. `run` is the engine's
/// `run` prefix (docker's needs `--runtime berth`).
/// `second` is the `network create` arguments of the scenario's second
/// network (docker needs an explicit subnet: it does not avoid the subnets
/// of berth's bridges made meanwhile by the tests running beside it).
fn name_scenarios(e: Engine, run: &[&str], net: &str, p: &str, second: &[&str]) {
    let n = |s: &str| format!("{p}{s}");
    let (web, peer, other, r1, r2) = (n("web"), n("peer"), n("other"), n("r1"), n("r2"));
    let start = |name: &str, extra: &[&str]| {
        let mut a: Vec<&str> = run.to_vec();
        a.extend_from_slice(&["-d", "--name", name]);
        a.extend_from_slice(extra);
        a.extend_from_slice(&[engine_image(run), "sleep", "300"]);
        let (ok, out) = e(&a);
        assert!(ok, "run {name}: {out}");
    };
    start(&web, &["--network", net, "--network-alias", &n("www")]);
    start(&peer, &["--network", net]);
    let web_ip = ip_of(e, &web, net);
    // by name, by alias
    assert_eq!(
        lookup(e, &peer, &web),
        std::slice::from_ref(&web_ip),
        "by name"
    );
    assert_eq!(
        lookup(e, &peer, &n("www")),
        std::slice::from_ref(&web_ip),
        "by alias"
    );
    // replicas under one alias: every address, in rotating order
    start(&r1, &["--network", net, "--network-alias", &n("svc")]);
    start(&r2, &["--network", net, "--network-alias", &n("svc")]);
    let (ip1, ip2) = (ip_of(e, &r1, net), ip_of(e, &r2, net));
    // (docker shuffles at random rather than rotating: enough lookups that
    // it too varies the first answer but for a 1 in 500 chance)
    let firsts: Vec<String> = (0..10)
        .map(|_| {
            let a = lookup(e, &peer, &n("svc"));
            let mut sorted = a.clone();
            sorted.sort();
            let mut want = vec![ip1.clone(), ip2.clone()];
            want.sort();
            assert_eq!(sorted, want, "replicas");
            a[0].clone()
        })
        .collect();
    assert!(
        firsts.iter().any(|f| *f != firsts[0]),
        "round robin: always {} first",
        firsts[0]
    );
    // a rename: the new name answers, the old one no longer
    let (ok, out) = e(&["rename", &web, &n("site")]);
    assert!(ok, "{out}");
    assert_eq!(
        lookup(e, &peer, &n("site")),
        std::slice::from_ref(&web_ip),
        "renamed"
    );
    assert!(lookup(e, &peer, &web).is_empty(), "old name after rename");
    // stop: gone from the answers
    let (ok, out) = e(&["stop", "-t", "0", &n("site")]);
    assert!(ok, "{out}");
    assert!(lookup(e, &peer, &n("site")).is_empty(), "stopped container");
    assert!(
        lookup(e, &peer, &n("www")).is_empty(),
        "stopped container's alias"
    );
    // connect and disconnect of a running container (from a second network)
    let net2 = n("second");
    let mut create = vec!["network", "create"];
    create.extend_from_slice(second);
    create.push(&net2);
    let (ok, out) = e(&create);
    assert!(ok, "{out}");
    start(&other, &["--network", &net2]);
    assert!(
        lookup(e, &peer, &other).is_empty(),
        "not on the network yet"
    );
    let (ok, out) = e(&["network", "connect", net, &other]);
    assert!(ok, "{out}");
    let other_ip = ip_of(e, &other, net);
    let (_, out) = e(&["exec", &peer, "nslookup", &other]);
    if answers(&out) != [other_ip.clone()] {
        // what the responder and the peer's route looked like
        let (_, diag) = e(&["exec", &peer, "sh", "-c", "cat /etc/resolv.conf; ip route; ip neigh; ping -c1 -W1 $(awk '/nameserver/{print $2; exit}' /etc/resolv.conf)"]);
        let (_, again) = e(&["exec", &peer, "nslookup", &other]);
        panic!(
            "after connect: {out}\n--- diag ---\n{diag}\n--- again ---\n{again}\n--- host ---\n{}",
            diag_host()
        );
    }
    assert_eq!(
        lookup(e, &other, &peer).len(),
        1,
        "the connected one resolves too"
    );
    let (ok, out) = e(&["network", "disconnect", net, &other]);
    assert!(ok, "{out}");
    assert!(lookup(e, &peer, &other).is_empty(), "after disconnect");
    for c in [&peer, &other, &r1, &r2, &n("site")] {
        let _ = e(&["rm", "-f", c]);
    }
    let _ = e(&["network", "rm", &net2]);
}

/// The host's responders and routes (a failure's context).
fn diag_host() -> String {
    let out = |c: &str, a: &[&str]| {
        std::process::Command::new(c)
            .args(a)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    format!(
        "{}\n{}",
        out(
            "sh",
            &[
                "-c",
                "ps -eo pid,stat,args | grep 'internal dns' | grep -v grep"
            ]
        ),
        out("ip", &["-4", "route"]),
    )
}

/// The image name an engine's `run` prefix implies.
fn engine_image(run: &[&str]) -> &'static str {
    if run.contains(&"--runtime") {
        engine_kit::IMAGE
    } else {
        "busybox"
    }
}

fn berth_engine(b: &Berth) -> impl Fn(&[&str]) -> (bool, String) + '_ {
    move |args: &[&str]| {
        let o = bt(b, args);
        (o.ok(), format!("{}{}", o.stdout, o.stderr))
    }
}

#[test]
fn names_aliases_replicas_and_changes() {
    let b = Berth::with_busybox("busybox");
    bt(&b, &["network", "create", &subnet(215), "names"]).assert_ok();
    let e = berth_engine(&b);
    name_scenarios(&e, &["run"], "names", "", &[&subnet(216)]);
    bt(&b, &["network", "rm", "names"]).assert_ok();
}

#[test]
fn short_id_ptr_files_and_no_names_on_the_default_bridge() {
    let b = Berth::with_busybox("busybox");
    bt(&b, &["network", "create", &subnet(217), "files"]).assert_ok();
    let e = berth_engine(&b);
    let id = bt(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "ha",
            "--network",
            "files",
            "--add-host",
            "extra:10.1.2.3",
            "busybox",
            "sleep",
            "300",
        ],
    )
    .assert_ok()
    .stdout
    .trim()
    .to_string();
    bt(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "hc",
            "--network",
            "files",
            "busybox",
            "sleep",
            "300",
        ],
    )
    .assert_ok();
    let ip = ip_of(&e, "ha", "files");
    assert_eq!(
        lookup(&e, "hc", &id[..12]),
        std::slice::from_ref(&ip),
        "short id"
    );
    // PTR: the address back to the name
    let (_, out) = e(&["exec", "hc", "nslookup", &ip]);
    assert!(out.contains("name = ha"), "PTR of {ip}: {out}");
    // the container's files: the responder in resolv.conf; its own hosts
    // file holds itself and --add-host, not its peers
    let gw = gateway(&b, "files");
    let resolv = bt(&b, &["exec", "ha", "cat", "/etc/resolv.conf"])
        .assert_ok()
        .stdout
        .clone();
    assert!(resolv.contains(&format!("nameserver {gw}\n")), "{resolv}");
    let hosts = bt(&b, &["exec", "ha", "cat", "/etc/hosts"])
        .assert_ok()
        .stdout
        .clone();
    assert!(hosts.contains("10.1.2.3\textra"), "{hosts}");
    assert!(!hosts.contains("hc"), "peer in hosts: {hosts}");
    // the default bridge: no names (docker's behaviour), no responder
    bt(
        &b,
        &["run", "-d", "--name", "d1", "busybox", "sleep", "300"],
    )
    .assert_ok();
    bt(
        &b,
        &["run", "-d", "--name", "d2", "busybox", "sleep", "300"],
    )
    .assert_ok();
    assert!(
        lookup(&e, "d2", "d1").is_empty(),
        "a name on the default bridge"
    );
    let resolv = bt(&b, &["exec", "d1", "cat", "/etc/resolv.conf"])
        .assert_ok()
        .stdout
        .clone();
    assert!(!resolv.contains(&gw), "{resolv}");
    bt(&b, &["rm", "-f", "ha", "hc", "d1", "d2"]).assert_ok();
    bt(&b, &["network", "rm", "files"]).assert_ok();
}

#[test]
fn other_names_go_upstream_and_networks_are_isolated() {
    let b = Berth::with_busybox("busybox");
    let e = berth_engine(&b);
    bt(&b, &["network", "create", &subnet(218), "left"]).assert_ok();
    bt(&b, &["network", "create", &subnet(219), "right"]).assert_ok();
    bt(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "l1",
            "--network",
            "left",
            "busybox",
            "sleep",
            "300",
        ],
    )
    .assert_ok();
    bt(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "r1",
            "--network",
            "right",
            "busybox",
            "sleep",
            "300",
        ],
    )
    .assert_ok();
    // the config file's upstream answers other names
    assert_eq!(lookup(&e, "l1", "outside.test"), [OUTSIDE], "forwarded");
    let (_, out) = e(&["exec", "l1", "nslookup", "nowhere.test"]);
    assert!(
        out.contains("NXDOMAIN"),
        "upstream's NXDOMAIN relayed: {out}"
    );
    // a container's --dns is its own upstream
    bt(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "l2",
            "--network",
            "left",
            "--dns",
            &upstreams().alt.to_string(),
            "busybox",
            "sleep",
            "300",
        ],
    )
    .assert_ok();
    assert_eq!(
        lookup(&e, "l2", "outside.test"),
        [OUTSIDE_ALT],
        "--dns upstream"
    );
    assert_eq!(
        lookup(&e, "l2", "l1").len(),
        1,
        "--dns keeps the network's names"
    );
    // isolation: right's names are not left's, and left's responder
    // refuses a client of another network
    assert!(
        lookup(&e, "l1", "r1").is_empty(),
        "a name of another network"
    );
    let left_gw = gateway(&b, "left");
    let (_, out) = e(&["exec", "r1", "nslookup", "l1", &left_gw]);
    assert!(
        answers(&out).is_empty(),
        "left's responder answered right's client: {out}"
    );
    bt(&b, &["rm", "-f", "l1", "l2", "r1"]).assert_ok();
    bt(&b, &["network", "rm", "left", "right"]).assert_ok();
}

/// The network's responder pid, when it runs.
fn responder_pid(b: &Berth, net: &str) -> Option<i32> {
    let id = bt(b, &["network", "inspect", "-f", "{{.Id}}", net])
        .stdout
        .trim()
        .to_string();
    let p = b.state().join("dns").join(format!("{id}.json"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
    let pid = v["pid"].as_i64()? as i32;
    alive(pid).then_some(pid)
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

#[test]
fn responder_on_demand_repaired_after_kill_9_and_gone_after_last_and_rm() {
    let b = Berth::with_busybox("busybox");
    let e = berth_engine(&b);
    bt(&b, &["network", "create", &subnet(220), "life"]).assert_ok();
    assert_eq!(
        responder_pid(&b, "life"),
        None,
        "no container: no responder"
    );
    bt(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "x1",
            "--network",
            "life",
            "busybox",
            "sleep",
            "300",
        ],
    )
    .assert_ok();
    let pid = responder_pid(&b, "life").expect("a responder once a container joined");
    // kill -9: the next start on the network starts another
    // SAFETY: a plain signal to the responder this test's berth started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(berth_tests::wait_until(Duration::from_secs(20), || !alive(
        pid
    )));
    bt(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "x2",
            "--network",
            "life",
            "busybox",
            "sleep",
            "300",
        ],
    )
    .assert_ok();
    let pid2 = responder_pid(&b, "life").expect("restarted by the next run");
    assert_ne!(pid, pid2);
    assert_eq!(lookup(&e, "x2", "x1").len(), 1, "names after the repair");
    // the last container leaves: the responder goes by itself
    bt(&b, &["rm", "-f", "x1", "x2"]).assert_ok();
    assert!(
        berth_tests::wait_until(Duration::from_secs(10), || !alive(pid2)),
        "responder {pid2} still runs with no container on its network"
    );
    // network rm stops it at once
    bt(
        &b,
        &[
            "run",
            "-d",
            "--name",
            "x3",
            "--network",
            "life",
            "busybox",
            "sleep",
            "300",
        ],
    )
    .assert_ok();
    let pid3 = responder_pid(&b, "life").expect("a responder again");
    bt(&b, &["rm", "-f", "x3"]).assert_ok();
    bt(&b, &["network", "rm", "life"]).assert_ok();
    assert!(!alive(pid3), "responder {pid3} outlived network rm");
}

#[test]
fn docker_answers_the_same_names() {
    berth_tests::init();
    let d = docker::shared();
    let net = format!("bdns{}", std::process::id());
    // subnets outside berth's pools (172.17-31/16, 192.168/20), so that a
    // berth network made meanwhile by another test never shares one
    let x = std::process::id() % 200;
    let (s1, s2) = (format!("10.213.{x}.0/24"), format!("10.214.{x}.0/24"));
    d.docker(&["network", "create", "--subnet", &s1, &net])
        .assert_ok();
    let e = |args: &[&str]| {
        let o = d.docker(args);
        (o.ok(), format!("{}\n{}", o.stdout, o.stderr))
    };
    name_scenarios(
        &e,
        &["run", "--runtime", "berth"],
        &net,
        "dk",
        &["--subnet", &s2],
    );
    let _ = d.docker(&["network", "rm", &net]);
}

/// A root deleted while its network's responder still runs (a test's
/// temporary root, say): another root may take the same subnet at once, and
/// its responder must get the gateway address the old one is letting go.
#[test]
fn a_subnet_reused_after_its_root_was_deleted_gets_a_responder() {
    let old = Berth::with_busybox("busybox");
    let net = subnet(221);
    bt(&old, &["network", "create", &net, "gone"]).assert_ok();
    bt(
        &old,
        &[
            "run",
            "-d",
            "--name",
            "o1",
            "--network",
            "gone",
            "busybox",
            "sleep",
            "300",
        ],
    )
    .assert_ok();
    let old_pid = responder_pid(&old, "gone").expect("a responder on the old network");
    bt(&old, &["rm", "-f", "o1"]).assert_ok();
    // The old responder lingers for its network; the root goes under it.
    std::fs::remove_dir_all(old.root()).unwrap();
    let new = Berth::with_busybox("busybox");
    let e = berth_engine(&new);
    bt(&new, &["network", "create", &net, "again"]).assert_ok();
    for n in ["n1", "n2"] {
        bt(
            &new,
            &[
                "run",
                "-d",
                "--name",
                n,
                "--network",
                "again",
                "busybox",
                "sleep",
                "300",
            ],
        )
        .assert_ok();
    }
    assert_eq!(
        lookup(&e, "n2", "n1").len(),
        1,
        "names on the reused subnet"
    );
    assert!(
        berth_tests::wait_until(Duration::from_secs(20), || !alive(old_pid)),
        "the deleted root's responder {old_pid} still runs"
    );
    bt(&new, &["rm", "-f", "n1", "n2"]).assert_ok();
    bt(&new, &["network", "rm", "again"]).assert_ok();
}

/// A DNS question for `name`, type A, framed for TCP (length first).
fn tcp_question(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    // recursion desired; one question
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    framed
}

/// `bytes` as a `printf` format (octal escapes).
fn printf_octal(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:03o}")).collect()
}

#[test]
fn tcp_questions_are_answered_and_a_stalled_tcp_client_holds_up_nobody() {
    let b = Berth::with_busybox("busybox");
    let e = berth_engine(&b);
    // (221 is a_subnet_reused_after_its_root_was_deleted_gets_a_responder's: the
    // tests run in parallel, and a subnet is claimed host-wide)
    bt(&b, &["network", "create", &subnet(222), "tcpq"]).assert_ok();
    for name in ["t1", "t2"] {
        bt(
            &b,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "tcpq",
                "busybox",
                "sleep",
                "300",
            ],
        )
        .assert_ok();
    }
    let gw = gateway(&b, "tcpq");
    let ip: Ipv4Addr = ip_of(&e, "t1", "tcpq").parse().unwrap();
    // Clients that connect and then stall (from the host, the gateway's
    // clients are masqueraded out of the subnet, as docker's rule does):
    // one silent, one in the middle of the length.
    for input in ["sleep 20", "printf '\\000'; sleep 20"] {
        bt(
            &b,
            &[
                "exec",
                "-d",
                "t2",
                "sh",
                "-c",
                &format!("({input}) | nc {gw} 53"),
            ],
        )
        .assert_ok();
    }
    std::thread::sleep(Duration::from_millis(300));
    // UDP questions are answered meanwhile, at once (each stalled TCP
    // client held the responder for 2 s before). Timed in the container around
    // nslookup alone (/proc/uptime, 10 ms steps): `berth exec`'s own start-up on a
    // loaded machine is not the responder's latency.
    let out = bt(
        &b,
        &[
            "exec",
            "t2",
            "sh",
            "-c",
            "read a _ </proc/uptime; nslookup t1; read z _ </proc/uptime; echo \"took $a $z\"",
        ],
    )
    .stdout
    .clone();
    assert_eq!(answers(&out), [ip.to_string()], "{out}");
    let took = out
        .lines()
        .find_map(|l| {
            let mut w = l.strip_prefix("took ")?.split(' ');
            let a: f64 = w.next()?.parse().ok()?;
            let z: f64 = w.next()?.parse().ok()?;
            Some(z - a)
        })
        .unwrap_or_else(|| panic!("no timing in {out:?}"));
    assert!(
        took < 1.5,
        "nslookup took {took:.2} s while two TCP clients stalled"
    );
    // A TCP question sent in two pieces is answered from the table.
    let q = tcp_question(0x4242, "t1");
    let script = format!(
        "(printf '{}'; sleep 0.2; printf '{}'; sleep 2) | nc {gw} 53 | od -An -tu1 -v",
        printf_octal(&q[..5]),
        printf_octal(&q[5..])
    );
    let out = bt(&b, &["exec", "t2", "sh", "-c", &script])
        .assert_ok()
        .stdout
        .clone();
    let r: Vec<u8> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert!(r.len() > 14, "no answer over TCP: {out:?}");
    let (len, r) = r.split_at(2);
    assert_eq!(
        u16::from_be_bytes([len[0], len[1]]) as usize,
        r.len(),
        "framed: {r:?}"
    );
    assert_eq!(&r[..2], &[0x42, 0x42], "the question's id");
    assert_eq!(r[3] & 0x0f, 0, "rcode NOERROR: {r:?}");
    assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer: {r:?}");
    assert_eq!(&r[r.len() - 4..], &ip.octets(), "t1's address: {r:?}");
    bt(&b, &["rm", "-f", "t1", "t2"]).assert_ok();
    bt(&b, &["network", "rm", "tcpq"]).assert_ok();
}
