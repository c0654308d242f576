//! The runtime behaviours that decide the runtime-tools validation files which race with
//! the suite's own timing (`killsig`, `pidfile`; see docs/conformance.md). Each is pinned
//! here deterministically, beside runc where runc 1.1.5 has the behaviour, so that a
//! change which would move those files (a kill that escalates, an exited process that
//! still counts as running, a `start` that returns before the program runs) fails here.

use berth_tests::sys::{caught_signals, sig_bit as bit};
use berth_tests::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// `pidfile`: a container process that has exited is `stopped` even while its zombie is
/// not yet reaped (here the test process, the subreaper, holds it unreaped), and `kill`
/// of it fails with "container not running", as the spec requires of a stopped
/// container. The file passes only when its `kill` lands before `true` exits.
#[test]
fn exited_unreaped_process_is_stopped_and_cannot_be_signalled() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("conf-zombie");
        b.args(&["/bin/true"]);
        let id = format!("conf-zombie-{}", unique_id());
        rt.create(&id, &b).assert_ok();
        let pid = rt.pid_of(&id);
        rt.start(&id).assert_ok();
        // `Runtime::exec` never reaps, so the zombie stays until `delete` below.
        let zombie = sys::wait_for(Duration::from_secs(10), || {
            matches!(sys::proc_stat(pid), Some(('Z', _))).then_some(())
        });
        assert!(
            zombie.is_some(),
            "{name}: init {pid} is not an unreaped zombie: {:?}",
            sys::proc_stat(pid)
        );
        let st = rt.state_json(&id);
        assert_eq!(st["status"], "stopped", "{name}: {st}");
        for sig in ["KILL", "TERM"] {
            let o = rt.kill(&id, sig);
            assert!(!o.ok(), "{name}: kill {sig} of an exited process succeeded");
            assert!(o.stderr.contains("container not running"), "{name}: {o:?}");
        }
        assert!(
            matches!(sys::proc_stat(pid), Some(('Z', _))),
            "{name}: the zombie was reaped before delete"
        );
        rt.delete(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// Wait until `pid` runs `comm`: runc's `start` returns before its init has exec'd the
/// program, and that Go init catches every signal until then.
fn wait_for_program(pid: i32, comm: &str, name: &str) {
    assert!(
        sys::wait_for(Duration::from_secs(10), || {
            let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (c.trim() == comm).then_some(())
        })
        .is_some(),
        "{name}: the init never became {comm}"
    );
}

/// `killsig`: PID 1 of a pid namespace without a handler for TERM does not get it (the
/// kernel drops it at send time), and `kill` neither fails nor escalates: the container
/// keeps running until KILL. The file fails when its TERM lands before `sh` ran `trap`.
#[test]
fn unhandled_term_to_the_namespace_init_is_dropped_not_escalated() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("conf-noterm");
        b.args(&["/bin/sleep", "30"]);
        let id = format!("conf-noterm-{}", unique_id());
        rt.create(&id, &b).assert_ok();
        let pid = rt.pid_of(&id);
        rt.start(&id).assert_ok();
        wait_for_program(pid, "sleep", name);
        assert_eq!(caught_signals(pid) & bit(libc::SIGTERM), 0, "{name}");
        rt.kill(&id, "TERM").assert_ok();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(rt.status(&id), "running", "{name}: TERM was not dropped");
        rt.kill(&id, "KILL").assert_ok();
        rt.wait_status(&id, "stopped", Duration::from_secs(10));
        rt.delete(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// `killsig`: the bare names the suite sends (`TERM`, `USR1`, `USR2`, no SIG prefix)
/// reach PID 1 once it has its handlers (waited for here through SigCgt, which the
/// suite cannot do), and the handler that exits stops the container.
#[test]
fn bare_signal_names_reach_a_trapping_init() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    let script = "trap 'touch /tmp/USR1' USR1; trap 'touch /tmp/USR2' USR2; \
                  trap 'touch /tmp/TERM; exit 0' TERM; \
                  while :; do sleep 1 & wait $!; done";
    for (name, rt) in &rts {
        let mut b = Bundle::new("conf-trap");
        b.args(&["/bin/sh", "-c", script]);
        let id = format!("conf-trap-{}", unique_id());
        rt.create(&id, &b).assert_ok();
        let pid = rt.pid_of(&id);
        rt.start(&id).assert_ok();
        wait_for_program(pid, "sh", name);
        let want = bit(libc::SIGTERM) | bit(libc::SIGUSR1) | bit(libc::SIGUSR2);
        assert!(
            sys::wait_for(Duration::from_secs(10), || {
                (caught_signals(pid) & want == want).then_some(())
            })
            .is_some(),
            "{name}: sh never trapped TERM, USR1 and USR2: {:x}",
            caught_signals(pid)
        );
        for sig in ["USR1", "USR2", "TERM"] {
            rt.kill(&id, sig).assert_ok();
            let file = b.rootfs_path(&format!("/tmp/{sig}"));
            assert!(
                sys::wait_for(Duration::from_secs(5), || file.exists().then_some(())).is_some(),
                "{name}: the {sig} trap did not run"
            );
        }
        rt.wait_status(&id, "stopped", Duration::from_secs(5));
        rt.delete(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}

/// `killsig` and `pidfile` both start timing at `start`'s return: berth's `start`
/// returns only once the init has executed the program (its start connection closes on
/// exec), so the program is what /proc/PID/exe shows the moment `start` returns, every
/// time, also when a startContainer hook delays the exec (every other run here). Berth
/// only: runc 1.1.5's `start` returned before its init had executed the program in 3
/// of 6 runs of this test on the development machine (with and without the hook).
#[test]
fn start_returns_once_the_program_is_executed() {
    let rt = Runtime::new();
    for i in 0..10 {
        let mut b = Bundle::new("conf-exe");
        b.args(&["/bin/sleep", "30"]);
        if i % 2 == 1 {
            b.config["hooks"]["startContainer"] =
                json!([{"path": "/bin/sleep", "args": ["sleep", "0.3"]}]);
        }
        let program = std::fs::metadata(b.rootfs_path("/bin/busybox")).unwrap();
        let is_program = |pid: i32| {
            std::fs::metadata(format!("/proc/{pid}/exe"))
                .is_ok_and(|m| m.dev() == program.dev() && m.ino() == program.ino())
        };
        let id = format!("conf-exe-{}-{i}", unique_id());
        rt.create(&id, &b).assert_ok();
        let pid = rt.pid_of(&id);
        assert!(
            !is_program(pid),
            "run {i}: the created init already is the program"
        );
        rt.start(&id).assert_ok();
        assert!(
            is_program(pid),
            "run {i}: start returned before the init executed the program"
        );
        assert_eq!(rt.status(&id), "running");
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(&rt, &b);
    }
}

/// `running` means the program has been executed (the spec's words), so while `start`
/// waits for the startContainer hooks, which run before the exec, a concurrent `state`
/// still says `created`, as runc's does; `running` once `start` has returned.
#[test]
fn state_during_start_container_hooks_is_created() {
    let Some(rts) = runc_then_under_test() else {
        return;
    };
    for (name, rt) in &rts {
        let mut b = Bundle::new("conf-hookstate");
        b.args(&["/bin/sleep", "30"]);
        b.config["hooks"]["startContainer"] =
            json!([{"path": "/bin/sleep", "args": ["sleep", "2"]}]);
        let id = format!("conf-hookstate-{}", unique_id());
        rt.create(&id, &b).assert_ok();
        let pid = rt.pid_of(&id);
        let program = std::fs::metadata(b.rootfs_path("/bin/busybox")).unwrap();
        let is_program = || {
            std::fs::metadata(format!("/proc/{pid}/exe"))
                .is_ok_and(|m| m.dev() == program.dev() && m.ino() == program.ino())
        };
        std::thread::scope(|s| {
            let start = s.spawn(|| rt.start(&id));
            std::thread::sleep(Duration::from_millis(400));
            assert!(
                !start.is_finished(),
                "{name}: start did not wait for the hook"
            );
            assert!(
                !is_program(),
                "{name}: the program ran before the hook ended"
            );
            assert_eq!(rt.status(&id), "created", "{name}: state during the hook");
            start.join().unwrap().assert_ok();
        });
        assert!(is_program(), "{name}");
        assert_eq!(rt.status(&id), "running", "{name}");
        rt.delete_force(&id).assert_ok();
        assert_no_leaks(rt, &b);
    }
}
