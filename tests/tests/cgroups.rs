//! cgroups on this v1/hybrid host: where the container's cgroup is, that the init is in
//! it before any user code runs, that it goes away at delete, and the effect of each
//! `linux.resources` field (read back from the cgroup files on the host and, where it
//! shows, observed from inside the container).

use berth_tests::cgroup::{self, CgroupDirsGuard};
use berth_tests::*;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
const MIB: i64 = 1 << 20;

/// The v1 hierarchies of this host plus cgroup2 ("", the unified mount).
fn hierarchy_keys() -> Vec<String> {
    cgroup::hierarchies()
        .iter()
        .map(|h| {
            if h.v2 {
                String::new()
            } else {
                h.controllers[0].clone()
            }
        })
        .collect()
}

fn init_pid(t: &Ctx, id: &str) -> i32 {
    let pid = t.rt.state_json(id)["pid"].as_i64().expect("state pid") as i32;
    assert!(pid > 0, "container {id} has no init pid");
    pid
}

/// Start a created container, wait for it to stop, return its first JSON line of
/// output and delete it.
fn start_and_collect(t: &Ctx, id: &str) -> Value {
    t.rt.start(id).assert_ok();
    t.rt.wait_status(id, "stopped", T);
    let out = t.rt.container_stdout(id);
    t.rt.delete(id).assert_ok();
    runtime::find_json_line(&out)
        .unwrap_or_else(|| panic!("no JSON from the container {id}: {out:?}"))
}

/// The cgroup dir of the container's init for a controller.
fn cg(t: &Ctx, id: &str, controller: &str) -> PathBuf {
    cgroup::cgroup_dir_of(init_pid(t, id), controller)
}

#[track_caller]
fn assert_nothing_left(t: &Ctx, id: &str) {
    assert!(
        !t.rt.root_entries().iter().any(|e| e == id),
        "{id} left under --root: {:?}",
        t.rt.root_entries()
    );
    let left = cgroup::dirs_named(id);
    assert!(left.is_empty(), "cgroup dirs of {id} left: {left:#?}");
    t.assert_no_leaks();
}

