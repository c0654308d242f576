//! `berth build`, continued: the tty progress display, stages named through
//! ARGs, `COPY --link` layers that do not depend on the layers below, and how
//! `image prune` / `builder prune` / `system prune` treat the build cache.

use berth_tests::containers::{berth_command, openpty, spawn_on_pty};
use berth_tests::manager::Berth;
use berth_tests::Value;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn context(b: &Berth, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = b.scratch(name);
    for (p, content) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, content).unwrap();
    }
    dir
}

fn build(b: &Berth, dir: &Path, extra: &[&str]) -> berth_tests::Output {
    let mut args = vec!["build", "--progress", "plain"];
    args.extend_from_slice(extra);
    let d = dir.to_string_lossy().into_owned();
    args.push(&d);
    b.run(&args)
}

fn run_out(b: &Berth, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    let out = b.run(&a);
    out.assert_ok();
    out.stdout
}

fn layers(b: &Berth, image: &str) -> Vec<String> {
    let out = b.run(&["image", "inspect", image]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v[0]["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// Run `berth args` on a new pty (stdin, stdout and stderr); everything the
/// pty showed, and the exit code.
fn on_pty(b: &Berth, args: &[&str]) -> (String, Option<i32>) {
    let (master, slave) = openpty();
    let mut child = spawn_on_pty(berth_command(b, args), &slave);
    drop(slave);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let seen = seen.clone();
        let m: OwnedFd = master.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(m);
            let mut buf = [0u8; 4096];
            // EIO once the last slave fd is closed.
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The reader ends at EIO; something else holding the pty only delays us.
    let t = Instant::now();
    while !reader.is_finished() && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(master);
    let out = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    (out, status.code())
}

/// How many CSI cursor-up sequences (`ESC [ n A`) `s` has.
fn cursor_ups(s: &str) -> usize {
    s.split("\x1b[")
        .skip(1)
        .filter(|p| {
            let digits = p.chars().take_while(|c| c.is_ascii_digit()).count();
            p[digits..].starts_with('A')
        })
        .count()
}

#[test]
fn tty_progress_updates_steps_in_place() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "tty",
        &[
            ("f.txt", "f\n"),
            (
                "Dockerfile",
                "FROM busybox\nCOPY f.txt /f.txt\nRUN for i in 1 2 3 4 5 6 7 8 9; do echo out-line-$i; sleep 0.3; done\nCMD [\"cat\", \"/f.txt\"]\n",
            ),
        ],
    );
    let c = ctx.to_string_lossy().into_owned();
    let (out, code) = on_pty(&b, &["build", "--progress", "tty", "-t", "tty", &c]);
    assert_eq!(code, Some(0), "{out}");
    // The header and the redraws: the cursor goes up to rewrite lines.
    assert!(out.contains("[+] Building"), "{out}");
    assert!(out.contains("FINISHED"), "{out}");
    let ups = cursor_ups(&out);
    assert!(ups > 5, "no redraw in place ({ups} cursor-ups): {out:?}");
    // A running step shows its last output lines under it ...
    assert!(out.contains(" => => # out-line-1"), "{out}");
    assert!(out.contains(" => => # out-line-9"), "{out}");
    // ... and ends as one line with its elapsed time (the RUN takes 2.7 s).
    let run_line = out
        .split(['\n', '\r'])
        .rfind(|l| l.contains("] RUN for i"))
        .unwrap_or_else(|| panic!("no RUN line: {out}"))
        .to_string();
    let secs: f64 = run_line
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|t| t.strip_suffix('s'))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no time on {run_line:?}"));
    assert!((2.5..60.0).contains(&secs), "{run_line:?}");
    // Not the plain lines.
    assert!(!out.contains("#3 out-line-1"), "{out}");
    // auto on a terminal is the tty display; auto into a pipe is plain lines.
    let (auto, code) = on_pty(&b, &["build", "-t", "tty", &c]);
    assert_eq!(code, Some(0), "{auto}");
    assert!(auto.contains("[+] Building"), "{auto}");
    assert!(auto.contains("=> CACHED [3/4] RUN for i"), "{auto}");
    let piped = b.run(&["build", "-t", "tty", &c]);
    piped.assert_ok();
    assert!(piped.stderr.contains("#1 [1/4] FROM busybox"), "{piped}");
    assert!(piped.stderr.contains("#3 CACHED"), "{piped}");
    assert!(!piped.stderr.contains("[+] Building"), "{piped}");
    // tty without a terminal is refused.
    let no = b.run(&["build", "--progress", "tty", "-t", "tty", &c]);
    assert_ne!(no.code, Some(0), "{no}");
    assert!(
        no.stderr.contains("--progress tty needs a terminal"),
        "{no}"
    );
    // A failing step keeps its output on the display, marked ERROR.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo about-to-fail; exit 3\n",
    )
    .unwrap();
    let (bad, code) = on_pty(&b, &["build", "--progress", "tty", &c]);
    assert_eq!(code, Some(1), "{bad}");
    assert!(
        bad.contains("=> ERROR [2/2] RUN echo about-to-fail"),
        "{bad}"
    );
    assert!(bad.contains("non-zero code: 3"), "{bad}");
    b.assert_no_leaks();
}

