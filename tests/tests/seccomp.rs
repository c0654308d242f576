//! linux.seccomp: actions, errno values, argument conditions, flags, architectures,
//! unknown names, the SCMP_ACT_NOTIFY hand-off to a listener, and bad profiles.

use berth_tests::console::ConsoleSocket;
use berth_tests::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// Every x86_64 system call name except mkdir/mkdirat (names libseccomp does not know
/// are skipped by the runtime, like runc does).
const ALL_BUT_MKDIR: &str = "read write open close stat fstat lstat poll lseek mmap mprotect
munmap brk rt_sigaction rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev
access pipe select sched_yield mremap msync mincore madvise shmget shmat shmctl dup dup2
pause nanosleep getitimer alarm setitimer getpid sendfile socket connect accept sendto
recvfrom sendmsg recvmsg shutdown bind listen getsockname getpeername socketpair
setsockopt getsockopt clone fork vfork execve exit wait4 kill uname semget semop semctl
shmdt msgget msgsnd msgrcv msgctl fcntl flock fsync fdatasync truncate ftruncate getdents
getcwd chdir fchdir rename rmdir creat link unlink symlink readlink chmod fchmod chown
fchown lchown umask gettimeofday getrlimit getrusage sysinfo times ptrace getuid syslog
getgid setuid setgid geteuid getegid setpgid getppid getpgrp setsid setreuid setregid
getgroups setgroups setresuid getresuid setresgid getresgid getpgid setfsuid setfsgid
getsid capget capset rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend
sigaltstack utime mknod uselib personality ustat statfs fstatfs sysfs getpriority
setpriority sched_setparam sched_getparam sched_setscheduler sched_getscheduler
sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock munlock
mlockall munlockall vhangup modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex
setrlimit chroot sync acct settimeofday mount umount2 swapon swapoff reboot sethostname
setdomainname iopl ioperm create_module init_module delete_module get_kernel_syms
query_module quotactl nfsservctl getpmsg putpmsg afs_syscall tuxcall security gettid
readahead setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr
flistxattr removexattr lremovexattr fremovexattr tkill time futex sched_setaffinity
sched_getaffinity set_thread_area io_setup io_destroy io_getevents io_submit io_cancel
get_thread_area lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old
remap_file_pages getdents64 set_tid_address restart_syscall semtimedop fadvise64
timer_create timer_settime timer_gettime timer_getoverrun timer_delete clock_settime
clock_gettime clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes
vserver mbind set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive
mq_notify mq_getsetattr kexec_load waitid add_key request_key keyctl ioprio_set
ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mknodat
fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat
faccessat pselect6 ppoll unshare set_robust_list get_robust_list splice tee
sync_file_range vmsplice move_pages utimensat epoll_pwait signalfd timerfd_create eventfd
fallocate timerfd_settime timerfd_gettime accept4 signalfd4 eventfd2 epoll_create1 dup3
pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open recvmmsg
fanotify_init fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime
syncfs sendmmsg setns getcpu process_vm_readv process_vm_writev kcmp finit_module
sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create kexec_file_load bpf
execveat userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect
pkey_alloc pkey_free statx io_pgetevents rseq pidfd_send_signal io_uring_setup
io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick
pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise
epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule
landlock_restrict_self memfd_secret process_mrelease futex_waitv
set_mempolicy_home_node";

const ARCHES: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

fn profile(default: &str, syscalls: Value) -> Value {
    json!({"defaultAction": default, "architectures": ARCHES, "syscalls": syscalls})
}

/// A rule for mkdir and mkdirat with this action (and extra fields).
fn mkdir_rule(action: &str, extra: Value) -> Value {
    let mut r = json!({"names": ["mkdir", "mkdirat"], "action": action});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            r[k] = v;
        }
    }
    r
}

/// Run the checker's `mkdir` (libc) in the foreground under this seccomp profile.
fn run_mkdir(t: &mut Ctx, seccomp: Value, suffix: &str) -> Output {
    t.bundle.set_linux("seccomp", seccomp);
    let id = t.id(suffix);
    t.bundle.checker(&["mkdir", &format!("/tmp/{id}")]);
    t.rt.run(&id, &t.bundle)
}

