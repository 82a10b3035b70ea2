//! Restoration: the registry of what a run has applied, undoing it (by name,
//! or everything newest-first), and `gameday restore RUN_DIR`, which rebuilds
//! the registry from the journal after a crash and is idempotent.

use crate::journal::{EventKind, JOURNAL_FILE, Journal, read_journal};
use crate::steps::{Outcome, StepCtx, StepError, Undo, UndoAction};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    let mut last = String::new();
    for attempt in 1..=3u32 {
        match undo.action.run(ctx).await {
            Ok(s) => {
                let _ = ctx.events.emit(EventKind::Undone { id: a.id.clone() });
                return Ok(s);
            }
            Err(e) => {
                last = e.message.clone();
                if !e.retryable || matches!(undo.action, UndoAction::Manual { .. }) {
                    break;
                }
                if attempt < 3 {
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
            }
        }
    }
    let _ = ctx.events.emit(EventKind::UndoFailed {
        id: a.id.clone(),
        error: last.clone(),
    });
    Err(last)
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

/// Who restores a run directory after its run ended.
#[derive(Debug, Clone)]
pub enum Restorer {
    /// `gameday restore RUN_DIR`, by an operator.
    Command,
    /// The dead-man's switch, and why it took over.
    Guard { reason: String },
}

/// How `gameday restore` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    pub quiet: bool,
    /// List what would be undone; change nothing.
    pub dry_run: bool,
    /// Ask before undoing (an operator at a terminal, without `--yes`).
    pub confirm: bool,
}

/// `gameday restore RUN_DIR`: undo whatever the journal says is still applied.
/// Returns the exit code.
pub async fn restore_run_dir(run_dir: &Path, quiet: bool) -> i32 {
    restore_run_dir_by(run_dir, quiet, Restorer::Command).await
}

/// Undo whatever the journal of `run_dir` says is still applied, as the
/// guard or another caller that names itself.
pub async fn restore_run_dir_by(run_dir: &Path, quiet: bool, by: Restorer) -> i32 {
    restore_run_dir_with(
        run_dir,
        RestoreOptions {
            quiet,
            ..Default::default()
        },
        by,
    )
    .await
}

