//! `berth compose` end to end on real containers of a locally imported
//! busybox image: dependency conditions (completed, healthy), real traffic
//! between services (by service name over the project network),
//! convergence, scaling, orphans, failures named, attached up, kill -9 of
//! `up` then convergence, and nothing left behind.

use berth_tests::host::free_port;
use berth_tests::manager::Berth;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn ps_json(b: &Berth, dir: &Path) -> Vec<berth_tests::Value> {
    berth_tests::json_lines(
        &b.compose(dir, &["ps", "-a", "--format", "json"])
            .assert_ok()
            .stdout,
    )
}

fn ids(b: &Berth, dir: &Path) -> Vec<(String, String)> {
    ps_json(b, dir)
        .iter()
        .map(|v| {
            (
                v["Name"].as_str().unwrap().to_string(),
                v["ID"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// seed (a job that fills a named volume) -> web (httpd over it, healthy
/// after its first probe) -> client (fetches from web, writes what it got to
/// a bind mount).
fn stack(p: u16) -> String {
    format!(
        r#"
services:
  seed:
    image: busybox
    command: ["sh", "-c", "echo seeded-content > /data/index.html"]
    volumes: [data:/data]
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "{p}", "-h", "/data"]
    volumes: [data:/data]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:{p}/"]
      interval: 1s
      start_interval: 100ms
      start_period: 5s
    depends_on:
      seed:
        condition: service_completed_successfully
  client:
    image: busybox
    command: ["sh", "-c", "wget -q -O /out/got http://web:{p}/ && trap 'exit 0' TERM; sleep 1000 & wait"]
    volumes: ["./out:/out"]
    depends_on:
      web:
        condition: service_healthy
volumes:
  data:
"#
    )
}

#[test]
fn up_detached_healthy_chain_then_down() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("chain", &stack(free_port()));
    let t = Instant::now();
    b.compose(&dir, &["up", "-d"]).assert_ok();
    let took = t.elapsed();
    // The client fetched the seed's file from the web server (wget makes the
    // file before it writes to it: wait for the content).
    assert!(berth_tests::wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(dir.join("out/got")).is_ok_and(|s| s.ends_with('\n'))
    }));
    assert_eq!(
        std::fs::read_to_string(dir.join("out/got")).unwrap(),
        "seeded-content\n"
    );
    let ps = ps_json(&b, &dir);
    let by_name = |n: &str| {
        ps.iter()
            .find(|v| v["Name"] == n)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_name("chain-web-1")["Health"], "healthy", "{ps:?}");
    assert_eq!(by_name("chain-client-1")["State"], "running");
    assert_eq!(by_name("chain-seed-1")["State"], "exited");
    assert_eq!(by_name("chain-seed-1")["ExitCode"], 0);
    assert_eq!(
        by_name("chain-web-1")["Labels"]["com.docker.compose.project"],
        "chain"
    );
    assert_eq!(
        by_name("chain-web-1")["Labels"]["com.docker.compose.container-number"],
        "1"
    );
    eprintln!("up -d to all healthy: {took:?}");
    // ps without -a shows only the running ones.
    let running = b
        .compose(&dir, &["ps", "--services"])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(running, "client\nweb\n");
    // ps is fast.
    let t = Instant::now();
    for _ in 0..5 {
        b.compose(&dir, &["ps"]).assert_ok();
    }
    eprintln!("ps: {:?} each", t.elapsed() / 5);
    // The named volume outlives down; down -v removes it.
    let t = Instant::now();
    b.compose(&dir, &["down"]).assert_ok();
    eprintln!("down: {:?}", t.elapsed());
    assert!(ps_json(&b, &dir).is_empty());
    let vols = b.run(&["volume", "ls", "-q"]).assert_ok().stdout.clone();
    assert!(vols.contains("chain_data"), "{vols}");
    b.compose(&dir, &["up", "-d"]).assert_ok();
    b.compose(&dir, &["down", "-v"]).assert_ok();
    let vols = b.run(&["volume", "ls", "-q"]).assert_ok().stdout.clone();
    assert!(!vols.contains("chain_data"), "{vols}");
    b.assert_no_leaks();
}

#[test]
fn converge_recreates_only_what_changed() {
    let b = Berth::with_busybox("busybox");
    let yaml = |env: &str| {
        format!(
            "services:\n  a:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    environment: [X={env}]\n  b:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n  old:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n"
        )
    };
    let dir = b.project("conv", &yaml("1"));
    b.compose(&dir, &["up", "-d"]).assert_ok();
    let before = ids(&b, &dir);
    assert_eq!(before.len(), 3);
    // Nothing changed: nothing recreated.
    b.compose(&dir, &["up", "-d"]).assert_ok();
    assert_eq!(ids(&b, &dir), before);
    // a changed: only a is recreated; `old` left the file: an orphan, kept
    // until --remove-orphans.
    std::fs::write(
        dir.join("compose.yaml"),
        yaml("2").replace(
            "  old:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n",
            "",
        ),
    )
    .unwrap();
    let out = b.compose(&dir, &["up", "-d"]);
    out.assert_ok();
    assert!(out.stderr.contains("orphan"), "{}", out.stderr);
    let after = ids(&b, &dir);
    let id =
        |v: &[(String, String)], n: &str| v.iter().find(|(x, _)| x == n).map(|(_, i)| i.clone());
    assert_ne!(id(&after, "conv-a-1"), id(&before, "conv-a-1"));
    assert_eq!(id(&after, "conv-b-1"), id(&before, "conv-b-1"));
    assert!(id(&after, "conv-old-1").is_some());
    b.compose(&dir, &["up", "-d", "--remove-orphans"])
        .assert_ok();
    assert!(id(&ids(&b, &dir), "conv-old-1").is_none());
    // --force-recreate recreates everything; --scale up and down.
    b.compose(&dir, &["up", "-d", "--force-recreate"])
        .assert_ok();
    assert_ne!(id(&ids(&b, &dir), "conv-b-1"), id(&after, "conv-b-1"));
    b.compose(&dir, &["up", "-d", "--scale", "b=3"]).assert_ok();
    let names: Vec<String> = ids(&b, &dir).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["conv-a-1", "conv-b-1", "conv-b-2", "conv-b-3"]);
    b.compose(&dir, &["up", "-d", "--scale", "b=1"]).assert_ok();
    assert_eq!(ids(&b, &dir).len(), 2);
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn failed_dependencies_are_named() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("fail",
        "services:\n  job:\n    image: busybox\n    command: [sh, -c, 'exit 3']\n  app:\n    image: busybox\n    command: [sleep, '1000']\n    depends_on:\n      job: {condition: service_completed_successfully}\n",
    );
    let out = b.compose(&dir, &["up", "-d"]);
    out.assert_code(125);
    assert!(
        out.stderr
            .contains("service \"job\" didn't complete successfully: exit 3"),
        "{}",
        out.stderr
    );
    b.compose(&dir, &["down"]).assert_ok();
    let dir = b.project("sick",
        "services:\n  db:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    healthcheck: {test: [CMD, 'false'], interval: 200ms, retries: 1}\n  app:\n    image: busybox\n    command: [sleep, '1000']\n    depends_on:\n      db: {condition: service_healthy}\n",
    );
    let out = b.compose(&dir, &["up", "-d"]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("container sick-db-1 is unhealthy"),
        "{}",
        out.stderr
    );
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn attached_up_prefixes_and_exit_code() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("att",
        "services:\n  talker:\n    image: busybox\n    command: [sh, -c, 'echo hello from talker; sleep 0.3; exit 3']\n  idle:\n    image: busybox\n    command: [sleep, '1000']\n",
    );
    let out = b.compose(&dir, &["up", "--exit-code-from", "talker", "--no-color"]);
    out.assert_code(3);
    assert!(
        out.stdout.contains("att-talker-1  | hello from talker"),
        "{}",
        out.stdout
    );
    // The stack was stopped when talker exited.
    let ps = ps_json(&b, &dir);
    assert!(ps.iter().all(|v| v["State"] == "exited"), "{ps:?}");
    // logs shows the same output afterwards.
    let logs = b.compose(&dir, &["logs", "--no-color", "talker"]);
    assert!(
        logs.assert_ok()
            .stdout
            .contains("att-talker-1  | hello from talker"),
        "{}",
        logs.stdout
    );
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn lifecycle_verbs() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("verbs",
        "services:\n  a:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n  b:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    depends_on: [a]\n",
    );
    b.compose(&dir, &["create"]).assert_ok();
    let state = |b: &Berth| -> Vec<String> {
        ps_json(b, &dir)
            .iter()
            .map(|v| v["State"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(state(&b), vec!["created", "created"]);
    b.compose(&dir, &["start"]).assert_ok();
    assert_eq!(state(&b), vec!["running", "running"]);
    b.compose(&dir, &["pause", "a"]).assert_ok();
    assert_eq!(state(&b), vec!["paused", "running"]);
    b.compose(&dir, &["unpause"]).assert_ok();
    b.compose(&dir, &["stop", "b"]).assert_ok();
    assert_eq!(state(&b), vec!["running", "exited"]);
    b.compose(&dir, &["restart"]).assert_ok();
    assert_eq!(state(&b), vec!["running", "running"]);
    b.compose(&dir, &["kill"]).assert_ok();
    assert!(berth_tests::wait_until(Duration::from_secs(20), || state(
        &b
    ) == vec![
        "exited", "exited"
    ]));
    b.compose(&dir, &["rm", "-f"]).assert_ok();
    assert!(ps_json(&b, &dir).is_empty());
    let ls = b.cmd().args(["compose", "ls", "-a"]).run();
    assert!(!ls.assert_ok().stdout.contains("verbs"), "{}", ls.stdout);
    b.assert_no_leaks();
}

#[test]
fn kill_9_of_up_then_converge_and_down() {
    let b = Berth::with_busybox("busybox");
    // The seed job takes a while, so `up` is waiting on it when killed.
    let yaml = stack(free_port()).replace("echo seeded-content", "sleep 2; echo seeded-content");
    let dir = b.project("k9", &yaml);
    let mut cmd = berth_tests::containers::berth_command(&b, &["compose", "up", "-d"]);
    cmd.current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap();
    let _ = child.wait();
    b.compose(&dir, &["up", "-d"]).assert_ok();
    // wget creates the file before it writes the body.
    assert!(berth_tests::wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(dir.join("out/got")).is_ok_and(|s| s.ends_with('\n'))
    }));
    assert_eq!(
        std::fs::read_to_string(dir.join("out/got")).unwrap(),
        "seeded-content\n"
    );
    b.compose(&dir, &["down", "-v"]).assert_ok();
    assert!(ps_json(&b, &dir).is_empty());
    b.assert_no_leaks();
}

#[test]
fn twenty_independent_services() {
    let b = Berth::with_busybox("busybox");
    let mut yaml = String::from("services:\n");
    for i in 0..20 {
        yaml.push_str(&format!(
            "  s{i}:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n"
        ));
    }
    let dir = b.project("twenty", &yaml);
    let t = Instant::now();
    b.compose(&dir, &["up", "-d"]).assert_ok();
    eprintln!("20 services up -d: {:?}", t.elapsed());
    assert_eq!(ps_json(&b, &dir).len(), 20);
    let t = Instant::now();
    b.compose(&dir, &["down"]).assert_ok();
    eprintln!("20 services down: {:?}", t.elapsed());
    b.assert_no_leaks();
}

#[test]
fn secrets_configs_env_files_exec_and_run() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project(
        "files",
        r#"
services:
  app:
    image: busybox
    command: [sleep, '1000']
    stop_signal: SIGKILL
    env_file: [app.env]
    environment:
      OVERRIDDEN: explicit
      FROM_SHELL:
    secrets:
      - pw
      - {source: token, target: tok, uid: '1000', mode: 0400}
    configs:
      - {source: conf, target: /etc/app.conf}
    working_dir: /tmp
    labels: {team: blue}
    tmpfs: [/scratch]
secrets:
  pw: {file: ./pw.txt}
  token: {environment: TOKEN}
configs:
  conf: {content: "hello config"}
"#,
    );
    std::fs::write(dir.join("pw.txt"), "s3cret").unwrap();
    std::fs::write(dir.join("app.env"), "FROM_FILE=file\nOVERRIDDEN=file\n").unwrap();
    let up = b
        .cmd()
        .cwd(&dir)
        .env("TOKEN", "tk")
        .env("FROM_SHELL", "shell")
        .args(["compose", "up", "-d"])
        .run();
    up.assert_ok();
    let exec = |args: &[&str]| {
        let mut all = vec!["exec", "-T", "app"];
        all.extend_from_slice(args);
        b.compose(&dir, &all)
    };
    assert_eq!(
        exec(&["cat", "/run/secrets/pw"]).assert_ok().stdout,
        "s3cret"
    );
    assert_eq!(exec(&["cat", "/run/secrets/tok"]).assert_ok().stdout, "tk");
    assert_eq!(
        exec(&["stat", "-c", "%u %a", "/run/secrets/tok"])
            .assert_ok()
            .stdout,
        "1000 400\n"
    );
    assert_eq!(
        exec(&["cat", "/etc/app.conf"]).assert_ok().stdout,
        "hello config"
    );
    assert_eq!(
        exec(&["sh", "-c", "echo $FROM_FILE $OVERRIDDEN $FROM_SHELL $(pwd)"])
            .assert_ok()
            .stdout,
        "file explicit shell /tmp\n"
    );
    assert!(exec(&["grep", " /scratch ", "/proc/mounts"])
        .assert_ok()
        .stdout
        .contains("tmpfs"));
    exec(&["sh", "-c", "exit 7"]).assert_code(7);
    // A one-off container: the service's settings, the command's overrides.
    std::fs::write(dir.join(".env"), "TOKEN=from-dotenv\n").unwrap();
    let run = b.compose(
        &dir,
        &[
            "run",
            "--rm",
            "-T",
            "-e",
            "EXTRA=x",
            "app",
            "sh",
            "-c",
            "echo $EXTRA $FROM_FILE; cat /etc/app.conf /run/secrets/tok",
        ],
    );
    assert_eq!(run.assert_ok().stdout, "x file\nhello configfrom-dotenv");
    b.compose(&dir, &["run", "--rm", "-T", "app", "sh", "-c", "exit 4"])
        .assert_code(4);
    // --rm left no one-off container behind.
    let all = b
        .run(&["ps", "-a", "--format", "{{.Names}}"])
        .assert_ok()
        .stdout
        .clone();
    assert_eq!(all.trim(), "files-app-1", "{all}");
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn ctrl_c_stops_the_attached_stack() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("intr",
        "services:\n  a:\n    image: busybox\n    command: [sh, -c, 'echo started; trap \"echo bye; exit 0\" TERM; sleep 1000 & wait']\n  b:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    depends_on: [a]\n",
    );
    let mut cmd = berth_tests::containers::berth_command(&b, &["compose", "up", "--no-color"]);
    cmd.current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let running = || {
        let ps = ps_json(&b, &dir);
        ps.len() == 2 && ps.iter().all(|v| v["State"] == "running")
    };
    assert!(berth_tests::wait_until(Duration::from_secs(10), running));
    // `running` is before a's shell ran its `trap`: a TERM that came sooner would be
    // dropped by the namespace init (no bye, and a stop that waits for its timeout).
    let a_pid: i32 = b
        .inspect_format("intr-a-1", "{{.State.Pid}}")
        .parse()
        .expect("intr-a-1's pid");
    assert!(
        berth_tests::sys::wait_caught(
            a_pid,
            berth_tests::sys::sig_bit(libc::SIGTERM),
            Duration::from_secs(20)
        ),
        "intr-a-1 never trapped TERM"
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("intr-a-1  | started"), "{text}");
    assert!(text.contains("intr-a-1  | bye"), "{text}");
    let ps = ps_json(&b, &dir);
    assert!(ps.iter().all(|v| v["State"] == "exited"), "{ps:?}");
    // berth down: the short form.
    b.cmd().cwd(&dir).args(["down"]).run().assert_ok();
    b.assert_no_leaks();
}

