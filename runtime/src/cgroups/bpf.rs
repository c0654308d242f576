//! cgroup v2 device control: a BPF_PROG_TYPE_CGROUP_DEVICE program,
//! hand-assembled like runc's devicefilter (itself from crun), loaded and
//! attached with bpf(2).
//!
//! Program shape: load the access type, access bits, major and minor from
//! `struct bpf_cgroup_dev_ctx` into r2..r5, then one block per rule that
//! jumps to the next block on any mismatch and otherwise returns the rule's
//! verdict, then the default verdict.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;

use super::devices::{DeviceType, Emulator, ACC_ALL};
use super::error::{CgroupError, Result};

/// One eBPF instruction (struct bpf_insn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one (little endian).
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes: class | op | source.
const BPF_LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const BPF_ALU_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_ALU_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const BPF_ALU_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const BPF_ALU_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const BPF_JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const BPF_JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const BPF_JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// BPF_DEVCG_DEV_*.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0xf),
        off,
        imm,
    }
}

impl Insn {
    #[cfg(test)]
    pub fn dst(&self) -> u8 {
        self.regs & 0xf
    }
    #[cfg(test)]
    pub fn src(&self) -> u8 {
        self.regs >> 4
    }
}

/// Number of instructions that load the context into registers.
#[cfg(test)]
pub(crate) const PROLOGUE_LEN: usize = 6;

/// Build the filter for the effective rule set.
pub(crate) fn program(emu: &Emulator) -> Result<Vec<Insn>> {
    let mut p = vec![
        // r2 = type (low 16 bits of access_type)
        insn(BPF_LDX_MEM_W, 2, 1, 0, 0),
        insn(BPF_ALU_AND_K, 2, 0, 0, 0xffff),
        // r3 = access (high 16 bits of access_type)
        insn(BPF_LDX_MEM_W, 3, 1, 0, 0),
        insn(BPF_ALU_RSH_K, 3, 0, 0, 16),
        // r4 = major, r5 = minor
        insn(BPF_LDX_MEM_W, 4, 1, 4, 0),
        insn(BPF_LDX_MEM_W, 5, 1, 8, 0),
    ];
    // Every exception has the verdict opposite to the default.
    let verdict = i32::from(!emu.default_allow);
    for (&(major, minor, typ), &access) in &emu.rules {
        let bpf_type = match typ {
            DeviceType::Block => DEV_BLOCK,
            DeviceType::Char => DEV_CHAR,
            DeviceType::All => {
                return Err(CgroupError::Invalid(
                    "internal error: wildcard type in device exceptions".into(),
                ))
            }
        };
        let imm = |n: i64, what: &str| -> Result<i32> {
            // Jump immediates are sign-extended s32; real majors/minors are
            // 12/20 bits wide.
            i32::try_from(n)
                .map_err(|_| CgroupError::Invalid(format!("device {what} {n} is too large")))
        };
        let start = p.len();
        // Jump offsets are patched once the block length is known.
        p.push(insn(BPF_JMP_JNE_K, 2, 0, 0, bpf_type));
        if access != ACC_ALL {
            // if ((r3 & access) != r3) skip: the request wants more.
            p.push(insn(BPF_ALU_MOV_X, 1, 3, 0, 0));
            p.push(insn(BPF_ALU_AND_K, 1, 0, 0, i32::from(access)));
            p.push(insn(BPF_JMP_JNE_X, 1, 3, 0, 0));
        }
        if major >= 0 {
            p.push(insn(BPF_JMP_JNE_K, 4, 0, 0, imm(major, "major")?));
        }
        if minor >= 0 {
            p.push(insn(BPF_JMP_JNE_K, 5, 0, 0, imm(minor, "minor")?));
        }
        p.push(insn(BPF_ALU_MOV_K, 0, 0, 0, verdict));
        p.push(insn(BPF_JMP_EXIT, 0, 0, 0, 0));
        let next = p.len();
        for (i, ins) in p.iter_mut().enumerate().skip(start) {
            if ins.code == BPF_JMP_JNE_K || ins.code == BPF_JMP_JNE_X {
                ins.off = i16::try_from(next - i - 1).expect("block fits in i16");
            }
        }
    }
    p.push(insn(BPF_ALU_MOV_K, 0, 0, 0, i32::from(emu.default_allow)));
    p.push(insn(BPF_JMP_EXIT, 0, 0, 0, 0));
    Ok(p)
}

