//! Global CLI behaviour: option spellings, --version, --log/--log-format, exit codes.

use berth_tests::*;

#[test]
fn long_options_with_one_or_two_dashes() {
    let mut t = Ctx::new("dashes");
    t.bundle.checker(&["sleep", "30"]);
    t.bundle.save();
    let root = t.rt.root().to_str().unwrap().to_string();
    let bundle = t.bundle.path().to_str().unwrap().to_string();
    let id = t.id("c");
    t.rt.track(&id);

    // `-root X create -bundle B ID`
    t.rt.cmd()
        .no_root()
        .args(["-root", &root, "create", "-bundle", &bundle, &id])
        .stdout(Io::Null)
        .stderr(Io::Null)
        .run()
        .assert_ok();
    // `--root X state ID`
    let st =
        t.rt.cmd()
            .no_root()
            .args(["--root", &root, "state", &id])
            .run();
    st.assert_ok();
    assert_eq!(st.json()["status"], "created");
    // `--root=X list -q`
    let o =
        t.rt.cmd()
            .no_root()
            .args([&format!("--root={root}"), "list", "-q"])
            .run();
    o.assert_ok();
    assert_eq!(o.stdout.trim(), id, "{o}");
    // `-root=X delete -force ID` (single dash, = form, subcommand flag with one dash)
    t.rt.cmd()
        .no_root()
        .args([&format!("-root={root}"), "delete", "-force", &id])
        .run()
        .assert_ok();
    t.rt.state(&id).assert_fail_with("does not exist");

    // --log=F and -log F are accepted.
    let log = t.rt.scratch("logs").join("a.log");
    let log = log.to_str().unwrap();
    t.rt.cmd()
        .args([&format!("--log={log}"), "list"])
        .run()
        .assert_ok();
    t.rt.cmd().args(["-log", log, "list"]).run().assert_ok();
    t.assert_no_leaks();
}

#[test]
fn version_output() {
    let rt = Runtime::new();
    let o = rt.cmd().no_root().arg("--version").run();
    o.assert_ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("spec:")),
        "--version has no `spec:` line\n{o}"
    );
    if !is_runc() {
        let first = lines.first().copied().unwrap_or("");
        let v = first
            .strip_prefix("berth-runtime version ")
            .unwrap_or_else(|| panic!("first line {first:?} is not `berth-runtime version X`"));
        assert!(!v.trim().is_empty(), "empty version\n{o}");
    }
    // -v is the short form in runc's CLI.
    let o2 = rt.cmd().no_root().arg("-v").run();
    o2.assert_ok();
    assert_eq!(o2.stdout, o.stdout);
}

fn check_json_log_lines(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line {line:?} is not JSON: {e}"));
        assert!(v.is_object(), "log line {line:?} is not an object");
        let time = v["time"]
            .as_str()
            .unwrap_or_else(|| panic!("no time in {line}"));
        assert!(is_rfc3339(time), "time {time:?} is not RFC3339");
        assert!(v["level"].as_str().is_some(), "no level in {line}");
        assert!(v["msg"].as_str().is_some(), "no msg in {line}");
        out.push(v);
    }
    out
}

#[test]
fn json_log_on_failure_appends_and_prints_error() {
    let rt = Runtime::new();
    let log = rt.scratch("logs").join("runtime.log");
    std::fs::write(&log, "pre-existing line\n").unwrap();
    let logs = log.to_str().unwrap();

    let o = rt.exec(&[
        "--log",
        logs,
        "--log-format",
        "json",
        "state",
        "missing-one",
    ]);
    o.assert_fail_with("does not exist");
    let o2 = rt.exec(&[
        "--log",
        logs,
        "--log-format",
        "json",
        "kill",
        "missing-two",
        "KILL",
    ]);
    o2.assert_fail_with("does not exist");

    let text = std::fs::read_to_string(&log).unwrap();
    let rest = text
        .strip_prefix("pre-existing line\n")
        .unwrap_or_else(|| panic!("log was truncated or rewritten:\n{text}"));
    let entries = check_json_log_lines(rest);
    let errors: Vec<&Value> = entries.iter().filter(|e| e["level"] == "error").collect();
    assert!(
        errors.len() >= 2,
        "expected an error entry per failed command:\n{text}"
    );
    assert!(errors
        .iter()
        .all(|e| e["msg"].as_str().unwrap().contains("does not exist")));
    // The object is exactly {level, msg, time} for errors.
    for e in &errors {
        let mut keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["level", "msg", "time"], "{e}");
    }
}

#[test]
fn text_log_on_failure() {
    let rt = Runtime::new();
    let log = rt.scratch("logs").join("text.log");
    let o = rt.exec(&["--log", log.to_str().unwrap(), "state", "nope"]);
    o.assert_fail_with("does not exist");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("does not exist"), "text log:\n{text}");
}

#[test]
fn failures_exit_with_code_1() {
    let rt = Runtime::new();
    rt.exec(&["state", "nope"]).assert_fail();
    rt.exec(&["delete", "nope"]).assert_fail();
    rt.exec(&["start", "nope"]).assert_fail();
    rt.exec(&["kill", "nope", "KILL"]).assert_fail();
}
