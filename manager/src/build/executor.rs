//! The executor: runs the stages the target needs (independent ones in
//! parallel), each instruction on an image state, through the cache.

use super::cache;
use super::context::{BuildContext, TmpDir};
use super::dockerfile::expand::{Lexer, Vars};
use super::dockerfile::{self, split_words, Dockerfile, Instruction};
use super::ignore::{clean, glob, has_wildcards};
use super::inline_cache::{self, Offer};
use super::layer::{scratch_config, LayerWriter, Meta, State};
use super::runner::{check_network, check_network_exists, RunSpec, StepRunner};
use super::stage::{self, Plan};
use super::{BuildError, BuildOptions, Progress};
use crate::container::record::MountKind;
use crate::container::MountPoint;
use crate::context::Context;
use crate::image::chain_ids;
use crate::snapshot::SnapshotStore;
use crate::store::{ContentStore, Digest, Hasher, ImageStore, StoreLock};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Build args every Dockerfile may use without declaring them (RUN sees them,
/// history does not).
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Platform args BuildKit defines in the global scope.
const PLATFORM_ARGS: &[(&str, &str)] = &[
    ("BUILDPLATFORM", "linux/amd64"),
    ("BUILDOS", "linux"),
    ("BUILDARCH", "amd64"),
    ("BUILDVARIANT", ""),
    ("TARGETPLATFORM", "linux/amd64"),
    ("TARGETOS", "linux"),
    ("TARGETARCH", "amd64"),
    ("TARGETVARIANT", ""),
];

const DEFAULT_SHELL: &[&str] = &["/bin/sh", "-c"];

pub struct Executor<'a> {
    ctx: &'a Context,
    opts: &'a BuildOptions,
    bctx: &'a BuildContext,
    progress: &'a Progress,
    runner: &'a dyn StepRunner,
    plan: Plan,
    lexer: Lexer,
    escape: char,
    content: ContentStore,
    snaps: SnapshotStore,
    build_args: HashMap<String, String>,
    meta: Vars,
    used_args: Mutex<HashSet<String>>,
    results: Mutex<HashMap<usize, State>>,
    /// Each built stage's chain of states, its base first (the inline cache's steps).
    chains: Mutex<HashMap<usize, Vec<State>>>,
    /// The key each state of this build was made (or found) under.
    keys: Mutex<HashMap<Digest, Digest>>,
    /// Steps the `--cache-from` images offer, by key.
    offers: HashMap<Digest, Offer>,
    step_no: std::sync::atomic::AtomicUsize,
    multi: bool,
}

/// A stage being built.
struct StageRun {
    index: usize,
    label: String,
    state: State,
    /// ARGs declared in this stage, in order (None: declared without a value).
    args: Vec<(String, Option<String>)>,
    /// CMD set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
    /// The states so far, the base first.
    chain: Vec<State>,
}

impl StageRun {
    /// After a step: its state joins the chain (when it made a new one).
    fn extend_chain(&mut self) {
        if self.chain.last().map(|s| &s.id) != Some(&self.state.id) {
            self.chain.push(self.state.clone());
        }
    }
}

fn step_err(ins: &Instruction, msg: impl Into<String>) -> BuildError {
    BuildError::Step {
        pos: ins.pos,
        instr: ins.keyword.clone(),
        msg: msg.into(),
    }
}

