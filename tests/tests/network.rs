//! berth networking end to end, with real traffic: published ports (127.0.0.1,
//! the host's other address, UDP, hairpin), user networks resolving names and
//! aliases, legacy links, isolation, internal networks, connect/disconnect,
//! concurrent runs, kill -9, bad input, and no leaks (veths, bridges, rules,
//! namespaces) afterwards.

use berth_tests::host::{free_port, host_addr};
use berth_tests::manager::Berth;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

/// GET / from addr:port, the body (None when unreachable).
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

/// Start a busybox httpd serving `body` (detached), named `name`.
fn web(b: &Berth, name: &str, extra: &[&str], body: &str) -> String {
    let script =
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    let id = b.run(&args).assert_ok().stdout.trim().to_string();
    id
}

/// The container's inspect JSON.
fn inspect_json(b: &Berth, c: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&b.run(&["inspect", c]).assert_ok().stdout).unwrap();
    v[0].clone()
}

fn links() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-br", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

fn nft_tables() -> String {
    String::from_utf8_lossy(
        &Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
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

/// After every container is gone: no veth of `ids`, no bridge or table of
/// this root, no pinned namespace.
#[track_caller]
fn assert_net_clean(b: &Berth, ids: &[String]) {
    b.cleanup();
    let tag = root_tag(b);
    // a veth goes with its container's namespace, which the kernel frees
    // in a worker of its own moments after the container's removal
    let gone = |l: &str| {
        ids.iter()
            .all(|id| !l.contains(&format!("veth{}", &id[..8])))
    };
    berth_tests::wait_until(Duration::from_secs(20), || gone(&links()));
    let l = links();
    for id in ids {
        assert!(
            !l.contains(&format!("veth{}", &id[..8])),
            "veth of {id} left:\n{l}"
        );
    }
    assert!(
        !l.contains(&format!("bb{tag}")),
        "default bridge left:\n{l}"
    );
    let t = nft_tables();
    assert!(!t.contains(&format!("berth_{tag}")), "nft table left:\n{t}");
    let pins = b.state().join("netns");
    let left: Vec<_> = std::fs::read_dir(&pins)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "pinned namespaces left: {left:?}");
    b.assert_no_leaks();
}

#[test]
fn published_port_on_loopback_and_host_address() {
    let b = Berth::with_busybox("busybox");
    let port = free_port();
    let id = web(&b, "web", &["-p", &format!("{port}:80")], "hello-web");
    assert!(
        berth_tests::wait_until(Duration::from_secs(20), || http_get("127.0.0.1", port)
            .is_some()),
        "no answer on 127.0.0.1:{port}"
    );
    assert_eq!(http_get("127.0.0.1", port).unwrap().trim(), "hello-web");
    let host = host_addr();
    assert_eq!(
        http_get(&host, port).unwrap().trim(),
        "hello-web",
        "via {host}"
    );
    // what shows it is truthful
    let out = b.run(&["port", "web"]).assert_ok().stdout.clone();
    assert_eq!(out.trim(), format!("80/tcp -> 0.0.0.0:{port}"));
    let out = b.run(&["port", "web", "80"]).assert_ok().stdout.clone();
    assert_eq!(out.trim(), format!("0.0.0.0:{port}"));
    let ps = b.run(&["ps"]).assert_ok().stdout.clone();
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    let ip = b.inspect_format("web", "{{.NetworkSettings.IPAddress}}");
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "IPAddress {ip:?}");
    let v = inspect_json(&b, "web");
    assert_eq!(
        v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
        serde_json::json!(port.to_string())
    );
    assert_eq!(
        b.inspect_format("web", "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        ip
    );
    let mac = b.inspect_format("web", "{{.NetworkSettings.MacAddress}}");
    assert!(mac.starts_with("02:42:"), "{mac}");
    // the container reaches the outside world's side of the host: its gateway
    let gw = b.inspect_format("web", "{{.NetworkSettings.Gateway}}");
    let out = b
        .run(&["exec", "web", "ip", "route"])
        .assert_ok()
        .stdout
        .clone();
    assert!(out.contains(&format!("default via {gw}")), "{out}");
    // stats NET I/O counts the traffic above
    let s = b
        .run(&["stats", "--no-stream", "--format", "{{.NetIO}}", "web"])
        .assert_ok()
        .stdout
        .clone();
    assert!(!s.trim().starts_with("0B /"), "NET I/O {s:?}");
    // a port already taken is a clear error naming it, nothing half-made
    let out = b.run(&[
        "run",
        "--rm",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "true",
    ]);
    out.assert_code(125);
    assert!(
        out.stderr.contains(&format!("{port}")) && out.stderr.contains("already allocated"),
        "{out}"
    );
    let ps = b.run(&["ps", "-a", "-q"]).assert_ok().stdout.clone();
    assert_eq!(ps.lines().count(), 1, "{ps}");
    b.run(&["rm", "-f", "web"]).assert_ok();
    assert!(
        http_get("127.0.0.1", port).is_none(),
        "the port still answers after rm"
    );
    assert_net_clean(&b, &[id]);
}

#[test]
fn published_udp_ip_bound_and_random_ports() {
    let b = Berth::with_busybox("busybox");
    let port = free_port();
    let checker = berth_tests::checker_bin();
    let id = b
        .run(&[
            "run",
            "-d",
            "--name",
            "uu",
            "-p",
            &format!("127.0.0.1:{port}:5000/udp"),
            "-p",
            "127.0.0.1::80",
            "-v",
            &format!("{}:/chk:ro", checker.parent().unwrap().display()),
            "busybox",
            "sh",
            "-c",
            "/chk/berth-checker udp-echo 5000 & exec httpd -f -p 80 -h /tmp",
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut answer = String::new();
    let got = berth_tests::wait_until(Duration::from_secs(20), || {
        let _ = sock.send_to(b"ping-udp", format!("127.0.0.1:{port}"));
        let mut buf = [0u8; 256];
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                answer = String::from_utf8_lossy(&buf[..n]).into_owned();
                true
            }
            Err(_) => false,
        }
    });
    assert!(got, "no UDP answer through 127.0.0.1:{port}");
    assert!(answer.starts_with("echo:ping-udp from "), "{answer}");
    // 127.0.0.1::80 got a random host port bound to 127.0.0.1 only
    let p = b.run(&["port", "uu", "80/tcp"]).assert_ok().stdout.clone();
    let (ip, hp) = p.trim().split_once(':').unwrap();
    assert_eq!(ip, "127.0.0.1");
    let hp: u16 = hp.parse().unwrap();
    assert!(hp >= 32768, "{hp}");
    assert!(berth_tests::wait_until(Duration::from_secs(20), || {
        http_get("127.0.0.1", hp).is_some()
    }));
    assert!(
        http_get(&host_addr(), hp).is_none(),
        "bound to 127.0.0.1 but answers elsewhere"
    );
    assert_net_clean(&b, &[id]);
}

#[test]
fn none_network_has_lo_up_and_only_lo() {
    let b = Berth::with_busybox("busybox");
    let out = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ip",
            "-o",
            "link",
        ])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("lo:") && out.contains("UP"), "{out}");
    // a server on 127.0.0.1 answers inside the container
    let out = b
        .run(&[
            "run", "--rm", "--network", "none", "busybox", "sh", "-c",
            "mkdir /w && echo ok-lo > /w/index.html && httpd -p 127.0.0.1:8081 -h /w && sleep 0.3 && wget -qO- http://127.0.0.1:8081/",
        ])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out.trim(), "ok-lo");
    assert_net_clean(&b, &[]);
}

