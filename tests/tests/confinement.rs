//! Safe defaults, measured against a private dockerd: `berth run` confines a container
//! the way `docker run` does. The default seccomp policy gives every system call the
//! same outcome as docker's default profile (the checker's `syscalls` probe, run under
//! both), `--privileged` and `seccomp=unconfined` lift it, and /proc and /sys are
//! masked and read-only in the same places.
//!
//! Needs root, docker.io, containerd, runc, umoci, skopeo and busybox-static.

#[path = "../src/docker.rs"]
mod docker;
#[path = "../src/engine_kit.rs"]
mod engine_kit;

use berth_tests::manager::Berth;
use docker::shared;
use engine_kit::IMAGE;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn checker_volume() -> String {
    format!("{}:/checker:ro", berth_tests::checker_bin().display())
}

/// The checker's JSON output (the last line that parses).
fn json_of(out: &str) -> Value {
    out.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON in {out:?}"))
}

/// `docker run --rm` (runc, docker's default profile) ARGS.
fn docker_run(args: &[&str]) -> String {
    let d = shared();
    let mut a = vec!["--rm", "-v"];
    let vol = checker_volume();
    a.push(&vol);
    a.extend_from_slice(args);
    let out = d.run_with("runc", &a);
    out.assert_ok();
    out.stdout.clone()
}

/// The private dockerd's major version.
fn docker_major() -> u32 {
    let v = shared().docker(&["version", "--format", "{{.Server.Version}}"]);
    v.out()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// `berth run --rm` ARGS.
fn berth_run(b: &Berth, args: &[&str]) -> String {
    let vol = checker_volume();
    let mut a = vec!["run", "--rm", "-v", &vol];
    a.extend_from_slice(args);
    b.run(&a).assert_ok().stdout.clone()
}

fn outcomes(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// Every system call number and the conditioned calls (clone flags, personality
/// values, socket families) have the same outcome under berth's default policy and
/// under docker's default profile.
#[test]
fn default_seccomp_matches_docker() {
    let b = Berth::with_busybox("busybox");
    let theirs = outcomes(&json_of(&docker_run(&[IMAGE, "/checker", "syscalls"])));
    let ours = outcomes(&json_of(&berth_run(
        &b,
        &["busybox", "/checker", "syscalls"],
    )));
    assert_eq!(
        theirs.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>()
    );
    // The probe itself works: under docker's profile mount is refused with EPERM and
    // clone without namespace flags is allowed.
    let mount = libc::SYS_mount.to_string();
    assert_eq!(theirs[&mount], "errno:1", "{theirs:?}");
    assert_eq!(theirs["clone:SIGCHLD"], "ok");
    // What moby changed in its default profile after 20.10 (berth follows today's
    // docker): name_to_handle_at, process_vm_readv/writev and the pkey calls became
    // allowed, socket(AF_VSOCK) refused. Against an older dockerd exactly these may
    // differ, each only in that direction.
    let newer: &[(&str, &str)] = &[
        ("303", "errno:1"),
        ("310", "errno:1"),
        ("311", "errno:1"),
        ("329", "errno:1"),
        ("330", "errno:1"),
        ("331", "errno:1"),
        ("socket:AF_VSOCK", "ok"),
    ];
    let old_docker = docker_major() < 25;
    let diff: Vec<String> = theirs
        .iter()
        .filter(|(k, v)| ours[*k] != **v)
        .filter(|(k, v)| {
            let changed_since = old_docker && newer.contains(&(k.as_str(), v.as_str()));
            // refused then, passed to the kernel now; or allowed then, refused now
            let as_today = if v.as_str() == "errno:1" {
                ours[*k] != "errno:1"
            } else {
                ours[*k] == "errno:1"
            };
            !(changed_since && as_today)
        })
        .map(|(k, v)| format!("{k}: docker {v}, berth {}", ours[k]))
        .collect();
    eprintln!("{} calls compared", theirs.len());
    assert!(
        diff.is_empty(),
        "{} calls differ from docker's default profile:\n{}",
        diff.len(),
        diff.join("\n")
    );
    // And the policy confines: the namespace-making calls are refused.
    for k in ["clone:NEWUSER", "unshare:NEWUSER", "socket:AF_VSOCK"] {
        assert_eq!(ours[k], "errno:1", "{k}");
    }
    b.assert_no_leaks();
}

/// The `Seccomp:` and `NoNewPrivs:` lines of /proc/self/status in a berth container.
fn status_of(b: &Berth, flags: &[&str]) -> (String, String) {
    let mut a: Vec<&str> = flags.to_vec();
    a.extend(["busybox", "cat", "/proc/self/status"]);
    let out = berth_run(b, &a);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    (field("Seccomp:"), field("NoNewPrivs:"))
}

/// The filter is on by default and off with --privileged or seccomp=unconfined;
/// no-new-privileges is off by default (as docker) and on when asked.
#[test]
fn seccomp_on_by_default_and_lifted_on_request() {
    let b = Berth::with_busybox("busybox");
    assert_eq!(status_of(&b, &[]), ("2".into(), "0".into()));
    assert_eq!(
        status_of(&b, &["--security-opt", "seccomp=unconfined"]).0,
        "0"
    );
    assert_eq!(status_of(&b, &["--privileged"]).0, "0");
    assert_eq!(
        status_of(&b, &["--security-opt", "no-new-privileges"]),
        ("2".into(), "1".into())
    );
    // docker agrees on the default.
    let theirs = docker_run(&[IMAGE, "cat", "/proc/self/status"]);
    assert!(theirs.contains("Seccomp:\t2"), "{theirs}");
    assert!(theirs.contains("NoNewPrivs:\t0"), "{theirs}");
    // A capability opens its group: with CAP_SYS_ADMIN unshare is allowed.
    let out = b.run(&[
        "run",
        "--rm",
        "--cap-add",
        "SYS_ADMIN",
        "busybox",
        "unshare",
        "-m",
        "true",
    ]);
    out.assert_ok();
    let out = b.run(&["run", "--rm", "busybox", "unshare", "-m", "true"]);
    assert_ne!(out.code, Some(0), "unshare -m without CAP_SYS_ADMIN: {out}");
    b.assert_no_leaks();
}

/// The mounts a container has under /proc and /sys: mount point -> "fstype ro|rw".
fn proc_sys_mounts(mountinfo: &str) -> BTreeMap<String, String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let sep = f.iter().position(|x| *x == "-")?;
            let point = f.get(4)?.to_string();
            // (the cgroup filesystem is not a mask: berth mounts it read-only
            // on cgroup v1 hosts, where docker 20.10 leaves its tmpfs writable)
            if !(point.starts_with("/proc/") || point.starts_with("/sys/"))
                || point.starts_with("/sys/fs/cgroup")
            {
                return None;
            }
            let ro = f.get(5)?.split(',').any(|o| o == "ro");
            let fstype = f.get(sep + 1)?;
            Some((point, format!("{fstype} {}", if ro { "ro" } else { "rw" })))
        })
        .collect()
}

