//! `config.json` for a container: the OCI spec generated at each start from the
//! container record (image config merged with the flags at create time), as
//! containerd's and docker's default specs do: namespaces, docker's default
//! capabilities, masked and read-only paths, the standard mounts, rlimits and a
//! cgroup per container.

pub mod default_seccomp;
pub mod resources;
pub mod seccomp;
pub mod user;
pub mod userns;

use crate::container::{ContainerRecord, MountKind};
use oci_spec::runtime::{
    Capabilities, Capability, Linux, LinuxCapabilities, LinuxCpu, LinuxDevice, LinuxDeviceCgroup,
    LinuxDeviceType, LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources,
    Mount, PosixRlimitBuilder, PosixRlimitType, Process, Root, Spec, User,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{0}")]
    Invalid(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SpecError {
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> SpecError {
        SpecError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// All capabilities by number (CAP_CHOWN = 0 ...).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities berth can grant: those of its own bounding set (what the
/// kernel knows and the host lets it keep; docker's privileged set is the same).
pub fn host_caps() -> Vec<String> {
    let bnd = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// `CAP_X`, `x`, `cap_x` -> `CAP_X`; "ALL" stays.
pub fn normalize_cap(c: &str) -> Result<String, SpecError> {
    let up = c.to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SpecError::Invalid(format!("unknown capability: {c:?}")))
    }
}

/// docker's cap-add/cap-drop rules over the default set.
pub fn capabilities(
    privileged: bool,
    add: &[String],
    drop: &[String],
) -> Result<Vec<String>, SpecError> {
    if privileged {
        return Ok(host_caps());
    }
    let add: Vec<String> = add
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<_, _>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<_, _>>()?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        host_caps()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    };
    if drop.iter().any(|c| c == "ALL") {
        caps.clear();
    } else {
        caps.retain(|c| !drop.contains(c));
    }
    for c in add {
        if c != "ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// docker's (moby's oci/defaults.go): /sys/devices/virtual/powercap holds
/// RAPL energy counters (CVE-2020-8694, PLATYPUS), masked since docker 20.10.
/// A path the host does not have is skipped by the runtime.
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The host's device nodes under /dev, for `--privileged` (docker, through
/// runc's `HostDevices`: every char and block device, skipping the
/// per-container directories pts, shm, fd and mqueue, /dev/console, and
/// /dev/ptmx, which the runtime makes a link to pts/ptmx).
pub fn host_devices() -> Vec<LinuxDevice> {
    fn walk(dir: &Path, out: &mut Vec<LinuxDevice>) {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            let Ok(md) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = md.file_type();
            if ft.is_dir() {
                if !matches!(
                    name.as_ref(),
                    "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
                ) {
                    walk(&path, out);
                }
                continue;
            }
            if dir == Path::new("/dev") && matches!(name.as_ref(), "console" | "ptmx") {
                continue;
            }
            let typ = if ft.is_char_device() {
                LinuxDeviceType::C
            } else if ft.is_block_device() {
                LinuxDeviceType::B
            } else {
                continue;
            };
            let rdev = md.rdev();
            let mut d = LinuxDevice::default();
            d.set_path(path)
                .set_typ(typ)
                .set_major(libc::major(rdev) as i64)
                .set_minor(libc::minor(rdev) as i64)
                .set_file_mode(Some(md.mode() & 0o7777))
                .set_uid(Some(md.uid()))
                .set_gid(Some(md.gid()));
            out.push(d);
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/dev"), &mut out);
    out
}

/// Where `--init` finds a static init on the host (Debian's `tini` package).
pub const INIT_CANDIDATES: &[&str] = &[
    "/usr/bin/tini-static",
    "/usr/bin/docker-init",
    "/sbin/tini-static",
];
/// Where docker mounts its init inside the container.
pub const INIT_IN_CONTAINER: &str = "/sbin/docker-init";

pub fn find_init() -> Result<PathBuf, SpecError> {
    INIT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            SpecError::Invalid(
                "--init needs a static init on the host: install Debian's `tini` package \
                 (/usr/bin/tini-static)"
                    .into(),
            )
        })
}

/// Which seccomp policy a container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompMode {
    /// berth's default policy ([`default_seccomp`]), docker's equivalent.
    Default,
    /// `--security-opt seccomp=FILE`.
    Custom,
    /// `--privileged` or `--security-opt seccomp=unconfined`: no filter.
    Unconfined,
}

impl SeccompMode {
    /// The name `berth info` and `inspect` show.
    pub fn name(self) -> &'static str {
        match self {
            SeccompMode::Default => "builtin",
            SeccompMode::Custom => "custom",
            SeccompMode::Unconfined => "unconfined",
        }
    }
}

/// The seccomp policy for these flags: unconfined for `--privileged` and
/// `seccomp=unconfined`, the named profile for `seccomp=FILE`, else the default.
pub fn seccomp_mode(privileged: bool, security_opt: &[String]) -> SeccompMode {
    let mut mode = SeccompMode::Default;
    for o in security_opt {
        if let Some(v) = o
            .strip_prefix("seccomp=")
            .or_else(|| o.strip_prefix("seccomp:"))
        {
            mode = if v == "unconfined" {
                SeccompMode::Unconfined
            } else {
                SeccompMode::Custom
            };
        }
    }
    if privileged {
        SeccompMode::Unconfined
    } else {
        mode
    }
}

/// docker info's `SecurityOptions` for this host: the default seccomp policy is
/// named when the kernel can filter system calls (`Seccomp:` in /proc/self/status).
pub fn security_options() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut out = Vec::new();
    if status.lines().any(|l| l.starts_with("Seccomp:")) {
        out.push(format!(
            "name=seccomp,profile={}",
            SeccompMode::Default.name()
        ));
    }
    out
}

