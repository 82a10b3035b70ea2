//! The runner's side of the S3 state: take the lock before anything
//! changes, then a background task that re-puts the journal whole within
//! [`SYNC_EVERY`] of every change and the heartbeat every second. When S3
//! goes away the drill goes on with the local journal: the task journals one
//! warning, keeps trying, and journals that it caught up when S3 is back.
//! At the end it uploads the run directory (reports included) and releases
//! the lock.
//!
//! An `intent` (journaled before every mutating call) must reach S3 before
//! the call, or a remote guard could find a dead run whose journal in S3
//! shows nothing applied: [`IntentBarrier`], a journal observer, wakes the
//! task and waits (up to [`INTENT_WAIT`], only while S3 is reachable) until
//! the upload holds the intent's line.

use super::lock::{self, Holder};
use super::{Heartbeat, Location, RunState, STATE_FILE, put};
use crate::journal::event::EventKind;
use crate::journal::writer::Journal;
use aws_sdk_s3::Client;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long a mutating step waits for its intent to reach S3.
pub const INTENT_WAIT: Duration = Duration::from_secs(2);

/// What the task has uploaded, shared with the [`IntentBarrier`].
#[derive(Default)]
struct Progress {
    uploaded: Mutex<u64>,
    changed: Condvar,
    /// S3 answered the last attempt.
    up: AtomicBool,
    wake: tokio::sync::Notify,
}

/// Holds a mutating step until its intent is in S3 (see the module docs).
pub struct IntentBarrier {
    progress: Arc<Progress>,
    path: PathBuf,
}

impl crate::journal::writer::Observer for IntentBarrier {
    fn event(&self, event: &crate::journal::Event) {
        if !matches!(event.kind, EventKind::Intent { .. }) {
            return;
        }
        // The line is written before observers run.
        let Ok(len) = std::fs::metadata(&self.path).map(|m| m.len()) else {
            return;
        };
        self.progress.wake.notify_one();
        if !self.progress.up.load(Ordering::SeqCst) {
            return; // S3 is away: the drill goes on with the local journal
        }
        let wait = || {
            let g = self
                .progress
                .uploaded
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let _ = self
                .progress
                .changed
                .wait_timeout_while(g, INTENT_WAIT, |u| {
                    *u < len && self.progress.up.load(Ordering::SeqCst)
                });
        };
        // Never block a current-thread runtime: the uploader could not run.
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
            Ok(_) => {}
            Err(_) => wait(),
        }
    }
}

/// How often the task looks for journal changes.
pub const SYNC_EVERY: Duration = Duration::from_millis(250);
const BEAT_EVERY: Duration = Duration::from_secs(1);

/// A run whose state is in S3.
pub struct Shared {
    client: Client,
    loc: Location,
    run_id: String,
    environment: String,
    run_dir: PathBuf,
    task: Option<tokio::task::JoinHandle<()>>,
    progress: Arc<Progress>,
}

/// Take the environment lock in S3 for a run about to start in `run_dir`.
/// Nothing has changed yet; on error the run must be refused.
pub async fn start(
    loc: &Location,
    run_dir: &Path,
    drill: &str,
    environment: &str,
    lease: Duration,
) -> Result<Shared, String> {
    let client = super::client().await;
    let run_id = run_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let holder = Holder {
        run_id: run_id.clone(),
        run: loc.run_url(&run_id),
        drill: drill.to_string(),
        environment: environment.to_string(),
        host: crate::engine::operator(),
        pid: std::process::id(),
        lease_seconds: lease.as_secs_f64(),
        started: chrono::Utc::now(),
    };
    lock::acquire(&client, loc, &holder).await?;
    let rs = RunState {
        state: loc.clone(),
        run_id: run_id.clone(),
        environment: environment.to_string(),
    };
    let _ = std::fs::write(
        run_dir.join(STATE_FILE),
        serde_json::to_vec_pretty(&rs).unwrap_or_default(),
    );
    let s = Shared {
        client,
        loc: loc.clone(),
        run_id,
        environment: environment.to_string(),
        run_dir: run_dir.to_path_buf(),
        task: None,
        progress: Arc::new(Progress {
            up: AtomicBool::new(true),
            ..Default::default()
        }),
    };
    // The first beat before anything changes, so the lease starts now.
    s.beat(lease).await?;
    Ok(s)
}

impl Shared {
    pub fn run_url(&self) -> String {
        self.loc.run_url(&self.run_id)
    }