#[test]
fn user_network_names_aliases_rename_and_hairpin() {
    let b = Berth::with_busybox("busybox");
    b.run(&["network", "create", "app"]).assert_ok();
    let port = free_port();
    let db = web(
        &b,
        "db",
        &[
            "--network",
            "app",
            "--network-alias",
            "database",
            "-p",
            &format!("{port}:80"),
        ],
        "from-db",
    );
    let out = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "sh",
            "-c",
            "wget -qO- http://db/ && wget -qO- http://database/",
        ])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out, "from-db\nfrom-db\n");
    // hairpin: another container reaches the published port through the host
    let host = host_addr();
    let out = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "wget",
            "-qO-",
            &format!("http://{host}:{port}/"),
        ])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out.trim(), "from-db");
    // a rename is seen by the peers
    let peer = b
        .run(&[
            "run",
            "-d",
            "--name",
            "peer",
            "--network",
            "app",
            "busybox",
            "sleep",
            "60",
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    b.run(&["rename", "db", "store"]).assert_ok();
    let out = b
        .run(&["exec", "peer", "wget", "-qO-", "http://store/"])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out.trim(), "from-db");
    // network inspect lists both containers
    let v: serde_json::Value =
        serde_json::from_str(&b.run(&["network", "inspect", "app"]).assert_ok().stdout).unwrap();
    let names: Vec<&str> = v[0]["Containers"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"store") && names.contains(&"peer"),
        "{names:?}"
    );
    // removing a network in use fails; after its containers, it works
    b.run(&["network", "rm", "app"])
        .assert_fail_with("active endpoints");
    b.run(&["rm", "-f", "store", "peer"]).assert_ok();
    b.run(&["network", "rm", "app"]).assert_ok();
    assert_net_clean(&b, &[db, peer]);
}

