//! Translation tests, a cBPF interpreter to check the whole program on
//! architectures this host cannot run, and forked children that really
//! load filters (root is needed only for the test without no_new_privs).

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use libseccomp::{
    ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags,
    ScmpSyscall,
};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;

use super::bpf::{self, Section};
use super::profile::translate;
use super::*;

fn profile(v: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("valid profile")
}

fn sc(name: &str) -> ScmpSyscall {
    ScmpSyscall::from_name(name).unwrap()
}

// ---- translation ----

#[test]
fn unknown_syscall_is_skipped() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["getpid", "no_such_syscall_xyz"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let plan = translate(&p).unwrap();
    assert_eq!(plan.skipped, ["no_such_syscall_xyz"]);
    assert_eq!(plan.rules.len(), 1);
    assert_eq!(plan.rules[0].syscall, sc("getpid"));
    build(&p).expect("an unknown name does not fail the build");
}

#[test]
fn same_index_conditions_become_separate_rules() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{
            "names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}
            ]
        }]
    }));
    let plan = translate(&p).unwrap();
    let conds: Vec<_> = plan.rules.iter().map(|r| r.conds.clone()).collect();
    assert_eq!(
        conds,
        [
            vec![ScmpArgCompare::new(0, ScmpCompareOp::Equal, 0)],
            vec![ScmpArgCompare::new(0, ScmpCompareOp::Equal, 8)],
        ]
    );
    build(&p).unwrap();
}

#[test]
fn different_index_conditions_share_one_rule() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{
            "names": ["getpriority"], "action": "SCMP_ACT_ALLOW",
            "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}
            ]
        }]
    }));
    let plan = translate(&p).unwrap();
    assert_eq!(plan.rules.len(), 1);
    assert_eq!(plan.rules[0].conds.len(), 2);
}

#[test]
fn any_repeated_index_splits_every_condition() {
    // runc's rule: one repeated index turns *all* conditions into
    // single-condition rules, including the one on another index.
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{
            "names": ["getpriority"], "action": "SCMP_ACT_ALLOW",
            "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}
            ]
        }]
    }));
    let plan = translate(&p).unwrap();
    assert_eq!(plan.rules.len(), 3);
    assert!(plan.rules.iter().all(|r| r.conds.len() == 1));
}

#[test]
fn masked_eq_uses_value_as_mask() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["clone"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 0x7e020000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
        }]
    }));
    let plan = translate(&p).unwrap();
    assert_eq!(
        plan.rules[0].conds,
        [ScmpArgCompare::new(
            0,
            ScmpCompareOp::MaskedEqual(0x7e020000),
            0
        )]
    );
}

#[test]
fn errno_values() {
    let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}));
    assert_eq!(translate(&p).unwrap().default, ScmpAction::Errno(38));
    let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO"}));
    assert_eq!(
        translate(&p).unwrap().default,
        ScmpAction::Errno(libc::EPERM)
    );
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
            {"names": ["rmdir"], "action": "SCMP_ACT_TRACE"},
            {"names": ["chdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}
        ]
    }));
    let actions: Vec<_> = translate(&p)
        .unwrap()
        .rules
        .iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        [
            ScmpAction::Errno(18),
            ScmpAction::Trace(libc::EPERM as u16),
            ScmpAction::Trace(7)
        ]
    );
}

#[test]
fn rules_repeating_the_default_are_skipped() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}
        ]
    }));
    let plan = translate(&p).unwrap();
    assert_eq!(plan.rules.len(), 1);
    assert_eq!(plan.rules[0].name, "chdir");
    // KILL is KILL_THREAD.
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_KILL",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL_THREAD"}]
    }));
    assert!(translate(&p).unwrap().rules.is_empty());
    build(&p).unwrap();
}

#[test]
fn invalid_profiles_are_refused() {
    let cases = [
        json!({"defaultAction": "SCMP_ACT_NOTIFY"}),
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_NOTIFY"}]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "",
               "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_NOTIFY"}]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
               "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                             "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": [""], "action": "SCMP_ACT_ERRNO"}]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}),
    ];
    for c in cases {
        let e = build(&profile(c.clone())).expect_err(&c.to_string());
        assert!(matches!(e, SeccompError::Invalid(_)), "{c}: {e}");
    }
    // errno above MAX_ERRNO: libseccomp refuses it.
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5000}]}));
    assert!(matches!(build(&p), Err(SeccompError::Libseccomp { .. })));
}

