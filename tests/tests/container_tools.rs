//! `berth cp`, `berth top` and `berth stats` against real containers.

use berth_tests::manager::Berth;
use berth_tests::volumes::*;
use berth_tests::Io;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `berth cp C:PATH <scratch>/NAME` and return the host copy's content.
#[track_caller]
fn cat_in(b: &Berth, c: &str, path: &str) -> String {
    let dst = b
        .scratch("cat")
        .join(format!("f{}", berth_tests::sys::unique()));
    b.run(&["cp", &format!("{c}:{path}"), &dst.to_string_lossy()])
        .assert_ok();
    read(&dst)
}

/// `run -d` returns once the container's shell started, not once it has made
/// what the test needs.
fn wait_for_dir(b: &Berth, c: &str, dir: &str) {
    let ready = (0..100).any(|_| {
        b.run(&["exec", c, "test", "-d", dir]).ok() || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            false
        }
    });
    assert!(ready, "{dir} never appeared in {c}");
}

#[test]
fn cp_both_directions_running() {
    let b = Berth::with_busybox("bb");
    let c = run_detached(
        &b,
        &[
            "--name",
            "box",
            "bb",
            "sh",
            "-c",
            "mkdir -p /srv/x; sleep 1000",
        ],
    );
    wait_for_dir(&b, "box", "/srv/x");
    let host = b.scratch("host");
    std::fs::write(host.join("hello.txt"), "hello\n").unwrap();
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("tree/a"), "A\n").unwrap();
    std::fs::write(host.join("tree/sub/b"), "B\n").unwrap();
    std::os::unix::fs::symlink("a", host.join("tree/link-a")).unwrap();
    berth_tests::sys::chown(&host.join("tree/a"), 1000, 1000);
    let h = |p: &str| host.join(p).to_string_lossy().into_owned();

    // A file into a directory keeps its name; to a new name, takes that name.
    b.run(&["cp", &h("hello.txt"), "box:/tmp"]).assert_ok();
    assert_eq!(cat_in(&b, "box", "/tmp/hello.txt"), "hello\n");
    b.run(&["cp", &h("hello.txt"), "box:/tmp/renamed"])
        .assert_ok();
    assert_eq!(cat_in(&b, &c, "/tmp/renamed"), "hello\n");
    // ...and a trailing "/" on a missing destination is docker's error.
    b.run(&["cp", &h("hello.txt"), "box:/nope/"])
        .fails_with("must exist");

    // A directory into an existing directory lands under its own name...
    b.run(&["cp", &h("tree"), "box:/srv/x"]).assert_ok();
    assert_eq!(cat_in(&b, "box", "/srv/x/tree/sub/b"), "B\n");
    // ...with "/." only its contents are copied...
    b.run(&["cp", &format!("{}/.", h("tree")), "box:/srv/x"])
        .assert_ok();
    assert_eq!(cat_in(&b, "box", "/srv/x/a"), "A\n");
    // ...and to a missing path, it becomes that directory.
    b.run(&["cp", &h("tree"), "box:/srv/newdir"]).assert_ok();
    assert_eq!(cat_in(&b, "box", "/srv/newdir/sub/b"), "B\n");
    // Without -a files belong to root; -a keeps uid/gid.
    b.run(&["cp", "-a", &h("tree"), "box:/srv/archived"])
        .assert_ok();
    let back = b.scratch("back");
    b.run(&["cp", "-a", "box:/srv/archived", &back.to_string_lossy()])
        .assert_ok();
    assert_eq!(owner_mode(&back.join("archived/a")).0, 1000);
    b.run(&["cp", "box:/srv/newdir", &back.to_string_lossy()])
        .assert_ok();
    assert_eq!(read(&back.join("newdir/a")), "A\n");
    assert_eq!(
        std::fs::read_link(back.join("newdir/link-a")).unwrap(),
        Path::new("a"),
        "a symlink is copied as a symlink"
    );
    // A directory onto an existing file is refused.
    b.run(&["cp", "box:/srv/newdir", &h("hello.txt")])
        .fails_with("cannot copy a directory to a file");
    // Container to host: "/." copies contents into an existing directory.
    let contents = b.scratch("contents");
    b.run(&["cp", "box:/srv/newdir/.", &contents.to_string_lossy()])
        .assert_ok();
    assert_eq!(read(&contents.join("sub/b")), "B\n");
    // A missing source names the path.
    b.run(&["cp", "box:/does/not/exist", &h("x")])
        .fails_with("/does/not/exist");

    // Tar streams: to stdout...
    let tar_out = b.scratch("streams").join("out.tar");
    b.cmd()
        .args(["cp", "box:/srv/newdir", "-"])
        .stdout(Io::File(tar_out.clone()))
        .run()
        .assert_ok();
    let list = Command::new("tar")
        .arg("-tf")
        .arg(&tar_out)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.lines()
            .any(|l| l.trim_end_matches('/') == "newdir/sub/b"),
        "{list}"
    );
    // ...and from stdin into a directory.
    let tar_in = b.scratch("streams").join("in.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&host)
        .arg("-cf")
        .arg(&tar_in)
        .arg("tree")
        .status()
        .unwrap();
    assert!(st.success());
    b.cmd()
        .args(["cp", "-", "box:/srv"])
        .stdin(Io::Fd(std::fs::File::open(&tar_in).unwrap().into()))
        .run()
        .assert_ok();
    assert_eq!(cat_in(&b, "box", "/srv/tree/a"), "A\n");
    b.cmd()
        .args(["cp", "-", "box:/srv/tree/a"])
        .stdin(Io::Null)
        .run()
        .fails_with("must be a directory");

    rm_force(&b, &c);
    b.assert_no_leaks();
}

