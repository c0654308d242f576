//! Device cgroup rules. Both v1 (devices.allow/deny) and v2 (eBPF) go
//! through an emulator of the v1 kernel semantics, as runc does, so a rule
//! list means the same thing on both and v1 updates write only the
//! difference from devices.list (writing "a" fails with EINVAL once the
//! cgroup has children, and a blanket deny would briefly cut off devices
//! of a running container).

use std::collections::BTreeMap;
use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::error::{CgroupError, Result};

/// Access bits, with the values of BPF_DEVCG_ACC_* so that the eBPF program
/// can use them directly.
pub(crate) const ACC_MKNOD: u8 = 1;
pub(crate) const ACC_READ: u8 = 2;
pub(crate) const ACC_WRITE: u8 = 4;
pub(crate) const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Device types a cgroup rule can name. The order (block < char) is the
/// order runc's emulator sorts rules in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceType {
    All,
    Block,
    Char,
}

impl DeviceType {
    pub fn as_char(self) -> char {
        match self {
            DeviceType::All => 'a',
            DeviceType::Block => 'b',
            DeviceType::Char => 'c',
        }
    }
}

/// One device cgroup rule; `major`/`minor` of -1 mean "any" (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub typ: DeviceType,
    pub major: i64,
    pub minor: i64,
    /// ACC_* bits.
    pub access: u8,
}

pub(crate) fn access_string(bits: u8) -> String {
    let mut s = String::with_capacity(3);
    if bits & ACC_READ != 0 {
        s.push('r');
    }
    if bits & ACC_WRITE != 0 {
        s.push('w');
    }
    if bits & ACC_MKNOD != 0 {
        s.push('m');
    }
    s
}

pub(crate) fn parse_access(s: &str) -> Option<u8> {
    let mut bits = 0;
    for c in s.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return None,
        };
    }
    (bits != 0).then_some(bits)
}

impl DeviceRule {
    const fn chr(major: i64, minor: i64, access: u8) -> Self {
        DeviceRule {
            allow: true,
            typ: DeviceType::Char,
            major,
            minor,
            access,
        }
    }

    /// The line written to devices.allow / devices.deny, e.g. "c 1:3 rwm".
    pub fn cgroup_string(&self) -> String {
        let num = |n: i64| {
            if n < 0 {
                "*".to_string()
            } else {
                n.to_string()
            }
        };
        format!(
            "{} {}:{} {}",
            self.typ.as_char(),
            num(self.major),
            num(self.minor),
            access_string(self.access)
        )
    }

    /// Convert and validate an OCI rule (`index` is for messages).
    pub(crate) fn from_oci(index: usize, d: &LinuxDeviceCgroup) -> Result<Self> {
        let typ = match d.typ() {
            None | Some(LinuxDeviceType::A) => DeviceType::All,
            Some(LinuxDeviceType::B) => DeviceType::Block,
            Some(LinuxDeviceType::C) => DeviceType::Char,
            Some(t) => {
                return Err(CgroupError::Invalid(format!(
                    "linux.resources.devices[{index}]: invalid cgroup device type {:?} (want a, b or c)",
                    t.as_str()
                )))
            }
        };
        let access = d.access().as_deref().unwrap_or("");
        if access.is_empty() {
            return Err(CgroupError::Invalid(format!(
                "linux.resources.devices[{index}]: device access cannot be empty"
            )));
        }
        let access = parse_access(access).ok_or_else(|| {
            CgroupError::Invalid(format!(
                "linux.resources.devices[{index}]: invalid device access {access:?} (want a combination of r, w, m)"
            ))
        })?;
        let num = |what: &str, n: Option<i64>| -> Result<i64> {
            match n {
                None | Some(-1) => Ok(-1),
                Some(n) if (0..=u32::MAX as i64).contains(&n) => Ok(n),
                Some(n) => Err(CgroupError::Invalid(format!(
                    "linux.resources.devices[{index}]: invalid {what} number {n}"
                ))),
            }
        };
        Ok(DeviceRule {
            allow: d.allow(),
            typ,
            major: num("major", d.major())?,
            minor: num("minor", d.minor())?,
            access,
        })
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.allow { "allow" } else { "deny" };
        write!(f, "{verb} {}", self.cgroup_string())
    }
}

