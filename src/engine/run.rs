//! The life of a run: create the run directory, take the environment lock,
//! open the journal, follow the phases (watches in the background,
//! guardrails from the first mutation, signals and the deadline all feeding
//! one cancellation), restore on every path, evaluate metrics, decide the
//! outcome, and write the reports from the journal.

use super::exec::{StepResult, run_step};
use super::metrics::{self, MetricValue};
use super::restore::Registry;
use super::signals::SignalState;
use super::{Cancel, exit, guardrails, lock, signals};
use crate::journal::event::{Outcome, Status};
use crate::journal::{CancelReason, EventKind, JOURNAL_FILE, Journal, read_journal};
use crate::playbook::{Loaded, OnFailure, OverBudget, Phase, PhaseKind};
use crate::steps::{Interaction, PhaseWindow, StepCtx};
use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Parent of the run directory (`./reports` by default).
    pub out_dir: PathBuf,
    pub interaction: Interaction,
    /// Observers of the event stream (terminal view, JSON log).
    pub observers: Vec<Arc<dyn crate::journal::writer::Observer>>,
    /// Also write a JUnit file here.
    pub junit: Option<PathBuf>,
    /// Markdown template instead of the shipped one.
    pub template: Option<PathBuf>,
    /// Start the dead-man's switch (`engine::guard`); `--no-guard` turns it off.
    pub guard: bool,
    /// Which reports to write (`--format`).
    pub formats: crate::report::Formats,
    /// Keep the journal, heartbeat and environment lock in S3 too (`--state`).
    pub state: Option<crate::state::Location>,
}

/// What the caller needs after a run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_dir: PathBuf,
    pub outcome: Outcome,
    pub exit_code: i32,
    pub metrics: Vec<MetricValue>,
    pub still_applied: Vec<String>,
    pub cancel: Option<(CancelReason, String)>,
    pub failures: Vec<String>,
    /// A third signal abandoned restoration: what was applied may still be.
    pub abandoned: bool,
}

impl RunSummary {
    /// The run stopped during restoration: `gameday restore RUN_DIR` finishes it.
    fn abandoned(run_dir: PathBuf) -> RunSummary {
        RunSummary {
            run_dir,
            outcome: Outcome::RestoreFailed,
            exit_code: exit::for_outcome(Outcome::RestoreFailed),
            metrics: vec![],
            still_applied: vec![],
            cancel: Some((CancelReason::Signal, "restoration abandoned".into())),
            failures: vec![],
            abandoned: true,
        }
    }
}

/// Why a run could not start (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the run directory {path}: {source}")]
    RunDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Locked(String),
    #[error("cannot open the journal {path}: {source}")]
    Journal {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
}

fn create_run_dir(out: &std::path::Path, name: &str) -> Result<PathBuf, StartError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    std::fs::create_dir_all(out).map_err(|e| StartError::RunDir {
        path: out.display().to_string(),
        source: e,
    })?;
    for n in 0..1000 {
        let dir = if n == 0 {
            out.join(format!("{stamp}-{slug}"))
        } else {
            out.join(format!("{stamp}-{slug}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(StartError::RunDir {
                    path: dir.display().to_string(),
                    source: e,
                });
            }
        }
    }
    Err(StartError::RunDir {
        path: out.display().to_string(),
        source: std::io::Error::other("too many runs this second"),
    })
}

/// Run a loaded playbook to the end (restoration included), or until a
/// third signal abandons restoration: then the run stops where it is and
/// the summary says so ([`RunSummary::abandoned`]).
pub async fn run_drill(loaded: Loaded, opts: RunOptions) -> Result<RunSummary, StartError> {
    let (abandon, abandoned) = tokio::sync::oneshot::channel();
    tokio::select! {
        r = run_to_end(loaded, opts, abandon) => r,
        Ok(run_dir) = abandoned => Ok(RunSummary::abandoned(run_dir)),
    }
}

