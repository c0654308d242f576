//! The systemd cgroup driver: a container's cgroup is a transient scope unit
//! that systemd creates, limits (with the properties it knows) and removes,
//! as runc's systemd driver does. What systemd does not know is still written
//! through cgroupfs by the caller, after the unit is up.
//!
//! Transport: the system bus, as runc (which falls back to systemd's private
//! socket /run/systemd/private as root). The private socket is not used: on
//! direct connections systemd sets every message's sender to its well-known
//! name "org.freedesktop.systemd1", which zbus 5 accepts when it parses the
//! header and then panics on when it reads it back as a unique name (the
//! first signal systemd sends kills the process). zbus's blocking API is
//! used; nothing here runs unless `--systemd-cgroup` is given.

use std::time::Duration;

use futures_lite::StreamExt;
use zbus::blocking::Connection;
use zbus::zvariant::{OwnedObjectPath, Value};
use zbus::MessageStream;

use super::devices::{DeviceType, ACC_MKNOD, ACC_READ, ACC_WRITE};
use super::error::{CgroupError, Result};
use super::host::CgroupMode;
use super::resources::Res;

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// runc waits as long for a unit's start job.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// One property of a unit, as StartTransientUnit and SetUnitProperties take
/// them (`a(sv)`).
pub(crate) type Property = (&'static str, Value<'static>);

pub(crate) struct Systemd {
    conn: Connection,
}

fn dbus_err(op: &str, unit: &str, e: zbus::Error) -> CgroupError {
    let msg = match &e {
        zbus::Error::MethodError(name, desc, _) => match desc {
            Some(d) => format!("{name}: {d}"),
            None => name.to_string(),
        },
        e => e.to_string(),
    };
    CgroupError::Systemd {
        op: op.to_string(),
        unit: unit.to_string(),
        msg,
    }
}

fn error_name(e: &zbus::Error) -> Option<&str> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
        _ => None,
    }
}

/// StopUnit/ResetFailedUnit of a unit that is not there: unknown, or a name
/// systemd refuses (InvalidArgs: the mode is fixed, so only the name can be
/// invalid), which no unit can have (a create whose start was refused).
fn no_such_unit(e: &zbus::Error) -> bool {
    matches!(
        error_name(e),
        Some("org.freedesktop.systemd1.NoSuchUnit" | "org.freedesktop.DBus.Error.InvalidArgs")
    )
}

impl Systemd {
    /// Connect to systemd through the system bus (as runc does first).
    pub fn connect() -> Result<Systemd> {
        let conn = Connection::system()
            .map_err(|e| CgroupError::SystemdUnreachable(format!("system bus: {e}")))?;
        let s = Systemd { conn };
        // Signals on the bus go only to subscribed clients.
        s.manager("Subscribe", &())
            .map_err(|e| CgroupError::SystemdUnreachable(format!("Subscribe: {e}")))?;
        Ok(s)
    }

