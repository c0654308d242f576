//! Switch the running process over to a read-only view of its own binary
//! without an exec (CVE-2019-5736, see `sealed_exe`): every mapping of the
//! binary is replaced by the same bytes from the view, then
//! `PR_SET_MM_EXE_FILE` makes the view `/proc/self/exe`.
//!
//! Why: the re-exec it replaces cost a whole process start-up per `create`
//! and `exec` (the kernel's exec, glibc's start-up with its `cpuid` probing,
//! which traps to the hypervisor on these VMs, the binary's page faults):
//! about a tenth of the CPU of a create/start/delete cycle. No crate does
//! this; the syscalls are few and each sits in a small helper below.
//!
//! Mappings whose pages were never written (text, read-only data: no
//! anonymous pages in smaps) are mapped again from the view at the same
//! address and offset: the same file content, and through overlayfs the
//! same page cache. Mappings with written pages (data, RELRO after
//! relocation) are copied into anonymous memory that `mremap` then moves
//! over them in one step. The caller must be single-threaded (checked), so
//! nothing writes to them in between.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;

use crate::error::{Error, Result, SysContext};

/// One mapping of the binary, as /proc/self/smaps shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
    prot: libc::c_int,
    offset: u64,
    /// Pages of the mapping that were written (copy-on-write): its content
    /// is no longer the file's.
    written: bool,
}

/// Make `view` (the same binary, opened read-only elsewhere) the process's
/// executable. On error the process still runs the same code (each step
/// keeps the content of what it replaces); the caller re-execs instead.
pub fn switch_exe(exe: &File, view: &File) -> Result<()> {
    if threads()? != 1 {
        return Err(Error::Invalid(
            "remapping the runtime binary needs a single-threaded process".into(),
        ));
    }
    let meta = exe.metadata().ctx(|| "stat /proc/self/exe")?;
    let smaps = std::fs::read_to_string("/proc/self/smaps").ctx(|| "read /proc/self/smaps")?;
    let maps = parse_smaps(&smaps, meta.dev(), meta.ino())?;
    if maps.is_empty() {
        return Err(Error::Invalid(
            "no mapping of the runtime binary in /proc/self/smaps".into(),
        ));
    }
    for m in &maps {
        if m.written {
            replace_with_copy(m)?;
        } else {
            remap_from(view, m)?;
        }
    }
    set_exe_file(view)
}

fn threads() -> Result<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ctx(|| "read /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Error::Invalid("no Threads line in /proc/self/status".into()))
}

/// The mappings of the file with device `dev` and inode `ino`, with
/// whether any of their pages were written (`Anonymous:` above zero).
fn parse_smaps(smaps: &str, dev: u64, ino: u64) -> Result<Vec<Mapping>> {
    let bad = |l: &str| Error::Invalid(format!("unexpected /proc/self/smaps line {l:?}"));
    let (major, minor) = (libc::major(dev) as u64, libc::minor(dev) as u64);
    let mut out: Vec<Mapping> = Vec::new();
    // Whether the mapping last seen is one of ours (its fields follow it).
    let mut ours = false;
    for line in smaps.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(first) = f.next() else { continue };
        if let Some((s, e)) = first.split_once('-') {
            // A mapping's header: start-end perms offset dev inode [path].
            let (Ok(start), Ok(end)) = (usize::from_str_radix(s, 16), usize::from_str_radix(e, 16))
            else {
                return Err(bad(line));
            };
            let (Some(perms), Some(off), Some(d), Some(inode)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad(line));
            };
            let same_dev = d.split_once(':').is_some_and(|(a, b)| {
                u64::from_str_radix(a, 16) == Ok(major) && u64::from_str_radix(b, 16) == Ok(minor)
            });
            ours = same_dev && inode.parse::<u64>() == Ok(ino);
            if !ours {
                continue;
            }
            let p = perms.as_bytes();
            // Every mapping of a binary is readable and private; anything
            // else is not a layout this code knows how to carry over.
            if p.len() < 4 || p[0] != b'r' || p[3] != b'p' {
                return Err(Error::Invalid(format!(
                    "mapping of the runtime binary with permissions {perms}"
                )));
            }
            let mut prot = libc::PROT_READ;
            if p[1] == b'w' {
                prot |= libc::PROT_WRITE;
            }
            if p[2] == b'x' {
                prot |= libc::PROT_EXEC;
            }
            out.push(Mapping {
                start,
                end,
                prot,
                offset: u64::from_str_radix(off, 16).map_err(|_| bad(line))?,
                written: false,
            });
        } else if ours && first == "Anonymous:" {
            let kb: u64 = f
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(line))?;
            if let Some(m) = out.last_mut() {
                m.written = kb > 0;
            }
        }
    }
    Ok(out)
}

