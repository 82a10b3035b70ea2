//! `gameday restore RUN_DIR` and the guard's restoration (the same code):
//! [`prepare`] takes the run's restore lock and reads what the journal says
//! is still applied (vetted by `engine::trust`); [`Restoration::execute`]
//! undoes it, newest first. Both return data: what happened is a
//! [`RestoreOutcome`], progress goes to the caller's callback, and the CLI
//! prints and picks the exit code (`engine::exit::for_restore`).

use super::{Applied, undo_one};
use crate::engine::guard;
use crate::engine::trust::{self, Refused};
use crate::journal::{Event, EventKind, JOURNAL_FILE, Journal, read_journal};
use crate::steps::{Interaction, StepCtx};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Who restores a run directory after its run ended.
#[derive(Debug, Clone)]
pub enum Restorer {
    /// `gameday restore RUN_DIR`, by an operator.
    Command,
    /// The dead-man's switch, and why it took over.
    Guard { reason: String },
}

/// How a restoration of a run directory ended.
#[derive(Debug)]
pub enum RestoreOutcome {
    /// RUN_DIR has no journal.
    NoJournal { path: PathBuf },
    /// The journal cannot be read.
    Unreadable { path: PathBuf, error: String },
    /// Another restoration held the lock and it could not be taken after it.
    LockBusy,
    /// The restore lock file cannot be taken at all.
    LockError { path: PathBuf, error: String },
    /// The run is still going (its process restores by itself).
    StillRunning { pid: u32 },
    /// Everything the drill applied is undone already.
    NothingToRestore,
    /// `--dry-run`: listed, nothing changed; `refused` if some records were refused.
    Listed { refused: bool },
    /// The operator did not confirm.
    Declined,
    /// Only refused records are left: nothing was executed.
    Refused { still_applied: Vec<String> },
    /// The journal cannot be appended to.
    CannotAppend { path: PathBuf, error: String },
    /// Everything pending was undone.
    Restored,
    /// Some undo failed (or was refused): these steps are still applied.
    Incomplete { still_applied: Vec<String> },
}

