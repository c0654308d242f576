//! `berth pull` against a fake registry (a small HTTP server in this test) that
//! answers malformed and malicious things: a manifest or blob whose bytes do not
//! match their digest, a blob body that never ends, a manifest far too big, a
//! manifest with a content type that is no manifest's, and redirect loops. Each
//! answer's error is checked, and nothing is left in the content store.

use berth_tests::manager::Berth;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn sha(b: &[u8]) -> String {
    berth_tests::registry::sha256_bytes(b)
}

/// What the fake registry answers to one request.
enum Answer {
    Body {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// 200 and bytes forever (no length; the server stops when the client goes).
    Endless,
    Redirect(String),
    /// 401 with this `WWW-Authenticate` header.
    Challenge(String),
}

fn ok(content_type: &str, body: &[u8]) -> Answer {
    Answer::Body {
        status: 200,
        content_type: content_type.into(),
        body: body.to_vec(),
    }
}

/// A registry on 127.0.0.1 answering `route(method, path)`; runs until the
/// test process ends (each connection in its own thread).
fn serve(route: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let route = std::sync::Arc::new(route);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let route = route.clone();
            std::thread::spawn(move || {
                let _ = handle(s, &*route);
            });
        }
    });
    addr
}

fn handle(s: TcpStream, route: &dyn Fn(&str, &str) -> Answer) -> std::io::Result<()> {
    handle_h(s, &|m, p, _| route(m, p))
}

/// A server on `ip` answering `route(method, path, request headers)`.
fn serve_on(
    ip: &str,
    route: impl Fn(&str, &str, &str) -> Answer + Send + Sync + 'static,
) -> String {
    let l = TcpListener::bind(format!("{ip}:0")).unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let route = std::sync::Arc::new(route);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let route = route.clone();
            std::thread::spawn(move || {
                let _ = handle_h(s, &*route);
            });
        }
    });
    addr
}

fn handle_h(s: TcpStream, route: &dyn Fn(&str, &str, &str) -> Answer) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut first = String::new();
    r.read_line(&mut first)?;
    let mut headers = String::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        headers.push_str(&h);
    }
    let mut f = first.split_whitespace();
    let (method, path) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
    let mut w = s;
    if path == "/v2/" || path == "/v2" {
        return w.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        );
    }
    match route(method, path, &headers) {
        Answer::Body {
            status,
            content_type,
            body,
        } => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            w.write_all(head.as_bytes())?;
            if method != "HEAD" {
                w.write_all(&body)?;
            }
        }
        Answer::Endless => {
            w.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
            )?;
            let chunk = vec![0u8; 64 << 10];
            let end = Instant::now() + Duration::from_secs(120);
            while Instant::now() < end {
                w.write_all(&chunk)?;
            }
        }
        Answer::Redirect(to) => {
            let head = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            w.write_all(head.as_bytes())?;
        }
        Answer::Challenge(c) => {
            let head = format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {c}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            );
            w.write_all(head.as_bytes())?;
        }
    }
    Ok(())
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// An image: (config bytes, layer bytes, manifest bytes).
fn image() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let layer = tar_with_file();
    let diff = sha(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#
    )
    .into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
        sha(&config),
        config.len(),
        sha(&layer),
        layer.len()
    )
    .into_bytes();
    (config, layer, manifest)
}

fn tar_with_file() -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..5].copy_from_slice(b"hello");
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(b"00000000003");
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = h.to_vec();
    let mut data = b"hi\n".to_vec();
    data.resize(512, 0);
    out.extend(data);
    out.extend([0u8; 1024]);
    out
}

fn berth() -> Berth {
    berth_tests::init();
    Berth::new()
}

/// `berth pull REF` (bounded: a hang is a failure too).
fn pull(b: &Berth, reference: &str) -> berth_tests::Output {
    b.cmd()
        .env(
            "DOCKER_CONFIG",
            &b.scratch("no-docker-config").to_string_lossy(),
        )
        .args(["pull", reference])
        .timeout(Duration::from_secs(90))
        .run()
}

