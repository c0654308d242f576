//! `berth build` end to end: Dockerfiles built from a locally imported busybox,
//! the images inspected and run, the cache, .dockerignore, multi-stage, bad input.

use berth_tests::manager::Berth;
use berth_tests::runtime::Io;
use berth_tests::Value;
use std::path::{Path, PathBuf};

/// A context directory with these files.
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

fn config(b: &Berth, image: &str) -> Value {
    let out = b.run(&["image", "inspect", image]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v[0]["Config"].clone()
}

fn run_out(b: &Berth, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    let out = b.run(&a);
    out.assert_ok();
    out.stdout
}

#[test]
fn tutorial_dockerfiles() {
    let b = Berth::with_busybox("busybox");
    // A tarball ADD extracts.
    let tdir = b.scratch("tarsrc");
    std::fs::create_dir_all(tdir.join("pkg")).unwrap();
    std::fs::write(tdir.join("pkg/data.txt"), "from the tarball\n").unwrap();
    let ctx = context(
        &b,
        "tutorial",
        &[(
            "Dockerfile",
            "FROM busybox\nMAINTAINER Jane Doe <jane@example.com>\nENV GREETING=hello \\\n    TARGET=\"the world\"\nENV LEGACY some value\nWORKDIR /app\nWORKDIR sub\nRUN echo \"$GREETING $TARGET\" > greeting.txt && echo built\nEXPOSE 80 53/udp\nADD pkg.tar.gz /opt/\nLABEL org.example.k=v\nUSER 1000:1000\nCMD [\"echo\", \"first\"]\nCMD cat /app/sub/greeting.txt /opt/pkg/data.txt\nONBUILD RUN echo triggered > /tmp/onbuild.txt\n",
        )],
    );
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(ctx.join("pkg.tar.gz"))
        .arg("-C")
        .arg(&tdir)
        .arg("pkg")
        .status()
        .unwrap();
    assert!(st.success());
    let out = build(&b, &ctx, &["-t", "tutorial:1"]);
    out.assert_ok();
    assert!(out.stderr.contains("built"), "RUN output is shown: {out}");
    let c = config(&b, "tutorial:1");
    assert_eq!(c["WorkingDir"], "/app/sub");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(
        c["Cmd"],
        serde_json::json!([
            "/bin/sh",
            "-c",
            "cat /app/sub/greeting.txt /opt/pkg/data.txt"
        ]),
        "the last CMD wins"
    );
    let env: Vec<String> = serde_json::from_value(c["Env"].clone()).unwrap();
    assert!(env.contains(&"GREETING=hello".to_string()), "{env:?}");
    assert!(env.contains(&"TARGET=the world".to_string()), "{env:?}");
    assert!(env.contains(&"LEGACY=some value".to_string()), "{env:?}");
    assert!(c["ExposedPorts"]["80/tcp"].is_object());
    assert!(c["ExposedPorts"]["53/udp"].is_object());
    assert_eq!(c["Labels"]["org.example.k"], "v");
    assert_eq!(
        c["OnBuild"],
        serde_json::json!(["RUN echo triggered > /tmp/onbuild.txt"])
    );
    let out = run_out(&b, &["tutorial:1"]);
    assert_eq!(out, "hello the world\nfrom the tarball\n");
    // History rows name the instructions.
    let h = b.run(&["history", "--no-trunc", "tutorial:1"]);
    h.assert_ok();
    assert!(h.stdout.contains("RUN /bin/sh -c echo"), "{h}");
    assert!(h.stdout.contains("WORKDIR /app/sub"), "{h}");
    // FROM a locally built image runs its ONBUILD triggers (and does not inherit them).
    let ctx2 = context(
        &b,
        "child",
        &[("Dockerfile", "FROM tutorial:1\nRUN cat /tmp/onbuild.txt\n")],
    );
    let out = build(&b, &ctx2, &["-t", "child"]);
    out.assert_ok();
    assert_eq!(
        run_out(&b, &["child", "cat", "/tmp/onbuild.txt"]),
        "triggered\n"
    );
    assert!(config(&b, "child")["OnBuild"].is_null());
    b.assert_no_leaks();
}

#[test]
fn cache_hits_and_misses() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "cache",
        &[
            ("a.txt", "a1\n"),
            ("b.txt", "b1\n"),
            (
                "Dockerfile",
                "FROM busybox\nENV X=1\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy-a\nCOPY b.txt /b.txt\nRUN cat /b.txt > /copy-b\nCMD [\"cat\", \"/copy-a\", \"/copy-b\"]\n",
            ),
        ],
    );
    let iid = b.scratch("iid").join("id");
    let iids = iid.to_string_lossy().into_owned();
    let first = build(&b, &ctx, &["-t", "c", "--iidfile", &iids]);
    first.assert_ok();
    assert!(!first.stderr.contains("CACHED"), "{first}");
    let id1 = std::fs::read_to_string(&iid).unwrap();
    assert!(id1.starts_with("sha256:"));
    let second = build(&b, &ctx, &["-t", "c", "--iidfile", &iids]);
    second.assert_ok();
    assert_eq!(second.stderr.matches("CACHED").count(), 6, "{second}");
    assert_eq!(
        std::fs::read_to_string(&iid).unwrap(),
        id1,
        "an unchanged rebuild gives the same image"
    );
    // mtime alone does not bust the cache; content does, from that step on.
    std::fs::write(ctx.join("a.txt"), "a1\n").unwrap();
    let third = build(&b, &ctx, &["-t", "c"]);
    assert_eq!(third.stderr.matches("CACHED").count(), 6, "{third}");
    std::fs::write(ctx.join("b.txt"), "b2\n").unwrap();
    let fourth = build(&b, &ctx, &["-t", "c"]);
    fourth.assert_ok();
    assert_eq!(fourth.stderr.matches("CACHED").count(), 3, "{fourth}");
    assert_eq!(run_out(&b, &["c"]), "a1\nb2\n");
    // --no-cache runs everything.
    let nc = build(&b, &ctx, &["-t", "c", "--no-cache"]);
    assert_eq!(nc.stderr.matches("CACHED").count(), 0, "{nc}");
    // builder prune drops the cache: the next build runs again.
    b.run(&["builder", "prune", "-f"]).assert_ok();
    let after = build(&b, &ctx, &["-t", "c"]);
    assert_eq!(after.stderr.matches("CACHED").count(), 0, "{after}");
    // A build arg in scope is part of the key.
    let ctx2 = context(
        &b,
        "args",
        &[(
            "Dockerfile",
            "FROM busybox\nARG V=d\nRUN echo v=$V > /v\nCMD [\"cat\", \"/v\"]\n",
        )],
    );
    build(&b, &ctx2, &["-t", "args"]).assert_ok();
    assert_eq!(run_out(&b, &["args"]), "v=d\n");
    build(&b, &ctx2, &["-t", "args", "--build-arg", "V=x"]).assert_ok();
    assert_eq!(run_out(&b, &["args"]), "v=x\n");
    b.assert_no_leaks();
}

