//! The two facts the runtime reads from /proc/PID/stat: whether the process
//! is alive (not a zombie) and its start time, which tells a recycled pid
//! from the container's init. Parsed by hand: it is one line and two fields,
//! and `state` must stay in the low milliseconds.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    /// The task's `PF_*` flags (field 9).
    pub flags: u64,
    pub num_threads: u64,
    pub start_time: u64,
}

/// `PF_EXITING` (include/linux/sched.h): set as the first step of `do_exit`.
const PF_EXITING: u64 = 0x4;

pub fn stat(pid: i32) -> Option<ProcStat> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&s)
}

fn parse_stat(s: &str) -> Option<ProcStat> {
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split_ascii_whitespace();
    // rest starts at field 3 (state); flags is field 9, num_threads 20,
    // starttime 22.
    let state = fields.next()?.chars().next()?;
    let flags = fields.nth(9 - 4)?.parse().ok()?;
    let num_threads = fields.nth(20 - 10)?.parse().ok()?;
    let start_time = fields.nth(22 - 21)?.parse().ok()?;
    Some(ProcStat {
        state,
        flags,
        num_threads,
        start_time,
    })
}

impl ProcStat {
    /// The process has exited: a zombie or dead, or its last thread is
    /// already in the kernel's exit path (`PF_EXITING` with one thread
    /// left), from which it never returns to user space. The exit can take
    /// a millisecond before the zombie appears (the container's mount
    /// namespace is torn down under an RCU grace period), during which the
    /// container has stopped as far as anyone can see.
    pub fn is_dead(&self) -> bool {
        self.is_zombie() || self.is_exiting()
    }

    /// In `do_exit`, not yet a zombie (see `is_dead`).
    pub fn is_exiting(&self) -> bool {
        self.flags & PF_EXITING != 0 && self.num_threads <= 1 && !self.is_zombie()
    }

    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_start_time_with_odd_comm() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 1844 0 0";
        let st = parse_stat(line).unwrap();
        assert_eq!(st.state, 'S');
        assert_eq!(st.flags, 4194560);
        assert_eq!(st.num_threads, 1);
        assert_eq!(st.start_time, 987654);
        assert!(!st.is_dead());
        // PF_EXITING (4) with one thread: exiting; with two: a leader that
        // left its other threads running.
        let exiting = "7 (true) R 1 7 7 0 -1 4194564 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        let st = parse_stat(exiting).unwrap();
        assert!(st.is_exiting() && st.is_dead());
        let leader = "7 (x) S 1 7 7 0 -1 4194564 0 0 0 0 0 0 0 0 20 0 2 0 55 0 0";
        assert!(!parse_stat(leader).unwrap().is_dead());
        let zombie = "7 (x) Z 1 7 7 0 -1 4194564 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        let st = parse_stat(zombie).unwrap();
        assert!(st.is_dead() && !st.is_exiting());
    }

    #[test]
    fn own_process_is_alive() {
        let st = stat(std::process::id() as i32).unwrap();
        assert!(!st.is_dead());
        assert!(st.start_time > 0);
    }
}