#[test]
fn inspection_verbs() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("look",
        "services:\n  talk:\n    image: busybox\n    network_mode: host\n    command: [sh, -c, 'echo line1; echo line2; exec sleep 1000']\n    stop_signal: SIGKILL\n  short:\n    image: busybox\n    command: [sh, -c, 'sleep 0.5; exit 5']\n",
    );
    b.compose(&dir, &["up", "-d"]).assert_ok();
    let logs = |args: &[&str]| {
        let mut all = vec!["logs", "--no-color"];
        all.extend_from_slice(args);
        b.compose(&dir, &all).assert_ok().stdout.clone()
    };
    assert!(berth_tests::wait_until(Duration::from_secs(20), || logs(
        &["talk"]
    )
    .contains("line2")));
    assert_eq!(
        logs(&["talk"]),
        "look-talk-1  | line1\nlook-talk-1  | line2\n"
    );
    assert_eq!(logs(&["--tail", "1", "talk"]), "look-talk-1  | line2\n");
    assert_eq!(logs(&["--no-log-prefix", "talk"]), "line1\nline2\n");
    // wait: the exit code of the one that stops.
    let w = b.compose(&dir, &["wait", "short"]);
    w.assert_code(5);
    assert_eq!(w.stdout, "5\n");
    let top = b.compose(&dir, &["top", "talk"]).assert_ok().stdout.clone();
    assert!(
        top.contains("look-talk-1") && top.contains("sleep 1000"),
        "{top}"
    );
    let images = b.compose(&dir, &["images"]).assert_ok().stdout.clone();
    assert!(
        images.contains("look-talk-1") && images.contains("busybox"),
        "{images}"
    );
    let ls = b
        .cmd()
        .args(["compose", "ls"])
        .run()
        .assert_ok()
        .stdout
        .clone();
    assert!(ls.contains("look") && ls.contains("running(1)"), "{ls}");
    assert_eq!(
        b.compose(&dir, &["port", "talk", "8080"])
            .assert_ok()
            .stdout,
        "0.0.0.0:8080\n"
    );
    assert!(b
        .compose(&dir, &["version"])
        .assert_ok()
        .stdout
        .starts_with("berth compose version"));
    // events: a stop shows as a die event.
    let mut cmd = berth_tests::containers::berth_command(&b, &["compose", "events", "--json"]);
    cmd.current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut ev = cmd.spawn().unwrap();
    let out = berth_tests::sys::OutputCollector::new(ev.stdout.take().expect("piped stdout"));
    // The watcher diffs snapshots: it must have taken its first one (it then sleeps)
    // before the stop, and the die shows up a poll later, however loaded the machine.
    assert!(
        berth_tests::sys::wait_sleeping(ev.id() as i32, Duration::from_secs(20)),
        "compose events never got to its first poll"
    );
    b.compose(&dir, &["stop", "talk"]).assert_ok();
    let is_die = |e: &berth_tests::Value| {
        e["action"] == "die" && e["service"] == "talk" && e["attributes"]["name"] == "look-talk-1"
    };
    out.wait(Duration::from_secs(20), |t| {
        berth_tests::json_lines(t).iter().any(is_die)
    });
    ev.kill().unwrap();
    ev.wait().unwrap();
    let lines = berth_tests::json_lines(&out.finish());
    assert!(lines.iter().any(is_die), "{lines:?}");
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn services_that_build() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("bld",
        "services:\n  app:\n    build:\n      context: ./app\n      args: {WHAT: built-by-compose}\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n",
    );
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM busybox\nARG WHAT\nRUN echo $WHAT > /what\n",
    )
    .unwrap();
    // up builds the missing image, named project-service.
    b.compose(&dir, &["up", "-d"]).assert_ok();
    let what = b.compose(&dir, &["exec", "-T", "app", "cat", "/what"]);
    assert_eq!(what.assert_ok().stdout, "built-by-compose\n");
    let ps = ps_json(&b, &dir);
    assert_eq!(
        ps[0]["Image"].as_str().map(|i| i.contains("bld-app")),
        Some(true),
        "{ps:?}"
    );
    // A changed Dockerfile, rebuilt: the container is recreated on the new image.
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM busybox\nARG WHAT\nRUN echo $WHAT again > /what\n",
    )
    .unwrap();
    b.compose(&dir, &["build"]).assert_ok();
    b.compose(&dir, &["up", "-d"]).assert_ok();
    let what = b.compose(&dir, &["exec", "-T", "app", "cat", "/what"]);
    assert_eq!(what.assert_ok().stdout, "built-by-compose again\n");
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn cp_and_down_rmi() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("rmi",
        "services:\n  app:\n    build:\n      context: ./app\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n  web:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n",
    );
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM busybox\nRUN echo built > /what\n",
    )
    .unwrap();
    b.compose(&dir, &["up", "-d"]).assert_ok();
    // compose cp: host to a service's container and back.
    let hello = dir.join("hello.txt");
    std::fs::write(&hello, "hi\n").unwrap();
    let hello = hello.to_string_lossy().into_owned();
    b.compose(&dir, &["cp", &hello, "app:/tmp/hello.txt"])
        .assert_ok();
    let got = b.compose(&dir, &["exec", "-T", "app", "cat", "/tmp/hello.txt"]);
    assert_eq!(got.assert_ok().stdout, "hi\n");
    let out = dir.join("what.txt").to_string_lossy().into_owned();
    b.compose(&dir, &["cp", "app:/what", &out]).assert_ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "built\n");
    let bad = b.compose(&dir, &["cp", "--index", "2", "app:/what", &out]);
    assert!(!bad.ok() && bad.stderr.contains("index 2"), "{bad}");
    let repos = |b: &Berth| b.run(&["images", "--format", "{{.Repository}}"]).stdout;
    assert!(repos(&b).contains("rmi-app"), "{}", repos(&b));
    // --rmi local: the image built for `app`, not `web`'s busybox.
    b.compose(&dir, &["down", "--rmi", "local"]).assert_ok();
    let left = repos(&b);
    assert!(
        !left.contains("rmi-app") && left.contains("busybox"),
        "{left}"
    );
    // --rmi all: every service's image.
    b.compose(&dir, &["up", "-d"]).assert_ok();
    assert!(repos(&b).contains("rmi-app"));
    b.compose(&dir, &["down", "--rmi", "all"]).assert_ok();
    let left = repos(&b);
    assert!(
        !left.contains("rmi-app") && !left.contains("busybox"),
        "{left}"
    );
    b.assert_no_leaks();
}