async fn run_to_end(
    loaded: Loaded,
    opts: RunOptions,
    abandon: tokio::sync::oneshot::Sender<PathBuf>,
) -> Result<RunSummary, StartError> {
    crate::redact::install(&loaded.secrets);
    let pb = Arc::new(loaded.playbook);
    let run_dir = create_run_dir(&opts.out_dir, &pb.name)?;
    let lock = match lock::acquire(&pb.environment, &pb.name, &run_dir.display().to_string()) {
        Ok(l) => l,
        Err(e) => {
            let _ = std::fs::remove_dir(&run_dir);
            return Err(StartError::Locked(e));
        }
    };
    let mut shared = match &opts.state {
        Some(loc) => {
            match crate::state::sync::start(
                loc,
                &run_dir,
                &pb.name,
                &pb.environment,
                pb.lease.get(),
            )
            .await
            {
                Ok(s) => Some(s),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&run_dir);
                    return Err(StartError::Locked(e));
                }
            }
        }
        None => None,
    };
    let jpath = run_dir.join(JOURNAL_FILE);
    let journal =
        Journal::open(&jpath, loaded.secrets.clone(), 0.0).map_err(|e| StartError::Journal {
            path: jpath.display().to_string(),
            source: e,
        })?;
    for o in &opts.observers {
        journal.add_observer(o.clone());
    }
    let notifier =
        crate::notify::Notifier::start(&pb.notify, &journal, &run_dir, &pb.name, &pb.environment);
    let pushgateway = pb
        .pushgateway
        .as_deref()
        .map(|url| crate::pushgateway::Publisher::start(url, &journal, &pb.name, &pb.environment));
    if let Some(n) = std::env::var("GAMEDAY_CRASH_AFTER_EVENT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        journal.crash_after(n);
    }
    let run_id = run_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unattended = !matches!(opts.interaction, Interaction::Prompt);
    journal
        .emit(EventKind::RunStarted {
            run_id,
            drill: pb.name.clone(),
            description: pb.description.clone(),
            owner: pb.owner.clone(),
            playbook_path: pb.path.clone(),
            playbook_hash: pb.hash.clone(),
            playbook: Box::new(crate::journal::playbook::JournaledPlaybook::of(&pb)),
            environment: pb.environment.clone(),
            vars: serde_json::to_value(&pb.vars).unwrap_or_default(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            operator: super::operator(),
            unattended,
            pid: std::process::id(),
        })
        .map_err(|e| StartError::Journal {
            path: jpath.display().to_string(),
            source: e,
        })?;
    super::identity::journal_run_context(&pb, &journal).await;
    let _ = journal.emit(EventKind::LockAcquired {
        path: lock.path.display().to_string(),
        stale_previous: lock.stale_previous.clone(),
    });
    if let Some(s) = shared.as_mut() {
        s.spawn(journal.clone(), pb.lease.get());
        // The S3 lock, besides the local one; the run's state is kept beside it.
        let _ = journal.emit(EventKind::LockAcquired {
            path: s.lock_url(),
            stale_previous: None,
        });
    }
    let (heartbeat, local_guard) = start_guard(&run_dir, &pb, &journal, opts.guard);

    let ctx = StepCtx::new(
        pb.clone(),
        journal.clone(),
        run_dir.clone(),
        opts.interaction.clone(),
    );
    let cancel = Cancel::new();
    let registry = Arc::new(Registry::default());
    let sig_state = Arc::new(SignalState::default());
    let sig_task = signals::spawn(
        sig_state.clone(),
        cancel.clone(),
        journal.clone(),
        run_dir.clone(),
        ctx.children.clone(),
        abandon,
    )
    .map_err(StartError::Signals)?;
    let deadline_task = pb.deadline.map(|d| {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d.get()).await;
            cancel.cancel(
                CancelReason::Deadline,
                format!("the drill's deadline of {d} passed"),
            );
        })
    });
    let guard_tasks = guardrails::spawn(&pb.guardrails, &ctx, registry.clone(), cancel.clone());
    // Journal the cancellation once, whatever caused it.
    let cancel_logger = {
        let cancel = cancel.clone();
        let events = journal.clone();
        tokio::spawn(async move {
            cancel.cancelled().await;
            if let Some((reason, detail)) = cancel.reason() {
                let _ = events.emit(EventKind::Cancelled { reason, detail });
            }
        })
    };

    let mut failures: Vec<String> = vec![];
    for phase in pb.phases.iter().filter(|p| p.kind < PhaseKind::Restore) {
        if cancel.reason().is_some() {
            break;
        }
        failures.extend(run_phase(phase, &ctx, &registry, &cancel, false).await);
    }

    // Restoration: the restore phase, then anything still applied, newest first.
    sig_state.restoring.store(true, Ordering::SeqCst);
    let _restore_lock = match super::guard::lock_restore(&run_dir, false) {
        Ok(l) => l,
        Err(e) => {
            let _ = journal.emit(EventKind::Warning {
                message: format!("cannot take the restore lock: {e}"),
                step: None,
            });
            None
        }
    };
    let restore_phase = pb.phases.iter().find(|p| p.kind == PhaseKind::Restore);
    if registry.anything_applied() {
        if let Some(p) = restore_phase {
            failures.extend(run_phase(p, &ctx, &registry, &cancel, true).await);
        }
        let rctx = ctx.for_step("restore", "automatic restoration");
        registry
            .undo_all(
                &rctx,
                "automatic restoration: still applied after the restore phase",
            )
            .await;
    } else if let Some(p) = restore_phase {
        let _ = journal.emit(EventKind::PhaseStarted {
            phase: p.name.clone(),
            kind: p.kind.as_str().into(),
            budget_seconds: None,
        });
        let _ = journal.emit(EventKind::PhaseFinished {
            phase: p.name.clone(),
            kind: p.kind.as_str().into(),
            status: Status::Skipped,
            detail: Some("nothing was applied, so there is nothing to restore".into()),
        });
    }
    for t in guard_tasks {
        t.abort();
    }
    if let Some(t) = deadline_task {
        t.abort();
    }
    failures.extend(super::post::run_post_phases(&pb, &ctx, &registry, &cancel, &sig_state).await);
    cancel_logger.abort();

    ctx.children.finish().await;
    let still_applied: Vec<String> = registry
        .still_applied()
        .iter()
        .map(|a| a.step.clone())
        .collect();
    let events = read_journal(&jpath).map(|r| r.events).unwrap_or_default();
    let metric_values = metrics::evaluate(&pb, &events);
    for m in &metric_values {
        let _ = journal.emit(EventKind::Metric {
            name: m.name.clone(),
            value: m.value,
            unit: m.unit.clone(),
            target: m.target.clone(),
            met: m.met,
            resolution_seconds: m.resolution_seconds,
            detail: m.detail.clone(),
        });
        if m.met == Some(false) {
            failures.push(format!(
                "metric `{}` missed its target {}",
                m.name,
                m.target.as_deref().unwrap_or("")
            ));
        }
    }
    let reason = cancel.reason();
    let outcome = if !still_applied.is_empty() {
        Outcome::RestoreFailed
    } else {
        match &reason {
            Some((CancelReason::Signal, _)) => Outcome::Interrupted,
            Some(_) => Outcome::Aborted,
            None if !failures.is_empty() => Outcome::Failed,
            None => Outcome::Passed,
        }
    };
    let exit_code = exit::for_outcome(outcome);
    let _ = journal.emit(EventKind::RunFinished {
        outcome,
        exit_code,
        still_applied: still_applied.clone(),
    });
    let _ = journal.sync();
    if let Some(n) = notifier {
        n.finish(std::time::Duration::from_secs(10)).await;
    }
    if let Some(p) = pushgateway {
        p.finish(std::time::Duration::from_secs(10)).await;
    }
    sig_task.abort();
    if let Some(h) = heartbeat {
        h.abort();
    }
    if let Some(g) = local_guard {
        g.stop();
    }
    drop(lock);
    if let Err(e) = crate::report::write_reports_as(
        &run_dir,
        opts.template.as_deref(),
        opts.junit.as_deref(),
        opts.formats,
    ) {
        let _ = journal.emit(EventKind::Warning {
            message: format!("could not write the reports: {e}"),
            step: None,
        });
        eprintln!(
            "gameday: could not write the reports: {e}\n  = hint: rebuild them later with `gameday report {}`",
            run_dir.display()
        );
    }
    if let Some(s) = shared {
        s.finish(std::time::Duration::from_secs(60)).await;
    }
    Ok(RunSummary {
        run_dir,
        outcome,
        exit_code,
        metrics: metric_values,
        still_applied,
        cancel: reason,
        failures,
        abandoned: false,
    })
}

