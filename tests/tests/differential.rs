//! Differential tests: the same bundle under runc and under the runtime under test must
//! give the same observable process environment (as far as the checker reports it).

use berth_tests::*;
use std::collections::BTreeSet;

/// The comparable projection of a checker report.
fn comparable(r: &Value) -> Value {
    let mut env: Vec<String> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    env.sort();
    let mounts: BTreeSet<(String, String)> = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mount_point"].as_str().unwrap().to_string(),
                m["fs_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let fds: BTreeSet<String> = r["fds"].as_object().unwrap().keys().cloned().collect();
    let mut groups: Vec<u64> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap())
        .collect();
    groups.sort();
    json!({
        "pid": r["pid"],
        "uid": [r["uid"], r["euid"], r["suid"]],
        "gid": [r["gid"], r["egid"], r["sgid"]],
        "groups": groups,
        "caps": r["caps"],
        "no_new_privs": r["no_new_privs"],
        "umask": r["umask"],
        "cwd": r["cwd"],
        "hostname": r["hostname"],
        "env": env,
        "rlimits": r["rlimits"],
        "mounts": mounts.into_iter().map(|(p, t)| format!("{p} {t}")).collect::<Vec<_>>(),
        "fds": fds,
        "oom_score_adj": r["oom_score_adj"],
        "tty": r["tty"],
        "uid_map": r["uid_map"],
    })
}

fn compare(name: &str, setup: impl Fn(&mut Bundle)) {
    let Some(runc) = reference_runc() else {
        berth_tests::skip(berth_tests::Skip::MissingPeer("runc"));
        return;
    };
    // One bundle, run by both runtimes (each with its own --root).
    let mut bundle = Bundle::new(name);
    setup(&mut bundle);
    let reference = Runtime::with_bin(runc);
    let under_test = Runtime::new();
    let a = comparable(&reference.run_checker_report(&mut bundle));
    let b = comparable(&under_test.run_checker_report(&mut bundle));
    let obj_a = a.as_object().unwrap();
    let obj_b = b.as_object().unwrap();
    let mut diffs = Vec::new();
    for (k, va) in obj_a {
        let vb = &obj_b[k];
        if va != vb {
            diffs.push(format!(
                "  {k}:\n    runc:         {va}\n    under test:   {vb}"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{name}: the runtime under test differs from runc:\n{}",
        diffs.join("\n")
    );
    assert_no_leaks(&reference, &bundle);
    assert_no_leaks(&under_test, &bundle);
}

#[test]
fn default_bundle_matches_runc() {
    compare("diff-default", |_| {});
}

#[test]
fn customized_process_matches_runc() {
    compare("diff-custom", |b| {
        b.user(1000, 1000, &[2000, 3000])
            .umask(0o077)
            .cwd("/tmp")
            .hostname("differential")
            .env(&["PATH=/bin", "A=1", "B=two words"])
            .rlimits(&[("RLIMIT_NOFILE", 256, 512), ("RLIMIT_NPROC", 64, 128)])
            .no_new_privileges(false)
            .set_process("oomScoreAdj", json!(100));
        b.config["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"],
            "permitted": ["CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"],
        });
    });
}

#[test]
fn readonly_root_and_extra_mounts_match_runc() {
    let src = sys::TempDir::new("diff-src");
    let src_path = src.path().to_path_buf();
    compare("diff-mounts", move |b| {
        b.readonly_root(true)
            .add_mount("/tmp", "tmpfs", "tmpfs", &["nosuid", "size=1m"])
            .add_bind("/data", &src_path, &["ro"])
            .add_namespace("cgroup", None);
        b.config["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/etc/passwd"));
    });
    drop(src);
}

#[test]
fn user_namespace_matches_runc() {
    compare("diff-userns", |b| {
        b.add_namespace("user", None).uid_mappings(0, 300000, 65536);
    });
}
