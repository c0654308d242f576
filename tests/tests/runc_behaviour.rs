//! runc's observable behaviour, scenario by scenario: each test runs the same scenario
//! under runc (the reference) and under the runtime under test and asserts the outcome
//! both must have. A runc that differs fails the test too, so the expectation is checked
//! against the reference, not only written down.

use berth_tests::console::{read_master_until, ConsoleSocket};
use berth_tests::*;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Foreground `run` of `sh -c script`; returns the container's stdout.
fn run_sh(rt: &Runtime, b: &mut Bundle, script: &str) -> Output {
    run_sh_with(rt, b, script, &[])
}

/// `run_sh` with extra `run` options.
fn run_sh_with(rt: &Runtime, b: &mut Bundle, script: &str, extra: &[&str]) -> Output {
    b.args(&["/bin/sh", "-c", script]);
    rt.run_with(&format!("rb-{}", unique_id()), b, extra)
}

/// Security: a created (not started) container's init holds no fd of a directory of
/// the runtime's state (a way out to the host through /proc/PID/fd).
#[test]
fn created_init_holds_no_state_directory_fd() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-fds");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-fds-{}", unique_id());
        rt.create(&id, &b).assert_ok();
        let pid = rt.pid_of(&id);
        let mut dirs = Vec::new();
        for e in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
            let e = e.unwrap();
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            let is_dir = std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
            if is_dir && target.starts_with(rt.root()) {
                dirs.push(format!(
                    "{} -> {}",
                    e.file_name().to_string_lossy(),
                    target.display()
                ));
            }
        }
        assert!(
            dirs.is_empty(),
            "{name}: the created init holds state directory fds: {dirs:?}"
        );
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// Security: a node in linux.devices gets no cgroup access of its own; the resources'
/// deny-all keeps /dev/kmsg unwritable for the init and for exec'd processes.
#[test]
fn linux_devices_do_not_bypass_resources_devices() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-devices");
        b.config["linux"]["devices"] = json!([{
            "path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438,
            "uid": 0, "gid": 0
        }]);
        b.config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
        let probe =
            "if echo berth-devices-probe > /dev/kmsg; then echo written; else echo denied; fi";
        let o = run_sh(rt, &mut b, probe);
        o.assert_ok();
        assert!(o.stdout.contains("denied"), "{name}: init: {o:?}");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-dev-{}", unique_id());
        rt.run_detached(&id, &b);
        let e = rt.exec(&["exec", &id, "/bin/sh", "-c", probe]);
        assert!(e.stdout.contains("denied"), "{name}: exec: {e:?}");
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// The process's stdio belongs to its uid (runc chowns all but /dev/null), so that a
/// non-root process can reopen its own stdout.
#[test]
fn stdio_is_owned_by_the_process_uid() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-stdio");
        b.user(1000, 1000, &[]);
        let o = run_sh(rt, &mut b, "stat -L -c %u /proc/self/fd/1");
        o.assert_ok();
        assert_eq!(o.stdout.trim(), "1000", "{name}: {o:?}");
        assert_no_leaks(rt, &b);
    }
}

/// State: a started container whose process runs as a non-root uid is `running`.
#[test]
fn non_root_process_is_running_after_start() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-state");
        b.user(1000, 1000, &[]).args(&["/bin/sleep", "30"]);
        let id = format!("rb-state-{}", unique_id());
        rt.run_detached(&id, &b);
        assert_eq!(rt.status(&id), "running", "{name}");
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// Process: a key given twice keeps its last value; an empty HOME is filled from the
/// container's /etc/passwd.
#[test]
fn duplicate_env_keeps_last_and_empty_home_is_filled() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-env");
        b.env(&["PATH=/bin", "A=1", "HOME=", "A=2"]);
        let o = run_sh(rt, &mut b, "echo \"A=$A HOME=$HOME\"; env | grep -c '^A='");
        o.assert_ok();
        assert_eq!(o.stdout, "A=2 HOME=/root\n1\n", "{name}");
        assert_no_leaks(rt, &b);
    }
}

