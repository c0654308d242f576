//! The systemd cgroup driver (`--systemd-cgroup`) against a real systemd.
//!
//! This machine's PID 1 is not systemd, so each test starts the host's
//! /lib/systemd/systemd as PID 1 of private pid, mount, cgroup, network, uts and
//! ipc namespaces: its own /run, a read-only /proc/sys, fresh cgroup mounts of
//! the host's layout rooted at a cgroup made for the test, and a target that
//! starts only a system bus (dbus.socket and dbus.service without their default
//! dependencies, so that no host service starts). berth-runtime runs inside those
//! namespaces (nsenter), so it reaches that systemd the way it would reach the
//! host's; the test reads the result with that systemd's own `systemctl show` and
//! through the cgroup files on the host. Killing the namespace's PID 1 ends
//! everything in it; the test's cgroups are removed afterwards.

use berth_tests::sys::TempDir;
use berth_tests::*;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SYSTEMD: &str = "/lib/systemd/systemd";
const DBUS: &str = "/usr/bin/dbus-daemon";
const T: Duration = Duration::from_secs(60);

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Out {
    #[track_caller]
    fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{self}");
        self
    }
}

/// Run `cmd` with stdio in files (a detached container init keeps what it
/// inherits), killing it after `T`.
fn run(mut cmd: Command, dir: &Path) -> Out {
    let n = berth_tests::sys::unique();
    let (o, e) = (dir.join(format!("{n}.out")), dir.join(format!("{n}.err")));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&o).unwrap())
        .stderr(File::create(&e).unwrap());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > T {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {T:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        code: status.code(),
        stdout: std::fs::read_to_string(&o).unwrap_or_default(),
        stderr: std::fs::read_to_string(&e).unwrap_or_default(),
    }
}

/// A systemd running as PID 1 of its own namespaces.
struct NsSystemd {
    unshare: Child,
    /// systemd's pid on the host.
    pid: i32,
    /// The cgroup made for it in every host hierarchy.
    cgroups: Vec<PathBuf>,
    work: TempDir,
}

