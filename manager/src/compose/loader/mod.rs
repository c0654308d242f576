//! Loading a compose project: find the files (as docker compose does), read
//! `.env`, parse each file keeping positions, interpolate, validate against
//! the schema, normalize to long syntax, resolve `include` and `extends`,
//! merge the files by the spec's rules, apply profiles, and build the typed
//! model.

pub mod dotenv;
pub mod interpolate;
pub mod merge;
pub mod normalize;
pub mod yaml;

use crate::compose::error::{ComposeError, Pos, Result};
use crate::compose::model::Project;
use crate::compose::validate;
use interpolate::Env;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use yaml::{Key, Node, Val};

/// docker compose's file names, in the order it looks for them.
pub const FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// What the global flags and the environment say about the project.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-f` (in order; `-` is not supported).
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    /// The directory discovery starts from (the current directory).
    pub workdir: PathBuf,
    /// The process environment.
    pub os_env: Env,
    /// Services named on the command line: enabled whatever their profiles.
    pub services: Vec<String>,
}

impl Options {
    pub fn from_process(workdir: PathBuf) -> Options {
        Options {
            workdir,
            os_env: std::env::vars().collect(),
            ..Options::default()
        }
    }
}

#[derive(Debug)]
pub struct Loaded {
    pub project: Project,
    /// Notices for the user (unset variables, `version` is obsolete, ...).
    pub warnings: Vec<String>,
}

/// Finds the compose files: `-f`, else `COMPOSE_FILE`, else the first of
/// docker's names in the directory or its parents, with its `.override`.
pub fn discover(opts: &Options, env: &Env) -> Result<Vec<PathBuf>> {
    if !opts.files.is_empty() {
        return Ok(opts
            .files
            .iter()
            .map(|f| absolute(&opts.workdir, f))
            .collect());
    }
    if let Some(cf) = env.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .map(String::as_str)
            .unwrap_or(":");
        let base = opts
            .project_directory
            .clone()
            .unwrap_or_else(|| opts.workdir.clone());
        return Ok(cf
            .split(sep)
            .filter(|s| !s.is_empty())
            .map(|f| absolute(&base, Path::new(f)))
            .collect());
    }
    let mut dir = Some(
        opts.project_directory
            .clone()
            .unwrap_or_else(|| opts.workdir.clone()),
    );
    while let Some(d) = dir {
        for name in FILE_NAMES {
            let p = d.join(name);
            if p.is_file() {
                let mut out = vec![p.clone()];
                let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "yaml"));
                let over = d.join(format!("{stem}.override.{ext}"));
                if over.is_file() {
                    out.push(over);
                }
                return Ok(out);
            }
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    Err(ComposeError::NoFile {
        dir: opts.workdir.clone(),
        names: FILE_NAMES.join(", "),
    })
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    normalize::clean(&if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    })
}

/// docker compose's project name rule: lowercase letters, digits, `-`, `_`,
/// starting with a letter or digit.
pub fn normalize_project_name(s: &str) -> String {
    let lower = s.to_lowercase();
    let kept: String = lower
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    kept.trim_start_matches(['-', '_']).to_string()
}