#[test]
fn stages_named_through_args_are_built() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "argstages",
        &[(
            "Dockerfile",
            "ARG BASE=builder\nARG STAGE=extra\nFROM busybox AS builder\nRUN echo built > /b.txt\nFROM busybox AS extra\nRUN echo extra > /e.txt\nFROM busybox AS other\nRUN echo other > /e.txt\nFROM ${BASE}\nARG STAGE\nCOPY --from=${STAGE} /e.txt /e.txt\nRUN --mount=type=bind,from=${STAGE},source=/e.txt,target=/m.txt cp /m.txt /m2.txt\nCMD cat /b.txt /e.txt /m2.txt\n",
        )],
    );
    let out = build(&b, &ctx, &["-t", "argstages"]);
    out.assert_ok();
    assert_eq!(run_out(&b, &["argstages"]), "built\nextra\nextra\n");
    // The stage nobody names is skipped.
    assert!(!out.stderr.contains("echo other"), "{out}");
    // --build-arg picks another stage: that one is built, and used.
    let out = build(
        &b,
        &ctx,
        &["-t", "argstages2", "--build-arg", "STAGE=other"],
    );
    out.assert_ok();
    assert!(out.stderr.contains("echo other"), "{out}");
    assert!(!out.stderr.contains("echo extra"), "{out}");
    assert_eq!(run_out(&b, &["argstages2"]), "built\nother\nother\n");
    // A name that is no stage is an image; one that is neither is named.
    let out = build(&b, &ctx, &["-t", "x", "--build-arg", "BASE=nosuchstage"]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("nosuchstage"), "{out}");
    b.assert_no_leaks();
}

#[test]
fn copy_link_layers_do_not_depend_on_the_layers_below() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "link",
        &[
            ("early.txt", "early 1\n"),
            ("app/bin.txt", "app\n"),
            (
                "Dockerfile",
                "FROM busybox\nCOPY early.txt /early.txt\nRUN cat /early.txt > /early-copy\nCOPY --link app/ /opt/app/\nCOPY --link --chown=1000:1000 app/bin.txt /opt/owned.txt\nRUN ls /opt/app > /listing && stat -c %u:%g /opt/owned.txt /opt >> /listing\nCMD cat /early-copy /opt/app/bin.txt /listing\n",
            ),
        ],
    );
    let first = build(&b, &ctx, &["-t", "link"]);
    first.assert_ok();
    assert_eq!(first.stderr.matches("CACHED").count(), 0, "{first}");
    assert_eq!(
        run_out(&b, &["link"]),
        "early 1\napp\nbin.txt\n1000:1000\n0:0\n"
    );
    let l1 = layers(&b, "link");
    // An earlier step changes: everything after it runs again except the
    // --link layers, reused as they were (the same layer digests).
    std::fs::write(ctx.join("early.txt"), "early 2\n").unwrap();
    let second = build(&b, &ctx, &["-t", "link"]);
    second.assert_ok();
    let steps: Vec<&str> = second.stderr.lines().collect();
    let cached_after = |needle: &str| {
        let i = steps
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle}: {second}"));
        let n = steps[i].split(' ').next().unwrap();
        steps.iter().any(|l| *l == format!("{n} CACHED"))
    };
    assert!(!cached_after("COPY early.txt"), "{second}");
    assert!(!cached_after("RUN cat /early.txt"), "{second}");
    assert!(cached_after("COPY --link app/"), "{second}");
    assert!(cached_after("COPY --link --chown"), "{second}");
    assert!(!cached_after("RUN ls /opt/app"), "{second}");
    let l2 = layers(&b, "link");
    assert_eq!(l1.len(), l2.len());
    assert_ne!(l1[1], l2[1], "the changed COPY");
    assert_eq!(l1[3], l2[3], "COPY --link app/ reused");
    assert_eq!(l1[4], l2[4], "COPY --link --chown reused");
    assert_eq!(
        run_out(&b, &["link"]),
        "early 2\napp\nbin.txt\n1000:1000\n0:0\n"
    );
    // Without --link the same change rebuilds the COPY.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY early.txt /early.txt\nCOPY app/ /opt/app/\n",
    )
    .unwrap();
    build(&b, &ctx, &["-t", "nolink"]).assert_ok();
    std::fs::write(ctx.join("early.txt"), "early 3\n").unwrap();
    let third = build(&b, &ctx, &["-t", "nolink"]);
    third.assert_ok();
    assert_eq!(third.stderr.matches("CACHED").count(), 0, "{third}");
    b.assert_no_leaks();
}