    pub fn lock_url(&self) -> String {
        format!(
            "s3://{}/{}",
            self.loc.bucket,
            self.loc.lock_key(&self.environment)
        )
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.loc.run_key(&self.run_id))
    }

    async fn beat(&self, lease: Duration) -> Result<(), String> {
        let hb = Heartbeat {
            ts: chrono::Utc::now(),
            lease_seconds: lease.as_secs_f64(),
            host: crate::engine::operator(),
            pid: std::process::id(),
            run_id: self.run_id.clone(),
            environment: self.environment.clone(),
        };
        put(
            &self.client,
            &self.loc.bucket,
            &self.key("heartbeat.json"),
            serde_json::to_vec(&hb).unwrap_or_default(),
        )
        .await
    }

    /// Start the background task (after the journal is open).
    pub fn spawn(&mut self, journal: Arc<Journal>, lease: Duration) {
        let me = Shared {
            client: self.client.clone(),
            loc: self.loc.clone(),
            run_id: self.run_id.clone(),
            environment: self.environment.clone(),
            run_dir: self.run_dir.clone(),
            task: None,
            progress: self.progress.clone(),
        };
        journal.add_observer(Arc::new(IntentBarrier {
            progress: self.progress.clone(),
            path: journal.path().to_path_buf(),
        }));
        self.task = Some(tokio::spawn(
            async move { me.sync_loop(journal, lease).await },
        ));
    }

    async fn sync_loop(self, journal: Arc<Journal>, lease: Duration) {
        let jpath = journal.path().to_path_buf();
        let jkey = self.key("journal.jsonl");
        let mut uploaded: Option<u64> = None;
        let mut last_beat = tokio::time::Instant::now();
        let mut down_since: Option<String> = None;
        let mut tick = tokio::time::interval(SYNC_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.progress.wake.notified() => {}
            }
            let mut err = None;
            let len = std::fs::metadata(&jpath).map(|m| m.len()).ok();
            if len.is_some() && len != uploaded {
                match std::fs::read(&jpath) {
                    Ok(body) => {
                        let n = body.len() as u64;
                        match put(&self.client, &self.loc.bucket, &jkey, body).await {
                            Ok(()) => {
                                uploaded = Some(n);
                                *self
                                    .progress
                                    .uploaded
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner()) = n;
                            }
                            Err(e) => err = Some(e),
                        }
                    }
                    Err(e) => err = Some(e.to_string()),
                }
            }
            if err.is_none() && last_beat.elapsed() >= BEAT_EVERY {
                match self.beat(lease).await {
                    Ok(()) => last_beat = tokio::time::Instant::now(),
                    Err(e) => err = Some(e),
                }
            }
            self.progress.up.store(err.is_none(), Ordering::SeqCst);
            self.progress.changed.notify_all();
            match (err, &down_since) {
                (Some(e), None) => {
                    let msg = format!(
                        "the S3 state s3://{}/{} is unreachable ({e}); the drill goes on with the local journal in {} and catches up when S3 is back",
                        self.loc.bucket,
                        self.loc.run_key(&self.run_id),
                        self.run_dir.display()
                    );
                    eprintln!("gameday: warning: {msg}");
                    let _ = journal.emit(EventKind::Warning {
                        message: msg,
                        step: None,
                    });
                    down_since = Some(chrono::Utc::now().to_rfc3339());
                }
                (None, Some(since))
                    if uploaded == std::fs::metadata(&jpath).map(|m| m.len()).ok() =>
                {
                    let msg = format!(
                        "the S3 state is reachable again (unreachable since {since}); the journal in S3 caught up"
                    );
                    eprintln!("gameday: {msg}");
                    down_since = None;
                    let _ = journal.emit(EventKind::Warning {
                        message: msg,
                        step: None,
                    });
                }
                _ => {}
            }
        }
    }

    /// The run ended (reports written): stop the task, upload the run
    /// directory, and release the lock. Keeps trying for `patience` if S3 is
    /// away; says what to do if it never comes back.
    pub async fn finish(mut self, patience: Duration) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
        let until = tokio::time::Instant::now() + patience;
        let key = self.loc.run_key(&self.run_id);
        loop {
            match super::upload_dir(&self.client, &self.loc.bucket, &key, &self.run_dir).await {
                Ok(()) => break,
                Err(e) if tokio::time::Instant::now() >= until => {
                    eprintln!(
                        "gameday: warning: could not upload the run to s3://{}/{key}: {e}\n  = hint: the run directory {} is complete; copy it there when S3 is reachable (`aws s3 sync {} s3://{}/{key}`), and delete the lock s3://{}/{}",
                        self.loc.bucket,
                        self.run_dir.display(),
                        self.run_dir.display(),
                        self.loc.bucket,
                        self.loc.bucket,
                        self.loc.lock_key(&self.environment)
                    );
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        lock::release(&self.client, &self.loc, &self.environment, &self.run_id).await;
    }
}
