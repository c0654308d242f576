//! process.terminal with --console-socket.

use berth_tests::console::{is_pty_master, read_master_until, ConsoleSocket};
use berth_tests::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn console_socket_receives_pty_master() {
    let mut t = Ctx::new("console");
    t.bundle
        .terminal(true)
        .set_process("consoleSize", json!({"height": 40, "width": 100}));
    t.bundle.checker(&["report"]);
    let sock = ConsoleSocket::bind(&t.rt.scratch("sock").join("console.sock"));
    let id = t.id("c");
    let sock_path = sock.path().to_str().unwrap().to_string();
    t.rt.create_with(&id, &t.bundle, &["--console-socket", &sock_path])
        .assert_ok();
    let got = sock.receive(T);
    assert_eq!(
        got.fds.len(),
        1,
        "expected exactly one fd over the console socket"
    );
    let master = &got.fds[0];
    assert!(is_pty_master(master), "the fd received is not a pty master");

    t.rt.start(&id).assert_ok();
    let out = read_master_until(master, T, |b| {
        text(b).contains("}\r\n") || text(b).contains("}\n")
    });
    let out = text(&out);
    let line = out
        .lines()
        .map(|l| l.trim())
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no report on the pty: {out:?}"));
    let r: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(r["tty"]["stdin"], true, "{}", r["tty"]);
    assert_eq!(r["tty"]["stdout"], true, "{}", r["tty"]);
    assert_eq!(r["tty"]["stderr"], true, "{}", r["tty"]);
    assert!(
        r["ttyname"]
            .as_str()
            .is_some_and(|n| n.starts_with("/dev/pts/")),
        "ttyname {}",
        r["ttyname"]
    );
    assert_eq!(
        r["winsize"],
        json!({"rows": 40, "cols": 100}),
        "consoleSize not applied"
    );
    // The terminal is the controlling terminal of a new session led by the process.
    assert_eq!(r["sid"], r["pid"], "process is not a session leader");

    t.rt.wait_status(&id, "stopped", T);
    t.rt.delete(&id).assert_ok();
    // Nothing but the master came: the socket delivered no extra fds later either.
    drop(got);
    t.assert_no_leaks();
}

#[test]
fn container_output_comes_out_of_the_master_and_input_goes_in() {
    let mut t = Ctx::new("consoleio");
    t.bundle.terminal(true);
    // Read one line from the terminal and echo it back with a prefix.
    t.bundle
        .args(&["/bin/sh", "-c", "echo ready; read line; echo \"got:$line\""]);
    let sock = ConsoleSocket::bind(&t.rt.scratch("sock").join("c.sock"));
    let id = t.id("c");
    t.rt.run_with(
        &id,
        &t.bundle,
        &[
            "--detach",
            "--console-socket",
            sock.path().to_str().unwrap(),
        ],
    )
    .assert_ok();
    let got = sock.receive(T);
    assert_eq!(got.fds.len(), 1);
    let master = &got.fds[0];
    let out = read_master_until(master, T, |b| text(b).contains("ready"));
    assert!(
        text(&out).contains("ready"),
        "no output from the container: {:?}",
        text(&out)
    );
    let n = unsafe {
        libc::write(
            std::os::fd::AsRawFd::as_raw_fd(master),
            b"ping\n".as_ptr().cast(),
            5,
        )
    };
    assert_eq!(n, 5);
    let out = read_master_until(master, T, |b| text(b).contains("got:ping"));
    assert!(
        text(&out).contains("got:ping"),
        "input did not reach the container: {:?}",
        text(&out)
    );
    t.rt.wait_status(&id, "stopped", T);
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn terminal_without_console_socket_fails_on_create() {
    let mut t = Ctx::new("noconsolesock");
    t.bundle.terminal(true);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_fail();
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
    let id = t.id("d");
    t.rt.run_with(&id, &t.bundle, &["--detach"]).assert_fail();
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
    t.assert_no_leaks();
}

#[test]
fn console_socket_without_terminal_fails() {
    let mut t = Ctx::new("sockonly");
    t.bundle.terminal(false);
    let sock = ConsoleSocket::bind(&t.rt.scratch("sock").join("c.sock"));
    let id = t.id("c");
    t.rt.create_with(
        &id,
        &t.bundle,
        &["--console-socket", sock.path().to_str().unwrap()],
    )
    .assert_fail();
    assert!(t.rt.root_entries().is_empty(), "{:?}", t.rt.root_entries());
    t.assert_no_leaks();
}