/// The devices runc always allows after the spec's rules: mknod of any
/// char/block device, the standard /dev nodes, the console, ptys and
/// /dev/net/tun (kept by runc for compatibility).
pub fn default_allowed_devices() -> Vec<DeviceRule> {
    let m = |typ| DeviceRule {
        allow: true,
        typ,
        major: -1,
        minor: -1,
        access: ACC_MKNOD,
    };
    vec![
        m(DeviceType::Char),
        m(DeviceType::Block),
        DeviceRule::chr(1, 3, ACC_ALL),    // /dev/null
        DeviceRule::chr(1, 8, ACC_ALL),    // /dev/random
        DeviceRule::chr(1, 7, ACC_ALL),    // /dev/full
        DeviceRule::chr(5, 0, ACC_ALL),    // /dev/tty
        DeviceRule::chr(1, 5, ACC_ALL),    // /dev/zero
        DeviceRule::chr(1, 9, ACC_ALL),    // /dev/urandom
        DeviceRule::chr(5, 1, ACC_ALL),    // /dev/console
        DeviceRule::chr(136, -1, ACC_ALL), // /dev/pts/*
        DeviceRule::chr(5, 2, ACC_ALL),    // /dev/ptmx
        DeviceRule::chr(10, 200, ACC_ALL), // /dev/net/tun
    ]
}

/// The spec's rules followed by the defaults, in application order.
pub(crate) fn rules_from_spec(devices: Option<&Vec<LinuxDeviceCgroup>>) -> Result<Vec<DeviceRule>> {
    let mut rules = Vec::new();
    for (i, d) in devices.into_iter().flatten().enumerate() {
        rules.push(DeviceRule::from_oci(i, d)?);
    }
    rules.extend(default_allowed_devices());
    Ok(rules)
}

/// Key of an exception: (major, minor, type), so that iteration order is
/// runc's sort order.
type Meta = (i64, i64, DeviceType);

/// The state of a v1 devices cgroup: a default behaviour plus exceptions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Emulator {
    pub default_allow: bool,
    pub rules: BTreeMap<Meta, u8>,
    /// The exceptions in the order they were first added: the kernel lists
    /// devices.list in that order, and the spec says the rules apply in the
    /// listed order, which is what a reader of devices.list checks.
    pub order: Vec<Meta>,
}

/// Equal when they allow the same accesses, whatever the order.
impl PartialEq for Emulator {
    fn eq(&self, other: &Self) -> bool {
        self.default_allow == other.default_allow && self.rules == other.rules
    }
}

impl Eq for Emulator {}

impl Emulator {
    pub fn from_rules(rules: &[DeviceRule]) -> Result<Self> {
        let mut e = Emulator::default();
        for r in rules {
            e.apply(r)?;
        }
        Ok(e)
    }