/// Process: `exec -p` of a process without `user` runs it as 0:0.
#[test]
fn exec_process_without_user_runs_as_root() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-execp");
        b.user(1000, 1000, &[]).args(&["/bin/sleep", "30"]);
        let id = format!("rb-execp-{}", unique_id());
        rt.run_detached(&id, &b);
        let p = b.join("process-nouser.json");
        std::fs::write(&p, r#"{"args":["/bin/id","-u"],"cwd":"/"}"#).unwrap();
        let o = rt.exec(&["exec", "-p", p.to_str().unwrap(), &id]);
        o.assert_ok();
        assert_eq!(o.stdout.trim(), "0", "{name}: {o:?}");
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// `kill ID 0` probes: success while the init lives, "container not running" after.
#[test]
fn kill_signal_zero_probes() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-kill0");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-kill0-{}", unique_id());
        rt.create(&id, &b).assert_ok();
        rt.kill(&id, "0").assert_ok();
        rt.kill(&id, "KILL").assert_ok();
        rt.wait_status(&id, "stopped", Duration::from_secs(10));
        let o = rt.kill(&id, "0");
        assert!(!o.ok(), "{name}: kill 0 of a stopped container succeeded");
        assert!(o.stderr.contains("container not running"), "{name}: {o:?}");
        rt.delete(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// Hangs: creating into a cgroup that is already frozen fails at once instead of
/// waiting for ever, and leaves the frozen cgroup as it found it.
#[test]
fn create_into_frozen_cgroup_is_refused() {
    if !cgroup::has_v1_controller("freezer") {
        berth_tests::skip(berth_tests::Skip::Host("no cgroup v1 freezer"));
        return;
    }
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let rel = format!("berth-frozen-{}", unique_id());
        let _guard = cgroup::CgroupDirsGuard::new(&[&rel]);
        let freezer: PathBuf = cgroup::mount_of("freezer").join(&rel);
        std::fs::create_dir(&freezer).unwrap();
        std::fs::write(freezer.join("freezer.state"), "FROZEN").unwrap();
        let mut b = Bundle::new("rb-frozen");
        b.args(&["/bin/true"]);
        b.config["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
        let id = format!("rb-frozen-{}", unique_id());
        b.save();
        rt.track(&id);
        let o = rt
            .cmd()
            .timeout(Duration::from_secs(20))
            .args(["create", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .run();
        assert!(
            !o.ok(),
            "{name}: create into a frozen cgroup succeeded: {o:?}"
        );
        assert!(o.stderr.contains("frozen"), "{name}: {o:?}");
        assert!(frozen(&freezer), "{name}: the cgroup was thawed");
        let _ = rt.delete_force(&id);
        std::fs::write(freezer.join("freezer.state"), "THAWED").unwrap();
    }
}

fn frozen(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
}

/// Output: `--debug` writes `level=debug` lines, text or json, on stderr or to `--log`.
#[test]
fn debug_writes_debug_lines() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-debug");
        b.args(&["/bin/true"]);
        b.save();
        let id = format!("rb-debug-{}", unique_id());
        rt.track(&id);
        let o = rt
            .cmd()
            .args(["--debug", "create", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .run();
        o.assert_ok();
        assert!(o.stderr.contains("level=debug"), "{name}: {o:?}");
        rt.delete_force(&id).assert_ok();
        let log = b.join("debug.json");
        let id2 = format!("rb-debug2-{}", unique_id());
        rt.track(&id2);
        rt.cmd()
            .args(["--debug", "--log-format", "json", "--log"])
            .arg(&log)
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id2)
            .run()
            .assert_ok();
        rt.delete_force(&id2).assert_ok();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            json_lines(&text).iter().any(|l| l["level"] == "debug"),
            "{name}: {text}"
        );
        // The other two combinations: text to --log, json on stderr.
        let tlog = b.join("debug.log");
        let id3 = format!("rb-debug3-{}", unique_id());
        rt.track(&id3);
        rt.cmd()
            .args(["--debug", "--log"])
            .arg(&tlog)
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id3)
            .run()
            .assert_ok();
        rt.delete_force(&id3).assert_ok();
        let text = std::fs::read_to_string(&tlog).unwrap_or_default();
        assert!(text.contains("level=debug"), "{name}: {text}");
        let id4 = format!("rb-debug4-{}", unique_id());
        rt.track(&id4);
        let o = rt
            .cmd()
            .args(["--debug", "--log-format", "json", "create", "--bundle"])
            .arg(b.path())
            .arg(&id4)
            .run();
        o.assert_ok();
        assert!(
            json_lines(&o.stderr).iter().any(|l| l["level"] == "debug"),
            "{name}: {o:?}"
        );
        rt.delete_force(&id4).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// CLI: a global option given twice takes the last value (runc's flag parsing).
#[test]
fn global_option_given_twice_last_wins() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let o = rt
            .cmd()
            .arg("--root")
            .arg("/nonexistent-berth-root")
            .arg("--root")
            .arg(rt.root())
            .args(["list", "-q"])
            .run();
        assert!(o.ok(), "{name}: {o:?}");
    }
}

/// CLI: `VERB --help` and `-h` print runc's sections for every verb engines call.
#[test]
fn help_of_every_command_in_runcs_shape() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    let verbs = [
        "create",
        "run",
        "start",
        "exec",
        "kill",
        "delete",
        "state",
        "list",
        "ps",
        "pause",
        "resume",
        "update",
        "events",
        "spec",
        "features",
        "checkpoint",
        "restore",
    ];
    for (name, rt) in &rts {
        for verb in verbs {
            for flag in ["--help", "-h"] {
                let o = rt.cmd().no_root().args([verb, flag]).run();
                assert!(o.ok(), "{name}: {verb} {flag}: {o:?}");
                assert!(
                    o.stdout.starts_with("NAME:\n")
                        && o.stdout.contains(&format!(" {verb} - "))
                        && o.stdout.contains("\nUSAGE:\n"),
                    "{name}: {verb} {flag}:\n{}",
                    o.stdout
                );
            }
        }
        let o = rt.cmd().no_root().arg("--help").run();
        assert!(o.ok(), "{name}: {o:?}");
        for section in [
            "NAME:",
            "USAGE:",
            "VERSION:",
            "COMMANDS:",
            "GLOBAL OPTIONS:",
        ] {
            assert!(
                o.stdout.contains(section),
                "{name}: no {section}:\n{}",
                o.stdout
            );
        }
        let v = rt.cmd().no_root().arg("--version").run();
        assert!(v.ok(), "{name}: {v:?}");
        let first = v.stdout.lines().next().unwrap_or("");
        assert!(first.contains(" version "), "{name}: {}", v.stdout);
        assert!(
            v.stdout.lines().any(|l| l.starts_with("spec: ")),
            "{name}: {}",
            v.stdout
        );
    }
}

/// Process: a non-root user with CAP_DAC_OVERRIDE runs a program whose only x bit is
/// the owner's (execve allows it; a lookup with the real uid would not).
#[test]
fn cap_dac_override_runs_owner_only_executable() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-dacexec");
        std::fs::copy("/bin/busybox", b.rootfs_path("echo")).unwrap();
        sys::set_mode(&b.rootfs_path("echo"), 0o744);
        b.user(1000, 1000, &[])
            .args(&["/echo", "ran"])
            .cap_set("bounding", &["CAP_DAC_OVERRIDE"])
            .cap_set("effective", &["CAP_DAC_OVERRIDE"])
            .cap_set("permitted", &["CAP_DAC_OVERRIDE"])
            .cap_set("ambient", &["CAP_DAC_OVERRIDE"])
            .cap_set("inheritable", &["CAP_DAC_OVERRIDE"]);
        let o = rt.run_with(&format!("rb-dac-{}", unique_id()), &b, &[]);
        assert!(o.ok() && o.stdout.trim() == "ran", "{name}: {o:?}");
        assert_no_leaks(rt, &b);
    }
}

/// Hooks: createContainer hooks run in the container's root directory and, like
/// startContainer hooks, inherit the process environment when they set no `env`.
#[test]
fn in_container_hooks_get_process_env_and_root() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-hooks");
        let out = b.join("create-container.out");
        b.env(&["PATH=/bin:/usr/bin", "HOOKVAR=from-process"])
            .args(&["/bin/true"]);
        b.config["hooks"] = json!({
            "createContainer": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", format!("pwd -P > {0}; echo \"$HOOKVAR\" >> {0}", out.display())],
            }],
            "startContainer": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "echo \"$HOOKVAR\" > /tmp/start-container.out"],
            }],
        });
        let o = rt.run_with(&format!("rb-hooks-{}", unique_id()), &b, &[]);
        o.assert_ok();
        let rootfs = std::fs::canonicalize(b.rootfs()).unwrap();
        let got = std::fs::read_to_string(&out).unwrap_or_default();
        assert_eq!(
            got,
            format!("{}\nfrom-process\n", rootfs.display()),
            "{name}: createContainer"
        );
        let got =
            std::fs::read_to_string(b.rootfs_path("tmp/start-container.out")).unwrap_or_default();
        assert_eq!(got, "from-process\n", "{name}: startContainer");
        assert_no_leaks(rt, &b);
    }
}

