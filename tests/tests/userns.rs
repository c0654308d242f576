//! User namespaces with idmapped mounts: the runtime's `mounts[].uidMappings/
//! gidMappings` with the `idmap`/`ridmap` options and the idmapped rootfs
//! (annotation `org.berth.rootfs.idmap`), checked through ownership as the
//! container and the host see it. runc 1.1.5 predates idmapped mounts.

use berth_tests::manager::Berth;
use berth_tests::runtime::Cmd;
use berth_tests::*;
use std::os::unix::fs::MetadataExt;

const HOST: u32 = 200000;

fn owner(p: &std::path::Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

/// A host directory owned by root, 0755, with a root-owned file in it.
fn root_owned_dir(t: &Ctx, name: &str) -> std::path::PathBuf {
    let d = t.rt.scratch(name);
    std::fs::create_dir_all(&d).unwrap();
    sys::set_mode(&d, 0o755);
    std::fs::write(d.join("f"), "x").unwrap();
    sys::chown(&d.join("f"), 0, 0);
    d
}

#[test]
fn idmapped_bind_takes_the_container_mappings() {
    if skip_on_runc("runc 1.1.5 has no idmapped mounts") {
        return;
    }
    let mut t = Ctx::new("idmap-bind");
    let src = root_owned_dir(&t, "idmap-src");
    let plain = root_owned_dir(&t, "plain-src");
    // The rootfs is host root's: the mount points must exist already.
    t.bundle.mkdir("idm");
    t.bundle.mkdir("plain");
    t.bundle
        .add_namespace("user", None)
        .uid_mappings(0, HOST, 65536)
        .add_bind("/idm", &src, &["idmap"])
        .add_bind("/plain", &plain, &[]);
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker stat /idm/f /plain/f; /checker write /idm/new; /checker write /plain/new",
    );
    // Through the idmapped bind the host's root files are the container's root's;
    // through the plain bind host root is unmapped (the overflow id).
    assert_eq!(out[0][0]["uid"], 0, "{out:?}");
    assert_eq!(out[0][1]["uid"], 65534, "{out:?}");
    // The container's root may write through the idmap (the directory is host
    // root's, 0755), and what it writes is host root's on disk.
    assert_eq!(out[1]["ok"], true, "{out:?}");
    assert_eq!(owner(&src.join("new")), (0, 0));
    // Not through the plain bind: it is not the directory's owner there.
    assert_eq!(out[2]["ok"], false, "{out:?}");
    assert!(!plain.join("new").exists());
    t.assert_no_leaks();
}

#[test]
fn idmapped_bind_with_its_own_mappings() {
    if skip_on_runc("runc 1.1.5 has no idmapped mounts") {
        return;
    }
    let mut t = Ctx::new("idmap-own");
    let src = root_owned_dir(&t, "idmap-own-src");
    t.bundle.mkdir("idm");
    t.bundle
        .add_namespace("user", None)
        .uid_mappings(0, HOST, 65536)
        .add_bind("/idm", &src, &["ridmap"]);
    // Host uid 0 on disk shows as HOST+5 / HOST+6, i.e. 5 / 6 in the container.
    let m = t.bundle.config["mounts"].as_array_mut().unwrap();
    let last = m.last_mut().unwrap();
    last["uidMappings"] = json!([{"containerID": 0, "hostID": HOST + 5, "size": 1}]);
    last["gidMappings"] = json!([{"containerID": 0, "hostID": HOST + 6, "size": 1}]);
    let s = t.rt.run_checker_json(&mut t.bundle, &["stat", "/idm/f"]);
    assert_eq!(
        (s[0]["uid"].clone(), s[0]["gid"].clone()),
        (json!(5), json!(6)),
        "{s}"
    );
    t.assert_no_leaks();
}

