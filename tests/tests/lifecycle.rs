//! create / start / state / kill / delete / list / run.

use berth_tests::*;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(10);

#[test]
fn create_start_kill_delete_with_pid_file() {
    let mut t = Ctx::new("life");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    let pid_file = t.rt.scratch("pids").join("init.pid");
    t.rt.create_with(&id, &t.bundle, &["--pid-file", pid_file.to_str().unwrap()])
        .assert_ok();

    // The pid file holds the bare decimal pid, no trailing newline.
    let raw = std::fs::read_to_string(&pid_file).expect("pid file written");
    assert!(
        !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()),
        "pid file content {raw:?} is not a bare decimal pid"
    );
    let pid: i32 = raw.parse().unwrap();
    t.rt.track_pid(pid);

    let st = t.rt.state_json(&id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["pid"], pid, "state pid vs pid file");
    assert!(sys::pid_exists(pid), "init {pid} does not exist");

    // The init was reparented to us (the test process is a child subreaper).
    let (_, ppid) = sys::proc_stat(pid).expect("init stat");
    assert_eq!(
        ppid,
        std::process::id() as i32,
        "init {pid} not reparented to the caller"
    );

    t.rt.start(&id).assert_ok();
    let st = t.rt.state_json(&id);
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"], pid);

    t.rt.kill(&id, "TERM").assert_ok();
    let st = t.rt.wait_status(&id, "stopped", LONG);
    assert_eq!(st["pid"], 0, "a stopped container reports pid 0: {st}");

    t.rt.delete(&id).assert_ok();
    t.rt.state(&id).assert_fail_with("does not exist");
    t.assert_no_leaks();
}

#[test]
fn kill_accepts_signal_forms() {
    let mut t = Ctx::new("killforms");
    t.bundle.checker(&["sleep", "30"]);
    for sig in ["TERM", "9", "SIGKILL", "KILL", "SIGTERM", "15"] {
        let id = t.id(&format!("k{}", sig.to_lowercase()));
        t.rt.run_detached(&id, &t.bundle);
        assert_eq!(t.rt.status(&id), "running");
        t.rt.kill(&id, sig).assert_ok();
        let st = t.rt.wait_status(&id, "stopped", LONG);
        assert_eq!(st["pid"], 0, "{st}");
        t.rt.delete(&id).assert_ok();
    }
    t.assert_no_leaks();
}

#[test]
fn state_json_format() {
    let mut t = Ctx::new("statefmt");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("plain");
    t.rt.create(&id, &t.bundle).assert_ok();
    let o = t.rt.state(&id);
    o.assert_ok();
    let keys = top_level_keys(&o.stdout);
    assert_eq!(
        keys,
        [
            "ociVersion",
            "id",
            "pid",
            "status",
            "bundle",
            "rootfs",
            "created",
            "owner"
        ],
        "state keys/order\n{o}"
    );
    let st = o.json();
    let bundle = std::fs::canonicalize(t.bundle.path()).unwrap();
    assert_eq!(st["bundle"], bundle.to_str().unwrap(), "{st}");
    assert_eq!(
        st["rootfs"],
        bundle.join("rootfs").to_str().unwrap(),
        "{st}"
    );
    assert!(st["pid"].as_i64().unwrap() > 0);
    let created = st["created"].as_str().unwrap();
    assert!(
        is_rfc3339_nano_utc(created),
        "created {created:?} is not RFC3339 with nanoseconds in UTC"
    );
    assert!(st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()));

    // With annotations: they appear between created and owner.
    let id2 = t.id("annot");
    t.bundle.config["annotations"] = json!({"org.example.key": "value"});
    t.rt.create(&id2, &t.bundle).assert_ok();
    let o = t.rt.state(&id2);
    o.assert_ok();
    let keys = top_level_keys(&o.stdout);
    assert_eq!(
        keys,
        [
            "ociVersion",
            "id",
            "pid",
            "status",
            "bundle",
            "rootfs",
            "created",
            "annotations",
            "owner"
        ],
        "state keys/order with annotations\n{o}"
    );
    assert_eq!(o.json()["annotations"]["org.example.key"], "value");

    t.rt.delete(&id).assert_ok();
    t.rt.delete(&id2).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn state_of_missing_container_fails() {
    let t = Ctx::new("statemiss");
    let o = t.rt.state("no-such-container");
    o.assert_fail_with("does not exist");
}