/// Hangs: with a seccomp notify filter and noNewPrivileges false, the filter is loaded
/// early (it needs CAP_SYS_ADMIN), and the listener must reach the agent before the
/// init makes a call its own filter hands over (here: opening /etc/passwd for HOME);
/// otherwise create never returns. runc 1.1.5 hangs here too (its agent gets nothing
/// within the timeout), so only the runtime under test is run.
#[test]
fn seccomp_notify_without_no_new_privileges_does_not_hang() {
    if skip_on_runc("runc 1.1.5 hangs with a notify filter on openat and noNewPrivileges false") {
        return;
    }
    let name = "under test";
    let rt = &Runtime::new();
    {
        let mut b = Bundle::new("rb-scnotify");
        let sock_path = rt.scratch("sock").join("seccomp.sock");
        let sock = berth_tests::console::ConsoleSocket::bind_until_eof(&sock_path);
        b.no_new_privileges(false)
            .env(&["PATH=/bin"])
            .args(&["/bin/true"]);
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "listenerPath": sock_path,
            "syscalls": [{"names": ["open", "openat"], "action": "SCMP_ACT_NOTIFY"}],
        });
        // The agent: answer every notification with ENOENT until the listener is
        // closed by the kernel (no process left) or nothing comes for a while.
        let agent = std::thread::spawn(move || {
            let got = sock.receive(Duration::from_secs(20));
            let mut answered = 0;
            while let Some(n) = notify::recv(&got.fds[0], Duration::from_secs(10)) {
                let _ = notify::fail_with(&got.fds[0], n.id, libc::ENOENT);
                answered += 1;
            }
            answered
        });
        b.save();
        let id = format!("rb-scn-{}", unique_id());
        rt.track(&id);
        let o = rt
            .cmd()
            .timeout(Duration::from_secs(20))
            .args(["create", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .run();
        assert!(o.ok(), "{name}: {o:?}");
        rt.start(&id).assert_ok();
        rt.wait_status(&id, "stopped", Duration::from_secs(10));
        let answered = agent.join().expect("agent thread");
        assert!(
            answered > 0,
            "{name}: the init opened nothing through the agent"
        );
        rt.delete(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// Output: `events` lines keep runc's key order, `type`, `id`, `data`.
#[test]
fn events_keys_in_runcs_order() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-events");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-events-{}", unique_id());
        rt.run_detached(&id, &b);
        let o = rt.exec(&["events", "--stats", &id]);
        o.assert_ok();
        let prefix = format!("{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":{{");
        assert!(o.stdout.starts_with(&prefix), "{name}: {}", o.stdout);
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// Terminal: a foreground `run` with a terminal relays exactly what the process wrote
/// to a caller whose stdout is not a terminal: the container's pty does not turn `\n`
/// into `\r\n` (runc clears ONLCR on the master it relays; it does so once it has the
/// master, which can be after a quick process wrote, so the process waits a little).
#[test]
fn foreground_terminal_keeps_newlines() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-tty");
        b.terminal(true)
            .args(&["/bin/sh", "-c", "sleep 0.3; printf 'one\\ntwo\\n'"]);
        b.save();
        let (mut m, mut s) = (-1, -1);
        // SAFETY: openpty writes two fds into the out-parameters.
        let r = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(r, 0, "openpty");
        // SAFETY: both fds were just returned by openpty and are owned here.
        let (_master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        let id = format!("rb-tty-{}", unique_id());
        rt.track(&id);
        let o = rt
            .cmd()
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Io::Fd(slave))
            .stdout(Io::Capture)
            .run();
        assert!(o.ok(), "{name}: {o:?}");
        assert_eq!(o.stdout, "one\ntwo\n", "{name}");
        assert_no_leaks(rt, &b);
    }
}

/// Errors: an execve that fails (a script whose interpreter is missing) says so in
/// Go's words, `exec /run.sh: no such file or directory`, as engines match it.
#[test]
fn failed_execve_error_text() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-execve");
        b.write_file("run.sh", "#!/nonexistent/sh\necho hi\n", 0o755);
        b.args(&["/run.sh"]);
        let o = rt.run_with(&format!("rb-execve-{}", unique_id()), &b, &[]);
        assert!(!o.ok(), "{name}: {o:?}");
        assert!(
            o.stderr.contains("exec /run.sh: no such file or directory"),
            "{name}: {o:?}"
        );
        assert_no_leaks(rt, &b);
    }
}

/// CLI: `update --l3-cache-schema` / `--mem-bw-schema` on a container without an
/// Intel RDT group fail with runc's texts (engines match on them).
#[test]
fn update_rdt_schemas_fail_with_runcs_text() {
    if Path::new("/sys/fs/resctrl/info").exists() {
        berth_tests::skip(berth_tests::Skip::Host("resctrl is mounted"));
        return;
    }
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-rdt");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-rdt-{}", unique_id());
        rt.run_detached(&id, &b);
        let o = rt.exec(&["update", "--l3-cache-schema", "L3:0=f", &id]);
        assert!(!o.ok(), "{name}: {o:?}");
        assert!(
            o.stderr
                .contains("Intel RDT/CAT: l3 cache schema is not enabled"),
            "{name}: {o:?}"
        );
        let o = rt.exec(&["update", "--mem-bw-schema", "MB:0=70", &id]);
        assert!(!o.ok(), "{name}: {o:?}");
        assert!(
            o.stderr
                .contains("Intel RDT/MBA: memory bandwidth schema is not enabled"),
            "{name}: {o:?}"
        );
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// CLI: `delete --force` of a paused container kills it (frozen tasks die only
/// once thawed) and removes it and its cgroup; without --force it is refused.
#[test]
fn delete_force_removes_a_paused_container() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-pausedel");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-pausedel-{}", unique_id());
        rt.run_detached(&id, &b);
        rt.exec(&["pause", &id]).assert_ok();
        assert_eq!(rt.state_json(&id)["status"], "paused", "{name}");
        assert!(!rt.delete(&id).ok(), "{name}: delete of a paused container");
        rt.delete_force(&id).assert_ok();
        assert!(
            !rt.state(&id).ok(),
            "{name}: still listed after delete --force"
        );
        assert_no_leaks(rt, &b);
    }
}

