//! DNS over TCP for the per-network responder (RFC 7766 framing: a 2-byte
//! length, then the message). Clients ask over TCP when a UDP answer came
//! back truncated, so it is rare, but it must not stall the responder's one
//! loop: a client that connects and sends nothing, or sends its question a
//! byte at a time, used to hold every other question on the network for up
//! to two seconds. Here each connection is read and answered without
//! blocking from the responder's `poll` loop; a question that goes upstream
//! is handed, with its connection, to a short-lived thread (a TCP upstream
//! may take seconds, and the answer needs nothing from the responder's
//! tables). One question per connection, as before.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client's whole exchange, question in and answer out; the same bound
/// for each upstream a forwarded question tries.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Connections served at once (being read, answered or forwarded); one
/// more is closed at accept and its resolver tries again or fails over.
pub const MAX_CLIENTS: usize = 64;

/// One accepted connection, non-blocking.
pub struct Client {
    conn: TcpStream,
    pub peer: IpAddr,
    /// Reading: the bytes of the framed question so far. Writing: the
    /// framed answer.
    buf: Vec<u8>,
    /// Writing: how much of `buf` is sent.
    sent: Option<usize>,
    deadline: Instant,
}

/// What a read or write of a client came to.
pub enum Step {
    /// Not finished; poll again.
    Waiting,
    /// The question is whole (the message without its length).
    Question(Vec<u8>),
    /// Done or gone: close it.
    Closed,
}

impl Client {
    /// None when the socket cannot be made non-blocking (it is closed).
    pub fn new(conn: TcpStream, peer: SocketAddr) -> Option<Client> {
        conn.set_nonblocking(true).ok()?;
        Some(Client {
            conn,
            peer: peer.ip(),
            buf: Vec::new(),
            sent: None,
            deadline: Instant::now() + TIMEOUT,
        })
    }

    pub fn conn(&self) -> &TcpStream {
        &self.conn
    }

    pub fn is_writing(&self) -> bool {
        self.sent.is_some()
    }

    pub fn expired(&self, now: Instant) -> bool {
        self.deadline <= now
    }

    /// Take in what has arrived.
    pub fn read(&mut self) -> Step {
        let mut chunk = [0u8; 2048];
        loop {
            if let Some(q) = self.question() {
                return q;
            }
            match self.conn.read(&mut chunk) {
                // closed before the question was whole
                Ok(0) => return Step::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Waiting,
                Err(_) => return Step::Closed,
            }
        }
    }

    /// The question, once its length and all of it are in.
    fn question(&self) -> Option<Step> {
        let len = u16::from_be_bytes([*self.buf.first()?, *self.buf.get(1)?]) as usize;
        let msg = self.buf.get(2..2 + len)?;
        // shorter than a DNS header: not a question
        Some(if msg.len() < 12 {
            Step::Closed
        } else {
            Step::Question(msg.to_vec())
        })
    }

    /// Start sending `answer` (unframed).
    pub fn answer(&mut self, answer: &[u8]) -> Step {
        self.buf = framed(answer);
        self.sent = Some(0);
        self.write()
    }

    /// Send what the socket takes.
    pub fn write(&mut self) -> Step {
        let Some(mut sent) = self.sent else {
            return Step::Waiting;
        };
        while sent < self.buf.len() {
            match self.conn.write(&self.buf[sent..]) {
                Ok(0) => return Step::Closed,
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.sent = Some(sent);
                    return Step::Waiting;
                }
                Err(_) => return Step::Closed,
            }
        }
        Step::Closed
    }

    /// Hand the connection to a thread that asks `upstreams` in turn over
    /// TCP and sends the first answer, else `fallback` (SERVFAIL).
    pub fn forward(
        self,
        query: Vec<u8>,
        upstreams: Vec<SocketAddr>,
        fallback: Option<Vec<u8>>,
        busy: &Forwarding,
    ) {
        // Counted before the spawn; the guard goes with the closure, so a
        // failed spawn (the closure dropped) uncounts it too.
        let guard = busy.enter();
        let mut conn = self.conn;
        let spawned = std::thread::Builder::new()
            .name("dns-tcp".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let _guard = guard;
                let answer = upstreams
                    .iter()
                    .find_map(|up| ask_upstream(*up, &query))
                    .or(fallback);
                if let Some(a) = answer {
                    if conn.set_nonblocking(false).is_ok()
                        && conn.set_write_timeout(Some(TIMEOUT)).is_ok()
                    {
                        let _ = conn.write_all(&framed(&a));
                    }
                }
            });
        // No thread: the connection is closed (dropped with the closure);
        // the client's resolver tries again.
        drop(spawned);
    }
}

/// How many questions are being forwarded by threads.
#[derive(Default, Clone)]
pub struct Forwarding(Arc<AtomicUsize>);

impl Forwarding {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn enter(&self) -> ForwardingGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        ForwardingGuard(self.0.clone())
    }
}

struct ForwardingGuard(Arc<AtomicUsize>);

impl Drop for ForwardingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// One question to one upstream over TCP, blocking, each step bounded.
fn ask_upstream(up: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let mut c = TcpStream::connect_timeout(&up, TIMEOUT).ok()?;
    c.set_read_timeout(Some(TIMEOUT)).ok()?;
    c.set_write_timeout(Some(TIMEOUT)).ok()?;
    c.write_all(&framed(query)).ok()?;
    let mut len = [0u8; 2];
    c.read_exact(&mut len).ok()?;
    let mut data = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut data).ok()?;
    (data.len() >= 12).then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, Client) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, peer) = l.accept().unwrap();
        (c, Client::new(s, peer).unwrap())
    }

    fn wait_for(client: &mut Client) -> Step {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            match client.read() {
                Step::Waiting if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                other => return other,
            }
        }
    }

    #[test]
    fn a_question_in_pieces_is_read_without_blocking() {
        let (mut c, mut s) = pair();
        // nothing sent yet: the read returns at once
        assert!(matches!(s.read(), Step::Waiting));
        let q = [7u8; 20];
        let f = framed(&q);
        c.write_all(&f[..1]).unwrap();
        assert!(matches!(wait_for(&mut s), Step::Waiting));
        c.write_all(&f[1..10]).unwrap();
        assert!(matches!(wait_for(&mut s), Step::Waiting));
        c.write_all(&f[10..]).unwrap();
        match wait_for(&mut s) {
            Step::Question(got) => assert_eq!(got, q),
            _ => panic!("the question was not read"),
        }
        assert!(matches!(s.answer(&[1u8; 30]), Step::Closed));
        let mut back = Vec::new();
        drop(s);
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back, framed(&[1u8; 30]));
    }

    #[test]
    fn a_short_message_or_an_early_close_ends_the_client() {
        let (mut c, mut s) = pair();
        c.write_all(&framed(&[0u8; 5])).unwrap();
        assert!(matches!(wait_for(&mut s), Step::Closed));
        let (c, mut s) = pair();
        drop(c);
        assert!(matches!(wait_for(&mut s), Step::Closed));
    }

    #[test]
    fn forwarding_is_counted_until_the_thread_ends() {
        let (mut c, s) = pair();
        let busy = Forwarding::default();
        // no upstream: the fallback is sent
        s.forward(vec![0u8; 12], Vec::new(), Some(vec![9u8; 12]), &busy);
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back, framed(&[9u8; 12]));
        let until = Instant::now() + Duration::from_secs(5);
        while busy.count() != 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(busy.count(), 0);
    }
}