/// pid, ipc, devices, sysctls, ulimits, shm_size and volumes_from reach the
/// containers (through the container library's options, as `berth run`'s flags).
#[test]
fn namespaces_devices_limits_and_volumes_from() {
    let b = Berth::with_busybox("busybox");
    let dir = b.project("nsdev",
        "services:\n  hostns:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    pid: host\n    ipc: host\n  own:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    ipc: shareable\n    devices: ['/dev/null:/dev/nul2:rw']\n    sysctls: {net.core.somaxconn: '1024'}\n    ulimits: {nofile: {soft: 100, hard: 200}}\n    shm_size: 1m\n    volumes: [data:/data]\n  reader:\n    image: busybox\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n    volumes_from: ['own:ro']\nvolumes:\n  data:\n",
    );
    b.compose(&dir, &["up", "-d", "hostns", "own", "reader"])
        .assert_ok();
    let exec = |svc: &str, cmd: &str| -> String {
        let o = b.compose(&dir, &["exec", "-T", svc, "sh", "-c", cmd]);
        o.assert_ok();
        o.stdout.trim().to_string()
    };
    let host_ns = |ns: &str| {
        std::fs::read_link(format!("/proc/self/ns/{ns}"))
            .unwrap()
            .display()
            .to_string()
    };
    // pid: host and ipc: host share the host's namespaces; the other service has its own.
    assert_eq!(exec("hostns", "readlink /proc/self/ns/pid"), host_ns("pid"));
    assert_eq!(exec("hostns", "readlink /proc/self/ns/ipc"), host_ns("ipc"));
    assert_ne!(exec("own", "readlink /proc/self/ns/pid"), host_ns("pid"));
    assert_ne!(exec("own", "readlink /proc/self/ns/ipc"), host_ns("ipc"));
    assert_eq!(exec("own", "cat /proc/1/comm"), "sleep");
    // The device node is the host's /dev/null (1:3), usable.
    assert_eq!(exec("own", "stat -c %t:%T /dev/nul2"), "1:3");
    assert_eq!(exec("own", "echo x > /dev/nul2 && echo written"), "written");
    assert_eq!(exec("own", "cat /proc/sys/net/core/somaxconn"), "1024");
    assert_eq!(exec("own", "ulimit -n; ulimit -Hn"), "100\n200");
    assert_eq!(
        exec("own", "df -k /dev/shm | tail -1 | awk '{print $2}'"),
        "1024"
    );
    // volumes_from: the other service's named volume, read-only here.
    exec("own", "echo shared > /data/f");
    assert_eq!(exec("reader", "cat /data/f"), "shared");
    let o = b.compose(
        &dir,
        &["exec", "-T", "reader", "sh", "-c", "echo x > /data/g"],
    );
    assert_ne!(o.code, Some(0), "volumes_from ':ro' must be read-only");
    b.compose(&dir, &["down", "-v"]).assert_ok();
    b.assert_no_leaks();
}

