//! `berth system reset` (podman's verb): a root with a running container on
//! a user network with a published port, a running one on the default
//! bridge, a stopped one, a named volume and an image is reset with `-f`;
//! nothing of it stays on the host (processes, veths, bridges, firewall
//! rules, subnet claims, cgroup parents, the root and state directories),
//! and the root works again afterwards. Without `-f`, an answer other than
//! yes removes nothing.

use berth_tests::census::{cgroup_parent, root_tag};
use berth_tests::host::{self, free_port};
use berth_tests::host_census::{self, HostCensus};
use berth_tests::manager::Berth;
use berth_tests::runtime::Io;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// GET / from 127.0.0.1:port, the body (None when unreachable).
fn http_get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().ok()?,
        Duration::from_secs(2),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split("\r\n\r\n").nth(1).map(str::to_string)
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The host-side veths of container `id` (`veth<8 hex of the id><n>`).
fn veths_of(id: &str) -> Vec<String> {
    let prefix = format!("veth{}", &id[..8]);
    host::dir_names(Path::new("/sys/class/net"))
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// stdin read from file `p` (`Io::File` opens for appending).
fn answer_from(p: &Path) -> Io {
    Io::Fd(std::fs::File::open(p).unwrap().into())
}

/// A berth error (exit 125) whose message names `needle`.
#[track_caller]
fn refused(out: &berth_tests::Output, needle: &str) {
    out.assert_code(125);
    assert!(out.stderr.contains(needle), "expected {needle:?} in\n{out}");
}

/// The subnet claims naming `root`.
fn claims_of(root: &Path) -> Vec<PathBuf> {
    host_census::claims()
        .into_iter()
        .filter(|c| c.root == root)
        .map(|c| c.file)
        .collect()
}

/// `root`'s cgroup parent in every hierarchy, where it exists.
fn cgroup_parents_of(root: &Path) -> Vec<PathBuf> {
    host::cgroup_dirs(&cgroup_parent(root))
        .into_iter()
        .filter(|p| p.is_dir())
        .collect()
}

/// The live shims' pids recorded under the state directory (a stopped
/// container's shim has ended).
fn shim_pids(b: &Berth) -> Vec<i32> {
    let dir = b.state().join("containers");
    std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("status.json")).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter_map(|v| v["shim_pid"].as_i64())
        .map(|p| p as i32)
        .filter(|p| *p > 0 && host::alive(*p))
        .collect()
}

/// What a root has on the host, to compare before and after.
struct Seen {
    ids: Vec<String>,
    pids: Vec<i32>,
    bridges: Vec<String>,
    table: String,
}

