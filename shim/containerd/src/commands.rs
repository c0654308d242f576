//! The shim binary's two short-lived commands: `start` (start or find the shim
//! serving this container, print its address) and `delete` (clean up after a shim
//! that is gone).

use crate::cli::Flags;
use crate::layout;
use crate::rtcmd::RtCmd;
use crate::service::read_placement;
use anyhow::Context;
use containerd_shim_protos::api::DeleteResponse;
use containerd_shim_protos::protobuf::Message;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

fn bundle_dir(f: &Flags) -> anyhow::Result<PathBuf> {
    match &f.bundle {
        Some(b) => Ok(b.clone()),
        None => std::env::current_dir().context("the bundle (working directory)"),
    }
}

/// `start`: containerd runs this in the bundle and reads the shim's address from stdout.
pub fn start(f: &Flags) -> anyhow::Result<()> {
    let bundle = bundle_dir(f)?;
    // One shim per pod, as containerd's runc shim: the containers of a CRI sandbox share
    // the sandbox's shim.
    let group = group_of(&bundle, &f.id);
    let sock = layout::socket_path(&f.address, &f.namespace, &group);
    let address = format!("unix://{}", sock.display());
    if sock.exists() {
        if let Ok(conn) = UnixStream::connect(&sock) {
            // A shim serves this group already.
            if let Some(pid) = peer_pid(&conn) {
                std::fs::write(bundle.join("shim.pid"), pid.to_string())
                    .context("writing shim.pid")?;
            }
            std::fs::write(bundle.join("address"), &address).context("writing the address file")?;
            print!("{address}");
            return Ok(());
        }
        let _ = std::fs::remove_file(&sock);
    }
    std::fs::create_dir_all(layout::SOCKET_DIR)
        .with_context(|| format!("creating {}", layout::SOCKET_DIR))?;
    let listener =
        UnixListener::bind(&sock).with_context(|| format!("binding {}", sock.display()))?;
    let devnull = match berth_shim::sys::open_devnull(libc::O_RDWR) {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&sock);
            return Err(e).context("opening /dev/null");
        }
    };
    // The daemon is a fork of this process, not a new exec of the binary: containerd
    // waits for this command's exit (and for its stdout to close) before it connects,
    // and an exec would put the kernel's exec, glibc's static start-up and the
    // binary's page faults on that path (Command::spawn also waits for the exec).
    // Single-threaded here, as fork needs.
    match berth_shim::sys::fork() {
        Err(e) => {
            let _ = std::fs::remove_file(&sock);
            Err(e).context("forking the shim daemon")
        }
        Ok(None) => {
            let code = match daemon(f, listener.into(), devnull, sock.clone(), &bundle, &address) {
                Ok(()) => 0,
                Err(e) => {
                    // containerd got the address already: its connection fails with
                    // our exit, and no dead socket is left behind.
                    let _ = std::fs::remove_file(&sock);
                    eprintln!("containerd-shim-berth-v2: {e:#}");
                    1
                }
            };
            std::process::exit(code)
        }
        Ok(Some(_)) => {
            // The daemon writes the `address` and `shim.pid` files (read by containerd
            // only when it restarts, and by `delete`): two file creations fewer on the
            // path containerd waits for.
            print!("{address}");
            let _ = std::io::stdout().flush();
            Ok(())
        }
    }
}

