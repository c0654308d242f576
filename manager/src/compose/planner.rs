//! The planner: a pure function from the wanted model and the observed
//! containers to the actions that converge them. No containers are touched
//! here; the engine carries the plan out.

use crate::compose::error::{ComposeError, Result};
use crate::compose::model::{Project, Service};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// compose's labels.
pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const LABEL_DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const LABEL_IMAGE: &str = "com.docker.compose.image";
pub const LABEL_VERSION: &str = "com.docker.compose.version";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";
/// The compose version berth's labels claim to be compatible with.
pub const COMPOSE_VERSION: &str = "2.26.1";

/// The services in an order where each comes after its dependencies; a cycle
/// is an error naming it.
pub fn order(services: &BTreeMap<String, Service>) -> Result<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    fn visit(
        n: &str,
        services: &BTreeMap<String, Service>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<()> {
        match marks.get(n).copied().unwrap_or(Mark::New) {
            Mark::Done => return Ok(()),
            Mark::Visiting => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].to_vec();
                cycle.push(n.to_string());
                return Err(ComposeError::Cycle(cycle.join(" -> ")));
            }
            Mark::New => {}
        }
        marks.insert(n.to_string(), Mark::Visiting);
        stack.push(n.to_string());
        if let Some(s) = services.get(n) {
            for d in s.dependencies() {
                if services.contains_key(&d) {
                    visit(&d, services, marks, stack, out)?;
                }
            }
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        out.push(n.to_string());
        Ok(())
    }
    let mut marks = BTreeMap::new();
    let mut out = Vec::new();
    for n in services.keys() {
        visit(n, services, &mut marks, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}

/// The service plus everything it depends on, transitively.
pub fn with_dependencies(project: &Project, roots: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut queue: Vec<String> = roots.to_vec();
    while let Some(n) = queue.pop() {
        if !out.insert(n.clone()) {
            continue;
        }
        if let Some(s) = project.services.get(&n) {
            queue.extend(s.dependencies());
        }
    }
    out
}

/// compose's config hash: a digest of the service's resolved configuration,
/// leaving out what does not need a new container (the replica count).
pub fn config_hash(svc: &Service) -> String {
    let mut s = svc.clone();
    s.scale = None;
    if let Some(d) = s.deploy.as_mut() {
        d.replicas = None;
    }
    // Serialization of the model cannot fail (plain data, string keys).
    let json = serde_json::to_vec(&s).unwrap_or_default();
    hex(&Sha256::digest(&json))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The name of replica `n` of a service: `project-service-n`, or the
/// service's `container_name`.
pub fn container_name(project: &str, service: &str, svc: &Service, n: u32) -> String {
    match &svc.container_name {
        Some(c) => c.clone(),
        None => format!("{project}-{service}-{n}"),
    }
}

/// A container of the project as found in the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    pub config_hash: String,
    /// The image the container runs (its id), and the one its image
    /// reference now resolves to; a difference needs a new container.
    pub image_id: String,
    pub running: bool,
    pub oneoff: bool,
}

#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub remove_orphans: bool,
    /// `--scale service=n`.
    pub scale: BTreeMap<String, usize>,
    /// The services named on the command line (empty: all).
    pub services: Vec<String>,
    pub no_deps: bool,
    /// Per service: the id its image reference resolves to now (when known).
    pub image_ids: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A new container for replica `number`.
    Create { number: u32, name: String },
    /// Remove the container and create replica `number` anew.
    Recreate {
        id: String,
        number: u32,
        name: String,
        reason: String,
    },
    /// Start an existing, unchanged, stopped container.
    Start { id: String, name: String },
    /// Running and unchanged.
    Keep { id: String, name: String },
    /// Unchanged, but a dependency it declares `restart: true` on is
    /// recreated: stop and start it again after that dependency.
    Restart { id: String, name: String },
    /// Scale down, or an orphan with `--remove-orphans`.
    Remove { id: String, name: String },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Services in dependency order, each with its actions.
    pub services: Vec<(String, Vec<Action>)>,
    /// Containers of services no longer in the model (removed with
    /// `--remove-orphans`, else reported).
    pub orphans: Vec<Action>,
    pub remove_orphans: bool,
}

