//! `events`: the project's container events (create, start, die, pause,
//! unpause, health_status, destroy), found by watching the containers' state
//! (berth has no daemon to publish them).

use crate::compose::error::Result;
use crate::compose::observe;
use crate::context::Context;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub time: String,
    pub action: String,
    pub id: String,
    pub service: String,
    pub name: String,
    pub image: String,
}

impl Event {
    pub fn text(&self) -> String {
        format!(
            "{} container {} {} (image={}, name={})",
            self.time, self.action, self.id, self.image, self.name
        )
    }

    pub fn json(&self) -> String {
        serde_json::json!({
            "time": self.time,
            "type": "container",
            "action": self.action,
            "id": self.id,
            "service": self.service,
            "attributes": {"name": self.name, "image": self.image},
        })
        .to_string()
    }
}

#[derive(Clone, PartialEq)]
struct Seen {
    state: String,
    health: Option<String>,
    service: String,
    name: String,
    image: String,
}

fn now() -> String {
    crate::store::now_rfc3339()
}

/// The events between two observations.
fn diff(before: &BTreeMap<String, Seen>, after: &BTreeMap<String, Seen>) -> Vec<Event> {
    let t = now();
    let mut out = Vec::new();
    let ev = |action: &str, id: &str, s: &Seen| Event {
        time: t.clone(),
        action: action.to_string(),
        id: id.to_string(),
        service: s.service.clone(),
        name: s.name.clone(),
        image: s.image.clone(),
    };
    for (id, s) in after {
        match before.get(id) {
            None => {
                out.push(ev("create", id, s));
                if s.state == "running" {
                    out.push(ev("start", id, s));
                }
            }
            Some(b) => {
                match (b.state.as_str(), s.state.as_str()) {
                    (x, y) if x == y => {}
                    ("paused", "running") => out.push(ev("unpause", id, s)),
                    (_, "paused") => out.push(ev("pause", id, s)),
                    (_, "running") => out.push(ev("start", id, s)),
                    ("running", _) | ("paused", _) | ("restarting", _) => {
                        out.push(ev("die", id, s))
                    }
                    _ => {}
                }
                if b.health != s.health {
                    if let Some(h) = &s.health {
                        out.push(ev(&format!("health_status: {h}"), id, s));
                    }
                }
            }
        }
    }
    for (id, s) in before {
        if !after.contains_key(id) {
            out.push(ev("destroy", id, s));
        }
    }
    out
}

fn observe_now(
    ctx: &Context,
    project: &str,
    services: &[String],
) -> Result<BTreeMap<String, Seen>> {
    Ok(observe::members(ctx, project)?
        .into_iter()
        .filter(|m| services.is_empty() || services.contains(&m.service))
        .map(|m| {
            (
                m.rec.id.clone(),
                Seen {
                    state: m.state.clone(),
                    health: m.health.clone(),
                    service: m.service.clone(),
                    name: m.rec.name.clone(),
                    image: m.rec.image_name.clone(),
                },
            )
        })
        .collect())
}

/// Calls `emit` with each event until it returns false.
pub fn watch(
    ctx: &Context,
    project: &str,
    services: &[String],
    mut emit: impl FnMut(&Event) -> bool,
) -> Result<()> {
    let mut before = observe_now(ctx, project, services)?;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let after = observe_now(ctx, project, services)?;
        for e in diff(&before, &after) {
            if !emit(&e) {
                return Ok(());
            }
        }
        before = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(state: &str, health: Option<&str>) -> Seen {
        Seen {
            state: state.into(),
            health: health.map(String::from),
            service: "web".into(),
            name: "p-web-1".into(),
            image: "busybox".into(),
        }
    }

    #[test]
    fn transitions() {
        let a: BTreeMap<String, Seen> =
            [("1".to_string(), seen("running", Some("starting")))].into();
        let b: BTreeMap<String, Seen> = [
            ("1".to_string(), seen("running", Some("healthy"))),
            ("2".to_string(), seen("created", None)),
        ]
        .into();
        let acts: Vec<String> = diff(&a, &b).into_iter().map(|e| e.action).collect();
        assert_eq!(acts, vec!["health_status: healthy", "create"]);
        let c: BTreeMap<String, Seen> = [("1".to_string(), seen("exited", Some("healthy")))].into();
        let acts: Vec<String> = diff(&b, &c).into_iter().map(|e| e.action).collect();
        assert_eq!(acts, vec!["die", "destroy"]);
        let e = &diff(&BTreeMap::new(), &a)[1];
        assert_eq!(e.action, "start");
        assert!(
            e.text()
                .ends_with("container start 1 (image=busybox, name=p-web-1)"),
            "{}",
            e.text()
        );
    }
}
