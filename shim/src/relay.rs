//! The userland relay of published ports on [::1]. The kernel forwards every
//! other published address (nftables DNAT, see the manager's firewall), but
//! IPv6 has no `route_localnet`: a DNATed ::1 connection's answers cannot be
//! routed back. So, as docker's userland proxy does for [::1], the shim that
//! lives as long as the container listens there and copies each connection
//! (or each client's datagrams) to the container's address; the container
//! sees the bridge's gateway as the source, as with docker's proxy.
//!
//! Thread per connection (a thread per direction), each moving the bytes
//! with splice through a pipe, so they stay in the kernel: loopback clients
//! are few, and the shim's event loop stays as it is. Hand-written because no maintained crate does a
//! blocking, dependency-free TCP/UDP relay of this size.

use crate::sys;
use berth_shim_protocol::Relay;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// docker's proxy forgets a UDP client after 90 s without traffic.
const UDP_IDLE: Duration = Duration::from_secs(90);
/// Copy threads need little stack (the default is 2 MiB of address space).
const STACK: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

enum Socket {
    Tcp(Arc<TcpListener>),
    Udp(Arc<UdpSocket>),
}

/// The running relays; dropping them closes their listening sockets (open
/// connections finish on their own).
pub struct Relays {
    stopped: Arc<AtomicBool>,
    sockets: Vec<Socket>,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("publishing {proto} port {listen}: {source}")]
    Bind {
        proto: String,
        listen: SocketAddr,
        source: io::Error,
    },
    #[error("relay {proto} {listen}: unknown protocol (tcp or udp)")]
    Proto { proto: String, listen: SocketAddr },
    #[error("relay thread: {0}")]
    Thread(io::Error),
}

/// Bind every relay now (a port taken by another program is an error the
/// launch reports), then serve each in its own thread.
pub fn start(relays: &[Relay]) -> Result<Relays, RelayError> {
    let stopped = Arc::new(AtomicBool::new(false));
    let mut out = Relays {
        stopped: stopped.clone(),
        sockets: Vec::new(),
    };
    let bind_err = |r: &Relay| {
        let (proto, listen) = (r.proto.clone(), r.listen);
        move |source| RelayError::Bind {
            proto,
            listen,
            source,
        }
    };
    for r in relays {
        match r.proto.as_str() {
            "tcp" => {
                let l = Arc::new(TcpListener::bind(r.listen).map_err(bind_err(r))?);
                out.sockets.push(Socket::Tcp(l.clone()));
                let (target, stopped) = (r.target, stopped.clone());
                spawn(move || serve_tcp(&l, target, &stopped))?;
            }
            "udp" => {
                let s = Arc::new(UdpSocket::bind(r.listen).map_err(bind_err(r))?);
                out.sockets.push(Socket::Udp(s.clone()));
                let (target, stopped) = (r.target, stopped.clone());
                spawn(move || serve_udp(&s, target, &stopped))?;
            }
            _ => {
                return Err(RelayError::Proto {
                    proto: r.proto.clone(),
                    listen: r.listen,
                })
            }
        }
    }
    Ok(out)
}

impl Drop for Relays {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // shutdown wakes the thread blocked in accept/recv on the socket, so
        // the port is closed now rather than when the shim exits
        for s in &self.sockets {
            let fd = match s {
                Socket::Tcp(l) => l.as_raw_fd(),
                Socket::Udp(u) => u.as_raw_fd(),
            };
            sys::shutdown_read(fd);
        }
    }
}

fn spawn(f: impl FnOnce() + Send + 'static) -> Result<(), RelayError> {
    thread::Builder::new()
        .name("relay".into())
        .stack_size(STACK)
        .spawn(f)
        .map(drop)
        .map_err(RelayError::Thread)
}

