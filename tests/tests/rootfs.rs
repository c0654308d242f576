//! Root filesystem setup: pivot_root, readonly root, mounts, /dev, masked/readonly
//! paths, sysctls, symlink-escaping mount destinations.

use berth_tests::*;
use std::ffi::CString;
use std::path::Path;
use std::time::Duration;

const EROFS: i64 = libc::EROFS as i64;

fn mount(src: &Path, dst: &Path, fstype: &str, flags: libc::c_ulong) {
    let s = CString::new(src.to_str().unwrap()).unwrap();
    let d = CString::new(dst.to_str().unwrap()).unwrap();
    let f = CString::new(fstype).unwrap();
    let rc = unsafe {
        libc::mount(
            s.as_ptr(),
            d.as_ptr(),
            if fstype.is_empty() {
                std::ptr::null()
            } else {
                f.as_ptr()
            },
            flags,
            std::ptr::null(),
        )
    };
    assert_eq!(
        rc,
        0,
        "mount {} on {}: {}",
        src.display(),
        dst.display(),
        std::io::Error::last_os_error()
    );
}

/// The bundle directory is not reachable from inside, and / is a mount.
fn check_isolated_root(t: &mut Ctx, extra: &[&str]) {
    let bundle_path = t.bundle.path().to_str().unwrap().to_string();
    t.bundle
        .checker(&["stat", &bundle_path, "/checker", "/work"]);
    let id = t.id("root");
    let o = t.rt.run_with(&id, &t.bundle, extra);
    o.assert_ok();
    let s = o.json_line();
    assert_eq!(s[0]["exists"], false, "host bundle dir visible inside: {s}");
    assert_eq!(s[1]["exists"], true, "{s}");
    assert_eq!(s[2]["exists"], false, "host /work visible inside: {s}");
    let r = t.rt.run_checker_report(&mut t.bundle);
    let root = report_mount(&r, "/").expect("no / mount");
    assert!(root["fs_type"].is_string(), "{root}");
    assert_eq!(r["cwd"], "/");
}

#[test]
fn pivot_root_by_default() {
    let mut t = Ctx::new("pivot");
    check_isolated_root(&mut t, &[]);
    t.assert_no_leaks();
}

#[test]
fn no_pivot_option() {
    let mut t = Ctx::new("nopivot");
    check_isolated_root(&mut t, &["--no-pivot"]);
    t.assert_no_leaks();
}

#[test]
fn readonly_root_with_writable_tmpfs() {
    let mut t = Ctx::new("roroot");
    t.bundle.readonly_root(true).add_mount(
        "/tmp",
        "tmpfs",
        "tmpfs",
        &["nosuid", "nodev", "mode=1777"],
    );
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker write /newfile; /checker write /tmp/newfile",
    );
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0]["ok"], false, "write to read-only / succeeded");
    assert_eq!(out[0]["errno"], EROFS, "{}", out[0]);
    assert_eq!(out[1]["ok"], true, "tmpfs /tmp not writable: {}", out[1]);
    assert!(!t.bundle.rootfs_path("/newfile").exists());
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert!(has_opt(&report_mount(&r, "/").unwrap()["options"], "ro"));
    t.assert_no_leaks();
}

#[test]
fn bind_mount_options() {
    let mut t = Ctx::new("bindopts");
    let src = t.rt.scratch("bind-src");
    std::fs::write(src.join("hello"), "from host").unwrap();
    t.bundle
        .add_bind("/mnt/ro", &src, &["ro"])
        .add_bind("/mnt/rw", &src, &["rw"])
        .add_bind("/mnt/flags", &src, &["nosuid", "nodev", "noexec"]);
    let r = t.rt.run_checker_report(&mut t.bundle);
    let ro = report_mount(&r, "/mnt/ro").expect("/mnt/ro not mounted");
    let rw = report_mount(&r, "/mnt/rw").expect("/mnt/rw not mounted");
    let fl = report_mount(&r, "/mnt/flags").expect("/mnt/flags not mounted");
    assert!(has_opt(&ro["options"], "ro"), "{ro}");
    assert!(has_opt(&rw["options"], "rw"), "{rw}");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(has_opt(&fl["options"], o), "{o} missing: {fl}");
        assert!(!has_opt(&rw["options"], o), "{o} set on rw mount: {rw}");
    }
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker read /mnt/ro/hello; /checker write /mnt/ro/x; /checker write /mnt/rw/y written",
    );
    assert_eq!(out[0]["content"], "from host");
    assert_eq!(out[1]["errno"], EROFS, "{}", out[1]);
    assert_eq!(out[2]["ok"], true, "{}", out[2]);
    assert_eq!(std::fs::read_to_string(src.join("y")).unwrap(), "written");
    assert!(!src.join("x").exists());
    t.assert_no_leaks();
}

