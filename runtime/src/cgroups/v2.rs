//! cgroup v2: one directory, controllers delegated through the ancestors'
//! cgroup.subtree_control, devices through eBPF.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{CgroupError, Result};
use super::fsutil::{self, exists, write};
use super::resources::{self, Res};
use super::{bpf, v1, Hierarchy};

/// Controllers a container may need, enabled along the path when offered.
const WANTED: &[&str] = &[
    "cpu", "memory", "pids", "io", "cpuset", "hugetlb", "rdma", "misc",
];

fn words(s: Option<String>) -> HashSet<String> {
    s.unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Enable `wanted` controllers (those offered) in `dir`'s subtree_control.
/// Best effort, like runc: a controller that cannot be enabled shows up
/// later as unavailable to the resources that need it.
fn enable_in(dir: &Path, wanted: &[&str]) {
    let offered = words(
        fsutil::read_opt(&dir.join("cgroup.controllers"))
            .ok()
            .flatten(),
    );
    let enabled = words(
        fsutil::read_opt(&dir.join("cgroup.subtree_control"))
            .ok()
            .flatten(),
    );
    let missing: Vec<String> = wanted
        .iter()
        .filter(|c| offered.contains(**c) && !enabled.contains(**c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return;
    }
    if write(dir, "cgroup.subtree_control", &missing.join(" ")).is_err() {
        for c in &missing {
            if let Err(e) = write(dir, "cgroup.subtree_control", c) {
                log::debug!("{e}");
            }
        }
    }
}

/// Enable controllers in every ancestor of `path`, from `root` down to its
/// parent.
pub(crate) fn enable_controllers(root: &Path, path: &Path, wanted: &[&str]) {
    let rel = path.strip_prefix(root).unwrap_or(Path::new(""));
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        enable_in(&cur, wanted);
        cur.push(c);
    }
}

pub(crate) fn create(h: &Hierarchy, created: &mut Vec<PathBuf>) -> Result<()> {
    fsutil::mkdir_below(&h.mountpoint, &h.path, created, |_, parent| {
        enable_in(parent, WANTED);
        Ok(())
    })
}

/// Write a unified (cgroup v2 file) value, line by line: files such as
/// io.max take one entry per write.
pub(crate) fn write_unified(dir: &Path, key: &str, value: &str) -> Result<()> {
    let lines: Vec<&str> = value.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() <= 1 {
        return write(dir, key, value.trim_end_matches('\n'));
    }
    for l in lines {
        write(dir, key, l)?;
    }
    Ok(())
}

pub(crate) fn apply(h: &Hierarchy, res: &Res) -> Result<()> {
    let dir = h.path.as_path();
    // A cgroup offers what its parent enabled for it.
    let offered = match fsutil::read_opt(&dir.join("cgroup.controllers"))? {
        Some(s) => words(Some(s)),
        None => words(fsutil::read_opt(&h.mountpoint.join("cgroup.controllers"))?),
    };
    let need = |wanted: bool, controller: &str| -> Result<bool> {
        if wanted && !offered.contains(controller) {
            let root = words(fsutil::read_opt(&h.mountpoint.join("cgroup.controllers"))?);
            if root.contains(controller) {
                return Err(CgroupError::ControllerNotDelegated {
                    controller: controller.into(),
                    path: dir.to_path_buf(),
                });
            }
            return Err(CgroupError::ControllerUnavailable(controller.into()));
        }
        Ok(wanted)
    };
    let (mem, cpu, b) = (&res.memory, &res.cpu, &res.blkio);

    // Validation; nothing is written before it passes.
    if mem.swappiness.is_some() {
        return Err(CgroupError::Unsupported(
            "memory.swappiness is not supported on cgroup v2".into(),
        ));
    }
    if cpu.rt_requested() {
        return Err(CgroupError::Unsupported(
            "cpu.realtimeRuntime/realtimePeriod are not supported on cgroup v2".into(),
        ));
    }
    if res.classid.is_some() {
        return Err(CgroupError::ControllerUnavailable("net_cls".into()));
    }
    if !res.ifprio.is_empty() {
        return Err(CgroupError::ControllerUnavailable("net_prio".into()));
    }
    if mem.oom_kill_disable {
        log::warn!("memory.disableOOMKiller is ignored on cgroup v2");
    }
    if mem.kernel_tcp.is_some() {
        log::warn!("memory.kernelTCP is ignored on cgroup v2");
    }
    if b.leaf_weight.is_some() || b.weight_device.iter().any(|w| w.3.is_some()) {
        log::warn!("blockIO leaf weights are ignored on cgroup v2");
    }
    let do_pids = need(res.pids.is_some(), "pids")?;
    let do_memory = need(
        mem.limit.is_some() || mem.reservation.is_some() || mem.swap.is_some(),
        "memory",
    )?;
    let do_io = need(b.weight_requested() || b.throttle_requested(), "io")?;
    let do_cpu = need(
        cpu.shares.is_some()
            || cpu.quota.is_some()
            || cpu.period.is_some()
            || cpu.burst.is_some()
            || cpu.idle.is_some(),
        "cpu",
    )?;
    let do_cpuset = need(res.cpus.is_some() || res.mems.is_some(), "cpuset")?;
    let do_hugetlb = need(!res.hugepages.is_empty(), "hugetlb")?;
    let do_rdma = need(!res.rdma.is_empty(), "rdma")?;
    let swap = if do_memory {
        resources::swap_v2(mem.swap, mem.limit)?
    } else {
        None
    };
    if do_memory {
        v1::check_usage(dir, mem, "memory.current")?;
    }
    let bfq = do_io && exists(&dir.join("io.bfq.weight"));
    if do_io && !bfq {
        for w in b
            .weight
            .iter()
            .chain(b.weight_device.iter().filter_map(|w| w.2.as_ref()))
        {
            if resources::blkio_weight_to_io(*w).is_none() {
                return Err(CgroupError::Invalid(format!(
                    "blockIO weight {w} is out of range (10-1000)"
                )));
            }
        }
    }
    if do_hugetlb {
        for (size, _) in &res.hugepages {
            if !exists(&dir.join(format!("hugetlb.{size}.max"))) {
                return Err(CgroupError::Invalid(format!(
                    "hugepage size {size} is not supported on this host (no hugetlb.{size}.max)"
                )));
            }
        }
    }
    for (k, _) in &res.unified {
        if !exists(&dir.join(k)) {
            let controller = k.split('.').next().unwrap_or_default();
            let reason = if controller != "cgroup" && !offered.contains(controller) {
                format!("controller {controller:?} not available")
            } else {
                format!("no such file in {}", dir.display())
            };
            return Err(CgroupError::Unified {
                key: k.clone(),
                reason,
            });
        }
    }

    // Writes, in runc's order; devices last so that a refused eBPF filter
    // (which callers may choose to tolerate) leaves the rest applied.
    if let (true, Some(limit)) = (do_pids, res.pids) {
        write(dir, "pids.max", &resources::pids_max(limit))?;
    }
    if do_memory {
        if let Some(s) = swap {
            match write(dir, "memory.swap.max", &s) {
                // No swap accounting: "no swap"/"unlimited" are moot.
                Err(e) if (s == "max" || s == "0") && e.raw_os_error() == Some(libc::ENOENT) => {}
                r => r?,
            }
        }
        if let Some(l) = mem.limit {
            write(dir, "memory.max", &resources::v2_num(l))?;
        }
        if let Some(r) = mem.reservation {
            write(dir, "memory.low", &resources::v2_num(r))?;
        }
    }
    if do_io {
        set_io(dir, res, bfq)?;
    }
    if do_cpu {
        set_cpu(dir, res)?;
    }
    if do_cpuset {
        if let Some(cpus) = &res.cpus {
            write(dir, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = &res.mems {
            write(dir, "cpuset.mems", mems)?;
        }
    }
    if do_hugetlb {
        for (size, limit) in &res.hugepages {
            let v = resources::v2_num(*limit);
            write(dir, &format!("hugetlb.{size}.max"), &v)?;
            let rsvd = format!("hugetlb.{size}.rsvd.max");
            if exists(&dir.join(&rsvd)) {
                write(dir, &rsvd, &v)?;
            }
        }
    }
    if do_rdma {
        for line in v1::rdma_lines(res) {
            write(dir, "rdma.max", &line)?;
        }
    }
    for (k, v) in &res.unified {
        write_unified(dir, k, v)?;
    }
    match bpf::install(dir, &res.devices) {
        // Nothing to enforce: not being able to load a filter is harmless.
        Err(CgroupError::DeviceFilter { .. }) if res.devices.is_allow_all() => Ok(()),
        r => r,
    }
}

fn set_io(dir: &Path, res: &Res, bfq: bool) -> Result<()> {
    let b = &res.blkio;
    if let Some(w) = b.weight {
        if bfq {
            write(dir, "io.bfq.weight", &w.to_string())?;
        } else if let Some(v) = resources::blkio_weight_to_io(w) {
            write(dir, "io.weight", &v.to_string())?;
        }
    }
    // io.bfq.weight takes "MAJ:MIN WEIGHT" lines only on kernels whose file
    // reads as "default N"; a bare number means per-device weights are not
    // supported by BFQ, so use io.weight's per-device form then.
    let bfq_devices = bfq
        && fsutil::read_opt(&dir.join("io.bfq.weight"))?
            .is_some_and(|s| s.trim().parse::<u64>().is_err());
    for &(major, minor, w, _) in &b.weight_device {
        let Some(w) = w else { continue };
        if bfq_devices {
            write(dir, "io.bfq.weight", &format!("{major}:{minor} {w}"))?;
        } else if let Some(v) = resources::blkio_weight_to_io(w) {
            write(dir, "io.weight", &format!("{major}:{minor} {v}"))?;
        }
    }
    for line in resources::io_max_lines(b) {
        write(dir, "io.max", &line)?;
    }
    Ok(())
}

fn set_cpu(dir: &Path, res: &Res) -> Result<()> {
    let c = &res.cpu;
    if let Some(idle) = c.idle {
        write(dir, "cpu.idle", &idle.to_string())?;
    }
    if let Some(s) = c.shares {
        write(
            dir,
            "cpu.weight",
            &resources::shares_to_weight(s).to_string(),
        )?;
    }
    // A burst above the current quota is EINVAL until cpu.max is written.
    let mut burst = None;
    if let Some(b) = c.burst {
        match write(dir, "cpu.max.burst", &b.to_string()) {
            Err(e) if c.quota.is_some() && e.raw_os_error() == Some(libc::EINVAL) => {
                burst = Some(b)
            }
            r => r?,
        }
    }
    if c.quota.is_some() || c.period.is_some() {
        write(dir, "cpu.max", &cpu_max(c.quota, c.period))?;
        if let Some(b) = burst {
            write(dir, "cpu.max.burst", &b.to_string())?;
        }
    }
    Ok(())
}

/// cpu.max: "QUOTA PERIOD", "max PERIOD" for no quota; period defaults to
/// the kernel's 100ms.
pub(crate) fn cpu_max(quota: Option<i64>, period: Option<u64>) -> String {
    let q = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".into(),
    };
    format!("{q} {}", period.unwrap_or(100_000))
}

fn frozen_event(dir: &Path) -> Result<Option<bool>> {
    let events = fsutil::read(&dir.join("cgroup.events"))?;
    Ok(fsutil::keyed_value(&events, "frozen").map(|v| v == 1))
}

pub(crate) fn freeze(dir: &Path) -> Result<()> {
    write(dir, "cgroup.freeze", "1").map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => CgroupError::Freezer(format!(
            "cgroup.freeze is not supported by this kernel ({})",
            dir.display()
        )),
        _ => e,
    })?;
    let start = Instant::now();
    let timeout = Duration::from_secs(10);
    let mut delay = Duration::from_micros(200);
    loop {
        match frozen_event(dir)? {
            Some(true) => return Ok(()),
            // Kernels without "frozen" in cgroup.events freeze synchronously.
            None => return Ok(()),
            Some(false) => {}
        }
        if start.elapsed() > timeout {
            let _ = write(dir, "cgroup.freeze", "0");
            return Err(CgroupError::Timeout {
                what: format!("{} to freeze", dir.display()),
                after: timeout,
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    }
}

pub(crate) fn thaw(dir: &Path) -> Result<()> {
    match write(dir, "cgroup.freeze", "0") {
        // Thawing what cannot be frozen is a no-op.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && dir.exists() => Ok(()),
        r => r,
    }
}
