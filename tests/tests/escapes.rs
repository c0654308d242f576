//! Known container escapes, each reproduced against berth-runtime: the attack is set
//! up as published and the test asserts that it gains nothing.
//!
//! CVE-2024-21626 (a leaked fd as cwd), CVE-2025-31133 (/dev/null replaced by a
//! symlink when masking), CVE-2021-30465 (a mount target swapped for a symlink while
//! mounts are made), CVE-2019-16884 and CVE-2023-28642 (/proc not a real directory),
//! CVE-2022-29162 (inheritable capabilities), and the fds a created init holds.
//! CVE-2019-5736 is in security.rs.

use berth_tests::*;
use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// A cwd that the process' root cannot reach (getcwd fails or says "(unreachable)").
fn escaped_cwd(report: &Value) -> bool {
    let cwd = report["cwd"].as_str().unwrap_or("error");
    !cwd.starts_with('/')
}

/// CVE-2024-21626: `process.cwd` set to /proc/self/fd/N, hoping N is an fd the
/// runtime still holds on a host directory. Either the container does not start
/// or its cwd is inside the container.
#[test]
fn cve_2024_21626_cwd_through_a_leaked_fd_at_create() {
    let mut t = Ctx::new("cwdfd");
    t.bundle.checker(&["report"]);
    let mut started = 0;
    for n in 3..=12 {
        t.bundle.cwd(&format!("/proc/self/fd/{n}"));
        let id = t.id(&format!("fd{n}"));
        let o = t.rt.run(&id, &t.bundle);
        if o.ok() {
            started += 1;
            let r = o.json_line();
            assert!(
                !escaped_cwd(&r),
                "cwd /proc/self/fd/{n} left the container: {}",
                r["cwd"]
            );
        }
    }
    eprintln!("{started} of 10 fd cwds started (inside the container)");
    t.assert_no_leaks();
}

/// The same through `exec --cwd` into a running container.
#[test]
fn cve_2024_21626_cwd_through_a_leaked_fd_at_exec() {
    let mut t = Ctx::new("execfd");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    for n in 3..=12 {
        let cwd = format!("/proc/self/fd/{n}");
        let o =
            t.rt.exec(&["exec", "--cwd", &cwd, &id, "/checker", "report"]);
        if o.ok() {
            let r = o.json_line();
            assert!(
                !escaped_cwd(&r),
                "exec --cwd {cwd} left the container: {}",
                r["cwd"]
            );
        }
    }
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

/// A created (not started) container's init holds no fd on a file or directory of
/// the host besides the stdio its caller gave it: nothing in the runtime's state
/// directory or the bundle that an `exec --cwd /proc/1/fd/N` could use.
#[test]
fn created_init_holds_no_host_file() {
    let t = Ctx::new("initfds");
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap();
    let mut bad = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let n: i32 = e.file_name().to_string_lossy().parse().unwrap();
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        let target = target.to_string_lossy().into_owned();
        if n <= 2 {
            continue;
        }
        let harmless = ["socket:", "pipe:", "anon_inode:", "/memfd:"]
            .iter()
            .any(|p| target.starts_with(p));
        if !harmless {
            bad.push(format!("{n} -> {target}"));
        }
    }
    assert!(bad.is_empty(), "the created init holds host files: {bad:?}");
    // And the init cannot be inspected by a process of the container before it execs.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    eprintln!("created init fds checked ({})", status.lines().count());
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

/// CVE-2025-31133: the image's /dev/null is a symlink (here to a file of the
/// rootfs, standing for /proc/sys/kernel/core_pattern). Masking must not bind the
/// symlink's target over the masked paths: the container either does not start or
/// /proc/timer_list and /proc/keys read empty.
#[test]
fn cve_2025_31133_dev_null_symlink_is_not_used_for_masking() {
    let mut t = Ctx::new("devnull");
    t.bundle.remove_mount("/dev");
    t.bundle.write_file("/secret", "SECRET-CONTENT\n", 0o644);
    t.bundle.symlink("/secret", "dev/null");
    t.bundle
        .args(&["/bin/sh", "-c", "cat /proc/timer_list /proc/keys; echo END"]);
    let id = t.id("c");
    let o = t.rt.run(&id, &t.bundle);
    assert!(
        !o.stdout.contains("SECRET-CONTENT"),
        "a masked path shows the symlink's target: {o}"
    );
    if o.ok() {
        assert!(o.stdout.contains("END"), "{o}");
    } else {
        assert!(o.stderr.contains("null device"), "{o}");
    }
    t.assert_no_leaks();
}

/// rename(2) with RENAME_EXCHANGE, relative to nothing (absolute paths).
fn exchange(a: &Path, b: &Path) -> bool {
    let (Ok(a), Ok(b)) = (
        CString::new(a.as_os_str().as_encoded_bytes()),
        CString::new(b.as_os_str().as_encoded_bytes()),
    ) else {
        return false;
    };
    // SAFETY: two valid NUL-terminated paths; renameat2 only reads them. The raw
    // syscall: the musl these tests link (1.2.3) has no renameat2 wrapper.
    unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        ) == 0
    }
}

