//! The container's init, as one linear sequence run in the process that
//! `create` cloned (no re-exec of the runtime): namespaces, rootfs, root
//! switch, terminal, identity, then a wait for `start` and the exec of the
//! user process.

pub mod channel;
pub mod console;
pub mod exec;
pub mod lsm;
pub mod namespaces;
pub mod process;
pub mod sched;

use std::convert::Infallible;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{accept4, SockFlag};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use self::channel::{Channel, ToChild, ToParent};
use self::namespaces::NsPlan;
use crate::container::state::{ContainerState, Status};
use crate::error::{Error, InitError, InitErrorKind, Result, SysContext};
use crate::hooks::{self, HookKind};
use crate::rootfs;

/// Everything the init needs; it lives in the parent's memory and reaches
/// the child as the copy that clone/fork makes.
pub struct InitConfig<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub no_pivot: bool,
    pub plan: &'a NsPlan,
    pub console: Option<OwnedFd>,
    pub start_listener: OwnedFd,
    /// fds 3..3+preserve stay open in the container (LISTEN_FDS included).
    pub preserve_fds: u32,
    pub extra_env: Vec<String>,
    pub state: ContainerState,
    /// Whether the process path went through the intermediate, which has
    /// already joined every namespace.
    pub namespaces_joined: bool,
    /// Built by `create`, loaded by the init.
    pub seccomp: Option<crate::seccomp::Filter>,
    /// `--no-new-keyring`: keep the caller's session keyring.
    pub no_new_keyring: bool,
    /// Set in the child when it moves itself into its cgroup (see
    /// [`crate::cgroups::Cgroup::join_self`]); otherwise the parent does.
    pub join_cgroup: Option<SelfJoin>,
    /// Idmapped mounts made by `create`, attached by the init.
    pub idmapped: Vec<rootfs::idmap::Idmapped>,
}

/// The init (or an exec'd process) moves itself into the container's v1
/// hierarchies; `in_unified`: clone3 already started it in the cgroup2 one.
#[derive(Clone, Copy)]
pub struct SelfJoin {
    pub in_unified: bool,
}

impl InitConfig<'_> {
    fn in_userns(&self) -> bool {
        self.plan.has_user_ns()
    }

    /// The fds the init itself still needs.
    pub fn own_fds(&self, chan: &Channel) -> Vec<std::os::fd::RawFd> {
        let mut v = vec![chan.as_fd().as_raw_fd(), self.start_listener.as_raw_fd()];
        v.extend(self.console.as_ref().map(|c| c.as_raw_fd()));
        v.extend(self.plan.joins.iter().map(|j| j.fd.as_raw_fd()));
        v.extend(self.idmapped.iter().map(|i| i.fd.as_raw_fd()));
        v
    }
}

