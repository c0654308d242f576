//! cgroup v1 (and the v1 side of hybrid hosts): resource files per
//! controller hierarchy, in runc's order.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::devices::Emulator;
use super::error::{CgroupError, Result};
use super::fsutil::{self, exists, write};
use super::resources::{self, Cpu, Memory, Res};
use super::{v2, Cgroup, CgroupMode};

/// cpuset files are "cpuset.cpus" unless mounted with noprefix.
fn cpuset_file(dir: &Path, name: &str) -> String {
    let prefixed = format!("cpuset.{name}");
    if exists(&dir.join(&prefixed)) || !exists(&dir.join(name)) {
        prefixed
    } else {
        name.to_string()
    }
}

/// A new cpuset cgroup starts with empty cpus/mems and refuses tasks until
/// they are set; inherit the parent's.
pub(crate) fn cpuset_copy_if_empty(dir: &Path, parent: &Path) -> Result<()> {
    for name in ["cpus", "mems"] {
        let file = cpuset_file(dir, name);
        if fsutil::read(&dir.join(&file))?.trim().is_empty() {
            let from = fsutil::read(&parent.join(&file))?;
            write(dir, &file, from.trim())?;
        }
    }
    Ok(())
}

/// Have the kernel give `dir`'s new children its cpus and mems as they are
/// made (`cgroup.clone_children`), for a parent the runtime made: a later
/// container's `cpuset_copy_if_empty` then finds them set and writes nothing,
/// and a write is what makes the kernel check the new cpus against every
/// sibling's (a cost that grows with the containers below the parent).
/// Best effort: without it each container is filled by that write.
pub(crate) fn cpuset_clone_children(dir: &Path) {
    let _ = std::fs::write(dir.join("cgroup.clone_children"), "1");
}

/// The unified-hierarchy writes a hybrid host can take: (dir, file, value).
fn unified_targets(cg: &Cgroup, res: &Res) -> Result<Vec<(PathBuf, String, String)>> {
    let mut out = Vec::new();
    if res.unified.is_empty() {
        return Ok(out);
    }
    let u = match (&cg.unified, cg.mode) {
        (Some(u), CgroupMode::Hybrid) => u,
        _ => {
            return Err(CgroupError::UnifiedOnV1 {
                key: res.unified[0].0.clone(),
                reason: "cgroup v2 is not mounted on this host (cgroup v1 only)".into(),
            })
        }
    };
    let root_controllers =
        fsutil::read_opt(&u.mountpoint.join("cgroup.controllers"))?.unwrap_or_default();
    for (k, v) in &res.unified {
        let controller = k.split('.').next().unwrap_or_default();
        // Missing files of a controller the cgroup2 root offers are enabled
        // at write time.
        if !exists(&u.path.join(k)) && !root_controllers.split_whitespace().any(|c| c == controller)
        {
            return Err(CgroupError::UnifiedOnV1 {
                key: k.clone(),
                reason: format!(
                    "it is not available in the cgroup v2 hierarchy of this hybrid host ({})",
                    u.mountpoint.display()
                ),
            });
        }
        out.push((u.path.clone(), k.clone(), v.clone()));
    }
    Ok(out)
}