#[test]
fn idmapped_rootfs_by_annotation() {
    if skip_on_runc("runc 1.1.5 has no idmapped rootfs") {
        return;
    }
    let mut t = Ctx::new("idmap-root");
    t.bundle
        .add_namespace("user", None)
        .uid_mappings(0, HOST, 65536);
    t.bundle.config["annotations"] = json!({"org.berth.rootfs.idmap": "true"});
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker stat /checker /etc/passwd; /checker write /etc/new-by-root; /checker report",
    );
    // The host-root-owned rootfs is the container's root's, writable by it.
    assert_eq!(out[0][0]["uid"], 0, "{out:?}");
    assert_eq!(out[0][1]["uid"], 0, "{out:?}");
    assert_eq!(out[1]["ok"], true, "{out:?}");
    assert_eq!(owner(&t.bundle.rootfs_path("/etc/new-by-root")), (0, 0));
    // It is still a user namespace: the process is HOST on the host.
    let maps: String = out[2]["uid_map"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(maps, format!("0 {HOST} 65536"));
    t.assert_no_leaks();
}

#[test]
fn idmap_refusals_name_the_mount() {
    if skip_on_runc("runc 1.1.5 has no idmapped mounts") {
        return;
    }
    // No user namespace to take the mappings from.
    let mut t = Ctx::new("idmap-bad");
    let src = root_owned_dir(&t, "idmap-bad-src");
    t.bundle.add_bind("/idm", &src, &["idmap"]);
    let id = t.id("a");
    t.rt.run(&id, &t.bundle)
        .assert_fail_with("/idm has the idmap option");
    // An idmap on a tmpfs.
    let mut t = Ctx::new("idmap-tmpfs");
    t.bundle
        .add_namespace("user", None)
        .uid_mappings(0, HOST, 65536)
        .add_mount("/t", "tmpfs", "tmpfs", &["idmap"]);
    let id = t.id("b");
    t.rt.run(&id, &t.bundle).assert_fail_with("/t");
    // The rootfs annotation without a user namespace.
    let mut t = Ctx::new("idmap-root-bad");
    t.bundle.config["annotations"] = json!({"org.berth.rootfs.idmap": "true"});
    let id = t.id("c");
    t.rt.run(&id, &t.bundle)
        .assert_fail_with("org.berth.rootfs.idmap");
    t.assert_no_leaks();
}

// ---- berth: the config file's userns-remap ----

const REMAP: u32 = 300000;

/// A manager whose config file remaps to REMAP (subordinate id files of the
/// test's own, through BERTH_SUBUID/BERTH_SUBGID); returns (berth, --config).
fn remapped(name: &str) -> (Berth, String) {
    berth_tests::init();
    let b = Berth::new();
    b.import_busybox("bb");
    let dir = b.scratch(name);
    std::fs::write(dir.join("subuid"), format!("berthtest:{REMAP}:65536\n")).unwrap();
    std::fs::write(dir.join("subgid"), format!("berthtest:{REMAP}:65536\n")).unwrap();
    let cfg = dir.join("config.json");
    std::fs::write(&cfg, r#"{"userns-remap": "berthtest"}"#).unwrap();
    (b, cfg.to_string_lossy().into_owned())
}

fn remap_cmd<'a>(b: &'a Berth, name: &str) -> Cmd<'a> {
    let dir = b.scratch(name);
    b.cmd()
        .env("BERTH_SUBUID", &dir.join("subuid").to_string_lossy())
        .env("BERTH_SUBGID", &dir.join("subgid").to_string_lossy())
}

