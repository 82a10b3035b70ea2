//! Restoration: the registry of what a run has applied, undoing it (by name,
//! or everything newest-first), and `gameday restore RUN_DIR` ([`run_dir`]),
//! which rebuilds the registry from the journal after a crash and is idempotent.

mod run_dir;

pub use run_dir::{Progress, Restoration, RestoreOutcome, Restorer, prepare};

use crate::journal::EventKind;
use crate::steps::{Outcome, StepCtx, StepError, Undo, UndoAction};
use backon::Retryable;
use std::sync::Mutex;
use std::time::Duration;

/// Retries of an undo call after a transient error, and the first wait.
const UNDO_RETRIES: usize = 2;
const UNDO_FIRST_RETRY: Duration = Duration::from_millis(500);

/// Something applied and not yet undone.
#[derive(Debug, Clone)]
pub struct Applied {
    pub id: String,
    pub step: String,
    pub undo: Option<Undo>,
}

/// What the run has applied, in order.
#[derive(Default)]
pub struct Registry {
    applied: Mutex<Vec<Applied>>,
    counter: Mutex<u32>,
    /// Fires at the first mutating step (arms the guardrails).
    pub mutated: tokio::sync::Notify,
    mutated_flag: std::sync::atomic::AtomicBool,
}

impl Registry {
    pub fn next_id(&self, step: &str) -> String {
        let mut c = self.counter.lock().unwrap_or_else(|e| e.into_inner());
        *c += 1;
        let slug: String = step
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        format!("{:03}-{}", *c, slug.trim_matches('-'))
    }

    pub fn push(&self, a: Applied) {
        self.applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(a);
    }

    pub fn first_mutation(&self) {
        if !self
            .mutated_flag
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            self.mutated.notify_waiters();
            self.mutated.notify_one();
        }
    }

    pub fn anything_applied(&self) -> bool {
        self.mutated_flag.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Ids and steps still applied, oldest first.
    pub fn still_applied(&self) -> Vec<Applied> {
        self.applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Drop an application from the registry (its undo was done by other means).
    pub fn forget(&self, id: &str) {
        self.remove(id);
    }

    fn remove(&self, id: &str) {
        self.applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|a| a.id != id);
    }

    /// Undo the step named `name` (all its applications), or everything for `all`.
    pub async fn undo_named(
        &self,
        ctx: &StepCtx,
        name: &str,
        reason: &str,
    ) -> Result<
        (
            Outcome,
            Option<(chrono::DateTime<chrono::Utc>, Option<f64>, String)>,
        ),
        StepError,
    > {
        let targets: Vec<Applied> = self
            .still_applied()
            .into_iter()
            .rev()
            .filter(|a| name == "all" || a.step == name)
            .collect();
        if targets.is_empty() {
            return Ok((
                Outcome::pass(format!("nothing to undo for `{name}`: not applied")),
                None,
            ));
        }
        let mut done = vec![];
        let mut failed = vec![];
        for a in targets {
            match undo_one(ctx, &a, reason).await {
                Ok(s) => {
                    self.remove(&a.id);
                    done.push(format!("{}: {s}", a.step));
                }
                Err(e) => failed.push(format!("{}: {e}", a.step)),
            }
        }
        if failed.is_empty() {
            Ok((Outcome::pass(format!("undone: {}", done.join("; "))), None))
        } else {
            Err(StepError::fatal(format!(
                "undo failed: {}",
                failed.join("; ")
            )))
        }
    }

    /// Undo everything still applied, newest first. Returns what is left.
    pub async fn undo_all(&self, ctx: &StepCtx, reason: &str) -> Vec<Applied> {
        for a in self.still_applied().into_iter().rev() {
            if undo_one(ctx, &a, reason).await.is_ok() {
                self.remove(&a.id);
            }
        }
        self.still_applied()
    }
}

/// Undo one application, with a few retries for transient errors. Journals
/// `undo_started`, then `undone` or `undo_failed`.
pub async fn undo_one(ctx: &StepCtx, a: &Applied, reason: &str) -> Result<String, String> {
    let _ = ctx.events.emit(EventKind::UndoStarted {
        id: a.id.clone(),
        reason: reason.to_string(),
    });
    let Some(undo) = &a.undo else {
        let msg = format!("step `{}` has no automatic undo", a.step);
        let _ = ctx.events.emit(EventKind::UndoFailed {
            id: a.id.clone(),
            error: msg.clone(),
        });
        return Err(msg);
    };
    let manual = matches!(undo.action, UndoAction::Manual { .. });
    let result = (|| undo.action.run(ctx))
        .retry(crate::steps::retry::backoff(
            UNDO_FIRST_RETRY,
            crate::steps::retry::MAX_DELAY,
            UNDO_RETRIES,
        ))
        .sleep(tokio::time::sleep)
        .when(|e: &StepError| e.retryable && !manual)
        .await;
    match result {
        Ok(s) => {
            let _ = ctx.events.emit(EventKind::Undone { id: a.id.clone() });
            Ok(s)
        }
        Err(e) => {
            let _ = ctx.events.emit(EventKind::UndoFailed {
                id: a.id.clone(),
                error: e.message.clone(),
            });
            Err(e.message)
        }
    }
}

/// The applications in a journal that were never undone, oldest first.
/// An intent without `applied` counts: the call may have happened.
pub fn pending_from_journal(events: &[crate::journal::Event]) -> Vec<Applied> {
    let mut out: Vec<Applied> = vec![];
    for e in events {
        match &e.kind {
            EventKind::Intent { id, step, undo, .. } => out.push(Applied {
                id: id.clone(),
                step: step.clone(),
                undo: undo
                    .as_ref()
                    .and_then(|u| serde_json::from_value::<Undo>(u.clone()).ok()),
            }),
            EventKind::ApplyFailed { id, .. } | EventKind::Undone { id } => {
                out.retain(|a| &a.id != id)
            }
            _ => {}
        }
    }
    out
}
