//! berth's default seccomp policy: what a container may call unless it runs
//! `--privileged` or with `--security-opt seccomp=unconfined|FILE`.
//!
//! The policy has the same effect as docker's default profile (moby's
//! profiles/seccomp), written here as rules rather than a copied JSON file:
//!
//! 1. everything not named below fails with EPERM;
//! 2. [`ALLOWED`] (the ordinary process, file, socket, ipc, time and memory calls)
//!    is allowed for everyone;
//! 3. `socket` is allowed for every address family except AF_VSOCK (the host's
//!    hypervisor channel);
//! 4. `personality` is allowed only for the personas programs really use
//!    ([`PERSONAS`]: Linux, Linux32, UNAME26 and both, and the 0xffffffff query);
//!    the others (e.g. READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE) are refused, since
//!    they weaken the address-space protections;
//! 5. the architecture's own calls ([`arch_calls`]);
//! 6. each capability-gated group in [`BY_CAPABILITY`] is allowed only when the
//!    container holds that capability (mount, namespaces and bpf need
//!    CAP_SYS_ADMIN; ptrace's extras CAP_SYS_PTRACE; ...);
//! 7. without CAP_SYS_ADMIN, `clone` is allowed only with none of the flags that
//!    make namespaces ([`NAMESPACE_FLAGS`]), and `clone3` (whose flags live in
//!    memory a filter cannot read) fails with ENOSYS so that libcs fall back to
//!    `clone`.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

/// Calls every container may make.
pub const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // Since Linux 4.8 a seccomp filter is re-checked after a ptrace stop, so ptrace
    // of the container's own processes cannot bypass it (older kernels: CAP_SYS_PTRACE).
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
];

/// AF_VSOCK: `socket` is refused for this family only.
pub const AF_VSOCK: u64 = 40;

/// The `personality` values allowed: PER_LINUX, PER_LINUX32, UNAME26,
/// UNAME26|PER_LINUX32, and 0xffffffff (a query that changes nothing).
pub const PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// clone flags that make namespaces (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
/// NEWUSER, NEWPID, NEWNET): `clone` with any of them needs CAP_SYS_ADMIN.
pub const NAMESPACE_FLAGS: u64 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

/// Groups allowed only with a capability.
pub const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// The calls only an architecture has, for the architecture berth is built for.
pub fn arch_calls() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "x86_64" => &["arch_prctl", "modify_ldt"],
        "x86" => &["modify_ldt"],
        "arm" | "aarch64" => &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        "powerpc64" => &["sync_file_range2", "swapcontext"],
        "s390x" => &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        "riscv64" => &["riscv_flush_icache"],
        _ => &[],
    }
}

/// The ABIs a native process of this architecture can call through.
fn architectures() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        "s390x" => vec![Arch::ScmpArchS390x, Arch::ScmpArchS390],
        "riscv64" => vec![Arch::ScmpArchRiscv64],
        "powerpc64" => vec![Arch::ScmpArchPpc64le],
        _ => vec![],
    }
}

fn rule(names: &[&str], action: LinuxSeccompAction) -> LinuxSyscall {
    let mut r = LinuxSyscall::default();
    r.set_names(names.iter().map(|s| s.to_string()).collect())
        .set_action(action);
    r
}

fn arg(index: usize, value: u64, op: LinuxSeccompOperator) -> LinuxSeccompArg {
    // For MASKED_EQ `value` is the mask and the (absent) second value 0 the
    // result wanted, as runc and libseccomp read it.
    LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op)
        .build()
        .unwrap_or_default()
}