/// What the init keeps after set-up, waiting for `start`.
pub(crate) struct Prepared {
    exec_path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Prepared {
    /// execve; returns only on failure.
    pub(crate) fn exec(&self) -> InitError {
        crate::sys::signal::default_sigpipe();
        let err = nix::unistd::execve(&self.exec_path, &self.argv, &self.envp).unwrap_err();
        let kind = match err {
            Errno::ENOENT => InitErrorKind::NotFound,
            Errno::EACCES | Errno::EPERM => InitErrorKind::PermissionDenied,
            _ => InitErrorKind::Other,
        };
        // Go's wording, which runc prints and engines match:
        // `exec /run.sh: no such file or directory`.
        let desc = err.desc();
        let mut lower = desc.chars();
        let desc: String = lower
            .next()
            .map(|c| c.to_ascii_lowercase())
            .into_iter()
            .chain(lower)
            .collect();
        InitError {
            kind,
            message: format!("exec {}: {desc}", self.exec_path.to_string_lossy()),
        }
    }
}

/// The child side of `create`. Never returns.
pub fn child_main(cfg: &mut InitConfig, chan: Channel) -> ! {
    // Nothing the caller handed to `create` beyond --preserve-fds may stay
    // open in the waiting init (callers wait for EOF on their pipes).
    crate::logging::silence();
    crate::sys::fds::close_all_except(cfg.preserve_fds, &cfg.own_fds(&chan));
    // Nothing in the container may ptrace or open /proc/PID/exe of this
    // process while it still is the runtime binary.
    let _ = nix::sys::prctl::set_dumpable(false);
    let joined = match (cfg.join_cgroup, &cfg.state.cgroup) {
        (Some(j), Some(cg)) => cg.join_self(j.in_unified).map_err(Error::from),
        _ => Ok(()),
    };
    let prepared = match joined.and_then(|()| setup(cfg, &chan)) {
        Ok(p) => p,
        Err(e) => {
            let _ = chan.send(&ToParent::Failed(e.into()));
            exit(1)
        }
    };
    drop(chan);
    match wait_start_and_exec(cfg, prepared) {
        Ok(never) => match never {},
        Err(_) => exit(1),
    }
}

pub(crate) fn exit(code: i32) -> ! {
    // _exit: the parent's buffers and destructors are not ours to run.
    // SAFETY: terminates the process.
    unsafe { libc::_exit(code) }
}

fn setup(cfg: &mut InitConfig, chan: &Channel) -> Result<Prepared> {
    let ToChild::Hello { pid } = recv(chan)? else {
        return Err(Error::Invalid(
            "init: unexpected message, expected hello".into(),
        ));
    };
    cfg.state.pid = pid;
    let spec = cfg.spec;
    let process = spec.process().as_ref().expect("validated");
    if cfg.in_userns() {
        become_ns_root()?;
    }
    if !cfg.namespaces_joined {
        cfg.plan
            .join(|t| !matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time))?;
    }
    // Mounts overlap with the parent's cgroup migration; the init waits for
    // it before a cgroup filesystem mount, a fork (hooks) or user code.
    let joined = std::cell::Cell::new(false);
    let mut join_cgroup = || -> Result<()> {
        if !joined.get() {
            enter_cgroup(cfg, chan)?;
            joined.set(true);
        }
        Ok(())
    };
    if cfg.plan.creates(LinuxNamespaceType::Network) {
        // A new network namespace without a path: bring lo up, as runc does.
        crate::sys::loopback::loopback_up().ctx(|| "bring the loopback interface up")?;
    }
    nix::unistd::setsid().ctx(|| "setsid")?;
    if !cfg.no_new_keyring {
        join_session_keyring(&cfg.state.id)?;
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).ctx(|| format!("set hostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: pointer and length of a live string.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } < 0 {
            return Err(Errno::last()).ctx(|| format!("set domainname {d:?}"));
        }
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .ctx(|| format!("set oom_score_adj {adj}"))?;
    }
    let terminal = process.terminal().unwrap_or(false);
    let has_mnt_ns = cfg.plan.has_mount_ns();
    if has_mnt_ns {
        rootfs::prepare(
            spec,
            cfg.rootfs,
            cfg.bundle,
            cfg.in_userns(),
            cfg.plan.creates(LinuxNamespaceType::Cgroup),
            terminal,
            &cfg.idmapped,
            &mut join_cgroup,
        )?;
    }
    join_cgroup()?;
    let hooks = spec.hooks().as_ref();
    let has = |k: HookKind| hooks.is_some_and(|h| !k.select(h).is_empty());
    let net_devices = spec
        .linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref())
        .is_some_and(|d| !d.is_empty());
    // The parent moves linux.netDevices in at this point too (before the
    // hooks, so that a prestart hook sees them in the namespace).
    if net_devices || has(HookKind::Prestart) || has(HookKind::CreateRuntime) {
        chan.send(&ToParent::RunRuntimeHooks).map_err(chan_err)?;
        match recv(chan)? {
            ToChild::RuntimeHooksDone => {}
            other => {
                return Err(Error::Invalid(format!(
                    "init: unexpected message {other:?}"
                )))
            }
        }
    }
    if has(HookKind::CreateContainer) {
        let env = process::merge_env(
            spec.process()
                .as_ref()
                .and_then(|p| p.env().as_ref())
                .into_iter()
                .flatten()
                .chain(cfg.extra_env.iter())
                .map(String::as_str),
        );
        hooks::run_all_in(
            hooks,
            HookKind::CreateContainer,
            &cfg.state.hook_state(Status::Creating),
            hooks::InContainer {
                env: Some(&env),
                cwd: Some(cfg.rootfs),
            },
        )?;
    }
    if !has_mnt_ns {
        // Without a mount namespace only chroot is safe (runc does the same
        // switch, but also mounts into the caller's namespace; we do not).
        nix::unistd::chroot(cfg.rootfs).ctx(|| format!("chroot {}", cfg.rootfs.display()))?;
        nix::unistd::chdir("/").ctx(|| "chdir /")?;
    } else {
        if cfg.no_pivot {
            rootfs::pivot::move_root(cfg.rootfs)?;
        } else {
            rootfs::pivot::pivot(cfg.rootfs)?;
        }
        rootfs::apply_root_propagation(spec)?;
    }
    if let Some(sock) = cfg.console.take() {
        // Without a mount namespace the caller's /dev/console is not ours
        // to cover.
        console::setup(process, &sock, has_mnt_ns)?;
    }
    let linux = spec.linux().as_ref();
    for (k, v) in linux.and_then(|l| l.sysctl().clone()).unwrap_or_default() {
        rootfs::finalize::sysctl(&k, &v)?;
    }
    if has_mnt_ns {
        finalize_rootfs(spec)?;
    }
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        lsm::apply_apparmor(p)?;
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        lsm::apply_selinux(l)?;
    }
    // Last before the identity switch, as runc (which sets them when the
    // init reports ready): the mounts and createContainer hooks run under the
    // runtime's limits, not the container's (a small RLIMIT_NOFILE or
    // RLIMIT_FSIZE is for the process, not for building its root).
    if let Some(l) = process.rlimits() {
        process::set_rlimits(l)?;
    }
    let (prepared, notify) = finalize_process(cfg, chan)?;
    let fds: Vec<i32> = notify.iter().map(|f| f.as_raw_fd()).collect();
    chan.send_with_fds(&ToParent::Ready, &fds)
        .map_err(chan_err)?;
    drop(notify);
    match recv(chan)? {
        ToChild::Proceed => {}
        other => {
            return Err(Error::Invalid(format!(
                "init: unexpected message {other:?}"
            )))
        }
    }
    Ok(prepared)
}

