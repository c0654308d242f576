//! `berth pull`, `push`, `login`, `logout` against a real registry (Debian's
//! docker-registry 2.8 on 127.0.0.1): plain HTTP, TLS with a private CA and htpasswd
//! auth, image indexes and platform selection, gzip/zstd/uncompressed layers,
//! nothing fetched twice, resume after kill -9, corrupted blobs.

use berth_tests::manager::{berth_bin, Berth};
use berth_tests::registry::*;
use berth_tests::runtime::Io;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(120);

/// busybox as one layer, compressed as asked.
fn busybox_layer(b: &Berth, c: Compression, docker: bool) -> Layer {
    let tar = b.busybox_rootfs_tar();
    let copy = b
        .scratch("layers")
        .join(format!("busybox-{c:?}-{docker}.tar"));
    std::fs::copy(&tar, &copy).unwrap();
    layer_from_tar(&copy, c, docker)
}

fn marker_layer(b: &Berth, name: &str, text: &str, c: Compression, docker: bool) -> Layer {
    let work = b.scratch("layers");
    let dir = dir_with_file(&work, name, text.as_bytes());
    layer_from_dir(&work, &dir, c, docker)
}

#[track_caller]
fn pull(b: &Berth, args: &[&str]) -> berth_tests::Output {
    let mut all = vec!["pull"];
    all.extend_from_slice(args);
    b.cmd()
        .env(
            "DOCKER_CONFIG",
            &b.scratch("no-docker-config").to_string_lossy(),
        )
        .args(&all)
        .timeout(LONG)
        .run()
}

