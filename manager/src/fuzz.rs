//! Fuzzing of the manager's parsers of untrusted input (layers, archives,
//! manifests, image config changes, compose files, Dockerfiles, the shim's
//! protocol) through the shared stable-toolchain harness (the `berth-fuzz`
//! crate: seeds + mutation, crashes saved and failing the test). The seeds
//! carry the structure (hostile tar layers, archives, manifests...).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Run a manager target (corpus under `manager/fuzz/corpus/`).
pub fn run(target: &str, seeds: Vec<Vec<u8>>, f: impl Fn(&[u8])) -> u64 {
    berth_fuzz::run(target, Path::new(env!("CARGO_MANIFEST_DIR")), seeds, f)
}

/// A fresh scratch directory under the test's temp dir.
fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "berth-fuzz-{name}-{}-{:x}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_tag()
    ));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("scratch dir");
    p
}

fn rand_tag() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) as u128
}

/// A tar made by hand: (name, type, data, link name), with the header fields
/// written raw so that hostile names (absolute, `..`) survive.
pub fn raw_tar(entries: &[(&str, u8, &[u8], &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, data, link) in entries {
        let mut h = [0u8; 512];
        let n = name.as_bytes();
        h[..n.len().min(100)].copy_from_slice(&n[..n.len().min(100)]);
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        let size = format!("{:011o}", data.len());
        h[124..135].copy_from_slice(size.as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = *kind;
        let l = link.as_bytes();
        h[157..157 + l.len().min(100)].copy_from_slice(&l[..l.len().min(100)]);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// The hostile-layer corpus: traversal, absolute and relative symlink escapes and
/// writes through them, hard links to host files, whiteouts of `..`, devices, a
/// huge declared size, a deep tree, and a gzip bomb's head.
pub fn hostile_layers() -> Vec<Vec<u8>> {
    let deep = "a/".repeat(45) + "f";
    let mut v = vec![
        raw_tar(&[("../escape", b'0', b"x", "")]),
        raw_tar(&[("/abs", b'0', b"x", "")]),
        raw_tar(&[("a/../../escape", b'0', b"x", "")]),
        raw_tar(&[("link", b'2', b"", "/etc"), ("link/passwd", b'0', b"x", "")]),
        raw_tar(&[
            ("link", b'2', b"", "../../../../etc"),
            ("link/x", b'0', b"x", ""),
        ]),
        raw_tar(&[
            ("d", b'5', b"", ""),
            ("d/l", b'2', b"", ".."),
            ("d/l/l2", b'2', b"", ".."),
            ("d/l/l2/x", b'0', b"x", ""),
        ]),
        raw_tar(&[("hard", b'1', b"", "/etc/passwd")]),
        raw_tar(&[("hard", b'1', b"", "../../etc/passwd")]),
        raw_tar(&[
            ("f", b'0', b"x", ""),
            ("hard", b'1', b"", "f"),
            ("hard", b'0', b"overwrite", ""),
        ]),
        raw_tar(&[(".wh...", b'0', b"", "")]),
        raw_tar(&[("a/.wh...", b'0', b"", "")]),
        raw_tar(&[(".wh..wh..opq", b'0', b"", "")]),
        raw_tar(&[
            ("null", b'3', b"", ""),
            ("blk", b'4', b"", ""),
            ("fifo", b'6', b"", ""),
        ]),
        raw_tar(&[(&deep, b'0', b"x", "")]),
        raw_tar(&[
            ("f", b'0', b"", ""),
            ("f", b'5', b"", ""),
            ("f/x", b'0', b"x", ""),
        ]),
    ];
    // A declared size far beyond the data.
    let mut huge = raw_tar(&[("big", b'0', b"", "")]);
    huge[124..135].copy_from_slice(b"77777777777");
    v.push(huge);
    // gzip of a long run of zeros (a decompression bomb's start).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = gz.write_all(&vec![0u8; 1 << 20]);
    if let Ok(b) = gz.finish() {
        v.push(b);
    }
    v
}

/// The files under `dir`, recursively (names only), to see what extraction left.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.clone());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(tree(&p));
            }
        }
    }
    out
}