impl<'a> Executor<'a> {
    pub fn new(
        ctx: &'a Context,
        opts: &'a BuildOptions,
        bctx: &'a BuildContext,
        df: &'a Dockerfile,
        progress: &'a Progress,
        runner: &'a dyn StepRunner,
    ) -> Result<Executor<'a>, BuildError> {
        let mut plan = stage::split(df)?;
        let mut build_args = HashMap::new();
        for (k, v) in &opts.build_args {
            let v = match v {
                Some(v) => v.clone(),
                None => match std::env::var(k) {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            build_args.insert(k.clone(), v);
        }
        let lexer = Lexer::new(df.escape);
        let mut meta: Vars = PLATFORM_ARGS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut used = HashSet::new();
        for ins in &plan.meta_args {
            for (name, default) in parse_arg(ins, &lexer, &meta)? {
                let v = build_args.get(&name).cloned().or(default);
                if build_args.contains_key(&name) {
                    used.insert(name.clone());
                }
                if let Some(v) = v {
                    meta.insert(name, v);
                }
            }
        }
        // Stage names given through ARGs (`FROM ${BASE}`, `COPY --from=${STAGE}`)
        // count as dependencies: the graph is pruned after expansion.
        for i in 0..plan.stages.len() {
            let refs = stage_refs(&plan.stages[i], &lexer, &meta, &build_args);
            plan.set_refs(i, refs);
        }
        let multi = plan
            .needed(
                plan.target(opts.target.as_deref())
                    .map_err(BuildError::Invalid)?,
            )
            .len()
            > 1;
        let offers = inline_cache::import(ctx, opts, progress);
        Ok(Executor {
            ctx,
            opts,
            bctx,
            progress,
            runner,
            plan,
            lexer,
            escape: df.escape,
            content: ContentStore::open(&ctx.root)?,
            snaps: SnapshotStore::open(&ctx.root)?,
            build_args,
            meta,
            used_args: Mutex::new(used),
            results: Mutex::new(HashMap::new()),
            chains: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            offers,
            step_no: std::sync::atomic::AtomicUsize::new(1),
            multi,
        })
    }

    pub fn run(&self) -> Result<Digest, BuildError> {
        let target = self
            .plan
            .target(self.opts.target.as_deref())
            .map_err(BuildError::Invalid)?;
        let needed = self.plan.needed(target);
        // Waves: a stage runs once every stage it needs is done; stages of one
        // wave run in parallel.
        let mut done: BTreeSet<usize> = BTreeSet::new();
        while done.len() < needed.len() {
            let wave: Vec<usize> = needed
                .iter()
                .copied()
                .filter(|i| {
                    !done.contains(i) && self.plan.deps(*i).iter().all(|d| done.contains(d))
                })
                .collect();
            if wave.is_empty() {
                return Err(BuildError::Invalid(
                    "the stages depend on each other in a cycle".into(),
                ));
            }
            let results: Vec<Result<(), BuildError>> = if wave.len() == 1 {
                vec![self.stage(wave[0])]
            } else {
                std::thread::scope(|s| {
                    let hs: Vec<_> = wave
                        .iter()
                        .map(|&i| s.spawn(move || self.stage(i)))
                        .collect();
                    hs.into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                Err(BuildError::Invalid("a stage panicked".into()))
                            })
                        })
                        .collect()
                })
            };
            for r in results {
                r?;
            }
            done.extend(wave);
        }
        let mut state = self
            .results
            .lock()
            .map_err(|_| BuildError::Invalid("poisoned".into()))?
            .remove(&target)
            .ok_or_else(|| BuildError::Invalid("the target stage has no result".into()))?;
        let chain = self
            .chains
            .lock()
            .map_err(|_| BuildError::Invalid("poisoned".into()))?
            .remove(&target)
            .unwrap_or_default();
        if !self.opts.labels.is_empty() {
            let cfg = state.cfg();
            let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            for (k, v) in &self.opts.labels {
                labels[k] = json!(v);
            }
            let _l = StoreLock::shared(&self.ctx.root)?;
            state.commit(&self.content)?;
            // Made from the parent alone (no timestamp): no inline cache record needed.
            self.keep(&cache::key(&["labels", state.id.as_str()]), &state)?;
        }
        // The inline cache: the steps' keys go into the image (always: see docs/build.md).
        {
            let keys = self
                .keys
                .lock()
                .map_err(|_| BuildError::Invalid("poisoned".into()))?;
            let records = inline_cache::records(&chain, &keys);
            drop(keys);
            inline_cache::attach(&mut state, &records);
            // No cache entry of its own: the image record keeps it, and it is
            // made again from the last step's state alone.
            let _l = StoreLock::shared(&self.ctx.root)?;
            state.commit(&self.content)?;
        }
        let images = ImageStore::open(&self.ctx.root)?;
        {
            let _l = StoreLock::shared(&self.ctx.root)?;
            if self.opts.tags.is_empty() && images.by_id(&state.id)?.is_empty() {
                images.put(state.record(None))?;
            }
            for t in &self.opts.tags {
                let name = crate::image::reference::normalize(t)
                    .map_err(|e| BuildError::Invalid(format!("invalid tag {t:?}: {e}")))?;
                // An unchanged rebuild leaves images.json alone.
                if images.get(&name)?.is_some_and(|r| r.config == state.id) {
                    continue;
                }
                images.put(state.record(Some(name)))?;
            }
        }
        let used = self.used_args.lock().map(|u| u.clone()).unwrap_or_default();
        let unused: Vec<&String> = self
            .build_args
            .keys()
            .filter(|k| {
                !used.contains(*k)
                    && !PROXY_ARGS.contains(&k.as_str())
                    // docker's switch for the inline cache, which berth always writes.
                    && k.as_str() != "BUILDKIT_INLINE_CACHE"
            })
            .collect();
        if !unused.is_empty() {
            let mut u: Vec<_> = unused.into_iter().cloned().collect();
            u.sort();
            self.progress.line(&format!(
                "[Warning] One or more build-args [{}] were not consumed",
                u.join(" ")
            ));
        }
        self.progress
            .line(&format!("Successfully built {}", &state.id.hex()[..12]));
        for t in &self.opts.tags {
            self.progress.line(&format!("Successfully tagged {t}"));
        }
        Ok(state.id)
    }

    fn next_step(&self) -> usize {
        self.step_no
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn stage(&self, i: usize) -> Result<(), BuildError> {
        let st = &self.plan.stages[i];
        let label = if self.multi {
            format!("{} ", st.label())
        } else {
            String::new()
        };
        let from = &st.from;
        if let Some(p) = from.flag("platform") {
            let p = self
                .lexer
                .word(p, &self.meta)
                .map_err(|e| step_err(from, e.to_string()))?;
            super::check_platform(&p).map_err(|e| step_err(from, e.to_string()))?;
        }
        let base = self
            .lexer
            .word(&st.base, &self.meta)
            .map_err(|e| step_err(from, e.to_string()))?;
        if base.is_empty() {
            return Err(step_err(
                from,
                format!("base name ({}) should not be blank", st.base),
            ));
        }
        let total = st.instructions.len() + 1;
        let n = self.next_step();
        self.progress
            .step(n, &format!("[{label}1/{total}] FROM {base}"));
        let (state, triggers) = self.tracked(n, || self.base_state(i, &base))?;
        // A stage built on an earlier one continues its chain.
        let chain = match self.plan.lookup(&base, i) {
            Some(d) if !base.eq_ignore_ascii_case("scratch") => self
                .chains
                .lock()
                .map_err(|_| BuildError::Invalid("poisoned".into()))?
                .get(&d)
                .cloned()
                .unwrap_or_else(|| vec![state.clone()]),
            _ => vec![state.clone()],
        };
        let mut run = StageRun {
            index: i,
            label,
            state,
            args: Vec::new(),
            cmd_set: false,
            chain,
        };
        for t in &triggers {
            let parsed = dockerfile::parse(&format!("# escape={}\n{t}\n", self.escape))?;
            for mut ins in parsed.instructions {
                ins.pos = from.pos;
                let n = self.next_step();
                self.progress
                    .step(n, &format!("[{}ONBUILD] {}", run.label, ins.text()));
                self.tracked(n, || self.step(&mut run, &ins, n))?;
                run.extend_chain();
            }
        }
        for (k, ins) in st.instructions.iter().enumerate() {
            let n = self.next_step();
            self.progress.step(
                n,
                &format!("[{}{}/{total}] {}", run.label, k + 2, ins.text()),
            );
            self.tracked(n, || self.step(&mut run, ins, n))?;
            run.extend_chain();
        }
        self.chains
            .lock()
            .map_err(|_| BuildError::Invalid("poisoned".into()))?
            .insert(i, run.chain);
        self.results
            .lock()
            .map_err(|_| BuildError::Invalid("poisoned".into()))?
            .insert(i, run.state);
        Ok(())
    }

    /// The state a stage starts from (scratch, an earlier stage, an image)
    /// and the image's ONBUILD triggers.
    fn base_state(&self, i: usize, base: &str) -> Result<(State, Vec<String>), BuildError> {
        let from = &self.plan.stages[i].from;
        let mut triggers = Vec::new();
        let state = if base.eq_ignore_ascii_case("scratch") {
            let mut s = State {
                config: scratch_config(),
                layers: Vec::new(),
                id: Digest::sha256(b""),
                manifest: Digest::sha256(b""),
                manifest_size: 0,
            };
            let _l = StoreLock::shared(&self.ctx.root)?;
            s.commit(&self.content)?;
            self.keep(&cache::key(&["scratch"]), &s)?;
            s
        } else if let Some(d) = self.plan.lookup(base, i) {
            self.result_of(d)?
        } else {
            let mut s = self.image_state(base).map_err(|e| match e {
                BuildError::Pull { .. } | BuildError::Invalid(_) => step_err(from, e.to_string()),
                e => e,
            })?;
            // ONBUILD triggers of the base run now, and are not inherited.
            if let Some(list) = s.cfg_ref().get("OnBuild").and_then(Value::as_array) {
                triggers = list
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect();
            }
            if !triggers.is_empty() {
                s.cfg().insert("OnBuild".into(), Value::Null);
                let base_id = s.id.clone();
                let _l = StoreLock::shared(&self.ctx.root)?;
                s.commit(&self.content)?;
                self.keep(&cache::key(&["onbuild-cleared", base_id.as_str()]), &s)?;
            }
            s
        };
        Ok((state, triggers))
    }

    /// Run step `n`, telling the progress how it ended.
    fn tracked<T>(
        &self,
        n: usize,
        f: impl FnOnce() -> Result<T, BuildError>,
    ) -> Result<T, BuildError> {
        match f() {
            Ok(v) => {
                self.progress.done(n);
                Ok(v)
            }
            Err(e) => {
                self.progress.failed(n);
                Err(e)
            }
        }
    }

    fn result_of(&self, stage: usize) -> Result<State, BuildError> {
        self.results
            .lock()
            .map_err(|_| BuildError::Invalid("poisoned".into()))?
            .get(&stage)
            .cloned()
            .ok_or_else(|| BuildError::Invalid(format!("stage {stage} was not built")))
    }

    /// A stored image (pulled when missing, or always with `--pull`).
    fn image_state(&self, name: &str) -> Result<State, BuildError> {
        let images = ImageStore::open(&self.ctx.root)?;
        if !self.opts.pull {
            match images.resolve(name) {
                Ok(rec) => {
                    return Ok(State::from_image(&crate::image::Image::load(
                        &self.content,
                        rec,
                    )?))
                }
                Err(crate::store::StoreError::ImageNotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let opts = crate::registry::Options {
            out: if self.opts.quiet {
                crate::registry::Out::Quiet
            } else {
                crate::registry::Out::Stderr
            },
            ..Default::default()
        };
        let rec =
            crate::registry::pull(self.ctx, name, &opts).map_err(|source| BuildError::Pull {
                image: name.to_string(),
                source,
            })?;
        Ok(State::from_image(&crate::image::Image::load(
            &self.content,
            rec,
        )?))
    }

    /// Record a state in the cache under `key` (also what keeps its blobs from gc).
    fn keep(&self, key: &Digest, s: &State) -> Result<(), BuildError> {
        cache::put(
            &self.ctx.root,
            key,
            &cache::Entry {
                config: s.id.clone(),
                manifest: s.manifest.clone(),
                manifest_size: s.manifest_size,
            },
        )?;
        self.note_key(key, s);
        Ok(())
    }

    /// Remember which key made `s` (for the inline cache's records).
    fn note_key(&self, key: &Digest, s: &State) {
        if let Ok(mut k) = self.keys.lock() {
            k.insert(s.id.clone(), key.clone());
        }
    }

    /// The step `key` on `parent`: the local cache, else what a `--cache-from`
    /// image offers (rebuilt on `parent`, then kept as a local entry).
    fn cached_on(&self, key: &Digest, parent: &State) -> Result<Option<State>, BuildError> {
        if let Some(s) = self.cached(key) {
            return Ok(Some(s));
        }
        if self.opts.no_cache {
            return Ok(None);
        }
        let Some(offer) = self.offers.get(key) else {
            return Ok(None);
        };
        let Some(mut s) = inline_cache::rebuild(offer, parent) else {
            return Ok(None);
        };
        if !s.layers.iter().all(|l| {
            l["digest"]
                .as_str()
                .and_then(|d| d.parse::<Digest>().ok())
                .is_some_and(|d| self.content.contains(&d))
        }) {
            return Ok(None);
        }
        let want = s.id.clone();
        let _l = StoreLock::shared(&self.ctx.root)?;
        s.commit(&self.content)?;
        if s.id != want {
            return Ok(None);
        }
        self.keep(key, &s)?;
        Ok(Some(s))
    }

    fn cached(&self, key: &Digest) -> Option<State> {
        if self.opts.no_cache {
            return None;
        }
        let s = self.cached_local(key)?;
        self.note_key(key, &s);
        Some(s)
    }

    fn cached_local(&self, key: &Digest) -> Option<State> {
        let e = cache::get(&self.ctx.root, &self.content, key)?;
        let img = crate::image::Image::load(&self.content, e.record()).ok()?;
        // Every layer must still be there (gc may have taken a pruned entry's).
        for l in img.layer_digests().ok()? {
            if !self.content.contains(&l) {
                return None;
            }
        }
        Some(State::from_image(&img))
    }

    /// Variables for substitution: the stage's ARGs, then its ENV over them.
    fn vars(&self, run: &StageRun) -> Vars {
        let mut v = Vars::new();
        for (k, val) in &run.args {
            if let Some(val) = val {
                v.insert(k.clone(), val.clone());
            }
        }
        for e in env_list(run.state.cfg_ref()) {
            if let Some((k, val)) = e.split_once('=') {
                v.insert(k.to_string(), val.to_string());
            }
        }
        v
    }

    fn args_key(&self, run: &StageRun) -> String {
        let mut s = String::new();
        for (k, v) in &run.args {
            s.push_str(&format!("{k}={}\n", v.as_deref().unwrap_or("\u{0}")));
        }
        s
    }

    fn step(&self, run: &mut StageRun, ins: &Instruction, n: usize) -> Result<(), BuildError> {
        let vars = self.vars(run);
        let w = |s: &str| {
            self.lexer
                .word(s, &vars)
                .map_err(|e| step_err(ins, e.to_string()))
        };
        let mut next = run.state.clone();
        let created_by: String;
        // WORKDIR makes its directory when the image does not have it.
        let mut mkdir: Option<String> = None;
        match ins.keyword.as_str() {
            "RUN" => return self.run_step(run, ins, n),
            "COPY" | "ADD" => return self.copy_step(run, ins, n),
            "ARG" => {
                ins.check_flags(&[])?;
                for (name, default) in parse_arg(ins, &self.lexer, &vars)? {
                    let v = if let Some(b) = self.build_args.get(&name) {
                        if let Ok(mut u) = self.used_args.lock() {
                            u.insert(name.clone());
                        }
                        Some(b.clone())
                    } else {
                        default.or_else(|| self.meta.get(&name).cloned())
                    };
                    run.args.retain(|(k, _)| *k != name);
                    run.args.push((name, v));
                }
                return Ok(());
            }
            "ENV" => {
                ins.check_flags(&[])?;
                let pairs = parse_kv(ins, &self.lexer, &vars, true)?;
                let env = next.cfg().entry("Env").or_insert_with(|| json!([]));
                if !env.is_array() {
                    *env = json!([]);
                }
                let list = env.as_array_mut().expect("array");
                for (k, v) in &pairs {
                    list.retain(|e| e.as_str().and_then(|s| s.split('=').next()) != Some(k));
                    list.push(json!(format!("{k}={v}")));
                }
                created_by = format!(
                    "ENV {}",
                    pairs
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            "LABEL" => {
                ins.check_flags(&[])?;
                let pairs = parse_kv(ins, &self.lexer, &vars, false)?;
                let labels = next.cfg().entry("Labels").or_insert_with(|| json!({}));
                if !labels.is_object() {
                    *labels = json!({});
                }
                for (k, v) in &pairs {
                    labels[k] = json!(v);
                }
                created_by = format!(
                    "LABEL {}",
                    pairs
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            "MAINTAINER" => {
                ins.check_flags(&[])?;
                if ins.args.is_empty() {
                    return Err(step_err(ins, "MAINTAINER requires exactly one argument"));
                }
                next.config["author"] = json!(ins.args);
                created_by = format!("MAINTAINER {}", ins.args);
            }
            "WORKDIR" => {
                ins.check_flags(&[])?;
                let d = w(&ins.args)?;
                if d.is_empty() {
                    return Err(step_err(ins, "WORKDIR requires exactly one argument"));
                }
                let cur = run.state.cfg_ref()["WorkingDir"]
                    .as_str()
                    .unwrap_or("/")
                    .to_string();
                let full = if d.starts_with('/') {
                    d
                } else {
                    format!("{}/{d}", cur.trim_end_matches('/'))
                };
                let full = format!("/{}", clean(&full));
                next.cfg().insert("WorkingDir".into(), json!(full));
                created_by = format!("WORKDIR {full}");
                mkdir = Some(full);
            }
            "USER" => {
                ins.check_flags(&[])?;
                let u = w(&ins.args)?;
                if u.is_empty() {
                    return Err(step_err(ins, "USER requires exactly one argument"));
                }
                next.cfg().insert("User".into(), json!(u));
                created_by = format!("USER {u}");
            }
            "CMD" | "ENTRYPOINT" => {
                ins.check_flags(&[])?;
                let list = self.command_form(&run.state, ins);
                let key = if ins.keyword == "CMD" {
                    "Cmd"
                } else {
                    "Entrypoint"
                };
                next.cfg().insert(key.into(), json!(list));
                if ins.keyword == "CMD" {
                    run.cmd_set = true;
                } else if !run.cmd_set {
                    // docker: a new ENTRYPOINT drops the CMD inherited from the base.
                    next.cfg().insert("Cmd".into(), Value::Null);
                }
                created_by = format!(
                    "{} {}",
                    ins.keyword,
                    serde_json::to_string(&list).unwrap_or_default()
                );
            }
            "EXPOSE" => {
                ins.check_flags(&[])?;
                let words = self
                    .lexer
                    .words(&ins.args, &vars)
                    .map_err(|e| step_err(ins, e.to_string()))?;
                if words.is_empty() {
                    return Err(step_err(ins, "EXPOSE requires at least one argument"));
                }
                let mut ports = Vec::new();
                for p in words {
                    ports.extend(expose_ports(&p).map_err(|m| step_err(ins, m))?);
                }
                let m = next
                    .cfg()
                    .entry("ExposedPorts")
                    .or_insert_with(|| json!({}));
                if !m.is_object() {
                    *m = json!({});
                }
                for p in &ports {
                    m[p] = json!({});
                }
                created_by = format!("EXPOSE {}", ports.join(" "));
            }
            "VOLUME" => {
                ins.check_flags(&[])?;
                let vols = match ins.exec_form() {
                    Some(v) => v.iter().map(|x| w(x)).collect::<Result<Vec<_>, _>>()?,
                    None => self
                        .lexer
                        .words(&ins.args, &vars)
                        .map_err(|e| step_err(ins, e.to_string()))?,
                };
                if vols.is_empty() || vols.iter().any(|v| v.trim().is_empty()) {
                    return Err(step_err(ins, "VOLUME specified can not be an empty string"));
                }
                let m = next.cfg().entry("Volumes").or_insert_with(|| json!({}));
                if !m.is_object() {
                    *m = json!({});
                }
                for v in &vols {
                    m[v] = json!({});
                }
                created_by = format!(
                    "VOLUME {}",
                    serde_json::to_string(&vols).unwrap_or_default()
                );
            }
            "STOPSIGNAL" => {
                ins.check_flags(&[])?;
                let s = w(&ins.args)?;
                let ok = s.parse::<u32>().is_ok()
                    || s.to_ascii_uppercase()
                        .trim_start_matches("SIG")
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
                        && !s.is_empty();
                if !ok {
                    return Err(step_err(ins, format!("invalid signal {s:?}")));
                }
                next.cfg().insert("StopSignal".into(), json!(s));
                created_by = format!("STOPSIGNAL {s}");
            }
            "SHELL" => {
                ins.check_flags(&[])?;
                let list = ins.exec_form().filter(|l| !l.is_empty()).ok_or_else(|| {
                    step_err(ins, "SHELL requires the arguments to be in JSON form")
                })?;
                next.cfg().insert("Shell".into(), json!(list));
                created_by = format!("SHELL {}", serde_json::to_string(&list).unwrap_or_default());
            }
            "HEALTHCHECK" => {
                ins.check_flags(&[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ])?;
                let hc = self.healthcheck(&run.state, ins)?;
                next.cfg().insert("Healthcheck".into(), hc);
                created_by = format!("HEALTHCHECK {}", ins.args);
            }
            "ONBUILD" => {
                ins.check_flags(&[])?;
                let inner = dockerfile::parse(&format!("# escape={}\n{}\n", self.escape, ins.args))
                    .map_err(|e| step_err(ins, e.msg))?;
                let Some(first) = inner.instructions.first() else {
                    return Err(step_err(ins, "ONBUILD requires an instruction"));
                };
                if matches!(first.keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(step_err(
                        ins,
                        format!("{} isn't allowed as an ONBUILD trigger", first.keyword),
                    ));
                }
                let l = next.cfg().entry("OnBuild").or_insert_with(|| json!([]));
                if !l.is_array() {
                    *l = json!([]);
                }
                l.as_array_mut().expect("array").push(json!(ins.args));
                created_by = format!("ONBUILD {}", ins.args);
            }
            "FROM" => return Err(step_err(ins, "FROM inside a stage")),
            other => return Err(step_err(ins, format!("unknown instruction: {other}"))),
        }
        let key = cache::key(&[run.state.id.as_str(), &created_by, &self.args_key(run)]);
        if let Some(s) = self.cached_on(&key, &run.state)? {
            self.progress.cached(n);
            run.state = s;
            return Ok(());
        }
        if let Some(dir) = mkdir {
            let view = self.view(&run.state)?;
            let resolved = resolve_in_root(&view.root, &dir)?;
            if std::fs::symlink_metadata(view.root.join(resolved.trim_start_matches('/'))).is_err()
            {
                let mut w = LayerWriter::new(&self.content)?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let mut out = Out {
                    w: &mut w,
                    view_root: &view.root,
                    done_dirs: BTreeSet::new(),
                    uid: 0,
                    gid: 0,
                    now,
                    link: false,
                };
                out.parents(&format!("{}/x", resolved.trim_end_matches('/')))?;
                drop(view);
                // The config change rides with the layer.
                run.state.config["config"] = next.config["config"].clone();
                return self.finish_layer(run, w, &created_by, &key);
            }
        }
        next.add_step(&created_by, None);
        let _l = StoreLock::shared(&self.ctx.root)?;
        next.commit(&self.content)?;
        self.keep(&key, &next)?;
        run.state = next;
        Ok(())
    }

    fn shell(&self, s: &State) -> Vec<String> {
        s.cfg_ref()["Shell"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .filter(|v: &Vec<String>| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }

    /// Exec form as is; shell form through SHELL.
    fn command_form(&self, s: &State, ins: &Instruction) -> Vec<String> {
        match ins.exec_form() {
            Some(v) => v,
            None => {
                let mut v = self.shell(s);
                v.push(ins.args.clone());
                v
            }
        }
    }

    fn healthcheck(&self, s: &State, ins: &Instruction) -> Result<Value, BuildError> {
        let args = ins.args.trim();
        if args.eq_ignore_ascii_case("NONE") {
            if !ins.flags.is_empty() {
                return Err(step_err(ins, "HEALTHCHECK NONE takes no options"));
            }
            return Ok(json!({"Test": ["NONE"]}));
        }
        let (word, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        if !word.eq_ignore_ascii_case("CMD") || rest.trim().is_empty() {
            return Err(step_err(ins, "HEALTHCHECK requires NONE or CMD <command>"));
        }
        let test: Vec<String> = match dockerfile::exec_form(rest) {
            Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
            None => vec!["CMD-SHELL".into(), rest.trim().to_string()],
        };
        let _ = s;
        let mut hc = json!({"Test": test});
        for (flag, key) in [
            ("interval", "Interval"),
            ("timeout", "Timeout"),
            ("start-period", "StartPeriod"),
            ("start-interval", "StartInterval"),
        ] {
            if let Some(v) = ins.flag(flag) {
                let ns = parse_duration(v)
                    .ok_or_else(|| step_err(ins, format!("--{flag}: invalid duration {v:?}")))?;
                hc[key] = json!(ns);
            }
        }
        if let Some(r) = ins.flag("retries") {
            let n: i64 = r
                .parse()
                .map_err(|_| step_err(ins, format!("--retries: invalid number {r:?}")))?;
            hc["Retries"] = json!(n);
        }
        Ok(hc)
    }

    /// A read-only view of a state's filesystem (for COPY's destination and
    /// sources of `--from`).
    fn view(&self, s: &State) -> Result<View, BuildError> {
        let tmp = TmpDir::new(self.ctx, "view")?;
        let img = s.image(&self.content)?;
        {
            let _l = StoreLock::shared(&self.ctx.root)?;
            self.snaps.unpack(&self.content, &img)?;
        }
        let lowers = self.snaps.lowerdirs(&img)?;
        let root = match lowers.len() {
            0 => {
                let e = tmp.path.join("empty");
                std::fs::create_dir(&e).map_err(BuildError::io("create", &e))?;
                e
            }
            1 => lowers[0].clone(),
            _ => {
                let m = tmp.path.join("view");
                std::fs::create_dir(&m).map_err(BuildError::io("create", &m))?;
                let lower = lowers
                    .iter()
                    .map(|p| {
                        p.to_string_lossy()
                            .replace('\\', "\\\\")
                            .replace(':', "\\:")
                            .replace(',', "\\,")
                    })
                    .collect::<Vec<_>>()
                    .join(":");
                nix::mount::mount(
                    Some("overlay"),
                    &m,
                    Some("overlay"),
                    nix::mount::MsFlags::MS_RDONLY,
                    Some(format!("lowerdir={lower}").as_str()),
                )
                .map_err(|e| BuildError::Io {
                    op: "mount overlay at",
                    path: m.clone(),
                    source: e.into(),
                })?;
                m
            }
        };
        Ok(View { _tmp: tmp, root })
    }

    fn run_step(&self, run: &mut StageRun, ins: &Instruction, n: usize) -> Result<(), BuildError> {
        ins.check_flags(&["mount", "network", "security"])?;
        if let Some(s) = ins.flag("security") {
            if s != "sandbox" {
                return Err(BuildError::Unsupported(format!("RUN --security={s}")));
            }
        }
        let network = match ins.flag("network").or(self.opts.network.as_deref()) {
            Some(n) => {
                let mode = check_network(n).map_err(|e| step_err(ins, e.to_string()))?;
                check_network_exists(self.ctx, &mode).map_err(|e| step_err(ins, e.to_string()))?;
                mode
            }
            // docker's default for RUN: the default bridge.
            None => crate::container::NetworkMode::Default,
        };
        let vars = self.vars(run);
        let args: Vec<String> = match ins.exec_form() {
            Some(v) => v,
            None => {
                let mut script = ins.args.clone();
                if let Some(h) = ins.heredocs.first() {
                    let marker = script.trim();
                    let only = ins.heredocs.len() == 1
                        && (marker == format!("<<{}", h.name)
                            || marker == format!("<<-{}", h.name)
                            || marker == format!("<<\"{}\"", h.name)
                            || marker == format!("<<'{}'", h.name));
                    if only {
                        script = h.content.clone();
                    } else {
                        for h in &ins.heredocs {
                            script.push('\n');
                            script.push_str(&h.content);
                            script.push_str(&h.name);
                        }
                    }
                }
                let mut v = self.shell(&run.state);
                v.push(script);
                v
            }
        };
        let mut mounts = Vec::new();
        let mut mount_key = String::new();
        let mut _holds: Vec<View> = Vec::new();
        for m in ins.flag_values("mount") {
            let Some((mp, key)) = self.run_mount(run, ins, m, &vars, &mut _holds)? else {
                continue;
            };
            mounts.push(mp);
            mount_key.push_str(&key);
            mount_key.push('\n');
        }
        let created_by = format!("RUN {} # buildkit", args.join(" "));
        let key = cache::key(&[
            run.state.id.as_str(),
            &created_by,
            &self.args_key(run),
            &mount_key,
            &format!("{network:?}"),
        ]);
        if let Some(s) = self.cached_on(&key, &run.state)? {
            self.progress.cached(n);
            run.state = s;
            return Ok(());
        }
        // The process's environment: the image's, then ARGs in scope and the proxy args.
        let mut env = env_list(run.state.cfg_ref());
        let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
        for (k, v) in &run.args {
            if let Some(v) = v {
                if !has(&env, k) {
                    env.push(format!("{k}={v}"));
                }
            }
        }
        for p in PROXY_ARGS {
            if let Some(v) = self.build_args.get(*p) {
                if !has(&env, p) {
                    env.push(format!("{p}={v}"));
                }
            }
        }
        let cfg = run.state.cfg_ref();
        let spec = RunSpec {
            args,
            env,
            user: cfg["User"].as_str().unwrap_or("").to_string(),
            workdir: cfg["WorkingDir"].as_str().unwrap_or("").to_string(),
            network,
            mounts,
            extra_hosts: self
                .opts
                .add_hosts
                .iter()
                .map(|h| match h.split_once(':') {
                    Some((n, ip)) if !n.is_empty() && !ip.is_empty() => Ok(h.clone()),
                    _ => Err(BuildError::Invalid(format!(
                        "invalid --add-host {h:?}: use NAME:IP (IP may be host-gateway)"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            ulimits: self
                .opts
                .ulimits
                .iter()
                .map(|u| parse_ulimit(u))
                .collect::<Result<_, _>>()?,
            shm_size: self.opts.shm_size.unwrap_or(0),
        };
        let img = run.state.image(&self.content)?;
        // Mount points the runtime creates for this run only are not the image's:
        // for each, the topmost ancestor it had to create.
        let view = self.view(&run.state)?;
        let scope = crate::volume::tree::Scope::in_root(&view.root)
            .map_err(BuildError::io("open", &view.root))?;
        let mut transient: Vec<(String, String)> = Vec::new();
        for dest in [
            "/etc/hosts",
            "/etc/resolv.conf",
            "/etc/hostname",
            "/proc",
            "/sys",
            "/dev",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(spec.mounts.iter().map(|m| m.destination.clone()))
        {
            let mut cur = String::new();
            for c in dest.split('/').filter(|c| !c.is_empty()) {
                cur.push('/');
                cur.push_str(c);
                if matches!(scope.stat(Path::new(&cur), false), Ok(None)) {
                    transient.push((dest.clone(), cur.clone()));
                    break;
                }
            }
        }
        drop(scope);
        drop(view);
        let outcome = self
            .runner
            .run(&img, &spec, &mut |d| self.progress.output(n, d))?;
        if outcome.code != 0 {
            return Err(BuildError::RunFailed {
                pos: ins.pos,
                instr: format!("RUN {}", ins.args.lines().next().unwrap_or("")),
                code: outcome.code,
            });
        }
        let upper = outcome.upper.clone();
        for (dest, top) in &transient {
            remove_created(&upper, dest, top);
        }
        let mut w = LayerWriter::new(&self.content)?;
        super::layer::diff_upper(&upper, &mut w, &|_| false)?;
        self.finish_layer(run, w, &created_by, &key)
    }

    /// Commit a step's layer: store it, unpack its snapshot, new state, cache entry.
    fn finish_layer(
        &self,
        run: &mut StageRun,
        w: LayerWriter,
        created_by: &str,
        key: &Digest,
    ) -> Result<(), BuildError> {
        let layer = {
            let _l = StoreLock::shared(&self.ctx.root)?;
            w.finish()?
        };
        self.add_layer(run, layer, created_by, key)
    }

    /// A step's result: the state with its layer (if any) on top, its snapshot
    /// unpacked, committed and kept under `key`.
    fn add_layer(
        &self,
        run: &mut StageRun,
        layer: Option<(Digest, u64)>,
        created_by: &str,
        key: &Digest,
    ) -> Result<(), BuildError> {
        let _l = StoreLock::shared(&self.ctx.root)?;
        let mut next = run.state.clone();
        if let Some((d, _)) = &layer {
            let mut ids = next.diff_ids();
            ids.push(d.clone());
            let chains = chain_ids(&ids);
            if let Some(c) = chains.last() {
                self.snaps.unpack_layer(&self.content, d, d, c)?;
            }
        }
        next.add_step(created_by, layer);
        next.commit(&self.content)?;
        self.keep(key, &next)?;
        run.state = next;
        Ok(())
    }

    /// One `RUN --mount=...`: the mount, and what of it goes into the cache key.
    fn run_mount(
        &self,
        run: &StageRun,
        ins: &Instruction,
        spec: &str,
        vars: &Vars,
        holds: &mut Vec<View>,
    ) -> Result<Option<(MountPoint, String)>, BuildError> {
        let mut kv: BTreeMap<String, String> = BTreeMap::new();
        for part in spec.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, "true"));
            let v = self
                .lexer
                .word(v, vars)
                .map_err(|e| step_err(ins, e.to_string()))?;
            kv.insert(k.to_ascii_lowercase(), v);
        }
        let ty = kv.get("type").cloned().unwrap_or_else(|| "bind".into());
        let target = kv
            .get("target")
            .or(kv.get("dst"))
            .or(kv.get("destination"))
            .cloned();
        let wd = run.state.cfg_ref()["WorkingDir"]
            .as_str()
            .unwrap_or("/")
            .to_string();
        let abs = |t: &str| {
            if t.starts_with('/') {
                t.to_string()
            } else {
                format!("{}/{t}", wd.trim_end_matches('/'))
            }
        };
        let bad = |m: String| step_err(ins, m);
        match ty.as_str() {
            "cache" => {
                let target =
                    target.ok_or_else(|| bad("--mount type=cache requires target".into()))?;
                let id = kv.get("id").cloned().unwrap_or_else(|| target.clone());
                let dir = self
                    .ctx
                    .root
                    .join("build/mounts/cache")
                    .join(Digest::sha256(id.as_bytes()).hex());
                std::fs::create_dir_all(&dir).map_err(BuildError::io("create", &dir))?;
                if let (Some(u), Some(g)) = (kv.get("uid"), kv.get("gid")) {
                    if let (Ok(u), Ok(g)) = (u.parse::<u32>(), g.parse::<u32>()) {
                        let _ = std::os::unix::fs::chown(&dir, Some(u), Some(g));
                    }
                }
                Ok(Some((
                    bind(&dir, &abs(&target), true),
                    format!("cache {id} {target}"),
                )))
            }
            "tmpfs" => {
                let target =
                    target.ok_or_else(|| bad("--mount type=tmpfs requires target".into()))?;
                let mut mp = MountPoint {
                    r#type: MountKind::Tmpfs,
                    destination: abs(&target),
                    rw: true,
                    ..Default::default()
                };
                if let Some(s) = kv.get("size") {
                    mp.options = format!("size={s}");
                }
                Ok(Some((mp, format!("tmpfs {target}"))))
            }
            "secret" => {
                let id = kv
                    .get("id")
                    .cloned()
                    .or_else(|| {
                        target
                            .as_ref()
                            .and_then(|t| t.rsplit('/').next().map(str::to_string))
                    })
                    .ok_or_else(|| bad("--mount type=secret requires id".into()))?;
                let target = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
                let required = kv.get("required").is_some_and(|v| v == "true");
                let Some(sec) = self.opts.secrets.iter().find(|s| s.id == id) else {
                    if required {
                        return Err(bad(format!(
                            "secret {id} is required but was not given (--secret id={id},src=PATH)"
                        )));
                    }
                    // An optional secret that is not given: nothing is mounted (as BuildKit).
                    return Ok(None);
                };
                let value = match (&sec.content, &sec.env) {
                    (Some(c), _) => Some(c.clone()),
                    (None, Some(var)) => Some(std::env::var(var).unwrap_or_default()),
                    (None, None) => None,
                };
                let src = match (&sec.src, value) {
                    (Some(p), _) => p.clone(),
                    (None, Some(value)) => {
                        let t = TmpDir::new(self.ctx, "secret")?;
                        let p = t.path.join("secret");
                        std::fs::write(&p, value).map_err(BuildError::io("write", &p))?;
                        holds.push(View {
                            root: p.clone(),
                            _tmp: t,
                        });
                        p
                    }
                    (None, None) => return Err(bad(format!("secret {id} has no src"))),
                };
                Ok(Some((
                    bind(&src, &target, false),
                    format!("secret {id} {target}"),
                )))
            }
            "bind" => {
                let target =
                    target.ok_or_else(|| bad("--mount type=bind requires target".into()))?;
                let source = kv
                    .get("source")
                    .or(kv.get("src"))
                    .cloned()
                    .unwrap_or_default();
                let rel = clean_inside(&source).ok_or_else(|| {
                    bad(format!(
                        "bind source {source:?} is outside the build context"
                    ))
                })?;
                let rw = kv
                    .get("rw")
                    .or(kv.get("readwrite"))
                    .is_some_and(|v| v == "true");
                let (host, key) = match kv.get("from") {
                    Some(from) => {
                        let st = self.source_state(run.index, from, ins)?;
                        let v = self.view(&st)?;
                        let p = resolve_in_root(&v.root, &format!("/{rel}"))?;
                        let host = v.root.join(p.trim_start_matches('/'));
                        holds.push(v);
                        (host, format!("bind from {} {rel}", st.id))
                    }
                    None => {
                        let host = self.bctx.dir.join(&rel);
                        let mut h = Hasher::new();
                        hash_tree(&host, &mut h)?;
                        (host, format!("bind ctx {rel} {}", h.finish()))
                    }
                };
                if rw {
                    return Err(BuildError::Unsupported("RUN --mount=type=bind,rw".into()));
                }
                Ok(Some((
                    bind(&host, &abs(&target), false),
                    format!("{key} {target}"),
                )))
            }
            "ssh" => Err(BuildError::Unsupported("RUN --mount=type=ssh".into())),
            other => Err(bad(format!("unknown mount type {other:?}"))),
        }
    }

    /// The state a `--from` names: a stage before this one, or an image.
    fn source_state(
        &self,
        stage: usize,
        from: &str,
        ins: &Instruction,
    ) -> Result<State, BuildError> {
        match self.plan.lookup(from, stage) {
            Some(d) => self.result_of(d),
            None => self
                .image_state(from)
                .map_err(|e| step_err(ins, format!("--from={from}: {e}"))),
        }
    }

    fn copy_step(&self, run: &mut StageRun, ins: &Instruction, n: usize) -> Result<(), BuildError> {
        let is_add = ins.keyword == "ADD";
        if is_add {
            ins.check_flags(&[
                "from",
                "chown",
                "chmod",
                "link",
                "parents",
                "checksum",
                "keep-git-dir",
            ])?;
            for f in ["checksum", "keep-git-dir"] {
                if ins.has_flag(f) {
                    return Err(BuildError::Unsupported(format!(
                        "ADD --{f} (line {})",
                        ins.pos.line
                    )));
                }
            }
        } else {
            ins.check_flags(&["from", "chown", "chmod", "link", "parents"])?;
        }
        let vars = self.vars(run);
        let words: Vec<String> = match ins.exec_form() {
            Some(v) => v
                .iter()
                .map(|x| self.lexer.word(x, &vars))
                .collect::<Result<_, _>>(),
            None => split_words(&ins.args, self.escape)
                .iter()
                .map(|x| {
                    if x.starts_with("<<") {
                        Ok(x.clone())
                    } else {
                        self.lexer.word(x, &vars)
                    }
                })
                .collect::<Result<_, _>>(),
        }
        .map_err(|e| step_err(ins, e.to_string()))?;
        if words.len() < 2 {
            return Err(step_err(
                ins,
                format!(
                    "{} requires at least two arguments, but got {}",
                    ins.keyword,
                    words.len()
                ),
            ));
        }
        let (srcs, dest) = words.split_at(words.len() - 1);
        let dest = &dest[0];
        let parents = ins.has_flag("parents");
        let chmod =
            match ins.flag("chmod") {
                Some(m) => Some(u32::from_str_radix(m, 8).map_err(|_| {
                    step_err(ins, format!("invalid --chmod {m:?}: use an octal mode"))
                })?),
                None => None,
            };
        let from = match ins.flag("from") {
            Some(f) => {
                let f = self
                    .lexer
                    .word(f, &vars)
                    .map_err(|e| step_err(ins, e.to_string()))?;
                Some((f.clone(), self.source_state(run.index, &f, ins)?))
            }
            None => None,
        };
        // The sources: (path in the source root, or heredoc).
        let mut items: Vec<Source> = Vec::new();
        let mut wildcard = false;
        let src_view = match &from {
            Some((_, st)) => Some(self.view(st)?),
            None => None,
        };
        let src_root: PathBuf = match &src_view {
            Some(v) => v.root.clone(),
            None => self.bctx.dir.clone(),
        };
        let ignore = if from.is_none() {
            Some(&self.bctx.ignore)
        } else {
            None
        };
        for s in srcs {
            if let Some(name) = s.strip_prefix("<<").map(|n| {
                n.trim_start_matches('-')
                    .trim_matches(|c| c == '"' || c == '\'')
            }) {
                if let Some(h) = ins.heredocs.iter().find(|h| h.name == name) {
                    let content = if h.expand {
                        self.lexer
                            .vars_only(&h.content, &vars)
                            .map_err(|e| step_err(ins, e.to_string()))?
                    } else {
                        h.content.clone()
                    };
                    items.push(Source::Inline {
                        name: h.name.clone(),
                        content,
                    });
                    continue;
                }
            }
            if is_add && (s.contains("://") || s.starts_with("git@")) {
                return Err(BuildError::Unsupported(format!(
                    "ADD of a URL ({s}, line {}): berth build does not download URLs; download it into the context and ADD the file",
                    ins.pos.line
                )));
            }
            let rel = clean_inside(s).ok_or_else(|| {
                step_err(
                    ins,
                    format!("forbidden path outside the build context: {s}"),
                )
            })?;
            if has_wildcards(&rel) {
                wildcard = true;
                let pat: Vec<char> = rel.chars().collect();
                let mut found = Vec::new();
                walk_rel(&src_root, "", ignore, &mut |r, _| {
                    if glob(&pat, &r.chars().collect::<Vec<_>>()) {
                        found.push(r.to_string());
                        return false;
                    }
                    true
                })?;
                for f in found {
                    items.push(Source::Path { rel: f });
                }
                continue;
            }
            let resolved = if rel.is_empty() {
                String::new()
            } else {
                resolve_in_root(&src_root, &format!("/{rel}"))?
                    .trim_start_matches('/')
                    .to_string()
            };
            let host = src_root.join(&resolved);
            let excluded = ignore.is_some_and(|m| !rel.is_empty() && m.excluded(&rel));
            if excluded || std::fs::symlink_metadata(&host).is_err() {
                return Err(step_err(
                    ins,
                    format!("failed to compute cache key: \"/{rel}\" not found: file not found in build context or excluded by .dockerignore"),
                ));
            }
            items.push(Source::Path { rel: resolved });
        }
        let created_by = format!(
            "{} {}{} {dest} # buildkit",
            ins.keyword,
            ins.flags
                .iter()
                .filter(|(k, _)| k != "from")
                .map(|(k, v)| format!("--{k}={} ", v.as_deref().unwrap_or("")))
                .collect::<String>(),
            srcs.join(" ")
        );
        // Key: the parent, the instruction, the args, and the content of every source.
        let mut h = Hasher::new();
        match &from {
            Some((_, st)) => {
                h.update(st.id.as_str().as_bytes());
                for it in &items {
                    if let Source::Path { rel } = it {
                        h.update(rel.as_bytes());
                        hash_tree(&src_root.join(rel), &mut h)?;
                    }
                }
            }
            None => {
                for it in &items {
                    match it {
                        Source::Path { rel } => {
                            h.update(format!("\0{rel}\0").as_bytes());
                            let host = src_root.join(rel);
                            hash_tree_filtered(&host, rel, ignore, &mut h)?;
                        }
                        Source::Inline { name, content } => {
                            h.update(format!("\0<<{name}\0").as_bytes());
                            h.update(content.as_bytes());
                        }
                    }
                }
            }
        }
        let digest = h.finish();
        let key = cache::key(&[
            run.state.id.as_str(),
            &created_by,
            &self.args_key(run),
            digest.as_str(),
        ]);
        if let Some(s) = self.cached_on(&key, &run.state)? {
            self.progress.cached(n);
            run.state = s;
            return Ok(());
        }
        // `--link` (BuildKit's): the layer is made without looking at the layers
        // below (no symlink in them followed, missing parents made fresh), so its
        // own cache entry leaves the parent out and a changed earlier step
        // reuses it.
        let link = match ins.flag("link") {
            None => false,
            // A bare `--link` reads as "".
            Some("" | "true") => true,
            Some("false") => false,
            Some(v) => {
                return Err(step_err(
                    ins,
                    format!("invalid --link={v:?}: use true or false"),
                ))
            }
        };
        let parent_view = self.view(&run.state)?;
        let (uid, gid) = match ins.flag("chown") {
            Some(c) => {
                let c = self
                    .lexer
                    .word(c, &vars)
                    .map_err(|e| step_err(ins, e.to_string()))?;
                chown_ids(&parent_view.root, &c).map_err(|m| step_err(ins, m))?
            }
            None => (0, 0),
        };
        let link_key = link.then(|| {
            cache::key(&[
                "link",
                &created_by,
                &self.args_key(run),
                digest.as_str(),
                &format!("{uid}:{gid}"),
            ])
        });
        if let Some(lk) = &link_key {
            if let Some(alone) = self.cached(lk) {
                let diff = alone.diff_ids().last().cloned();
                let size = alone.layers.last().and_then(|l| l["size"].as_u64());
                if let (Some(d), Some(size)) = (diff, size) {
                    drop(parent_view);
                    self.progress.cached(n);
                    return self.add_layer(run, Some((d, size)), &created_by, &key);
                }
            }
        }
        let view = if link {
            drop(parent_view);
            let tmp = TmpDir::new(self.ctx, "link")?;
            let root = tmp.path.join("empty");
            std::fs::create_dir(&root).map_err(BuildError::io("create", &root))?;
            View { _tmp: tmp, root }
        } else {
            parent_view
        };
        let wd = run.state.cfg_ref()["WorkingDir"]
            .as_str()
            .unwrap_or("/")
            .to_string();
        let dest_abs = if dest.starts_with('/') {
            dest.clone()
        } else {
            format!("{}/{dest}", wd.trim_end_matches('/'))
        };
        let dest_clean = format!("/{}", clean(&dest_abs));
        let resolved = resolve_in_root(&view.root, &dest_clean)?;
        let dest_is_dir = dest.ends_with('/')
            || srcs.len() > 1
            || wildcard
            || std::fs::metadata(view.root.join(resolved.trim_start_matches('/')))
                .is_ok_and(|m| m.is_dir());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut w = LayerWriter::new(&self.content)?;
        let mut out = Out {
            w: &mut w,
            view_root: &view.root,
            done_dirs: BTreeSet::new(),
            uid,
            gid,
            now,
            link,
        };
        let err_io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| BuildError::Io {
                op: "archive",
                path: p,
                source: e,
            }
        };
        for it in &items {
            match it {
                Source::Inline { name, content } => {
                    let target = if dest_is_dir {
                        format!("{}/{name}", resolved.trim_end_matches('/'))
                    } else {
                        resolved.clone()
                    };
                    out.parents(&target)?;
                    let m = Meta {
                        mode: chmod.unwrap_or(0o644),
                        uid,
                        gid,
                        mtime: now,
                    };
                    out.w
                        .file(&target, &m, content.len() as u64, content.as_bytes())
                        .map_err(err_io(Path::new(&target)))?;
                }
                Source::Path { rel } => {
                    let host = src_root.join(rel);
                    let md =
                        std::fs::symlink_metadata(&host).map_err(BuildError::io("stat", &host))?;
                    let base_name = Path::new(rel)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let into = if parents && dest_is_dir {
                        format!("{}/{}", resolved.trim_end_matches('/'), rel)
                    } else {
                        resolved.clone()
                    };
                    if md.is_dir() {
                        let top = if parents && dest_is_dir {
                            into.clone()
                        } else {
                            resolved.clone()
                        };
                        out.parents(&format!("{}/x", top.trim_end_matches('/')))?;
                        let ig = ignore;
                        let prefix = rel.clone();
                        let mut entries: Vec<(String, std::fs::Metadata)> = Vec::new();
                        walk_rel(&host, "", None, &mut |r, md| {
                            let full = if prefix.is_empty() {
                                r.to_string()
                            } else {
                                format!("{prefix}/{r}")
                            };
                            if ig.is_some_and(|m| m.excluded(&full)) {
                                return md.is_dir() && ig.is_some_and(|m| m.has_exceptions());
                            }
                            entries.push((r.to_string(), md.clone()));
                            true
                        })?;
                        for (r, md) in entries {
                            let target = format!("{}/{r}", top.trim_end_matches('/'));
                            out.entry(&host.join(&r), &target, &md, chmod)?;
                        }
                    } else if is_add
                        && from.is_none()
                        && md.is_file()
                        && super::context::looks_like_archive(&host)
                    {
                        let top = resolved.clone();
                        out.parents(&format!("{}/x", top.trim_end_matches('/')))?;
                        out.archive(&host, &top)?;
                    } else {
                        let target = if dest_is_dir {
                            if parents {
                                into.clone()
                            } else {
                                format!("{}/{base_name}", resolved.trim_end_matches('/'))
                            }
                        } else {
                            resolved.clone()
                        };
                        out.parents(&target)?;
                        out.entry(&host, &target, &md, chmod)?;
                    }
                }
            }
        }
        drop(src_view);
        drop(view);
        match link_key {
            Some(lk) => {
                let layer = {
                    let _l = StoreLock::shared(&self.ctx.root)?;
                    let layer = w.finish()?;
                    // The layer alone on scratch is its cache entry (and what
                    // keeps its blob from gc).
                    let mut alone = State {
                        config: scratch_config(),
                        layers: Vec::new(),
                        id: Digest::sha256(b""),
                        manifest: Digest::sha256(b""),
                        manifest_size: 0,
                    };
                    alone.add_step(&created_by, layer.clone());
                    alone.commit(&self.content)?;
                    self.keep(&lk, &alone)?;
                    layer
                };
                self.add_layer(run, layer, &created_by, &key)
            }
            None => self.finish_layer(run, w, &created_by, &key),
        }
    }
}

/// Remove a mount point `dest` the runtime created in `upper`, and the empty
/// directories above it up to `top` (the first that the image did not have).
fn remove_created(upper: &Path, dest: &str, top: &str) {
    let mut cur = dest.trim_end_matches('/').to_string();
    loop {
        let p = upper.join(cur.trim_start_matches('/'));
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.is_dir() => {
                if std::fs::remove_dir(&p).is_err() {
                    return;
                }
            }
            Ok(md) if md.len() == 0 && !md.file_type().is_symlink() => {
                if std::fs::remove_file(&p).is_err() {
                    return;
                }
            }
            _ => return,
        }
        if cur == top || !cur.starts_with(top) {
            return;
        }
        match cur.rfind('/') {
            Some(i) if i > 0 => cur.truncate(i),
            _ => return,
        }
    }
}

enum Source {
    Path { rel: String },
    Inline { name: String, content: String },
}

/// A mounted (or plain) read-only filesystem of a state.
struct View {
    _tmp: TmpDir,
    root: PathBuf,
}

fn bind(src: &Path, dst: &str, rw: bool) -> MountPoint {
    MountPoint {
        r#type: MountKind::Bind,
        source: src.to_string_lossy().into_owned(),
        destination: dst.to_string(),
        rw,
        ..Default::default()
    }
}

/// Writes COPY/ADD entries, with the parent directories they need.
struct Out<'w> {
    w: &'w mut LayerWriter,
    view_root: &'w Path,
    done_dirs: BTreeSet<String>,
    uid: u64,
    gid: u64,
    now: u64,
    /// `COPY --link`: missing parents are root's, as BuildKit makes them.
    link: bool,
}

impl Out<'_> {
    /// Directory entries for every ancestor of `target`: the image's own
    /// metadata where it has the directory, new ones (0755, --chown) where not.
    fn parents(&mut self, target: &str) -> Result<(), BuildError> {
        let comps: Vec<&str> = target.split('/').filter(|c| !c.is_empty()).collect();
        let mut cur = String::new();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            cur.push('/');
            cur.push_str(c);
            if !self.done_dirs.insert(cur.clone()) {
                continue;
            }
            let host = self.view_root.join(cur.trim_start_matches('/'));
            let m = match std::fs::symlink_metadata(&host) {
                Ok(md) if md.is_dir() => Meta::of(&md),
                _ if self.link => Meta {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    mtime: self.now,
                },
                _ => Meta {
                    mode: 0o755,
                    uid: self.uid,
                    gid: self.gid,
                    mtime: self.now,
                },
            };
            self.w.dir(&cur, &m).map_err(|e| BuildError::Io {
                op: "archive",
                path: PathBuf::from(&cur),
                source: e,
            })?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        host: &Path,
        target: &str,
        md: &std::fs::Metadata,
        chmod: Option<u32>,
    ) -> Result<(), BuildError> {
        let mut m = Meta::of(md);
        m.uid = self.uid;
        m.gid = self.gid;
        if let Some(c) = chmod {
            m.mode = c;
        }
        let io = |e| BuildError::Io {
            op: "archive",
            path: host.to_path_buf(),
            source: e,
        };
        let ft = md.file_type();
        if ft.is_dir() {
            self.done_dirs.insert(target.to_string());
            self.w.dir(target, &m).map_err(io)
        } else if ft.is_file() {
            let f = std::fs::File::open(host).map_err(BuildError::io("open", host))?;
            self.w.file(target, &m, md.len(), f).map_err(io)
        } else if ft.is_symlink() {
            let t = std::fs::read_link(host).map_err(BuildError::io("readlink", host))?;
            m.mode = 0o777;
            self.w.symlink(target, &m, &t).map_err(io)
        } else {
            self.w.special(target, md).map_err(io)
        }
    }

    /// ADD of a local archive: its entries under `top`.
    fn archive(&mut self, host: &Path, top: &str) -> Result<(), BuildError> {
        let f = std::fs::File::open(host).map_err(BuildError::io("open", host))?;
        let plain = crate::snapshot::extract::decompressor(std::io::BufReader::new(f))
            .map_err(BuildError::io("read", host))?;
        let mut ar = tar::Archive::new(plain);
        let io = |e| BuildError::Io {
            op: "read archive",
            path: host.to_path_buf(),
            source: e,
        };
        for e in ar.entries().map_err(io)? {
            let mut e = e.map_err(io)?;
            let raw = e.path().map_err(io)?.to_string_lossy().into_owned();
            let Some(rel) = clean_inside(&raw) else {
                return Err(BuildError::Invalid(format!(
                    "ADD {}: entry {raw:?} points outside the archive",
                    host.display()
                )));
            };
            if rel.is_empty() {
                continue;
            }
            let target = format!("{}/{rel}", top.trim_end_matches('/'));
            self.parents(&target)?;
            let h = e.header().clone();
            let m = Meta {
                mode: h.mode().unwrap_or(0o644) & 0o7777,
                uid: h.uid().unwrap_or(0),
                gid: h.gid().unwrap_or(0),
                mtime: h.mtime().unwrap_or(0),
            };
            match h.entry_type() {
                tar::EntryType::Directory if self.done_dirs.insert(target.clone()) => {
                    self.w.dir(&target, &m).map_err(io)?;
                }
                tar::EntryType::Directory => {}
                tar::EntryType::Symlink => {
                    let t = e
                        .link_name()
                        .map_err(io)?
                        .map(|c| c.into_owned())
                        .unwrap_or_default();
                    self.w.symlink(&target, &m, &t).map_err(io)?;
                }
                tar::EntryType::Link => {
                    // A hard link inside the archive: copied as the file it names
                    // is not available here; archive it as a link rebased under top.
                    let t = e
                        .link_name()
                        .map_err(io)?
                        .map(|c| c.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let t = clean_inside(&t).ok_or_else(|| {
                        BuildError::Invalid(format!(
                            "ADD {}: link {t:?} points outside",
                            host.display()
                        ))
                    })?;
                    let mut hh = tar::Header::new_gnu();
                    hh.set_entry_type(tar::EntryType::Link);
                    hh.set_size(0);
                    hh.set_mode(m.mode);
                    let lt = format!("{}/{t}", top.trim_start_matches('/').trim_end_matches('/'));
                    self.w
                        .link(&target, &mut hh, Path::new(lt.trim_start_matches('/')))
                        .map_err(io)?;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let size = h.size().unwrap_or(0);
                    let mut data = Vec::with_capacity(size as usize);
                    e.read_to_end(&mut data).map_err(io)?;
                    self.w
                        .file(&target, &m, data.len() as u64, data.as_slice())
                        .map_err(io)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A relative path cleaned; None when `..` would leave the root.
fn clean_inside(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// Resolve `path` (absolute, in the filesystem at `root`) following symlinks
/// as the container would see them, never leaving `root`. Returns the
/// container path with every symlink resolved (the last component too).
pub fn resolve_in_root(root: &Path, path: &str) -> Result<String, BuildError> {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_string)
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        done.push(c);
        let host = root.join(done.join("/"));
        match std::fs::symlink_metadata(&host) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(BuildError::Invalid(format!(
                        "too many levels of symbolic links in {path}"
                    )));
                }
                let t = std::fs::read_link(&host).map_err(BuildError::io("readlink", &host))?;
                let t = t.to_string_lossy().into_owned();
                done.pop();
                if t.starts_with('/') {
                    done.clear();
                }
                for tc in t.split('/').filter(|c| !c.is_empty()).rev() {
                    todo.push(tc.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(format!("/{}", done.join("/")))
}

/// Walk `dir` (no symlink followed), calling `f(rel, metadata)` for each entry
/// in name order; `f` returns whether to descend into a directory.
fn walk_rel(
    dir: &Path,
    rel: &str,
    ignore: Option<&super::ignore::Matcher>,
    f: &mut dyn FnMut(&str, &std::fs::Metadata) -> bool,
) -> Result<(), BuildError> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for name in names {
        let r = if rel.is_empty() {
            name.to_string_lossy().into_owned()
        } else {
            format!("{rel}/{}", name.to_string_lossy())
        };
        let p = dir.join(&name);
        let md = std::fs::symlink_metadata(&p).map_err(BuildError::io("stat", &p))?;
        if ignore.is_some_and(|m| m.excluded(&r))
            && !(md.is_dir() && ignore.is_some_and(|m| m.has_exceptions()))
        {
            continue;
        }
        if f(&r, &md) && md.is_dir() {
            walk_rel(&p, &r, ignore, f)?;
        }
    }
    Ok(())
}

/// Content digest of a file or tree: names, types, modes, link targets and
/// file contents (not times).
fn hash_tree(p: &Path, h: &mut Hasher) -> Result<(), BuildError> {
    hash_tree_filtered(p, "", None, h)
}

fn hash_tree_filtered(
    p: &Path,
    rel: &str,
    ignore: Option<&super::ignore::Matcher>,
    h: &mut Hasher,
) -> Result<(), BuildError> {
    let md = std::fs::symlink_metadata(p).map_err(BuildError::io("stat", p))?;
    hash_entry(p, &md, h)?;
    if md.is_dir() {
        let mut err = None;
        walk_rel(p, "", None, &mut |r, md| {
            let full = if rel.is_empty() {
                r.to_string()
            } else {
                format!("{rel}/{r}")
            };
            if ignore.is_some_and(|m| m.excluded(&full)) {
                return md.is_dir() && ignore.is_some_and(|m| m.has_exceptions());
            }
            h.update(format!("\0{r}\0").as_bytes());
            if let Err(e) = hash_entry(&p.join(r), md, h) {
                err = Some(e);
            }
            true
        })?;
        if let Some(e) = err {
            return Err(e);
        }
    }
    Ok(())
}

fn hash_entry(p: &Path, md: &std::fs::Metadata, h: &mut Hasher) -> Result<(), BuildError> {
    h.update(format!("{:o} {} {} ", md.mode(), md.uid(), md.gid()).as_bytes());
    if md.is_file() {
        let mut f = std::fs::File::open(p).map_err(BuildError::io("open", p))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(BuildError::io("read", p))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else if md.file_type().is_symlink() {
        let t = std::fs::read_link(p).map_err(BuildError::io("readlink", p))?;
        h.update(t.as_os_str().as_encoded_bytes());
    }
    Ok(())
}

/// `--chown user[:group]`: numbers, or names from the image's /etc/passwd and /etc/group.
fn chown_ids(root: &Path, spec: &str) -> Result<(u64, u64), String> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = crate::spec::user::read_in_root(root, "etc/passwd").map_err(|e| e.to_string())?;
    let group = crate::spec::user::read_in_root(root, "etc/group").map_err(|e| e.to_string())?;
    let uid = match u.parse::<u64>() {
        Ok(n) => n,
        Err(_) => {
            crate::spec::user::resolve(u, passwd.as_deref(), group.as_deref())
                .map_err(|e| format!("--chown {spec}: {e}"))?
                .uid as u64
        }
    };
    let gid = match g {
        None => match u.parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                crate::spec::user::resolve(u, passwd.as_deref(), group.as_deref())
                    .map_err(|e| format!("--chown {spec}: {e}"))?
                    .gid as u64
            }
        },
        Some(g) => match g.parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                crate::spec::user::resolve(&format!("0:{g}"), passwd.as_deref(), group.as_deref())
                    .map_err(|e| format!("--chown {spec}: {e}"))?
                    .gid as u64
            }
        },
    };
    Ok((uid, gid))
}

fn env_list(cfg: &Value) -> Vec<String> {
    cfg["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The names a stage refers to, ARGs expanded as its steps will expand them:
/// FROM with the global ARGs, `--from`s with the ARGs the stage declared before
/// them (a global one only when re-declared, as docker). A name that does not
/// expand is kept as written: its step reports the error.
fn stage_refs(
    st: &stage::Stage,
    lexer: &Lexer,
    meta: &Vars,
    build_args: &HashMap<String, String>,
) -> Vec<String> {
    let exp = |w: &str, vars: &Vars| lexer.word(w, vars).unwrap_or_else(|_| w.to_string());
    let mut out = vec![exp(&st.base, meta)];
    let mut vars = Vars::new();
    for ins in &st.instructions {
        if ins.keyword == "ARG" {
            let Ok(list) = parse_arg(ins, lexer, &vars) else {
                continue;
            };
            for (name, default) in list {
                let v = build_args
                    .get(&name)
                    .cloned()
                    .or(default)
                    .or_else(|| meta.get(&name).cloned());
                match v {
                    Some(v) => {
                        vars.insert(name, v);
                    }
                    None => {
                        vars.remove(&name);
                    }
                }
            }
        }
        out.extend(ins.source_refs().iter().map(|r| exp(r, &vars)));
    }
    out
}

/// ARG's `name[=default]` words.
fn parse_arg(
    ins: &Instruction,
    lexer: &Lexer,
    vars: &Vars,
) -> Result<Vec<(String, Option<String>)>, BuildError> {
    let words = split_words(&ins.args, lexer.escape);
    if words.is_empty() {
        return Err(step_err(ins, "ARG requires at least one argument"));
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) => {
                let v = lexer
                    .word(v, vars)
                    .map_err(|e| step_err(ins, e.to_string()))?;
                out.push((k.to_string(), Some(v)));
            }
            None => out.push((w, None)),
        }
    }
    for (k, _) in &out {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(step_err(ins, format!("invalid ARG name {k:?}")));
        }
    }
    Ok(out)
}

/// ENV/LABEL pairs: `k=v ...`, or (ENV, LABEL) the legacy `k v with spaces`.
fn parse_kv(
    ins: &Instruction,
    lexer: &Lexer,
    vars: &Vars,
    env: bool,
) -> Result<Vec<(String, String)>, BuildError> {
    let words = split_words(&ins.args, lexer.escape);
    let e = |e: super::dockerfile::expand::ExpandError| step_err(ins, e.to_string());
    if words.is_empty() {
        return Err(step_err(
            ins,
            format!("{} requires at least one argument", ins.keyword),
        ));
    }
    if !words[0].contains('=') {
        // Legacy form: the first word is the key, the rest of the line the value.
        let key = lexer.word(&words[0], vars).map_err(e)?;
        let rest = ins.args.trim_start()[words[0].len()..].trim();
        if rest.is_empty() && env {
            return Err(step_err(
                ins,
                "ENV names can not be blank / ENV requires a value",
            ));
        }
        let val = lexer.word(rest, vars).map_err(e)?;
        return Ok(vec![(key, val)]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(step_err(
                ins,
                format!("{}: expected KEY=VALUE, got {w:?}", ins.keyword),
            ));
        };
        let k = lexer.word(k, vars).map_err(e)?;
        if k.is_empty() {
            return Err(step_err(
                ins,
                format!("{} names can not be blank", ins.keyword),
            ));
        }
        out.push((k, lexer.word(v, vars).map_err(e)?));
    }
    Ok(out)
}

/// `80`, `80/udp`, `8000-8002/tcp` -> port/proto keys.
fn expose_ports(p: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto {proto:?} in EXPOSE {p}"));
    }
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("invalid port {s:?} in EXPOSE {p}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(ports)?, num(ports)?),
    };
    if hi < lo {
        return Err(format!("invalid port range in EXPOSE {p}"));
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}

/// `--ulimit nofile=1024:2048`.
fn parse_ulimit(u: &str) -> Result<crate::container::Ulimit, BuildError> {
    let bad = || BuildError::Invalid(format!("invalid --ulimit {u:?}: use NAME=SOFT[:HARD]"));
    let (name, vals) = u.split_once('=').ok_or_else(bad)?;
    crate::spec::resources::rlimit_type(name)
        .map_err(|e| BuildError::Invalid(format!("invalid --ulimit {u:?}: {e}")))?;
    let (soft, hard) = match vals.split_once(':') {
        Some((s, h)) => (s, h),
        None => (vals, vals),
    };
    let parse = |s: &str| -> Result<i64, BuildError> {
        if s == "-1" || s == "unlimited" {
            Ok(-1)
        } else {
            s.parse().map_err(|_| bad())
        }
    };
    Ok(crate::container::Ulimit {
        name: name.to_string(),
        soft: parse(soft)?,
        hard: parse(hard)?,
    })
}

/// Go durations (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn parse_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        total += v * match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(clean_inside("a/../b/./c"), Some("b/c".into()));
        assert_eq!(clean_inside("../x"), None);
        assert_eq!(clean_inside("a/../../x"), None);
        assert_eq!(expose_ports("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(expose_ports("53/udp").unwrap(), vec!["53/udp"]);
        assert_eq!(expose_ports("8000-8001").unwrap().len(), 2);
        assert!(expose_ports("x").is_err());
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        let u = parse_ulimit("nofile=10:20").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 10, 20));
        assert_eq!(parse_ulimit("nproc=unlimited").unwrap().hard, -1);
        assert!(parse_ulimit("bogus=1").is_err());
        assert!(parse_ulimit("nofile").is_err());
    }

    #[test]
    fn resolve_stays_in_root() {
        let root = std::env::temp_dir().join(format!("berth-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("up")).unwrap();
        assert_eq!(resolve_in_root(&root, "/abs/dir/x").unwrap(), "/real/dir/x");
        assert_eq!(resolve_in_root(&root, "/up/passwd").unwrap(), "/etc/passwd");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn kv_forms() {
        let l = Lexer::new('\\');
        let v: Vars = [("A".to_string(), "1".to_string())].into_iter().collect();
        let ins = |args: &str| Instruction {
            pos: Default::default(),
            keyword: "ENV".into(),
            flags: vec![],
            args: args.into(),
            heredocs: vec![],
        };
        assert_eq!(
            parse_kv(&ins("K=\"a b\" B=$A"), &l, &v, true).unwrap(),
            vec![("K".into(), "a b".into()), ("B".into(), "1".into())]
        );
        assert_eq!(
            parse_kv(&ins("K some value $A"), &l, &v, true).unwrap(),
            vec![("K".into(), "some value 1".into())]
        );
    }
}