    fn manager<B>(&self, method: &str, body: &B) -> zbus::Result<zbus::message::Message>
    where
        B: serde::ser::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(Some(DEST), PATH, Some(MANAGER), method, body)
    }

    fn job_signals(&self) -> Result<MessageStream> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(MANAGER)
            .and_then(|b| b.member("JobRemoved"))
            .map(|b| b.build())
            .map_err(|e| dbus_err("AddMatch JobRemoved", "", e))?;
        zbus::block_on(MessageStream::for_match_rule(
            rule,
            self.conn.inner(),
            Some(64),
        ))
        .map_err(|e| dbus_err("AddMatch JobRemoved", "", e))
    }

    /// Wait for the JobRemoved signal of `job` (at most [`JOB_TIMEOUT`]);
    /// its result must be "done".
    fn wait_job(
        &self,
        signals: &mut MessageStream,
        job: &OwnedObjectPath,
        op: &str,
        unit: &str,
    ) -> Result<()> {
        let err = |msg: String| CgroupError::Systemd {
            op: op.to_string(),
            unit: unit.to_string(),
            msg,
        };
        let removed = async {
            while let Some(msg) = signals.next().await {
                let msg = msg.map_err(|e| dbus_err(op, unit, e))?;
                let Ok((_id, path, _unit, result)) =
                    msg.body()
                        .deserialize::<(u32, OwnedObjectPath, String, String)>()
                else {
                    continue;
                };
                if &path != job {
                    continue;
                }
                if result == "done" {
                    return Ok(());
                }
                return Err(err(format!(
                    "job {} finished with result {result:?}",
                    path.as_str()
                )));
            }
            Err(err("the connection to systemd closed".into()))
        };
        let timeout = async {
            async_io::Timer::after(JOB_TIMEOUT).await;
            Err(err(format!(
                "no JobRemoved signal for job {} within {JOB_TIMEOUT:?}",
                job.as_str()
            )))
        };
        zbus::block_on(futures_lite::future::or(removed, timeout))
    }

    /// StartTransientUnit of `unit` holding `pid`, then wait for the job.
    /// A failed unit of the same name left by an earlier container is reset
    /// and the start tried once more (runc does the same).
    pub fn start_unit(&self, unit: &str, props: Vec<Property>) -> Result<()> {
        let op = "StartTransientUnit";
        let mut signals = self.job_signals()?;
        let call = || -> zbus::Result<OwnedObjectPath> {
            let aux: Vec<(&str, Vec<Property>)> = Vec::new();
            let reply = self.manager(op, &(unit, "replace", props.clone(), aux))?;
            reply.body().deserialize::<OwnedObjectPath>()
        };
        let job = match call() {
            Ok(j) => j,
            Err(e) if error_name(&e) == Some("org.freedesktop.systemd1.UnitExists") => {
                log::debug!("{unit} exists already: resetting it and starting again");
                let _ = self.manager("ResetFailedUnit", &(unit,));
                call().map_err(|e| dbus_err(op, unit, e))?
            }
            Err(e) => return Err(dbus_err(op, unit, e)),
        };
        self.wait_job(&mut signals, &job, op, unit)
    }

    /// StopUnit and wait; a unit systemd no longer knows (garbage-collected
    /// once its processes were gone) is fine. ResetFailedUnit after it, so
    /// that no failed unit stays listed.
    pub fn stop_unit(&self, unit: &str) -> Result<()> {
        let op = "StopUnit";
        let mut signals = self.job_signals()?;
        match self.manager(op, &(unit, "replace")) {
            Ok(reply) => {
                let job: OwnedObjectPath = reply
                    .body()
                    .deserialize()
                    .map_err(|e| dbus_err(op, unit, e))?;
                // A stop job ends "done" (or "canceled" when the unit went
                // away by itself meanwhile): both leave no unit running.
                match self.wait_job(&mut signals, &job, op, unit) {
                    Ok(()) => {}
                    Err(CgroupError::Systemd { msg, .. }) if msg.contains("\"canceled\"") => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) if no_such_unit(&e) => {}
            Err(e) => return Err(dbus_err(op, unit, e)),
        }
        match self.manager("ResetFailedUnit", &(unit,)) {
            Ok(_) => Ok(()),
            Err(e) if no_such_unit(&e) => Ok(()),
            Err(e) => Err(dbus_err("ResetFailedUnit", unit, e)),
        }
    }

    /// SetUnitProperties (runtime only: nothing is written to /etc).
    pub fn set_properties(&self, unit: &str, props: Vec<Property>) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        self.manager("SetUnitProperties", &(unit, true, props))
            .map(|_| ())
            .map_err(|e| dbus_err("SetUnitProperties", unit, e))
    }
}

/// Whether the driver can talk to systemd here (for `features`).
pub(crate) fn reachable() -> bool {
    super::host::systemd_running() && Systemd::connect().is_ok()
}