/// Map the same range of `view` over `m`: identical bytes, so code running
/// from `m` (this function's caller included) goes on unchanged.
fn remap_from(view: &File, m: &Mapping) -> Result<()> {
    let offset = libc::off_t::try_from(m.offset)
        .map_err(|_| Error::Invalid(format!("mapping offset {:#x}", m.offset)))?;
    // SAFETY: MAP_FIXED replaces exactly the pages of `m`, a private mapping
    // of the binary that was never written, with the same offset of a file
    // with the same content (checked by the caller: same size and mtime),
    // so every byte the process can read there stays the same.
    let r = unsafe {
        libc::mmap(
            m.start as *mut libc::c_void,
            m.end - m.start,
            m.prot,
            libc::MAP_PRIVATE | libc::MAP_FIXED,
            view.as_raw_fd(),
            offset,
        )
    };
    if r == libc::MAP_FAILED {
        return Err(Errno::last()).ctx(|| format!("map the runtime binary at {:#x}", m.start));
    }
    Ok(())
}

/// Copy `m` into fresh anonymous memory and move that over `m` (mremap
/// replaces the old pages in one step).
fn replace_with_copy(m: &Mapping) -> Result<()> {
    let len = m.end - m.start;
    // SAFETY: a new anonymous mapping at an address the kernel chooses;
    // nothing else refers to it.
    let tmp = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if tmp == libc::MAP_FAILED {
        return Err(Errno::last()).ctx(|| "map memory for a copy of the runtime's data");
    }
    // SAFETY: `m` is a readable mapping of `len` bytes (its header said
    // so), `tmp` a fresh writable one of the same length; they are distinct.
    unsafe { std::ptr::copy_nonoverlapping(m.start as *const u8, tmp.cast::<u8>(), len) };
    // SAFETY: changes the protection of our own fresh mapping only.
    let r = unsafe { libc::mprotect(tmp, len, m.prot) };
    // SAFETY: moves the copy over `m`: same length, same content (nothing
    // wrote to `m` since the copy: single-threaded, and this code writes
    // only to its stack and the heap), same protection.
    let moved = (r == 0).then(|| unsafe {
        libc::mremap(
            tmp,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            m.start as *mut libc::c_void,
        )
    });
    if moved.is_none_or(|p| p == libc::MAP_FAILED) {
        let e = Errno::last();
        // SAFETY: the copy was not moved; unmap our own mapping.
        unsafe { libc::munmap(tmp, len) };
        return Err(e).ctx(|| format!("move a copy of the runtime's data to {:#x}", m.start));
    }
    Ok(())
}

/// `/proc/self/exe` becomes `view`; the kernel refuses while any mapping of
/// the old file is left. PR_SET_MM_EXE_FILE needs CAP_SYS_RESOURCE; where
/// that is withheld (some sandboxes), PR_SET_MM_MAP does the same with
/// CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, given the mm's current fields.
fn set_exe_file(view: &File) -> Result<()> {
    // SAFETY: prctl with integer arguments; the fd is valid for the call.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            libc::PR_SET_MM_EXE_FILE,
            view.as_raw_fd() as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::EPERM => set_exe_file_by_map(view),
        e => Err(e).ctx(|| "PR_SET_MM_EXE_FILE"),
    }
}

/// `struct prctl_mm_map` of <linux/prctl.h>.
#[repr(C)]
#[derive(Default)]
struct PrctlMmMap {
    start_code: u64,
    end_code: u64,
    start_data: u64,
    end_data: u64,
    start_brk: u64,
    brk: u64,
    start_stack: u64,
    arg_start: u64,
    arg_end: u64,
    env_start: u64,
    env_end: u64,
    auxv: u64,
    auxv_size: u32,
    exe_fd: u32,
}