/// The populated root of the scenario: `web` (httpd on a user network,
/// port published, the named volume mounted), `def` (on the default
/// bridge), `stopped`; image `busybox`, volume `data`.
fn populate(b: &Berth) -> (Seen, u16) {
    let port = free_port();
    b.run(&["volume", "create", "data"]).assert_ok();
    b.run(&["network", "create", "appnet"]).assert_ok();
    let script = "mkdir -p /www && echo reset-me > /www/index.html && exec httpd -f -p 80 -h /www";
    let web = b
        .run(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "appnet",
            "-p",
            &format!("{port}:80"),
            "-v",
            "data:/data",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let def = b
        .run(&["run", "-d", "--name", "def", "busybox", "sleep", "1000"])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    b.run(&["run", "--name", "stopped", "busybox", "true"])
        .assert_ok();
    let stopped = b.inspect_format("stopped", "{{.Id}}");
    assert!(
        berth_tests::wait_until(Duration::from_secs(5), || http_get(port).is_some()),
        "no answer on 127.0.0.1:{port}"
    );
    assert_eq!(http_get(port).unwrap_or_default().trim(), "reset-me");
    let mut pids: Vec<i32> = ["web", "def"]
        .iter()
        .map(|n| b.inspect_format(n, "{{.State.Pid}}").parse().unwrap())
        .collect();
    let shims = shim_pids(b);
    assert_eq!(shims.len(), 2, "the running containers' shims");
    pids.extend(shims);
    let net = b.run(&["network", "inspect", "appnet"]).assert_ok().json();
    let net_id = net[0]["Id"].as_str().unwrap().to_string();
    let tag = root_tag(b.root());
    let seen = Seen {
        ids: vec![web, def, stopped],
        pids,
        bridges: vec![format!("bb{tag}"), format!("br-{}", &net_id[..12])],
        table: format!("berth_{tag}"),
    };
    // what the assertions after the reset look for is there now
    for br in &seen.bridges {
        assert!(link_exists(br), "bridge {br} before the reset");
    }
    for id in &seen.ids[..2] {
        assert!(!veths_of(id).is_empty(), "no veth of {id} before the reset");
    }
    assert!(
        host_census::nft_tables()
            .iter()
            .any(|(_, t)| *t == seen.table),
        "table {} before the reset",
        seen.table
    );
    assert_eq!(claims_of(b.root()).len(), 2, "the two networks' claims");
    assert!(!cgroup_parents_of(b.root()).is_empty(), "no cgroup parent");
    assert!(seen.pids.iter().all(|p| host::alive(*p)));
    (seen, port)
}

#[test]
fn reset_removes_everything_and_the_root_works_again() {
    let b = Berth::with_busybox("busybox");
    let (seen, port) = populate(&b);

    // a bad flag is refused, clearly, and changes nothing
    refused(&b.run(&["system", "reset", "--bogus"]), "--bogus");
    refused(&b.run(&["system", "reset", "-f", "extra"]), "extra");

    // without -f the answer is read from stdin: "n" removes nothing
    let answer = b.scratch("answer").join("n");
    std::fs::write(&answer, "n\n").unwrap();
    let out = b
        .cmd()
        .args(["system", "reset"])
        .stdin(answer_from(&answer))
        .run();
    out.assert_ok();
    assert!(
        out.stdout.contains("WARNING! This will remove:")
            && out
                .stdout
                .contains("Are you sure you want to continue? [y/N]"),
        "{out}"
    );
    // no answer at all (stdin ends) is not a yes either
    refused(
        &b.cmd().args(["system", "reset"]).stdin(Io::Null).run(),
        "no answer",
    );
    let ps = b
        .run(&["ps", "-a", "-q", "--no-trunc"])
        .assert_ok()
        .stdout
        .clone();
    for id in &seen.ids {
        assert!(ps.contains(id.as_str()), "{id} gone after a no:\n{ps}");
    }
    assert_eq!(http_get(port).unwrap_or_default().trim(), "reset-me");
    assert!(b
        .run(&["volume", "ls", "-q"])
        .assert_ok()
        .stdout
        .contains("data"));
    assert!(b.run(&["images"]).assert_ok().stdout.contains("busybox"));

    let dirs = b.dirs();
    let out = b.run(&["system", "reset", "-f"]);
    out.assert_ok();
    assert!(out.stdout.contains("Deleted Containers:"), "{out}");

    // nothing of the root is left on the host, with no sweep by another
    // command in between
    assert!(
        berth_tests::wait_until(Duration::from_secs(5), || seen
            .pids
            .iter()
            .all(|p| !host::alive(*p))),
        "processes left: {:?}",
        seen.pids
            .iter()
            .filter(|p| host::alive(**p))
            .map(|p| host::cmdline(*p))
            .collect::<Vec<_>>()
    );
    // a veth goes with its namespace, freed by the kernel moments after
    assert!(
        berth_tests::wait_until(Duration::from_secs(5), || seen
            .ids
            .iter()
            .all(|id| veths_of(id).is_empty())),
        "veths left"
    );
    for br in &seen.bridges {
        assert!(!link_exists(br), "bridge {br} left");
    }
    assert!(
        !host_census::nft_tables()
            .iter()
            .any(|(_, t)| *t == seen.table),
        "table {} left",
        seen.table
    );
    assert!(
        !host_census::iptables_chains()
            .iter()
            .any(|(_, _, c)| c.starts_with(&format!("{}-", seen.table))),
        "iptables chains left"
    );
    assert_eq!(claims_of(b.root()), Vec::<PathBuf>::new(), "claims left");
    assert_eq!(
        cgroup_parents_of(b.root()),
        Vec::<PathBuf>::new(),
        "cgroups left"
    );
    assert!(http_get(port).is_none(), "the port still answers");
    assert!(!b.root().exists(), "the root is still there");
    assert!(!b.state().exists(), "the state is still there");
    let census = HostCensus::of(&dirs);
    assert!(
        census.is_clean(),
        "left on the host:\n  {}",
        census.problems().join("\n  ")
    );
    // a second reset finds nothing to do and succeeds
    b.run(&["system", "reset", "-f"]).assert_ok();
    assert!(!b.root().exists());

    // the root is made anew by the next command
    b.import_busybox("busybox");
    let port2 = free_port();
    let out = b
        .run(&[
            "run",
            "--rm",
            "-p",
            &format!("{port2}:80"),
            "busybox",
            "echo",
            "again",
        ])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(out.trim(), "again");
    assert_eq!(b.run(&["ps", "-a", "-q"]).assert_ok().stdout.trim(), "");
}

/// "y" on stdin is a yes, as podman takes it.
#[test]
fn yes_on_stdin_resets() {
    let b = Berth::with_busybox("busybox");
    b.run(&["volume", "create", "vol"]).assert_ok();
    b.run(&["create", "--name", "ctr", "busybox", "true"])
        .assert_ok();
    let answer = b.scratch("answer").join("y");
    std::fs::write(&answer, "y\n").unwrap();
    b.cmd()
        .args(["system", "reset"])
        .stdin(answer_from(&answer))
        .run()
        .assert_ok();
    assert!(!b.root().exists());
    assert_eq!(claims_of(b.root()), Vec::<PathBuf>::new(), "claims left");
    assert_eq!(b.run(&["volume", "ls", "-q"]).assert_ok().stdout.trim(), "");
}

/// A root that is / or a mount point is refused before anything is removed.
#[test]
fn slash_and_mount_points_are_refused() {
    let b = Berth::with_busybox("busybox");
    let out = b
        .cmd()
        .env("BERTH_STATE", "/proc")
        .args(["system", "reset", "-f"])
        .run();
    refused(&out, "is a mount point");
    let out = b
        .cmd()
        .no_root()
        .args(["--root", "/", "system", "reset", "-f"])
        .run();
    refused(&out, "is /");
    // nothing was removed
    assert!(b.run(&["images"]).assert_ok().stdout.contains("busybox"));
}