/// Whether `--security-opt` asks for no-new-privileges.
pub fn no_new_privileges(opts: &[String]) -> bool {
    opts.iter().any(|o| {
        matches!(
            o.as_str(),
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
        )
    })
}

/// Check `--security-opt` values up front (clear errors for what berth lacks).
pub fn validate_security_opts(opts: &[String]) -> Result<(), SpecError> {
    for o in opts {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o.as_str(), ""));
        match k {
            "seccomp" if !v.is_empty() => {}
            "no-new-privileges" if matches!(v, "" | "true" | "false") => {}
            "apparmor" => {
                return Err(SpecError::Invalid(format!(
                    "--security-opt {o}: AppArmor profiles are not supported by berth"
                )))
            }
            "label" => {
                return Err(SpecError::Invalid(format!(
                    "--security-opt {o}: SELinux labels are not supported by berth"
                )))
            }
            _ => {
                return Err(SpecError::Invalid(format!(
                    "invalid --security-opt: {o:?} (supported: seccomp=PROFILE.json|unconfined, no-new-privileges)"
                )))
            }
        }
    }
    Ok(())
}

/// Everything besides the record that the spec needs.
pub struct Inputs<'a> {
    pub rec: &'a ContainerRecord,
    /// The mounted rootfs (users, groups and the working directory are read and
    /// made there).
    pub rootfs: &'a Path,
    /// Where /etc/hostname, /etc/hosts and /etc/resolv.conf are written.
    pub etc_dir: &'a Path,
    /// `seccomp=FILE` content (read at create time), if any.
    pub seccomp_profile: Option<&'a str>,
    /// The host's static init for `--init`.
    pub init: Option<&'a Path>,
}

/// A bind mount of `source` at `destination` (recursive, private).
fn bind_mount(destination: &str, source: &Path, ro: bool) -> Mount {
    let mut o = vec!["rbind".to_string(), "rprivate".to_string()];
    if ro {
        o.push("ro".into());
    }
    mount(destination, "bind", source, &o)
}

/// A mount entry.
fn mount(destination: &str, typ: &str, source: impl Into<PathBuf>, options: &[String]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination))
        .set_typ(Some(typ.to_string()))
        .set_source(Some(source.into()))
        .set_options(Some(options.to_vec()));
    m
}