#[test]
fn multi_stage_and_copy_forms() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "multi",
        &[
            ("src/one.txt", "one\n"),
            ("src/sub/two.txt", "two\n"),
            ("x.md", "md\n"),
            (
                "Dockerfile",
                "ARG BASE=busybox\nFROM ${BASE} AS builder\nRUN mkdir -p /out && echo compiled > /out/bin.txt\n\nFROM busybox AS unused\nRUN exit 1\n\nFROM $BASE\nCOPY --from=builder /out/bin.txt /final/\nCOPY --chown=1000:1000 --chmod=600 src /data\nCOPY *.md nothing* /md/\nCOPY <<EOF /inline.txt\nhello ${HOSTNAME:-heredoc}\nEOF\nRUN <<EOT\nset -e\necho from heredoc > /h.txt\nEOT\nRUN stat -c '%u:%g %a' /data/one.txt > /owner.txt\nCMD cat /final/bin.txt /data/sub/two.txt /md/x.md /inline.txt /h.txt /owner.txt\n",
            ),
        ],
    );
    let out = build(&b, &ctx, &["-t", "multi"]);
    out.assert_ok();
    assert!(
        !out.stderr.contains("exit 1"),
        "the unused stage is skipped: {out}"
    );
    assert_eq!(
        run_out(&b, &["multi"]),
        "compiled\ntwo\nmd\nhello heredoc\nfrom heredoc\n1000:1000 600\n"
    );
    // --target builds that stage only.
    let out = build(&b, &ctx, &["-t", "t", "--target", "builder"]);
    out.assert_ok();
    assert_eq!(run_out(&b, &["t", "cat", "/out/bin.txt"]), "compiled\n");
    b.assert_no_leaks();
}