/// CVE-2021-30465: while containers are created, a process keeps exchanging a mount
/// target directory with a symlink to a host directory. No mount ever lands on the
/// host directory.
#[test]
fn cve_2021_30465_mount_target_symlink_swap_race() {
    let mut t = Ctx::new("swaprace");
    let host = t.rt.scratch("host-target");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("host-file"), "host").unwrap();
    t.bundle.mkdir("/m");
    t.bundle.symlink(host.to_str().unwrap(), "swap");
    t.bundle.add_mount("/m", "tmpfs", "tmpfs", &["nosuid"]);
    t.bundle
        .args(&["/bin/sh", "-c", "touch /m/from-container 2>/dev/null; true"]);
    let (m, swap) = (t.bundle.rootfs_path("m"), t.bundle.rootfs_path("swap"));
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let stop = stop.clone();
        let (m, swap) = (m.clone(), swap.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if exchange(&m, &swap) {
                    swaps += 1;
                }
            }
            swaps
        })
    };
    for i in 0..15 {
        let id = t.id(&format!("r{i}"));
        let _ = t.rt.run(&id, &t.bundle);
        let _ = t.rt.delete_force(&id);
        let on_host = sys::mounts_under(&host);
        assert!(
            on_host.is_empty(),
            "a mount landed on the host: {on_host:?}"
        );
        assert!(
            !host.join("from-container").exists(),
            "the container wrote to the host"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    eprintln!("{swaps} exchanges raced 15 creates");
    assert!(swaps > 0);
    // leave the rootfs as it was made (the bundle's cleanup expects a directory at m)
    if std::fs::symlink_metadata(&m)
        .map(|md| md.file_type().is_symlink())
        .unwrap_or(false)
    {
        exchange(&m, &swap);
    }
    assert_eq!(
        std::fs::read_to_string(host.join("host-file")).unwrap(),
        "host"
    );
    t.assert_no_leaks();
}

/// CVE-2019-16884 / CVE-2023-28642: /proc (or /sys) in the rootfs is a symlink (to
/// a directory the container controls, or out of it). The runtime refuses to mount
/// procfs through it, and nothing is mounted where it points.
#[test]
fn proc_and_sys_must_be_real_directories() {
    for which in ["proc", "sys"] {
        let t = Ctx::new(&format!("{which}link"));
        let host = t.rt.scratch(&format!("{which}-target"));
        std::fs::create_dir_all(&host).unwrap();
        let _ = std::fs::remove_dir(t.bundle.rootfs_path(which));
        t.bundle.symlink(host.to_str().unwrap(), which);
        let id = t.id("c");
        let o = t.rt.run(&id, &t.bundle);
        assert!(!o.ok(), "a {which} symlink was accepted: {o}");
        let on_host = sys::mounts_under(&host);
        assert!(on_host.is_empty(), "mounted through /{which}: {on_host:?}");
        t.assert_no_leaks();
    }
}

/// CVE-2022-29162: the process gets no inheritable capabilities unless the spec
/// names them (an exec'd set-capability program could otherwise gain them).
#[test]
fn cve_2022_29162_no_inheritable_capabilities() {
    let mut t = Ctx::new("capinh");
    t.bundle.caps_all_sets(&["CAP_CHOWN", "CAP_KILL"]);
    t.bundle.cap_set("inheritable", &[]);
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["caps"]["CapInh"], "0000000000000000", "{r}");
    t.assert_no_leaks();
}

