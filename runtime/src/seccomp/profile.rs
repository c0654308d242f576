//! Profile translation: runc's `SetupSeccomp`, `InitSeccomp` and
//! `matchCall`, into a [`Plan`] that is then compiled by libseccomp.

use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};

use super::{Result, SeccompError};

/// Linux syscalls take at most six arguments.
const MAX_ARGS: usize = 6;

/// Every architecture the runtime-spec names, with its libseccomp token.
pub(super) const ARCHES: &[(&str, Arch, ScmpArch)] = &[
    (
        "SCMP_ARCH_AARCH64",
        Arch::ScmpArchAarch64,
        ScmpArch::Aarch64,
    ),
    ("SCMP_ARCH_ARM", Arch::ScmpArchArm, ScmpArch::Arm),
    (
        "SCMP_ARCH_LOONGARCH64",
        Arch::ScmpArchLoongarch64,
        ScmpArch::Loongarch64,
    ),
    ("SCMP_ARCH_M68K", Arch::ScmpArchM68k, ScmpArch::M68k),
    ("SCMP_ARCH_MIPS", Arch::ScmpArchMips, ScmpArch::Mips),
    ("SCMP_ARCH_MIPS64", Arch::ScmpArchMips64, ScmpArch::Mips64),
    (
        "SCMP_ARCH_MIPS64N32",
        Arch::ScmpArchMips64n32,
        ScmpArch::Mips64N32,
    ),
    ("SCMP_ARCH_MIPSEL", Arch::ScmpArchMipsel, ScmpArch::Mipsel),
    (
        "SCMP_ARCH_MIPSEL64",
        Arch::ScmpArchMipsel64,
        ScmpArch::Mipsel64,
    ),
    (
        "SCMP_ARCH_MIPSEL64N32",
        Arch::ScmpArchMipsel64n32,
        ScmpArch::Mipsel64N32,
    ),
    ("SCMP_ARCH_PARISC", Arch::ScmpArchParisc, ScmpArch::Parisc),
    (
        "SCMP_ARCH_PARISC64",
        Arch::ScmpArchParisc64,
        ScmpArch::Parisc64,
    ),
    ("SCMP_ARCH_PPC", Arch::ScmpArchPpc, ScmpArch::Ppc),
    ("SCMP_ARCH_PPC64", Arch::ScmpArchPpc64, ScmpArch::Ppc64),
    (
        "SCMP_ARCH_PPC64LE",
        Arch::ScmpArchPpc64le,
        ScmpArch::Ppc64Le,
    ),
    (
        "SCMP_ARCH_RISCV64",
        Arch::ScmpArchRiscv64,
        ScmpArch::Riscv64,
    ),
    ("SCMP_ARCH_S390", Arch::ScmpArchS390, ScmpArch::S390),
    ("SCMP_ARCH_S390X", Arch::ScmpArchS390x, ScmpArch::S390X),
    ("SCMP_ARCH_SH", Arch::ScmpArchSh, ScmpArch::Sh),
    ("SCMP_ARCH_SHEB", Arch::ScmpArchSheb, ScmpArch::Sheb),
    ("SCMP_ARCH_X32", Arch::ScmpArchX32, ScmpArch::X32),
    ("SCMP_ARCH_X86", Arch::ScmpArchX86, ScmpArch::X86),
    ("SCMP_ARCH_X86_64", Arch::ScmpArchX86_64, ScmpArch::X8664),
];

pub(super) fn arch_name(a: ScmpArch) -> &'static str {
    ARCHES
        .iter()
        .find(|e| e.2 == a)
        .map_or("SCMP_ARCH_NATIVE", |e| e.0)
}

/// The flags as the runtime-spec spells them.
pub(super) fn flag_name(f: LinuxSeccompFilterFlag) -> &'static str {
    match f {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => "SECCOMP_FILTER_FLAG_TSYNC",
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => "SECCOMP_FILTER_FLAG_LOG",
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
        }
    }
}

/// Sets `f` as a libseccomp filter attribute; libseccomp checks that it and
/// the kernel support it. Returns the matching seccomp(2) flag.
pub(super) fn set_flag(
    ctx: &mut ScmpFilterContext,
    f: LinuxSeccompFilterFlag,
) -> std::result::Result<libc::c_ulong, libseccomp::error::SeccompError> {
    Ok(match f {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {
            ctx.set_ctl_tsync(true)?;
            libc::SECCOMP_FILTER_FLAG_TSYNC
        }
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => {
            ctx.set_ctl_log(true)?;
            libc::SECCOMP_FILTER_FLAG_LOG
        }
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
            ctx.set_ctl_ssb(true)?;
            libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
        }
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            ctx.set_ctl_waitkill(true)?;
            libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        }
    })
}

