//! `berth` container verbs end to end: run/create/start/stop/kill/rm/ps/logs/exec/
//! attach/inspect/wait/pause/unpause/rename on real containers of a locally built
//! busybox image, through berth-shim and berth-runtime.

use berth_tests::containers::*;
use berth_tests::manager::Berth;
use std::time::{Duration, Instant};

/// Wait until the init of container `name` has handlers for `sigs` (its shell ran
/// `trap`): a signal that reaches a namespace init before that is dropped, so sending
/// it after a fixed delay could lose it on a loaded machine.
fn wait_trapped(b: &Berth, name: &str, sigs: &[i32]) {
    let pid: i32 = b
        .inspect_format(name, "{{.State.Pid}}")
        .parse()
        .unwrap_or_else(|e| panic!("{name}'s pid: {e}"));
    let mask = sigs
        .iter()
        .fold(0, |m, s| m | berth_tests::sys::sig_bit(*s));
    assert!(
        berth_tests::sys::wait_caught(pid, mask, Duration::from_secs(20)),
        "{name} (pid {pid}) never trapped {sigs:?}"
    );
}

#[test]
fn run_exit_codes_and_rm() {
    let b = Berth::with_busybox("busybox");
    let out = b.run(&["run", "--rm", "busybox", "echo", "hello"]);
    out.assert_ok();
    assert_eq!(out.stdout, "hello\n");
    b.run(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])
        .assert_code(3);
    let out = b.run(&["run", "--rm", "busybox", "no-such-command"]);
    out.assert_code(127);
    assert!(out.stderr.contains("not found"), "{out}");
    b.run(&["run", "--rm", "busybox", "/etc"]).assert_code(126);
    let out = b.run(&["run", "--rm", "--network", "no-such-net", "busybox", "true"]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("network no-such-net not found"),
        "{out}"
    );
    b.run(&["run", "--rm", "no-such-image", "true"])
        .assert_code(125);
    // stderr of the container goes to our stderr
    let out = b.run(&["run", "--rm", "busybox", "sh", "-c", "echo oops >&2"]);
    assert_eq!(out.stderr, "oops\n");
    assert!(b.run(&["ps", "-a", "-q"]).stdout.trim().is_empty());
    b.assert_no_leaks();
}

