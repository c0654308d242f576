//! End-to-end tests of berth-shim: the real shim binary supervising real containers
//! through the runtime under test. Every test ends with no container state, mount,
//! cgroup or process left, and no shim process.

use berth_tests::shim::{self, Shim, STDIN, STDIN_EOF};
use berth_tests::{is_rfc3339_nano_utc, json, sys, Ctx, Value};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

fn sh(ctx: &mut Ctx, script: &str) {
    ctx.bundle.args(&["/bin/sh", "-c", script]);
}

/// Applets the tests need beyond the bundle's default set.
fn applets(ctx: &Ctx, names: &[&str]) {
    for n in names {
        let p = ctx.bundle.rootfs_path(&format!("bin/{n}"));
        if !p.exists() {
            ctx.bundle.symlink("busybox", &format!("/bin/{n}"));
        }
    }
}

/// A long-running container that exits 143 on SIGTERM (a pid-1 `sleep` would ignore it).
fn sleeper(ctx: &mut Ctx) {
    sh(ctx, "trap 'exit 143' TERM; sleep 100 & wait");
}

#[track_caller]
fn finish(ctx: &Ctx, s: &Shim) {
    s.assert_gone();
    ctx.assert_no_leaks();
    assert!(
        shim::shim_processes(s.dir.path()).is_empty(),
        "shim processes left"
    );
}

#[test]
fn logs_exit_code_and_partial_last_line() {
    let mut ctx = Ctx::new("shim-logs");
    // The container holds its output until told to go: shim.pid is removed when the
    // shim exits, which follows the container's exit, and on a loaded machine that
    // could come before the read below.
    applets(&ctx, &["sleep"]);
    sh(
        &mut ctx,
        "while ! test -e /tmp/go; do sleep 0.01; done; \
         echo hello; echo 'a \"q\" <x>' >&2; printf partial; exit 3",
    );
    let mut s = Shim::new(&ctx, "c", json!({}));
    let t0 = Instant::now();
    let rep = s.start(&ctx);
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(rep["shim_pid"].as_i64().unwrap() > 0);
    let pidfile = std::fs::read_to_string(s.path("shim.pid")).unwrap_or_default();
    std::fs::write(ctx.bundle.rootfs_path("tmp/go"), "").unwrap();
    let w = s.ctl(json!({"op": "wait"}));
    assert_eq!(w["exit_code"], 3, "{w}");
    assert_eq!(w["status"], "exited");
    assert!(is_rfc3339_nano_utc(w["finished_at"].as_str().unwrap()));
    assert!(is_rfc3339_nano_utc(w["started_at"].as_str().unwrap()));
    // the pid file held "pid starttime"
    let mut it = pidfile.split_whitespace();
    assert_eq!(
        it.next().and_then(|p| p.parse::<i32>().ok()),
        Some(s.pid),
        "{pidfile:?}"
    );
    assert!(it.next().and_then(|p| p.parse::<u64>().ok()).is_some());
    let recs = s.log_records("log.json");
    assert_eq!(recs.len(), 3, "{recs:?}");
    assert_eq!(recs[0]["log"], "hello\n");
    assert_eq!(recs[0]["stream"], "stdout");
    assert_eq!(recs[1]["log"], "a \"q\" <x>\n");
    assert_eq!(recs[1]["stream"], "stderr");
    assert_eq!(recs[2]["log"], "partial");
    for r in &recs {
        assert!(is_rfc3339_nano_utc(r["time"].as_str().unwrap()), "{r}");
    }
    let raw = std::fs::read_to_string(s.path("log.json")).unwrap();
    assert!(raw.contains("\\u003cx\\u003e"), "docker escapes <>: {raw}");
    let st = s.status();
    assert_eq!(st["exit_code"], 3);
    assert_eq!(st["oom_killed"], false);
    finish(&ctx, &s);
    assert!(!s.path("shim.pid").exists());
}

