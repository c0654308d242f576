//! Events without a daemon: each command (and the shim's exit hook, through
//! `on_exit`) appends what it did to `<root>/events.log`, one JSON object a
//! line in docker's event shape; `berth events` reads it back (and follows it).
//! One `write(2)` of a whole line with `O_APPEND` keeps concurrent writers'
//! lines whole. Recording is best effort: an event that cannot be written
//! never fails the operation it reports.

use serde_json::{json, Map, Value};
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};

pub fn log_path(root: &Path) -> PathBuf {
    root.join("events.log")
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Append one event: `typ` (container, image, volume, network), `action`
/// (create, start, die, ...), the object's id and its attributes.
pub fn record(root: &Path, typ: &str, action: &str, id: &str, attrs: &[(&str, String)]) {
    let nanos = now_nanos();
    let mut attributes = Map::new();
    for (k, v) in attrs {
        attributes.insert((*k).to_string(), Value::String(v.clone()));
    }
    let mut ev = json!({
        "Type": typ,
        "Action": action,
        "Actor": {"ID": id, "Attributes": attributes},
        "scope": "local",
        "time": (nanos / 1_000_000_000) as i64,
        "timeNano": nanos as i64,
    });
    // docker's older fields, still what many scripts read.
    if typ == "container" || typ == "image" {
        ev["status"] = json!(action);
        ev["id"] = json!(id);
        if let Some((_, img)) = attrs.iter().find(|(k, _)| *k == "image") {
            ev["from"] = json!(img);
        }
    }
    let mut line = ev.to_string();
    line.push('\n');
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(root))
        .and_then(|mut f| f.write_all(line.as_bytes()));
}

/// An image's event as docker records it: the Actor is the image id (or the
/// reference for pull and push), `name` the reference it was named by.
pub fn image(root: &Path, action: &str, id: &str, name: &str) {
    record(root, "image", action, id, &[("name", name.to_string())]);
}

/// A network's event: the Actor is the network id; `name`, `type` (its
/// driver) and, for connect and disconnect, the `container`'s id.
pub fn network(
    root: &Path,
    action: &str,
    net: &crate::network::model::Network,
    container: Option<&str>,
) {
    let mut attrs = vec![("name", net.name.clone()), ("type", net.driver.clone())];
    if let Some(c) = container {
        attrs.insert(0, ("container", c.to_string()));
    }
    record(root, "network", action, &net.id, &attrs);
}

/// A container's event with docker's attributes (name, image, labels).
pub fn container(
    ctx: &crate::context::Context,
    rec: &crate::container::ContainerRecord,
    action: &str,
    extra: &[(&str, String)],
) {
    container_at(&ctx.root, rec, action, extra)
}

/// `container` for a caller that has the store's root only.
pub fn container_at(
    root: &Path,
    rec: &crate::container::ContainerRecord,
    action: &str,
    extra: &[(&str, String)],
) {
    let mut attrs: Vec<(&str, String)> = vec![
        ("image", rec.config.image.clone()),
        ("name", rec.name.clone()),
    ];
    for (k, v) in &rec.config.labels {
        attrs.push((k.as_str(), v.clone()));
    }
    attrs.extend(extra.iter().cloned());
    record(root, "container", action, &rec.id, &attrs);
}

/// Which events `events` shows: docker's `--filter` keys.
#[derive(Debug, Default)]
pub struct Filter {
    pairs: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("invalid filter {0:?}: expected key=value")]
    Format(String),
    #[error("invalid filter '{0}' (container, event, image, label, type, volume, network)")]
    Key(String),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Filter {
    pub fn parse(list: &[String]) -> Result<Filter, EventsError> {
        let mut pairs = Vec::new();
        for f in list {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| EventsError::Format(f.clone()))?;
            if !matches!(
                k,
                "container" | "event" | "image" | "label" | "type" | "volume" | "network"
            ) {
                return Err(EventsError::Key(k.into()));
            }
            pairs.push((k.to_string(), v.to_string()));
        }
        Ok(Filter { pairs })
    }

    /// docker: values of one key are ORed, keys ANDed.
    pub fn matches(&self, ev: &Value) -> bool {
        let typ = ev["Type"].as_str().unwrap_or("");
        let id = ev["Actor"]["ID"].as_str().unwrap_or("");
        let attr = |k: &str| {
            ev["Actor"]["Attributes"][k]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        let mut keys: Vec<&str> = self.pairs.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter().all(|k| {
            self.pairs
                .iter()
                .filter(|(fk, _)| fk == k)
                .any(|(_, v)| match *k {
                    "container" => {
                        typ == "container" && (attr("name") == *v || id.starts_with(v.as_str()))
                    }
                    "event" => ev["Action"].as_str() == Some(v.as_str()),
                    "image" => {
                        attr("image") == *v || (typ == "image" && (id == v || attr("name") == *v))
                    }
                    "type" => typ == v,
                    "volume" => typ == "volume" && id == v,
                    "network" => typ == "network" && (id == v || attr("name") == *v),
                    "label" => match v.split_once('=') {
                        Some((lk, lv)) => attr(lk) == lv,
                        None => ev["Actor"]["Attributes"].get(v.as_str()).is_some(),
                    },
                    _ => false,
                })
        })
    }
}

