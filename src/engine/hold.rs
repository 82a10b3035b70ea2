//! The observation window of a phase (`hold:`): after the phase's steps and
//! watches completed, the phase goes on for the hold's length while its
//! `invariants` are polled, each on its own schedule. The first invariant
//! that keeps failing for its `for:` ends the hold: the phase fails with the
//! instant it broke and the evidence of that check. Guardrails stay armed
//! (they run until restoration ends); the run's cancellation (a signal, a
//! guardrail, the deadline) ends the hold at once and restoration follows.

use super::Cancel;
use crate::journal::EventKind;
use crate::journal::event::Status;
use crate::playbook::{Invariant, Phase};
use crate::steps::{self, StepCtx};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::{Duration, Instant};

/// An invariant that stopped holding.
struct Broken {
    name: String,
    since: DateTime<Utc>,
    summary: String,
    evidence: Value,
}

/// Hold `phase` for its `hold`; returns the failure, if an invariant broke.
pub(super) async fn hold(phase: &Phase, ctx: &StepCtx, cancel: &Cancel) -> Option<String> {
    let length = phase.hold?.get();
    let events = &ctx.events;
    let _ = events.emit(EventKind::HoldStarted {
        phase: phase.name.clone(),
        hold_seconds: length.as_secs_f64(),
        invariants: phase
            .invariants
            .iter()
            .map(|i| i.step.name.clone())
            .collect(),
    });
    let started = Instant::now();
    let mut checks = tokio::task::JoinSet::new();
    for inv in phase.invariants.iter().cloned() {
        let ictx = ctx.for_step(&phase.name, &inv.step.name);
        checks.spawn(watch(inv, ictx));
    }
    let first_break = async {
        match checks.join_next().await {
            Some(Ok(b)) => b,
            // No invariants (or a check task that panicked): hold for the length.
            _ => std::future::pending().await,
        }
    };
    let (status, detail, failure) = tokio::select! {
        _ = tokio::time::sleep(length) => (
            Status::Passed,
            None,
            None,
        ),
        b = first_break => {
            let _ = events.emit(EventKind::InvariantBroken {
                phase: phase.name.clone(),
                name: b.name.clone(),
                since: b.since,
                summary: b.summary.clone(),
                evidence: b.evidence,
            });
            let msg = format!(
                "invariant `{}` broke during the hold of phase `{}` at {}: {}",
                b.name,
                phase.name,
                b.since.format("%H:%M:%S%.3fZ"),
                b.summary
            );
            (Status::Failed, Some(msg.clone()), Some(msg))
        }
        _ = cancel.cancelled() => (
            Status::Cancelled,
            Some(format!(
                "stopped: {}",
                cancel.reason().map(|r| r.1).unwrap_or_default()
            )),
            None,
        ),
    };
    checks.abort_all();
    let _ = events.emit(EventKind::HoldFinished {
        phase: phase.name.clone(),
        status,
        held_seconds: started.elapsed().as_secs_f64(),
        detail,
    });
    failure
}

/// Poll one invariant until it has failed for its `for:`; journal each change of state.
async fn watch(inv: Invariant, ctx: StepCtx) -> Broken {
    let exe = steps::executor(&inv.step.spec);
    let mut failing_since: Option<DateTime<Utc>> = None;
    let mut last_ok: Option<bool> = None;
    let mut tick = tokio::time::interval(inv.every.get());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let checked_at = Utc::now();
        let r = tokio::time::timeout(inv.step.timeout.get(), exe.run(&ctx)).await;
        let (ok, summary, evidence) = match r {
            Ok(Ok(o)) => (o.ok, o.summary, o.evidence),
            Ok(Err(e)) => (
                false,
                format!("cannot evaluate: {}", e.message),
                Value::Null,
            ),
            Err(_) => (
                false,
                format!("cannot evaluate: timed out after {}", inv.step.timeout),
                Value::Null,
            ),
        };
        if last_ok != Some(ok) {
            let _ = ctx.events.emit(EventKind::InvariantState {
                phase: ctx.phase_name.clone(),
                name: inv.step.name.clone(),
                ok,
                summary: summary.clone(),
            });
            last_ok = Some(ok);
        }
        if ok {
            failing_since = None;
            continue;
        }
        let since = *failing_since.get_or_insert(checked_at);
        let failing_for = (Utc::now() - since).to_std().unwrap_or(Duration::ZERO);
        if failing_for >= inv.for_.get() {
            return Broken {
                name: inv.step.name.clone(),
                since,
                summary,
                evidence,
            };
        }
    }
}