#[test]
fn create_error_is_the_runtimes_message() {
    let mut ctx = Ctx::new("shim-err");
    ctx.bundle.args(&["/no/such/binary"]);
    let mut s = Shim::new(&ctx, "c", json!({}));
    let (code, v) = s.launch(&ctx);
    assert_eq!(code, 1, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("/no/such/binary"), "{e}");
    // Why it failed, typed (docker's 127), from the runtime's log line.
    if !berth_tests::skip_on_runc("runc's log has no kind") {
        assert_eq!(v["kind"], "not-found", "{v}");
    }
    assert!(
        !e.contains("\"level\""),
        "the message, not the log line: {e}"
    );
    assert!(sys::wait_for(T, || shim::shim_processes(s.dir.path())
        .is_empty()
        .then_some(()))
    .is_some());
    ctx.assert_no_leaks();
}

#[test]
fn config_errors_name_the_field() {
    let ctx = Ctx::new("shim-cfg");
    let mut s = Shim::new(&ctx, "c", json!({"bogus_field": 1}));
    let (code, v) = s.launch(&ctx);
    assert_eq!(code, 1);
    assert!(v["error"].as_str().unwrap().contains("bogus_field"), "{v}");
    let mut s = Shim::new(&ctx, "c", json!({"restart": {"policy": "sometimes"}}));
    let (code, v) = s.launch(&ctx);
    assert_eq!(code, 1);
    assert!(
        v["error"].as_str().unwrap().contains("restart.policy"),
        "{v}"
    );
    ctx.assert_no_leaks();
}

