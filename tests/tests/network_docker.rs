//! berth's bridges on a host where dockerd runs: dockerd sets iptables'
//! FORWARD policy to DROP and jumps to its `DOCKER-USER` chain first; an
//! accept in berth's own nftables table does not override that drop. berth
//! keeps accept rules for its bridges in DOCKER-USER. This test makes the
//! state dockerd makes (the chain, the jump, the DROP policy) when no dockerd
//! did (checked by hand against a private dockerd too, see docs/networking.md),
//! sends traffic across two berth networks through a published port, and
//! restores the host. One test in its own file: nothing else runs meanwhile.

use berth_tests::manager::Berth;
use std::process::Command;
use std::time::Duration;

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

/// The host state of a dockerd, undone on drop when this test made it.
struct DockerLikeForward {
    made: bool,
    /// iptables-nft's `ip filter` table existed before (else it is removed).
    had_table: bool,
}

impl DockerLikeForward {
    fn setup() -> DockerLikeForward {
        if iptables(&["-S", "DOCKER-USER"]) {
            // a real dockerd's chain: use it as it is
            return DockerLikeForward {
                made: false,
                had_table: true,
            };
        }
        let had_table = Command::new("nft")
            .args(["list", "table", "ip", "filter"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(iptables(&["-N", "DOCKER-USER"]));
        assert!(iptables(&["-A", "DOCKER-USER", "-j", "RETURN"]));
        assert!(iptables(&["-I", "FORWARD", "-j", "DOCKER-USER"]));
        assert!(iptables(&["-P", "FORWARD", "DROP"]));
        DockerLikeForward {
            made: true,
            had_table,
        }
    }
}

impl Drop for DockerLikeForward {
    fn drop(&mut self) {
        if self.made {
            iptables(&["-P", "FORWARD", "ACCEPT"]);
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

#[test]
fn published_port_across_networks_under_dockers_forward_drop() {
    berth_tests::init();
    if Command::new("iptables").arg("-V").output().is_err() {
        eprintln!("skipped: iptables is not installed");
        return;
    }
    let b = Berth::new();
    b.import_busybox("busybox");
    let fwd = DockerLikeForward::setup();
    b.run(&["network", "create", "d1"]).assert_ok();
    b.run(&["network", "create", "d2"]).assert_ok();
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
    let rules = iptables_out(&["-S", "DOCKER-USER"]);
    assert!(
        rules.contains("berth:berth_"),
        "no berth rules in DOCKER-USER:\n{rules}"
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
        if line.contains("berth:") {
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
    // berth's rules leave DOCKER-USER with its bridges
    let rules = iptables_out(&["-S", "DOCKER-USER"]);
    assert!(!rules.contains("berth:"), "berth rules left:\n{rules}");
    drop(fwd);
    b.assert_no_leaks();
}
