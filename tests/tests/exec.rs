//! `exec`: a new process in a running container joins all its namespaces and its
//! cgroup, with the per-exec options applied; failures exit 255.

use berth_tests::cgroup;
use berth_tests::console::{read_master_until, ConsoleSocket};
use berth_tests::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
const NAMESPACES: [&str; 7] = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"];

/// A running container (`/checker sleep 60`) and its init pid.
fn running(t: &mut Ctx, suffix: &str) -> (String, i32) {
    t.bundle.checker(&["sleep", "60"]);
    let id = t.id(suffix);
    t.rt.run_detached(&id, &t.bundle);
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
    (id, pid)
}

fn exec(t: &Ctx, args: &[&str]) -> Output {
    let mut v = vec!["exec"];
    v.extend_from_slice(args);
    t.rt.exec(&v)
}

/// `exec --detach --pid-file` and the host pid of the new process (tracked for cleanup).
fn exec_detached(t: &Ctx, id: &str, extra: &[&str], cmd: &[&str]) -> i32 {
    let pid_file =
        t.rt.scratch("pids")
            .join(format!("exec-{}.pid", sys::unique()));
    let mut v = vec!["exec", "--detach", "--pid-file", pid_file.to_str().unwrap()];
    v.extend_from_slice(extra);
    v.push(id);
    v.extend_from_slice(cmd);
    t.rt.exec(&v).assert_ok();
    let raw = std::fs::read_to_string(&pid_file).expect("exec pid file");
    let pid: i32 = raw
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("pid file {raw:?}"));
    t.rt.track_pid(pid);
    pid
}

fn caps_of(r: &Value, set: &str) -> u64 {
    u64::from_str_radix(r["caps"][set].as_str().unwrap(), 16).unwrap()
}

fn cap_bit(name: &str) -> u64 {
    u64::from_str_radix(&cap_mask(&[name]), 16).unwrap()
}

#[test]
fn exit_code_and_output_of_the_process() {
    let mut t = Ctx::new("execbasic");
    let (id, _) = running(&mut t, "c");
    exec(&t, &[&id, "/checker", "exit", "7"]).assert_code(7);
    let o = exec(&t, &[&id, "/checker", "echo", "hello", "world"]);
    o.assert_ok();
    assert_eq!(o.stdout, "hello world\n", "{o}");
    // Killed by a signal: 128 + signal, like runc (the process is not the pid-ns init).
    exec(&t, &[&id, "/checker", "kill-self", "TERM"]).assert_code(128 + libc::SIGTERM);
    // A busybox shell through $PATH.
    let o = exec(&t, &[&id, "sh", "-c", "echo $((6*7))"]);
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "42", "{o}");
    assert_eq!(t.rt.status(&id), "running");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn joins_every_namespace_and_the_cgroup() {
    let mut t = Ctx::new("execjoin");
    t.bundle
        .add_namespace("cgroup", None)
        .add_namespace("user", None)
        .uid_mappings(0, 100000, 65536);
    let (id, init) = running(&mut t, "c");
    let r = exec(&t, &[&id, "/checker", "report"])
        .assert_ok()
        .json_line();
    for ns in NAMESPACES {
        let want = sys::ns_inode(&format!("/proc/{init}/ns/{ns}"));
        assert_eq!(r["ns"][ns], want, "{ns} namespace of the exec'd process");
    }
    assert_ne!(r["pid"], 1, "{r}");
    assert_eq!(r["ppid"], 0, "the parent is outside the pid namespace: {r}");
    assert!(
        r["uid_map"].as_str().unwrap().contains("100000"),
        "{}",
        r["uid_map"]
    );

    // Host side: a detached exec'd process is in the init's cgroups.
    let pid = exec_detached(&t, &id, &[], &["/checker", "sleep", "60"]);
    assert_eq!(
        cgroup::proc_cgroup(pid),
        cgroup::proc_cgroup(init),
        "cgroups of the exec'd process {pid} vs the init {init}"
    );
    // Inside its cgroup namespace it sees its cgroup as the root.
    let o = exec(&t, &[&id, "/checker", "read", "/proc/self/cgroup"]);
    let seen = cgroup::parse_proc_cgroup(o.assert_ok().json_line()["content"].as_str().unwrap());
    assert!(
        seen.iter().all(|(_, p)| p == "/"),
        "exec'd process outside the container's cgroup (namespace): {seen:?}"
    );
    t.rt.delete_force(&id).assert_ok();
    assert!(sys::wait_pid_gone(pid, T), "exec'd process {pid} survived");
    t.assert_no_leaks();
}

