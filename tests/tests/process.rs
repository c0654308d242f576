//! The container process: args, env, cwd, user, umask, capabilities, rlimits,
//! noNewPrivileges, oomScoreAdj, --preserve-fds, --pid-file, LSM options.

use berth_tests::*;
use std::os::fd::OwnedFd;

#[test]
fn args_are_passed_verbatim() {
    let mut t = Ctx::new("args");
    t.bundle
        .checker(&["echo", "a b", "", "c\"d", "$HOME", "--flag=1"]);
    let id = t.id("c");
    let o = t.rt.run(&id, &t.bundle);
    o.assert_ok();
    assert_eq!(o.stdout, "a b  c\"d $HOME --flag=1\n", "{o}");
    t.assert_no_leaks();
}

#[test]
fn env_is_set_exactly() {
    let mut t = Ctx::new("env");
    t.bundle.env(&[
        "PATH=/bin",
        "FOO=bar",
        "WITH_EQUALS=a=b=c",
        "EMPTY=",
        "SPACES=x y",
    ]);
    let r = t.rt.run_checker_report(&mut t.bundle);
    let got: Vec<String> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = t.bundle.config["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for w in &want {
        assert!(got.contains(w), "{w} missing from {got:?}");
    }
    // Nothing else leaks in from the runtime's environment, except HOME, which runc
    // adds from /etc/passwd when the config does not set it.
    for g in &got {
        assert!(
            want.contains(g) || g.starts_with("HOME="),
            "unexpected variable {g} in the container env {got:?}"
        );
    }
    assert!(
        got.contains(&"HOME=/root".to_string()),
        "HOME not set from /etc/passwd: {got:?}"
    );
    t.assert_no_leaks();
}

#[test]
fn runtime_environment_does_not_leak() {
    let t = Ctx::new("envleak");
    t.bundle.save();
    let id = t.id("c");
    t.rt.track(&id);
    let o =
        t.rt.cmd()
            .env("BERTH_SHOULD_NOT_LEAK", "1")
            .args(["run", "--bundle"])
            .arg(t.bundle.path())
            .arg(&id)
            .run();
    o.assert_ok();
    let r = o.json_line();
    assert!(
        !r["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str().unwrap().starts_with("BERTH_SHOULD_NOT_LEAK")),
        "runtime env leaked into the container: {}",
        r["env"]
    );
    t.assert_no_leaks();
}

#[test]
fn cwd_is_applied() {
    let mut t = Ctx::new("cwd");
    t.bundle.mkdir("/work/dir");
    t.bundle.cwd("/work/dir");
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["cwd"], "/work/dir");
    t.bundle.cwd("/tmp");
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["cwd"], "/tmp");
    t.assert_no_leaks();
}

#[test]
fn user_group_and_additional_gids() {
    let mut t = Ctx::new("user");
    t.bundle.user(1000, 1001, &[3000, 4000]);
    let r = t.rt.run_checker_report(&mut t.bundle);
    for k in ["uid", "euid", "suid"] {
        assert_eq!(r[k], 1000, "{k}");
    }
    for k in ["gid", "egid", "sgid"] {
        assert_eq!(r[k], 1001, "{k}");
    }
    let mut groups: Vec<u64> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap())
        .collect();
    groups.sort();
    groups.dedup();
    groups.retain(|g| *g != 1001); // the primary group may be listed too
    assert_eq!(groups, [3000, 4000], "supplementary groups {}", r["groups"]);
    // A non-root user gets no capabilities unless ambient ones are configured.
    // (The default template's sets hold CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE.)
    assert_eq!(r["caps"]["CapEff"], "0000000000000000");
    assert_eq!(r["caps"]["CapPrm"], "0000000000000000");
    t.assert_no_leaks();
}

#[test]
fn root_user_has_no_extra_groups() {
    let mut t = Ctx::new("rootgroups");
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["uid"], 0);
    assert_eq!(r["gid"], 0);
    let groups: Vec<u64> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap())
        .filter(|g| *g != 0)
        .collect();
    assert!(
        groups.is_empty(),
        "unexpected supplementary groups {groups:?}"
    );
    t.assert_no_leaks();
}

#[test]
fn umask() {
    let mut t = Ctx::new("umask");
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["umask"], "0022", "default umask");
    t.bundle.umask(0o027);
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker report; /checker write /tmp/f; /checker stat /tmp/f",
    );
    assert_eq!(out[0]["umask"], "0027");
    assert_eq!(
        out[2][0]["mode"], 0o640,
        "file created with umask 027: {}",
        out[2]
    );
    t.assert_no_leaks();
}

