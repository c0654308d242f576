//! The engine: carries out the planner's actions through the container
//! library. Every service runs in its own thread and starts as soon as its
//! dependencies' conditions hold; `down` stops dependents before their
//! dependencies, each group in parallel, each container with its own stop
//! signal and grace period.

use crate::compose::create::{self, Replica};
use crate::compose::error::{ComposeError, Result};
use crate::compose::model::Project;
use crate::compose::observe::{self, Member};
use crate::compose::planner::{self, Action, Plan, UpOptions};
use crate::container::{self, ContainerStore, LifecycleError, RemoveOptions, Signal, StartMode};
use crate::context::Context;
use crate::volume::VolumeStore;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

impl From<LifecycleError> for ComposeError {
    fn from(e: LifecycleError) -> ComposeError {
        ComposeError::Container(e.to_string())
    }
}

fn vol_err(e: crate::volume::VolumeError) -> ComposeError {
    ComposeError::Container(e.to_string())
}

use crate::compose::progress::line as progress;

/// How often dependency conditions are checked: well under a healthcheck's
/// 1 s interval, cheap (one status file read per container).
const POLL: Duration = Duration::from_millis(25);

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Pending,
    /// Its containers (names) were started (or kept running).
    Started(Vec<String>),
    Failed(String),
}

/// Where every service's thread publishes its progress.
struct Board {
    phases: Mutex<BTreeMap<String, Phase>>,
    cv: Condvar,
}

impl Board {
    fn set(&self, service: &str, p: Phase) {
        if let Ok(mut m) = self.phases.lock() {
            m.insert(service.to_string(), p);
        }
        self.cv.notify_all();
    }