#[test]
fn stop_is_not_restarted_and_signals_are_128_plus_n() {
    let mut ctx = Ctx::new("shim-stop");
    sleeper(&mut ctx);
    let mut s = Shim::new(&ctx, "c", json!({"restart": {"policy": "always"}}));
    s.start(&ctx);
    // the caller's session going away must not disturb the shim
    unsafe { libc::kill(s.pid, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(s.ctl(json!({"op": "status"}))["status"], "running");
    let w = s.ctl(json!({"op": "stop", "signal": 15, "timeout_s": 10}));
    assert_eq!(w["exit_code"], 143, "{w}");
    assert_eq!(w["user_stopped"], true);
    assert_eq!(w["restart_count"], 0);
    finish(&ctx, &s);
}

#[test]
fn stop_escalates_to_sigkill() {
    let mut ctx = Ctx::new("shim-stopkill");
    // the init of a pid namespace ignores SIGTERM without a handler
    ctx.bundle.args(&["/bin/sleep", "100"]);
    let mut s = Shim::new(&ctx, "c", json!({}));
    s.start(&ctx);
    let t0 = Instant::now();
    let w = s.ctl(json!({"op": "stop", "signal": 10, "timeout_s": 1}));
    // SIGUSR1 is ignored by a pid-1 sleep, so SIGKILL comes after the timeout
    assert_eq!(w["exit_code"], 137, "{w}");
    assert!(t0.elapsed() >= Duration::from_millis(900));
    finish(&ctx, &s);
}

#[test]
fn create_only_then_start_and_kill() {
    let mut ctx = Ctx::new("shim-start");
    ctx.bundle.args(&["/bin/sleep", "100"]);
    let mut s = Shim::new(&ctx, "c", json!({"start": false}));
    s.start(&ctx);
    assert_eq!(s.status()["status"], "created");
    assert_eq!(ctx.rt.status(&s.id), "created");
    let r = s.ctl(json!({"op": "start"}));
    assert_eq!(r["pid"], s.init_pid, "{r}");
    assert_eq!(s.status()["status"], "running");
    assert!(s.ctl(json!({"op": "start"}))["error"].is_string());
    assert_eq!(s.ctl(json!({"op": "kill", "signal": 9})), json!({}));
    let w = s.ctl(json!({"op": "wait"}));
    assert_eq!(w["exit_code"], 137);
    finish(&ctx, &s);
}

#[test]
fn log_rotation_under_a_fast_writer() {
    let mut ctx = Ctx::new("shim-rotate");
    applets(&ctx, &["seq"]);
    sh(&mut ctx, "seq 1 300000; printf end");
    let mut s = Shim::new(&ctx, "c", json!({}));
    // the log lives in this shim's dir, with docker-like naming
    let cfg_path = s.path("shim.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["log"] = json!({"path": s.path("c-json.log"), "max_size": 200000, "max_files": 3});
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    s.start(&ctx);
    let w = s.ctl(json!({"op": "wait"}));
    assert_eq!(w["exit_code"], 0, "{w}");
    for name in ["c-json.log", "c-json.log.1", "c-json.log.2"] {
        let len = std::fs::metadata(s.path(name))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 0 && len <= 200000, "{name}: {len}");
    }
    assert!(!s.path("c-json.log.3").exists());
    // the newest file ends with the last lines, in order, nothing torn
    let recs = s.log_records("c-json.log");
    let last = recs.last().unwrap();
    assert_eq!(last["log"], "end");
    assert_eq!(recs[recs.len() - 2]["log"], "300000\n");
    let older = s.log_records("c-json.log.1");
    let a: u64 = older.last().unwrap()["log"]
        .as_str()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let b: u64 = recs[0]["log"].as_str().unwrap().trim().parse().unwrap();
    assert_eq!(a + 1, b, "rotation lost or duplicated lines");
    finish(&ctx, &s);
}

#[test]
fn long_lines_are_split_like_docker() {
    let mut ctx = Ctx::new("shim-long");
    applets(&ctx, &["head", "tr"]);
    sh(&mut ctx, "head -c 40000 /dev/zero | tr '\\0' x; echo");
    let mut s = Shim::new(&ctx, "c", json!({}));
    s.start(&ctx);
    assert_eq!(s.ctl(json!({"op": "wait"}))["exit_code"], 0);
    let recs = s.log_records("log.json");
    let lens: Vec<usize> = recs
        .iter()
        .map(|r| r["log"].as_str().unwrap().len())
        .collect();
    assert_eq!(lens, vec![16384, 16384, 40000 - 32768 + 1], "{lens:?}");
    assert!(recs[2]["log"].as_str().unwrap().ends_with('\n'));
    finish(&ctx, &s);
}

#[test]
fn attach_stdin_stdout_and_detach_keys() {
    let mut ctx = Ctx::new("shim-attach");
    ctx.bundle.args(&["/bin/cat"]);
    let mut s = Shim::new(&ctx, "c", json!({"stdin": true}));
    s.start(&ctx);
    let mut watcher = s.attach(
        "attach.sock",
        json!({"stdin": false, "stdout": true, "stderr": true}),
    );
    let mut a = s.attach("attach.sock", json!({"stdin": true, "detach_keys": "a,b"}));
    std::thread::sleep(Duration::from_millis(100));
    a.send(STDIN, b"hello\n");
    a.read_until("hello\n", T);
    watcher.read_until("hello\n", T);
    // detach with the custom keys: the shim closes this client; the container lives on
    a.send(STDIN, b"xa");
    a.send(STDIN, b"b");
    assert!(a.closed_within(T), "detach keys did not close the client");
    watcher.read_until("x", T);
    // default keys ctrl-p,ctrl-q
    let mut d = s.attach("attach.sock", json!({"stdin": true}));
    d.send(STDIN, &[16, 17]);
    assert!(d.closed_within(T));
    assert_eq!(s.status()["status"], "running");
    // stdin EOF from a client ends cat; attached clients get the exit frame
    let mut e = s.attach("attach.sock", json!({"stdin": true}));
    e.send(STDIN, b"bye\n");
    e.send(STDIN_EOF, b"");
    let (out, code) = watcher.read_to_exit(T);
    assert!(out.contains("bye"), "{out:?}");
    assert_eq!(code, Some(0));
    assert_eq!(s.log_text("stdout"), "hello\nxbye\n");
    finish(&ctx, &s);
}

#[test]
fn tty_mode_with_resize() {
    let mut ctx = Ctx::new("shim-tty");
    applets(&ctx, &["stty"]);
    ctx.bundle.terminal(true);
    sh(&mut ctx, "read x; stty size; exit 5");
    let mut s = Shim::new(&ctx, "c", json!({"terminal": true, "stdin": true}));
    s.start(&ctx);
    let mut a = s.attach("attach.sock", json!({"stdin": true}));
    a.resize(33, 101);
    assert_eq!(
        s.ctl(json!({"op": "resize", "sid": null, "rows": 33, "cols": 101})),
        json!({})
    );
    a.send(STDIN, b"go\r");
    let out = a.read_until("33 101", T);
    assert!(out.contains("33 101"), "{out:?}");
    let (_, code) = a.read_to_exit(T);
    assert_eq!(code, Some(5));
    let recs = s.log_records("log.json");
    assert!(recs.iter().all(|r| r["stream"] == "stdout"));
    assert!(s.log_text("stdout").contains("33 101"));
    finish(&ctx, &s);
}

fn write_process(
    ctx: &Ctx,
    s: &Shim,
    name: &str,
    args: &[&str],
    terminal: bool,
) -> std::path::PathBuf {
    let mut p = ctx.bundle.config["process"].clone();
    p["args"] = json!(args);
    p["terminal"] = json!(terminal);
    let path = s.path(name);
    std::fs::write(&path, p.to_string()).unwrap();
    path
}

#[test]
fn exec_sessions_with_exit_codes() {
    let mut ctx = Ctx::new("shim-exec");
    sleeper(&mut ctx);
    let mut s = Shim::new(&ctx, "c", json!({}));
    s.start(&ctx);
    // non-tty with stdin
    let p = write_process(
        &ctx,
        &s,
        "p1.json",
        &["/bin/sh", "-c", "read x; echo got $x; echo e >&2; exit 7"],
        false,
    );
    let r = s.ctl(json!({"op": "exec", "sid": "one", "process": p, "terminal": false, "stdin": true, "detach": false}));
    assert!(r["socket"].is_string(), "{r}");
    let mut a = s.attach("exec-one.sock", json!({"stdin": true}));
    std::thread::sleep(Duration::from_millis(50));
    let st = s.ctl(json!({"op": "exec_start", "sid": "one"}));
    assert!(st["pid"].as_i64().unwrap() > 0, "{st}");
    a.send(STDIN, b"it\n");
    let (out, code) = a.read_to_exit(T);
    assert!(out.contains("got it") && out.contains("e\n"), "{out:?}");
    assert_eq!(code, Some(7));
    assert_eq!(
        s.ctl(json!({"op": "exec_wait", "sid": "one"})),
        json!({"exit_code": 7})
    );
    assert_eq!(s.status()["execs"]["one"]["exit_code"], 7);
    // exec output does not go to the container log
    assert!(!s.log_text("stdout").contains("got"));
    // tty exec, waited through the control socket
    let p = write_process(
        &ctx,
        &s,
        "p2.json",
        &["/bin/sh", "-c", "test -t 0 && exit 4"],
        true,
    );
    s.ctl(json!({"op": "exec", "sid": "two", "process": p, "terminal": true, "stdin": false, "detach": true}));
    s.ctl(json!({"op": "exec_start", "sid": "two"}));
    assert_eq!(
        s.ctl(json!({"op": "exec_wait", "sid": "two"})),
        json!({"exit_code": 4})
    );
    // a failing exec reports the runtime's error
    let p = write_process(&ctx, &s, "p3.json", &["/nonexistent"], false);
    s.ctl(json!({"op": "exec", "sid": "three", "process": p}));
    let r = s.ctl(json!({"op": "exec_start", "sid": "three"}));
    assert!(
        r["error"].as_str().unwrap_or("").contains("nonexistent"),
        "{r}"
    );
    if !berth_tests::skip_on_runc("runc's log has no kind") {
        assert_eq!(r["kind"], "not-found", "{r}");
    }
    assert!(s.ctl(json!({"op": "exec_wait", "sid": "nope"}))["error"].is_string());
    assert_eq!(
        s.ctl(json!({"op": "stop", "timeout_s": 5}))["exit_code"],
        143
    );
    finish(&ctx, &s);
}

#[test]
fn restart_on_failure_with_backoff() {
    let mut ctx = Ctx::new("shim-restart");
    sh(&mut ctx, "echo run; exit 2");
    let mut s = Shim::new(
        &ctx,
        "c",
        json!({"restart": {"policy": "on-failure", "max_retries": 3}}),
    );
    let t0 = Instant::now();
    s.start(&ctx);
    let st = s.wait_status(T, |v| v["status"] == "exited" && v["restart_count"] == 3);
    s.assert_gone();
    // backoff: 100 + 200 + 400 ms
    assert!(
        t0.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(st["exit_code"], 2);
    assert_eq!(s.log_text("stdout"), "run\n".repeat(4));
    finish(&ctx, &s);
}

#[test]
fn restart_always_until_stopped() {
    let mut ctx = Ctx::new("shim-always");
    sh(&mut ctx, "echo run; exit 0");
    let mut s = Shim::new(&ctx, "c", json!({"restart": {"policy": "always"}}));
    s.start(&ctx);
    s.wait_status(T, |v| v["restart_count"].as_u64().unwrap_or(0) >= 2);
    let w = s.ctl(json!({"op": "stop", "timeout_s": 5}));
    assert_eq!(w["user_stopped"], true, "{w}");
    s.assert_gone();
    let st = s.status();
    assert_eq!(st["status"], "exited");
    let n = st["restart_count"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.status()["restart_count"].as_u64().unwrap(), n);
    finish(&ctx, &s);
}

#[test]
fn healthcheck_turns_unhealthy_then_healthy() {
    let mut ctx = Ctx::new("shim-health");
    sleeper(&mut ctx);
    let mut s = Shim::new(
        &ctx,
        "c",
        json!({"healthcheck": {"test": ["CMD-SHELL", "echo probing; test -e /tmp/ok"],
               "interval_ns": 150_000_000u64, "timeout_ns": 5_000_000_000u64, "retries": 2}}),
    );
    s.start(&ctx);
    assert_eq!(s.status()["health"]["Status"], "starting");
    let st = s.wait_status(T, |v| v["health"]["Status"] == "unhealthy");
    assert!(st["health"]["FailingStreak"].as_u64().unwrap() >= 2);
    let log = st["health"]["Log"].as_array().unwrap();
    assert_eq!(log.last().unwrap()["ExitCode"], 1);
    assert_eq!(log.last().unwrap()["Output"], "probing\n");
    assert!(is_rfc3339_nano_utc(log[0]["Start"].as_str().unwrap()));
    assert!(is_rfc3339_nano_utc(log[0]["End"].as_str().unwrap()));
    std::fs::write(ctx.bundle.rootfs_path("tmp/ok"), "").unwrap();
    let st = s.wait_status(T, |v| v["health"]["Status"] == "healthy");
    assert_eq!(st["health"]["FailingStreak"], 0);
    let st = s.wait_status(T, |v| {
        v["health"]["Log"].as_array().is_some_and(|l| l.len() == 5)
    });
    assert_eq!(st["health"]["Log"].as_array().unwrap().len(), 5);
    assert_eq!(
        s.ctl(json!({"op": "stop", "timeout_s": 5}))["exit_code"],
        143
    );
    finish(&ctx, &s);
}

#[test]
fn healthcheck_timeout_and_start_period() {
    let mut ctx = Ctx::new("shim-health-to");
    sleeper(&mut ctx);
    let mut s = Shim::new(
        &ctx,
        "c",
        json!({"healthcheck": {"test": ["CMD", "/bin/sleep", "10"],
               "interval_ns": 100_000_000u64, "timeout_ns": 300_000_000u64, "retries": 1,
               "start_period_ns": 60_000_000_000u64, "start_interval_ns": 100_000_000u64}}),
    );
    s.start(&ctx);
    let st = s.wait_status(T, |v| {
        v["health"]["Log"].as_array().is_some_and(|l| l.len() >= 2)
    });
    let h = &st["health"];
    // failures inside the start period do not count
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0);
    assert_eq!(h["Log"][0]["ExitCode"], -1);
    assert_eq!(
        h["Log"][0]["Output"],
        "Health check exceeded timeout (300ms)"
    );
    assert_eq!(
        s.ctl(json!({"op": "stop", "timeout_s": 5}))["exit_code"],
        143
    );
    finish(&ctx, &s);
}

#[test]
fn oom_kill_is_detected() {
    let mut ctx = Ctx::new("shim-oom");
    if !berth_tests::cgroup::has_v1_controller("memory")
        && !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
    {
        berth_tests::skip(berth_tests::Skip::Host("no memory controller"));
        return;
    }
    ctx.bundle.checker(&["alloc", "256"]);
    let mut mem = json!({"limit": 32u64 << 20});
    if berth_tests::cgroup::has_memsw() {
        mem["swap"] = json!(32u64 << 20);
    }
    ctx.bundle.set_linux("resources", json!({"memory": mem}));
    let mut s = Shim::new(&ctx, "c", json!({}));
    s.start(&ctx);
    let w = s.ctl(json!({"op": "wait"}));
    assert_eq!(w["exit_code"], 137, "{w}");
    assert_eq!(w["oom_killed"], true, "{w}");
    finish(&ctx, &s);
}

#[test]
fn exit_hook_runs_after_the_status_is_written() {
    let mut ctx = Ctx::new("shim-hook");
    sh(&mut ctx, "exit 9");
    let dir = berth_tests::sys::TempDir::new("hook");
    let out = dir.join("hook.out");
    let mut s = Shim::new(&ctx, "c", json!({}));
    let status = s.path("status.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("shim.json")).unwrap()).unwrap();
    cfg["exit_hook"] = json!([
        "/bin/sh",
        "-c",
        format!(
            "cat {} > {}; echo \" $BERTH_EXIT_CODE\" >> {}",
            status.display(),
            out.display(),
            out.display()
        )
    ]);
    std::fs::write(s.path("shim.json"), cfg.to_string()).unwrap();
    s.start(&ctx);
    s.assert_gone();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("\"exit_code\":9") && text.trim_end().ends_with(" 9"),
        "{text}"
    );
    finish(&ctx, &s);
}

#[test]
fn shim_killed_container_survives_and_is_cleaned_by_the_runtime() {
    let mut ctx = Ctx::new("shim-kill9");
    ctx.bundle.args(&["/bin/sleep", "100"]);
    let mut s = Shim::new(&ctx, "c", json!({}));
    s.start(&ctx);
    unsafe { libc::kill(s.pid, libc::SIGKILL) };
    assert!(sys::wait_pid_gone(s.pid, T));
    assert!(sys::pid_exists(s.init_pid));
    assert_eq!(ctx.rt.status(&s.id), "running");
    ctx.rt.kill(&s.id, "KILL").assert_ok();
    ctx.rt.wait_status(&s.id, "stopped", T);
    ctx.rt.delete(&s.id).assert_ok();
    ctx.assert_no_leaks();
    assert!(shim::shim_processes(s.dir.path()).is_empty());
}

#[test]
fn caller_killed_while_waiting_for_the_report() {
    let mut ctx = Ctx::new("shim-caller");
    sleeper(&mut ctx);
    let mut s = Shim::new(&ctx, "c", json!({}));
    let mut child = std::process::Command::new(shim::shim_bin())
        .arg("--dir")
        .arg(s.dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the caller once the supervisor exists (its pid file is written after the
    // fork, before the container is created): a fixed delay could land before the
    // fork on a loaded machine and kill the only process there is.
    sys::wait_for(T, || s.path("shim.pid").exists().then_some(()))
        .expect("the supervisor wrote no shim.pid");
    let _ = child.kill();
    let _ = child.wait();
    let st = s.wait_status(T, |v| v["status"] == "running");
    s.pid = st["shim_pid"].as_i64().unwrap() as i32;
    s.init_pid = st["pid"].as_i64().unwrap() as i32;
    ctx.rt.track_pid(s.init_pid);
    assert_eq!(
        s.ctl(json!({"op": "stop", "timeout_s": 5}))["exit_code"],
        143
    );
    finish(&ctx, &s);
}

/// Whether the runtime's `create` of `id` runs: a process of our pid namespace with
/// the runtime's create command line for it (the container's init, forked by create
/// without an exec, has the same command line but lives in the container's pid
/// namespace).
fn create_running(ctx: &Ctx, id: &str) -> bool {
    let ours = std::fs::read_link("/proc/self/ns/pid").ok();
    let bin = ctx.rt.bin.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .any(|e| {
            let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmd.split(|&b| b == 0).collect();
            args.first() == Some(&bin.as_bytes())
                && args.contains(&b"create".as_slice())
                && args.contains(&id.as_bytes())
                && std::fs::read_link(e.path().join("ns/pid")).ok() == ours
        })
}

#[test]
fn shim_killed_during_create() {
    let mut ctx = Ctx::new("shim-kill-create");
    ctx.bundle.args(&["/bin/sleep", "100"]);
    let mut s = Shim::new(&ctx, "c", json!({}));
    let mut child = std::process::Command::new(shim::shim_bin())
        .arg("--dir")
        .arg(s.dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // kill the supervisor as soon as its pid file appears (create is under way)
    let pid = sys::wait_for(T, || {
        std::fs::read_to_string(s.path("shim.pid"))
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<i32>().ok())
    })
    .unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = child.wait();
    s.pid = pid;
    assert!(sys::wait_pid_gone(pid, T));
    // the runtime's `create` runs on (it is not the shim): wait for it to end, not for
    // a time a loaded machine can outlast (a later create would leave a container
    // behind the delete below); then whatever state the container reached, the
    // runtime cleans it up
    assert!(
        sys::wait_for(T, || (!create_running(&ctx, &s.id)).then_some(())).is_some(),
        "the runtime's create of {} did not end",
        s.id
    );
    let _ = ctx
        .rt
        .cmd()
        .args(["delete", "--force", &s.id])
        .reaping()
        .run();
    if let Ok(p) = std::fs::read_to_string(s.path("init.pid")) {
        if let Ok(p) = p.trim().parse() {
            ctx.rt.track_pid(p);
        }
    }
    ctx.assert_no_leaks();
    assert!(shim::shim_processes(s.dir.path()).is_empty());
}

#[test]
fn wait_from_many_clients_and_status_while_running() {
    let mut ctx = Ctx::new("shim-wait");
    // It exits when told to, once the waits are sent: a fixed lifetime could end
    // before the status request or the waiters' connects on a loaded machine.
    applets(&ctx, &["sleep"]);
    sh(&mut ctx, "while ! test -e /tmp/go; do sleep 0.01; done");
    let mut s = Shim::new(&ctx, "c", json!({}));
    s.start(&ctx);
    let st = s.ctl(json!({"op": "status"}));
    assert_eq!(st["status"], "running");
    assert_eq!(st["pid"], s.init_pid);
    let bad = s.ctl(json!({"op": "frobnicate"}));
    assert!(bad["error"].is_string());
    let dir = s.dir.path().to_owned();
    let (sent_tx, sent) = std::sync::mpsc::channel();
    let waits: Vec<_> = (0..3)
        .map(|_| {
            let d = dir.clone();
            let sent_tx = sent_tx.clone();
            std::thread::spawn(move || {
                use std::io::{BufRead, Write};
                let mut c = std::os::unix::net::UnixStream::connect(d.join("ctl.sock")).unwrap();
                writeln!(c, "{}", json!({"op": "wait"})).unwrap();
                let _ = sent_tx.send(());
                let mut l = String::new();
                std::io::BufReader::new(c).read_line(&mut l).unwrap();
                serde_json::from_str::<Value>(&l).unwrap()
            })
        })
        .collect();
    for _ in 0..3 {
        sent.recv_timeout(T)
            .expect("a waiter could not send its wait");
    }
    std::fs::write(ctx.bundle.rootfs_path("tmp/go"), "").unwrap();
    for w in waits {
        assert_eq!(w.join().unwrap()["exit_code"], 0);
    }
    finish(&ctx, &s);
}