// bpf(2) commands and constants (linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    let mut retries = 0;
    loop {
        // SAFETY: attr is a properly sized, initialised #[repr(C)] prefix of
        // union bpf_attr; the kernel zero-extends the rest.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr as *mut T as *mut libc::c_void,
                std::mem::size_of::<T>() as libc::c_uint,
            )
        };
        if r >= 0 {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        // The verifier returns EAGAIN when interrupted by a signal.
        if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) && retries < 30 {
            retries += 1;
            continue;
        }
        return Err(e);
    }
}

fn fd_from(r: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel returned a fresh fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r as i32) }
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// Load the program; on failure the error carries the verifier log.
fn load(prog: &[Insn]) -> std::result::Result<OwnedFd, (io::Error, String)> {
    let license = c"Apache";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => return Ok(fd_from(fd)),
        Err(e)
            if e.raw_os_error() != Some(libc::EINVAL) && e.raw_os_error() != Some(libc::EACCES) =>
        {
            return Err((e, String::new()))
        }
        Err(_) => {}
    }
    // Verifier rejection: load again with a log for the message.
    let mut log = vec![0u8; 64 * 1024];
    attr.log_level = 1;
    attr.log_size = log.len() as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(fd_from(fd)),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim_end().to_string();
            Err((e, text))
        }
    }
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

// The whole query struct up to `revision`: kernels 6.17+ write that field
// regardless of the size passed, so it must be ours (runc hit this).
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Programs already attached to the cgroup (those we may open).
pub(crate) fn attached(cgroup: &OwnedFd) -> io::Result<Vec<OwnedFd>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    sys_bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.prog_cnt as usize);
    let mut fds = Vec::new();
    for id in ids {
        let mut a = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        match sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut a) {
            Ok(fd) => fds.push(fd_from(fd)),
            // Programs an LSM hides from us can only restrict further.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(fds)
}

fn raise_memlock() {
    // Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; not inherited
    // by the container. Failure shows up as EPERM from the load.
    let inf = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid pointer.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) };
}

/// Install the device filter on the v2 cgroup `dir`, replacing earlier ones.
pub(crate) fn install(dir: &Path, emu: &Emulator) -> Result<()> {
    let prog = program(emu)?;
    let err = |stage, source, log: String| CgroupError::DeviceFilter {
        path: dir.to_path_buf(),
        stage,
        source,
        log: if log.is_empty() {
            log
        } else {
            format!(": verifier log: {log}")
        },
    };
    let cgroup = std::fs::File::open(dir)
        .map(OwnedFd::from)
        .map_err(|e| CgroupError::fs("open", dir, e))?;
    raise_memlock();
    let old = attached(&cgroup).map_err(|e| err("BPF_PROG_QUERY", e, String::new()))?;
    let new = load(&prog).map_err(|(e, log)| err("BPF_PROG_LOAD", e, log))?;
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: new.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    sys_bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| err("BPF_PROG_ATTACH", e, String::new()))?;
    // Both programs must allow while both are attached, so the switch never
    // widens access.
    for o in old {
        let mut attr = AttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: o.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        sys_bpf(BPF_PROG_DETACH, &mut attr)
            .map_err(|e| err("BPF_PROG_DETACH of the previous filter", e, String::new()))?;
    }
    Ok(())
}

/// Whether device filters can be loaded here (cached): Err has the reason.
pub(crate) fn probe() -> &'static std::result::Result<(), String> {
    static PROBE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    PROBE.get_or_init(|| {
        raise_memlock();
        let allow_all = Emulator {
            default_allow: true,
            ..Default::default()
        };
        let prog = program(&allow_all).map_err(|e| e.to_string())?;
        load(&prog)
            .map(drop)
            .map_err(|(e, log)| format!("BPF_PROG_LOAD: {e}{log}"))
    })
}
