//! Unit tests (pure) and host tests. Host tests need root and a cgroup
//! filesystem; they create cgroups named berth-test-<pid>-<tag>-<n> and a
//! guard removes them (and kills their processes) even when an assertion
//! fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use serde_json::json;

use super::devices::{
    rules_from_spec, DeviceRule, DeviceType, Emulator, ACC_ALL, ACC_MKNOD, ACC_READ, ACC_WRITE,
};
use super::host::{self, CgroupMode, Layout, Mount};
use super::path::{self, Inner, SystemdUnit};
use super::resources::{self, BlockIo, Res};
use super::stats::{self, BlkioEntry, MemoryEntry, Stats};
use super::{bpf, fsutil, host_info, Cgroup, CgroupError, Hierarchy};

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).expect("valid LinuxResources")
}

// ---------------------------------------------------------------- paths

#[test]
fn clean_paths() {
    assert_eq!(path::clean("/a/./b//c/"), "a/b/c");
    assert_eq!(path::clean("../../a/../b"), "b");
    assert_eq!(path::clean("/"), "");
}

#[test]
fn inner_paths() {
    let inner = |p: Option<&str>, id: &str| path::inner_from(p.map(Path::new), id);
    assert_eq!(
        inner(Some("/docker/abc"), "id").unwrap(),
        Inner::Absolute("docker/abc".into())
    );
    assert_eq!(
        inner(Some("sub/../x/y"), "id").unwrap(),
        Inner::Relative("x/y".into())
    );
    assert_eq!(inner(None, "ctr1").unwrap(), Inner::Absolute("ctr1".into()));
    assert_eq!(
        inner(Some(""), "ctr1").unwrap(),
        Inner::Absolute("ctr1".into())
    );
    // ".." cannot climb above the hierarchy root or the own cgroup.
    assert_eq!(
        inner(Some("/../../etc"), "id").unwrap(),
        Inner::Absolute("etc".into())
    );
    assert_eq!(
        inner(Some("../x"), "id").unwrap(),
        Inner::Relative("x".into())
    );
    for bad in ["/", ".", "a/.."] {
        assert!(
            matches!(inner(Some(bad), "id"), Err(CgroupError::InvalidPath { .. })),
            "{bad}"
        );
    }
}

fn mount(mp: &str, root: &str, ctrls: &[&str]) -> Mount {
    Mount {
        mountpoint: PathBuf::from(mp),
        root: root.into(),
        controllers: ctrls.iter().map(|s| s.to_string()).collect(),
    }
}

fn hybrid_layout() -> Layout {
    Layout {
        mode: CgroupMode::Hybrid,
        v1: vec![
            mount("/sys/fs/cgroup/cpu,cpuacct", "/", &["cpu", "cpuacct"]),
            mount("/sys/fs/cgroup/memory", "/", &["memory"]),
            mount("/sys/fs/cgroup/devices", "/", &["devices"]),
            mount("/sys/fs/cgroup/systemd", "/", &["name=systemd"]),
        ],
        unified: Some(mount("/sys/fs/cgroup/unified", "/", &[])),
    }
}

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

#[test]
fn place_absolute() {
    let cg = path::place(&hybrid_layout(), &Inner::Absolute("a/b".into()), None);
    let m = cg.paths();
    assert_eq!(m["cpu"], p("/sys/fs/cgroup/cpu,cpuacct/a/b"));
    assert_eq!(m["cpuacct"], p("/sys/fs/cgroup/cpu,cpuacct/a/b"));
    assert_eq!(m["memory"], p("/sys/fs/cgroup/memory/a/b"));
    assert_eq!(m["name=systemd"], p("/sys/fs/cgroup/systemd/a/b"));
    assert_eq!(m[""], p("/sys/fs/cgroup/unified/a/b"));
    assert_eq!(cg.path(), Path::new("/sys/fs/cgroup/devices/a/b"));
    assert_eq!(cg.mode(), CgroupMode::Hybrid);
}

#[test]
fn place_relative() {
    let own = host::parse_proc_cgroup(
        "9:name=systemd:/\n4:memory:/process_api/xyz\n2:cpu,cpuacct:/user.slice\n0::/user.slice/session-1.scope\n",
    );
    let cg = path::place(&hybrid_layout(), &Inner::Relative("ctr".into()), Some(&own));
    let m = cg.paths();
    assert_eq!(m["memory"], p("/sys/fs/cgroup/memory/process_api/xyz/ctr"));
    assert_eq!(m["cpu"], p("/sys/fs/cgroup/cpu,cpuacct/user.slice/ctr"));
    assert_eq!(m["name=systemd"], p("/sys/fs/cgroup/systemd/ctr"));
    // No entry for devices in /proc/self/cgroup: the root is used.
    assert_eq!(m["devices"], p("/sys/fs/cgroup/devices/ctr"));
    assert_eq!(
        m[""],
        p("/sys/fs/cgroup/unified/user.slice/session-1.scope/ctr")
    );

    // Pure v2: below the parent of the own cgroup (runc).
    let v2 = Layout {
        mode: CgroupMode::V2,
        v1: vec![],
        unified: Some(mount("/sys/fs/cgroup", "/", &[])),
    };
    let cg = path::place(&v2, &Inner::Relative("ctr".into()), Some(&own));
    assert_eq!(cg.path(), Path::new("/sys/fs/cgroup/user.slice/ctr"));
    let cg = path::place(&v2, &Inner::Absolute("ctr".into()), None);
    assert_eq!(cg.path(), Path::new("/sys/fs/cgroup/ctr"));

    // A bind-mounted sub-tree: the mount root is stripped from the own path.
    let nested = Layout {
        mode: CgroupMode::V2,
        v1: vec![],
        unified: Some(mount("/sys/fs/cgroup", "/user.slice", &[])),
    };
    let cg = path::place(&nested, &Inner::Relative("ctr".into()), Some(&own));
    assert_eq!(cg.path(), Path::new("/sys/fs/cgroup/ctr"));
    assert_eq!(path::under_root("/a", "/a/b/c"), "b/c");
    assert_eq!(path::under_root("/a", "/a"), "");
    assert_eq!(path::under_root("/a", "/z"), "z");
}

#[test]
fn cgroup_serde_roundtrip() {
    let cg = path::place(&hybrid_layout(), &Inner::Absolute("x".into()), None);
    let j = serde_json::to_string(&cg).unwrap();
    assert!(j.contains("\"mode\":\"hybrid\""), "{j}");
    let back: Cgroup = serde_json::from_str(&j).unwrap();
    assert_eq!(cg, back);
}

#[test]
fn systemd_paths() {
    assert_eq!(path::expand_slice("system.slice").unwrap(), "/system.slice");
    assert_eq!(
        path::expand_slice("a-b-c.slice").unwrap(),
        "/a.slice/a-b.slice/a-b-c.slice"
    );
    assert_eq!(path::expand_slice("-.slice").unwrap(), "/");
    for bad in [
        "foo",
        ".slice",
        "a--b.slice",
        "-a.slice",
        "a-.slice",
        "a/b.slice",
    ] {
        assert!(path::expand_slice(bad).is_err(), "{bad}");
    }
    let parse = |s: Option<&str>| SystemdUnit::parse(s.map(Path::new), "c1");
    let u = parse(Some("kubepods-besteffort.slice:crio:abc")).unwrap();
    assert_eq!(u.unit_name(), "crio-abc.scope");
    assert_eq!(
        u.cgroup_path().unwrap(),
        "kubepods.slice/kubepods-besteffort.slice/crio-abc.scope"
    );
    assert_eq!(
        parse(None).unwrap().cgroup_path().unwrap(),
        "system.slice/runc-c1.scope"
    );
    assert_eq!(
        parse(Some(":docker:x")).unwrap().cgroup_path().unwrap(),
        "system.slice/docker-x.scope"
    );
    assert_eq!(
        parse(Some("machine.slice:libpod:inner.slice"))
            .unwrap()
            .cgroup_path()
            .unwrap(),
        "machine.slice/inner.slice"
    );
    for bad in [
        "a:b",
        "a:b:c:d",
        "foo:docker:x",
        "system.slice:docker:",
        "/abs/path",
    ] {
        assert!(
            matches!(parse(Some(bad)), Err(CgroupError::InvalidPath { .. })),
            "{bad}"
        );
    }
}

