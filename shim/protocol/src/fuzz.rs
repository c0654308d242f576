//! Fuzzing of the shim's wire formats, which a container's peer or a
//! damaged state file can feed: attach frame streams (a reader that walks
//! frames the way the shim and the manager do), and the control socket's and
//! state files' JSON. Through the shared stable-toolchain harness
//! (`berth-fuzz`); corpora under `shim/protocol/fuzz/corpus/<target>/`.

use super::*;
use std::path::Path;

fn run(target: &str, seeds: Vec<Vec<u8>>, f: impl Fn(&[u8])) -> u64 {
    berth_fuzz::run(target, Path::new(env!("CARGO_MANIFEST_DIR")), seeds, f)
}

/// Walk `buf` as a stream of frames, decoding each payload as its kind
/// says; a frame re-encoded from what was decoded must be the same bytes.
fn walk_frames(mut buf: &[u8]) {
    while let Some((kind, len)) = decode_header(buf) {
        let Some(payload) = buf.get(HEADER_LEN..HEADER_LEN.saturating_add(len)) else {
            // a truncated frame: a reader waits for more bytes
            return;
        };
        match kind {
            RESIZE => {
                if let Some((r, c)) = decode_resize(payload) {
                    assert_eq!(resize_payload(r, c), payload);
                }
            }
            EXIT => {
                if let Some(code) = decode_exit(payload) {
                    assert_eq!(code.to_be_bytes(), payload);
                }
            }
            HELLO => {
                if let Ok(h) = serde_json::from_slice::<Hello>(payload) {
                    let again = serde_json::to_vec(&h).expect("a Hello serializes");
                    assert_eq!(serde_json::from_slice::<Hello>(&again).ok(), Some(h));
                }
            }
            _ => {}
        }
        let mut re = Vec::new();
        frame(&mut re, kind, payload);
        assert_eq!(re, buf[..HEADER_LEN + len]);
        buf = &buf[HEADER_LEN + len..];
    }
}

#[test]
fn fuzz_attach() {
    let mut stream = Vec::new();
    frame(
        &mut stream,
        HELLO,
        br#"{"stdin":true,"stdout":true,"stderr":false}"#,
    );
    frame(&mut stream, STDIN, b"echo hi\n");
    frame(&mut stream, RESIZE, &resize_payload(24, 80));
    frame(&mut stream, STDIN_EOF, b"");
    frame(&mut stream, STDOUT, b"hi\n");
    frame(&mut stream, EXIT, &7i32.to_be_bytes());
    let mut huge = Vec::new();
    huge.push(STDOUT);
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    run(
        "attach",
        vec![stream, huge, vec![RESIZE, 0, 0, 0, 3, 1, 2, 3]],
        walk_frames,
    );
}

#[test]
fn fuzz_control() {
    let seeds: Vec<Vec<u8>> = [
        r#"{"Exec":{"args":["sh"],"tty":false}}"#,
        r#""Status""#,
        r#"{"Kill":{"signal":9}}"#,
        r#"{"ok":{}}"#,
        r#"{"err":{"message":"x"}}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    run("control", seeds, |input| {
        if let Ok(r) = serde_json::from_slice::<Request>(input) {
            let again = serde_json::to_vec(&r).expect("a Request serializes");
            assert!(serde_json::from_slice::<Request>(&again).is_ok());
        }
        let _ = serde_json::from_slice::<Answer<Ack>>(input);
        let _ = serde_json::from_slice::<Answer<ExecResponse>>(input);
        let _ = serde_json::from_slice::<Status>(input);
        let _ = serde_json::from_slice::<Config>(input);
        let _ = serde_json::from_slice::<StartError>(input);
    });
}