/// What happens while restoring, for the caller to show.
pub enum Progress<'a> {
    /// Another restoration holds the lock; waiting for it.
    WaitingForLock,
    /// An undo record the journal holds was refused (`engine::trust`).
    Refused(&'a Refused),
    /// About to undo this.
    Undoing(&'a Applied),
    /// Its undo failed.
    CouldNotUndo(&'a Applied, &'a str),
}

/// A run directory ready to restore: its restore lock held, its journal read.
pub struct Restoration {
    pub run_dir: PathBuf,
    /// The journal file.
    pub path: PathBuf,
    /// Still applied, oldest first.
    pub pending: Vec<Applied>,
    /// Undo records not trusted (never executed).
    pub refused: Vec<Refused>,
    events: Vec<Event>,
    _lock: guard::RestoreLock,
}

/// Take the restore lock of `run_dir` (waiting for another restoration to
/// finish) and read what its journal says is still applied.
pub async fn prepare(
    run_dir: &Path,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Restoration, RestoreOutcome> {
    let path = run_dir.join(JOURNAL_FILE);
    if !path.is_file() {
        return Err(RestoreOutcome::NoJournal { path });
    }
    let lock = match guard::lock_restore(run_dir, false) {
        Ok(Some(l)) => l,
        Ok(None) => {
            progress(Progress::WaitingForLock);
            let dir = run_dir.to_path_buf();
            match tokio::task::spawn_blocking(move || guard::lock_restore(&dir, true)).await {
                Ok(Ok(Some(l))) => l,
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return Err(RestoreOutcome::LockBusy),
            }
        }
        Err(e) => {
            return Err(RestoreOutcome::LockError {
                path: run_dir.join(guard::RESTORE_LOCK_FILE),
                error: e.to_string(),
            });
        }
    };
    let read = read_journal(&path).map_err(|e| RestoreOutcome::Unreadable {
        path: path.clone(),
        error: e.to_string(),
    })?;
    if let Some(pid) = live_runner(&read.events) {
        return Err(RestoreOutcome::StillRunning { pid });
    }
    let (pending, refused) = trust::vet(&read.events);
    for r in &refused {
        progress(Progress::Refused(r));
    }
    Ok(Restoration {
        run_dir: run_dir.to_path_buf(),
        path,
        pending,
        refused,
        events: read.events,
        _lock: lock,
    })
}

impl Restoration {
    /// Undo everything pending, newest first, as `by`; journals
    /// `restore_started` and `restore_finished`.
    pub async fn execute(
        self,
        by: Restorer,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> RestoreOutcome {
        let refused: Vec<String> = self
            .refused
            .iter()
            .map(|r| r.applied.step.clone())
            .collect();
        if self.pending.is_empty() {
            return if refused.is_empty() {
                RestoreOutcome::NothingToRestore
            } else {
                RestoreOutcome::Refused {
                    still_applied: refused,
                }
            };
        }
        let base = self.events.last().map_or(0.0, |e| {
            e.elapsed + (chrono::Utc::now() - e.ts).num_milliseconds().max(0) as f64 / 1000.0
        });
        let journal = match Journal::open(&self.path, vec![], base) {
            Ok(j) => j,
            Err(e) => {
                return RestoreOutcome::CannotAppend {
                    path: self.path.clone(),
                    error: e.to_string(),
                };
            }
        };
        let notifier = match &by {
            Restorer::Guard { .. } => {
                let (targets, drill, environment) =
                    crate::notify::targets_from_journal(&self.events);
                crate::notify::Notifier::start(
                    &targets,
                    &journal,
                    &self.run_dir,
                    &drill,
                    &environment,
                )
            }
            Restorer::Command => None,
        };
        let who = journal_start(&journal, &by);
        let drill = self.events.iter().find_map(|e| match &e.kind {
            EventKind::RunStarted { drill, .. } => Some(drill.clone()),
            _ => None,
        });
        let ctx = StepCtx::new(
            Arc::new(crate::playbook::Playbook::empty(
                drill.as_deref().unwrap_or("unknown"),
            )),
            journal.clone(),
            self.run_dir.clone(),
            Interaction::Auto { by: who.clone() },
        )
        .for_step("restore", "restore");
        let mut left = refused;
        for a in self.pending.iter().rev() {
            progress(Progress::Undoing(a));
            if let Err(e) = undo_one(&ctx, a, &who).await {
                progress(Progress::CouldNotUndo(a, &e));
                left.push(a.step.clone());
            }
        }
        ctx.children.finish().await;
        let _ = journal.emit(EventKind::RestoreFinished {
            still_applied: left.clone(),
        });
        if let Some(n) = notifier {
            n.finish(Duration::from_secs(10)).await;
        }
        if left.is_empty() {
            RestoreOutcome::Restored
        } else {
            RestoreOutcome::Incomplete {
                still_applied: left,
            }
        }
    }
}

/// Journal `restore_started` for `by`; returns who restores, as the undo reason.
fn journal_start(journal: &Journal, by: &Restorer) -> String {
    let (by_name, reason, who) = match by {
        Restorer::Command => (None, None, "gameday restore".to_string()),
        Restorer::Guard { reason } => (
            Some("guard".to_string()),
            Some(reason.clone()),
            format!("gameday guard (pid {})", std::process::id()),
        ),
    };
    let _ = journal.emit(EventKind::RestoreStarted {
        operator: match by {
            Restorer::Command => crate::engine::operator(),
            Restorer::Guard { .. } => format!("{who} on {}", crate::engine::operator()),
        },
        pid: std::process::id(),
        by: by_name,
        reason,
    });
    who
}

/// The pid of the gameday process still running this journal's drill, if any.
fn live_runner(events: &[Event]) -> Option<u32> {
    let finished = events
        .iter()
        .any(|e| matches!(e.kind, EventKind::RunFinished { .. }));
    if finished {
        return None;
    }
    let pid = events.iter().find_map(|e| match &e.kind {
        EventKind::RunStarted { pid, .. } => Some(*pid),
        _ => None,
    })?;
    if pid == std::process::id() {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next())
        == Some("Z");
    (!zombie && String::from_utf8_lossy(&cmdline).contains("gameday")).then_some(pid)
}
