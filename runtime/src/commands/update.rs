//! `update`: change the resources of a running container, from a
//! LinuxResources JSON (`--resources FILE|-`) or runc's single-value flags.

use std::io::Read;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::{GlobalOpts, UpdateOpts};
use crate::container::{Status, Store};
use crate::error::{Error, Result, SysContext};

/// Bytes with docker's binary suffixes (`512m`, `1g`); `-1` is unlimited.
pub fn parse_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let bad = || Error::Invalid(format!("invalid size {s:?} (e.g. 1048576, 512m, 1g, -1)"));
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if n < 0.0 || !n.is_finite() {
        return Err(bad());
    }
    Ok((n * mult as f64) as i64)
}

fn merge(mut r: LinuxResources, o: &UpdateOpts) -> Result<LinuxResources> {
    // runc's wording (the container has no RDT group: linux.intelRdt is
    // refused at create), which engines match on.
    if o.l3_cache_schema.is_some() {
        return Err(Error::Invalid(
            "Intel RDT/CAT: l3 cache schema is not enabled".into(),
        ));
    }
    if o.mem_bw_schema.is_some() {
        return Err(Error::Invalid(
            "Intel RDT/MBA: memory bandwidth schema is not enabled".into(),
        ));
    }
    if o.memory.is_some()
        || o.memory_reservation.is_some()
        || o.memory_swap.is_some()
        || o.kernel_memory_tcp.is_some()
        || o.kernel_memory.is_some()
    {
        let mut m: LinuxMemory = r.memory().unwrap_or_default();
        if let Some(v) = &o.memory {
            let limit = parse_bytes(v)?;
            m.set_limit(Some(limit));
            // runc: `--memory -1` alone lifts the swap limit too (v1's memsw may not stay
            // below the memory limit); the stored swap limit must not be re-applied.
            if limit == -1 && o.memory_swap.is_none() {
                m.set_swap(None);
            }
        }
        if let Some(v) = &o.memory_reservation {
            m.set_reservation(Some(parse_bytes(v)?));
        }
        if let Some(v) = &o.memory_swap {
            m.set_swap(Some(parse_bytes(v)?));
        }
        if let Some(v) = &o.kernel_memory_tcp {
            m.set_kernel_tcp(Some(parse_bytes(v)?));
        }
        if o.kernel_memory.is_some() {
            return Err(Error::Unsupported(
                "--kernel-memory",
                "kernel memory limits are obsolete and not supported by current kernels".into(),
            ));
        }
        r.set_memory(Some(m));
    }
    let cpu_set = o.cpu_period.is_some()
        || o.cpu_quota.is_some()
        || o.cpu_burst.is_some()
        || o.cpu_idle.is_some()
        || o.cpu_share.is_some()
        || o.cpu_rt_period.is_some()
        || o.cpu_rt_runtime.is_some()
        || o.cpuset_cpus.is_some()
        || o.cpuset_mems.is_some();
    if cpu_set {
        let mut c: LinuxCpu = r.cpu().clone().unwrap_or_default();
        if let Some(v) = o.cpu_period {
            c.set_period(Some(v));
        }
        if let Some(v) = o.cpu_quota {
            c.set_quota(Some(v));
        }
        if let Some(v) = o.cpu_burst {
            c.set_burst(Some(v));
        }
        if let Some(v) = o.cpu_idle {
            c.set_idle(Some(v));
        }
        if let Some(v) = o.cpu_share {
            c.set_shares(Some(v));
        }
        if let Some(v) = o.cpu_rt_period {
            c.set_realtime_period(Some(v));
        }
        if let Some(v) = o.cpu_rt_runtime {
            c.set_realtime_runtime(Some(v));
        }
        if let Some(v) = &o.cpuset_cpus {
            c.set_cpus(Some(v.clone()));
        }
        if let Some(v) = &o.cpuset_mems {
            c.set_mems(Some(v.clone()));
        }
        r.set_cpu(Some(c));
    }
    if let Some(v) = o.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(v);
        r.set_pids(Some(p));
    }
    if let Some(w) = o.blkio_weight {
        let mut b: LinuxBlockIo = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

pub fn run(g: &GlobalOpts, o: &UpdateOpts) -> Result<()> {
    let store = Store::new(&g.root);
    let c = store.load(&o.id)?;
    let state = c.state()?.clone();
    if c.status() == Status::Stopped {
        return Err(Error::Invalid(format!(
            "cannot update container {}: container not running",
            o.id
        )));
    }
    let cg = state
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::Invalid(format!("container {} has no cgroup", o.id)))?;
    let mut spec = store.read_config(&o.id)?;
    let current = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let wanted = match &o.resources {
        Some(src) => {
            let data = if src.as_os_str() == "-" {
                let mut s = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut s)
                    .ctx(|| "read resources from stdin")?;
                s
            } else {
                std::fs::read(src).ctx(|| format!("read {}", src.display()))?
            };
            // Only what the document sets changes.
            let given: LinuxResources =
                serde_json::from_slice(&data).map_err(|e| Error::Config {
                    path: src.clone(),
                    msg: format!("invalid resources: {e}"),
                })?;
            overlay(current, given)
        }
        None => merge(current, o)?,
    };
    // systemd driver: the unit's properties first, so that systemd does
    // not later restore old values; then everything through cgroupfs.
    cg.set_unit_properties(&wanted)?;
    crate::launcher::apply_resources_value(cg, wanted.clone())?;
    if let Some(l) = spec.linux_mut() {
        l.set_resources(Some(wanted));
    }
    c.save_config(&spec)
}

/// Fields set in `given` replace those in `base`.
fn overlay(base: LinuxResources, given: LinuxResources) -> LinuxResources {
    let mut r = base;
    if given.memory().is_some() {
        r.set_memory(*given.memory());
    }
    if given.cpu().is_some() {
        r.set_cpu(given.cpu().clone());
    }
    if given.pids().is_some() {
        r.set_pids(*given.pids());
    }
    if given.block_io().is_some() {
        r.set_block_io(given.block_io().clone());
    }
    if given.hugepage_limits().is_some() {
        r.set_hugepage_limits(given.hugepage_limits().clone());
    }
    if given.network().is_some() {
        r.set_network(given.network().clone());
    }
    if given.rdma().is_some() {
        r.set_rdma(given.rdma().clone());
    }
    if given.unified().is_some() {
        r.set_unified(given.unified().clone());
    }
    if given.devices().is_some() {
        r.set_devices(given.devices().clone());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-5").is_err());
    }
}