#[test]
fn dockerignore_and_contexts() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "ign",
        &[
            (".dockerignore", "*.log\n!keep.log\nsecret\n**/tmp\n"),
            ("a.log", "no\n"),
            ("keep.log", "yes\n"),
            ("secret/key", "no\n"),
            ("d/tmp/x", "no\n"),
            ("d/ok", "ok\n"),
            (
                "Dockerfile",
                "FROM busybox\nCOPY . /ctx/\nCMD find /ctx -type f\n",
            ),
        ],
    );
    build(&b, &ctx, &["-t", "ign"]).assert_ok();
    let mut files: Vec<String> = run_out(&b, &["ign"]).lines().map(str::to_string).collect();
    files.sort();
    assert_eq!(
        files,
        vec![
            "/ctx/.dockerignore",
            "/ctx/Dockerfile",
            "/ctx/d/ok",
            "/ctx/keep.log"
        ]
    );
    // An excluded file cannot be copied by name.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY a.log /\n").unwrap();
    build(&b, &ctx, &[]).assert_fail_with("not found");
    // The context as a tar on stdin, the Dockerfile named inside it.
    let tar = b.scratch("t").join("ctx.tar");
    std::fs::write(
        ctx.join("Other.df"),
        "FROM busybox\nCOPY keep.log /k\nCMD cat /k\n",
    )
    .unwrap();
    let st = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&ctx)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    b.cmd()
        .args(["build", "-t", "fromtar", "-f", "Other.df", "-"])
        .stdin(Io::Fd(std::fs::File::open(&tar).unwrap().into()))
        .run()
        .assert_ok();
    assert_eq!(run_out(&b, &["fromtar"]), "yes\n");
    // ... and as a tar file.
    build(&b, &tar, &["-t", "fromtarfile", "-f", "Other.df"]).assert_ok();
    // A Dockerfile alone on stdin: no context.
    let df = b.scratch("t").join("Dockerfile.stdin");
    std::fs::write(&df, "FROM busybox\nLABEL only=df\n").unwrap();
    b.cmd()
        .args(["build", "-t", "dfonly", "-"])
        .stdin(Io::Fd(std::fs::File::open(&df).unwrap().into()))
        .run()
        .assert_ok();
    assert_eq!(config(&b, "dfonly")["Labels"]["only"], "df");
    b.assert_no_leaks();
}

#[test]
fn bad_input_is_named() {
    let b = Berth::with_busybox("busybox");
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\n  BOGUS x\n",
            "line 2, column 3: unknown instruction: BOGUS",
        ),
        ("FROM busybox\nRUN exit 7\n", "returned a non-zero code: 7"),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "outside the build context",
        ),
        ("FROM busybox\nCOPY --from=nostage /a /b\n", "nostage"),
        (
            "FROM 127.0.0.1:1/no-such-image-here\n",
            "no-such-image-here",
        ),
        ("FROM busybox\nRUN <<EOF\necho\n", "unterminated heredoc"),
        ("FROM busybox\nADD http://example.com/x /x\n", "URL"),
        ("FROM --platform=linux/arm64 busybox\n", "linux/arm64"),
        ("FROM busybox\nEXPOSE notaport\n", "line 2"),
    ];
    for (i, (df, want)) in cases.iter().enumerate() {
        let ctx = context(&b, &format!("bad{i}"), &[("Dockerfile", df)]);
        let out = build(&b, &ctx, &[]);
        out.assert_fail_with(want);
    }
    let ctx = context(&b, "badt", &[("Dockerfile", "FROM busybox\n")]);
    build(&b, &ctx, &["--target", "nope"]).assert_fail_with("nope");
    build(&b, &ctx, &["--platform", "linux/s390x"]).assert_fail_with("linux/s390x");
    b.assert_no_leaks();
}