/// Events between `since` and `until` (nanoseconds since the epoch, both
/// inclusive) that pass `filter`, from `offset` on in the log; returns them
/// and the offset after the last whole line read (to follow the log).
pub fn read(
    root: &Path,
    offset: u64,
    since: Option<i128>,
    until: Option<i128>,
    filter: &Filter,
) -> Result<(Vec<Value>, u64), EventsError> {
    let path = log_path(root);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(source) => return Err(EventsError::Read { path, source }),
    };
    let mut r = std::io::BufReader::new(file);
    r.seek(std::io::SeekFrom::Start(offset))
        .map_err(|source| EventsError::Read {
            path: path.clone(),
            source,
        })?;
    let mut out = Vec::new();
    let mut pos = offset;
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).map_err(|source| EventsError::Read {
            path: path.clone(),
            source,
        })?;
        if n == 0 || !line.ends_with('\n') {
            // The end, or a line still being written: read it next time.
            break;
        }
        pos += n as u64;
        let Ok(ev) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let t = ev["timeNano"].as_i64().unwrap_or(0) as i128;
        if since.is_some_and(|s| t < s) || until.is_some_and(|u| t > u) {
            continue;
        }
        if filter.matches(&ev) {
            out.push(ev);
        }
    }
    Ok((out, pos))
}

/// docker's line for an event:
/// `2024-01-02T03:04:05.000000006Z container start ID (image=bb, name=x)`.
pub fn human(ev: &Value) -> String {
    let nanos = ev["timeNano"].as_i64().unwrap_or(0);
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let base = crate::store::rfc3339(secs, 0);
    let t = format!("{}.{frac:09}Z", base.trim_end_matches('Z'));
    let attrs: Vec<String> = ev["Actor"]["Attributes"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{t} {} {} {} ({})",
        ev["Type"].as_str().unwrap_or(""),
        ev["Action"].as_str().unwrap_or(""),
        ev["Actor"]["ID"].as_str().unwrap_or(""),
        attrs.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_read_filter() {
        let root = std::env::temp_dir().join(format!("berth-events-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        record(
            &root,
            "container",
            "create",
            "abc",
            &[("name", "web".into()), ("image", "bb".into())],
        );
        record(
            &root,
            "container",
            "start",
            "abc",
            &[("name", "web".into()), ("image", "bb".into())],
        );
        record(
            &root,
            "volume",
            "create",
            "v1",
            &[("driver", "local".into())],
        );
        let all = Filter::default();
        let (evs, off) = read(&root, 0, None, None, &all).unwrap();
        assert_eq!(evs.len(), 3);
        assert_eq!(off, std::fs::metadata(log_path(&root)).unwrap().len());
        let f = Filter::parse(&["container=web".into(), "event=start".into()]).unwrap();
        let (evs, _) = read(&root, 0, None, None, &f).unwrap();
        assert_eq!(evs.len(), 1);
        assert!(human(&evs[0]).contains(" container start abc (image=bb, name=web)"));
        let f = Filter::parse(&["type=volume".into()]).unwrap();
        assert_eq!(read(&root, 0, None, None, &f).unwrap().0.len(), 1);
        // Nothing new after the offset; since in the future: nothing.
        assert!(read(&root, off, None, None, &all).unwrap().0.is_empty());
        assert!(read(&root, 0, Some(i128::MAX), None, &all)
            .unwrap()
            .0
            .is_empty());
        assert!(Filter::parse(&["bogus=1".into()]).is_err());
        let _ = std::fs::remove_dir_all(&root);
    }
}
