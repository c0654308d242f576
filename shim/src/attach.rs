//! The attach socket protocol (`attach.sock`, `exec-<sid>.sock`): length-prefixed
//! frames `kind: u8, len: u32 BE, payload`, a hello first from the client, output
//! fanned out to every client, stdin from any of them, docker's detach keys.

use crate::error::SupervisorError;
use crate::logs::Stream;
pub use berth_shim_protocol::{
    decode_header, decode_resize, frame, Hello, EXIT, HEADER_LEN, HELLO, RESIZE, STDERR, STDIN,
    STDIN_EOF, STDOUT,
};
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Frames larger than this from a client end its connection.
const MAX_FRAME: usize = 1 << 20;
/// A client that lets this much output pile up is disconnected (the container must
/// never block on a slow reader).
const MAX_QUEUE: usize = 4 << 20;

pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// docker's detach-key syntax: comma-separated `ctrl-<x>` (x in a-z, @, [, \, ], ^, _)
/// or single characters.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, SupervisorError> {
    let s = if s.is_empty() { DEFAULT_DETACH_KEYS } else { s };
    s.split(',')
        .map(|k| {
            let kb = k.as_bytes();
            if kb.len() == 1 {
                return Ok(kb[0]);
            }
            let lower = k.to_ascii_lowercase();
            match lower.strip_prefix("ctrl-").map(str::as_bytes) {
                Some([c @ b'a'..=b'z']) => Ok(c - b'a' + 1),
                Some([b'@']) => Ok(0),
                Some([b'[']) => Ok(27),
                Some([b'\\']) => Ok(28),
                Some([b']']) => Ok(29),
                Some([b'^']) => Ok(30),
                Some([b'_']) => Ok(31),
                _ => Err(SupervisorError::DetachKey(k.to_string())),
            }
        })
        .collect()
}

/// Watches stdin for the detach sequence; bytes of a partial match are held back and
/// released when the match fails (docker's escape proxy).
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> DetachMatcher {
        DetachMatcher { keys, matched: 0 }
    }

    /// Append what passes through to `out`; true when the sequence completed.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in data {
            if !self.keys.is_empty() && b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return true;
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                out.push(b);
            }
        }
        false
    }
}

/// What a client asked for.
#[derive(Debug, PartialEq)]
pub enum Action {
    Stdin(Vec<u8>),
    StdinEof,
    Resize(u16, u16),
}

struct Client {
    id: u64,
    sock: UnixStream,
    hello: Option<Hello>,
    matcher: DetachMatcher,
    inbuf: Vec<u8>,
    outq: Vec<u8>,
}

