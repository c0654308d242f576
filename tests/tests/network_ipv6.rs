//! IPv6 (dual-stack) networks end to end, with real traffic: `network create
//! --ipv6` with a v4 and a v6 subnet, containers reaching each other over v6
//! by address and by name (AAAA from the network's DNS responder), a
//! published port over the host's v6 address, outbound v6 masqueraded,
//! isolation and `--internal` over v6, what inspect shows, bad input, and no
//! leak (addresses, rules) after rm and after kill -9 of a container. The
//! last test runs the same scenarios against a private dockerd 20.10 and
//! compares.
//!
//! Each test uses its own v6 subnets (tests of a file run in parallel).
//! (busybox's `wget -T` crashes on these images: `timeout 5 wget` instead.)

#[path = "../src/docker.rs"]
mod docker;
#[path = "../src/engine_kit.rs"]
mod engine_kit;

use berth_tests::host::{free_port6, host_addr6};
use berth_tests::manager::Berth;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether this host has IPv6 (else the tests say so and pass).
fn host_has_ipv6() -> bool {
    std::path::Path::new("/proc/sys/net/ipv6").exists()
        && std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
            .is_ok_and(|v| v.trim() == "0")
}

/// A berth with busybox for a v6 test; None (saying the test skips) when
/// the host has no IPv6.
fn v6_berth() -> Option<Berth> {
    if !host_has_ipv6() {
        eprintln!("SKIP: this host has no IPv6");
        return None;
    }
    Some(Berth::with_busybox("busybox"))
}

/// A berth for the [::1] tests, or None (with the SKIP line) on a host
/// without IPv6 on lo.
fn loopback6_berth() -> Option<Berth> {
    if !host_has_ipv6() || !loopback6() {
        eprintln!("SKIP: this host has no ::1");
        return None;
    }
    Some(Berth::with_busybox("busybox"))
}

/// GET / from [addr]:port, the body (None when unreachable).
fn http_get(addr: &str, port: u16, timeout: Duration) -> Option<String> {
    let sa: std::net::SocketAddr = format!("[{addr}]:{port}").parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sa, timeout).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split("\r\n\r\n").nth(1).map(str::to_string)
}

/// A refusal (any non-zero exit: `run` errors exit 125 as docker's) whose
/// message names `needle`.
trait FailsWith {
    fn fails_with(&self, needle: &str);
}

impl FailsWith for berth_tests::Output {
    #[track_caller]
    fn fails_with(&self, needle: &str) {
        assert!(
            self.code.is_some_and(|c| c != 0) && self.stderr.contains(needle),
            "expected a failure naming {needle:?}\n{self}"
        );
    }
}

fn web_script(body: &str) -> String {
    format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www")
}

fn cmd_out(prog: &str, args: &[&str]) -> String {
    Command::new(prog)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// berth's FNV tag of a root (bridge `bb<tag>`, table `berth_<tag>`).
fn root_tag(b: &Berth) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for c in b.root().as_os_str().as_encoded_bytes() {
        h ^= *c as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:08x}", h as u32)
}

/// Neither a v6 address of `subnet_prefix` on the host, nor berth's ip6
/// table of this root, nor a veth of `ids`.
#[track_caller]
fn assert_v6_clean(b: &Berth, subnet_prefix: &str, ids: &[String]) {
    let addrs = cmd_out("ip", &["-6", "-o", "addr"]);
    assert!(
        !addrs.contains(subnet_prefix),
        "a {subnet_prefix} address is left on the host:\n{addrs}"
    );
    let tables = cmd_out("nft", &["list", "tables"]);
    let tag = root_tag(b);
    assert!(
        !tables.contains(&format!("ip6 berth_{tag}")),
        "berth's ip6 table is left:\n{tables}"
    );
    let links = cmd_out("ip", &["-br", "link"]);
    for id in ids {
        assert!(
            !links.contains(&format!("veth{}", &id[..8])),
            "veth of {id} left:\n{links}"
        );
    }
}