/// The forked daemon: detach from the start command's stdio and process group, then
/// serve containerd on `listener` until the last container is gone.
fn daemon(
    f: &Flags,
    listener: OwnedFd,
    devnull: OwnedFd,
    sock: PathBuf,
    bundle: &Path,
    address: &str,
) -> anyhow::Result<()> {
    // containerd reads the start command's stdout to its end: the daemon keeps none of
    // it (stderr goes to containerd's shim log once the daemon opens it).
    for fd in 0..3 {
        berth_shim::sys::dup2(&devnull, fd).context("stdio to /dev/null")?;
    }
    drop(devnull);
    // A process group of its own, as containerd's runc shim (`Setpgid`): signals to
    // containerd's group (a Ctrl-C) do not reach it. Not a session of its own: with the
    // kernel's autogroup scheduling (sched_autogroup_enabled, the default) a new session
    // is a new CPU scheduling group, and on a busy machine the runtime and container
    // processes the shim starts then waited longer for a CPU (`runtime create` took
    // 1.7-3x as long as under the runc shim, measured with
    // integration/bench/containerd_shim_trace.py).
    // SAFETY: setpgid on this process; no memory is passed.
    berth_shim::sys::cvt(unsafe { libc::setpgid(0, 0) }).context("setpgid")?;
    std::env::set_current_dir(bundle).context("entering the bundle")?;
    crate::no_thread_stack_cache();
    let flags = Flags {
        socket: Some(sock),
        ..f.clone()
    };
    let files = crate::DaemonFiles {
        bundle: bundle.to_owned(),
        address: address.to_owned(),
    };
    crate::serve(&flags, listener, Some(files))
}

/// The CRI annotation naming a container's pod sandbox (the sandbox names itself).
const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";

/// The shim group of a container: its pod's sandbox id, else its own id.
fn group_of(bundle: &Path, id: &str) -> String {
    std::fs::read(bundle.join("config.json"))
        .ok()
        // Most containers (all of ctr's) are in no pod: no JSON parse for them.
        .filter(|b| {
            b.windows(SANDBOX_ID.len())
                .any(|w| w == SANDBOX_ID.as_bytes())
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["annotations"][SANDBOX_ID].as_str().map(str::to_string))
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| id.to_string())
}

/// The pid of the process at the other end of a unix socket.
fn peer_pid(conn: &UnixStream) -> Option<i32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED fills a ucred of the given length.
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0 && cred.pid > 0).then_some(cred.pid)
}

/// `delete`: the shim is gone (killed, crashed); remove the container it left.
pub fn delete(f: &Flags, default_runtime: &Path) -> anyhow::Result<()> {
    let bundle = bundle_dir(f)?;
    let pl = read_placement(&bundle);
    let (runtime, root, workdir) = match &pl {
        Some(p) => (p.runtime.clone(), p.root.clone(), p.workdir.clone()),
        None => (
            default_runtime.to_owned(),
            Path::new(layout::RUNTIME_ROOT).join(&f.namespace),
            layout::workdir(&f.namespace, &f.id),
        ),
    };
    let pid = std::fs::read_to_string(workdir.join("init.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    // Without a placement file and work directory the shim's own Delete ran: nothing
    // is left for the runtime.
    let cleaned = pl.is_none() && !workdir.exists();
    let rt = RtCmd {
        bin: runtime,
        root,
        log: if workdir.exists() {
            workdir.join("runtime.log")
        } else {
            PathBuf::from("/dev/null")
        },
        id: f.id.clone(),
    };
    if cleaned {
    } else if let Err(e) = rt.force_delete() {
        // Nothing to delete is the usual case when the container had exited.
        eprintln!("containerd-shim-berth-v2 delete: {e}");
    }
    crate::mounts::unmount_all(&bundle.join("rootfs"));
    let _ = std::fs::remove_dir_all(&workdir);
    let _ = std::fs::remove_file(bundle.join(layout::PLACEMENT_FILE));
    if let Ok(a) = std::fs::read_to_string(bundle.join("address")) {
        if let Some(p) = a.trim().strip_prefix("unix://") {
            if Path::new(p).starts_with(layout::SOCKET_DIR) && UnixStream::connect(p).is_err() {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let resp = DeleteResponse {
        pid,
        exit_status: 128 + libc::SIGKILL as u32,
        exited_at: Some(crate::events::now()).into(),
        ..Default::default()
    };
    let bytes = resp
        .write_to_bytes()
        .context("encoding the delete response")?;
    std::io::stdout()
        .write_all(&bytes)
        .context("writing the delete response")?;
    Ok(())
}