#[test]
fn legacy_link_hosts_and_env_on_default_bridge() {
    let b = Berth::with_busybox("busybox");
    let db = web(&b, "db", &["--expose", "5432", "-e", "PGPASS=s3cret"], "x");
    let out = b
        .run(&[
            "run", "--rm", "--link", "db:dbapp", "busybox", "sh", "-c",
            "grep dbapp /etc/hosts; echo $DBAPP_PORT_5432_TCP_ADDR $DBAPP_PORT_5432_TCP_PORT $DBAPP_ENV_PGPASS; wget -qO- http://dbapp/",
        ])
        .assert_ok()
        .stdout
        .clone();
    let ip = b.inspect_format("db", "{{.NetworkSettings.IPAddress}}");
    let lines: Vec<&str> = out.lines().collect();
    // docker's order: the alias, the short id, the name
    assert_eq!(lines[0], format!("{ip}\tdbapp {} db", &db[..12]), "{out}");
    assert_eq!(lines[1], format!("{ip} 5432 s3cret"));
    assert_eq!(lines[2], "x");
    // no name resolution on the default bridge without a link
    b.run(&["run", "--rm", "busybox", "grep", "-w", "db", "/etc/hosts"])
        .assert_fail();
    // --add-host with host-gateway, --dns options
    let out = b
        .run(&[
            "run",
            "--rm",
            "--add-host",
            "gw:host-gateway",
            "--add-host",
            "x.test:10.1.2.3",
            "--dns",
            "10.9.9.9",
            "--dns-search",
            "corp.test",
            "--dns-option",
            "ndots:2",
            "--hostname",
            "hn",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hosts /etc/resolv.conf /etc/hostname",
        ])
        .assert_ok()
        .stdout
        .clone();
    let gw = b.inspect_format("db", "{{.NetworkSettings.Gateway}}");
    assert!(out.contains(&format!("{gw}\tgw")), "{out}");
    assert!(out.contains("10.1.2.3\tx.test"), "{out}");
    assert!(
        out.contains("nameserver 10.9.9.9\n")
            && out.contains("search corp.test")
            && out.contains("options ndots:2"),
        "{out}"
    );
    assert!(out.contains("\thn\n") && out.ends_with("hn\n"), "{out}");
    assert_net_clean(&b, &[db]);
}

