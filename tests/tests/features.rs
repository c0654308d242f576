//! `features`: the runtime-spec features document, and that what it advertises works.

use berth_tests::*;

fn features(t: &Ctx) -> Value {
    let o = t.rt.exec(&["features"]);
    o.assert_ok();
    let v = o.json();
    assert!(v.is_object(), "{o}");
    v
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

#[track_caller]
fn assert_contains_all(have: &[String], want: &[&str], what: &str) {
    let missing: Vec<&&str> = want
        .iter()
        .filter(|w| !have.iter().any(|h| h == *w))
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: missing {missing:?} in {have:?}"
    );
}

fn version(s: &str) -> (u64, u64, u64) {
    let core = s.split(['-', '+']).next().unwrap();
    let mut it = core.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

#[test]
fn document_shape() {
    let t = Ctx::new("features");
    let f = features(&t);
    assert_eq!(f["ociVersionMin"], "1.0.0", "{f}");
    let max = f["ociVersionMax"].as_str().expect("ociVersionMax");
    assert!(version(max) >= (1, 0, 2), "ociVersionMax {max}");
    assert_eq!(
        strings(&f["hooks"]),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    assert_contains_all(
        &strings(&f["mountOptions"]),
        &[
            "ro",
            "rw",
            "bind",
            "rbind",
            "nosuid",
            "nodev",
            "noexec",
            "relatime",
            "private",
            "rprivate",
            "shared",
            "rshared",
            "slave",
            "rslave",
            "unbindable",
            "rro",
            "tmpcopyup",
        ],
        "mountOptions",
    );
    let l = &f["linux"];
    let mut ns = vec!["cgroup", "ipc", "mount", "network", "pid", "user", "uts"];
    // runc 1.1.5 has no time namespace.
    if !skip_on_runc("no time namespace in features") {
        ns.push("time");
    }
    assert_contains_all(&strings(&l["namespaces"]), &ns, "linux.namespaces");
    assert_contains_all(
        &strings(&l["capabilities"]),
        &all_caps(),
        "linux.capabilities",
    );
    for k in ["v1", "v2", "systemd"] {
        assert!(
            l["cgroup"][k].is_boolean(),
            "linux.cgroup.{k}: {}",
            l["cgroup"]
        );
    }
    assert_eq!(l["cgroup"]["v1"], true);
    assert_eq!(l["cgroup"]["v2"], true);
    // berth has no systemd cgroup driver (--systemd-cgroup is an error); runc 1.1.5
    // has one.
    if !skip_on_runc("runc has a systemd cgroup driver") {
        assert_eq!(l["cgroup"]["systemd"], false, "{}", l["cgroup"]);
    }
    let sc = &l["seccomp"];
    assert_eq!(sc["enabled"], true, "{sc}");
    assert_contains_all(
        &strings(&sc["actions"]),
        &[
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_ERRNO",
            "SCMP_ACT_KILL",
            "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_LOG",
            "SCMP_ACT_NOTIFY",
            "SCMP_ACT_TRACE",
            "SCMP_ACT_TRAP",
        ],
        "seccomp.actions",
    );
    assert_contains_all(
        &strings(&sc["operators"]),
        &[
            "SCMP_CMP_EQ",
            "SCMP_CMP_NE",
            "SCMP_CMP_GE",
            "SCMP_CMP_GT",
            "SCMP_CMP_LE",
            "SCMP_CMP_LT",
            "SCMP_CMP_MASKED_EQ",
        ],
        "seccomp.operators",
    );
    assert_contains_all(
        &strings(&sc["archs"]),
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "seccomp.archs",
    );
    assert!(l["apparmor"]["enabled"].is_boolean(), "{}", l["apparmor"]);
    assert!(l["selinux"]["enabled"].is_boolean(), "{}", l["selinux"]);
    // runc 1.1.5 predates mountExtensions.
    if !skip_on_runc("no mountExtensions in features") {
        // Idmapped mounts are implemented (tests/userns.rs); every kernel these
        // tests run on has mount_setattr (5.12).
        assert_eq!(
            l["mountExtensions"]["idmap"]["enabled"], true,
            "{}",
            l["mountExtensions"]
        );
    }
}

#[test]
fn needs_no_root_and_creates_nothing() {
    let t = Ctx::new("featuresroot");
    let with_root = features(&t);
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
    let o = t.rt.cmd().no_root().arg("features").run();
    o.assert_ok();
    assert_eq!(o.json(), with_root, "features depends on --root");
}

#[test]
fn advertised_seccomp_features_work() {
    let mut t = Ctx::new("featuresseccomp");
    let f = features(&t);
    let sc = &f["linux"]["seccomp"];
    // Rarely used system calls, one per rule, so the filter does not disturb the
    // runtime or the checker.
    let mut spare = [
        "acct",
        "swapon",
        "swapoff",
        "kexec_load",
        "init_module",
        "delete_module",
        "quotactl",
        "vhangup",
        "lookup_dcookie",
        "setdomainname",
        "iopl",
        "ioperm",
        "syslog",
        "settimeofday",
        "adjtimex",
        "clock_adjtime",
        "pivot_root",
        "finit_module",
        "kexec_file_load",
        "userfaultfd",
    ]
    .into_iter();
    let mut rules = Vec::new();
    for action in strings(&sc["actions"]) {
        if action == "SCMP_ACT_NOTIFY" {
            continue; // needs a listener (tests/seccomp.rs)
        }
        let name = spare.next().expect("enough spare syscalls");
        rules.push(json!({"names": [name], "action": action}));
    }
    for op in strings(&sc["operators"]) {
        let name = spare.next().expect("enough spare syscalls");
        rules.push(json!({"names": [name], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 12345, "valueTwo": 12345, "op": op}]}));
    }
    // Every advertised architecture in one filter. runc 1.1.5 lists big-endian ones
    // too, which libseccomp cannot combine with x86_64 ("error adding architecture to
    // seccomp filter: numerical argument out of domain").
    let mut archs = strings(&sc["archs"]);
    if skip_on_runc("advertised archs cannot all be combined in one filter") {
        archs.retain(|a| a.starts_with("SCMP_ARCH_X"));
    }
    let mut profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": archs,
        "syscalls": rules,
    });
    // runc 1.1.5 advertises no flags (and rejects any).
    if let Some(flags) = sc["supportedFlags"].as_array() {
        profile["flags"] = json!(flags);
    }
    t.bundle.set_linux("seccomp", profile);
    t.bundle.checker(&["mkdir", "/tmp/made"]);
    let id = t.id("c");
    let o = t.rt.run(&id, &t.bundle);
    o.assert_ok();
    assert_eq!(o.json_line()["ok"], true, "{o}");
    t.assert_no_leaks();
}
