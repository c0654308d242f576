//! berth's fuzzing harness on the stable toolchain, shared by the fuzz
//! targets of the manager, the runtime and the shim's protocol.
//!
//! A target is a function of one byte string (cargo-fuzz's `fuzz_target!`
//! shape) called with inputs mutated from a seed corpus (built-in seeds plus
//! the files in `<crate>/fuzz/corpus/<target>/`) by a small deterministic
//! mutator: bit flips, byte sets to interesting values, insertions,
//! deletions, duplications and splices of two inputs. A panic is a crash:
//! the input is saved under `<workspace>/target/fuzz-crashes/` and the test
//! fails naming the file; each crash found becomes a unit test.
//!
//! Time per target: `BERTH_FUZZ_SECS` (default 1 second, so `cargo test`
//! stays quick; `.ci/run` gives each target more). Why not
//! cargo-fuzz/libFuzzer: it needs nightly (sanitizer flags); cargo-afl needs
//! afl++'s compiler wrapper. Without coverage feedback, the seeds carry the
//! structure and mutation explores around them.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: deterministic per target, so a failure reproduces.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'/', b'.', b'0', b'"', b'{', b'}', b'\\',
];

pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
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
                let b = rng.next_u64() as u8;
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
            _ => v.push(rng.next_u64() as u8),
        }
    }
    v
}

pub fn budget() -> Duration {
    let secs = std::env::var("BERTH_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs)
}

/// `<crate>/fuzz/corpus/<target>/`: the target's corpus files in the repo.
pub fn corpus_dir(crate_dir: &Path, target: &str) -> PathBuf {
    crate_dir.join("fuzz/corpus").join(target)
}

/// `<workspace>/target/fuzz-crashes/` (the workspace: the first directory
/// up from the crate with a Cargo.lock).
fn crash_dir(crate_dir: &Path) -> PathBuf {
    let ws = crate_dir
        .ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .unwrap_or(crate_dir);
    ws.join("target/fuzz-crashes")
}

/// FNV-1a: a stable name for a crash input.
fn fnv(input: &[u8]) -> u64 {
    input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
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

/// Run `f` on the seeds and the corpus files of `crate_dir` (the calling
/// crate's CARGO_MANIFEST_DIR), then on mutations of them, for the time
/// budget. Panics (naming the saved input) if `f` panics on any input.
pub fn run(target: &str, crate_dir: &Path, mut seeds: Vec<Vec<u8>>, f: impl Fn(&[u8])) -> u64 {
    if let Ok(rd) = std::fs::read_dir(corpus_dir(crate_dir, target)) {
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
        let dir = crash_dir(crate_dir);
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{target}-{:016x}", fnv(&input)));
        let _ = std::fs::File::create(&path).and_then(|mut f| f.write_all(&input));
        panic!(
            "fuzz target {target} crashed ({msg}) on the input saved as {}",
            path.display()
        );
    }
    eprintln!("fuzz {target}: {runs} runs, no crash");
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "crashed")]
    fn a_panicking_target_is_a_crash() {
        run(
            "selftest",
            Path::new(env!("CARGO_MANIFEST_DIR")),
            vec![b"boom".to_vec()],
            |input| {
                assert!(input != b"boom", "found it");
            },
        );
    }

    #[test]
    fn mutation_is_deterministic() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        assert_eq!(
            mutate(&mut a, b"hello", b"world"),
            mutate(&mut b, b"hello", b"world")
        );
    }
}