/// Mounts: a rootfs whose /proc is a symlink (or a file) is refused before anything is
/// mounted there, in runc's words; the init's own report, not "exited", reaches the
/// caller (it fails before the runtime's first message to it).
#[test]
fn proc_on_a_symlink_or_file_is_refused() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        for kind in ["symlink", "file"] {
            let mut b = Bundle::new("rb-procsym");
            b.args(&["/bin/true"]);
            std::fs::remove_dir(b.rootfs_path("proc")).unwrap();
            if kind == "symlink" {
                b.symlink("/tmp", "proc");
            } else {
                b.write_file("proc", "", 0o644);
            }
            let o = rt.run(&format!("rb-procsym-{}", unique_id()), &b);
            assert!(!o.ok(), "{name}: {kind}: {o:?}");
            assert!(
                o.stderr.contains(
                    "error mounting \\\"proc\\\" to rootfs at \\\"/proc\\\": filesystem \\\"proc\\\" must be mounted on ordinary directory"
                ),
                "{name}: {kind}: {o:?}"
            );
            assert_no_leaks(rt, &b);
        }
    }
}

/// Mounts: a bind whose destination is a dangling symlink, or passes through one, is
/// mounted where the link points inside the rootfs (created there), never on the host.
#[test]
fn bind_through_dangling_symlinks_stays_in_the_rootfs() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-dangling");
        let src = b.join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("f"), "hello\n").unwrap();
        let host_target = format!("/rb-dangling-{}", unique_id());
        b.symlink(&host_target, "mnt");
        b.symlink(&format!("{host_target}-x/y"), "a");
        b.add_bind("/mnt", &src, &["bind"]);
        b.add_bind("/a/b", &src, &["bind"]);
        let o = run_sh(rt, &mut b, "cat /mnt/f /a/b/f");
        o.assert_ok();
        assert_eq!(o.stdout, "hello\nhello\n", "{name}: {o:?}");
        assert!(
            b.rootfs_path(&host_target[1..]).is_dir()
                && b.rootfs_path(&format!("{}-x/y/b", &host_target[1..]))
                    .is_dir(),
            "{name}: the link targets were not made inside the rootfs"
        );
        assert!(
            !Path::new(&host_target).exists() && !Path::new(&format!("{host_target}-x")).exists(),
            "{name}: a mount point was made on the host"
        );
        assert_no_leaks(rt, &b);
    }
}

/// Mounts: a read-only /dev (tmpfs with `ro`) still gets its nodes and the mounts
/// under it, and is read-only for the process (runc remounts it at the end).
#[test]
fn readonly_dev_mount_is_filled_then_read_only() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-rodev");
        for m in b.config["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
        let o = run_sh(
            rt,
            &mut b,
            "grep ' /dev tmpfs ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; \
             grep -c ' /dev/pts devpts ' /proc/mounts; echo x > /dev/null && echo null-ok; \
             touch /dev/new 2>/dev/null || echo ro",
        );
        o.assert_ok();
        assert_eq!(o.stdout, "ro\n1\nnull-ok\nro\n", "{name}: {o:?}");
        assert_no_leaks(rt, &b);
    }
}

/// A tmpfs mounted with `noatime` for a test, unmounted on drop.
struct NoatimeTmpfs(PathBuf);

impl NoatimeTmpfs {
    fn new(dir: PathBuf) -> NoatimeTmpfs {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "noatime,size=1m", "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount a noatime tmpfs on {}", dir.display());
        NoatimeTmpfs(dir)
    }
}

impl Drop for NoatimeTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts: `relatime` on a bind of a `noatime` source gives relatime (the option names
/// the atime mode; the source's is not carried over as it is for nosuid or nodev).
#[test]
fn relatime_bind_over_noatime_source() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-atime");
        let src = NoatimeTmpfs::new(b.join("noatime"));
        b.add_bind("/mnt", &src.0, &["bind", "relatime"]);
        b.add_bind("/keep", &src.0, &["bind"]);
        let o = run_sh(
            rt,
            &mut b,
            "grep -E ' /(mnt|keep) ' /proc/mounts | cut -d' ' -f2,4",
        );
        o.assert_ok();
        let opts = |dest: &str| {
            o.stdout
                .lines()
                .find(|l| l.starts_with(dest))
                .map(|l| {
                    l.split(' ')
                        .nth(1)
                        .unwrap_or("")
                        .split(',')
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        assert!(
            opts("/mnt ").iter().any(|o| o == "relatime")
                && !opts("/mnt ").iter().any(|o| o == "noatime"),
            "{name}: {o:?}"
        );
        assert!(
            opts("/keep ").iter().any(|o| o == "noatime"),
            "{name}: {o:?}"
        );
        drop(src);
        assert_no_leaks(rt, &b);
    }
}

/// cgroups: `unified` resources on a cgroup v1 (or hybrid) host fail with runc's
/// "invalid configuration" (the v2 hierarchy of a hybrid host has no controllers).
#[test]
fn unified_on_cgroup_v1_is_an_invalid_configuration() {
    if !cgroup::has_v1_controller("pids") {
        berth_tests::skip(berth_tests::Skip::Host("no cgroup v1 pids controller"));
        return;
    }
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-unified");
        b.args(&["/bin/true"]);
        b.config["linux"]["resources"]["unified"] = json!({"pids.max": "10"});
        let o = rt.run(&format!("rb-unified-{}", unique_id()), &b);
        assert!(!o.ok(), "{name}: {o:?}");
        assert!(
            o.stderr
                .contains("invalid configuration: cannot use unified on cgroup v1"),
            "{name}: {o:?}"
        );
        assert_no_leaks(rt, &b);
    }
}

/// cgroups: `update --memory -1` after a memory+swap limit lifts both (v1's memsw may
/// not stay below the memory limit, so the stored swap limit is not re-applied).
#[test]
fn update_memory_unlimited_after_a_swap_limit() {
    if !cgroup::has_memsw() {
        berth_tests::skip(berth_tests::Skip::Host("no v1 swap accounting"));
        return;
    }
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-memsw");
        b.args(&["/bin/sleep", "30"]);
        b.config["linux"]["resources"]["memory"] = json!({"limit": 100 << 20, "swap": 200 << 20});
        let id = format!("rb-memsw-{}", unique_id());
        rt.run_detached(&id, &b);
        let pid = rt.pid_of(&id);
        let dir = cgroup::cgroup_dir_of(pid, "memory");
        rt.exec(&["update", "--memory", "-1", &id]).assert_ok();
        let unlimited = |f: &str| {
            cgroup::read_file(&dir, f)
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
                > 1 << 60
        };
        assert!(
            unlimited("memory.limit_in_bytes") && unlimited("memory.memsw.limit_in_bytes"),
            "{name}: {} {}",
            cgroup::read_file(&dir, "memory.limit_in_bytes"),
            cgroup::read_file(&dir, "memory.memsw.limit_in_bytes")
        );
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// Errors: a listenerPath nobody listens on fails create with runc's words, which
/// engines show as they are.
#[test]
fn missing_seccomp_agent_error_text() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-agent");
        b.args(&["/bin/true"]);
        let sock = b.join("no-agent.sock");
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
        let o = rt.run(&format!("rb-agent-{}", unique_id()), &b);
        assert!(!o.ok(), "{name}: {o:?}");
        let want = format!(
            "unable to start container process: failed to connect with seccomp agent specified in the seccomp profile: dial unix {}: connect: no such file or directory",
            sock.display()
        );
        assert!(o.stderr.contains(&want), "{name}: {o:?}");
        assert_no_leaks(rt, &b);
    }
}

