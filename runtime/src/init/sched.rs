//! runtime-spec 1.2/1.3 process attributes applied with one syscall each:
//! `process.scheduler` (sched_setattr), `process.ioPriority` (ioprio_set) and
//! `linux.personality` (personality), and `process.execCPUAffinity`
//! (sched_setaffinity). libc has no sched_attr or ioprio wrappers, so the
//! raw syscalls are made here.

use nix::errno::Errno;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType,
    Scheduler,
};

use crate::error::{Error, Result, SysContext};

/// The kernel's `struct sched_attr` (SCHED_ATTR_SIZE_VER1, with util clamps).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

fn policy_number(p: LinuxSchedulerPolicy) -> Result<u32> {
    Ok(match p {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
        // SCHED_ISO was never merged into Linux.
        LinuxSchedulerPolicy::SchedIso => {
            return Err(Error::Invalid(
                "process.scheduler: SCHED_ISO is not a Linux scheduling policy".into(),
            ))
        }
    })
}

fn flag_bits(flags: &[LinuxSchedulerFlag]) -> u64 {
    flags
        .iter()
        .map(|f| match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        })
        .fold(0, |a, b| a | b)
}

/// Apply `process.scheduler` to the calling thread (inherited by the exec).
pub fn apply_scheduler(s: &Scheduler) -> Result<()> {
    let mut attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy_number(*s.policy())?,
        flags: flag_bits(s.flags().as_deref().unwrap_or_default()),
        nice: s.nice().unwrap_or(0),
        priority: u32::try_from(s.priority().unwrap_or(0)).map_err(|_| {
            Error::Invalid("process.scheduler.priority must not be negative".into())
        })?,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    };
    // Clamps are only read when their flags are set; 1024 keeps "no clamp".
    attr.util_max = 1024;
    // SAFETY: sched_setattr(0, &attr, 0) on this thread with a correctly
    // sized, initialised struct the kernel only reads.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if r < 0 {
        return Err(Errno::last()).ctx(|| format!("set process.scheduler ({})", s.policy()));
    }
    Ok(())
}

/// Apply `process.ioPriority` (ioprio_set for this process).
pub fn apply_io_priority(p: &LinuxIOPriority) -> Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    const IOPRIO_CLASS_SHIFT: i64 = 13;
    let class: i64 = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..8).contains(&p.priority()) {
        return Err(Error::Invalid(format!(
            "process.ioPriority.priority {} is out of range 0..7",
            p.priority()
        )));
    }
    let value = (class << IOPRIO_CLASS_SHIFT) | p.priority();
    // SAFETY: ioprio_set takes three integers.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    if r < 0 {
        return Err(Errno::last()).ctx(|| "set process.ioPriority");
    }
    Ok(())
}

/// Apply `linux.personality`: the execution domain. No flags are defined by
/// the spec yet; any given is refused rather than ignored.
pub fn apply_personality(p: &LinuxPersonality) -> Result<()> {
    if let Some(f) = p.flags().as_ref().filter(|f| !f.is_empty()) {
        return Err(Error::Invalid(format!(
            "linux.personality.flags {f:?}: no personality flags are supported"
        )));
    }
    let domain: libc::c_ulong = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    // SAFETY: personality(2) takes one integer.
    if unsafe { libc::personality(domain) } < 0 {
        return Err(Errno::last()).ctx(|| format!("set linux.personality {}", p.domain()));
    }
    Ok(())
}

/// Apply `linux.memoryPolicy` (set_mempolicy for the init, inherited by
/// what it execs).
pub fn apply_memory_policy(p: &LinuxMemoryPolicy) -> Result<()> {
    let mode: libc::c_int = match p.mode() {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    };
    let flags = p
        .flags()
        .iter()
        .flatten()
        .map(|f| match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        })
        .fold(0, |a, b| a | b);
    // Up to 1024 nodes (MAX_NUMNODES of common kernel configurations).
    let mut mask = [0u64; 16];
    let nodes = p.nodes().as_deref().unwrap_or("");
    for node in parse_list(nodes, "linux.memoryPolicy.nodes")? {
        let word = mask.get_mut(node / 64).ok_or_else(|| {
            Error::Invalid(format!(
                "linux.memoryPolicy.nodes: node {node} is out of range"
            ))
        })?;
        *word |= 1 << (node % 64);
    }
    let (ptr, maxnode) = if nodes.trim().is_empty() {
        (std::ptr::null(), 0)
    } else {
        (mask.as_ptr(), mask.len() * 64 + 1)
    };
    // SAFETY: set_mempolicy reads at most `maxnode` bits from `mask`, which
    // outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode | flags, ptr, maxnode) };
    if r < 0 {
        return Err(Errno::last())
            .ctx(|| format!("set linux.memoryPolicy {} nodes {nodes:?}", p.mode()));
    }
    Ok(())
}

/// Parse a CPU list as the spec writes it (`0-3,7`).
pub fn parse_cpu_list(list: &str) -> Result<nix::sched::CpuSet> {
    let mut set = nix::sched::CpuSet::new();
    for cpu in parse_list(list, "process.execCPUAffinity")? {
        set.set(cpu).map_err(|_| {
            Error::Invalid(format!(
                "process.execCPUAffinity: CPU {cpu} is out of range"
            ))
        })?;
    }
    Ok(set)
}

/// `0-3,7` as the numbers it names.
fn parse_list(list: &str, what: &str) -> Result<Vec<usize>> {
    let bad = || Error::Invalid(format!("{what}: invalid list {list:?}"));
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: usize = a.parse().map_err(|_| bad())?;
        let b: usize = b.parse().map_err(|_| bad())?;
        if a > b {
            return Err(bad());
        }
        out.extend(a..=b);
    }
    Ok(out)
}

fn set_affinity(list: &str, which: &str) -> Result<()> {
    let set = parse_cpu_list(list)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .ctx(|| format!("set process.execCPUAffinity.{which} {list:?}"))
}

/// `initial`: applied by the runtime to itself before it clones the
/// process, so the process starts there before it joins the cgroup.
pub fn apply_initial_affinity(p: &oci_spec::runtime::Process) -> Result<()> {
    match p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
        .filter(|l| !l.is_empty())
    {
        Some(l) => set_affinity(l, "initial"),
        None => Ok(()),
    }
}

/// `final`: applied by the process once it is in the container's cgroup.
pub fn apply_final_affinity(p: &oci_spec::runtime::Process) -> Result<()> {
    match p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().as_deref())
        .filter(|l| !l.is_empty())
    {
        Some(l) => set_affinity(l, "final"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sched_attr_has_the_kernels_size() {
        // SCHED_ATTR_SIZE_VER1
        assert_eq!(std::mem::size_of::<SchedAttr>(), 56);
    }

    #[test]
    fn cpu_lists() {
        let s = parse_cpu_list("0-2, 5").unwrap();
        assert!((0..3).all(|c| s.is_set(c).unwrap()) && s.is_set(5).unwrap());
        assert!(!s.is_set(3).unwrap());
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
    }

    #[test]
    fn flags_and_policies() {
        assert_eq!(
            flag_bits(&[
                LinuxSchedulerFlag::SchedResetOnFork,
                LinuxSchedulerFlag::SchedFlagUtilClampMax
            ]),
            0x41
        );
        assert_eq!(policy_number(LinuxSchedulerPolicy::SchedIdle).unwrap(), 5);
        assert!(policy_number(LinuxSchedulerPolicy::SchedIso).is_err());
    }
}
