//! Guardrails: read-only checks polled from the first mutating step until
//! restoration ends. A check that keeps failing (or cannot be evaluated) for
//! its `for` duration is a breach: the drill aborts and restoration starts.

use super::Cancel;
use super::restore::Registry;
use crate::journal::{CancelReason, EventKind};
use crate::playbook::Guardrail;
use crate::steps::{self, StepCtx};
use chrono::Utc;
use std::sync::Arc;

/// Spawn one task per guardrail; they wait for the first mutation, then poll.
pub fn spawn(
    guardrails: &[Guardrail],
    ctx: &StepCtx,
    registry: Arc<Registry>,
    cancel: Cancel,
) -> Vec<tokio::task::JoinHandle<()>> {
    if guardrails.is_empty() {
        return vec![];
    }
    let names: Vec<String> = guardrails.iter().map(|g| g.step.name.clone()).collect();
    let armed = Arc::new(tokio::sync::OnceCell::new());
    guardrails
        .iter()
        .cloned()
        .map(|g| {
            let ctx = ctx.for_step("guardrails", &g.step.name);
            let registry = registry.clone();
            let cancel = cancel.clone();
            let names = names.clone();
            let armed = armed.clone();
            tokio::spawn(async move {
                if !registry.anything_applied() {
                    registry.mutated.notified().await;
                }
                armed
                    .get_or_init(|| async {
                        let _ = ctx.events.emit(EventKind::GuardrailArmed { names });
                    })
                    .await;
                watch(g, ctx, cancel).await;
            })
        })
        .collect()
}

async fn watch(g: Guardrail, ctx: StepCtx, cancel: Cancel) {
    let exe = steps::executor(&g.step.spec);
    let every = g.every.get();
    // When the check started failing: the wall-clock instant for the journal,
    // the monotonic one for `for:` (a clock step must not breach or excuse it).
    let mut failing_since: Option<(chrono::DateTime<Utc>, tokio::time::Instant)> = None;
    let mut last_ok: Option<bool> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let r = tokio::time::timeout(g.step.timeout.get(), exe.run(&ctx)).await;
        let (ok, summary) = match r {
            Ok(Ok(o)) => (o.ok, o.summary),
            Ok(Err(e)) => (false, format!("cannot evaluate: {}", e.message)),
            Err(_) => (
                false,
                format!("cannot evaluate: timed out after {}", g.step.timeout),
            ),
        };
        if last_ok != Some(ok) {
            let _ = ctx.events.emit(EventKind::GuardrailState {
                name: g.step.name.clone(),
                ok,
                summary: summary.clone(),
            });
            last_ok = Some(ok);
        }
        if ok {
            failing_since = None;
            continue;
        }
        let (since, since_mono) =
            *failing_since.get_or_insert_with(|| (Utc::now(), tokio::time::Instant::now()));
        let failing_for = since_mono.elapsed();
        if failing_for >= g.for_.get() {
            let _ = ctx.events.emit(EventKind::GuardrailBreached {
                name: g.step.name.clone(),
                since,
                summary: summary.clone(),
            });
            cancel.cancel(
                CancelReason::Guardrail,
                format!("guardrail `{}` breached: {summary}", g.step.name),
            );
            return;
        }
    }
}