/// Nothing of a failed pull stays in the store: no image, and no blob but
/// those in `verified` (blobs that arrived whole and matched their digest
/// before the bad answer came; the store is content-addressed).
fn assert_store_clean(b: &Berth, verified: &[String]) {
    let blobs = b.root().join("content/blobs/sha256");
    let left: Vec<_> = std::fs::read_dir(&blobs)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let left: Vec<_> = left
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            !verified.iter().any(|v| v.ends_with(&*name))
        })
        .collect();
    assert!(left.is_empty(), "blobs left in the store: {left:?}");
    let imgs = b.run(&["images", "-q"]);
    assert_eq!(imgs.assert_ok().stdout.trim(), "", "an image was recorded");
}

fn expect_failure(b: &Berth, reference: &str, needles: &[&str], verified: &[String]) {
    let t = Instant::now();
    let out = pull(b, reference);
    assert_ne!(out.code, Some(0), "pull of {reference} succeeded: {out}");
    let err = out.stderr.to_lowercase();
    assert!(
        needles.iter().any(|n| err.contains(&n.to_lowercase())),
        "{reference}: the error names none of {needles:?}: {out}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(80),
        "{reference}: too slow"
    );
    eprintln!("{reference}: {}", out.stderr.trim());
    assert_store_clean(b, verified);
}

/// Sanity: the well-formed image pulls from the fake registry.
#[test]
fn a_good_answer_pulls() {
    let (config, layer, manifest) = image();
    let (c, l, m) = (sha(&config), sha(&layer), manifest.clone());
    let addr = serve(move |_, path| {
        if path.ends_with("/manifests/v1") {
            ok(OCI_MANIFEST, &m)
        } else if path.ends_with(&c) {
            ok("application/octet-stream", &config)
        } else if path.ends_with(&l) {
            ok("application/octet-stream", &layer)
        } else {
            Answer::Body {
                status: 404,
                content_type: "application/json".into(),
                body: br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}"#.to_vec(),
            }
        }
    });
    let b = berth();
    pull(&b, &format!("{addr}/fake/img:v1")).assert_ok();
    let imgs = b.run(&["images", "-q"]);
    assert_ne!(imgs.assert_ok().stdout.trim(), "");
}

#[test]
fn a_manifest_that_is_not_its_digest_is_refused() {
    let (_, _, manifest) = image();
    let claimed = sha(b"something else");
    let addr = serve(move |_, _| ok(OCI_MANIFEST, &manifest));
    let b = berth();
    expect_failure(&b, &format!("{addr}/fake/img@{claimed}"), &["digest"], &[]);
}

#[test]
fn a_blob_that_is_not_its_digest_is_refused() {
    let (config, layer, manifest) = image();
    let c = sha(&config);
    let cd = c.clone();
    let addr = serve(move |_, path| {
        if path.contains("/manifests/") {
            ok(OCI_MANIFEST, &manifest)
        } else if path.ends_with(&cd) {
            ok("application/octet-stream", &config)
        } else if path.contains("/blobs/") {
            // the right length, the wrong bytes
            let mut bad = layer.clone();
            bad[600] ^= 0xff;
            ok("application/octet-stream", &bad)
        } else {
            ok("text/plain", b"")
        }
    });
    let b = berth();
    expect_failure(&b, &format!("{addr}/fake/img:v1"), &["digest"], &[c]);
}

#[test]
fn an_endless_blob_is_cut_off() {
    let (config, _, manifest) = image();
    let c = sha(&config);
    let cd = c.clone();
    let addr = serve(move |_, path| {
        if path.contains("/manifests/") {
            ok(OCI_MANIFEST, &manifest)
        } else if path.ends_with(&cd) {
            ok("application/octet-stream", &config)
        } else {
            Answer::Endless
        }
    });
    let b = berth();
    expect_failure(
        &b,
        &format!("{addr}/fake/img:v1"),
        &["expected 2048 bytes"],
        &[c],
    );
}

