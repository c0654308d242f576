//! `berth volume ...` and volumes used by containers: the store, filters, in-use
//! refusal, docker's copy-up from the image, sharing, and the local driver's tmpfs and
//! bind options.

use berth_tests::manager::Berth;
use berth_tests::volumes::*;
use std::time::Duration;

fn berth() -> Berth {
    berth_tests::init();
    Berth::new()
}

#[test]
fn create_ls_inspect_rm() {
    let b = berth();
    b.run(&[
        "volume", "create", "--label", "tier=db", "--label", "flag", "data",
    ])
    .assert_ok();
    let out = b.run(&["volume", "create", "other"]);
    assert_eq!(out.stdout.trim(), "other");
    // Creating an existing name returns it (docker).
    assert_eq!(
        b.run(&["volume", "create", "data"]).stdout.trim(),
        "data",
        "re-creating an existing volume"
    );
    let anon = b.run(&["volume", "create"]);
    anon.assert_ok();
    let anon = anon.stdout.trim().to_string();
    assert!(
        anon.len() == 64 && anon.bytes().all(|c| c.is_ascii_hexdigit()),
        "anonymous name: {anon:?}"
    );

    let ls = b.run(&["volume", "ls"]);
    ls.assert_ok();
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert_eq!(lines[0], "DRIVER    VOLUME NAME", "{}", ls.stdout);
    assert!(lines.contains(&"local     data"), "{}", ls.stdout);
    assert!(lines.contains(&"local     other"), "{}", ls.stdout);
    assert_eq!(lines.len(), 4, "{}", ls.stdout);

    let q = b.run(&["volume", "ls", "-q"]);
    let mut names: Vec<&str> = q.stdout.lines().collect();
    names.sort();
    let mut want = vec![anon.as_str(), "data", "other"];
    want.sort();
    assert_eq!(names, want);

    let f = |filters: &[&str]| {
        let mut args = vec!["volume", "ls", "-q"];
        for x in filters {
            args.push("--filter");
            args.push(x);
        }
        let out = b.run(&args);
        out.assert_ok();
        let mut v: Vec<String> = out.stdout.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(f(&["label=tier=db"]), ["data"]);
    assert_eq!(f(&["label=flag"]), ["data"]);
    assert!(f(&["label=tier=web"]).is_empty());
    assert_eq!(f(&["name=oth"]), ["other"]);
    assert_eq!(f(&["dangling=true"]).len(), 3, "no container uses any");
    assert!(f(&["dangling=false"]).is_empty());
    b.run(&["volume", "ls", "--filter", "colour=red"])
        .fails_with("invalid filter");

    let fmt = b.run(&[
        "volume",
        "ls",
        "--format",
        "{{.Name}}:{{.Driver}}",
        "-f",
        "name=data",
    ]);
    assert_eq!(fmt.stdout, "data:local\n");

    let insp = b.run(&["volume", "inspect", "data"]);
    insp.assert_ok();
    let v = insp.json();
    let v = &v[0];
    assert_eq!(v["Name"], "data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["tier"], "db");
    assert_eq!(v["Labels"]["flag"], "");
    assert!(v["Options"].as_object().unwrap().is_empty());
    assert!(berth_tests::is_rfc3339(v["CreatedAt"].as_str().unwrap()));
    let mp = b.root().join("volumes/data/_data");
    assert_eq!(v["Mountpoint"], mp.to_string_lossy().as_ref());
    assert!(mp.is_dir());
    let keys = berth_tests::top_level_keys(
        insp.stdout
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim(),
    );
    assert_eq!(
        keys,
        [
            "CreatedAt",
            "Driver",
            "Labels",
            "Mountpoint",
            "Name",
            "Options",
            "Scope"
        ]
    );
    b.run(&["volume", "inspect", "data", "missing"])
        .fails_with("No such volume: missing");
    assert_eq!(
        b.run(&["volume", "inspect", "-f", "{{.Name}}", "other"])
            .stdout,
        "other\n"
    );

    // Names and options are checked with messages that name the culprit.
    b.run(&["volume", "create", "bad/name"])
        .fails_with("includes invalid characters for a local volume name");
    b.run(&["volume", "create", "-o", "colour=red", "x1"])
        .fails_with("\"colour\"");
    b.run(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "device=/srv",
        "x2",
    ])
    .fails_with("\"o\"");
    b.run(&["volume", "create", "-d", "nfs", "x3"])
        .fails_with("nfs");
    assert!(!b.root().join("volumes/x1").exists());

    b.run(&["volume", "rm", "other"]).assert_ok();
    assert!(!b.root().join("volumes/other").exists());
    b.run(&["volume", "rm", "other"])
        .fails_with("no such volume");
    b.run(&["volume", "rm", "-f", "other"]).assert_ok();

    // Prune: anonymous unused volumes only, unless -a.
    let p = b.run(&["volume", "prune", "-f"]);
    p.assert_ok();
    assert!(p.stdout.contains(&anon), "{}", p.stdout);
    assert!(p.stdout.contains("Total reclaimed space:"), "{}", p.stdout);
    assert_eq!(f(&[]), ["data"]);
    // Without -f it asks, and "n" keeps everything.
    let asked = b
        .cmd()
        .args(["volume", "prune", "-a"])
        .stdin(berth_tests::Io::Fd(
            std::fs::File::open(write_tmp(&b, "no", "n\n"))
                .unwrap()
                .into(),
        ))
        .run();
    asked.assert_ok();
    assert!(asked.stdout.contains("Are you sure"), "{}", asked.stdout);
    assert_eq!(f(&[]), ["data"]);
    std::fs::write(volume_data(&b, "data").join("f"), "12345").unwrap();
    let p = b.run(&["volume", "prune", "-a", "-f"]);
    assert!(p.stdout.contains("data"), "{}", p.stdout);
    assert!(
        p.stdout.contains("Total reclaimed space: 5B"),
        "{}",
        p.stdout
    );
    assert!(f(&[]).is_empty());
    b.assert_no_leaks();
}

fn write_tmp(b: &Berth, name: &str, text: &str) -> std::path::PathBuf {
    let p = b.scratch("files").join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn in_use_volume_is_refused() {
    let b = berth();
    b.import_busybox("bb");
    b.run(&["volume", "create", "busy"]).assert_ok();
    b.run(&["volume", "create", "idle"]).assert_ok();
    let id = run_detached(&b, &["-v", "busy:/busy", "bb", "sleep", "1000"]);
    b.run(&["volume", "rm", "busy"])
        .fails_with(&format!("volume is in use - [{id}]"));
    b.run(&["volume", "rm", "-f", "busy"])
        .fails_with("volume is in use");
    let dangling = b.run(&["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.stdout.trim(), "idle");
    let used = b.run(&["volume", "ls", "-q", "--filter", "dangling=false"]);
    assert_eq!(used.stdout.trim(), "busy");
    let p = b.run(&["volume", "prune", "-a", "-f"]);
    assert!(
        p.stdout.contains("idle") && !p.stdout.contains("busy"),
        "{}",
        p.stdout
    );
    // A stopped container still holds its volume (docker).
    b.cmd()
        .args(["stop", "-t", "1", &id])
        .timeout(Duration::from_secs(30))
        .run()
        .assert_ok();
    b.run(&["volume", "rm", "busy"])
        .fails_with("volume is in use");
    rm_force(&b, &id);
    b.run(&["volume", "rm", "busy"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn named_volume_is_seeded_from_the_image_once() {
    let b = berth();
    import_seed_image(&b, "seedimg");
    let out = b.run(&[
        "run",
        "--rm",
        "-v",
        "seeded:/data",
        "seedimg",
        "cat",
        "/data/seed.txt",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "seeded from the image\n");
    let data = volume_data(&b, "seeded");
    assert_eq!(
        std::fs::read_to_string(data.join("seed.txt")).unwrap(),
        "seeded from the image\n"
    );
    assert_eq!(owner_mode(&data.join("seed.txt")), (1000, 1000, 0o640));
    assert_eq!(
        std::fs::read_link(data.join("link")).unwrap(),
        std::path::Path::new("seed.txt")
    );
    assert!(data.join("sub").is_dir());
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(b.root().join("volumes/seeded/volume.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["seeded"], true);

    // Emptied by a container, it is not seeded again: copy-up happens only once.
    b.run(&[
        "run",
        "--rm",
        "-v",
        "seeded:/data",
        "seedimg",
        "sh",
        "-c",
        "rm -rf /data/*",
    ])
    .assert_ok();
    let out = b.run(&[
        "run",
        "--rm",
        "-v",
        "seeded:/data",
        "seedimg",
        "ls",
        "-A",
        "/data",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "", "re-seeded: {}", out.stdout);

    // A volume that already has content is not overwritten.
    b.run(&["volume", "create", "full"]).assert_ok();
    std::fs::write(volume_data(&b, "full").join("mine"), "x").unwrap();
    let out = b.run(&["run", "--rm", "-v", "full:/data", "seedimg", "ls", "/data"]);
    assert_eq!(out.stdout.trim(), "mine");

    // A mount point missing from the image: nothing to copy, the volume is usable.
    let out = b.run(&[
        "run",
        "--rm",
        "-v",
        "fresh:/nowhere",
        "seedimg",
        "sh",
        "-c",
        "echo ok > /nowhere/f && cat /nowhere/f",
    ]);
    assert_eq!(out.stdout, "ok\n");
    b.assert_no_leaks();
}

#[test]
fn volume_shared_by_two_containers() {
    let b = berth();
    b.import_busybox("bb");
    let c1 = run_detached(
        &b,
        &["--name", "reader", "-v", "shared:/s", "bb", "sleep", "1000"],
    );
    b.run(&[
        "run",
        "--rm",
        "-v",
        "shared:/s",
        "bb",
        "sh",
        "-c",
        "echo from-writer > /s/note",
    ])
    .assert_ok();
    // The running container sees the other's write (read through its /proc/PID/root).
    let out = b.run(&[
        "cp",
        "reader:/s/note",
        &b.scratch("out").join("note").to_string_lossy(),
    ]);
    out.assert_ok();
    assert_eq!(
        std::fs::read_to_string(b.scratch("out").join("note")).unwrap(),
        "from-writer\n"
    );
    let users = b.run(&["volume", "rm", "shared"]);
    users.fails_with(&c1);
    rm_force(&b, &c1);
    b.run(&["volume", "rm", "shared"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn local_driver_tmpfs_and_bind() {
    let b = berth();
    b.import_busybox("bb");
    b.run(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=64m",
        "tv",
    ])
    .assert_ok();
    let insp = b.run(&["volume", "inspect", "tv"]).json();
    assert_eq!(insp[0]["Options"]["type"], "tmpfs");
    assert_eq!(insp[0]["Options"]["o"], "size=64m");
    let out = b.run(&[
        "run",
        "--rm",
        "-v",
        "tv:/t",
        "bb",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts; df -k /t | tail -n 1",
    ]);
    out.assert_ok();
    assert!(out.stdout.contains("tmpfs"), "{}", out.stdout);
    let total_kb: u64 = out
        .stdout
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert_eq!(total_kb, 64 * 1024, "{}", out.stdout);
    b.run(&["volume", "rm", "tv"]).assert_ok();

    let host = b.scratch("bind-src");
    std::fs::write(host.join("from-host"), "hello host\n").unwrap();
    let dev = format!("device={}", host.display());
    b.run(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &dev,
        "bv",
    ])
    .assert_ok();
    let out = b.run(&[
        "run",
        "--rm",
        "-v",
        "bv:/b",
        "bb",
        "sh",
        "-c",
        "cat /b/from-host; echo back > /b/from-container",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "hello host\n");
    assert_eq!(
        std::fs::read_to_string(host.join("from-container")).unwrap(),
        "back\n"
    );
    b.run(&["volume", "rm", "bv"]).assert_ok();
    // The bind source survives its volume.
    assert!(host.join("from-host").exists());
    b.assert_no_leaks();
}
