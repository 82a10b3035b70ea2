//! The runner's side of the S3 state: take the lock before anything
//! changes, then a background task that re-puts the journal whole within
//! [`SYNC_EVERY`] of every change and the heartbeat every second. When S3
//! goes away the drill goes on with the local journal: the task journals one
//! warning, keeps trying, and journals that it caught up when S3 is back.
//! At the end it uploads the run directory (reports included) and releases
//! the lock.

use super::lock::{self, Holder};
use super::{Heartbeat, Location, RunState, STATE_FILE, put};
use crate::journal::event::EventKind;
use crate::journal::writer::Journal;
use aws_sdk_s3::Client;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
        };
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
            tick.tick().await;
            let mut err = None;
            let len = std::fs::metadata(&jpath).map(|m| m.len()).ok();
            if len.is_some() && len != uploaded {
                match std::fs::read(&jpath) {
                    Ok(body) => {
                        let n = body.len() as u64;
                        match put(&self.client, &self.loc.bucket, &jkey, body).await {
                            Ok(()) => uploaded = Some(n),
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