#[test]
fn a_huge_manifest_is_refused() {
    let addr = serve(|_, path| {
        if path.contains("/manifests/") {
            let mut big = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":""#.to_vec();
            big.resize(20 << 20, b'a');
            big.extend_from_slice(br#""}}"#);
            ok(OCI_MANIFEST, &big)
        } else {
            ok("text/plain", b"")
        }
    });
    let b = berth();
    expect_failure(
        &b,
        &format!("{addr}/fake/img:v1"),
        &["too big", "too large", "limit", "size", "exceed"],
        &[],
    );
}

#[test]
fn an_endless_manifest_is_refused() {
    let addr = serve(|_, _| Answer::Endless);
    let b = berth();
    expect_failure(
        &b,
        &format!("{addr}/fake/img:v1"),
        &[
            "too big",
            "too large",
            "limit",
            "size",
            "exceed",
            "manifest",
        ],
        &[],
    );
}

#[test]
fn a_manifest_with_a_foreign_content_type_is_refused() {
    let addr = serve(|_, path| {
        if path.contains("/manifests/") {
            ok("text/html", b"<html>login here</html>")
        } else {
            ok("text/plain", b"")
        }
    });
    let b = berth();
    expect_failure(
        &b,
        &format!("{addr}/fake/img:v1"),
        &["text/html", "media type", "content type", "manifest"],
        &[],
    );
}

#[test]
fn a_redirect_loop_ends_in_an_error() {
    let (config, _, manifest) = image();
    let c = sha(&config);
    let cd = c.clone();
    let addr = serve(move |_, path| {
        if path.contains("/manifests/") {
            ok(OCI_MANIFEST, &manifest)
        } else if path.ends_with(&cd) {
            ok("application/octet-stream", &config)
        } else {
            // to itself, forever
            Answer::Redirect(path.to_string())
        }
    });
    let b = berth();
    expect_failure(&b, &format!("{addr}/fake/img:v1"), &["redirect"], &[c]);
}

#[test]
fn a_redirect_to_another_host_serving_other_bytes_is_refused() {
    let (config, layer, manifest) = image();
    let (c, l) = (sha(&config), sha(&layer));
    let verified = [c.clone()];
    // "another host": a second server, on 127.0.0.2, with the wrong bytes
    let mut evil = layer.clone();
    evil[600] ^= 0xff;
    let other = {
        let l = TcpListener::bind("127.0.0.2:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let evil = evil.clone();
                std::thread::spawn(move || {
                    let _ = handle(s, &|_, _| ok("application/octet-stream", &evil));
                });
            }
        });
        addr
    };
    let addr = serve(move |_, path| {
        if path.contains("/manifests/") {
            ok(OCI_MANIFEST, &manifest)
        } else if path.ends_with(&c) {
            ok("application/octet-stream", &config)
        } else if path.ends_with(&l) {
            Answer::Redirect(format!("http://{other}/storage/blob"))
        } else {
            ok("text/plain", b"")
        }
    });
    let b = berth();
    expect_failure(&b, &format!("{addr}/fake/img:v1"), &["digest"], &verified);
}

// ---- authentication: where the credentials go ----

/// The `Authorization` header of a request's headers, if any.
fn authorization(headers: &str) -> Option<String> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("authorization")
            .then(|| v.trim().to_string())
    })
}

type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

/// A registry on 127.0.0.1 that wants a bearer token from `realm`, and sends
/// its layer blob to `blob_url` (a redirect); it records what it was sent.
fn bearer_registry(realm: String, blob_url: String, seen: Seen) -> String {
    let (config, layer, manifest) = image();
    let (c, l) = (sha(&config), sha(&layer));
    serve_on("127.0.0.1", move |_, path, headers| {
        let auth = authorization(headers);
        seen.lock().unwrap().push((path.to_string(), auth.clone()));
        if auth.as_deref() != Some("Bearer tok-123") {
            return Answer::Challenge(format!("Bearer realm=\"{realm}\",service=\"fake\""));
        }
        if path.contains("/manifests/") {
            ok(OCI_MANIFEST, &manifest)
        } else if path.ends_with(&c) {
            ok("application/octet-stream", &config)
        } else if path.ends_with(&l) {
            Answer::Redirect(blob_url.clone())
        } else {
            ok("text/plain", b"")
        }
    })
}

fn login(b: &Berth, addr: &str) {
    b.cmd()
        .env(
            "DOCKER_CONFIG",
            &b.scratch("no-docker-config").to_string_lossy(),
        )
        .args(["login", "-u", "u", "-p", "p4ss", addr])
        .timeout(Duration::from_secs(60))
        .run()
        .assert_ok();
}

