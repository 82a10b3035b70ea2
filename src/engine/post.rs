//! The post phase (`kind: post`, the script's sixth step): read-only checks
//! that the system is back to normal, run after the restore phase and after
//! the automatic undo of anything still applied. Nothing is left to undo, so
//! a failure here never aborts: it fails the drill (exit 1) and is reported.
//!
//! It is skipped when the drill was interrupted by a signal (the operator
//! wants out), when restoration is incomplete (the system is known not to be
//! back), and when nothing was changed. A signal during the post phase stops
//! it and the run ends as interrupted (exit 4).

use super::Cancel;
use super::restore::Registry;
use super::run::run_phase;
use super::signals::SignalState;
use crate::journal::event::Status;
use crate::journal::{CancelReason, EventKind};
use crate::playbook::{PhaseKind, Playbook};
use crate::steps::StepCtx;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Run every post phase; returns the failures they saw.
pub(super) async fn run_post_phases(
    pb: &Playbook,
    ctx: &StepCtx,
    registry: &Arc<Registry>,
    cancel: &Cancel,
    sig_state: &SignalState,
) -> Vec<String> {
    let mut failures = vec![];
    for phase in pb.phases.iter().filter(|p| p.kind == PhaseKind::Post) {
        let skip = if matches!(cancel.reason(), Some((CancelReason::Signal, _))) {
            Some("the drill was interrupted by a signal".to_string())
        } else if !registry.still_applied().is_empty() {
            Some("restoration is incomplete, so the system is not back to normal".to_string())
        } else if !registry.anything_applied() {
            Some("nothing was changed, so there is nothing to check after the drill".to_string())
        } else {
            None
        };
        if let Some(detail) = skip {
            let _ = ctx.events.emit(EventKind::PhaseStarted {
                phase: phase.name.clone(),
                kind: phase.kind.as_str().into(),
                budget_seconds: phase.budget.map(|b| b.secs()),
            });
            let _ = ctx.events.emit(EventKind::PhaseFinished {
                phase: phase.name.clone(),
                kind: phase.kind.as_str().into(),
                status: Status::Skipped,
                detail: Some(detail),
            });
            continue;
        }
        // Restoration is over: a signal stops this phase like any other.
        sig_state.restoring.store(false, Ordering::SeqCst);
        let post_cancel = Cancel::new();
        let forward = {
            let (run, post) = (cancel.clone(), post_cancel.clone());
            tokio::spawn(async move {
                run.cancelled_by(CancelReason::Signal).await;
                let detail = run.reason().map(|r| r.1).unwrap_or_default();
                post.cancel(CancelReason::Signal, detail);
            })
        };
        let seen = run_phase(phase, ctx, registry, &post_cancel, false).await;
        forward.abort();
        failures.extend(
            seen.into_iter()
                .map(|f| format!("post phase `{}`: {f}", phase.name)),
        );
    }
    failures
}