/// Start the heartbeat and the local guard, and journal the guard's pid.
/// A guard that cannot start is a warning: the run still restores by itself.
fn start_guard(
    run_dir: &std::path::Path,
    pb: &crate::playbook::Playbook,
    journal: &Journal,
    enabled: bool,
) -> (
    Option<tokio::task::JoinHandle<()>>,
    Option<super::guard::LocalGuard>,
) {
    if !enabled {
        return (None, None);
    }
    let heartbeat = super::guard::spawn_heartbeat(run_dir);
    match super::guard::spawn_local(run_dir, pb.lease.get()) {
        Ok(g) => {
            let _ = journal.emit(EventKind::GuardStarted {
                pid: g.pid(),
                lease_seconds: pb.lease.secs(),
                host: super::operator(),
            });
            (Some(heartbeat), Some(g))
        }
        Err(e) => {
            let _ = journal.emit(EventKind::Warning {
                message: format!(
                    "the guard (dead-man's switch) could not start: {e}; if this process dies, run `gameday restore {}`",
                    run_dir.display()
                ),
                step: None,
            });
            (Some(heartbeat), None)
        }
    }
}

/// Run one phase; returns the failures it saw. `restoring` phases are not
/// stopped by cancellation (only a third signal ends the process).
pub(super) async fn run_phase(
    phase: &Phase,
    ctx: &StepCtx,
    registry: &Arc<Registry>,
    cancel: &Cancel,
    restoring: bool,
) -> Vec<String> {
    let events = &ctx.events;
    let _ = events.emit(EventKind::PhaseStarted {
        phase: phase.name.clone(),
        kind: phase.kind.as_str().into(),
        budget_seconds: phase.budget.map(|b| b.secs()),
    });
    ctx.windows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(PhaseWindow {
            kind: phase.kind,
            name: phase.name.clone(),
            start: Utc::now(),
            end: None,
        });
    let phase_started = std::time::Instant::now();
    let mut failures = vec![];
    let lag_watch = super::lag::watch(phase, ctx, cancel);

    // Watches run in the background while the steps go on.
    let phase_over = Cancel::new();
    let mut watches = vec![];
    for w in &phase.watches {
        let w = w.clone();
        let wctx = ctx.for_step(&phase.name, &w.name);
        let registry = registry.clone();
        let over = phase_over.clone();
        let kind = phase.kind;
        watches.push(tokio::spawn(async move {
            tokio::select! {
                r = run_step(&w, kind, &wctx, &registry, true) => r,
                _ = over.cancelled() => {
                    let detail = over.reason().map(|r| r.1).unwrap_or_default();
                    cancelled_event(&wctx, &w, &detail);
                    StepResult { status: Status::Cancelled, summary: detail }
                }
            }
        }));
    }

    let steps = async {
        let mut fails = vec![];
        for s in &phase.steps {
            let sctx = ctx.for_step(&phase.name, &s.name);
            let r = if restoring {
                Some(run_step(s, phase.kind, &sctx, registry, false).await)
            } else {
                tokio::select! {
                    r = run_step(s, phase.kind, &sctx, registry, false) => Some(r),
                    _ = cancel.cancelled() => None,
                }
            };
            match r {
                None => {
                    let detail = cancel.reason().map(|r| r.1).unwrap_or_default();
                    cancelled_event(&sctx, s, &format!("stopped: {detail}"));
                    break;
                }
                Some(r) if r.passed() => {
                    if restoring {
                        resolve_covered(ctx, registry, &s.name);
                    }
                }
                Some(r) => {
                    fails.push(format!("step `{}` failed: {}", s.name, r.summary));
                    if phase.on_failure == OnFailure::Abort && !restoring {
                        cancel.cancel(
                            CancelReason::StepFailed,
                            format!(
                                "step `{}` failed in phase `{}`: {}",
                                s.name, phase.name, r.summary
                            ),
                        );
                        break;
                    }
                }
            }
        }
        fails
    };
    failures.extend(steps.await);

    // Watches have their own timeouts; the phase ends when they are done,
    // unless the drill is being stopped.
    for w in watches {
        let r = if restoring {
            w.await
        } else {
            let mut w = w;
            tokio::select! {
                r = &mut w => r,
                _ = cancel.cancelled() => {
                    phase_over.cancel(CancelReason::StepFailed, format!("stopped: {}", cancel.reason().map(|r| r.1).unwrap_or_default()));
                    w.await
                }
            }
        };
        if let Ok(r) = r
            && r.status == Status::Failed
        {
            failures.push(format!("watch failed: {}", r.summary));
        }
    }
    if phase.hold.is_some() && (restoring || cancel.reason().is_none()) {
        failures.extend(super::hold::hold(phase, ctx, cancel).await);
    }
    failures.extend(super::lag::finish(lag_watch).await);
    failures.extend(super::lag::at_end(phase, ctx, cancel).await);
    failures.extend(over_budget(phase, ctx, phase_started.elapsed()));
    if let Some(w) = ctx
        .windows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter_mut()
        .rev()
        .find(|w| w.name == phase.name)
    {
        w.end = Some(Utc::now());
    }
    let status = if cancel.reason().is_some() && !restoring {
        Status::Cancelled
    } else if failures.is_empty() {
        Status::Passed
    } else {
        Status::Failed
    };
    let detail = if failures.is_empty() {
        None
    } else {
        Some(failures.join("; "))
    };
    let _ = events.emit(EventKind::PhaseFinished {
        phase: phase.name.clone(),
        kind: phase.kind.as_str().into(),
        status,
        detail,
    });
    failures
}