/// CVE-2016-9962: while `exec` joins a container, a process of the container that
/// watches /proc for new pids must not see the joining process' fds (it is not
/// dumpable until it execs), which would include the runtime's own files.
#[test]
fn cve_2016_9962_exec_fds_not_visible_to_the_container() {
    let mut t = Ctx::new("execwatch");
    let root = t.rt.root().to_string_lossy().into_owned();
    let bundle = t.bundle.path().to_string_lossy().into_owned();
    // The watcher prints every fd link it can read of every other process.
    t.bundle.args(&[
        "/bin/sh",
        "-c",
        "end=$(( $(date +%s) + 6 )); while [ $(date +%s) -lt $end ]; do \
         for p in /proc/[0-9]*; do [ \"$p\" = /proc/1 ] && continue; \
         ls -l $p/fd/ 2>/dev/null | grep -- '->'; done; done",
    ]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    for _ in 0..20 {
        let _ = t.rt.exec(&["exec", &id, "/bin/true"]);
    }
    t.rt.wait_status(&id, "stopped", T);
    let seen = t.rt.container_stdout(&id);
    for host_path in [&root, &bundle] {
        assert!(
            !seen.contains(host_path.as_str()),
            "the container saw a joining process' fd on {host_path}:\n{seen}"
        );
    }
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

/// CVE-2025-52565: /dev/console in the rootfs is a symlink (here to a file of the
/// rootfs, standing for a procfs file). The terminal must not be bound through it:
/// either `create` refuses, or nothing is mounted on the symlink's target.
#[test]
fn cve_2025_52565_dev_console_symlink_is_not_followed() {
    let mut t = Ctx::new("console");
    t.bundle.remove_mount("/dev");
    t.bundle.write_file("/target", "TARGET\n", 0o644);
    t.bundle.symlink("/target", "dev/console");
    t.bundle.terminal(true);
    t.bundle.checker(&["sleep", "10"]);
    let sock = berth_tests::console::ConsoleSocket::bind(&t.rt.scratch("sock").join("c.sock"));
    let id = t.id("c");
    let sock_path = sock.path().to_str().unwrap().to_string();
    let o =
        t.rt.create_with(&id, &t.bundle, &["--console-socket", &sock_path]);
    if o.ok() {
        let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap();
        let mi = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
        assert!(
            !mi.lines()
                .any(|l| l.split_whitespace().nth(4) == Some("/target")),
            "the terminal was bound through the /dev/console symlink:\n{mi}"
        );
        t.rt.delete_force(&id).assert_ok();
    } else {
        assert!(o.stderr.contains("/dev/console"), "{o}");
    }
    t.assert_no_leaks();
}

/// CVE-2019-5736 through `exec`: the exec'd process is /proc/self/exe (the runtime
/// while it joins). The runtime binary on the host stays unchanged.
#[test]
fn cve_2019_5736_exec_of_proc_self_exe_cannot_modify_runtime() {
    use std::os::unix::fs::MetadataExt;
    let mut t = Ctx::new("execexe");
    let bin = runtime_bin();
    let fp = |p: &Path| {
        let md = std::fs::metadata(p).unwrap();
        (md.ino(), md.mtime(), sys::fingerprint(p))
    };
    let before = fp(&bin);
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let _ = t.rt.exec(&["exec", &id, "/proc/self/exe"]);
    let _ =
        t.rt.exec(&["exec", &id, "/bin/sh", "-c", "echo x > /proc/self/exe"]);
    assert_eq!(fp(&bin), before, "the runtime binary changed");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

/// CVE-2025-52881: a sysctl's path under /proc/sys is covered by a bind mount of
/// another file (here a host file, standing for core_pattern). The runtime's write
/// of the sysctl must not land in that file.
#[test]
fn cve_2025_52881_sysctl_write_not_redirected() {
    let mut t = Ctx::new("sysctl");
    let victim = t.rt.scratch("victim").join("core_pattern");
    std::fs::write(&victim, "original\n").unwrap();
    t.bundle
        .add_bind("/proc/sys/kernel/domainname", &victim, &["rbind"])
        .set_linux("sysctl", json!({"kernel.domainname": "redirected"}));
    let id = t.id("c");
    let o = t.rt.run(&id, &t.bundle);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "original\n",
        "the sysctl write went to the file mounted over it: {o}"
    );
    t.assert_no_leaks();
}

/// `berth cp` into and out of a running container whose process keeps swapping the
/// destination directory with a symlink to a host directory: nothing is written to
/// the host directory and nothing of it is read.
#[test]
fn cp_against_a_symlink_swap_race() {
    berth_tests::init();
    let b = berth_tests::manager::Berth::new();
    b.import_busybox("busybox");
    let host = b.scratch("cp-host-target");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("host-secret"), "HOST").unwrap();
    let src = b.scratch("cp-src").join("payload");
    std::fs::write(&src, "payload").unwrap();
    let script = format!(
        "mkdir -p /d; echo inside >/d/host-secret; end=$(( $(date +%s) + 20 )); \
         while [ $(date +%s) -lt $end ]; do mv /d /d.real; ln -s {} /d; rm /d; mv /d.real /d; done",
        host.display()
    );
    b.run(&[
        "run", "-d", "--name", "swapper", "busybox", "sh", "-c", &script,
    ])
    .assert_ok();
    let out_dir = b.scratch("cp-out");
    for i in 0..25 {
        let _ = b.run(&["cp", &src.to_string_lossy(), &format!("swapper:/d/p{i}")]);
        let dst = out_dir.join(format!("o{i}"));
        let _ = b.run(&["cp", "swapper:/d/host-secret", &dst.to_string_lossy()]);
        if let Ok(got) = std::fs::read_to_string(&dst) {
            assert_ne!(got, "HOST", "cp read the host's file through the symlink");
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(&host)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["host-secret"], "cp wrote into the host directory");
    b.run(&["rm", "-f", "swapper"]).assert_ok();
    b.assert_no_leaks();
}