#[test]
fn run_mounts_secrets_and_metadata() {
    let b = Berth::with_busybox("busybox");
    let secret = b.scratch("sec").join("token");
    std::fs::write(&secret, "s3cret").unwrap();
    let ctx = context(
        &b,
        "mounts",
        &[
            ("data/f", "bound\n"),
            (
                "Dockerfile",
                "# syntax=docker/dockerfile:1\nFROM busybox\nSHELL [\"/bin/sh\", \"-c\"]\nRUN --mount=type=cache,target=/cache echo x >> /cache/n && wc -l < /cache/n > /count\nRUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen-secret\nRUN --mount=type=bind,source=data,target=/mnt cat /mnt/f > /bound\nRUN --mount=type=tmpfs,target=/scratch touch /scratch/x && test ! -e /x\nRUN --network=none cat /proc/net/dev | grep -c : > /ifaces\nVOLUME /vol\nSTOPSIGNAL SIGTERM\nHEALTHCHECK --interval=5s --retries=2 CMD true\nENTRYPOINT [\"cat\"]\nCMD [\"/bound\"]\n",
            ),
        ],
    );
    build(
        &b,
        &ctx,
        &[
            "-t",
            "m",
            "--secret",
            &format!("id=tok,src={}", secret.display()),
            "--label",
            "extra=1",
        ],
    )
    .assert_ok();
    assert_eq!(run_out(&b, &["m"]), "bound\n");
    assert_eq!(run_out(&b, &["m", "/seen-secret"]), "s3cret");
    assert_eq!(
        run_out(&b, &["m", "/ifaces"]),
        "1\n",
        "only lo with --network=none"
    );
    let ls = b.run(&["run", "--rm", "--entrypoint", "ls", "m", "/run/secrets"]);
    assert_ne!(
        ls.code,
        Some(0),
        "the secret's mount point is not in the image: {ls}"
    );
    let c = config(&b, "m");
    assert!(c["Volumes"]["/vol"].is_object());
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000i64);
    assert_eq!(c["Labels"]["extra"], "1");
    // The cache mount persists between builds.
    build(
        &b,
        &ctx,
        &[
            "-t",
            "m2",
            "--no-cache",
            "--secret",
            &format!("id=tok,src={}", secret.display()),
        ],
    )
    .assert_ok();
    assert_eq!(run_out(&b, &["--entrypoint", "cat", "m2", "/count"]), "2\n");
    b.assert_no_leaks();
}

#[test]
fn killed_build_leaves_nothing_prune_does_not_clean() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "kill",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo started && sleep 30\nCMD true\n",
        )],
    );
    let mut child = std::process::Command::new(berth_tests::manager::berth_bin())
        .arg("--root")
        .arg(b.root())
        .env("BERTH_STATE", b.state())
        .env("BERTH_RUNTIME_BIN", berth_tests::runtime_bin())
        .env("BERTH_SHIM_BIN", berth_tests::manager::shim_bin())
        .args(["build", "-t", "killed"])
        .arg(&ctx)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tmp = b.root().join("build/tmp");
    let started = (0..300).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        // A RUN container exists (through the lifecycle library, or berth-runtime's).
        !b.run(&["ps", "-a", "-q"]).stdout.trim().is_empty()
            || std::fs::read_dir(&tmp)
                .map(|rd| rd.flatten().any(|e| e.path().join("container-id").exists()))
                .unwrap_or(false)
    });
    assert!(started, "the RUN step did not start");
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    b.run(&["builder", "prune", "-f"]).assert_ok();
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left under build/tmp: {left:?}");
    b.assert_no_leaks();
    // The next build works (and runs the step again).
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN echo again\n").unwrap();
    build(&b, &ctx, &["-t", "after"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn run_hosts_ulimits_shm() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "hostopts",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN grep myhost /etc/hosts > /h && ulimit -n > /u && df -k /dev/shm | tail -1 | awk '{print $2}' > /shm\nCMD cat /h /u /shm\n",
        )],
    );
    build(
        &b,
        &ctx,
        &[
            "-t",
            "ho",
            "--add-host",
            "myhost:10.1.2.3",
            "--ulimit",
            "nofile=512:512",
            "--shm-size",
            "32m",
        ],
    )
    .assert_ok();
    assert_eq!(run_out(&b, &["ho"]), "10.1.2.3\tmyhost\n512\n32768\n");
    b.assert_no_leaks();
}