#[test]
fn systemd_driver_without_systemd() {
    if host::systemd_running() {
        eprintln!("skip: systemd is running");
        return;
    }
    let e = Cgroup::resolve(Some(Path::new("system.slice:docker:abc")), "abc", true).unwrap_err();
    assert!(matches!(e, CgroupError::SystemdUnavailable));
    assert_eq!(
        e.to_string(),
        "systemd cgroup driver requested but systemd is not running (no /run/systemd/system)"
    );
    // A malformed path is reported as such first.
    let e = Cgroup::resolve(Some(Path::new("/not/systemd")), "abc", true).unwrap_err();
    assert!(matches!(e, CgroupError::InvalidPath { .. }), "{e}");
}

const MOUNTINFO: &str = "\
23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
90 1 0:32 /docker /mnt/my\\040mem rw,relatime - cgroup cgroup rw,memory
";

#[test]
fn parse_mountinfo_and_detect() {
    let (v1, v2) = host::parse_mountinfo(MOUNTINFO);
    assert_eq!(v1.len(), 4, "{v1:?}");
    assert_eq!(v1[0].controllers, vec!["cpu", "cpuacct"]);
    assert_eq!(v1[1].controllers, vec!["cpuset"]);
    assert_eq!(v1[2].mountpoint, p("/sys/fs/cgroup/memory"));
    assert_eq!(v1[3].controllers, vec!["name=systemd"]);
    assert_eq!(v2.len(), 1);
    let l = host::detect(false, v1.clone(), v2.clone()).unwrap();
    assert_eq!(l.mode, CgroupMode::Hybrid);
    assert_eq!(l.unified.unwrap().mountpoint, p("/sys/fs/cgroup/unified"));
    assert_eq!(
        host::detect(false, v1, vec![]).unwrap().mode,
        CgroupMode::V1
    );
    assert_eq!(
        host::detect(true, vec![], vec![]).unwrap().mode,
        CgroupMode::V2
    );
    let only2 = host::detect(false, vec![], v2).unwrap();
    assert_eq!(only2.mode, CgroupMode::V2);
    assert!(host::detect(false, vec![], vec![]).is_none());

    // A non-/sys bind mount only, with an escaped space; an out-of-range
    // escape stays as is.
    let (v1, _) = host::parse_mountinfo(
        "90 1 0:32 /docker /mnt/my\\040mem\\777 rw,relatime - cgroup cgroup rw,memory\n",
    );
    assert_eq!(v1[0].mountpoint, p("/mnt/my mem\\777"));
    assert_eq!(v1[0].root, "/docker");
}

/// The statmount look and the forced mountinfo fallback find the same
/// layout on this host (skipped where the kernel lacks statmount).
#[test]
fn statmount_layout_matches_mountinfo() {
    let root_is_cgroup2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    let slow = host::layout_from_mountinfo(root_is_cgroup2).expect("mountinfo layout");
    match host::layout_from_statmount(root_is_cgroup2) {
        Ok(Some(fast)) => {
            let sorted = |mut v: Vec<Mount>| {
                v.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
                v
            };
            assert_eq!(fast.mode, slow.mode);
            assert_eq!(fast.unified, slow.unified);
            assert_eq!(sorted(fast.v1), sorted(slow.v1));
        }
        Ok(None) => {}
        Err(crate::sys::mountinfo::MountInfoError::Unsupported) => {}
        Err(e) => panic!("statmount layout: {e}"),
    }
    // Without statmount (ENOSYS, kernels before 6.8) the statmount look says
    // so, which sends `load_layout` to mountinfo.
    let forced =
        crate::sys::mountinfo::without_statmount(|| host::layout_from_statmount(root_is_cgroup2));
    assert!(
        matches!(
            forced,
            Err(crate::sys::mountinfo::MountInfoError::Unsupported)
        ),
        "{forced:?}"
    );
}

#[test]
fn v1_hierarchies_from_proc_cgroup() {
    assert_eq!(
        host::v1_hierarchies_of("12:cpuacct,cpu:/a\n1:name=systemd:/b\n0::/c\n"),
        vec![
            vec!["cpu".to_string(), "cpuacct".to_string()],
            vec!["name=systemd".to_string()]
        ]
    );
}

#[test]
fn proc_cgroup_parsing() {
    let m = host::parse_proc_cgroup("12:cpu,cpuacct:/a\n1:name=systemd:/b\n0::/c\n");
    assert_eq!(m["cpu"], "/a");
    assert_eq!(m["cpuacct"], "/a");
    assert_eq!(m["name=systemd"], "/b");
    assert_eq!(m[""], "/c");
}

// ------------------------------------------------------------ conversions

#[test]
fn shares_to_weight() {
    assert_eq!(resources::shares_to_weight(0), 0);
    assert_eq!(resources::shares_to_weight(1), 1);
    assert_eq!(resources::shares_to_weight(2), 1);
    assert_eq!(resources::shares_to_weight(1024), 39);
    assert_eq!(resources::shares_to_weight(512), 20);
    assert_eq!(resources::shares_to_weight(262_143), 9999);
    assert_eq!(resources::shares_to_weight(262_144), 10_000);
    assert_eq!(resources::shares_to_weight(1 << 20), 10_000);
}

#[test]
fn swap_math() {
    let s = |swap, limit| resources::swap_v2(swap, limit).map(|o| o.map(|s| s.to_string()));
    assert_eq!(s(None, None).unwrap(), None);
    assert_eq!(s(None, Some(100)).unwrap(), None);
    assert_eq!(s(None, Some(-1)).unwrap().as_deref(), Some("max"));
    assert_eq!(s(Some(-1), Some(100)).unwrap().as_deref(), Some("max"));
    assert_eq!(s(Some(300), Some(100)).unwrap().as_deref(), Some("200"));
    assert_eq!(s(Some(100), Some(100)).unwrap().as_deref(), Some("0"));
    assert_eq!(s(Some(500), Some(-1)).unwrap().as_deref(), Some("500"));
    assert!(s(Some(50), Some(100)).is_err());
    assert!(s(Some(100), None).is_err());
}

#[test]
fn value_formats() {
    assert_eq!(resources::pids_max(0), "max");
    assert_eq!(resources::pids_max(-1), "max");
    assert_eq!(resources::pids_max(10), "10");
    assert_eq!(
        super::v2::cpu_max(Some(50_000), Some(100_000)),
        "50000 100000"
    );
    assert_eq!(super::v2::cpu_max(None, Some(20_000)), "max 20000");
    assert_eq!(super::v2::cpu_max(Some(-1), None), "max 100000");
    assert_eq!(resources::blkio_weight_to_io(10), Some(1));
    assert_eq!(resources::blkio_weight_to_io(500), Some(4950));
    assert_eq!(resources::blkio_weight_to_io(1000), Some(10_000));
    assert_eq!(resources::blkio_weight_to_io(5), None);
    assert_eq!(resources::v2_num(-1), "max");
    assert_eq!(resources::v2_num(4096), "4096");
}