    /// Waits until `service` is no longer pending.
    fn wait(&self, service: &str) -> Phase {
        let Ok(mut m) = self.phases.lock() else {
            return Phase::Failed("internal lock poisoned".into());
        };
        loop {
            match m.get(service) {
                Some(Phase::Pending) => {}
                Some(p) => return p.clone(),
                // Not part of this run (`--no-deps`, or not selected).
                None => return Phase::Started(Vec::new()),
            }
            m = match self.cv.wait(m) {
                Ok(g) => g,
                Err(_) => return Phase::Failed("internal lock poisoned".into()),
            };
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct UpFlags {
    pub plan: UpOptions,
    /// `create`: make the containers, start nothing.
    pub no_start: bool,
    /// `--wait`: return once every container is running and healthy.
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    /// `-t`: grace period when recreating.
    pub timeout: Option<Duration>,
    /// `--pull always|missing|never`.
    pub pull: Option<String>,
    /// `--build`: build images of services that build, even when stored.
    pub build: bool,
    /// `--no-build`: never build (a missing image is an error).
    pub no_build: bool,
    pub build_flags: crate::compose::build::BuildFlags,
}

fn open_store(ctx: &Context) -> Result<ContainerStore> {
    ContainerStore::open(ctx).map_err(|e| ComposeError::Container(e.to_string()))
}

/// Creates the project's named volumes (external ones must exist).
pub fn ensure_volumes(ctx: &Context, project: &Project) -> Result<()> {
    let store = VolumeStore::open(ctx).map_err(vol_err)?;
    for (key, v) in &project.volumes {
        if v.external {
            if store.get(&v.name).map_err(vol_err)?.is_none() {
                return Err(ComposeError::Invalid(format!(
                    "external volume \"{}\" not found (volumes.{key})",
                    v.name
                )));
            }
            continue;
        }
        if store.get(&v.name).map_err(vol_err)?.is_some() {
            continue;
        }
        let mut labels = v.labels.clone();
        labels.insert(planner::LABEL_PROJECT.into(), project.name.clone());
        labels.insert(planner::LABEL_VOLUME.into(), key.clone());
        labels.insert(
            planner::LABEL_VERSION.into(),
            planner::COMPOSE_VERSION.into(),
        );
        store
            .create_with_driver(
                Some(&v.name),
                v.driver.as_deref().unwrap_or("local"),
                labels,
                v.driver_opts.clone(),
                false,
            )
            .map_err(vol_err)?;
        progress("✔", &format!("Volume \"{}\"", v.name), "Created");
    }
    Ok(())
}

/// Stops (with its own signal and grace, or `timeout`) and removes one
/// container.
fn stop_remove(
    ctx: &Context,
    store: &ContainerStore,
    id: &str,
    timeout: Option<Duration>,
    volumes: bool,
) -> Result<()> {
    let l = match container::lock(store, id) {
        Ok(l) => l,
        Err(LifecycleError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    container::stop(ctx, &l, timeout, None)?;
    container::remove(
        ctx,
        l,
        RemoveOptions {
            force: true,
            volumes,
        },
    )?;
    Ok(())
}

fn start_id(ctx: &Context, store: &ContainerStore, id: &str) -> Result<()> {
    let l = container::lock(store, id)?;
    if container::state(ctx, &l).running {
        return Ok(());
    }
    container::start(ctx, &l, StartMode::Now)?;
    Ok(())
}

/// Waits for `dep`'s condition for `service`.
fn wait_condition(
    ctx: &Context,
    store: &ContainerStore,
    board: &Board,
    service: &str,
    dep: &str,
    cond: &str,
    deadline: Option<Instant>,
) -> Result<()> {
    let names = match board.wait(dep) {
        Phase::Started(n) => n,
        Phase::Failed(why) => {
            return Err(ComposeError::Invalid(format!(
                "service {service:?} depends on {dep:?}, which failed: {why}"
            )))
        }
        Phase::Pending => Vec::new(),
    };
    if cond == "service_started" || names.is_empty() {
        return Ok(());
    }
    loop {
        let mut done = true;
        for n in &names {
            let rec = store
                .resolve(n)
                .map_err(|e| ComposeError::Container(e.to_string()))?;
            let st = container::state(ctx, &rec);
            match cond {
                "service_healthy" => {
                    let health = st.health.as_ref().map(|h| h.status.clone());
                    match health.as_deref() {
                        Some("healthy") => {}
                        Some("unhealthy") => {
                            return Err(ComposeError::Invalid(format!("dependency failed to start: container {n} is unhealthy (service {service:?} needs {dep:?} healthy)")))
                        }
                        None if st.running && rec.config.healthcheck.is_none() => {
                            return Err(ComposeError::Invalid(format!("service {service:?} waits for {dep:?} to be healthy, but {dep:?} has no healthcheck")))
                        }
                        _ if !st.running => {
                            return Err(ComposeError::Invalid(format!("dependency failed to start: container {n} exited ({}) before it was healthy (service {service:?} needs {dep:?} healthy)", st.exit_code)))
                        }
                        _ => done = false,
                    }
                }
                _ => {
                    if st.running {
                        done = false;
                    } else if st.exit_code != 0 {
                        return Err(ComposeError::Invalid(format!(
                            "service {dep:?} didn't complete successfully: exit {} (service {service:?} needs it)",
                            st.exit_code
                        )));
                    }
                }
            }
        }
        if done {
            if cond == "service_healthy" {
                for n in &names {
                    progress("✔", &format!("Container {n}"), "Healthy");
                }
            }
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(ComposeError::Invalid(format!(
                "timed out waiting for {dep:?} ({cond}) for service {service:?}"
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// The container names of services a service shares namespaces with
/// (`network_mode`/`pid`/`ipc: service:x`) or takes volumes from (`volumes_from`): a
/// running one first, else any (a stopped data container still has volumes).
fn peers(ctx: &Context, project: &Project) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let members = observe::members(ctx, &project.name)?;
    for m in members.iter().filter(|m| !m.oneoff) {
        if m.running {
            out.insert(m.service.clone(), m.rec.name.clone());
        } else {
            out.entry(m.service.clone())
                .or_insert_with(|| m.rec.name.clone());
        }
    }
    Ok(out)
}

/// What every service's thread of one `up` shares.
struct UpRun<'a> {
    ctx: &'a Context,
    project: &'a Project,
    flags: &'a UpFlags,
    board: &'a Board,
    env: &'a BTreeMap<String, String>,
    deadline: Option<Instant>,
}

/// Creates (and with `start`, starts) one replica; its name and id.
fn create_replica(
    run: &UpRun,
    store: &ContainerStore,
    service: &str,
    number: u32,
    start: bool,
) -> Result<(String, String)> {
    let (ctx, project, env) = (run.ctx, run.project, run.env);
    let pull = run.flags.pull.as_deref();
    let peers = peers(ctx, project)?;
    let rep = Replica {
        project,
        service,
        number,
        oneoff: None,
        peers: &peers,
    };
    let mut opts = create::options(ctx, &rep, env)?;
    if let Some(p) = pull {
        if let container::ImageSource::Ref(r, _) = &opts.image {
            let policy = match p {
                "always" => container::PullPolicy::Always,
                "never" => container::PullPolicy::Never,
                "missing" => container::PullPolicy::Missing,
                other => {
                    return Err(ComposeError::Invalid(format!(
                        "invalid --pull {other:?} (always, missing or never)"
                    )))
                }
            };
            opts.image = container::ImageSource::Ref(r.clone(), policy);
        }
    }
    let name = opts.name.clone().unwrap_or_default();
    progress("⠿", &format!("Container {name}"), "Creating");
    let (rec, image) = container::create(ctx, opts)?;
    progress("✔", &format!("Container {name}"), "Created");
    if start {
        let l = container::lock(store, &rec.id)?;
        container::start_with_image(ctx, &l, StartMode::Now, Some(image))?;
        progress("✔", &format!("Container {name}"), "Started");
    }
    Ok((name, rec.id))
}

/// One service's part of `up`.
fn up_service(run: &UpRun, service: &str, actions: &[Action]) -> Result<Vec<String>> {
    let (ctx, project, flags, board, deadline) =
        (run.ctx, run.project, run.flags, run.board, run.deadline);
    let store = open_store(ctx)?;
    let svc = &project.services[service];
    // Scale-down first, then wait for dependencies.
    for a in actions {
        if let Action::Remove { id, name } = a {
            progress("⠿", &format!("Container {name}"), "Removing");
            stop_remove(ctx, &store, id, flags.timeout, false)?;
            progress("✔", &format!("Container {name}"), "Removed");
        }
    }
    // docker compose creates a service's containers before it waits for the
    // dependencies (a failed one leaves them `created`); a service that joins or
    // reads another's container (network_mode/pid/ipc service:, volumes_from, links)
    // needs that container first, so it waits before creating.
    let early = ![&svc.network_mode, &svc.pid, &svc.ipc]
        .iter()
        .any(|m| m.as_deref().is_some_and(|m| m.starts_with("service:")))
        && svc.volumes_from.is_empty()
        && svc.links.is_empty();
    let mut made: BTreeMap<usize, (String, String)> = BTreeMap::new();
    if early {
        for (i, a) in actions.iter().enumerate() {
            match a {
                Action::Create { number, .. } => {
                    made.insert(i, create_replica(run, &store, service, *number, false)?);
                }
                Action::Recreate {
                    id, number, name, ..
                } => {
                    progress("⠿", &format!("Container {name}"), "Recreate");
                    stop_remove(ctx, &store, id, flags.timeout, false)?;
                    progress("✔", &format!("Container {name}"), "Recreated");
                    made.insert(i, create_replica(run, &store, service, *number, false)?);
                }
                _ => {}
            }
        }
    }
    if !flags.no_start {
        for (dep, c) in &svc.depends_on {
            if let Err(e) = wait_condition(ctx, &store, board, service, dep, &c.condition, deadline)
            {
                if c.required {
                    return Err(e);
                }
                eprintln!("WARN[0000] optional dependency {dep:?} of {service:?}: {e}");
            }
        }
        // `links` and `network_mode: service:x` need their service started.
        for dep in svc.dependencies() {
            if !svc.depends_on.contains_key(&dep) {
                wait_condition(
                    ctx,
                    &store,
                    board,
                    service,
                    &dep,
                    "service_started",
                    deadline,
                )?;
            }
        }
    }
    let start = !flags.no_start;
    let mut names = Vec::new();
    for (i, a) in actions.iter().enumerate() {
        if let Some((name, id)) = made.remove(&i) {
            if start {
                start_id(ctx, &store, &id)?;
                progress("✔", &format!("Container {name}"), "Started");
            }
            names.push(name);
            continue;
        }
        match a {
            Action::Keep { name, .. } => {
                progress("✔", &format!("Container {name}"), "Running");
                names.push(name.clone());
            }
            Action::Restart { id, name } => {
                if start {
                    let l = container::lock(&store, id)?;
                    container::stop(ctx, &l, flags.timeout, None)?;
                    container::start(ctx, &l, StartMode::Now)?;
                    progress("✔", &format!("Container {name}"), "Restarted");
                }
                names.push(name.clone());
            }
            Action::Start { id, name } => {
                if start {
                    start_id(ctx, &store, id)?;
                    progress("✔", &format!("Container {name}"), "Started");
                }
                names.push(name.clone());
            }
            Action::Create { number, .. } => {
                names.push(create_replica(run, &store, service, *number, start)?.0);
            }
            Action::Recreate {
                id, number, name, ..
            } => {
                progress("⠿", &format!("Container {name}"), "Recreate");
                stop_remove(ctx, &store, id, flags.timeout, false)?;
                progress("✔", &format!("Container {name}"), "Recreated");
                names.push(create_replica(run, &store, service, *number, start)?.0);
            }
            Action::Remove { .. } => {}
        }
    }
    Ok(names)
}

/// `up` (and `create`): converges the project; returns the names of its
/// containers by service.
pub fn up(
    ctx: &Context,
    project: &Project,
    flags: &UpFlags,
) -> Result<BTreeMap<String, Vec<String>>> {
    let observed: Vec<_> = observe::members(ctx, &project.name)?
        .iter()
        .map(Member::observed)
        .collect();
    let mut plan_opts = flags.plan.clone();
    // Images first: build what must be built, and note each service's image
    // id (a changed image recreates the containers).
    let selected = planner::plan_up(project, &observed, &flags.plan)?;
    for (service, _) in &selected.services {
        if crate::compose::build::needs_build(ctx, project, service, flags.build)? {
            if flags.no_build {
                return Err(ComposeError::Invalid(format!(
                    "service {service:?} has no image and --no-build was given"
                )));
            }
            crate::compose::build::build_service(ctx, project, service, &flags.build_flags)?;
        }
        let s = &project.services[service];
        if let Ok(Some(img)) = crate::container::image::find(ctx, &project.image_of(service, s)) {
            plan_opts
                .image_ids
                .insert(service.clone(), img.record.config.to_string());
        }
    }
    let plan: Plan = planner::plan_up(project, &observed, &plan_opts)?;
    // Fail early on what cannot be made (before touching anything).
    for (service, _) in &plan.services {
        let s = &project.services[service];
        let mut o = container::CreateOptions::new(container::ImageSource::Id(String::new()));
        o.name = Some(planner::container_name(&project.name, service, s, 1));
        crate::compose::networks::apply(project, service, s, &mut o)?;
    }
    let services: Vec<String> = plan.services.iter().map(|(n, _)| n.clone()).collect();
    crate::compose::networks::ensure(ctx, project, &services)?;
    ensure_volumes(ctx, project)?;
    let store = open_store(ctx)?;
    if !plan.orphans.is_empty() {
        if plan.remove_orphans {
            for o in &plan.orphans {
                if let Action::Remove { id, name } = o {
                    stop_remove(ctx, &store, id, flags.timeout, false)?;
                    progress("✔", &format!("Container {name}"), "Removed");
                }
            }
        } else {
            let names: Vec<String> = plan
                .orphans
                .iter()
                .filter_map(|o| match o {
                    Action::Remove { name, .. } => Some(name.clone()),
                    _ => None,
                })
                .collect();
            eprintln!(
                "WARN[0000] Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(", ")
            );
        }
    }
    let board = Board {
        phases: Mutex::new(
            plan.services
                .iter()
                .map(|(n, _)| (n.clone(), Phase::Pending))
                .collect(),
        ),
        cv: Condvar::new(),
    };
    let env = project.environment.clone();
    let deadline = flags.wait_timeout.map(|t| Instant::now() + t);
    let run = UpRun {
        ctx,
        project,
        flags,
        board: &board,
        env: &env,
        deadline,
    };
    let results: Vec<(String, Result<Vec<String>>)> = std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .services
            .iter()
            .map(|(name, actions)| {
                let (run, board) = (&run, &board);
                let n = name.clone();
                let h = s.spawn(move || {
                    let r = up_service(run, &n, actions);
                    match &r {
                        Ok(names) => board.set(&n, Phase::Started(names.clone())),
                        Err(e) => board.set(&n, Phase::Failed(e.to_string())),
                    }
                    r
                });
                (name.clone(), h)
            })
            .collect();
        handles
            .into_iter()
            .map(|(n, h)| {
                (
                    n,
                    h.join().unwrap_or_else(|_| {
                        Err(ComposeError::Invalid("a service's thread panicked".into()))
                    }),
                )
            })
            .collect()
    });
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (n, r) in results {
        match r {
            Ok(names) => {
                out.insert(n, names);
            }
            Err(e) => errors.push(format!("{n}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(ComposeError::Invalid(errors.join("\n")));
    }
    if flags.wait {
        wait_healthy(ctx, &store, &out, deadline)?;
    }
    Ok(out)
}

/// `--wait`: every container running, and healthy when it has a healthcheck
/// (one-shot containers that exited 0 count as done).
fn wait_healthy(
    ctx: &Context,
    store: &ContainerStore,
    names: &BTreeMap<String, Vec<String>>,
    deadline: Option<Instant>,
) -> Result<()> {
    loop {
        let mut pending = false;
        for (svc, list) in names {
            for n in list {
                let rec = store
                    .resolve(n)
                    .map_err(|e| ComposeError::Container(e.to_string()))?;
                let st = container::state(ctx, &rec);
                let health = st.health.as_ref().map(|h| h.status.clone());
                match (st.running, health.as_deref()) {
                    (true, Some("healthy")) | (true, None) => {}
                    (_, Some("unhealthy")) => {
                        return Err(ComposeError::Invalid(format!(
                            "container {n} (service {svc}) is unhealthy"
                        )))
                    }
                    (false, _) if st.exit_code == 0 => {}
                    (false, _) => {
                        return Err(ComposeError::Invalid(format!(
                            "container {n} (service {svc}) exited ({})",
                            st.exit_code
                        )))
                    }
                    _ => pending = true,
                }
            }
        }
        if !pending {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(ComposeError::Invalid(
                "timed out waiting for the services to be healthy".into(),
            ));
        }
        std::thread::sleep(POLL);
    }
}

#[derive(Clone, Debug, Default)]
pub struct DownOptions {
    /// `-v`: also the project's named volumes and anonymous volumes.
    pub volumes: bool,
    pub remove_orphans: bool,
    pub timeout: Option<Duration>,
    /// `--rmi local|all`.
    pub rmi: Option<String>,
}

/// Groups of containers to stop in turn: dependents before dependencies
/// (from the `depends_on` labels, so `down` works without the files).
pub fn stop_groups(members: &[Member]) -> Vec<Vec<Member>> {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in members {
        let d = deps.entry(m.service.clone()).or_default();
        for dep in m
            .label(planner::LABEL_DEPENDS_ON)
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
        {
            d.insert(dep.split(':').next().unwrap_or(dep).to_string());
        }
    }
    let services: BTreeSet<String> = deps.keys().cloned().collect();
    let fake = Project {
        services: deps
            .iter()
            .map(|(n, ds)| {
                let s = crate::compose::model::Service {
                    depends_on: ds
                        .iter()
                        .filter(|d| services.contains(*d))
                        .map(|d| (d.clone(), crate::compose::model::Dependency::default()))
                        .collect(),
                    ..Default::default()
                };
                (n.clone(), s)
            })
            .collect(),
        ..Project::default()
    };
    planner::stop_levels(&fake, &services)
        .into_iter()
        .map(|level| {
            members
                .iter()
                .filter(|m| level.contains(&m.service))
                .cloned()
                .collect()
        })
        .collect()
}

/// Runs `f` on every member of each group, the members of a group in
/// parallel; the errors of all.
fn in_groups(groups: Vec<Vec<Member>>, f: impl Fn(&Member) -> Result<()> + Sync) -> Result<()> {
    let mut errors = Vec::new();
    for g in groups {
        let errs: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = g
                .iter()
                .map(|m| (m.rec.name.clone(), s.spawn(|| f(m))))
                .collect();
            hs.into_iter()
                .filter_map(|(n, h)| match h.join() {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(format!("{n}: {e}")),
                    Err(_) => Some(format!("{n}: thread panicked")),
                })
                .collect()
        });
        errors.extend(errs);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ComposeError::Invalid(errors.join("\n")))
    }
}

/// `down`: stops and removes the project's containers, its generated files,
/// and with `-v` its volumes.
pub fn down(
    ctx: &Context,
    name: &str,
    project: Option<&Project>,
    opts: &DownOptions,
) -> Result<()> {
    if let Some(r) = &opts.rmi {
        if !matches!(r.as_str(), "local" | "all") {
            return Err(ComposeError::Invalid(format!(
                "invalid --rmi {r:?} (local or all)"
            )));
        }
    }
    let members = observe::members(ctx, name)?;
    let (mine, orphans): (Vec<Member>, Vec<Member>) = members.into_iter().partition(|m| {
        m.oneoff
            || project.is_none_or(|p| {
                p.services.contains_key(&m.service) || p.disabled.contains_key(&m.service)
            })
    });
    if !orphans.is_empty() && !opts.remove_orphans {
        let names: Vec<&str> = orphans.iter().map(|m| m.rec.name.as_str()).collect();
        eprintln!("WARN[0000] Found orphan containers ({}) for this project. To remove them, run down with --remove-orphans.", names.join(", "));
    }
    let mut all = mine;
    if opts.remove_orphans {
        all.extend(orphans);
    }
    // Named before the containers go (their labels say which images are theirs).
    let images = opts
        .rmi
        .as_deref()
        .map(|r| images_to_remove(r == "all", name, project, &all))
        .unwrap_or_default();
    let store = open_store(ctx)?;
    in_groups(stop_groups(&all), |m| {
        progress("⠿", &format!("Container {}", m.rec.name), "Stopping");
        stop_remove(ctx, &store, &m.rec.id, opts.timeout, opts.volumes)?;
        progress("✔", &format!("Container {}", m.rec.name), "Removed");
        Ok(())
    })?;
    if opts.volumes {
        let vs = VolumeStore::open(ctx).map_err(vol_err)?;
        let mut names: BTreeSet<String> = BTreeSet::new();
        if let Some(p) = project {
            names.extend(
                p.volumes
                    .values()
                    .filter(|v| !v.external)
                    .map(|v| v.name.clone()),
            );
        }
        for v in vs.list().map_err(vol_err)? {
            if v.labels.get(planner::LABEL_PROJECT).map(String::as_str) == Some(name) {
                names.insert(v.name.clone());
            }
        }
        for n in names {
            if vs.get(&n).map_err(vol_err)?.is_some() {
                vs.remove(&n, &crate::volume::users(ctx, &n))
                    .map_err(vol_err)?;
                progress("✔", &format!("Volume {n}"), "Removed");
            }
        }
    }
    for n in &images {
        match crate::image::remove::remove(&ctx.root, std::slice::from_ref(n), false) {
            Ok(o) => match o.results.into_iter().next().map(|(_, r)| r) {
                Some(Ok(_)) => progress("✔", &format!("Image {n}"), "Removed"),
                // Never pulled or built, or already removed: nothing to do.
                Some(Err(crate::store::StoreError::ImageNotFound(_))) | None => {}
                // Another container (of another project) still uses it.
                Some(Err(e)) => eprintln!("WARN[0000] image {n}: {e}"),
            },
            Err(e) => return Err(ComposeError::Container(e.to_string())),
        }
    }
    crate::compose::networks::remove_all(ctx, name)?;
    let dir = create::project_dir(ctx, name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| ComposeError::io(&dir, e))?;
    }
    Ok(())
}

/// The images `down --rmi` removes, docker compose's way: `local` those built
/// for services that give no `image:` name (`project-service`), `all` every
/// service's image; from the compose file when there is one, and from the
/// containers' labels (which also covers `down` without the files).
fn images_to_remove(
    all_images: bool,
    name: &str,
    project: Option<&Project>,
    members: &[Member],
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(p) = project {
        for (sname, svc) in &p.services {
            if all_images || svc.image.is_none() {
                out.insert(p.image_of(sname, svc));
            }
        }
    }
    for m in members {
        let image = m
            .label(planner::LABEL_IMAGE)
            .map(str::to_string)
            .unwrap_or_else(|| m.rec.image_name.clone());
        let built_default = image == format!("{name}-{}", m.service);
        if !image.is_empty() && (all_images || built_default) {
            out.insert(image);
        }
    }
    out
}

/// The project's containers of `services` (all when empty), one-off
/// containers left out.
pub fn select(ctx: &Context, name: &str, services: &[String]) -> Result<Vec<Member>> {
    Ok(observe::members(ctx, name)?
        .into_iter()
        .filter(|m| !m.oneoff && (services.is_empty() || services.contains(&m.service)))
        .collect())
}

/// `stop`: dependents first, each group in parallel.
pub fn stop(ctx: &Context, members: Vec<Member>, timeout: Option<Duration>) -> Result<()> {
    let store = open_store(ctx)?;
    in_groups(stop_groups(&members), |m| {
        let l = container::lock(&store, &m.rec.id)?;
        container::stop(ctx, &l, timeout, None)?;
        progress("✔", &format!("Container {}", m.rec.name), "Stopped");
        Ok(())
    })
}

/// `start`: dependencies first, each group in parallel.
pub fn start(ctx: &Context, members: Vec<Member>) -> Result<()> {
    let store = open_store(ctx)?;
    let mut groups = stop_groups(&members);
    groups.reverse();
    in_groups(groups, |m| {
        start_id(ctx, &store, &m.rec.id)?;
        progress("✔", &format!("Container {}", m.rec.name), "Started");
        Ok(())
    })
}

/// `kill` with a signal, all in parallel.
pub fn kill(ctx: &Context, members: Vec<Member>, signal: &str) -> Result<()> {
    let sig = Signal::parse(signal)?;
    let store = open_store(ctx)?;
    let running: Vec<Member> = members.into_iter().filter(|m| m.running).collect();
    in_groups(vec![running], |m| {
        let l = container::lock(&store, &m.rec.id)?;
        container::kill(ctx, &l, sig)?;
        progress("✔", &format!("Container {}", m.rec.name), "Killed");
        Ok(())
    })
}

/// `pause` / `unpause`.
pub fn pause(ctx: &Context, members: Vec<Member>, pause: bool) -> Result<()> {
    let store = open_store(ctx)?;
    in_groups(vec![members], |m| {
        let l = container::lock(&store, &m.rec.id)?;
        if pause {
            container::pause(ctx, &l)?;
            progress("✔", &format!("Container {}", m.rec.name), "Paused");
        } else {
            container::unpause(ctx, &l)?;
            progress("✔", &format!("Container {}", m.rec.name), "Unpaused");
        }
        Ok(())
    })
}

/// `rm`: removes stopped containers (running ones too with `force`).
pub fn remove(ctx: &Context, members: Vec<Member>, force: bool, volumes: bool) -> Result<()> {
    let store = open_store(ctx)?;
    let targets: Vec<Member> = members
        .into_iter()
        .filter(|m| force || !m.running)
        .collect();
    in_groups(vec![targets], |m| {
        let l = container::lock(&store, &m.rec.id)?;
        container::remove(ctx, l, RemoveOptions { force, volumes })?;
        progress("✔", &format!("Container {}", m.rec.name), "Removed");
        Ok(())
    })
}

/// `wait`: the exit codes of the containers, once each has stopped.
pub fn wait(ctx: &Context, members: &[Member]) -> Result<Vec<(String, i32)>> {
    let mut out = Vec::new();
    for m in members {
        let code = container::wait(ctx, &m.rec.id, container::WaitCondition::NotRunning)?;
        out.push((m.rec.name.clone(), code));
    }
    Ok(out)
}