#[test]
fn capabilities_all_sets() {
    let mut t = Ctx::new("caps");
    let caps = ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"];
    t.bundle.caps_all_sets(&caps);
    let r = t.rt.run_checker_report(&mut t.bundle);
    let mask = cap_mask(&caps);
    assert_eq!(mask, "0000000000000401");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(r["caps"][set], mask.as_str(), "{set}: {}", r["caps"]);
    }
    t.assert_no_leaks();
}

#[test]
fn capabilities_distinct_sets() {
    let mut t = Ctx::new("capsets");
    t.bundle.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"],
        "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "effective": ["CAP_CHOWN"],
        "inheritable": ["CAP_KILL"],
    });
    let r = t.rt.run_checker_report(&mut t.bundle);
    let c = &r["caps"];
    assert_eq!(
        c["CapBnd"],
        cap_mask(&[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_ADMIN"
        ]),
        "{c}"
    );
    assert_eq!(c["CapPrm"], cap_mask(&["CAP_CHOWN", "CAP_KILL"]), "{c}");
    // For uid 0 the kernel sets effective = permitted on execve (legacy root semantics;
    // noNewPrivileges caps permitted at what the runtime set), so `effective` cannot be
    // narrower than `permitted` for a root process.
    assert_eq!(c["CapEff"], cap_mask(&["CAP_CHOWN", "CAP_KILL"]), "{c}");
    assert_eq!(c["CapInh"], cap_mask(&["CAP_KILL"]), "{c}");
    assert_eq!(c["CapAmb"], "0000000000000000", "{c}");

    // No capabilities at all.
    t.bundle.config["process"]["capabilities"] = json!({});
    let r = t.rt.run_checker_report(&mut t.bundle);
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(r["caps"][set], "0000000000000000", "{set}: {}", r["caps"]);
    }

    // All capabilities the kernel knows.
    t.bundle.caps_all_sets(&all_caps());
    let r = t.rt.run_checker_report(&mut t.bundle);
    let all = cap_mask(&all_caps());
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(r["caps"][set], all.as_str(), "{set}: {}", r["caps"]);
    }
    t.assert_no_leaks();
}

#[test]
fn ambient_capabilities_for_non_root_user() {
    let mut t = Ctx::new("ambient");
    t.bundle.user(1000, 1000, &[]);
    t.bundle.caps_all_sets(&["CAP_NET_BIND_SERVICE"]);
    let r = t.rt.run_checker_report(&mut t.bundle);
    let m = cap_mask(&["CAP_NET_BIND_SERVICE"]);
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(r["caps"][set], m.as_str(), "{set}: {}", r["caps"]);
    }
    assert_eq!(r["uid"], 1000);
    t.assert_no_leaks();
}

#[test]
fn rlimits() {
    let mut t = Ctx::new("rlimits");
    t.bundle.rlimits(&[
        ("RLIMIT_NOFILE", 512, 1024),
        ("RLIMIT_NPROC", 100, 200),
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_MSGQUEUE", 4096, 8192),
    ]);
    let r = t.rt.run_checker_report(&mut t.bundle);
    let l = &r["rlimits"];
    assert_eq!(
        l["RLIMIT_NOFILE"],
        json!({"soft": 512, "hard": 1024}),
        "{l}"
    );
    assert_eq!(l["RLIMIT_NPROC"], json!({"soft": 100, "hard": 200}), "{l}");
    assert_eq!(l["RLIMIT_CORE"], json!({"soft": 0, "hard": 0}), "{l}");
    assert_eq!(
        l["RLIMIT_MSGQUEUE"],
        json!({"soft": 4096, "hard": 8192}),
        "{l}"
    );
    t.assert_no_leaks();
}

#[test]
fn invalid_rlimit_fails() {
    let mut t = Ctx::new("badrlimit");
    t.bundle.rlimits(&[("RLIMIT_BOGUS", 1, 1)]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_fail();
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
    t.assert_no_leaks();
}

#[test]
fn no_new_privileges() {
    let mut t = Ctx::new("nnp");
    t.bundle.no_new_privileges(true);
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["no_new_privs"], 1);
    t.bundle.no_new_privileges(false);
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["no_new_privs"], 0);
    t.assert_no_leaks();
}