#[test]
fn errno_action_defaults_to_eperm_and_process_is_filtered() {
    let mut t = Ctx::new("scerrno");
    t.bundle.set_linux(
        "seccomp",
        profile(
            "SCMP_ACT_ALLOW",
            json!([mkdir_rule("SCMP_ACT_ERRNO", json!({}))]),
        ),
    );
    let out = t.rt.run_script_json(
        &mut t.bundle,
        "/checker mkdir /tmp/eperm; /checker syscall-mkdir /tmp/eperm2 755; /checker report",
    );
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0]["errno"], libc::EPERM, "libc mkdir: {}", out[0]);
    assert_eq!(out[1]["errno"], libc::EPERM, "raw mkdir: {}", out[1]);
    assert_eq!(out[2]["seccomp"], 2, "Seccomp in /proc/self/status");
    assert!(!t.bundle.rootfs_path("/tmp/eperm").exists());
    t.assert_no_leaks();
}

#[test]
fn errno_ret_is_returned() {
    let mut t = Ctx::new("scerrnoret");
    let o = run_mkdir(
        &mut t,
        profile(
            "SCMP_ACT_ALLOW",
            json!([mkdir_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 123}))]),
        ),
        "c",
    );
    o.assert_ok();
    let r = o.json_line();
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["errno"], 123, "{r}");
    t.assert_no_leaks();
}

#[test]
fn default_action_errno_with_default_errno_ret() {
    let mut t = Ctx::new("scdefault");
    let names: Vec<&str> = ALL_BUT_MKDIR.split_whitespace().collect();
    let mut p = profile(
        "SCMP_ACT_ERRNO",
        json!([{"names": names, "action": "SCMP_ACT_ALLOW"}]),
    );
    p["defaultErrnoRet"] = json!(99);
    let o = run_mkdir(&mut t, p, "c");
    o.assert_ok();
    let r = o.json_line();
    assert_eq!(r["errno"], 99, "mkdir under the default action: {r}");
    t.assert_no_leaks();
}

#[test]
fn argument_conditions() {
    let mut t = Ctx::new("scargs");
    let deny = |errno: i32, args: Value| json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno, "args": args});
    t.bundle.set_linux(
        "seccomp",
        profile(
            "SCMP_ACT_ALLOW",
            json!([
                // mode == 0700
                deny(
                    libc::EACCES,
                    json!([{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}])
                ),
                // mode & 0002 == 0002 (world-writable)
                deny(
                    libc::EROFS,
                    json!([{"index": 1, "value": 0o002, "valueTwo": 0o002,
                            "op": "SCMP_CMP_MASKED_EQ"}])
                ),
                // Conditions on different arguments must all hold: path != NULL and
                // mode == 01755.
                deny(
                    libc::EXDEV,
                    json!([{"index": 0, "value": 0, "op": "SCMP_CMP_NE"},
                           {"index": 1, "value": 0o1755, "op": "SCMP_CMP_EQ"}])
                ),
                // Several conditions on the same argument: runc adds one rule per
                // condition (libseccomp cannot AND them), so any of them matches.
                deny(
                    libc::EMLINK,
                    json!([{"index": 1, "value": 0o3755, "op": "SCMP_CMP_EQ"},
                           {"index": 1, "value": 0o5755, "op": "SCMP_CMP_EQ"}])
                ),
            ]),
        ),
    );
    let modes = ["700", "777", "1755", "3755", "5755", "2755", "755"];
    let out = t.rt.run_script_json(
        &mut t.bundle,
        &format!(
            "for m in {}; do /checker syscall-mkdir /tmp/d$m $m; done",
            modes.join(" ")
        ),
    );
    let errnos: Vec<Value> = out
        .iter()
        .map(|r| {
            if r["ok"] == true {
                json!(0)
            } else {
                r["errno"].clone()
            }
        })
        .collect();
    let want = [
        libc::EACCES,
        libc::EROFS,
        libc::EXDEV,
        libc::EMLINK,
        libc::EMLINK,
        0,
        0,
    ];
    assert_eq!(
        errnos,
        want.iter().map(|e| json!(e)).collect::<Vec<_>>(),
        "errno per mode {modes:?}: {out:?}"
    );
    t.assert_no_leaks();
}

#[test]
fn kill_and_trap_actions_end_the_process_with_sigsys() {
    let mut t = Ctx::new("sckill");
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
    ] {
        let o = run_mkdir(
            &mut t,
            profile("SCMP_ACT_ALLOW", json!([mkdir_rule(action, json!({}))])),
            &action[9..].to_lowercase().replace('_', ""),
        );
        o.assert_code(128 + libc::SIGSYS);
        assert!(
            runtime::find_json_line(&o.stdout).is_none(),
            "{action}: the process went on after mkdir\n{o}"
        );
    }
    t.assert_no_leaks();
}