#[test]
fn unknown_action_or_operator_fail_deserialization() {
    let bad = [
        json!({"defaultAction": "SCMP_ACT_BOGUS"}),
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_BOGUS"}]}]}),
    ];
    for b in bad {
        assert!(serde_json::from_value::<LinuxSeccomp>(b).is_err());
    }
}

#[test]
fn unsupported_arch_and_flag_are_errors() {
    // Not in libseccomp 2.5; and a big-endian arch cannot join a filter
    // for a little-endian host.
    #[cfg(target_endian = "little")]
    for arch in ["SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_S390X"] {
        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch]}));
        let e = build(&p).unwrap_err();
        assert!(matches!(e, SeccompError::Unsupported { .. }), "{arch}: {e}");
        assert!(!supported_archs().contains(&arch));
    }
    if !supported_flags().contains(&"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") {
        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}));
        let e = build(&p).unwrap_err();
        assert!(
            e.to_string()
                .contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
            "{e}"
        );
    }
}

#[test]
fn flags() {
    let spec_allow = supported_flags().contains(&"SECCOMP_FILTER_FLAG_SPEC_ALLOW");
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    let want = if spec_allow {
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
    } else {
        0
    };
    assert_eq!(translate(&p).unwrap().kernel_flags, want, "runc's default");
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": []}));
    assert_eq!(translate(&p).unwrap().kernel_flags, 0);
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"]}));
    assert_eq!(
        build(&p).unwrap().flags,
        libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_TSYNC
    );
    let p = profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    let f = build(&p).unwrap();
    assert!(f.needs_notify());
    assert_eq!(
        f.flags,
        libc::SECCOMP_FILTER_FLAG_TSYNC
            | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    );
}

#[test]
fn features_lists() {
    assert_eq!(supported_operators().len(), 7);
    let actions = supported_actions();
    assert!(actions.contains(&"SCMP_ACT_KILL") && actions.contains(&"SCMP_ACT_TRAP"));
    assert_eq!(
        actions.contains(&"SCMP_ACT_NOTIFY"),
        libseccomp::get_api() >= 6
    );
    assert!(actions.windows(2).all(|w| w[0] < w[1]));
    let archs = supported_archs();
    assert!(archs.windows(2).all(|w| w[0] < w[1]));
    #[cfg(target_arch = "x86_64")]
    for a in ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] {
        assert!(archs.contains(&a), "{a}");
    }
    assert_eq!(known_flags().len(), 4);
    assert!(supported_flags().contains(&"SECCOMP_FILTER_FLAG_TSYNC"));
    assert!(libseccomp_version().is_some());
}

// ---- the program, run in a cBPF interpreter ----

/// Runs a classic BPF program over a `struct seccomp_data`; only what
/// libseccomp and the stub emit.
fn run_bpf(prog: &[libc::sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&arch.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for a in args {
        data.extend_from_slice(&a.to_ne_bytes());
    }
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        pc += 1;
        let k = i.k;
        let code = i.code as u32;
        let jump = |cond: bool| if cond { i.jt as usize } else { i.jf as usize };
        match code {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                let o = k as usize;
                a = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
            }
            c if c == libc::BPF_LD | libc::BPF_IMM => a = k,
            c if c == libc::BPF_LDX | libc::BPF_IMM => x = k,
            c if c == libc::BPF_LD | libc::BPF_MEM => a = mem[k as usize],
            c if c == libc::BPF_LDX | libc::BPF_MEM => x = mem[k as usize],
            c if c == libc::BPF_ST => mem[k as usize] = a,
            c if c == libc::BPF_STX => mem[k as usize] = x,
            c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => a &= k,
            c if c == libc::BPF_ALU | libc::BPF_OR | libc::BPF_K => a |= k,
            c if c == libc::BPF_MISC | libc::BPF_TAX => x = a,
            c if c == libc::BPF_MISC | libc::BPF_TXA => a = x,
            c if c == libc::BPF_JMP | libc::BPF_JA => pc += k as usize,
            c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => pc += jump(a == k),
            c if c == libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K => pc += jump(a > k),
            c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => pc += jump(a >= k),
            c if c == libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K => pc += jump(a & k != 0),
            c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_X => pc += jump(a == x),
            c if c == libc::BPF_JMP | libc::BPF_JGT | libc::BPF_X => pc += jump(a > x),
            c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_X => pc += jump(a >= x),
            c if c == libc::BPF_RET | libc::BPF_K => return k,
            c if c == libc::BPF_RET | libc::BPF_A => return a,
            c => panic!("interpreter: unsupported BPF op {c:#x} at {}", pc - 1),
        }
    }
}

