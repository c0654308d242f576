//! Resource limits hold against a container that attacks them: a fork bomb under
//! `--pids-limit`, a memory hog under `--memory`, a log flood (kept whole, and
//! held to its size by rotation), a container that closes its stdio or never
//! reads its stdin, a healthcheck that hangs. Afterwards nothing is left (the
//! leak census: containers, mounts, cgroups, processes, runtime state) and berth
//! still answers.

use berth_tests::census::assert_clean;
use berth_tests::manager::Berth;
use serde_json::Value;
use std::time::{Duration, Instant};

fn checker_volume() -> String {
    format!("{}:/checker:ro", berth_tests::checker_bin().display())
}

/// A fork bomb stops at the pids limit with EAGAIN, and the container goes away.
#[test]
fn fork_bomb_stops_at_pids_limit() {
    let b = Berth::with_busybox("busybox");
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
    let b = Berth::with_busybox("busybox");
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
    let b = Berth::with_busybox("busybox");
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

fn wait_exited(b: &Berth, name: &str, t: Duration) {
    let end = Instant::now() + t;
    loop {
        let st = b.run(&["inspect", "-f", "{{.State.Status}}", name]);
        if st.stdout.trim() == "exited" {
            return;
        }
        assert!(Instant::now() < end, "{name} did not exit: {st}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the shim of container `name` is alive.
fn shim_alive(b: &Berth, name: &str) -> bool {
    let id = b
        .run(&["inspect", "-f", "{{.Id}}", name])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let marker = format!("BERTH_STATE={}", b.state().display());
    berth_tests::sys::pids_with_env(&marker)
        .into_iter()
        .any(|p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                // the shim's dir is named by the id or, under a long state path, its first 16
                c.contains("berth-shim") && c.contains(&id[..16])
            })
        })
}

/// A log flood of 12 MB (four times what rotation keeps) under `max-size=1m max-file=3`: the shim survives it,
/// the files on disk stay within the rotation's bound while it runs and after,
/// and the newest lines, to the last, are there.
#[test]
fn log_flood_is_held_by_rotation() {
    let b = Berth::with_busybox("busybox");
    b.run(&[
        "run",
        "-d",
        "--name",
        "flood",
        "--log-opt",
        "max-size=1m",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx \
         | head -c 12000000; echo; echo LAST",
    ])
    .assert_ok();
    let id = b
        .run(&["inspect", "-f", "{{.Id}}", "flood"])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let dir = b.root().join("containers").join(&id);
    let log_bytes = || -> u64 {
        std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().contains("-json.log"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    // json-file wraps each line: 3 files of 1 MB (plus one line over) at most
    let bound = 3 * (1 << 20) + 64 * 1024;
    let started = Instant::now();
    let end = started + Duration::from_secs(180);
    let mut max_seen = 0;
    loop {
        max_seen = max_seen.max(log_bytes());
        let st = b.run(&["inspect", "-f", "{{.State.Status}}", "flood"]);
        if st.stdout.trim() == "exited" {
            break;
        }
        assert!(shim_alive(&b, "flood"), "the shim died under the flood");
        assert!(Instant::now() < end, "the flood did not end");
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!("12 MB flood logged in {:?}", started.elapsed());
    max_seen = max_seen.max(log_bytes());
    assert!(
        max_seen <= bound,
        "the log grew to {max_seen} bytes under max-size=1m max-file=3"
    );
    let tail = b.run(&["logs", "--tail", "1", "flood"]);
    assert_eq!(tail.assert_ok().stdout, "LAST\n", "the last line is lost");
    let code = b.run(&["inspect", "-f", "{{.State.ExitCode}}", "flood"]);
    assert_eq!(code.stdout.trim(), "0");
    b.run(&["rm", "flood"]).assert_ok();
    assert_clean(&b, "log flood");
}

/// A container that closes its stdout and stderr (and stdin) keeps running,
/// its exit code is recorded, and its shim notices nothing amiss.
#[test]
fn container_closing_its_stdio() {
    let b = Berth::with_busybox("busybox");
    b.run(&[
        "run",
        "-d",
        "-i",
        "--name",
        "closer",
        "busybox",
        "sh",
        "-c",
        "echo before; exec 0<&- 1>&- 2>&-; while ! test -e /tmp/go; do sleep 0.05; done; exit 7",
    ])
    .assert_ok();
    std::thread::sleep(Duration::from_millis(700));
    let st = b.run(&["inspect", "-f", "{{.State.Status}}", "closer"]);
    assert_eq!(st.stdout.trim(), "running", "{st}");
    assert!(shim_alive(&b, "closer"));
    // It exits when told to (a fixed `sleep 2` could run out before the checks above
    // on a loaded machine).
    b.run(&["exec", "closer", "touch", "/tmp/go"]).assert_ok();
    wait_exited(&b, "closer", Duration::from_secs(20));
    let code = b.run(&["inspect", "-f", "{{.State.ExitCode}}", "closer"]);
    assert_eq!(code.stdout.trim(), "7", "{code}");
    assert_eq!(b.run(&["logs", "closer"]).stdout, "before\n");
    b.run(&["rm", "closer"]).assert_ok();
    assert_clean(&b, "closed stdio");
}

/// A container that never reads its stdin, fed 16 MB: `run -i` neither hangs
/// nor fails when the container exits with the input unread.
#[test]
fn container_never_reading_stdin() {
    let b = Berth::with_busybox("busybox");
    let input = b.scratch("in").join("big");
    std::fs::write(&input, vec![b'y'; 16 << 20]).unwrap();
    let t = Instant::now();
    let out = b
        .cmd()
        .args([
            "run",
            "-i",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "sleep 2; echo done",
        ])
        .stdin(berth_tests::Io::File(input.clone()))
        .timeout(Duration::from_secs(60))
        .run();
    out.assert_ok();
    assert_eq!(out.stdout, "done\n");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "run -i took {:?}",
        t.elapsed()
    );
    // detached with an open stdin nobody writes to: it runs, and stops at once
    b.run(&[
        "run",
        "-d",
        "-i",
        "--name",
        "idle",
        "busybox",
        "sh",
        "-c",
        "sleep 1000",
    ])
    .assert_ok();
    let t = Instant::now();
    b.run(&["stop", "-t", "1", "idle"]).assert_ok();
    assert!(t.elapsed() < Duration::from_secs(10));
    b.run(&["rm", "idle"]).assert_ok();
    assert_clean(&b, "unread stdin");
}

/// A healthcheck that hangs: each probe is killed at its timeout (no probes
/// pile up in the container), the container turns unhealthy, and stop and rm
/// work at once.
#[test]
fn hanging_healthcheck_times_out() {
    let b = Berth::with_busybox("busybox");
    b.run(&[
        "run",
        "-d",
        "--name",
        "hang",
        "--health-cmd",
        "sleep 1000",
        "--health-interval",
        "300ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ])
    .assert_ok();
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let h = b.run(&["inspect", "-f", "{{.State.Health.Status}}", "hang"]);
        if h.stdout.trim() == "unhealthy" {
            break;
        }
        assert!(Instant::now() < end, "never unhealthy: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // let a few more probes time out, then count the container's processes
    std::thread::sleep(Duration::from_secs(2));
    let top = b.run(&["top", "hang"]);
    let sleeps = top
        .stdout
        .lines()
        .filter(|l| l.contains("sleep 1000"))
        .count();
    // the init and at most the probe running right now (its shell and sleep)
    assert!(sleeps <= 3, "probes pile up:\n{}", top.stdout);
    let log = b.run(&["inspect", "-f", "{{json .State.Health.Log}}", "hang"]);
    assert!(
        log.stdout.contains("timed out") || log.stdout.contains("Health check exceeded timeout"),
        "no timeout in the health log: {log}"
    );
    let t = Instant::now();
    b.run(&["rm", "-f", "hang"]).assert_ok();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_clean(&b, "hanging healthcheck");
}

/// A container's processes get SIGPIPE's default action (as under runc): the
/// writer of a pipe whose reader is gone dies, so `yes | head` ends. (The Rust
/// runtime ignores SIGPIPE, and an ignored signal survives execve: before the
/// runtime reset it, `yes` spun on EPIPE for ever.)
#[test]
fn sigpipe_has_its_default_action() {
    let b = Berth::with_busybox("busybox");
    let t = Instant::now();
    let out = b
        .cmd()
        .args([
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "yes | head -n 2; grep SigIgn /proc/self/status",
        ])
        .timeout(Duration::from_secs(30))
        .run();
    out.assert_ok();
    assert!(t.elapsed() < Duration::from_secs(20), "yes | head hung");
    let ign = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no SigIgn line: {out}"));
    assert_eq!(
        ign & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE ignored: {out}"
    );
    assert_clean(&b, "sigpipe");
}