/// `--link` entries follow the linked container when it starts again with
/// another address: a change on the default bridge rewrites the hosts files
/// of the containers whose endpoints say they have links (and reads no
/// other container's record).
#[test]
fn legacy_link_follows_a_restarted_target() {
    let b = Berth::with_busybox("busybox");
    let run_d = |name: &str, extra: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sleep", "1000"]);
        b.run(&args).assert_ok().stdout.trim().to_string()
    };
    let ldb = run_d("ldb", &[]);
    let lapp = run_d("lapp", &["--link", "ldb:dbapp"]);
    let lother = run_d("lother", &[]);
    let ip_of = |n: &str| b.inspect_format(n, "{{.NetworkSettings.IPAddress}}");
    let ip1 = ip_of("ldb");
    // its address taken while it is stopped: it starts with another one
    b.run(&["stop", "-t", "0", "ldb"]).assert_ok();
    let lfill = run_d("lfill", &[]);
    b.run(&["start", "ldb"]).assert_ok();
    let ip2 = ip_of("ldb");
    assert_ne!(ip1, ip2);
    let hosts = |n: &str| {
        b.run(&["exec", n, "cat", "/etc/hosts"])
            .assert_ok()
            .stdout
            .clone()
    };
    let h = hosts("lapp");
    assert!(h.contains(&format!("{ip2}\tdbapp")), "{h}");
    assert!(!h.contains(&format!("{ip1}\t")), "{h}");
    // a container without links keeps only its own entries
    let h = hosts("lother");
    assert!(!h.contains("dbapp") && !h.contains("ldb"), "{h}");
    assert_net_clean(&b, &[ldb, lapp, lother, lfill]);
}