const AUDIT_X86_64: u32 = 0xc000_003e;
const AUDIT_I386: u32 = 0x4000_0003;
const AUDIT_AARCH64: u32 = 0xc000_00b7;
const X32: u32 = 0x4000_0000;
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

#[cfg(target_arch = "x86_64")]
#[test]
fn enosys_stub_multi_arch() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["read", "write", "exit_group", "personality"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["no_such_syscall_xyz"], "action": "SCMP_ACT_ALLOW"}
        ]
    }));
    let plan = translate(&p).unwrap();
    let sections = bpf::last_syscalls(&plan.arches, &plan.names).unwrap();
    // exit_group is the largest on x86_64/x32 (231), and on i386 (252).
    assert_eq!(
        sections,
        [
            Section::X86_64 {
                amd64: Some(231),
                x32: Some(X32 | 231)
            },
            Section::Plain {
                audit: AUDIT_I386,
                max: 252,
                s390: false
            },
        ]
    );
    let f = build(&p).unwrap();
    let run = |nr, arch| run_bpf(&f.prog, nr, arch, [0; 6]);
    for (nr, arch, want, what) in [
        (0, AUDIT_X86_64, ALLOW, "x86_64 read"),
        (39, AUDIT_X86_64, errno(libc::EPERM), "x86_64 getpid"),
        (231, AUDIT_X86_64, ALLOW, "x86_64 exit_group"),
        (
            232,
            AUDIT_X86_64,
            errno(libc::ENOSYS),
            "x86_64 past the profile",
        ),
        (1000, AUDIT_X86_64, errno(libc::ENOSYS), "x86_64 1000"),
        (X32, AUDIT_X86_64, ALLOW, "x32 read"),
        (X32 | 39, AUDIT_X86_64, errno(libc::EPERM), "x32 getpid"),
        (X32 | 1000, AUDIT_X86_64, errno(libc::ENOSYS), "x32 1000"),
        (3, AUDIT_I386, ALLOW, "i386 read"),
        (20, AUDIT_I386, errno(libc::EPERM), "i386 getpid"),
        (1000, AUDIT_I386, errno(libc::ENOSYS), "i386 1000"),
        // Not in the filter: libseccomp's bad-arch action (KILL_THREAD).
        (
            1000,
            AUDIT_AARCH64,
            libc::SECCOMP_RET_KILL_THREAD,
            "aarch64",
        ),
    ] {
        assert_eq!(run(nr, arch), want, "{what}");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn enosys_stub_native_only_leaves_x32_to_the_filter() {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read", "exit_group"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let f = build(&p).unwrap();
    assert_eq!(
        run_bpf(&f.prog, 1000, AUDIT_X86_64, [0; 6]),
        errno(libc::ENOSYS)
    );
    // x32 is not in the filter, so it gets the bad-arch action, not ENOSYS.
    assert_eq!(
        run_bpf(&f.prog, X32 | 1000, AUDIT_X86_64, [0; 6]),
        libc::SECCOMP_RET_KILL_THREAD
    );
}

#[test]
fn no_enosys_stub_for_permissive_or_enosys_defaults() {
    for d in [
        json!({"defaultAction": "SCMP_ACT_ALLOW"}),
        json!({"defaultAction": "SCMP_ACT_LOG"}),
        json!({"defaultAction": "SCMP_ACT_TRACE"}),
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}),
    ] {
        let mut v = d.clone();
        v["syscalls"] = json!([{"names": ["getpid"], "action": "SCMP_ACT_KILL_PROCESS"}]);
        let plan = translate(&profile(v)).unwrap();
        assert!(!bpf::wants_enosys_stub(plan.default), "{d}");
    }
    for d in [
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
    ] {
        let plan = translate(&profile(json!({"defaultAction": d}))).unwrap();
        assert!(bpf::wants_enosys_stub(plan.default), "{d}");
    }
}

