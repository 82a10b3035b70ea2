//! The run's one registry of child process groups. A step that starts a
//! command registers its group; a guard stops it when the step's future is
//! dropped (timeout, cancellation): SIGTERM now, SIGKILL after the grace
//! period, sent by a tokio task (no worker thread is blocked). Before a run
//! returns it waits for those terminations, so no child outlives gameday; a
//! third signal SIGKILLs every group at once.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How often a terminating group is checked for being gone.
const POLL: Duration = Duration::from_millis(20);

/// Process groups of a run's children. Cloning shares the registry.
#[derive(Clone, Default)]
pub struct Children(Arc<Mutex<Groups>>);

#[derive(Default)]
struct Groups {
    running: Vec<i32>,
    /// Sent SIGTERM; SIGKILL at the deadline if anything is left.
    terminating: Vec<(i32, Instant)>,
}

impl Children {
    fn groups(&self) -> std::sync::MutexGuard<'_, Groups> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A child's process group started.
    pub fn register(&self, pgid: i32) {
        self.groups().running.push(pgid);
    }

    /// The group's leader exited by itself: nothing to stop.
    pub fn unregister(&self, pgid: i32) {
        self.groups().running.retain(|p| *p != pgid);
    }

    /// SIGTERM the group now and SIGKILL it after `grace` if anything is left.
    pub fn terminate(&self, pgid: i32, grace: Duration) {
        self.unregister(pgid);
        if killpg(Pid::from_raw(pgid), Signal::SIGTERM).is_err() {
            return; // already gone
        }
        let deadline = Instant::now() + grace;
        self.groups().terminating.push((pgid, deadline));
        let this = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move { this.finish_one(pgid, deadline).await });
            }
            // Outside a runtime (a guard dropped late): a plain thread.
            Err(_) => {
                std::thread::spawn(move || {
                    let pg = Pid::from_raw(pgid);
                    while Instant::now() < deadline && killpg(pg, None).is_ok() {
                        std::thread::sleep(POLL);
                    }
                    let _ = killpg(pg, Signal::SIGKILL);
                    this.groups().terminating.retain(|(p, _)| *p != pgid);
                });
            }
        }
    }

    async fn finish_one(&self, pgid: i32, deadline: Instant) {
        let pg = Pid::from_raw(pgid);
        while Instant::now() < deadline && killpg(pg, None).is_ok() {
            tokio::time::sleep(POLL).await;
        }
        let _ = killpg(pg, Signal::SIGKILL);
        self.groups().terminating.retain(|(p, _)| *p != pgid);
    }

    /// Wait for every pending termination to end (SIGKILL at the end of its
    /// grace period). Called before a run returns.
    pub async fn finish(&self) {
        let pending = self.groups().terminating.clone();
        for (pgid, deadline) in pending {
            self.finish_one(pgid, deadline).await;
        }
    }

    /// SIGKILL every group, running or terminating (restoration abandoned).
    pub fn kill_all(&self) {
        let g = self.groups();
        for pgid in g.running.iter().chain(g.terminating.iter().map(|(p, _)| p)) {
            let _ = killpg(Pid::from_raw(*pgid), Signal::SIGKILL);
        }
    }
}

/// Stops the child's process group when the future running it is dropped:
/// [`Children::terminate`] unless [`GroupGuard::disarm`]ed first.
pub struct GroupGuard {
    pgid: Option<i32>,
    grace: Duration,
    children: Children,
}

impl GroupGuard {
    /// Register `pgid` (if the child has one) for as long as the guard lives.
    pub fn new(children: &Children, pgid: Option<i32>, grace: Duration) -> GroupGuard {
        if let Some(p) = pgid {
            children.register(p);
        }
        GroupGuard {
            pgid,
            grace,
            children: children.clone(),
        }
    }

    /// The child exited by itself.
    pub fn disarm(&mut self) {
        if let Some(p) = self.pgid.take() {
            self.children.unregister(p);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            self.children.terminate(pgid, self.grace);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[tokio::test]
    async fn a_dropped_guard_stops_the_group_and_finish_waits_for_it() {
        let children = Children::default();
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("trap '' TERM; sleep 30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let guard = GroupGuard::new(&children, Some(pgid), Duration::from_millis(200));
        assert_eq!(children.groups().running, vec![pgid]);
        drop(guard);
        children.finish().await;
        // SIGTERM was ignored, so only the SIGKILL after the grace period ended it.
        let status = child.wait().unwrap();
        assert!(status.code().is_none(), "{status:?}");
        assert!(children.groups().terminating.is_empty());
        assert!(children.groups().running.is_empty());
    }
}