#[test]
fn cp_never_leaves_the_container_root() {
    let b = Berth::with_busybox("bb");
    let tag = format!(
        "berth-escape-{}-{}",
        std::process::id(),
        berth_tests::sys::unique()
    );
    let c = run_detached(
        &b,
        &[
            "--name",
            "esc",
            "bb",
            "sh",
            "-c",
            "ln -s / /link; ln -s /etc /etclink; mkdir -p /inside; sleep 1000",
        ],
    );
    wait_for_dir(&b, "esc", "/inside");
    let host = b.scratch("host");
    std::fs::write(host.join(&tag), "payload\n").unwrap();
    let src = host.join(&tag).to_string_lossy().into_owned();
    // Writes through symlinks resolve inside the container's root.
    b.run(&["cp", &src, &format!("esc:/link/inside/{tag}")])
        .assert_ok();
    b.run(&["cp", &src, &format!("esc:/etclink/{tag}")])
        .assert_ok();
    b.run(&["cp", &src, "esc:/link/"]).assert_ok();
    assert!(!Path::new("/inside").exists());
    assert!(
        !Path::new("/etc").join(&tag).exists(),
        "wrote to the host's /etc"
    );
    assert!(!Path::new("/").join(&tag).exists(), "wrote to the host's /");
    assert_eq!(cat_in(&b, "esc", &format!("/inside/{tag}")), "payload\n");
    assert_eq!(cat_in(&b, "esc", &format!("/etc/{tag}")), "payload\n");
    assert_eq!(cat_in(&b, "esc", &format!("/{tag}")), "payload\n");
    // Reads too: the container's /etc/passwd, not the host's, through the link.
    let passwd = cat_in(&b, "esc", "/etclink/passwd");
    assert!(passwd.contains("berthuser"), "{passwd}");
    // -L follows a symlink source (inside the container); without it the link is copied.
    let out = b.scratch("out");
    b.run(&[
        "cp",
        "esc:/etclink",
        &out.join("nofollow").to_string_lossy(),
    ])
    .assert_ok();
    assert_eq!(
        std::fs::read_link(out.join("nofollow")).unwrap(),
        Path::new("/etc")
    );
    b.run(&[
        "cp",
        "-L",
        "esc:/etclink",
        &out.join("follow").to_string_lossy(),
    ])
    .assert_ok();
    assert!(read(&out.join("follow/passwd")).contains("berthuser"));
    rm_force(&b, &c);
    b.assert_no_leaks();
}

