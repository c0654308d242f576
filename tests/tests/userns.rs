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

// ---- berth: --userns=auto ----

const POOL: u32 = 400000;

/// A manager whose `berth` pool user holds POOL..POOL+3072 (no config remap).
fn auto_pool(name: &str) -> Berth {
    berth_tests::init();
    let b = Berth::new();
    b.import_busybox("bb");
    let dir = b.scratch(name);
    std::fs::write(
        dir.join("subuid"),
        format!("other:1000:5\nberth:{POOL}:3072\n"),
    )
    .unwrap();
    std::fs::write(dir.join("subgid"), format!("berth:{POOL}:3072\n")).unwrap();
    b
}

/// The `(container, host, size)` lines of a uid_map/gid_map text.
fn map_lines(text: &str) -> Vec<(u32, u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<u32> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 3).then(|| (f[0], f[1], f[2]))
        })
        .collect()
}

#[test]
fn userns_auto_gives_each_container_its_own_range() {
    if skip_on_runc("--userns=auto needs the runtime's idmapped rootfs") {
        return;
    }
    let b = auto_pool("auto");
    let run = |args: &[&str]| remap_cmd(&b, "auto").args(args).run();
    let maps = "cat /proc/self/uid_map; echo -; cat /proc/self/gid_map; \
                stat -c 'bb %u' /bin/busybox; touch /etc/x && echo rootfs-ok";
    // busybox's highest id is berthuser's 1000: podman's minimum, 1024
    let out = run(&[
        "run",
        "--name",
        "a1",
        "--userns=auto",
        "bb",
        "sh",
        "-c",
        maps,
    ]);
    let o = &out.assert_ok().stdout;
    let (u, g) = o.split_once("-\n").unwrap();
    assert_eq!(map_lines(u), vec![(0, POOL, 1024)], "{o}");
    assert_eq!(map_lines(g), vec![(0, POOL, 1024)], "{o}");
    assert!(o.contains("bb 0\n") && o.contains("rootfs-ok\n"), "{o}");
    // a stopped container keeps its range: the next one starts after it
    let out = run(&[
        "run",
        "--name",
        "a2",
        "--userns=auto",
        "bb",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(
        map_lines(&out.assert_ok().stdout),
        vec![(0, POOL + 1024, 1024)]
    );
    let out = run(&[
        "create",
        "--name",
        "a3",
        "--userns",
        "auto:size=1024",
        "bb",
        "true",
    ]);
    out.assert_ok();
    // the pool (3072) is used up: refused, saying so
    let out = run(&["run", "--rm", "--userns=auto", "bb", "true"]);
    out.assert_code(125);
    assert!(out.stderr.contains("no free run of 1024"), "{out}");
    // inspect says what was asked
    let out = b.run(&["inspect", "-f", "{{.HostConfig.UsernsMode}}", "a1", "a3"]);
    assert_eq!(out.assert_ok().stdout, "auto\nauto:size=1024\n");
    // rm gives the range back: the hole is reused
    b.run(&["rm", "a2"]).assert_ok();
    let out = run(&[
        "run",
        "--rm",
        "--userns=auto",
        "bb",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(
        map_lines(&out.assert_ok().stdout),
        vec![(0, POOL + 1024, 1024)]
    );
    b.run(&["rm", "-f", "a1", "a3"]).assert_ok();
    // a forced mapping: container 0 is host 5000, the rest from the pool
    let out = run(&[
        "run",
        "--rm",
        "--userns=auto:size=1024,uidmapping=0:5000:1",
        "bb",
        "sh",
        "-c",
        "cat /proc/self/uid_map; echo -; cat /proc/self/gid_map",
    ]);
    let o = &out.assert_ok().stdout;
    let (u, g) = o.split_once("-\n").unwrap();
    assert_eq!(map_lines(u), vec![(0, 5000, 1), (1, POOL, 1023)], "{o}");
    assert_eq!(map_lines(g), vec![(0, POOL, 1024)], "{o}");
    // concurrent creates never share a range (the allocation lock)
    let outs: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    remap_cmd(&b, "auto")
                        .args([
                            "run",
                            "--rm",
                            "--userns=auto",
                            "bb",
                            "cat",
                            "/proc/self/uid_map",
                        ])
                        .run()
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap().assert_ok().stdout.clone())
            .collect()
    });
    let mut starts: Vec<u32> = outs.iter().map(|o| map_lines(o)[0].1).collect();
    starts.sort_unstable();
    assert_eq!(starts, vec![POOL, POOL + 1024, POOL + 2048], "{outs:?}");
    // the size follows the image's highest id (a file owned by 2999)
    b.run(&[
        "run",
        "--name",
        "mk",
        "bb",
        "sh",
        "-c",
        "touch /big && chown 2999:2999 /big",
    ])
    .assert_ok();
    b.run(&["commit", "mk", "big"]).assert_ok();
    b.run(&["rm", "mk"]).assert_ok();
    let out = run(&[
        "run",
        "--rm",
        "--userns=auto",
        "big",
        "sh",
        "-c",
        "cat /proc/self/uid_map; stat -c 'big %u:%g' /big",
    ]);
    let o = &out.assert_ok().stdout;
    assert_eq!(map_lines(o), vec![(0, POOL, 3000)], "{o}");
    assert!(o.contains("big 2999:2999\n"), "{o}");
    b.assert_no_leaks();
}

#[test]
fn userns_modes_refused_by_name() {
    let b = auto_pool("auto-bad");
    for (mode, says) in [
        ("keep-id", "keep-id is not supported"),
        ("nomap", "nomap is not supported"),
        ("auto:size=x", "not a number"),
        ("auto:bogus=1", "unknown option"),
        ("sideways", "unknown user namespace mode"),
    ] {
        let arg = format!("--userns={mode}");
        for verb in ["run", "create"] {
            let out = b.run(&[verb, "--rm", &arg, "bb", "true"]);
            out.assert_code(125);
            assert!(out.stderr.contains(says), "{mode}: {out}");
        }
    }
    // as docker's remap: not with the host's devices or network
    let out = remap_cmd(&b, "auto-bad")
        .args(["run", "--rm", "--userns=auto", "--privileged", "bb", "true"])
        .run();
    out.assert_code(125);
    assert!(out.stderr.contains("--userns=auto"), "{out}");
    // no pool line for berth: the file and the user are named
    let dir = b.scratch("auto-bad");
    std::fs::write(dir.join("subuid"), "someoneelse:100000:65536\n").unwrap();
    let out = remap_cmd(&b, "auto-bad")
        .args(["run", "--rm", "--userns=auto", "bb", "true"])
        .run();
    out.assert_code(125);
    assert!(
        out.stderr.contains("\"berth\"") && out.stderr.contains("subuid"),
        "{out}"
    );
    b.assert_no_leaks();
}

#[test]
fn userns_auto_pool_is_the_remap_user_past_its_shared_range_and_info_says_userns() {
    if skip_on_runc("--userns=auto needs the runtime's idmapped rootfs") {
        return;
    }
    let (b, cfg) = remapped("auto-remap");
    let dir = b.scratch("auto-remap");
    std::fs::write(
        dir.join("subuid"),
        format!("berthtest:{REMAP}:65536\nberthtest:{POOL}:2048\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("subgid"),
        format!("berthtest:{REMAP}:65536\nberthtest:{POOL}:2048\n"),
    )
    .unwrap();
    let out = remap_cmd(&b, "auto-remap")
        .args([
            "--config",
            &cfg,
            "run",
            "--rm",
            "--userns=auto",
            "bb",
            "cat",
            "/proc/self/uid_map",
        ])
        .run();
    assert_eq!(map_lines(&out.assert_ok().stdout), vec![(0, POOL, 1024)]);
    // info: docker's name=userns under a remap, none without
    let out = b.run(&["--config", &cfg, "info", "--format", "{{.SecurityOptions}}"]);
    assert!(out.assert_ok().stdout.contains("name=userns"), "{out}");
    let out = b.run(&["--config", &cfg, "info"]);
    assert!(out.assert_ok().stdout.contains("\n  userns\n"), "{out}");
    let out = b.run(&["info", "--format", "{{.SecurityOptions}}"]);
    assert!(!out.assert_ok().stdout.contains("userns"), "{out}");
    assert!(out.stdout.contains("name=cgroupns"), "{out}");
    b.assert_no_leaks();
}

#[test]
fn compose_userns_mode() {
    if skip_on_runc("--userns=auto needs the runtime's idmapped rootfs") {
        return;
    }
    let b = auto_pool("auto-compose");
    let dir = b.scratch("auto-compose-proj");
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  a:\n    image: bb\n    userns_mode: auto\n    command: [\"cat\", \"/proc/self/uid_map\"]\n",
    )
    .unwrap();
    let cmd = |args: &[&str]| {
        let mut all = vec!["compose"];
        all.extend_from_slice(args);
        remap_cmd(&b, "auto-compose").cwd(&dir).args(&all).run()
    };
    cmd(&["up"]).assert_ok();
    let out = cmd(&["logs", "--no-log-prefix", "a"]);
    assert_eq!(
        map_lines(&out.assert_ok().stdout),
        vec![(0, POOL, 1024)],
        "{out}"
    );
    cmd(&["down"]).assert_ok();
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  a:\n    image: bb\n    userns_mode: keep-id\n",
    )
    .unwrap();
    let out = cmd(&["up"]);
    assert_ne!(out.code, Some(0), "{out}");
    cmd(&["down"]).assert_ok();
    assert!(
        out.stderr.contains("services.a.userns_mode") && out.stderr.contains("keep-id"),
        "{out}"
    );
    b.assert_no_leaks();
}

// ---- cp, commit and seeded volumes under a remap ----

/// cp into and out of a remapped container (running and stopped), commit
/// and a seeded volume: owners are the container's ids inside, as docker
/// gives them outside, and an image committed from it runs the same
/// without a remap.
fn cp_commit_volumes(b: &Berth, dir: &str, pre: &[&str], run_args: &[&str], host_root: (u32, u32)) {
    let cmd = |args: &[&str]| {
        let mut all: Vec<&str> = pre.to_vec();
        all.extend_from_slice(args);
        remap_cmd(b, dir).args(&all).run()
    };
    let mut args = vec!["run", "-d", "--name", "cpc", "-v", "seeded:/etc"];
    args.extend_from_slice(run_args);
    args.extend_from_slice(&["bb", "sleep", "1000"]);
    cmd(&args).assert_ok();
    let pid = b
        .run(&["inspect", "-f", "{{.State.Pid}}", "cpc"])
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = st.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().nth(1),
        Some(host_root.0.to_string().as_str())
    );
    let host = b.scratch("cp-host");
    std::fs::write(host.join("in"), "from the host").unwrap();
    sys::chown(&host.join("in"), 123, 123);
    let src = host.join("in").to_string_lossy().into_owned();
    // into a running container: the container's root owns it (docker), and
    // the container's root can write it; -a keeps the archive's ids
    cmd(&["cp", &src, "cpc:/in-running"]).assert_ok();
    cmd(&["cp", "-a", &src, "cpc:/in-archive"]).assert_ok();
    let out = cmd(&[
        "exec",
        "cpc",
        "sh",
        "-c",
        "stat -c '%n %u:%g' /in-running /in-archive; echo more >> /in-running && echo write-ok; \
         echo made > /made; touch /owned && chown 7:8 /owned; \
         stat -c 'etc %u:%g' /etc/passwd; echo v > /etc/new && echo vol-ok",
    ]);
    let o = &out.assert_ok().stdout;
    assert!(o.contains("/in-running 0:0\n"), "{o}");
    assert!(o.contains("/in-archive 123:123\n"), "{o}");
    assert!(o.contains("write-ok\n"), "{o}");
    // the seeded volume keeps the image's owners and is the container root's
    assert!(o.contains("etc 0:0\n") && o.contains("vol-ok\n"), "{o}");
    // out of a running container: the caller's (root) without -a, the
    // container's ids (not the host's shifted ones) with -a
    let out_plain = host.join("made").to_string_lossy().into_owned();
    let out_arch = host.join("owned").to_string_lossy().into_owned();
    cmd(&["cp", "cpc:/made", &out_plain]).assert_ok();
    cmd(&["cp", "-a", "cpc:/owned", &out_arch]).assert_ok();
    assert_eq!(owner(&host.join("made")), (0, 0));
    assert_eq!(
        std::fs::read_to_string(host.join("made")).unwrap(),
        "made\n"
    );
    assert_eq!(owner(&host.join("owned")), (7, 8));
    // a tar stream out carries the container's ids
    let out = cmd(&["cp", "cpc:/owned", "-"]);
    // (the first header's octal uid and gid fields, at 108 and 116)
    let h = out.assert_ok().stdout.as_bytes();
    let field = |at: usize| {
        let t = String::from_utf8_lossy(&h[at..at + 8]);
        u32::from_str_radix(t.trim_matches(|c: char| c == '\0' || c == ' '), 8).unwrap()
    };
    assert_eq!((field(108), field(116)), (7, 8));
    // stopped: the same
    cmd(&["stop", "-t", "1", "cpc"]).assert_ok();
    cmd(&["cp", &src, "cpc:/in-stopped"]).assert_ok();
    let out_s = host.join("owned-stopped").to_string_lossy().into_owned();
    cmd(&["cp", "-a", "cpc:/owned", &out_s]).assert_ok();
    assert_eq!(owner(&host.join("owned-stopped")), (7, 8));
    cmd(&["start", "cpc"]).assert_ok();
    let out = cmd(&[
        "exec",
        "cpc",
        "sh",
        "-c",
        "stat -c '%n %u:%g' /in-stopped; echo x >> /in-stopped && echo write-ok",
    ]);
    let o = &out.assert_ok().stdout;
    assert!(o.contains("/in-stopped 0:0\nwrite-ok\n"), "{o}");
    // commit stores the container's ids: the image runs the same unmapped
    cmd(&["commit", "cpc", "committed"]).assert_ok();
    let out = b.run(&[
        "run",
        "--rm",
        "--userns=host",
        "committed",
        "stat",
        "-c",
        "%n %u:%g",
        "/made",
        "/owned",
        "/in-running",
    ]);
    assert_eq!(
        out.assert_ok().stdout,
        "/made 0:0\n/owned 7:8\n/in-running 0:0\n"
    );
    b.run(&["rm", "-f", "cpc"]).assert_ok();
    b.run(&["volume", "rm", "seeded"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn cp_commit_and_volumes_under_the_config_remap() {
    if skip_on_runc("the manager's remap needs the runtime's idmapped rootfs") {
        return;
    }
    let (b, cfg) = remapped("cp-remap");
    cp_commit_volumes(&b, "cp-remap", &["--config", &cfg], &[], (REMAP, REMAP));
}

#[test]
fn cp_commit_and_volumes_under_userns_auto() {
    if skip_on_runc("--userns=auto needs the runtime's idmapped rootfs") {
        return;
    }
    let b = auto_pool("cp-auto");
    cp_commit_volumes(&b, "cp-auto", &[], &["--userns=auto"], (POOL, POOL));
}

/// kill -9 of a create at each of its steps: before the record is in place
/// nothing holds a range (the next container gets the pool's start); after,
/// the container holds it until `rm`.
#[test]
fn userns_auto_allocation_survives_kill_9() {
    if skip_on_runc("--userns=auto needs the runtime's idmapped rootfs") {
        return;
    }
    let b = auto_pool("auto-crash");
    let first = |b: &Berth| {
        let out = remap_cmd(b, "auto-crash")
            .args([
                "run",
                "--rm",
                "--userns=auto",
                "bb",
                "cat",
                "/proc/self/uid_map",
            ])
            .run();
        map_lines(&out.assert_ok().stdout)[0].1
    };
    for point in ["create:userns-allocated", "create:name-linked"] {
        let out = remap_cmd(&b, "auto-crash")
            .env("BERTH_CRASH_AT", point)
            .args(["create", "--name", "killed", "--userns=auto", "bb", "true"])
            .run();
        assert_eq!(out.signal, Some(9), "{point}: not killed there: {out}");
        assert_eq!(
            first(&b),
            POOL,
            "{point}: a range is held by a create that died"
        );
        let ps = b.run(&["ps", "-a", "-q"]);
        assert_eq!(ps.assert_ok().stdout.trim(), "", "{point}");
    }
    let out = remap_cmd(&b, "auto-crash")
        .env("BERTH_CRASH_AT", "create:record-written")
        .args(["create", "--name", "made", "--userns=auto", "bb", "true"])
        .run();
    assert_eq!(out.signal, Some(9), "{out}");
    assert_eq!(
        first(&b),
        POOL + 1024,
        "the created container's range was handed out again"
    );
    b.run(&["rm", "made"]).assert_ok();
    assert_eq!(first(&b), POOL);
    b.assert_no_leaks();
}