#[test]
fn log_and_trace_actions() {
    let mut t = Ctx::new("sclog");
    let o = run_mkdir(
        &mut t,
        profile(
            "SCMP_ACT_ALLOW",
            json!([mkdir_rule("SCMP_ACT_LOG", json!({}))]),
        ),
        "log",
    );
    o.assert_ok();
    assert_eq!(o.json_line()["ok"], true, "SCMP_ACT_LOG allows: {o}");
    // Without a tracer the system call fails with ENOSYS.
    let o = run_mkdir(
        &mut t,
        profile(
            "SCMP_ACT_ALLOW",
            json!([mkdir_rule("SCMP_ACT_TRACE", json!({}))]),
        ),
        "trace",
    );
    o.assert_ok();
    assert_eq!(o.json_line()["errno"], libc::ENOSYS, "SCMP_ACT_TRACE: {o}");
    t.assert_no_leaks();
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let mut t = Ctx::new("scunknownname");
    let o = run_mkdir(
        &mut t,
        profile(
            "SCMP_ACT_ALLOW",
            json!([{"names": ["berth_no_such_syscall", "mkdir", "mkdirat"],
                    "action": "SCMP_ACT_ERRNO", "errnoRet": 77}]),
        ),
        "c",
    );
    o.assert_ok();
    assert_eq!(o.json_line()["errno"], 77, "{o}");
    t.assert_no_leaks();
}

#[test]
fn flags_and_architectures_are_accepted() {
    let mut t = Ctx::new("scflags");
    // runc 1.1.5 rejects any flags: "seccomp flags are not yet supported by runc".
    if !skip_on_runc("seccomp flags are rejected") {
        let mut p = profile(
            "SCMP_ACT_ALLOW",
            json!([mkdir_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 71}))]),
        );
        p["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);
        let o = run_mkdir(&mut t, p, "flags");
        o.assert_ok();
        assert_eq!(o.json_line()["errno"], 71, "{o}");
    }

    // No architectures: the native one only.
    let mut p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 72}))]),
    );
    p.as_object_mut().unwrap().remove("architectures");
    let o = run_mkdir(&mut t, p, "noarch");
    o.assert_ok();
    assert_eq!(o.json_line()["errno"], 72, "{o}");
    t.assert_no_leaks();
}

