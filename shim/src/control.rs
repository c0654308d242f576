//! The control socket (`ctl.sock`): one JSON request line per connection, one JSON
//! response line; `wait`, `stop` and `exec_wait` keep the connection until they can
//! answer.

use crate::error::SupervisorError;
pub use berth_shim_protocol::Request;
use serde_json::Value;
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a parked connection waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// The next container exit (wait, stop).
    Exit,
    ExecExit(String),
}

pub struct Conn {
    pub id: u64,
    sock: UnixStream,
    inbuf: Vec<u8>,
    pub pending: Option<Pending>,
}

impl Conn {
    /// Read; Some(request line result) once a full line (or EOF with data) arrived.
    /// Err(()) when the peer went away without a request.
    pub fn read_request(&mut self) -> Result<Option<Result<Request, SupervisorError>>, ()> {
        let mut buf = [0u8; 4096];
        let mut eof = false;
        loop {
            match self.sock.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    self.inbuf.extend_from_slice(&buf[..n]);
                    if self.inbuf.len() > 64 << 10 {
                        return Err(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        let line = match memchr::memchr(b'\n', &self.inbuf) {
            Some(i) => &self.inbuf[..i],
            None if eof && !self.inbuf.is_empty() => &self.inbuf[..],
            None if eof => return Err(()),
            None => return Ok(None),
        };
        let req = serde_json::from_slice::<Request>(line).map_err(SupervisorError::BadRequest);
        self.inbuf.clear();
        Ok(Some(req))
    }

    /// Write the response line (small: blocking with a short timeout is fine).
    pub fn respond(mut self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.push(b'\n');
        let _ = self.sock.set_nonblocking(false);
        let _ = self.sock.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = self.sock.write_all(&line);
    }
}

pub struct Control {
    listener: UnixListener,
    path: PathBuf,
    pub conns: Vec<Conn>,
    next_id: u64,
}

impl Control {
    pub fn bind(path: &Path) -> io::Result<Control> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(Control {
            listener,
            path: path.to_owned(),
            conns: Vec::new(),
            next_id: 1,
        })
    }

    pub fn listener_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.listener.as_raw_fd()
    }

    pub fn accept(&mut self) {
        while let Ok((sock, _)) = self.listener.accept() {
            let _ = sock.set_nonblocking(true);
            self.conns.push(Conn {
                id: self.next_id,
                sock,
                inbuf: Vec::new(),
                pending: None,
            });
            self.next_id += 1;
        }
    }

    /// (fd, id) of connections still reading their request or parked.
    pub fn poll_fds(&self, out: &mut Vec<(i32, u64)>) {
        use std::os::fd::AsRawFd;
        for c in &self.conns {
            out.push((c.sock.as_raw_fd(), c.id));
        }
    }

    pub fn take(&mut self, id: u64) -> Option<Conn> {
        let i = self.conns.iter().position(|c| c.id == id)?;
        Some(self.conns.remove(i))
    }

    pub fn park(&mut self, mut c: Conn, p: Pending) {
        c.pending = Some(p);
        self.conns.push(c);
    }

    /// Answer every connection parked on `p`.
    pub fn answer(&mut self, p: &Pending, v: &Value) {
        let mut i = 0;
        while i < self.conns.len() {
            if self.conns[i].pending.as_ref() == Some(p) {
                self.conns.remove(i).respond(v);
            } else {
                i += 1;
            }
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
