//! pause / resume through the v1 freezer, and what is allowed while paused.

use berth_tests::cgroup;
use berth_tests::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

fn init_pid(t: &Ctx, id: &str) -> i32 {
    t.rt.state_json(id)["pid"].as_i64().unwrap() as i32
}

/// utime + stime of a process in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split(' ').collect();
    // fields 14 and 15 of stat; `after` starts at field 3
    after[11].parse::<u64>().unwrap() + after[12].parse::<u64>().unwrap()
}

fn freezer_state(pid: i32) -> String {
    cgroup::read_file(&cgroup::cgroup_dir_of(pid, "freezer"), "freezer.state")
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let mut t = Ctx::new("pause");
    // A busy loop, so "frozen" shows as no CPU time being used.
    t.bundle.args(&["/bin/sh", "-c", "while :; do :; done"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let pid = init_pid(&t, &id);
    assert_eq!(freezer_state(pid), "THAWED");

    t.rt.exec(&["pause", &id]).assert_ok();
    assert_eq!(t.rt.status(&id), "paused");
    assert_eq!(
        freezer_state(pid),
        "FROZEN",
        "pause returned before the freeze completed"
    );
    let list = t.rt.exec(&["list", "--format", "json"]).assert_ok().json();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{id} not listed: {list}"));
    assert_eq!(entry["status"], "paused", "{entry}");
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(pid), before, "a paused process used CPU time");

    t.rt.exec(&["resume", &id]).assert_ok();
    assert_eq!(t.rt.status(&id), "running");
    assert_eq!(freezer_state(pid), "THAWED");
    let ran = sys::wait_for(T, || (cpu_ticks(pid) > before).then_some(()));
    assert!(ran.is_some(), "the process does not run after resume");

    // Pause again: ps, events and update still work on a paused container (as in
    // runc); then delete --force it.
    t.rt.exec(&["pause", &id]).assert_ok();
    assert_eq!(t.rt.status(&id), "paused");
    let ps =
        t.rt.exec(&["ps", "--format", "json", &id])
            .assert_ok()
            .json();
    assert_eq!(ps, json!([pid]), "ps of a paused container");
    let ev =
        t.rt.exec(&["events", "--stats", &id])
            .assert_ok()
            .json_line();
    assert_eq!(ev["data"]["pids"]["current"], 1, "{ev}");
    t.rt.exec(&["update", "--pids-limit", "30", &id])
        .assert_ok();
    assert_eq!(
        cgroup::read_file(&cgroup::cgroup_dir_of(pid, "pids"), "pids.max"),
        "30"
    );
    assert_eq!(t.rt.status(&id), "paused", "update thawed the container");
    assert_eq!(freezer_state(pid), "FROZEN");
    t.rt.delete_force(&id).assert_ok();
    t.rt.state(&id).assert_fail_with("does not exist");
    t.assert_no_leaks();
}

#[test]
fn wrong_states_are_errors() {
    let mut t = Ctx::new("pausestates");
    t.bundle.checker(&["sleep", "60"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    t.rt.exec(&["resume", &id]).assert_fail_with("not paused");
    assert_eq!(t.rt.status(&id), "running");
    t.rt.exec(&["pause", &id]).assert_ok();
    // Pausing twice: runc 1.1.5 says "container not running".
    t.rt.exec(&["pause", &id]).assert_fail();
    assert_eq!(t.rt.status(&id), "paused");
    t.rt.exec(&["resume", &id]).assert_ok();
    t.rt.exec(&["resume", &id]).assert_fail_with("not paused");
    assert_eq!(t.rt.status(&id), "running");

    t.rt.exec(&["pause", "no-such-container"])
        .assert_fail_with("does not exist");
    t.rt.exec(&["resume", "no-such-container"])
        .assert_fail_with("does not exist");

    t.rt.kill(&id, "KILL").assert_ok();
    t.rt.wait_status(&id, "stopped", T);
    t.rt.exec(&["pause", &id]).assert_fail_with("not running");
    t.rt.exec(&["resume", &id]).assert_fail_with("not paused");
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn exec_into_a_paused_container() {
    let mut t = Ctx::new("pauseexec");
    t.bundle.checker(&["sleep", "60"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let init = init_pid(&t, &id);
    t.rt.exec(&["pause", &id]).assert_ok();

    let o = t.rt.exec(&["exec", &id, "/checker", "echo", "hi"]);
    o.assert_code(255);
    assert!(o.stderr.contains("paused"), "{o}");
    assert_eq!(t.rt.status(&id), "paused");

    // --ignore-paused: the process joins the frozen cgroup and runs once resumed.
    let freezer = cgroup::cgroup_dir_of(init, "freezer");
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            t.rt.exec(&[
                "exec",
                "--ignore-paused",
                &id,
                "/checker",
                "echo",
                "after-resume",
            ])
        });
        let joined = sys::wait_for(T, || (cgroup::procs(&freezer).len() > 1).then_some(()));
        assert!(
            joined.is_some() || h.is_finished(),
            "the exec'd process never joined the frozen cgroup"
        );
        assert!(
            !h.is_finished(),
            "exec --ignore-paused finished while the container is frozen: {}",
            h.join().unwrap()
        );
        let start = Instant::now();
        t.rt.exec(&["resume", &id]).assert_ok();
        let o = h.join().unwrap();
        o.assert_ok();
        assert_eq!(o.stdout, "after-resume\n", "{o}");
        assert!(start.elapsed() < T);
    });
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}
