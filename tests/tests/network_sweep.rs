//! The sweep of what deleted roots leave (issue 11 item 7): a root deleted
//! while its networks exist (tests delete their temporary roots so, with
//! `rm -rf`), seen half-deleted by another root's sweep, and crash leftovers
//! of a root's own `network create`/`rm`. After each scenario the host-wide
//! census (`host_census`) finds nothing of the test's roots.

use berth_tests::census::root_tag;
use berth_tests::host_census::{self, claim_file, HostCensus};
use berth_tests::manager::Berth;
use std::path::{Path, PathBuf};

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

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn nft_table_exists(table: &str) -> bool {
    host_census::nft_tables().iter().any(|(_, t)| t == table)
}

/// Remove every network record of `root`, as `rm -rf` of the root does
/// before its directory goes (or as a late exit hook finds a deleted root it
/// recreated empty).
fn delete_network_records(root: &Path) {
    for e in std::fs::read_dir(root.join("networks")).unwrap().flatten() {
        let _ = std::fs::remove_file(e.path().join("network.json"));
    }
}

/// Remove the record of network `id` of `root` only: `rm -rf` of the root
/// half-way (other records, the predefined networks', are still there).
fn delete_network_record(root: &Path, id: &str) {
    std::fs::remove_file(root.join("networks").join(id).join("network.json")).unwrap();
}

/// Drop `roots` (deleting them, in order), then assert that nothing of
/// theirs is left on the host.
#[track_caller]
fn drop_and_assert_nothing_left<const N: usize>(roots: [Berth; N], ctx: &str) {
    let all: Vec<PathBuf> = roots.iter().flat_map(Berth::dirs).collect();
    drop(roots);
    host_census::assert_nothing_left(&all, ctx);
}

/// Assert that `bridge` and nft table `table` are gone; `whose` says whose
/// they were ("of the deleted root").
#[track_caller]
fn assert_bridge_and_table_gone(bridge: &str, table: &str, whose: &str) {
    assert!(
        !link_exists(bridge),
        "bridge {bridge} {whose} is still there"
    );
    assert!(
        !nft_table_exists(table),
        "table {table} {whose} is still there"
    );
}

/// Root A is being deleted (its network records are gone, its directory is
/// not yet) when root B's command sweeps: A's claim must stay, so that the
/// sweep after A is gone finds A's bridge and firewall table through it.
/// (Before the fix the first sweep dropped the claim: the bridge and the
/// table stayed on the host with nothing naming them.)
#[test]
fn claim_outlives_a_half_deleted_root() {
    berth_tests::init();
    let a = Berth::new();
    let b = Berth::new();
    let id = a
        .run(&["network", "create", "sweepnet"])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let (bridge, subnet) = bridge_and_subnet(&a, "sweepnet");
    let table = format!("berth_{}", root_tag(a.root()));
    assert!(link_exists(&bridge), "bridge {bridge} after network create");
    assert!(
        nft_table_exists(&table),
        "table {table} after network create"
    );
    assert!(claim_file(&subnet).is_file(), "claim of {subnet}");

    delete_network_record(a.root(), &id);
    b.run(&["network", "ls"]).assert_ok();
    assert!(
        claim_file(&subnet).is_file(),
        "a sweep while root {} was being deleted dropped the claim of {subnet}: \
         its bridge {bridge} and table {table} would stay with nothing naming them",
        a.root().display()
    );

    std::fs::remove_dir_all(a.root()).unwrap();
    b.run(&["network", "ls"]).assert_ok();
    assert_bridge_and_table_gone(&bridge, &table, "of the deleted root");
    assert!(
        !claim_file(&subnet).is_file()
            || std::fs::read_to_string(claim_file(&subnet))
                .is_ok_and(|c| !c.starts_with(&format!("{}\n", a.root().display()))),
        "the claim of {subnet} outlived its root and bridge"
    );
    drop_and_assert_nothing_left([a, b], "after deleting both roots");
}