/// The properties StartTransientUnit gets: what the unit is, plus the
/// resources systemd knows.
pub(crate) fn unit_properties(
    unit: &str,
    slice: &str,
    pid: i32,
    mode: CgroupMode,
    res: &Res,
) -> Vec<Property> {
    let mut p: Vec<Property> = vec![(
        "Description",
        Value::from(format!("berth container {unit}")),
    )];
    if unit.ends_with(".slice") {
        // A container named as a slice is that slice, wanted by its parent
        // (as runc).
        p.push(("Wants", Value::from(slice.to_string())));
    } else {
        p.push(("Slice", Value::from(slice.to_string())));
        p.push(("Delegate", Value::from(true)));
    }
    p.push(("PIDs", Value::from(vec![pid as u32])));
    // As runc: no ordering against shutdown.target and the like.
    p.push(("DefaultDependencies", Value::from(false)));
    p.push(("MemoryAccounting", Value::from(true)));
    p.push(("CPUAccounting", Value::from(true)));
    p.push(("TasksAccounting", Value::from(true)));
    if mode == CgroupMode::V2 {
        p.push(("IOAccounting", Value::from(true)));
    } else {
        p.push(("BlockIOAccounting", Value::from(true)));
    }
    p.extend(resource_properties(mode, res));
    p
}

/// "unlimited" for systemd's uint64 limits.
const INFINITY: u64 = u64::MAX;

fn limit(v: i64) -> u64 {
    if v < 0 {
        INFINITY
    } else {
        v as u64
    }
}

/// runc's cgroup v1 shares → v2 weight conversion ([2, 262144] → [1, 10000]).
fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262144) - 2) * 9999 / 262142
}

/// runc's blkio weight → io weight ([10, 1000] → [1, 10000]).
fn blkio_to_io_weight(w: u64) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (w.clamp(10, 1000) - 10) * 9999 / 990
}

/// A cpuset list ("0-2,4") as systemd's byte-array bitmask.
fn cpuset_mask(list: &str) -> Option<Vec<u8>> {
    let mut mask: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<usize>().ok()?,
                b.trim().parse::<usize>().ok()?,
            ),
            None => {
                let n = part.parse::<usize>().ok()?;
                (n, n)
            }
        };
        if a > b || b > 8192 {
            return None;
        }
        for bit in a..=b {
            if mask.len() <= bit / 8 {
                mask.resize(bit / 8 + 1, 0);
            }
            mask[bit / 8] |= 1 << (bit % 8);
        }
    }
    Some(mask)
}

/// Resource properties for `res`, as runc derives them (also for `update`).
pub(crate) fn resource_properties(mode: CgroupMode, res: &Res) -> Vec<Property> {
    let mut p: Vec<Property> = Vec::new();
    let v2 = mode == CgroupMode::V2;
    let m = &res.memory;
    if let Some(l) = m.limit {
        p.push((
            if v2 { "MemoryMax" } else { "MemoryLimit" },
            Value::from(limit(l)),
        ));
    }
    if v2 {
        if let Some(r) = m.reservation {
            p.push(("MemoryLow", Value::from(limit(r))));
        }
        // v1 semantics (memory + swap) → swap alone, as runc converts.
        if let Some(s) = m.swap {
            let swap = match (s, m.limit) {
                (s, _) if s < 0 => INFINITY,
                (s, Some(l)) if l > 0 => (s - l).max(0) as u64,
                (s, _) => s as u64,
            };
            p.push(("MemorySwapMax", Value::from(swap)));
        }
    }
    let c = &res.cpu;
    if let Some(s) = c.shares {
        if v2 {
            p.push(("CPUWeight", Value::from(shares_to_weight(s))));
        } else {
            p.push(("CPUShares", Value::from(s)));
        }
    }
    if let Some(q) = c.quota {
        // runc: quota per second of CPU, rounded up to systemd's 10 ms steps;
        // -1 (or 0) is no quota.
        let period = c.period.filter(|p| *p > 0).unwrap_or(100_000);
        let per_sec = if q > 0 {
            let v = (q as u64).saturating_mul(1_000_000) / period;
            v.div_ceil(10_000) * 10_000
        } else {
            INFINITY
        };
        p.push(("CPUQuotaPerSecUSec", Value::from(per_sec)));
    }
    if let Some(period) = c.period.filter(|p| *p > 0) {
        p.push(("CPUQuotaPeriodUSec", Value::from(period)));
    }
    if let Some(n) = res.pids {
        p.push((
            "TasksMax",
            Value::from(if n <= 0 { INFINITY } else { n as u64 }),
        ));
    }
    if let Some(mask) = res.cpus.as_deref().and_then(cpuset_mask) {
        p.push(("AllowedCPUs", Value::from(mask)));
    }
    if let Some(mask) = res.mems.as_deref().and_then(cpuset_mask) {
        p.push(("AllowedMemoryNodes", Value::from(mask)));
    }
    if let Some(w) = res.blkio.weight {
        if v2 {
            p.push(("IOWeight", Value::from(blkio_to_io_weight(u64::from(w)))));
        } else {
            p.push(("BlockIOWeight", Value::from(u64::from(w))));
        }
    }
    p.extend(device_properties(res));
    p
}

