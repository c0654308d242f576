//! `berth compose`'s last keys end to end: attached `up` following restarts
//! and new replicas, the long volume syntax's `nocopy` and `subpath`,
//! `pid`/`ipc` joining another container's namespaces (and `berth run
//! --pid/--ipc container:NAME`), and `annotations` on the OCI spec.

use berth_tests::manager::Berth;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lines of `NAME  | TEXT` whose container name is `name` (any padding).
fn lines_of<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| {
            let (n, rest) = l.split_once(" | ")?;
            (n.trim_end() == name).then_some(rest)
        })
        .collect()
}

#[test]
fn attached_up_follows_restarts_and_new_replicas() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("attm",
        "services:\n  flap:\n    image: busybox\n    command: [sh, -c, 'echo flap-run; sleep 0.3; exit 1']\n    restart: on-failure:3\n  web:\n    image: busybox\n    command: [sh, -c, 'trap \"exit 0\" TERM; echo web-started; sleep 1000 & wait']\n",
    );
    let mut cmd = berth_tests::containers::berth_command(&b, &["compose", "up", "--no-color"]);
    cmd.current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let out = Arc::new(Mutex::new(String::new()));
    let reader = {
        let out = out.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut o = out.lock().unwrap();
                o.push_str(&l);
                o.push('\n');
            }
        })
    };
    let text = || out.lock().unwrap().clone();
    // The restarted container keeps its stream: one line per run (1 + 3 retries).
    let all_runs = berth_tests::wait_until(Duration::from_secs(30), || {
        lines_of(&text(), "attm-flap-1")
            .iter()
            .filter(|l| **l == "flap-run")
            .count()
            >= 4
    });
    assert!(all_runs, "{}", text());
    // Replicas added by a concurrent `up -d --scale` get their own streams.
    b.compose(&dir, &["up", "-d", "--no-deps", "--scale", "web=3", "web"])
        .assert_ok();
    let replicas = berth_tests::wait_until(Duration::from_secs(20), || {
        let t = text();
        ["attm-web-1", "attm-web-2", "attm-web-3"]
            .iter()
            .all(|n| lines_of(&t, n).contains(&"web-started"))
    });
    assert!(replicas, "{}", text());
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{}", text());
    // The stop reached the new replicas too.
    let ps = b.compose(&dir, &["ps", "-q"]);
    assert_eq!(ps.assert_ok().stdout.trim(), "", "{}", ps.stdout);
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn volume_nocopy_and_subpath() {
    let b = Berth::with_busybox("busybox");
    berth_tests::volumes::import_seed_image(&b, "seedimg");
    let dir = b.project("volx",
        r#"
services:
  prep:
    image: seedimg
    command: [sh, -c, "mkdir -p /v/sub/dir && echo inner > /v/sub/dir/f && echo top > /v/top && ln -s / /v/escape && ln -s sub /v/inside && : > /v/file"]
    volumes: [{type: volume, source: three, target: /v}]
  nocopy:
    image: seedimg
    command: [sleep, "1000"]
    stop_signal: SIGKILL
    volumes: [{type: volume, source: one, target: /data, volume: {nocopy: true}}]
  copied:
    image: seedimg
    command: [sleep, "1000"]
    stop_signal: SIGKILL
    volumes: [{type: volume, source: two, target: /data}]
  sub:
    image: seedimg
    command: [sleep, "1000"]
    stop_signal: SIGKILL
    volumes: [{type: volume, source: three, target: /data, read_only: true, volume: {subpath: sub/dir}}]
    depends_on: {prep: {condition: service_completed_successfully}}
  up_out:
    image: seedimg
    command: ["true"]
    volumes: [{type: volume, source: three, target: /data, volume: {subpath: ../three}}]
  via_link:
    image: seedimg
    command: ["true"]
    volumes: [{type: volume, source: three, target: /data, volume: {subpath: escape}}]
  via_inner_link:
    image: seedimg
    command: ["true"]
    volumes: [{type: volume, source: three, target: /data, volume: {subpath: inside/dir}}]
  missing:
    image: seedimg
    command: ["true"]
    volumes: [{type: volume, source: three, target: /data, volume: {subpath: nothing/here}}]
  a_file:
    image: seedimg
    command: ["true"]
    volumes: [{type: volume, source: three, target: /data, volume: {subpath: file}}]
volumes:
  one: {}
  two: {}
  three: {}
"#,
    );
    b.compose(&dir, &["up", "-d", "nocopy", "copied", "sub"])
        .assert_ok();
    let exec = |svc: &str, cmd: &str| {
        let o = b.compose(&dir, &["exec", "-T", svc, "sh", "-c", cmd]);
        (o.code, o.stdout.trim().to_string())
    };
    // nocopy: the volume is not seeded from the image's /data; the control is.
    assert_eq!(exec("nocopy", "ls -A /data"), (Some(0), String::new()));
    assert_eq!(
        exec("copied", "cat /data/seed.txt"),
        (Some(0), "seeded from the image".to_string())
    );
    let one = berth_tests::volumes::volume_data(&b, "volx_one");
    assert_eq!(berth_tests::images::list_dir(&one), Vec::<String>::new());
    // subpath: only sub/dir of the volume, read-only as asked.
    assert_eq!(exec("sub", "ls -A /data"), (Some(0), "f".to_string()));
    assert_eq!(exec("sub", "cat /data/f"), (Some(0), "inner".to_string()));
    assert_ne!(exec("sub", "echo x > /data/g").0, Some(0));
    // Unsafe or missing subpaths are refused, naming the subpath; docker creates nothing.
    for (svc, why) in [
        ("up_out", "\"../three\""),
        ("via_link", "\"escape\" goes through a symbolic link"),
        (
            "via_inner_link",
            "\"inside/dir\" goes through a symbolic link",
        ),
        ("missing", "\"nothing/here\" does not exist"),
        ("a_file", "\"file\" is not a directory"),
    ] {
        let o = b.compose(&dir, &["up", "-d", "--no-deps", svc]);
        assert_ne!(o.code, Some(0), "{svc}: {o}");
        assert!(o.stderr.contains("subpath"), "{svc}: {o}");
        assert!(o.stderr.contains(why), "{svc}: {o}");
    }
    let three = berth_tests::volumes::volume_data(&b, "volx_three");
    assert!(!three.join("nothing").exists());
    b.compose(&dir, &["down", "-v"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn pid_and_ipc_join_another_container() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("nsj",
        "services:\n  own:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    ipc: shareable\n  joiner:\n    image: busybox\n    command: [sleep, '1001']\n    stop_signal: SIGKILL\n    pid: 'service:own'\n    ipc: 'service:own'\n  ghost:\n    image: busybox\n    command: ['true']\n    pid: 'container:no-such-container'\n",
    );
    // `joiner` alone still brings up `own` first (the dependency is implicit).
    b.compose(&dir, &["up", "-d", "joiner"]).assert_ok();
    let exec = |svc: &str, cmd: &str| -> String {
        let o = b.compose(&dir, &["exec", "-T", svc, "sh", "-c", cmd]);
        o.assert_ok();
        o.stdout.trim().to_string()
    };
    let host_pid = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let own_pid = exec("own", "readlink /proc/self/ns/pid");
    assert_ne!(own_pid, host_pid.display().to_string());
    assert_eq!(exec("joiner", "readlink /proc/self/ns/pid"), own_pid);
    assert_eq!(
        exec("joiner", "readlink /proc/self/ns/ipc"),
        exec("own", "readlink /proc/self/ns/ipc")
    );
    // One pid namespace: own's init is pid 1 there, and both sleeps are seen.
    assert_eq!(
        exec("joiner", "cat /proc/1/cmdline | tr '\\0' ' '"),
        "sleep 1000"
    );
    assert_eq!(exec("own", "ps -o args | grep -c '^sleep 100[01]'"), "2");
    // /dev/shm is not shared (a documented limit): each has its own.
    exec("own", "echo shm-own > /dev/shm/x");
    assert_eq!(exec("joiner", "ls -A /dev/shm"), "");
    // A container that is not there is named.
    let o = b.compose(&dir, &["up", "-d", "ghost"]);
    assert_ne!(o.code, Some(0), "{o}");
    assert!(o.stderr.contains("no-such-container"), "{o}");
    // berth run --pid/--ipc container:NAME do the same.
    let out = b.run(&[
        "run",
        "--rm",
        "--pid",
        "container:nsj-own-1",
        "--ipc",
        "container:nsj-own-1",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc",
    ]);
    assert_eq!(
        out.assert_ok().stdout.trim(),
        format!("{own_pid}\n{}", exec("own", "readlink /proc/self/ns/ipc"))
    );
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn annotations_reach_the_spec() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("annot",
        "services:\n  a:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    annotations:\n      org.example.team: blue\n      org.example.tier: '2'\n  l:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    annotations: ['org.example.list=yes']\n",
    );
    b.compose(&dir, &["up", "-d"]).assert_ok();
    let inspect = |name: &str| {
        let o = b.run(&[
            "inspect",
            "--format",
            "{{json .HostConfig.Annotations}}",
            name,
        ]);
        serde_json::from_str::<serde_json::Value>(o.assert_ok().stdout.trim()).unwrap()
    };
    let a = inspect("annot-a-1");
    assert_eq!(a["org.example.team"], "blue");
    assert_eq!(a["org.example.tier"], "2");
    assert_eq!(inspect("annot-l-1")["org.example.list"], "yes");
    // The OCI spec the runtime was given carries them.
    let id = b.run(&["inspect", "--format", "{{.Id}}", "annot-a-1"]);
    let cfg = b
        .root()
        .join("containers")
        .join(id.assert_ok().stdout.trim())
        .join("bundle/config.json");
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    assert_eq!(spec["annotations"]["org.example.team"], "blue");
    assert_eq!(spec["annotations"]["org.example.tier"], "2");
    // A changed annotation recreates the service (it is part of its config).
    let before = b
        .run(&["inspect", "--format", "{{.Id}}", "annot-a-1"])
        .stdout;
    let yaml = std::fs::read_to_string(dir.join("compose.yaml"))
        .unwrap()
        .replace("blue", "green");
    std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
    b.compose(&dir, &["up", "-d"]).assert_ok();
    let after = b
        .run(&["inspect", "--format", "{{.Id}}", "annot-a-1"])
        .stdout;
    assert_ne!(before, after);
    assert_eq!(inspect("annot-a-1")["org.example.team"], "green");
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}