pub(crate) fn apply(cg: &Cgroup, res: &Res) -> Result<()> {
    // Everything that can be checked is checked before the first write.
    let need = |wanted: bool, controller: &str| -> Result<Option<&Path>> {
        if !wanted {
            return Ok(None);
        }
        cg.v1_dir(controller)
            .map(Some)
            .ok_or_else(|| CgroupError::ControllerUnavailable(controller.into()))
    };
    let cpuset = need(res.cpus.is_some() || res.mems.is_some(), "cpuset")?;
    let devices = need(true, "devices")?.expect("required");
    let memory = need(res.memory.requested(), "memory")?;
    let cpu = need(res.cpu.requested(), "cpu")?;
    let pids = need(res.pids.is_some(), "pids")?;
    let blkio = need(res.blkio.requested(), "blkio")?;
    let hugetlb = need(!res.hugepages.is_empty(), "hugetlb")?;
    let net_cls = need(res.classid.is_some(), "net_cls")?;
    let net_prio = need(!res.ifprio.is_empty(), "net_prio")?;
    let rdma = need(!res.rdma.is_empty(), "rdma")?;

    if let Some(m) = memory {
        let mem = &res.memory;
        if mem.kernel_tcp.is_some() && !exists(&m.join("memory.kmem.tcp.limit_in_bytes")) {
            return Err(CgroupError::Unsupported(
                "memory.kernelTCP: this kernel has no kernel TCP memory accounting (no memory.kmem.tcp.limit_in_bytes)".into(),
            ));
        }
        if mem.swap.is_some_and(|s| s != -1) && !exists(&m.join("memory.memsw.limit_in_bytes")) {
            return Err(CgroupError::Unsupported(
                "memory.swap: swap accounting is disabled on this host (no memory.memsw.limit_in_bytes)".into(),
            ));
        }
        check_usage(m, mem, "memory.usage_in_bytes")?;
    }
    if let Some(b) = blkio {
        if res.blkio.weight_requested()
            && !exists(&b.join("blkio.weight"))
            && !exists(&b.join("blkio.bfq.weight"))
        {
            return Err(CgroupError::Unsupported(
                "blockIO weight: the I/O scheduler of this host has no cgroup weights (no blkio.weight or blkio.bfq.weight)".into(),
            ));
        }
    }
    if let Some(h) = hugetlb {
        for (size, _) in &res.hugepages {
            if !exists(&h.join(format!("hugetlb.{size}.limit_in_bytes"))) {
                return Err(CgroupError::Invalid(format!(
                    "hugepage size {size} is not supported on this host (no hugetlb.{size}.limit_in_bytes)"
                )));
            }
        }
    }
    let unified = unified_targets(cg, res)?;
    let target = &res.devices;

    if let Some(d) = cpuset {
        if let Some(cpus) = &res.cpus {
            write(d, &cpuset_file(d, "cpus"), cpus)?;
        }
        if let Some(mems) = &res.mems {
            write(d, &cpuset_file(d, "mems"), mems)?;
        }
    }
    set_devices(devices, target)?;
    if let Some(d) = memory {
        set_memory(d, &res.memory)?;
    }
    if let Some(d) = cpu {
        set_cpu(d, &res.cpu)?;
    }
    if let (Some(d), Some(limit)) = (pids, res.pids) {
        write(d, "pids.max", &resources::pids_max(limit))?;
    }
    if let Some(d) = blkio {
        set_blkio(d, res)?;
    }
    if let Some(d) = hugetlb {
        for (size, limit) in &res.hugepages {
            let v = if *limit < 0 {
                "-1".into()
            } else {
                limit.to_string()
            };
            write(d, &format!("hugetlb.{size}.limit_in_bytes"), &v)?;
            // Reservation limits (5.7+) keep reserved-but-unfaulted pages
            // from escaping the limit; runc sets both.
            let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
            if exists(&d.join(&rsvd)) {
                write(d, &rsvd, &v)?;
            }
        }
    }
    if let (Some(d), Some(id)) = (net_cls, res.classid) {
        write(d, "net_cls.classid", &id.to_string())?;
    }
    if let Some(d) = net_prio {
        for (iface, prio) in &res.ifprio {
            write(d, "net_prio.ifpriomap", &format!("{iface} {prio}"))?;
        }
    }
    if let Some(d) = rdma {
        for line in rdma_lines(res) {
            write(d, "rdma.max", &line)?;
        }
    }
    for (dir, k, v) in unified {
        if !exists(&dir.join(&k)) {
            if let Some(u) = &cg.unified {
                let controller = k.split('.').next().unwrap_or_default();
                v2::enable_controllers(&u.mountpoint, &u.path, &[controller]);
            }
        }
        v2::write_unified(&dir, &k, &v)?;
    }
    Ok(())
}