pub fn valid_project_name(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Reads `.env` of `dir` (or the `--env-file`s): the variables for
/// interpolation, before the process environment is laid over them.
fn dotenv_vars(opts: &Options, dir: &Path) -> Result<Env> {
    let mut out = Env::new();
    if opts.env_files.is_empty() {
        let p = dir.join(".env");
        if p.is_file() {
            for (k, v) in dotenv::read(&p, &opts.os_env)? {
                out.insert(k, v);
            }
        }
    } else {
        for f in &opts.env_files {
            let p = absolute(&opts.workdir, f);
            let mut scope = out.clone();
            scope.extend(opts.os_env.clone());
            for (k, v) in dotenv::read(&p, &scope)? {
                out.insert(k, v);
            }
        }
    }
    Ok(out)
}

/// Loads the project.
pub fn load(opts: &Options) -> Result<Loaded> {
    let first_dir = opts
        .project_directory
        .clone()
        .map(|d| absolute(&opts.workdir, &d))
        .unwrap_or_else(|| opts.workdir.clone());
    let mut env = dotenv_vars(opts, &first_dir)?;
    env.extend(opts.os_env.clone());
    let files = discover(opts, &env)?;
    let project_dir = match &opts.project_directory {
        Some(d) => absolute(&opts.workdir, d),
        None => files
            .first()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| opts.workdir.clone()),
    };
    if project_dir != first_dir && opts.env_files.is_empty() {
        env = dotenv_vars(opts, &project_dir)?;
        env.extend(opts.os_env.clone());
    }
    let mut profiles = opts.profiles.clone();
    if profiles.is_empty() {
        if let Some(p) = env.get("COMPOSE_PROFILES") {
            profiles = p
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
    }
    let mut ld = Loader {
        env,
        warnings: Vec::new(),
        include_stack: Vec::new(),
    };
    let root = ld.load_files(&files, &project_dir)?;
    let name = opts
        .project_name
        .clone()
        .or_else(|| {
            ld.env
                .get("COMPOSE_PROJECT_NAME")
                .filter(|s| !s.is_empty())
                .cloned()
        })
        .or_else(|| root.get("name").and_then(Node::scalar).map(String::from))
        .unwrap_or_else(|| {
            normalize_project_name(
                &project_dir
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        });
    if !valid_project_name(&name) {
        return Err(ComposeError::Invalid(format!(
            "invalid project name {name:?}: it must hold only lowercase letters, digits, dashes and underscores, and start with a letter or digit"
        )));
    }
    let mut project = ld.finish(root, &name, &project_dir, &profiles, &opts.services)?;
    project.working_dir = project_dir;
    project.config_files = files;
    project.environment = ld.env.clone();
    let mut warnings = ld.warnings;
    warnings.dedup();
    Ok(Loaded { project, warnings })
}

struct Loader {
    env: Env,
    warnings: Vec<String>,
    include_stack: Vec<PathBuf>,
}

impl Loader {
    /// Reads one file: parse, interpolate, validate, normalize (paths against
    /// `base`).
    fn read_file(&mut self, path: &Path, base: &Path) -> Result<Node> {
        let src = std::fs::read_to_string(path).map_err(|e| ComposeError::io(path, e))?;
        let fname: Arc<str> = Arc::from(path.display().to_string());
        let mut root = yaml::parse(&src, &fname)?;
        if root.as_map().is_none() {
            return Err(ComposeError::at(
                &root.pos,
                "(top level)",
                format!("must be a mapping, not {}", root.kind()),
            ));
        }
        let mut unset = Vec::new();
        interpolate::interpolate_tree(&mut root, "", &self.env, &mut unset)?;
        for u in unset {
            self.warnings.push(format!(
                "The \"{u}\" variable is not set. Defaulting to a blank string."
            ));
        }
        validate::check_file(&mut root)?;
        if root.get("version").is_some() {
            self.warnings.push(format!(
                "{}: the attribute `version` is obsolete, it will be ignored",
                path.display()
            ));
            root.remove("version");
        }
        if let Some(services) = root.get_mut("services") {
            if let Some(m) = services.as_map_mut() {
                for (k, v) in m.iter_mut() {
                    if v.is_null() {
                        *v = Node::map(Vec::new(), k.pos.clone());
                    }
                    normalize::service(v, &k.name, base)?;
                }
            }
        }
        for kind in ["networks", "volumes", "secrets", "configs"] {
            if let Some(section) = root.get_mut(kind) {
                if let Some(m) = section.as_map_mut() {
                    for (_, v) in m.iter_mut() {
                        normalize::resource(v, kind, base);
                    }
                }
            }
        }
        Ok(root)
    }

    /// Loads and merges `files` (paths relative to `project_dir`).
    fn load_files(&mut self, files: &[PathBuf], project_dir: &Path) -> Result<Node> {
        let mut merged: Option<Node> = None;
        for f in files {
            let mut root = self.read_file(f, project_dir)?;
            self.resolve_extends(&mut root, f)?;
            self.resolve_includes(&mut root, project_dir)?;
            match &mut merged {
                None => merged = Some(root),
                Some(m) => {
                    for (k, v) in root.as_map().cloned().unwrap_or_default() {
                        match m.get_mut(&k.name) {
                            Some(existing) if !existing.is_null() => {
                                merge::merge(existing, v, &k.name)
                            }
                            _ => m.set(&k.name, v),
                        }
                    }
                }
            }
        }
        let mut m = merged.unwrap_or_else(|| Node::map(Vec::new(), Pos::default()));
        merge::strip_resets(&mut m);
        Ok(m)
    }

    fn resolve_includes(&mut self, root: &mut Node, project_dir: &Path) -> Result<()> {
        let Some(inc) = root.remove("include") else {
            return Ok(());
        };
        for (i, item) in inc
            .as_seq()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let kp = format!("include[{i}]");
            let (paths, pdir, env_files) = match &item.val {
                Val::Scalar { text, .. } => (vec![text.clone()], None, Vec::new()),
                _ => {
                    let list = |n: Option<&Node>| -> Vec<String> {
                        match n.map(|n| &n.val) {
                            Some(Val::Scalar { text, .. }) => vec![text.clone()],
                            Some(Val::Seq(s)) => s
                                .iter()
                                .filter_map(|x| x.scalar().map(String::from))
                                .collect(),
                            _ => Vec::new(),
                        }
                    };
                    (
                        list(item.get("path")),
                        item.get("project_directory")
                            .and_then(Node::scalar)
                            .map(String::from),
                        list(item.get("env_file")),
                    )
                }
            };
            let files: Vec<PathBuf> = paths
                .iter()
                .map(|p| absolute(project_dir, Path::new(p)))
                .collect();
            let Some(first) = files.first() else {
                return Err(ComposeError::at(&item.pos, &kp, "an include needs a path"));
            };
            if self.include_stack.contains(first) {
                return Err(ComposeError::at(
                    &item.pos,
                    &kp,
                    format!("include cycle through {}", first.display()),
                ));
            }
            for f in &files {
                if !f.is_file() {
                    return Err(ComposeError::at(
                        &item.pos,
                        &kp,
                        format!("included file {} not found", f.display()),
                    ));
                }
            }
            let sub_dir = match pdir {
                Some(d) => absolute(project_dir, Path::new(&d)),
                None => first
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| project_dir.to_path_buf()),
            };
            // The included project's own .env (or its env_file) under the
            // variables already known.
            let mut sub_env = Env::new();
            let env_paths: Vec<PathBuf> = if env_files.is_empty() {
                vec![sub_dir.join(".env")]
                    .into_iter()
                    .filter(|p| p.is_file())
                    .collect()
            } else {
                env_files
                    .iter()
                    .map(|e| absolute(project_dir, Path::new(e)))
                    .collect()
            };
            for p in env_paths {
                for (k, v) in dotenv::read(&p, &self.env)? {
                    sub_env.insert(k, v);
                }
            }
            let saved = self.env.clone();
            for (k, v) in sub_env {
                self.env.entry(k).or_insert(v);
            }
            self.include_stack.push(first.clone());
            let sub = self.load_files(&files, &sub_dir);
            self.include_stack.pop();
            self.env = saved;
            let sub = sub?;
            for section in ["services", "networks", "volumes", "secrets", "configs"] {
                let Some(entries) = sub.get(section).and_then(Node::as_map).cloned() else {
                    continue;
                };
                if root.get(section).is_none() {
                    root.set(section, Node::map(Vec::new(), item.pos.clone()));
                }
                let Some(target) = root.get_mut(section) else {
                    continue;
                };
                if target.is_null() {
                    *target = Node::map(Vec::new(), item.pos.clone());
                }
                for (k, v) in entries {
                    if target.get(&k.name).is_some() {
                        return Err(ComposeError::at(
                            &k.pos,
                            &format!("{section}.{}", k.name),
                            format!("conflicts with a {section} entry of the including file"),
                        ));
                    }
                    target.set(&k.name, v);
                }
            }
        }
        Ok(())
    }

    /// Resolves every service's `extends` in one file (`file` is its path).
    fn resolve_extends(&mut self, root: &mut Node, file: &Path) -> Result<()> {
        let Some(services) = root.get("services").cloned() else {
            return Ok(());
        };
        let names: Vec<String> = services
            .as_map()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.name.clone())
            .collect();
        let mut cache: BTreeMap<(PathBuf, String), Node> = BTreeMap::new();
        for name in names {
            let resolved = self.extended(&services, file, &name, &mut Vec::new(), &mut cache)?;
            if let Some(s) = root.get_mut("services") {
                s.set(&name, resolved);
            }
        }
        Ok(())
    }

    fn extended(
        &mut self,
        services: &Node,
        file: &Path,
        name: &str,
        stack: &mut Vec<(PathBuf, String)>,
        cache: &mut BTreeMap<(PathBuf, String), Node>,
    ) -> Result<Node> {
        let id = (file.to_path_buf(), name.to_string());
        if let Some(n) = cache.get(&id) {
            return Ok(n.clone());
        }
        let Some(svc) = services.get(name).cloned() else {
            return Err(ComposeError::Invalid(format!(
                "{}: no service {name:?} to extend",
                file.display()
            )));
        };
        let mut svc = svc;
        let Some(ext) = svc.remove("extends") else {
            cache.insert(id, svc.clone());
            return Ok(svc);
        };
        let kp = format!("services.{name}.extends");
        if stack.contains(&id) {
            return Err(ComposeError::at(
                &ext.pos,
                &kp,
                format!("circular extends of service {name:?}"),
            ));
        }
        stack.push(id.clone());
        let base_name = ext
            .get("service")
            .and_then(Node::scalar)
            .unwrap_or_default()
            .to_string();
        let base = match ext.get("file").and_then(Node::scalar) {
            Some(f) => {
                let fpath = PathBuf::from(f);
                let dir = fpath.parent().map(Path::to_path_buf).unwrap_or_default();
                let other = self.read_file(&fpath, &dir).map_err(|e| match e {
                    ComposeError::Io { path, source } => {
                        ComposeError::at(&ext.pos, &kp, format!("{}: {source}", path.display()))
                    }
                    e => e,
                })?;
                let other_services = other
                    .get("services")
                    .cloned()
                    .unwrap_or_else(|| Node::map(Vec::new(), other.pos.clone()));
                if other_services.get(&base_name).is_none() {
                    return Err(ComposeError::at(
                        &ext.pos,
                        &kp,
                        format!("no service {base_name:?} in {}", fpath.display()),
                    ));
                }
                self.extended(&other_services, &fpath, &base_name, stack, cache)?
            }
            None => {
                if services.get(&base_name).is_none() {
                    let hint = validate::suggest(
                        &base_name,
                        services
                            .as_map()
                            .into_iter()
                            .flatten()
                            .map(|(k, _)| k.name.as_str()),
                    )
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                    return Err(ComposeError::at(
                        &ext.pos,
                        &kp,
                        format!("no service {base_name:?} to extend{hint}"),
                    ));
                }
                self.extended(services, file, &base_name, stack, cache)?
            }
        };
        stack.pop();
        let mut out = base;
        merge::merge(&mut out, svc, "");
        cache.insert(id, out.clone());
        Ok(out)
    }

    /// From the merged tree to the typed project: defaults, profiles,
    /// env_file, references checked.
    fn finish(
        &mut self,
        mut root: Node,
        name: &str,
        project_dir: &Path,
        profiles: &[String],
        wanted: &[String],
    ) -> Result<Project> {
        root.set("name", Node::str(name, Pos::default()));
        let services_pos = root
            .get("services")
            .map(|s| s.pos.clone())
            .unwrap_or_default();
        if root.get("services").is_none_or(Node::is_null) {
            root.set("services", Node::map(Vec::new(), services_pos.clone()));
        }
        // Environment: env_file contents under explicit values; bare names
        // from the environment.
        let svc_names: Vec<String> = root
            .get("services")
            .and_then(Node::as_map)
            .into_iter()
            .flatten()
            .map(|(k, _)| k.name.clone())
            .collect();
        for sname in &svc_names {
            let Some(svc) = root.get_mut("services").and_then(|s| s.get_mut(sname)) else {
                continue;
            };
            self.resolve_environment(svc, sname)?;
        }
        // Resource names: docker's `project_NAME`, unless `name:` or external.
        let mut used_default_network = false;
        for sname in &svc_names {
            let Some(svc) = root.get_mut("services").and_then(|s| s.get_mut(sname)) else {
                continue;
            };
            if svc.get("network_mode").is_none() && svc.get("networks").is_none() {
                let pos = svc.pos.clone();
                svc.set(
                    "networks",
                    Node::map(
                        vec![(
                            Key {
                                name: "default".into(),
                                pos: pos.clone(),
                            },
                            Node::null(pos.clone()),
                        )],
                        pos,
                    ),
                );
            }
            if svc.get("networks").and_then(|n| n.get("default")).is_some() {
                used_default_network = true;
            }
        }
        if used_default_network
            && root
                .get("networks")
                .and_then(|n| n.get("default"))
                .is_none()
        {
            if root.get("networks").is_none() {
                root.set("networks", Node::map(Vec::new(), Pos::default()));
            }
            if let Some(n) = root.get_mut("networks") {
                n.set("default", Node::map(Vec::new(), Pos::default()));
            }
        }
        for kind in ["networks", "volumes", "secrets", "configs"] {
            if let Some(m) = root.get_mut(kind).and_then(Node::as_map_mut) {
                for (k, v) in m.iter_mut() {
                    let external = v.get("external").and_then(Node::scalar) == Some("true");
                    if v.get("name").is_none() {
                        let n = if external {
                            k.name.clone()
                        } else {
                            format!("{name}_{}", k.name)
                        };
                        v.set("name", Node::str(n, k.pos.clone()));
                    }
                }
            }
        }
        let json = root.to_json();
        let mut project: Project = serde_json::from_value(json)
            .map_err(|e| ComposeError::Invalid(format!("unexpected model shape: {e}")))?;
        self.check_references(&root, &project)?;
        self.apply_profiles(&root, &mut project, profiles, wanted)?;
        let _ = project_dir;
        Ok(project)
    }

    fn resolve_environment(&mut self, svc: &mut Node, sname: &str) -> Result<()> {
        let mut from_files: Vec<(String, String)> = Vec::new();
        if let Some(files) = svc.get("env_file").and_then(Node::as_seq) {
            for (i, f) in files.iter().enumerate() {
                let path = f.get("path").and_then(Node::scalar).unwrap_or_default();
                let required = f.get("required").and_then(Node::scalar) != Some("false");
                let p = Path::new(path);
                if !p.is_file() {
                    if required {
                        return Err(ComposeError::at(
                            &f.pos,
                            &format!("services.{sname}.env_file[{i}]"),
                            format!("env file {path} not found"),
                        ));
                    }
                    continue;
                }
                for (k, v) in dotenv::read(p, &self.env)? {
                    from_files.retain(|(ek, _)| *ek != k);
                    from_files.push((k, v));
                }
            }
        }
        let pos = svc.pos.clone();
        let mut env = svc
            .remove("environment")
            .unwrap_or_else(|| Node::map(Vec::new(), pos.clone()));
        let mut merged: Vec<(Key, Node)> = from_files
            .into_iter()
            .map(|(k, v)| {
                (
                    Key {
                        name: k,
                        pos: pos.clone(),
                    },
                    Node::str(v, pos.clone()),
                )
            })
            .collect();
        for (k, v) in env.as_map_mut().map(std::mem::take).unwrap_or_default() {
            let v = if v.is_null() {
                match self.env.get(&k.name) {
                    Some(val) => Node::str(val.clone(), v.pos.clone()),
                    None => v,
                }
            } else {
                v
            };
            merged.retain(|(ek, _)| ek.name != k.name);
            merged.push((k, v));
        }
        if !merged.is_empty() {
            svc.set("environment", Node::map(merged, pos));
        }
        Ok(())
    }

    fn check_references(&self, root: &Node, project: &Project) -> Result<()> {
        let svc_nodes = root.get("services");
        let at = |sname: &str, key: &str| -> Pos {
            svc_nodes
                .and_then(|s| s.get(sname))
                .map(|s| {
                    s.as_map()
                        .into_iter()
                        .flatten()
                        .find(|(k, _)| k.name == key)
                        .map(|(k, _)| k.pos.clone())
                        .unwrap_or_else(|| s.pos.clone())
                })
                .unwrap_or_default()
        };
        for (sname, s) in &project.services {
            if s.image.is_none() && s.build.is_none() {
                return Err(ComposeError::at(
                    &at(sname, "image"),
                    &format!("services.{sname}"),
                    "has neither an image nor a build context",
                ));
            }
            for dep in s.depends_on.keys() {
                if !project.services.contains_key(dep) {
                    return Err(ComposeError::at(
                        &at(sname, "depends_on"),
                        &format!("services.{sname}.depends_on"),
                        format!("depends on undefined service {dep:?}"),
                    ));
                }
            }
            for c in s.depends_on.values() {
                if !matches!(
                    c.condition.as_str(),
                    "service_started" | "service_healthy" | "service_completed_successfully"
                ) {
                    return Err(ComposeError::at(
                        &at(sname, "depends_on"),
                        &format!("services.{sname}.depends_on"),
                        format!("unknown condition {:?} (service_started, service_healthy or service_completed_successfully)", c.condition),
                    ));
                }
            }
            if s.network_mode.is_some() && s.networks.keys().any(|n| n != "default") {
                return Err(ComposeError::at(
                    &at(sname, "network_mode"),
                    &format!("services.{sname}.network_mode"),
                    "network_mode and networks cannot be combined",
                ));
            }
            if let Some(m) = &s.network_mode {
                if let Some(other) = m.strip_prefix("service:") {
                    if !project.services.contains_key(other) {
                        return Err(ComposeError::at(
                            &at(sname, "network_mode"),
                            &format!("services.{sname}.network_mode"),
                            format!("undefined service {other:?}"),
                        ));
                    }
                } else if !(matches!(m.as_str(), "none" | "host" | "bridge" | "default")
                    || m.starts_with("container:"))
                {
                    return Err(ComposeError::at(
                        &at(sname, "network_mode"),
                        &format!("services.{sname}.network_mode"),
                        format!("invalid network mode {m:?}"),
                    ));
                }
            }
            for (key, m) in [("pid", &s.pid), ("ipc", &s.ipc)] {
                if let Some(other) = m.as_deref().and_then(|m| m.strip_prefix("service:")) {
                    if !project.services.contains_key(other) {
                        return Err(ComposeError::at(
                            &at(sname, key),
                            &format!("services.{sname}.{key}"),
                            format!("undefined service {other:?}"),
                        ));
                    }
                }
            }
            for n in s.networks.keys() {
                if !project.networks.contains_key(n) {
                    return Err(ComposeError::at(
                        &at(sname, "networks"),
                        &format!("services.{sname}.networks"),
                        format!("service uses undefined network {n:?}"),
                    ));
                }
            }
            for (i, v) in s.volumes.iter().enumerate() {
                if v.r#type == "volume" {
                    if let Some(src) = &v.source {
                        if !project.volumes.contains_key(src) {
                            return Err(ComposeError::at(
                                &at(sname, "volumes"),
                                &format!("services.{sname}.volumes[{i}]"),
                                format!("service uses undefined volume {src:?}"),
                            ));
                        }
                    }
                }
            }
            for (kind, refs, defs) in [
                ("secrets", &s.secrets, &project.secrets),
                ("configs", &s.configs, &project.configs),
            ] {
                for r in refs {
                    if !defs.contains_key(&r.source) {
                        return Err(ComposeError::at(
                            &at(sname, kind),
                            &format!("services.{sname}.{kind}"),
                            format!(
                                "service refers to undefined {} {:?}",
                                &kind[..kind.len() - 1],
                                r.source
                            ),
                        ));
                    }
                }
            }
            for v in &s.volumes_from {
                let target = v.split(':').next().unwrap_or(v);
                if !v.starts_with("container:") && !project.services.contains_key(target) {
                    return Err(ComposeError::at(
                        &at(sname, "volumes_from"),
                        &format!("services.{sname}.volumes_from"),
                        format!("undefined service {target:?}"),
                    ));
                }
            }
            if s.container_name.is_some() && s.replicas() > 1 {
                return Err(ComposeError::at(
                    &at(sname, "container_name"),
                    &format!("services.{sname}.container_name"),
                    "a service with a container_name cannot be scaled above 1",
                ));
            }
            if let Some(p) = &s.pull_policy {
                if !matches!(
                    p.as_str(),
                    "always"
                        | "never"
                        | "missing"
                        | "if_not_present"
                        | "build"
                        | "daily"
                        | "weekly"
                ) {
                    return Err(ComposeError::at(
                        &at(sname, "pull_policy"),
                        &format!("services.{sname}.pull_policy"),
                        format!("invalid pull policy {p:?}"),
                    ));
                }
            }
            if let Some(r) = &s.restart {
                let base = r.split(':').next().unwrap_or(r);
                if !matches!(base, "no" | "always" | "on-failure" | "unless-stopped") {
                    return Err(ComposeError::at(
                        &at(sname, "restart"),
                        &format!("services.{sname}.restart"),
                        format!("invalid restart policy {r:?}"),
                    ));
                }
            }
        }
        // The position of a top-level resource's key (or the resource).
        let res_pos = |kind: &str, name: &str, key: &str| -> Pos {
            let r = root.get(kind).and_then(|k| k.get(name));
            r.and_then(|r| r.as_map())
                .and_then(|m| {
                    m.iter()
                        .find(|(k, _)| k.name == key)
                        .map(|(k, _)| k.pos.clone())
                })
                .or_else(|| r.map(|r| r.pos.clone()))
                .unwrap_or_default()
        };
        for (vname, v) in &project.volumes {
            if let Some(d) = &v.driver {
                if d != "local" {
                    return Err(ComposeError::at(
                        &res_pos("volumes", vname, "driver"),
                        &format!("volumes.{vname}.driver"),
                        format!("berth supports only the local driver, not {d:?}"),
                    ));
                }
            }
        }
        for (nname, n) in &project.networks {
            if let Some(d) = &n.driver {
                if d != "bridge" && !n.external {
                    return Err(ComposeError::at(
                        &res_pos("networks", nname, "driver"),
                        &format!("networks.{nname}.driver"),
                        format!("berth supports only the bridge driver, not {d:?}"),
                    ));
                }
            }
        }
        for (kind, defs) in [("secrets", &project.secrets), ("configs", &project.configs)] {
            for (n, d) in defs {
                let sources = d.file.is_some() as u8
                    + d.environment.is_some() as u8
                    + d.content.is_some() as u8;
                if sources != 1 {
                    return Err(ComposeError::at(
                        &res_pos(kind, n, ""),
                        &format!("{kind}.{n}"),
                        "needs exactly one of file, environment or content",
                    ));
                }
                if kind == "secrets" && d.content.is_some() {
                    return Err(ComposeError::at(
                        &res_pos(kind, n, "content"),
                        &format!("secrets.{n}.content"),
                        "content is only for configs",
                    ));
                }
            }
        }
        crate::compose::planner::order(&project.services)?;
        Ok(())
    }

    /// Leaves out services whose profiles are all inactive (unless named on
    /// the command line), then checks nothing enabled needs them.
    fn apply_profiles(
        &self,
        root: &Node,
        project: &mut Project,
        profiles: &[String],
        wanted: &[String],
    ) -> Result<()> {
        let all = profiles.iter().any(|p| p == "*");
        let mut enabled: BTreeSet<String> = project
            .services
            .iter()
            .filter(|(n, s)| {
                s.profiles.is_empty()
                    || all
                    || s.profiles.iter().any(|p| profiles.contains(p))
                    || wanted.contains(n)
            })
            .map(|(n, _)| n.clone())
            .collect();
        // A service named on the command line brings its dependencies.
        let mut queue: Vec<String> = wanted
            .iter()
            .filter(|w| project.services.contains_key(*w))
            .cloned()
            .collect();
        while let Some(n) = queue.pop() {
            if let Some(s) = project.services.get(&n) {
                for d in s.dependencies() {
                    if enabled.insert(d.clone()) {
                        queue.push(d);
                    }
                }
            }
        }
        let disabled: Vec<String> = project
            .services
            .keys()
            .filter(|n| !enabled.contains(*n))
            .cloned()
            .collect();
        for n in &disabled {
            if let Some(s) = project.services.remove(n) {
                project.disabled.insert(n.clone(), s);
            }
        }
        for (sname, s) in project.services.iter_mut() {
            let mut drop = Vec::new();
            for (dep, c) in &s.depends_on {
                if project.disabled.contains_key(dep) {
                    if c.required {
                        let pos = root
                            .get("services")
                            .and_then(|x| x.get(sname))
                            .and_then(|x| x.get("depends_on"))
                            .map(|x| x.pos.clone())
                            .unwrap_or_default();
                        return Err(ComposeError::at(
                            &pos,
                            &format!("services.{sname}.depends_on"),
                            format!("depends on service {dep:?}, which is disabled by its profiles (enable one with --profile)"),
                        ));
                    }
                    drop.push(dep.clone());
                }
            }
            for d in drop {
                s.depends_on.remove(&d);
            }
        }
        // Resources only disabled services use are not created.
        let _ = &self.env;
        Ok(())
    }
}

/// For tests: a project from YAML text with `dir` as project directory.
#[cfg(test)]
pub fn load_str(src: &str, dir: &Path, env: &[(&str, &str)]) -> Result<Loaded> {
    let f = dir.join("compose.yaml");
    std::fs::create_dir_all(dir).map_err(|e| ComposeError::io(dir, e))?;
    std::fs::write(&f, src).map_err(|e| ComposeError::io(&f, e))?;
    let opts = Options {
        files: vec![f],
        workdir: dir.to_path_buf(),
        os_env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Options::default()
    };
    load(&opts)
}

#[cfg(test)]
mod tests;