/// What `up` must do.
pub fn plan_up(project: &Project, observed: &[Observed], opts: &UpOptions) -> Result<Plan> {
    let all = order(&project.services)?;
    let selected: BTreeSet<String> = if opts.services.is_empty() {
        all.iter().cloned().collect()
    } else if opts.no_deps {
        opts.services.iter().cloned().collect()
    } else {
        with_dependencies(project, &opts.services)
    };
    for s in &opts.services {
        if !project.services.contains_key(s) {
            return Err(ComposeError::Invalid(format!("no such service: {s}")));
        }
    }
    let mut plan = Plan {
        remove_orphans: opts.remove_orphans,
        ..Plan::default()
    };
    for name in all.iter().filter(|n| selected.contains(*n)) {
        let svc = &project.services[name];
        let wanted = opts
            .scale
            .get(name)
            .copied()
            .unwrap_or_else(|| svc.replicas());
        let hash = config_hash(svc);
        let mut mine: Vec<&Observed> = observed
            .iter()
            .filter(|o| &o.service == name && !o.oneoff)
            .collect();
        mine.sort_by_key(|o| o.number);
        let mut actions = Vec::new();
        // Keep the lowest numbers, remove the rest.
        let (keep, extra) = mine.split_at(mine.len().min(wanted));
        for o in keep {
            let image_changed = opts
                .image_ids
                .get(name)
                .is_some_and(|id| !o.image_id.is_empty() && *id != o.image_id);
            let reason = if opts.force_recreate {
                Some("--force-recreate".to_string())
            } else if opts.no_recreate {
                None
            } else if o.config_hash != hash {
                Some("configuration changed".to_string())
            } else if image_changed {
                Some("image changed".to_string())
            } else {
                None
            };
            actions.push(match reason {
                Some(reason) => Action::Recreate {
                    id: o.id.clone(),
                    number: o.number,
                    name: container_name(&project.name, name, svc, o.number),
                    reason,
                },
                None if o.running => Action::Keep {
                    id: o.id.clone(),
                    name: o.name.clone(),
                },
                None => Action::Start {
                    id: o.id.clone(),
                    name: o.name.clone(),
                },
            });
        }
        // New replicas take the lowest free numbers.
        let used: BTreeSet<u32> = keep.iter().map(|o| o.number).collect();
        let mut n = 1u32;
        for _ in keep.len()..wanted {
            while used.contains(&n)
                || actions
                    .iter()
                    .any(|a| matches!(a, Action::Create { number, .. } if *number == n))
            {
                n += 1;
            }
            actions.push(Action::Create {
                number: n,
                name: container_name(&project.name, name, svc, n),
            });
        }
        for o in extra.iter().rev() {
            actions.push(Action::Remove {
                id: o.id.clone(),
                name: o.name.clone(),
            });
        }
        // `depends_on.<dep>.restart: true`: restart when the dependency is
        // recreated.
        let updated = |dep: &str| {
            plan.services.iter().any(|(n, acts)| {
                n == dep && acts.iter().any(|a| matches!(a, Action::Recreate { .. }))
            })
        };
        if svc.depends_on.iter().any(|(d, c)| c.restart && updated(d)) {
            for a in actions.iter_mut() {
                if let Action::Keep { id, name } = a {
                    *a = Action::Restart {
                        id: id.clone(),
                        name: name.clone(),
                    };
                }
            }
        }
        plan.services.push((name.clone(), actions));
    }
    for o in observed {
        if !o.oneoff
            && !project.services.contains_key(&o.service)
            && !project.disabled.contains_key(&o.service)
        {
            plan.orphans.push(Action::Remove {
                id: o.id.clone(),
                name: o.name.clone(),
            });
        }
    }
    Ok(plan)
}

