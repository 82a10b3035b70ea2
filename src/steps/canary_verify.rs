//! `kind: canary-verify`: stop the canary writer, read every acknowledged
//! record back wherever it must exist, and say what survived.
//!
//! For each acknowledged write `w` of key `k` and each region `r` where `k`
//! must exist, the value read in `r` decides:
//!
//! * its sequence number is `w`'s or a later write's: `w` survived (an
//!   acknowledged update superseded it, as intended);
//! * an older sequence number: `w` is **stale** in `r` (an older version won:
//!   a lost update, as last-writer-wins on skewed clocks produces);
//! * absent: `w` is **missing** in `r`;
//! * the read failed: `w` is **unverified** in `r` (not counted as lost).
//!
//! `lost` counts acknowledged writes stale or missing somewhere. The measured
//! RPO is the span of lost writes by acknowledgement time plus one write
//! interval (the canary's resolution): 0 when nothing was lost.

use super::canary::{Ack, Shared, Writer, fill};
use super::postgres;
use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError};
use crate::journal::EventKind;
use crate::playbook::expect::Comparison;
use crate::playbook::spec::canary::{CanaryRead, CanarySpec, CanaryVerifySpec, Rate};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What one read found.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Present(u64),
    Absent,
    Error(String),
}

/// The counts and details of a verification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    pub acked: u64,
    pub present: u64,
    pub missing: u64,
    pub stale: u64,
    pub lost: u64,
    pub unverified: u64,
    pub rpo_seconds: f64,
    /// Region -> acknowledged writes missing there.
    pub missing_in: BTreeMap<String, u64>,
    /// Region -> acknowledged writes for which an older version won there.
    pub stale_in: BTreeMap<String, u64>,
    /// Region -> (writes not verifiable there, first error).
    pub unverified_in: BTreeMap<String, (u64, String)>,
    pub first_lost: Option<(u64, DateTime<Utc>)>,
    pub last_lost: Option<(u64, DateTime<Utc>)>,
    pub examples: Vec<Value>,
}

/// Classify every acknowledged write against what the reads saw.
/// `required` gives the regions where a write's key must exist; `seen` holds
/// one read per (key, region); `interval` is the write interval in seconds.
pub fn classify(
    acked: &[Ack],
    required: &dyn Fn(&Ack) -> Vec<String>,
    seen: &HashMap<(String, String), Seen>,
    interval: f64,
    max_examples: usize,
) -> Verdict {
    let mut v = Verdict {
        acked: acked.len() as u64,
        ..Default::default()
    };
    let mut lost_times: Vec<(u64, DateTime<Utc>)> = vec![];
    for w in acked {
        let (mut missing, mut stale, mut unverified) = (false, false, false);
        let mut where_: Vec<Value> = vec![];
        for r in required(w) {
            match seen.get(&(w.key.clone(), r.clone())) {
                Some(Seen::Present(s)) if *s >= w.seq => {}
                Some(Seen::Present(s)) => {
                    stale = true;
                    *v.stale_in.entry(r.clone()).or_default() += 1;
                    where_.push(json!({"region": r, "found_seq": s}));
                }
                Some(Seen::Absent) => {
                    missing = true;
                    *v.missing_in.entry(r.clone()).or_default() += 1;
                    where_.push(json!({"region": r, "found": "absent"}));
                }
                Some(Seen::Error(e)) => {
                    unverified = true;
                    let slot = v.unverified_in.entry(r.clone()).or_insert((0, e.clone()));
                    slot.0 += 1;
                }
                None => {
                    unverified = true;
                    let slot = v
                        .unverified_in
                        .entry(r.clone())
                        .or_insert((0, "not read".into()));
                    slot.0 += 1;
                }
            }
        }
        if missing {
            v.missing += 1;
        }
        if stale {
            v.stale += 1;
        }
        if missing || stale {
            v.lost += 1;
            lost_times.push((w.seq, w.acked_at));
            if v.examples.len() < max_examples {
                v.examples.push(json!({
                    "seq": w.seq,
                    "key": w.key,
                    "written_in": w.region,
                    "acked_at": w.acked_at,
                    "lost_in": where_,
                }));
            }
        } else if unverified {
            v.unverified += 1;
        } else {
            v.present += 1;
        }
    }
    lost_times.sort_by_key(|(_, t)| *t);
    v.first_lost = lost_times.first().copied();
    v.last_lost = lost_times.last().copied();
    if let (Some((_, a)), Some((_, b))) = (v.first_lost, v.last_lost) {
        v.rpo_seconds = (b - a).num_milliseconds() as f64 / 1000.0 + interval;
    }
    v
}

