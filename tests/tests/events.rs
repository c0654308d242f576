//! `events`: one stats line (`--stats`), a stream of them (`--interval`) that ends
//! when the container stops, and an `oom` event when the container is OOM-killed.

use berth_tests::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);
const MIB: i64 = 1 << 20;

/// `events --interval I ID` running in the background, stdout into a file.
struct EventStream {
    child: Child,
    out: PathBuf,
}

impl EventStream {
    fn spawn(t: &Ctx, id: &str, interval: &str) -> EventStream {
        let out =
            t.rt.scratch("events")
                .join(format!("{id}-{}.jsonl", sys::unique()));
        let child = Command::new(&t.rt.bin)
            .arg("--root")
            .arg(t.rt.root())
            .args(["events", "--interval", interval, id])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(out.with_extension("stderr")).unwrap())
            .spawn()
            .expect("spawn events");
        EventStream { child, out }
    }

    /// Every complete line so far, each parsed as JSON (panics on a non-JSON line).
    fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("events line {l:?}: {e}")))
            .collect()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.out.with_extension("stderr")).unwrap_or_default()
    }

    /// Wait until `f(events)` holds.
    fn wait_until(&self, what: &str, f: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        sys::wait_for(T, || {
            let ev = self.events();
            f(&ev).then_some(ev)
        })
        .unwrap_or_else(|| {
            panic!(
                "events: no {what} within {T:?}; got {:?}\nstderr: {}",
                self.events(),
                self.stderr()
            )
        })
    }

    /// Wait for the process to exit by itself; its exit code.
    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 32 MiB of memory and no swap (memory+swap = memory where swap is accounted).
fn oom_memory() -> Value {
    if berth_tests::cgroup::has_memsw() {
        json!({"limit": 32 * MIB, "swap": 32 * MIB})
    } else {
        json!({"limit": 32 * MIB})
    }
}

fn count(ev: &[Value], ty: &str) -> usize {
    ev.iter().filter(|e| e["type"] == ty).count()
}

#[test]
fn stats_once() {
    let mut t = Ctx::new("evstats");
    t.bundle.checker(&["sleep", "60"]);
    t.bundle.config["linux"]["resources"]["memory"] = json!({"limit": 64 * MIB});
    t.bundle.config["linux"]["resources"]["pids"] = json!({"limit": 50});
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let o = t.rt.exec(&["events", "--stats", &id]);
    o.assert_ok();
    let lines: Vec<&str> = o.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line\n{o}");
    let e: Value = serde_json::from_str(lines[0]).expect("stats line is JSON");
    assert_eq!(e["type"], "stats", "{e}");
    assert_eq!(e["id"], id.as_str(), "{e}");
    let d = &e["data"];
    assert!(
        d["cpu"]["usage"]["total"].as_u64().is_some_and(|v| v > 0),
        "cpu.usage.total: {d}"
    );
    assert!(
        d["memory"]["usage"]["usage"]
            .as_u64()
            .is_some_and(|v| v > 0),
        "memory.usage.usage: {d}"
    );
    assert_eq!(d["memory"]["usage"]["limit"], 64 * MIB, "{d}");
    assert_eq!(d["pids"]["current"], 1, "{d}");
    assert_eq!(d["pids"]["limit"], 50, "{d}");

    // An exec'd process counts.
    let pid_file = t.rt.scratch("pids").join("exec.pid");
    t.rt.exec(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "/checker",
        "sleep",
        "60",
    ])
    .assert_ok();
    t.rt.track_pid(
        std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
    );
    let e =
        t.rt.exec(&["events", "--stats", &id])
            .assert_ok()
            .json_line();
    assert_eq!(e["data"]["pids"]["current"], 2, "{e}");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn interval_streams_until_the_container_stops() {
    let mut t = Ctx::new("evstream");
    t.bundle.checker(&["sleep", "60"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let mut stream = EventStream::spawn(&t, &id, "100ms");
    let ev = stream.wait_until("3 stats lines", |ev| count(ev, "stats") >= 3);
    for e in &ev {
        assert_eq!(e["type"], "stats", "{e}");
        assert_eq!(e["id"], id.as_str(), "{e}");
        assert!(e["data"]["cpu"]["usage"]["total"].is_u64(), "{e}");
    }
    t.rt.kill(&id, "KILL").assert_ok();
    t.rt.wait_status(&id, "stopped", T);
    // runc 1.1.5 keeps running (and logging errors) after the container stopped.
    if !skip_on_runc("events --interval does not exit when the container stops") {
        let code = stream.wait_exit(T);
        assert_eq!(
            code,
            Some(0),
            "events did not exit 0 after the container stopped; stderr: {}",
            stream.stderr()
        );
    }
    drop(stream);
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn oom_kill_of_an_exec_process_is_reported() {
    let mut t = Ctx::new("evoomexec");
    t.bundle.checker(&["sleep", "60"]);
    t.bundle.config["linux"]["resources"]["memory"] = oom_memory();
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let stream = EventStream::spawn(&t, &id, "100ms");
    stream.wait_until("a first stats line", |ev| count(ev, "stats") >= 1);
    let o = t.rt.exec(&["exec", &id, "/checker", "alloc", "512"]);
    o.assert_code(128 + libc::SIGKILL);
    let ev = stream.wait_until("oom event", |ev| count(ev, "oom") >= 1);
    let oom = ev.iter().find(|e| e["type"] == "oom").unwrap();
    assert_eq!(oom["id"], id.as_str(), "{oom}");
    assert_eq!(oom.get("data"), None, "{oom}");
    // The init survives and the stream goes on.
    assert_eq!(t.rt.status(&id), "running");
    let n = count(&ev, "stats");
    stream.wait_until("stats after the oom", |ev| count(ev, "stats") > n);
    drop(stream);
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn oom_kill_of_the_init_is_reported() {
    let mut t = Ctx::new("evoominit");
    t.bundle.checker(&["alloc", "512"]);
    t.bundle.config["linux"]["resources"]["memory"] = oom_memory();
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let mut stream = EventStream::spawn(&t, &id, "100ms");
    // Watching before the container starts allocating.
    stream.wait_until("a first stats line", |ev| count(ev, "stats") >= 1);
    t.rt.start(&id).assert_ok();
    t.rt.wait_status(&id, "stopped", T);
    let out = t.rt.container_stdout(&id);
    assert!(
        !out.contains("\"ok\":true"),
        "allocated 512 MiB under a 32 MiB limit: {out}"
    );
    let ev = stream.wait_until("oom event", |ev| count(ev, "oom") >= 1);
    let oom = ev.iter().find(|e| e["type"] == "oom").unwrap();
    assert_eq!(oom["id"], id.as_str(), "{oom}");
    if !skip_on_runc("events --interval does not exit when the container stops") {
        assert_eq!(stream.wait_exit(T), Some(0), "stderr: {}", stream.stderr());
        assert_eq!(count(&stream.events(), "oom"), 1, "{:?}", stream.events());
    }
    drop(stream);
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn errors() {
    let mut t = Ctx::new("everr");
    t.rt.exec(&["events", "--stats", "no-such-container"])
        .assert_fail_with("does not exist");
    t.bundle.checker(&["exit", "0"]);
    let id = t.id("stopped");
    t.rt.run_detached(&id, &t.bundle);
    t.rt.wait_status(&id, "stopped", T);
    t.rt.exec(&["events", "--stats", &id])
        .assert_fail_with("not running");
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}