/// A phase that took longer than its budget: journaled; a failure with `over_budget: fail`.
fn over_budget(phase: &Phase, ctx: &StepCtx, took: std::time::Duration) -> Option<String> {
    let budget = phase.budget?;
    if took <= budget.get() {
        return None;
    }
    let fails = phase.over_budget == OverBudget::Fail;
    let _ = ctx.events.emit(EventKind::BudgetExceeded {
        phase: phase.name.clone(),
        budget_seconds: budget.secs(),
        actual_seconds: took.as_secs_f64(),
        fails,
    });
    fails.then(|| {
        format!(
            "phase `{}` took {:.1} s, over its budget of {budget}",
            phase.name,
            took.as_secs_f64()
        )
    })
}

fn cancelled_event(ctx: &StepCtx, s: &crate::playbook::Step, detail: &str) {
    let _ = ctx.events.emit(EventKind::StepFinished {
        phase: ctx.phase_name.clone(),
        step: s.name.clone(),
        kind: s.spec.kind().into(),
        status: Status::Cancelled,
        summary: detail.to_string(),
        value: None,
        evidence: serde_json::Value::Null,
        attempts: 0,
        duration_seconds: 0.0,
        error: None,
    });
}

/// A restore-phase step that passed covers the irreversible steps that name it.
fn resolve_covered(ctx: &StepCtx, registry: &Registry, restore_step: &str) {
    let covered: Vec<String> = ctx
        .playbook
        .all_steps()
        .filter(|(_, s)| {
            s.irreversible
                .as_ref()
                .is_some_and(|i| i.covered_by == restore_step)
        })
        .map(|(_, s)| s.name.clone())
        .collect();
    for a in registry
        .still_applied()
        .into_iter()
        .filter(|a| covered.contains(&a.step))
    {
        let _ = ctx.events.emit(EventKind::UndoStarted {
            id: a.id.clone(),
            reason: format!("covered by restore step `{restore_step}`"),
        });
        let _ = ctx.events.emit(EventKind::Undone { id: a.id.clone() });
        registry.forget(&a.id);
    }
}
