//! Running one step: the intent-before-act protocol for mutating steps,
//! retries with backoff for errors, polling for waits (with the marker at
//! the instant the condition first held), and the step's events.

use super::restore::{Applied, Registry};
use crate::journal::EventKind;
use crate::journal::event::Status;
use crate::playbook::spec::{Effect, StepSpec};
use crate::playbook::{PhaseKind, Step};
use crate::steps::{self, Outcome, StepCtx, StepError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::{Duration, Instant};

/// How a step ended, for the dispatcher.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub status: Status,
    pub summary: String,
}

impl StepResult {
    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Passed | Status::Skipped)
    }
}

/// One attempt, bounded by the step's timeout.
async fn attempt(
    step: &Step,
    ctx: &StepCtx,
    timeout: Option<Duration>,
) -> Result<Outcome, StepError> {
    let exe = steps::executor(&step.spec);
    match timeout {
        Some(t) => tokio::time::timeout(t, exe.run(ctx))
            .await
            .unwrap_or_else(|_| {
                Err(StepError::retryable(format!(
                    "timed out after {}",
                    crate::playbook::duration::format(t)
                )))
            }),
        None => exe.run(ctx).await,
    }
}

/// Run `step` of phase `phase` to its end. Cancellation is the caller's:
/// dropping this future stops the step (children are killed by their guards).
pub async fn run_step(
    step: &Step,
    phase: PhaseKind,
    ctx: &StepCtx,
    registry: &Registry,
    watch: bool,
) -> StepResult {
    if let StepSpec::Manual(m) = &step.spec
        && let (Some(check), steps::Interaction::Auto { .. }) = (&m.check, &ctx.interaction)
    {
        return Box::pin(check_instead_of_person(step, check, phase, ctx, registry)).await;
    }
    journal_started(step, ctx, watch);
    let started = Instant::now();
    if phase == PhaseKind::Restore
        && let Some(why) = not_measurable(step, ctx)
    {
        return not_measured(step, ctx, why);
    }
    let (result, attempts) = execute(step, phase, ctx, registry).await;
    let (status, outcome, error, marker_at) = match result {
        Ok((o, at)) if o.ok => (Status::Passed, Some(o), None, at),
        Ok((o, _)) => (Status::Failed, Some(o), None, None),
        Err(e) => (Status::Failed, None, Some(e.message), None),
    };
    if status == Status::Passed {
        journal_passed(step, ctx, marker_at, outcome.as_ref());
    }
    let summary = match (&outcome, &error) {
        (Some(o), _) => o.summary.clone(),
        (None, Some(e)) => e.clone(),
        _ => String::new(),
    };
    let _ = ctx.events.emit(EventKind::StepFinished {
        phase: ctx.phase_name.clone(),
        step: step.name.clone(),
        kind: step.spec.kind().into(),
        status,
        summary: summary.clone(),
        value: outcome.as_ref().and_then(|o| o.value),
        evidence: outcome.map(|o| o.evidence).unwrap_or(Value::Null),
        attempts,
        duration_seconds: started.elapsed().as_secs_f64(),
        error,
    });
    StepResult { status, summary }
}