#[test]
fn pull_plain_http_and_nothing_fetched_twice() {
    let b = Berth::new();
    let reg = Registry::plain();
    let base = busybox_layer(&b, Compression::Gzip, false);
    let extra = marker_layer(
        &b,
        "hello.txt",
        "hello from layer two\n",
        Compression::None,
        false,
    );
    let img = ImageSpec::new(vec![base, extra], "amd64", false);
    reg.push_image("app", "1", &img);
    let name = format!("{}/app:1", reg.host());

    let out = pull(&b, &[&name]);
    out.assert_ok();
    assert!(out.stdout.contains("1: Pulling from "), "{out}");
    assert!(out.stdout.contains("Pull complete"), "{out}");
    assert!(
        out.stdout
            .contains(&format!("Digest: {}", img.manifest_digest)),
        "{out}"
    );
    assert!(
        out.stdout
            .contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    let rec = image_record(b.root(), &name).unwrap_or_else(|| panic!("no record for {name}"));
    assert_eq!(rec["manifest"], img.manifest_digest.as_str());
    assert_eq!(rec["config"], img.config_digest.as_str());
    assert_eq!(rec["manifest_media_type"], OCI_MANIFEST);
    for l in &img.layers {
        assert!(
            has_blob(b.root(), &l.digest),
            "layer {} not stored",
            l.digest
        );
        assert_eq!(reg.blob_gets(&l.digest), vec![200], "{}", l.digest);
    }
    // Unpacked at pull time: `berth run` needs no extraction.
    assert!(
        snapshot_file(b.root(), "bin/busybox").is_some(),
        "busybox not unpacked"
    );
    let hello = snapshot_file(b.root(), "hello.txt").expect("hello.txt not unpacked");
    assert_eq!(
        std::fs::read_to_string(hello).unwrap(),
        "hello from layer two\n"
    );

    // The same again: no blob is fetched, and docker's up-to-date message.
    let gets = reg.all_blob_gets();
    let out = pull(&b, &[&name]);
    out.assert_ok();
    assert!(
        out.stdout
            .contains(&format!("Status: Image is up to date for {name}")),
        "{out}"
    );
    assert_eq!(reg.all_blob_gets(), gets, "a blob was fetched again");

    // Another image sharing the busybox layer: only the new layer and config come.
    let base_digest = img.layers[0].digest.clone();
    let new = marker_layer(&b, "other.txt", "third\n", Compression::Gzip, false);
    let img2 = ImageSpec::new(vec![img.layers[0].clone(), new], "amd64", false);
    reg.push_image("other", "latest", &img2);
    let out = pull(&b, &[&format!("{}/other", reg.host())]);
    out.assert_ok();
    assert!(out.stdout.contains("Already exists"), "{out}");
    assert_eq!(
        reg.blob_gets(&base_digest).len(),
        1,
        "the shared layer was fetched twice"
    );
    assert!(image_record(b.root(), &format!("{}/other:latest", reg.host())).is_some());

    // A missing tag is a clear error.
    let out = pull(&b, &[&format!("{}/app:nope", reg.host())]);
    out.assert_code(125);
    assert!(out.stderr.contains("not found"), "{out}");
    b.assert_no_leaks();
}

#[test]
fn zstd_and_uncompressed_docker_layers() {
    let b = Berth::new();
    let reg = Registry::plain();
    // OCI: zstd + uncompressed.
    let img = ImageSpec::new(
        vec![
            busybox_layer(&b, Compression::Zstd, false),
            marker_layer(&b, "zstd-image.txt", "zstd\n", Compression::None, false),
        ],
        "amd64",
        false,
    );
    reg.push_image("zstd", "1", &img);
    // docker schema 2: uncompressed + gzip.
    let dimg = ImageSpec::new(
        vec![
            busybox_layer(&b, Compression::None, true),
            marker_layer(&b, "docker-image.txt", "docker\n", Compression::Gzip, true),
        ],
        "amd64",
        true,
    );
    reg.push_image("docker", "1", &dimg);

    pull(&b, &[&format!("{}/zstd:1", reg.host())]).assert_ok();
    assert!(snapshot_file(b.root(), "zstd-image.txt").is_some());
    let out = pull(&b, &[&format!("{}/docker:1", reg.host())]);
    out.assert_ok();
    assert!(snapshot_file(b.root(), "docker-image.txt").is_some());
    let rec = image_record(b.root(), &format!("{}/docker:1", reg.host())).unwrap();
    assert_eq!(rec["manifest_media_type"], DOCKER_MANIFEST);
    assert_eq!(rec["manifest"], dimg.manifest_digest.as_str());
    b.assert_no_leaks();
}

#[test]
fn multi_platform_index_and_platform_flag() {
    let b = Berth::new();
    let reg = Registry::plain();
    let amd = ImageSpec::new(
        vec![
            busybox_layer(&b, Compression::Gzip, true),
            marker_layer(&b, "arch", "amd64\n", Compression::Gzip, true),
        ],
        "amd64",
        true,
    );
    let arm = ImageSpec::new(
        vec![marker_layer(&b, "arch", "arm64\n", Compression::Gzip, true)],
        "arm64",
        true,
    );
    for img in [&amd, &arm] {
        reg.push_image("multi", &img.manifest_digest, img);
    }
    // A docker manifest list and an OCI index over the same two images.
    let (list, list_type) = index(&[(&arm, "linux/arm64/v8"), (&amd, "linux/amd64")], true);
    let list_digest = reg.put_manifest("multi", "list", &list_type, &list);
    let (oci, oci_type) = index(&[(&amd, "linux/amd64"), (&arm, "linux/arm64/v8")], false);
    reg.put_manifest("multi", "oci", &oci_type, &oci);

    let name = format!("{}/multi:list", reg.host());
    let out = pull(&b, &[&name]);
    out.assert_ok();
    // docker prints the digest the user can pull by: the list's.
    assert!(
        out.stdout.contains(&format!("Digest: {list_digest}")),
        "{out}"
    );
    let rec = image_record(b.root(), &name).unwrap();
    assert_eq!(
        rec["manifest"],
        amd.manifest_digest.as_str(),
        "not the host's platform"
    );
    assert!(
        !has_blob(b.root(), &arm.layers[0].digest),
        "the arm64 layer was fetched"
    );

    let out = pull(&b, &["--platform", "linux/arm64", &name]);
    out.assert_ok();
    let rec = image_record(b.root(), &name).unwrap();
    assert_eq!(rec["manifest"], arm.manifest_digest.as_str());
    assert_eq!(rec["config"], arm.config_digest.as_str());

    let oci_name = format!("{}/multi:oci", reg.host());
    pull(&b, &["--platform", "linux/amd64", &oci_name]).assert_ok();
    let rec = image_record(b.root(), &oci_name).unwrap();
    assert_eq!(rec["manifest"], amd.manifest_digest.as_str());

    let out = pull(&b, &["--platform", "linux/s390x", &oci_name]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("no matching manifest for linux/s390x")
            && out.stderr.contains("linux/amd64")
            && out.stderr.contains("linux/arm64/v8"),
        "{out}"
    );
    b.assert_no_leaks();
}

#[test]
fn tls_registry_with_auth_login_logout() {
    let b = Berth::new();
    let reg = Registry::tls_auth();
    let img = ImageSpec::new(
        vec![busybox_layer(&b, Compression::Gzip, false)],
        "amd64",
        false,
    );
    reg.push_image("secure/app", "1", &img);
    let host = reg.host();
    let name = format!("{host}/secure/app:1");

    // Without the CA the certificate is not trusted (and no plain-HTTP fallback
    // hides it, though the registry is on loopback).
    let out = pull(&b, &[&name]);
    out.assert_code(125);
    assert!(
        out.stderr.to_lowercase().contains("certificate") || out.stderr.contains("UnknownIssuer"),
        "{out}"
    );

    let certs = b.root().join("certs.d").join(&host);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(reg.ca.as_ref().unwrap(), certs.join("ca.crt")).unwrap();

    // No credentials: a clear 401.
    let out = pull(&b, &[&name]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("authentication required") && out.stderr.contains("berth login"),
        "{out}"
    );

    // Wrong password: refused, nothing stored.
    let out = b.run(&["login", "-u", USER, "-p", "wrong", &host]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("incorrect username or password"),
        "{out}"
    );
    assert!(!b.root().join("auth.json").exists());

    // Right password from stdin.
    let pw = b.scratch("pw").join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let stdin = std::fs::File::open(&pw).unwrap();
    let out = b
        .cmd()
        .args(["login", "-u", USER, "--password-stdin", &host])
        .stdin(Io::Fd(stdin.into()))
        .run();
    out.assert_ok();
    assert!(out.stdout.contains("Login Succeeded"), "{out}");
    let auth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.root().join("auth.json")).unwrap())
            .unwrap();
    assert!(auth["auths"][&host]["auth"].is_string(), "{auth}");

    let out = pull(&b, &[&name]);
    out.assert_ok();
    assert_eq!(
        image_record(b.root(), &name).unwrap()["manifest"],
        img.manifest_digest.as_str()
    );

    // Push back under the same name: every blob is there already.
    let out = b.cmd().args(["push", &name]).timeout(LONG).run();
    out.assert_ok();
    assert!(out.stdout.contains("Layer already exists"), "{out}");
    assert!(
        out.stdout.contains(&format!(
            "1: digest: {} size: {}",
            img.manifest_digest,
            img.manifest.len()
        )),
        "{out}"
    );

    let out = b.run(&["logout", &host]);
    out.assert_ok();
    assert!(
        out.stdout
            .contains(&format!("Removing login credentials for {host}")),
        "{out}"
    );
    let out = b.run(&["logout", &host]);
    assert!(out.stdout.contains("Not logged in"), "{out}");
    let out = pull(&b, &[&format!("{host}/secure/app@{}", img.manifest_digest)]);
    out.assert_code(125);
    assert!(out.stderr.contains("authentication required"), "{out}");

    // docker's own config.json is read too (base64 user:pass under `auths`).
    let dc = b.scratch("docker-config");
    let token = {
        let raw = format!("{USER}:{PASSWORD}");
        base64(raw.as_bytes())
    };
    std::fs::write(
        dc.join("config.json"),
        serde_json::json!({"auths": {host.clone(): {"auth": token}}}).to_string(),
    )
    .unwrap();
    let out = b
        .cmd()
        .env("DOCKER_CONFIG", &dc.to_string_lossy())
        .args([
            "pull",
            &format!("{host}/secure/app@{}", img.manifest_digest),
        ])
        .timeout(LONG)
        .run();
    out.assert_ok();
    b.assert_no_leaks();
}