#[test]
fn isolation_internal_and_connect_disconnect() {
    let b = Berth::with_busybox("busybox");
    b.run(&["network", "create", "--subnet", "10.231.0.0/24", "n1"])
        .assert_ok();
    b.run(&["network", "create", "n2"]).assert_ok();
    b.run(&["network", "create", "--internal", "inner"])
        .assert_ok();
    let port = free_port();
    let a = web(
        &b,
        "ca",
        &[
            "--network",
            "n1",
            "--ip",
            "10.231.0.50",
            "-p",
            &format!("{port}:80"),
        ],
        "from-a",
    );
    assert_eq!(
        b.inspect_format("ca", "{{.NetworkSettings.Networks.n1.IPAddress}}"),
        "10.231.0.50"
    );
    let c = b
        .run(&[
            "run",
            "-d",
            "--name",
            "cc",
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
    // another network: not by address
    b.run(&["exec", "cc", "nc", "-w", "2", "10.231.0.50", "80"])
        .assert_fail();
    // an internal network: no way out, not even to a published port
    let out = b.run(&[
        "run",
        "--rm",
        "--network",
        "inner",
        "busybox",
        "nc",
        "-w",
        "2",
        &host_addr(),
        &port.to_string(),
    ]);
    out.assert_fail();
    // connect: now by name and address
    b.run(&["network", "connect", "--alias", "aa", "n1", "cc"])
        .assert_ok();
    // a sees c under its alias on n1 (through n1's DNS responder)
    let out = b
        .run(&["exec", "ca", "nslookup", "aa"])
        .assert_ok()
        .stdout
        .clone();
    assert!(out.contains("Address: 10.231.0."), "{out}");
    let out = b
        .run(&["exec", "cc", "wget", "-qO-", "http://ca/"])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out.trim(), "from-a");
    let nets = inspect_json(&b, "cc")["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(nets, 2);
    b.run(&["network", "disconnect", "n1", "cc"]).assert_ok();
    b.run(&["exec", "cc", "nc", "-w", "2", "10.231.0.50", "80"])
        .assert_fail();
    let nets = inspect_json(&b, "cc")["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(nets, 1);
    b.run(&["rm", "-f", "ca", "cc"]).assert_ok();
    let out = b
        .run(&["network", "prune", "-f"])
        .assert_ok()
        .stdout
        .clone();
    for n in ["n1", "n2", "inner"] {
        assert!(out.contains(n), "{out}");
    }
    assert_net_clean(&b, &[a, c]);
}

#[test]
fn concurrent_runs_get_distinct_addresses() {
    let b = Berth::with_busybox("busybox");
    let net = b
        .run(&["network", "create", "--subnet", "10.232.0.0/24", "many"])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let ids: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|i| {
                let b = &b;
                s.spawn(move || {
                    b.run(&[
                        "run",
                        "-d",
                        "--name",
                        &format!("m{i}"),
                        "--network",
                        "many",
                        "busybox",
                        "sleep",
                        "60",
                    ])
                    .assert_ok()
                    .stdout
                    .trim()
                    .to_string()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ips: Vec<String> = (0..6)
        .map(|i| {
            b.inspect_format(
                &format!("m{i}"),
                "{{.NetworkSettings.Networks.many.IPAddress}}",
            )
        })
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 6, "duplicate addresses: {ips:?}");
    assert!(ips.iter().all(|ip| ip.starts_with("10.232.0.")), "{ips:?}");
    b.cleanup();
    // a user network's bridge lives as long as the network
    assert!(links().contains(&format!("br-{}", &net[..12])));
    b.run(&["network", "rm", "many"]).assert_ok();
    assert!(!links().contains(&format!("br-{}", &net[..12])));
    assert_net_clean(&b, &ids);
}

#[test]
fn kill_9_leaves_nothing_after_the_next_command() {
    let b = Berth::with_busybox("busybox");
    let port = free_port();
    let id = web(&b, "kk", &["-p", &format!("{port}:80")], "k");
    assert!(berth_tests::wait_until(Duration::from_secs(20), || {
        http_get("127.0.0.1", port).is_some()
    }));
    // the orphaned init is a zombie until the host's pid 1 reaps it (the
    // harness reaps it itself when this process inherited it)
    b.kill_9_shim_and_init("kk", &id);
    // the next berth command that touches networks repairs
    b.run(&["network", "ls"]).assert_ok();
    let l = links();
    assert!(!l.contains(&format!("veth{}", &id[..8])), "{l}");
    assert!(http_get("127.0.0.1", port).is_none());
    assert!(!nft_tables().contains(&format!("berth_{}", root_tag(&b))));
    assert_net_clean(&b, &[id]);
}

/// A berth error of `run` (exit 125) whose message names `needle`.
#[track_caller]
fn run_refused(out: &berth_tests::Output, needle: &str) {
    out.assert_code(125);
    assert!(out.stderr.contains(needle), "expected {needle:?} in\n{out}");
}

#[test]
fn bad_input_is_refused_clearly() {
    let b = Berth::with_busybox("busybox");
    b.run(&["network", "create", "--subnet", "10.233.0.0/16", "one"])
        .assert_ok();
    b.run(&["network", "create", "--subnet", "10.233.5.0/24", "two"])
        .assert_fail_with("overlaps");
    b.run(&[
        "network",
        "create",
        "--subnet",
        "10.234.0.0/24",
        "--gateway",
        "10.9.0.1",
        "three",
    ])
    .assert_fail_with("gateway");
    b.run(&["network", "create", "--subnet", "nonsense", "four"])
        .assert_fail_with("invalid subnet");
    b.run(&["network", "create", "one"])
        .assert_fail_with("already exists");
    b.run(&["network", "create", "-d", "overlay", "five"])
        .assert_fail_with("not supported");
    let refused: [(&[&str], &str); 5] = [
        (&["--network", "one", "--ip", "10.9.9.9"], "10.9.9.9"),
        (&["-p", "80:abc"], "invalid port"),
        (&["-p", "1:2:3:4"], "port specification"),
        (&["--network", "nope"], "nope not found"),
        (&["--ip", "172.17.0.9"], "user defined networks"),
    ];
    for (flags, needle) in refused {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        run_refused(&b.run(&args), needle);
    }
    b.run(&["network", "rm", "bridge"])
        .assert_fail_with("pre-defined");
    b.run(&["network", "rm", "one"]).assert_ok();
    assert!(b.run(&["ps", "-a", "-q"]).stdout.trim().is_empty());
    assert_net_clean(&b, &[]);
}

#[test]
fn container_network_mode_shares_the_namespace() {
    let b = Berth::with_busybox("busybox");
    let id = web(&b, "shared", &[], "same-netns");
    let ip = b.inspect_format("shared", "{{.NetworkSettings.IPAddress}}");
    let out = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "container:shared",
            "busybox",
            "sh",
            "-c",
            "wget -qO- http://127.0.0.1/ && ip -o -4 addr show eth0",
        ])
        .assert_ok()
        .stdout
        .clone();
    assert!(out.starts_with("same-netns\n"), "{out}");
    assert!(out.contains(&format!("inet {ip}/")), "{out}");
    // -p with container: is refused, as docker does
    let out = b.run(&[
        "run",
        "--rm",
        "--network",
        "container:shared",
        "-p",
        "80",
        "busybox",
        "true",
    ]);
    out.assert_code(125);
    assert!(out.stderr.contains("conflicting options"), "{out}");
    assert_net_clean(&b, &[id]);
}

/// The owner of a namespace stops while a `--network container:` joiner
/// still runs in it: the namespace outlives the pin, so the owner's exit
/// deletes its veth itself (it asks the joiners berth recorded, not /proc).
#[test]
fn owner_exit_with_a_running_joiner_deletes_its_veth() {
    let b = Berth::with_busybox("busybox");
    let id = web(&b, "owner", &[], "owned");
    let joiner = b
        .run(&[
            "run",
            "-d",
            "--network",
            "container:owner",
            "busybox",
            "sleep",
            "300",
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let veth = format!("veth{}", &id[..8]);
    assert!(links().contains(&veth), "no veth {veth}:\n{}", links());
    b.run(&["stop", "-t", "1", "owner"]).assert_ok();
    berth_tests::wait_until(Duration::from_secs(20), || !links().contains(&veth));
    let l = links();
    assert!(!l.contains(&veth), "veth of the stopped owner left:\n{l}");
    b.run(&["rm", "-f", &joiner]).assert_ok();
    b.run(&["rm", "-f", "owner"]).assert_ok();
    let joiners = b.state().join("netns-joiners");
    assert!(!joiners.exists(), "{} left", joiners.display());
    assert_net_clean(&b, &[id, joiner]);
}

#[test]
fn publish_all_mac_address_and_ip_range() {
    let b = Berth::with_busybox("busybox");
    b.run(&[
        "network",
        "create",
        "--subnet",
        "10.235.0.0/24",
        "--ip-range",
        "10.235.0.128/25",
        "--gateway",
        "10.235.0.254",
        "-o",
        "mtu=1400",
        "--label",
        "team=net",
        "ranged",
    ])
    .assert_ok();
    let id = web(
        &b,
        "pa",
        &[
            "--network",
            "ranged",
            "--expose",
            "80",
            "-P",
            "--mac-address",
            "02:aa:bb:cc:dd:ee",
        ],
        "published-all",
    );
    let p = b.run(&["port", "pa", "80"]).assert_ok().stdout.clone();
    let hp: u16 = p.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(berth_tests::wait_until(Duration::from_secs(20), || {
        http_get("127.0.0.1", hp).is_some()
    }));
    assert_eq!(http_get("127.0.0.1", hp).unwrap().trim(), "published-all");
    let v = inspect_json(&b, "pa");
    let n = &v["NetworkSettings"]["Networks"]["ranged"];
    assert_eq!(n["MacAddress"], "02:aa:bb:cc:dd:ee");
    assert_eq!(
        n["IPAddress"], "10.235.0.128",
        "the first address of the range"
    );
    assert_eq!(n["Gateway"], "10.235.0.254");
    let out = b
        .run(&["exec", "pa", "ip", "-o", "link", "show", "eth0"])
        .assert_ok()
        .stdout
        .clone();
    assert!(
        out.contains("mtu 1400") && out.contains("02:aa:bb:cc:dd:ee"),
        "{out}"
    );
    // ls filters and formats
    let out = b
        .run(&[
            "network",
            "ls",
            "--filter",
            "label=team=net",
            "--format",
            "{{.Name}} {{.Driver}}",
        ])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out, "ranged bridge\n");
    let out = b
        .run(&["network", "ls", "-q", "--filter", "type=custom"])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out.lines().count(), 1, "{out}");
    b.run(&["rm", "-f", "pa"]).assert_ok();
    b.run(&["network", "rm", "ranged"]).assert_ok();
    assert_net_clean(&b, &[id]);
}
