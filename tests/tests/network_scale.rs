//! The repair scan asks only what changed (issue 11's scale goal, see
//! docs/networking.md "What a start asks"): a container whose shim and init
//! were killed with -9 stays listed as live, so what it held must still come
//! back when a start wants it, and at the next thorough command.

use berth_tests::host::free_port;
use berth_tests::manager::Berth;

fn run_d(b: &Berth, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name, "--network", "scale"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "1000"]);
    b.run(&args).assert_ok().stdout.trim().to_string()
}

fn net_live(b: &Berth) -> String {
    std::fs::read_to_string(b.state().join("net-live")).unwrap_or_default()
}

/// Whether `net-live` lists container `id`: its last line there (the file
/// is appended to) is not "ID -".
fn listed(b: &Berth, id: &str) -> bool {
    net_live(b)
        .lines()
        .rev()
        .find(|l| l.split(' ').next() == Some(id))
        .is_some_and(|l| l.split(' ').nth(1) != Some("-"))
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
    assert!(listed(&b, &victim), "{}", net_live(&b));
    b.kill_9_shim_and_init("vv", &victim);

    // its address and port, wanted again: the start asks every container
    // (the victim's line may say "live") and takes them
    run_d(&b, "v2", &["--ip", "10.237.0.50", "-p", &publish]);
    assert_eq!(
        b.inspect_format("v2", "{{.NetworkSettings.Networks.scale.IPAddress}}"),
        "10.237.0.50"
    );
    assert!(!listed(&b, &victim), "{}", net_live(&b));

    // another one killed: the thorough command (`network ls`) finds it
    let other = b.inspect_format("p3", "{{.Id}}");
    b.kill_9_shim_and_init("p3", &other);
    b.run(&["network", "ls"]).assert_ok();
    let containers = b
        .run(&["network", "inspect", "scale"])
        .assert_ok()
        .json()
        .to_string();
    assert!(!containers.contains(&other), "{containers}");
    assert!(!containers.contains(&victim), "{containers}");
    assert!(!listed(&b, &other), "{}", net_live(&b));
    b.cleanup();
    b.run(&["network", "rm", "scale"]).assert_ok();
}