#[test]
fn kill_stopped_container() {
    let mut t = Ctx::new("killstopped");
    t.bundle.checker(&["exit", "0"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    t.rt.start(&id).assert_ok();
    t.rt.wait_status(&id, "stopped", LONG);
    t.rt.kill(&id, "KILL")
        .assert_fail_with("container not running");
    t.rt.exec(&["kill", "--all", &id, "KILL"]).assert_ok();
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn delete_created_container_kills_it() {
    let mut t = Ctx::new("delcreated");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
    t.rt.delete(&id).assert_ok();
    t.rt.state(&id).assert_fail_with("does not exist");
    assert!(
        sys::wait_pid_gone(pid, LONG),
        "init {pid} survived delete of a created container"
    );
    t.assert_no_leaks();
}

#[test]
fn delete_running_requires_force() {
    let mut t = Ctx::new("delrunning");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    t.rt.delete(&id).assert_fail_with(&format!(
        "cannot delete container {id} that is not stopped: running"
    ));
    assert_eq!(t.rt.status(&id), "running");
    t.rt.delete_force(&id).assert_ok();
    t.rt.state(&id).assert_fail_with("does not exist");
    // --force of a container that does not exist succeeds.
    t.rt.delete_force("never-existed").assert_ok();
    t.assert_no_leaks();
}

#[test]
fn start_on_running_or_stopped_fails() {
    let mut t = Ctx::new("startagain");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    t.rt.start(&id).assert_ok();
    t.rt.start(&id).assert_fail();
    assert_eq!(t.rt.status(&id), "running");
    t.rt.kill(&id, "KILL").assert_ok();
    t.rt.wait_status(&id, "stopped", LONG);
    t.rt.start(&id).assert_fail();
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn duplicate_id_fails() {
    let mut t = Ctx::new("dupid");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let pid = t.rt.state_json(&id)["pid"].clone();
    t.rt.create(&id, &t.bundle).assert_fail();
    // The original container is untouched.
    let st = t.rt.state_json(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn invalid_ids_fail() {
    let t = Ctx::new("badid");
    for id in ["a/b", "..", "", "a b", "../escape", "."] {
        let o = t.rt.create(id, &t.bundle);
        o.assert_fail();
        assert!(
            t.rt.root_entries().is_empty(),
            "invalid id {id:?} left {:?} under --root",
            t.rt.root_entries()
        );
    }
    assert!(!t.rt.root().parent().unwrap().join("escape").exists());
    t.assert_no_leaks();
}

#[test]
fn list_formats() {
    let mut t = Ctx::new("list");
    t.bundle.checker(&["sleep", "30"]);
    let a = t.id("a");
    let b = t.id("b");
    t.rt.create(&a, &t.bundle).assert_ok();
    t.rt.run_detached(&b, &t.bundle);

    let o = t.rt.exec(&["list"]);
    o.assert_ok();
    let mut lines = o.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{o}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r.first() == Some(&id))
            .unwrap_or_else(|| panic!("no row for {id}\n{o}"))
            .clone()
    };
    assert_eq!(row(&a)[2], "created");
    assert_eq!(row(&b)[2], "running");

    let o = t.rt.exec(&["list", "--format", "json"]);
    o.assert_ok();
    assert_eq!(
        o.stdout.trim().lines().count(),
        1,
        "json list is one line\n{o}"
    );
    let arr = o.json();
    let arr = arr.as_array().expect("array");
    assert_eq!(arr.len(), 2, "{o}");
    for (id, status) in [(&a, "created"), (&b, "running")] {
        let s = arr
            .iter()
            .find(|s| s["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} missing\n{o}"));
        assert_eq!(s["status"], status);
        assert!(s["pid"].as_i64().unwrap() > 0);
        assert!(s["bundle"].as_str().is_some());
        assert!(s["created"].as_str().is_some());
    }

    let o = t.rt.exec(&["list", "-q"]);
    o.assert_ok();
    let mut ids: Vec<&str> = o.stdout.lines().collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(ids, want, "{o}");

    // An empty root lists just the header / an empty json array.
    let empty = Runtime::new();
    let o = empty.exec(&["list", "--format", "json"]);
    o.assert_ok();
    let v: Value = serde_json::from_str(o.stdout.trim()).unwrap_or(Value::Null);
    assert!(
        v.as_array().is_some_and(|a| a.is_empty()) || v.is_null(),
        "empty list json\n{o}"
    );

    t.rt.delete_force(&a).assert_ok();
    t.rt.delete_force(&b).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn run_returns_container_exit_code_and_removes_it() {
    let mut t = Ctx::new("runexit");
    t.bundle.checker(&["exit", "7"]);
    let id = t.id("c");
    t.rt.run(&id, &t.bundle).assert_code(7);
    t.rt.state(&id).assert_fail_with("does not exist");

    t.bundle.checker(&["exit", "0"]);
    let id = t.id("zero");
    t.rt.run(&id, &t.bundle).assert_ok();

    // The container's stdout is the runtime's stdout without a terminal.
    t.bundle
        .checker(&["echo", "hello", "from", "the", "container"]);
    let id = t.id("echo");
    let o = t.rt.run(&id, &t.bundle);
    o.assert_ok();
    assert!(o.stdout.contains("hello from the container"), "{o}");
    t.assert_no_leaks();
}

#[test]
fn run_killed_by_signal_exits_128_plus_signal() {
    let mut t = Ctx::new("runsig");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    let out = std::thread::scope(|s| {
        let h = s.spawn(|| t.rt.run(&id, &t.bundle));
        t.rt.wait_status(&id, "running", LONG);
        t.rt.kill(&id, "KILL").assert_ok();
        h.join().unwrap()
    });
    out.assert_code(128 + 9);
    t.rt.state(&id).assert_fail_with("does not exist");
    t.assert_no_leaks();
}

#[test]
fn run_detach_returns_with_container_running() {
    let mut t = Ctx::new("rundetach");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    let o = t.rt.run_detached(&id, &t.bundle);
    assert!(
        o.elapsed < Duration::from_secs(10),
        "run -d took {:?}",
        o.elapsed
    );
    let st = t.rt.state_json(&id);
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(sys::pid_exists(pid));
    t.rt.kill(&id, "KILL").assert_ok();
    t.rt.wait_status(&id, "stopped", LONG);
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn run_keep_leaves_stopped_container() {
    let mut t = Ctx::new("runkeep");
    t.bundle.checker(&["exit", "3"]);
    let id = t.id("c");
    t.rt.run_with(&id, &t.bundle, &["--keep"]).assert_code(3);
    let st = t.rt.state_json(&id);
    assert_eq!(st["status"], "stopped", "{st}");
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

/// `create` must return while the container waits for `start`, and no process the
/// runtime leaves behind (init, helpers) may keep an fd the runtime inherited: with
/// stdio on /dev/null and a pipe's write end as fd 3, the pipe reaches EOF once create
/// has exited although the container is still alive.
#[test]
fn create_leaves_no_process_holding_inherited_fds() {
    let mut t = Ctx::new("fdhold");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.bundle.save();
    let (r, w) = pipe();
    let o =
        t.rt.cmd()
            .args(["create", "--bundle"])
            .arg(t.bundle.path())
            .arg(&id)
            .stdin(Io::Null)
            .stdout(Io::Null)
            .stderr(Io::Capture)
            .extra_fds(vec![w])
            .run();
    t.rt.track(&id);
    o.assert_ok();
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
    t.rt.track_pid(pid);
    assert!(
        read_to_eof(&r, Duration::from_secs(3)).is_some(),
        "after create exited, something still holds the inherited pipe (fd 3)"
    );
    assert_eq!(t.rt.status(&id), "created");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

/// After a foreground `run` exits, nothing keeps its stdout pipe open.
#[test]
fn run_foreground_stdout_pipe_reaches_eof() {
    let mut t = Ctx::new("pipeeof");
    t.bundle.checker(&["echo", "piped", "output"]);
    let id = t.id("c");
    t.bundle.save();
    let (r, w) = pipe();
    let o =
        t.rt.cmd()
            .args(["run", "--bundle"])
            .arg(t.bundle.path())
            .arg(&id)
            .stdout(Io::Fd(w))
            .run();
    t.rt.track(&id);
    o.assert_ok();
    let data = read_to_eof(&r, Duration::from_secs(3))
        .expect("stdout pipe still held open after run exited");
    assert!(
        String::from_utf8_lossy(&data).contains("piped output"),
        "container output via pipe: {:?}",
        String::from_utf8_lossy(&data)
    );
    t.assert_no_leaks();
}

/// The bench's cycle, back to back: `delete` right after `state` first says
/// "stopped" (which an init still in the kernel's exit already counts as),
/// and every container's state directory parked and reused as a spare.
#[test]
fn back_to_back_cycles_reuse_state_directories() {
    let mut t = Ctx::new("cycles");
    t.bundle.checker(&["exit", "0"]);
    for i in 0..12 {
        let id = t.id(&format!("c{i}"));
        t.rt.create(&id, &t.bundle).assert_ok();
        t.rt.start(&id).assert_ok();
        t.rt.wait_status(&id, "stopped", LONG);
        t.rt.delete(&id).assert_ok();
        t.rt.state(&id).assert_fail_with("does not exist");
        let left = t.rt.root_entries();
        assert!(
            !left.is_empty() && left.len() <= 4 && left.iter().all(|n| n.starts_with("@spare")),
            "after delete {i}: {left:?}"
        );
    }
    let o = t.rt.exec(&["list", "-q"]);
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "", "spares are not containers");
    // A new container takes a spare and starts out as "created", empty.
    let id = t.id("last");
    t.rt.create(&id, &t.bundle).assert_ok();
    assert_eq!(t.rt.status(&id), "created");
    assert!(t.rt.root_entries().contains(&id));
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}
