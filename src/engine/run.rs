//! The life of a run: create the run directory, take the environment lock,
//! open the journal, follow the phases (watches in the background,
//! guardrails from the first mutation, signals and the deadline all feeding
//! one cancellation), restore on every path, evaluate metrics, decide the
//! outcome, and write the reports from the journal.

mod phase;

use super::metrics::{self, MetricValue};
use super::restore::Registry;
use super::signals::SignalState;
use super::{Cancel, exit, guardrails, lock, signals};
use crate::journal::event::{Outcome, Status};
use crate::journal::{CancelReason, EventKind, JOURNAL_FILE, Journal, read_journal};
use crate::playbook::{Loaded, PhaseKind};
use crate::steps::{Interaction, StepCtx};
use chrono::Utc;
pub(super) use phase::run_phase;
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
    let (lock, mut shared) = take_locks(&pb, &run_dir, opts.state.as_ref()).await?;
    let jpath = run_dir.join(JOURNAL_FILE);
    let journal =
        Journal::open(&jpath, loaded.secrets.clone(), 0.0).map_err(|e| StartError::Journal {
            path: jpath.display().to_string(),
            source: e,
        })?;
    for o in &opts.observers {
        journal.add_observer(o.clone());
    }
    let publishers = Publishers::start(&pb, &journal, &run_dir);
    if let Some(n) = std::env::var("GAMEDAY_CRASH_AFTER_EVENT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        journal.crash_after(n);
    }
    journal_run_started(&journal, &pb, &run_dir, &opts.interaction).map_err(|e| {
        StartError::Journal {
            path: jpath.display().to_string(),
            source: e,
        }
    })?;
    super::identity::journal_run_context(&pb, &journal).await;
    journal_locks(&journal, &pb, &lock, shared.as_mut());
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
    let background = Background::spawn(&ctx, &registry, &cancel, &sig_state, abandon)?;

    let mut failures: Vec<String> = vec![];
    for phase in pb.phases.iter().filter(|p| p.kind < PhaseKind::Restore) {
        if cancel.reason().is_some() {
            break;
        }
        failures.extend(run_phase(phase, &ctx, &registry, &cancel, false).await);
    }
    failures.extend(restore(&ctx, &registry, &cancel, &sig_state).await);
    background.stop_watching();
    failures.extend(super::post::run_post_phases(&pb, &ctx, &registry, &cancel, &sig_state).await);
    background.cancel_logger.abort();

    ctx.children.finish().await;
    let still_applied: Vec<String> = registry
        .still_applied()
        .iter()
        .map(|a| a.step.clone())
        .collect();
    let metric_values = journal_metrics(&pb, &jpath, &journal, &mut failures);
    let reason = cancel.reason();
    let outcome = outcome_of(&still_applied, reason.as_ref(), &failures);
    let exit_code = exit::for_outcome(outcome);
    let _ = journal.emit(EventKind::RunFinished {
        outcome,
        exit_code,
        still_applied: still_applied.clone(),
    });
    let _ = journal.sync();
    publishers.finish().await;
    background.signals.abort();
    if let Some(h) = heartbeat {
        h.abort();
    }
    if let Some(g) = local_guard {
        g.stop();
    }
    drop(lock);
    write_reports(&run_dir, &opts, &journal);
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

/// Observers that send the run's events elsewhere: notifications, the Pushgateway.
struct Publishers {
    notifier: Option<crate::notify::Notifier>,
    pushgateway: Option<crate::pushgateway::Publisher>,
}

impl Publishers {
    fn start(
        pb: &crate::playbook::Playbook,
        journal: &crate::journal::EventSink,
        run_dir: &std::path::Path,
    ) -> Publishers {
        let notifier =
            crate::notify::Notifier::start(&pb.notify, journal, run_dir, &pb.name, &pb.environment);
        let pushgateway = pb.pushgateway.as_deref().map(|url| {
            crate::pushgateway::Publisher::start(url, journal, &pb.name, &pb.environment)
        });
        Publishers {
            notifier,
            pushgateway,
        }
    }

    /// Send what is left (10 s at most each).
    async fn finish(self) {
        if let Some(n) = self.notifier {
            n.finish(std::time::Duration::from_secs(10)).await;
        }
        if let Some(p) = self.pushgateway {
            p.finish(std::time::Duration::from_secs(10)).await;
        }
    }
}

/// The environment lock, and with `--state` the S3 one; the run directory is
/// removed when either is refused.
async fn take_locks(
    pb: &crate::playbook::Playbook,
    run_dir: &std::path::Path,
    state: Option<&crate::state::Location>,
) -> Result<(lock::EnvLock, Option<crate::state::sync::Shared>), StartError> {
    let lock = match lock::acquire(&pb.environment, &pb.name, &run_dir.display().to_string()) {
        Ok(l) => l,
        Err(e) => {
            let _ = std::fs::remove_dir(run_dir);
            return Err(StartError::Locked(e));
        }
    };
    let shared = match state {
        Some(loc) => {
            match crate::state::sync::start(loc, run_dir, &pb.name, &pb.environment, pb.lease.get())
                .await
            {
                Ok(s) => Some(s),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(run_dir);
                    return Err(StartError::Locked(e));
                }
            }
        }
        None => None,
    };
    Ok((lock, shared))
}