/// cgroups: on every host layout an exec'd process is in the container's cgroup in
/// every hierarchy, the v2 line (`0::`) included, as /proc/self/cgroup shows it.
#[test]
fn exec_sees_the_containers_cgroup_in_every_hierarchy() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-execcg");
        b.args(&["/bin/sleep", "30"]).remove_namespace("cgroup");
        let rel = format!("rb-execcg-{}", unique_id());
        let _guard = cgroup::CgroupDirsGuard::new(&[&rel]);
        b.config["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
        let id = format!("rb-execcg-{}", unique_id());
        rt.run_detached(&id, &b);
        let init = std::fs::read_to_string(format!("/proc/{}/cgroup", rt.pid_of(&id))).unwrap();
        let o = rt.exec(&["exec", &id, "cat", "/proc/self/cgroup"]);
        o.assert_ok();
        assert_eq!(o.stdout, init, "{name}: exec and init differ");
        for l in o.stdout.lines() {
            assert!(
                l.ends_with(&format!("/{rel}")),
                "{name}: {l} in\n{}",
                o.stdout
            );
        }
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// Output: `list --format json` of no containers prints runc's (Go's) `null`.
#[test]
fn list_json_of_no_containers_is_null() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let o = rt.exec(&["list", "--format", "json"]);
        o.assert_ok();
        assert_eq!(o.stdout, "null\n", "{name}");
    }
}

/// Config: a namespace type listed twice is refused before anything is made.
#[test]
fn namespace_listed_twice_is_refused() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-nstwice");
        b.args(&["/bin/true"]);
        b.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "pid"}));
        let o = rt.run(&format!("rb-nstwice-{}", unique_id()), &b);
        assert!(!o.ok(), "{name}: {o:?}");
        assert!(
            o.stderr.contains("pid")
                && (o.stderr.contains("duplicated") || o.stderr.contains("twice")),
            "{name}: {o:?}"
        );
        assert_no_leaks(rt, &b);
    }
}

/// Config: a device rule with an access letter other than r, w, m ("rwa") is refused
/// with the index and the value. Kept over runc 1.1.5, which accepts any letters and
/// silently drops the unknown ones, so the rule means something other than written;
/// only the runtime under test is run.
#[test]
fn device_rule_with_unknown_access_letter_is_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::new("rb-rwa");
    b.args(&["/bin/true"]);
    b.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwa"}
    ]);
    let o = rt.run(&format!("rb-rwa-{}", unique_id()), &b);
    assert!(!o.ok(), "{o:?}");
    assert!(
        o.stderr.contains("linux.resources.devices[1]") && o.stderr.contains("\\\"rwa\\\""),
        "{o:?}"
    );
    assert_no_leaks(&rt, &b);
}

/// Processes of a container in the host's pid namespace, found in its cgroup.
fn cgroup_procs(rel: &str) -> Vec<i32> {
    cgroup::hierarchies()
        .iter()
        .flat_map(|h| cgroup::procs(&h.mount_point.join(rel)))
        .collect()
}

/// cgroups: `delete` of a container in the host's pid namespace whose init is gone
/// kills what is left in its cgroup (nothing else would) and removes the cgroup.
#[test]
fn delete_host_pid_container_kills_the_rest_of_its_cgroup() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-hostpid");
        b.args(&["/bin/sh", "-c", "sleep 100 & sleep 100 & exec sleep 1000"])
            .remove_namespace("pid");
        let rel = format!("rb-hostpid-{}", unique_id());
        let _guard = cgroup::CgroupDirsGuard::new(&[&rel]);
        b.config["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
        let id = format!("rb-hostpid-{}", unique_id());
        rt.run_detached(&id, &b);
        let pid = rt.pid_of(&id);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut rest = Vec::new();
        while std::time::Instant::now() < deadline {
            rest = cgroup_procs(&rel);
            rest.sort();
            rest.dedup();
            if rest.len() >= 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(rest.len() >= 3, "{name}: {rest:?}");
        rest.retain(|p| *p != pid);
        // SAFETY: kill(2) with a pid and a signal number touches no memory.
        assert_eq!(
            unsafe { libc::kill(pid, libc::SIGKILL) },
            0,
            "{name}: kill {pid}"
        );
        rt.wait_status(&id, "stopped", Duration::from_secs(10));
        rt.delete(&id).assert_ok();
        for p in &rest {
            assert!(
                !Path::new(&format!("/proc/{p}")).exists()
                    || std::fs::read_to_string(format!("/proc/{p}/stat"))
                        .is_ok_and(|s| s.contains(") Z ")),
                "{name}: pid {p} of the cgroup still runs after delete"
            );
        }
        assert!(cgroup_procs(&rel).is_empty(), "{name}");
        assert_no_leaks(rt, &b);
    }
}

