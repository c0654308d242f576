//! seccomp filters from `linux.seccomp`, with runc's semantics.
//!
//! Two steps, so that every configuration error fails `create` before any
//! container process runs:
//!
//! * [`build`] translates the profile (see `profile.rs` for runc's rules),
//!   compiles it with libseccomp, exports the BPF program and prepends
//!   runc's `-ENOSYS` stub (see `bpf.rs`). The resulting [`Filter`] is plain
//!   memory (no fds, no libseccomp handle), so it survives `fork` and can
//!   be moved into the container's init as is.
//! * [`Filter::load`] installs it with one `seccomp(2)` (or `prctl(2)`)
//!   call and returns the user-notification fd when the profile has
//!   `SCMP_ACT_NOTIFY` rules. The caller then passes that fd to the agent
//!   at `listenerPath` with [`send_notify_fd`].
//!
//! # Where to load (the caller's job)
//!
//! runc's order, for the init of `create` and for `exec` processes alike:
//!
//! * `process.noNewPrivileges` set: set `PR_SET_NO_NEW_PRIVS`, drop
//!   capabilities and change user as usual, then load the filter as late
//!   as possible, right before `execve` (runc: after the last setup step,
//!   before telling `create` it is done and waiting for `start`), so the
//!   profile only has to allow the few syscalls made between load and exec.
//! * not set: load the filter *before* dropping capabilities and changing
//!   user, while still privileged, because without no_new_privs the
//!   kernel only lets a task with `CAP_SYS_ADMIN` install a filter. Every
//!   syscall the init makes afterwards (capset, setuid, ..., execve) is
//!   then subject to the profile.
//!
//! The filter never sets no_new_privs itself (libseccomp would by default;
//! runc turns that off too): that bit belongs to `noNewPrivileges` only.
//!
//! # The notify fd
//!
//! With NOTIFY rules, [`Filter::load`] returns the listener fd in the
//! init. runc's init hands it to the runtime process (which takes a copy
//! with `pidfd_getfd`), and the runtime, which is not under the filter,
//! calls the agent: the init's own connect/sendmsg would be filtered and
//! could be notified, with nobody listening yet. The init must also not
//! block on a notified syscall before the hand-off; runc refuses NOTIFY
//! for `write` (its hand-off channel) for that reason, and so does
//! [`build`]. The payload comes from [`process_state_json`].

mod bpf;
mod cache;
mod features;
#[cfg(target_env = "musl")]
mod musl;
mod notify;
mod profile;
#[cfg(test)]
mod tests;

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use oci_spec::runtime::LinuxSeccomp;

pub use cache::build_cached;
pub use features::{
    known_flags, libseccomp_version, supported_actions, supported_archs, supported_flags,
    supported_operators,
};
pub use notify::{process_state_json, send_notify_fd};

/// Messages have no "seccomp:" prefix: `crate::error::Error` adds it.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile is malformed or asks for something runc refuses.
    #[error("invalid profile: {0}")]
    Invalid(String),
    /// Valid, but not possible with this libseccomp or kernel.
    #[error("{what} is not supported: {why}")]
    Unsupported { what: String, why: String },
    #[error("{ctx}: {source}")]
    Libseccomp {
        ctx: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("{ctx}: {source}")]
    Io {
        ctx: String,
        #[source]
        source: std::io::Error,
    },
    #[error("load filter: {source}{hint}")]
    Load {
        #[source]
        source: std::io::Error,
        hint: &'static str,
    },
    /// runc's words for a missing agent ("failed to connect with seccomp agent specified
    /// in the seccomp profile: dial unix PATH: connect: ..."), which engines show users.
    #[error("failed to connect with seccomp agent specified in the seccomp profile: dial unix {}: connect: {}", path.display(), crate::sys::go_error_text(source))]
    ConnectAgent {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("send notify fd to seccomp agent at {}: {}", path.display(), crate::sys::go_error_text(source))]
    SendNotify {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("encode container process state: {0}")]
    Json(#[from] serde_json::Error),
}