/// A claim of the root's own without its network record (a `network
/// create` killed between the claim and the record, or a `network rm`
/// between the record and the claim): the root's next command removes the
/// claim and the bridge it names, and the subnet is free again.
#[test]
fn own_claim_without_its_network_is_swept() {
    berth_tests::init();
    let a = Berth::new();
    let subnet = format!("10.214.{}.0/24", std::process::id() % 200);
    a.run(&["network", "create", "--subnet", &subnet, "half"])
        .assert_ok();
    let (bridge, _) = bridge_and_subnet(&a, "half");
    delete_network_records(a.root());
    a.run(&["network", "ls"]).assert_ok();
    assert!(
        !claim_file(&subnet).is_file(),
        "the claim of {subnet} without its network was kept"
    );
    assert!(
        !link_exists(&bridge),
        "bridge {bridge} of the claim without its network is still there"
    );
    // no network of the root has rules now: its table (which held the
    // vanished network's) is gone too, not left for nothing to name
    let table = format!("berth_{}", root_tag(a.root()));
    assert!(
        !nft_table_exists(&table),
        "table {table} outlived every network of its root"
    );
    // the subnet is free for another root now
    let b = Berth::new();
    b.run(&["network", "create", "--subnet", &subnet, "again"])
        .assert_ok();
    b.run(&["network", "rm", "again"]).assert_ok();
    drop_and_assert_nothing_left([a, b], "after both roots");
}

/// Roots deleted with their networks while another root sweeps in a loop
/// (the harness's real pattern, not a simulation): whatever the interleaving,
/// a final sweep leaves nothing of them.
#[test]
fn roots_deleted_during_sweeps_leave_nothing() {
    berth_tests::init();
    let sweeper = Berth::new();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut all: Vec<PathBuf> = Vec::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sweeper.run(&["network", "ls"]).assert_ok();
            }
        });
        for i in 0..4 {
            let a = Berth::new();
            // some depth below the root, so that its deletion takes a while
            for d in 0..200 {
                let p = a.root().join("filler").join(format!("{d}"));
                std::fs::create_dir_all(&p).unwrap();
                std::fs::write(p.join("f"), b"x").unwrap();
            }
            a.run(&["network", "create", &format!("gone{i}")])
                .assert_ok();
            all.extend(a.dirs());
            drop(a);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    sweeper.run(&["network", "ls"]).assert_ok();
    let c = HostCensus::of(&all);
    assert!(
        c.is_clean(),
        "after a sweep, left by roots deleted during sweeps:\n  {}",
        c.problems().join("\n  ")
    );
    all.extend(sweeper.dirs());
    drop(sweeper);
    host_census::assert_nothing_left(&all, "after the sweeper's root");
}

/// Bridges carry their root as a label (ifalias): one whose root is gone
/// and that no claim names any more (a claim dropped by an older berth, or
/// overwritten by another root given the same `bip`) is still found by a
/// thorough sweep (`network ls`), and goes with its root's table.
#[test]
fn labelled_bridge_without_claim_is_swept() {
    berth_tests::init();
    let a = Berth::new();
    let b = Berth::new();
    a.run(&["network", "create", "labelled"]).assert_ok();
    let (bridge, _) = bridge_and_subnet(&a, "labelled");
    let table = format!("berth_{}", root_tag(a.root()));
    let label = std::fs::read_to_string(format!("/sys/class/net/{bridge}/ifalias")).unwrap();
    assert_eq!(
        label.trim_end(),
        format!("{}{}", host_census::LABEL, a.root().display()),
        "the label of bridge {bridge}"
    );
    // the root goes with every claim of it (also its default bridge's)
    for c in host_census::claims() {
        if c.root == a.root() {
            std::fs::remove_file(&c.file).unwrap();
        }
    }
    std::fs::remove_dir_all(a.root()).unwrap();
    b.run(&["network", "ls"]).assert_ok();
    assert_bridge_and_table_gone(&bridge, &table, "of the deleted, labelling root");
    drop_and_assert_nothing_left([a, b], "after both roots");
}

/// A root that exists but records no network at all (its deletion took
/// every record already, or a late exit hook recreated it empty after its
/// deletion): another root's sweep removes its bridge, table and claim at
/// once, and the subnet can be taken again right away.
#[test]
fn root_without_any_network_is_swept_at_once() {
    berth_tests::init();
    let a = Berth::new();
    let b = Berth::new();
    let subnet = format!("10.215.{}.0/24", std::process::id() % 200);
    a.run(&["network", "create", "--subnet", &subnet, "emptied"])
        .assert_ok();
    let (bridge, _) = bridge_and_subnet(&a, "emptied");
    let table = format!("berth_{}", root_tag(a.root()));
    delete_network_records(a.root());
    b.run(&["network", "ls"]).assert_ok();
    assert_bridge_and_table_gone(&bridge, &table, "of the emptied root");
    assert!(
        !claim_file(&subnet).is_file(),
        "the claim of {subnet} of the emptied root is still there"
    );
    b.run(&["network", "create", "--subnet", &subnet, "taken"])
        .assert_ok();
    b.run(&["network", "rm", "taken"]).assert_ok();
    drop_and_assert_nothing_left([a, b], "after both roots");
}
