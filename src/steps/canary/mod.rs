//! The canary writer: `kind: canary` starts a background task that writes
//! sequence-numbered records at a fixed rate (over HTTP, per region or
//! through a global endpoint, or as rows in PostgreSQL) from before the
//! isolation until it is stopped; `canary-retarget` points it elsewhere;
//! `canary-stop` stops it. `canary-verify` (in `canary_verify`) reads
//! everything back.
//!
//! Every acknowledged write is journaled (`canary_write`, fsync'd) before the
//! writer makes the next one, so the evidence survives a runner crash. A write
//! is *acknowledged* when the API answered 2xx or PostgreSQL committed it;
//! *rejected* when it answered otherwise or could not be reached; *unknown*
//! when the answer never came (it may have happened: never counted as lost).
//!
//! Schedule: write `seq` (from 1) belongs to stream `seq % streams`; within
//! a stream, `writes_per_key` consecutive writes go to the same key, each to
//! the next region of the stream's `write_in`, so an update from one region
//! follows a write from another one write-interval later: concurrent under
//! replication lag, which is what last-writer-wins can lose.
//!
//! The writer is owned by [`Canaries`] in the run's clients, and its undo
//! (journaled with the step's intent) stops it, so restoration always ends
//! it; dropping [`Canaries`] aborts whatever is left.

use super::postgres::{self, PgConn};
use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError, Undo, UndoAction};
use crate::journal::{EventKind, EventSink};
use crate::playbook::Playbook;
use crate::playbook::spec::canary::{
    CanaryHttp, CanaryRetargetSpec, CanarySpec, CanaryStopSpec, CanaryStream,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

mod http;
mod pg;
mod writer;

pub(crate) use http::write_http;
pub(crate) use pg::create_table;
use writer::{LoopCtx, write_loop};

/// Default time limit of one write.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default bound on the number of writes of one canary.
pub const DEFAULT_MAX_WRITES: u64 = 50_000;

/// The canary writers of a run, by step name.
#[derive(Default)]
pub struct Canaries {
    writers: Mutex<BTreeMap<String, Arc<Writer>>>,
}

impl Canaries {
    pub fn get(&self, step: &str) -> Option<Arc<Writer>> {
        self.writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(step)
            .cloned()
    }

    fn insert(&self, w: Arc<Writer>) {
        self.writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(w.shared.step.clone(), w);
    }

    /// Stop every writer still running (waits for writes in flight).
    pub async fn stop_all(&self) {
        let all: Vec<Arc<Writer>> = self
            .writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for w in all {
            w.stop().await;
        }
    }
}

impl Drop for Canaries {
    fn drop(&mut self) {
        let writers = self.writers.get_mut().unwrap_or_else(|e| e.into_inner());
        for w in writers.values() {
            w.abort();
        }
    }
}

/// One acknowledged write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ack {
    pub seq: u64,
    pub key: String,
    /// Index into the canary's streams (0 for PostgreSQL).
    pub stream: usize,
    /// Region (HTTP) or connection name (PostgreSQL) that took the write.
    pub region: String,
    pub version: Option<String>,
    pub acked_at: DateTime<Utc>,
}

/// Counts of one region or connection.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegionStats {
    pub acked: u64,
    pub rejected: u64,
    pub unknown: u64,
    pub first_error: Option<String>,
    pub first_error_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// What a writer has done so far.
#[derive(Debug, Clone, Default)]
pub struct WriterState {
    pub acked: Vec<Ack>,
    pub attempted: u64,
    /// Writes without an answer: they may or may not have happened.
    pub unknown: Vec<u64>,
    pub rejected: u64,
    pub by_region: BTreeMap<String, RegionStats>,
    /// Current `write_in` of each stream (changed by `canary-retarget`).
    pub write_in: Vec<Vec<String>>,
    /// Current PostgreSQL connection written to.
    pub pg_connection: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// Why the writer ended by itself (journal failure, `max_writes`).
    pub ended: Option<String>,
}

impl WriterState {
    fn region(&mut self, r: &str) -> &mut RegionStats {
        self.by_region.entry(r.to_string()).or_default()
    }

    fn error(&mut self, region: &str, msg: &str) {
        let now = Utc::now();
        let s = self.region(region);
        if s.first_error.is_none() {
            s.first_error = Some(msg.to_string());
            s.first_error_at = Some(now);
        }
        s.last_error = Some(msg.to_string());
        s.last_error_at = Some(now);
    }
}

