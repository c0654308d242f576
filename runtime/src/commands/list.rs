use std::io::Write;
use std::os::unix::fs::MetadataExt;

use crate::cli::GlobalOpts;
use crate::container::Store;
use crate::error::{Error, Result, SysContext};

pub fn run(g: &GlobalOpts, format: &str, quiet: bool) -> Result<()> {
    let store = Store::new(&g.root);
    let mut rows = Vec::new();
    for id in store.ids()? {
        // A container whose create is still in flight has no state yet.
        let Ok((state, status)) = store.read(&id) else {
            continue;
        };
        let owner = std::fs::metadata(store.root().join(&id))
            .map(|m| user_name(m.uid()))
            .unwrap_or_default();
        rows.push((state, status, owner));
    }
    let mut out = std::io::stdout().lock();
    if quiet {
        for (s, _, _) in &rows {
            writeln!(out, "{}", s.id).ctx(|| "write")?;
        }
        return Ok(());
    }
    match format {
        "json" => {
            let v: Vec<_> = rows.iter().map(|(s, st, o)| s.output(*st, o)).collect();
            // runc prints Go's nil slice, `null`, for no containers; tools compare it.
            let line = if v.is_empty() {
                "null".to_string()
            } else {
                serde_json::to_string(&v).map_err(|e| Error::Invalid(e.to_string()))?
            };
            writeln!(out, "{line}").ctx(|| "write")
        }
        "table" => {
            let mut table = vec![[
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for (s, st, o) in &rows {
                let o = s.output(*st, o);
                table.push([
                    o.id.to_string(),
                    o.pid.to_string(),
                    o.status.to_string(),
                    o.bundle.display().to_string(),
                    o.created.to_string(),
                    o.owner.to_string(),
                ]);
            }
            // Go's tabwriter as runc configures it: min width 12, padding 3.
            let mut widths = [0usize; 6];
            for r in &table {
                for (i, c) in r.iter().enumerate() {
                    widths[i] = widths[i].max(c.len());
                }
            }
            for r in &table {
                let mut line = String::new();
                for (i, c) in r.iter().enumerate() {
                    if i + 1 == r.len() {
                        line.push_str(c);
                    } else {
                        let w = (widths[i] + 3).max(12);
                        line.push_str(&format!("{c:<w$}"));
                    }
                }
                writeln!(out, "{}", line.trim_end()).ctx(|| "write")?;
            }
            Ok(())
        }
        other => Err(Error::Invalid(format!(
            "invalid format option {other:?}: expected table or json"
        ))),
    }
}

fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("#{uid}"))
}