/// Every path docker masks or makes read-only under /proc and /sys is masked or
/// read-only in a berth container the same way (berth may mask more).
#[test]
fn proc_and_sys_masked_as_docker() {
    let b = Berth::with_busybox("busybox");
    let theirs = proc_sys_mounts(&docker_run(&[IMAGE, "cat", "/proc/self/mountinfo"]));
    let ours = proc_sys_mounts(&berth_run(&b, &["busybox", "cat", "/proc/self/mountinfo"]));
    assert!(!theirs.is_empty(), "docker masks nothing?");
    let missing: BTreeSet<String> = theirs
        .iter()
        .filter(|(k, v)| ours.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: docker {v}, berth {:?}", ours.get(k)))
        .collect();
    assert!(
        missing.is_empty(),
        "not as docker: {missing:#?}\nberth: {ours:#?}"
    );
    // And the masking holds: a masked file reads empty, /proc/sys and
    // /proc/sysrq-trigger refuse writes.
    let masked = berth_run(&b, &["busybox", "wc", "-c", "/proc/timer_list"]);
    assert!(masked.trim_start().starts_with('0'), "{masked:?}");
    for file in ["/proc/sys/kernel/domainname", "/proc/sysrq-trigger"] {
        let script = format!("echo h >{file}");
        let out = b.run(&["run", "--rm", "busybox", "sh", "-c", &script]);
        assert_ne!(out.code, Some(0), "{file} was writable: {out}");
    }
    b.assert_no_leaks();
}