/// Plain base64 (the tests crate has no base64 dependency).
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn push_then_pull_back_by_digest() {
    let b = Berth::new();
    let src = Registry::plain();
    // A layer over 1 MiB goes up chunked (PATCH + PUT), the small ones monolithic.
    let work = b.scratch("layers");
    let big = layer_from_dir(&work, &dir_with_random(&work, 3), Compression::Gzip, false);
    let img = ImageSpec::new(
        vec![
            busybox_layer(&b, Compression::Gzip, false),
            big,
            marker_layer(&b, "pushed.txt", "pushed\n", Compression::Zstd, false),
        ],
        "amd64",
        false,
    );
    src.push_image("app", "1", &img);
    pull(&b, &[&format!("{}/app:1", src.host())]).assert_ok();

    // Re-tag to a name in another repository is `berth tag`'s job: push needs it.
    let dst = Registry::plain();
    let out = b.run(&["push", &format!("{}/app:1", dst.host())]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("does not exist locally") && out.stderr.contains("berth tag"),
        "{out}"
    );

    // Push to the same name on a fresh, empty registry on the same port.
    let port = src.port;
    drop(src);
    let fresh = Registry::plain_on(port);
    let name = format!("{}/app:1", fresh.host());
    let out = b.cmd().args(["push", &name]).timeout(LONG).run();
    out.assert_ok();
    assert!(
        out.stdout.contains(&format!(
            "The push refers to repository [{}/app]",
            fresh.host()
        )),
        "{out}"
    );
    assert_eq!(out.stdout.matches(": Pushed").count(), 3, "{out}");
    assert!(
        out.stdout
            .contains(&format!("1: digest: {}", img.manifest_digest)),
        "{out}"
    );
    assert_eq!(
        fresh.get_manifest("app", "1").as_deref(),
        Some(img.manifest.as_slice()),
        "the registry holds other manifest bytes"
    );
    // A second push finds everything there.
    let out = b.cmd().args(["push", &name]).timeout(LONG).run();
    out.assert_ok();
    assert_eq!(
        out.stdout.matches("Layer already exists").count(),
        3,
        "{out}"
    );

    // Pull back by digest into another store.
    let b2 = Berth::new();
    let by_digest = format!("{}/app@{}", fresh.host(), img.manifest_digest);
    let out = pull(&b2, &[&by_digest]);
    out.assert_ok();
    let rec = image_record(b2.root(), &by_digest).expect("record by digest");
    assert_eq!(rec["config"], img.config_digest.as_str());
    for l in &img.layers {
        assert!(has_blob(b2.root(), &l.digest));
    }
    assert!(snapshot_file(b2.root(), "pushed.txt").is_some());
    b.assert_no_leaks();
    b2.assert_no_leaks();
}

