//! `top`: the processes of the project's containers, as `ps -ef` shows them
//! (docker's columns), found by the container's PID namespace.

use crate::compose::error::{ComposeError, Result};
use std::os::unix::fs::MetadataExt;

/// The pids (host view) sharing `init`'s PID namespace.
pub fn container_pids(init: i32) -> Result<Vec<i32>> {
    let ns = |pid: &str| {
        std::fs::metadata(format!("/proc/{pid}/ns/pid"))
            .map(|m| m.ino())
            .ok()
    };
    let want = ns(&init.to_string())
        .ok_or_else(|| ComposeError::Container(format!("process {init} is gone")))?;
    let mut out = Vec::new();
    let rd = std::fs::read_dir("/proc").map_err(|e| ComposeError::io("/proc", e))?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(pid) = name.parse::<i32>() {
            if ns(&name) == Some(want) {
                out.push(pid);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `ps -o` for those pids: the header and the rows.
pub fn ps(pids: &[i32]) -> Result<String> {
    let list: Vec<String> = pids.iter().map(i32::to_string).collect();
    let out = std::process::Command::new("ps")
        .args([
            "-o",
            "uid,pid,ppid,c,stime,tty,time,cmd",
            "-p",
            &list.join(","),
        ])
        .output()
        .map_err(|e| ComposeError::Invalid(format!("running ps: {e}")))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