#[test]
fn exec_processes_get_the_profile_too() {
    let mut t = Ctx::new("scexec");
    t.bundle.set_linux(
        "seccomp",
        profile(
            "SCMP_ACT_ALLOW",
            json!([mkdir_rule("SCMP_ACT_ERRNO", json!({"errnoRet": 74}))]),
        ),
    );
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.rt.run_detached(&id, &t.bundle);
    let o =
        t.rt.exec(&["exec", &id, "/checker", "mkdir", "/tmp/from-exec"]);
    o.assert_ok();
    assert_eq!(o.json_line()["errno"], 74, "{o}");
    t.rt.delete_force(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn bad_profiles_are_config_errors() {
    let mut t = Ctx::new("scbad");
    t.bundle.checker(&["sleep", "30"]);
    let rule = |action: &str| json!([{"names": ["mkdir"], "action": action}]);
    let cases = [
        (
            "action",
            profile("SCMP_ACT_ALLOW", rule("SCMP_ACT_BOGUS")),
            "SCMP_ACT_BOGUS",
        ),
        (
            "default",
            profile("SCMP_ACT_NOPE", json!([])),
            "SCMP_ACT_NOPE",
        ),
        (
            "arch",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_BOGUS"]}),
            "SCMP_ARCH_BOGUS",
        ),
        (
            "op",
            profile(
                "SCMP_ACT_ALLOW",
                json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_BOGUS"}]}]),
            ),
            "SCMP_CMP_BOGUS",
        ),
    ];
    let mut failures = Vec::new();
    for (name, p, word) in cases {
        t.bundle.set_linux("seccomp", p);
        let id = t.id(name);
        let o = t.rt.create(&id, &t.bundle);
        if o.code != Some(1) || !o.stderr.contains(word) {
            failures.push(format!("{name}: expected exit 1 naming {word}\n{o}"));
        }
        let _ = t.rt.delete_force(&id);
        let entries = t.rt.root_entries();
        assert!(
            !entries.contains(&id),
            "{id} left under --root: {entries:?}"
        );
        t.assert_no_leaks();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A NOTIFY profile for mkdir with a listener at `sock`.
fn notify_profile(sock: &std::path::Path, metadata: &str) -> Value {
    let mut p = profile(
        "SCMP_ACT_ALLOW",
        json!([mkdir_rule("SCMP_ACT_NOTIFY", json!({}))]),
    );
    p["listenerPath"] = json!(sock);
    p["listenerMetadata"] = json!(metadata);
    p
}

#[test]
fn notify_hands_one_fd_and_the_state_to_the_listener() {
    let mut t = Ctx::new("scnotify");
    let sock = ConsoleSocket::bind_until_eof(&t.rt.scratch("sock").join("seccomp.sock"));
    t.bundle
        .set_linux("seccomp", notify_profile(sock.path(), "berth-e2e-metadata"));
    t.bundle.checker(&["syscall-mkdir", "/tmp/notified", "755"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let got = sock.receive(T);
    let pid = t.rt.state_json(&id)["pid"].as_i64().unwrap();
    assert_eq!(got.fds.len(), 1, "exactly one fd over the listener socket");
    let text = String::from_utf8_lossy(&got.data).into_owned();
    let msg: Value = serde_json::from_str(text.trim_end_matches('\0').trim())
        .unwrap_or_else(|e| panic!("listener payload is not JSON ({e}): {text:?}"));
    assert!(
        msg["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{msg}"
    );
    assert_eq!(msg["fds"], json!(["seccompFd"]), "{msg}");
    assert_eq!(msg["pid"], pid, "pid in the payload vs state: {msg}");
    assert_eq!(msg["metadata"], "berth-e2e-metadata", "{msg}");
    assert_eq!(msg["state"]["id"], id.as_str(), "{msg}");
    assert_eq!(msg["state"]["pid"], pid, "{msg}");
    let bundle = std::fs::canonicalize(t.bundle.path()).unwrap();
    assert_eq!(msg["state"]["bundle"], bundle.to_str().unwrap(), "{msg}");

    // Answer the container's mkdir with EBADSLT.
    t.rt.start(&id).assert_ok();
    let fd = &got.fds[0];
    let n = notify::recv(fd, T).expect("no notification for the container's mkdir");
    assert_eq!(n.nr as i64, libc::SYS_mkdir, "{n:?}");
    assert_eq!(n.pid as i64, pid, "the notifying task is the init: {n:?}");
    notify::fail_with(fd, n.id, libc::EBADSLT).expect("SECCOMP_IOCTL_NOTIF_SEND");
    t.rt.wait_status(&id, "stopped", T);
    let r = runtime::find_json_line(&t.rt.container_stdout(&id)).expect("checker output");
    assert_eq!(r["errno"], libc::EBADSLT, "{r}");
    assert!(!t.bundle.rootfs_path("/tmp/notified").exists());
    t.rt.delete(&id).assert_ok();
    drop(got);
    t.assert_no_leaks();
}

#[test]
fn notify_listener_that_closes_the_fd_makes_the_call_fail_with_enosys() {
    let mut t = Ctx::new("scnotifyclose");
    let sock = ConsoleSocket::bind_until_eof(&t.rt.scratch("sock").join("seccomp.sock"));
    t.bundle
        .set_linux("seccomp", notify_profile(sock.path(), ""));
    t.bundle.checker(&["mkdir", "/tmp/closed"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_ok();
    let got = sock.receive(T);
    assert_eq!(got.fds.len(), 1);
    drop(got);
    t.rt.start(&id).assert_ok();
    t.rt.wait_status(&id, "stopped", T);
    let r = runtime::find_json_line(&t.rt.container_stdout(&id)).expect("checker output");
    assert_eq!(r["errno"], libc::ENOSYS, "{r}");
    t.rt.delete(&id).assert_ok();
    t.assert_no_leaks();
}

#[test]
fn notify_with_nobody_listening_fails_create_cleanly() {
    let mut t = Ctx::new("scnotifynone");
    let path = t.rt.scratch("sock").join("nobody.sock");
    t.bundle.set_linux("seccomp", notify_profile(&path, "m"));
    t.bundle.checker(&["sleep", "30"]);
    let id = t.id("c");
    t.rt.create(&id, &t.bundle).assert_fail();
    let entries = t.rt.root_entries();
    assert!(
        !entries.contains(&id),
        "{id} left under --root: {entries:?}"
    );
    t.assert_no_leaks();
}