/// The realm is another host (as Docker Hub's): the login's basic
/// credentials go to it (docker sends them there too) and to no one else;
/// the token goes to the registry only; the blob redirect to a third host
/// gets neither.
#[test]
fn credentials_go_to_the_realm_and_the_token_to_the_registry_never_to_a_redirect() {
    let (_, layer, _) = image();
    let basic = "Basic dTpwNHNz"; // base64("u:p4ss")
    let token_seen: Seen = Default::default();
    let blob_seen: Seen = Default::default();
    let reg_seen: Seen = Default::default();
    let ts = token_seen.clone();
    let token_host = serve_on("127.0.0.2", move |_, path, headers| {
        let auth = authorization(headers);
        ts.lock().unwrap().push((path.to_string(), auth.clone()));
        if auth.as_deref() == Some(basic) {
            ok("application/json", br#"{"token":"tok-123"}"#)
        } else {
            Answer::Body {
                status: 401,
                content_type: "application/json".into(),
                body: b"{}".to_vec(),
            }
        }
    });
    let bs = blob_seen.clone();
    let blob_host = serve_on("127.0.0.3", move |_, path, headers| {
        bs.lock()
            .unwrap()
            .push((path.to_string(), authorization(headers)));
        ok("application/octet-stream", &layer)
    });
    let addr = bearer_registry(
        format!("http://{token_host}/token"),
        format!("http://{blob_host}/storage/blob"),
        reg_seen.clone(),
    );
    let b = berth();
    login(&b, &addr);
    let out = pull(&b, &format!("{addr}/fake/img:v1"));
    out.assert_ok();
    let blobs = blob_seen.lock().unwrap().clone();
    assert!(!blobs.is_empty(), "the blob host was never asked");
    assert!(
        blobs.iter().all(|(_, a)| a.is_none()),
        "the redirect target got credentials: {blobs:?}"
    );
    let tokens = token_seen.lock().unwrap().clone();
    assert!(
        tokens.iter().all(|(_, a)| a.as_deref() == Some(basic)),
        "{tokens:?}"
    );
    let reg = reg_seen.lock().unwrap().clone();
    assert!(
        reg.iter()
            .all(|(_, a)| a.is_none() || a.as_deref() == Some("Bearer tok-123")),
        "the registry got something other than its token: {reg:?}"
    );
    assert!(reg
        .iter()
        .any(|(_, a)| a.as_deref() == Some("Bearer tok-123")));
}

/// A realm over plain HTTP on a host that is neither loopback nor an
/// insecure registry: the credentials are not sent there, by name.
#[test]
fn a_plain_http_realm_elsewhere_gets_no_credentials() {
    let seen: Seen = Default::default();
    // 192.0.2.1 (TEST-NET-1): never reached, the refusal comes first
    let addr = bearer_registry(
        "http://192.0.2.1/token".into(),
        "http://127.0.0.1:1/none".into(),
        seen,
    );
    let b = berth();
    let out = b
        .cmd()
        .env(
            "DOCKER_CONFIG",
            &b.scratch("no-docker-config").to_string_lossy(),
        )
        .args(["login", "-u", "u", "-p", "p4ss", &addr])
        .timeout(Duration::from_secs(60))
        .run();
    // login's GET /v2/ is answered 200 without a challenge by the fake: store
    // the credentials, then the pull meets the realm
    out.assert_ok();
    expect_failure(
        &b,
        &format!("{addr}/fake/img:v1"),
        &["refusing to send credentials to the token realm http://192.0.2.1/token over plain HTTP"],
        &[],
    );
}

/// A token endpoint answering garbage, or a body without end: refused by name.
#[test]
fn a_garbage_or_endless_token_answer_is_refused() {
    for (garbage, needle) in [(true, "is not JSON"), (false, "is over 1024 KiB")] {
        let token_host = serve_on("127.0.0.2", move |_, _, _| {
            if garbage {
                ok("text/html", b"<html>no token here</html>")
            } else {
                Answer::Endless
            }
        });
        let addr = bearer_registry(
            format!("http://{token_host}/token"),
            "http://127.0.0.1:1/none".into(),
            Default::default(),
        );
        let b = berth();
        expect_failure(
            &b,
            &format!("{addr}/fake/img:v1"),
            &[&format!(
                "the token response from http://{token_host}/token {needle}"
            )],
            &[],
        );
    }
}
