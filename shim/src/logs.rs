//! The container log in docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`, lines longer than 16 KiB
//! split into chunks without a trailing newline (docker's copier buffer), size-based
//! rotation (`log.json`, `log.json.1`, ...). The encoder is a pure function; the escaper
//! is hand-written because it is the hot path of log throughput (one pass over the
//! bytes, no allocation per line).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Docker's copier splits lines at this size (the chunks are "partial" messages).
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {}

/// ASCII bytes that need escaping (1).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 1;
        i += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1;
    // Go's encoding/json (and so docker) escapes these for HTML safety.
    t[b'<' as usize] = 1;
    t[b'>' as usize] = 1;
    t[b'&' as usize] = 1;
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `s` JSON-escaped (without quotes) like Go's encoding/json: invalid UTF-8
/// bytes become U+FFFD, control characters and `<>&` become `\u00XX`, U+2028/U+2029
/// are escaped. Runs of plain ASCII are skipped 16 bytes at a time.
pub fn escape_json(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        i = find_special(s, i);
        if i >= s.len() {
            break;
        }
        let b = s[i];
        if b < 0x80 {
            out.extend_from_slice(&s[start..i]);
            escape_ascii(out, b);
            i += 1;
            start = i;
            continue;
        }
        // Non-ASCII: validate one UTF-8 sequence.
        let len = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        let valid = len > 0 && i + len <= s.len() && std::str::from_utf8(&s[i..i + len]).is_ok();
        if !valid {
            out.extend_from_slice(&s[start..i]);
            out.extend_from_slice(b"\\ufffd");
            i += 1;
            start = i;
        } else if b == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9) {
            out.extend_from_slice(&s[start..i]);
            out.extend_from_slice(if s[i + 2] == 0xA8 {
                b"\\u2028"
            } else {
                b"\\u2029"
            });
            i += 3;
            start = i;
        } else {
            i += len;
        }
    }
    out.extend_from_slice(&s[start..]);
}

fn escape_ascii(out: &mut Vec<u8>, b: u8) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 15) as usize],
        ]),
    }
}

fn plain(b: u8) -> bool {
    (0x20..0x80).contains(&b) && CLASS[b as usize] == 0
}

/// Index of the first byte at or after `i` that is not plain printable ASCII
/// (control, `"`, `\`, `<`, `>`, `&`, or >= 0x80), or `s.len()`.
#[cfg(target_arch = "x86_64")]
fn find_special(s: &[u8], mut i: usize) -> usize {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; loads are unaligned and in bounds.
    unsafe {
        let space = _mm_set1_epi8(0x20);
        let specials = [b'"', b'\\', b'<', b'>', b'&'].map(|c| _mm_set1_epi8(c as i8));
        while i + 16 <= s.len() {
            let v = _mm_loadu_si128(s.as_ptr().add(i) as *const __m128i);
            // signed compare: bytes >= 0x80 are negative, so they count as < 0x20 too
            let mut m = _mm_cmplt_epi8(v, space);
            for c in specials {
                m = _mm_or_si128(m, _mm_cmpeq_epi8(v, c));
            }
            let bits = _mm_movemask_epi8(m) as u32;
            if bits != 0 {
                return i + bits.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    while i < s.len() && plain(s[i]) {
        i += 1;
    }
    i
}

#[cfg(not(target_arch = "x86_64"))]
fn find_special(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && plain(s[i]) {
        i += 1;
    }
    i
}

/// Append one json-file record (with its trailing newline) for message `msg`.
pub fn encode_record(out: &mut Vec<u8>, msg: &[u8], stream: Stream, time: &[u8; 30]) {
    out.reserve(msg.len() + 64);
    out.extend_from_slice(b"{\"log\":\"");
    escape_json(out, msg);
    out.extend_from_slice(match stream {
        Stream::Stdout => b"\",\"stream\":\"stdout\",\"time\":\"",
        Stream::Stderr => b"\",\"stream\":\"stderr\",\"time\":\"",
    });
    out.extend_from_slice(time);
    out.extend_from_slice(b"\"}\n");
}

/// Splits one stream into messages: whole lines (with their `\n`) and, for lines
/// longer than [`MAX_LINE`], chunks of that size without a newline. A partial line
/// waits in `pending` until its newline arrives or [`LineSplitter::flush`].
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn feed(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while !data.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    if self.pending.is_empty() {
                        emit_chunked(&data[..=i], &mut emit);
                    } else {
                        self.pending.extend_from_slice(&data[..=i]);
                        emit_chunked(&self.pending, &mut emit);
                        self.pending.clear();
                    }
                    data = &data[i + 1..];
                }
                None => {
                    self.pending.extend_from_slice(data);
                    if self.pending.len() >= MAX_LINE {
                        let full = self.pending.len() / MAX_LINE * MAX_LINE;
                        for c in self.pending[..full].chunks(MAX_LINE) {
                            emit(c);
                        }
                        self.pending.drain(..full);
                    }
                    break;
                }
            }
        }
        if self.pending.is_empty() && self.pending.capacity() > MAX_LINE * 2 {
            self.pending = Vec::new();
        }
    }

    /// Emit a pending partial line (at exit: it must not be lost).
    pub fn flush(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
        }
        self.pending = Vec::new();
    }
}