pub(crate) fn rdma_lines(res: &Res) -> Vec<String> {
    res.rdma
        .iter()
        .map(|(dev, handles, objects)| {
            let mut l = dev.clone();
            if let Some(h) = handles {
                l.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = objects {
                l.push_str(&format!(" hca_object={o}"));
            }
            l
        })
        .collect()
}

/// `checkBeforeUpdate`: refuse limits at or below the current usage.
pub(crate) fn check_usage(dir: &Path, m: &Memory, usage_file: &str) -> Result<()> {
    if !m.check_before_update {
        return Ok(());
    }
    let Some(usage) = fsutil::read_u64_opt(dir, usage_file).ok().flatten() else {
        return Ok(());
    };
    for (what, v) in [("memory+swap", m.swap), ("memory", m.limit)] {
        if let Some(v) = v.filter(|v| *v > 0) {
            if v as u64 <= usage {
                return Err(CgroupError::Invalid(format!(
                    "rejecting {what} limit {v} <= usage {usage}"
                )));
            }
        }
    }
    Ok(())
}

fn set_devices(dir: &Path, target: &Emulator) -> Result<()> {
    let list =
        || -> Result<Emulator> { Emulator::from_list(&fsutil::read(&dir.join("devices.list"))?) };
    let current = list()?;
    // Each write(2) is one rule to the kernel, so one open fd per file
    // serves them all (an open and a close less per rule).
    let (mut allow, mut deny) = (None, None);
    for rule in current.transition(target) {
        let (file, slot) = if rule.allow {
            ("devices.allow", &mut allow)
        } else {
            ("devices.deny", &mut deny)
        };
        let value = rule.cgroup_string();
        let err = |source| CgroupError::Write {
            path: dir.join(file),
            value: value.clone(),
            source,
        };
        let f: &mut std::fs::File = match slot {
            Some(f) => f,
            None => slot.insert(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join(file))
                    .map_err(err)?,
            ),
        };
        fsutil::write_all_once(f, &value).map_err(err)?;
    }
    // The kernel silently ignores some rules (e.g. wider than the parent's).
    let after = list()?;
    if (!target.default_allow && after != *target) || after.default_allow != target.default_allow {
        return Err(CgroupError::Invalid(format!(
            "the devices cgroup {} does not match the requested rules after writing them (is the parent more restrictive?)",
            dir.display()
        )));
    }
    Ok(())
}

fn set_memory_limit(dir: &Path, limit: i64) -> Result<()> {
    match write(dir, "memory.limit_in_bytes", &limit.to_string()) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let usage = fsutil::read_u64_opt(dir, "memory.usage_in_bytes")?.unwrap_or(0);
            let peak = fsutil::read_u64_opt(dir, "memory.max_usage_in_bytes")?.unwrap_or(0);
            Err(CgroupError::MemoryBelowUsage { limit, usage, peak })
        }
        r => r,
    }
}