pub(super) fn flag_supported(f: LinuxSeccompFilterFlag) -> bool {
    ScmpFilterContext::new(ScmpAction::Allow)
        .and_then(|mut ctx| set_flag(&mut ctx, f))
        .is_ok()
}

/// One libseccomp rule.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rule {
    pub name: String,
    pub syscall: ScmpSyscall,
    pub action: ScmpAction,
    pub conds: Vec<ScmpArgCompare>,
}

/// The profile in libseccomp terms.
#[derive(Debug)]
pub(super) struct Plan {
    pub default: ScmpAction,
    /// Architectures to add, as listed (the native one is implicit).
    pub arches: Vec<ScmpArch>,
    pub flags: Vec<LinuxSeccompFilterFlag>,
    /// SECCOMP_FILTER_FLAG_* to load with.
    pub kernel_flags: libc::c_ulong,
    pub rules: Vec<Rule>,
    /// Names libseccomp does not know, skipped like runc does.
    pub skipped: Vec<String>,
    /// Every name in the profile, for the -ENOSYS stub.
    pub names: Vec<String>,
    pub notify: bool,
}

/// runc's getAction. ERRNO and TRACE default to EPERM, like runc.
fn action(a: LinuxSeccompAction, ret: Option<u32>) -> Result<ScmpAction> {
    let data = || -> Result<u16> {
        match ret {
            None => Ok(libc::EPERM as u16),
            Some(v) => u16::try_from(v)
                .map_err(|_| SeccompError::Invalid(format!("errnoRet {v} does not fit 16 bits"))),
        }
    };
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(data()?.into()),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

/// runc's getCondition. For MASKED_EQ, `value` is the mask and `valueTwo`
/// the value compared with: `(arg & value) == valueTwo`.
fn condition(arg: &LinuxSeccompArg) -> Result<ScmpArgCompare> {
    let index = arg.index();
    if index >= MAX_ARGS {
        return Err(SeccompError::Invalid(format!(
            "argument index {index} out of range (syscalls have {MAX_ARGS} arguments)"
        )));
    }
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(index as u32, op, datum))
}

fn spec_arch(a: Arch) -> ScmpArch {
    if a == Arch::ScmpArchNative {
        return ScmpArch::Native;
    }
    ARCHES
        .iter()
        .find(|e| e.1 == a)
        .map(|e| e.2)
        .expect("every runtime-spec arch is in ARCHES")
}