/// Cache entries under `<root>/build/cache`.
fn cache_entries(b: &Berth) -> usize {
    std::fs::read_dir(b.root().join("build/cache"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}

#[test]
fn prune_splits_the_build_cache_as_docker() {
    let b = Berth::with_busybox("busybox");
    let df = "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nRUN --mount=type=cache,target=/cache echo x > /cache/x\nCMD cat /b.txt\n";
    let ctx = context(&b, "prune", &[("a.txt", "a\n"), ("Dockerfile", df)]);
    build(&b, &ctx, &["-t", "p"]).assert_ok();
    let n = cache_entries(&b);
    assert!(n >= 4, "{n} entries");
    // image prune keeps the build cache (and untagged images aside, nothing goes).
    b.run(&["rmi", "p"]).assert_ok();
    b.run(&["image", "prune", "-f"]).assert_ok();
    assert_eq!(cache_entries(&b), n, "image prune took build cache");
    let again = build(&b, &ctx, &["-t", "p"]);
    again.assert_ok();
    assert_eq!(again.stderr.matches("CACHED").count(), 4, "{again}");
    // builder prune without -a takes the dangling entries (the steps before
    // the result) and keeps the one whose result is the image p.
    b.run(&["builder", "prune", "-f"]).assert_ok();
    assert_eq!(cache_entries(&b), 1);
    assert!(!b
        .root()
        .join("build/mounts/cache")
        .read_dir()
        .unwrap()
        .any(|_| true));
    // -a takes everything; gc then frees the layers only the cache kept.
    b.run(&["builder", "prune", "-a", "-f"]).assert_ok();
    assert_eq!(cache_entries(&b), 0);
    // --filter until= keeps what was used since.
    build(&b, &ctx, &["-t", "p", "--no-cache"]).assert_ok();
    let n = cache_entries(&b);
    let out = b.run(&["builder", "prune", "-a", "-f", "--filter", "until=1h"]);
    out.assert_ok();
    assert_eq!(cache_entries(&b), n, "until=1h took fresh entries: {out}");
    assert!(
        out.stdout.contains("Deleted build cache objects: 0"),
        "{out}"
    );
    let out = b.run(&["builder", "prune", "-f", "--filter", "bogus=1"]);
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("bogus"), "{out}");
    // --keep-storage: the least recently used go until the cache fits.
    b.run(&["builder", "prune", "-a", "-f"]).assert_ok();
    let big = |name: &str, fill: &str| {
        let c = context(
            &b,
            name,
            &[
                ("big.bin", &fill.repeat(3 << 20)),
                ("Dockerfile", "FROM busybox\nCOPY big.bin /big\n"),
            ],
        );
        build(&b, &c, &["-t", name]).assert_ok();
        b.run(&["rmi", name]).assert_ok();
        c
    };
    let old = big("bigold", "o");
    std::thread::sleep(Duration::from_millis(1100));
    let new = big("bignew", "n");
    assert_eq!(cache_entries(&b), 2);
    b.run(&["builder", "prune", "-a", "-f", "--keep-storage", "4m"])
        .assert_ok();
    assert_eq!(cache_entries(&b), 1, "6 MiB of cache kept to 4 MiB");
    let out = build(&b, &new, &["-t", "bignew"]);
    assert_eq!(
        out.stderr.matches("CACHED").count(),
        1,
        "the newer one stays: {out}"
    );
    let out = build(&b, &old, &["-t", "bigold"]);
    assert_eq!(
        out.stderr.matches("CACHED").count(),
        0,
        "the older one went: {out}"
    );
    b.run(&["rmi", "bigold", "bignew"]).assert_ok();
    b.run(&["builder", "prune", "-a", "-f", "--keep-storage", "0"])
        .assert_ok();
    assert_eq!(cache_entries(&b), 0);
    // system prune takes the build cache too.
    std::fs::write(ctx.join("Dockerfile"), df).unwrap();
    build(&b, &ctx, &["-t", "p"]).assert_ok();
    let out = b.run(&["system", "prune", "-a", "-f"]);
    out.assert_ok();
    assert_eq!(cache_entries(&b), 0, "{out}");
    assert!(out.stdout.contains("Deleted build cache objects"), "{out}");
    b.assert_no_leaks();
}

#[test]
fn compose_build_long_form() {
    let b = Berth::with_busybox("busybox");
    let dir = context(
        &b,
        "cbuild",
        &[
            ("tok.txt", "file-secret\n"),
            (".env", "SECRET_VAR=from-dotenv\n"),
            (
                "compose.yaml",
                "services:\n  app:\n    image: cbuilt\n    build:\n      context: .\n      target: final\n      dockerfile_inline: |\n        FROM busybox AS final\n        RUN --mount=type=secret,id=tok cat /run/secrets/tok > /tok\n        RUN --mount=type=secret,id=envsec,required=true cat /run/secrets/envsec > /envsec\n        CMD cat /tok /envsec\n      secrets:\n        - tok\n        - source: fromenv\n          target: envsec\nsecrets:\n  tok:\n    file: ./tok.txt\n  fromenv:\n    environment: SECRET_VAR\n",
            ),
        ],
    );
    let out = b.cmd().cwd(&dir).args(["compose", "build"]).run();
    out.assert_ok();
    // An environment secret is its value (no newline added).
    assert_eq!(run_out(&b, &["cbuilt"]), "file-secret\nfrom-dotenv");
    // Not in the image's history, nor in its layers but where RUN put it.
    let h = b.run(&["history", "--no-trunc", "cbuilt"]);
    assert!(!h.stdout.contains("from-dotenv"), "{h}");
    // An undefined secret, or both dockerfile forms, are named.
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    image: cbuilt\n    build:\n      context: .\n      dockerfile_inline: \"FROM busybox\\n\"\n      secrets: [nosuch]\n",
    )
    .unwrap();
    let out = b.cmd().cwd(&dir).args(["compose", "build"]).run();
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("nosuch"), "{out}");
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    build:\n      context: .\n      dockerfile: Dockerfile\n      dockerfile_inline: \"FROM busybox\\n\"\n",
    )
    .unwrap();
    let out = b.cmd().cwd(&dir).args(["compose", "build"]).run();
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("mutually exclusive"), "{out}");
    b.assert_no_leaks();
}

