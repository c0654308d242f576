//! `berth rm -f` racing a container's own end: its init exiting by itself
//! after a short random delay, the shim's exit hook (`berth internal exited`),
//! a restart policy restarting it, a `--rm` removal, published ports on a user
//! network. After every acknowledged `rm -f` the container must be gone (no
//! record, no name, no shim, no runtime state) and stay gone: a late exit hook
//! or restart must never bring it back. Several workers run at once.

use berth_tests::manager::Berth;
use berth_tests::sys;
use std::time::{Duration, Instant};

/// A small xorshift: each worker's delays differ from run to run.
struct Rng(u64);

impl Rng {
    fn new(salt: u64) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng((t ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One worker: `rounds` times, `run -d` a container of `extra` flags that
/// exits by itself after 0..60 ms, wait 0..80 ms, `rm -f` it, and check it is
/// gone at once and still gone a little later (after its exit hook ran).
fn worker(b: &Berth, tag: &str, extra: &[&str], rounds: usize, deadline: Instant) -> usize {
    let mut rng = Rng::new(tag.bytes().map(u64::from).sum());
    let mut done = 0;
    for i in 0..rounds {
        if Instant::now() > deadline {
            break;
        }
        let name = format!("{tag}-{i}");
        let life = format!("usleep {}; exit {}", rng.below(60_000), rng.below(3));
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sh", "-c", &life]);
        let out = b.run(&args);
        // a `--rm` container may be gone before `run -d` returns: both fine
        if !out.ok() {
            panic!("run -d {name} failed:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(rng.below(80)));
        let rm = b.run(&["rm", "-f", &name]);
        // a `--rm` container that removed itself first is "No such container"
        let auto_removed = extra.contains(&"--rm") && rm.stderr.contains("No such container");
        assert!(rm.ok() || auto_removed, "rm -f {name}:\n{rm}");
        // acknowledged: gone now ...
        let ins = b.run(&["inspect", &name]);
        assert!(
            !ins.ok(),
            "{name} still inspectable right after rm -f:\n{ins}"
        );
        // ... and still gone once its shim's exit hook and restart policy had
        // their chance (a late hook must not bring the record back)
        std::thread::sleep(Duration::from_millis(rng.below(150)));
        let ps = b.run(&["ps", "-a", "-q", "--filter", &format!("name=^{name}$")]);
        assert!(
            ps.ok() && ps.stdout.trim().is_empty(),
            "{name} came back after rm -f: {ps}"
        );
        done += 1;
    }
    done
}

#[test]
fn rm_force_races_the_containers_own_exit() {
    berth_tests::init();
    let b = Berth::new();
    b.import_busybox("busybox");
    b.run(&["network", "create", "racenet"]).assert_ok();
    let deadline = Instant::now() + Duration::from_secs(15);
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let published = format!("{port}:80");
    let kinds: Vec<(&str, Vec<&str>)> = vec![
        ("plain", vec![]),
        ("always", vec!["--restart", "always"]),
        ("onfail", vec!["--restart", "on-failure"]),
        ("autorm", vec!["--rm"]),
        (
            "net",
            vec![
                "--network",
                "racenet",
                "-p",
                &published,
                "--restart",
                "always",
            ],
        ),
    ];
    let total: usize = std::thread::scope(|s| {
        let hs: Vec<_> = kinds
            .iter()
            .map(|(tag, extra)| {
                let b = &b;
                s.spawn(move || worker(b, tag, extra, 40, deadline))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .sum()
    });
    assert!(total >= kinds.len(), "only {total} rounds ran");
    eprintln!("rm -f raced {total} exits");
    // nothing is left: the network goes (no endpoint kept it), no container,
    // mount or runtime state remains, and no shim of this root runs on
    std::thread::sleep(Duration::from_millis(300));
    b.run(&["network", "rm", "racenet"]).assert_ok();
    b.assert_no_leaks();
    assert_store_empty(&b);
    // (a shim runs with `--dir <state>/containers/<id>`)
    let state = b.state().to_string_lossy().into_owned();
    let shims = sys::wait_for(Duration::from_secs(5), || {
        let left = shims_of(&state);
        left.is_empty().then_some(())
    });
    assert!(
        shims.is_some(),
        "shims of this store left: {:?}",
        shims_of(&state)
    );
}

/// Below the store, nothing of a removed container: no container directory,
/// name link or lock file under `<root>/containers`, no shim directory under
/// `<state>/containers` (a late exit hook must not have left or made one).
fn assert_store_empty(b: &Berth) {
    let list = |d: std::path::PathBuf| -> Vec<String> {
        std::fs::read_dir(&d)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let cdir = b.root().join("containers");
    let left = || -> Vec<String> {
        let mut out: Vec<String> = list(cdir.clone())
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect();
        for sub in [".names", ".locks"] {
            out.extend(
                list(cdir.join(sub))
                    .into_iter()
                    .map(|n| format!("{sub}/{n}")),
            );
        }
        out.extend(
            list(b.state().join("containers"))
                .into_iter()
                .map(|n| format!("shim dir {n}")),
        );
        out
    };
    // an exit hook still finishing (it takes the lock file, finds the record
    // gone and unlinks it) is given a moment
    let clean = sys::wait_for(Duration::from_secs(5), || left().is_empty().then_some(()));
    assert!(clean.is_some(), "left in the store: {:?}", left());
}

/// The pids of berth-shim processes whose command line names a path under `dir`.
fn shims_of(dir: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_shim = args.first().is_some_and(|a| a.ends_with("berth-shim"));
        if is_shim && args.iter().any(|a| a.starts_with(dir)) {
            out.push(pid);
        }
    }
    out
}

/// The scene where a container outlived an acknowledged `rm -f` once: long
/// running containers on two user networks, one publishing a port, an `exec`
/// still running in one of them, and one `rm -f A B` for both. Two workers at
/// once, several rounds each: after every `rm -f` neither container is left.
#[test]
fn rm_force_of_busy_containers_on_two_networks() {
    berth_tests::init();
    let b = Berth::new();
    b.import_busybox("busybox");
    b.run(&["network", "create", "rn1"]).assert_ok();
    b.run(&["network", "create", "rn2"]).assert_ok();
    let deadline = Instant::now() + Duration::from_secs(20);
    let rounds: usize =
        std::thread::scope(|s| {
            let hs: Vec<_> =
                (0..2)
                    .map(|w| {
                        let b = &b;
                        s.spawn(move || {
                            let mut rng = Rng::new(w + 7);
                            let mut done = 0;
                            for i in 0..6 {
                                if Instant::now() > deadline {
                                    break;
                                }
                                let port = std::net::TcpListener::bind("0.0.0.0:0")
                                    .unwrap()
                                    .local_addr()
                                    .unwrap()
                                    .port();
                                let (srv, cli) = (format!("srv{w}-{i}"), format!("cli{w}-{i}"));
                                b.run(&[
                            "run", "-d", "--name", &srv, "--network", "rn2", "-p",
                            &format!("{port}:80"), "busybox", "sh", "-c",
                            "mkdir /w && echo hi > /w/index.html && exec httpd -f -p 80 -h /w",
                        ])
                        .assert_ok();
                                b.run(&[
                                    "run",
                                    "-d",
                                    "--name",
                                    &cli,
                                    "--network",
                                    "rn1",
                                    "busybox",
                                    "sleep",
                                    "60",
                                ])
                                .assert_ok();
                                std::thread::scope(|s2| {
                                    // an exec still running when the container goes
                                    s2.spawn(|| {
                                        b.cmd()
                                            .args(["exec", &cli, "sleep", "5"])
                                            .timeout(Duration::from_secs(20))
                                            .try_run()
                                    });
                                    std::thread::sleep(Duration::from_millis(50 + rng.below(200)));
                                    b.run(&["rm", "-f", &srv, &cli]).assert_ok();
                                });
                                for n in [&srv, &cli] {
                                    let ins = b.run(&["inspect", n]);
                                    assert!(!ins.ok(), "{n} still there after rm -f:\n{ins}");
                                }
                                done += 1;
                            }
                            done
                        })
                    })
                    .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .sum()
        });
    assert!(rounds >= 2, "only {rounds} rounds ran");
    eprintln!("rm -f of busy containers: {rounds} rounds");
    let ps = b.run(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "containers left: {ps}");
    b.run(&["network", "rm", "rn1", "rn2"]).assert_ok();
    b.assert_no_leaks();
    assert_store_empty(&b);
}

/// `rm -f NAME` sent while `run -d --name NAME` is still creating and
/// starting it (restart policy and a user network included): whatever the
/// order, once `rm -f` said it removed the container, it is gone after `run`
/// returned too (the run fails, or it had finished before the removal), and
/// nothing is left.
#[test]
fn rm_force_races_run_d_of_the_same_name() {
    berth_tests::init();
    let b = Berth::new();
    b.import_busybox("busybox");
    b.run(&["network", "create", "runrace"]).assert_ok();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rng = Rng::new(99);
    let (mut removed, mut run_failed, mut rounds) = (0, 0, 0);
    for i in 0..25 {
        if Instant::now() > deadline {
            break;
        }
        let name = format!("rr-{i}");
        let delay = Duration::from_millis(rng.below(40));
        let extra: &[&str] = if i % 2 == 0 {
            &["--restart", "always", "--network", "runrace"]
        } else {
            &[]
        };
        let (run, rm) = std::thread::scope(|s| {
            let r = s.spawn(|| {
                let mut args = vec!["run", "-d", "--name", &name];
                args.extend_from_slice(extra);
                args.extend_from_slice(&["busybox", "sleep", "30"]);
                b.run(&args)
            });
            std::thread::sleep(delay);
            let rm = b.run(&["rm", "-f", &name]);
            (
                r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                rm,
            )
        });
        if !run.ok() {
            run_failed += 1;
        }
        if rm.ok() {
            removed += 1;
            let ins = b.run(&["inspect", &name]);
            assert!(
                !ins.ok(),
                "{name} exists after an acknowledged rm -f\nrun: {run}\nrm: {rm}\ninspect: {ins}"
            );
        } else {
            assert!(
                rm.stderr.contains("No such container"),
                "rm -f {name} failed otherwise:\n{rm}"
            );
            // rm came before the record: run's container is the user's
            b.run(&["rm", "-f", &name]).assert_ok();
        }
        rounds += 1;
    }
    eprintln!("rm -f raced run -d {rounds} times: removed {removed}, run failed {run_failed}");
    assert!(rounds >= 5, "only {rounds} rounds ran");
    let ps = b.run(&["ps", "-a", "-q"]);
    assert!(ps.stdout.trim().is_empty(), "containers left: {ps}");
    b.run(&["network", "rm", "runrace"]).assert_ok();
    b.assert_no_leaks();
    assert_store_empty(&b);
}
