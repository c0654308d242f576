//! berth against the real thing:
//!
//! * image archives with a real dockerd 20.10 (a private one: own data root, exec root,
//!   socket, pid file, cgroup parent, `--bridge=none --iptables=false`; see
//!   tests/src/docker.rs; torn down at the end and checked to leave nothing), both
//!   directions: `berth import` (plain and gzip) -> `berth save` -> `docker load` ->
//!   `docker run`; `docker save` of images docker made (`docker import`, and a classic
//!   `docker build` on top with a whiteout and an ENV; one under two names) and of the
//!   one berth made -> `berth load` -> `berth run`; the image id (config digest) and
//!   tags the same on both sides. `berth save --format oci-archive` is read by `docker
//!   load` and by `skopeo copy oci-archive: docker-daemon:`.
//! * bearer-token auth against Debian's docker-registry 2.8 in `auth: token:` mode with
//!   a token server (tests/fixtures/token_server.py) issuing RS256 JWTs with the signing
//!   certificate in `x5c`: login, push and pull through the token flow (scopes checked
//!   in the token server's log, the token reused within a pull), anonymous access and
//!   wrong passwords refused with berth's messages, anonymous pull of a public
//!   repository.

#[path = "../src/docker.rs"]
mod docker;
#[path = "../src/engine_kit.rs"]
mod engine_kit;

use berth_tests::interop::*;
use berth_tests::manager::Berth;
use berth_tests::registry::image_record;
use berth_tests::runtime::Io;
use engine_kit::Engine as _;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);

#[track_caller]
fn berth(b: &Berth, args: &[&str]) -> berth_tests::Output {
    b.cmd()
        .env(
            "DOCKER_CONFIG",
            &b.scratch("no-docker-config").to_string_lossy(),
        )
        .args(args)
        .timeout(LONG)
        .run()
}

/// `berth image inspect NAME` (the first object).
#[track_caller]
fn berth_inspect(b: &Berth, name: &str) -> Value {
    let out = berth(b, &["image", "inspect", name]);
    out.assert_ok();
    let v = out.json();
    match v {
        Value::Array(mut a) if !a.is_empty() => a.remove(0),
        v => v,
    }
}

