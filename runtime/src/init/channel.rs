//! The one protocol between `create` and the process that becomes the
//! container's init: a SOCK_SEQPACKET pair carrying small typed messages,
//! with fds passed as SCM_RIGHTS. EOF means the peer died, so neither side
//! ever waits on a dead process.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

use crate::error::InitError;

/// Messages from the child side (intermediate or init) to `create`.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToParent {
    /// The child unshared a user namespace: write its id maps.
    UserNsCreated,
    /// An intermediate process forked the init (host pid).
    InitForked {
        pid: i32,
    },
    /// Namespaces and mounts exist: run prestart/createRuntime hooks.
    RunRuntimeHooks,
    /// A seccomp notify listener loaded before the identity switch (no
    /// noNewPrivileges) goes to the agent at once (fd attached), before the
    /// process makes a syscall its own filter may hand to the agent.
    SeccompListener,
    /// The init is set up and waits for `start`.
    Ready,
    Failed(InitError),
}

/// Messages from `create` to the child side.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToChild {
    /// First message to the init: its pid as the host sees it.
    Hello {
        pid: i32,
    },
    /// To the intermediate: the user namespace's id maps are written.
    IdMapsWritten,
    /// The init is in its cgroup: with a new user namespace the parent
    /// moves it while the init sets up its mounts; otherwise the init moved
    /// itself before reading hello and this only keeps the order.
    CgroupJoined,
    RuntimeHooksDone,
    /// The seccomp agent has the listener.
    SeccompListenerSent,
    /// State and pid file are written; the init may detach. Not answered:
    /// `create` exits at once (the init has nothing left that can fail
    /// before `start`, and an acknowledgement would cost a wake-up of each
    /// side, milliseconds on a loaded host).
    Proceed,
}

pub struct Channel {
    fd: OwnedFd,
}

const MAX_MSG: usize = 64 * 1024;

pub fn pair() -> nix::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("peer closed the channel")]
    Closed,
    #[error("channel: {0}")]
    Sys(#[from] Errno),
    #[error("channel: bad message: {0}")]
    Decode(#[from] serde_json::Error),
}

impl Channel {
    pub fn send<T: Serialize>(&self, msg: &T) -> Result<(), ChannelError> {
        self.send_with_fds(msg, &[])
    }

    pub fn send_with_fds<T: Serialize>(&self, msg: &T, fds: &[RawFd]) -> Result<(), ChannelError> {
        let data = serde_json::to_vec(msg)?;
        let iov = [IoSlice::new(&data)];
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        loop {
            match sendmsg::<()>(
                self.fd.as_raw_fd(),
                &iov,
                cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => return Err(ChannelError::Closed),
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn recv<T: for<'de> Deserialize<'de>>(&self) -> Result<T, ChannelError> {
        self.recv_with_fds().map(|(m, _)| m)
    }

    pub fn recv_with_fds<T: for<'de> Deserialize<'de>>(
        &self,
    ) -> Result<(T, Vec<OwnedFd>), ChannelError> {
        let mut cspace = nix::cmsg_space!([RawFd; 4]);
        loop {
            // The datagram's length first (MSG_TRUNC reports it whole; with
            // no control buffer the peek installs no fd), then a buffer of
            // that size: zeroing MAX_MSG for every message was a 64 KiB
            // memset, and in the init copy-on-write faults of the heap.
            let len = loop {
                let mut none: [IoSliceMut; 0] = [];
                match recvmsg::<()>(
                    self.fd.as_raw_fd(),
                    &mut none,
                    None,
                    MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
                ) {
                    Ok(m) => break m.bytes,
                    Err(Errno::EINTR) => continue,
                    // See below: reported once before the queued messages.
                    Err(Errno::ECONNRESET) => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            if len == 0 {
                return Err(ChannelError::Closed);
            }
            let mut buf = vec![0u8; len.min(MAX_MSG)];
            let mut iov = [IoSliceMut::new(&mut buf)];
            let r = recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cspace),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let msg = match r {
                Ok(m) => m,
                Err(Errno::EINTR) => continue,
                // A peer that exits with our messages unread leaves ECONNRESET, which
                // a seqpacket socket reports (once) before the messages still queued for
                // us: the init's report of why it failed. Read on; EOF follows them.
                Err(Errno::ECONNRESET) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut fds = Vec::new();
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(rs) = c {
                        // SAFETY: fds received through SCM_RIGHTS are ours.
                        fds.extend(rs.into_iter().map(|r| unsafe { OwnedFd::from_raw_fd(r) }));
                    }
                }
            }
            let n = msg.bytes;
            if n == 0 {
                return Err(ChannelError::Closed);
            }
            return Ok((serde_json::from_slice(&buf[..n])?, fds));
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