/// The run's first event: what runs, where, by whom, from which playbook.
fn journal_run_started(
    journal: &Journal,
    pb: &crate::playbook::Playbook,
    run_dir: &std::path::Path,
    interaction: &Interaction,
) -> std::io::Result<crate::journal::Event> {
    let run_id = run_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unattended = !matches!(interaction, Interaction::Prompt);
    journal.emit(EventKind::RunStarted {
        run_id,
        drill: pb.name.clone(),
        description: pb.description.clone(),
        owner: pb.owner.clone(),
        playbook_path: pb.path.clone(),
        playbook_hash: pb.hash.clone(),
        playbook: Box::new(crate::journal::playbook::JournaledPlaybook::of(pb)),
        environment: pb.environment.clone(),
        vars: serde_json::to_value(&pb.vars).unwrap_or_default(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        operator: super::operator(),
        unattended,
        pid: std::process::id(),
    })
}

/// Journal the locks taken, and start keeping the run's state beside the S3 lock.
fn journal_locks(
    journal: &crate::journal::EventSink,
    pb: &crate::playbook::Playbook,
    lock: &lock::EnvLock,
    shared: Option<&mut crate::state::sync::Shared>,
) {
    let _ = journal.emit(EventKind::LockAcquired {
        path: lock.path.display().to_string(),
        stale_previous: lock.stale_previous.clone(),
    });
    if let Some(s) = shared {
        s.spawn(journal.clone(), pb.lease.get());
        // The S3 lock, besides the local one; the run's state is kept beside it.
        let _ = journal.emit(EventKind::LockAcquired {
            path: s.lock_url(),
            stale_previous: None,
        });
    }
}

/// The tasks that can stop a run while it goes: signals, the deadline,
/// guardrails; and the one that journals the cancellation.
struct Background {
    signals: tokio::task::JoinHandle<()>,
    deadline: Option<tokio::task::JoinHandle<()>>,
    guardrails: Vec<tokio::task::JoinHandle<()>>,
    cancel_logger: tokio::task::JoinHandle<()>,
}

impl Background {
    fn spawn(
        ctx: &StepCtx,
        registry: &Arc<Registry>,
        cancel: &Cancel,
        sig_state: &Arc<SignalState>,
        abandon: tokio::sync::oneshot::Sender<PathBuf>,
    ) -> Result<Background, StartError> {
        let pb = &ctx.playbook;
        let signals = signals::spawn(
            sig_state.clone(),
            cancel.clone(),
            ctx.events.clone(),
            ctx.run_dir.clone(),
            ctx.children.clone(),
            abandon,
        )
        .map_err(StartError::Signals)?;
        let deadline = pb.deadline.map(|d| {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(d.get()).await;
                cancel.cancel(
                    CancelReason::Deadline,
                    format!("the drill's deadline of {d} passed"),
                );
            })
        });
        let guardrails = guardrails::spawn(&pb.guardrails, ctx, registry.clone(), cancel.clone());
        // Journal the cancellation once, whatever caused it.
        let cancel_logger = {
            let cancel = cancel.clone();
            let events = ctx.events.clone();
            tokio::spawn(async move {
                cancel.cancelled().await;
                if let Some((reason, detail)) = cancel.reason() {
                    let _ = events.emit(EventKind::Cancelled { reason, detail });
                }
            })
        };
        Ok(Background {
            signals,
            deadline,
            guardrails,
            cancel_logger,
        })
    }

    /// Restoration is over: guardrails and the deadline no longer stop anything.
    fn stop_watching(&self) {
        for t in &self.guardrails {
            t.abort();
        }
        if let Some(t) = &self.deadline {
            t.abort();
        }
    }
}

/// Restoration: the restore phase, then anything still applied, newest first.
/// Returns the restore phase's failures.
async fn restore(
    ctx: &StepCtx,
    registry: &Arc<Registry>,
    cancel: &Cancel,
    sig_state: &SignalState,
) -> Vec<String> {
    let (pb, journal) = (&ctx.playbook, &ctx.events);
    let mut failures = vec![];
    sig_state.restoring.store(true, Ordering::SeqCst);
    let _restore_lock = match super::guard::lock_restore(&ctx.run_dir, false) {
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
            failures.extend(run_phase(p, ctx, registry, cancel, true).await);
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
    failures
}

/// Evaluate the metrics from the journal so far and journal each; a missed
/// target is a failure.
fn journal_metrics(
    pb: &crate::playbook::Playbook,
    jpath: &std::path::Path,
    journal: &Journal,
    failures: &mut Vec<String>,
) -> Vec<MetricValue> {
    let events = read_journal(jpath).map(|r| r.events).unwrap_or_default();
    let metric_values = metrics::evaluate(pb, &events);
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
    metric_values
}

/// The run's outcome: anything still applied first, then why it stopped, then failures.
fn outcome_of(
    still_applied: &[String],
    reason: Option<&(CancelReason, String)>,
    failures: &[String],
) -> Outcome {
    if !still_applied.is_empty() {
        Outcome::RestoreFailed
    } else {
        match reason {
            Some((CancelReason::Signal, _)) => Outcome::Interrupted,
            Some(_) => Outcome::Aborted,
            None if !failures.is_empty() => Outcome::Failed,
            None => Outcome::Passed,
        }
    }
}

/// Write the reports from the journal; a failure is a warning and a hint.
fn write_reports(run_dir: &std::path::Path, opts: &RunOptions, journal: &Journal) {
    if let Err(e) = crate::report::write_reports_as(
        run_dir,
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