#[test]
fn cp_stopped_container() {
    let b = Berth::with_busybox("bb");
    let out = b.run(&[
        "run",
        "--name",
        "done",
        "-v",
        "keep:/v",
        "bb",
        "sh",
        "-c",
        "echo made > /made; echo vol > /v/inside",
    ]);
    out.assert_ok();
    assert_eq!(cat_in(&b, "done", "/made"), "made\n");
    // Its volumes are seen as when it runs.
    assert_eq!(cat_in(&b, "done", "/v/inside"), "vol\n");
    let host = b.scratch("host");
    std::fs::write(host.join("put"), "put\n").unwrap();
    b.run(&["cp", &host.join("put").to_string_lossy(), "done:/root/"])
        .assert_ok();
    assert_eq!(cat_in(&b, "done", "/root/put"), "put\n");
    // The temporary rootfs mount is gone, and the copy is in the container's layer.
    assert!(berth_tests::sys::mounts_under(b.root()).is_empty());
    let out = b.run(&["start", "-a", "done"]);
    out.assert_ok();
    assert_eq!(cat_in(&b, "done", "/root/put"), "put\n");
    b.run(&["rm", "done"]).assert_ok();
    b.run(&["volume", "rm", "keep"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn top_lists_only_the_containers_processes() {
    let b = Berth::with_busybox("bb");
    let c1 = run_detached(
        &b,
        &["--name", "t1", "bb", "sh", "-c", "sleep 1001 & sleep 1002"],
    );
    let c2 = run_detached(&b, &["--name", "t2", "bb", "sleep", "1003"]);
    let ok = berth_tests::sys::wait_for(Duration::from_secs(10), || {
        let o = b.run(&["top", "t1"]);
        (o.ok() && o.stdout.contains("sleep 1001") && o.stdout.contains("sleep 1002")).then_some(o)
    });
    let out = ok.expect("top t1 lists both sleeps");
    let header = out.stdout.lines().next().unwrap();
    assert!(header.contains("PID") && header.contains("CMD"), "{header}");
    assert!(!out.stdout.contains("sleep 1003"), "{}", out.stdout);
    assert!(!out.stdout.contains("berth"), "{}", out.stdout);
    // ps options pass through.
    let out = b.run(&["top", "t2", "-o", "pid,comm"]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["PID", "COMMAND"]
    );
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[1].ends_with("sleep"), "{}", out.stdout);
    rm_force(&b, &c2);
    rm_force(&b, &c1);
    b.run(&["run", "--name", "t3", "bb", "true"]).assert_ok();
    b.run(&["top", "t3"]).fails_with("is not running");
    b.run(&["rm", "t3"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn stats_no_stream() {
    let b = Berth::with_busybox("bb");
    let c = run_detached(
        &b,
        &[
            "--name",
            "st",
            "--memory",
            "64m",
            "bb",
            "sh",
            "-c",
            "sleep 1000 & sleep 1000 & wait",
        ],
    );
    let rows = berth_tests::sys::wait_for(Duration::from_secs(10), || {
        let o = b.run(&["stats", "--no-stream", "st"]);
        o.assert_ok();
        o.stdout
            .lines()
            .nth(1)
            .map(str::to_string)
            .filter(|l| l.ends_with(" 3"))
    });
    let out = b.run(&["stats", "--no-stream", "st"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID")
            && lines[0].contains("MEM USAGE / LIMIT")
            && lines[0].ends_with("PIDS"),
        "{}",
        out.stdout
    );
    assert!(rows.is_some(), "PIDS never reached 3: {}", out.stdout);
    let row = lines[1];
    assert!(row.starts_with(&c[..12]), "{row}");
    assert!(row.contains("/ 64MiB"), "{row}");
    assert!(row.contains("0B / 0B"), "{row}");
    let fmt = b.run(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        "st",
    ]);
    fmt.assert_ok();
    let f: Vec<&str> = fmt.stdout.trim().split(' ').collect();
    assert_eq!(f[0], "st");
    assert_eq!(f[1], "3");
    assert_eq!(f.last().copied(), Some("64MiB"));
    // Without names: the running containers.
    let all = b.run(&["stats", "--no-stream", "--format", "{{.Name}}"]);
    assert_eq!(all.stdout.trim(), "st");
    rm_force(&b, &c);
    b.assert_no_leaks();
}