/// `down`'s order: groups of services that can stop in parallel, dependents
/// before their dependencies.
pub fn stop_levels(project: &Project, services: &BTreeSet<String>) -> Vec<Vec<String>> {
    // Depth of each service from the leaves of the dependency graph: a
    // service stops after everything that depends on it.
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (n, s) in &project.services {
        for d in s.dependencies() {
            if let Some((k, _)) = project.services.get_key_value(&d) {
                dependents.entry(k.as_str()).or_default().push(n.as_str());
            }
        }
    }
    fn depth<'a>(
        n: &'a str,
        dependents: &BTreeMap<&'a str, Vec<&'a str>>,
        memo: &mut BTreeMap<&'a str, usize>,
        guard: usize,
    ) -> usize {
        if let Some(d) = memo.get(n) {
            return *d;
        }
        // The loader rejects cycles; the guard only bounds a bad input.
        if guard > 10_000 {
            return 0;
        }
        let d = dependents
            .get(n)
            .map(|ds| {
                ds.iter()
                    .map(|x| depth(x, dependents, memo, guard + 1) + 1)
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        memo.insert(n, d);
        d
    }
    let mut memo = BTreeMap::new();
    let mut levels: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for n in project.services.keys().filter(|n| services.contains(*n)) {
        levels
            .entry(depth(n, &dependents, &mut memo, 0))
            .or_default()
            .push(n.clone());
    }
    levels.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Dependency;

    fn svc(deps: &[&str]) -> Service {
        Service {
            image: Some("img".into()),
            depends_on: deps
                .iter()
                .map(|d| {
                    (
                        d.to_string(),
                        Dependency {
                            condition: "service_started".into(),
                            restart: false,
                            required: true,
                        },
                    )
                })
                .collect(),
            ..Service::default()
        }
    }

    fn project(defs: &[(&str, &[&str])]) -> Project {
        Project {
            name: "p".into(),
            services: defs.iter().map(|(n, d)| (n.to_string(), svc(d))).collect(),
            ..Project::default()
        }
    }

    fn obs(service: &str, n: u32, hash: &str, running: bool) -> Observed {
        Observed {
            id: format!("{service}{n}"),
            name: format!("p-{service}-{n}"),
            service: service.into(),
            number: n,
            config_hash: hash.into(),
            image_id: "sha256:i".into(),
            running,
            oneoff: false,
        }
    }

    #[test]
    fn order_puts_dependencies_first() {
        let p = project(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
            ("client", &["web"]),
        ]);
        let o = order(&p.services).unwrap();
        let idx = |n: &str| o.iter().position(|x| x == n).unwrap();
        assert!(
            idx("db") < idx("cache") && idx("cache") < idx("web") && idx("web") < idx("client")
        );
    }

    #[test]
    fn cycle_is_named() {
        let p = project(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        assert_eq!(
            order(&p.services).unwrap_err().to_string(),
            "dependency cycle between services: a -> b -> c -> a"
        );
    }

    #[test]
    fn fresh_project_creates_everything() {
        let p = project(&[("web", &["db"]), ("db", &[])]);
        let plan = plan_up(&p, &[], &UpOptions::default()).unwrap();
        assert_eq!(
            plan.services,
            vec![
                (
                    "db".to_string(),
                    vec![Action::Create {
                        number: 1,
                        name: "p-db-1".into()
                    }]
                ),
                (
                    "web".to_string(),
                    vec![Action::Create {
                        number: 1,
                        name: "p-web-1".into()
                    }]
                ),
            ]
        );
    }

    #[test]
    fn converge_keeps_unchanged_recreates_changed() {
        let mut p = project(&[("web", &["db"]), ("db", &[])]);
        let db_hash = config_hash(&p.services["db"]);
        let old_web_hash = config_hash(&p.services["web"]);
        p.services
            .get_mut("web")
            .unwrap()
            .environment
            .insert("A".into(), Some("1".into()));
        let observed = vec![
            obs("db", 1, &db_hash, true),
            obs("web", 1, &old_web_hash, true),
        ];
        let plan = plan_up(&p, &observed, &UpOptions::default()).unwrap();
        assert_eq!(
            plan.services[0].1,
            vec![Action::Keep {
                id: "db1".into(),
                name: "p-db-1".into()
            }]
        );
        assert!(
            matches!(&plan.services[1].1[0], Action::Recreate { reason, .. } if reason == "configuration changed")
        );
        // --no-recreate keeps it; --force-recreate recreates even db.
        let plan = plan_up(
            &p,
            &observed,
            &UpOptions {
                no_recreate: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(matches!(&plan.services[1].1[0], Action::Keep { .. }));
        let plan = plan_up(
            &p,
            &observed,
            &UpOptions {
                force_recreate: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(matches!(&plan.services[0].1[0], Action::Recreate { .. }));
    }

    #[test]
    fn stopped_unchanged_is_started_and_image_change_recreates() {
        let p = project(&[("db", &[])]);
        let h = config_hash(&p.services["db"]);
        let plan = plan_up(&p, &[obs("db", 1, &h, false)], &UpOptions::default()).unwrap();
        assert_eq!(
            plan.services[0].1,
            vec![Action::Start {
                id: "db1".into(),
                name: "p-db-1".into()
            }]
        );
        let mut o = UpOptions::default();
        o.image_ids.insert("db".into(), "sha256:new".into());
        let plan = plan_up(&p, &[obs("db", 1, &h, true)], &o).unwrap();
        assert!(
            matches!(&plan.services[0].1[0], Action::Recreate { reason, .. } if reason == "image changed")
        );
    }

    #[test]
    fn scale_up_and_down() {
        let p = project(&[("w", &[])]);
        let h = config_hash(&p.services["w"]);
        let mut o = UpOptions::default();
        o.scale.insert("w".into(), 3);
        let plan = plan_up(&p, &[obs("w", 2, &h, true)], &o).unwrap();
        assert_eq!(
            plan.services[0].1,
            vec![
                Action::Keep {
                    id: "w2".into(),
                    name: "p-w-2".into()
                },
                Action::Create {
                    number: 1,
                    name: "p-w-1".into()
                },
                Action::Create {
                    number: 3,
                    name: "p-w-3".into()
                },
            ]
        );
        o.scale.insert("w".into(), 1);
        let plan = plan_up(
            &p,
            &[
                obs("w", 1, &h, true),
                obs("w", 2, &h, true),
                obs("w", 3, &h, true),
            ],
            &o,
        )
        .unwrap();
        assert_eq!(
            plan.services[0].1,
            vec![
                Action::Keep {
                    id: "w1".into(),
                    name: "p-w-1".into()
                },
                Action::Remove {
                    id: "w3".into(),
                    name: "p-w-3".into()
                },
                Action::Remove {
                    id: "w2".into(),
                    name: "p-w-2".into()
                },
            ]
        );
    }

    #[test]
    fn replica_count_is_not_in_the_hash() {
        let mut a = svc(&[]);
        let h = config_hash(&a);
        a.scale = Some(4);
        assert_eq!(config_hash(&a), h);
        a.image = Some("other".into());
        assert_ne!(config_hash(&a), h);
    }

    #[test]
    fn orphans_and_selected_services() {
        let p = project(&[("web", &["db"]), ("db", &[]), ("other", &[])]);
        let plan = plan_up(
            &p,
            &[obs("gone", 1, "x", true)],
            &UpOptions {
                services: vec!["web".into()],
                ..Default::default()
            },
        )
        .unwrap();
        let names: Vec<&str> = plan.services.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["db", "web"]);
        assert_eq!(
            plan.orphans,
            vec![Action::Remove {
                id: "gone1".into(),
                name: "p-gone-1".into()
            }]
        );
        let plan = plan_up(
            &p,
            &[],
            &UpOptions {
                services: vec!["web".into()],
                no_deps: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(plan.services.len(), 1);
        assert!(plan_up(
            &p,
            &[],
            &UpOptions {
                services: vec!["nope".into()],
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn dependents_with_restart_follow_a_recreated_dependency() {
        let mut p = project(&[("web", &["db"]), ("db", &[]), ("other", &["db"])]);
        let hashes: Vec<String> = ["db", "web", "other"]
            .iter()
            .map(|n| config_hash(&p.services[*n]))
            .collect();
        p.services
            .get_mut("web")
            .unwrap()
            .depends_on
            .get_mut("db")
            .unwrap()
            .restart = true;
        let web_hash = config_hash(&p.services["web"]);
        p.services.get_mut("db").unwrap().image = Some("new".into());
        let observed = vec![
            obs("db", 1, &hashes[0], true),
            obs("web", 1, &web_hash, true),
            obs("other", 1, &hashes[2], true),
        ];
        let plan = plan_up(&p, &observed, &UpOptions::default()).unwrap();
        let acts: BTreeMap<&str, &Action> = plan
            .services
            .iter()
            .map(|(n, a)| (n.as_str(), &a[0]))
            .collect();
        assert!(matches!(acts["db"], Action::Recreate { .. }));
        assert_eq!(
            acts["web"],
            &Action::Restart {
                id: "web1".into(),
                name: "p-web-1".into()
            }
        );
        assert!(matches!(acts["other"], Action::Keep { .. }));
    }

    #[test]
    fn stop_levels_reverse_dependencies() {
        let p = project(&[
            ("web", &["db"]),
            ("db", &[]),
            ("client", &["web"]),
            ("solo", &[]),
        ]);
        let all: BTreeSet<String> = p.services.keys().cloned().collect();
        assert_eq!(
            stop_levels(&p, &all),
            vec![
                vec!["client".to_string(), "solo".to_string()],
                vec!["web".to_string()],
                vec!["db".to_string()]
            ]
        );
    }
}
