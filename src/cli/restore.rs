//! `gameday restore RUN_DIR` (and the guards' restorations): drives
//! `engine::restore`, prints its progress and outcome, lists and confirms
//! for `--dry-run` and an operator at a terminal, and maps the outcome to
//! the exit code (`engine::exit::for_restore`).

use crate::engine::exit;
use crate::engine::restore::{Progress, RestoreOutcome, Restorer, prepare};
use std::path::Path;

/// How `gameday restore` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    pub quiet: bool,
    /// List what would be undone; change nothing.
    pub dry_run: bool,
    /// Ask before undoing (an operator at a terminal, without `--yes`).
    pub confirm: bool,
}

/// Undo whatever the journal of `run_dir` says is still applied, as `by`;
/// print what happens and return the exit code. Holds the run's restore
/// lock throughout, so two restorations never run at once; the second one
/// finds nothing left to do.
pub(crate) async fn restore(run_dir: &Path, opts: RestoreOptions, by: Restorer) -> i32 {
    let outcome = run_restoration(run_dir, opts, by).await;
    print_outcome(run_dir, &outcome, opts.quiet);
    exit::for_restore(&outcome)
}

async fn run_restoration(run_dir: &Path, opts: RestoreOptions, by: Restorer) -> RestoreOutcome {
    let progress = |p: Progress<'_>| print_progress(run_dir, p, opts.quiet);
    let r = match prepare(run_dir, &progress).await {
        Ok(r) => r,
        Err(o) => return o,
    };
    if opts.dry_run || opts.confirm {
        if r.pending.is_empty() && r.refused.is_empty() {
            eprintln!(
                "gameday: nothing to restore in {}: everything the drill applied is undone.",
                run_dir.display()
            );
            return RestoreOutcome::Listed { refused: false };
        }
        println!("would undo, newest first:");
        for a in r.pending.iter().rev() {
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
            return RestoreOutcome::Listed {
                refused: !r.refused.is_empty(),
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
            return RestoreOutcome::Declined;
        }
    }
    r.execute(by, &progress).await
}

fn print_progress(run_dir: &Path, p: Progress<'_>, quiet: bool) {
    match p {
        Progress::WaitingForLock => eprintln!(
            "gameday: another restoration of {} is running (the guard or another `gameday restore`); waiting for it to finish",
            run_dir.display()
        ),
        Progress::Refused(r) => eprintln!(
            "gameday: refusing the undo record of `{}` ({}) in {}: {}; it is not executed.\n  = hint: undo that change by hand{}, then check the journal's origin",
            r.applied.step,
            r.applied.id,
            run_dir.join(crate::journal::JOURNAL_FILE).display(),
            r.reason,
            r.applied
                .undo
                .as_ref()
                .map(|u| format!(" (the record says: {})", u.description))
                .unwrap_or_default()
        ),
        Progress::Undoing(a) if !quiet => eprintln!(
            "gameday: undoing `{}` ({})",
            a.step,
            a.undo
                .as_ref()
                .map_or("no automatic undo", |u| u.description.as_str())
        ),
        Progress::Undoing(_) => {}
        Progress::CouldNotUndo(a, e) => eprintln!("gameday: could not undo `{}`: {e}", a.step),
    }
}

fn print_outcome(run_dir: &Path, o: &RestoreOutcome, quiet: bool) {
    let dir = run_dir.display();
    match o {
        RestoreOutcome::NoJournal { path } => eprintln!(
            "gameday: cannot read {}: no such file\n  = hint: name a run directory, such as reports/20261122T101500Z-hello",
            path.display()
        ),
        RestoreOutcome::Unreadable { path, error } => eprintln!(
            "gameday: cannot read {}: {error}\n  = hint: name a run directory, such as reports/20261122T101500Z-hello",
            path.display()
        ),
        RestoreOutcome::LockBusy => eprintln!(
            "gameday: cannot take the restore lock of {dir}\n  = hint: run `gameday restore {dir}` again"
        ),
        RestoreOutcome::LockError { path, error } => eprintln!(
            "gameday: cannot take the restore lock {}: {error}\n  = hint: check the permissions of the run directory",
            path.display()
        ),
        RestoreOutcome::StillRunning { pid } => eprintln!(
            "gameday: the run in {dir} is still in progress (gameday pid {pid}); it restores by itself when it ends.\n  = hint: to stop it now, send it SIGINT (`kill -INT {pid}`), or wait for it to finish"
        ),
        RestoreOutcome::NothingToRestore if !quiet => eprintln!(
            "gameday: nothing to restore in {dir}: everything the drill applied is undone."
        ),
        RestoreOutcome::NothingToRestore | RestoreOutcome::Listed { .. } => {}
        RestoreOutcome::Declined => eprintln!(
            "gameday: nothing was undone.\n  = hint: run `gameday restore {dir}` again and confirm, or pass --yes"
        ),
        RestoreOutcome::Refused { still_applied } => eprintln!(
            "gameday: restoration incomplete; still applied: {}.",
            still_applied.join(", ")
        ),
        RestoreOutcome::CannotAppend { path, error } => {
            eprintln!("gameday: cannot append to {}: {error}", path.display())
        }
        RestoreOutcome::Restored if !quiet => {
            eprintln!("gameday: restored: everything the drill applied is undone.")
        }
        RestoreOutcome::Restored => {}
        RestoreOutcome::Incomplete { still_applied } => eprintln!(
            "gameday: restoration incomplete; still applied: {}.\n  = hint: fix the cause above and run `gameday restore {dir}` again",
            still_applied.join(", ")
        ),
    }
}