#[test]
fn per_exec_process_options() {
    let mut t = Ctx::new("execopts");
    t.bundle.no_new_privileges(false).add_env("FOO=from-config");
    t.bundle.mkdir("/work");
    let (id, _) = running(&mut t, "c");
    let r = exec(&t, &[&id, "/checker", "report"])
        .assert_ok()
        .json_line();
    assert_eq!(r["no_new_privs"], 0, "{r}");
    assert_eq!(r["cwd"], "/", "{r}");
    assert_eq!(r["uid"], 0);

    let r = exec(
        &t,
        &[
            "--cwd",
            "/work",
            "--env",
            "FOO=bar",
            "--env",
            "EMPTY=",
            "--user",
            "1000:1001",
            "--additional-gids",
            "2000",
            "--additional-gids",
            "3000",
            "--no-new-privs",
            &id,
            "/checker",
            "report",
        ],
    )
    .assert_ok()
    .json_line();
    assert_eq!(r["cwd"], "/work", "{r}");
    let env: Vec<&str> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in ["FOO=bar", "EMPTY=", t.bundle.marker_env().as_str()] {
        assert!(env.contains(&want), "{want} missing from {env:?}");
    }
    // --env overrides the container's value (one entry, as in runc; getenv() would
    // find the first of two). Checked last.
    let foo: Vec<String> = env
        .iter()
        .filter(|e| e.starts_with("FOO="))
        .map(|e| e.to_string())
        .collect();
    assert!(
        env.iter().any(|e| e.starts_with("PATH=")),
        "the container env is kept: {env:?}"
    );
    for k in ["uid", "euid", "suid"] {
        assert_eq!(r[k], 1000, "{k}");
    }
    for k in ["gid", "egid", "sgid"] {
        assert_eq!(r[k], 1001, "{k}");
    }
    let groups: Vec<u64> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap())
        .collect();
    assert!(
        groups.contains(&2000) && groups.contains(&3000),
        "{groups:?}"
    );
    assert_eq!(r["no_new_privs"], 1, "{r}");

    // --user with a uid only: the gid is 0.
    let r = exec(&t, &["--user", "1000", &id, "/checker", "report"])
        .assert_ok()
        .json_line();
    assert_eq!(
        (r["uid"].clone(), r["gid"].clone()),
        (json!(1000), json!(0))
    );
    assert_eq!(foo, ["FOO=bar"], "--env FOO=bar over FOO=from-config");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn cap_adds_a_capability() {
    let mut t = Ctx::new("execcap");
    let (id, _) = running(&mut t, "c");
    let admin = cap_bit("CAP_SYS_ADMIN");
    let r = exec(&t, &[&id, "/checker", "report"])
        .assert_ok()
        .json_line();
    assert_eq!(caps_of(&r, "CapEff") & admin, 0, "{}", r["caps"]);
    let r = exec(&t, &["--cap", "CAP_SYS_ADMIN", &id, "/checker", "report"])
        .assert_ok()
        .json_line();
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_ne!(
            caps_of(&r, set) & admin,
            0,
            "CAP_SYS_ADMIN not in {set}: {}",
            r["caps"]
        );
    }
    // The container's own capabilities are still there.
    let kill = cap_bit("CAP_KILL");
    assert_ne!(caps_of(&r, "CapEff") & kill, 0, "{}", r["caps"]);
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn process_json() {
    let mut t = Ctx::new("execprocess");
    let (id, _) = running(&mut t, "c");
    let marker = t.bundle.marker_env();
    let process = json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [2000]},
        "args": ["/checker", "report"],
        "env": ["PATH=/bin", "ONLY=this", marker],
        "cwd": "/tmp",
        "noNewPrivileges": true,
        "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"],
                         "permitted": ["CAP_CHOWN"]},
    });
    let file = t.rt.scratch("proc").join("process.json");
    std::fs::write(&file, process.to_string()).unwrap();
    let r = exec(&t, &["--process", file.to_str().unwrap(), &id])
        .assert_ok()
        .json_line();
    assert_eq!(r["uid"], 1000, "{r}");
    assert_eq!(r["gid"], 1000, "{r}");
    assert!(
        r["groups"].as_array().unwrap().contains(&json!(2000)),
        "{r}"
    );
    assert_eq!(r["cwd"], "/tmp", "{r}");
    assert_eq!(r["no_new_privs"], 1, "{r}");
    let mut env: Vec<&str> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .filter(|e| !e.starts_with("HOME="))
        .collect();
    env.sort();
    let mut want = vec!["PATH=/bin", "ONLY=this", marker.as_str()];
    want.sort();
    assert_eq!(
        env, want,
        "the process env is exactly the one in process.json"
    );
    assert_eq!(
        r["caps"]["CapBnd"].as_str().unwrap(),
        cap_mask(&["CAP_CHOWN"]),
        "{}",
        r["caps"]
    );
    // A process.json that is not valid: exec fails with 255.
    std::fs::write(&file, "{\"args\": ").unwrap();
    exec(&t, &["--process", file.to_str().unwrap(), &id]).assert_code(255);
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn detach_with_pid_file() {
    let mut t = Ctx::new("execdetach");
    let (id, init) = running(&mut t, "c");
    let start = std::time::Instant::now();
    let pid = exec_detached(&t, &id, &[], &["/checker", "sleep", "60"]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "exec --detach waited for the process"
    );
    assert!(sys::pid_exists(pid), "exec'd process {pid} is not running");
    assert_eq!(
        sys::ns_inode(&format!("/proc/{pid}/ns/pid")),
        sys::ns_inode(&format!("/proc/{init}/ns/pid"))
    );
    let procs = cgroup::procs(&cgroup::cgroup_dir_of(init, "pids"));
    assert!(
        procs.contains(&pid) && procs.contains(&init),
        "{procs:?} (init {init}, exec {pid})"
    );
    t.rt.delete_force(&id).assert_ok();
    assert!(
        sys::wait_pid_gone(pid, T),
        "exec'd process {pid} survived delete --force"
    );
    t.assert_no_leaks();
}

