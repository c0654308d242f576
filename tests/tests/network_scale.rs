//! The repair scan asks only what changed (issue 11's scale goal, see
//! docs/networking.md "What a start asks"): a container whose shim and init
//! were killed with -9 stays listed as live, so what it held must still come
//! back when a start wants it, and at the next thorough command.

use berth_tests::host::free_port;
use berth_tests::manager::Berth;
use std::time::Duration;

/// kill -9 of container `name`'s shim and init (ours only), and wait until
/// berth sees it stopped.
fn kill_shim_and_init(b: &Berth, name: &str, id: &str) {
    let pid: i32 = b.inspect_format(name, "{{.State.Pid}}").parse().unwrap();
    let shim_pid = [id, &id[..16]]
        .iter()
        .find_map(|d| {
            std::fs::read_to_string(b.state().join("containers").join(d).join("status.json")).ok()
        })
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["shim_pid"].as_i64())
        .unwrap_or(0) as i32;
    assert!(shim_pid > 0, "no shim pid for {name}");
    for p in [shim_pid, pid] {
        // SAFETY: kill(2) on pids of this test's own container
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    assert!(berth_tests::wait_until(Duration::from_secs(30), || {
        for p in [pid, shim_pid] {
            // SAFETY: reaps our own orphans when this process inherited them
            unsafe { libc::waitpid(p, std::ptr::null_mut(), libc::WNOHANG) };
        }
        b.inspect_format(name, "{{.State.Status}}") != "running"
    }));
}

fn run_d(b: &Berth, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name, "--network", "scale"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "1000"]);
    b.run(&args).assert_ok().stdout.trim().to_string()
}

fn net_live(b: &Berth) -> String {
    std::fs::read_to_string(b.state().join("net-live")).unwrap_or_default()
}

#[test]
fn killed_container_gives_back_its_address_and_port() {
    let b = Berth::with_busybox("busybox");
    b.run(&["network", "create", "--subnet", "10.237.0.0/24", "scale"])
        .assert_ok();
    for i in 0..8 {
        run_d(&b, &format!("p{i}"), &[]);
    }
    let port = free_port();
    let publish = format!("{port}:80");
    let victim = run_d(&b, "vv", &["--ip", "10.237.0.50", "-p", &publish]);
    // the next start's scan lists it as live
    run_d(&b, "ww", &[]);
    assert!(net_live(&b).contains(&victim), "{}", net_live(&b));
    kill_shim_and_init(&b, "vv", &victim);

    // its address and port, wanted again: the start asks every container
    // (the victim's line may say "live") and takes them
    run_d(&b, "v2", &["--ip", "10.237.0.50", "-p", &publish]);
    assert_eq!(
        b.inspect_format("v2", "{{.NetworkSettings.Networks.scale.IPAddress}}"),
        "10.237.0.50"
    );
    assert!(!net_live(&b).contains(&victim), "{}", net_live(&b));

    // another one killed: the thorough command (`network ls`) finds it
    let other = b.inspect_format("p3", "{{.Id}}");
    kill_shim_and_init(&b, "p3", &other);
    b.run(&["network", "ls"]).assert_ok();
    let containers = b
        .run(&["network", "inspect", "scale"])
        .assert_ok()
        .json()
        .to_string();
    assert!(!containers.contains(&other), "{containers}");
    assert!(!containers.contains(&victim), "{containers}");
    assert!(!net_live(&b).contains(&other), "{}", net_live(&b));
    b.cleanup();
    b.run(&["network", "rm", "scale"]).assert_ok();
}