/// Extract `input` as a layer into `outer/layer`; nothing may appear in `outer`
/// besides the layer directory.
pub fn extract_confined(input: &[u8]) {
    let outer = scratch("layer");
    let dest = outer.join("layer");
    std::fs::create_dir(&dest).expect("layer dir");
    let blob = outer.join("blob");
    std::fs::write(&blob, input).expect("blob");
    let file = std::fs::File::open(&blob).expect("open blob");
    let digest = crate::store::Digest::sha256(input);
    let _ = crate::snapshot::extract::extract_layer(&file, &digest, None, &dest);
    drop(file);
    let _ = std::fs::remove_file(&blob);
    let left: Vec<PathBuf> = tree(&outer)
        .into_iter()
        .filter(|p| !p.starts_with(&dest))
        .collect();
    assert!(
        left.is_empty(),
        "extraction wrote outside the layer: {left:?}"
    );
    let _ = std::fs::remove_dir_all(&outer);
}

#[cfg(test)]
mod targets {
    use super::*;

    #[test]
    fn fuzz_tar_layer() {
        run("tar_layer", hostile_layers(), extract_confined);
    }

    #[test]
    fn fuzz_manifest() {
        let seeds = vec![
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1,"platform":{"architecture":"amd64","os":"linux"}}]}"#.to_vec(),
            br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:00","size":1},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:00","size":-1}]}"#.to_vec(),
            br#"{"manifests":[{"platform":{"architecture":"arm","os":"linux","variant":"v7"}}]}"#.to_vec(),
        ];
        let types = [
            "",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "text/plain; charset=utf-8",
        ];
        run("manifest", seeds, |input| {
            let ct = types[input.len() % types.len()];
            let _ = crate::registry::manifest::classify(ct, input);
            if let Ok(index) = serde_json::from_slice::<crate::registry::manifest::Index>(input) {
                let _ = crate::registry::manifest::select(
                    &index,
                    &crate::registry::manifest::Platform::host(),
                );
            }
            if let Ok(p) = std::str::from_utf8(input) {
                let _ = crate::registry::manifest::Platform::parse(p);
            }
        });
    }

    #[test]
    fn fuzz_image_config_changes() {
        let seeds: Vec<Vec<u8>> = [
            "CMD [\"sh\"]",
            "ENV A=b C=\"d e\"",
            "EXPOSE 80/tcp 53/udp",
            "LABEL a=b",
            "USER 1000:1000",
            "WORKDIR /x",
            "ENTRYPOINT sh -c",
            "VOLUME [\"/a\",\"/b\"]",
            "STOPSIGNAL SIGKILL",
            "ONBUILD RUN x",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        run("image_config", seeds, |input| {
            let mut cfg = serde_json::json!({"config": {}});
            let _ = crate::image::config::apply_change(&mut cfg, &String::from_utf8_lossy(input));
        });
    }

    #[test]
    fn fuzz_archive_load() {
        let layer = raw_tar(&[("etc/x", b'0', b"x", "")]);
        let digest = crate::store::Digest::sha256(&layer);
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let cdigest = crate::store::Digest::sha256(config);
        let manifest = format!(
            r#"[{{"Config":"{}.json","RepoTags":["x:latest"],"Layers":["{}/layer.tar"]}}]"#,
            cdigest.hex(),
            digest.hex()
        );
        let docker = raw_tar(&[
            ("manifest.json", b'0', manifest.as_bytes(), ""),
            (&format!("{}.json", cdigest.hex()), b'0', config, ""),
            (&format!("{}/layer.tar", digest.hex()), b'0', &layer, ""),
        ]);
        let oci = raw_tar(&[
            ("oci-layout", b'0', br#"{"imageLayoutVersion":"1.0.0"}"#, ""),
            ("index.json", b'0', br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:ab","size":3}]}"#, ""),
            ("blobs/sha256/../../escape", b'0', b"x", ""),
        ]);
        run("archive", vec![docker, oci], |input| {
            let root = scratch("archive");
            let store = root.join("store");
            std::fs::create_dir(&store).expect("store dir");
            let _ = crate::archive::load::load(&store, input);
            let left: Vec<PathBuf> = tree(&root)
                .into_iter()
                .filter(|p| !p.starts_with(&store))
                .collect();
            assert!(left.is_empty(), "load wrote outside the store: {left:?}");
            let _ = std::fs::remove_dir_all(&root);
        });
    }

    #[test]
    fn fuzz_shim_protocol() {
        let mut frame = Vec::new();
        berth_shim_protocol::frame(&mut frame, 1, b"hello");
        let seeds = vec![
            frame,
            br#"{"Exec":{"args":["sh"],"tty":false}}"#.to_vec(),
            br#""Status""#.to_vec(),
            vec![0, 0, 0, 4, 3, 0, 80, 0, 24],
        ];
        run("shim_protocol", seeds, |input| {
            if let Some((_, len)) = berth_shim_protocol::decode_header(input) {
                let body = input.get(5..).unwrap_or_default();
                let _ = body.len().min(len);
            }
            let _ = berth_shim_protocol::decode_resize(input);
            let _ = berth_shim_protocol::decode_exit(input);
            let _ = serde_json::from_slice::<berth_shim_protocol::Request>(input);
            let _ = serde_json::from_slice::<berth_shim_protocol::Hello>(input);
        });
    }

    #[test]
    fn fuzz_compose() {
        let seeds: Vec<Vec<u8>> = [
            "services:\n  web:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo ${A:-x}\"]\n    ports: [\"8080:80/tcp\", \"127.0.0.1::53/udp\"]\n    depends_on:\n      db: {condition: service_healthy}\n  db:\n    image: x\n    healthcheck: {test: [\"CMD\", \"true\"], interval: 1s}\n",
            "x-base: &b {image: busybox, environment: {A: \"1\"}}\nservices:\n  a: {<<: *b, volumes: [\"data:/d:ro\", \"./h:/h\"]}\n  b:\n    extends: a\n    profiles: [p]\nvolumes: {data: {}}\nnetworks: {n: {ipam: {config: [{subnet: 10.9.0.0/24}]}}}\n",
            "services:\n  a:\n    build: {context: ., args: [X=1]}\n    deploy: {resources: {limits: {memory: 64m, cpus: \"0.5\"}}}\n    ulimits: {nofile: {soft: 1, hard: 2}}\n    env_file: [../../etc/passwd]\n",
            "services: {a: {image: \"${X:?need X}\", command: $$HOME, labels: [a=b], tmpfs: /t}}\n",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        let dir = scratch("compose");
        run("compose", seeds, |input| {
            let text = String::from_utf8_lossy(input);
            let _ = crate::compose::loader::load_str(&text, &dir, &[("A", "1")]);
        });
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fuzz_dockerfile() {
        let seeds: Vec<Vec<u8>> = [
            "# syntax=docker/dockerfile:1\n# escape=`\nARG BASE=busybox\nFROM ${BASE} AS b\nRUN echo a \\\n  b\nCOPY --from=b --chown=1:1 /a /b\n",
            "FROM scratch\nRUN <<EOF bash\necho hi\nEOF\nCOPY <<-X /f\n\tdata\nX\n",
            "FROM busybox\nENV A=1 B=\"2 3\"\nLABEL \"k\"=\"v\"\nEXPOSE 80/tcp\nHEALTHCHECK --interval=1s CMD true\nONBUILD RUN x\nSHELL [\"/bin/sh\", \"-c\"]\nUSER 1:1\nWORKDIR /w\nVOLUME [\"/v\"]\nENTRYPOINT [\"sh\"]\nCMD [\"-c\", \"true\"]\n",
            "FROM a\nADD --chmod=755 http://x/y /z\nARG X\nRUN --mount=type=cache,target=/c echo $X ${X:-d} ${X:+e}\n",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        run("dockerfile", seeds, |input| {
            let text = String::from_utf8_lossy(input);
            let _ = crate::build::dockerfile::parse(&text);
            let _ = crate::build::dockerfile::exec_form(&text);
            let _ = crate::build::dockerfile::heredoc_markers(&text);
            let _ = crate::build::dockerfile::split_words(&text, '\\');
            let _ = crate::build::dockerfile::split_words(&text, '`');
        });
    }

    /// Every hostile layer of the corpus, once, as a plain unit test.
    #[test]
    fn hostile_layers_stay_inside() {
        for l in hostile_layers() {
            extract_confined(&l);
        }
    }
}
