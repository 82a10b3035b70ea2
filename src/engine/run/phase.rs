//! One phase of a run: its steps in order, its watches in the background, its
//! observation window, lag and budget checks, and the journal entries around them.

use crate::engine::exec::{StepResult, run_step};
use crate::engine::restore::Registry;
use crate::engine::{Cancel, hold, lag};
use crate::journal::event::Status;
use crate::journal::{CancelReason, EventKind};
use crate::playbook::{OnFailure, OverBudget, Phase};
use crate::steps::{PhaseWindow, StepCtx};
use chrono::Utc;
use std::sync::Arc;

/// Run one phase; returns the failures it saw. `restoring` phases are not
/// stopped by cancellation (only a third signal ends the process).
pub(in crate::engine) async fn run_phase(
    phase: &Phase,
    ctx: &StepCtx,
    registry: &Arc<Registry>,
    cancel: &Cancel,
    restoring: bool,
) -> Vec<String> {
    let _ = ctx.events.emit(EventKind::PhaseStarted {
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
    let lag_watch = lag::watch(phase, ctx, cancel);

    // Watches run in the background while the steps go on.
    let phase_over = Cancel::new();
    let watches = spawn_watches(phase, ctx, registry, &phase_over);
    failures.extend(run_steps(phase, ctx, registry, cancel, restoring).await);
    failures.extend(await_watches(watches, &phase_over, cancel, restoring).await);

    if phase.hold.is_some() && (restoring || cancel.reason().is_none()) {
        failures.extend(hold::hold(phase, ctx, cancel).await);
    }
    failures.extend(lag::finish(lag_watch).await);
    failures.extend(lag::at_end(phase, ctx, cancel).await);
    failures.extend(over_budget(phase, ctx, phase_started.elapsed()));
    finish_phase(phase, ctx, cancel, restoring, &failures);
    failures
}

/// Start each of the phase's watches in its own task; `phase_over` stops them.
fn spawn_watches(
    phase: &Phase,
    ctx: &StepCtx,
    registry: &Arc<Registry>,
    phase_over: &Cancel,
) -> Vec<tokio::task::JoinHandle<StepResult>> {
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
    watches
}

/// The phase's steps in order, until one fails in an `on_failure: abort` phase
/// or the drill is stopped (restoring phases are not stopped). Returns the failures.
async fn run_steps(
    phase: &Phase,
    ctx: &StepCtx,
    registry: &Arc<Registry>,
    cancel: &Cancel,
    restoring: bool,
) -> Vec<String> {
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
}

/// Watches have their own timeouts; the phase ends when they are done,
/// unless the drill is being stopped. Returns the failed watches.
async fn await_watches(
    watches: Vec<tokio::task::JoinHandle<StepResult>>,
    phase_over: &Cancel,
    cancel: &Cancel,
    restoring: bool,
) -> Vec<String> {
    let mut failures = vec![];
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
    failures
}

/// Close the phase's window and journal how it ended.
fn finish_phase(
    phase: &Phase,
    ctx: &StepCtx,
    cancel: &Cancel,
    restoring: bool,
    failures: &[String],
) {
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
    let _ = ctx.events.emit(EventKind::PhaseFinished {
        phase: phase.name.clone(),
        kind: phase.kind.as_str().into(),
        status,
        detail,
    });
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
