//! `spec`: generating a default config.json.

use berth_tests::*;

fn check_default_spec(v: &Value) {
    assert!(
        v["ociVersion"]
            .as_str()
            .is_some_and(|s| s.starts_with("1.")),
        "ociVersion: {v}"
    );
    assert!(v["process"].is_object(), "process: {v}");
    assert!(v["process"]["args"].is_array(), "process.args: {v}");
    assert_eq!(v["root"]["path"], "rootfs", "root.path: {v}");
    assert!(v["linux"]["namespaces"].is_array(), "linux.namespaces: {v}");
}

#[test]
fn spec_writes_config_in_cwd() {
    let rt = Runtime::new();
    let dir = rt.scratch("spec-cwd");
    rt.cmd().no_root().cwd(&dir).arg("spec").run().assert_ok();
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config.json written");
    let v: Value = serde_json::from_str(&text).expect("valid JSON");
    check_default_spec(&v);

    // Refuses to overwrite an existing config.json.
    std::fs::write(dir.join("config.json"), "{\"keep\": true}").unwrap();
    rt.cmd().no_root().cwd(&dir).arg("spec").run().assert_fail();
    assert_eq!(
        std::fs::read_to_string(dir.join("config.json")).unwrap(),
        "{\"keep\": true}",
        "spec overwrote an existing config.json"
    );
}

#[test]
fn spec_with_bundle_option() {
    let rt = Runtime::new();
    let dir = rt.scratch("spec-bundle");
    let elsewhere = rt.scratch("spec-elsewhere");
    rt.cmd()
        .no_root()
        .cwd(&elsewhere)
        .args(["spec", "--bundle"])
        .arg(&dir)
        .run()
        .assert_ok();
    assert!(!elsewhere.join("config.json").exists(), "written to cwd");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    check_default_spec(&v);
    rt.cmd()
        .no_root()
        .args(["spec", "-b"])
        .arg(&dir)
        .run()
        .assert_fail();
}

#[test]
fn spec_rootless() {
    let rt = Runtime::new();
    let dir = rt.scratch("spec-rootless");
    rt.cmd()
        .no_root()
        .args(["spec", "--rootless", "--bundle"])
        .arg(&dir)
        .run()
        .assert_ok();
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    check_default_spec(&v);
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    assert!(
        ns.iter().any(|n| n["type"] == "user"),
        "no user namespace: {v}"
    );
    for key in ["uidMappings", "gidMappings"] {
        let m = v["linux"][key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key}: {v}"));
        assert!(!m.is_empty(), "empty {key}");
        assert!(m[0]["containerID"].is_u64() && m[0]["hostID"].is_u64() && m[0]["size"].is_u64());
    }
}

/// The generated spec is usable: with a rootfs, terminal off and the checker as the
/// process, it runs.
#[test]
fn generated_spec_runs() {
    let t = Ctx::new("specrun");
    std::fs::remove_file(t.bundle.config_path()).unwrap();
    t.rt.cmd()
        .no_root()
        .args(["spec", "--bundle"])
        .arg(t.bundle.path())
        .run()
        .assert_ok();
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(t.bundle.config_path()).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(["/checker", "echo", "spec-ok"]);
    let mut b = t.bundle;
    b.config = v;
    let id = format!("specrun-{}", std::process::id());
    let o = t.rt.run(&id, &b);
    o.assert_ok();
    assert!(o.stdout.contains("spec-ok"), "{o}");
    assert_no_leaks(&t.rt, &b);
}