fn set_exe_file_by_map(view: &File) -> Result<()> {
    const PR_SET_MM_MAP: libc::c_ulong = 14;
    let stat = std::fs::read_to_string("/proc/self/stat").ctx(|| "read /proc/self/stat")?;
    let mut map = mm_fields(&stat)?;
    // SAFETY: brk(0) changes nothing and returns the current break.
    map.brk = unsafe { libc::syscall(libc::SYS_brk, 0) } as u64;
    map.exe_fd = view.as_raw_fd() as u32;
    // SAFETY: `map` is a valid prctl_mm_map of the size passed; with
    // auxv_size 0 the kernel reads no auxv. The fields are the mm's own
    // (brk read just now; nothing allocates in between).
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            PR_SET_MM_MAP,
            &map as *const PrctlMmMap as libc::c_ulong,
            std::mem::size_of::<PrctlMmMap>() as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r < 0 {
        return Err(Errno::last()).ctx(|| "PR_SET_MM_MAP (executable file)");
    }
    Ok(())
}

/// The mm fields /proc/self/stat shows (proc(5): fields 26-28, 45-51).
fn mm_fields(stat: &str) -> Result<PrctlMmMap> {
    let bad = || Error::Invalid("unexpected /proc/self/stat".into());
    // Fields after the command name (which may hold spaces and parens);
    // field n (1-based, proc(5)) is at index n - 3.
    let rest = stat.rsplit_once(')').ok_or_else(bad)?.1;
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let get =
        |n: usize| -> Result<u64> { f.get(n - 3).and_then(|v| v.parse().ok()).ok_or_else(bad) };
    Ok(PrctlMmMap {
        start_code: get(26)?,
        end_code: get(27)?,
        start_stack: get(28)?,
        start_data: get(45)?,
        end_data: get(46)?,
        start_brk: get(47)?,
        arg_start: get(48)?,
        arg_end: get(49)?,
        env_start: get(50)?,
        env_end: get(51)?,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
00200000-00406000 r--p 00000000 08:01 77                                 /usr/bin/rt
Size:               8216 kB
Anonymous:             0 kB
00406000-007a9000 r-xp 00205000 08:01 77                                 /usr/bin/rt
Anonymous:             0 kB
007a9000-007b2000 r--p 005a7000 08:01 77                                 /usr/bin/rt
Anonymous:            12 kB
007b2000-007b6000 rw-p 005af000 08:01 77                                 /usr/bin/rt
Anonymous:            16 kB
007b6000-007bd000 rw-p 00000000 00:00 0 
Anonymous:            16 kB
7f0000000000-7f0000001000 r--p 00000000 08:01 78                         /usr/lib/other
Anonymous:             4 kB
";

    #[test]
    fn smaps_mappings_of_the_binary_only() {
        let dev = libc::makedev(8, 1);
        let m = parse_smaps(SMAPS, dev, 77).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[1],
            Mapping {
                start: 0x406000,
                end: 0x7a9000,
                prot: libc::PROT_READ | libc::PROT_EXEC,
                offset: 0x205000,
                written: false,
            }
        );
        assert_eq!(
            m.iter().map(|m| m.written).collect::<Vec<_>>(),
            [false, false, true, true]
        );
        assert_eq!(m[3].prot, libc::PROT_READ | libc::PROT_WRITE);
        assert!(parse_smaps(SMAPS, libc::makedev(8, 2), 77)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn mm_fields_from_proc_stat() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let m = mm_fields(&stat).unwrap();
        assert!(m.start_code < m.end_code, "{stat}");
        assert!(
            m.start_data <= m.end_data && m.arg_start < m.arg_end,
            "{stat}"
        );
        assert!(m.env_start <= m.env_end && m.start_stack > 0, "{stat}");
        assert_eq!(std::mem::size_of::<PrctlMmMap>(), 104);
        assert!(mm_fields("12 (a) b) R").is_err());
    }

    #[test]
    fn smaps_unknown_layouts_are_refused() {
        let shared = "00200000-00406000 r--s 00000000 08:01 77 /usr/bin/rt\n";
        assert!(parse_smaps(shared, libc::makedev(8, 1), 77).is_err());
        let garbage = "zz-00406000 r--p 00000000 08:01 77 /usr/bin/rt\n";
        assert!(parse_smaps(garbage, libc::makedev(8, 1), 77).is_err());
    }
}