#[test]
fn env_workdir_user_hostname() {
    let b = Berth::with_busybox("busybox");
    let envf = b.scratch("env").join("list");
    std::fs::write(&envf, "# comment\nFROMFILE=yes\nA=file\n").unwrap();
    let out = b.run(&[
        "run",
        "--rm",
        "-e",
        "A=flag",
        "--env-file",
        &envf.to_string_lossy(),
        "-w",
        "/new/dir",
        "--hostname",
        "boat",
        "busybox",
        "sh",
        "-c",
        "echo $A $FROMFILE $HOSTNAME $HOME; pwd; hostname",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "flag yes boat /root\n/new/dir\nboat\n", "{out}");
    let out = b.run(&[
        "run",
        "--rm",
        "-u",
        "berthuser",
        "busybox",
        "sh",
        "-c",
        "id; echo $HOME",
    ]);
    assert_eq!(
        out.stdout, "uid=1000(berthuser) gid=1000(berthuser) groups=10(wheel)\n/home/berthuser\n",
        "{out}"
    );
    let out = b.run(&["run", "--rm", "-u", "1000:10", "busybox", "id", "-u"]);
    assert_eq!(out.stdout.trim(), "1000");
    let out = b.run(&["run", "--rm", "-u", "1000:10", "busybox", "id", "-g"]);
    assert_eq!(out.stdout.trim(), "10");
    b.run(&["run", "--rm", "-u", "nosuchuser", "busybox", "true"])
        .assert_code(125);
    let out = b.run(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"]);
    assert_eq!(out.stdout, "a b\n");
    b.assert_no_leaks();
}

#[test]
fn mounts_volumes_tmpfs_readonly() {
    let b = Berth::with_busybox("busybox");
    let host = b.scratch("bind");
    std::fs::write(host.join("in"), "from host").unwrap();
    let h = host.to_string_lossy().to_string();
    let out = b.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/data"),
        "busybox",
        "sh",
        "-c",
        "cat /data/in; echo hi > /data/out",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "from host");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "hi\n");
    let out = b.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/data:ro"),
        "busybox",
        "sh",
        "-c",
        "echo x > /data/x",
    ]);
    assert_ne!(out.code, Some(0), "{out}");
    let out = b.run(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,source={h},target=/m,readonly"),
        "busybox",
        "cat",
        "/m/in",
    ]);
    assert_eq!(out.stdout, "from host");
    // named volume persists
    b.run(&[
        "run",
        "--rm",
        "-v",
        "vol1:/v",
        "busybox",
        "sh",
        "-c",
        "echo kept > /v/f",
    ])
    .assert_ok();
    let out = b.run(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=vol1,target=/w",
        "busybox",
        "cat",
        "/w/f",
    ]);
    assert_eq!(out.stdout, "kept\n");
    // anonymous volume: removed by rm -v
    b.run(&[
        "run", "--name", "anon", "-v", "/anon", "busybox", "touch", "/anon/x",
    ])
    .assert_ok();
    let vol = b.inspect_format("anon", "{{json .Mounts}}");
    assert!(vol.contains("\"Type\":\"volume\""), "{vol}");
    let before = b.run(&["volume", "ls", "-q"]).stdout;
    b.run(&["rm", "-v", "anon"]).assert_ok();
    let after = b.run(&["volume", "ls", "-q"]).stdout;
    assert_eq!(
        before.lines().count(),
        after.lines().count() + 1,
        "{before} / {after}"
    );
    assert!(after.contains("vol1"));
    // tmpfs
    let out = b.run(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=1m",
        "--mount",
        "type=tmpfs,target=/u",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /(t|u) ' /proc/mounts",
    ]);
    assert!(
        out.stdout.contains("tmpfs /t tmpfs") && out.stdout.contains("tmpfs /u tmpfs"),
        "{out}"
    );
    // read-only rootfs
    let out = b.run(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("Read-only"), "{out}");
    b.run(&["volume", "rm", "vol1"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn limits_and_capabilities() {
    let b = Berth::with_busybox("busybox");
    let out = b.run(&["run", "--rm", "--memory", "64m", "--pids-limit", "42", "busybox", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"]);
    out.assert_ok();
    assert_eq!(out.stdout, "67108864\n42\n", "{out}");
    let cap = |args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["busybox", "grep", "CapEff", "/proc/self/status"]);
        b.run(&a)
            .assert_ok()
            .stdout
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(cap(&[]), "00000000a80425fb");
    assert_eq!(cap(&["--cap-drop", "ALL"]), "0000000000000000");
    assert_eq!(
        cap(&["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"]),
        "0000000000001000"
    );
    let all = cap(&["--privileged"]);
    assert!(u64::from_str_radix(&all, 16).unwrap() > 0xa80425fb, "{all}");
    let out = b.run(&[
        "run",
        "--rm",
        "--security-opt",
        "apparmor=x",
        "busybox",
        "true",
    ]);
    out.assert_code(125);
    assert!(out.stderr.contains("not supported"), "{out}");
    b.assert_no_leaks();
}

#[test]
fn detached_logs_ps_inspect_stop() {
    let b = Berth::with_busybox("busybox");
    let id = b
        .run(&[
            "run",
            "-d",
            "--name",
            "web",
            "--label",
            "tier=front",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; trap 'echo term; exit 7' TERM; while true; do sleep 0.1; done",
        ])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    assert!(berth_tests::wait_until(Duration::from_secs(20), || {
        let l = b.run(&["logs", "web"]);
        l.stdout.contains("out") && l.stderr.contains("err")
    }));
    let logs = b.run(&["logs", "web"]);
    assert_eq!(logs.stdout, "out\n");
    assert_eq!(logs.stderr, "err\n");
    let t = b.run(&["logs", "-t", "--tail", "1", "web"]);
    assert!(t.stdout.is_empty() || t.stdout.contains('T'), "{t}");
    assert_eq!(b.run(&["logs", "--since", "10m", "web"]).stdout, "out\n");
    // ps
    let ps = b.run(&["ps"]).assert_ok().stdout.clone();
    assert!(ps.starts_with("CONTAINER ID"), "{ps}");
    assert!(
        ps.contains(&id[..12]) && ps.contains("Up ") && ps.contains("web"),
        "{ps}"
    );
    assert_eq!(b.run(&["ps", "-q"]).stdout.trim(), &id[..12]);
    assert_eq!(b.run(&["ps", "-q", "--no-trunc"]).stdout.trim(), id);
    assert_eq!(
        b.run(&["ps", "--format", "{{.Names}} {{.Image}}"]).stdout,
        "web busybox\n"
    );
    let j: serde_json::Value =
        serde_json::from_str(b.run(&["ps", "--format", "{{json .}}"]).stdout.trim()).unwrap();
    assert_eq!(j["Names"], "web");
    assert_eq!(
        b.run(&["ps", "--filter", "label=tier=front", "-q"])
            .stdout
            .trim(),
        &id[..12]
    );
    assert!(b
        .run(&["ps", "--filter", "name=nomatch", "-q"])
        .stdout
        .trim()
        .is_empty());
    // inspect
    let v = b.run(&["inspect", "web"]).assert_ok().json();
    let c = &v[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/web");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert!(c["State"]["Pid"].as_i64().unwrap() > 0);
    assert_eq!(c["Path"], "sh");
    assert_eq!(c["GraphDriver"]["Name"], "overlay2");
    assert_eq!(c["Config"]["Labels"]["tier"], "front");
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    // logs -f follows until the container stops
    // the TERM trap comes after the echoes the wait above saw
    wait_trapped(&b, "web", &[libc::SIGTERM]);
    let follow = std::thread::scope(|s| {
        let h = s.spawn(|| b.run(&["logs", "-f", "web"]));
        std::thread::sleep(Duration::from_millis(300));
        let t0 = Instant::now();
        b.run(&["stop", "-t", "5", "web"]).assert_ok();
        assert!(
            t0.elapsed() < Duration::from_secs(4),
            "stop waited for the timeout"
        );
        h.join().unwrap()
    });
    assert!(
        follow.stdout.contains("out\n") && follow.stdout.contains("term\n"),
        "{follow}"
    );
    assert_eq!(b.inspect_format("web", "{{.State.ExitCode}}"), "7");
    assert_eq!(b.inspect_format("web", "{{.State.Status}}"), "exited");
    assert!(b.run(&["ps", "-a"]).stdout.contains("Exited (7)"));
    assert_eq!(b.run(&["wait", "web"]).stdout.trim(), "7");
    // restart runs it again
    b.run(&["restart", "web"]).assert_ok();
    assert_eq!(b.inspect_format("web", "{{.State.Running}}"), "true");
    // rm refuses a running container without -f
    let out = b.run(&["rm", "web"]);
    assert_ne!(out.code, Some(0));
    b.run(&["rm", "-f", "web"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn stop_timeout_signal_and_kill() {
    let b = Berth::with_busybox("busybox");
    // ignores TERM: stop -t 1 kills it after a second
    b.run(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ])
    .assert_ok();
    let t0 = Instant::now();
    b.run(&["stop", "-t", "1", "stubborn"]).assert_ok();
    let el = t0.elapsed();
    assert!(
        el >= Duration::from_millis(900) && el < Duration::from_secs(5),
        "{el:?}"
    );
    assert_eq!(b.inspect_format("stubborn", "{{.State.ExitCode}}"), "137");
    // --stop-signal
    b.run(&[
        "run",
        "-d",
        "--name",
        "usr1",
        "--stop-signal",
        "USR1",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 9' USR1; while true; do sleep 0.1; done",
    ])
    .assert_ok();
    wait_trapped(&b, "usr1", &[libc::SIGUSR1]);
    b.run(&["stop", "usr1"]).assert_ok();
    assert_eq!(b.inspect_format("usr1", "{{.State.ExitCode}}"), "9");
    // kill -s
    // (an init without a handler ignores TERM, as in docker: trap it)
    b.run(&[
        "run",
        "-d",
        "--name",
        "kk",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 5' TERM; while true; do sleep 0.1; done",
    ])
    .assert_ok();
    wait_trapped(&b, "kk", &[libc::SIGTERM]);
    b.run(&["kill", "-s", "TERM", "kk"]).assert_ok();
    assert_eq!(b.run(&["wait", "kk"]).stdout.trim(), "5");
    assert_ne!(
        b.run(&["kill", "kk"]).code,
        Some(0),
        "kill of a stopped container"
    );
    for c in ["stubborn", "usr1", "kk"] {
        b.run(&["rm", c]).assert_ok();
    }
    b.assert_no_leaks();
}

#[test]
fn restart_policy_and_health() {
    let b = Berth::with_busybox("busybox");
    b.run(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ])
    .assert_ok();
    assert!(
        berth_tests::wait_until(Duration::from_secs(15), || {
            b.inspect_format("flaky", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
        }),
        "{}",
        b.inspect_format("flaky", "{{.RestartCount}} {{.State.Status}}")
    );
    b.run(&[
        "run",
        "-d",
        "--name",
        "doc",
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ok; sleep 100",
    ])
    .assert_ok();
    assert!(berth_tests::wait_until(Duration::from_secs(10), || b
        .inspect_format("doc", "{{.State.Health.Status}}")
        == "healthy"));
    assert!(b.run(&["ps"]).stdout.contains("(healthy)"));
    b.run(&["exec", "doc", "rm", "/tmp/ok"]).assert_ok();
    assert!(berth_tests::wait_until(Duration::from_secs(10), || b
        .inspect_format("doc", "{{.State.Health.Status}}")
        == "unhealthy"));
    b.run(&["rm", "-f", "flaky", "doc"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn exec_pause_rename_wait() {
    let b = Berth::with_busybox("busybox");
    b.run(&[
        "run", "-d", "--name", "box", "-e", "X=1", "busybox", "sleep", "100",
    ])
    .assert_ok();
    let out = b.run(&["exec", "box", "sh", "-c", "echo $X; exit 4"]);
    out.assert_code(4);
    assert_eq!(out.stdout, "1\n");
    let out = b.run(&[
        "exec",
        "-u",
        "berthuser",
        "-w",
        "/tmp",
        "-e",
        "X=2",
        "box",
        "sh",
        "-c",
        "id -u; pwd; echo $X",
    ]);
    assert_eq!(out.stdout, "1000\n/tmp\n2\n", "{out}");
    b.run(&["exec", "box", "no-such-cmd"]).assert_code(127);
    let out = b.run(&["exec", "-i", "box", "cat"]);
    out.assert_ok();
    b.run(&["exec", "-d", "box", "touch", "/tmp/detached"])
        .assert_ok();
    assert!(berth_tests::wait_until(Duration::from_secs(20), || b
        .run(&["exec", "box", "test", "-e", "/tmp/detached"])
        .ok()));
    // pause / unpause
    b.run(&["pause", "box"]).assert_ok();
    assert_eq!(
        b.inspect_format("box", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    assert!(b.run(&["ps"]).stdout.contains("(Paused)"));
    b.run(&["unpause", "box"]).assert_ok();
    assert_eq!(b.inspect_format("box", "{{.State.Status}}"), "running");
    // rename
    b.run(&["rename", "box", "crate"]).assert_ok();
    assert_eq!(b.inspect_format("crate", "{{.Name}}"), "/crate");
    assert_ne!(b.run(&["inspect", "box"]).code, Some(0));
    // wait returns the code once it stops
    let code = std::thread::scope(|s| {
        let h = s.spawn(|| b.run(&["wait", "crate"]));
        std::thread::sleep(Duration::from_millis(200));
        b.run(&["kill", "crate"]).assert_ok();
        h.join().unwrap()
    });
    assert_eq!(code.stdout.trim(), "137");
    // create + start -a
    let id = b
        .run(&["create", "--name", "later", "busybox", "echo", "started"])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(b.inspect_format(&id, "{{.State.Status}}"), "created");
    let out = b.run(&["start", "-a", "later"]);
    assert_eq!(out.stdout, "started\n");
    b.run(&["rm", "crate", "later"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn names_are_unique_under_concurrency() {
    let b = Berth::with_busybox("busybox");
    let outs: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| b.run(&["create", "--name", "same", "busybox", "true"])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outs.iter().filter(|o| o.ok()).count(), 1, "{outs:#?}");
    for o in outs.iter().filter(|o| !o.ok()) {
        assert!(o.stderr.contains("is already in use by container"), "{o}");
    }
    assert_eq!(b.run(&["ps", "-a", "-q"]).stdout.lines().count(), 1);
    b.run(&["rm", "same"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn kill9_of_berth_run_is_repaired() {
    let b = Berth::with_busybox("busybox");
    let mut child = berth_command(&b, &["run", "--name", "orphan", "busybox", "sleep", "100"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(berth_tests::wait_until(Duration::from_secs(10), || b
        .run(&["ps", "-q"])
        .stdout
        .trim()
        .len()
        == 12));
    child.kill().unwrap();
    child.wait().unwrap();
    // the container outlives its client, as under docker
    assert!(b.run(&["ps"]).stdout.contains("orphan"));
    b.run(&["rm", "-f", "orphan"]).assert_ok();
    // a kill -9 at a random point of create/rm: the next commands cope
    for delay in [5u64, 20, 60] {
        let mut c = berth_command(&b, &["run", "--rm", "busybox", "true"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = c.kill();
        c.wait().unwrap();
        for id in b.run(&["ps", "-a", "-q"]).stdout.split_whitespace() {
            // The shim's exit hook may remove a --rm container between ps and rm.
            let o = b.run(&["rm", "-f", id]);
            assert!(o.ok() || o.stderr.contains("No such container"), "{o}");
        }
    }
    b.assert_no_leaks();
}

#[test]
fn tty_run_and_attach_detach() {
    let b = Berth::with_busybox("busybox");
    let (m, s) = openpty();
    let mut child = spawn_on_pty(
        berth_command(
            &b,
            &[
                "run",
                "--rm",
                "-t",
                "busybox",
                "sh",
                "-c",
                "tty; test -t 0 && echo isatty",
            ],
        ),
        &s,
    );
    drop(s);
    let out = berth_tests::console::read_master_until(&m, Duration::from_secs(10), |o| {
        String::from_utf8_lossy(o).contains("isatty")
    });
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("/dev/pts/") && text.contains("isatty"),
        "{text}"
    );
    assert!(child.wait().unwrap().success());
    // attach to an interactive tty container, type, detach with custom keys
    b.run(&["run", "-d", "-i", "-t", "--name", "shell", "busybox", "sh"])
        .assert_ok();
    let (m, s) = openpty();
    let mut child = spawn_on_pty(
        berth_command(&b, &["attach", "--detach-keys", "ctrl-a", "shell"]),
        &s,
    );
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    write_master(&m, b"echo attached-$((1+1))\r");
    let out = berth_tests::console::read_master_until(&m, Duration::from_secs(10), |o| {
        String::from_utf8_lossy(o).contains("attached-2")
    });
    assert!(String::from_utf8_lossy(&out).contains("attached-2"));
    write_master(&m, b"\x01");
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(10) {
        let _ = berth_tests::console::read_master_until(&m, Duration::from_millis(100), |_| false);
    }
    assert!(child.try_wait().unwrap().is_some(), "attach did not detach");
    assert_eq!(b.inspect_format("shell", "{{.State.Running}}"), "true");
    b.run(&["rm", "-f", "shell"]).assert_ok();
    b.assert_no_leaks();
}

/// Whether `path` is a mount point in the test's mount namespace.
fn mounted(path: &std::path::Path) -> bool {
    berth_tests::sys::mounts_under(path)
        .iter()
        .any(|m| std::path::Path::new(&m.mount_point) == path)
}

#[test]
fn driver_volumes_unmounted_when_unused() {
    let b = Berth::with_busybox("busybox");
    b.run(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "tv",
    ])
    .assert_ok();
    let data = b.root().join("volumes/tv/_data");
    // a foreground --rm run: mounted while it runs, gone with it
    let out = b.run(&[
        "run",
        "--rm",
        "-v",
        "tv:/d",
        "busybox",
        "sh",
        "-c",
        "grep -q ' /d tmpfs' /proc/mounts && echo x > /d/f && echo ok",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "ok\n", "{out}");
    assert!(!mounted(&data), "tmpfs volume still mounted after run --rm");
    // two users: stopping one keeps it, the last one's exit (hook) unmounts it
    for n in ["v1", "v2"] {
        b.run(&[
            "run", "-d", "--name", n, "-v", "tv:/d", "busybox", "sleep", "30",
        ])
        .assert_ok();
    }
    assert!(mounted(&data));
    b.run(&["exec", "v1", "sh", "-c", "echo shared > /d/s"])
        .assert_ok();
    b.run(&["stop", "-t", "0", "v1"]).assert_ok();
    assert!(mounted(&data), "unmounted while v2 still uses it");
    let out = b.run(&["exec", "v2", "cat", "/d/s"]);
    assert_eq!(out.assert_ok().stdout, "shared\n");
    // the container exits on its own: the shim's exit hook releases the volume
    b.run(&["kill", "v2"]).assert_ok();
    assert!(
        berth_tests::wait_until(Duration::from_secs(10), || !mounted(&data)),
        "tmpfs volume still mounted after its last container exited"
    );
    // started again (mounted again, tmpfs is empty), then removed with rm -f
    b.run(&["start", "v1"]).assert_ok();
    assert!(mounted(&data));
    b.run(&["rm", "-f", "v1"]).assert_ok();
    assert!(!mounted(&data), "tmpfs volume still mounted after rm -f");
    b.run(&["rm", "v2"]).assert_ok();
    b.run(&["volume", "rm", "tv"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn privileged_devices_and_capabilities() {
    let b = Berth::with_busybox("busybox");
    let host_bnd = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .unwrap();
    let script = "grep CapEff /proc/self/status; stat -c '%t:%T' /dev/null /dev/loop-control; \
                  grep ' /sys sysfs' /proc/mounts; grep -c ' /proc/sys \\| /proc/kcore ' /proc/mounts; \
                  grep Seccomp: /proc/self/status";
    let out = b.run(&["run", "--rm", "--privileged", "busybox", "sh", "-c", script]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!(
        lines[0].split_whitespace().nth(1),
        Some(host_bnd.as_str()),
        "{out}"
    );
    assert_eq!(lines[1], "1:3", "{out}"); // /dev/null
    assert_eq!(lines[2], "a:ed", "{out}"); // /dev/loop-control is 10:237
    assert!(lines[3].contains(" rw,"), "/sys is not rw: {out}");
    assert_eq!(
        lines[4], "0",
        "masked or read-only paths under --privileged: {out}"
    );
    assert_eq!(lines[5], "Seccomp:\t0", "{out}");
    // without --privileged: no host devices, docker's capabilities, ro /sys
    let out = b.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ls /dev/loop-control 2>&1; grep ' /sys sysfs' /proc/mounts",
    ]);
    assert!(out.stdout.contains("No such file"), "{out}");
    assert!(out.stdout.contains(" ro,"), "{out}");
    b.assert_no_leaks();
}

#[test]
fn init_is_pid1_reaps_and_propagates() {
    let b = Berth::with_busybox("busybox");
    let out = b.run(&["run", "--rm", "--init", "busybox", "ps", "-o", "pid,comm"]);
    out.assert_ok();
    let pid1 = out
        .stdout
        .lines()
        .find(|l| l.trim().starts_with("1 "))
        .unwrap_or("");
    assert!(
        pid1.contains("docker-init") || pid1.contains("tini"),
        "{out}"
    );
    b.run(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"])
        .assert_code(7);
    // a signal that kills the command: 128+n, as without an init
    b.run(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "kill -TERM $$; sleep 5",
    ])
    .assert_code(143);
    // orphans: without an init, a pid 1 that never waits leaves a zombie; tini reaps it
    let zombies = |init: bool| {
        let name = if init { "reaped" } else { "zombie" };
        let mut a = vec!["run", "-d", "--name", name];
        if init {
            a.push("--init");
        }
        a.extend_from_slice(&["busybox", "sh", "-c", "(sleep 0.1 &); exec sleep 30"]);
        b.run(&a).assert_ok();
        // Sample until the orphan has exited (its live `sleep 0.1` is gone; a zombie's
        // args are `[sleep]`) and, with an init, until the zombie had a while to be
        // reaped: a fixed delay could sample before the exit or the reap on a loaded
        // machine. A zombie that stays is still counted.
        let count = |stdout: &str| {
            stdout
                .lines()
                .filter(|l| l.trim_start().starts_with('Z'))
                .count()
        };
        let mut last = String::new();
        berth_tests::wait_until(Duration::from_secs(20), || {
            let out = b.run(&["exec", name, "ps", "-o", "stat,args"]);
            out.assert_ok();
            last = out.stdout.clone();
            !last.contains("sleep 0.1") && count(&last) == usize::from(!init)
        });
        b.run(&["rm", "-f", name]).assert_ok();
        count(&last)
    };
    assert_eq!(zombies(false), 1, "the control case made no zombie");
    assert_eq!(zombies(true), 0, "tini did not reap the orphan");
    b.assert_no_leaks();
}

/// kill -9 of `berth rm -f` at several points: the container is either gone or
/// still listed, and a second `rm -f` finishes the job with nothing left.
#[test]
fn kill9_of_berth_rm_is_repaired() {
    let b = Berth::with_busybox("busybox");
    for delay in [0u64, 2, 5, 10, 20] {
        b.run(&[
            "run", "-d", "--name", "victim", "-v", "/anon", "busybox", "sleep", "100",
        ])
        .assert_ok();
        let mut c = berth_command(&b, &["rm", "-f", "-v", "victim"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = c.kill();
        c.wait().unwrap();
        let ps = b.run(&["ps", "-a", "--format", "{{.Names}}"]);
        ps.assert_ok();
        if ps.stdout.contains("victim") {
            b.run(&["rm", "-f", "-v", "victim"]).assert_ok();
        }
        assert!(!b.run(&["ps", "-a"]).stdout.contains("victim"));
        // The name is free again.
        b.run(&["create", "--name", "victim", "busybox", "true"])
            .assert_ok();
        b.run(&["rm", "victim"]).assert_ok();
    }
    // Anonymous volumes of the removed containers: an interrupted rm -v may
    // leave one behind (docker too); prune removes them, none is in use.
    b.run(&["volume", "prune", "-f"]).assert_ok();
    assert!(b.run(&["volume", "ls", "-q"]).stdout.trim().is_empty());
    b.assert_no_leaks();
}
