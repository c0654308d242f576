//! `ps`: the processes in the container's cgroup, as JSON pids or as the
//! host's `ps` output filtered to them (runc's behaviour).

use std::io::Write;
use std::process::Command;

use crate::cli::GlobalOpts;
use crate::container::{Status, Store};
use crate::error::{Error, Result, SysContext};

pub fn run(g: &GlobalOpts, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let store = Store::new(&g.root);
    let (state, status) = store.read(id)?;
    let pids = match (&state.cgroup, status) {
        (_, Status::Stopped) => Vec::new(),
        (Some(cg), _) => cg.pids().map_err(Error::from)?,
        (None, _) => vec![state.pid],
    };
    let mut out = std::io::stdout().lock();
    match format {
        "json" => {
            let line = serde_json::to_string(&pids).map_err(|e| Error::Invalid(e.to_string()))?;
            writeln!(out, "{line}").ctx(|| "write")
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let o = Command::new("ps").args(&args).output().ctx(|| "run ps")?;
            if !o.status.success() {
                return Err(Error::Invalid(format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&o.stderr).trim()
                )));
            }
            let text = String::from_utf8_lossy(&o.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| Error::Invalid("ps output has no PID column".into()))?;
            writeln!(out, "{header}").ctx(|| "write")?;
            for l in lines {
                let pid = l
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    writeln!(out, "{l}").ctx(|| "write")?;
                }
            }
            Ok(())
        }
        other => Err(Error::Invalid(format!(
            "invalid format option {other:?}: expected table or json"
        ))),
    }
}
