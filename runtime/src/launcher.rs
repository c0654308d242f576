//! The parent side of `create`: clone the init with its namespaces, serve
//! its requests (id maps, runtime hooks), and record it once it is ready.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::socket::{
    bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;

use crate::bundle::Bundle;
use crate::cgroups::Cgroup;
use crate::cli::CreateOpts;
use crate::container::state::{ContainerState, Status};
use crate::container::store::{write_pid_file, START_SOCKET};
use crate::container::Container;
use crate::error::{Error, Result, SysContext};
use crate::hooks::{self, HookKind};
use crate::init::channel::{self, Channel, ToChild, ToParent};
use crate::init::namespaces::{self, NsPlan};
use crate::init::{self, InitConfig};
use crate::sys::clone::{self, Forked};
use crate::sys::pidfd::PidFd;
use crate::sys::procfs;

pub struct Launched {
    pub pid: i32,
}

/// Where the pty master goes for a terminal container.
pub enum ConsoleTarget<'a> {
    None,
    Socket(&'a Path),
    /// An already connected socket (foreground `run -t`).
    Connected(OwnedFd),
}

pub fn launch(
    bundle: &Bundle,
    opts: &CreateOpts,
    container: &mut Container,
    console: ConsoleTarget,
    systemd_cgroup: bool,
) -> Result<Launched> {
    let spec = &bundle.spec;
    log::debug!(
        "create {}: bundle {}, root {}",
        container.id,
        bundle.dir.display(),
        container.dir.display()
    );
    let process = spec.process().as_ref().expect("validated");
    let terminal = process.terminal().unwrap_or(false);
    let console = match (terminal, console) {
        (true, ConsoleTarget::None) => {
            return Err(Error::Invalid(
                "cannot allocate tty if runc will detach without setting console socket".into(),
            ))
        }
        (false, ConsoleTarget::Socket(_)) | (false, ConsoleTarget::Connected(_)) => {
            return Err(Error::Invalid(
                "cannot use console socket if runc will not detach or allocate tty".into(),
            ))
        }
        (true, ConsoleTarget::Socket(p)) => {
            Some(OwnedFd::from(UnixStream::connect(p).ctx(|| {
                format!("connect to console socket {}", p.display())
            })?))
        }
        (true, ConsoleTarget::Connected(fd)) => Some(fd),
        (false, ConsoleTarget::None) => None,
    };
    crate::init::lsm::check(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
    )?;
    let linux = spec.linux().as_ref();
    // Both are checked before anything exists, so a bad profile or cgroup
    // path fails `create` cleanly.
    let cache_root = container.dir.parent().unwrap_or(&container.dir);
    let seccomp = linux
        .and_then(|l| l.seccomp().as_ref())
        .map(|s| crate::seccomp::build_cached(s, cache_root))
        .transpose()?;
    if seccomp.as_ref().is_some_and(|f| f.needs_notify())
        && linux
            .and_then(|l| l.seccomp().as_ref())
            .and_then(|s| s.listener_path().as_ref())
            .is_none()
    {
        return Err(Error::Invalid(
            "seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath".into(),
        ));
    }
    let cgroup = Cgroup::resolve(
        linux.and_then(|l| l.cgroups_path().as_deref()),
        &container.id,
        systemd_cgroup,
    )?;
    let plan = NsPlan::from_spec(spec)?;
    if !plan.has_mount_ns() {
        // No mount namespace: nothing may be mounted, since every mount
        // would land in the caller's namespace.
        let linux = spec.linux().as_ref();
        let ignored: Vec<&str> = [
            (
                "mounts",
                spec.mounts().as_ref().is_some_and(|m| !m.is_empty()),
            ),
            (
                "maskedPaths",
                linux
                    .and_then(|l| l.masked_paths().as_ref())
                    .is_some_and(|m| !m.is_empty()),
            ),
            (
                "readonlyPaths",
                linux
                    .and_then(|l| l.readonly_paths().as_ref())
                    .is_some_and(|m| !m.is_empty()),
            ),
            (
                "linux.devices",
                linux
                    .and_then(|l| l.devices().as_ref())
                    .is_some_and(|m| !m.is_empty()),
            ),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        log::warn!(
            "no mount namespace: the rootfs is entered with chroot and {} not applied",
            if ignored.is_empty() {
                "nothing is".to_string()
            } else {
                format!("{} are", ignored.join(", "))
            }
        );
    }
    let state_dir = open(
        &container.dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {}", container.dir.display()))?;
    let start_listener = start_socket(&state_dir)?;
    // Only the socket goes to the init: an fd of the state directory would
    // be a way out to the host for anything that joins the container before
    // `start` (the CVE-2024-21626 class); `start` unlinks the socket.
    drop(state_dir);
    let (listen_fds, extra_env) = listen_fds();
    // Made here, on the host (see rootfs::idmap); detached until the init
    // attaches them, released with `cfg`.
    let idmapped = if plan.has_mount_ns() {
        crate::rootfs::idmap::prepare(spec, &bundle.rootfs, &bundle.dir)?
    } else {
        Vec::new()
    };
    let state = ContainerState {
        oci_version: spec.version().clone(),
        id: container.id.clone(),
        pid: 0,
        init_start_time: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::logging::rfc3339_now(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        hooks: spec.hooks().clone(),
        own_pid_ns: plan.creates(LinuxNamespaceType::Pid),
        cgroup: Some(cgroup.clone()),
    };
    let mut cfg = InitConfig {
        spec,
        rootfs: &bundle.rootfs,
        bundle: &bundle.dir,
        no_pivot: opts.no_pivot,
        plan: &plan,
        console,
        start_listener,
        preserve_fds: listen_fds + opts.preserve_fds,
        extra_env,
        state: state.clone(),
        namespaces_joined: false,
        seccomp,
        no_new_keyring: opts.no_new_keyring,
        join_cgroup: None,
        idmapped,
    };
    // Saved before the cgroup exists, so that `delete` can find the cgroup
    // of a create that was killed half-way.
    container.save_config(spec)?;
    let frozen_err = || Error::Invalid("container's cgroup unexpectedly frozen".into());
    // A frozen cgroup that is already there is not touched at all.
    if cgroup.is_effectively_frozen() {
        return Err(frozen_err());
    }
    // The systemd driver needs the init's pid for the unit: its cgroup is
    // made and configured once the init exists (see `spawn`).
    let systemd = cgroup.systemd_unit().is_some();
    if !systemd {
        let existed = cgroup.exists();
        cgroup.create()?;
        crate::sys::fault::crash_point("runtime:cgroup-created");
        if cgroup.is_effectively_frozen() {
            // The init would freeze on joining and create would never return.
            // A cgroup that was there before is not ours to remove.
            if !existed {
                let _ = cgroup.destroy();
            }
            return Err(frozen_err());
        }
    }
    log::debug!(
        "create {}: cgroup {}",
        container.id,
        cgroup.path().display()
    );
    // From here on a failure must also remove the cgroup.
    let cleanup_cgroup = |e: Error| {
        if let Err(ce) = cgroup
            .kill_all(libc::SIGKILL)
            .and_then(|_| cgroup.destroy())
        {
            log::warn!("removing cgroup after a failed create: {ce}");
        }
        e
    };
    if !systemd {
        if let Err(e) = apply_resources(&cgroup, spec) {
            return Err(cleanup_cgroup(e));
        }
    }
    // systemd: the unit first (holding the pid), then cgroupfs for the
    // directories and limits systemd does not handle, as runc does.
    let place_systemd = |pid: i32| -> Result<()> {
        let r = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        cgroup.start_unit(pid, &r)?;
        cgroup.create()?;
        apply_resources(&cgroup, spec)
    };
    let late: Option<&dyn Fn(i32) -> Result<()>> = systemd.then_some(&place_systemd);
    let lock_fd = container.dir_fd().as_raw_fd();
    let view_mount = crate::sys::sealed_exe::take_view_mount();
    let (parent, child) = channel::pair().ctx(|| "socketpair")?;
    let mut spawned =
        spawn(&mut cfg, &plan, parent, child, lock_fd, &cgroup, late).map_err(cleanup_cgroup)?;
    log::debug!("create {}: init pid {}", container.id, spawned.pid);
    // The child has its copies; ours must not keep the listener alive.
    drop(cfg);
    // The init has closed (or is closing) its copy: the grace period of
    // the last close overlaps its set-up.
    drop(view_mount);
    match drive(&mut spawned, bundle, &state, opts, container) {
        Ok(()) => Ok(Launched { pid: spawned.pid }),
        Err(e) => {
            // An init that died while being set up inside a tiny memory
            // limit was OOM-killed: say so rather than "exited".
            let e = if matches!(e, Error::InitDied) && cgroup.oom_kill_count() > 0 {
                Error::Invalid(
                    "container init was killed by the kernel's OOM killer during set-up: \
                     linux.resources.memory.limit is too low"
                        .into(),
                )
            } else {
                e
            };
            let _ = spawned.pidfd.kill();
            spawned
                .pidfd
                .wait_exit(Some(std::time::Duration::from_secs(5)));
            let _ = waitpid(
                Pid::from_raw(spawned.pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            Err(cleanup_cgroup(e))
        }
    }
}

/// linux.resources. A v2 device filter the kernel refuses (BPF needs
/// locked memory that cannot be raised here) is a warning, the rest holds.
fn apply_resources(cgroup: &Cgroup, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let r = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    apply_resources_value(cgroup, r)
}

/// Apply `r` as given: the devices of `linux.devices` get no allow rule of
/// their own (as in runc, only the default set and `resources.devices`
/// decide; a created node the rules deny stays unusable).
pub(crate) fn apply_resources_value(
    cgroup: &Cgroup,
    r: oci_spec::runtime::LinuxResources,
) -> Result<()> {
    match cgroup.apply(&r) {
        Ok(()) => Ok(()),
        Err(e @ crate::cgroups::CgroupError::DeviceFilter { .. }) => {
            log::warn!("{e}; the container's device access is not restricted by its cgroup");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

struct Spawned {
    pid: i32,
    pidfd: PidFd,
    chan: Channel,
}

/// The init's listening socket for `start`, bound through the state
/// directory's fd so the path length limit of sun_path never bites.
fn start_socket(state_dir: &OwnedFd) -> Result<OwnedFd> {
    let s = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ctx(|| "create start socket")?;
    let path = format!("/proc/self/fd/{}/{START_SOCKET}", state_dir.as_raw_fd());
    let addr = UnixAddr::new(path.as_str()).ctx(|| "start socket address")?;
    bind(s.as_raw_fd(), &addr).ctx(|| "bind start socket")?;
    listen(&s, Backlog::new(4).expect("valid backlog")).ctx(|| "listen on start socket")?;
    Ok(s)
}

/// Socket-activation fds handed to us (LISTEN_PID is ours) pass into the
/// container ahead of --preserve-fds, as runc does.
fn listen_fds() -> (u32, Vec<String>) {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let n = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    if pid_ok && n > 0 {
        (
            n,
            vec![format!("LISTEN_FDS={n}"), "LISTEN_PID=1".to_string()],
        )
    } else {
        (0, Vec::new())
    }
}

fn spawn(
    cfg: &mut InitConfig,
    plan: &NsPlan,
    parent: Channel,
    child: Channel,
    lock_fd: i32,
    cgroup: &Cgroup,
    late: Option<&dyn Fn(i32) -> Result<()>>,
) -> Result<Spawned> {
    // The init starts on its initial CPUs (inherited from us) until it is in
    // the container's cgroup.
    if let Some(p) = cfg.spec.process().as_ref() {
        crate::init::sched::apply_initial_affinity(p)?;
    }
    if plan.single_clone() {
        // pid and time namespaces apply to children: set them up here, and
        // restore ours after the clone so later children (hooks run by
        // `run`) stay in the caller's namespaces.
        let restore = namespaces::ChildrenNs::save()?;
        plan.join(|t| matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time))?;
        if plan.creates(LinuxNamespaceType::Time) {
            namespaces::new_time_ns(cfg.spec)?;
        }
        // The cgroup namespace is unshared by the init once it is in its
        // cgroup, so that cgroup becomes the namespace's root.
        let flags =
            plan.new.bits() as u64 & !(libc::CLONE_NEWTIME as u64 | libc::CLONE_NEWCGROUP as u64);
        // A new user namespace needs its id maps before the init runs
        // anything, and from inside it the init could not write to the
        // host's cgroup files: the parent moves it then. Otherwise the init
        // moves itself (no global cgroup lock, see Cgroup::join_self).
        let userns = plan.creates(LinuxNamespaceType::User);
        // `late` (the systemd driver) makes the cgroup once the init exists.
        let parent_places = userns || late.is_some();
        let unified = if late.is_some() {
            None
        } else {
            cgroup.open_unified()
        };
        let forked = clone::clone3_into(flags, unified.as_ref().map(|f| f.as_fd()));
        drop(unified);
        if !matches!(forked, Ok((Forked::Child, _))) {
            restore.restore()?;
        }
        match forked {
            Ok((Forked::Child, in_unified)) => {
                drop(parent);
                // SAFETY: closing our copy of the parent's lock fd.
                unsafe { libc::close(lock_fd) };
                if !parent_places {
                    cfg.join_cgroup = Some(init::SelfJoin { in_unified });
                }
                init::child_main(cfg, child)
            }
            Ok((Forked::Parent { pid, pidfd }, in_unified)) => {
                drop(child);
                let pidfd = PidFd::from_owned(pidfd);
                let s = Spawned {
                    pid,
                    pidfd,
                    chan: parent,
                };
                // The init waits for `CgroupJoined` before it forks or
                // unshares its cgroup namespace.
                let fail = |e: Error| {
                    let _ = s.pidfd.kill();
                    let _ = waitpid(Pid::from_raw(pid), None);
                    e
                };
                if userns {
                    if let Err(e) = namespaces::write_id_maps(pid, cfg.spec) {
                        return Err(fail(e));
                    }
                }
                if !send_to_init(&s.chan, &ToChild::Hello { pid })? {
                    return Ok(s);
                }
                if let Some(late) = late {
                    if let Err(e) = late(pid) {
                        return Err(fail(e));
                    }
                }
                if parent_places {
                    if let Err(e) = cgroup.add_pid_placed(pid, in_unified) {
                        return Err(fail(e.into()));
                    }
                }
                send_to_init(&s.chan, &ToChild::CgroupJoined)?;
                return Ok(s);
            }
            Err(nix::errno::Errno::ENOSYS) => {}
            Err(e) => return Err(e).ctx(|| "clone3"),
        }
    }
    spawn_via_intermediate(cfg, plan, parent, child, lock_fd, cgroup, late)
}

/// Joined user namespace, or a new one owning joined namespaces: an
/// intermediate process joins and unshares, then forks the init into the
/// new pid namespace, reports its pid and exits.
fn spawn_via_intermediate(
    cfg: &mut InitConfig,
    plan: &NsPlan,
    parent: Channel,
    child: Channel,
    lock_fd: i32,
    cgroup: &Cgroup,
    late: Option<&dyn Fn(i32) -> Result<()>>,
) -> Result<Spawned> {
    let mid = clone::fork().ctx(|| "fork")?;
    let Some(mid) = mid else {
        drop(parent);
        // SAFETY: closing our copy of the parent's lock fd.
        unsafe { libc::close(lock_fd) };
        let r = intermediate(cfg, plan, &child);
        match r {
            Ok(None) => {
                cfg.namespaces_joined = true;
                init::child_main(cfg, child)
            }
            // SAFETY: _exit ends this forked intermediate process at once, without the
            // parent's atexit handlers or buffered output (which belong to the parent).
            Ok(Some(_)) => unsafe { libc::_exit(0) },
            Err(e) => {
                let _ = child.send(&ToParent::Failed(e.into()));
                // SAFETY: as above.
                unsafe { libc::_exit(1) }
            }
        }
    };
    drop(child);
    let reap_mid = || {
        let _ = waitpid(Pid::from_raw(mid), None);
    };
    // The intermediate (and so the init it forks) joins the cgroup first.
    let placed = late
        .map_or(Ok(()), |f| f(mid))
        .and_then(|()| cgroup.add_pid(mid).map_err(Error::from));
    if let Err(e) = placed {
        let _ = nix::sys::signal::kill(Pid::from_raw(mid), nix::sys::signal::SIGKILL);
        reap_mid();
        return Err(e);
    }
    parent
        .send(&ToChild::Hello { pid: mid })
        .map_err(chan_err)?;
    loop {
        match parent.recv::<ToParent>() {
            Ok(ToParent::UserNsCreated) => {
                if let Err(e) = namespaces::write_id_maps(mid, cfg.spec) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(mid), nix::sys::signal::SIGKILL);
                    reap_mid();
                    return Err(e);
                }
                parent.send(&ToChild::IdMapsWritten).map_err(chan_err)?;
            }
            Ok(ToParent::InitForked { pid }) => {
                reap_mid();
                let pidfd = PidFd::open(pid).ctx(|| "pidfd_open init")?;
                // Joined with the intermediate already.
                if send_to_init(&parent, &ToChild::Hello { pid })? {
                    send_to_init(&parent, &ToChild::CgroupJoined)?;
                }
                return Ok(Spawned {
                    pid,
                    pidfd,
                    chan: parent,
                });
            }
            Ok(ToParent::Failed(e)) => {
                reap_mid();
                return Err(Error::Init(e));
            }
            Ok(other) => {
                reap_mid();
                return Err(Error::Invalid(format!("unexpected message {other:?}")));
            }
            Err(e) => {
                reap_mid();
                return Err(chan_err(e));
            }
        }
    }
}

/// Runs in the intermediate. Returns Some(pid) in the intermediate after
/// forking the init, None in the init itself.
fn intermediate(cfg: &InitConfig, plan: &NsPlan, chan: &Channel) -> Result<Option<i32>> {
    match chan.recv::<ToChild>() {
        Ok(ToChild::Hello { .. }) => {}
        Ok(other) => return Err(Error::Invalid(format!("unexpected message {other:?}"))),
        Err(e) => return Err(chan_err(e)),
    }
    plan.join(|_| true)?;
    if plan.creates(LinuxNamespaceType::User) {
        namespaces::unshare_flags(namespaces::flag(LinuxNamespaceType::User))?;
        chan.send(&ToParent::UserNsCreated).map_err(chan_err)?;
        match chan.recv::<ToChild>() {
            Ok(ToChild::IdMapsWritten) => {}
            Ok(other) => return Err(Error::Invalid(format!("unexpected message {other:?}"))),
            Err(e) => return Err(chan_err(e)),
        }
    }
    let rest = plan.new
        & !(namespaces::flag(LinuxNamespaceType::User)
            | namespaces::flag(LinuxNamespaceType::Time));
    // Already in the container's cgroup (hello came after that).
    crate::rootfs::cgroup::remember_own_cgroups();
    namespaces::unshare_flags(rest)?;
    if plan.creates(LinuxNamespaceType::Time) {
        namespaces::new_time_ns(cfg.spec)?;
    }
    match clone::fork().ctx(|| "fork init")? {
        None => Ok(None),
        Some(pid) => {
            chan.send(&ToParent::InitForked { pid }).map_err(chan_err)?;
            Ok(Some(pid))
        }
    }
}

fn chan_err(e: channel::ChannelError) -> Error {
    match e {
        channel::ChannelError::Closed => Error::InitDied,
        e => Error::Invalid(e.to_string()),
    }
}

/// Send to an init that may already have failed: an init that finds an error early
/// (a rootfs whose /proc is a symlink) reports it and exits before it reads this, and
/// its report, not "exited", is what the caller must see. Ok(false): the init is gone;
/// `drive` then reads its report (or EOF) from the channel.
fn send_to_init(chan: &channel::Channel, msg: &ToChild) -> Result<bool> {
    match chan.send(msg) {
        Ok(()) => Ok(true),
        Err(channel::ChannelError::Closed) => Ok(false),
        Err(e) => Err(chan_err(e)),
    }
}

/// Serve the init until it is ready, then record it.
fn drive(
    s: &mut Spawned,
    bundle: &Bundle,
    state: &ContainerState,
    opts: &CreateOpts,
    container: &mut Container,
) -> Result<()> {
    let hooks = bundle.spec.hooks().as_ref();
    let mut state = state.clone();
    state.pid = s.pid;
    let notify_fd = loop {
        let (msg, mut fds) = s.chan.recv_with_fds::<ToParent>().map_err(chan_err)?;
        match msg {
            ToParent::RunRuntimeHooks => {
                if let Some(devs) = bundle
                    .spec
                    .linux()
                    .as_ref()
                    .and_then(|l| l.net_devices().as_ref())
                    .filter(|d| !d.is_empty())
                {
                    crate::netdev::move_in(s.pid, devs)?;
                }
                // The conformance suite expects prestart (deprecated) to see
                // "created"; createRuntime runs during create: "creating".
                hooks::run_all(
                    hooks,
                    HookKind::Prestart,
                    &state.hook_state(Status::Created),
                )?;
                hooks::run_all(
                    hooks,
                    HookKind::CreateRuntime,
                    &state.hook_state(Status::Creating),
                )?;
                s.chan.send(&ToChild::RuntimeHooksDone).map_err(chan_err)?;
            }
            ToParent::SeccompListener => {
                let fd = fds
                    .pop()
                    .ok_or_else(|| Error::Invalid("seccomp listener message without fd".into()))?;
                send_seccomp_fd(&bundle.spec, &state, Status::Creating, state.pid, &fd)?;
                s.chan
                    .send(&ToChild::SeccompListenerSent)
                    .map_err(chan_err)?;
            }
            ToParent::Ready => break fds.pop(),
            ToParent::Failed(e) => return Err(Error::Init(e)),
            other => return Err(Error::Invalid(format!("unexpected message {other:?}"))),
        }
    };
    state.init_start_time = procfs::stat(s.pid)
        .ok_or_else(|| Error::Invalid("container init exited during set-up".into()))?
        .start_time;
    crate::sys::fault::crash_point("runtime:init-ready");
    container.save(state.clone())?;
    crate::sys::fault::crash_point("runtime:state-saved");
    if let Some(fd) = &notify_fd {
        send_seccomp_fd(&bundle.spec, &state, Status::Created, state.pid, fd)?;
    }
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, s.pid)?;
    }
    if let Some(p) = &opts.pidfd_socket {
        send_pidfd(p, &s.pidfd)?;
    }
    s.chan.send(&ToChild::Proceed).map_err(chan_err)
}

/// The seccomp agent at listenerPath gets the notify fd with the state.
pub(crate) fn send_seccomp_fd(
    spec: &oci_spec::runtime::Spec,
    state: &ContainerState,
    status: Status,
    pid: i32,
    fd: &OwnedFd,
) -> Result<()> {
    let s = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let Some(path) = s.and_then(|s| s.listener_path().as_ref()) else {
        return Ok(());
    };
    let meta = s.and_then(|s| s.listener_metadata().as_deref());
    let json = crate::seccomp::process_state_json(pid, meta, &state.output(status, ""))?;
    // runc's words around the agent's error, which engines show as they are.
    crate::seccomp::send_notify_fd(path, fd.as_fd(), &json)
        .map_err(|e| Error::Invalid(format!("unable to start container process: {e}")))
}

pub(crate) fn send_pidfd(path: &Path, pidfd: &PidFd) -> Result<()> {
    let sock =
        UnixStream::connect(path).ctx(|| format!("connect to pidfd socket {}", path.display()))?;
    let fds = [pidfd.as_fd().as_raw_fd()];
    let iov = [std::io::IoSlice::new(b"pidfd")];
    nix::sys::socket::sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
        nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .ctx(|| "send pidfd")?;
    Ok(())
}