#[test]
fn rbind_includes_submounts() {
    let mut t = Ctx::new("rbind");
    let src = t.rt.scratch("rbind-src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    mount(Path::new("tmpfs"), &src.join("sub"), "tmpfs", 0);
    std::fs::write(src.join("sub/inner"), "in submount").unwrap();
    t.bundle
        .add_bind("/mnt/r", &src, &["rbind"])
        .add_bind("/mnt/b", &src, &[]);
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker read /mnt/r/sub/inner; /checker read /mnt/b/sub/inner",
    );
    sys::umount_detach(&src.join("sub"));
    assert_eq!(out[0]["content"], "in submount", "rbind lost the submount");
    assert_eq!(
        out[1]["ok"], false,
        "plain bind included the submount: {}",
        out[1]
    );
    t.assert_no_leaks();
}

#[test]
fn bind_mount_propagation() {
    let mut t = Ctx::new("propagation");
    // A shared host mount as the source.
    let src = t.rt.scratch("prop-src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    mount(&src, &src, "", libc::MS_BIND);
    mount(Path::new("none"), &src, "", libc::MS_SHARED);
    t.bundle
        .add_bind("/mnt/slave", &src, &["rbind", "rslave"])
        .add_bind("/mnt/shared", &src, &["rbind", "rshared"])
        .add_bind("/mnt/private", &src, &["rbind", "rprivate"]);
    let r = t.rt.run_checker_report(&mut t.bundle);
    let tags = |mp: &str| -> Vec<String> {
        report_mount(&r, mp).unwrap_or_else(|| panic!("{mp} not mounted"))["propagation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let slave = tags("/mnt/slave");
    let shared = tags("/mnt/shared");
    let private = tags("/mnt/private");
    assert!(
        slave.iter().any(|t| t.starts_with("master:")),
        "rslave: {slave:?}"
    );
    assert!(
        !slave.iter().any(|t| t.starts_with("shared:")),
        "rslave: {slave:?}"
    );
    assert!(
        shared.iter().any(|t| t.starts_with("shared:")),
        "rshared: {shared:?}"
    );
    assert!(private.is_empty(), "rprivate: {private:?}");

    // Behaviour: a mount made on the host afterwards reaches the slave, not the private.
    let script = "i=0; while [ $i -lt 100 ] && [ ! -e /mnt/slave/sub/hostfile ]; do sleep 0.1; i=$((i+1)); done; \
                  /checker stat /mnt/slave/sub/hostfile /mnt/private/sub/hostfile";
    t.bundle.args(&["/bin/sh", "-c", script]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    mount(Path::new("tmpfs"), &src.join("sub"), "tmpfs", 0);
    std::fs::write(src.join("sub/hostfile"), "x").unwrap();
    t.rt.wait_status(&id, "stopped", Duration::from_secs(15));
    sys::umount_detach(&src.join("sub"));
    let s = find_json_line(&t.rt.container_stdout(&id));
    t.rt.delete(&id).assert_ok();
    sys::umount_detach(&src);
    let s = s.expect("no output from the container");
    assert_eq!(
        s[0]["exists"], true,
        "host mount did not propagate to rslave: {s}"
    );
    assert_eq!(
        s[1]["exists"], false,
        "host mount propagated to rprivate: {s}"
    );
    t.assert_no_leaks();
}

fn find_json_line(text: &str) -> Option<Value> {
    berth_tests::runtime::find_json_line(text)
}

#[test]
fn tmpfs_with_size_and_mode() {
    let mut t = Ctx::new("tmpfsopts");
    t.bundle.add_mount(
        "/mnt/t",
        "tmpfs",
        "tmpfs",
        &["size=1024k", "mode=750", "nosuid"],
    );
    // One run: the mount point does not exist in the rootfs yet. (runc re-applies the
    // mode of an already existing mount point directory over the tmpfs root.)
    let out =
        t.rt.run_script_json(&mut t.bundle, "/checker stat /mnt/t; /checker report");
    let (s, r) = (&out[0], &out[1]);
    let m = report_mount(r, "/mnt/t").expect("/mnt/t not mounted");
    assert_eq!(m["fs_type"], "tmpfs");
    assert!(has_opt(&m["super_options"], "size=1024k"), "{m}");
    assert!(has_opt(&m["super_options"], "mode=750"), "{m}");
    assert!(has_opt(&m["options"], "nosuid"), "{m}");
    assert_eq!(s[0]["mode"], 0o750, "{s}");
    t.assert_no_leaks();
}

#[test]
fn default_special_filesystems_are_mounted() {
    let mut t = Ctx::new("specialfs");
    let r = t.rt.run_checker_report(&mut t.bundle);
    for (mp, fs) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
    ] {
        let m = report_mount(&r, mp).unwrap_or_else(|| panic!("{mp} not mounted"));
        assert_eq!(m["fs_type"], fs, "{mp}: {m}");
    }
    assert!(has_opt(&report_mount(&r, "/sys").unwrap()["options"], "ro"));
    let cg = r["mounts"].as_array().unwrap().iter().any(|m| {
        m["mount_point"]
            .as_str()
            .unwrap()
            .starts_with("/sys/fs/cgroup")
            && (m["fs_type"] == "cgroup" || m["fs_type"] == "cgroup2")
    });
    assert!(cg, "no cgroup filesystem under /sys/fs/cgroup");
    t.assert_no_leaks();
}

#[test]
fn dev_contains_default_devices_and_links() {
    let mut t = Ctx::new("devnodes");
    let devs = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let links = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ];
    let mut args = vec!["stat"];
    args.extend(devs.iter().map(|d| d.0));
    args.extend(links.iter().map(|l| l.0));
    let s = t.rt.run_checker_json(&mut t.bundle, &args);
    for (i, (path, major, minor)) in devs.iter().enumerate() {
        let e = &s[i];
        assert_eq!(e["type"], "char", "{path}: {e}");
        assert_eq!(e["major"], *major, "{path}: {e}");
        assert_eq!(e["minor"], *minor, "{path}: {e}");
        assert_eq!(e["mode"], 0o666, "{path}: {e}");
    }
    for (i, (path, target)) in links.iter().enumerate() {
        let e = &s[devs.len() + i];
        assert_eq!(e["type"], "symlink", "{path}: {e}");
        assert_eq!(e["target"], *target, "{path}: {e}");
    }
    // The devices work.
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker write /dev/null data; /checker write /dev/full data",
    );
    assert_eq!(out[0]["ok"], true, "{}", out[0]);
    assert_eq!(out[1]["errno"], libc::ENOSPC as i64, "{}", out[1]);
    t.assert_no_leaks();
}

#[test]
fn linux_devices_are_created() {
    let mut t = Ctx::new("devices");
    t.bundle.set_linux(
        "devices",
        json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
             "fileMode": 0o666, "uid": 0, "gid": 0},
            {"path": "/dev/custom/mynull", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o640, "uid": 1000, "gid": 2000},
        ]),
    );
    // Allow the custom nodes in the device cgroup too (runc adds linux.devices itself).
    let s =
        t.rt.run_checker_json(&mut t.bundle, &["stat", "/dev/fuse", "/dev/custom/mynull"]);
    assert_eq!(s[0]["type"], "char", "{s}");
    assert_eq!(
        (s[0]["major"].as_u64(), s[0]["minor"].as_u64()),
        (Some(10), Some(229))
    );
    assert_eq!(s[0]["mode"], 0o666, "{s}");
    assert_eq!(s[1]["type"], "char", "{s}");
    assert_eq!(
        (s[1]["major"].as_u64(), s[1]["minor"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(s[1]["mode"], 0o640, "{s}");
    assert_eq!(s[1]["uid"], 1000, "{s}");
    assert_eq!(s[1]["gid"], 2000, "{s}");
    t.assert_no_leaks();
}

#[test]
fn masked_paths() {
    let mut t = Ctx::new("masked");
    t.bundle.write_file("/etc/secret", "top secret", 0o644);
    t.bundle.write_file("/secretdir/file", "hidden", 0o644);
    t.bundle.config["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!("/etc/secret"),
            json!("/secretdir"),
            json!("/does/not/exist"),
        ]);
    // A default masked /proc file that exists on this kernel and has content on the host.
    let proc_file = [
        "/proc/timer_list",
        "/proc/kcore",
        "/proc/keys",
        "/proc/sched_debug",
    ]
    .into_iter()
    .find(|p| std::fs::metadata(p).is_ok())
    .expect("no maskable /proc file on this host");
    let out = t.rt.run_script_json(
        &mut t.bundle,
        &format!(
            "/checker read /etc/secret; /checker stat /secretdir/file; /checker read {proc_file}; \
             /checker write /etc/secret overwrite"
        ),
    );
    assert_eq!(out[0]["ok"], true, "{}", out[0]);
    assert_eq!(out[0]["content"], "", "masked file not empty: {}", out[0]);
    assert_eq!(
        out[1][0]["exists"], false,
        "masked dir not empty: {}",
        out[1]
    );
    assert_eq!(out[2]["content"], "", "{proc_file} not masked: {}", out[2]);
    // The real file is unchanged on the host.
    assert_eq!(
        std::fs::read_to_string(t.bundle.rootfs_path("/etc/secret")).unwrap(),
        "top secret"
    );
    t.assert_no_leaks();
}

#[test]
fn readonly_paths() {
    let mut t = Ctx::new("ropaths");
    t.bundle.mkdir("/data");
    t.bundle.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/data"));
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker write /data/x; /checker write /proc/sys/kernel/hostname foo; /checker write /rootfile",
    );
    assert_eq!(out[0]["errno"], EROFS, "readonly path writable: {}", out[0]);
    assert_eq!(out[1]["errno"], EROFS, "/proc/sys writable: {}", out[1]);
    assert_eq!(
        out[2]["ok"], true,
        "rest of the rootfs became read-only: {}",
        out[2]
    );
    assert!(!t.bundle.rootfs_path("/data/x").exists());
    t.assert_no_leaks();
}

