//! `berth compose` networking end to end: the project's networks made with
//! docker compose's labels, services reaching each other by service name,
//! container name and alias with real traffic, published ports from the
//! host, isolation between two networks, links, `network_mode: service:x`,
//! and `down` leaving no network, bridge, veth, nft table or namespace.

use berth_tests::host::free_port;
use berth_tests::manager::Berth;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
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
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split("\r\n\r\n").nth(1).map(str::to_string)
}

/// `wget` from inside a service's container: the body, or None (busybox
/// wget's own `-T` crashes, so `timeout` bounds it).
fn fetch(b: &Berth, dir: &Path, service: &str, url: &str) -> Option<String> {
    let out = b.compose(
        dir,
        &[
            "exec", "-T", service, "timeout", "3", "wget", "-q", "-O", "-", url,
        ],
    );
    if out.code != Some(0) {
        eprintln!("fetch {url} from {service}: {:?} {}", out.code, out.stderr);
    }
    (out.code == Some(0)).then(|| out.stdout.trim().to_string())
}

/// A busybox httpd answering `body` on `port`.
fn server(body: &str, port: u16) -> String {
    format!(
        "[sh, -c, 'mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p {port} -h /www']"
    )
}

fn cmd_out(prog: &str, args: &[&str]) -> String {
    String::from_utf8_lossy(&Command::new(prog).args(args).output().unwrap().stdout).into_owned()
}

/// The ids of this root's networks named `names`.
fn network_ids(b: &Berth, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            b.run(&["network", "inspect", "-f", "{{.Id}}", n])
                .assert_ok()
                .stdout
                .trim()
                .to_string()
        })
        .collect()
}

/// After `down`: no network of the project, no bridge of `net_ids`, no veth
/// of `cids`, no pinned namespace, no container.
#[track_caller]
fn assert_down_clean(b: &Berth, project: &str, net_ids: &[String], cids: &[String]) {
    let nets = b
        .run(&["network", "ls", "--format", "{{.Name}}"])
        .assert_ok()
        .stdout
        .clone();
    assert!(
        !nets.lines().any(|n| n.starts_with(&format!("{project}_"))),
        "networks left: {nets}"
    );
    // a veth goes with its container's namespace, freed by the kernel's
    // worker moments after the container's removal
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < end {
        let l = cmd_out("ip", &["-br", "link"]);
        if cids
            .iter()
            .all(|id| !l.contains(&format!("veth{}", &id[..8])))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let links = cmd_out("ip", &["-br", "link"]);
    for id in net_ids {
        assert!(
            !links.contains(&format!("br-{}", &id[..12])),
            "bridge of {id} left:\n{links}"
        );
    }
    for id in cids {
        assert!(
            !links.contains(&format!("veth{}", &id[..8])),
            "veth of {id} left:\n{links}"
        );
    }
    let rules = cmd_out("nft", &["list", "ruleset"]);
    for id in net_ids {
        assert!(
            !rules.contains(&format!("br-{}", &id[..12])),
            "nft rules of {id} left"
        );
    }
    let pins = b.state().join("netns");
    let left: Vec<_> = std::fs::read_dir(&pins)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "pinned namespaces left: {left:?}");
    b.assert_no_leaks();
}