impl NsSystemd {
    fn start(name: &str) -> NsSystemd {
        assert!(
            Path::new(SYSTEMD).exists(),
            "{SYSTEMD} is missing (integration/install-deps.sh installs systemd)"
        );
        assert!(
            Path::new(DBUS).exists(),
            "{DBUS} is missing (integration/install-deps.sh installs dbus)"
        );
        let work = TempDir::new(name);
        let tag = format!(
            "berth-systemd-test-{}-{}",
            std::process::id(),
            sys::unique()
        );
        let hier = cgroup::hierarchies();
        let pure_v2 = hier.len() == 1 && hier[0].v2;
        let mut cgroups = Vec::new();
        let mut join = String::new();
        let mut mounts = String::new();
        for h in &hier {
            let dir = h.mount_point.join(&tag);
            std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            if h.controllers.iter().any(|c| c == "cpuset") {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let v = std::fs::read_to_string(h.mount_point.join(f)).unwrap();
                    std::fs::write(dir.join(f), v.trim()).unwrap();
                }
            }
            join.push_str(&format!("echo $$ > {}/cgroup.procs\n", dir.display()));
            let mp = h.mount_point.display();
            if h.v2 {
                if pure_v2 {
                    mounts.push_str("mount -t cgroup2 cgroup2 /sys/fs/cgroup\n");
                } else {
                    mounts.push_str(&format!("mkdir -p {mp}\nmount -t cgroup2 cgroup2 {mp}\n"));
                }
            } else {
                let opts = if h.controllers.iter().all(|c| c.starts_with("name=")) {
                    format!("none,{}", h.controllers.join(","))
                } else {
                    h.controllers.join(",")
                };
                mounts.push_str(&format!(
                    "mkdir -p {mp}\nmount -t cgroup -o {opts} cgroup {mp}\n"
                ));
            }
            cgroups.push(dir);
        }
        let cgroup_root = if pure_v2 {
            String::new()
        } else {
            "mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup\n".to_string()
        };
        // Inside the new namespaces: private mounts, then systemd as PID 1
        // with a target that pulls in nothing (no host service may start).
        let inner = format!(
            "set -e\n\
             mount --make-rprivate /\n\
             mount -t proc proc /proc\n\
             mount --bind /proc/sys /proc/sys\n\
             mount -o remount,bind,ro /proc/sys\n\
             mount -t tmpfs tmpfs /run\n\
             {cgroup_root}{mounts}\
             mkdir -p /run/systemd/system\n\
             cd /run/systemd/system\n\
             printf '[Unit]\\nDefaultDependencies=no\\nWants=dbus.socket dbus.service\\n' \
               > berth-test.target\n\
             printf '[Unit]\\nDefaultDependencies=no\\n[Socket]\\nListenStream=/run/dbus/system_bus_socket\\n' \
               > dbus.socket\n\
             printf '[Unit]\\nDefaultDependencies=no\\nRequires=dbus.socket\\n[Service]\\nType=notify\\nNotifyAccess=main\\nExecStart={DBUS} --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only\\n' \
               > dbus.service\n\
             cd /\n\
             export container=berth-test\n\
             exec {SYSTEMD} --unit=berth-test.target --log-target=console\n"
        );
        let inner_path = work.join("inner.sh");
        std::fs::write(&inner_path, inner).unwrap();
        let outer = format!(
            "{join}exec unshare --pid --mount --cgroup --net --uts --ipc --fork --kill-child \
             sh {}\n",
            inner_path.display()
        );
        let unshare = Command::new("sh")
            .arg("-c")
            .arg(outer)
            .stdin(Stdio::null())
            .stdout(File::create(work.join("systemd.log")).unwrap())
            .stderr(File::create(work.join("systemd.err")).unwrap())
            .spawn()
            .expect("spawn unshare");
        let mut s = NsSystemd {
            pid: 0,
            unshare,
            cgroups,
            work,
        };
        let start = Instant::now();
        // unshare's only child is systemd (once it has exec'd).
        while s.pid == 0 {
            let children =
                std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", s.unshare.id()))
                    .unwrap_or_default();
            if let Some(p) = children.split_whitespace().next() {
                let p: i32 = p.parse().unwrap();
                let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
                if comm.trim() == "systemd" {
                    s.pid = p;
                }
            }
            if let Ok(Some(st)) = s.unshare.try_wait() {
                panic!(
                    "the namespaced systemd exited ({st}): {}",
                    std::fs::read_to_string(s.work.join("systemd.err")).unwrap_or_default()
                );
            }
            assert!(start.elapsed() < T, "systemd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Up once its manager answers, the start-up job is done and it is
        // on the system bus (which the driver talks through).
        loop {
            let o = run(s.ns(&["systemctl", "is-system-running"]), s.work.path());
            let state = o.stdout.trim().to_string();
            let bus = run(
                s.ns(&["busctl", "--system", "status", "org.freedesktop.systemd1"]),
                s.work.path(),
            );
            if (state == "running" || state == "degraded") && bus.code == Some(0) {
                break;
            }
            assert!(start.elapsed() < T, "systemd did not come up: {o}");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// A command in systemd's namespaces.
    fn ns(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.pid.to_string())
            .args(["-m", "-p", "-C", "-u", "-i", "-n", "--"])
            .args(args);
        c
    }

    fn systemctl(&self, args: &[&str]) -> Out {
        let mut a = vec!["systemctl", "--no-pager"];
        a.extend_from_slice(args);
        run(self.ns(&a), self.work.path())
    }

    /// `systemctl show UNIT -p PROP` → value.
    fn prop(&self, unit: &str, prop: &str) -> String {
        let o = self.systemctl(&["show", unit, "-p", prop, "--value"]);
        o.ok();
        o.stdout.trim().to_string()
    }

    /// A host path of the cgroup at `rel` (from the namespace's cgroup root)
    /// in the hierarchy with `controller` ("" for cgroup2).
    fn cgroup_dir(&self, controller: &str, rel: &str) -> PathBuf {
        let hier = cgroup::hierarchies();
        let i = hier
            .iter()
            .position(|h| {
                if controller.is_empty() {
                    h.v2
                } else {
                    h.controllers.iter().any(|c| c == controller)
                }
            })
            .unwrap_or_else(|| panic!("no {controller:?} hierarchy"));
        self.cgroups[i].join(rel.trim_start_matches('/'))
    }
}

impl Drop for NsSystemd {
    fn drop(&mut self) {
        // PID 1 of the namespace: its death kills every process in it and in
        // the containers' nested pid namespaces.
        if self.pid > 0 {
            // SAFETY: kill(2) on the systemd this test started.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        let start = Instant::now();
        for dir in &self.cgroups {
            // Deepest first; a cgroup whose last task is still exiting is
            // busy for a moment.
            loop {
                let mut dirs = Vec::new();
                collect_dirs(dir, &mut dirs);
                dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
                let mut busy = false;
                for d in dirs {
                    if std::fs::remove_dir(&d).is_err() && d.exists() {
                        busy = true;
                    }
                }
                if !busy || start.elapsed() > Duration::from_secs(10) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
    out.push(dir.to_path_buf());
}

/// berth-runtime with `--systemd-cgroup`, run inside systemd's namespaces.
struct Rt<'a> {
    sd: &'a NsSystemd,
    root: TempDir,
}

impl Rt<'_> {
    fn new(sd: &NsSystemd) -> Rt<'_> {
        Rt {
            sd,
            root: TempDir::new("sdroot"),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        let bin = runtime_bin();
        let root = self.root.path().to_str().unwrap().to_string();
        let mut a = vec![bin.to_str().unwrap(), "--systemd-cgroup", "--root", &root];
        a.extend_from_slice(args);
        run(self.sd.ns(&a), self.sd.work.path())
    }

    fn state(&self, id: &str) -> Value {
        let o = self.run(&["state", id]);
        o.ok();
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("state {id}: {e}: {o}"))
    }

    fn wait_status(&self, id: &str, want: &str) {
        let start = Instant::now();
        loop {
            let s = self.state(id);
            if s["status"] == want {
                return;
            }
            assert!(start.elapsed() < T, "{id} never became {want}: {s}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

/// create → start → state → update → kill → delete of a container whose cgroup
/// is a transient scope in a nested slice: the unit, its properties, the limits
/// in the cgroup files (set by systemd and by berth), and nothing left.
#[test]
fn scope_unit_lifecycle() {
    let sd = NsSystemd::start("sdlife");
    let rt = Rt::new(&sd);
    let mut b = Bundle::new("sdlife");
    b.args(&["sleep", "1000"]);
    let id = format!("sdlife{}", sys::unique());
    let unit = format!("berth-{id}.scope");
    let rel = format!("/berth.slice/berth-test.slice/{unit}");
    b.config["linux"]["cgroupsPath"] = json!(format!("berth-test.slice:berth:{id}"));
    b.config["linux"]["resources"] = json!({
        "memory": {"limit": 64 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
        "pids": {"limit": 64},
        "devices": [{"allow": false, "access": "rwm"}],
    });
    b.save();

    // features: the driver reaches this systemd.
    let f = rt.run(&["features"]);
    f.ok();
    let f: Value = serde_json::from_str(&f.stdout).unwrap();
    assert_eq!(
        f["linux"]["cgroup"]["systemd"], true,
        "{}",
        f["linux"]["cgroup"]
    );
    assert_eq!(f["linux"]["cgroup"]["systemdUser"], false);

    let o = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    o.ok();
    assert_eq!(rt.state(&id)["status"], "created");
    assert_eq!(sd.prop(&unit, "ActiveState"), "active");
    assert_eq!(sd.prop(&unit, "ControlGroup"), rel);
    assert_eq!(sd.prop(&unit, "Slice"), "berth-test.slice");
    assert_eq!(sd.prop(&unit, "Delegate"), "yes");
    assert_eq!(sd.prop(&unit, "MemoryLimit"), (64u64 << 20).to_string());
    assert_eq!(sd.prop(&unit, "CPUShares"), "512");
    assert_eq!(sd.prop(&unit, "CPUQuotaPerSecUSec"), "500ms");
    assert_eq!(sd.prop(&unit, "TasksMax"), "64");
    assert_eq!(sd.prop(&unit, "DevicePolicy"), "strict");
    let allow = sd.prop(&unit, "DeviceAllow");
    assert!(allow.contains("/dev/char/1:3 rwm"), "DeviceAllow: {allow}");

    // The init is in the scope, in every hierarchy.
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let procs = run(
        sd.ns(&["cat", &format!("/proc/{pid}/cgroup")]),
        sd.work.path(),
    );
    procs.ok();
    for line in procs.stdout.lines() {
        assert!(line.ends_with(&rel), "init {pid} not in {rel}: {line}");
    }
    // The limits in the files: systemd's (memory, cpu, pids) and what only
    // berth writes (cpuset, which systemd does not manage on v1/hybrid; the
    // devices cgroup).
    let mem = sd.cgroup_dir("memory", &rel);
    let cpu = sd.cgroup_dir("cpu", &rel);
    let pids = sd.cgroup_dir("pids", &rel);
    let v1 = cgroup::has_v1_controller("memory");
    if v1 {
        assert_eq!(
            read(&mem, "memory.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        assert_eq!(read(&cpu, "cpu.shares"), "512");
        assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&pids, "pids.max"), "64");
        assert_eq!(read(&sd.cgroup_dir("cpuset", &rel), "cpuset.cpus"), "0");
        let devs = read(&sd.cgroup_dir("devices", &rel), "devices.list");
        assert!(devs.contains("c 1:3 rwm"), "devices.list: {devs}");
        assert!(!devs.contains("a *:* rwm"), "devices.list: {devs}");
    } else {
        let d = sd.cgroup_dir("", &rel);
        assert_eq!(read(&d, "memory.max"), (64u64 << 20).to_string());
        assert_eq!(read(&d, "cpu.max"), "50000 100000");
        assert_eq!(read(&d, "pids.max"), "64");
        assert_eq!(read(&d, "cpuset.cpus"), "0");
    }

    rt.run(&["start", &id]).ok();
    rt.wait_status(&id, "running");

    // update: systemd's view and the files follow.
    rt.run(&[
        "update",
        "--memory",
        "128m",
        "--pids-limit",
        "100",
        "--cpu-share",
        "256",
        &id,
    ])
    .ok();
    assert_eq!(sd.prop(&unit, "MemoryLimit"), (128u64 << 20).to_string());
    assert_eq!(sd.prop(&unit, "TasksMax"), "100");
    assert_eq!(sd.prop(&unit, "CPUShares"), "256");
    if v1 {
        assert_eq!(
            read(&mem, "memory.limit_in_bytes"),
            (128u64 << 20).to_string()
        );
        assert_eq!(read(&pids, "pids.max"), "100");
        assert_eq!(read(&cpu, "cpu.shares"), "256");
    }
    // A daemon-reload makes systemd re-apply its properties: the update must
    // have reached systemd, not only the files.
    sd.systemctl(&["daemon-reload"]).ok();
    if v1 {
        assert_eq!(
            read(&mem, "memory.limit_in_bytes"),
            (128u64 << 20).to_string()
        );
    }

    rt.run(&["kill", &id, "KILL"]).ok();
    rt.wait_status(&id, "stopped");
    rt.run(&["delete", &id]).ok();
    let o = sd.systemctl(&["list-units", "--all", "--plain", "--no-legend", &unit]);
    assert!(o.stdout.trim().is_empty(), "{unit} left: {o}");
    assert_eq!(sd.prop(&unit, "LoadState"), "not-found");
    for c in ["memory", "cpu", "cpuset", "devices", "freezer", "pids", ""] {
        if c.is_empty() || cgroup::has_v1_controller(c) {
            let d = sd.cgroup_dir(c, &rel);
            assert!(!d.exists(), "{} left after delete", d.display());
        }
    }

    // A created container deleted before start: the unit is stopped by
    // delete (its init still runs in it).
    let id2 = format!("sdcreated{}", sys::unique());
    let unit2 = format!("runc-{id2}.scope");
    b.config["linux"]["cgroupsPath"] = json!("");
    b.save();
    rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id2])
        .ok();
    // runc's default: runc-<id>.scope in system.slice.
    assert_eq!(sd.prop(&unit2, "ActiveState"), "active");
    assert_eq!(sd.prop(&unit2, "Slice"), "system.slice");
    rt.run(&["delete", &id2]).ok();
    assert_eq!(sd.prop(&unit2, "LoadState"), "not-found");
    assert!(!sd
        .cgroup_dir("memory", &format!("system.slice/{unit2}"))
        .exists());
}

/// systemd refusing the unit is a create error that names the unit and
/// systemd's reason, and leaves no unit, cgroup or state behind.
#[test]
fn systemd_refusal_is_named_and_leaves_nothing() {
    let sd = NsSystemd::start("sdbad");
    let rt = Rt::new(&sd);
    let mut b = Bundle::new("sdbad");
    b.args(&["sleep", "1000"]);
    let id = format!("sdbad{}", sys::unique());
    // '@' makes a template-instance name, which a scope cannot be.
    b.config["linux"]["cgroupsPath"] = json!(format!("system.slice:bad@x:{id}"));
    b.save();
    let o = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(o.code, Some(1), "{o}");
    eprintln!("create's error: {:?}", o.stderr.trim());
    assert!(!o.stderr.contains("level=warning"), "{o}");
    let unit = format!("bad@x-{id}.scope");
    assert!(o.stderr.contains("StartTransientUnit"), "{o}");
    assert!(o.stderr.contains(&unit), "{o}");
    let l = rt.run(&["list", "-q"]);
    assert!(!l.stdout.contains(&id), "{id} left: {l}");
    let left = sd.systemctl(&["list-units", "--all", "--plain", "--no-legend", "*.scope"]);
    assert!(!left.stdout.contains(&id), "unit left: {left}");
    let d = sd.cgroup_dir("memory", &format!("system.slice/{unit}"));
    assert!(!d.exists(), "{} left", d.display());
}

/// Without a reachable systemd the driver is a clear error, and `features`
/// says it is unavailable.
#[test]
fn no_systemd_is_a_clear_error() {
    if Path::new("/run/systemd/system").exists() {
        skip(Skip::Host("the host runs systemd"));
        return;
    }
    let t = Ctx::new("sdnone");
    let f = t.rt.exec(&["features"]);
    f.assert_ok();
    assert_eq!(f.json()["linux"]["cgroup"]["systemd"], false);
    t.bundle.save();
    let id = t.id("c");
    t.rt.track(&id);
    let o =
        t.rt.cmd()
            .args(["--systemd-cgroup", "create", "--bundle"])
            .arg(t.bundle.path())
            .arg(&id)
            .run();
    o.assert_fail_with("systemd is not running");
    assert!(!t.rt.root_entries().iter().any(|e| e == &id));
}
