//! Security properties: the runtime binary cannot be overwritten from a container
//! (CVE-2019-5736) and no host fd leaks into the container.

use berth_tests::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn binary_identity() -> (u64, u64, (u64, u64), i64) {
    let bin = runtime_bin();
    let md = std::fs::metadata(&bin).unwrap();
    (md.dev(), md.ino(), sys::fingerprint(&bin), md.mtime())
}

/// The container process is the runtime binary itself, via /proc/self/exe and via a
/// `#!/proc/self/exe` script. Whatever happens, the binary on the host is unchanged.
#[test]
fn proc_self_exe_as_container_process_cannot_modify_runtime() {
    let mut t = Ctx::new("selfexe");
    let before = binary_identity();
    t.bundle.args(&["/proc/self/exe"]);
    let id = t.id("direct");
    let _ = t.rt.run(&id, &t.bundle);
    t.bundle.write_file("/evil.sh", "#!/proc/self/exe\n", 0o755);
    t.bundle.args(&["/evil.sh"]);
    let id = t.id("shebang");
    let _ = t.rt.run(&id, &t.bundle);
    assert_eq!(binary_identity(), before, "the runtime binary changed");
    t.assert_no_leaks();
}

/// The waiting init (created, not started) runs from a read-only view of the runtime
/// binary, not the host file: `create` switches to that view in place (no re-exec),
/// and /proc/PID/exe of the init can be neither opened for writing nor resolve to the
/// host binary's filesystem.
#[test]
fn created_init_runs_from_a_read_only_view_of_the_runtime() {
    let mut t = Ctx::new("exeview");
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    // EROFS for berth's overlay view (a sealed memfd, as runc 1.1 uses, gives EPERM).
    let r = std::fs::OpenOptions::new().write(true).open(&exe);
    assert!(r.is_err(), "{exe} opened for writing");
    let md = std::fs::metadata(&exe).unwrap();
    let host = std::fs::metadata(runtime_bin()).unwrap();
    assert_eq!(md.len(), host.len(), "{exe} is not the runtime binary");
    assert_ne!(
        md.dev(),
        host.dev(),
        "{exe} is on the host binary's filesystem"
    );
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

/// CVE-2019-5736 style probe: while container A's init is still the runtime (created,
/// waiting for start), container B in A's pid namespace opens /proc/1/exe with O_PATH,
/// then A is started (the runtime execs the user process) and B keeps trying to reopen
/// the file for writing. That must never yield a writable fd to the host binary.
#[test]
fn sibling_cannot_reopen_runtime_binary_for_writing() {
    let mut t = Ctx::new("exeattack");
    let before = binary_identity();
    t.bundle.checker(&["sleep", "30"]);
    let a = t.id("victim");
    t.rt.create(&a, &t.bundle).assert_ok();
    let a_pid = t.rt.state_json(&a)["pid"].as_i64().unwrap();

    // B: the attacker, with every capability, in A's pid namespace.
    let mut b_bundle = Bundle::new("exeattack-b");
    b_bundle
        .add_namespace("pid", Some(&format!("/proc/{a_pid}/ns/pid")))
        .caps_all_sets(&all_caps())
        .no_new_privileges(false)
        .checker(&["exe-attack", "/proc/1/exe", "4"]);
    let b = t.id("attacker");
    t.rt.run_detached(&b, &b_bundle);
    // Start A only once B holds its O_PATH fd on A's init binary (or gave up).
    sys::wait_for(T, || {
        let out = t.rt.container_stdout(&b);
        (out.contains("\"phase\":\"opened\"") || out.contains("opened_path")).then_some(())
    })
    .unwrap_or_else(|| panic!("attacker never reported: {}", t.rt.container_stderr(&b)));
    t.rt.start(&a).assert_ok();
    t.rt.wait_status(&b, "stopped", T);
    let out = t.rt.container_stdout(&b);
    let r = json_lines(&out)
        .into_iter()
        .find(|v| v.get("write_open_ok").is_some())
        .unwrap_or_else(|| {
            panic!(
                "no result from the attacker: {out:?} {}",
                t.rt.container_stderr(&b)
            )
        });
    // (opened_path false — e.g. a non-dumpable init — is a valid defence too.)
    eprintln!("exe-attack result: {r}");
    let same_file = r["dev"] == before.0 && r["ino"] == before.1;
    assert!(
        !(same_file && r["write_open_ok"] == true),
        "a container could open the host runtime binary for writing: {r}"
    );
    assert!(
        !(same_file && r["write_ok"] == true),
        "a container could write the host runtime binary: {r}"
    );
    assert_eq!(binary_identity(), before, "the runtime binary changed");
    t.rt.delete(&b).assert_ok();
    t.rt.delete_force(&a).assert_ok();
    assert_no_leaks(&t.rt, &b_bundle);
    t.assert_no_leaks();
}

/// After create + start (the exec-fifo path), the process has only fds 0, 1, 2, even
/// though the caller of `create` had an extra fd (3) open without close-on-exec.
#[test]
fn no_runtime_fds_leak_after_create_and_start() {
    let mut t = Ctx::new("fdleak");
    t.bundle.checker(&["ls-fds"]);
    t.bundle.save();
    let id = t.id("c");
    t.rt.track(&id);
    let extra = std::fs::File::create(t.rt.scratch("x").join("inherited")).unwrap();
    t.rt.cmd()
        .args(["create", "--bundle"])
        .arg(t.bundle.path())
        .arg(&id)
        .stdout(Io::File(t.rt.stdout_path(&id)))
        .stderr(Io::File(t.rt.stderr_path(&id)))
        .extra_fds(vec![extra.into()])
        .run()
        .assert_ok();
    t.rt.track_pid(t.rt.state_json(&id)["pid"].as_i64().unwrap() as i32);
    t.rt.start(&id).assert_ok();
    t.rt.wait_status(&id, "stopped", T);
    let out = t.rt.container_stdout(&id);
    let fds = berth_tests::runtime::find_json_line(&out)
        .unwrap_or_else(|| panic!("no ls-fds output: {out:?}"));
    let mut nums: Vec<i64> = fds
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    nums.sort();
    assert_eq!(nums, [0, 1, 2], "fds in the container: {fds}");
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

/// The container cannot see the runtime's state directory or the bundle through
/// /proc/1/cwd or /proc/1/root tricks: its process' cwd and root are inside the rootfs.
#[test]
fn process_cwd_and_root_are_inside_the_container() {
    let mut t = Ctx::new("cwdroot");
    t.bundle.cwd("/tmp");
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker stat /proc/self/cwd /proc/self/root /proc/self/cwd/../checker",
    );
    let s = &out[0];
    assert_eq!(s[0]["target"], "/tmp", "{s}");
    assert_eq!(s[1]["target"], "/", "{s}");
    assert_eq!(s[2]["exists"], true, "{s}");
    t.assert_no_leaks();
}
