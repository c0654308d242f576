//! runc's observable behaviour, scenario by scenario: each test runs the same scenario
//! under runc (the reference) and under the runtime under test and asserts the outcome
//! both must have. A runc that differs fails the test too, so the expectation is checked
//! against the reference, not only written down.

use berth_tests::*;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The reference first, then the runtime under test; None (and a skip) without runc.
fn both() -> Option<Vec<(&'static str, Runtime)>> {
    let Some(runc) = reference_runc() else {
        berth_tests::skip(berth_tests::Skip::MissingPeer("runc"));
        return None;
    };
    Some(vec![
        ("runc", Runtime::with_bin(runc)),
        ("under test", Runtime::new()),
    ])
}

fn uid() -> String {
    format!("{}-{}", std::process::id(), sys::unique())
}

/// Foreground `run` of `sh -c script`; returns the container's stdout.
fn run_sh(rt: &Runtime, b: &mut Bundle, script: &str) -> Output {
    b.args(&["/bin/sh", "-c", script]);
    rt.run_with(&format!("rb-{}", uid()), b, &[])
}

fn pid_of(rt: &Runtime, id: &str) -> i32 {
    rt.state_json(id)["pid"].as_i64().expect("pid in state") as i32
}

/// Security: a created (not started) container's init holds no fd of a directory of
/// the runtime's state (a way out to the host through /proc/PID/fd).
#[test]
fn created_init_holds_no_state_directory_fd() {
    let Some(rts) = both() else { return };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-fds");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-fds-{}", uid());
        rt.create(&id, &b).assert_ok();
        let pid = pid_of(rt, &id);
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
    let Some(rts) = both() else { return };
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
        let id = format!("rb-dev-{}", uid());
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
    let Some(rts) = both() else { return };
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
    let Some(rts) = both() else { return };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-state");
        b.user(1000, 1000, &[]).args(&["/bin/sleep", "30"]);
        let id = format!("rb-state-{}", uid());
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
    let Some(rts) = both() else { return };
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
    let Some(rts) = both() else { return };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-execp");
        b.user(1000, 1000, &[]).args(&["/bin/sleep", "30"]);
        let id = format!("rb-execp-{}", uid());
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
    let Some(rts) = both() else { return };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-kill0");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-kill0-{}", uid());
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
    let Some(rts) = both() else { return };
    for (name, rt) in &rts {
        let rel = format!("berth-frozen-{}", uid());
        let _guard = cgroup::CgroupDirsGuard::new(&[&rel]);
        let freezer: PathBuf = cgroup::mount_of("freezer").join(&rel);
        std::fs::create_dir(&freezer).unwrap();
        std::fs::write(freezer.join("freezer.state"), "FROZEN").unwrap();
        let mut b = Bundle::new("rb-frozen");
        b.args(&["/bin/true"]);
        b.config["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
        let id = format!("rb-frozen-{}", uid());
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

/// Output: `--debug` writes `level=debug` lines (text on stderr, json to `--log`).
#[test]
fn debug_writes_debug_lines() {
    let Some(rts) = both() else { return };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-debug");
        b.args(&["/bin/true"]);
        b.save();
        let id = format!("rb-debug-{}", uid());
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
        let id2 = format!("rb-debug2-{}", uid());
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
        assert_no_leaks(rt, &b);
    }
}

/// CLI: a global option given twice takes the last value (runc's flag parsing).
#[test]
fn global_option_given_twice_last_wins() {
    let Some(rts) = both() else { return };
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
    let Some(rts) = both() else { return };
    let verbs = [
        "create", "run", "start", "exec", "kill", "delete", "state", "list", "ps", "pause",
        "resume", "update", "events", "spec", "features",
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
    let Some(rts) = both() else { return };
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
        let o = rt.run_with(&format!("rb-dac-{}", uid()), &b, &[]);
        assert!(o.ok() && o.stdout.trim() == "ran", "{name}: {o:?}");
        assert_no_leaks(rt, &b);
    }
}

/// Hooks: createContainer hooks run in the container's root directory and, like
/// startContainer hooks, inherit the process environment when they set no `env`.
#[test]
fn in_container_hooks_get_process_env_and_root() {
    let Some(rts) = both() else { return };
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
        let o = rt.run_with(&format!("rb-hooks-{}", uid()), &b, &[]);
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
            while let Some(n) = notify::recv(&got.fds[0], Duration::from_secs(3)) {
                let _ = notify::fail_with(&got.fds[0], n.id, libc::ENOENT);
                answered += 1;
            }
            answered
        });
        b.save();
        let id = format!("rb-scn-{}", uid());
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
    let Some(rts) = both() else { return };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-events");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-events-{}", uid());
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
    let Some(rts) = both() else { return };
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
        let id = format!("rb-tty-{}", uid());
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
    let Some(rts) = both() else { return };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-execve");
        b.write_file("run.sh", "#!/nonexistent/sh\necho hi\n", 0o755);
        b.args(&["/run.sh"]);
        let o = rt.run_with(&format!("rb-execve-{}", uid()), &b, &[]);
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
    let Some(rts) = both() else { return };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-rdt");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-rdt-{}", uid());
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
    let Some(rts) = both() else { return };
    for (name, rt) in &rts {
        let mut b = Bundle::new("rb-pausedel");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("rb-pausedel-{}", uid());
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
