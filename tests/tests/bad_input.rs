//! Bad input: each is a clear error, exit code 1, nothing left under --root.

use berth_tests::*;

#[track_caller]
fn assert_nothing_left(t: &Ctx, id: &str) {
    let entries = t.rt.root_entries();
    assert!(
        !entries.iter().any(|e| e == id) && entries.iter().all(|e| !t.rt.root().join(e).is_dir()),
        "left under --root: {entries:?}"
    );
    t.assert_no_leaks();
}

#[test]
fn missing_config_json() {
    let mut t = Ctx::new("noconfig");
    std::fs::remove_file(t.bundle.config_path()).unwrap();
    t.bundle.autosave = false;
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_fail_with("config.json");
    t.rt.run(&id, &t.bundle).assert_fail_with("config.json");
    assert_nothing_left(&t, &id);
}

#[test]
fn malformed_config_json() {
    let mut t = Ctx::new("badjson");
    t.bundle
        .write_raw_config("{\"ociVersion\": \"1.0.2\", \"process\": {");
    let id = t.id("c");
    let o = t.rt.create(&id, &t.bundle);
    o.assert_fail();
    // runc 1.1.5 reports only the JSON decoder error ("unexpected EOF").
    if !skip_on_runc("the JSON syntax error does not name config.json") {
        assert!(
            o.stderr.contains("config.json"),
            "error does not name config.json\n{o}"
        );
    }
    assert_nothing_left(&t, &id);

    t.bundle.write_raw_config("this is not json");
    t.rt.create(&id, &t.bundle).assert_fail();
    // Valid JSON, wrong type.
    t.bundle.write_raw_config("[1, 2, 3]");
    t.rt.create(&id, &t.bundle).assert_fail();
    t.bundle
        .write_raw_config("{\"ociVersion\": \"1.0.2\", \"process\": {\"args\": \"not-an-array\"}}");
    t.rt.create(&id, &t.bundle).assert_fail();
    assert_nothing_left(&t, &id);
}

#[test]
fn unsupported_oci_version() {
    // runc 1.1.5 does not check ociVersion at all.
    if skip_on_runc("ociVersion is not validated") {
        return;
    }
    let mut t = Ctx::new("ociversion");
    for v in ["2.0.0", "0.1.0", "", "not-a-version"] {
        t.bundle.config["ociVersion"] = json!(v);
        let id = t.id("c");
        let o = t.rt.create(&id, &t.bundle);
        o.assert_fail();
        assert!(
            o.stderr.to_lowercase().contains("version"),
            "error for ociVersion {v:?} does not mention the version\n{o}"
        );
        assert_nothing_left(&t, &id);
    }
    // Any 1.x version is fine.
    for v in ["1.0.0", "1.0.2-dev", "1.2.0"] {
        t.bundle.config["ociVersion"] = json!(v);
        t.bundle.checker(&["exit", "0"]);
        let id = t.id("ok");
        t.rt.run(&id, &t.bundle).assert_ok();
    }
    t.assert_no_leaks();
}

#[test]
fn unknown_fields_are_ignored() {
    let mut t = Ctx::new("unknownfields");
    t.bundle.config["berthUnknownTopLevel"] = json!({"nested": [1, 2, 3]});
    t.bundle.config["process"]["someFutureField"] = json!(true);
    t.bundle.config["linux"]["anotherFutureField"] = json!("x");
    t.bundle.config["root"]["futureRootOption"] = json!(7);
    t.bundle.config["mounts"][0]["futureMountOption"] = json!(null);
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    assert_eq!(t.rt.status(&id), "created");
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn invalid_and_duplicate_ids() {
    let mut t = Ctx::new("ids");
    t.rt.create("a/b", &t.bundle).assert_fail();
    t.rt.create("a b", &t.bundle).assert_fail();
    t.rt.create("..", &t.bundle).assert_fail();
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("dup");
    t.rt.create(&id, &t.bundle).assert_ok();
    t.rt.create(&id, &t.bundle).assert_fail();
    assert_eq!(t.rt.root_entries(), vec![id.clone()]);
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn missing_executable_bare_name() {
    let mut t = Ctx::new("noexe");
    t.bundle.args(&["definitely-not-installed"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle)
        .assert_fail_with("executable file not found in $PATH");
    assert_nothing_left(&t, &id);
    let o = t.rt.run(&id, &t.bundle);
    o.assert_fail_with("executable file not found in $PATH");
    assert_nothing_left(&t, &id);
}

#[test]
fn missing_executable_path() {
    let mut t = Ctx::new("noexepath");
    t.bundle.args(&["/no/such/binary"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle)
        .assert_fail_with("no such file or directory");
    assert_nothing_left(&t, &id);
}

/// The JSON log's error line of a failed `create` of `args` (runc's has no kind).
fn create_error_line(name: &str, args: &[&str]) -> Option<Value> {
    let mut t = Ctx::new(name);
    t.bundle.args(args);
    t.bundle.save();
    let id = t.id("c");
    t.rt.track(&id);
    let log = t.rt.scratch("logs").join("runtime.log");
    t.rt.cmd()
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "create", "--bundle"])
        .arg(t.bundle.path())
        .arg(&id)
        .run()
        .assert_fail();
    assert_nothing_left(&t, &id);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let line = json_lines(&text)
        .into_iter()
        .rev()
        .find(|v| v["level"] == "error");
    assert!(line.is_some(), "no error line in the log:\n{text}");
    line
}

#[test]
fn start_errors_carry_their_kind_in_the_json_log() {
    if skip_on_runc("runc's log lines have no kind") {
        return;
    }
    for (args, kind, text) in [
        (
            &["/no/such/binary"][..],
            "not-found",
            "no such file or directory",
        ),
        (
            &["definitely-not-installed"][..],
            "not-found",
            "executable file not found",
        ),
        (&["/"][..], "permission-denied", "permission denied"),
    ] {
        let line = create_error_line("kind", args).unwrap_or_default();
        assert_eq!(line["kind"], kind, "{args:?}: {line}");
        // The message is the same text as without a kind (engines still read it).
        let msg = line["msg"].as_str().unwrap_or_default();
        assert!(msg.contains(text), "{args:?}: {line}");
        assert!(line["time"].is_string(), "{line}");
    }
}

#[test]
fn bundle_path_does_not_exist() {
    let t = Ctx::new("nobundle");
    let id = t.id("c");
    t.rt.track(&id);
    let missing = t.bundle.join("does-not-exist");
    t.rt.cmd()
        .args(["create", "--bundle"])
        .arg(&missing)
        .arg(&id)
        .run()
        .assert_fail();
    assert!(!missing.exists(), "the runtime created the bundle dir");
    assert_nothing_left(&t, &id);
}

#[test]
fn missing_rootfs() {
    let mut t = Ctx::new("norootfs");
    t.bundle.config["root"]["path"] = json!("no-such-rootfs");
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_fail();
    assert_nothing_left(&t, &id);
}

#[test]
fn create_without_id_fails() {
    let t = Ctx::new("noid");
    t.bundle.save();
    t.rt.cmd()
        .args(["create", "--bundle"])
        .arg(t.bundle.path())
        .run()
        .assert_fail();
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
}
