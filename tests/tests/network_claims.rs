//! Subnet claims between berth roots on one host (issue 11): two roots given
//! the same default-bridge `bip` (the second is refused, naming the subnet
//! and the root that holds it, as docker refuses an overlapping bridge;
//! taken over once that root is gone), and a gone root's bridge that no
//! longer blocks its subnet for the next `network create` (the sweep runs
//! before the host's routes are read).

use berth_tests::host_census::{self, claim_file};
use berth_tests::manager::Berth;
use std::path::{Path, PathBuf};

/// `berth ARGS` of `b` with `BERTH_BIP=bip`.
#[track_caller]
fn with_bip(b: &Berth, bip: &str, args: &[&str]) -> berth_tests::Output {
    b.cmd().env("BERTH_BIP", bip).args(args).run()
}

/// The root named by the claim of `subnet` (None: no claim).
fn claim_owner(subnet: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string(claim_file(subnet)).ok()?;
    text.lines().next().map(PathBuf::from)
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Network `name` of `b`: (bridge, v4 subnet).
fn bridge_and_subnet(b: &Berth, name: &str) -> (String, String) {
    let v = b.run(&["network", "inspect", name]).assert_ok().json();
    let n = &v[0];
    let bridge = n["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .expect("a bridge name in Options")
        .to_string();
    let subnet = n["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .expect("a subnet")
        .to_string();
    (bridge, subnet)
}

/// Root B is given the `bip` root A's default bridge holds: B is refused
/// with an error naming the subnet and A's root, and A's claim stays A's
/// (before, B's claim overwrote it, and A's bridge was then named by
/// nothing). Once A's root is gone, B takes the subnet over and its
/// containers get addresses in it.
#[test]
fn same_bip_in_two_roots_is_refused_until_the_holder_is_gone() {
    berth_tests::init();
    let a = Berth::new();
    let b = Berth::new();
    let subnet = format!("10.222.{}.0/24", std::process::id() % 200);
    let bip = format!("10.222.{}.1/24", std::process::id() % 200);
    with_bip(&a, &bip, &["network", "ls"]).assert_ok();
    assert_eq!(
        claim_owner(&subnet).as_deref(),
        Some(a.root()),
        "root A claims its bip's subnet {subnet}"
    );
    let out = with_bip(&b, &bip, &["network", "ls"]);
    assert!(!out.ok(), "root B given root A's bip was accepted:\n{out}");
    let root_a = a.root().display().to_string();
    for want in [subnet.as_str(), root_a.as_str(), "bip"] {
        assert!(
            out.stderr.contains(want),
            "the refusal does not name {want:?}:\n{out}"
        );
    }
    assert_eq!(
        claim_owner(&subnet).as_deref(),
        Some(a.root()),
        "root B's refused bip took root A's claim of {subnet}"
    );
    // an overlapping (not equal) bip is refused the same way
    let wide = format!("10.222.{}.1/23", (std::process::id() % 200) & !1);
    let out = with_bip(&b, &wide, &["network", "ls"]);
    assert!(
        !out.ok() && out.stderr.contains(&root_a),
        "root B's bip {wide} overlapping root A's {subnet} was accepted:\n{out}"
    );
    // A still works on its bridge
    a.import_busybox("busybox");
    let ip = with_bip(
        &a,
        &bip,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0",
        ],
    )
    .assert_ok()
    .stdout
    .clone();
    let prefix = subnet.trim_end_matches("0/24");
    assert!(
        ip.contains(&format!("inet {prefix}")),
        "A's container: {ip}"
    );

    // A's root goes: its claim is swept and B takes the subnet
    let a_dirs = a.dirs();
    drop(a);
    for d in &a_dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    with_bip(&b, &bip, &["network", "ls"]).assert_ok();
    assert_eq!(
        claim_owner(&subnet).as_deref(),
        Some(b.root()),
        "root B did not take over {subnet} of the gone root"
    );
    b.import_busybox("busybox");
    let ip = with_bip(
        &b,
        &bip,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0",
        ],
    )
    .assert_ok()
    .stdout
    .clone();
    assert!(
        ip.contains(&format!("inet {prefix}")),
        "B's container: {ip}"
    );
    let mut all = a_dirs.to_vec();
    all.extend(b.dirs());
    drop(b);
    host_census::assert_nothing_left(&all, "after both roots");
}

/// Root A's network is on subnet S when A's root is deleted: B's `network
/// create --subnet S` succeeds at once (the sweep removes A's bridge before
/// the host's routes are read; before, A's bridge route made S "overlap"
/// until one more command had swept). Both for a claimed bridge and for one
/// only labelled (no claim names it).
#[test]
fn a_gone_roots_bridge_does_not_block_its_subnet() {
    berth_tests::init();
    for (i, claimed) in [(0u8, true), (1, false)] {
        let a = Berth::new();
        let b = Berth::new();
        let subnet = format!("10.223.{}.0/24", (std::process::id() % 100) * 2 + i as u32);
        a.run(&["network", "create", "--subnet", &subnet, "gonenet"])
            .assert_ok();
        let (bridge, _) = bridge_and_subnet(&a, "gonenet");
        assert!(link_exists(&bridge), "bridge {bridge} after create");
        if !claimed {
            for c in host_census::claims() {
                if c.root == a.root() {
                    std::fs::remove_file(&c.file).unwrap();
                }
            }
        }
        std::fs::remove_dir_all(a.root()).unwrap();
        let out = b.run(&["network", "create", "--subnet", &subnet, "again"]);
        assert!(
            out.ok(),
            "claimed={claimed}: the gone root's bridge {bridge} still blocks {subnet}:\n{out}"
        );
        assert!(
            !link_exists(&bridge),
            "claimed={claimed}: the gone root's bridge {bridge} is still there"
        );
        assert_eq!(claim_owner(&subnet).as_deref(), Some(b.root()));
        b.run(&["network", "rm", "again"]).assert_ok();
        let mut all = a.dirs();
        all.extend(b.dirs());
        drop((a, b));
        host_census::assert_nothing_left(&all, &format!("claimed={claimed}"));
    }
}