/// DevicePolicy/DeviceAllow from the effective device rules, as runc: a
/// deny-by-default set becomes "strict" plus one DeviceAllow per exception;
/// an allow-by-default set (which systemd cannot express with deny entries)
/// becomes "auto" with no list, the cgroupfs rules written afterwards doing
/// the denying.
fn device_properties(res: &Res) -> Vec<Property> {
    let e = &res.devices;
    if e.default_allow {
        return vec![
            ("DevicePolicy", Value::from("auto")),
            ("DeviceAllow", Value::from(Vec::<(String, String)>::new())),
        ];
    }
    let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
    let mut allow: Vec<(String, String)> = Vec::new();
    for meta in &e.order {
        let Some(&access) = e.rules.get(meta) else {
            continue;
        };
        let (major, minor, typ) = *meta;
        let mut acc = String::new();
        for (bit, ch) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if access & bit != 0 {
                acc.push(ch);
            }
        }
        if acc.is_empty() {
            continue;
        }
        let kinds: &[(&str, &str)] = match typ {
            DeviceType::Char => &[("char", "Character devices:")],
            DeviceType::Block => &[("block", "Block devices:")],
            DeviceType::All => &[("char", "Character devices:"), ("block", "Block devices:")],
        };
        for (kind, section) in kinds {
            let entry = if major < 0 {
                format!("{kind}-*")
            } else if minor < 0 {
                // systemd names a whole major by its /proc/devices name.
                match device_class(&proc_devices, section, major) {
                    Some(name) => format!("{kind}-{name}"),
                    None => {
                        log::warn!(
                            "systemd: no {kind} device class with major {major} in /proc/devices; \
                             the rule is enforced through cgroupfs only"
                        );
                        continue;
                    }
                }
            } else {
                // systemd ≥ 240 takes these without a device node to stat.
                format!("/dev/{kind}/{major}:{minor}")
            };
            allow.push((entry, acc.clone()));
        }
    }
    vec![
        ("DevicePolicy", Value::from("strict")),
        ("DeviceAllow", Value::from(allow)),
    ]
}

/// The name /proc/devices gives `major` in `section`.
fn device_class(proc_devices: &str, section: &str, major: i64) -> Option<String> {
    let mut inside = false;
    for line in proc_devices.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.ends_with(':') {
            inside = line == section;
            continue;
        }
        if !inside {
            continue;
        }
        let (num, name) = line.split_once(' ')?;
        if num.parse::<i64>().ok() == Some(major) {
            return Some(name.trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10000);
        assert_eq!(cpuset_mask("0-2,9"), Some(vec![0b111, 0b10]));
        assert_eq!(cpuset_mask("1"), Some(vec![0b10]));
        assert_eq!(cpuset_mask("x"), None);
    }

    #[test]
    fn device_classes() {
        let pd = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n";
        assert_eq!(
            device_class(pd, "Character devices:", 136).as_deref(),
            Some("pts")
        );
        assert_eq!(device_class(pd, "Block devices:", 8).as_deref(), Some("sd"));
        assert_eq!(device_class(pd, "Block devices:", 136), None);
    }
}
