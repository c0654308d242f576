//! What exists of a project: its containers, found by compose's labels in
//! berth's container store, with their live state.

use crate::compose::error::{ComposeError, Result};
use crate::compose::planner::{self, Observed};
use crate::container::{self, ContainerRecord, ContainerStore};
use crate::context::Context;
use std::collections::BTreeMap;

/// One container of a project.
#[derive(Clone, Debug)]
pub struct Member {
    pub rec: ContainerRecord,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
    /// docker's state word: created, running, paused, restarting, exited, dead.
    pub state: String,
    pub running: bool,
    /// healthy, unhealthy, starting; None without a healthcheck.
    pub health: Option<String>,
    pub exit_code: i32,
    /// `ps`'s STATUS column ("Up 3 seconds (healthy)").
    pub status: String,
}

impl Member {
    pub fn label(&self, k: &str) -> Option<&str> {
        self.rec.config.labels.get(k).map(String::as_str)
    }

    pub fn observed(&self) -> Observed {
        Observed {
            id: self.rec.id.clone(),
            name: self.rec.name.clone(),
            service: self.service.clone(),
            number: self.number,
            config_hash: self
                .label(planner::LABEL_CONFIG_HASH)
                .unwrap_or_default()
                .to_string(),
            image_id: self.rec.image.clone(),
            running: self.running,
            oneoff: self.oneoff,
        }
    }
}

pub fn member(ctx: &Context, rec: ContainerRecord) -> Result<Member> {
    // (Infallible now: the state of a record is computed from files.)
    let st = container::state(ctx, &rec);
    let labels = &rec.config.labels;
    let health = st
        .health
        .as_ref()
        .map(|h| h.status.clone())
        .filter(|s| !s.is_empty() && s != "none");
    Ok(Member {
        service: labels
            .get(planner::LABEL_SERVICE)
            .cloned()
            .unwrap_or_default(),
        number: labels
            .get(planner::LABEL_NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        oneoff: labels.get(planner::LABEL_ONEOFF).map(String::as_str) == Some("True"),
        state: st.status.to_string(),
        running: st.running,
        health,
        exit_code: st.exit_code,
        status: container::human_status(&st),
        rec,
    })
}

/// The containers of project `name`, by service then replica number.
pub fn members(ctx: &Context, name: &str) -> Result<Vec<Member>> {
    Ok(all_projects(ctx)?.remove(name).unwrap_or_default())
}

/// Every compose project that has containers, by name.
pub fn all_projects(ctx: &Context) -> Result<BTreeMap<String, Vec<Member>>> {
    let store = ContainerStore::open(ctx).map_err(|e| ComposeError::Container(e.to_string()))?;
    let mut out: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for rec in store
        .list()
        .map_err(|e| ComposeError::Container(e.to_string()))?
    {
        let Some(p) = rec.config.labels.get(planner::LABEL_PROJECT).cloned() else {
            continue;
        };
        // A container removed while we looked is simply not there.
        if let Ok(m) = member(ctx, rec) {
            out.entry(p).or_default().push(m);
        }
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| {
            (a.oneoff, &a.service, a.number, &a.rec.name).cmp(&(
                b.oneoff,
                &b.service,
                b.number,
                &b.rec.name,
            ))
        });
    }
    Ok(out)
}

/// Whether the container runs now (false when it is gone).
pub fn running(ctx: &Context, rec: &ContainerRecord) -> bool {
    container::state(ctx, rec).running
}