/// Wait until the parent has moved the init into its cgroup, then create the
/// cgroup namespace so that cgroup becomes its root.
fn enter_cgroup(cfg: &InitConfig, chan: &Channel) -> Result<()> {
    match recv(chan)? {
        ToChild::CgroupJoined => {}
        other => {
            return Err(Error::Invalid(format!(
                "init: unexpected message {other:?}, expected cgroup joined"
            )))
        }
    }
    if !cfg.namespaces_joined && cfg.plan.creates(LinuxNamespaceType::Cgroup) {
        rootfs::cgroup::remember_own_cgroups();
        namespaces::unshare_flags(namespaces::flag(LinuxNamespaceType::Cgroup))?;
    }
    Ok(())
}

fn recv(chan: &Channel) -> Result<ToChild> {
    match chan.recv::<ToChild>() {
        Ok(m) => Ok(m),
        // create died: nobody will ever start us.
        Err(channel::ChannelError::Closed) => exit(1),
        Err(e) => Err(chan_err(e)),
    }
}

fn chan_err(e: channel::ChannelError) -> Error {
    Error::Invalid(format!("init: {e}"))
}

/// Read-only and masked paths and a read-only root, inside the container
/// after the root switch.
fn finalize_rootfs(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let ro = linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or_default();
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default();
    if !ro.is_empty() || !masked.is_empty() {
        let mut paths = rootfs::finalize::Paths::new()?;
        for p in ro {
            paths.readonly(p)?;
        }
        for p in masked {
            paths.mask(p)?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        rootfs::finalize::readonly_root()?;
    }
    Ok(())
}

/// In a user namespace, become its root (uid 0 there) so files the init
/// creates are owned by a mapped id. An unmapped 0 is left alone.
/// A fresh session keyring, so the container sees none of the caller's
/// keys (runc's `_ses.<id>`, with the same permission mask).
fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    const KEYCTL_SETPERM: libc::c_int = 5;
    let name = std::ffi::CString::new(format!("_ses.{id}")).expect("id has no NUL");
    // SAFETY: keyctl with a NUL-terminated name.
    let ring =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ring < 0 {
        return match Errno::last() {
            // Kernels without keys, or user namespaces that refuse them:
            // runc carries on as well.
            Errno::ENOSYS | Errno::EACCES | Errno::EPERM => Ok(()),
            e => Err(e).ctx(|| "join a new session keyring"),
        };
    }
    // Like runc: the keyring's permissions plus "search" for its user, so
    // processes of the container's uid can use it.
    const KEYCTL_DESCRIBE: libc::c_int = 6;
    const KEY_USR_SEARCH: u32 = 0x0008_0000;
    let mut buf = [0u8; 256];
    // SAFETY: keyctl writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            ring,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    let perm = (n > 0)
        .then(|| String::from_utf8_lossy(&buf[..(n as usize).min(buf.len())]).into_owned())
        .and_then(|d| {
            d.split(';')
                .nth(3)
                .and_then(|p| u32::from_str_radix(p, 16).ok())
        })
        .ok_or_else(|| Error::Invalid("describe the session keyring".into()))?;
    // SAFETY: keyctl on the keyring id just returned.
    if unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SETPERM,
            ring,
            perm | KEY_USR_SEARCH,
        )
    } < 0
    {
        return Err(Errno::last()).ctx(|| "set session keyring permissions");
    }
    Ok(())
}

