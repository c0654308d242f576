//! `update`: changing the resources of a running container with flags or a
//! LinuxResources JSON (stdin or file); the cgroup files and the container see it.

use berth_tests::cgroup;
use berth_tests::*;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
const MIB: i64 = 1 << 20;

/// A running container (`/checker sleep 60`, memory limit 100 MiB) and its init pid.
fn running(t: &mut Ctx) -> (String, i32) {
    t.bundle.checker(&["sleep", "60"]);
    t.bundle.config["linux"]["resources"]["memory"] = json!({"limit": 100 * MIB});
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
    (id, pid)
}

fn file(pid: i32, controller: &str, name: &str) -> String {
    cgroup::read_file(&cgroup::cgroup_dir_of(pid, controller), name)
}

fn stats(t: &Ctx, id: &str) -> Value {
    let o = t.rt.exec(&["events", "--stats", id]);
    o.assert_ok().json_line()
}

fn update_from_stdin(t: &Ctx, id: &str, resources: &Value) -> Output {
    let p: PathBuf =
        t.rt.scratch("res")
            .join(format!("stdin-{}.json", sys::unique()));
    std::fs::write(&p, resources.to_string()).unwrap();
    let stdin = std::fs::File::open(&p).unwrap();
    t.rt.cmd()
        .args(["update", "--resources", "-", id])
        .stdin(Io::Fd(stdin.into()))
        .run()
}

#[test]
fn flags() {
    let mut t = Ctx::new("updflags");
    let (id, pid) = running(&mut t);
    assert_eq!(
        file(pid, "memory", "memory.limit_in_bytes"),
        (100 * MIB).to_string()
    );
    t.rt.exec(&["update", "--memory", "200m", "--pids-limit", "20", &id])
        .assert_ok();
    assert_eq!(
        file(pid, "memory", "memory.limit_in_bytes"),
        (200 * MIB).to_string()
    );
    assert_eq!(file(pid, "pids", "pids.max"), "20");
    let s = stats(&t, &id);
    assert_eq!(s["data"]["memory"]["usage"]["limit"], 200 * MIB, "{s}");
    assert_eq!(s["data"]["pids"]["limit"], 20, "{s}");

    let cpu = (std::thread::available_parallelism().map_or(1, |n| n.get()) - 1).to_string();
    t.rt.exec(&[
        "update",
        "--cpu-share",
        "256",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "20000",
        "--cpuset-cpus",
        &cpu,
        "--memory-reservation",
        "50m",
        &id,
    ])
    .assert_ok();
    assert_eq!(file(pid, "cpu", "cpu.shares"), "256");
    assert_eq!(file(pid, "cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(file(pid, "cpu", "cpu.cfs_quota_us"), "20000");
    assert_eq!(file(pid, "cpuset", "cpuset.cpus"), cpu);
    assert_eq!(
        file(pid, "memory", "memory.soft_limit_in_bytes"),
        (50 * MIB).to_string()
    );
    // Earlier updates stay.
    assert_eq!(
        file(pid, "memory", "memory.limit_in_bytes"),
        (200 * MIB).to_string()
    );
    assert_eq!(file(pid, "pids", "pids.max"), "20");
    // A new process in the container sees the cpuset.
    let o =
        t.rt.exec(&["exec", &id, "/checker", "read", "/proc/self/status"]);
    let status = o.assert_ok().json_line()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        status
            .lines()
            .any(|l| l.strip_prefix("Cpus_allowed_list:").map(str::trim) == Some(&cpu)),
        "{status}"
    );
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn resources_json_from_stdin_and_file() {
    let mut t = Ctx::new("updjson");
    let (id, pid) = running(&mut t);
    let res =
        json!({"memory": {"limit": 300 * MIB}, "pids": {"limit": 30}, "cpu": {"shares": 300}});
    update_from_stdin(&t, &id, &res).assert_ok();
    assert_eq!(
        file(pid, "memory", "memory.limit_in_bytes"),
        (300 * MIB).to_string()
    );
    assert_eq!(file(pid, "pids", "pids.max"), "30");
    assert_eq!(file(pid, "cpu", "cpu.shares"), "300");

    let p = t.rt.scratch("res").join("resources.json");
    // Not too tight: runc's (Go) exec helper needs threads in the cgroup too.
    std::fs::write(&p, json!({"pids": {"limit": 16}}).to_string()).unwrap();
    t.rt.exec(&["update", "--resources", p.to_str().unwrap(), &id])
        .assert_ok();
    assert_eq!(file(pid, "pids", "pids.max"), "16");
    // Fields not in the JSON are unchanged.
    assert_eq!(
        file(pid, "memory", "memory.limit_in_bytes"),
        (300 * MIB).to_string()
    );
    assert_eq!(file(pid, "cpu", "cpu.shares"), "300");
    // The new pids limit applies: the init and the exec'd checker leave room for 14.
    let r = t.rt.exec(&["exec", &id, "/checker", "fork", "30", "30"]);
    let r = r.assert_ok().json_line();
    assert_eq!(r["forked"], 14, "{r}");
    assert_eq!(r["errno"], libc::EAGAIN, "{r}");
    // -1: unlimited.
    update_from_stdin(&t, &id, &json!({"pids": {"limit": -1}})).assert_ok();
    assert_eq!(file(pid, "pids", "pids.max"), "max");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn invalid_updates_fail_and_change_nothing() {
    let mut t = Ctx::new("updbad");
    let (id, pid) = running(&mut t);
    let limit = file(pid, "memory", "memory.limit_in_bytes");
    let cpus = file(pid, "cpuset", "cpuset.cpus");
    let mut failures = Vec::new();
    let mut expect_fail = |what: &str, o: Output| {
        if o.code != Some(1) {
            failures.push(format!("{what}: expected exit 1\n{o}"));
        }
    };
    expect_fail(
        "--memory abc",
        t.rt.exec(&["update", "--memory", "abc", &id]),
    );
    expect_fail("--memory 1", t.rt.exec(&["update", "--memory", "1", &id]));
    expect_fail(
        "--cpuset-cpus 99",
        t.rt.exec(&["update", "--cpuset-cpus", "99", &id]),
    );
    let p = t.rt.scratch("res").join("bad.json");
    std::fs::write(&p, "{\"memory\": ").unwrap();
    expect_fail(
        "malformed --resources",
        t.rt.exec(&["update", "--resources", p.to_str().unwrap(), &id]),
    );
    expect_fail(
        "missing --resources file",
        t.rt.exec(&["update", "--resources", "/no/such/file.json", &id]),
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(file(pid, "memory", "memory.limit_in_bytes"), limit);
    assert_eq!(file(pid, "cpuset", "cpuset.cpus"), cpus);
    assert_eq!(t.rt.status(&id), "running");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn stopped_or_missing_container_cannot_be_updated() {
    let mut t = Ctx::new("updstopped");
    t.bundle.checker(&["exit", "0"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    t.rt.wait_status(&id, "stopped", T);
    let o = t.rt.exec(&["update", "--memory", "200m", &id]);
    o.assert_fail();
    let o2 = update_from_stdin(&t, &id, &json!({"pids": {"limit": 10}}));
    o2.assert_fail();
    t.rt.exec(&["update", "--memory", "200m", "no-such-container"])
        .assert_fail_with("does not exist");
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}
