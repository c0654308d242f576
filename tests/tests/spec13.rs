//! runtime-spec 1.2/1.3 process attributes: `process.scheduler` (every policy),
//! `process.ioPriority`,
//! `linux.personality`, `process.execCPUAffinity` applied for real (checked from the
//! host through /proc and ioprio_get), `linux.memoryPolicy` (through the kernel's
//! answer), and personality flags (the spec defines none) refused by name.
//! runc 1.1.5 predates them all.

use berth_tests::cgroup::{cgroup_dir_of, read_file};
use berth_tests::*;
use std::os::fd::AsRawFd;

/// A detached `sleep` with `edit` applied to the config; returns (ctx, id, pid).
fn sleeper(name: &str, edit: impl Fn(&mut Bundle)) -> (Ctx, String, i32) {
    let mut t = Ctx::new(name);
    t.bundle.args(&["/bin/sleep", "30"]);
    edit(&mut t.bundle);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
    (t, id, pid)
}

fn proc_field(pid: i32, file: &str, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap();
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/{file}:\n{text}"))
}

#[test]
fn scheduler_policy_and_nice_are_applied() {
    if skip_on_runc("runc 1.1.5 has no process.scheduler") {
        return;
    }
    let (t, id, pid) = sleeper("sched", |b| {
        b.set_process("scheduler", json!({"policy": "SCHED_BATCH", "nice": 7}));
    });
    assert_eq!(proc_field(pid, "sched", "policy"), "3", "SCHED_BATCH");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    // Field 19 (nice) is the 17th after the command.
    assert_eq!(after.split(' ').nth(16), Some("7"), "{stat}");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

/// Every policy reaches the kernel (`sched_getscheduler` of the process from the
/// host): SCHED_FIFO with a priority and SCHED_FLAG_RESET_ON_FORK, SCHED_RR,
/// SCHED_IDLE and SCHED_DEADLINE with its three times. Where the kernel groups
/// real-time time per cgroup (cpu.rt_runtime_us), the config gives the container
/// a budget, as an engine must.
#[test]
fn scheduler_every_policy_and_reset_on_fork() {
    if skip_on_runc("runc 1.1.5 has no process.scheduler") {
        return;
    }
    let rt_group = std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists();
    let cases = [
        (
            json!({"policy": "SCHED_FIFO", "priority": 10, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}),
            libc::SCHED_FIFO,
            true,
        ),
        (
            json!({"policy": "SCHED_RR", "priority": 5}),
            libc::SCHED_RR,
            false,
        ),
        (json!({"policy": "SCHED_IDLE"}), libc::SCHED_IDLE, false),
        (
            json!({"policy": "SCHED_DEADLINE", "runtime": 2000000u64,
                   "deadline": 10000000u64, "period": 10000000u64}),
            6, // SCHED_DEADLINE
            false,
        ),
    ];
    for (sched, policy, reset) in cases {
        let (t, id, pid) = sleeper("schedall", |b| {
            b.set_process("scheduler", sched.clone());
            if rt_group {
                b.config["linux"]["resources"]["cpu"] =
                    json!({"realtimeRuntime": 50000, "realtimePeriod": 1000000});
            }
        });
        // SAFETY: sched_getscheduler takes a pid and returns an integer. The raw
        // syscall: musl's wrapper is a stub that fails with ENOSYS.
        let got = unsafe { libc::syscall(libc::SYS_sched_getscheduler, pid) } as libc::c_int;
        assert_eq!(
            got & !libc::SCHED_RESET_ON_FORK,
            policy,
            "{sched}: policy {got:#x}"
        );
        assert_eq!(
            got & libc::SCHED_RESET_ON_FORK != 0,
            reset,
            "{sched}: reset-on-fork {got:#x}"
        );
        t.rt.delete_force(&id).assert_ok();
        t.assert_no_leaks();
    }
}

#[test]
fn io_priority_is_applied() {
    if skip_on_runc("runc 1.1.5 has no process.ioPriority") {
        return;
    }
    let (t, id, pid) = sleeper("ioprio", |b| {
        b.set_process(
            "ioPriority",
            json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}),
        );
    });
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, pid) takes two integers.
    let v = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid) };
    assert_eq!(v >> 13, 3, "class IDLE, got {v:#x}");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn personality_linux32_is_applied() {
    if skip_on_runc("runc 1.1.5 has no linux.personality") {
        return;
    }
    let (t, id, pid) = sleeper("persona", |b| {
        b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    });
    let p = std::fs::read_to_string(format!("/proc/{pid}/personality")).unwrap();
    assert_eq!(p.trim(), "00000008", "PER_LINUX32");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn exec_cpu_affinity_final_is_applied_to_init_and_exec() {
    if skip_on_runc("runc 1.1.5 has no process.execCPUAffinity") {
        return;
    }
    let (t, id, pid) = sleeper("affinity", |b| {
        b.set_process("execCPUAffinity", json!({"initial": "0", "final": "1"}));
    });
    assert_eq!(proc_field(pid, "status", "Cpus_allowed_list"), "1");
    let p = t.bundle.join("exec-process.json");
    std::fs::write(
        &p,
        r#"{"args":["/bin/sh","-c","grep Cpus_allowed_list /proc/self/status"],"cwd":"/",
           "env":["PATH=/bin"],"user":{"uid":0,"gid":0},
           "execCPUAffinity":{"initial":"1","final":"0"}}"#,
    )
    .unwrap();
    let o = t.rt.exec(&["exec", "-p", p.to_str().unwrap(), &id]);
    o.assert_ok();
    assert!(
        o.stdout.trim().ends_with("\t0") || o.stdout.trim().ends_with(" 0"),
        "{o:?}"
    );
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

/// The memory policy reaches set_mempolicy: node 0 binds, a node the host does not
/// have is the kernel's EINVAL, named in the error.
#[test]
fn memory_policy_is_applied() {
    if skip_on_runc("runc 1.1.5 has no linux.memoryPolicy") {
        return;
    }
    let mut t = Ctx::new("mempolicy");
    t.bundle.args(&["/bin/true"]);
    t.bundle.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"});
    let id = t.id("ok");
    t.rt.run(&id, &t.bundle).assert_ok();
    t.bundle.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "1000"});
    let id = t.id("bad");
    t.rt.create(&id, &t.bundle)
        .assert_fail_with("linux.memoryPolicy MPOL_BIND");
    t.assert_no_leaks();
}

