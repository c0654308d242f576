//! runtime-spec 1.2/1.3 process attributes: `process.scheduler`, `process.ioPriority`,
//! `linux.personality`, `process.execCPUAffinity` applied for real (checked from the
//! host through /proc and ioprio_get), `linux.memoryPolicy` (through the kernel's
//! answer), and personality flags (the spec defines none) refused by name.
//! runc 1.1.5 predates them all.

use berth_tests::*;

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