/// The lifecycle's keys compose passes through (container_name, domainname,
/// dns_search, cap_drop, security_opt, pids_limit, cpu_shares, mem_reservation,
/// tty, stdin_open, pull_policy) seen inside the container, and up/exec/run/logs
/// flags: --no-deps, --no-recreate, --abort-on-container-exit, --wait-timeout,
/// --no-build, --pull, --project-directory, exec -u -w, run --entrypoint and
/// --service-ports, logs --since.
#[test]
fn keys_and_flags_of_the_lifecycle() {
    let b = Berth::with_busybox("busybox");
    let hp = free_port();
    let yaml = |extra_env: &str| {
        format!(
            r#"
services:
  app:
    image: busybox
    container_name: custom-app
    command: [sleep, '1000']
    stop_signal: SIGKILL
    hostname: apphost
    domainname: example.org
    dns_search: [search.example]
    cap_drop: [CHOWN]
    security_opt: ['no-new-privileges:true']
    pids_limit: 50
    cpu_shares: 512
    mem_reservation: 32m
    tty: true
    stdin_open: true
    pull_policy: never
    environment: [E={extra_env}]
    depends_on: [dep]
  dep:
    image: busybox
    command: [sh, -c, 'echo dep-line; exec sleep 1000']
    stop_signal: SIGKILL
  web:
    image: busybox
    command: [httpd, -f, -p, '8000', -h, /etc]
    stop_signal: SIGKILL
    ports: ['{hp}:8000']
    profiles: [web]
  job:
    image: busybox
    command: [sh, -c, 'sleep 0.5; exit 0']
    profiles: [jobs]
  sick:
    image: busybox
    command: [sleep, '1000']
    stop_signal: SIGKILL
    healthcheck: {{test: [CMD, 'false'], interval: 200ms, retries: 1000}}
    profiles: [sick]
  missing:
    image: nosuch/image:1
    profiles: [missing]
  built:
    build: ./ctx
    profiles: [built]
"#
        )
    };
    let dir = b.project("keys", &yaml("1"));
    // --no-deps: only app.
    b.compose(&dir, &["up", "-d", "--no-deps", "app"])
        .assert_ok();
    let names: Vec<String> = ps_json(&b, &dir)
        .iter()
        .map(|v| v["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["custom-app"]);
    let exec = |args: &[&str]| -> String {
        let mut all = vec!["exec", "-T"];
        all.extend_from_slice(args);
        let o = b.compose(&dir, &all);
        o.assert_ok();
        o.stdout.trim().to_string()
    };
    let sh = |cmd: &str| exec(&["app", "sh", "-c", cmd]);
    assert_eq!(
        sh("hostname; cat /proc/sys/kernel/domainname"),
        "apphost\nexample.org"
    );
    assert!(sh("cat /etc/resolv.conf").contains("search.example"));
    let cap_eff = sh("grep CapEff /proc/self/status | cut -f2");
    let caps = u64::from_str_radix(&cap_eff, 16).unwrap();
    assert_eq!(caps & 1, 0, "CAP_CHOWN dropped: {cap_eff}");
    assert_ne!(caps & (1 << 5), 0, "CAP_KILL kept: {cap_eff}");
    assert_eq!(sh("grep NoNewPrivs /proc/self/status | cut -f2"), "1");
    // cgroup v1 (the controllers' own hierarchies) or v2, whichever the host has.
    let v1 = sh("[ -d /sys/fs/cgroup/pids ] && echo v1 || echo v2") == "v1";
    if v1 {
        assert_eq!(sh("cat /sys/fs/cgroup/pids/pids.max"), "50");
        assert_eq!(
            sh("cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes"),
            (32u64 << 20).to_string()
        );
        assert_eq!(sh("cat /sys/fs/cgroup/cpu/cpu.shares"), "512");
    } else {
        assert_eq!(sh("cat /sys/fs/cgroup/pids.max"), "50");
        assert_eq!(
            sh("cat /sys/fs/cgroup/memory.low"),
            (32u64 << 20).to_string()
        );
        // The OCI conversion of 512 shares: 1 + (512-2)*9999/262142.
        assert_eq!(sh("cat /sys/fs/cgroup/cpu.weight"), "20");
    }
    let cfg = b.run(&["inspect", "custom-app"]).assert_ok().json()[0]["Config"].clone();
    assert_eq!(
        (cfg["Tty"].as_bool(), cfg["OpenStdin"].as_bool()),
        (Some(true), Some(true))
    );
    // exec -u -w.
    assert_eq!(
        exec(&["-u", "1000", "-w", "/tmp", "app", "sh", "-c", "id -u; pwd"]),
        "1000\n/tmp"
    );
    // --no-recreate keeps the container although its configuration changed.
    let id = |b: &Berth| ids(b, &dir)[0].1.clone();
    let before = id(&b);
    std::fs::write(dir.join("compose.yaml"), yaml("2")).unwrap();
    b.compose(&dir, &["up", "-d", "--no-deps", "--no-recreate", "app"])
        .assert_ok();
    assert_eq!(id(&b), before);
    // Without it, the change recreates; dep starts now (no --no-deps).
    b.compose(&dir, &["up", "-d"]).assert_ok();
    assert_eq!(ps_json(&b, &dir).len(), 2);
    assert_ne!(
        ids(&b, &dir)
            .iter()
            .find(|(n, _)| n == "custom-app")
            .unwrap()
            .1,
        before
    );
    // logs --since: nothing after a time in the future, the line without.
    assert!(berth_tests::wait_until(Duration::from_secs(20), || b
        .compose(&dir, &["logs", "--no-color", "dep"])
        .stdout
        .contains("dep-line")));
    let later = b.compose(
        &dir,
        &[
            "logs",
            "--no-color",
            "--since",
            "2099-01-01T00:00:00Z",
            "dep",
        ],
    );
    assert!(
        !later.assert_ok().stdout.contains("dep-line"),
        "{}",
        later.stdout
    );
    // logs -t: docker's RFC 3339 timestamp before each line.
    let stamped = b.compose(&dir, &["logs", "--no-color", "-t", "dep"]);
    let line = stamped
        .assert_ok()
        .stdout
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let stamp = line
        .strip_suffix(" dep-line")
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("");
    assert!(
        stamp.starts_with("20") && stamp.contains('T') && stamp.ends_with('Z'),
        "{line}"
    );
    // run -v: a bind mount of the host.
    let host = b.scratch("runvol");
    std::fs::write(host.join("f"), "from host\n").unwrap();
    let bind = format!("{}:/mnt", host.display());
    let r = b.compose(
        &dir,
        &["run", "--rm", "-T", "-v", &bind, "app", "cat", "/mnt/f"],
    );
    assert_eq!(r.assert_ok().stdout, "from host\n");
    // run --entrypoint; run --service-ports publishes the service's ports.
    let r = b.compose(
        &dir,
        &[
            "run",
            "--rm",
            "-T",
            "--entrypoint",
            "echo",
            "app",
            "from-run",
        ],
    );
    assert_eq!(r.assert_ok().stdout.trim(), "from-run");
    b.compose(
        &dir,
        &[
            "--profile",
            "web",
            "run",
            "-d",
            "--service-ports",
            "--name",
            "keys-web-run",
            "web",
        ],
    )
    .assert_ok();
    assert!(berth_tests::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", hp)).is_ok()
    }));
    b.run(&["rm", "-f", "keys-web-run"]).assert_ok();
    // --project-directory from elsewhere.
    let elsewhere = b.scratch("elsewhere");
    let out = b.compose(
        &elsewhere,
        &[
            "--project-directory",
            dir.to_str().unwrap(),
            "ps",
            "--services",
        ],
    );
    assert_eq!(out.assert_ok().stdout, "app\ndep\n");
    // --abort-on-container-exit: job ends, the stack stops, job's code.
    let out = b.compose(
        &dir,
        &[
            "--profile",
            "jobs",
            "up",
            "--abort-on-container-exit",
            "--no-color",
            "job",
            "dep",
        ],
    );
    out.assert_code(0);
    let dep_state: Vec<String> = ps_json(&b, &dir)
        .iter()
        .filter(|v| v["Service"] == "dep")
        .map(|v| v["State"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(dep_state, vec!["exited"]);
    // --wait-timeout: never healthy fails in about that time, naming the service.
    let t = Instant::now();
    let out = b.compose(
        &dir,
        &[
            "--profile",
            "sick",
            "up",
            "-d",
            "--wait",
            "--wait-timeout",
            "2",
            "sick",
        ],
    );
    assert_ne!(out.code, Some(0));
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    assert!(out.stderr.contains("sick"), "{}", out.stderr);
    // --pull never / pull_policy: a missing image is an error naming it; --no-build
    // with an image never built likewise.
    let out = b.compose(
        &dir,
        &[
            "--profile",
            "missing",
            "up",
            "-d",
            "--pull",
            "never",
            "missing",
        ],
    );
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("nosuch/image"), "{}", out.stderr);
    let out = b.compose(
        &dir,
        &["--profile", "built", "up", "-d", "--no-build", "built"],
    );
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("--no-build"), "{}", out.stderr);
    b.compose(&dir, &["down", "-v", "--remove-orphans"])
        .assert_ok();
    b.assert_no_leaks();
}