pub(super) fn translate(s: &LinuxSeccomp) -> Result<Plan> {
    let default = action(s.default_action(), s.default_errno_ret())?;
    if default == ScmpAction::Notify {
        // The init could then block on its own syscalls before the agent
        // has the fd.
        return Err(SeccompError::Invalid(
            "SCMP_ACT_NOTIFY cannot be used as the default action".into(),
        ));
    }

    let mut arches = Vec::new();
    for a in s.architectures().iter().flatten() {
        let a = spec_arch(*a);
        if !arches.contains(&a) {
            arches.push(a);
        }
    }

    // runc: no `flags` at all means SPEC_ALLOW where supported (no
    // speculative store bypass mitigation forced on the container); an
    // explicit list, even empty, is taken as is.
    let flags = match s.flags() {
        None => [LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow]
            .into_iter()
            .filter(|f| flag_supported(*f))
            .collect(),
        Some(list) => {
            let mut v: Vec<LinuxSeccompFilterFlag> = Vec::new();
            for f in list {
                if !v.contains(f) {
                    v.push(*f);
                }
            }
            v
        }
    };

    let mut plan = Plan {
        default,
        arches,
        flags,
        kernel_flags: 0,
        rules: Vec::new(),
        skipped: Vec::new(),
        names: Vec::new(),
        notify: false,
    };

    for entry in s.syscalls().iter().flatten() {
        let act = action(entry.action(), entry.errno_ret())?;
        let conds = entry
            .args()
            .iter()
            .flatten()
            .map(condition)
            .collect::<Result<Vec<_>>>()?;
        // runc: one rule per index, unless some index repeats; then every
        // condition becomes its own rule (ORed), because libseccomp
        // refuses two conditions on one argument in a rule.
        let mut per_index = [0usize; MAX_ARGS];
        for a in entry.args().iter().flatten() {
            per_index[a.index()] += 1;
        }
        let split = per_index.iter().any(|&n| n > 1);

        for name in entry.names() {
            if name.is_empty() {
                return Err(SeccompError::Invalid(
                    "empty string is not a valid syscall".into(),
                ));
            }
            plan.names.push(name.clone());
            if act == ScmpAction::Notify {
                if name == "write" {
                    // runc's init hands the fd over with write(2); a
                    // notified write would wait for an agent without it.
                    return Err(SeccompError::Invalid(
                        "SCMP_ACT_NOTIFY cannot be used for the write syscall".into(),
                    ));
                }
                plan.notify = true;
            }
            if act == default {
                // libseccomp refuses rules that repeat the default.
                continue;
            }
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                // Names resolve for every arch libseccomp knows (as pseudo
                // numbers where absent), so this one is unknown to all:
                // probably newer than libseccomp. runc ignores it.
                log::debug!("seccomp: unknown syscall {name:?} ignored");
                plan.skipped.push(name.clone());
                continue;
            };
            let rule = |conds: Vec<ScmpArgCompare>| Rule {
                name: name.clone(),
                syscall,
                action: act,
                conds,
            };
            if split {
                plan.rules.extend(conds.iter().map(|c| rule(vec![*c])));
            } else {
                plan.rules.push(rule(conds.clone()));
            }
        }
    }

    if plan.notify {
        let level = libseccomp::get_api();
        if level < 6 {
            return Err(SeccompError::Unsupported {
                what: "SCMP_ACT_NOTIFY".into(),
                why: format!(
                    "needs libseccomp API level 6 (libseccomp >= 2.5.0, Linux >= 5.7), have {level}"
                ),
            });
        }
        let listener = s.listener_path().as_deref().unwrap_or(Path::new(""));
        if listener.as_os_str().is_empty() {
            return Err(SeccompError::Invalid(
                "SCMP_ACT_NOTIFY needs listenerPath".into(),
            ));
        }
    }

    for f in &plan.flags {
        plan.kernel_flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // The kernel takes it only together with NEW_LISTENER.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if plan.notify => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    if plan.notify {
        plan.kernel_flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if plan.kernel_flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            // TSYNC's error return (a tid) would be ambiguous with the fd.
            plan.kernel_flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    Ok(plan)
}

fn lib_err(ctx: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let ctx = ctx.into();
    move |source| SeccompError::Libseccomp { ctx, source }
}

/// Builds the libseccomp context for `plan`.
pub(super) fn compile(plan: &Plan) -> Result<ScmpFilterContext> {
    let mut ctx = ScmpFilterContext::new(plan.default).map_err(lib_err("create filter"))?;
    // libseccomp sets no_new_privs on load by default; runc turns that
    // off, it is `noNewPrivileges`' business. (We load the exported
    // program ourselves, this keeps the context honest anyway.)
    ctx.set_ctl_nnp(false)
        .map_err(lib_err("clear the no_new_privs attribute"))?;

    for &a in &plan.arches {
        if let Err(source) = ctx.add_arch(a) {
            return Err(SeccompError::Unsupported {
                what: format!("architecture {}", arch_name(a)),
                why: format!("libseccomp cannot add it to a filter for this host: {source}"),
            });
        }
    }

    for &f in &plan.flags {
        if let Err(source) = set_flag(&mut ctx, f) {
            return Err(SeccompError::Unsupported {
                what: flag_name(f).into(),
                why: source.to_string(),
            });
        }
    }

    // runc: binary-tree dispatch for long profiles. libseccomp <= 2.5.4
    // misbehaves with it and no rules at all, hence the second check.
    if plan.names.len() > 32 && !plan.rules.is_empty() {
        if let Err(e) = ctx.set_ctl_optimize(2) {
            log::debug!("seccomp: binary tree optimization not available: {e}");
        }
    }

    for r in &plan.rules {
        ctx.add_rule_conditional(r.action, r.syscall, &r.conds)
            .map_err(lib_err(format!("add rule for syscall {}", r.name)))?;
    }
    Ok(ctx)
}