#[test]
fn dockerfile_on_stdin_with_a_context_dir() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(&b, "stdindf", &[("in-ctx.txt", "from the context\n")]);
    let c = ctx.to_string_lossy().into_owned();
    let df = b.scratch("df").join("Dockerfile");
    std::fs::write(&df, "FROM busybox\nCOPY in-ctx.txt /x\nCMD cat /x\n").unwrap();
    b.cmd()
        .args([
            "build",
            "--progress",
            "plain",
            "-t",
            "stdindf",
            "-f",
            "-",
            &c,
        ])
        .stdin(berth_tests::runtime::Io::Fd(
            std::fs::File::open(&df).unwrap().into(),
        ))
        .run()
        .assert_ok();
    assert_eq!(run_out(&b, &["stdindf"]), "from the context\n");
    b.assert_no_leaks();
}

/// Start `berth build` and kill -9 it after `after`.
fn kill_build_after(b: &Berth, ctx: &Path, after: Duration) {
    let mut child = std::process::Command::new(berth_tests::manager::berth_bin())
        .arg("--root")
        .arg(b.root())
        .env("BERTH_STATE", b.state())
        .env("BERTH_RUNTIME_BIN", berth_tests::runtime_bin())
        .env("BERTH_SHIM_BIN", berth_tests::manager::shim_bin())
        .args(["build", "--no-cache", "-t", "killed"])
        .arg(ctx)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    child.wait().unwrap();
}

