//! Attached `up`: the services' logs interleaved with coloured prefixes
//! until the stack stops; Ctrl-C (or `--abort-on-container-exit`) stops the
//! stack gracefully, a second Ctrl-C kills it.

use crate::compose::engine;
use crate::compose::error::{ComposeError, Result};
use crate::compose::logs::{self, LogOptions};
use crate::compose::observe;
use crate::container::{self, ContainerStore};
use crate::context::Context;
use nix::sys::signal::{SigSet, Signal};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct AttachOptions {
    pub abort_on_container_exit: bool,
    pub exit_code_from: Option<String>,
    /// `-t`: grace period when stopping.
    pub timeout: Option<Duration>,
    pub color: bool,
    pub prefix: bool,
    pub timestamps: bool,
}

/// Blocks SIGINT and SIGTERM in this thread (and the threads it spawns from
/// now on) and counts them in a thread of their own, so Ctrl-C reaches
/// compose rather than killing it half-way.
fn catch_signals() -> Result<Arc<AtomicU8>> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()
        .map_err(|e| ComposeError::Invalid(format!("blocking signals: {e}")))?;
    let count = Arc::new(AtomicU8::new(0));
    let c = count.clone();
    // Detached: it lives as long as the process (it only counts).
    std::thread::spawn(move || {
        while set.wait().is_ok() {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    Ok(count)
}

/// How often attached `up` looks for new replicas of its services (a
/// concurrent `compose up --scale` or `compose scale`).
const DISCOVER_EVERY: u32 = 10;

/// Follows the containers (by service) until they all stop or the user
/// interrupts; returns compose's exit code. Containers that restart keep their
/// stream (the same log file), and replicas of the attached services that
/// appear meanwhile get one of their own, as docker compose v2 does.
pub fn run(
    ctx: &Context,
    project_name: &str,
    containers: &BTreeMap<String, Vec<String>>,
    opts: &AttachOptions,
) -> Result<i32> {
    let signals = catch_signals()?;
    let store = ContainerStore::open(ctx).map_err(|e| ComposeError::Container(e.to_string()))?;
    let mut members: Vec<(String, String, container::ContainerRecord)> = Vec::new();
    for (svc, names) in containers {
        for n in names {
            if let Ok(rec) = store.resolve(n) {
                members.push((svc.clone(), n.clone(), rec));
            }
        }
    }
    let lopts = LogOptions {
        follow: true,
        tail: None,
        timestamps: opts.timestamps,
        since: None,
        until: None,
        color: opts.color,
        prefix: opts.prefix,
        until_stopped: true,
    };
    let initial: Vec<String> = members.iter().map(|(_, n, _)| n.clone()).collect();
    let printer = logs::Printer::new(&initial, &lopts);
    let stop = Arc::new(AtomicBool::new(false));
    let mut code = 0;
    let mut interrupted = false;
    std::thread::scope(|s| {
        let lopts = &lopts;
        let follow = |idx: usize, name: String, rec: container::ContainerRecord| {
            let (p, stop) = (printer.clone(), stop.clone());
            s.spawn(move || logs::tail_one(ctx, &rec, &name, idx, lopts, &p, &stop));
        };
        for (idx, (_, name, rec)) in members.iter().enumerate() {
            follow(idx, name.clone(), rec.clone());
        }
        let mut reported: BTreeMap<String, bool> = BTreeMap::new();
        let mut tick = 0u32;
        loop {
            if signals.load(Ordering::SeqCst) > 0 {
                interrupted = true;
                break;
            }
            tick += 1;
            if tick.is_multiple_of(DISCOVER_EVERY) {
                // A failed look is retried at the next round.
                if let Ok(found) = observe::members(ctx, project_name) {
                    for m in found {
                        if m.oneoff
                            || !containers.contains_key(&m.service)
                            || members.iter().any(|(_, n, _)| *n == m.rec.name)
                        {
                            continue;
                        }
                        follow(members.len(), m.rec.name.clone(), m.rec.clone());
                        members.push((m.service, m.rec.name.clone(), m.rec));
                    }
                }
            }
            let mut any_active = false;
            let mut abort = false;
            for (svc, name, rec) in &members {
                let st = container::state(ctx, rec);
                if st.running || st.restarting {
                    any_active = true;
                    reported.remove(name);
                    continue;
                }
                if reported.insert(name.clone(), true).is_none() {
                    printer.notice(&format!("{name} exited with code {}", st.exit_code));
                    if opts.exit_code_from.as_deref() == Some(svc.as_str())
                        || (opts.abort_on_container_exit
                            && opts.exit_code_from.is_none()
                            && code == 0)
                    {
                        code = st.exit_code;
                    }
                    if opts.abort_on_container_exit {
                        abort = true;
                    }
                }
            }
            if abort {
                interrupted = true;
                break;
            }
            if !any_active {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if interrupted {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            let timeout = if signals.load(Ordering::SeqCst) > 1 {
                Some(Duration::ZERO)
            } else {
                opts.timeout
            };
            let names: Vec<&String> = members.iter().map(|(_, n, _)| n).collect();
            let result = observe::members(ctx, project_name).and_then(|m| {
                let mine: Vec<_> = m
                    .into_iter()
                    .filter(|x| names.contains(&&x.rec.name))
                    .collect();
                // A second Ctrl-C while stopping kills what is left.
                let sig = signals.clone();
                let kill_on_second = {
                    let mine = mine.clone();
                    s.spawn(move || {
                        while sig.load(Ordering::SeqCst) < 2 {
                            if mine.iter().all(|x| !observe::running(ctx, &x.rec)) {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        let _ = engine::kill(ctx, mine, "KILL");
                    })
                };
                let r = engine::stop(ctx, mine, timeout);
                let _ = kill_on_second.join();
                r
            });
            if let Err(e) = result {
                eprintln!("berth: {e}");
            }
            if opts.exit_code_from.is_none() && !opts.abort_on_container_exit {
                code = 130;
            }
        }
        stop.store(true, Ordering::SeqCst);
    });
    if let Some(svc) = &opts.exit_code_from {
        if let Some((_, _, rec)) = members.iter().find(|(s, _, _)| s == svc) {
            code = container::state(ctx, rec).exit_code;
        }
    }
    Ok(code)
}
