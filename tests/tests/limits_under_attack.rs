//! Resource limits hold against a container that attacks them: a fork bomb under
//! `--pids-limit`, a memory hog under `--memory`, a log flood. Afterwards nothing
//! is left (containers, mounts, runtime state) and berth still answers.

use berth_tests::manager::Berth;
use serde_json::Value;
use std::time::{Duration, Instant};

fn berth() -> Berth {
    berth_tests::init();
    let b = Berth::new();
    b.import_busybox("busybox");
    b
}

fn checker_volume() -> String {
    format!("{}:/checker:ro", berth_tests::checker_bin().display())
}

/// A fork bomb stops at the pids limit with EAGAIN, and the container goes away.
#[test]
fn fork_bomb_stops_at_pids_limit() {
    let b = berth();
    let vol = checker_volume();
    let out = b.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "40",
        "-v",
        &vol,
        "busybox",
        "/checker",
        "fork",
        "400",
        "2",
    ]);
    out.assert_ok();
    let r: Value = out
        .stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON: {out}"));
    let forked = r["forked"].as_u64().unwrap_or(u64::MAX);
    assert!(
        forked < 40,
        "forked {forked} processes under --pids-limit 40: {r}"
    );
    assert_eq!(r["errno"], libc::EAGAIN, "{r}");
    // berth still answers quickly.
    let t = Instant::now();
    b.run(&["ps", "-a"]).assert_ok();
    assert!(t.elapsed() < Duration::from_secs(5));
    b.assert_no_leaks();
}

/// A process that allocates beyond `--memory` is killed (137, as docker), not
/// the host's processes. (These machines have no swap, so the limit is the RAM.)
#[test]
fn memory_hog_is_killed_at_the_limit() {
    let b = berth();
    let vol = checker_volume();
    let out = b.run(&[
        "run", "--rm", "--memory", "32m", "-v", &vol, "busybox", "/checker", "alloc", "256",
    ]);
    assert_eq!(out.code, Some(137), "{out}");
    assert!(!out.stdout.contains("\"ok\":true"), "{out}");
    b.assert_no_leaks();
}

/// A container that floods its stdout: the shim keeps up, the whole log is
/// there to its last line, and `logs` answers.
#[test]
fn log_flood_is_recorded_to_the_last_line() {
    let b = berth();
    b.run(&[
        "run",
        "-d",
        "--name",
        "flood",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 20000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; \
         i=$((i+1)); done; echo LAST",
    ])
    .assert_ok();
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let st = b.run(&["inspect", "-f", "{{.State.Status}}", "flood"]);
        if st.stdout.trim() == "exited" {
            break;
        }
        assert!(Instant::now() < end, "the flood did not end: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let t = Instant::now();
    let logs = b.run(&["logs", "--tail", "2", "flood"]);
    logs.assert_ok();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "logs took {:?}",
        t.elapsed()
    );
    assert!(logs.stdout.ends_with("LAST\n"), "{logs}");
    let all = b.run(&["logs", "flood"]);
    assert_eq!(all.stdout.lines().count(), 20001, "lines lost");
    b.run(&["rm", "flood"]).assert_ok();
    b.assert_no_leaks();
}