#[test]
fn resume_after_kill_during_pull() {
    let b = Berth::new();
    let reg = Registry::plain();
    let work = b.scratch("layers");
    let big = layer_from_dir(
        &work,
        &dir_with_random(&work, 192),
        Compression::None,
        false,
    );
    let big_digest = big.digest.clone();
    let big_size = big.size;
    let img = ImageSpec::new(vec![big], "amd64", false);
    reg.push_image("big", "1", &img);
    let name = format!("{}/big:1", reg.host());

    let ingest = b
        .root()
        .join("content/ingest")
        .join(big_digest.trim_start_matches("sha256:"));
    let mut child = std::process::Command::new(berth_bin())
        .arg("--root")
        .arg(b.root())
        .args(["pull", "-q", &name])
        .env("BERTH_STATE", b.state())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed_at = 0;
    while Instant::now() < deadline {
        let len = std::fs::metadata(&ingest).map(|m| m.len()).unwrap_or(0);
        if len >= 8 << 20 {
            let _ = child.kill(); // SIGKILL
            killed_at = len;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let _ = child.wait();
    assert!(killed_at > 0, "the pull finished before it could be killed");
    let partial = std::fs::metadata(&ingest)
        .expect("partial ingest kept")
        .len();
    assert!(
        partial > 0 && partial < big_size,
        "partial {partial} of {big_size}"
    );
    assert!(!has_blob(b.root(), &big_digest));

    let out = pull(&b, &[&name]);
    out.assert_ok();
    assert!(has_blob(b.root(), &big_digest));
    assert_eq!(
        sha256_file(
            &b.root()
                .join("content/blobs/sha256")
                .join(big_digest.trim_start_matches("sha256:"))
        ),
        big_digest
    );
    // The second download asked only for the rest: a 206 for a Range request.
    let gets = reg.blob_gets(&big_digest);
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[1], 206, "{gets:?}");
    assert!(!ingest.exists(), "the ingest was not moved into place");
    b.assert_no_leaks();
}

#[test]
fn corrupted_blob_is_a_digest_error() {
    let b = Berth::new();
    let reg = Registry::plain();
    let work = b.scratch("layers");
    let layer = layer_from_dir(&work, &dir_with_random(&work, 1), Compression::Gzip, false);
    let digest = layer.digest.clone();
    let img = ImageSpec::new(vec![layer], "amd64", false);
    reg.push_image("bad", "1", &img);
    // Same size, other bytes: only the digest can tell.
    let data = reg.blob_data(&digest);
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();

    let name = format!("{}/bad:1", reg.host());
    let out = pull(&b, &[&name]);
    out.assert_code(125);
    assert!(
        out.stderr.contains("digest mismatch") && out.stderr.contains(&digest),
        "{out}"
    );
    assert!(!has_blob(b.root(), &digest));
    assert!(image_record(b.root(), &name).is_none());
    b.assert_no_leaks();
}

#[test]
fn plain_http_refused_for_remote_registries() {
    let b = Berth::new();
    let start = Instant::now();
    let out = pull(&b, &["--plain-http", "registry.example.invalid:5000/app:1"]);
    out.assert_code(125);
    assert!(
        out.stderr
            .contains("refusing plain HTTP to registry.example.invalid:5000")
            && out.stderr.contains("BERTH_INSECURE_REGISTRIES"),
        "{out}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    b.assert_no_leaks();
}

#[test]
fn imported_image_tag_push_pull_run() {
    let b = Berth::new();
    let reg = Registry::plain();
    b.import_busybox("app");
    let name = format!("{}/app:1", reg.host());
    // Stored as `app`: pushing it under the registry name needs `berth tag` first.
    let out = b.run(&["push", &name]);
    out.assert_code(125);
    assert!(out.stderr.contains("berth tag"), "{out}");
    b.run(&["tag", "app", &name]).assert_ok();
    let out = b.cmd().args(["push", &name]).timeout(LONG).run();
    out.assert_ok();
    let local = image_record(b.root(), &name).expect("tagged record");
    assert!(
        out.stdout.contains(&format!(
            "1: digest: {}",
            local["manifest"].as_str().unwrap()
        )),
        "{out}"
    );

    let b2 = Berth::new();
    let out = pull(&b2, &[&name]);
    out.assert_ok();
    let rec = image_record(b2.root(), &name).expect("pulled record");
    assert_eq!(rec["manifest"], local["manifest"]);
    assert_eq!(rec["config"], local["config"]);
    // Unpacked at pull time: the container starts from the snapshots.
    let out = b2
        .cmd()
        .args(["run", "--rm", &name, "/bin/echo", "pulled and running"])
        .timeout(LONG)
        .run();
    out.assert_ok();
    assert!(out.stdout.contains("pulled and running"), "{out}");
    b.assert_no_leaks();
    b2.assert_no_leaks();
}

#[test]
fn run_pulls_a_missing_image_as_docker_does() {
    let b = Berth::new();
    let reg = Registry::plain();
    b.import_busybox("app");
    let name = format!("{}/auto:1", reg.host());
    b.run(&["tag", "app", &name]).assert_ok();
    b.cmd()
        .args(["push", &name])
        .timeout(LONG)
        .run()
        .assert_ok();

    let b2 = Berth::new();
    // --pull never: a clear error, nothing fetched.
    let out = b2.run(&["run", "--rm", "--pull", "never", &name, "true"]);
    out.assert_code(125);
    assert!(out.stderr.contains("Unable to find image"), "{out}");
    assert!(image_record(b2.root(), &name).is_none());
    // The default (missing): pulled, progress on stderr, the container's
    // output alone on stdout.
    let out = b2
        .cmd()
        .args(["run", "--rm", &name, "/bin/echo", "auto-pulled"])
        .timeout(LONG)
        .run();
    out.assert_ok();
    assert_eq!(out.stdout, "auto-pulled\n", "{out}");
    assert!(out.stderr.contains("Unable to find image"), "{out}");
    assert!(
        out.stderr.contains("Status: Downloaded newer image"),
        "{out}"
    );
    // Now stored: no second pull.
    let out = b2.run(&["run", "--rm", &name, "/bin/echo", "again"]);
    out.assert_ok();
    assert!(!out.stderr.contains("Pulling"), "{out}");
    // --pull always: checks the registry again.
    let out = b2
        .cmd()
        .args(["create", "--pull", "always", &name, "true"])
        .timeout(LONG)
        .run();
    out.assert_ok();
    assert!(out.stderr.contains("Image is up to date"), "{out}");
    assert_eq!(
        out.stdout.trim().len(),
        64,
        "create prints only the id: {out}"
    );
    let out = b2.run(&["run", "--pull", "sometimes", &name, "true"]);
    out.assert_code(125);
    assert!(out.stderr.contains("--pull"), "{out}");
    b2.run(&["rm", out_id(&b2).as_str()]).assert_ok();
    b.assert_no_leaks();
    b2.assert_no_leaks();
}

fn out_id(b: &Berth) -> String {
    b.run(&["ps", "-a", "-q", "--no-trunc"])
        .stdout
        .trim()
        .to_string()
}