/// Read one record over HTTP: its sequence number, absent (404), or an error.
pub(crate) async fn read_http(
    http: &reqwest::Client,
    read: &CanaryRead,
    vals: &[(&str, &str)],
    timeout: Duration,
) -> Seen {
    let url = fill(&read.url, vals);
    let mut req = http.get(&url).timeout(timeout);
    for (k, v) in &read.headers {
        req = req.header(k, fill(v, vals));
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            return Seen::Error(format!("GET {url}: {what}"));
        }
    };
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Seen::Absent;
    }
    if !status.is_success() {
        return Seen::Error(format!("GET {url}: HTTP {}", status.as_u16()));
    }
    let body = resp.text().await.unwrap_or_default();
    let Ok(doc) = serde_json::from_str::<Value>(&body) else {
        return Seen::Error(format!("GET {url}: the answer is not JSON"));
    };
    match super::http::json_path(&doc, &read.seq_at) {
        Some(Value::Number(n)) => n.as_u64().map(Seen::Present).unwrap_or_else(|| {
            Seen::Error(format!(
                "GET {url}: `{}` is not a sequence number",
                read.seq_at
            ))
        }),
        Some(Value::String(s)) => s.parse().map(Seen::Present).unwrap_or_else(|_| {
            Seen::Error(format!(
                "GET {url}: `{}` is not a sequence number",
                read.seq_at
            ))
        }),
        _ => Seen::Error(format!(
            "GET {url}: no sequence number at `{}` in the answer",
            read.seq_at
        )),
    }
}

/// Read `keys` in `regions` over HTTP, at most `concurrency` at once.
pub(crate) async fn read_many_http(
    ctx: &StepCtx,
    shared: &Shared,
    read: &CanaryRead,
    pairs: Vec<(String, String, usize)>,
    concurrency: usize,
) -> HashMap<(String, String), Seen> {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let timeout = shared.write_timeout().max(Duration::from_secs(5));
    for (key, region, stream) in pairs {
        let sem = sem.clone();
        let http = ctx.http.clone();
        let read = read.clone();
        let token = shared.token.clone();
        let stream_name = shared
            .spec
            .streams
            .get(stream)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let jurisdiction = shared
            .spec
            .streams
            .get(stream)
            .and_then(|s| s.jurisdiction.clone())
            .unwrap_or_default();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let vals = [
                ("region", region.as_str()),
                ("key", key.as_str()),
                ("seq", ""),
                ("jurisdiction", jurisdiction.as_str()),
                ("stream", stream_name.as_str()),
                ("run", token.as_str()),
            ];
            let seen = read_http(&http, &read, &vals, timeout).await;
            ((key, region), seen)
        });
    }
    let mut out = HashMap::new();
    while let Some(r) = set.join_next().await {
        if let Ok((k, s)) = r {
            out.insert(k, s);
        }
    }
    out
}