#[test]
fn enosys_stub_s390_and_long_jumps() {
    const S390X: u32 = 0x8000_0016;
    let ret_allow = libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: ALLOW,
    };
    // Many sections: the dispatch to the last ones is longer than a
    // conditional jump can reach.
    let mut sections: Vec<Section> = (0..100)
        .map(|i| Section::Plain {
            audit: 0x1000 + i,
            max: 10 + i,
            s390: false,
        })
        .collect();
    sections.push(Section::Plain {
        audit: S390X,
        max: 400,
        s390: true,
    });
    let mut prog = bpf::enosys_stub(&sections).unwrap();
    prog.push(ret_allow);
    let run = |nr, arch| run_bpf(&prog, nr, arch, [0; 6]);
    assert_eq!(run(0, S390X), errno(libc::ENOSYS), "s390 multiplexer");
    assert_eq!(run(5, S390X), ALLOW);
    assert_eq!(run(400, S390X), ALLOW);
    assert_eq!(run(401, S390X), errno(libc::ENOSYS));
    assert_eq!(run(0, 0x1000), ALLOW, "no multiplexer check elsewhere");
    assert_eq!(run(11, 0x1000), errno(libc::ENOSYS));
    assert_eq!(run(109, 0x1000 + 99), ALLOW);
    assert_eq!(run(110, 0x1000 + 99), errno(libc::ENOSYS));
    assert_eq!(run(5000, 0x7777), ALLOW, "other arches go to the filter");
}

// ---- forked children loading real filters ----

/// Forks; the child runs `f` and exits with its result (101 on panic).
/// Returns the child's wait status.
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `f` and _exits.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: ends the child without running the parent's atexit.
            unsafe { libc::_exit(code) }
        }
        pid => wait(pid),
    }
}

fn wait(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: plain waitpid on our child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EINTR)
        );
    }
    status
}

fn assert_exit_ok(status: i32) {
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {}",
        describe(status)
    );
}

fn describe(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!(
            "exited with {} (the failed check)",
            libc::WEXITSTATUS(status)
        )
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status:#x}")
    }
}

/// In the child, before loading: no core dumps from SIGSYS, and
/// no_new_privs so that loading needs no privilege.
fn child_setup(nnp: bool) {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        if nnp {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        }
    }
}

/// A raw syscall's result: the value, or the errno.
fn sys(r: libc::c_long) -> Result<libc::c_long, i32> {
    if r < 0 {
        // SAFETY: reading this thread's errno.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(r)
    }
}

/// Exits with the 1-based index of the first failed check.
fn checks(results: &[bool]) -> i32 {
    results
        .iter()
        .position(|ok| !ok)
        .map_or(0, |i| i as i32 + 1)
}

#[test]
fn errno_action_in_child() {
    let f = build(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV},
            {"names": ["getppid"], "action": "SCMP_ACT_LOG"},
            {"names": ["getpgid"], "action": "SCMP_ACT_TRACE", "errnoRet": 3}
        ]
    })))
    .unwrap();
    assert!(!f.needs_notify());
    let status = in_child(|| {
        child_setup(true);
        if f.load().unwrap().is_some() {
            return 50;
        }
        let dir = c"/nonexistent-berth-test/x";
        // SAFETY: raw syscalls with valid arguments.
        unsafe {
            checks(&[
                sys(libc::syscall(libc::SYS_mkdir, dir.as_ptr(), 0o755)) == Err(libc::EPERM),
                sys(libc::syscall(libc::SYS_rmdir, dir.as_ptr())) == Err(libc::EXDEV),
                sys(libc::syscall(libc::SYS_getpid)).is_ok_and(|p| p > 0),
                sys(libc::syscall(libc::SYS_getppid)).is_ok_and(|p| p > 0),
                // TRACE without a tracer: the kernel fails it with ENOSYS.
                sys(libc::syscall(libc::SYS_getpgid, 0)) == Err(libc::ENOSYS),
            ])
        }
    });
    assert_exit_ok(status);
}