#[test]
fn dual_stack_traffic_names_ports_and_inspect() {
    let Some(b) = v6_berth() else { return };
    b.run(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.61.0.0/24",
        "--subnet",
        "fd61:1::/64",
        "--gateway",
        "fd61:1::fe",
        "--ip-range",
        "fd61:1::100/120",
        "n6",
    ])
    .assert_ok();
    // network inspect: both subnets, EnableIPv6
    let v: serde_json::Value =
        serde_json::from_str(&b.run(&["network", "inspect", "n6"]).assert_ok().stdout).unwrap();
    assert_eq!(v[0]["EnableIPv6"], serde_json::json!(true));
    let cfg = v[0]["IPAM"]["Config"].as_array().unwrap().clone();
    assert_eq!(cfg.len(), 2, "{cfg:?}");
    assert_eq!(cfg[0]["Subnet"], "10.61.0.0/24");
    assert_eq!(cfg[1]["Subnet"], "fd61:1::/64");
    assert_eq!(cfg[1]["Gateway"], "fd61:1::fe");
    assert_eq!(cfg[1]["IPRange"], "fd61:1::100/120");

    let port = free_port6();
    let web = b
        .run(&[
            "run",
            "-d",
            "--name",
            "web6",
            "--network",
            "n6",
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sh",
            "-c",
            &web_script("hello-v6"),
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    // the first address of the range, then a fixed one with --ip6
    assert_eq!(
        b.inspect_format("web6", "{{.NetworkSettings.Networks.n6.GlobalIPv6Address}}"),
        "fd61:1::100"
    );
    assert_eq!(
        b.inspect_format(
            "web6",
            "{{.NetworkSettings.Networks.n6.GlobalIPv6PrefixLen}}"
        ),
        "64"
    );
    assert_eq!(
        b.inspect_format("web6", "{{.NetworkSettings.Networks.n6.IPv6Gateway}}"),
        "fd61:1::fe"
    );
    // inside: the address (usable at once: nodad), the default v6 route
    let addr = b.run(&["exec", "web6", "ip", "-6", "addr", "show", "eth0"]);
    assert!(addr.stdout.contains("fd61:1::100/64"), "{}", addr.stdout);
    let line = addr
        .stdout
        .lines()
        .find(|l| l.contains("fd61:1::100/64"))
        .unwrap_or_default();
    assert!(!line.contains("tentative"), "not usable at once: {line}");
    let route = b
        .run(&["exec", "web6", "ip", "-6", "route"])
        .assert_ok()
        .stdout
        .clone();
    assert!(route.contains("default via fd61:1::fe"), "{route}");
    // /etc/hosts: the v4 line, then the v6 one (as docker writes it)
    let hosts = b
        .run(&["exec", "web6", "cat", "/etc/hosts"])
        .assert_ok()
        .stdout
        .clone();
    let short = &web[..12];
    assert!(hosts.contains(&format!("fd61:1::100\t{short}")), "{hosts}");
    assert!(hosts.contains(&format!("\t{short}\n")), "{hosts}");

    // a second container with --ip6 reaches it by v6 address and by name
    let out = b
        .run(&[
            "run",
            "--rm",
            "--name",
            "cli6",
            "--network",
            "n6",
            "--ip6",
            "fd61:1::1:7",
            "busybox",
            "sh",
            "-c",
            "ip -6 addr show eth0; timeout 5 wget -qO- 'http://[fd61:1::100]/'; \
             nslookup -type=AAAA web6; ping6 -c1 -W3 web6; \
             nslookup fd61:1::1:7",
        ])
        .assert_ok()
        .stdout
        .clone();
    assert!(out.contains("fd61:1::1:7/64"), "--ip6 not applied:\n{out}");
    assert!(out.contains("hello-v6"), "no v6 traffic by address:\n{out}");
    assert!(
        out.contains("Address: fd61:1::100"),
        "no AAAA for web6:\n{out}"
    );
    assert!(out.contains("1 packets received"), "ping6 by name:\n{out}");
    assert!(
        out.contains("cli6"),
        "no PTR (ip6.arpa) for its own address:\n{out}"
    );

    // the published port over the host's v6 address
    if let Some(h6) = host_addr6() {
        assert!(
            berth_tests::wait_until(Duration::from_secs(20), || http_get(
                &h6,
                port,
                Duration::from_secs(2)
            )
            .is_some()),
            "no answer on [{h6}]:{port}"
        );
        assert_eq!(
            http_get(&h6, port, Duration::from_secs(2)).unwrap().trim(),
            "hello-v6"
        );
    }
    // [::1] answers too, through the container's shim (docker's proxy does)
    if loopback6() {
        assert_eq!(
            http_get("::1", port, Duration::from_secs(3)).map(|s| s.trim().to_string()),
            Some("hello-v6".to_string())
        );
    }
    // ps and port show the v6 binding as docker does
    let ps = b.run(&["ps"]).assert_ok().stdout.clone();
    // docker 20.10 writes `:::P`, later dockers `[::]:P` (main's PORTS
    // column follows the later one): the v6 binding is there either way
    assert!(
        ps.contains(&format!(":::{port}->80/tcp")) || ps.contains(&format!("[::]:{port}->80/tcp")),
        "{ps}"
    );
    let p = b.run(&["port", "web6"]).assert_ok().stdout.clone();
    assert!(
        p.contains(&format!("80/tcp -> :::{port}"))
            || p.contains(&format!("80/tcp -> [::]:{port}")),
        "{p}"
    );
    // network inspect: the container's IPv6Address
    let v: serde_json::Value =
        serde_json::from_str(&b.run(&["network", "inspect", "n6"]).assert_ok().stdout).unwrap();
    assert_eq!(
        v[0]["Containers"][&web]["IPv6Address"],
        serde_json::json!("fd61:1::100/64")
    );

    // a taken v6 address is refused, and nothing is left of that attempt
    b.run(&[
        "run",
        "--rm",
        "--network",
        "n6",
        "--ip6",
        "fd61:1::100",
        "busybox",
        "true",
    ])
    .fails_with("already in use");

    b.run(&["rm", "-f", "web6"]).assert_ok();
    b.run(&["network", "rm", "n6"]).assert_ok();
    assert_v6_clean(&b, "fd61:1:", &[web]);
    b.assert_no_leaks();
}

#[test]
fn v6_isolation_internal_masquerade_and_kill9() {
    let Some(b) = v6_berth() else { return };
    for (name, v4, v6, extra) in [
        ("a6", "10.62.1.0/24", "fd62:1::/64", None),
        ("b6", "10.62.2.0/24", "fd62:2::/64", None),
        ("i6", "10.62.3.0/24", "fd62:3::/64", Some("--internal")),
    ] {
        let mut args = vec![
            "network", "create", "--ipv6", "--subnet", v4, "--subnet", v6,
        ];
        if let Some(e) = extra {
            args.push(e);
        }
        args.push(name);
        b.run(&args).assert_ok();
    }
    let a = b
        .run(&[
            "run",
            "-d",
            "--name",
            "sa",
            "--network",
            "a6",
            "busybox",
            "sh",
            "-c",
            &web_script("in-a"),
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let i = b
        .run(&[
            "run",
            "-d",
            "--name",
            "si",
            "--network",
            "i6",
            "busybox",
            "sh",
            "-c",
            &web_script("in-i"),
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let a6 = b.inspect_format("sa", "{{.NetworkSettings.Networks.a6.GlobalIPv6Address}}");
    assert_eq!(a6, "fd62:1::2");
    let i6 = b.inspect_format("si", "{{.NetworkSettings.Networks.i6.GlobalIPv6Address}}");
    // same network: reachable; another network: not (v6 as v4)
    let same = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "a6",
            "busybox",
            "sh",
            "-c",
            // not as pid 1: busybox's timeout signals the program, which
            // as pid 1 would ignore SIGTERM
            &format!("timeout 5 wget -qO- http://[{a6}]/; echo rc=$?"),
        ])
        .assert_ok()
        .stdout
        .clone();
    assert!(same.contains("in-a"), "{same}");
    let other = b.run(&[
        "run",
        "--rm",
        "--network",
        "b6",
        "busybox",
        "sh",
        "-c",
        // not as pid 1: busybox's timeout signals the program, which
        // as pid 1 would ignore SIGTERM
        &format!("timeout 5 wget -qO- http://[{a6}]/; echo rc=$?"),
    ]);
    assert!(
        other.ok() && !other.stdout.contains("in-a") && !other.stdout.contains("rc=0"),
        "a container on b6 reached a6 over v6:\n{other}"
    );
    // internal: no way out over v6 (not even to the host's v6 address), and
    // no default v6 route
    let route = b
        .run(&["exec", "si", "ip", "-6", "route"])
        .assert_ok()
        .stdout
        .clone();
    assert!(
        !route.contains("default"),
        "an internal network has a v6 default route:\n{route}"
    );
    if let Some(h6) = host_addr6() {
        let out = b.run(&["exec", "si", "ping6", "-c1", "-W2", &h6]);
        assert!(!out.ok(), "an internal container reached {h6}:\n{out}");
        // a non-internal one does (through its gateway)
        let out = b.run(&["exec", "sa", "ping6", "-c1", "-W3", &h6]);
        assert!(out.ok(), "a6 cannot reach the host's {h6}:\n{out}");
    }
    // and nobody from another network reaches the internal one
    let out = b.run(&[
        "exec",
        "sa",
        "timeout",
        "5",
        "wget",
        "-qO-",
        &format!("http://[{i6}]/"),
    ]);
    assert!(
        !out.stdout.contains("in-i"),
        "a6 reached the internal i6:\n{out}"
    );
    // outbound v6 is masqueraded: the rule names the subnet (traffic beyond
    // the host needs a v6 router, which this machine's fd00::1 is not)
    let tag = root_tag(&b);
    let table = cmd_out("nft", &["list", "table", "ip6", &format!("berth_{tag}")]);
    assert!(
        table.contains("ip6 saddr fd62:1::/64 oifname != "),
        "{table}"
    );
    assert!(
        !table.contains("ip6 saddr fd62:3::/64 oifname != "),
        "{table}"
    );

    // kill -9 of a container: its v6 address goes back to the pool
    let pid = b.inspect_format("sa", "{{.State.Pid}}");
    assert!(Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap()
        .success());
    assert!(
        berth_tests::wait_until(Duration::from_secs(10), || b
            .inspect_format("sa", "{{.State.Running}}")
            == "false"),
        "sa still running after kill -9"
    );
    // its shim's exit hook gives the endpoint back right after the exit (a
    // busy machine may take a moment): the network shows it gone first
    assert!(
        berth_tests::wait_until(Duration::from_secs(10), || !b
            .run(&["network", "inspect", "a6"])
            .stdout
            .contains(&a)),
        "sa's endpoint is still on a6 after kill -9"
    );
    let again = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "a6",
            "busybox",
            "ip",
            "-6",
            "addr",
            "show",
            "eth0",
        ])
        .assert_ok()
        .stdout
        .clone();
    assert!(
        again.contains("fd62:1::2/64"),
        "the killed container's address was not released:\n{again}"
    );

    b.cleanup();
    for n in ["a6", "b6", "i6"] {
        b.run(&["network", "rm", n]).assert_ok();
    }
    assert_v6_clean(&b, "fd62:", &[a, i]);
    b.assert_no_leaks();
}

#[test]
fn v6_bad_input() {
    let Some(b) = v6_berth() else { return };
    // docker 20.10's words: its default pools have no v6 pool
    b.run(&["network", "create", "--ipv6", "nosub"])
        .fails_with("non-overlapping IPv6 address pool");
    b.run(&["network", "create", "--subnet", "fd63:1::/64", "nov6"])
        .fails_with("needs --ipv6");
    b.run(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd63:1::/64",
        "--subnet",
        "fd63:2::/64",
        "two",
    ])
    .fails_with("one IPv4 and one IPv6");
    b.run(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd63:1::/64",
        "--gateway",
        "fd63:9::1",
        "gw",
    ])
    .fails_with("fd63:9::1");
    b.run(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd63:1::/64",
        "--ip-range",
        "fd63:2::/120",
        "rg",
    ])
    .fails_with("not inside the subnet");
    b.run(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd63:1::/64",
        "ok6",
    ])
    .assert_ok();
    b.run(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd63:1:0:0::/80",
        "over",
    ])
    .fails_with("overlaps");
    b.run(&[
        "run",
        "--rm",
        "--ip6",
        "nonsense",
        "--network",
        "ok6",
        "busybox",
        "true",
    ])
    .fails_with("invalid IPv6 address");
    b.run(&[
        "run",
        "--rm",
        "--ip6",
        "fd63:9::5",
        "--network",
        "ok6",
        "busybox",
        "true",
    ])
    .fails_with("fd63:9::5");
    b.run(&["run", "--rm", "--ip6", "fd63:1::5", "busybox", "true"])
        .fails_with("user defined networks only");
    b.run(&["network", "create", "v4only"]).assert_ok();
    b.run(&[
        "run",
        "--rm",
        "--ip6",
        "fd63:1::5",
        "--network",
        "v4only",
        "busybox",
        "true",
    ])
    .fails_with("no IPv6 subnet");
    for n in ["ok6", "v4only"] {
        b.run(&["network", "rm", n]).assert_ok();
    }
    b.assert_no_leaks();
}