#[test]
fn userns_remap_maps_root_and_keeps_rootfs_and_volumes_usable() {
    if skip_on_runc("the manager's remap needs the runtime's idmapped rootfs") {
        return;
    }
    let (b, cfg) = remapped("remap");
    let hb = b.scratch("hostbind");
    sys::set_mode(&hb, 0o777);
    let secret = b.scratch("secret");
    std::fs::write(secret.join("s"), "host root only").unwrap();
    sys::set_mode(&secret.join("s"), 0o600);
    let script = "cat /proc/self/uid_map; stat -c 'bb %u' /bin/busybox; \
                  touch /etc/by-root && echo rootfs-ok; \
                  echo hi > /vol/x && cat /vol/x && echo vol-ok; \
                  touch /hb/by-root && echo bind-ok; \
                  cat /secret/s || echo secret-refused; \
                  mknod /tmp/sda b 8 0 2>/dev/null && echo mknod-ok || echo mknod-refused";
    let hbv = format!("{}:/hb", hb.display());
    let sv = format!("{}:/secret", secret.display());
    let out = remap_cmd(&b, "remap")
        .args([
            "--config",
            &cfg,
            "run",
            "--name",
            "remapped",
            "-v",
            &hbv,
            "-v",
            &sv,
            "-v",
            "remapvol:/vol",
            "bb",
            "sh",
            "-c",
            script,
        ])
        .run();
    let o = &out.assert_ok().stdout;
    let norm: String = o.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(norm.starts_with(&format!("0 {REMAP} 65536")), "{o}");
    // The image's root-owned files are the container root's (idmapped rootfs).
    assert!(o.contains("bb 0\n"), "{o}");
    assert!(o.contains("rootfs-ok\n"), "{o}");
    assert!(o.contains("hi\nvol-ok\n"), "{o}");
    assert!(o.contains("bind-ok\n"), "{o}");
    // What the container's root creates in a host bind is the mapped uid's.
    assert_eq!(owner(&hb.join("by-root")), (REMAP, REMAP));
    // It is not host root: a host root file stays closed, no block device.
    assert!(o.contains("secret-refused\n"), "{o}");
    assert!(!o.contains("host root only"), "{o}");
    assert!(o.contains("mknod-refused\n"), "{o}");
    // The running process is the mapped uid on the host.
    remap_cmd(&b, "remap")
        .args([
            "--config", &cfg, "run", "-d", "--name", "remapd", "bb", "sleep", "100",
        ])
        .run()
        .assert_ok();
    let pid = b
        .run(&["inspect", "-f", "{{.State.Pid}}", "remapd"])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().nth(1),
        Some(REMAP.to_string().as_str()),
        "{uid}"
    );
    // --userns=host opts out: host root again.
    let out = remap_cmd(&b, "remap")
        .args([
            "--config",
            &cfg,
            "run",
            "--rm",
            "--userns",
            "host",
            "-v",
            &sv,
            "bb",
            "cat",
            "/secret/s",
        ])
        .run();
    assert_eq!(out.assert_ok().stdout, "host root only");
    b.run(&["rm", "-f", "remapped", "remapd"]).assert_ok();
    b.run(&["volume", "rm", "remapvol"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn userns_remap_refusals() {
    let (b, cfg) = remapped("remap-bad");
    let out = remap_cmd(&b, "remap-bad")
        .args([
            "--config",
            &cfg,
            "run",
            "--rm",
            "--privileged",
            "bb",
            "true",
        ])
        .run();
    out.assert_code(125);
    assert!(out.stderr.contains("--userns=host"), "{out}");
    // No range for the user: the file and the user are named.
    let dir = b.scratch("remap-bad");
    std::fs::write(dir.join("subuid"), "someoneelse:100000:65536\n").unwrap();
    let out = remap_cmd(&b, "remap-bad")
        .args(["--config", &cfg, "run", "--rm", "bb", "true"])
        .run();
    out.assert_code(125);
    assert!(
        out.stderr.contains("berthtest") && out.stderr.contains("subuid"),
        "{out}"
    );
    // A malformed setting is the config file's error.
    std::fs::write(&cfg, r#"{"userns-remap": "a b"}"#).unwrap();
    let out = b.run(&["--config", &cfg, "ps"]);
    out.assert_code(125);
    assert!(out.stderr.contains("userns-remap"), "{out}");
    b.assert_no_leaks();
}