    /// Parse devices.list (the kernel lists allowed entries; a blacklist
    /// cgroup shows only "a *:* rwm").
    pub fn from_list(text: &str) -> Result<Self> {
        let mut e = Emulator::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let bad = || CgroupError::Parse {
                path: "devices.list".into(),
                content: line.to_string(),
            };
            let fields: Vec<&str> = line.split([' ', ':']).filter(|s| !s.is_empty()).collect();
            if fields.len() != 4 {
                return Err(bad());
            }
            let typ = match fields[0] {
                "a" => DeviceType::All,
                "b" => DeviceType::Block,
                "c" => DeviceType::Char,
                _ => return Err(bad()),
            };
            let num = |s: &str| -> Result<i64> {
                if s == "*" {
                    Ok(-1)
                } else {
                    s.parse::<u32>().map(i64::from).map_err(|_| bad())
                }
            };
            let rule = DeviceRule {
                allow: true,
                typ,
                major: num(fields[1])?,
                minor: num(fields[2])?,
                access: parse_access(fields[3]).ok_or_else(bad)?,
            };
            e.apply(&rule)?;
        }
        Ok(e)
    }

    pub fn is_allow_all(&self) -> bool {
        self.default_allow && self.rules.is_empty()
    }

    pub fn apply(&mut self, r: &DeviceRule) -> Result<()> {
        if r.typ == DeviceType::All {
            // "a" resets the cgroup to allow-all or deny-all.
            *self = Emulator {
                default_allow: r.allow,
                ..Emulator::default()
            };
            return Ok(());
        }
        let meta = (r.major, r.minor, r.typ);
        if r.allow == self.default_allow {
            self.remove(meta, r.access)
        } else {
            if !self.rules.contains_key(&meta) {
                self.order.push(meta);
            }
            *self.rules.entry(meta).or_insert(0) |= r.access;
            Ok(())
        }
    }

    fn remove(&mut self, meta: Meta, access: u8) -> Result<()> {
        let (major, minor, typ) = meta;
        // The v1 kernel cannot punch a hole into a wildcard exception; runc
        // refuses such rule lists rather than diverge between v1 and v2.
        for partial in [(-1, minor, typ), (major, -1, typ), (-1, -1, typ)] {
            if partial == meta {
                continue;
            }
            if let Some(p) = self.rules.get(&partial) {
                if p & access != 0 {
                    return Err(CgroupError::Invalid(format!(
                        "device rule {} {}:{} {} cannot be expressed with the devices cgroup: it punches a hole into the wildcard rule {}",
                        typ.as_char(),
                        major,
                        minor,
                        access_string(access),
                        DeviceRule { allow: true, typ, major: partial.0, minor: partial.1, access: *p }.cgroup_string()
                    )));
                }
            }
        }
        if let Some(p) = self.rules.get_mut(&meta) {
            *p &= !access;
            if *p == 0 {
                self.rules.remove(&meta);
                self.order.retain(|m| *m != meta);
            }
        }
        Ok(())
    }

    /// The writes that turn `self` (current devices.list) into `target`.
    pub fn transition(&self, target: &Emulator) -> Vec<DeviceRule> {
        let mut out = Vec::new();
        let empty = BTreeMap::new();
        let mut old = &self.rules;
        // A blacklist's exceptions are not visible in devices.list, so it is
        // always reset.
        if self.default_allow || self.default_allow != target.default_allow {
            out.push(DeviceRule {
                allow: target.default_allow,
                typ: DeviceType::All,
                major: -1,
                minor: -1,
                access: ACC_ALL,
            });
            old = &empty;
        }
        for (&(major, minor, typ), &perms) in old {
            let dropped = perms & !target.rules.get(&(major, minor, typ)).copied().unwrap_or(0);
            if dropped != 0 {
                out.push(DeviceRule {
                    allow: target.default_allow,
                    typ,
                    major,
                    minor,
                    access: dropped,
                });
            }
        }
        for &(major, minor, typ) in &target.order {
            let perms = target.rules.get(&(major, minor, typ)).copied().unwrap_or(0);
            let gained = perms & !old.get(&(major, minor, typ)).copied().unwrap_or(0);
            if gained != 0 {
                out.push(DeviceRule {
                    allow: !target.default_allow,
                    typ,
                    major,
                    minor,
                    access: gained,
                });
            }
        }
        out
    }

    /// The minimal rule list equivalent to `self`, starting from deny-all.
    #[cfg(test)]
    pub fn rules(&self) -> Vec<DeviceRule> {
        Emulator::default().transition(self)
    }
}