fn serve_tcp(l: &TcpListener, target: SocketAddr, stopped: &AtomicBool) {
    loop {
        let client = match l.accept() {
            Ok((c, _)) => c,
            Err(_) if stopped.load(Ordering::SeqCst) => return,
            // EMFILE and the like: wait a little instead of spinning
            Err(_) => {
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        // a thread for the connect, so a slow container does not hold others
        let _ = spawn(move || {
            let Ok(upstream) = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) else {
                // the client sees the connection closed, as with docker's proxy
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            pipe_both(client, upstream);
        });
    }
}

/// Copy both ways until both sides closed; each direction's end is passed
/// on as a half-close.
fn pipe_both(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let back = thread::Builder::new()
        .name("relay".into())
        .stack_size(STACK)
        .spawn(move || copy_half(b2, a2));
    copy_half(a, b);
    if let Ok(h) = back {
        let _ = h.join();
    }
}

fn copy_half(mut from: TcpStream, mut to: TcpStream) {
    if splice_through_pipe(&from, &to).is_err() {
        // no splice (or a pipe could not be made): copy through memory,
        // with a buffer larger than io::copy's 8 KiB
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// Socket to socket through a pipe with splice: the bytes stay in the kernel
/// (std's io::copy splices only when one side is a pipe). Err when nothing
/// was moved yet and splice is refused, so the caller can copy instead; a
/// failure later ends the direction like an end of stream.
fn splice_through_pipe(from: &TcpStream, to: &TcpStream) -> io::Result<()> {
    const CHUNK: usize = 1 << 20;
    let (r, w) = sys::pipe()?;
    sys::grow_pipe(&w);
    let mut moved = false;
    loop {
        let n = match sys::splice(from.as_fd(), w.as_fd(), CHUNK) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if !moved && e.raw_os_error() == Some(libc::EINVAL) => return Err(e),
            Err(_) => return Ok(()),
        };
        moved = true;
        let mut left = n;
        while left > 0 {
            match sys::splice(r.as_fd(), to.as_fd(), left) {
                Ok(0) | Err(_) => return Ok(()),
                Ok(m) => left -= m,
            }
        }
    }
}

type Flows = Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>;

/// One socket per client towards the container (so its answers can be told
/// apart), forgotten after `UDP_IDLE` without an answer.
fn serve_udp(s: &Arc<UdpSocket>, target: SocketAddr, stopped: &AtomicBool) {
    let flows: Flows = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, client) = match s.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) if stopped.load(Ordering::SeqCst) => return,
            Err(_) => continue,
        };
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        let up = {
            let Ok(mut map) = flows.lock() else { return };
            match map.get(&client) {
                Some(u) => Some(u.clone()),
                None => match new_flow(s, target, client, &flows) {
                    Ok(u) => {
                        map.insert(client, u.clone());
                        Some(u)
                    }
                    Err(_) => None,
                },
            }
        };
        if let Some(u) = up {
            let _ = u.send(&buf[..n]);
        }
    }
}

fn new_flow(
    listener: &Arc<UdpSocket>,
    target: SocketAddr,
    client: SocketAddr,
    flows: &Flows,
) -> io::Result<Arc<UdpSocket>> {
    let any: SocketAddr = if target.is_ipv6() {
        "[::]:0".parse().map_err(io::Error::other)?
    } else {
        "0.0.0.0:0".parse().map_err(io::Error::other)?
    };
    let up = Arc::new(UdpSocket::bind(any)?);
    up.connect(target)?;
    up.set_read_timeout(Some(UDP_IDLE))?;
    let (up2, listener, flows) = (up.clone(), listener.clone(), flows.clone());
    spawn(move || {
        let mut buf = vec![0u8; 65536];
        // answers go back from the published port; a quiet or refused flow
        // ends (a refusal: the container has nothing on that port)
        while let Ok(n) = up2.recv(&mut buf) {
            if listener.send_to(&buf[..n], client).is_err() {
                break;
            }
        }
        if let Ok(mut map) = flows.lock() {
            map.remove(&client);
        }
    })
    .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(up)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(proto: &str, target: SocketAddr) -> Relay {
        Relay {
            proto: proto.into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            target,
        }
    }

    #[test]
    fn tcp_both_ways_with_half_close() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        let rs = start(&[relay("tcp", target)]).unwrap();
        let Socket::Tcp(l) = &rs.sockets[0] else {
            panic!()
        };
        let at = l.local_addr().unwrap();
        let h = thread::spawn(move || {
            let (mut c, _) = server.accept().unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            c.write_all(&got.repeat(2)).unwrap();
        });
        let mut c = TcpStream::connect(at).unwrap();
        c.write_all(b"ping").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        c.read_to_string(&mut back).unwrap();
        assert_eq!(back, "pingping");
        h.join().unwrap();
        drop(rs);
        // closed with the relays: refused now
        assert!(TcpStream::connect(at).is_err());
    }

    #[test]
    fn udp_answers_reach_the_client() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        let rs = start(&[relay("udp", target)]).unwrap();
        let Socket::Udp(u) = &rs.sockets[0] else {
            panic!()
        };
        let at = u.local_addr().unwrap();
        let h = thread::spawn(move || {
            let mut b = [0u8; 64];
            let (n, from) = server.recv_from(&mut b).unwrap();
            server.send_to(&b[..n].repeat(2), from).unwrap();
        });
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(b"hi", at).unwrap();
        let mut b = [0u8; 64];
        let (n, from) = c.recv_from(&mut b).unwrap();
        assert_eq!((&b[..n], from), (&b"hihi"[..], at));
        h.join().unwrap();
    }

    #[test]
    fn taken_port_and_bad_proto_are_errors() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut r = relay("tcp", busy.local_addr().unwrap());
        r.listen = busy.local_addr().unwrap();
        let e = start(&[r.clone()]).err().unwrap().to_string();
        assert!(e.contains("publishing tcp port 127.0.0.1:"), "{e}");
        r.proto = "sctp".into();
        r.listen = "127.0.0.1:0".parse().unwrap();
        assert!(start(&[r]).is_err());
    }
}