/// The default policy for a container holding `caps` (`CAP_X` names).
pub fn profile(caps: &[String]) -> LinuxSeccomp {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let allow = LinuxSeccompAction::ScmpActAllow;
    let mut rules = vec![rule(ALLOWED, allow)];
    let mut socket = rule(&["socket"], allow);
    socket.set_args(Some(vec![arg(
        0,
        AF_VSOCK,
        LinuxSeccompOperator::ScmpCmpNe,
    )]));
    rules.push(socket);
    for p in PERSONAS {
        let mut r = rule(&["personality"], allow);
        r.set_args(Some(vec![arg(0, *p, LinuxSeccompOperator::ScmpCmpEq)]));
        rules.push(r);
    }
    if !arch_calls().is_empty() {
        rules.push(rule(arch_calls(), allow));
    }
    for (cap, names) in BY_CAPABILITY {
        if has(cap) {
            rules.push(rule(names, allow));
        }
    }
    if !has("CAP_SYS_ADMIN") {
        // s390's clone takes the flags second.
        let flags_arg = if std::env::consts::ARCH == "s390x" {
            1
        } else {
            0
        };
        let mut clone = rule(&["clone"], allow);
        clone.set_args(Some(vec![arg(
            flags_arg,
            NAMESPACE_FLAGS,
            LinuxSeccompOperator::ScmpCmpMaskedEq,
        )]));
        rules.push(clone);
        let mut clone3 = rule(&["clone3"], LinuxSeccompAction::ScmpActErrno);
        clone3.set_errno_ret(Some(libc::ENOSYS as u32));
        rules.push(clone3);
    }
    let mut out = LinuxSeccomp::default();
    out.set_default_action(LinuxSeccompAction::ScmpActErrno)
        .set_default_errno_ret(Some(libc::EPERM as u32))
        .set_architectures(Some(architectures()))
        .set_syscalls(Some(rules));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed_plain(p: &LinuxSeccomp, name: &str) -> bool {
        p.syscalls().iter().flatten().any(|r| {
            r.action() == LinuxSeccompAction::ScmpActAllow
                && r.args().as_ref().is_none_or(|a| a.is_empty())
                && r.names().iter().any(|n| n == name)
        })
    }

    fn default_caps() -> Vec<String> {
        super::super::DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn default_caps_refuse_the_dangerous_calls() {
        let p = profile(&default_caps());
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "bpf",
            "reboot",
            "init_module",
            "kexec_load",
            "open_by_handle_at",
            "keyctl",
            "add_key",
            "userfaultfd",
            "clock_settime",
            "acct",
            "swapon",
            "pivot_root",
            "iopl",
            "perf_event_open",
            "clone3",
            "clone",
            "socket",
            "personality",
        ] {
            assert!(!allowed_plain(&p, name), "{name} allowed unconditionally");
        }
        // CAP_SYS_CHROOT is a default capability.
        for name in ["chroot", "read", "ptrace", "arch_prctl", "io_uring_setup"] {
            assert!(allowed_plain(&p, name), "{name} refused");
        }
        let rules = p.syscalls().as_ref().unwrap();
        let clone3 = rules.iter().find(|r| *r.names() == ["clone3"]).unwrap();
        assert_eq!(clone3.errno_ret(), Some(38));
        let clone = rules.iter().find(|r| *r.names() == ["clone"]).unwrap();
        let a = &clone.args().as_ref().unwrap()[0];
        assert_eq!(a.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(a.value(), 0x7E02_0000);
        assert_eq!(a.value_two(), None);
        assert_eq!(
            rules
                .iter()
                .filter(|r| *r.names() == ["personality"])
                .count(),
            PERSONAS.len()
        );
    }

    #[test]
    fn capabilities_open_their_groups() {
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        caps.push("CAP_SYS_TIME".into());
        let p = profile(&caps);
        for name in [
            "mount",
            "unshare",
            "setns",
            "clone",
            "clone3",
            "clock_settime",
        ] {
            assert!(
                allowed_plain(&p, name),
                "{name} refused with its capability"
            );
        }
        assert!(!allowed_plain(&p, "reboot"));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["defaultErrnoRet"], 1);
    }

    #[test]
    fn which_policy_a_container_gets() {
        use super::super::{seccomp_mode, SeccompMode};
        let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(seccomp_mode(false, &[]), SeccompMode::Default);
        assert_eq!(
            seccomp_mode(false, &o(&["no-new-privileges"])),
            SeccompMode::Default
        );
        assert_eq!(
            seccomp_mode(false, &o(&["seccomp=unconfined"])),
            SeccompMode::Unconfined
        );
        assert_eq!(
            seccomp_mode(false, &o(&["seccomp:unconfined"])),
            SeccompMode::Unconfined
        );
        assert_eq!(
            seccomp_mode(false, &o(&["seccomp=/p.json"])),
            SeccompMode::Custom
        );
        assert_eq!(
            seccomp_mode(true, &o(&["seccomp=/p.json"])),
            SeccompMode::Unconfined
        );
        assert_eq!(SeccompMode::Default.name(), "builtin");
        assert!(super::super::security_options()
            .iter()
            .any(|o| o == "name=seccomp,profile=builtin"));
    }
}