/// Undo whatever the journal of `run_dir` says is still applied, as
/// `gameday restore` (with its options) or as the guard (the same code).
/// Holds the run's restore lock throughout, so two restorations never run
/// at once; the second one finds nothing left to do. Returns the exit code.
pub async fn restore_run_dir_with(run_dir: &Path, opts: RestoreOptions, by: Restorer) -> i32 {
    let quiet = opts.quiet;
    let path = run_dir.join(JOURNAL_FILE);
    if !path.is_file() {
        eprintln!(
            "gameday: cannot read {}: no such file\n  = hint: name a run directory, such as reports/20261122T101500Z-hello",
            path.display()
        );
        return super::exit::INVALID;
    }
    let _restore_lock = match super::guard::lock_restore(run_dir, false) {
        Ok(Some(l)) => l,
        Ok(None) => {
            eprintln!(
                "gameday: another restoration of {} is running (the guard or another `gameday restore`); waiting for it to finish",
                run_dir.display()
            );
            let dir = run_dir.to_path_buf();
            match tokio::task::spawn_blocking(move || super::guard::lock_restore(&dir, true)).await
            {
                Ok(Ok(Some(l))) => l,
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
                    eprintln!(
                        "gameday: cannot take the restore lock of {}\n  = hint: run `gameday restore {}` again",
                        run_dir.display(),
                        run_dir.display()
                    );
                    return super::exit::RESTORE_FAILED;
                }
            }
        }
        Err(e) => {
            eprintln!(
                "gameday: cannot take the restore lock {}: {e}\n  = hint: check the permissions of the run directory",
                run_dir.join(super::guard::RESTORE_LOCK_FILE).display()
            );
            return super::exit::RESTORE_FAILED;
        }
    };
    let read = match read_journal(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "gameday: cannot read {}: {e}\n  = hint: name a run directory, such as reports/20261122T101500Z-hello",
                path.display()
            );
            return super::exit::INVALID;
        }
    };
    if let Some(pid) = live_runner(&read.events) {
        eprintln!(
            "gameday: the run in {} is still in progress (gameday pid {pid}); it restores by itself when it ends.\n  = hint: to stop it now, send it SIGINT (`kill -INT {pid}`), or wait for it to finish",
            run_dir.display()
        );
        return super::exit::INVALID;
    }
    let (pending, refused) = super::trust::vet(&read.events);
    for r in &refused {
        eprintln!(
            "gameday: refusing the undo record of `{}` ({}) in {}: {}; it is not executed.\n  = hint: undo that change by hand{}, then check the journal's origin",
            r.applied.step,
            r.applied.id,
            path.display(),
            r.reason,
            r.applied
                .undo
                .as_ref()
                .map(|u| format!(" (the record says: {})", u.description))
                .unwrap_or_default()
        );
    }
    if opts.dry_run || opts.confirm {
        if pending.is_empty() && refused.is_empty() {
            eprintln!(
                "gameday: nothing to restore in {}: everything the drill applied is undone.",
                run_dir.display()
            );
            return super::exit::PASSED;
        }
        println!("would undo, newest first:");
        for a in pending.iter().rev() {
            println!(
                "  {}  {}: {}",
                a.id,
                a.step,
                a.undo
                    .as_ref()
                    .map_or("no automatic undo (a person must)", |u| u
                        .description
                        .as_str())
            );
        }
        if opts.dry_run {
            return if refused.is_empty() {
                super::exit::PASSED
            } else {
                super::exit::RESTORE_FAILED
            };
        }
        let yes = tokio::task::spawn_blocking(|| {
            dialoguer::Confirm::new()
                .with_prompt("Undo these now?")
                .default(false)
                .interact()
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if !yes {
            eprintln!(
                "gameday: nothing was undone.\n  = hint: run `gameday restore {}` again and confirm, or pass --yes",
                run_dir.display()
            );
            return super::exit::RESTORE_FAILED;
        }
    }
    if pending.is_empty() && !refused.is_empty() {
        let names: Vec<String> = refused.iter().map(|r| r.applied.step.clone()).collect();
        eprintln!(
            "gameday: restoration incomplete; still applied: {}.",
            names.join(", ")
        );
        return super::exit::RESTORE_FAILED;
    }
    if pending.is_empty() {
        if !quiet {
            eprintln!(
                "gameday: nothing to restore in {}: everything the drill applied is undone.",
                run_dir.display()
            );
        }
        return super::exit::PASSED;
    }
    let base = read.events.last().map_or(0.0, |e| {
        e.elapsed + (chrono::Utc::now() - e.ts).num_milliseconds().max(0) as f64 / 1000.0
    });
    let journal = match Journal::open(&path, vec![], base) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("gameday: cannot append to {}: {e}", path.display());
            return super::exit::RESTORE_FAILED;
        }
    };
    let notifier = match &by {
        Restorer::Guard { .. } => {
            let (targets, drill, environment) = crate::notify::targets_from_journal(&read.events);
            crate::notify::Notifier::start(&targets, &journal, run_dir, &drill, &environment)
        }
        Restorer::Command => None,
    };
    let (by_name, reason, who) = match &by {
        Restorer::Command => (None, None, "gameday restore".to_string()),
        Restorer::Guard { reason } => (
            Some("guard".to_string()),
            Some(reason.clone()),
            format!("gameday guard (pid {})", std::process::id()),
        ),
    };
    let _ = journal.emit(EventKind::RestoreStarted {
        operator: match &by {
            Restorer::Command => super::operator(),
            Restorer::Guard { .. } => format!("{who} on {}", super::operator()),
        },
        pid: std::process::id(),
        by: by_name,
        reason,
    });
    let drill = read.events.iter().find_map(|e| match &e.kind {
        EventKind::RunStarted { drill, .. } => Some(drill.clone()),
        _ => None,
    });
    let ctx = StepCtx {
        playbook: Arc::new(crate::playbook::Playbook::empty(
            drill.as_deref().unwrap_or("unknown"),
        )),
        events: journal.clone(),
        http: crate::steps::http_client(),
        run_dir: run_dir.to_path_buf(),
        interaction: crate::steps::Interaction::Auto { by: who.clone() },
        markers: Default::default(),
        windows: Default::default(),
        step_name: "restore".into(),
        phase_name: "restore".into(),
        children: Default::default(),
        started_at: chrono::Utc::now(),
        clients: Default::default(),
    };
    let mut left: Vec<String> = refused.iter().map(|r| r.applied.step.clone()).collect();
    for a in pending.iter().rev() {
        if !quiet {
            eprintln!(
                "gameday: undoing `{}` ({})",
                a.step,
                a.undo
                    .as_ref()
                    .map_or("no automatic undo", |u| u.description.as_str())
            );
        }
        if let Err(e) = undo_one(&ctx, a, &who).await {
            eprintln!("gameday: could not undo `{}`: {e}", a.step);
            left.push(a.step.clone());
        }
    }
    let _ = journal.emit(EventKind::RestoreFinished {
        still_applied: left.clone(),
    });
    if let Some(n) = notifier {
        n.finish(Duration::from_secs(10)).await;
    }
    if left.is_empty() {
        if !quiet {
            eprintln!("gameday: restored: everything the drill applied is undone.");
        }
        super::exit::PASSED
    } else {
        eprintln!(
            "gameday: restoration incomplete; still applied: {}.\n  = hint: fix the cause above and run `gameday restore {}` again",
            left.join(", "),
            run_dir.display()
        );
        super::exit::RESTORE_FAILED
    }
}

/// The pid of the gameday process still running this journal's drill, if any.
fn live_runner(events: &[crate::journal::Event]) -> Option<u32> {
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