/// cgroups: `delete --force` kills processes in sub-cgroups of the container's cgroup
/// and removes the sub-cgroups with it (v1: in every hierarchy).
#[test]
fn delete_force_with_sub_cgroups() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-subcg");
        b.args(&["/bin/sleep", "1000"]);
        let rel = format!("rb-subcg-{}", unique_id());
        let sub = format!("{rel}/sub");
        let _guard = cgroup::CgroupDirsGuard::new(&[&rel, &sub]);
        b.config["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
        let id = format!("rb-subcg-{}", unique_id());
        rt.run_detached(&id, &b);
        rt.exec(&["exec", "-d", &id, "/bin/sleep", "999"])
            .assert_ok();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let pid = rt.pid_of(&id);
        let other = loop {
            let mut procs = cgroup_procs(&rel);
            procs.retain(|p| *p != pid);
            if let Some(p) = procs.first() {
                break *p;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: no exec'd process"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // The exec'd process is reparented to this test (the subreaper): its zombie
        // must be reaped for the pid namespace's init to finish exiting.
        rt.track_pid(other);
        let mut moved = 0;
        for h in cgroup::hierarchies() {
            let d = h.mount_point.join(&sub);
            if h.mount_point.join(&rel).is_dir() && std::fs::create_dir(&d).is_ok() {
                // cpuset (and a v2 with controllers) may refuse an unconfigured child.
                if std::fs::write(d.join("cgroup.procs"), other.to_string()).is_ok() {
                    moved += 1;
                }
            }
        }
        assert!(
            moved > 0,
            "{name}: could not move {other} into a sub-cgroup"
        );
        rt.delete_force(&id).assert_ok();
        assert!(
            !Path::new(&format!("/proc/{other}")).exists()
                || std::fs::read_to_string(format!("/proc/{other}/stat"))
                    .is_ok_and(|s| s.contains(") Z ")),
            "{name}: the sub-cgroup's process survived"
        );
        for h in cgroup::hierarchies() {
            assert!(
                !h.mount_point.join(&rel).exists(),
                "{name}: {} left",
                h.mount_point.join(&rel).display()
            );
        }
        assert_no_leaks(rt, &b);
    }
}

/// Errors: an unknown signal name is "unknown signal", and pausing a paused container
/// says "container not running" (runc's words; the container is left as it was).
#[test]
fn unknown_signal_and_pause_twice_in_runcs_words() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-words");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-words-{}", unique_id());
        rt.run_detached(&id, &b);
        let o = rt.kill(&id, "FOO");
        assert!(!o.ok(), "{name}: {o:?}");
        assert!(o.stderr.contains("unknown signal"), "{name}: {o:?}");
        assert_eq!(rt.status(&id), "running", "{name}");
        rt.exec(&["pause", &id]).assert_ok();
        let o = rt.exec(&["pause", &id]);
        assert!(!o.ok(), "{name}: {o:?}");
        assert!(o.stderr.contains("container not running"), "{name}: {o:?}");
        assert_eq!(rt.status(&id), "paused", "{name}");
        rt.exec(&["resume", &id]).assert_ok();
        let o = rt.exec(&["resume", &id]);
        assert!(o.stderr.contains("container not paused"), "{name}: {o:?}");
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// The fds above stdio that `pid` holds and that name a file or directory (not a
/// socket, pipe or anonymous inode): each a way to the host's filesystem.
fn file_fds_above_stdio(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return out;
    };
    for e in dir.flatten() {
        let n: i32 = e.file_name().to_string_lossy().parse().unwrap_or(-1);
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        let t = target.to_string_lossy();
        if n > 2 && t.starts_with('/') {
            out.push(format!("{n} -> {t}"));
        }
    }
    out
}

/// Security (CVE-2024-21626 class), every stage: the created init, the running
/// process and an exec'd process hold no fd above stdio that names a file or a
/// directory. Kept over runc 1.1.5, whose created init holds its state directory's
/// exec.fifo; only the runtime under test is run.
#[test]
fn no_file_fds_at_any_stage() {
    let rt = Runtime::new();
    let mut b = Bundle::new("rb-allfds");
    b.args(&["/bin/sleep", "30"]);
    let id = format!("rb-allfds-{}", unique_id());
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid_of(&id);
    assert_eq!(
        file_fds_above_stdio(pid),
        Vec::<String>::new(),
        "created init"
    );
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "running", Duration::from_secs(10));
    assert_eq!(
        file_fds_above_stdio(pid),
        Vec::<String>::new(),
        "running init"
    );
    let o = rt.exec(&[
        "exec",
        &id,
        "/bin/sh",
        "-c",
        "for f in /proc/self/fd/*; do n=${f##*/}; [ $n -gt 2 ] && readlink $f; done; true",
    ]);
    o.assert_ok();
    // The shell's own glob directory fd is the only one it may see.
    let leaked: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with('/') && !l.starts_with("/proc/"))
        .collect();
    assert!(leaked.is_empty(), "exec'd process: {leaked:?}");
    rt.delete_force(&id).assert_ok();
    assert_no_leaks(&rt, &b);
}

/// Mounts: a read-only tmpfs with a later mount below it: the mount point is made
/// while the tmpfs is still writable, and the tmpfs is read-only for the process.
#[test]
fn readonly_tmpfs_with_a_mount_below_it() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-rotmpfs");
        let src = b.join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("f"), "below\n").unwrap();
        b.add_mount("/mnt", "tmpfs", "tmpfs", &["ro", "nosuid"]);
        b.add_bind("/mnt/sub", &src, &["bind"]);
        let o = run_sh(
            rt,
            &mut b,
            "cat /mnt/sub/f; grep ' /mnt tmpfs ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; \
             touch /mnt/new 2>/dev/null || echo ro",
        );
        o.assert_ok();
        assert_eq!(o.stdout, "below\nro\nro\n", "{name}: {o:?}");
        assert_no_leaks(rt, &b);
    }
}

