//! The engine: one dispatcher follows the playbook phase by phase. Steps,
//! watches, guardrails, signals and the deadline all meet in it through one
//! cancellation channel whose strongest reason wins; restoration runs on
//! every path once anything was applied.
//!
//! - `run`: the life of a run (run directory, lock, journal, phases, restore, metrics, reports)
//! - `exec`: running one step: retries, waits, intents, markers
//! - `hold`: a phase's observation window with its invariants; `post`: the post phase;
//!   `lag`: replication lag budgets per data class
//! - `guardrails`, `signals`, `lock`, `restore`, `metrics`, `exit`

pub mod context;
pub mod exec;
pub mod exit;
pub mod guard;
pub mod guardrails;
mod hold;
pub mod identity;
mod lag;
pub mod lock;
pub mod metrics;
mod post;
pub mod restore;
pub mod run;
pub mod signals;
pub mod trust;

pub use run::{RunOptions, RunSummary, run_drill};

use crate::journal::CancelReason;
use tokio::sync::watch;

/// `user@host` of whoever runs gameday.
pub fn operator() -> String {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "unknown".into());
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// The run's cancellation: the strongest reason so far, with its detail.
#[derive(Clone)]
pub struct Cancel {
    tx: watch::Sender<Option<(CancelReason, String)>>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel {
            tx: watch::channel(None).0,
        }
    }

    /// Cancel for `reason`, unless a stronger reason already did.
    pub fn cancel(&self, reason: CancelReason, detail: impl Into<String>) {
        let detail = detail.into();
        self.tx.send_if_modified(|cur| match cur {
            Some((r, _)) if *r >= reason => false,
            _ => {
                *cur = Some((reason, detail));
                true
            }
        });
    }

    pub fn reason(&self) -> Option<(CancelReason, String)> {
        self.tx.borrow().clone()
    }

    /// Resolves once the run is cancelled for `reason` or a stronger one.
    pub async fn cancelled_by(&self, reason: CancelReason) {
        let mut rx = self.tx.subscribe();
        let _ = rx
            .wait_for(|v| v.as_ref().is_some_and(|(r, _)| *r >= reason))
            .await;
    }

    /// Resolves once the run is cancelled.
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|v| v.is_some()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strongest_reason_wins() {
        let c = Cancel::new();
        c.cancel(CancelReason::Guardrail, "g");
        c.cancel(CancelReason::StepFailed, "s");
        assert_eq!(c.reason().unwrap().0, CancelReason::Guardrail);
        c.cancel(CancelReason::Signal, "SIGINT");
        assert_eq!(c.reason().unwrap().0, CancelReason::Signal);
    }
}