#[test]
fn default_errno_ret_and_enosys_stub_in_child() {
    let f = build(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EXDEV,
        "syscalls": [{"names": ["exit_group", "exit", "getppid"], "action": "SCMP_ACT_ALLOW"}]
    })))
    .unwrap();
    let status = in_child(|| {
        child_setup(true);
        f.load().unwrap();
        // SAFETY: raw syscalls with valid arguments.
        unsafe {
            checks(&[
                sys(libc::syscall(libc::SYS_getpid)) == Err(libc::EXDEV),
                sys(libc::syscall(libc::SYS_getppid)).is_ok(),
                // Past exit_group (231), the largest syscall in the profile.
                sys(libc::syscall(libc::SYS_clone3, 0, 0)) == Err(libc::ENOSYS),
                sys(libc::syscall(1000)) == Err(libc::ENOSYS),
            ])
        }
    });
    assert_exit_ok(status);
}

#[test]
fn args_conditions_in_child() {
    let f = build(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["exit_group", "exit"], "action": "SCMP_ACT_ALLOW"},
            // Same index: ORed.
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0xffffffffu64, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}
            ]},
            // Different indexes: ANDed.
            {"names": ["getpriority"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": libc::PRIO_PROCESS, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}
            ]},
            // (mode & 07000) == 0.
            {"names": ["umask"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0o7000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
            ]},
            {"names": ["getpgid"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 100, "op": "SCMP_CMP_GT"}
            ]}
        ]
    })))
    .unwrap();
    let status = in_child(|| {
        child_setup(true);
        f.load().unwrap();
        let perm = Err(libc::EPERM);
        // SAFETY: raw syscalls with valid arguments.
        unsafe {
            checks(&[
                sys(libc::syscall(libc::SYS_personality, 0xffffffffu64)).is_ok(),
                sys(libc::syscall(libc::SYS_personality, 0)).is_ok(),
                sys(libc::syscall(libc::SYS_personality, 8)) == perm,
                sys(libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, 0)).is_ok(),
                sys(libc::syscall(libc::SYS_getpriority, libc::PRIO_PGRP, 0)) == perm,
                sys(libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, 1)) == perm,
                sys(libc::syscall(libc::SYS_umask, 0o022)).is_ok(),
                sys(libc::syscall(libc::SYS_umask, 0o4022)) == perm,
                // Allowed, so the kernel answers: no such process.
                sys(libc::syscall(libc::SYS_getpgid, 0x7fff_fff0)) == Err(libc::ESRCH),
                sys(libc::syscall(libc::SYS_getpgid, 0)) == perm,
            ])
        }
    });
    assert_exit_ok(status);
}

fn killed_by_sigsys(action: &str) {
    let f = build(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": action}]
    })))
    .unwrap();
    let status = in_child(|| {
        child_setup(true);
        f.load().unwrap();
        // SAFETY: raw syscall.
        unsafe { libc::syscall(libc::SYS_getppid) };
        77
    });
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
        "{action}: {}",
        describe(status)
    );
}

#[test]
fn kill_process_in_child() {
    killed_by_sigsys("SCMP_ACT_KILL_PROCESS");
}

#[test]
fn kill_thread_in_child() {
    killed_by_sigsys("SCMP_ACT_KILL");
}

#[test]
fn trap_in_child() {
    killed_by_sigsys("SCMP_ACT_TRAP");
}

#[test]
fn load_without_no_new_privs_keeps_it_unset() {
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs CAP_SYS_ADMIN");
        return;
    }
    let f = build(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    })))
    .unwrap();
    let status = in_child(|| {
        child_setup(false);
        f.load().unwrap();
        // SAFETY: raw syscalls.
        unsafe {
            checks(&[
                libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0,
                sys(libc::syscall(
                    libc::SYS_mkdir,
                    c"/nonexistent-x".as_ptr(),
                    0,
                )) == Err(libc::EPERM),
            ])
        }
    });
    assert_exit_ok(status);
}

fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("berth-seccomp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn readable(fd: RawFd, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout_ms) == 1 }
}

/// Accepts one agent connection and reads the message: the fds and the
/// whole payload.
fn agent_receive(listener: &UnixListener) -> (Vec<OwnedFd>, String) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    assert!(
        readable(listener.as_raw_fd(), 10_000),
        "no agent connection"
    );
    let (mut conn, _) = listener.accept().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let (n, fds) = {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let mut fds = Vec::new();
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(v) = c {
                // SAFETY: the kernel installed these fds for us.
                fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        (msg.bytes, fds)
    };
    buf.truncate(n);
    conn.read_to_end(&mut buf).unwrap();
    (fds, String::from_utf8(buf).unwrap())
}