/// Immutable facts of one canary, shared with its task.
pub struct Shared {
    pub step: String,
    pub spec: CanarySpec,
    /// Distinguishes this run's records: in keys and the `run_id` column.
    pub token: String,
    pub state: Mutex<WriterState>,
    /// Set by `canary-verify`, so the end of the run does not warn.
    pub verified: AtomicBool,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write_timeout(&self) -> Duration {
        self.spec
            .write_timeout
            .map_or(DEFAULT_WRITE_TIMEOUT, |t| t.get())
    }

    /// Which key and region write `seq` goes to.
    pub fn slot(&self, seq: u64, state: &WriterState) -> (usize, String, String) {
        let wpk = u64::from(self.spec.writes_per_key.max(1));
        let prefix = self.spec.key_prefix.as_deref().unwrap_or("canary");
        if self.spec.postgres.is_some() {
            let i = seq - 1;
            let key = format!("{prefix}-{}-{}", self.token, i / wpk);
            let region = state.pg_connection.clone().unwrap_or_default();
            return (0, key, region);
        }
        let n = self.spec.streams.len().max(1) as u64;
        let stream = ((seq - 1) % n) as usize;
        let i = (seq - 1) / n;
        let name = self
            .spec
            .streams
            .get(stream)
            .map_or("s", |s| s.name.as_str());
        let key = format!("{prefix}-{}-{name}-{}", self.token, i / wpk);
        let regions = state.write_in.get(stream).cloned().unwrap_or_default();
        let region = if regions.is_empty() {
            "global".to_string()
        } else {
            regions[(i % regions.len() as u64) as usize].clone()
        };
        (stream, key, region)
    }
}