/// Every row of this run in a PostgreSQL connection: key -> seq.
pub(crate) async fn read_pg(
    ctx: &StepCtx,
    connection: &str,
    table: &str,
    token: &str,
) -> Result<HashMap<String, u64>, String> {
    let conn = postgres::connect(ctx, connection)
        .await
        .map_err(|e| e.message)?;
    let sql = format!("SELECT key, seq FROM {table} WHERE run_id = $1");
    let rows = conn
        .client
        .query(sql.as_str(), &[&token])
        .await
        .map_err(|e| conn.error(&format!("reading {table}"), &e).message)?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let k: String = r.try_get(0).ok()?;
            let s: i64 = r.try_get(1).ok()?;
            Some((k, s.max(0) as u64))
        })
        .collect())
}

fn writer(ctx: &StepCtx, name: &str) -> Result<Arc<Writer>, StepError> {
    ctx.clients.canaries.get(name).ok_or_else(|| {
        StepError::fatal(format!(
            "canary `{name}` was not started in this run (its step failed or did not run), so there is nothing to verify"
        ))
    })
}

/// Every key holds one and the same value in every region where it must exist.
fn converged(
    keys: &BTreeMap<String, usize>,
    per_stream: &[Vec<String>],
    seen: &HashMap<(String, String), Seen>,
) -> bool {
    keys.iter().all(|(k, stream)| {
        let mut value = None;
        per_stream.get(*stream).into_iter().flatten().all(|r| {
            match seen.get(&(k.clone(), r.clone())) {
                Some(Seen::Present(s)) => *value.get_or_insert(*s) == *s,
                _ => false,
            }
        })
    })
}

impl CanaryVerifySpec {
    /// Read every key wherever its stream says it must exist.
    async fn read_all(
        &self,
        ctx: &StepCtx,
        shared: &Shared,
        keys: &BTreeMap<String, usize>,
        per_stream: &[Vec<String>],
        concurrency: usize,
    ) -> HashMap<(String, String), Seen> {
        match (&shared.spec.http, &shared.spec.postgres) {
            (Some(h), _) => {
                let mut pairs = vec![];
                for (k, stream) in keys {
                    for r in per_stream.get(*stream).into_iter().flatten() {
                        pairs.push((k.clone(), r.clone(), *stream));
                    }
                }
                read_many_http(ctx, shared, &h.read, pairs, concurrency).await
            }
            (None, Some(p)) => {
                let mut seen = HashMap::new();
                for r in per_stream.first().into_iter().flatten() {
                    let rows = read_pg(ctx, r, &p.table, &shared.token).await;
                    for k in keys.keys() {
                        let s = match &rows {
                            Ok(rows) => rows.get(k).map_or(Seen::Absent, |s| Seen::Present(*s)),
                            Err(e) => Seen::Error(e.clone()),
                        };
                        seen.insert((k.clone(), r.clone()), s);
                    }
                }
                seen
            }
            _ => HashMap::new(),
        }
    }

    /// Where each stream's records must exist: the step's `read_in`, else the
    /// stream's required regions (HTTP) or the canary's read connections (Postgres).
    fn per_stream(
        &self,
        spec: &CanarySpec,
        current_pg: Option<String>,
    ) -> Result<Vec<Vec<String>>, StepError> {
        Ok(match (&spec.http, &spec.postgres) {
            (Some(_), _) => spec
                .streams
                .iter()
                .map(|s| {
                    if self.read_in.is_empty() {
                        s.required_regions().to_vec()
                    } else {
                        self.read_in.clone()
                    }
                })
                .collect(),
            (None, Some(p)) => vec![if !self.read_in.is_empty() {
                self.read_in.clone()
            } else if !p.read_in.is_empty() {
                p.read_in.clone()
            } else {
                vec![current_pg.unwrap_or_else(|| p.connection.clone())]
            }],
            _ => return Err(StepError::fatal("the canary has no target")),
        })
    }