/// `StepStarted`, with the calls the step makes as its description.
fn journal_started(step: &Step, ctx: &StepCtx, watch: bool) {
    let exe = steps::executor(&step.spec);
    let description = {
        let plan = exe.plan(&steps::PlanCtx {
            playbook: &ctx.playbook,
        });
        plan.iter()
            .map(|c| c.call.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let _ = ctx.events.emit(EventKind::StepStarted {
        phase: ctx.phase_name.clone(),
        step: step.name.clone(),
        kind: step.spec.kind().into(),
        description,
        watch,
    });
}

/// A restoration-phase measurement with nothing to measure ends skipped.
fn not_measured(step: &Step, ctx: &StepCtx, why: String) -> StepResult {
    let summary = format!("not measured: {why}");
    let _ = ctx.events.emit(EventKind::StepFinished {
        phase: ctx.phase_name.clone(),
        step: step.name.clone(),
        kind: step.spec.kind().into(),
        status: Status::Skipped,
        summary: summary.clone(),
        value: None,
        evidence: Value::Null,
        attempts: 0,
        duration_seconds: 0.0,
        error: None,
    });
    StepResult {
        status: Status::Skipped,
        summary,
    }
}

/// The step's work, by what it does: an `undo` step undoes, a change goes
/// through intent-before-act, a waited check polls, anything else is retried
/// on errors. Returns the result and the number of attempts.
async fn execute(
    step: &Step,
    phase: PhaseKind,
    ctx: &StepCtx,
    registry: &Registry,
) -> (Result<(Outcome, Option<Timed>), StepError>, u32) {
    let effect = step.spec.effect();
    let timeout = match effect {
        Effect::ReadOnly | Effect::Mutating { .. } => Some(step.timeout.get()),
        _ => None,
    };
    if let StepSpec::Undo(u) = &step.spec {
        (
            registry
                .undo_named(ctx, &u.of, &format!("restore step `{}`", step.name))
                .await,
            1,
        )
    } else if let Effect::Mutating { .. } = effect {
        run_mutating(step, phase, ctx, registry, timeout).await
    } else if let (Some(w), Effect::ReadOnly) = (step.wait, effect) {
        run_wait(step, ctx, w.every.get(), w.timeout.get(), timeout).await
    } else {
        run_with_retries(step, ctx, timeout).await
    }
}

/// A step that passed sets its marker (at the instant the condition first
/// held, when known) and journals the value it records.
fn journal_passed(step: &Step, ctx: &StepCtx, marker_at: Option<Timed>, outcome: Option<&Outcome>) {
    if let Some(name) = &step.mark {
        let (at, resolution, source) = match marker_at {
            Some(m) => m,
            None => (Utc::now(), None, "step completed".to_string()),
        };
        ctx.markers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone(), at);
        let _ = ctx.events.emit(EventKind::Marker {
            name: name.clone(),
            at,
            observed_at: Utc::now(),
            resolution_seconds: resolution,
            source,
            step: step.name.clone(),
        });
    }
    if let (Some(rec), Some(v)) = (&step.record, outcome.and_then(|o| o.value)) {
        let _ = ctx.events.emit(EventKind::Recorded {
            name: rec.clone(),
            value: v,
            unit: None,
            step: step.name.clone(),
        });
    }
}

type Timed = (DateTime<Utc>, Option<f64>, String);

/// Why a restoration-phase measurement has nothing to measure: the marker
/// or phase it measures from never happened (the isolation failed, so the
/// drill went straight to restoration). Such a step is not measured rather
/// than failed: the failure is the isolation's, reported once.
fn not_measurable(step: &Step, ctx: &StepCtx) -> Option<String> {
    let marker_missing = |m: &String| ctx.marker(m).is_none();
    match &step.spec {
        StepSpec::Alert(a) => {
            a.after.as_ref().filter(|m| marker_missing(m)).map(|m| {
                format!("marker `{m}` was never set (the step that sets it did not succeed)")
            })
        }
        StepSpec::PrometheusWindow(w) => {
            let baseline_before = w.baseline.as_ref().and_then(|b| b.before.as_ref());
            match (&w.since, &w.window, baseline_before) {
                (Some(m), _, _) if marker_missing(m) => Some(format!(
                    "marker `{m}` was never set (the step that sets it did not succeed)"
                )),
                (None, Some(p), _) if ctx.window(p).is_none() => {
                    Some(format!("phase `{p}` never ran, so it has no window"))
                }
                (_, _, Some(m)) if marker_missing(m) => Some(format!(
                    "marker `{m}` was never set, so there is no baseline window before it"
                )),
                _ => None,
            }
        }
        _ => None,
    }
}

async fn run_with_retries(
    step: &Step,
    ctx: &StepCtx,
    timeout: Option<Duration>,
) -> (Result<(Outcome, Option<Timed>), StepError>, u32) {
    use backon::Retryable;
    let n = std::sync::atomic::AtomicU32::new(0);
    let result = (|| async {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        attempt(step, ctx, timeout).await
    })
    .retry(steps::retry::backoff(
        step.backoff.get(),
        steps::retry::MAX_DELAY,
        step.retries as usize,
    ))
    .sleep(tokio::time::sleep)
    .when(|e: &StepError| e.retryable)
    .notify(|e: &StepError, _| {
        let _ = ctx.events.emit(EventKind::StepAttempt {
            phase: ctx.phase_name.clone(),
            step: step.name.clone(),
            attempt: n.load(std::sync::atomic::Ordering::SeqCst),
            ok: false,
            summary: "error; retrying".into(),
            error: Some(e.message.clone()),
        });
    })
    .await;
    (
        result.map(|o| (o, None)),
        n.load(std::sync::atomic::Ordering::SeqCst),
    )
}

/// Poll until the check holds. Errors are journaled and polling goes on
/// until the wait's timeout (a gap in the data is not a verdict).
async fn run_wait(
    step: &Step,
    ctx: &StepCtx,
    every: Duration,
    limit: Duration,
    timeout: Option<Duration>,
) -> (Result<(Outcome, Option<Timed>), StepError>, u32) {
    let start = tokio::time::Instant::now();
    let deadline = start + limit;
    let mut n = 0;
    let mut last: Option<Outcome> = None;
    let mut last_error: Option<String> = None;
    let mut tick = start;
    loop {
        n += 1;
        let polled_at = Utc::now();
        let per_attempt = timeout.map(|t| {
            t.min(
                deadline
                    .saturating_duration_since(tokio::time::Instant::now())
                    .max(Duration::from_millis(100)),
            )
        });
        match attempt(step, ctx, per_attempt).await {
            Ok(o) if o.ok => {
                let at = match &o.refined {
                    Some(r) => (r.at, Some(r.resolution_seconds), r.source.clone()),
                    None => (
                        polled_at,
                        Some(every.as_secs_f64()),
                        format!(
                            "first poll that held (every {})",
                            crate::playbook::duration::format(every)
                        ),
                    ),
                };
                return (Ok((o, Some(at))), n);
            }
            Ok(o) => {
                if last_error.is_some() {
                    let _ = ctx.events.emit(EventKind::StepAttempt {
                        phase: ctx.phase_name.clone(),
                        step: step.name.clone(),
                        attempt: n,
                        ok: true,
                        summary: format!("reachable again: {}", o.summary),
                        error: None,
                    });
                    last_error = None;
                }
                last = Some(o);
            }
            Err(e) => {
                if last_error.as_deref() != Some(e.message.as_str()) {
                    let _ = ctx.events.emit(EventKind::StepAttempt {
                        phase: ctx.phase_name.clone(),
                        step: step.name.clone(),
                        attempt: n,
                        ok: false,
                        summary: "poll failed; still waiting".into(),
                        error: Some(e.message.clone()),
                    });
                }
                if !e.retryable {
                    return (Err(e), n);
                }
                last_error = Some(e.message);
            }
        }
        tick += every;
        let now = tokio::time::Instant::now();
        while tick <= now {
            tick += every; // skip missed ticks rather than bursting
        }
        if tick > deadline {
            let waited = crate::playbook::duration::format(limit);
            return match (last, last_error) {
                (_, Some(e)) => (
                    Err(StepError::fatal(format!(
                        "condition not met within {waited}; last poll failed: {e}"
                    ))),
                    n,
                ),
                (Some(mut o), None) => {
                    o.summary = format!("condition not met within {waited}: {}", o.summary);
                    (Ok((o, None)), n)
                }
                (None, None) => (
                    Err(StepError::fatal(format!(
                        "condition not met within {waited}"
                    ))),
                    n,
                ),
            };
        }
        tokio::time::sleep_until(tick).await;
    }
}

/// Capture, journal the intent (fsync'd), act, journal the result.
async fn run_mutating(
    step: &Step,
    phase: PhaseKind,
    ctx: &StepCtx,
    registry: &Registry,
    timeout: Option<Duration>,
) -> (Result<(Outcome, Option<Timed>), StepError>, u32) {
    let exe = steps::executor(&step.spec);
    if phase == PhaseKind::Restore {
        // Restoration steps put things back; they are not undone themselves.
        return run_with_retries(step, ctx, timeout).await;
    }
    let captured = match timeout {
        Some(t) => tokio::time::timeout(t, exe.capture(ctx))
            .await
            .unwrap_or_else(|_| {
                Err(StepError::fatal(
                    "timed out reading the state before the change",
                ))
            }),
        None => exe.capture(ctx).await,
    };
    let (pre_state, undo) = match captured {
        Ok(Some((pre, undo))) => (pre, Some(undo)),
        Ok(None) => (Value::Null, None),
        Err(e) => {
            return (
                Err(StepError::fatal(format!(
                    "could not read the state before changing it, so nothing was changed: {}",
                    e.message
                ))),
                1,
            );
        }
    };
    let undo = match (undo, &step.irreversible) {
        (Some(u), _) => Some(u),
        (None, Some(irr)) => Some(steps::Undo {
            description: format!("manual: {} (covered by `{}`)", irr.reason, irr.covered_by),
            action: steps::UndoAction::Manual {
                instructions: format!("{} — see restore step `{}`", irr.reason, irr.covered_by),
            },
        }),
        (None, None) => None,
    };
    let id = registry.next_id(&step.name);
    let intent = EventKind::Intent {
        id: id.clone(),
        phase: ctx.phase_name.clone(),
        step: step.name.clone(),
        description: exe
            .plan(&steps::PlanCtx {
                playbook: &ctx.playbook,
            })
            .iter()
            .map(|c| c.call.clone())
            .collect::<Vec<_>>()
            .join("; "),
        pre_state,
        undo: undo.as_ref().and_then(|u| serde_json::to_value(u).ok()),
    };
    if let Err(e) = ctx.events.emit(intent) {
        return (
            Err(StepError::fatal(format!(
                "could not write the intent to the journal, so nothing was changed: {e}"
            ))),
            0,
        );
    }
    registry.first_mutation();
    // From here on the change may have happened: it is registered for undo
    // unless the step says clearly that it failed before acting.
    let applied = Applied {
        id: id.clone(),
        step: step.name.clone(),
        undo,
    };
    registry.push(applied);
    let (result, n) = run_with_retries(step, ctx, timeout).await;
    let certain = matches!(&result, Ok((o, _)) if o.ok);
    let _ = ctx.events.emit(EventKind::Applied { id, certain });
    (result, n)
}

/// An unattended run meets a manual step with `unattended: { check: STEP }`:
/// the check replaces the person, and the journal says so (the manual step
/// is confirmed by the check, or fails with it).
async fn check_instead_of_person(
    step: &Step,
    check: &Step,
    phase: PhaseKind,
    ctx: &StepCtx,
    registry: &Registry,
) -> StepResult {
    let started = Instant::now();
    let _ = ctx.events.emit(EventKind::StepStarted {
        phase: ctx.phase_name.clone(),
        step: step.name.clone(),
        kind: step.spec.kind().into(),
        description: format!("unattended run: check `{}` replaces the person", check.name),
        watch: false,
    });
    let r = run_step(
        check,
        phase,
        &ctx.for_step(&ctx.phase_name, &check.name),
        registry,
        false,
    )
    .await;
    let by = format!("check `{}` (unattended: check)", check.name);
    if r.passed() {
        let _ = ctx.events.emit(EventKind::ManualConfirmed {
            step: step.name.clone(),
            by: by.clone(),
            answer: None,
            automatic: true,
        });
    }
    let summary = if r.passed() {
        format!("confirmed by {by}: {}", r.summary)
    } else {
        format!("not confirmed: {by} failed: {}", r.summary)
    };
    let _ = ctx.events.emit(EventKind::StepFinished {
        phase: ctx.phase_name.clone(),
        step: step.name.clone(),
        kind: step.spec.kind().into(),
        status: r.status,
        summary: summary.clone(),
        value: None,
        evidence: serde_json::json!({ "replaced_by_check": check.name }),
        attempts: 1,
        duration_seconds: started.elapsed().as_secs_f64(),
        error: None,
    });
    StepResult {
        status: r.status,
        summary,
    }
}
