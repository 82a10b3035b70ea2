//! Signals become drill events. First SIGINT/SIGTERM: stop the running step
//! and restore. While restoring, further signals warn and do not stop it; the
//! third signal in all abandons restoration: children are killed and the
//! run's `abandoned` channel fires; the run returns at once with an
//! abandoned summary, and the CLI prints the exact `gameday restore` command
//! to finish and exits 5.

use super::Cancel;
use crate::journal::{CancelReason, EventKind, EventSink};
use crate::steps::children::Children;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use tokio::signal::unix::{SignalKind, signal};

/// Shared between the dispatcher and the signal task.
#[derive(Default)]
pub struct SignalState {
    pub count: AtomicU32,
    pub restoring: AtomicBool,
}

/// Spawn the signal listener for a run.
pub fn spawn(
    state: Arc<SignalState>,
    cancel: Cancel,
    events: EventSink,
    run_dir: PathBuf,
    children: Children,
    abandoned: tokio::sync::oneshot::Sender<PathBuf>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(tokio::spawn(async move {
        let mut abandoned = Some(abandoned);
        loop {
            let name = tokio::select! {
                Some(()) = int.recv() => "SIGINT",
                Some(()) = term.recv() => "SIGTERM",
                else => return,
            };
            let n = state.count.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= 3 {
                let _ = events.emit(EventKind::Signal {
                    signal: name.into(),
                    count: n,
                    action: "abandoned restoration".into(),
                });
                let _ = events.sync();
                children.kill_all();
                if let Some(tx) = abandoned.take() {
                    let _ = tx.send(run_dir.clone());
                }
                continue;
            }
            if state.restoring.load(Ordering::SeqCst) {
                let _ = events.emit(EventKind::Signal {
                    signal: name.into(),
                    count: n,
                    action: "ignored: restoration is running".into(),
                });
                eprintln!(
                    "\ngameday: restoration is running and will not be stopped ({name}). \
                     Sending {} more signal(s) abandons it.",
                    3 - n
                );
            } else {
                let _ = events.emit(EventKind::Signal {
                    signal: name.into(),
                    count: n,
                    action: "stopping the drill and restoring".into(),
                });
                eprintln!(
                    "\ngameday: {name} received: stopping the drill and restoring what it changed."
                );
                cancel.cancel(CancelReason::Signal, format!("{name} received"));
            }
        }
    }))
}
