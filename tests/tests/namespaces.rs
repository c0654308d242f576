//! Namespaces as seen from inside the container.

use berth_tests::*;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

fn host_ns(name: &str) -> u64 {
    sys::ns_inode(&format!("/proc/self/ns/{name}"))
}

#[test]
fn new_namespaces_differ_from_host() {
    let mut t = Ctx::new("nsnew");
    t.bundle.add_namespace("cgroup", None);
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["pid"], 1, "the process is pid 1 of a new pid namespace");
    assert_eq!(r["ppid"], 0);
    for ns in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        assert_ne!(r["ns"][ns], host_ns(ns), "{ns} namespace is the host's");
    }
    // Not requested: shared with the host.
    assert_eq!(
        r["ns"]["user"],
        host_ns("user"),
        "user ns was not requested"
    );
    assert_eq!(
        r["ns"]["time"],
        host_ns("time"),
        "time ns was not requested"
    );
    t.assert_no_leaks();
}

#[test]
fn without_pid_and_net_namespace_host_ones_are_shared() {
    let mut t = Ctx::new("nsshare");
    t.bundle.remove_namespace("pid").remove_namespace("network");
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_ne!(r["pid"], 1);
    assert_eq!(r["ns"]["pid"], host_ns("pid"));
    assert_eq!(r["ns"]["net"], host_ns("net"));
    assert_ne!(r["ns"]["mnt"], host_ns("mnt"));
    t.assert_no_leaks();
}

#[test]
fn uts_hostname_and_domainname() {
    let mut t = Ctx::new("uts");
    t.bundle.hostname("berth-box").domainname("example.test");
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["hostname"], "berth-box");
    // runc 1.1.5 ignores `domainname` (support came in runc 1.2).
    if !skip_on_runc("domainname is ignored") {
        assert_eq!(r["domainname"], "example.test");
    }
    t.assert_no_leaks();
}

#[test]
fn hostname_without_uts_namespace_fails() {
    let mut t = Ctx::new("noutshost");
    t.bundle.remove_namespace("uts").hostname("not-allowed");
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_fail();
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
    // The host's hostname is untouched.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    unsafe { libc::uname(&mut u) };
    let host: String = u
        .nodename
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8 as char)
        .collect();
    assert_ne!(host, "not-allowed");
    t.assert_no_leaks();
}

#[test]
fn user_namespace_with_mappings() {
    let mut t = Ctx::new("userns");
    const HOST: u32 = 200000;
    t.bundle
        .add_namespace("user", None)
        .uid_mappings(0, HOST, 65536);
    // A file owned by host uid HOST+5 / gid HOST+6 is owned by 5/6 inside.
    let f = t.bundle.write_file("/owned", "x", 0o644);
    sys::chown(&f, HOST + 5, HOST + 6);
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_ne!(r["ns"]["user"], host_ns("user"));
    let norm = |v: &Value| {
        v.as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(norm(&r["uid_map"]), format!("0 {HOST} 65536"));
    assert_eq!(norm(&r["gid_map"]), format!("0 {HOST} 65536"));
    assert_eq!(r["uid"], 0);
    assert_eq!(r["gid"], 0);

    let s =
        t.rt.run_checker_json(&mut t.bundle, &["stat", "/owned", "/checker"]);
    assert_eq!(s[0]["uid"], 5, "{s}");
    assert_eq!(s[0]["gid"], 6, "{s}");
    // Host root is not mapped: it shows as the overflow id.
    assert_eq!(s[1]["uid"], 65534, "{s}");
    t.assert_no_leaks();
}

#[test]
fn time_namespace_offsets() {
    // runc 1.1.5 predates time namespace support (added in runc 1.2).
    if skip_on_runc("no time namespace support") {
        return;
    }
    let mut t = Ctx::new("timens");
    const OFFSET: i64 = 10 * 24 * 3600;
    t.bundle.add_namespace("time", None).set_linux(
        "timeOffsets",
        json!({
            "monotonic": {"secs": OFFSET, "nanosecs": 0},
            "boottime": {"secs": 2 * OFFSET, "nanosecs": 0}
        }),
    );
    let clock = |id| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    };
    let mono_before = clock(libc::CLOCK_MONOTONIC);
    let boot_before = clock(libc::CLOCK_BOOTTIME);
    let c = t.rt.run_checker_json(&mut t.bundle, &["clock"]);
    let mono_after = clock(libc::CLOCK_MONOTONIC);
    let boot_after = clock(libc::CLOCK_BOOTTIME);
    let m = c["monotonic"].as_f64().unwrap();
    let b = c["boottime"].as_f64().unwrap();
    let off = OFFSET as f64;
    assert!(
        m >= mono_before + off && m <= mono_after + off,
        "monotonic inside {m}, host {mono_before}..{mono_after}, offset {off}"
    );
    assert!(
        b >= boot_before + 2.0 * off && b <= boot_after + 2.0 * off,
        "boottime inside {b}, host {boot_before}..{boot_after}, offset {}",
        2.0 * off
    );
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_ne!(r["ns"]["time"], host_ns("time"));
    t.assert_no_leaks();
}

/// A helper process sleeping in its own network namespace.
struct NsHelper(Child);

impl NsHelper {
    fn spawn(flags: libc::c_int) -> NsHelper {
        let mut cmd = Command::new("/bin/busybox");
        cmd.args(["sleep", "60"]).stdin(Stdio::null());
        unsafe {
            cmd.pre_exec(move || {
                if libc::unshare(flags) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        NsHelper(cmd.spawn().expect("spawn ns helper"))
    }

    fn ns_path(&self, name: &str) -> String {
        format!("/proc/{}/ns/{name}", self.0.id())
    }
}

impl Drop for NsHelper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn join_existing_namespaces_by_path() {
    let mut t = Ctx::new("nsjoin");
    let helper = NsHelper::spawn(libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS);
    // Wait until the helper has unshared (its net ns differs from ours).
    sys::wait_for(std::time::Duration::from_secs(5), || {
        (sys::ns_inode(&helper.ns_path("net")) != host_ns("net")).then_some(())
    })
    .expect("helper did not unshare");
    let net = helper.ns_path("net");
    let ipc = helper.ns_path("ipc");
    t.bundle
        .add_namespace("network", Some(&net))
        .add_namespace("ipc", Some(&ipc));
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(
        r["ns"]["net"],
        sys::ns_inode(&net),
        "did not join the net ns"
    );
    assert_eq!(
        r["ns"]["ipc"],
        sys::ns_inode(&ipc),
        "did not join the ipc ns"
    );
    assert_ne!(r["ns"]["net"], host_ns("net"));

    // The same through a bind-mounted nsfs file (what `ip netns add` creates).
    let file = t.rt.scratch("netns").join("ns-net");
    std::fs::write(&file, "").unwrap();
    let src = std::ffi::CString::new(net.clone()).unwrap();
    let dst = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    assert_eq!(
        rc,
        0,
        "bind mount nsfs: {}",
        std::io::Error::last_os_error()
    );
    t.bundle
        .add_namespace("network", Some(file.to_str().unwrap()))
        .add_namespace("ipc", None);
    let r = t.rt.run_checker_report(&mut t.bundle);
    sys::umount_detach(&file);
    assert_eq!(r["ns"]["net"], sys::ns_inode(&net));
    drop(helper);
    t.assert_no_leaks();
}

#[test]
fn joining_a_missing_namespace_path_fails() {
    let mut t = Ctx::new("nsmissing");
    t.bundle
        .add_namespace("network", Some("/proc/999999999/ns/net"));
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_fail();
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
    t.assert_no_leaks();
}