#[test]
fn send_notify_fd_sends_one_fd_and_the_payload() {
    let dir = test_dir("send");
    let path = dir.join("agent.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (r, _w) = nix::unistd::pipe().unwrap();
    // Larger than a socket buffer, so the payload goes in several parts.
    let big = "x".repeat(1 << 20);
    let state = json!({"id": "c1", "big": big});
    let payload = process_state_json(42, Some("meta"), &state).unwrap();
    let sender = {
        let (path, payload) = (path.clone(), payload.clone());
        let r = r.try_clone().unwrap();
        std::thread::spawn(move || send_notify_fd(&path, r.as_fd(), &payload))
    };
    let (fds, got) = agent_receive(&listener);
    sender.join().unwrap().unwrap();
    assert_eq!(fds.len(), 1);
    assert_eq!(got, payload);
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(v["ociVersion"], crate::SPEC_VERSION);
    assert_eq!(v["fds"], json!(["seccompFd"]));
    assert_eq!(v["pid"], 42);
    assert_eq!(v["metadata"], "meta");
    assert_eq!(v["state"]["id"], "c1");
    let no_meta = process_state_json(1, None, &json!({})).unwrap();
    assert!(!no_meta.contains("metadata"));
    // A missing agent is an error, not a hang.
    let e = send_notify_fd(&dir.join("none.sock"), r.as_fd(), &payload).unwrap_err();
    assert!(matches!(e, SeccompError::ConnectAgent { .. }));
    assert!(
        e.to_string().starts_with(
            "failed to connect with seccomp agent specified in the seccomp profile: dial unix "
        ) && e
            .to_string()
            .ends_with(": connect: no such file or directory"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn notify_fd_reaches_agent_which_answers_the_syscall() {
    if libseccomp::get_api() < 6 {
        eprintln!("skipped: needs seccomp API level 6");
        return;
    }
    let dir = test_dir("notify");
    let path = dir.join("agent.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let f = build(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": path,
        "listenerMetadata": "meta-1",
        "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_NOTIFY"}]
    })))
    .unwrap();
    assert!(f.needs_notify());
    // SAFETY: the child sends the fd, makes the notified call, _exits.
    let pid = match unsafe { libc::fork() } {
        -1 => panic!("fork"),
        0 => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                child_setup(true);
                let Some(fd) = f.load().unwrap() else {
                    return 2;
                };
                // SAFETY: plain getter.
                let me = unsafe { libc::getpid() };
                let json = process_state_json(me, Some("meta-1"), &json!({"id": "c1"})).unwrap();
                if send_notify_fd(&path, fd.as_fd(), &json).is_err() {
                    return 3;
                }
                drop(fd);
                // SAFETY: raw syscall; the agent answers it.
                let r = sys(unsafe { libc::syscall(libc::SYS_getpgid, 0) });
                checks(&[r == Ok(4242)])
            }))
            .unwrap_or(101);
            // SAFETY: ends the child.
            unsafe { libc::_exit(code) }
        }
        pid => pid,
    };
    let (fds, payload) = agent_receive(&listener);
    assert_eq!(fds.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v["fds"], json!(["seccompFd"]));
    assert_eq!(v["pid"], pid);
    assert_eq!(v["metadata"], "meta-1");
    assert_eq!(v["state"]["id"], "c1");
    let fd = &fds[0];
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    assert_eq!(link.to_str(), Some("anon_inode:seccomp notify"));

    assert!(readable(fd.as_raw_fd(), 10_000), "no notification");
    let req = ScmpNotifReq::receive(fd.as_raw_fd()).unwrap();
    assert_eq!(req.pid, pid as u32);
    assert_eq!(req.data.syscall, sc("getpgid"));
    ScmpNotifResp::new_val(req.id, 4242, ScmpNotifRespFlags::empty())
        .respond(fd.as_raw_fd())
        .unwrap();
    assert_exit_ok(wait(pid));
    std::fs::remove_dir_all(&dir).unwrap();
}