    /// Read every key, and with `catch_up:` read again until every key holds
    /// one value everywhere it must exist (replication has converged) or the
    /// catch-up time is over. Returns the last reads and the number of rounds.
    async fn read_until_converged(
        &self,
        ctx: &StepCtx,
        shared: &Shared,
        keys: &BTreeMap<String, usize>,
        per_stream: &[Vec<String>],
        concurrency: usize,
        started: std::time::Instant,
    ) -> (HashMap<(String, String), Seen>, u32) {
        let catch_up = self.catch_up.map(|d| d.get());
        let mut rounds = 0u32;
        let seen = loop {
            rounds += 1;
            let seen = self
                .read_all(ctx, shared, keys, per_stream, concurrency)
                .await;
            let done = match catch_up {
                None => true,
                Some(limit) => converged(keys, per_stream, &seen) || started.elapsed() >= limit,
            };
            if done {
                break seen;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        (seen, rounds)
    }

    /// The conditions (`expect:`) the counts do not meet, as readable lines.
    fn problems(&self, counts: &BTreeMap<&str, f64>) -> Vec<String> {
        let mut problems = vec![];
        for (name, cond) in self.conditions() {
            let value = counts.get(name.as_str()).copied().unwrap_or(f64::NAN);
            if !cond.holds(value) {
                problems.push(format!("{name} is {value}, expected {cond}"));
            }
        }
        problems
    }

    fn conditions(&self) -> BTreeMap<String, Comparison> {
        if self.expect.is_empty() {
            let z = Comparison::parse("== 0").expect("constant comparison");
            BTreeMap::from([("lost".into(), z.clone()), ("unverified".into(), z)])
        } else {
            self.expect.clone()
        }
    }
}

#[async_trait]
impl Step for CanaryVerifySpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        let conds: Vec<String> = self
            .conditions()
            .iter()
            .map(|(k, c)| format!("{k} {c}"))
            .collect();
        vec![PlannedCall {
            call: format!(
                "{}read every acknowledged record of canary `{}` back{}; expect {}",
                if self.stop {
                    "stop the writer, then "
                } else {
                    ""
                },
                self.canary,
                if self.read_in.is_empty() {
                    String::new()
                } else {
                    format!(" in {}", self.read_in.join(", "))
                },
                conds.join(", ")
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let w = writer(ctx, &self.canary)?;
        if self.stop {
            w.stop().await;
        }
        w.shared.verified.store(true, Ordering::SeqCst);
        let shared = w.shared.clone();
        let (acked, written, rejected, unknown, current_pg) = {
            let st = shared.lock();
            (
                st.acked.clone(),
                st.attempted,
                st.rejected,
                st.unknown.len() as u64,
                st.pg_connection.clone(),
            )
        };
        let spec = &shared.spec;
        let concurrency = self.concurrency.unwrap_or(16) as usize;
        let interval = 1.0 / spec.rate.per_second;
        // The latest acknowledged write of each key decides what to read.
        let mut keys: BTreeMap<String, usize> = BTreeMap::new();
        for a in &acked {
            keys.insert(a.key.clone(), a.stream);
        }
        let per_stream = self.per_stream(spec, current_pg)?;
        let required = |a: &Ack| per_stream.get(a.stream).cloned().unwrap_or_default();
        let catch_up = self.catch_up.map(|d| d.get());
        let started = std::time::Instant::now();
        let (seen, rounds) = self
            .read_until_converged(ctx, &shared, &keys, &per_stream, concurrency, started)
            .await;
        let max_examples = self.examples.unwrap_or(10) as usize;
        let v = classify(&acked, &required, &seen, interval, max_examples);

        let counts = counts(written, rejected, unknown, &v);
        record_counts(ctx, &counts);
        let problems = self.problems(&counts);
        // The engine records the step's value under `record:` when it
        // passes; a failed verification must leave its number too.
        if let (Some(rec), false) = (postgres::ctx_record(ctx), problems.is_empty()) {
            let _ = ctx.events.emit(EventKind::Recorded {
                name: rec,
                value: v.lost as f64,
                unit: Some("writes".into()),
                step: ctx.step_name.clone(),
            });
        }
        let achieved = w.stats()["achieved_per_second"].as_f64().unwrap_or(0.0);
        let summary = summary(
            written, rejected, unknown, &v, achieved, &spec.rate, &problems,
        );
        let evidence = json!({
            "canary": self.canary,
            "run": shared.token,
            "counts": counts,
            "missing_in": v.missing_in,
            "stale_in": v.stale_in,
            "unverified_in": v.unverified_in.iter().map(|(r, (n, e))| (r.clone(), json!({"writes": n, "error": e}))).collect::<BTreeMap<_, _>>(),
            "first_lost": v.first_lost.map(|(s, t)| json!({"seq": s, "acked_at": t})),
            "last_lost": v.last_lost.map(|(s, t)| json!({"seq": s, "acked_at": t})),
            "examples": v.examples,
            "keys_read": keys.len(),
            "reads": seen.len(),
            "read_rounds": rounds,
            "catch_up_seconds": catch_up.map(|_| started.elapsed().as_secs_f64()),
            "writer": w.stats(),
            "resolution_seconds": interval,
        });
        Ok(Outcome {
            ok: problems.is_empty(),
            value: Some(v.lost as f64),
            summary,
            evidence,
            refined: None,
        })
    }
}

/// The verification's counts, by the names `expect:` and `record:` use.
fn counts(written: u64, rejected: u64, unknown: u64, v: &Verdict) -> BTreeMap<&'static str, f64> {
    BTreeMap::from([
        ("written", written as f64),
        ("acked", v.acked as f64),
        ("rejected", rejected as f64),
        ("unknown", unknown as f64),
        ("present", v.present as f64),
        ("missing", v.missing as f64),
        ("stale", v.stale as f64),
        ("lost", v.lost as f64),
        ("unverified", v.unverified as f64),
        ("rpo_seconds", v.rpo_seconds),
    ])
}

/// With `record:`, one recorded value per count (`<record>_<count>`).
fn record_counts(ctx: &StepCtx, counts: &BTreeMap<&str, f64>) {
    if let Some(rec) = postgres::ctx_record(ctx) {
        for (name, value) in counts {
            let _ = ctx.events.emit(EventKind::Recorded {
                name: format!("{rec}_{name}"),
                value: *value,
                unit: Some(
                    if *name == "rpo_seconds" {
                        "seconds"
                    } else {
                        "writes"
                    }
                    .into(),
                ),
                step: ctx.step_name.clone(),
            });
        }
    }
}

/// The step's one-line summary: what was written, acknowledged, present, lost,
/// stale, missing, unverified; the measured RPO; a writer slower than asked;
/// unacknowledged writes; and the conditions not met.
fn summary(
    written: u64,
    rejected: u64,
    unknown: u64,
    v: &Verdict,
    achieved: f64,
    rate: &Rate,
    problems: &[String],
) -> String {
    let regions = |m: &BTreeMap<String, u64>| -> String {
        m.iter()
            .map(|(r, n)| format!("{r} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut summary = format!(
        "{} written, {} acknowledged: {} present everywhere, {} lost",
        written, v.acked, v.present, v.lost
    );
    if v.stale > 0 {
        summary.push_str(&format!(
            "; {} stale (an older version won: {})",
            v.stale,
            regions(&v.stale_in)
        ));
    }
    if v.missing > 0 {
        summary.push_str(&format!(
            "; {} missing ({})",
            v.missing,
            regions(&v.missing_in)
        ));
    }
    if v.unverified > 0 {
        let why: Vec<String> = v
            .unverified_in
            .iter()
            .map(|(r, (n, e))| format!("{r} ×{n}: {e}"))
            .collect();
        summary.push_str(&format!(
            "; {} unverified ({})",
            v.unverified,
            why.join("; ")
        ));
    }
    summary.push_str(&format!("; measured RPO {:.2}s", v.rpo_seconds));
    if achieved > 0.0 && achieved < 0.9 * rate.per_second {
        summary.push_str(&format!(
            "; the writer achieved {achieved:.1} writes/s of the {} asked (one write in flight at a time: writes were slower than the interval)",
            rate
        ));
    }
    if rejected + unknown > 0 {
        summary.push_str(&format!(
            "; {rejected} rejected and {unknown} unanswered writes (not acknowledged, not counted)"
        ));
    }
    if !problems.is_empty() {
        summary.push_str(&format!(" — {}", problems.join("; ")));
    }
    summary
}

/// Keys of the acknowledged writes of streams matching `pick`, with their stream
/// index and the first/last acknowledgement of each key.
pub(crate) fn keys_of(
    acked: &[Ack],
    pick: impl Fn(usize) -> bool,
) -> BTreeMap<String, (usize, DateTime<Utc>, DateTime<Utc>)> {
    let mut out: BTreeMap<String, (usize, DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for a in acked.iter().filter(|a| pick(a.stream)) {
        out.entry(a.key.clone())
            .and_modify(|e| {
                e.1 = e.1.min(a.acked_at);
                e.2 = e.2.max(a.acked_at);
            })
            .or_insert((a.stream, a.acked_at, a.acked_at));
    }
    out
}

/// Distinct regions, in order of first appearance.
pub(crate) fn distinct(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    v.into_iter().filter(|r| seen.insert(r.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(seq: u64, key: &str, region: &str, ms: i64) -> Ack {
        Ack {
            seq,
            key: key.into(),
            stream: 0,
            region: region.into(),
            version: None,
            acked_at: DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap(),
        }
    }

    #[test]
    fn an_older_version_winning_is_a_lost_update_and_superseded_writes_are_not() {
        // k0: written in a (1) then b (2); a's older write won in both regions.
        // k1: written in a (3) then b (4); the newer one won: nothing lost.
        // k2: written once (5), absent in b.
        let acked = vec![
            ack(1, "k0", "a", 0),
            ack(2, "k0", "b", 100),
            ack(3, "k1", "a", 200),
            ack(4, "k1", "b", 300),
            ack(5, "k2", "a", 400),
        ];
        let regions = |_: &Ack| vec!["a".to_string(), "b".to_string()];
        let mut seen = HashMap::new();
        for r in ["a", "b"] {
            seen.insert(("k0".into(), r.into()), Seen::Present(1));
            seen.insert(("k1".into(), r.into()), Seen::Present(4));
        }
        seen.insert(("k2".into(), "a".into()), Seen::Present(5));
        seen.insert(("k2".into(), "b".into()), Seen::Absent);
        let v = classify(&acked, &regions, &seen, 0.1, 10);
        assert_eq!(
            (v.acked, v.present, v.stale, v.missing, v.lost),
            (5, 3, 1, 1, 2)
        );
        assert_eq!(
            v.stale_in,
            BTreeMap::from([("a".into(), 1), ("b".into(), 1)])
        );
        assert_eq!(v.missing_in, BTreeMap::from([("b".into(), 1)]));
        // Lost writes 2 (t=100ms) and 5 (t=400ms): 0.3 s apart plus one interval.
        assert!((v.rpo_seconds - 0.4).abs() < 1e-9, "{}", v.rpo_seconds);
        assert_eq!(v.examples.len(), 2);
    }

    #[test]
    fn failed_reads_are_unverified_not_lost() {
        let acked = vec![ack(1, "k0", "a", 0)];
        let regions = |_: &Ack| vec!["a".to_string()];
        let seen = HashMap::from([(
            ("k0".to_string(), "a".to_string()),
            Seen::Error("HTTP 503".into()),
        )]);
        let v = classify(&acked, &regions, &seen, 0.1, 10);
        assert_eq!((v.lost, v.unverified, v.rpo_seconds), (0, 1, 0.0));
    }
}