#[test]
fn kill_9_at_every_step_then_the_next_build_and_prune_clean_up() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "killsteps",
        &[
            ("big.bin", &"k".repeat(40 << 20)),
            ("small.txt", "s\n"),
            (
                "Dockerfile",
                "FROM busybox\nCOPY big.bin /big\nRUN sleep 0.6 && echo r1 > /r1\nCOPY small.txt /small\nRUN --mount=type=cache,target=/c sleep 0.6 && cp /small /c/ && echo r2 > /r2\nWORKDIR /w\nCMD cat /r1 /r2\n",
            ),
        ],
    );
    // The kill lands in FROM, the COPY of 40 MiB, the RUNs, the layer writes,
    // the commits: wherever, the next build works and nothing stays behind.
    for ms in [50, 150, 300, 500, 800, 1100, 1400, 1800, 2300, 2800] {
        kill_build_after(&b, &ctx, Duration::from_millis(ms));
        let out = build(&b, &ctx, &["-t", "whole"]);
        out.assert_ok();
        assert_eq!(
            run_out(&b, &["whole"]),
            "r1\nr2\n",
            "after a kill at {ms} ms"
        );
        b.assert_no_leaks();
    }
    b.run(&["builder", "prune", "-a", "-f"]).assert_ok();
    let tmp = b.root().join("build/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left under build/tmp: {left:?}");
    assert_eq!(cache_entries(&b), 0);
    b.run(&["rmi", "whole"]).assert_ok();
    b.run(&["image", "prune", "-a", "-f"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn image_build_alias_and_compose_up_build() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "alias",
        &[("Dockerfile", "FROM busybox\nLABEL via=image-build\n")],
    );
    let c = ctx.to_string_lossy().into_owned();
    let out = b.run(&["image", "build", "-q", "-t", "alias", &c]);
    out.assert_ok();
    let id = out.stdout.trim().to_string();
    assert!(id.starts_with("sha256:"), "{out}");
    let ins = b.run(&["image", "inspect", "-f", "{{.Id}}", "alias"]);
    assert_eq!(ins.assert_ok().stdout.trim(), id);
    // compose: `build:` in its string form, `up --build` rebuilds a changed Dockerfile.
    let dir = context(
        &b,
        "upbuild",
        &[
            (
                "compose.yaml",
                "services:\n  app:\n    build: ./app\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n",
            ),
            ("app/Dockerfile", "FROM busybox\nRUN echo one > /what\n"),
        ],
    );
    let compose = |args: &[&str]| {
        let mut all = vec!["compose"];
        all.extend_from_slice(args);
        b.cmd()
            .cwd(&dir)
            .timeout(Duration::from_secs(120))
            .args(&all)
            .run()
    };
    compose(&["up", "-d"]).assert_ok();
    let what = compose(&["exec", "-T", "app", "cat", "/what"]);
    assert_eq!(what.assert_ok().stdout, "one\n");
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM busybox\nRUN echo two > /what\n",
    )
    .unwrap();
    // Without --build the stored image is used; with it, rebuilt and recreated.
    compose(&["up", "-d"]).assert_ok();
    let what = compose(&["exec", "-T", "app", "cat", "/what"]);
    assert_eq!(what.assert_ok().stdout, "one\n");
    compose(&["up", "-d", "--build"]).assert_ok();
    let what = compose(&["exec", "-T", "app", "cat", "/what"]);
    assert_eq!(what.assert_ok().stdout, "two\n");
    compose(&["down"]).assert_ok();
    b.assert_no_leaks();
}