#[test]
fn io_max_lines() {
    let b = BlockIo {
        read_bps: vec![(8, 0, 1_048_576)],
        write_bps: vec![(8, 0, 2)],
        write_iops: vec![(8, 0, 100), (8, 16, 0)],
        read_iops: vec![(8, 0, 7), (8, 0, 9)],
        ..Default::default()
    };
    assert_eq!(
        resources::io_max_lines(&b),
        vec![
            "8:0 rbps=1048576 wbps=2 riops=9 wiops=100",
            "8:16 wiops=max"
        ]
    );
}

#[test]
fn resource_validation() {
    let err = |v: serde_json::Value| Res::from_spec(&res(v)).unwrap_err();
    let e = err(json!({"memory": {"limit": 200, "swap": 100}}));
    assert!(
        e.to_string()
            .contains("memory+swap limit (100) should be >= memory limit (200)"),
        "{e}"
    );
    let e = err(json!({"cpu": {"quota": 1000, "period": 0}}));
    assert!(matches!(e, CgroupError::Invalid(_)), "{e}");
    let e = err(json!({"memory": {"swappiness": 101}}));
    assert!(e.to_string().contains("swappiness"), "{e}");
    let e = err(json!({"memory": {"limit": -5}}));
    assert!(matches!(e, CgroupError::Invalid(_)), "{e}");
    let e = err(json!({"hugepageLimits": [{"pageSize": "2XB", "limit": 1}]}));
    assert!(e.to_string().contains("hugepage size"), "{e}");
    let e = err(json!({"unified": {"../etc/passwd": "x"}}));
    assert!(matches!(e, CgroupError::Unified { .. }), "{e}");
    let e = err(json!({"unified": {"nodot": "x"}}));
    assert!(matches!(e, CgroupError::Unified { .. }), "{e}");
    let e = err(json!({"devices": [{"allow": true, "type": "p", "access": "rwm"}]}));
    assert!(
        e.to_string().contains("invalid cgroup device type \"p\""),
        "{e}"
    );
    let e = err(json!({"devices": [{"allow": true, "type": "c", "access": ""}]}));
    assert!(e.to_string().contains("access cannot be empty"), "{e}");
    let e = err(json!({"devices": [{"allow": true, "type": "c", "access": "rx"}]}));
    assert!(e.to_string().contains("invalid device access"), "{e}");
    let e =
        err(json!({"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}}));
    assert!(e.to_string().contains("blockIO device"), "{e}");
    let e = err(json!({"rdma": {"mlx5_0": {}}}));
    assert!(e.to_string().contains("rdma"), "{e}");

    let ok = Res::from_spec(&res(json!({
        "memory": {"limit": 100, "swap": -1, "swappiness": 18446744073709551615u64},
        "cpu": {"shares": 0, "quota": -1, "cpus": " "},
        "pids": {"limit": 0}
    })))
    .unwrap();
    assert_eq!(ok.memory.limit, Some(100));
    assert_eq!(ok.memory.swap, Some(-1));
    assert_eq!(ok.memory.swappiness, None);
    assert_eq!(ok.cpu.shares, None);
    assert_eq!(ok.cpu.quota, Some(-1));
    assert_eq!(ok.cpus, None);
    assert_eq!(ok.pids, Some(0));
    assert!(!ok.devices.default_allow);
}

// ---------------------------------------------------------------- devices

fn rule(allow: bool, typ: DeviceType, major: i64, minor: i64, access: u8) -> DeviceRule {
    DeviceRule {
        allow,
        typ,
        major,
        minor,
        access,
    }
}

#[test]
fn device_rule_strings() {
    assert_eq!(
        rule(true, DeviceType::Char, 1, 3, ACC_ALL).cgroup_string(),
        "c 1:3 rwm"
    );
    assert_eq!(
        rule(true, DeviceType::Char, -1, -1, ACC_MKNOD).cgroup_string(),
        "c *:* m"
    );
    assert_eq!(
        rule(false, DeviceType::Block, 8, -1, ACC_READ | ACC_WRITE).cgroup_string(),
        "b 8:* rw"
    );
    assert_eq!(
        rule(false, DeviceType::All, -1, -1, ACC_ALL).cgroup_string(),
        "a *:* rwm"
    );
    assert_eq!(
        rule(false, DeviceType::All, -1, -1, ACC_ALL).to_string(),
        "deny a *:* rwm"
    );
}

#[test]
fn default_devices() {
    let d: Vec<String> = super::default_allowed_devices()
        .iter()
        .map(|r| {
            assert!(r.allow);
            r.cgroup_string()
        })
        .collect();
    for want in [
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 5:0 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:1 rwm",
        "c 136:* rwm",
        "c 5:2 rwm",
    ] {
        assert!(d.contains(&want.to_string()), "{want} missing from {d:?}");
    }
}

fn strings(rules: &[DeviceRule]) -> Vec<String> {
    rules.iter().map(|r| r.to_string()).collect()
}

#[test]
fn device_transitions() {
    let deny_all = json!([{"allow": false, "access": "rwm"}]);
    let target = Emulator::from_rules(
        &rules_from_spec(Some(&serde_json::from_value(deny_all).unwrap())).unwrap(),
    )
    .unwrap();
    // A fresh cgroup inherits "a *:* rwm" from its parent.
    let fresh = Emulator::from_list("a *:* rwm\n").unwrap();
    assert!(fresh.is_allow_all());
    let t = fresh.transition(&target);
    assert_eq!(
        strings(&t),
        vec![
            "deny a *:* rwm",
            "allow c *:* m",
            "allow b *:* m",
            "allow c 1:3 rwm",
            "allow c 1:8 rwm",
            "allow c 1:7 rwm",
            "allow c 5:0 rwm",
            "allow c 1:5 rwm",
            "allow c 1:9 rwm",
            "allow c 5:1 rwm",
            "allow c 136:* rwm",
            "allow c 5:2 rwm",
            "allow c 10:200 rwm",
        ]
    );
    // What the kernel then lists is exactly the target: nothing to write.
    let listed: String = t[1..].iter().map(|r| r.cgroup_string() + "\n").collect();
    let now = Emulator::from_list(&listed).unwrap();
    assert_eq!(now, target);
    assert!(now.transition(&target).is_empty());

    // An update writes only the difference (no "a" reset).
    let mut rules = rules_from_spec(None).unwrap();
    rules.retain(|r| r.cgroup_string() != "c 5:1 rwm");
    rules.push(rule(true, DeviceType::Char, 4, 1, ACC_READ | ACC_WRITE));
    rules.push(rule(false, DeviceType::Char, 1, 7, ACC_WRITE));
    let updated = Emulator::from_rules(&rules).unwrap();
    assert_eq!(
        strings(&now.transition(&updated)),
        vec!["deny c 1:7 w", "deny c 5:1 rwm", "allow c 4:1 rw"]
    );
}

#[test]
fn device_rules_written_in_the_listed_order() {
    // devices.list shows exceptions in the order they were added, and
    // readers (the runtime-tools suite) check the spec's order there.
    let spec = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        {"allow": true, "type": "b", "major": 8, "minor": 20, "access": "rw"},
        {"allow": true, "type": "b", "major": 10, "minor": 200, "access": "r"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "r"},
    ]);
    let target = Emulator::from_rules(
        &rules_from_spec(Some(&serde_json::from_value(spec).unwrap())).unwrap(),
    )
    .unwrap();
    let t = Emulator::from_list("a *:* rwm\n")
        .unwrap()
        .transition(&target);
    assert_eq!(
        strings(&t[..5]),
        vec![
            "deny a *:* rwm",
            "allow c 10:229 rwm",
            "allow b 8:20 rw",
            "allow b 10:200 r",
            "allow c *:* m",
        ]
    );
    // A rule taken away and given again moves to the end, as in the kernel.
    let listed: String = t[1..].iter().map(|r| r.cgroup_string() + "\n").collect();
    let mut e = Emulator::from_list(&listed).unwrap();
    e.apply(&rule(false, DeviceType::Block, 8, 20, ACC_READ | ACC_WRITE))
        .unwrap();
    e.apply(&rule(true, DeviceType::Block, 8, 20, ACC_READ))
        .unwrap();
    assert_eq!(e.order.last(), Some(&(8, 20, DeviceType::Block)));
}

#[test]
fn device_emulator_semantics() {
    // Deny exceptions in allow-all mode.
    let e = Emulator::from_rules(&[
        rule(true, DeviceType::All, -1, -1, ACC_ALL),
        rule(false, DeviceType::Block, 8, 0, ACC_ALL),
    ])
    .unwrap();
    assert!(e.default_allow);
    assert_eq!(
        strings(&e.rules()),
        vec!["allow a *:* rwm", "deny b 8:0 rwm"]
    );
    // v1 cannot punch a hole into a wildcard rule.
    let e = Emulator::from_rules(&[
        rule(true, DeviceType::Char, -1, -1, ACC_ALL),
        rule(false, DeviceType::Char, 1, 3, ACC_READ),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("punches a hole"), "{e}");
    // Later "a" rules reset everything before them.
    let e = Emulator::from_rules(&[
        rule(true, DeviceType::Char, 1, 3, ACC_ALL),
        rule(false, DeviceType::All, -1, -1, ACC_ALL),
    ])
    .unwrap();
    assert_eq!(e, Emulator::default());
}

/// Interpreter for the instructions the filter uses.
fn run_bpf(prog: &[bpf::Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
    let ctx = [typ | (access << 16), major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    for _ in 0..10_000 {
        let i = prog[pc];
        pc += 1;
        let (d, s) = (usize::from(i.dst()), usize::from(i.src()));
        let jump = |pc: usize| (pc as i64 + i64::from(i.off)) as usize;
        match i.code {
            0x61 => {
                assert_eq!(s, 1, "loads only from the context");
                r[d] = u64::from(ctx[(i.off / 4) as usize]);
            }
            0x54 => r[d] = u64::from((r[d] as u32) & (i.imm as u32)),
            0x74 => r[d] = u64::from((r[d] as u32) >> i.imm),
            0xb4 => r[d] = u64::from(i.imm as u32),
            0xbc => r[d] = u64::from(r[s] as u32),
            0x55 => {
                if r[d] != i.imm as i64 as u64 {
                    pc = jump(pc)
                }
            }
            0x5d => {
                if r[d] != r[s] {
                    pc = jump(pc)
                }
            }
            0x95 => return r[0],
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
    panic!("no exit");
}

const CHR: u32 = 2;
const BLK: u32 = 1;
const R: u32 = ACC_READ as u32;
const W: u32 = ACC_WRITE as u32;
const M: u32 = ACC_MKNOD as u32;

/// Every jump lands on the first instruction of a block (right after an
/// exit) and the program ends with an exit.
fn check_shape(prog: &[bpf::Insn]) {
    assert_eq!(prog.last().unwrap().code, 0x95);
    for (i, ins) in prog.iter().enumerate() {
        if ins.code == 0x55 || ins.code == 0x5d {
            let target = (i as i64 + 1 + i64::from(ins.off)) as usize;
            assert!(target < prog.len() && target > i, "jump {i} out of range");
            assert_eq!(prog[target - 1].code, 0x95, "jump {i} lands mid-block");
        }
    }
}

#[test]
fn bpf_deny_and_allow_all() {
    let deny = bpf::program(&Emulator::default()).unwrap();
    assert_eq!(deny.len(), bpf::PROLOGUE_LEN + 2);
    assert_eq!((deny[6].code, deny[6].imm), (0xb4, 0));
    assert_eq!(run_bpf(&deny, CHR, R, 1, 3), 0);
    let allow = bpf::program(&Emulator {
        default_allow: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(allow.len(), 8);
    assert_eq!(run_bpf(&allow, BLK, R | W, 8, 0), 1);
}

#[test]
fn bpf_default_devices() {
    let emu = Emulator::from_rules(&rules_from_spec(None).unwrap()).unwrap();
    let prog = bpf::program(&emu).unwrap();
    check_shape(&prog);
    // Prologue; two wildcard "m" blocks with an access check (6 each);
    // nine exact devices (5 each); c 136:* (4); default deny (2).
    assert_eq!(prog.len(), 6 + 2 * 6 + 9 * 5 + 4 + 2);
    // Prologue loads type, access, major, minor.
    assert_eq!((prog[0].code, prog[0].dst(), prog[0].off), (0x61, 2, 0));
    assert_eq!((prog[3].code, prog[3].imm), (0x74, 16));
    assert_eq!((prog[4].dst(), prog[4].off), (4, 4));
    assert_eq!((prog[5].dst(), prog[5].off), (5, 8));
    // First block: b *:* m.
    assert_eq!((prog[6].code, prog[6].imm, prog[6].off), (0x55, 1, 5));
    assert_eq!((prog[8].code, prog[8].imm), (0x54, i32::from(ACC_MKNOD)));
    assert_eq!((prog[10].code, prog[10].imm), (0xb4, 1));

    assert_eq!(run_bpf(&prog, CHR, R | W, 1, 3), 1); // /dev/null
    assert_eq!(run_bpf(&prog, CHR, R | W | M, 5, 1), 1); // /dev/console
    assert_eq!(run_bpf(&prog, CHR, R | W, 136, 7), 1); // /dev/pts/7
    assert_eq!(run_bpf(&prog, CHR, M, 4, 1), 1); // mknod anything
    assert_eq!(run_bpf(&prog, BLK, M, 8, 0), 1);
    assert_eq!(run_bpf(&prog, CHR, R, 1, 11), 0); // /dev/kmsg
    assert_eq!(run_bpf(&prog, CHR, R | M, 4, 1), 0);
    assert_eq!(run_bpf(&prog, BLK, R, 8, 0), 0);
}

#[test]
fn bpf_exceptions() {
    // Allow-all except one block device.
    let emu = Emulator::from_rules(&[
        rule(true, DeviceType::All, -1, -1, ACC_ALL),
        rule(false, DeviceType::Block, 8, 0, ACC_ALL),
    ])
    .unwrap();
    let prog = bpf::program(&emu).unwrap();
    check_shape(&prog);
    assert_eq!(prog.len(), 6 + 5 + 2);
    assert_eq!(run_bpf(&prog, BLK, R, 8, 0), 0);
    assert_eq!(run_bpf(&prog, BLK, R, 8, 1), 1);
    assert_eq!(run_bpf(&prog, CHR, R, 8, 0), 1);

    // Partial access: read-only /dev/sda, nothing else.
    let emu = Emulator::from_rules(&[rule(true, DeviceType::Block, 8, 0, ACC_READ)]).unwrap();
    let prog = bpf::program(&emu).unwrap();
    check_shape(&prog);
    assert_eq!(prog.len(), 6 + 8 + 2);
    assert_eq!(run_bpf(&prog, BLK, R, 8, 0), 1);
    assert_eq!(run_bpf(&prog, BLK, R | W, 8, 0), 0);
    assert_eq!(run_bpf(&prog, BLK, W, 8, 0), 0);

    let huge = Emulator::from_rules(&[rule(true, DeviceType::Char, 1 << 31, 0, ACC_READ)]).unwrap();
    assert!(bpf::program(&huge).is_err());
}

// ------------------------------------------------------------------ stats

#[test]
fn stats_json_shape() {
    let v = serde_json::to_value(Stats::default()).unwrap();
    assert_eq!(
        v,
        json!({
            "cpu": {},
            "cpuset": {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0,
                       "memory_migrate": 0, "memory_spread_page": 0, "memory_spread_slab": 0,
                       "memory_pressure": 0, "sched_load_balance": 0, "sched_relax_domain_level": 0},
            "memory": {},
            "pids": {},
            "blkio": {},
            "hugetlb": {},
            "intel_rdt": {},
            "network_interfaces": null
        })
    );
    let mut s = Stats::default();
    s.cpu.usage.total = 5;
    s.cpu.usage.percpu = vec![2, 3];
    s.cpu.throttling.throttled_periods = 1;
    s.memory.usage = MemoryEntry {
        limit: 10,
        usage: 5,
        max: 0,
        failcnt: 0,
    };
    s.memory.kernel_tcp.limit = 1;
    s.memory.raw.insert("cache".into(), 3);
    s.pids.current = 1;
    s.blkio.io_service_bytes_recursive.push(BlkioEntry {
        major: 8,
        minor: 0,
        op: "Read".into(),
        value: 4096,
    });
    s.hugetlb.insert("2MB".into(), Default::default());
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        v["cpu"],
        json!({"usage": {"total": 5, "percpu": [2, 3], "kernel": 0, "user": 0},
               "throttling": {"throttledPeriods": 1}})
    );
    assert_eq!(
        v["memory"],
        json!({"usage": {"limit": 10, "usage": 5, "failcnt": 0},
               "kernelTCP": {"limit": 1, "failcnt": 0}, "raw": {"cache": 3}})
    );
    assert_eq!(v["pids"], json!({"current": 1}));
    assert_eq!(
        v["blkio"],
        json!({"ioServiceBytesRecursive": [{"major": 8, "op": "Read", "value": 4096}]})
    );
    assert_eq!(v["hugetlb"], json!({"2MB": {"failcnt": 0}}));
    let back: Stats = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
}

#[test]
fn stats_parsers() {
    assert_eq!(
        stats::parse_cpu_list("0-3,8\n").unwrap(),
        vec![0, 1, 2, 3, 8]
    );
    assert_eq!(stats::parse_cpu_list("\n").unwrap(), Vec::<u16>::new());
    assert!(stats::parse_cpu_list("3-1").is_none());
    let b = stats::parse_blkio(
        Path::new("/x"),
        "f",
        "8:0 Read 1282048\n8:0 Write 2195456\n8:16 6792\nTotal 3477504\n",
    )
    .unwrap();
    assert_eq!(b.len(), 3);
    assert_eq!(
        (b[1].major, b[1].minor, b[1].op.as_str(), b[1].value),
        (8, 0, "Write", 2195456)
    );
    assert_eq!((b[2].minor, b[2].op.as_str(), b[2].value), (16, "", 6792));
    assert!(stats::parse_blkio(Path::new("/x"), "f", "garbage\n").is_err());
    let psi = stats::parse_psi(
        "some avg10=1.50 avg60=0.00 avg300=0.00 total=12\nfull avg10=0.00 avg60=0.25 avg300=0.00 total=3\n",
    )
    .unwrap();
    assert_eq!((psi.some.avg10, psi.some.total), (1.5, 12));
    assert_eq!((psi.full.avg60, psi.full.total), (0.25, 3));
}

// ------------------------------------------------------------- host tests

/// The host layout when running as root with cgroups mounted.
fn root_host() -> Option<&'static Layout> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skip: needs root");
        return None;
    }
    host::layout().ok()
}

fn v1ish(l: &Layout) -> bool {
    l.mode != CgroupMode::V2
}

fn test_name(tag: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!(
        "berth-test-{}-{tag}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Serialises tests that change the cgroup2 root's subtree_control.
static UNIFIED_ROOT: Mutex<()> = Mutex::new(());

/// Kills and removes everything a host test made, even on panic.
struct Guard {
    cg: Cgroup,
    children: Vec<Child>,
    /// Removed after the cgroup (parents created by relative/nested paths).
    extra_dirs: Vec<PathBuf>,
    /// (file, value) written back at the end.
    restore: Vec<(PathBuf, String)>,
}

impl Guard {
    fn new(cg: &Cgroup) -> Guard {
        Guard {
            cg: cg.clone(),
            children: Vec::new(),
            extra_dirs: Vec::new(),
            restore: Vec::new(),
        }
    }

    fn spawn(&mut self, script: &str) -> i32 {
        let c = Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = c.id() as i32;
        self.children.push(c);
        pid
    }

    fn read_line(&mut self, i: usize) -> String {
        let out = self.children[i].stdout.as_mut().expect("piped");
        let mut line = String::new();
        // The child writes whole lines; one byte at a time keeps the rest
        // for the next call.
        let mut r = BufReader::with_capacity(1, out);
        r.read_line(&mut line).unwrap();
        line.trim().to_string()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.cg.thaw();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.cg.kill_all(libc::SIGKILL);
        let _ = self.cg.destroy();
        for d in self.extra_dirs.iter().rev() {
            let _ = fsutil::remove_tree(d);
        }
        for (file, value) in &self.restore {
            let _ = fsutil::write_raw(file, value);
        }
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

fn assert_gone(cg: &Cgroup) {
    for (c, d) in cg.paths() {
        assert!(!d.exists(), "{c}: {} left behind", d.display());
    }
}

fn procs(dir: &Path) -> Vec<i32> {
    read(dir, "cgroup.procs")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// major:minor of a block device of this host.
fn some_block_device() -> Option<(i64, i64)> {
    let mut devs: Vec<PathBuf> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    devs.sort_by_key(|d| d.file_name().unwrap().to_string_lossy().starts_with("loop"));
    let dev = std::fs::read_to_string(devs.first()?.join("dev")).ok()?;
    let (a, b) = dev.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[test]
fn host_lifecycle() {
    let Some(layout) = root_host() else { return };
    let name = test_name("life");
    let cg = Cgroup::resolve(Some(Path::new(&format!("/{name}"))), &name, false).unwrap();
    assert!(!cg.exists(), "resolve must not create anything");
    let mut g = Guard::new(&cg);
    cg.create().unwrap();
    for (c, d) in cg.paths() {
        assert!(d.is_dir(), "{c}: {}", d.display());
    }
    let paths = cg.paths();
    if let Some(cpuset) = paths.get("cpuset") {
        assert!(
            !read(cpuset, "cpuset.cpus").is_empty(),
            "cpuset.cpus inherited"
        );
        assert!(
            !read(cpuset, "cpuset.mems").is_empty(),
            "cpuset.mems inherited"
        );
    }

    let (maj, min) = some_block_device().unwrap_or((7, 0));
    let r = res(json!({
        "memory": {"limit": 256 << 20, "reservation": 128 << 20, "swap": 512 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 64},
        "blockIO": {"throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}]},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 4, "minor": 1, "access": "rw"}]
    }));
    cg.apply(&r).unwrap();
    if v1ish(layout) {
        let mem = &paths["memory"];
        assert_eq!(
            read(mem, "memory.limit_in_bytes"),
            (256u64 << 20).to_string()
        );
        assert_eq!(
            read(mem, "memory.memsw.limit_in_bytes"),
            (512u64 << 20).to_string()
        );
        assert_eq!(
            read(mem, "memory.soft_limit_in_bytes"),
            (128u64 << 20).to_string()
        );
        let cpu = &paths["cpu"];
        assert_eq!(read(cpu, "cpu.shares"), "512");
        assert_eq!(read(cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(cpu, "cpu.cfs_period_us"), "100000");
        assert_eq!(read(&paths["cpuset"], "cpuset.cpus"), "0");
        assert_eq!(read(&paths["cpuset"], "cpuset.mems"), "0");
        assert_eq!(read(&paths["pids"], "pids.max"), "64");
        assert!(read(&paths["blkio"], "blkio.throttle.read_bps_device")
            .contains(&format!("{maj}:{min} 1048576")));
        let list = read(&paths["devices"], "devices.list");
        for want in ["c 4:1 rw", "c 1:3 rwm", "c *:* m", "b *:* m", "c 136:* rwm"] {
            assert!(list.lines().any(|l| l == want), "{want} not in {list}");
        }
        assert!(!list.contains("a *:* rwm"), "{list}");
    } else {
        let d = cg.path();
        assert_eq!(read(d, "memory.max"), (256u64 << 20).to_string());
        assert_eq!(read(d, "memory.swap.max"), (256u64 << 20).to_string());
        assert_eq!(read(d, "cpu.weight"), "20");
        assert_eq!(read(d, "cpu.max"), "50000 100000");
        assert_eq!(read(d, "pids.max"), "64");
    }

    let pid = g.spawn("exec sleep 30");
    cg.add_pid(pid).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    for (c, d) in &paths {
        assert!(
            procs(d).contains(&pid),
            "{c}: pid {pid} not in {}",
            d.display()
        );
    }

    cg.freeze().unwrap();
    assert!(cg.is_frozen());
    if v1ish(layout) {
        assert_eq!(read(&paths["freezer"], "freezer.state"), "FROZEN");
    }
    cg.thaw().unwrap();
    assert!(!cg.is_frozen());

    let s = cg.stats().unwrap();
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, 64);
    assert_eq!(s.memory.usage.limit, 256 << 20);
    assert!(!s.memory.raw.is_empty());
    if v1ish(layout) {
        assert_eq!(s.cpuset.cpus, vec![0]);
        assert_eq!(s.memory.swap.limit, 512 << 20);
    }
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(j["pids"]["current"], 1);
    assert_eq!(cg.oom_kill_count(), 0);

    cg.kill_all(libc::SIGKILL).unwrap();
    let status = g.children[0].wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(cg.pids().unwrap().is_empty());
    cg.destroy().unwrap();
    assert_gone(&cg);
    assert!(!cg.exists());
    cg.destroy().unwrap();
}

#[test]
fn host_memory_swap_ordering() {
    let Some(layout) = root_host() else { return };
    if !v1ish(layout) || !Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        eprintln!("skip: needs v1 memory with swap accounting");
        return;
    }
    let name = test_name("mem");
    let cg = Cgroup::resolve(Some(Path::new(&format!("/{name}"))), &name, false).unwrap();
    let _g = Guard::new(&cg);
    cg.create().unwrap();
    let mem = cg.paths()["memory"].clone();
    let check = |limit: &str, swap: &str| {
        assert_eq!(read(&mem, "memory.limit_in_bytes"), limit);
        assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), swap);
    };
    let m = |limit: i64, swap: Option<i64>| {
        let mut v = json!({"limit": limit});
        if let Some(s) = swap {
            v["swap"] = json!(s);
        }
        cg.apply(&res(json!({ "memory": v }))).unwrap();
    };
    m(100 << 20, Some(200 << 20));
    check("104857600", "209715200");
    // Growing past the current memsw: memsw first.
    m(300 << 20, Some(400 << 20));
    check("314572800", "419430400");
    // Shrinking below the current limit: memory first.
    m(50 << 20, Some(60 << 20));
    check("52428800", "62914560");
    // Unlimited memory lifts memsw too.
    m(-1, None);
    check("9223372036854771712", "9223372036854771712");
}

#[test]
fn host_memory_below_usage() {
    let Some(layout) = root_host() else { return };
    if !v1ish(layout) {
        eprintln!("skip: v1 only (v2 reclaims or OOM-kills instead of failing)");
        return;
    }
    let name = test_name("usage");
    let cg = Cgroup::resolve(Some(Path::new(&format!("/{name}"))), &name, false).unwrap();
    let mut g = Guard::new(&cg);
    cg.create().unwrap();
    // The shell keeps ~40MB of anonymous memory charged to the cgroup.
    let pid = g.spawn(
        "sleep 0.3; a=$(head -c 40000000 /dev/zero | tr '\\0' x); echo ready; sleep 30; echo ${#a}",
    );
    cg.add_pid(pid).unwrap();
    assert_eq!(g.read_line(0), "ready");
    let usage: u64 = read(&cg.paths()["memory"], "memory.usage_in_bytes")
        .parse()
        .unwrap();
    assert!(usage > 30_000_000, "usage {usage}");
    let e = cg
        .apply(&res(json!({"memory": {"limit": 10 << 20}})))
        .unwrap_err();
    match &e {
        CgroupError::MemoryBelowUsage { limit, usage, .. } => {
            assert_eq!(*limit, 10 << 20);
            assert!(*usage > 30_000_000);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(
        e.to_string()
            .starts_with("unable to set memory limit to 10485760 (current usage: "),
        "{e}"
    );
    // checkBeforeUpdate refuses without touching the kernel.
    let e = cg
        .apply(&res(
            json!({"memory": {"limit": 20 << 20, "checkBeforeUpdate": true}}),
        ))
        .unwrap_err();
    assert!(e.to_string().contains("rejecting memory limit"), "{e}");
    cg.kill_all(libc::SIGKILL).unwrap();
}

#[test]
fn host_errors_and_validation_before_writes() {
    let Some(layout) = root_host() else { return };
    let name = test_name("err");
    let cg = Cgroup::resolve(Some(Path::new(&format!("/{name}"))), &name, false).unwrap();
    let _g = Guard::new(&cg);
    cg.create().unwrap();
    let has = |c: &str| {
        layout
            .v1
            .iter()
            .any(|m| m.controllers.iter().any(|x| x == c))
    };
    if v1ish(layout) && !has("hugetlb") {
        let e = cg
            .apply(&res(json!({"memory": {"limit": 64 << 20},
                                "hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "hugetlb cgroup controller is not available on this host"
        );
        // Nothing was written.
        assert_eq!(
            read(&cg.paths()["memory"], "memory.limit_in_bytes"),
            "9223372036854771712"
        );
    }
    if v1ish(layout) && !has("net_cls") {
        let e = cg
            .apply(&res(json!({"network": {"classID": 42}})))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "net_cls cgroup controller is not available on this host"
        );
    }
    if v1ish(layout) && !has("rdma") {
        let e = cg
            .apply(&res(json!({"rdma": {"mlx5_0": {"hcaHandles": 2}}})))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "rdma cgroup controller is not available on this host"
        );
    }
    let e = cg
        .apply(&res(json!({"unified": {"foo.bar": "1"}})))
        .unwrap_err();
    assert!(
        matches!(&e, CgroupError::Unified { key, .. } | CgroupError::UnifiedOnV1 { key, .. }
            if key == "foo.bar"),
        "{e}"
    );
    // The kernel's own refusals name the file and the value.
    let e = cg.apply(&res(json!({"cpu": {"idle": 7}}))).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("\"7\"") && msg.contains("cpu.idle"), "{msg}");
    if v1ish(layout) {
        let e = cg
            .apply(&res(json!({"cpu": {"cpus": "4096"}})))
            .unwrap_err();
        assert!(e.to_string().contains("cpuset.cpus"), "{e}");
        // memory + swap in the wrong relation is caught before writing.
        let e = cg
            .apply(&res(
                json!({"memory": {"limit": 100 << 20, "swap": 50 << 20}}),
            ))
            .unwrap_err();
        assert!(matches!(e, CgroupError::Invalid(_)), "{e}");
    }
}

#[test]
fn host_devices_update_with_children() {
    let Some(layout) = root_host() else { return };
    if !v1ish(layout) {
        return;
    }
    let name = test_name("dev");
    let cg = Cgroup::resolve(Some(Path::new(&format!("/{name}"))), &name, false).unwrap();
    let _g = Guard::new(&cg);
    cg.create().unwrap();
    let dev = cg.paths()["devices"].clone();
    cg.apply(&LinuxResources::default()).unwrap();
    let list = read(&dev, "devices.list");
    assert_eq!(list.lines().count(), 12, "{list}");
    // Once the cgroup has a child, writing "a" would fail with EINVAL; an
    // update only writes the difference.
    std::fs::create_dir(dev.join("child")).unwrap();
    cg.apply(&res(
        json!({"devices": [{"allow": true, "type": "c", "major": 4, "minor": 1, "access": "rw"}]}),
    ))
    .unwrap();
    assert!(read(&dev, "devices.list").lines().any(|l| l == "c 4:1 rw"));
    cg.apply(&res(
        json!({"devices": [{"allow": true, "type": "c", "major": 4, "minor": 1, "access": "rw"}]}),
    ))
    .unwrap();
    let e = cg
        .apply(&res(json!({"devices": [{"allow": true, "type": "c", "access": "rwm"},
                                        {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "r"}]})))
        .unwrap_err();
    assert!(e.to_string().contains("punches a hole"), "{e}");
    cg.destroy().unwrap();
    assert_gone(&cg);
}

#[test]
fn host_relative_and_nested_paths() {
    let Some(_) = root_host() else { return };
    let name = test_name("rel");
    let cg = Cgroup::resolve(Some(Path::new(&format!("{name}/inner"))), "x", false).unwrap();
    let mut g = Guard::new(&cg);
    let own = host::own_cgroups().unwrap();
    let layout = host::layout().unwrap();
    for m in &layout.v1 {
        let base = path::under_root(
            &m.root,
            own.get(&m.controllers[0])
                .map(String::as_str)
                .unwrap_or("/"),
        );
        let want = path::join(&path::join(&m.mountpoint, &base), &format!("{name}/inner"));
        assert_eq!(cg.paths()[&m.controllers[0]], want);
    }
    for d in cg.paths().values() {
        g.extra_dirs.push(d.parent().unwrap().to_path_buf());
    }
    cg.create().unwrap();
    assert!(cg.exists());
    if let Some(leaf) = cg.paths().get("cpuset") {
        // the parent made here hands its cpus and mems down by itself; the
        // container's own cgroup is left as the kernel made it
        let parent = leaf.parent().unwrap();
        assert_eq!(read(parent, "cgroup.clone_children"), "1");
        assert_eq!(read(leaf, "cgroup.clone_children"), "0");
        let sibling = parent.join("sibling");
        std::fs::create_dir(&sibling).unwrap();
        let (cpus, mems) = (read(&sibling, "cpuset.cpus"), read(&sibling, "cpuset.mems"));
        std::fs::remove_dir(&sibling).unwrap();
        assert_eq!(cpus, read(parent, "cpuset.cpus"), "a later sibling's cpus");
        assert_eq!(mems, read(parent, "cpuset.mems"), "a later sibling's mems");
    }
    // exec --cgroup into a sub-cgroup, which must exist already.
    for (c, d) in cg.paths() {
        let sub = d.join("sub");
        std::fs::create_dir(&sub).unwrap();
        if c == "cpuset" {
            super::v1::cpuset_copy_if_empty(&sub, &d).unwrap();
        }
    }
    let pid = g.spawn("exec sleep 30");
    cg.add_pid_sub(pid, &["sub".to_string()]).unwrap();
    for d in cg.paths().values() {
        assert!(procs(&d.join("sub")).contains(&pid));
    }
    assert_eq!(cg.pids().unwrap(), vec![pid], "pids() includes sub-cgroups");
    assert!(cg.add_pid_sub(pid, &["../escape".to_string()]).is_err());
    cg.kill_all(libc::SIGKILL).unwrap();
    cg.destroy().unwrap();
    assert_gone(&cg);
    for d in &g.extra_dirs {
        fsutil::remove_tree(d).unwrap();
        assert!(!d.exists());
    }
}

#[test]
fn host_default_path_and_fast_path() {
    let Some(_) = root_host() else { return };
    let name = test_name("fast");
    let mut g = Guard::new(&Cgroup::resolve(None, &name, false).unwrap());
    let pid = g.spawn("exec sleep 30");
    let t = Instant::now();
    let cg = Cgroup::resolve(None, &name, false).unwrap();
    cg.create().unwrap();
    cg.apply(&LinuxResources::default()).unwrap();
    cg.add_pid(pid).unwrap();
    let took = t.elapsed();
    eprintln!("resolve+create+apply(default)+add_pid: {took:?}");
    assert!(took < Duration::from_millis(200), "{took:?}");
    assert!(cg.path().ends_with(&name));
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    // Signals other than SIGKILL reach every process and leave it running.
    cg.kill_all(libc::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(st.contains("State:\tT"), "{st}");
    assert!(!cg.is_frozen(), "freezer state restored");
    cg.kill_all(libc::SIGKILL).unwrap();
    cg.destroy().unwrap();
    assert_gone(&cg);
}

#[test]
fn host_unified_on_hybrid() {
    let Some(layout) = root_host() else { return };
    if layout.mode != CgroupMode::Hybrid {
        return;
    }
    let _lock = UNIFIED_ROOT.lock().unwrap_or_else(|e| e.into_inner());
    let root = layout.unified.as_ref().unwrap().mountpoint.clone();
    let name = test_name("uni");
    let cg = Cgroup::resolve(Some(Path::new(&format!("/{name}"))), &name, false).unwrap();
    let mut g = Guard::new(&cg);
    let before = read(&root, "cgroup.subtree_control");
    cg.create().unwrap();
    let u = cg.paths()[""].clone();
    assert!(u.is_dir());
    cg.apply(&res(json!({"unified": {"cgroup.max.descendants": "5"}})))
        .unwrap();
    assert_eq!(read(&u, "cgroup.max.descendants"), "5");
    let offered = read(&root, "cgroup.controllers");
    let sizes: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if offered.split_whitespace().any(|c| c == "hugetlb")
        && sizes.iter().any(|s| s == "hugepages-2048kB")
    {
        if !before.split_whitespace().any(|c| c == "hugetlb") {
            g.restore
                .push((root.join("cgroup.subtree_control"), "-hugetlb".into()));
        }
        // The controller is enabled on demand for the key.
        cg.apply(&res(json!({"unified": {"hugetlb.2MB.max": "4194304"}})))
            .unwrap();
        assert_eq!(read(&u, "hugetlb.2MB.max"), "4194304");
    }
}

#[test]
fn host_v2_on_the_cgroup2_mount() {
    // Drives the v2 code (create, eBPF devices, freeze, cgroup.kill) on
    // whatever cgroup2 mount the host has, hybrid included.
    let Some(layout) = root_host() else { return };
    let Some(u) = layout.unified.as_ref() else {
        return;
    };
    let _lock = UNIFIED_ROOT.lock().unwrap_or_else(|e| e.into_inner());
    let name = test_name("v2");
    let cg = Cgroup {
        mode: CgroupMode::V2,
        hierarchies: vec![],
        unified: Some(Hierarchy {
            controllers: vec![],
            mountpoint: u.mountpoint.clone(),
            path: u.mountpoint.join(&name),
        }),
        systemd: None,
    };
    let mut g = Guard::new(&cg);
    let before = read(&u.mountpoint, "cgroup.subtree_control");
    let offered = read(&u.mountpoint, "cgroup.controllers");
    for c in offered.split_whitespace() {
        if !before.split_whitespace().any(|b| b == c) && layout.mode == CgroupMode::Hybrid {
            g.restore
                .push((u.mountpoint.join("cgroup.subtree_control"), format!("-{c}")));
        }
    }
    cg.create().unwrap();
    assert!(cg.exists());
    let enabled = read(&u.mountpoint, "cgroup.subtree_control");
    for c in offered.split_whitespace().filter(|c| {
        [
            "cpu", "memory", "pids", "io", "cpuset", "hugetlb", "rdma", "misc",
        ]
        .contains(c)
    }) {
        assert!(
            enabled.split_whitespace().any(|e| e == c),
            "{c} not enabled: {enabled}"
        );
    }

    if !offered.split_whitespace().any(|c| c == "pids") {
        let e = cg.apply(&res(json!({"pids": {"limit": 10}}))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pids cgroup controller is not available on this host"
        );
    }
    if offered.split_whitespace().any(|c| c == "hugetlb")
        && Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
    {
        cg.apply(&res(
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
                              "unified": {"cgroup.max.depth": "3"}}),
        ))
        .or_else(|e| match e {
            CgroupError::DeviceFilter { .. } => Ok(()),
            e => Err(e),
        })
        .unwrap();
        assert_eq!(read(cg.path(), "hugetlb.2MB.max"), "4194304");
        if cg.path().join("hugetlb.2MB.rsvd.max").exists() {
            assert_eq!(read(cg.path(), "hugetlb.2MB.rsvd.max"), "4194304");
        }
        assert_eq!(read(cg.path(), "cgroup.max.depth"), "3");
        assert!(cg.stats().unwrap().hugetlb.contains_key("2MB"));
        let e = cg
            .apply(&res(
                json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}),
            ))
            .unwrap_err();
        assert!(e.to_string().contains("hugepage size 3MB"), "{e}");
    }
    if !offered.split_whitespace().any(|c| c == "memory") {
        let e = cg
            .apply(&res(json!({"unified": {"memory.high": "1G"}})))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unified resource \"memory.high\" can't be set: controller \"memory\" not available"
        );
    }
    let e = cg
        .apply(&res(json!({"memory": {"swappiness": 50}})))
        .unwrap_err();
    assert!(matches!(e, CgroupError::Unsupported(_)), "{e}");
    let e = cg
        .apply(&res(json!({"cpu": {"realtimeRuntime": 1000}})))
        .unwrap_err();
    assert!(matches!(e, CgroupError::Unsupported(_)), "{e}");

    let bpf_ok = host_info().bpf_device_filter;
    match cg.apply(&LinuxResources::default()) {
        Ok(()) => assert!(bpf_ok),
        Err(e @ CgroupError::DeviceFilter { .. }) => {
            assert!(!bpf_ok);
            eprintln!("device filter refused here: {e}");
        }
        Err(e) => panic!("{e}"),
    }
    // Re-applying replaces the filter instead of stacking another.
    if bpf_ok {
        cg.apply(&LinuxResources::default()).unwrap();
        let dir = std::os::fd::OwnedFd::from(std::fs::File::open(cg.path()).unwrap());
        assert_eq!(bpf::attached(&dir).unwrap().len(), 1);
    }

    let pid = g.spawn(
        "sleep 0.3; if (: </dev/kmsg) 2>/dev/null; then echo kmsg-open; else echo kmsg-denied; fi; \
         if (: </dev/null) 2>/dev/null; then echo null-open; else echo null-denied; fi; exec sleep 30",
    );
    cg.add_pid(pid).unwrap();
    let (kmsg, null) = (g.read_line(0), g.read_line(0));
    if bpf_ok {
        assert_eq!(kmsg, "kmsg-denied");
        assert_eq!(null, "null-open");
    }
    assert_eq!(cg.pids().unwrap(), vec![pid]);

    cg.freeze().unwrap();
    assert!(cg.is_frozen());
    assert!(read(cg.path(), "cgroup.events")
        .lines()
        .any(|l| l == "frozen 1"));
    cg.thaw().unwrap();
    assert!(!cg.is_frozen());
    let s = cg.stats().unwrap();
    assert_eq!(s.pids.current, 1);

    // SIGKILL reaches a frozen cgroup through cgroup.kill.
    cg.freeze().unwrap();
    cg.kill_all(libc::SIGKILL).unwrap();
    g.children[0].wait().unwrap();
    assert!(!cg.is_frozen());
    cg.destroy().unwrap();
    assert!(!cg.exists());
}

#[test]
fn host_freeze_v1_kill_frozen() {
    let Some(layout) = root_host() else { return };
    if !v1ish(layout) {
        return;
    }
    let name = test_name("frz");
    let cg = Cgroup::resolve(Some(Path::new(&format!("/{name}"))), &name, false).unwrap();
    let mut g = Guard::new(&cg);
    cg.create().unwrap();
    let pid = g.spawn("while :; do sleep 0.01; done");
    cg.add_pid(pid).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    cg.freeze().unwrap();
    let frozen = cg.pids().unwrap();
    assert!(frozen.contains(&pid));
    // A frozen cgroup can be killed; kill_all thaws it for the signal.
    let t = Instant::now();
    cg.kill_all(libc::SIGKILL).unwrap();
    eprintln!("kill of a frozen v1 cgroup took {:?}", t.elapsed());
    assert!(cg.pids().unwrap().is_empty());
    assert!(!cg.is_frozen());
    cg.destroy().unwrap();
    assert_gone(&cg);
}

#[test]
fn refuses_root_cgroups() {
    // What a corrupted state file could hold: the hierarchy root itself.
    let cg = Cgroup {
        mode: CgroupMode::Hybrid,
        hierarchies: vec![Hierarchy {
            controllers: vec!["memory".into()],
            mountpoint: p("/sys/fs/cgroup/memory"),
            path: p("/sys/fs/cgroup/memory/"),
        }],
        unified: None,
        systemd: None,
    };
    for e in [
        cg.kill_all(libc::SIGKILL).unwrap_err(),
        cg.destroy().unwrap_err(),
        cg.apply(&LinuxResources::default()).unwrap_err(),
    ] {
        assert!(matches!(e, CgroupError::InvalidPath { .. }), "{e}");
    }
    let empty: Cgroup = serde_json::from_str(r#"{"mode":"v1"}"#).unwrap();
    assert!(!empty.exists());
    assert!(empty.pids().unwrap().is_empty());
}

#[test]
fn host_info_report() {
    let Some(layout) = root_host() else { return };
    let hi = host_info();
    assert_eq!(hi.mode, Some(layout.mode));
    eprintln!("{}", serde_json::to_string(&hi).unwrap());
    if layout.mode == CgroupMode::Hybrid {
        assert!(!hi.controllers.iter().any(|c| c.starts_with("name=")));
        assert!(hi.v1_controllers.iter().any(|c| c == "name=systemd"));
    }
}