fn emit_chunked(line: &[u8], emit: &mut impl FnMut(&[u8])) {
    let mut rest = line;
    while rest.len() > MAX_LINE {
        emit(&rest[..MAX_LINE]);
        rest = &rest[MAX_LINE..];
    }
    emit(rest);
}

/// Where and how big the log may grow (from shim.json).
#[derive(Clone, Debug)]
pub struct LogConfig {
    pub path: PathBuf,
    /// 0 = unlimited.
    pub max_size: u64,
    /// Files kept including the current one; 1 = truncate in place like docker.
    pub max_files: u32,
}

/// The json-file writer: records are encoded into one buffer and written with one
/// write(2) per [`LogWriter::flush`] (one per read chunk).
pub struct LogWriter {
    cfg: LogConfig,
    file: File,
    size: u64,
    buf: Vec<u8>,
}

fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

impl LogWriter {
    pub fn open(cfg: LogConfig) -> io::Result<LogWriter> {
        if let Some(parent) = cfg.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = open_log(&cfg.path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            cfg,
            file,
            size,
            buf: Vec::new(),
        })
    }

    /// Encode one message; rotates first when it would push the file past max_size.
    pub fn record(&mut self, msg: &[u8], stream: Stream, time: &[u8; 30]) {
        let before = self.buf.len();
        encode_record(&mut self.buf, msg, stream, time);
        let len = (self.buf.len() - before) as u64;
        let max = self.cfg.max_size;
        if max > 0 && self.size + before as u64 + len > max && self.size + before as u64 > 0 {
            if let Err(e) = self.write_out(before) {
                eprintln!("berth-shim: writing the log: {e}");
            }
            if let Err(e) = self.rotate() {
                eprintln!("berth-shim: rotating the log: {e}");
            }
        }
    }

    /// Write the first `n` buffered bytes.
    fn write_out(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let r = self.file.write_all(&self.buf[..n]);
        self.size += n as u64;
        self.buf.drain(..n);
        r
    }

    pub fn flush(&mut self) -> io::Result<()> {
        let r = self.write_out(self.buf.len());
        if self.buf.capacity() > 4 << 20 {
            self.buf = Vec::new();
        }
        r
    }

    /// docker's rotation: with max_files > 1 shift `log.N-1` .. `log.1` and move the
    /// current file to `log.1`; with 1, truncate the current file in place.
    fn rotate(&mut self) -> io::Result<()> {
        let base = self.cfg.path.clone();
        let n = self.cfg.max_files;
        if n <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let name = |i: u32| -> PathBuf {
            let mut s = base.clone().into_os_string();
            s.push(format!(".{i}"));
            PathBuf::from(s)
        };
        let _ = std::fs::remove_file(name(n - 1));
        for i in (1..n - 1).rev() {
            let _ = std::fs::rename(name(i), name(i + 1));
        }
        std::fs::rename(&base, name(1))?;
        self.file = open_log(&base)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(msg: &[u8]) -> String {
        let mut out = Vec::new();
        encode_record(
            &mut out,
            msg,
            Stream::Stdout,
            b"2026-11-23T07:00:00.123456789Z",
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn encodes_like_docker() {
        assert_eq!(
            rec(b"hi \"x\" \\ <a&b>\t\x01\n"),
            "{\"log\":\"hi \\\"x\\\" \\\\ \\u003ca\\u0026b\\u003e\\t\\u0001\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T07:00:00.123456789Z\"}\n"
        );
        assert_eq!(
            rec("é\u{2028}€\n".as_bytes()),
            "{\"log\":\"é\\u2028€\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T07:00:00.123456789Z\"}\n"
        );
        assert!(rec(b"a\xffb").starts_with("{\"log\":\"a\\ufffdb\""));
        assert!(rec(b"\xe2\x82").starts_with("{\"log\":\"\\ufffd\\ufffd\""));
        // a long plain run with one special byte after the SIMD stride
        let mut long = vec![b'a'; 40];
        long.push(b'"');
        long.extend_from_slice("é".as_bytes());
        let v: serde_json::Value = serde_json::from_str(&rec(&long)).unwrap();
        assert_eq!(v["log"].as_str().unwrap().as_bytes(), &long[..]);
        let mut out = Vec::new();
        encode_record(
            &mut out,
            b"e",
            Stream::Stderr,
            b"2026-11-23T07:00:00.123456789Z",
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["stream"], "stderr");
        assert_eq!(v["log"], "e");
    }

    #[test]
    fn escapes_round_trip() {
        let all: Vec<u8> = (0u8..=127).collect();
        let s = rec(&all);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["log"].as_str().unwrap().as_bytes(), &all[..]);
    }

    fn split(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut sp = LineSplitter::default();
        let mut got = Vec::new();
        for c in chunks {
            sp.feed(c, |m| got.push(m.to_vec()));
        }
        let mut tail = Vec::new();
        sp.flush(|m| tail = m.to_vec());
        (got, tail)
    }

    #[test]
    fn splits_lines() {
        let (got, tail) = split(&[b"a\nb", b"c\nd\n", b"partial"]);
        assert_eq!(
            got,
            vec![b"a\n".to_vec(), b"bc\n".to_vec(), b"d\n".to_vec()]
        );
        assert_eq!(tail, b"partial");
    }

    #[test]
    fn splits_long_lines_like_docker() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let mut line = long.clone();
        line.push(b'\n');
        let (got, tail) = split(&[&line[..100], &line[100..]]);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1].len(), MAX_LINE);
        assert_eq!(got[2], [&[b'x'; 10][..], b"\n"].concat());
        assert!(tail.is_empty());
        // exactly MAX_LINE bytes including the newline: one message
        let mut l = vec![b'y'; MAX_LINE - 1];
        l.push(b'\n');
        let (got, _) = split(&[&l]);
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn rotates() {
        let dir = std::env::temp_dir().join(format!("berth-shim-logtest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c-json.log");
        let mut w = LogWriter::open(LogConfig {
            path: path.clone(),
            max_size: 1000,
            max_files: 3,
        })
        .unwrap();
        let t = b"2026-11-23T07:00:00.123456789Z";
        for _ in 0..100 {
            w.record(
                b"0123456789012345678901234567890123456789\n",
                Stream::Stdout,
                t,
            );
            w.flush().unwrap();
        }
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        assert!(size(&path) <= 1000);
        assert!(size(&dir.join("c-json.log.1")) <= 1000);
        assert!(dir.join("c-json.log.2").exists());
        assert!(!dir.join("c-json.log.3").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