fn container_ids(b: &Berth, dir: &Path) -> Vec<String> {
    b.compose(dir, &["ps", "-a", "-q"])
        .assert_ok()
        .stdout
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn web_and_db_by_name_alias_and_published_port() {
    let b = Berth::with_busybox("busybox");
    let p = free_port();
    let yaml = format!(
        r#"
services:
  db:
    image: busybox
    command: {db}
    stop_signal: SIGKILL
    scale: 2
    networks:
      default:
        aliases: [database]
  web:
    image: busybox
    command: {web}
    stop_signal: SIGKILL
    ports: ["127.0.0.1:{p}:80"]
    depends_on: [db]
"#,
        db = server("db-ok", 3306),
        web = server("web-ok", 80),
    );
    let dir = b.project("shop", &yaml);
    b.compose(&dir, &["up", "-d"]).assert_ok();
    // The project network, with docker compose's labels.
    let labels = b
        .run(&[
            "network",
            "inspect",
            "-f",
            "{{json .Labels}}",
            "shop_default",
        ])
        .assert_ok()
        .stdout
        .clone();
    assert!(
        labels.contains("\"com.docker.compose.network\":\"default\""),
        "{labels}"
    );
    assert!(
        labels.contains("\"com.docker.compose.project\":\"shop\""),
        "{labels}"
    );
    // By service name, by alias, by container name.
    assert!(berth_tests::wait_until(Duration::from_secs(10), || fetch(
        &b,
        &dir,
        "web",
        "http://db:3306/"
    )
    .as_deref()
        == Some("db-ok")));
    assert_eq!(
        fetch(&b, &dir, "web", "http://database:3306/").as_deref(),
        Some("db-ok")
    );
    assert_eq!(
        fetch(&b, &dir, "web", "http://shop-db-2:3306/").as_deref(),
        Some("db-ok")
    );
    assert_eq!(
        fetch(&b, &dir, "db", "http://web/").as_deref(),
        Some("web-ok")
    );
    // Both replicas answer under the service name (the network's DNS
    // responder, round robin).
    let answer = b
        .compose(&dir, &["exec", "-T", "web", "nslookup", "db"])
        .assert_ok()
        .stdout
        .clone();
    let db_addrs = answer
        .split("\n\n")
        .skip(1)
        .flat_map(|b| b.lines())
        .filter(|l| l.starts_with("Address:"))
        .count();
    assert_eq!(db_addrs, 2, "{answer}");
    // The published port from the host, and what port/ps show.
    assert!(berth_tests::wait_until(
        Duration::from_secs(20),
        || http_get("127.0.0.1", p).as_deref() == Some("web-ok\n")
    ));
    let port = b
        .compose(&dir, &["port", "web", "80"])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(port.trim(), format!("127.0.0.1:{p}"));
    let ps = b.compose(&dir, &["ps"]).assert_ok().stdout.clone();
    assert!(ps.contains(&format!("127.0.0.1:{p}->80/tcp")), "{ps}");
    // up again keeps everything (network unchanged).
    let before = container_ids(&b, &dir);
    b.compose(&dir, &["up", "-d"]).assert_ok();
    assert_eq!(container_ids(&b, &dir), before);
    let nets = network_ids(&b, &["shop_default"]);
    b.compose(&dir, &["down"]).assert_ok();
    assert!(http_get("127.0.0.1", p).is_none());
    assert_down_clean(&b, "shop", &nets, &before);
}

#[test]
fn two_networks_isolation_links_and_service_network_mode() {
    let b = Berth::with_busybox("busybox");
    // A subnet unlikely to be used by another test running now.
    let x = 100 + (std::process::id() % 100);
    let yaml = format!(
        r#"
services:
  api:
    image: busybox
    command: {api}
    stop_signal: SIGKILL
    networks:
      front:
        ipv4_address: 10.{x}.7.50
      back: {{}}
  db:
    image: busybox
    command: {db}
    stop_signal: SIGKILL
    networks: [back]
  ui:
    image: busybox
    command: [sleep, "1000"]
    stop_signal: SIGKILL
    networks: [front]
    links: ["api:theapi"]
    extra_hosts: ["fixed.example:10.{x}.7.50"]
  side:
    image: busybox
    command: [sleep, "1000"]
    stop_signal: SIGKILL
    network_mode: service:api
networks:
  front:
    ipam:
      config:
        - subnet: 10.{x}.7.0/24
  back:
    internal: true
    labels: {{tier: back}}
"#,
        api = server("api-ok", 80),
        db = server("db-ok", 80),
    );
    let dir = b.project("iso", &yaml);
    b.compose(&dir, &["up", "-d"]).assert_ok();
    // api reaches db over back; ui reaches api over front, by name, link
    // alias, its fixed address and an extra_hosts name.
    assert!(berth_tests::wait_until(Duration::from_secs(10), || fetch(
        &b,
        &dir,
        "api",
        "http://db/"
    )
    .as_deref()
        == Some("db-ok")));
    assert_eq!(
        fetch(&b, &dir, "ui", "http://api/").as_deref(),
        Some("api-ok")
    );
    assert_eq!(
        fetch(&b, &dir, "ui", "http://theapi/").as_deref(),
        Some("api-ok")
    );
    assert_eq!(
        fetch(&b, &dir, "ui", &format!("http://10.{x}.7.50/")).as_deref(),
        Some("api-ok")
    );
    assert_eq!(
        fetch(&b, &dir, "ui", "http://fixed.example/").as_deref(),
        Some("api-ok")
    );
    // ui is not on back: db's name does not resolve and its address does not answer.
    assert_eq!(fetch(&b, &dir, "ui", "http://db/"), None);
    let v: serde_json::Value =
        serde_json::from_str(&b.run(&["inspect", "iso-db-1"]).assert_ok().stdout).unwrap();
    let db_ip = v[0]["NetworkSettings"]["Networks"]["iso_back"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!db_ip.is_empty());
    assert_eq!(fetch(&b, &dir, "ui", &format!("http://{db_ip}/")), None);
    // side shares api's namespace: api's server on its loopback.
    assert_eq!(
        fetch(&b, &dir, "side", "http://127.0.0.1/").as_deref(),
        Some("api-ok")
    );
    let labels = b
        .run(&["network", "inspect", "-f", "{{json .Labels}}", "iso_back"])
        .assert_ok()
        .stdout
        .clone();
    assert!(labels.contains("\"tier\":\"back\""), "{labels}");
    let cids = container_ids(&b, &dir);
    let nets = network_ids(&b, &["iso_front", "iso_back"]);
    b.compose(&dir, &["down"]).assert_ok();
    assert_down_clean(&b, "iso", &nets, &cids);
}

#[test]
fn external_network_kept_changed_network_refused_while_used() {
    let b = Berth::with_busybox("busybox");
    b.run(&["network", "create", "shared"]).assert_ok();
    b.run(&[
        "run",
        "-d",
        "--name",
        "outsider",
        "--network",
        "shared",
        "busybox",
        "sleep",
        "1000",
    ])
    .assert_ok();
    let yaml = |internal: bool| {
        format!(
            "services:\n  a:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    networks: [shared, own]\nnetworks:\n  shared: {{external: true}}\n  own: {{internal: {internal}}}\n"
        )
    };
    let dir = b.project("ext", &yaml(false));
    b.compose(&dir, &["up", "-d"]).assert_ok();
    // The outsider reaches the service over the external network.
    let out = b.run(&["exec", "outsider", "ping", "-c", "1", "-W", "2", "ext-a-1"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    // A changed network while its container runs: a clear error.
    std::fs::write(dir.join("compose.yaml"), yaml(true)).unwrap();
    let out = b.compose(&dir, &["up", "-d"]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("ext_own") && out.stderr.contains("changed configuration"),
        "{}",
        out.stderr
    );
    b.compose(&dir, &["down"]).assert_ok();
    // The external network stays; the project's own went.
    let nets = b
        .run(&["network", "ls", "--format", "{{.Name}}"])
        .assert_ok()
        .stdout
        .clone();
    assert!(nets.lines().any(|n| n == "shared"), "{nets}");
    assert!(!nets.lines().any(|n| n == "ext_own"), "{nets}");
    // Missing external network: an error naming it.
    b.run(&["rm", "-f", "outsider"]).assert_ok();
    b.run(&["network", "rm", "shared"]).assert_ok();
    let out = b.compose(&dir, &["up", "-d"]);
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("shared") && out.stderr.contains("external"),
        "{}",
        out.stderr
    );
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}