#[track_caller]
fn berth_run_echo(b: &Berth, image: &str) {
    let out = berth(b, &["run", "--rm", image, "echo", "ok"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "ok", "{out}");
}

#[test]
fn docker_archive_both_ways_with_a_real_dockerd() {
    let sock_existed = Path::new("/run/docker.sock").exists();
    let docker0_existed = Path::new("/sys/class/net/docker0").exists();
    let d = docker::Docker::start();
    let env_dir = d.dir().to_path_buf();
    let b = Berth::new();

    // berth import (a plain and a gzip-compressed rootfs, stored as given) -> berth
    // save (docker-archive: uncompressed layers) -> docker load -> docker run.
    let scratch = b.scratch("archives");
    b.import_busybox("berth-interop:v1");
    let gz = scratch.join("busybox-rootfs.tar.gz");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -c {} > {}",
            engine_kit::sh_quote(&b.busybox_rootfs_tar().to_string_lossy()),
            engine_kit::sh_quote(&gz.to_string_lossy())
        ))
        .status()
        .unwrap();
    assert!(st.success());
    berth(
        &b,
        &[
            "import",
            "-c",
            "CMD [\"sh\"]",
            &gz.to_string_lossy(),
            "berth-interop:gz",
        ],
    )
    .assert_ok();
    let id_of = |b: &Berth, name: &str| {
        let id = berth_inspect(b, name)["Id"].as_str().unwrap().to_string();
        assert!(id.starts_with("sha256:"), "{id}");
        id
    };
    let id = id_of(&b, "berth-interop:v1");
    let gz_id = id_of(&b, "berth-interop:gz");
    assert_ne!(id, gz_id);
    let saved = scratch.join("berth-docker.tar");
    berth(
        &b,
        &[
            "save",
            "-o",
            &saved.to_string_lossy(),
            "berth-interop:v1",
            "berth-interop:gz",
        ],
    )
    .assert_ok();
    let out = d.docker(&["load", "-i", &saved.to_string_lossy()]);
    out.assert_ok();
    for (name, want) in [("berth-interop:v1", &id), ("berth-interop:gz", &gz_id)] {
        assert!(
            out.stdout.contains(&format!("Loaded image: {name}")),
            "{out}"
        );
        assert_eq!(&d.inspect(name, "{{.Id}}"), want, "{name}");
        let run = d.docker(&["run", "--rm", "--network", "none", name, "echo", "ok"]);
        run.assert_ok();
        assert_eq!(run.out(), "ok", "{run}");
    }

    // oci-archive (the gzip layer as stored): docker load reads its manifest.json,
    // skopeo the OCI layout.
    berth(&b, &["tag", "berth-interop:gz", "berth-interop:oci"]).assert_ok();
    let oci = scratch.join("berth-oci.tar");
    berth(
        &b,
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            &oci.to_string_lossy(),
            "berth-interop:oci",
        ],
    )
    .assert_ok();
    let out = d.docker(&["load", "-i", &oci.to_string_lossy()]);
    out.assert_ok();
    assert!(
        out.stdout.contains("Loaded image: berth-interop:oci"),
        "{out}"
    );
    assert_eq!(d.inspect("berth-interop:oci", "{{.Id}}"), gz_id);
    if berth_tests::peer_available("skopeo") {
        // skopeo 1.9 ignores DOCKER_HOST for docker-daemon: (it goes to
        // /var/run/docker.sock); the private socket is given explicitly.
        let mut cmd = Command::new("skopeo");
        cmd.arg("copy")
            .arg("--dest-daemon-host")
            .arg(format!("unix://{}", env_dir.join("docker.sock").display()))
            .arg(format!("oci-archive:{}", oci.display()))
            .arg("docker-daemon:berth-interop:skopeo");
        let out = engine_kit::run(cmd, &d.env.out_dir(), LONG);
        assert!(
            out.ok(),
            "{out}\n--- dockerd.log ---\n{}",
            d.daemon_log_tail(20)
        );
        assert_eq!(d.inspect("berth-interop:skopeo", "{{.Id}}"), gz_id);
        let out = d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "berth-interop:skopeo",
            "echo",
            "ok",
        ]);
        out.assert_ok();
        assert_eq!(out.out(), "ok", "{out}");
    }

    // docker import (an image docker made) + the berth-made one -> docker save -> berth
    // load into a fresh store -> berth run; ids and tags as docker has them.
    let out = d.docker(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        &b.busybox_rootfs_tar().to_string_lossy(),
        "docker-made:v2",
    ]);
    out.assert_ok();
    let docker_id = d.inspect("docker-made:v2", "{{.Id}}");
    // And one docker built on it (the classic builder): a second layer with a
    // whiteout, an empty-layer ENV.
    let ctx = scratch.join("build");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM docker-made:v2\nRUN echo built > /hi && rm /bin/vi\nENV BERTH_X=from-docker\n",
    )
    .unwrap();
    let mut cmd = d.command(&[
        "build",
        "--network",
        "none",
        "-t",
        "docker-built:v3",
        &ctx.to_string_lossy(),
    ]);
    cmd.env("DOCKER_BUILDKIT", "0");
    engine_kit::run(cmd, &d.env.out_dir(), LONG).assert_ok();
    let built_id = d.inspect("docker-built:v3", "{{.Id}}");
    d.docker(&[
        "tag",
        "docker-made:v2",
        "example.com/team/docker-made:alias",
    ])
    .assert_ok();
    let dsaved = scratch.join("docker-saved.tar");
    d.docker(&[
        "save",
        "-o",
        &dsaved.to_string_lossy(),
        "docker-made:v2",
        "example.com/team/docker-made:alias",
        "docker-built:v3",
        "berth-interop:v1",
    ])
    .assert_ok();
    let b2 = Berth::new();
    berth(&b2, &["load", "-i", &dsaved.to_string_lossy()]).assert_ok();
    for (name, want_id) in [
        ("docker-made:v2", &docker_id),
        ("docker-built:v3", &built_id),
        ("berth-interop:v1", &id),
    ] {
        let v = berth_inspect(&b2, name);
        assert_eq!(v["Id"].as_str(), Some(want_id.as_str()), "{name}: {v:#}");
        // `docker save NAME...` writes the tags named (docker has more for the berth
        // image); an image saved under two names has both.
        let mut tags: Vec<&str> = v["RepoTags"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no RepoTags: {v:#}"))
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        tags.sort();
        let want: &[&str] = if name == "docker-made:v2" {
            &["docker-made:v2", "example.com/team/docker-made:alias"]
        } else {
            &[name]
        };
        assert_eq!(tags, want, "{name}: {v:#}");
        berth_run_echo(&b2, name);
    }
    let out = berth(
        &b2,
        &[
            "run",
            "--rm",
            "docker-built:v3",
            "sh",
            "-c",
            "cat /hi; test -e /bin/vi || echo vi-gone; echo $BERTH_X",
        ],
    );
    out.assert_ok();
    assert_eq!(out.stdout, "built\nvi-gone\nfrom-docker\n", "{out}");

    // Nothing left: berth's containers and mounts, then the daemon's environment.
    b.assert_no_leaks();
    b2.assert_no_leaks();
    let left = d.env.teardown();
    assert!(left.is_empty(), "dockerd teardown left: {left:#?}");
    assert!(!env_dir.exists(), "{} was not removed", env_dir.display());
    assert!(engine_kit::mounts_under(&env_dir).is_empty());
    let procs = engine_kit::pids_with_cmdline(&env_dir.to_string_lossy());
    assert!(procs.is_empty(), "processes left: {procs:?}");
    if !docker0_existed {
        assert!(
            !Path::new("/sys/class/net/docker0").exists(),
            "the private dockerd made a bridge"
        );
    }
    if !sock_existed {
        assert!(
            !Path::new("/run/docker.sock").exists(),
            "the private dockerd created /run/docker.sock"
        );
    }
}

/// Token requests logged since `from`.
fn tokens_since(reg: &TokenRegistry, from: usize) -> Vec<Value> {
    reg.token_requests().into_iter().skip(from).collect()
}

#[test]
fn bearer_token_auth_against_a_real_registry() {
    let reg = TokenRegistry::start();
    eprintln!("{}", reg.signer().trim());
    let host = reg.host();
    let name = format!("{host}/team/app:1");
    let b = Berth::new();
    b.import_busybox("tokapp");
    berth(&b, &["tag", "tokapp", &name]).assert_ok();

    // Anonymous: the token server hands out a token with no access, the registry
    // refuses it, berth says to log in.
    let out = berth(&b, &["push", &name]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("authentication required")
            && out.stderr.contains(&format!("berth login {host}")),
        "{out}"
    );
    let t = reg.token_requests();
    assert!(
        t.iter().any(|r| r["account"] == "" && r["status"] == 200),
        "no anonymous token request: {t:?}"
    );

    // A wrong password: the token server answers 401; nothing is stored.
    let out = berth(&b, &["login", "-u", TOKEN_USER, "-p", "wrong", &host]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("incorrect username or password"),
        "{out}"
    );
    assert!(!b.root().join("auth.json").exists());
    assert!(
        reg.token_requests().iter().any(|r| r["status"] == 401),
        "the wrong password never reached the token server"
    );

    // The right one (stdin), checked through a token before it is stored.
    let n0 = reg.token_requests().len();
    let pw = b.scratch("pw").join("pw");
    std::fs::write(&pw, format!("{TOKEN_PASSWORD}\n")).unwrap();
    let out = b
        .cmd()
        .env(
            "DOCKER_CONFIG",
            &b.scratch("no-docker-config").to_string_lossy(),
        )
        .args(["login", "-u", TOKEN_USER, "--password-stdin", &host])
        .stdin(Io::Fd(std::fs::File::open(&pw).unwrap().into()))
        .run();
    out.assert_ok();
    assert!(out.stdout.contains("Login Succeeded"), "{out}");
    let t = tokens_since(&reg, n0);
    assert!(
        t.iter()
            .any(|r| r["account"] == TOKEN_USER && r["service"] == SERVICE),
        "login did not fetch a token as {TOKEN_USER} for {SERVICE}: {t:?}"
    );

    // Push through the token flow, scope pull,push.
    let n0 = reg.token_requests().len();
    let out = berth(&b, &["push", &name]);
    out.assert_ok();
    let local = image_record(b.root(), &name).expect("tagged record");
    let manifest = local["manifest"].as_str().unwrap().to_string();
    assert!(
        out.stdout.contains(&format!("1: digest: {manifest}")),
        "{out}"
    );
    let t = tokens_since(&reg, n0);
    assert!(!t.is_empty(), "push fetched no token");
    for r in &t {
        assert_eq!(r["status"], 200, "{t:?}");
        assert_eq!(r["account"], TOKEN_USER, "{t:?}");
        assert_eq!(r["service"], SERVICE, "{t:?}");
        assert_eq!(
            r["scope"],
            serde_json::json!(["repository:team/app:pull,push"]),
            "{t:?}"
        );
    }

    // Another store, not logged in: an anonymous pull is refused clearly.
    let b2 = Berth::new();
    let out = berth(&b2, &["pull", &name]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("authentication required")
            && out.stderr.contains(&format!("berth login {host}")),
        "{out}"
    );
    assert!(image_record(b2.root(), &name).is_none());

    // Stored credentials that are wrong (docker's config.json): refused, clearly.
    let dc = b2.scratch("docker-config-wrong");
    std::fs::write(
        dc.join("config.json"),
        serde_json::json!({"auths": {host.clone(): {"username": TOKEN_USER, "password": "nope"}}})
            .to_string(),
    )
    .unwrap();
    let out = b2
        .cmd()
        .env("DOCKER_CONFIG", &dc.to_string_lossy())
        .args(["pull", &name])
        .timeout(LONG)
        .run();
    out.assert_code(125);
    assert!(
        out.stderr.contains("rejected the credentials")
            && out.stderr.contains("incorrect username or password"),
        "{out}"
    );

    // Log in and pull: same manifest and config as pushed, runs.
    let out = berth(
        &b2,
        &["login", "-u", TOKEN_USER, "-p", TOKEN_PASSWORD, &host],
    );
    out.assert_ok();
    let n0 = reg.token_requests().len();
    let a0 = reg.access_lines().len();
    let out = berth(&b2, &["pull", &name]);
    out.assert_ok();
    let rec = image_record(b2.root(), &name).expect("pulled record");
    assert_eq!(rec["manifest"], local["manifest"]);
    assert_eq!(rec["config"], local["config"]);
    let t = tokens_since(&reg, n0);
    let requests: Vec<String> = reg.access_lines().into_iter().skip(a0).collect();
    eprintln!(
        "pull: {} token request(s), {} registry request(s)",
        t.len(),
        requests.len()
    );
    assert!(!t.is_empty(), "pull fetched no token");
    for r in &t {
        assert_eq!(r["status"], 200, "{t:?}");
        assert_eq!(r["account"], TOKEN_USER, "{t:?}");
        assert_eq!(
            r["scope"],
            serde_json::json!(["repository:team/app:pull"]),
            "{t:?}"
        );
    }
    // The token is used for more than one request (the manifest, config and layer
    // all came through after at most as many token fetches as 401s).
    let ok_gets = requests
        .iter()
        .filter(|l| l.contains("\"GET /v2/team/app/") && l.contains("\" 200 "))
        .count();
    assert!(ok_gets >= 3, "{requests:#?}");
    assert!(
        t.len() < ok_gets,
        "a token per request: {} tokens for {ok_gets} requests",
        t.len()
    );
    berth_run_echo(&b2, &name);

    // A public repository: anonymous pull works through an anonymous token (no
    // credentials sent), anonymous push does not.
    let public = format!("{host}/public/app:1");
    berth(&b, &["tag", "tokapp", &public]).assert_ok();
    berth(&b, &["push", &public]).assert_ok();
    let b3 = Berth::new();
    let n0 = reg.token_requests().len();
    let out = berth(&b3, &["pull", &public]);
    out.assert_ok();
    let t = tokens_since(&reg, n0);
    assert!(
        !t.is_empty() && t.iter().all(|r| r["account"] == "" && r["status"] == 200),
        "{t:?}"
    );
    assert_eq!(
        image_record(b3.root(), &public).expect("pulled record")["config"],
        local["config"]
    );
    let out = berth(&b3, &["push", &public]);
    out.assert_code(125);
    assert!(out.stderr.contains("authentication required"), "{out}");
    b.assert_no_leaks();
    b2.assert_no_leaks();
    b3.assert_no_leaks();
}