/// `compose build`, `push` to a local registry, `pull` back after the image was
/// removed, and the pulled image runs.
#[test]
fn push_and_pull_through_a_registry() {
    let b = Berth::with_busybox("busybox");
    let reg = berth_tests::registry::Registry::plain();
    let img = format!("{}/compose/app:1", reg.host());
    let dir = b.project(
        "pp",
        &format!(
            "services:\n  app:\n    image: {img}\n    build: ./ctx\n    command: [cat, /what]\n"
        ),
    );
    std::fs::create_dir_all(dir.join("ctx")).unwrap();
    std::fs::write(
        dir.join("ctx/Dockerfile"),
        "FROM busybox\nRUN echo pushed > /what\n",
    )
    .unwrap();
    b.compose(&dir, &["build"]).assert_ok();
    assert!(reg.get_manifest("compose/app", "1").is_none());
    b.compose(&dir, &["push"]).assert_ok();
    assert!(reg.get_manifest("compose/app", "1").is_some());
    b.run(&["rmi", &img]).assert_ok();
    let listed = |b: &Berth| {
        b.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .stdout
            .clone()
    };
    assert!(!listed(&b).contains(&img), "{}", listed(&b));
    b.compose(&dir, &["pull"]).assert_ok();
    assert!(listed(&b).contains(&img), "{}", listed(&b));
    let out = b.compose(&dir, &["run", "--rm", "-T", "--no-deps", "app"]);
    assert_eq!(out.assert_ok().stdout, "pushed\n");
    b.compose(&dir, &["down"]).assert_ok();
    b.assert_no_leaks();
}