/// The same scenarios against a private dockerd 20.10 (docker-proxy for the
/// published port; the harness's dockerd writes no host iptables rules, so
/// isolation is not compared here): what both do alike, side by side.
#[test]
fn same_as_docker() {
    let Some(b) = v6_berth() else { return };
    let d = docker::Docker::start_with(&["--userland-proxy=true"]);
    d.docker(&["tag", engine_kit::IMAGE, "busybox"]).assert_ok();

    // --ipv6 without a v6 subnet: both refuse it with the same words
    let de = d.docker(&["network", "create", "--ipv6", "nosub"]);
    let be = b.run(&["network", "create", "--ipv6", "nosub"]);
    assert!(!de.ok() && !be.ok(), "docker:\n{de}\nberth:\n{be}");
    let words = "could not find an available, non-overlapping IPv6 address pool";
    assert!(de.stderr.contains(words), "docker said:\n{de}");
    assert!(be.stderr.contains(words), "berth said:\n{be}");

    #[allow(clippy::type_complexity)]
    let results: Vec<(String, String, String, String, String, String)> = [
        ("docker", "fd64:d::/64", "10.64.13.0/24"),
        ("berth", "fd64:b::/64", "10.64.11.0/24"),
    ]
    .iter()
    .map(|(engine, v6, v4)| {
        let run = |args: &[&str]| -> (bool, String) {
            if *engine == "docker" {
                let o = d.docker(args);
                (o.ok(), format!("{}{}", o.stdout, o.stderr))
            } else {
                let o = b.run(args);
                (o.ok(), format!("{}{}", o.stdout, o.stderr))
            }
        };
        let (ok, out) = run(&["network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, "dn6"]);
        assert!(ok, "{engine}: {out}");
        let port = free_port6();
        let (ok, out) = run(&[
            "run", "-d", "--name", "dweb", "--network", "dn6", "-p", &format!("{port}:80"),
            "busybox", "sh", "-c", &web_script("v6-web"),
        ]);
        assert!(ok, "{engine}: {out}");
        let (_, ip6) = run(&["inspect", "-f", "{{.NetworkSettings.Networks.dn6.GlobalIPv6Address}}/{{.NetworkSettings.Networks.dn6.GlobalIPv6PrefixLen}} gw={{.NetworkSettings.Networks.dn6.IPv6Gateway}}", "dweb"]);
        let (ok, by_name) = run(&[
            "run", "--rm", "--network", "dn6", "busybox", "sh", "-c",
            "ping6 -c1 -W3 dweb >/dev/null && echo ping6-by-name-ok; \
             timeout 5 wget -qO- \"http://[$(nslookup -type=AAAA dweb | sed -n 's/^Address: \\(.*:.*\\)/\\1/p' | tail -1)]/\"",
        ]);
        assert!(ok, "{engine}: {by_name}");
        let (_, hosts) = run(&["exec", "dweb", "sh", "-c", "grep -c : /etc/hosts; tail -2 /etc/hosts | cut -f1 | tr -d '0-9a-f.' "]);
        let via_host = host_addr6()
            .and_then(|h| {
                berth_tests::wait_until(Duration::from_secs(5), || http_get(&h, port, Duration::from_secs(2)).is_some());
                http_get(&h, port, Duration::from_secs(2))
            })
            .unwrap_or_default();
        let (_, ports) = run(&["port", "dweb"]);
        run(&["rm", "-f", "dweb"]);
        // dockerd may still hold the endpoint for a moment after `rm -f`:
        // its bridge must go before dockerd is stopped (no leak on the host)
        let removed = berth_tests::wait_until(Duration::from_secs(10), || run(&["network", "rm", "dn6"]).0);
        assert!(removed, "{engine}: network rm dn6 failed");
        let shape = |s: &str| {
            // the address itself differs (other subnets); keep its shape
            s.trim()
                .replace(v6.trim_end_matches(":/64"), "PFX")
        };
        (
            engine.to_string(),
            shape(&ip6),
            by_name.trim().to_string(),
            hosts.trim().to_string(),
            via_host.trim().to_string(),
            ports.trim().replace(&port.to_string(), "P"),
        )
    })
    .collect();
    let (dk, bt) = (&results[0], &results[1]);
    eprintln!("docker: {dk:?}\nberth:  {bt:?}");
    assert_eq!(
        dk.1.replace("PFX", ""),
        bt.1.replace("PFX", ""),
        "inspect's v6 fields"
    );
    assert_eq!(dk.2, bt.2, "v6 traffic by name");
    assert!(
        bt.2.contains("ping6-by-name-ok") && bt.2.contains("v6-web"),
        "{bt:?}"
    );
    assert_eq!(dk.3, bt.3, "/etc/hosts's v6 lines");
    // The published port over the host's v6 address: berth answers (kernel
    // DNAT); this dockerd 20.10 (docker-proxy, no iptables) does not, its
    // proxy listens on 0.0.0.0 only. Shown, not compared.
    assert_eq!(
        bt.4, "v6-web",
        "berth's published port over the host's v6 address"
    );
    eprintln!(
        "published port over the host's v6 address: docker {:?}, berth {:?}",
        dk.4, bt.4
    );
    let left = cmd_out("ip", &["-6", "-o", "addr"]);
    assert!(
        !left.contains("fd64:"),
        "a bridge of this test is left:\n{left}"
    );
    b.assert_no_leaks();
}

/// The iptables backend (`"firewall-backend": "iptables"`): the same v6
/// policy through ip6tables chains, which go with the last v6 network.
#[test]
fn v6_under_the_iptables_backend() {
    if !host_has_ipv6() || Command::new("ip6tables").arg("-V").output().is_err() {
        eprintln!("SKIP: no IPv6 or no ip6tables");
        return;
    }
    let b = Berth::with_busybox("busybox");
    let config = b.scratch("etc").join("config.json");
    std::fs::write(&config, r#"{"firewall-backend": "iptables"}"#).unwrap();
    let run = |args: &[&str]| {
        b.cmd()
            .env("BERTH_CONFIG", &config.to_string_lossy())
            .args(args)
            .run()
    };
    run(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd65:1::/64",
        "p6",
    ])
    .assert_ok();
    run(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd65:2::/64",
        "q6",
    ])
    .assert_ok();
    let port = free_port6();
    let id = run(&[
        "run",
        "-d",
        "--name",
        "ipt6w",
        "--network",
        "p6",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        &web_script("ipt-v6"),
    ])
    .assert_ok()
    .stdout
    .trim()
    .to_string();
    let tag = root_tag(&b);
    let nat = cmd_out("ip6tables", &["-t", "nat", "-S"]);
    assert!(
        nat.contains("--to-destination [fd65:1::2]:80"),
        "no v6 DNAT in ip6tables:\n{nat}"
    );
    assert!(
        !cmd_out("nft", &["list", "tables"]).contains(&format!("ip6 berth_{tag}")),
        "the iptables backend made an nft table"
    );
    if let Some(h6) = host_addr6() {
        assert!(
            berth_tests::wait_until(Duration::from_secs(20), || http_get(
                &h6,
                port,
                Duration::from_secs(2)
            )
            .is_some()),
            "no answer on [{h6}]:{port}"
        );
    }
    let other = run(&[
        "run",
        "--rm",
        "--network",
        "q6",
        "busybox",
        "sh",
        "-c",
        "timeout 4 wget -qO- http://[fd65:1::2]/; echo rc=$?",
    ]);
    assert!(
        other.ok() && !other.stdout.contains("ipt-v6") && !other.stdout.contains("rc=0"),
        "q6 reached p6 over v6 under ip6tables:\n{other}"
    );
    run(&["rm", "-f", "ipt6w"]).assert_ok();
    run(&["network", "rm", "p6", "q6"]).assert_ok();
    for t in ["nat", "filter"] {
        let rules = cmd_out("ip6tables", &["-t", t, "-S"]);
        assert!(
            !rules.contains(&format!("berth_{tag}")),
            "ip6tables {t} chains left:\n{rules}"
        );
    }
    assert_v6_clean(&b, "fd65:", &[id]);
    b.assert_no_leaks();
}

// ---- published ports on [::1] (the shim's relay) and IPv6 on the default bridge

/// httpd serving `body` at / and the client's address (REMOTE_ADDR) at
/// /cgi-bin/ip, plus the checker's UDP echo on 5000 when `/chk` is mounted.
fn web_cgi_script(body: &str) -> String {
    format!(
        "mkdir -p /www/cgi-bin && echo {body} > /www/index.html && \
         printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && \
         chmod +x /www/cgi-bin/ip && \
         {{ [ -x /chk/berth-checker ] && /chk/berth-checker udp-echo 5000 & }} ; \
         exec httpd -f -p 80 -h /www"
    )
}

/// GET `path` from [addr]:port through raw TCP, the body.
fn http_path(addr: &str, port: u16, path: &str) -> Option<String> {
    let sa: std::net::SocketAddr = format!("[{addr}]:{port}").parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sa, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    // busybox httpd ends a CGI's headers with a bare "\n\n"
    let buf = buf.replace("\r\n", "\n");
    buf.split_once("\n\n").map(|x| x.1.trim().to_string())
}

/// The host's busybox `wget -qO- http://[::1]:port/` (what a user types).
fn wget_loopback6(port: u16) -> String {
    let out = Command::new("timeout")
        .args(["5", "/bin/busybox", "wget", "-qO-"])
        .arg(format!("http://[::1]:{port}/"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    out.unwrap_or_default()
}

/// One UDP datagram to [::1]:port, the answer.
fn udp_loopback6(port: u16, msg: &str) -> Option<String> {
    let s = std::net::UdpSocket::bind("[::1]:0").ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let mut out = None;
    berth_tests::wait_until(Duration::from_secs(5), || {
        let _ = s.send_to(msg.as_bytes(), format!("[::1]:{port}"));
        let mut buf = [0u8; 512];
        match s.recv_from(&mut buf) {
            Ok((n, _)) => {
                out = Some(String::from_utf8_lossy(&buf[..n]).into_owned());
                true
            }
            Err(_) => false,
        }
    });
    out
}

/// A free port below the kernel's ephemeral range (32768-60999): for a port
/// the test frees and binds again (stop, then start), which another test's
/// client connection from ::1 could otherwise take in between.
fn free_port_low() -> u16 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    (0..2000u64)
        .map(|i| 20000 + ((seed.wrapping_mul(2654435761).wrapping_add(i * 7919)) % 12000) as u16)
        .find(|p| {
            TcpListener::bind(("::", *p)).is_ok()
                && TcpListener::bind(("0.0.0.0", *p)).is_ok()
                && std::net::UdpSocket::bind(("::1", *p)).is_ok()
        })
        .expect("no free port in 20000-32000")
}

/// Whether lo has ::1.
fn loopback6() -> bool {
    std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|t| {
        t.lines()
            .any(|l| l.starts_with("00000000000000000000000000000001"))
    })
}

fn shim_pid(b: &Berth, id: &str) -> i32 {
    [
        b.state().join("containers").join(id),
        b.state().join("containers").join(&id[..16]),
    ]
    .iter()
    .find_map(|d| std::fs::read_to_string(d.join("status.json")).ok())
    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    .and_then(|v| v["shim_pid"].as_i64())
    .unwrap_or(0) as i32
}

#[test]
fn published_ports_answer_on_loopback6() {
    let Some(b) = loopback6_berth() else { return };
    let checker = berth_tests::checker_bin();
    let chk = format!("{}:/chk:ro", checker.parent().unwrap().display());
    let (port, uport, v4only) = (free_port_low(), free_port6(), free_port6());
    // on the default bridge (IPv4 only): the relay goes to the v4 address
    let web = b
        .run(&[
            "run",
            "-d",
            "--name",
            "lo6",
            "-v",
            &chk,
            "-p",
            &format!("{port}:80"),
            "-p",
            &format!("{uport}:5000/udp"),
            "-p",
            &format!("127.0.0.1:{v4only}:80"),
            "busybox",
            "sh",
            "-c",
            &web_cgi_script("hello-lo6"),
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    assert!(
        berth_tests::wait_until(Duration::from_secs(20), || wget_loopback6(port)
            == "hello-lo6"),
        "busybox wget http://[::1]:{port}/ got {:?}",
        wget_loopback6(port)
    );
    // the server sees the bridge's gateway, as behind docker's proxy
    let gw = b.inspect_format("lo6", "{{.NetworkSettings.Gateway}}");
    // (httpd listens on [::], so it writes a v4 client as [::ffff:a.b.c.d])
    let seen = http_path("::1", port, "/cgi-bin/ip").unwrap_or_default();
    assert_eq!(seen, format!("[::ffff:{gw}]"));
    // UDP both ways, from the gateway too
    let echo = udp_loopback6(uport, "ping6").unwrap_or_default();
    assert!(
        echo.starts_with(&format!("echo:ping6 from {gw}:")),
        "{echo:?}"
    );
    // a port published on 127.0.0.1 only is not on ::1 (docker: the same)
    assert!(http_get("::1", v4only, Duration::from_secs(2)).is_none());
    assert!(TcpStream::connect(("127.0.0.1", v4only)).is_ok());

    // on a dual-stack network: to the container's v6 address, from the v6 gateway
    b.run(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.66.1.0/24",
        "--subnet",
        "fd66:1::/64",
        "n66",
    ])
    .assert_ok();
    let port6 = free_port_low();
    let web6 = b
        .run(&[
            "run",
            "-d",
            "--name",
            "lo66",
            "--network",
            "n66",
            "-p",
            &format!("{port6}:80"),
            "busybox",
            "sh",
            "-c",
            &web_cgi_script("hello-lo66"),
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    assert!(berth_tests::wait_until(Duration::from_secs(20), || {
        http_get("::1", port6, Duration::from_secs(2)).is_some_and(|b| b.trim() == "hello-lo66")
    }));
    let seen = http_path("::1", port6, "/cgi-bin/ip").unwrap_or_default();
    assert!(seen.contains("fd66:1::1"), "REMOTE_ADDR {seen:?}");
    // still kernel-forwarded on 127.0.0.1 (not through the relay): the
    // loopback client is masqueraded to the gateway there too
    assert!(TcpStream::connect(("127.0.0.1", port6)).is_ok());

    // a port another program holds on [::1]: a clear error, nothing half-made
    let busy = TcpListener::bind("[::1]:0").unwrap();
    let taken = busy.local_addr().unwrap().port();
    b.run(&[
        "run",
        "-d",
        "--name",
        "taken",
        "-p",
        &format!("{taken}:80"),
        "busybox",
        "sleep",
        "60",
    ])
    .fails_with(&format!("[::1]:{taken}"));
    let rules = cmd_out("nft", &["list", "ruleset"]);
    assert!(!rules.contains(&format!("dport {taken} ")), "{rules}");
    b.run(&["rm", "-f", "taken"]);
    drop(busy);

    // the relay goes with the container: refused at once after stop
    b.run(&["stop", "-t", "1", "lo6"]).assert_ok();
    let t0 = Instant::now();
    assert!(http_get("::1", port, Duration::from_secs(3)).is_none());
    assert!(t0.elapsed() < Duration::from_secs(2), "[::1]:{port} hung");
    assert!(
        TcpListener::bind(("::1", port)).is_ok(),
        "[::1]:{port} still held"
    );
    // ... and after a restart it is back
    b.run(&["start", "lo6"]).assert_ok();
    assert!(berth_tests::wait_until(
        Duration::from_secs(20),
        || wget_loopback6(port) == "hello-lo6"
    ));

    // kill -9 of the shim and the container: the port is free, the next
    // command repairs the rest
    let pid: i32 = b.inspect_format("lo66", "{{.State.Pid}}").parse().unwrap();
    let spid = shim_pid(&b, &web6);
    assert!(spid > 0);
    // our own container's shim and init only
    unsafe { libc::kill(spid, libc::SIGKILL) };
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(berth_tests::wait_until(Duration::from_secs(30), || {
        for p in [pid, spid] {
            unsafe { libc::waitpid(p, std::ptr::null_mut(), libc::WNOHANG) };
        }
        b.inspect_format("lo66", "{{.State.Status}}") != "running"
    }));
    assert!(http_get("::1", port6, Duration::from_secs(2)).is_none());
    assert!(
        TcpListener::bind(("::1", port6)).is_ok(),
        "[::1]:{port6} still held"
    );
    b.run(&["network", "ls"]).assert_ok();
    b.run(&["rm", "-f", "lo6", "lo66"]).assert_ok();
    b.run(&["network", "rm", "n66"]).assert_ok();
    assert_v6_clean(&b, "fd66:1:", &[web, web6]);
    b.assert_no_leaks();
}

/// `ipv6` + `fixed-cidr-v6` (docker's daemon.json keys) in berth's config
/// file, or in `<root>/daemon.json`: default-bridge containers get a v6
/// address and route, reach each other over v6, publish over the host's v6
/// address; bad settings are refused naming the key.
#[test]
fn default_bridge_ipv6() {
    let Some(b) = v6_berth() else { return };
    let conf = b.scratch("conf").join("config.json");
    let with_conf = |text: &str, args: &[&str]| {
        std::fs::write(&conf, text).unwrap();
        b.cmd()
            .env("BERTH_CONFIG", &conf.to_string_lossy())
            .args(args)
            .run()
    };
    // bad settings: the file and the key are named
    for (text, needle) in [
        (r#"{"ipv6": true}"#, "fixed-cidr-v6"),
        (
            r#"{"ipv6": true, "fixed-cidr-v6": "fd65:b::/129"}"#,
            "fixed-cidr-v6",
        ),
        (
            r#"{"ipv6": true, "fixed-cidr-v6": "10.1.0.0/16"}"#,
            "fixed-cidr-v6",
        ),
        (r#"{"fixed-cidr-v6": "fd65:b::/64"}"#, "\"ipv6\": true"),
    ] {
        let o = with_conf(text, &["run", "--rm", "busybox", "true"]);
        o.fails_with(needle);
        assert!(o.stderr.contains("config.json"), "{o}");
    }
    // the berth equivalent: <root>/daemon.json, checked when the bridge is made
    std::fs::write(b.root().join("daemon.json"), r#"{"ipv6": true}"#).unwrap();
    b.run(&["run", "--rm", "busybox", "true"])
        .fails_with("fixed-cidr-v6");
    std::fs::remove_file(b.root().join("daemon.json")).unwrap();

    let good = r#"{"ipv6": true, "fixed-cidr-v6": "fd65:b::/64"}"#;
    let port = free_port6();
    let o = with_conf(
        good,
        &[
            "run",
            "-d",
            "--name",
            "bw",
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sh",
            "-c",
            &web_cgi_script("hello-bridge6"),
        ],
    );
    let web = o.assert_ok().stdout.trim().to_string();
    let v: serde_json::Value =
        serde_json::from_str(&b.run(&["network", "inspect", "bridge"]).assert_ok().stdout).unwrap();
    assert_eq!(v[0]["EnableIPv6"], serde_json::json!(true), "{v}");
    let cfg = v[0]["IPAM"]["Config"].as_array().unwrap().clone();
    assert!(
        cfg.iter()
            .any(|c| c["Subnet"] == "fd65:b::/64" && c["Gateway"] == "fd65:b::1"),
        "{cfg:?}"
    );
    let ip6 = b.inspect_format("bw", "{{.NetworkSettings.GlobalIPv6Address}}/{{.NetworkSettings.GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}}");
    assert!(
        ip6.starts_with("fd65:b::") && ip6.ends_with("/64 fd65:b::1"),
        "{ip6}"
    );
    let addr6 = ip6.split('/').next().unwrap().to_string();
    // a second container reaches it over v6; its v6 default route
    let out = with_conf(
        good,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            &format!("ip -6 route; timeout 5 wget -qO- 'http://[{addr6}]/'"),
        ],
    )
    .assert_ok()
    .stdout
    .clone();
    assert!(out.contains("default via fd65:b::1"), "{out}");
    assert!(out.contains("hello-bridge6"), "{out}");
    // masquerade of the subnet, the published port over the host's v6 address
    let rules = cmd_out(
        "nft",
        &["list", "table", "ip6", &format!("berth_{}", root_tag(&b))],
    );
    assert!(
        rules.contains("ip6 saddr fd65:b::/64") && rules.contains("masquerade"),
        "{rules}"
    );
    if let Some(h6) = host_addr6() {
        assert!(
            berth_tests::wait_until(Duration::from_secs(20), || {
                http_get(&h6, port, Duration::from_secs(2))
                    .is_some_and(|s| s.trim() == "hello-bridge6")
            }),
            "no answer on [{h6}]:{port}"
        );
    }
    // and on [::1] through the relay, to the v6 address from the v6 gateway
    if loopback6() {
        let seen = http_path("::1", port, "/cgi-bin/ip").unwrap_or_default();
        assert!(seen.contains("fd65:b::1"), "REMOTE_ADDR {seen:?}");
    }
    // kill -9 of the container: the next command gives its v6 address back
    let pid: i32 = b.inspect_format("bw", "{{.State.Pid}}").parse().unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(berth_tests::wait_until(Duration::from_secs(30), || {
        b.inspect_format("bw", "{{.State.Status}}") != "running"
    }));
    b.run(&["network", "ls"]).assert_ok();
    b.run(&["rm", "-f", "bw"]).assert_ok();
    assert_v6_clean(&b, "fd65:b:", &[web]);
    // the setting turned off: the bridge follows once no container uses it
    let o = with_conf("{}", &["network", "inspect", "bridge"]);
    let v: serde_json::Value = serde_json::from_str(&o.assert_ok().stdout).unwrap();
    assert_eq!(v[0]["EnableIPv6"], serde_json::json!(false), "{v}");
    b.assert_no_leaks();
}

/// Deletes a bridge made for a private dockerd's `--bridge` (after dockerd
/// stopped: declared before it, dropped after it).
struct OwnBridge(String);

impl OwnBridge {
    fn make(name: &str, addr: &str) -> OwnBridge {
        let _ = Command::new("ip").args(["link", "del", name]).status();
        for args in [
            vec!["link", "add", name, "type", "bridge"],
            vec!["addr", "add", addr, "dev", name],
            vec!["link", "set", name, "up"],
        ] {
            assert!(
                Command::new("ip").args(&args).status().unwrap().success(),
                "ip {args:?}"
            );
        }
        OwnBridge(name.to_string())
    }
}

impl Drop for OwnBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

/// The default bridge with `ipv6`/`fixed-cidr-v6` and a published port on
/// [::1], beside a private dockerd 20.10 configured the same way (its
/// userland proxy on, as by default): the same answers, the same client
/// address seen by the server, the same refusal of a taken [::1] port.
#[test]
fn loopback6_and_default_bridge_v6_as_docker() {
    let Some(b) = loopback6_berth() else { return };
    std::fs::write(
        b.root().join("daemon.json"),
        r#"{"ipv6": true, "fixed-cidr-v6": "fd65:e::/64", "bip": "10.65.14.1/24"}"#,
    )
    .unwrap();
    let br = format!("bd6{}", std::process::id() % 100000);
    let _bridge = OwnBridge::make(&br, "10.65.13.1/24");
    let d = docker::Docker::start_with(&[
        "--userland-proxy=true",
        &format!("--bridge={br}"),
        "--ipv6",
        "--fixed-cidr-v6=fd65:d::/64",
    ]);
    d.docker(&["tag", engine_kit::IMAGE, "busybox"]).assert_ok();
    let checker = berth_tests::checker_bin();
    let chk = format!("{}:/chk:ro", checker.parent().unwrap().display());

    #[allow(clippy::type_complexity)]
    let results: Vec<(String, String, String, String, String, bool)> = [("docker", "fd65:d::"), ("berth", "fd65:e::")]
        .iter()
        .map(|(engine, pfx)| {
            let run = |args: &[&str]| -> (bool, String) {
                if *engine == "docker" {
                    let o = d.docker(args);
                    (o.ok(), format!("{}{}", o.stdout, o.stderr))
                } else {
                    let o = b.run(args);
                    (o.ok(), format!("{}{}", o.stdout, o.stderr))
                }
            };
            let (port, uport) = (free_port6(), free_port6());
            let (ok, out) = run(&[
                "run", "-d", "--name", "l6", "-v", &chk, "-p", &format!("{port}:80"),
                "-p", &format!("{uport}:5000/udp"), "busybox", "sh", "-c", &web_cgi_script("lo6-web"),
            ]);
            assert!(ok, "{engine}: {out}");
            let (_, addr) = run(&["inspect", "-f", "{{.NetworkSettings.GlobalIPv6Address}}/{{.NetworkSettings.GlobalIPv6PrefixLen}} gw={{.NetworkSettings.IPv6Gateway}}", "l6"]);
            // docker's default-bridge v6 address is the prefix and the
            // MAC, which embeds the v4 address: written as PFX:MAC
            let (_, ip4) = run(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "l6"]);
            let o: Vec<u16> = ip4.trim().split('.').filter_map(|x| x.parse().ok()).collect();
            let mac6 = match o.as_slice() {
                [a, b, c, d] => format!("{pfx}242:{:x}:{:x}", (a << 8) | b, (c << 8) | d),
                _ => format!("no IPv4 address: {ip4}"),
            };
            berth_tests::wait_until(Duration::from_secs(5), || wget_loopback6(port) == "lo6-web");
            let body = wget_loopback6(port);
            let seen = http_path("::1", port, "/cgi-bin/ip").unwrap_or_default();
            let udp = udp_loopback6(uport, "u6")
                .map(|s| s.rsplit_once(':').map(|x| x.0.to_string()).unwrap_or(s))
                .unwrap_or_default();
            // a port another program holds on [::1]
            let busy = TcpListener::bind("[::1]:0").unwrap();
            let taken = busy.local_addr().unwrap().port();
            let (taken_ok, taken_out) =
                run(&["run", "-d", "--name", "l6t", "-p", &format!("{taken}:80"), "busybox", "sleep", "30"]);
            eprintln!("{engine}: run -p {taken}:80 with [::1]:{taken} taken: ok={taken_ok} {taken_out}");
            drop(busy);
            run(&["rm", "-f", "l6", "l6t"]);
            let shape = |s: &str| s.trim().replace(&mac6, "PFX:MAC").replace(pfx, "PFX:");
            (engine.to_string(), shape(&addr), body, shape(&seen), shape(&udp), taken_ok)
        })
        .collect();
    let (dk, bt) = (&results[0], &results[1]);
    eprintln!("docker: {dk:?}\nberth:  {bt:?}");
    assert_eq!(bt.2, "lo6-web", "berth on [::1]");
    assert_eq!(dk.2, bt.2, "the answer on [::1]");
    assert_eq!(dk.3, bt.3, "the client address the server sees over [::1]");
    // (the checker's echo listens on IPv4 only and both relay [::1] to the
    // container's v6 address here: neither answers, alike; the UDP relay's
    // answers are checked on a v4 network in published_ports_answer_on_loopback6)
    assert_eq!(dk.4, bt.4, "the UDP echo over [::1]");
    assert_eq!(dk.5, bt.5, "a taken [::1] port");
    assert_eq!(dk.1, bt.1, "the default bridge's v6 address and gateway");
    drop(d);
    b.cleanup();
    let left = cmd_out("ip", &["-6", "-o", "addr"]);
    assert!(!left.contains("fd65:e:"), "{left}");
    b.assert_no_leaks();
}

/// iperf3 (the host's, bind-mounted) from the host to a container: its
/// address, 127.0.0.1 and [::1] through a published port, on berth and on a
/// private dockerd (userland proxy on), interleaved in one run. A
/// measurement, not a check: `tests/run.sh --test network_ipv6 --
/// --ignored loopback6_throughput --nocapture`.
#[test]
#[ignore]
fn loopback6_throughput() {
    if !loopback6() || Command::new("iperf3").arg("-v").output().is_err() {
        eprintln!("SKIP: no ::1 or no iperf3");
        return;
    }
    let b = Berth::with_busybox("busybox");
    let d = docker::Docker::start_with(&["--userland-proxy=true"]);
    d.docker(&["tag", engine_kit::IMAGE, "busybox"]).assert_ok();
    let mut setups = Vec::new();
    for engine in ["docker", "berth"] {
        let run = |args: &[&str]| -> String {
            let (ok, out, err) = if engine == "docker" {
                let o = d.docker(args);
                (o.ok(), o.stdout.clone(), o.stderr.clone())
            } else {
                let o = b.run(args);
                (o.ok(), o.stdout.clone(), o.stderr.clone())
            };
            assert!(ok, "{engine} {args:?}: {out}{err}");
            out.trim().to_string()
        };
        let subnet = if engine == "docker" {
            "10.67.13.0/24"
        } else {
            "10.67.11.0/24"
        };
        run(&["network", "create", "--subnet", subnet, "tp"]);
        let port = free_port6();
        run(&[
            "run",
            "-d",
            "--name",
            "ip3",
            "--network",
            "tp",
            "--tmpfs",
            "/tmp",
            "-v",
            "/usr:/usr:ro",
            "-v",
            "/lib:/lib:ro",
            "-v",
            "/lib64:/lib64:ro",
            "-p",
            &format!("{port}:5201"),
            "busybox",
            "/usr/bin/iperf3",
            "-s",
        ]);
        let ip = run(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.tp.IPAddress}}",
            "ip3",
        ]);
        setups.push((engine, ip, port));
    }
    std::thread::sleep(Duration::from_secs(1));
    let gbps = |host: &str, port: u16| -> f64 {
        let out = Command::new("iperf3")
            .args(["-c", host, "-p", &port.to_string(), "-t", "3", "-J"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap_or(0.0)
            / 1e9
    };
    let mut best: std::collections::BTreeMap<String, f64> = Default::default();
    for _ in 0..3 {
        for (engine, ip, port) in &setups {
            for (what, host, p) in [
                ("direct", ip.as_str(), 5201),
                ("127.0.0.1", "127.0.0.1", *port),
                ("[::1]", "::1", *port),
            ] {
                let g = gbps(host, p);
                let e = best.entry(format!("{engine} {what}")).or_default();
                *e = e.max(g);
            }
        }
    }
    for (engine, _, _) in &setups {
        let direct = best[&format!("{engine} direct")];
        for what in ["direct", "127.0.0.1", "[::1]"] {
            let g = best[&format!("{engine} {what}")];
            eprintln!(
                "{engine:6} {what:10} {g:6.2} Gbit/s  {:.2}x of direct",
                g / direct.max(1e-9)
            );
        }
    }
    for (engine, _, _) in &setups {
        let run = |args: &[&str]| {
            if *engine == "docker" {
                d.docker(args).ok()
            } else {
                b.run(args).ok()
            }
        };
        run(&["rm", "-f", "ip3"]);
        berth_tests::wait_until(Duration::from_secs(10), || run(&["network", "rm", "tp"]));
    }
    b.assert_no_leaks();
}