#[test]
fn from_pulls_a_missing_image_as_run_does() {
    let b = Berth::with_busybox("busybox");
    let reg = berth_tests::registry::Registry::plain();
    let name = format!("{}/base/bb:1", reg.host());
    b.run(&["tag", "busybox", &name]).assert_ok();
    b.run(&["push", &name]).assert_ok();
    b.run(&["rmi", &name]).assert_ok();
    let df = format!("ARG BASE={name}\nFROM $BASE\nRUN echo pulled > /p\nCMD cat /p\n");
    let ctx = context(&b, "pull", &[("Dockerfile", &df)]);
    build(&b, &ctx, &["-t", "pulled"]).assert_ok();
    assert_eq!(run_out(&b, &["pulled"]), "pulled\n");
    // --pull pulls again even when it is stored.
    build(&b, &ctx, &["-t", "pulled", "--pull"]).assert_ok();
    b.assert_no_leaks();
}

#[test]
fn independent_stages_build_in_parallel() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "par",
        &[(
            "Dockerfile",
            "FROM busybox AS a\nRUN sleep 4 && echo a > /a\nFROM busybox AS b\nRUN sleep 4 && echo b > /b\nFROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCMD cat /a /b\n",
        )],
    );
    // The best of up to three builds (again without the cache): on a loaded machine
    // one build's start-up can eat the 1 s of slack, but stages run one after the
    // other never get under 8 s.
    let bound = std::time::Duration::from_millis(7000);
    let mut took = std::time::Duration::MAX;
    for flags in [
        &["-t", "par"][..],
        &["-t", "par", "--no-cache"],
        &["-t", "par", "--no-cache"],
    ] {
        let t0 = std::time::Instant::now();
        build(&b, &ctx, flags).assert_ok();
        took = took.min(t0.elapsed());
        if took < bound {
            break;
        }
    }
    assert!(
        took < bound,
        "two 4 s stages took {took:?} at best: not in parallel"
    );
    assert_eq!(run_out(&b, &["par"]), "a\nb\n");
    b.assert_no_leaks();
}