fn set_memory(dir: &Path, m: &Memory) -> Result<()> {
    const MEMSW: &str = "memory.memsw.limit_in_bytes";
    let mut swap = m.swap;
    // memsw must stay >= the memory limit, so "unlimited memory" lifts it too.
    if m.limit == Some(-1) && swap.is_none() && exists(&dir.join(MEMSW)) {
        swap = Some(-1);
    }
    match (m.limit, swap) {
        (Some(limit), Some(sw)) => {
            let cur = fsutil::read_u64_opt(dir, "memory.limit_in_bytes")?.unwrap_or(0);
            // Raise memsw before the memory limit when growing, after it when
            // shrinking: the kernel keeps memsw >= memory at every step.
            if sw == -1 || cur < sw as u64 {
                write(dir, MEMSW, &sw.to_string())?;
                set_memory_limit(dir, limit)?;
            } else {
                set_memory_limit(dir, limit)?;
                write(dir, MEMSW, &sw.to_string())?;
            }
        }
        (Some(limit), None) => set_memory_limit(dir, limit)?,
        (None, Some(sw)) => write(dir, MEMSW, &sw.to_string())?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation {
        write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if m.oom_kill_disable {
        write(dir, "memory.oom_control", "1")?;
    }
    if let Some(s) = m.swappiness {
        write(dir, "memory.swappiness", &s.to_string())?;
    }
    if let Some(t) = m.kernel_tcp {
        write(dir, "memory.kmem.tcp.limit_in_bytes", &t.to_string())?;
    }
    Ok(())
}

/// Write `value` to `file`; if the kernel rejects it (EINVAL) and `later`
/// holds, return it to be retried after the related setting.
fn write_or_defer(dir: &Path, file: &str, value: String, later: bool) -> Result<Option<String>> {
    match write(dir, file, &value) {
        Ok(()) => Ok(None),
        Err(e) if later && e.raw_os_error() == Some(libc::EINVAL) => Ok(Some(value)),
        Err(e) => Err(e),
    }
}

fn set_cpu(dir: &Path, c: &Cpu) -> Result<()> {
    if let Some(shares) = c.shares {
        write(dir, "cpu.shares", &shares.to_string())?;
        // The kernel clamps instead of failing; report it like runc.
        let got = fsutil::read_u64_opt(dir, "cpu.shares")?.unwrap_or(shares);
        if shares > got {
            return Err(CgroupError::Invalid(format!(
                "the maximum allowed cpu-shares is {got}"
            )));
        } else if shares < got {
            return Err(CgroupError::Invalid(format!(
                "the minimum allowed cpu-shares is {got}"
            )));
        }
    }
    // Period, quota and burst constrain each other; a value the kernel
    // rejects now may be valid once the next one is written.
    let mut period = None;
    if let Some(p) = c.period {
        period = write_or_defer(dir, "cpu.cfs_period_us", p.to_string(), c.quota.is_some())?;
    }
    let mut burst = None;
    if let Some(b) = c.burst {
        if exists(&dir.join("cpu.cfs_burst_us")) {
            burst = write_or_defer(dir, "cpu.cfs_burst_us", b.to_string(), c.quota.is_some())?;
        } else if b != 0 {
            // Zero is the kernel's default: nothing to apply.
            return Err(CgroupError::Unsupported(
                "linux.resources.cpu.burst: this kernel has no CFS burst (cpu.cfs_burst_us, Linux 5.14 with CONFIG_CFS_BANDWIDTH)".into(),
            ));
        }
    }
    if let Some(q) = c.quota {
        write(dir, "cpu.cfs_quota_us", &q.to_string())?;
        if let Some(p) = period {
            write(dir, "cpu.cfs_period_us", &p)?;
        }
        if let Some(b) = burst {
            write(dir, "cpu.cfs_burst_us", &b)?;
        }
    }
    if let Some(idle) = c.idle {
        write(dir, "cpu.idle", &idle.to_string())?;
    }
    let mut rt_period = None;
    if let Some(p) = c.rt_period {
        rt_period = write_or_defer(
            dir,
            "cpu.rt_period_us",
            p.to_string(),
            c.rt_runtime.is_some(),
        )?;
    }
    if let Some(r) = c.rt_runtime {
        write(dir, "cpu.rt_runtime_us", &r.to_string())?;
        if let Some(p) = rt_period {
            write(dir, "cpu.rt_period_us", &p)?;
        }
    }
    Ok(())
}

fn set_blkio(dir: &Path, res: &Res) -> Result<()> {
    let b = &res.blkio;
    let (weight, weight_device) = if exists(&dir.join("blkio.weight")) {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight {
        write(dir, weight, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight {
        write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for &(major, minor, w, leaf) in &b.weight_device {
        if let Some(w) = w {
            write(dir, weight_device, &format!("{major}:{minor} {w}"))?;
        }
        if let Some(l) = leaf {
            write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{major}:{minor} {l}"),
            )?;
        }
    }
    for (file, list) in [
        ("blkio.throttle.read_bps_device", &b.read_bps),
        ("blkio.throttle.write_bps_device", &b.write_bps),
        ("blkio.throttle.read_iops_device", &b.read_iops),
        ("blkio.throttle.write_iops_device", &b.write_iops),
    ] {
        for &(major, minor, rate) in list {
            write(dir, file, &format!("{major}:{minor} {rate}"))?;
        }
    }
    Ok(())
}

/// freezer.state FROZEN, waiting for FREEZING to settle. Like runc, thaw
/// and retry now and then: a task stuck in an uninterruptible sleep can
/// block freezing for a long time.
pub(crate) fn freeze(dir: &Path) -> Result<()> {
    let r = (|| {
        for i in 0..1000 {
            if i % 50 == 49 {
                let _ = write(dir, "freezer.state", "THAWED");
                std::thread::sleep(Duration::from_millis(10));
            }
            write(dir, "freezer.state", "FROZEN")?;
            if i % 25 == 24 {
                std::thread::sleep(Duration::from_micros(10));
            }
            let state = fsutil::read(&dir.join("freezer.state"))?;
            match state.trim() {
                "FROZEN" => return Ok(()),
                "FREEZING" => continue,
                other => {
                    return Err(CgroupError::Freezer(format!(
                        "unexpected state {other} of {} while freezing",
                        dir.display()
                    )))
                }
            }
        }
        Err(CgroupError::Freezer(format!(
            "unable to freeze {}",
            dir.display()
        )))
    })();
    if r.is_err() {
        let _ = write(dir, "freezer.state", "THAWED");
    }
    r
}

pub(crate) fn is_frozen(dir: &Path) -> bool {
    let state = fsutil::read_opt(&dir.join("freezer.state")).ok().flatten();
    if state.as_deref().map(str::trim) != Some("FROZEN") {
        return false;
    }
    // FROZEN because an ancestor is frozen does not make this one paused.
    fsutil::read_opt(&dir.join("freezer.self_freezing"))
        .ok()
        .flatten()
        .is_none_or(|s| s.trim() != "0")
}
