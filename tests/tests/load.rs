//! Load, the suite's small version of integration/bench/load.py: 150 sequential
//! and 30 concurrent `run -d` + `rm -f`. The time per container stays flat as
//! the count grows (compared by medians, with room for a loaded machine), `ps`,
//! `logs` and `inspect` stay fast along the way, and the leak census finds
//! nothing at the end (mounts, cgroups, processes, lock files, temp entries,
//! runtime state, netns, veths, bridges, nft tables), nor open fds gained by
//! the test process.

use berth_tests::census::assert_clean;
use berth_tests::manager::Berth;
use std::time::{Duration, Instant};

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn timed(b: &Berth, args: &[&str]) -> Duration {
    let t = Instant::now();
    b.run(args).assert_ok();
    t.elapsed()
}

#[test]
fn sequential_run_rm_stays_flat_and_leaks_nothing() {
    const N: usize = 150;
    let b = Berth::with_busybox("busybox");
    let fds = open_fds();
    // one long-lived container that `logs` and `inspect` are timed on
    b.run(&[
        "run",
        "-d",
        "--name",
        "witness",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 500 ]; do echo line-$i; i=$((i+1)); done; sleep 1000",
    ])
    .assert_ok();
    let mut per = Vec::with_capacity(N);
    let mut side = Vec::new();
    for i in 0..N {
        let t = Instant::now();
        let id = b
            .run(&["run", "-d", "busybox", "sleep", "1000"])
            .assert_ok()
            .stdout
            .trim()
            .to_string();
        b.run(&["rm", "-f", &id]).assert_ok();
        per.push(t.elapsed());
        if i % 25 == 24 {
            side.push((
                i + 1,
                timed(&b, &["ps", "-a"]),
                timed(&b, &["logs", "witness"]),
                timed(&b, &["inspect", "witness"]),
            ));
        }
    }
    let first = median(&per[..30]);
    let last = median(&per[N - 30..]);
    eprintln!("run -d + rm -f: first 30 median {first:?}, last 30 median {last:?}");
    for (n, ps, logs, inspect) in &side {
        eprintln!("after {n}: ps {ps:?} logs {logs:?} inspect {inspect:?}");
        for (what, t) in [("ps", ps), ("logs", logs), ("inspect", inspect)] {
            assert!(
                *t < Duration::from_secs(2),
                "{what} took {t:?} after {n} containers"
            );
        }
    }
    // flat: the last containers cost at most twice the first (plus slack for
    // the other jobs of a shared machine)
    assert!(
        last <= first * 2 + Duration::from_millis(150),
        "time per container grew: first {first:?}, last {last:?}"
    );
    b.run(&["rm", "-f", "witness"]).assert_ok();
    assert_clean(&b, "after the sequential load");
    assert!(
        open_fds() <= fds + 2,
        "the test process gained fds: {fds} -> {}",
        open_fds()
    );
}

#[test]
fn concurrent_run_rm_all_succeed_and_leak_nothing() {
    const N: usize = 30;
    let b = Berth::with_busybox("busybox");
    let t = Instant::now();
    let results: Vec<(usize, Result<Duration, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let b = &b;
                s.spawn(move || {
                    let name = format!("c{i}");
                    let t = Instant::now();
                    let run = b
                        .cmd()
                        .args(["run", "-d", "--name", &name, "busybox", "sleep", "1000"])
                        .timeout(Duration::from_secs(120))
                        .run();
                    if !run.ok() {
                        return (i, Err(format!("run: {run}")));
                    }
                    let rm = b
                        .cmd()
                        .args(["rm", "-f", &name])
                        .timeout(Duration::from_secs(120))
                        .run();
                    if !rm.ok() {
                        return (i, Err(format!("rm: {rm}")));
                    }
                    (i, Ok(t.elapsed()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = t.elapsed();
    let failed: Vec<_> = results
        .iter()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("c{i}: {e}")))
        .collect();
    assert!(
        failed.is_empty(),
        "failures under load:\n{}",
        failed.join("\n")
    );
    let times: Vec<Duration> = results.iter().filter_map(|(_, r)| r.clone().ok()).collect();
    eprintln!(
        "{N} concurrent run -d + rm -f: total {total:?}, median {:?}, max {:?}",
        median(&times),
        times.iter().max().unwrap()
    );
    assert!(
        b.run(&["ps", "-a", "-q"])
            .assert_ok()
            .stdout
            .trim()
            .is_empty(),
        "containers left"
    );
    assert_clean(&b, "after the concurrent load");
}
