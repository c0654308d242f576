//! `ps`: the host pids of the container's processes (its cgroup), as JSON or as the
//! host's `ps` table filtered to them.

use berth_tests::cgroup;
use berth_tests::*;
use std::collections::BTreeSet;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn running(t: &mut Ctx) -> (String, i32) {
    t.bundle.checker(&["sleep", "60"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
    (id, pid)
}

fn ps_json(t: &Ctx, id: &str) -> BTreeSet<i32> {
    let v =
        t.rt.exec(&["ps", "--format", "json", id])
            .assert_ok()
            .json();
    v.as_array()
        .unwrap_or_else(|| panic!("ps --format json is not an array: {v}"))
        .iter()
        .map(|p| p.as_i64().unwrap_or_else(|| panic!("not a pid: {p}")) as i32)
        .collect()
}

fn exec_detached(t: &Ctx, id: &str, cmd: &[&str]) -> i32 {
    let pid_file = t.rt.scratch("pids").join(format!("{}.pid", sys::unique()));
    let mut v = vec![
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
    ];
    v.extend_from_slice(cmd);
    t.rt.exec(&v).assert_ok();
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    t.rt.track_pid(pid);
    pid
}

#[test]
fn json_lists_init_and_exec_processes() {
    let mut t = Ctx::new("psjson");
    let (id, init) = running(&mut t);
    assert_eq!(ps_json(&t, &id), BTreeSet::from([init]));

    let sleeper = exec_detached(&t, &id, &["/checker", "sleep", "60"]);
    // A shell with two children of its own.
    let sh = exec_detached(&t, &id, &["/bin/sh", "-c", "sleep 60 & sleep 60 & wait"]);
    let procs = cgroup::cgroup_dir_of(init, "pids");
    let all = sys::wait_for(T, || {
        let p = ps_json(&t, &id);
        (p.len() == 5).then_some(p)
    })
    .unwrap_or_else(|| panic!("ps never listed 5 processes: {:?}", ps_json(&t, &id)));
    for pid in [init, sleeper, sh] {
        assert!(all.contains(&pid), "{pid} missing from {all:?}");
    }
    let in_cgroup: BTreeSet<i32> = cgroup::procs(&procs).into_iter().collect();
    assert_eq!(all, in_cgroup, "ps vs cgroup.procs of the container");
    assert!(!all.contains(&(std::process::id() as i32)));

    unsafe { libc::kill(sleeper, libc::SIGKILL) };
    assert!(sys::wait_pid_gone(sleeper, T));
    let left = sys::wait_for(T, || {
        let p = ps_json(&t, &id);
        (!p.contains(&sleeper)).then_some(p)
    });
    assert!(left.is_some_and(|p| p.len() == 4), "{:?}", ps_json(&t, &id));
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn table_is_host_ps_filtered_to_the_container() {
    let mut t = Ctx::new("pstable");
    let (id, init) = running(&mut t);
    let sleeper = exec_detached(&t, &id, &["/checker", "sleep", "60"]);
    let o = t.rt.exec(&["ps", &id]);
    o.assert_ok();
    let mut lines = o.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "ps -ef header\n{o}"
    );
    let pids: BTreeSet<i32> = lines
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("bad ps line {l:?}\n{o}"))
        })
        .collect();
    assert_eq!(pids, BTreeSet::from([init, sleeper]), "{o}");
    assert!(o.stdout.contains("/checker sleep 60"), "{o}");

    // Extra arguments go to ps instead of -ef.
    let o = t.rt.exec(&["ps", &id, "-o", "pid,comm"]);
    o.assert_ok();
    let mut lines = o.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["PID", "COMMAND"], "{o}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{o}");
    assert!(rows.iter().all(|r| r[1] == "checker"), "{o}");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn errors() {
    let mut t = Ctx::new("pserr");
    t.rt.exec(&["ps", "no-such-container"])
        .assert_fail_with("does not exist");
    t.rt.exec(&["ps", "--format", "json", "no-such-container"])
        .assert_fail_with("does not exist");
    let (id, _) = running(&mut t);
    t.rt.exec(&["ps", "--format", "yaml", &id]).assert_fail();
    t.rt.kill(&id, "KILL").assert_ok();
    t.rt.wait_status(&id, "stopped", T);
    // A stopped container has no processes: `[]` (runc 1.1.5 prints `null`, a nil Go
    // slice).
    let o = t.rt.exec(&["ps", "--format", "json", &id]);
    if o.ok() {
        let v = o.json();
        let runc_null = v.is_null() && skip_on_runc("ps of a stopped container prints null");
        assert!(runc_null || v == json!([]), "{o}");
    }
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}