#[test]
fn more_instruction_forms() {
    let b = Berth::with_busybox("busybox");
    let ctx = context(
        &b,
        "forms",
        &[
            ("app/x/one.txt", "1\n"),
            ("app/y/two.txt", "2\n"),
            ("skip.txt", "no\n"),
            ("df/App.Dockerfile.dockerignore", "skip.txt\n"),
            (
                "df/App.Dockerfile",
                "# escape=`\nFROM busybox AS base\nHEALTHCHECK CMD true\nFROM base\nMAINTAINER someone@example.com\nHEALTHCHECK NONE\nSHELL [\"/bin/sh\", \"-c\"]\nCOPY --parents app/*/*.txt /p/\nCOPY --link . /all/\nARG ONLY_HERE=x\nRUN echo \"proxy=$http_proxy arg=${ONLY_HERE:+set}\" > /env.txt && `\n    test ! -e /all/skip.txt\nENV A=1 `\n    B=\"${A}2\"\nCMD [\"sh\", \"-c\", \"cat /p/app/x/one.txt /p/app/y/two.txt /env.txt; echo $B\"]\n",
            ),
        ],
    );
    let df = ctx.join("df/App.Dockerfile").to_string_lossy().into_owned();
    build(
        &b,
        &ctx,
        &[
            "-t",
            "forms",
            "-f",
            &df,
            "--build-arg",
            "http_proxy=http://proxy:3128",
        ],
    )
    .assert_ok();
    assert_eq!(
        run_out(&b, &["forms"]),
        "1\n2\nproxy=http://proxy:3128 arg=set\n2\n"
    );
    let out = b.run(&["image", "inspect", "forms"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v[0]["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
    // The proxy arg is not in the image's history.
    let h = b.run(&["history", "--no-trunc", "forms"]);
    assert!(!h.stdout.contains("proxy:3128"), "{h}");
    b.assert_no_leaks();
}

fn inspect_c(b: &Berth, c: &str, fmt: &str) -> String {
    b.run(&["inspect", "-f", fmt, c])
        .assert_ok()
        .stdout
        .trim()
        .to_string()
}

/// berth's FNV tag of a root (bridge `bb<tag>`, table `berth_<tag>`).
fn root_tag(b: &Berth) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for c in b.root().as_os_str().as_encoded_bytes() {
        h ^= *c as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:08x}", h as u32)
}

fn sh(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// RUN steps are on the default bridge as docker's are (they reach another
/// container on it; `host-gateway` is the bridge's gateway); `--network none`
/// has only lo; a user network by name; nothing is left afterwards.
#[test]
fn run_steps_use_the_default_bridge_and_user_networks() {
    let b = Berth::with_busybox("busybox");
    let tag = root_tag(&b);
    let script =
        "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www";
    b.run(&["run", "-d", "--name", "web", "busybox", "sh", "-c", script])
        .assert_ok();
    let ip = inspect_c(&b, "web", "{{.NetworkSettings.IPAddress}}");
    let gw = inspect_c(&b, "web", "{{.NetworkSettings.Gateway}}");
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "web's IP {ip:?}");
    // `run -d` returns once the shell started, not once httpd listens: the build's
    // first RUN must not race it.
    assert!(
        berth_tests::wait_until(std::time::Duration::from_secs(20), || b
            .run(&["exec", "web", "wget", "-qO-", "http://127.0.0.1:80/"])
            .ok()),
        "web's httpd never answered"
    );
    let df = format!(
        "FROM busybox\n\
         RUN wget -qO- http://{ip}:80/ > /got\n\
         RUN grep -c : /proc/net/dev > /ifaces-default && grep -w gw /etc/hosts | cut -f1 > /gw\n\
         RUN --network=none grep -c : /proc/net/dev > /ifaces-none\n\
         CMD cat /got /ifaces-default /gw /ifaces-none\n"
    );
    let ctx = context(&b, "bridge-run", &[("Dockerfile", &df)]);
    let out = build(&b, &ctx, &["-t", "netrun", "--add-host", "gw:host-gateway"]);
    out.assert_ok();
    // Only web's veth is on the bridge: the RUN steps' endpoints are gone
    // (their veths with their namespaces, freed by the kernel's worker
    // moments after each step).
    let bridge = format!("bb{tag}");
    let members = || sh("ip", &["-br", "link", "show", "master", &bridge]);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while members().lines().count() > 1 && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let members = members();
    assert_eq!(members.lines().count(), 1, "bridge members:\n{members}");
    assert_eq!(
        run_out(&b, &["--network", "none", "netrun"]),
        format!("hello-from-web\n2\n{gw}\n1\n")
    );
    // A user network by name: the RUN reaches a container on it.
    b.run(&["network", "create", "bnet"]).assert_ok();
    b.run(&[
        "run",
        "-d",
        "--name",
        "web2",
        "--network",
        "bnet",
        "busybox",
        "sh",
        "-c",
        script,
    ])
    .assert_ok();
    let ip2 = inspect_c(&b, "web2", "{{.NetworkSettings.Networks.bnet.IPAddress}}");
    let df2 = format!("FROM busybox\nRUN wget -qO- http://{ip2}:80/ > /got\nCMD cat /got\n");
    let ctx2 = context(&b, "user-run", &[("Dockerfile", &df2)]);
    build(&b, &ctx2, &["-t", "netrun2", "--network", "bnet"]).assert_ok();
    assert_eq!(
        run_out(&b, &["--network", "none", "netrun2"]),
        "hello-from-web\n"
    );
    // A network that does not exist is named.
    build(&b, &ctx2, &["--network", "nosuchnet"]).assert_fail_with("nosuchnet");
    b.cleanup();
    b.run(&["network", "rm", "bnet"]).assert_ok();
    let l = sh("ip", &["-br", "link"]);
    assert!(
        !l.contains(&format!("bb{tag}")),
        "default bridge left:\n{l}"
    );
    let t = sh("nft", &["list", "tables"]);
    assert!(!t.contains(&format!("berth_{tag}")), "nft table left:\n{t}");
    let pins: Vec<_> = std::fs::read_dir(b.state().join("netns"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(pins.is_empty(), "pinned namespaces left: {pins:?}");
    b.assert_no_leaks();
}