#[test]
fn tty_with_console_socket() {
    let mut t = Ctx::new("exectty");
    let (id, _) = running(&mut t, "c");
    let sock = ConsoleSocket::bind(&t.rt.scratch("sock").join("exec.sock"));
    let sock_path = sock.path().to_str().unwrap().to_string();
    exec_detached(
        &t,
        &id,
        &["--tty", "--console-socket", &sock_path],
        &["/checker", "report"],
    );
    let got = sock.receive(T);
    assert_eq!(got.fds.len(), 1, "one pty master over the console socket");
    let out = read_master_until(&got.fds[0], T, |b| {
        String::from_utf8_lossy(b).contains("}\r\n")
    });
    let out = String::from_utf8_lossy(&out).into_owned();
    let r =
        runtime::find_json_line(&out).unwrap_or_else(|| panic!("no report on the pty: {out:?}"));
    assert_eq!(
        r["tty"],
        json!({"stdin": true, "stdout": true, "stderr": true}),
        "{r}"
    );
    assert!(
        r["ttyname"]
            .as_str()
            .is_some_and(|n| n.starts_with("/dev/pts/")),
        "{r}"
    );
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn preserve_fds() {
    let mut t = Ctx::new("execfds");
    let (id, _) = running(&mut t, "c");
    let (_r, w) = pipe();
    let o =
        t.rt.cmd()
            .args(["exec", "--preserve-fds", "1", &id, "/checker", "ls-fds"])
            .extra_fds(vec![w])
            .run();
    let fds = o.assert_ok().json_line();
    assert!(
        fds["3"].as_str().is_some_and(|s| s.starts_with("pipe:")),
        "fd 3 not passed: {fds}"
    );
    let (_r, w) = pipe();
    let o =
        t.rt.cmd()
            .args(["exec", &id, "/checker", "ls-fds"])
            .extra_fds(vec![w])
            .run();
    let fds = o.assert_ok().json_line();
    assert!(
        fds.get("3").is_none(),
        "fd 3 leaked without --preserve-fds: {fds}"
    );
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn cgroup_option_joins_a_sub_cgroup() {
    let mut t = Ctx::new("execsubcg");
    let (id, init) = running(&mut t, "c");
    for h in cgroup::hierarchies() {
        let key = if h.v2 {
            String::new()
        } else {
            h.controllers[0].clone()
        };
        let parent = cgroup::cgroup_dir_of(init, &key);
        let sub = parent.join("sub");
        std::fs::create_dir(&sub).unwrap_or_else(|e| panic!("mkdir {}: {e}", sub.display()));
        if h.controllers.iter().any(|c| c == "cpuset") {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                std::fs::write(sub.join(f), cgroup::read_file(&parent, f)).unwrap();
            }
        }
    }
    let o = exec(
        &t,
        &[
            "--cgroup",
            "sub",
            &id,
            "/checker",
            "read",
            "/proc/self/cgroup",
        ],
    );
    let seen = cgroup::parse_proc_cgroup(o.assert_ok().json_line()["content"].as_str().unwrap());
    for (key, path) in cgroup::proc_cgroup(init) {
        assert_eq!(
            cgroup::path_in(&seen, &key),
            Some(format!("{path}/sub")),
            "{key:?}: {seen:?}"
        );
    }
    // delete removes the container's cgroup with the sub-cgroups in it.
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn failures_exit_255() {
    let mut t = Ctx::new("execfail");
    let (id, _) = running(&mut t, "run");
    let o = exec(&t, &[&id, "definitely-not-installed"]);
    o.assert_code(255);
    assert!(
        o.stderr.contains("executable file not found in $PATH"),
        "{o}"
    );
    let o = exec(&t, &[&id, "/no/such/binary"]);
    o.assert_code(255);
    assert!(
        o.stderr
            .to_lowercase()
            .contains("no such file or directory"),
        "{o}"
    );
    assert_eq!(
        t.rt.status(&id),
        "running",
        "a failed exec hurt the container"
    );
    let o = exec(&t, &["--cwd", "/no/such/dir", &id, "/checker", "exit", "0"]);
    o.assert_code(255);
    assert!(
        o.stderr
            .to_lowercase()
            .contains("no such file or directory"),
        "{o}"
    );
    // Only the init is left in the container.
    let init = t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32;
    let procs = cgroup::procs(&cgroup::cgroup_dir_of(init, "pids"));
    assert_eq!(procs, [init], "leftover processes from the failed execs");

    let o = exec(&t, &["no-such-container", "/checker", "exit", "0"]);
    o.assert_code(255);
    assert!(o.stderr.to_lowercase().contains("does not exist"), "{o}");

    t.bundle.checker(&["exit", "0"]);
    let stopped = t.id("stopped");
    t.rt.run_detached(&stopped, &t.bundle);
    t.rt.wait_status(&stopped, "stopped", T);
    let o = exec(&t, &[&stopped, "/checker", "exit", "0"]);
    o.assert_code(255);
    assert!(o.stderr.to_lowercase().contains("stopped"), "{o}");

    // No arguments at all for the process.
    exec(&t, &[&id]).assert_code(255);
    t.rt.delete(&stopped).assert_ok();
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}