#[test]
fn fields_not_applied_yet_are_refused_by_name() {
    if skip_on_runc("runc 1.1.5 ignores runtime-spec 1.2/1.3 fields") {
        return;
    }
    let mut t = Ctx::new("refused");
    t.bundle.args(&["/bin/true"]);
    t.bundle.config["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["X"]});
    let id = t.id("c");
    t.rt.create(&id, &t.bundle)
        .assert_fail_with("linux.personality.flags");
    t.assert_no_leaks();
}

fn ip(args: &[&str]) -> std::process::Output {
    std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap()
}

fn ip_ok(args: &[&str]) {
    let o = ip(args);
    assert!(o.status.success(), "ip {args:?}: {o:?}");
}

fn host_has_link(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// `ip -o addr show DEV` in the network namespace of `pid`.
fn addrs_in(pid: i32, dev: &str) -> String {
    let o = std::process::Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "ip",
            "-o",
            "addr",
            "show",
            dev,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// Removes the test's links and namespace whatever the outcome.
struct NetGuard(Vec<String>, Option<String>);

impl Drop for NetGuard {
    fn drop(&mut self) {
        for l in &self.0 {
            if host_has_link(l) {
                let _ = ip(&["link", "del", l]);
            }
        }
        if let Some(ns) = &self.1 {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// A host link moves into the container's own namespace under its new name,
/// keeps its permanent global address and is up there; the kernel destroys
/// a virtual one (and its veth peer) with the namespace at delete.
#[test]
fn net_device_moves_in_renamed_with_its_address() {
    if skip_on_runc("runc 1.1.5 has no linux.netDevices") {
        return;
    }
    let host = format!("btd{}", std::process::id() % 100000);
    let peer = format!("{host}p");
    let _g = NetGuard(vec![host.clone(), peer.clone()], None);
    // A veth end (this kernel has no dummy links); the peer stays outside.
    ip_ok(&["link", "add", &host, "type", "veth", "peer", "name", &peer]);
    ip_ok(&["addr", "add", "10.251.7.2/24", "dev", &host]);
    let (t, id, pid) = sleeper("netdev", |b| {
        b.add_namespace("network", None);
        b.config["linux"]["netDevices"] = json!({ (host.clone()): {"name": "ctr7"} });
    });
    assert!(!host_has_link(&host), "{host} still on the host");
    let a = addrs_in(pid, "ctr7");
    assert!(a.contains("10.251.7.2/24"), "{a}");
    let link = std::process::Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "ip",
            "-o",
            "link",
            "show",
            "ctr7",
        ])
        .output()
        .unwrap();
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(link.contains(",UP"), "{link}");
    t.rt.delete_force(&id).assert_ok();
    // The namespace is gone: so is the veth pair, once the kernel's netns cleanup
    // worker ran (batched, so seconds on a busy machine, not one).
    let gone =
        berth_tests::wait_until(std::time::Duration::from_secs(20), || !host_has_link(&peer));
    assert!(gone, "{peer} outlived the container's namespace");
    t.assert_no_leaks();
}

/// In a namespace joined by path (which outlives the container), delete
/// gives the device back to the host under its own name with its address.
#[test]
fn net_device_goes_back_on_delete_from_a_joined_namespace() {
    if skip_on_runc("runc 1.1.5 has no linux.netDevices") {
        return;
    }
    let n = std::process::id() % 100000;
    let host = format!("bte{n}");
    let ns = format!("berth-t-netdev-{n}");
    let peer = format!("{host}p");
    let _g = NetGuard(vec![host.clone(), peer.clone()], Some(ns.clone()));
    ip_ok(&["netns", "add", &ns]);
    ip_ok(&["link", "add", &host, "type", "veth", "peer", "name", &peer]);
    ip_ok(&["addr", "add", "10.251.8.2/24", "dev", &host]);
    let path = format!("/run/netns/{ns}");
    let (t, id, pid) = sleeper("netdev-back", |b| {
        b.add_namespace("network", Some(&path));
        b.config["linux"]["netDevices"] = json!({ (host.clone()): {} });
    });
    assert!(!host_has_link(&host));
    assert!(addrs_in(pid, &host).contains("10.251.8.2/24"));
    t.rt.delete_force(&id).assert_ok();
    assert!(host_has_link(&host), "{host} did not come back");
    let o = ip(&["-o", "addr", "show", &host]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("10.251.8.2/24"),
        "{o:?}"
    );
    t.assert_no_leaks();
}

/// A missing host device fails create naming it, leaving nothing behind;
/// netDevices without a network namespace and intelRdt without resctrl are
/// refused by name.
#[test]
fn net_device_and_intel_rdt_errors_name_the_cause() {
    if skip_on_runc("runc 1.1.5 has no linux.netDevices") {
        return;
    }
    let mut t = Ctx::new("netdev-err");
    t.bundle.args(&["/bin/true"]);
    t.bundle.add_namespace("network", None);
    t.bundle.config["linux"]["netDevices"] = json!({"btnosuchdev0": {}});
    let id = t.id("missing");
    t.rt.create(&id, &t.bundle)
        .assert_fail_with("interface btnosuchdev0");
    t.bundle.remove_namespace("network");
    let id = t.id("nons");
    t.rt.create(&id, &t.bundle)
        .assert_fail_with("netDevices requires a network namespace");
    t.bundle.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("netDevices");
    t.bundle.config["linux"]["intelRdt"] = json!({"closID": "x", "l3CacheSchema": "L3:0=f"});
    let id = t.id("rdt");
    if std::path::Path::new("/sys/fs/resctrl/info").exists() {
        t.rt.create(&id, &t.bundle)
            .assert_fail_with("linux.intelRdt");
    } else {
        t.rt.create(&id, &t.bundle).assert_fail_with("resctrl");
    }
    t.assert_no_leaks();
}

/// The per-mount options field of `dest` in the mountinfo of `pid`.
fn mount_opts(pid: i32, dest: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    text.lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .filter(|f| f.len() > 5 && f[4] == dest)
        .map(|f| f[5].to_string())
        .next_back()
        .unwrap_or_else(|| panic!("{dest} not mounted in {pid}:\n{text}"))
}

/// Unmounts the test's host tmpfs whatever the outcome.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// `rro`, `rnosuid`, `rnodev`, `rnoexec` and `rnosymfollow` reach the
/// submounts of an rbind (mount_setattr with AT_RECURSIVE), where `ro` and
/// friends stop at the top mount.
#[test]
fn recursive_mount_attributes_reach_submounts() {
    if skip_on_runc("runc 1.1.5 has no recursive mount attributes") {
        return;
    }
    let mut t = Ctx::new("rattr");
    let src = t.bundle.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(src.join("sub"))
        .status()
        .unwrap();
    assert!(st.success());
    let _u = Unmount(src.join("sub"));
    t.bundle.args(&["/bin/sleep", "30"]);
    t.bundle.add_bind(
        "/rec",
        &src,
        &[
            "rbind",
            "rro",
            "rnosuid",
            "rnodev",
            "rnoexec",
            "rnosymfollow",
        ],
    );
    t.bundle.add_bind("/top", &src, &["rbind", "ro", "nosuid"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
    for dest in ["/rec", "/rec/sub"] {
        let o = mount_opts(pid, dest);
        for want in ["ro", "nosuid", "nodev", "noexec", "nosymfollow"] {
            assert!(o.split(',').any(|x| x == want), "{dest}: {o} lacks {want}");
        }
    }
    assert!(mount_opts(pid, "/top").starts_with("ro,nosuid"));
    let sub = mount_opts(pid, "/top/sub");
    assert!(sub.starts_with("rw") && !sub.contains("nosuid"), "{sub}");
    t.rt.delete_force(&id).assert_ok();
    drop(_u);
    t.assert_no_leaks();
}

/// `cpu.burst` and `cpu.idle` are written (runc 1.1.5 has neither); on a
/// kernel without them create fails naming the feature.
#[test]
fn cpu_burst_and_idle_are_applied() {
    if skip_on_runc("runc 1.1.5 has no cpu.burst or cpu.idle") {
        return;
    }
    let mut t = Ctx::new("burst");
    t.bundle.args(&["/bin/sleep", "30"]);
    t.bundle.config["linux"]["resources"]["cpu"] =
        json!({"quota": 50000, "period": 100000, "burst": 20000, "idle": 1});
    let id = t.id("c");
    let have = std::path::Path::new("/sys/fs/cgroup/cpu/cpu.cfs_burst_us").exists()
        || std::path::Path::new("/sys/fs/cgroup/cpu.max.burst").exists();
    if !have {
        t.rt.create(&id, &t.bundle).assert_fail_with("cpu.burst");
        t.assert_no_leaks();
        return;
    }
    t.rt.run_detached(&id, &t.bundle);
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
    let dir = cgroup_dir_of(pid, "cpu");
    let burst = if dir.join("cpu.cfs_burst_us").exists() {
        read_file(&dir, "cpu.cfs_burst_us")
    } else {
        read_file(&dir, "cpu.max.burst")
    };
    assert_eq!(burst.trim(), "20000");
    assert_eq!(read_file(&dir, "cpu.idle").trim(), "1");
    // runc 1.2's `update --cpu-idle` and `--cpu-burst`.
    t.rt.exec(&["update", "--cpu-idle", "0", "--cpu-burst", "10000", &id])
        .assert_ok();
    assert_eq!(read_file(&dir, "cpu.idle").trim(), "0");
    let burst = if dir.join("cpu.cfs_burst_us").exists() {
        read_file(&dir, "cpu.cfs_burst_us")
    } else {
        read_file(&dir, "cpu.max.burst")
    };
    assert_eq!(burst.trim(), "10000");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

/// `memory.checkBeforeUpdate` refuses an update to a limit at or below the
/// current usage and leaves the old limit; without it the kernel decides.
#[test]
fn memory_check_before_update_refuses_limits_below_usage() {
    if skip_on_runc("runc 1.1.5 has no memory.checkBeforeUpdate") {
        return;
    }
    let mut t = Ctx::new("checkbefore");
    t.bundle.args(&["/bin/sleep", "30"]);
    t.bundle.config["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
    let dir = cgroup_dir_of(pid, "memory");
    let limit_file = if dir.join("memory.limit_in_bytes").exists() {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    };
    let r = t.bundle.join("res.json");
    std::fs::write(
        &r,
        r#"{"memory": {"limit": 4096, "checkBeforeUpdate": true}}"#,
    )
    .unwrap();
    t.rt.exec(&["update", "-r", r.to_str().unwrap(), &id])
        .assert_fail_with("rejecting memory limit 4096");
    assert_eq!(
        read_file(&dir, limit_file).trim(),
        (64u64 << 20).to_string()
    );
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

/// The one fd `sock` receives, asserted to be a pidfd of container `id`'s init
/// (its fdinfo names the init's pid).
#[track_caller]
fn receive_init_pidfd(
    t: &Ctx,
    id: &str,
    sock: &berth_tests::console::ConsoleSocket,
) -> std::os::fd::OwnedFd {
    let mut got = sock.receive(std::time::Duration::from_secs(10));
    assert_eq!(got.fds.len(), 1, "one fd");
    let pidfd = got.fds.remove(0);
    let fd = pidfd.as_raw_fd();
    let pid = t.rt.state_json(id)["pid"].as_i64().unwrap();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
    assert!(
        info.lines()
            .any(|l| l.split_whitespace().eq(["Pid:", &pid.to_string()])),
        "{info}"
    );
    pidfd
}

/// runc 1.2's `create --pidfd-socket`: the socket receives a pidfd of the
/// container's init, which outlives `create` and can signal it.
#[test]
fn create_pidfd_socket_receives_the_init_pidfd() {
    if skip_on_runc("runc 1.1.5 has no --pidfd-socket") {
        return;
    }
    let mut t = Ctx::new("pidfdsock");
    t.bundle.args(&["/bin/sleep", "30"]);
    let sock_path = t.bundle.join("pidfd.sock");
    let sock = berth_tests::console::ConsoleSocket::bind(&sock_path);
    let id = t.id("c");
    t.rt.create_with(
        &id,
        &t.bundle,
        &["--pidfd-socket", sock_path.to_str().unwrap()],
    )
    .assert_ok();
    let pidfd = receive_init_pidfd(&t, &id, &sock);
    let fd = pidfd.as_raw_fd();
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
    assert_eq!(link.to_string_lossy(), "anon_inode:[pidfd]");
    // SAFETY: a pidfd we own, signal number, no info, no flags.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd, libc::SIGKILL, 0, 0) };
    assert_eq!(r, 0, "pidfd_send_signal");
    t.rt.wait_status(&id, "stopped", std::time::Duration::from_secs(10));
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

/// `run --detach --pidfd-socket` hands over the init's pidfd as `create` does.
#[test]
fn run_pidfd_socket_receives_the_init_pidfd() {
    if skip_on_runc("runc 1.1.5 has no --pidfd-socket") {
        return;
    }
    let mut t = Ctx::new("runpidfd");
    t.bundle.args(&["/bin/sleep", "30"]);
    let sock_path = t.bundle.join("pidfd.sock");
    let sock = berth_tests::console::ConsoleSocket::bind(&sock_path);
    let id = t.id("c");
    t.rt.run_with(
        &id,
        &t.bundle,
        &["--detach", "--pidfd-socket", sock_path.to_str().unwrap()],
    )
    .assert_ok();
    let _pidfd = receive_init_pidfd(&t, &id, &sock);
    assert_eq!(t.rt.status(&id), "running");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}
