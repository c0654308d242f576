//! Fuzzing of the runtime's untrusted input: config.json (the bundle's
//! parsing and validation, then what is derived from it without touching the
//! system: mount options, idmap mappings, the seccomp filter) and the
//! command line. Through the shared stable-toolchain harness (`berth-fuzz`);
//! corpora under `runtime/fuzz/corpus/<target>/`.

use std::path::Path;

fn run(target: &str, seeds: Vec<Vec<u8>>, f: impl Fn(&[u8])) -> u64 {
    berth_fuzz::run(target, Path::new(env!("CARGO_MANIFEST_DIR")), seeds, f)
}

/// Everything config.json feeds that is computed, not applied.
fn config_json(dir: &Path, input: &[u8]) {
    if std::fs::write(dir.join("config.json"), input).is_err() {
        return;
    }
    let Ok(b) = crate::bundle::Bundle::load(dir) else {
        return;
    };
    for m in b.spec.mounts().iter().flatten() {
        let _ = crate::rootfs::options::parse(m.options().as_deref().unwrap_or(&[]));
        let _ = crate::rootfs::idmap::mount_mappings(&b.spec, m);
    }
    let _ = crate::rootfs::idmap::rootfs_idmapped(&b.spec);
    if let Some(s) = b.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        let _ = crate::seccomp::build(s);
    }
    let _ = crate::init::namespaces::NsPlan::from_spec(&b.spec);
}

#[test]
fn fuzz_config_json() {
    let dir = std::env::temp_dir().join(format!("berth-rt-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rootfs")).expect("scratch bundle");
    let seeds = vec![
        br#"{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},"root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"mount"},{"type":"pid"}]}}"#.to_vec(),
        br#"{"ociVersion":"1.2.0","process":{"args":["x"],"cwd":"/","user":{"uid":0,"gid":0},"rlimits":[{"type":"RLIMIT_NOFILE","hard":1,"soft":2}],"capabilities":{"bounding":["CAP_FUTURE"]}},"root":{"path":"rootfs"},"mounts":[{"destination":"/x","type":"bind","source":"rel","options":["rbind","idmap","rro","rnoatime"]}],"linux":{"sysctl":{"net.ipv4.ip_forward":"1"},"personality":{"domain":"LINUX32"}}}"#.to_vec(),
    ];
    run("config_json", seeds, |input| config_json(&dir, input));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fuzz_cli() {
    let seeds: Vec<Vec<u8>> = [
        "create\0--bundle\0/b\0--pid-file\0/p\0--console-socket\0/s\0id",
        "--root\0/r\0--log\0/l\0--log-format\0json\0--systemd-cgroup\0run\0-d\0--preserve-fds\x003\0id",
        "exec\0--tty\0--env\0A=b\0--cwd\0/\0--cap\0CAP_KILL\0-p\0/proc.json\0id\0sh\0-c\0x",
        "kill\0--all\0id\0SIGKILL",
        "update\0--memory\x0064m\0--cpu-quota\0-1\0--pids-limit\x0010\0id",
        "ps\0--format\0json\0id\0--\0-ef",
        "events\0--stats\0--interval\x002s\0id",
        "features",
        "state\0id",
        "delete\0--force\0id",
        "checkpoint\0id",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    run("cli", seeds, |input| {
        let args = std::iter::once("berth-runtime".to_string()).chain(
            input
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned()),
        );
        let _ = crate::cli::parse(args);
    });
}