impl Client {
    /// Read and parse frames; false when the client is gone, detached or broken.
    fn on_readable(&mut self, actions: &mut Vec<Action>) -> bool {
        let mut buf = [0u8; 8192];
        loop {
            match self.sock.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        let mut pos = 0;
        let mut keep = true;
        while let Some((kind, len)) = decode_header(&self.inbuf[pos..]) {
            if len > MAX_FRAME {
                keep = false;
                break;
            }
            if self.inbuf.len() - pos - HEADER_LEN < len {
                break;
            }
            let payload = &self.inbuf[pos + HEADER_LEN..pos + HEADER_LEN + len];
            pos += HEADER_LEN + len;
            match (kind, &self.hello) {
                (HELLO, None) => match serde_json::from_slice::<Hello>(payload)
                    .map_err(SupervisorError::BadHello)
                    .and_then(|h| {
                        let keys = parse_detach_keys(h.detach_keys.as_deref().unwrap_or(""))?;
                        Ok((h, keys))
                    }) {
                    Ok((h, keys)) => {
                        self.matcher = DetachMatcher::new(keys);
                        self.hello = Some(h);
                    }
                    Err(e) => {
                        let mut f = Vec::new();
                        frame(
                            &mut f,
                            STDERR,
                            format!("berth-shim: bad hello: {e}\n").as_bytes(),
                        );
                        let _ = self.sock.write_all(&f);
                        keep = false;
                        break;
                    }
                },
                (_, None) => {
                    keep = false;
                    break;
                }
                (STDIN, Some(h)) => {
                    let mut pass = Vec::with_capacity(payload.len());
                    let detached = self.matcher.feed(payload, &mut pass);
                    if h.stdin && !pass.is_empty() {
                        actions.push(Action::Stdin(pass));
                    }
                    if detached {
                        keep = false;
                        break;
                    }
                }
                (STDIN_EOF, Some(h)) if h.stdin => actions.push(Action::StdinEof),
                (RESIZE, Some(_)) => {
                    if let Some((rows, cols)) = decode_resize(payload) {
                        actions.push(Action::Resize(rows, cols));
                    }
                }
                _ => {}
            }
        }
        self.inbuf.drain(..pos);
        keep
    }

    fn flush(&mut self) -> bool {
        while !self.outq.is_empty() {
            match self.sock.write(&self.outq) {
                Ok(n) => {
                    self.outq.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.outq.capacity() > 64 << 10 && self.outq.is_empty() {
            self.outq = Vec::new();
        }
        self.outq.len() <= MAX_QUEUE
    }
}

/// One attach socket and its clients.
pub struct Hub {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
    next_id: u64,
}

/// Poll registration of a hub: the listener (None) or a client id.
pub type HubToken = Option<u64>;

impl Hub {
    pub fn bind(path: &Path) -> io::Result<Hub> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(Hub {
            listener,
            path: path.to_owned(),
            clients: Vec::new(),
            next_id: 1,
        })
    }

    /// (fd, events, token) for poll.
    pub fn poll_fds(&self, out: &mut Vec<(i32, i16, HubToken)>) {
        use std::os::fd::AsRawFd;
        out.push((self.listener.as_raw_fd(), libc::POLLIN, None));
        for c in &self.clients {
            let ev = if c.outq.is_empty() {
                libc::POLLIN
            } else {
                libc::POLLIN | libc::POLLOUT
            };
            out.push((c.sock.as_raw_fd(), ev, Some(c.id)));
        }
    }

    pub fn on_event(&mut self, token: HubToken, revents: i16, actions: &mut Vec<Action>) {
        match token {
            None => {
                while let Ok((sock, _)) = self.listener.accept() {
                    let _ = sock.set_nonblocking(true);
                    self.clients.push(Client {
                        id: self.next_id,
                        sock,
                        hello: None,
                        matcher: DetachMatcher::new(Vec::new()),
                        inbuf: Vec::new(),
                        outq: Vec::new(),
                    });
                    self.next_id += 1;
                }
            }
            Some(id) => {
                let Some(i) = self.clients.iter().position(|c| c.id == id) else {
                    return;
                };
                let c = &mut self.clients[i];
                let mut keep = true;
                if revents & libc::POLLOUT != 0 {
                    keep &= c.flush();
                }
                if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    keep &= c.on_readable(actions);
                }
                if !keep {
                    // detach or hang-up: flush what we can, then close
                    let _ = c.flush();
                    self.clients.remove(i);
                }
            }
        }
    }

    /// Send output to every client that asked for this stream.
    pub fn output(&mut self, stream: Stream, data: &[u8]) {
        let kind = match stream {
            Stream::Stdout => STDOUT,
            Stream::Stderr => STDERR,
        };
        self.clients.retain_mut(|c| {
            let wants = match &c.hello {
                Some(h) => match stream {
                    Stream::Stdout => h.stdout,
                    Stream::Stderr => h.stderr,
                },
                None => false,
            };
            if !wants {
                return true;
            }
            frame(&mut c.outq, kind, data);
            c.flush()
        });
    }

    /// Send the exit frame to every client and close them (blocking briefly per client,
    /// since this happens once).
    pub fn finish(&mut self, exit_code: i32) {
        for mut c in self.clients.drain(..) {
            frame(&mut c.outq, EXIT, &exit_code.to_be_bytes());
            let _ = c.sock.set_nonblocking(false);
            let _ = c.sock.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = c.sock.write_all(&c.outq);
            let _ = c.sock.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,b").unwrap(), b"ab".to_vec());
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-[").unwrap(), vec![0, 27]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn matcher_holds_and_releases() {
        let mut m = DetachMatcher::new(b"ab".to_vec());
        let mut out = Vec::new();
        assert!(!m.feed(b"xa", &mut out));
        assert_eq!(out, b"x");
        assert!(!m.feed(b"c", &mut out));
        assert_eq!(out, b"xac");
        out.clear();
        assert!(!m.feed(b"a", &mut out));
        assert!(m.feed(b"b", &mut out));
        assert!(out.is_empty());
    }
}
