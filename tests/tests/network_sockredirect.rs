//! Published TCP ports reached from the host's 127.0.0.1 through the socket
//! redirect (cgroup connect4/getpeername4 BPF programs, docs/networking.md):
//! the connection goes straight to the container (the client's own address is
//! the bridge's, not 127.0.0.1: no NAT made it), the client still sees
//! 127.0.0.1:P as its peer, the server sees the source it saw through NAT (the
//! bridge's gateway), a container's own 127.0.0.1 is not rewritten, a socket
//! bound to 127.0.0.1 and the host's other addresses still go through NAT,
//! the redirect goes with rm and with a kill -9 (after the next command), and
//! `BERTH_SOCKET_REDIRECT=0` keeps NAT only.

use berth_tests::host::{bpf_redirect_pins, bpf_redirects};
use berth_tests::host::{free_port, host_addr};
use berth_tests::manager::Berth;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// One HTTP GET over a fresh connection: (body, the socket's own address,
/// its peer as getpeername shows it).
fn get(addr: &str, port: u16) -> Option<(String, SocketAddr, SocketAddr)> {
    let mut s = TcpStream::connect_timeout(
        &format!("{addr}:{port}").parse().ok()?,
        Duration::from_secs(2),
    )
    .ok()?;
    let (me, peer) = (s.local_addr().ok()?, s.peer_addr().ok()?);
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    Some((buf.split("\r\n\r\n").nth(1)?.trim().to_string(), me, peer))
}

/// A busybox httpd serving `body` on port 80 that logs its clients.
fn web(b: &Berth, name: &str, extra: &[&str], body: &str) -> String {
    let script = format!(
        "mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -vv -p 80 -h /www"
    );
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    b.run(&args).assert_ok().stdout.trim().to_string()
}

fn table(b: &Berth) -> String {
    format!("berth_{}", berth_tests::census::root_tag(b.root()))
}

fn wait_answer(addr: &str, port: u16) -> (String, SocketAddr, SocketAddr) {
    assert!(
        berth_tests::wait_until(Duration::from_secs(20), || get(addr, port).is_some()),
        "no answer on {addr}:{port}"
    );
    get(addr, port).unwrap()
}

/// `python3` connects from a socket bound to 127.0.0.1 first: its local
/// address, peer and the body.
fn get_bound(port: u16) -> String {
    let code = format!(
        "import socket\n\
         s = socket.socket()\n\
         s.bind(('127.0.0.1', 0))\n\
         s.settimeout(3)\n\
         s.connect(('127.0.0.1', {port}))\n\
         s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n\
         d = b''\n\
         while True:\n\
         \x20   c = s.recv(4096)\n\
         \x20   if not c: break\n\
         \x20   d += c\n\
         print(s.getsockname()[0], s.getpeername(), d.split(b'\\r\\n\\r\\n', 1)[1].decode().strip())\n"
    );
    let out = Command::new("python3")
        .args(["-c", &code])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether conntrack holds a flow to 127.0.0.1:port (what NAT of a
/// loopback connect leaves: its original direction keeps 127.0.0.1:P; a
/// redirected flow is recorded to the container's address only). None when
/// the kernel shows no conntrack table.
fn conntrack_to_loopback(port: u16) -> Option<bool> {
    let t = std::fs::read_to_string("/proc/net/nf_conntrack").ok()?;
    let dport = format!("dport={port}");
    Some(t.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        // the original direction: the first src=, dst=, sport=, dport=
        let dst = w.iter().find(|x| x.starts_with("dst="));
        let dp = w.iter().find(|x| x.starts_with("dport="));
        dst == Some(&"dst=127.0.0.1") && dp == Some(&dport.as_str())
    }))
}

/// A connect to 127.0.0.1:port is refused, and promptly (not a hang).
#[track_caller]
fn assert_refused_promptly(port: u16) {
    let t = Instant::now();
    let r = TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_secs(5),
    );
    let e = r.expect_err("127.0.0.1 still answers");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[test]
