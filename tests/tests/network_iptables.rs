//! berth networking under the iptables backend (`"firewall-backend":
//! "iptables"` in the configuration file, what berth picks by itself where
//! nft or nf_tables is missing): published ports on 127.0.0.1 and the host's
//! address with real traffic, isolation between networks, a container's own
//! exit keeping the backend, and no chain, jump or nft table left afterwards.

use berth_tests::host::{free_port, host_addr};
use berth_tests::manager::Berth;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

struct Ipt {
    b: Berth,
    config: PathBuf,
}

impl Ipt {
    fn new() -> Ipt {
        berth_tests::init();
        let b = Berth::new();
        let config = b.scratch("etc").join("config.json");
        std::fs::write(&config, r#"{"firewall-backend": "iptables"}"#).unwrap();
        let t = Ipt { b, config };
        t.b.import_busybox("busybox");
        t
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> berth_tests::Output {
        self.b
            .cmd()
            .env("BERTH_CONFIG", &self.config.to_string_lossy())
            .args(args)
            .run()
    }

    /// berth's FNV tag of the root (table and chains `berth_<tag>...`).
    fn tag(&self) -> String {
        let mut h: u64 = 0xcbf29ce484222325;
        for c in self.b.root().as_os_str().as_encoded_bytes() {
            h ^= *c as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        format!("{:08x}", h as u32)
    }
}

fn http_get(addr: &str, port: u16) -> Option<String> {
    let mut s = TcpStream::connect_timeout(
        &format!("{addr}:{port}").parse().ok()?,
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split("\r\n\r\n").nth(1).map(str::to_string)
}

fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Both tables of iptables as `-S` prints them.
fn iptables_rules() -> String {
    sh("iptables", &["-w", "5", "-t", "nat", "-S"]) + &sh("iptables", &["-w", "5", "-S"])
}

fn nft_tables() -> String {
    sh("nft", &["list", "tables"])
}

#[test]
fn published_ports_and_isolation_under_iptables() {
    let t = Ipt::new();
    let tag = t.tag();
    t.run(&["network", "create", "--subnet", "10.232.0.0/24", "n1"])
        .assert_ok();
    t.run(&["network", "create", "n2"]).assert_ok();
    let port = free_port();
    let script = "mkdir -p /www && echo from-ipt > /www/index.html && exec httpd -f -p 80 -h /www";
    let web = t
        .run(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "n1",
            "--ip",
            "10.232.0.9",
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    assert!(
        berth_tests::wait_until(Duration::from_secs(20), || http_get("127.0.0.1", port)
            .is_some()),
        "no answer on 127.0.0.1:{port}"
    );
    assert_eq!(http_get("127.0.0.1", port).unwrap().trim(), "from-ipt");
    let host = host_addr();
    assert_eq!(
        http_get(&host, port).unwrap().trim(),
        "from-ipt",
        "via {host}"
    );
    // the rules are iptables', in berth's chains: no nft table of this root
    let rules = iptables_rules();
    for want in [
        format!("-A PREROUTING -j berth_{tag}-pre"),
        format!("-A OUTPUT -j berth_{tag}-out"),
        format!("-A POSTROUTING -j berth_{tag}-post"),
        format!("-A FORWARD -j berth_{tag}-fwd"),
        format!("--dport {port} -j DNAT --to-destination 10.232.0.9:80"),
    ] {
        assert!(rules.contains(&want), "{want:?} missing:\n{rules}");
    }
    let nft = nft_tables();
    assert!(
        !nft.contains(&format!("berth_{tag}")),
        "an nft table:\n{nft}"
    );

    // another network: not by address, but through the published port
    let other = t
        .run(&[
            "run",
            "-d",
            "--name",
            "other",
            "--network",
            "n2",
            "busybox",
            "sleep",
            "60",
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    t.run(&["exec", "other", "nc", "-w", "2", "10.232.0.9", "80"])
        .assert_fail();
    let out = t
        .run(&[
            "exec",
            "other",
            "wget",
            "-qO-",
            &format!("http://{host}:{port}/"),
        ])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out.trim(), "from-ipt");
    // a neighbour on the same network reaches it, and goes out masqueraded
    let out = t
        .run(&[
            "run",
            "--rm",
            "--network",
            "n1",
            "busybox",
            "wget",
            "-qO-",
            "http://10.232.0.9/",
        ])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out.trim(), "from-ipt");
    // that container's own exit (the shim's hook, without the configuration)
    // kept the backend: still iptables, still no nft table
    let nft = nft_tables();
    assert!(
        !nft.contains(&format!("berth_{tag}")),
        "an nft table:\n{nft}"
    );
    assert_eq!(http_get("127.0.0.1", port).unwrap().trim(), "from-ipt");

    t.run(&["rm", "-f", "web", "other"]).assert_ok();
    assert!(
        http_get("127.0.0.1", port).is_none(),
        "the port still answers after rm"
    );
    t.run(&["network", "rm", "n1", "n2"]).assert_ok();
    t.b.cleanup();
    let rules = iptables_rules();
    assert!(
        !rules.contains(&format!("berth_{tag}")),
        "iptables rules left:\n{rules}"
    );
    let nft = nft_tables();
    assert!(
        !nft.contains(&format!("berth_{tag}")),
        "an nft table:\n{nft}"
    );
    // a veth goes with its container's namespace, freed by the kernel's
    // worker moments after the container's removal
    berth_tests::wait_until(Duration::from_secs(20), || {
        let l = sh("ip", &["-br", "link"]);
        [&web, &other]
            .iter()
            .all(|id| !l.contains(&format!("veth{}", &id[..8])))
    });
    let l = sh("ip", &["-br", "link"]);
    for id in [&web, &other] {
        assert!(!l.contains(&format!("veth{}", &id[..8])), "veth left:\n{l}");
    }
    t.b.assert_no_leaks();
}

#[test]
fn unknown_firewall_backend_is_refused() {
    berth_tests::init();
    let b = Berth::new();
    let config = b.scratch("etc").join("config.json");
    std::fs::write(&config, r#"{"firewall-backend": "pf"}"#).unwrap();
    let out = b
        .cmd()
        .env("BERTH_CONFIG", &config.to_string_lossy())
        .args(["network", "ls"])
        .run();
    out.assert_code(125);
    assert!(
        out.stderr.contains("firewall-backend") && out.stderr.contains("pf"),
        "{out}"
    );
}
