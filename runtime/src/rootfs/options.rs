//! Mount options of config.json, split into mount(2) flags, propagation
//! changes, recursive attributes (mount_setattr) and filesystem data.

use nix::mount::MsFlags;

#[derive(Debug, Clone)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Flags explicitly cleared (`rw`, `suid`, ...), which must not be
    /// re-added from the source mount on a bind remount.
    pub cleared: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
    pub attr_set: u64,
    pub attr_clr: u64,
    pub idmap: bool,
    /// `ridmap`: the idmap applies to the submounts of a recursive bind too.
    pub idmap_recursive: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
            attr_set: 0,
            attr_clr: 0,
            idmap: false,
            idmap_recursive: false,
        }
    }
}

impl MountOptions {
    pub fn bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn data_string(&self) -> Option<String> {
        if self.data.is_empty() {
            None
        } else {
            Some(self.data.join(","))
        }
    }
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_RELATIME: u64 = 0x0;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;

pub fn parse(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let set = |o: &mut MountOptions, f: MsFlags| o.flags |= f;
        let clr = |o: &mut MountOptions, f: MsFlags| {
            o.flags &= !f;
            o.cleared |= f;
        };
        match opt.as_str() {
            "defaults" => {}
            "ro" => set(&mut o, MsFlags::MS_RDONLY),
            "rw" => clr(&mut o, MsFlags::MS_RDONLY),
            "suid" => clr(&mut o, MsFlags::MS_NOSUID),
            "nosuid" => set(&mut o, MsFlags::MS_NOSUID),
            "dev" => clr(&mut o, MsFlags::MS_NODEV),
            "nodev" => set(&mut o, MsFlags::MS_NODEV),
            "exec" => clr(&mut o, MsFlags::MS_NOEXEC),
            "noexec" => set(&mut o, MsFlags::MS_NOEXEC),
            "sync" => set(&mut o, MsFlags::MS_SYNCHRONOUS),
            "async" => clr(&mut o, MsFlags::MS_SYNCHRONOUS),
            "dirsync" => set(&mut o, MsFlags::MS_DIRSYNC),
            "remount" => set(&mut o, MsFlags::MS_REMOUNT),
            "mand" => set(&mut o, MsFlags::MS_MANDLOCK),
            "nomand" => clr(&mut o, MsFlags::MS_MANDLOCK),
            "atime" => clr(&mut o, MsFlags::MS_NOATIME),
            "noatime" => set(&mut o, MsFlags::MS_NOATIME),
            "diratime" => clr(&mut o, MsFlags::MS_NODIRATIME),
            "nodiratime" => set(&mut o, MsFlags::MS_NODIRATIME),
            "relatime" => set(&mut o, MsFlags::MS_RELATIME),
            "norelatime" => clr(&mut o, MsFlags::MS_RELATIME),
            "strictatime" => set(&mut o, MsFlags::MS_STRICTATIME),
            "nostrictatime" => clr(&mut o, MsFlags::MS_STRICTATIME),
            "lazytime" => set(&mut o, MsFlags::MS_LAZYTIME),
            "nolazytime" => clr(&mut o, MsFlags::MS_LAZYTIME),
            "iversion" => set(&mut o, MsFlags::MS_I_VERSION),
            "noiversion" => clr(&mut o, MsFlags::MS_I_VERSION),
            "silent" => set(&mut o, MsFlags::MS_SILENT),
            "loud" => clr(&mut o, MsFlags::MS_SILENT),
            "nosymfollow" => set(&mut o, MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW)),
            "symfollow" => clr(&mut o, MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW)),
            "bind" => set(&mut o, MsFlags::MS_BIND),
            "rbind" => set(&mut o, MsFlags::MS_BIND | MsFlags::MS_REC),
            "private" => o.propagation.push(MsFlags::MS_PRIVATE),
            "rprivate" => o.propagation.push(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            "shared" => o.propagation.push(MsFlags::MS_SHARED),
            "rshared" => o.propagation.push(MsFlags::MS_SHARED | MsFlags::MS_REC),
            "slave" => o.propagation.push(MsFlags::MS_SLAVE),
            "rslave" => o.propagation.push(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "unbindable" => o.propagation.push(MsFlags::MS_UNBINDABLE),
            "runbindable" => o.propagation.push(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            "rro" => o.attr_set |= MOUNT_ATTR_RDONLY,
            "rrw" => o.attr_clr |= MOUNT_ATTR_RDONLY,
            "rnosuid" => o.attr_set |= MOUNT_ATTR_NOSUID,
            "rsuid" => o.attr_clr |= MOUNT_ATTR_NOSUID,
            "rnodev" => o.attr_set |= MOUNT_ATTR_NODEV,
            "rdev" => o.attr_clr |= MOUNT_ATTR_NODEV,
            "rnoexec" => o.attr_set |= MOUNT_ATTR_NOEXEC,
            "rexec" => o.attr_clr |= MOUNT_ATTR_NOEXEC,
            "rnodiratime" => o.attr_set |= MOUNT_ATTR_NODIRATIME,
            "rdiratime" => o.attr_clr |= MOUNT_ATTR_NODIRATIME,
            "rnosymfollow" => o.attr_set |= MOUNT_ATTR_NOSYMFOLLOW,
            "rsymfollow" => o.attr_clr |= MOUNT_ATTR_NOSYMFOLLOW,
            // atime modes are one field: clear the field, then set the mode.
            "rrelatime" => {
                o.attr_clr |= MOUNT_ATTR__ATIME;
                o.attr_set |= MOUNT_ATTR_RELATIME;
            }
            "rnoatime" => {
                o.attr_clr |= MOUNT_ATTR__ATIME;
                o.attr_set |= MOUNT_ATTR_NOATIME;
            }
            "rstrictatime" => {
                o.attr_clr |= MOUNT_ATTR__ATIME;
                o.attr_set |= MOUNT_ATTR_STRICTATIME;
            }
            "ratime" | "rnorelatime" | "rnostrictatime" => o.attr_clr |= MOUNT_ATTR__ATIME,
            "idmap" => o.idmap = true,
            "ridmap" => {
                o.idmap = true;
                o.idmap_recursive = true;
            }
            // crun's copy-up hint; the runtime has nothing to do for it.
            "tmpcopyup" => {}
            other => o.data.push(other.to_string()),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> MountOptions {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_data_and_propagation() {
        let o = p(&[
            "rbind",
            "ro",
            "nosuid",
            "rprivate",
            "mode=755",
            "size=65536k",
        ]);
        assert!(o.bind() && o.flags.contains(MsFlags::MS_REC));
        assert!(o.flags.contains(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID));
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        assert_eq!(o.data_string().as_deref(), Some("mode=755,size=65536k"));
    }

    #[test]
    fn later_options_win() {
        let o = p(&["ro", "rw"]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn recursive_attributes() {
        let o = p(&["rro", "rnosuid", "rnoatime"]);
        assert_eq!(
            o.attr_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.attr_clr, MOUNT_ATTR__ATIME);
    }
}