fn loopback_connects_are_redirected_and_keep_their_peer() {
    let b = Berth::with_busybox("busybox");
    let (p_any, p_lo) = (free_port(), free_port());
    let ip_lo_port = free_port();
    web(&b, "any", &["-p", &format!("{p_any}:80")], "via-any");
    web(
        &b,
        "lo",
        &[
            "-p",
            &format!("127.0.0.1:{p_lo}:80"),
            "-p",
            &format!("{ip_lo_port}:80/udp"),
        ],
        "via-lo",
    );
    let gw = b.inspect_format("any", "{{.NetworkSettings.Gateway}}");
    let ip_any = b.inspect_format("any", "{{.NetworkSettings.IPAddress}}");
    let ip_lo = b.inspect_format("lo", "{{.NetworkSettings.IPAddress}}");
    let t = table(&b);
    let mut pins = bpf_redirect_pins(&t);
    pins.sort();
    assert_eq!(pins, ["connect4", "getpeername4", "peers", "ports"], "{t}");
    let mut entries = bpf_redirects(&t);
    entries.sort();
    let mut want = vec![
        (p_any, ip_any.parse().unwrap(), 80),
        (p_lo, ip_lo.parse().unwrap(), 80),
    ];
    want.sort();
    // the UDP port has no redirect
    assert_eq!(entries, want);

    for (port, body) in [(p_any, "via-any"), (p_lo, "via-lo")] {
        let (got, me, peer) = wait_answer("127.0.0.1", port);
        assert_eq!(got, body);
        // getpeername maps the peer back
        assert_eq!(peer, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        // the connection is the direct one: the host's side is the bridge's
        // address (through NAT it is 127.0.0.1)
        assert_eq!(me.ip().to_string(), gw, "port {port}");
    }
    // no NAT: conntrack has no flow to 127.0.0.1 on either port
    if let Some(nat) = conntrack_to_loopback(p_any) {
        assert!(!nat, "a NATed flow to 127.0.0.1:{p_any}");
        assert_eq!(conntrack_to_loopback(p_lo), Some(false));
    }
    // the server sees the gateway, as through NAT's masquerade
    let out = b.run(&["logs", "any"]);
    let logs = format!("{}{}", out.assert_ok().stdout, out.stderr);
    assert!(logs.contains(&gw), "{logs}");

    // the host's other address still goes through NAT (0.0.0.0 only)
    let host = host_addr();
    let (got, me, peer) = get(&host, p_any).expect("via the host's address");
    assert_eq!(got, "via-any");
    assert_eq!(peer.to_string(), format!("{host}:{p_any}"));
    assert_ne!(me.ip().to_string(), gw);
    // a socket bound to 127.0.0.1 keeps its destination: NAT serves it
    let line = get_bound(p_any);
    assert_eq!(
        line,
        format!("127.0.0.1 ('127.0.0.1', {p_any}) via-any"),
        "bound socket"
    );
    // (and conntrack shows that one: the check above can see a NAT flow)
    if let Some(nat) = conntrack_to_loopback(p_any) {
        assert!(
            nat,
            "no NATed flow to 127.0.0.1:{p_any} for the bound socket"
        );
    }

    // inside a container, 127.0.0.1 is its own: nothing is rewritten
    let out = b
        .run(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            &format!(
                "mkdir /w && echo own > /w/index.html && httpd -p 127.0.0.1:{p_any} -h /w && \
                 sleep 0.3 && wget -qO- http://127.0.0.1:{p_any}/"
            ),
        ])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out.trim(), "own");
    // nor for a port nobody listens on inside: refused, not the host's
    let out = b.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("wget -T 3 -qO- http://127.0.0.1:{p_lo}/ || echo refused"),
    ]);
    assert!(out.stdout.contains("refused"), "{out}");

    // what shows ports is unchanged
    let out = b.run(&["port", "lo"]).assert_ok().stdout.clone();
    assert!(
        out.contains(&format!("80/tcp -> 127.0.0.1:{p_lo}")),
        "{out}"
    );

    // rm takes the redirect with the rules
    b.run(&["rm", "-f", "lo"]).assert_ok();
    assert_eq!(
        bpf_redirects(&t),
        vec![(p_any, ip_any.parse().unwrap(), 80)]
    );
    assert_refused_promptly(p_lo);
    b.run(&["rm", "-f", "any"]).assert_ok();
    assert!(
        bpf_redirect_pins(&t).is_empty(),
        "{:?}",
        bpf_redirect_pins(&t)
    );
    assert_refused_promptly(p_any);
    b.cleanup();
    b.assert_no_leaks();
}