/// A kernel filesystem mount (`source` is the filesystem's name).
fn fs_mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let o: Vec<String> = options.iter().map(|s| s.to_string()).collect();
    mount(destination, typ, source, &o)
}

/// The bind-mounted /etc files (hostname, hosts, resolv.conf), as docker makes them.
fn write_etc_files(inp: &Inputs) -> Result<Vec<Mount>, SpecError> {
    let rec = inp.rec;
    let dir = inp.etc_dir;
    let host_net = rec.host_config.network_mode.is_host();
    let hostname = format!("{}\n", rec.config.hostname);
    let hosts = if host_net {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n127.0.1.1\t{}\n",
            rec.config.hostname
        )
    };
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut mounts = Vec::new();
    for (name, content) in [
        ("hostname", hostname),
        ("hosts", hosts),
        ("resolv.conf", resolv),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, content).map_err(|e| SpecError::io("write", &p, e))?;
        let ro = rec.host_config.readonly_rootfs && name == "hostname";
        mounts.push(bind_mount(&format!("/etc/{name}"), &p, ro));
    }
    Ok(mounts)
}

/// docker's `--memory`-style sizes: 512m, 1g, 100k, 1024b, plain bytes.
pub fn parse_size(s: &str) -> Result<i64, SpecError> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| SpecError::Invalid(format!("invalid size: {s:?}")))?;
    if n < 0.0 {
        return Err(SpecError::Invalid(format!("invalid size: {s:?}")));
    }
    Ok((n * mul as f64) as i64)
}