#[test]
fn oom_score_adj() {
    let mut t = Ctx::new("oom");
    t.bundle.set_process("oomScoreAdj", json!(321));
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["oom_score_adj"], 321);
    t.bundle.set_process("oomScoreAdj", json!(999));
    let r = t.rt.run_checker_report(&mut t.bundle);
    assert_eq!(r["oom_score_adj"], 999);
    // (Negative values need CAP_SYS_RESOURCE, which sandboxes like this one may lack.)
    t.assert_no_leaks();
}

fn open_file(p: &std::path::Path) -> OwnedFd {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
        .unwrap()
        .into()
}

/// --preserve-fds N passes exactly fds 3..3+N; nothing else (nothing pointing at the
/// host bundle, root or cgroup fs: CVE-2024-21626), and cwd is the configured one.
#[test]
fn preserve_fds_passes_exactly_the_requested_fds() {
    let mut t = Ctx::new("preserve");
    t.bundle.cwd("/tmp");
    t.bundle.save();
    let dir = t.rt.scratch("fds");
    let (f1, f2, f3) = (dir.join("one"), dir.join("two"), dir.join("three"));
    let id = t.id("c");
    t.rt.track(&id);
    let o =
        t.rt.cmd()
            .args(["run", "--preserve-fds", "2", "--bundle"])
            .arg(t.bundle.path())
            .arg(&id)
            .extra_fds(vec![open_file(&f1), open_file(&f2), open_file(&f3)])
            .run();
    o.assert_ok();
    let r = o.json_line();
    let fds = r["fds"].as_object().unwrap();
    let mut nums: Vec<i64> = fds.keys().map(|k| k.parse().unwrap()).collect();
    nums.sort();
    assert_eq!(nums, [0, 1, 2, 3, 4], "fds in the container: {fds:?}");
    assert_eq!(fds["3"], f1.to_str().unwrap());
    assert_eq!(fds["4"], f2.to_str().unwrap());
    let forbidden = [
        t.bundle.path().to_str().unwrap().to_string(),
        t.rt.root().to_str().unwrap().to_string(),
        "/sys/fs/cgroup".to_string(),
    ];
    for (n, target) in fds {
        let target = target.as_str().unwrap();
        for f in &forbidden {
            assert!(
                !target.starts_with(f.as_str()),
                "fd {n} -> {target} leaks a host path"
            );
        }
    }
    assert_eq!(r["cwd"], "/tmp");
    t.assert_no_leaks();
}

#[test]
fn inherited_fds_are_not_passed_without_preserve_fds() {
    let t = Ctx::new("nopreserve");
    t.bundle.save();
    let dir = t.rt.scratch("fds");
    let id = t.id("c");
    t.rt.track(&id);
    let o =
        t.rt.cmd()
            .args(["run", "--bundle"])
            .arg(t.bundle.path())
            .arg(&id)
            .extra_fds(vec![open_file(&dir.join("a")), open_file(&dir.join("b"))])
            .run();
    o.assert_ok();
    let r = o.json_line();
    let mut nums: Vec<i64> = r["fds"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    nums.sort();
    assert_eq!(nums, [0, 1, 2], "fds in the container: {}", r["fds"]);
    t.assert_no_leaks();
}

#[test]
fn pid_file_with_run_detach() {
    let mut t = Ctx::new("pidfile");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    let pf = t.rt.scratch("p").join("sub-pid");
    t.rt.run_with(&id, &t.bundle, &["-d", "--pid-file", pf.to_str().unwrap()])
        .assert_ok();
    let raw = std::fs::read_to_string(&pf).unwrap();
    let st = t.rt.state_json(&id);
    assert_eq!(raw, st["pid"].to_string(), "pid file {raw:?} vs state {st}");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn apparmor_profile_fails_clearly_without_apparmor() {
    if std::path::Path::new("/sys/kernel/security/apparmor").exists()
        || std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y")
    {
        berth_tests::skip(berth_tests::Skip::Host("AppArmor is enabled on this host"));
        return;
    }
    let mut t = Ctx::new("apparmor");
    t.bundle
        .set_process("apparmorProfile", json!("berth-test-profile"));
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_fail_with("apparmor");
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
    t.assert_no_leaks();
}

#[test]
fn selinux_label_fails_clearly_without_selinux() {
    if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        berth_tests::skip(berth_tests::Skip::Host("SELinux is enabled on this host"));
        return;
    }
    let mut t = Ctx::new("selinux");
    t.bundle
        .set_process("selinuxLabel", json!("system_u:system_r:container_t:s0"));
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_fail_with("selinux");
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
    t.assert_no_leaks();
}