pub(crate) type Result<T, E = SeccompError> = std::result::Result<T, E>;

/// A compiled filter, ready to install. Plain memory, so it can cross
/// `fork`.
pub struct Filter {
    prog: Vec<libc::sock_filter>,
    /// SECCOMP_FILTER_FLAG_* for seccomp(2).
    flags: libc::c_ulong,
    notify: bool,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.prog.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("notify", &self.notify)
            .finish()
    }
}

/// Translates and compiles `linux.seccomp`. Does not touch the calling
/// process (beyond libseccomp probing the kernel's seccomp API level).
pub fn build(s: &LinuxSeccomp) -> Result<Filter> {
    let plan = profile::translate(s)?;
    let ctx = profile::compile(&plan)?;
    let mut prog = bpf::export(&ctx)?;
    drop(ctx);
    let stub = if bpf::wants_enosys_stub(plan.default) {
        bpf::enosys_stub(&bpf::last_syscalls(&plan.arches, &plan.names)?)?
    } else {
        Vec::new()
    };
    if stub.len() + prog.len() > bpf::MAX_INSNS {
        return Err(SeccompError::Unsupported {
            what: "this profile".into(),
            why: format!(
                "the filter has {} BPF instructions, the kernel allows {}",
                stub.len() + prog.len(),
                bpf::MAX_INSNS
            ),
        });
    }
    log::debug!(
        "seccomp: {} rules, {} BPF instructions (-ENOSYS stub: {}), flags {:#x}",
        plan.rules.len(),
        stub.len() + prog.len(),
        stub.len(),
        plan.kernel_flags
    );
    let mut full = stub;
    full.append(&mut prog);
    Ok(Filter {
        prog: full,
        flags: plan.kernel_flags,
        notify: plan.notify,
    })
}

impl Filter {
    /// Whether [`Filter::load`] will return a notify fd that must go to the
    /// agent at `listenerPath`.
    pub fn needs_notify(&self) -> bool {
        self.notify
    }

    /// Install on the calling thread/process. Returns the notify fd when the profile has NOTIFY rules.
    ///
    /// One syscall, no allocation: fine in a forked child. Without
    /// no_new_privs this needs CAP_SYS_ADMIN.
    pub fn load(self) -> Result<Option<OwnedFd>> {
        let prog = libc::sock_fprog {
            len: self.prog.len() as libc::c_ushort,
            filter: self.prog.as_ptr().cast_mut(),
        };
        let r: libc::c_long = if self.flags == 0 {
            // What runc does without flags: prctl works on kernels that
            // predate seccomp(2).
            // SAFETY: prog points to a live, correctly sized program.
            unsafe {
                libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    &prog as *const libc::sock_fprog as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            }
            .into()
        } else {
            // SAFETY: as above; the kernel reads prog and returns a number.
            unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                    self.flags,
                    &prog as *const libc::sock_fprog,
                )
            }
        };
        if r < 0 {
            let source = std::io::Error::last_os_error();
            let hint = if source.raw_os_error() == Some(libc::EACCES) {
                " (without no_new_privs, loading a seccomp filter needs CAP_SYS_ADMIN)"
            } else {
                ""
            };
            return Err(SeccompError::Load { source, hint });
        }
        if r > 0 && !self.notify {
            // TSYNC without NEW_LISTENER reports a thread it could not
            // synchronise by returning its tid.
            return Err(SeccompError::Load {
                source: std::io::Error::from_raw_os_error(libc::ESRCH),
                hint: " (SECCOMP_FILTER_FLAG_TSYNC: another thread could not be synchronised)",
            });
        }
        // Not freed: free() may trim the heap with a syscall the filter
        // now denies; the process is about to exec anyway.
        std::mem::forget(self.prog);
        // SAFETY: with NEW_LISTENER the kernel returned a fresh fd.
        Ok(self
            .notify
            .then(|| unsafe { OwnedFd::from_raw_fd(r as RawFd) }))
    }
}