/// Errors of `exec` in runc's words and exit code 255: a missing cwd (engines match
/// the lowercase "no such file or directory" in it), a relative --cwd; an unknown
/// --cap is skipped with a warning, as runc does.
#[test]
fn exec_cwd_and_cap_errors_in_runcs_words() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-execerr");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-execerr-{}", unique_id());
        rt.run_detached(&id, &b);
        let o = rt.exec(&["exec", "--cwd", "/no/such/dir", &id, "/bin/true"]);
        o.assert_code(255);
        assert!(
            o.stderr.contains(
                "chdir to cwd (\\\"/no/such/dir\\\") set in config.json failed: no such file or directory"
            ),
            "{name}: {o:?}"
        );
        let o = rt.exec(&["exec", "--cwd", "rel", &id, "/bin/true"]);
        o.assert_code(255);
        assert!(
            o.stderr.contains("Cwd must be an absolute path"),
            "{name}: {o:?}"
        );
        let o = rt.exec(&["exec", "--cap", "CAP_BERTH_NONE", &id, "/bin/true"]);
        o.assert_ok();
        assert!(o.stderr.contains("CAP_BERTH_NONE"), "{name}: {o:?}");
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// CLI: `spec` and `spec --rootless` write runc's document, tab-indented as runc's,
/// with no null values. Differences kept: ociVersion (the spec version implemented)
/// and a cgroup namespace (runc 1.2's default too).
#[test]
fn spec_writes_runcs_document() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    let mut docs = Vec::new();
    for (name, rt) in &rts {
        for rootless in [false, true] {
            let dir = rt.scratch(&format!("spec-{rootless}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut c = rt.cmd().no_root().args(["spec", "--bundle"]).arg(&dir);
            if rootless {
                c = c.arg("--rootless");
            }
            c.run().assert_ok();
            let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
            assert!(text.starts_with("{\n\t\""), "{name}: not tab-indented");
            assert!(!text.contains("null"), "{name}: {text}");
            let mut v: Value = serde_json::from_str(&text).unwrap();
            v.as_object_mut().unwrap().remove("ociVersion");
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "cgroup");
            docs.push((rootless, v));
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    if docs.len() == 4 {
        assert_eq!(docs[0].1, docs[2].1, "spec differs from runc's");
        assert_eq!(docs[1].1, docs[3].1, "spec --rootless differs from runc's");
    }
}

/// Terminal: the container's pty belongs to the process's uid (group tty, 5, as the
/// devpts `gid=5` option gives it), not to root, so that it can reopen its terminal.
#[test]
fn pty_is_owned_by_the_process_uid() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-ptyown");
        b.terminal(true).user(1000, 1000, &[]).args(&[
            "/bin/sh",
            "-c",
            "echo \"owner=$(stat -c %u:%g $(readlink /proc/self/fd/0))\"",
        ]);
        let sock = ConsoleSocket::bind(&rt.scratch("ptyown").join("c.sock"));
        let id = format!("rb-ptyown-{}", unique_id());
        let path = sock.path().to_str().unwrap().to_string();
        rt.create_with(&id, &b, &["--console-socket", &path])
            .assert_ok();
        let got = sock.receive(Duration::from_secs(10));
        rt.start(&id).assert_ok();
        let out = read_master_until(&got.fds[0], Duration::from_secs(10), |b| {
            String::from_utf8_lossy(b).contains('\n')
        });
        let out = String::from_utf8_lossy(&out).into_owned();
        assert!(out.contains("owner=1000:5"), "{name}: {out:?}");
        rt.wait_status(&id, "stopped", Duration::from_secs(10));
        rt.delete(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// CLI: without a command the runtime prints its global help (exit 0), as runc.
#[test]
fn no_command_prints_the_global_help() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let o = rt.cmd().no_root().run();
        o.assert_ok();
        for section in ["USAGE:", "COMMANDS:", "GLOBAL OPTIONS:"] {
            assert!(o.stdout.contains(section), "{name}: {}", o.stdout);
        }
    }
}

/// The test process's own soft RLIMIT_NOFILE (the runtimes inherit it).
fn own_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    assert_eq!(rc, 0, "getrlimit");
    r.rlim_cur
}

/// Process: rlimits are set last before the identity switch, as runc sets them when its
/// init reports ready: a createContainer hook (run by the init while it builds the root)
/// still has the runtime's limits, the process the configured ones.
#[test]
fn rlimits_are_set_after_the_create_container_hooks() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    let own = own_nofile();
    let lim = own.min(512) / 2;
    assert!(lim >= 16, "the test's own RLIMIT_NOFILE is {own}");
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-rlorder");
        let out = b.join("hook-nofile.out");
        b.rlimits(&[("RLIMIT_NOFILE", lim, lim)]);
        b.config["hooks"] = json!({"createContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("ulimit -n > {}", out.display())],
        }]});
        let o = run_sh(rt, &mut b, "ulimit -n");
        o.assert_ok();
        assert_eq!(o.stdout.trim(), lim.to_string(), "{name}: the process");
        let hook = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(
            !hook.trim().is_empty() && hook.trim() != lim.to_string(),
            "{name}: the createContainer hook ran under the container's limit: {hook:?}"
        );
        assert_no_leaks(rt, &b);
    }
}

/// Terminal: `exec` of a process with a terminal applies its `consoleSize` to the new
/// pty before the process runs.
#[test]
fn exec_tty_applies_console_size() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-exectty");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-exectty-{}", unique_id());
        rt.run_detached(&id, &b);
        let p = b.join("tty-process.json");
        std::fs::write(
            &p,
            r#"{"terminal":true,"consoleSize":{"height":33,"width":77},
               "args":["/bin/sh","-c","busybox stty size; sleep 1"],"cwd":"/","env":["PATH=/bin"],
               "user":{"uid":0,"gid":0}}"#,
        )
        .unwrap();
        let sock = ConsoleSocket::bind(&b.join("exec-tty.sock"));
        let sock_path = sock.path().to_str().unwrap().to_string();
        let pid_file = b.join("exec-tty.pid");
        rt.exec(&[
            "exec",
            "-d",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "--console-socket",
            &sock_path,
            "-p",
            p.to_str().unwrap(),
            &id,
        ])
        .assert_ok();
        // The detached process is reparented to the test: it must be reaped for the
        // pid namespace to go away at delete.
        let raw = std::fs::read_to_string(&pid_file).unwrap_or_default();
        rt.track_pid(raw.trim().parse().expect("exec pid file"));
        let got = sock.receive(Duration::from_secs(10));
        assert_eq!(got.fds.len(), 1, "{name}: one pty master");
        let out = read_master_until(&got.fds[0], Duration::from_secs(10), |b| {
            String::from_utf8_lossy(b).contains('\n')
        });
        let out = String::from_utf8_lossy(&out);
        assert_eq!(out.trim(), "33 77", "{name}: {out:?}");
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// Security: with `--no-pivot`, a process that makes its own user, mount and pid
/// namespaces (`unshare -Urmpf`, no privilege needed) cannot mount a fresh, unmasked
/// proc. The kernel allows that mount only if a proc without locked mounts over it is
/// already in the mount namespace: the container's /proc is masked (locked once copied
/// into the new user namespace), but without pivot_root the host's /proc stays in the
/// container's namespace under the moved root unless the runtime takes it away.
/// runc: "permission denied" with and without --no-pivot.
#[test]
fn no_pivot_keeps_a_fresh_proc_mount_out() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        for extra in [&[][..], &["--no-pivot"][..]] {
            let mut b = Bundle::new("rb-nopivot");
            b.user(1000, 1000, &[]);
            let o = run_sh_with(
                rt,
                &mut b,
                "busybox unshare -Urmpf sh -c 'if mount -t proc proc /tmp 2>/dev/null; \
                 then echo mounted; else echo refused; fi'",
                extra,
            );
            o.assert_ok();
            assert_eq!(o.stdout, "refused\n", "{name} {extra:?}: {o:?}");
            assert_no_leaks(rt, &b);
        }
    }
}

