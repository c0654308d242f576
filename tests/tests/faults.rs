//! Fault injection: kill -9 of berth, berth-shim and berth-runtime between the
//! side effects of run, start, stop, rm, load, commit, compose up/down and build,
//! at named crash points (`BERTH_CRASH_AT`, see docs/faults.md) and at random
//! times; a full store (a small tmpfs), a read-only store and corrupt records.
//! After each fault the next command recovers the resource or reports it,
//! `berth system prune` cleans the rest, the leak census (tests/src/census.rs)
//! finds nothing, and nothing acknowledged is lost (an image, a volume's
//! content, a container's log to its last line).

use berth_tests::census::{assert_clean, Census};
use berth_tests::manager::Berth;
use berth_tests::Output;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `berth ARGS` with `BERTH_CRASH_AT=point` (also inherited by the shim and
/// the runtime it starts).
fn crash(b: &Berth, point: &str, args: &[&str]) -> Output {
    b.cmd()
        .env("BERTH_CRASH_AT", point)
        .args(args)
        .timeout(Duration::from_secs(90))
        .run()
}

/// The manager's own points end the command by SIGKILL.
#[track_caller]
fn assert_killed(out: &Output, point: &str) {
    assert_eq!(out.signal, Some(9), "{point}: not killed there: {out}");
}

fn names(b: &Berth) -> Vec<String> {
    b.run(&["ps", "-a", "--format", "{{.Names}}"])
        .assert_ok()
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

fn status(b: &Berth, name: &str) -> String {
    b.run(&["inspect", "-f", "{{.State.Status}}", name])
        .stdout
        .trim()
        .to_string()
}

fn wait_status(b: &Berth, name: &str, want: &str, t: Duration) {
    let end = Instant::now() + t;
    while status(b, name) != want {
        assert!(
            Instant::now() < end,
            "{name} never became {want}: {}",
            status(b, name)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Remove `name` if it exists (the command must either succeed or say it does
/// not exist), prune, and take the census.
#[track_caller]
fn recover_and_check(b: &Berth, name: &str, ctx: &str) {
    let rm = b.run(&["rm", "-f", name]);
    assert!(
        rm.ok() || rm.stderr.contains("No such container"),
        "{ctx}: rm -f {name} failed: {rm}"
    );
    b.run(&["system", "prune", "-f"]).assert_ok();
    assert_clean(b, ctx);
}

/// kill -9 of `berth run -d` at each step of create and start, and of the shim
/// and the runtime at theirs. Afterwards the container is either there and
/// starts (and says hello), or its name is free again; rm and prune leave
/// nothing behind.
#[test]
fn run_killed_at_every_step() {
    let b = Berth::with_busybox("busybox");
    let points = [
        "create:name-linked",
        "create:record-written",
        "container-locked",
        "start:rootfs-mounted",
        "start:bundle-written",
        "start:shim-spawned",
        "shim:created",
        "shim:started",
        "runtime:cgroup-created",
        "runtime:init-ready",
        "runtime:state-saved",
    ];
    for (i, point) in points.iter().enumerate() {
        let name = format!("c{i}");
        let out = crash(
            &b,
            point,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "busybox",
                "sh",
                "-c",
                "echo hello; sleep 1000",
            ],
        );
        if !point.starts_with("shim:") && !point.starts_with("runtime:") {
            assert_killed(&out, point);
        } else {
            // the manager saw its shim or runtime die: it says so
            assert!(!out.ok(), "{point}: run succeeded: {out}");
            assert!(!out.stderr.trim().is_empty(), "{point}: no error: {out}");
        }
        let listed = names(&b).contains(&name);
        if listed {
            if status(&b, &name) != "running" {
                // recovered by the next start
                let st = b.run(&["start", &name]);
                assert!(st.ok(), "{point}: start after the crash failed: {st}");
            }
            wait_status(&b, &name, "running", Duration::from_secs(10));
            let end = Instant::now() + Duration::from_secs(5);
            while !b.run(&["logs", &name]).stdout.contains("hello") {
                assert!(Instant::now() < end, "{point}: no hello in the log");
                std::thread::sleep(Duration::from_millis(50));
            }
        } else {
            // never acknowledged: the name is free again
            b.run(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"])
                .assert_ok();
        }
        recover_and_check(&b, &name, point);
        eprintln!(
            "{point}: ok (container {})",
            if listed { "kept" } else { "gone" }
        );
    }
}

/// A running container with a named volume and a log: kill -9 of `stop` and
/// `rm` at each of their steps, and of the shim as its container exits. The
/// next command finishes the job; the volume's content and the log's last line
/// survive every one.
#[test]
fn stop_and_rm_killed_at_every_step() {
    let b = Berth::with_busybox("busybox");
    let script =
        "[ -e /data/f ] || echo first > /data/f; i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done; \
                  echo LAST; trap 'exit 0' TERM; sleep 1000 & wait";
    let cases: &[(&str, &str)] = &[
        ("stop", "container-locked"),
        ("stop", "stop:exited"),
        ("stop", "shim:exit-seen"),
        ("stop", "runtime:delete-cgroup-gone"),
        ("rm", "container-locked"),
        ("rm", "rm:runtime-deleted"),
        ("rm", "rm:released"),
        ("rm", "rm:record-removed"),
    ];
    for (i, (verb, point)) in cases.iter().enumerate() {
        let name = format!("s{i}");
        let vol = format!("v{i}");
        let ctx = format!("{verb} at {point}");
        // shim and runtime points act in the shim's process tree: give it the
        // variable at run time (its runtime create/start points are named
        // differently, so only the exit path crashes).
        let run_env = if point.starts_with("shim:") || point.starts_with("runtime:") {
            *point
        } else {
            ""
        };
        b.cmd()
            .env("BERTH_CRASH_AT", run_env)
            .args([
                "run",
                "-d",
                "--name",
                &name,
                "-v",
                &format!("{vol}:/data"),
                "busybox",
                "sh",
                "-c",
                script,
            ])
            .run()
            .assert_ok();
        let end = Instant::now() + Duration::from_secs(10);
        while !b.run(&["logs", &name]).stdout.contains("LAST") {
            assert!(Instant::now() < end, "{ctx}: no LAST in the log");
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = match *verb {
            "stop" => crash(&b, point, &["stop", "-t", "5", &name]),
            _ => crash(&b, point, &["rm", "-f", &name]),
        };
        if !point.starts_with("shim:") && !point.starts_with("runtime:") {
            assert_killed(&out, &ctx);
        }
        if names(&b).contains(&name) {
            // The container stopped (or is stopped by the next stop), and its
            // whole log is there.
            b.run(&["stop", "-t", "5", &name]).assert_ok();
            let st = status(&b, &name);
            assert_eq!(st, "exited", "{ctx}: after a second stop");
            let logs = b.run(&["logs", &name]).assert_ok().stdout.clone();
            assert!(logs.ends_with("LAST\n"), "{ctx}: log lost its end: {logs}");
            assert_eq!(logs.lines().count(), 201, "{ctx}: log lines lost");
            // and it starts again (its rootfs and volume given back and retaken)
            b.run(&["start", &name]).assert_ok();
            b.run(&["rm", "-f", &name]).assert_ok();
        }
        // the volume's content survived
        let cat = b.run(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/data"),
            "busybox",
            "cat",
            "/data/f",
        ]);
        assert_eq!(cat.assert_ok().stdout, "first\n", "{ctx}: volume content");
        recover_and_check(&b, &name, &ctx);
        b.run(&["volume", "rm", &vol]).assert_ok();
        eprintln!("{ctx}: ok");
    }
}

/// A tiny PRNG (xorshift) seeded from the clock; the seed is printed so that a
/// failure can be replayed with `FAULTS_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("FAULTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        eprintln!("FAULTS_SEED={seed}");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Live processes of this berth whose command line contains `needle`.
fn pids_named(b: &Berth, needle: &str) -> Vec<i32> {
    let marker = format!("BERTH_STATE={}", b.state().display());
    berth_tests::sys::pids_with_env(&marker)
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

fn sigkill(pid: i32) {
    // SAFETY: kill takes a pid and a signal only.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// kill -9 at random times: of `berth run -d`, `stop` and `rm -f` themselves,
/// and of every berth-shim and berth-runtime of this store while they run.
#[test]
fn random_kills_leave_nothing_behind() {
    let b = Berth::with_busybox("busybox");
    let mut rng = Rng::new();
    for round in 0..24 {
        let name = format!("r{round}");
        let verb = ["run", "stop", "rm"][round % 3];
        let victim = ["berth", "berth-shim", "berth-runtime"][(round / 3) % 3];
        if verb != "run" {
            b.run(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"])
                .assert_ok();
        }
        let args: Vec<String> = match verb {
            "run" => ["run", "-d", "--name", &name, "busybox", "sleep", "1000"]
                .map(String::from)
                .to_vec(),
            "stop" => ["stop", "-t", "1", &name].map(String::from).to_vec(),
            _ => ["rm", "-f", &name].map(String::from).to_vec(),
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = berth_tests::containers::berth_command(&b, &args)
            .env("BERTH_STATE", b.state())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawning berth");
        let delay = Duration::from_millis(rng.below(120));
        let end = Instant::now() + delay;
        let mut killed = false;
        // for the shim and runtime: kill the first one seen after the delay
        while !killed {
            if Instant::now() >= end {
                if victim == "berth" {
                    sigkill(child.id() as i32);
                    killed = true;
                } else {
                    for p in pids_named(&b, victim) {
                        sigkill(p);
                        killed = true;
                    }
                }
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let ctx = format!(
            "round {round}: {verb} with {victim} killed after {delay:?} (killed: {killed})"
        );
        // a command whose helper was killed must still end (a stop once
        // waited for ever for a SIGKILL that a killed runtime never sent)
        let end = Instant::now() + Duration::from_secs(60);
        while !matches!(child.try_wait(), Ok(Some(_))) {
            if Instant::now() >= end {
                sigkill(child.id() as i32);
                let _ = child.wait();
                panic!("{ctx}: berth {args:?} did not end within 60 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // the next command answers
        let ps = b
            .cmd()
            .args(["ps", "-a"])
            .timeout(Duration::from_secs(30))
            .run();
        assert!(ps.ok(), "{ctx}: ps: {ps}");
        recover_and_check(&b, &name, &ctx);
        eprintln!("{ctx}: ok");
    }
}

/// `berth load` and `berth commit` killed while a layer is extracted, after it
/// is extracted, before a blob is installed and before the image index is
/// written: no half image is listed, the next load succeeds, and an image
/// loaded before (acknowledged) is never lost.
#[test]
fn load_and_commit_killed_at_every_step() {
    let b = Berth::with_busybox("busybox");
    let archive = b.scratch("arch").join("bb.tar");
    b.run(&["tag", "busybox", "keep:1"]).assert_ok();
    b.run(&["save", "-o", &archive.to_string_lossy(), "busybox"])
        .assert_ok();
    b.run(&["rmi", "busybox"]).assert_ok();
    // the layer is still held by keep:1: drop that too so load must extract
    b.run(&["rmi", "keep:1"]).assert_ok();
    b.run(&["load", "-i", &archive.to_string_lossy()])
        .assert_ok();
    b.run(&["tag", "busybox", "keep:1"]).assert_ok();
    for point in [
        "blob:before-install",
        "layer:mid-extract",
        "layer:extracted",
        "image-index",
    ] {
        // a second store (fresh, so that load has to write everything)
        let c = Berth::new();
        if point.starts_with("layer:") {
            // load stores the blobs; the first run unpacks the layer
            c.run(&["load", "-i", &archive.to_string_lossy()])
                .assert_ok();
            let out = crash(&c, point, &["run", "--rm", "busybox", "true"]);
            assert_killed(&out, point);
            // the loaded image was acknowledged: it is still there, and runs
            let images = c.run(&["images", "--format", "{{.Repository}}"]);
            assert!(
                images.assert_ok().stdout.contains("busybox"),
                "{point}: {images}"
            );
            c.run(&["run", "--rm", "busybox", "true"]).assert_ok();
            c.run(&["system", "prune", "-a", "-f"]).assert_ok();
            assert_clean(&c, point);
            eprintln!("unpack at {point}: ok");
            continue;
        }
        let out = crash(&c, point, &["load", "-i", &archive.to_string_lossy()]);
        assert_killed(&out, point);
        let images = c.run(&["images", "--format", "{{.Repository}}"]);
        assert!(images.ok(), "{point}: images: {images}");
        assert!(
            !images.stdout.contains("busybox"),
            "{point}: a half-loaded image is listed: {images}"
        );
        c.run(&["load", "-i", &archive.to_string_lossy()])
            .assert_ok();
        c.run(&["run", "--rm", "busybox", "true"]).assert_ok();
        c.run(&["system", "prune", "-a", "-f"]).assert_ok();
        assert_clean(&c, point);
        eprintln!("load at {point}: ok");
    }
    // commit killed before its blob and before the index: no image, the
    // container and keep:1 intact.
    b.run(&[
        "run",
        "--name",
        "ww",
        "busybox",
        "sh",
        "-c",
        "echo x > /new",
    ])
    .assert_ok();
    for point in ["blob:before-install", "image-index"] {
        let out = crash(&b, point, &["commit", "ww", "committed:1"]);
        assert_killed(&out, point);
        let images = b.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        assert!(images.ok(), "{point}: {images}");
        assert!(!images.stdout.contains("committed"), "{images}");
        assert!(
            images.stdout.contains("keep:1"),
            "{point}: lost keep:1: {images}"
        );
    }
    b.run(&["commit", "ww", "committed:1"]).assert_ok();
    let cat = b.run(&["run", "--rm", "committed:1", "cat", "/new"]);
    assert_eq!(cat.assert_ok().stdout, "x\n");
    b.run(&["rm", "ww"]).assert_ok();
    b.run(&["system", "prune", "-a", "-f"]).assert_ok();
    assert_clean(&b, "commit");
}

/// A corrupt record (truncated JSON, garbage): the error names the file,
/// other containers are still listed and managed, and `rm -f` removes the
/// broken one.
#[test]
fn corrupt_record_is_named_and_removable() {
    let b = Berth::with_busybox("busybox");
    b.run(&["create", "--name", "good", "busybox", "true"])
        .assert_ok();
    for (i, garbage) in [&b"{\"id\": \"trunc"[..], &b"\x00\xffgarbage"[..]]
        .iter()
        .enumerate()
    {
        let name = format!("bad{i}");
        let id = b
            .run(&["create", "--name", &name, "busybox", "true"])
            .assert_ok()
            .stdout
            .trim()
            .to_string();
        let rec = b.root().join("containers").join(&id).join("container.json");
        std::fs::write(&rec, garbage).unwrap();
        let ps = b.run(&["ps", "-a", "--format", "{{.Names}}"]);
        assert!(ps.ok(), "ps fails on one corrupt record: {ps}");
        assert!(ps.stdout.contains("good"), "{ps}");
        assert!(
            ps.stderr.contains(&rec.display().to_string()),
            "the broken record is not named: {ps}"
        );
        let ins = b.run(&["inspect", &id]);
        assert!(
            !ins.ok() && ins.stderr.contains(&rec.display().to_string()),
            "{ins}"
        );
        b.run(&["start", "good"]).assert_ok();
        b.run(&["rm", "-f", &id]).assert_ok();
        assert!(!b.root().join("containers").join(&id).exists());
    }
    b.run(&["rm", "-f", "good"]).assert_ok();
    assert_clean(&b, "corrupt record");
}

/// Mount a size-limited tmpfs on `dir` (the store), returning a guard that
/// unmounts it.
struct SmallFs(std::path::PathBuf);

impl SmallFs {
    fn mount(dir: &Path, size: &str) -> SmallFs {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "berth-faults"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        SmallFs(dir.to_path_buf())
    }
    fn remount(&self, opts: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the filesystem of `dir` up to its last `leave` bytes.
fn fill(dir: &Path, leave: u64) -> std::path::PathBuf {
    let f = dir.join("filler");
    let st = nix_statvfs(dir);
    let size = st.saturating_sub(leave);
    let mut file = std::fs::File::create(&f).unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    let mut left = size;
    use std::io::Write;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if file.write_all(&chunk[..n]).is_err() {
            break;
        }
        left -= n as u64;
    }
    let _ = file.sync_all();
    f
}

/// Free bytes on the filesystem of `p`.
fn nix_statvfs(p: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// The store on a small tmpfs: load, commit and log writing into a full
/// store fail with a clear ENOSPC error naming the operation, leave no half
/// image or record, and work once space is freed. Then the same store
/// read-only: a clear error, and reads still answer.
#[test]
fn full_and_read_only_store() {
    berth_tests::init();
    let b = Berth::new();
    let fs = SmallFs::mount(b.root(), "48m");
    b.import_busybox("busybox");
    let archive = b.scratch("arch").join("bb.tar");
    b.run(&["save", "-o", &archive.to_string_lossy(), "busybox"])
        .assert_ok();
    b.run(&["tag", "busybox", "other:1"]).assert_ok();
    b.run(&["rmi", "busybox"]).assert_ok();
    b.run(&["rmi", "other:1"]).assert_ok();
    b.run(&["system", "prune", "-a", "-f"]).assert_ok();

    // load into a full store
    let filler = fill(b.root(), 256 << 10);
    let out = b.run(&["load", "-i", &archive.to_string_lossy()]);
    assert!(!out.ok(), "load into a full store succeeded");
    assert!(
        out.stderr.contains("No space left on device") || out.stderr.contains("ENOSPC"),
        "not an ENOSPC error: {out}"
    );
    let images = b.run(&["images", "-q"]).assert_ok().stdout.clone();
    assert!(images.trim().is_empty(), "a half-loaded image: {images}");
    assert!(
        Census::take(&b).temps.is_empty(),
        "temp files left by the failed load"
    );
    std::fs::remove_file(&filler).unwrap();
    b.run(&["load", "-i", &archive.to_string_lossy()])
        .assert_ok();

    // commit into a full store
    b.run(&[
        "run",
        "--name",
        "ww",
        "busybox",
        "sh",
        "-c",
        "head -c 2000000 /dev/zero > /big",
    ])
    .assert_ok();
    let filler = fill(b.root(), 256 << 10);
    let out = b.run(&["commit", "ww", "big:1"]);
    assert!(!out.ok(), "commit into a full store succeeded");
    assert!(
        out.stderr.contains("No space left on device"),
        "not an ENOSPC error: {out}"
    );
    assert!(
        !b.run(&["images"]).assert_ok().stdout.contains("big"),
        "a half-committed image is listed"
    );
    std::fs::remove_file(&filler).unwrap();
    b.run(&["commit", "ww", "big:1"]).assert_ok();
    b.run(&["rm", "ww"]).assert_ok();
    b.run(&["rmi", "big:1"]).assert_ok();

    // the log of a container writing into a full store: the shim survives,
    // the container runs on, and the log holds again once there is space.
    b.run(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.01; done",
    ])
    .assert_ok();
    let filler = fill(b.root(), 0);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        status(&b, "talker"),
        "running",
        "the container died on a full log"
    );
    std::fs::remove_file(&filler).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let lines = || {
        b.run(&["logs", "talker"])
            .assert_ok()
            .stdout
            .lines()
            .count()
    };
    let before = lines();
    // A line every 10 ms: one more shows up soon, however loaded the machine (a
    // second fixed 500 ms could pass before the shim wrote one).
    let mut after = before;
    berth_tests::wait_until(Duration::from_secs(20), || {
        after = lines();
        after > before
    });
    assert!(
        after > before,
        "the log did not resume once space was freed"
    );
    b.run(&["rm", "-f", "talker"]).assert_ok();

    // a read-only store: a clear error for writers, reads answer
    b.run(&["create", "--name", "kept", "busybox", "true"])
        .assert_ok();
    fs.remount("ro");
    let out = b.run(&["run", "--rm", "busybox", "true"]);
    assert!(!out.ok());
    assert!(
        out.stderr.contains("Read-only file system"),
        "not a read-only error: {out}"
    );
    b.run(&["ps", "-a"]).assert_ok();
    b.run(&["images"]).assert_ok();
    fs.remount("rw");
    b.run(&["rm", "kept"]).assert_ok();
    b.run(&["system", "prune", "-a", "-f"]).assert_ok();
    assert_clean(&b, "full store");
    drop(b);
    drop(fs);
}

fn compose(b: &Berth, dir: &Path, point: &str, args: &[&str]) -> Output {
    b.cmd()
        .cwd(dir)
        .env("BERTH_CRASH_AT", point)
        .timeout(Duration::from_secs(120))
        .arg("compose")
        .args(args)
        .run()
}

/// `berth compose up` and `down` killed at the container steps they go through,
/// and `berth build` at its blob, index and runtime steps: the next `up`, `down`
/// or build finishes the job, and prune leaves nothing.
#[test]
fn compose_and_build_killed_at_their_steps() {
    let b = Berth::with_busybox("busybox");
    let dir = b.scratch("proj");
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  db:\n    image: busybox\n    command: sleep 1000\n    volumes: [\"data:/data\"]\n  \
         app:\n    image: busybox\n    command: sleep 1000\n    depends_on: [db]\nvolumes:\n  data: {}\n",
    )
    .unwrap();
    let running = |b: &Berth| -> usize {
        berth_tests::json_lines(
            &compose(b, &dir, "", &["ps", "--format", "json"])
                .assert_ok()
                .stdout,
        )
        .iter()
        .filter(|v| v["State"] == "running")
        .count()
    };
    for point in [
        "create:record-written",
        "start:rootfs-mounted",
        "start:bundle-written",
        "start:shim-spawned",
        "shim:started",
        "runtime:state-saved",
    ] {
        let out = compose(&b, &dir, point, &["up", "-d"]);
        assert!(!out.ok(), "up at {point} succeeded: {out}");
        compose(&b, &dir, "", &["up", "-d"]).assert_ok();
        assert_eq!(running(&b), 2, "up after a crash at {point}");
        for down_point in ["stop:exited", "rm:released"] {
            let out = compose(&b, &dir, down_point, &["down"]);
            assert_killed(&out, down_point);
        }
        compose(&b, &dir, "", &["down"]).assert_ok();
        assert!(b
            .run(&["ps", "-a", "-q"])
            .assert_ok()
            .stdout
            .trim()
            .is_empty());
        b.run(&["system", "prune", "-f"]).assert_ok();
        assert_clean(&b, &format!("compose up at {point}"));
        eprintln!("compose at {point}: ok");
    }
    compose(&b, &dir, "", &["down", "-v"]).assert_ok();

    let ctx = b.scratch("ctx");
    std::fs::write(ctx.join("x"), "copied\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo ran > /f\nCOPY x /x\n",
    )
    .unwrap();
    for point in ["runtime:state-saved", "blob:before-install", "image-index"] {
        let out = crash(
            &b,
            point,
            &["build", "-t", "built:1", &ctx.to_string_lossy()],
        );
        assert!(!out.ok(), "build at {point} succeeded: {out}");
        let images = b.run(&["images", "--format", "{{.Repository}}"]);
        assert!(
            !images.assert_ok().stdout.contains("built"),
            "{point}: {images}"
        );
        b.run(&["builder", "prune", "-f"]).assert_ok();
        assert_clean(&b, &format!("build at {point}"));
        eprintln!("build at {point}: ok");
    }
    b.run(&["build", "-t", "built:1", &ctx.to_string_lossy()])
        .assert_ok();
    let out = b.run(&["run", "--rm", "built:1", "cat", "/f", "/x"]);
    assert_eq!(out.assert_ok().stdout, "ran\ncopied\n");
    b.run(&["system", "prune", "-a", "-f"]).assert_ok();
    assert_clean(&b, "build");
}

/// `berth pull` from a local registry killed at each of its steps (a blob
/// about to be installed, mid-extraction, a layer extracted, the index about
/// to be written), and into a full store: no half image is listed, the next
/// pull succeeds, and the census is clean.
#[test]
fn pull_killed_and_into_a_full_store() {
    use berth_tests::registry::Registry;
    let b = Berth::with_busybox("busybox");
    let reg = Registry::plain();
    let name = format!("{}/app:1", reg.host());
    b.run(&["tag", "busybox", &name]).assert_ok();
    b.cmd()
        .args(["push", &name])
        .timeout(Duration::from_secs(120))
        .run()
        .assert_ok();
    let pull = |c: &Berth, point: &str| -> Output {
        c.cmd()
            .env("BERTH_CRASH_AT", point)
            .env(
                "DOCKER_CONFIG",
                &c.scratch("no-docker-config").to_string_lossy(),
            )
            .args(["pull", "-q", &name])
            .timeout(Duration::from_secs(120))
            .run()
    };
    for point in [
        "blob:before-install",
        "layer:mid-extract",
        "layer:extracted",
        "image-index",
    ] {
        let c = Berth::new();
        let out = pull(&c, point);
        assert_killed(&out, point);
        let images = c.run(&["images", "--format", "{{.Repository}}"]);
        assert!(
            !images.assert_ok().stdout.contains("app"),
            "{point}: a half-pulled image is listed: {images}"
        );
        pull(&c, "").assert_ok();
        c.run(&["run", "--rm", &name, "true"]).assert_ok();
        c.run(&["system", "prune", "-a", "-f"]).assert_ok();
        assert_clean(&c, point);
        eprintln!("pull at {point}: ok");
    }
    // into a full store
    berth_tests::init();
    let c = Berth::new();
    let _fs = SmallFs::mount(c.root(), "16m");
    let filler = fill(c.root(), 256 << 10);
    let out = pull(&c, "");
    assert!(!out.ok(), "pull into a full store succeeded");
    assert!(
        out.stderr.contains("No space left on device"),
        "not an ENOSPC error: {out}"
    );
    let images = c.run(&["images", "-q"]);
    assert!(images.assert_ok().stdout.trim().is_empty(), "{images}");
    std::fs::remove_file(&filler).unwrap();
    pull(&c, "").assert_ok();
    c.run(&["run", "--rm", &name, "true"]).assert_ok();
    c.run(&["system", "prune", "-a", "-f"]).assert_ok();
    assert_clean(&c, "pull into a full store");
    drop(c);
}