#[test]
fn sysctls_are_applied() {
    let mut t = Ctx::new("sysctl");
    t.bundle.set_linux(
        "sysctl",
        json!({"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}),
    );
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker sysctl net.ipv4.ip_forward; /checker sysctl kernel.shm_rmid_forced",
    );
    assert_eq!(out[0]["value"], "1", "{}", out[0]);
    assert_eq!(out[1]["value"], "1", "{}", out[1]);
    // The host's values are not changed (new net and ipc namespaces).
    let host_shm = std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap();
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let _ = (host_shm, host_fwd); // informational: the host may have them set already
    t.assert_no_leaks();
}

/// A mount destination that goes through a symlink pointing outside the rootfs must be
/// resolved inside the rootfs: nothing may be created or mounted on the host path.
#[test]
fn mount_destination_symlink_cannot_escape_rootfs() {
    let mut t = Ctx::new("symescape");
    let host_dir = t.rt.scratch("host-dir");
    std::fs::write(host_dir.join("marker"), "host").unwrap();
    let host = host_dir.to_str().unwrap().to_string();
    let src = t.rt.scratch("payload");
    std::fs::write(src.join("payload"), "bound").unwrap();
    std::fs::write(src.join("file"), "a file").unwrap();

    // Absolute and relative (climbing above the rootfs) symlinks to the host dir.
    t.bundle.symlink(&host, "/evil");
    t.bundle
        .symlink(&format!("../../../../../../..{host}"), "/evil2");
    t.bundle
        .add_bind("/evil/sub", &src, &[])
        .add_bind("/evil/file", &src.join("file"), &[])
        .add_mount("/evil2/t", "tmpfs", "tmpfs", &[]);
    let id = t.id("c");
    t.bundle
        .checker(&["stat", "/evil/sub/payload", "/evil/file", "/evil2/t"]);
    let o = t.rt.run(&id, &t.bundle);

    let mut entries: Vec<String> = std::fs::read_dir(&host_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        ["marker"],
        "the runtime created entries in the host directory"
    );
    assert!(
        sys::mounts_under(&host_dir).is_empty(),
        "something was mounted on the host directory"
    );
    // Either the runtime refused, or the mounts landed inside the rootfs.
    if o.ok() {
        let s = o.json_line();
        assert_eq!(
            s[0]["exists"], true,
            "bind mount not visible via the symlink: {s}"
        );
        assert_eq!(s[1]["exists"], true, "{s}");
        assert_eq!(s[2]["type"], "dir", "{s}");
        assert!(
            t.bundle.rootfs_path(&format!("{host}/sub")).is_dir(),
            "mount point not created inside the rootfs"
        );
    }
    t.assert_no_leaks();
}