/// A running (or stopped) canary writer.
pub struct Writer {
    pub shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Stop writing; the write in flight finishes (and is journaled) first.
    /// Idempotent.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut t) = task {
            let grace = self.shared.write_timeout() + Duration::from_secs(3);
            if tokio::time::timeout(grace, &mut t).await.is_err() {
                t.abort();
            }
        }
        let mut st = self.shared.lock();
        if st.stopped_at.is_none() {
            st.stopped_at = Some(Utc::now());
        }
    }

    fn abort(&self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }

    pub fn running(&self) -> bool {
        self.task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Counts for summaries and evidence.
    pub fn stats(&self) -> Value {
        let st = self.shared.lock();
        let secs = match (st.started_at, st.stopped_at.or(Some(Utc::now()))) {
            (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
            _ => 0.0,
        };
        json!({
            "run": self.shared.token,
            "rate": self.shared.spec.rate.to_string(),
            "achieved_per_second": if secs > 0.0 { st.attempted as f64 / secs } else { 0.0 },
            "written": st.attempted,
            "acked": st.acked.len(),
            "rejected": st.rejected,
            "unknown": st.unknown.len(),
            "by_region": st.by_region,
            "started_at": st.started_at,
            "stopped_at": st.stopped_at,
            "ended": st.ended,
        })
    }

    /// One line: `412 written, 398 acknowledged, 14 rejected (eu-west-1: HTTP 503 ...)`.
    pub fn summary(&self) -> String {
        let st = self.shared.lock();
        let mut s = format!(
            "{} written, {} acknowledged, {} rejected, {} unknown",
            st.attempted,
            st.acked.len(),
            st.rejected,
            st.unknown.len()
        );
        let errs: Vec<String> = st
            .by_region
            .iter()
            .filter(|(_, r)| r.rejected + r.unknown > 0)
            .map(|(name, r)| {
                format!(
                    "{name}: {} failed, last {}",
                    r.rejected + r.unknown,
                    r.last_error.as_deref().unwrap_or("?")
                )
            })
            .collect();
        if !errs.is_empty() {
            s.push_str(&format!(" ({})", errs.join("; ")));
        }
        if let Some(e) = &st.ended {
            s.push_str(&format!("; {e}"));
        }
        s
    }
}

/// A short token naming a run's records: 8 hex digits of the run directory's name.
pub fn run_token(run_dir: &std::path::Path) -> String {
    let name = run_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    hex::encode(sha2::Sha256::digest(name.as_bytes()))[..8].to_string()
}

/// Replace the canary placeholders in `template`.
pub fn fill(template: &str, vals: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vals {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// How one write ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteResult {
    Acked {
        region: Option<String>,
        version: Option<String>,
    },
    Rejected(String),
    Unknown(String),
}

// ----- kind: canary ------------------------------------------------------------

/// The undo of `kind: canary`: stop the writer. Its records stay (they are
/// the evidence); after a crash the writer ended with its process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CanaryUndo {
    pub step: String,
}

impl CanaryUndo {
    pub async fn run(&self, ctx: &StepCtx) -> Result<String, StepError> {
        let Some(w) = ctx.clients.canaries.get(&self.step) else {
            return Ok(format!(
                "canary `{}` has no writer in this process (it ends with the run that started it)",
                self.step
            ));
        };
        let was_running = w.running();
        w.stop().await;
        if was_running && !w.shared.verified.load(Ordering::SeqCst) {
            let _ = ctx.events.emit(EventKind::Warning {
                message: format!(
                    "canary `{}` was stopped by restoration without a `canary-verify` step: {}; its acknowledged writes are in the journal, unverified",
                    self.step,
                    w.summary()
                ),
                step: Some(self.step.clone()),
            });
        }
        Ok(format!("canary `{}` stopped: {}", self.step, w.summary()))
    }
}

fn describe_target(spec: &CanarySpec) -> String {
    match (&spec.http, &spec.postgres) {
        (Some(h), _) => {
            let streams: Vec<String> = spec
                .streams
                .iter()
                .map(|s| {
                    let r = if s.write_in.is_empty() {
                        "global".to_string()
                    } else {
                        s.write_in.join(", ")
                    };
                    format!("{} in {r}", s.name)
                })
                .collect();
            format!(
                "{} {} ({})",
                h.write.method.to_ascii_uppercase(),
                h.write.url,
                streams.join("; ")
            )
        }
        (None, Some(p)) => format!("upsert into {} on postgres `{}`", p.table, p.connection),
        _ => "nothing".into(),
    }
}

#[async_trait]
impl Step for CanarySpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!(
                "start a canary writer: {} at {}, {} write(s) per key, in the background until stopped",
                describe_target(self),
                self.rate,
                self.writes_per_key
            ),
            undo: Some("stop the canary writer (its records stay as evidence)".into()),
        }]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        Ok(Some((
            json!({"note": "a canary only adds its own records; they stay as evidence"}),
            Undo {
                description: format!("stop canary writer `{}`", ctx.step_name),
                action: UndoAction::Canary(CanaryUndo {
                    step: ctx.step_name.clone(),
                }),
            },
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        if let Some(w) = ctx.clients.canaries.get(&ctx.step_name)
            && w.running()
        {
            return Err(StepError::fatal(format!(
                "canary `{}` is already running",
                ctx.step_name
            )));
        }
        let token = run_token(&ctx.run_dir);
        if let Some(p) = &self.postgres {
            let conn = postgres::connect(ctx, &p.connection).await?;
            create_table(&conn, &p.table).await?;
        }
        let state = WriterState {
            write_in: self.streams.iter().map(|s| s.write_in.clone()).collect(),
            pg_connection: self.postgres.as_ref().map(|p| p.connection.clone()),
            started_at: Some(Utc::now()),
            ..Default::default()
        };
        let shared = Arc::new(Shared {
            step: ctx.step_name.clone(),
            spec: self.clone(),
            token: token.clone(),
            state: Mutex::new(state),
            verified: AtomicBool::new(false),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let (first_tx, first_rx) = oneshot::channel();
        let task = tokio::spawn(write_loop(
            LoopCtx {
                shared: shared.clone(),
                events: ctx.events.clone(),
                http: ctx.http.clone(),
                playbook: ctx.playbook.clone(),
            },
            stop_rx,
            first_tx,
        ));
        let writer = Arc::new(Writer {
            shared,
            stop: stop_tx,
            task: Mutex::new(Some(task)),
        });
        ctx.clients.canaries.insert(writer.clone());
        let limit = writer.shared.write_timeout() * 2 + Duration::from_secs(5);
        let first = match tokio::time::timeout(limit, first_rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("the writer ended before its first write".into()),
            Err(_) => Err(format!(
                "no first write within {}",
                crate::playbook::duration::format(limit)
            )),
        };
        match first {
            Ok(msg) => Ok(Outcome::pass(format!(
                "canary writing {} at {} (run {token}); {msg}",
                describe_target(self),
                self.rate
            ))
            .with_evidence(json!({"run": token, "target": describe_target(self)}))),
            Err(msg) => {
                writer.stop().await;
                Err(StepError::fatal(format!(
                    "canary did not start: {msg}; check the write URL, body and regions (the system must accept writes before the drill isolates anything)"
                )))
            }
        }
    }
}

// ----- kind: canary-retarget and canary-stop -------------------------------------

fn writer(ctx: &StepCtx, name: &str) -> Result<Arc<Writer>, StepError> {
    ctx.clients.canaries.get(name).ok_or_else(|| {
        StepError::fatal(format!(
            "canary `{name}` was not started in this run (its step failed or did not run)"
        ))
    })
}

#[async_trait]
impl Step for CanaryRetargetSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        let to = match (&self.connection, &self.stream) {
            (Some(c), _) => format!("postgres `{c}`"),
            (None, Some(s)) => format!("stream {s} in {}", self.write_in.join(", ")),
            (None, None) => format!("every stream in {}", self.write_in.join(", ")),
        };
        vec![PlannedCall {
            call: format!("point canary `{}` at {to}", self.canary),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let w = writer(ctx, &self.canary)?;
        let mut st = w.shared.lock();
        let msg = if let Some(c) = &self.connection {
            let before = st.pg_connection.replace(c.clone()).unwrap_or_default();
            format!(
                "canary `{}` now writes to `{c}` (was `{before}`)",
                self.canary
            )
        } else {
            for (i, s) in w.shared.spec.streams.iter().enumerate() {
                if self.stream.as_ref().is_none_or(|n| *n == s.name)
                    && let Some(slot) = st.write_in.get_mut(i)
                {
                    *slot = self.write_in.clone();
                }
            }
            format!(
                "canary `{}` {} now writes in {}",
                self.canary,
                self.stream
                    .as_ref()
                    .map_or("(every stream)".to_string(), |s| format!("stream {s}")),
                self.write_in.join(", ")
            )
        };
        Ok(Outcome::pass(msg))
    }
}

#[async_trait]
impl Step for CanaryStopSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!("stop canary `{}`", self.canary),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let w = writer(ctx, &self.canary)?;
        w.stop().await;
        let acked = w.shared.lock().acked.len();
        Ok(
            Outcome::pass(format!("canary `{}` stopped: {}", self.canary, w.summary()))
                .with_value(acked as f64)
                .with_evidence(w.stats()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::spec::canary::Rate;

    fn spec(streams: &[(&str, &[&str])], wpk: u32) -> CanarySpec {
        CanarySpec {
            rate: Rate::parse("10/s").unwrap(),
            writes_per_key: wpk,
            write_timeout: None,
            max_writes: None,
            key_prefix: None,
            http: None,
            postgres: None,
            streams: streams
                .iter()
                .map(|(n, r)| CanaryStream {
                    name: n.to_string(),
                    jurisdiction: None,
                    write_in: r.iter().map(|s| s.to_string()).collect(),
                    read_in: vec![],
                    absent_in: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn updates_of_a_key_come_from_different_regions() {
        let s = spec(
            &[
                ("eu", &["eu-west-1", "eu-central-1"]),
                ("us", &["us-east-1", "eu-west-1"]),
            ],
            2,
        );
        let shared = Shared {
            step: "c".into(),
            token: "t".into(),
            state: Mutex::new(WriterState {
                write_in: s.streams.iter().map(|x| x.write_in.clone()).collect(),
                ..Default::default()
            }),
            spec: s,
            verified: AtomicBool::new(false),
        };
        let st = shared.lock().clone();
        let slots: Vec<(usize, String, String)> = (1..=8).map(|q| shared.slot(q, &st)).collect();
        assert_eq!(slots[0], (0, "canary-t-eu-0".into(), "eu-west-1".into()));
        assert_eq!(slots[1], (1, "canary-t-us-0".into(), "us-east-1".into()));
        assert_eq!(slots[2], (0, "canary-t-eu-0".into(), "eu-central-1".into()));
        assert_eq!(slots[3], (1, "canary-t-us-0".into(), "eu-west-1".into()));
        assert_eq!(slots[4], (0, "canary-t-eu-1".into(), "eu-west-1".into()));
    }

    #[test]
    fn placeholders_fill_and_json_braces_stay() {
        let body = r#"{"value": {"seq": {seq}}, "jurisdiction": "{jurisdiction}"}"#;
        assert_eq!(
            fill(body, &[("seq", "7"), ("jurisdiction", "EU")]),
            r#"{"value": {"seq": 7}, "jurisdiction": "EU"}"#
        );
    }
}