pub(crate) fn become_ns_root() -> Result<()> {
    let z = nix::unistd::Gid::from_raw(0);
    match nix::unistd::setresgid(z, z, z) {
        Ok(()) | Err(Errno::EINVAL) => {}
        Err(e) => return Err(e).ctx(|| "setgid 0 in user namespace"),
    }
    let z = nix::unistd::Uid::from_raw(0);
    match nix::unistd::setresuid(z, z, z) {
        Ok(()) | Err(Errno::EINVAL) => Ok(()),
        Err(e) => Err(e).ctx(|| "setuid 0 in user namespace"),
    }
}

/// Identity, capabilities, fds, cwd and the executable, in runc's order.
fn finalize_process(cfg: &mut InitConfig, chan: &Channel) -> Result<(Prepared, Option<OwnedFd>)> {
    let process = cfg.spec.process().as_ref().expect("validated");
    if let Some(p) = cfg
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.personality().as_ref())
    {
        sched::apply_personality(p)?;
    }
    if let Some(p) = cfg
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        sched::apply_memory_policy(p)?;
    }
    let seccomp = cfg.seccomp.take();
    let in_userns = cfg.in_userns();
    prepare_process(
        process,
        cfg.preserve_fds,
        &cfg.extra_env,
        in_userns,
        seccomp,
        chan,
    )
}