/// Mounts: mounts are made in the order listed, each source looked up when its turn
/// comes, in the container's mount namespace: a bind whose source lies below an
/// earlier mount of the same config (the tmpfs on /a, named by its rootfs path) binds
/// what that mount put there.
#[test]
fn bind_source_below_an_earlier_mount() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-mountorder");
        b.mkdir("a");
        let src = b.rootfs_path("a");
        b.add_mount("/a", "tmpfs", "tmpfs", &["size=1m"]);
        b.add_bind("/b", &src, &["bind"]);
        let o = run_sh(rt, &mut b, "echo hi > /a/x && cat /b/x");
        o.assert_ok();
        assert_eq!(o.stdout, "hi\n", "{name}: {o:?}");
        assert!(
            !src.join("x").exists(),
            "{name}: the write reached the host's directory under the tmpfs"
        );
        assert_no_leaks(rt, &b);
    }
}

/// Output: `events --interval` ends (exit 0) when the container is deleted, as runc 1.2
/// ends it when the container's cgroup goes away. runc 1.1.5 keeps running and logs
/// errors, so only the runtime under test is run.
#[test]
fn events_interval_ends_when_the_container_is_deleted() {
    if skip_on_runc("runc 1.1.5's events --interval does not end on delete") {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new("rb-evdel");
    b.args(&["/bin/sleep", "30"]);
    let id = format!("rb-evdel-{}", unique_id());
    rt.run_detached(&id, &b);
    let mut child = std::process::Command::new(&rt.bin)
        .arg("--root")
        .arg(rt.root())
        .args(["events", "--interval", "100ms", &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn events");
    let out = sys::OutputCollector::new(child.stdout.take().expect("piped stdout"));
    // Delete once the stream runs (its first stats line is out), not after a fixed
    // delay: a loaded machine could start `events` after the delete.
    out.wait(Duration::from_secs(20), |t| t.contains('\n'));
    rt.delete_force(&id).assert_ok();
    let status = sys::wait_for(Duration::from_secs(20), || child.try_wait().ok().flatten());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let stdout = out.finish();
    assert!(
        status.is_some_and(|s| s.success()),
        "events after delete: {status:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    let lines = json_lines(&stdout);
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l["type"] == "stats"),
        "{stdout}"
    );
    assert_no_leaks(&rt, &b);
}

/// Mounts: in a new user namespace whose root is not the host's, a bind whose source
/// lies below a directory that root cannot search (0700, owned by host root) is still
/// made: runc's parent opens such sources for its init, berth's `create` clones them
/// (open_tree) on the host for the init to attach. What the container may then do
/// with the files is up to their own modes.
#[test]
fn bind_source_the_user_namespace_cannot_reach() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-usernsbind");
        b.add_namespace("user", None).uid_mappings(0, 200000, 65536);
        let private = b.join("private");
        let src = private.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("f"), "data\n").unwrap();
        sys::set_mode(&src.join("f"), 0o644);
        sys::set_mode(&src, 0o755);
        sys::set_mode(&private, 0o700);
        b.mkdir("mnt");
        b.add_bind("/mnt", &src, &["rbind", "ro"]);
        let o = run_sh(
            rt,
            &mut b,
            "cat /mnt/f; touch /mnt/g 2>/dev/null || echo ro",
        );
        o.assert_ok();
        assert_eq!(o.stdout, "data\nro\n", "{name}: {o:?}");
        assert_no_leaks(rt, &b);
    }
}

/// Signals: SIGKILL to a paused container thaws it so that it dies, as runc does;
/// another signal leaves it paused until `resume`. With `--all` runc 1.1.5 differs
/// (it thaws for every signal, and a paused container it sends SIGKILL to with
/// `--all` keeps running); runc 1.2 signals the init and applies the same thaw rule,
/// so those cases run under the runtime under test only.
#[test]
fn sigkill_of_a_paused_container_thaws_it() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-killpaused");
        b.args(&["/bin/sleep", "30"]);
        for all in [false, true] {
            if all && *name == "runc" {
                continue;
            }
            let id = format!("rb-killpaused-{}", unique_id());
            rt.run_detached(&id, &b);
            rt.exec(&["pause", &id]).assert_ok();
            let mut args = vec!["kill"];
            if all {
                args.push("--all");
            }
            args.extend([id.as_str(), "KILL"]);
            rt.exec(&args).assert_ok();
            rt.wait_status(&id, "stopped", Duration::from_secs(10));
            rt.delete(&id).assert_ok();
        }
        if *name != "runc" {
            let id = format!("rb-killpaused-{}", unique_id());
            rt.run_detached(&id, &b);
            rt.exec(&["pause", &id]).assert_ok();
            rt.exec(&["kill", "--all", &id, "TERM"]).assert_ok();
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(rt.status(&id), "paused", "{name}: TERM thawed it");
            rt.exec(&["resume", &id]).assert_ok();
            rt.delete_force(&id).assert_ok();
        }
        assert_no_leaks(rt, &b);
    }
}