#[test]
fn default_cgroup_is_slash_id_everywhere_and_joined_before_user_code() {
    let mut t = Ctx::new("cgdefault");
    t.bundle.checker(&["read", "/proc/self/cgroup"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let pid = init_pid(&t, &id);
    let lines = cgroup::proc_cgroup(pid);
    let keys = hierarchy_keys();
    assert!(keys.len() >= 9, "unexpected host hierarchies {keys:?}");
    for key in &keys {
        let path = cgroup::path_in(&lines, key)
            .unwrap_or_else(|| panic!("init not in a {key:?} cgroup: {lines:?}"));
        // runc 1.1.5 makes the default path relative to its own cgroup (it differs
        // from /<id> in the memory hierarchy here, where the test runs below
        // /process_api/...).
        let want = if is_runc() && std::env::var_os("BERTH_STRICT").is_none() {
            let own = cgroup::own_cgroup_path(key);
            format!("{}/{id}", own.trim_end_matches('/'))
        } else {
            format!("/{id}")
        };
        assert_eq!(path, want, "cgroup of the created init in {key:?}");
        let dir = cgroup::mount_of(key).join(path.trim_start_matches('/'));
        assert!(dir.is_dir(), "{} does not exist", dir.display());
        assert!(
            cgroup::procs(&dir).contains(&pid),
            "init {pid} not in {}/cgroup.procs",
            dir.display()
        );
    }
    // The process saw the same cgroups from its first instruction on.
    let r = start_and_collect(&t, &id);
    assert_eq!(r["ok"], true, "{r}");
    let seen = cgroup::parse_proc_cgroup(r["content"].as_str().unwrap());
    for key in &keys {
        assert_eq!(
            cgroup::path_in(&seen, key),
            cgroup::path_in(&lines, key),
            "the container process saw another {key:?} cgroup: {seen:?}"
        );
    }
    assert_nothing_left(&t, &id);
}

#[test]
fn absolute_cgroups_path() {
    let mut t = Ctx::new("cgabs");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    let parent = format!("berth-e2e-cgabs-{}-{}", std::process::id(), sys::unique());
    let _guard = CgroupDirsGuard::new(&[&parent]);
    let path = format!("/{parent}/{id}");
    t.bundle.set_linux("cgroupsPath", json!(path));
    t.rt.create(&id, &t.bundle).assert_ok();
    let pid = init_pid(&t, &id);
    for key in hierarchy_keys() {
        assert_eq!(
            cgroup::cgroup_path_of(pid, &key),
            path,
            "cgroup of the init in {key:?}"
        );
    }
    t.rt.delete(&id).assert_ok();
    assert_nothing_left(&t, &id);
}

#[test]
fn relative_cgroups_path_is_below_the_runtimes_own_cgroup() {
    let mut t = Ctx::new("cgrel");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.bundle.set_linux("cgroupsPath", json!(id));
    t.rt.create(&id, &t.bundle).assert_ok();
    let pid = init_pid(&t, &id);
    for key in hierarchy_keys() {
        let own = cgroup::own_cgroup_path(&key);
        assert_eq!(
            cgroup::cgroup_path_of(pid, &key),
            format!("{}/{id}", own.trim_end_matches('/')),
            "relative cgroupsPath in {key:?} (the runtime runs in {own})"
        );
    }
    t.rt.delete(&id).assert_ok();
    assert_nothing_left(&t, &id);
}

#[test]
fn cgroup_namespace_shows_the_container_cgroup_as_root() {
    let mut t = Ctx::new("cgns");
    t.bundle.add_namespace("cgroup", None);
    t.bundle.checker(&["read", "/proc/self/cgroup"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let pid = init_pid(&t, &id);
    for key in hierarchy_keys() {
        assert!(
            cgroup::cgroup_path_of(pid, &key).ends_with(&format!("/{id}")),
            "init not in its cgroup in {key:?}"
        );
    }
    let r = start_and_collect(&t, &id);
    let seen = cgroup::parse_proc_cgroup(r["content"].as_str().unwrap());
    for key in hierarchy_keys() {
        assert_eq!(
            cgroup::path_in(&seen, &key).as_deref(),
            Some("/"),
            "in its cgroup namespace the container's {key:?} cgroup is not the root: {seen:?}"
        );
    }
    assert_nothing_left(&t, &id);
}

#[test]
fn cgroup_removed_after_foreground_run_and_forced_delete() {
    let mut t = Ctx::new("cgremove");
    t.bundle.checker(&["exit", "3"]);
    let id = t.id("run");
    t.rt.run(&id, &t.bundle).assert_code(3);
    assert_nothing_left(&t, &id);

    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("force");
    t.rt.run_detached(&id, &t.bundle);
    let pid = init_pid(&t, &id);
    assert!(cgroup::cgroup_dir_of(pid, "pids").is_dir());
    t.rt.delete_force(&id).assert_ok();
    assert_nothing_left(&t, &id);
}

#[test]
fn memory_limits() {
    let mut t = Ctx::new("cgmem");
    t.bundle.checker(&["sleep", "30"]);
    t.bundle.config["linux"]["resources"]["memory"] =
        json!({"limit": 64 * MIB, "reservation": 32 * MIB, "swappiness": 10});
    if cgroup::has_memsw() {
        t.bundle.config["linux"]["resources"]["memory"]["swap"] = json!(96 * MIB);
    }
    let id = t.id("lim");
    t.rt.create(&id, &t.bundle).assert_ok();
    let dir = cg(&t, &id, "memory");
    assert_eq!(
        cgroup::read_file(&dir, "memory.limit_in_bytes"),
        (64 * MIB).to_string()
    );
    assert_eq!(
        cgroup::read_file(&dir, "memory.soft_limit_in_bytes"),
        (32 * MIB).to_string()
    );
    if cgroup::has_memsw() {
        assert_eq!(
            cgroup::read_file(&dir, "memory.memsw.limit_in_bytes"),
            (96 * MIB).to_string(),
            "swap is memory+swap in v1"
        );
    }
    assert_eq!(cgroup::read_file(&dir, "memory.swappiness"), "10");
    assert!(
        cgroup::read_file(&dir, "memory.oom_control").contains("oom_kill_disable 0"),
        "{}",
        cgroup::read_file(&dir, "memory.oom_control")
    );
    t.rt.delete(&id).assert_ok();

    t.bundle.config["linux"]["resources"]["memory"] =
        json!({"limit": 64 * MIB, "disableOOMKiller": true});
    let id = t.id("nooom");
    t.rt.create(&id, &t.bundle).assert_ok();
    let dir = cg(&t, &id, "memory");
    assert!(
        cgroup::read_file(&dir, "memory.oom_control").contains("oom_kill_disable 1"),
        "{}",
        cgroup::read_file(&dir, "memory.oom_control")
    );
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn cpu_and_cpuset() {
    let mut t = Ctx::new("cgcpu");
    t.bundle.checker(&["read", "/proc/self/status"]);
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = (ncpu - 1).to_string();
    t.bundle.config["linux"]["resources"]["cpu"] = json!({
        "shares": 512, "quota": 50000, "period": 200000, "cpus": cpu, "mems": "0",
    });
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let dir = cg(&t, &id, "cpu");
    assert_eq!(cgroup::read_file(&dir, "cpu.shares"), "512");
    assert_eq!(cgroup::read_file(&dir, "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgroup::read_file(&dir, "cpu.cfs_period_us"), "200000");
    let dir = cg(&t, &id, "cpuset");
    assert_eq!(cgroup::read_file(&dir, "cpuset.cpus"), cpu);
    assert_eq!(cgroup::read_file(&dir, "cpuset.mems"), "0");
    // The process may run on that cpu only.
    let r = start_and_collect(&t, &id);
    let status = r["content"].as_str().unwrap();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim);
    assert_eq!(allowed, Some(cpu.as_str()), "{status}");
    t.assert_no_leaks();
}

#[test]
fn pids_limit_stops_forks() {
    let mut t = Ctx::new("cgpids");
    t.bundle.checker(&["fork", "30", "30"]);
    // Not too tight: runc's (Go) init needs threads in the cgroup during create.
    t.bundle.config["linux"]["resources"]["pids"] = json!({"limit": 16});
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    assert_eq!(cgroup::read_file(&cg(&t, &id, "pids"), "pids.max"), "16");
    let r = start_and_collect(&t, &id);
    // The init counts: 15 children fit, the 16th fork fails with EAGAIN.
    assert_eq!(r["forked"], 15, "{r}");
    assert_eq!(r["errno"], libc::EAGAIN, "{r}");
    t.assert_no_leaks();
}

#[test]
fn blkio_throttles() {
    let Some((major, minor)) = cgroup::some_block_device() else {
        berth_tests::skip(berth_tests::Skip::Host("no block device on this host"));
        return;
    };
    let mut t = Ctx::new("cgblkio");
    t.bundle.checker(&["sleep", "30"]);
    let dev = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
    t.bundle.config["linux"]["resources"]["blockIO"] = json!({
        "throttleReadBpsDevice": dev(1048576),
        "throttleWriteBpsDevice": dev(2097152),
        "throttleReadIOPSDevice": dev(100),
        "throttleWriteIOPSDevice": dev(200),
    });
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let dir = cg(&t, &id, "blkio");
    for (file, rate) in [
        ("blkio.throttle.read_bps_device", 1048576),
        ("blkio.throttle.write_bps_device", 2097152),
        ("blkio.throttle.read_iops_device", 100),
        ("blkio.throttle.write_iops_device", 200),
    ] {
        let got = cgroup::read_file(&dir, file);
        assert!(
            got.lines().any(|l| l == format!("{major}:{minor} {rate}")),
            "{file}: {got:?}"
        );
    }
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

/// The weight file a child blkio cgroup has on this host (blkio.weight with CFQ,
/// blkio.bfq.weight with BFQ), found with a probe cgroup; None if weights are
/// unavailable.
fn blkio_weight_file() -> Option<&'static str> {
    let probe = format!("berth-e2e-probe-{}-{}", std::process::id(), sys::unique());
    let _guard = CgroupDirsGuard::new(&[&probe]);
    let dir = cgroup::mount_of("blkio").join(&probe);
    std::fs::create_dir(&dir).ok()?;
    ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| dir.join(f).exists())
}

#[test]
fn blkio_weight() {
    let mut t = Ctx::new("cgweight");
    t.bundle.checker(&["sleep", "30"]);
    t.bundle.config["linux"]["resources"]["blockIO"] = json!({"weight": 500});
    let id = t.id("c");
    match blkio_weight_file() {
        Some(file) => {
            t.rt.create(&id, &t.bundle).assert_ok();
            let got = cgroup::read_file(&cg(&t, &id, "blkio"), file);
            assert!(
                got == "500" || got.lines().any(|l| l == "default 500"),
                "{file}: {got:?}"
            );
            t.rt.delete(&id).assert_ok();
        }
        None => {
            t.rt.create(&id, &t.bundle).assert_fail_with("weight");
        }
    }
    assert_nothing_left(&t, &id);
}

/// A misc char device of the host that root may open without any capability and that
/// is in no runtime's default allow list: (path, major, minor).
fn unlisted_misc_device() -> Option<(&'static str, u32, u32)> {
    [("kvm", "/dev/kvm"), ("loop-control", "/dev/loop-control")]
        .into_iter()
        .find_map(|(name, path)| {
            let dev = std::fs::read_to_string(format!("/sys/class/misc/{name}/dev")).ok()?;
            let (ma, mi) = dev.trim().split_once(':')?;
            Some((path, ma.parse().ok()?, mi.parse().ok()?))
        })
}

#[test]
fn devices_cgroup_default_rules_and_explicit_allow() {
    let Some((path, major, minor)) = unlisted_misc_device() else {
        berth_tests::skip(berth_tests::Skip::Host(
            "no kvm or loop-control device on this host",
        ));
        return;
    };
    let mut t = Ctx::new("cgdev");
    // Bind-mount the host's node (an entry in linux.devices would also allow it, as in
    // runc).
    t.bundle
        .add_bind(path, std::path::Path::new(path), &[])
        .checker(&["open", path, "rw"]);
    let id = t.id("deny");
    t.rt.create(&id, &t.bundle).assert_ok();
    let list = cgroup::read_file(&cg(&t, &id, "devices"), "devices.list");
    let rules: Vec<&str> = list.lines().collect();
    assert!(
        !rules.contains(&"a *:* rwm"),
        "the device cgroup allows everything: {rules:?}"
    );
    for want in [
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
    ] {
        assert!(
            rules.contains(&want),
            "default rule {want:?} missing: {rules:?}"
        );
    }
    let own = format!("c {major}:{minor} ");
    assert!(
        !rules.iter().any(|r| r.starts_with(&own)),
        "{path} allowed without a rule: {rules:?}"
    );
    let r = start_and_collect(&t, &id);
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["errno"], libc::EPERM, "opening a denied device: {r}");

    t.bundle.config["linux"]["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .push(json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": "rw"}));
    let id = t.id("allow");
    t.rt.create(&id, &t.bundle).assert_ok();
    let list = cgroup::read_file(&cg(&t, &id, "devices"), "devices.list");
    assert!(
        list.lines().any(|l| l == format!("c {major}:{minor} rw")),
        "{list}"
    );
    let r = start_and_collect(&t, &id);
    assert_eq!(r["ok"], true, "allowed device still denied: {r}");
    t.assert_no_leaks();
}

#[test]
fn controllers_missing_on_this_host_fail_create() {
    let mut t = Ctx::new("cgmissing");
    let cases = [
        (
            "hugetlb",
            "hugepageLimits",
            json!([{"pageSize": "2MB", "limit": 2097152}]),
        ),
        ("net_cls", "network", json!({"classID": 1048577})),
        (
            "net_prio",
            "network",
            json!({"priorities": [{"name": "lo", "priority": 1}]}),
        ),
        (
            "rdma",
            "rdma",
            json!({"mlx5_0": {"hcaHandles": 3, "hcaObjects": 1000}}),
        ),
    ];
    for (controller, key, value) in cases {
        if cgroup::has_v1_controller(controller) {
            berth_tests::skip(berth_tests::Skip::Host(&format!(
                "{controller}: the host has it"
            )));
            continue;
        }
        let mut res = json!({});
        res[key] = value;
        t.bundle.config["linux"]["resources"] = res;
        let id = t.id(controller);
        t.rt.create(&id, &t.bundle).assert_fail_with(controller);
        assert_nothing_left(&t, &id);
    }
}

#[test]
fn impossible_resource_values_fail_cleanly() {
    let mut t = Ctx::new("cgimpossible");
    t.bundle.checker(&["sleep", "30"]);
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cases = [
        // (runc 1.1.5 agrees?, name, resources, word in the error)
        // runc 1.1.5: "unable to set memory limit to 1 (current usage: ...)".
        (true, "mem1", json!({"memory": {"limit": 1}}), "memory"),
        (
            true,
            "swaplow",
            json!({"memory": {"limit": 64 * MIB, "swap": 32 * MIB}}),
            "swap",
        ),
        (
            false,
            "period0",
            json!({"cpu": {"quota": 50000, "period": 0}}),
            "period",
        ),
        (
            true,
            "period1",
            json!({"cpu": {"quota": 50000, "period": 1}}),
            "period",
        ),
        (
            true,
            "nocpu",
            json!({"cpu": {"cpus": (ncpu + 64).to_string()}}),
            "cpu",
        ),
        (true, "nomem", json!({"cpu": {"mems": "63"}}), "mems"),
    ];
    let mut failures = Vec::new();
    for (runc_agrees, name, resources, word) in cases {
        // runc 1.1.5 treats a cpu period of 0 as "not set" and applies the quota.
        if !runc_agrees && skip_on_runc(&format!("{name}: {resources} is accepted")) {
            continue;
        }
        if name == "swaplow" && !cgroup::has_memsw() {
            continue;
        }
        t.bundle.config["linux"]["resources"] = resources.clone();
        let id = t.id(name);
        let o = t.rt.create(&id, &t.bundle);
        if o.code != Some(1) || !o.stderr.to_lowercase().contains(word) {
            failures.push(format!(
                "{resources}: expected exit 1 and an error naming {word:?}\n{o}"
            ));
        }
        let _ = t.rt.delete_force(&id);
        assert_nothing_left(&t, &id);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn systemd_cgroup_driver_is_a_clear_error() {
    let t = Ctx::new("cgsystemd");
    t.bundle.save();
    let id = t.id("c");
    t.rt.track(&id);
    let o =
        t.rt.cmd()
            .args(["--systemd-cgroup", "create", "--bundle"])
            .arg(t.bundle.path())
            .arg(&id)
            .run();
    o.assert_fail_with("systemd");
    assert_nothing_left(&t, &id);
}