/// The part of the init sequence that `exec` shares: from fds to the
/// executable lookup.
pub(crate) fn prepare_process(
    process: &oci_spec::runtime::Process,
    preserve_fds: u32,
    extra_env: &[String],
    in_userns: bool,
    seccomp: Option<crate::seccomp::Filter>,
    chan: &Channel,
) -> Result<(Prepared, Option<OwnedFd>)> {
    let nnp = process.no_new_privileges().unwrap_or(false);
    // In the container's cgroup by now (the init waited for it, exec's
    // parent moved it before its hello).
    sched::apply_final_affinity(process)?;
    // While still privileged: real-time policies need CAP_SYS_NICE.
    if let Some(s) = process.scheduler() {
        sched::apply_scheduler(s)?;
    }
    if let Some(p) = process.io_priority() {
        sched::apply_io_priority(p)?;
    }
    let mut seccomp = seccomp;
    let mut notify = None;
    // Every inherited fd beyond the preserved ones closes on exec; the
    // init's own fds are already close-on-exec.
    // SAFETY: close_range with the CLOEXEC flag only changes fd flags.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 + preserve_fds,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it
    // while still privileged (as runc does); with it, as late as possible.
    if !nnp {
        if let Some(f) = seccomp.take() {
            // The listener goes to the agent before anything else: every
            // later syscall the filter hands to the agent would otherwise
            // block this process for ever (runc does the same).
            if let Some(fd) = f.load()? {
                chan.send_with_fds(&ToParent::SeccompListener, &[fd.as_raw_fd()])
                    .map_err(|e| Error::Invalid(format!("send seccomp listener: {e}")))?;
                match chan.recv::<ToChild>() {
                    Ok(ToChild::SeccompListenerSent) => {}
                    Ok(other) => {
                        return Err(Error::Invalid(format!(
                            "init: unexpected message {other:?}, expected seccomp listener sent"
                        )))
                    }
                    Err(e) => return Err(Error::Invalid(format!("init: {e}"))),
                }
            }
        }
    }
    let caps = process
        .capabilities()
        .as_ref()
        .map(process::CapSets::from_spec)
        .transpose()?;
    if let Some(c) = &caps {
        process::drop_bounding(c)?;
    }
    let cwd = process.cwd();
    let chdir_early = nix::unistd::chdir(cwd);
    match chdir_early {
        Ok(()) | Err(Errno::EACCES) | Err(Errno::EPERM) => {}
        // runc's words; engines match "no such file or directory" in them.
        Err(e) => {
            return Err(Error::Invalid(format!(
                "chdir to cwd ({:?}) set in config.json failed: {}",
                cwd.display().to_string(),
                crate::sys::go_error_text(&e.into())
            )))
        }
    }
    process::fix_stdio_owner(process.user().uid())?;
    process::switch_user(process, in_userns)?;
    if let Some(c) = &caps {
        process::apply_caps(c)?;
    }
    let umask = process.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    if chdir_early.is_err() {
        nix::unistd::chdir(cwd).ctx(|| format!("chdir to cwd {}", cwd.display()))?;
    }
    let mut env = process::merge_env(
        process
            .env()
            .iter()
            .flatten()
            .chain(extra_env.iter())
            .map(String::as_str),
    );
    // An empty HOME counts as unset, as in runc.
    match env.iter_mut().find(|e| e.starts_with("HOME=")) {
        Some(h) if h.len() > "HOME=".len() => {}
        Some(h) => *h = format!("HOME={}", process::home_for(process.user().uid())),
        None => env.push(format!("HOME={}", process::home_for(process.user().uid()))),
    }
    let args = process.args().as_ref().expect("validated");
    let path = process::find_executable(&args[0], &env)?;
    if nnp {
        nix::sys::prctl::set_no_new_privs().ctx(|| "set no_new_privs")?;
        if let Some(f) = seccomp.take() {
            notify = f.load()?;
        }
    }
    let cstr = |s: &[u8]| {
        CString::new(s)
            .map_err(|_| Error::Invalid("process args and env may not contain NUL".into()))
    };
    let prepared = Prepared {
        exec_path: cstr(path.as_os_str().as_bytes())?,
        argv: args
            .iter()
            .map(|a| cstr(a.as_bytes()))
            .collect::<Result<_>>()?,
        envp: env
            .iter()
            .map(|e| cstr(e.as_bytes()))
            .collect::<Result<_>>()?,
    };
    Ok((prepared, notify))
}

/// Block until `start` connects, run startContainer hooks, exec. Errors go
/// back to `start` over its connection; success closes it (close-on-exec).
fn wait_start_and_exec(cfg: &InitConfig, p: Prepared) -> Result<Infallible> {
    let conn = loop {
        match accept4(cfg.start_listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC) {
            // SAFETY: accept4 just returned this fd; nothing else owns it.
            Ok(fd) => break unsafe { OwnedFd::from_raw_fd(fd) },
            Err(Errno::EINTR) | Err(Errno::ECONNABORTED) => continue,
            Err(e) => return Err(e).ctx(|| "accept start"),
        }
    };
    let report = |e: InitError| {
        let mut f = std::fs::File::from(conn.try_clone().expect("dup start connection"));
        let _ = f.write_all(serde_json::to_string(&e).unwrap_or_default().as_bytes());
    };
    let env: Vec<String> = p
        .envp
        .iter()
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    if let Err(e) = hooks::run_all_in(
        cfg.spec.hooks().as_ref(),
        HookKind::StartContainer,
        &cfg.state.hook_state(Status::Created),
        hooks::InContainer {
            env: Some(&env),
            cwd: None,
        },
    ) {
        report(e.into());
        exit(1);
    }
    let e = p.exec();
    let kind = e.kind;
    report(e);
    exit(if kind == InitErrorKind::NotFound {
        127
    } else {
        126
    })
}
