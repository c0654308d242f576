//! Fuzzing of the manager's parsers of untrusted input, on the stable toolchain.
//!
//! Each target is a function of one byte string (cargo-fuzz's `fuzz_target!` shape)
//! called with inputs mutated from a seed corpus (built-in seeds plus the files in
//! `manager/fuzz/corpus/<target>/`) by a small deterministic mutator: bit flips, byte
//! sets to interesting values, insertions, deletions, duplications and splices of two
//! inputs. A panic is a crash: the input is saved under `target/fuzz-crashes/` and the
//! test fails naming the file; each crash found becomes a unit test in `regressions`.
//!
//! Time per target: `BERTH_FUZZ_SECS` (default 1 second, so `cargo test` stays quick;
//! `.ci/run` gives each target more). Why not cargo-fuzz/libFuzzer: it needs nightly
//! (sanitizer flags); cargo-afl needs afl++'s compiler wrapper. This harness has no
//! coverage feedback, so its seeds carry the structure (hostile tar layers, archives,
//! manifests) and mutation explores around them.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: deterministic per target, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'/', b'.', b'0', b'"', b'{', b'}', b'\\',
];

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let b = rng.next() as u8;
                v.splice(i..i, std::iter::repeat_n(b, n));
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let chunk: Vec<u8> = v[i..i + n].to_vec();
                let j = rng.below(len + 1);
                v.splice(j..j, chunk);
            }
            5 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                // an ASCII digit run (sizes, octal tar fields)
                let i = rng.below(len);
                v[i] = b'0' + rng.below(10) as u8;
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn budget() -> Duration {
    let secs = std::env::var("BERTH_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs)
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn crash_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-crashes")
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Silence the panic message of the fuzzing thread only (a caught panic is
/// reported once, with its input); other tests running meanwhile keep theirs.
fn quiet_panics_in_this_thread(on: bool) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                default(info);
            }
        }));
    });
    QUIET.with(|q| q.set(on));
}

/// Run `f` on the seeds, then on mutations of them, for the time budget.
pub fn run(target: &str, mut seeds: Vec<Vec<u8>>, f: impl Fn(&[u8])) -> u64 {
    if let Ok(rd) = std::fs::read_dir(corpus_dir(target)) {
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for p in files {
            if let Ok(b) = std::fs::read(&p) {
                seeds.push(b);
            }
        }
    }
    assert!(!seeds.is_empty(), "{target}: no seeds");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    let end = Instant::now() + budget();
    let mut runs = 0u64;
    let mut i = 0usize;
    quiet_panics_in_this_thread(true);
    let mut crash = None;
    while crash.is_none() && (i < seeds.len() || Instant::now() < end) {
        let input = if i < seeds.len() {
            seeds[i].clone()
        } else {
            let a = &seeds[rng.below(seeds.len())];
            let b = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, a, b)
        };
        i += 1;
        runs += 1;
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&input))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            crash = Some((input, msg));
        }
    }
    quiet_panics_in_this_thread(false);
    if let Some((input, msg)) = crash {
        let dir = crash_dir();
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!(
            "{target}-{}",
            crate::store::Digest::sha256(&input).short()
        ));
        let _ = std::fs::File::create(&path).and_then(|mut f| f.write_all(&input));
        panic!(
            "fuzz target {target} crashed ({msg}) on the input saved as {}",
            path.display()
        );
    }
    eprintln!("fuzz {target}: {runs} runs, no crash");
    runs
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

    /// The harness itself: a target that panics is reported as a crash.
    #[test]
    #[should_panic(expected = "crashed")]
    fn a_panicking_target_is_a_crash() {
        run("selftest", vec![b"boom".to_vec()], |input| {
            assert!(input != b"boom", "found it");
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