#[test]
fn kill_9_redirect_goes_with_the_next_command() {
    let b = Berth::with_busybox("busybox");
    let port = free_port();
    let id = web(&b, "kk", &["-p", &format!("{port}:80")], "k");
    wait_answer("127.0.0.1", port);
    let t = table(&b);
    assert_eq!(bpf_redirects(&t).len(), 1);
    b.kill_9_shim_and_init("kk", &id);
    // the next berth command repairs: rules and redirect gone
    b.run(&["network", "ls"]).assert_ok();
    assert!(bpf_redirects(&t).is_empty());
    assert!(
        bpf_redirect_pins(&t).is_empty(),
        "{:?}",
        bpf_redirect_pins(&t)
    );
    assert_refused_promptly(port);
    b.cleanup();
    b.assert_no_leaks();
}

#[test]
fn switched_off_the_ports_go_through_nat() {
    let b = Berth::with_busybox("busybox");
    let port = free_port();
    let off = |args: &[&str]| {
        b.cmd()
            .env("BERTH_SOCKET_REDIRECT", "0")
            .args(args)
            .run()
            .assert_ok()
            .stdout
            .trim()
            .to_string()
    };
    off(&[
        "run",
        "-d",
        "--name",
        "nat",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo nat > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let t = table(&b);
    assert!(bpf_redirect_pins(&t).is_empty());
    let (got, me, peer) = wait_answer("127.0.0.1", port);
    assert_eq!(got, "nat");
    assert_eq!(me.ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(peer, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    if let Some(nat) = conntrack_to_loopback(port) {
        assert!(nat, "no NATed flow to 127.0.0.1:{port}");
    }
    // the choice is kept by commands that do not make it (the exit hook's)
    let port2 = free_port();
    web(&b, "second", &["-p", &format!("{port2}:80")], "two");
    assert!(bpf_redirect_pins(&t).is_empty());
    let (_, me, _) = wait_answer("127.0.0.1", port2);
    assert_eq!(me.ip(), Ipv4Addr::LOCALHOST);
    // switched on again (by the next command that writes the rules): both
    // redirected
    b.cmd()
        .env("BERTH_SOCKET_REDIRECT", "1")
        .args(["run", "--rm", "busybox", "true"])
        .run()
        .assert_ok();
    assert_eq!(bpf_redirects(&t).len(), 2);
    let (got, me, _) = wait_answer("127.0.0.1", port);
    assert_eq!(got, "nat");
    assert_ne!(me.ip(), Ipv4Addr::LOCALHOST);
    b.run(&["rm", "-f", "nat", "second"]).assert_ok();
    assert!(bpf_redirect_pins(&t).is_empty());
    b.cleanup();
    b.assert_no_leaks();
}

/// What someone else removed (a pin deleted by hand, bpffs remounted) is
/// made again by the repair of `network prune`, which re-applies the rules;
/// meanwhile the port works through NAT.
#[test]
fn lost_pins_are_remade_by_a_repair() {
    let b = Berth::with_busybox("busybox");
    let port = free_port();
    web(&b, "lost", &["-p", &format!("{port}:80")], "again");
    let gw = b.inspect_format("lost", "{{.NetworkSettings.Gateway}}");
    let (_, me, _) = wait_answer("127.0.0.1", port);
    assert_eq!(me.ip().to_string(), gw);
    let t = table(&b);
    let dir = std::path::Path::new(berth_tests::host::BPF_REDIRECT_DIR).join(&t);
    std::fs::remove_file(dir.join("connect4")).unwrap();
    // the link's program is detached with its last reference
    assert!(
        berth_tests::wait_until(Duration::from_secs(20), || {
            get("127.0.0.1", port).is_some_and(|(_, me, _)| me.ip() == Ipv4Addr::LOCALHOST)
        }),
        "still redirected without the connect4 link"
    );
    b.run(&["network", "prune", "-f"]).assert_ok();
    let mut pins = bpf_redirect_pins(&t);
    pins.sort();
    assert_eq!(pins, ["connect4", "getpeername4", "peers", "ports"]);
    let (got, me, peer) = wait_answer("127.0.0.1", port);
    assert_eq!(got, "again");
    assert_eq!(me.ip().to_string(), gw);
    assert_eq!(peer, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    // a lost map: made again, and the links with it (a link kept would go
    // on using the lost map)
    std::fs::remove_file(dir.join("ports")).unwrap();
    b.run(&["network", "prune", "-f"]).assert_ok();
    assert_eq!(bpf_redirects(&t).len(), 1);
    let (got, me, _) = wait_answer("127.0.0.1", port);
    assert_eq!(got, "again");
    assert_eq!(me.ip().to_string(), gw);
    b.run(&["rm", "-f", "lost"]).assert_ok();
    assert!(bpf_redirect_pins(&t).is_empty());
    b.cleanup();
    b.assert_no_leaks();
}

/// A root deleted while its container ran (killed, its directories removed
/// with everything in them): another root's next command sweeps the
/// deleted root's redirect with its rules.
#[test]
fn deleted_root_redirect_is_swept() {
    let a = Berth::with_busybox("busybox");
    let b = Berth::new();
    let port = free_port();
    let id = web(&a, "gone", &["-p", &format!("{port}:80")], "gone");
    wait_answer("127.0.0.1", port);
    let t = table(&a);
    assert_eq!(bpf_redirects(&t).len(), 1);
    let (pid, shim_pid) = a.kill_9_shim_and_init("gone", &id);
    for p in [pid, shim_pid] {
        if p > 0 {
            berth_tests::wait_until(Duration::from_secs(10), || {
                unsafe { libc::waitpid(p, std::ptr::null_mut(), libc::WNOHANG) };
                !std::path::Path::new(&format!("/proc/{p}")).exists()
            });
        }
    }
    for dir in [a.root(), a.state()] {
        for m in berth_tests::sys::mounts_under(dir).iter().rev() {
            berth_tests::sys::umount_detach(std::path::Path::new(&m.mount_point));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
    b.run(&["network", "ls"]).assert_ok();
    assert!(
        bpf_redirect_pins(&t).is_empty(),
        "{t}: {:?}",
        bpf_redirect_pins(&t)
    );
    assert_refused_promptly(port);
    let dirs: Vec<std::path::PathBuf> = a.dirs().into_iter().chain(b.dirs()).collect();
    // the killed container's cgroups: its runtime never deleted them, and
    // the root that knew them is gone (the test's doing, not the redirect's)
    let parent = berth_tests::census::cgroup_parent(a.root());
    drop(a);
    drop(b);
    for p in berth_tests::host::cgroup_dirs(&parent) {
        rmdir_tree(&p);
    }
    berth_tests::host_census::assert_nothing_left(&dirs, "after the deleted root's sweep");
}

/// Remove an (empty of processes) cgroup directory and those below it.
fn rmdir_tree(p: &std::path::Path) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(p);
}

/// A redirect directory that no claim or labelled bridge names (its root is
/// gone and the sweep that removed the root's table came before it) is
/// removed by the next thorough command of any root.
#[test]
fn orphan_redirect_dir_is_swept() {
    let b = Berth::with_busybox("busybox");
    // a redirect of b's own makes sure bpffs is mounted
    let port = free_port();
    web(&b, "own", &["-p", &format!("{port}:80")], "own");
    wait_answer("127.0.0.1", port);
    let orphan = std::path::Path::new(berth_tests::host::BPF_REDIRECT_DIR).join("berth_0badf00d");
    std::fs::create_dir_all(&orphan).unwrap();
    b.run(&["network", "ls"]).assert_ok();
    assert!(!orphan.exists(), "{} left", orphan.display());
    // the caller's own redirect stays
    assert_eq!(bpf_redirects(&table(&b)).len(), 1);
    b.run(&["rm", "-f", "own"]).assert_ok();
    b.cleanup();
    b.assert_no_leaks();
}