/// The process's environment: the record's (image + flags), PATH when missing,
/// HOSTNAME, TERM for a terminal, HOME from passwd when missing.
pub fn process_env(rec: &ContainerRecord, home: &str) -> Vec<String> {
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    let mut env: Vec<String> = Vec::new();
    if !has(&rec.config.env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    env.push(format!("HOSTNAME={}", rec.config.hostname));
    if rec.config.tty && !has(&rec.config.env, "TERM") {
        env.push("TERM=xterm".into());
    }
    env.extend(rec.config.env.iter().cloned());
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// A device cgroup rule.
fn dev_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(allow)
        .set_typ(typ)
        .set_major(major)
        .set_minor(minor)
        .set_access(Some(access.to_string()));
    d
}

fn namespace(typ: LinuxNamespaceType) -> LinuxNamespace {
    let mut n = LinuxNamespace::default();
    n.set_typ(typ).set_path(None);
    n
}

/// Capability names (`CAP_X`) as oci-spec's set.
fn cap_set(caps: &[String]) -> Result<Capabilities, SpecError> {
    caps.iter()
        .map(|c| {
            Capability::deserialize(
                serde::de::value::StrDeserializer::<serde::de::value::Error>::new(c),
            )
            .map_err(|_| SpecError::Invalid(format!("unknown capability: {c:?}")))
        })
        .collect()
}

/// Generate config.json (and the /etc files it mounts). Resolves the user in the
/// mounted rootfs and creates the working directory there.
pub fn generate(inp: &Inputs) -> Result<Spec, SpecError> {
    let rec = inp.rec;
    let hc = &rec.host_config;
    let passwd = user::read_in_root(inp.rootfs, "etc/passwd")?;
    let group = user::read_in_root(inp.rootfs, "etc/group")?;
    let u = user::resolve(&rec.config.user, passwd.as_deref(), group.as_deref())?;
    let cwd = if rec.config.working_dir.is_empty() {
        "/".to_string()
    } else {
        rec.config.working_dir.clone()
    };
    if cwd != "/" {
        user::mkdir_in_root(inp.rootfs, &cwd, u.uid, u.gid)?;
    }
    let caps = capabilities(hc.privileged, &hc.cap_add, &hc.cap_drop)?;
    let mut args: Vec<String> = Vec::new();
    if inp.init.is_some() {
        args.push(INIT_IN_CONTAINER.into());
        args.push("--".into());
    }
    if !rec.path.is_empty() {
        args.push(rec.path.clone());
    }
    args.extend(rec.args.iter().cloned());
    if args.is_empty() {
        return Err(SpecError::Invalid("no command specified".into()));
    }
    let host_net = hc.network_mode.is_host();
    let host_pid = hc.pid_mode == "host";
    let host_ipc = hc.ipc_mode == "host";
    let mut namespaces = Vec::new();
    if !host_pid {
        namespaces.push(namespace(LinuxNamespaceType::Pid));
    }
    if !host_ipc {
        namespaces.push(namespace(LinuxNamespaceType::Ipc));
    }
    namespaces.push(namespace(LinuxNamespaceType::Uts));
    namespaces.push(namespace(LinuxNamespaceType::Mount));
    if !host_net {
        namespaces.push(namespace(LinuxNamespaceType::Network));
    }
    namespaces.push(namespace(LinuxNamespaceType::Cgroup));
    let remap = rec.userns_remap.as_ref();
    if remap.is_some() {
        namespaces.push(namespace(LinuxNamespaceType::User));
        userns::allow_traversal(inp.rootfs)?;
    }
    // What berth itself binds in (its /etc files, the init, volumes) is
    // idmapped under a remap, so that the container's root owns it as host
    // root does; a host bind is not (see `userns`).
    let ours = |mut m: Mount| {
        if remap.is_some() {
            let mut o = m.options().clone().unwrap_or_default();
            o.push("idmap".into());
            m.set_options(Some(o));
        }
        m
    };

    let sys_opts: &[&str] = if hc.privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let cgroup_opts: &[&str] = if hc.privileged {
        &["nosuid", "noexec", "nodev", "relatime"]
    } else {
        &["nosuid", "noexec", "nodev", "relatime", "ro"]
    };
    let mut mounts = vec![
        fs_mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        fs_mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        fs_mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        fs_mount("/sys", "sysfs", "sysfs", sys_opts),
        fs_mount("/sys/fs/cgroup", "cgroup", "cgroup", cgroup_opts),
        fs_mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
    ];
    // Sharing the host's IPC namespace shares its /dev/shm too (docker's rule).
    if host_ipc {
        mounts.push(bind_mount("/dev/shm", Path::new("/dev/shm"), false));
    } else {
        mounts.push(fs_mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        ));
    }
    mounts.extend(write_etc_files(inp)?.into_iter().map(ours));
    if let Some(init) = inp.init {
        mounts.push(ours(bind_mount(INIT_IN_CONTAINER, init, true)));
    }
    for m in &rec.mounts {
        match m.r#type {
            MountKind::Tmpfs => {
                let mut o = vec!["nosuid".to_string(), "nodev".to_string()];
                if !m.rw {
                    o.push("ro".into());
                }
                o.extend(
                    m.options
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
                mounts.push(mount(&m.destination, "tmpfs", "tmpfs", &o));
            }
            MountKind::Bind => mounts.push(bind_mount(&m.destination, Path::new(&m.source), !m.rw)),
            MountKind::Volume => mounts.push(ours(bind_mount(
                &m.destination,
                Path::new(&m.source),
                !m.rw,
            ))),
        }
    }

    let devices = if hc.privileged {
        vec![dev_rule(true, None, None, None, "rwm")]
    } else {
        use LinuxDeviceType::{B, C};
        let c = |major: i64, minor: Option<i64>| dev_rule(true, Some(C), Some(major), minor, "rwm");
        vec![
            dev_rule(false, None, None, None, "rwm"),
            dev_rule(true, Some(C), None, None, "m"),
            dev_rule(true, Some(B), None, None, "m"),
            c(1, Some(3)),
            c(1, Some(8)),
            c(1, Some(7)),
            c(5, Some(0)),
            c(1, Some(5)),
            c(1, Some(9)),
            c(5, Some(1)),
            c(136, None),
            c(5, Some(2)),
            c(10, Some(200)),
        ]
    };
    let mut resources = LinuxResources::default();
    resources.set_devices(Some(devices));
    if hc.memory > 0 {
        let mut m = LinuxMemory::default();
        m.set_limit(Some(hc.memory));
        resources.set_memory(Some(m));
    }
    if hc.nano_cpus > 0 {
        let period = 100_000u64;
        let mut c = LinuxCpu::default();
        c.set_quota(Some(hc.nano_cpus * period as i64 / 1_000_000_000))
            .set_period(Some(period));
        resources.set_cpu(Some(c));
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p != 0) {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        resources.set_pids(Some(pids));
    }

    let mut linux = Linux::default();
    linux
        .set_namespaces(Some(namespaces))
        .set_resources(Some(resources))
        .set_cgroups_path(Some(PathBuf::from(format!("/berth/{}", rec.id))));
    if let Some(r) = remap {
        let map = |maps: Vec<userns::IdMap>| {
            maps.into_iter()
                .map(|m| {
                    oci_spec::runtime::LinuxIdMappingBuilder::default()
                        .container_id(m.container)
                        .host_id(m.host)
                        .size(m.size)
                        .build()
                        .map_err(|e| SpecError::Invalid(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        linux
            .set_uid_mappings(Some(map(r.uid_mappings())?))
            .set_gid_mappings(Some(map(r.gid_mappings())?));
    }
    if hc.privileged {
        // docker: all the host's devices (the device cgroup allows all above)
        linux
            .set_devices(Some(host_devices()))
            .set_masked_paths(None)
            .set_readonly_paths(None);
    } else {
        let strs = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        linux
            .set_masked_paths(Some(strs(MASKED_PATHS)))
            .set_readonly_paths(Some(strs(READONLY_PATHS)));
    }
    match seccomp_mode(hc.privileged, &hc.security_opt) {
        SeccompMode::Unconfined => {}
        SeccompMode::Default => {
            linux.set_seccomp(Some(default_seccomp::profile(&caps)));
        }
        SeccompMode::Custom => {
            if let Some(profile) = inp.seccomp_profile {
                linux.set_seccomp(Some(seccomp::convert(profile, &caps)?));
            } else {
                // A record from before the default profile: confine it anyway.
                linux.set_seccomp(Some(default_seccomp::profile(&caps)));
            }
        }
    }

    let mut user = User::default();
    user.set_uid(u.uid).set_gid(u.gid);
    if !u.additional_gids.is_empty() {
        user.set_additional_gids(Some(u.additional_gids.clone()));
    }
    let cap_set = cap_set(&caps)?;
    let mut capabilities = LinuxCapabilities::default();
    capabilities
        .set_bounding(Some(cap_set.clone()))
        .set_effective(Some(cap_set.clone()))
        .set_permitted(Some(cap_set))
        .set_inheritable(None)
        .set_ambient(None);
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(1024u64)
        .soft(1024u64)
        .build()
        .map_err(|e| SpecError::Invalid(e.to_string()))?;
    let mut process = Process::default();
    process
        .set_terminal(Some(rec.config.tty))
        .set_user(user)
        .set_args(Some(args))
        .set_env(Some(process_env(rec, &u.home)))
        .set_cwd(PathBuf::from(cwd))
        .set_capabilities(Some(capabilities))
        .set_rlimits(Some(vec![nofile]))
        .set_no_new_privileges(Some(no_new_privileges(&hc.security_opt)));

    let mut root = Root::default();
    root.set_path(PathBuf::from("rootfs"))
        .set_readonly(Some(hc.readonly_rootfs));
    let mut spec = Spec::default();
    spec.set_version("1.0.2".to_string())
        .set_process(Some(process))
        .set_root(Some(root))
        .set_hostname(Some(rec.config.hostname.clone()))
        .set_mounts(Some(mounts))
        .set_annotations(annotations(hc, remap.is_some()))
        .set_linux(Some(linux));
    resources::apply(rec, inp.rootfs, &mut spec)?;
    Ok(spec)
}

/// The user's annotations, plus the runtime's for an idmapped rootfs (which
/// the user cannot override: it must say what the mounts really are).
fn annotations(
    hc: &crate::container::HostConfig,
    idmapped_rootfs: bool,
) -> Option<std::collections::HashMap<String, String>> {
    let mut a: std::collections::HashMap<String, String> = hc
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if idmapped_rootfs {
        a.insert(userns::ROOTFS_IDMAP_ANNOTATION.to_string(), "true".into());
    }
    (!a.is_empty()).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        let c = capabilities(false, &["net_admin".into()], &["CAP_CHOWN".into()]).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        let c = capabilities(false, &["SYS_ADMIN".into()], &["ALL".into()]).unwrap();
        assert_eq!(c, vec!["CAP_SYS_ADMIN"]);
        assert!(capabilities(false, &["BOGUS".into()], &[]).is_err());
    }

    #[test]
    fn masked_and_readonly_paths_are_dockers() {
        // moby's oci/defaults.go, in its order.
        assert_eq!(
            MASKED_PATHS,
            [
                "/proc/asound",
                "/proc/acpi",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/proc/scsi",
                "/sys/firmware",
                "/sys/devices/virtual/powercap",
            ]
        );
        assert_eq!(
            READONLY_PATHS,
            [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn security_opts() {
        assert!(validate_security_opts(&["no-new-privileges".into()]).is_ok());
        assert!(validate_security_opts(&["seccomp=unconfined".into()]).is_ok());
        let e = validate_security_opts(&["apparmor=x".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn spec_is_valid_oci() {
        let dir = std::env::temp_dir().join(format!("berth-spec-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
        std::fs::write(dir.join("rootfs/etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        let mut rec = ContainerRecord {
            id: "a".repeat(64),
            path: "sh".into(),
            ..Default::default()
        };
        rec.config.hostname = "aaaa".into();
        rec.config.working_dir = "/work/dir".into();
        rec.host_config.memory = 1 << 26;
        let v = generate(&Inputs {
            rec: &rec,
            rootfs: &dir.join("rootfs"),
            etc_dir: &dir,
            seccomp_profile: None,
            init: None,
        })
        .unwrap();
        let spec = v;
        assert_eq!(spec.hostname().as_deref(), Some("aaaa"));
        assert!(dir.join("rootfs/work/dir").is_dir());
        let process = spec.process().as_ref().unwrap();
        assert!(process
            .env()
            .as_ref()
            .unwrap()
            .iter()
            .any(|e| e == "HOME=/root"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn host_pid_and_ipc_drop_those_namespaces() {
        let dir = std::env::temp_dir().join(format!("berth-spec-ns-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
        let mut rec = ContainerRecord {
            id: "b".repeat(64),
            path: "sh".into(),
            ..Default::default()
        };
        let kinds = |rec: &ContainerRecord| {
            let spec = generate(&Inputs {
                rec,
                rootfs: &dir.join("rootfs"),
                etc_dir: &dir,
                seccomp_profile: None,
                init: None,
            })
            .unwrap();
            let linux = spec.linux().as_ref().unwrap();
            let ns: Vec<LinuxNamespaceType> = linux
                .namespaces()
                .as_ref()
                .unwrap()
                .iter()
                .map(|n| n.typ())
                .collect();
            let shm = spec
                .mounts()
                .as_ref()
                .unwrap()
                .iter()
                .find(|m| m.destination() == Path::new("/dev/shm"))
                .map(|m| (m.typ().clone(), m.source().clone()))
                .unwrap();
            (ns, shm)
        };
        let (ns, shm) = kinds(&rec);
        assert!(ns.contains(&LinuxNamespaceType::Pid) && ns.contains(&LinuxNamespaceType::Ipc));
        assert_eq!(shm.0.as_deref(), Some("tmpfs"));
        rec.host_config.pid_mode = "host".into();
        rec.host_config.ipc_mode = "host".into();
        let (ns, shm) = kinds(&rec);
        assert!(!ns.contains(&LinuxNamespaceType::Pid) && !ns.contains(&LinuxNamespaceType::Ipc));
        assert!(ns.contains(&LinuxNamespaceType::Mount) && ns.contains(&LinuxNamespaceType::Uts));
        // The host's /dev/shm, bound.
        assert_eq!(shm.1.as_deref(), Some(Path::new("/dev/shm")));
        assert_ne!(shm.0.as_deref(), Some("tmpfs"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
