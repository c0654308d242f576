//! `berth top CONTAINER [ps OPTIONS]`: as docker does, run the host's `ps` with the
//! options (default `-ef`) and keep the header and the rows whose PID belongs to the
//! container: the processes in the pid namespace of the container's init.

use crate::container::{self, ContainerStore, Status};
use crate::context::Context;
use anyhow::{bail, Context as _};
use std::collections::BTreeSet;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub container: String,
    /// Options for ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<i32> {
    let rec = ContainerStore::open(ctx)?.resolve(&args.container)?;
    let st = container::state(ctx, &rec);
    if st.pid <= 0 || !matches!(st.status, Status::Running | Status::Paused) {
        bail!("Container {} is not running", rec.id);
    }
    let pids = container_pids(st.pid)?;
    let ps_args = if args.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        args.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&ps_args)
        .output()
        .context("running ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    print!(
        "{}",
        filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)?
    );
    Ok(0)
}

/// Pids (host view) of every process in the pid namespace of `init`.
pub fn container_pids(init: i32) -> anyhow::Result<BTreeSet<i32>> {
    let ns_of = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let want = ns_of(&init.to_string())
        .with_context(|| format!("reading the pid namespace of process {init}"))?;
    let mut pids = BTreeSet::new();
    for e in std::fs::read_dir("/proc")?.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if ns_of(&pid.to_string()).as_ref() == Some(&want) {
            pids.insert(pid);
        }
    }
    pids.insert(init);
    Ok(pids)
}

/// Keep ps's header and the rows whose PID column is one of `pids`.
fn filter_ps(out: &str, pids: &BTreeSet<i32>) -> anyhow::Result<String> {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("Couldn't find PID field in ps output")?;
    let mut res = format!("{header}\n");
    for l in lines {
        let pid = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            res.push_str(l);
            res.push('\n');
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_rows() {
        let out = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep\nroot 7 1 other\n";
        let pids: BTreeSet<i32> = [42].into();
        assert_eq!(
            filter_ps(out, &pids).unwrap(),
            "UID PID PPID CMD\nroot 42 1 sleep\n"
        );
        assert!(filter_ps("A B\n", &pids).is_err());
    }
}
