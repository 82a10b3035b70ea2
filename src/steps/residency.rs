//! `kind: residency`: a jurisdiction's records and traffic stay inside it.
//!
//! * Read-back: every acknowledged record of the canary streams that declare
//!   `absent_in:` is read in those regions; one that is readable there is a
//!   violation, reported with when it was written and where it showed up.
//! * Traffic: a Prometheus range query over the whole window (the drill so
//!   far, or a phase): every point must meet `expect`, and the report names
//!   the first and last point that did not, the peak, and the optional total.
//!
//! Prometheus is the playbook's `prometheus:` connection, through the run's
//! shared session (its clock offset corrects every timestamp).

use super::canary::Writer;
use super::canary_verify::{Seen, keys_of, read_many_http};
use super::prometheus::client::InstantValue;
use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError};
use crate::journal::EventKind;
use crate::playbook::spec::residency::{Empty, ResidencySpec, Traffic};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Points per series a window query aims at, at most.
const MAX_POINTS: f64 = 10_000.0;

fn hms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What the traffic check found.
#[derive(Debug, Default)]
struct TrafficResult {
    ok: bool,
    points: usize,
    breaches: usize,
    first: Option<(f64, f64, String)>,
    last: Option<(f64, f64, String)>,
    peak: Option<f64>,
    total: Option<f64>,
    summary: String,
    evidence: Value,
}

async fn check_traffic(ctx: &StepCtx, t: &Traffic) -> Result<TrafficResult, StepError> {
    let prom = ctx.clients.prometheus.prometheus(ctx).await?;
    let now = Utc::now();
    let (wname, start, end) = match t.window.as_deref() {
        None | Some("drill") => ("the drill".to_string(), ctx.started_at, now),
        Some(name) => {
            let w = ctx.window(name).ok_or_else(|| {
                StepError::fatal(format!(
                    "phase `{name}` has not started, so it has no window yet; use `window: drill` or a phase that ran before this step"
                ))
            })?;
            (format!("phase `{}`", w.name), w.start, w.end.unwrap_or(now))
        }
    };
    let span = ((end - start).num_milliseconds() as f64 / 1000.0).max(1.0);
    let mut step = t.step.map_or(5.0, |s| s.secs());
    if span / step > MAX_POINTS {
        step = (span / MAX_POINTS).ceil();
    }
    let fill = |q: &str| {
        q.replace("{step}", &format!("{}s", step.ceil() as u64))
            .replace("{window}", &format!("{}s", span.ceil() as u64))
    };
    let query = fill(&t.query);
    let (s_start, s_end) = (prom.to_server(start), prom.to_server(end));
    let answer = prom.api.query_range(&query, s_start, s_end, step).await?;
    let mut r = TrafficResult::default();
    for series in &answer.data.0 {
        let name = super::prometheus::labels_text(&series.metric);
        for &(at, x) in &series.points {
            r.points += 1;
            if !t.expect.holds(x) {
                r.breaches += 1;
                r.peak = Some(r.peak.map_or(x, |p: f64| p.max(x)));
                if r.first.as_ref().is_none_or(|f| at < f.0) {
                    r.first = Some((at, x, name.clone()));
                }
                if r.last.as_ref().is_none_or(|l| at > l.0) {
                    r.last = Some((at, x, name.clone()));
                }
            }
        }
    }
    if let Some(total_q) = &t.total {
        let a = prom.api.query(&fill(total_q), Some(s_end)).await?;
        r.total = match a.data {
            InstantValue::Vector(v) => Some(v.iter().map(|s| s.v).sum()),
            InstantValue::Scalar(_, v) => Some(v),
            InstantValue::Other(kind) => {
                return Err(StepError::fatal(format!(
                    "`traffic.total` returned a {kind}; it must be an instant vector or a scalar, such as `sum(increase(x[{{window}}]))`"
                )));
            }
        };
    }
    let at = |secs: f64| hms(prom.to_ours(secs));
    let window_text = format!(
        "over {wname} ({} to {}, every {step}s)",
        hms(start),
        hms(end)
    );
    let total_text = r.total.map(|x| format!("; total {x}")).unwrap_or_default();
    if r.points == 0 {
        r.ok = t.empty == Empty::Pass;
        r.summary = format!(
            "traffic: no data {window_text}{}",
            if r.ok {
                " (allowed by `empty: pass`)".to_string()
            } else {
                "; no series is not evidence of zero (a wrong metric name looks the same): append `or vector(0)` if zero is the normal state".to_string()
            }
        );
    } else if r.breaches == 0 {
        r.ok = true;
        r.summary = format!(
            "traffic held `{}` at all {} points {window_text}{total_text}",
            t.expect, r.points
        );
    } else {
        let (f, l) = (
            r.first.clone().unwrap_or_default(),
            r.last.clone().unwrap_or_default(),
        );
        r.summary = format!(
            "traffic broke `{}` at {} of {} points {window_text}: first at {} ({} {}), last at {}, peak {}{total_text}",
            t.expect,
            r.breaches,
            r.points,
            at(f.0),
            f.1,
            f.2,
            at(l.0),
            r.peak.unwrap_or(0.0)
        );
    }
    r.evidence = json!({
        "prometheus": prom.api.base_url(),
        "query": query,
        "total_query": t.total.as_ref().map(|q| fill(q)),
        "window": {"name": wname, "start": start, "end": end, "step_seconds": step},
        "points": r.points,
        "breaching_points": r.breaches,
        "first_breach": r.first.as_ref().map(|(t, v, s)| json!({"at": at(*t), "value": v, "series": s})),
        "last_breach": r.last.as_ref().map(|(t, v, s)| json!({"at": at(*t), "value": v, "series": s})),
        "peak": r.peak,
        "total": r.total,
    });
    Ok(r)
}

/// What the read-back found.
struct ReadBackResult {
    violations: u64,
    unverified: u64,
    checked: u64,
    summary: String,
    evidence: Value,
}

async fn read_back(ctx: &StepCtx, w: Arc<Writer>, who: &str) -> Result<ReadBackResult, StepError> {
    let shared = w.shared.clone();
    let Some(h) = &shared.spec.http else {
        return Err(StepError::fatal(
            "read-back needs an HTTP canary (a PostgreSQL canary has no regions)",
        ));
    };
    let acked = shared.lock().acked.clone();
    let streams = &shared.spec.streams;
    let keys = keys_of(&acked, |s| {
        streams.get(s).is_some_and(|s| !s.absent_in.is_empty())
    });
    let mut pairs = vec![];
    for (k, (stream, _, _)) in &keys {
        for r in &streams[*stream].absent_in {
            pairs.push((k.clone(), r.clone(), *stream));
        }
    }
    let seen = read_many_http(ctx, &shared, &h.read, pairs, 16).await;
    let mut by_region: BTreeMap<String, (u64, DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    let mut examples = vec![];
    let mut unverified: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut violating_keys = std::collections::BTreeSet::new();
    for ((key, region), s) in &seen {
        let Some((_, first, last)) = keys.get(key) else {
            continue;
        };
        match s {
            Seen::Present(seq) => {
                violating_keys.insert(key.clone());
                let e = by_region
                    .entry(region.clone())
                    .or_insert((0, *first, *last));
                e.0 += 1;
                e.1 = e.1.min(*first);
                e.2 = e.2.max(*last);
                if examples.len() < 10 {
                    examples.push(
                        json!({"key": key, "readable_in": region, "seq": seq, "written_at": first}),
                    );
                }
            }
            Seen::Absent => {}
            Seen::Error(e) => {
                let slot = unverified.entry(region.clone()).or_insert((0, e.clone()));
                slot.0 += 1;
            }
        }
    }
    let violations = violating_keys.len() as u64;
    let unverified_n: u64 = unverified.values().map(|(n, _)| n).sum();
    let regions: Vec<String> = streams
        .iter()
        .filter(|s| !s.absent_in.is_empty())
        .flat_map(|s| s.absent_in.clone())
        .collect();
    let regions = super::canary_verify::distinct(regions).join(", ");
    let mut summary = if violations == 0 {
        format!(
            "read-back: none of {} {who} canary records is readable in {regions}",
            keys.len()
        )
    } else {
        let parts: Vec<String> = by_region
            .iter()
            .map(|(r, (n, a, b))| format!("{n} in {r} (written {} to {})", hms(*a), hms(*b)))
            .collect();
        format!(
            "read-back: {violations} of {} {who} canary records are readable outside: {}",
            keys.len(),
            parts.join("; ")
        )
    };
    if unverified_n > 0 {
        let why: Vec<String> = unverified
            .iter()
            .map(|(r, (n, e))| format!("{r} ×{n}: {e}"))
            .collect();
        summary.push_str(&format!(
            "; {unverified_n} reads failed ({})",
            why.join("; ")
        ));
    }
    Ok(ReadBackResult {
        violations,
        unverified: unverified_n,
        checked: keys.len() as u64,
        summary,
        evidence: json!({
            "records_checked": keys.len(),
            "violations": violations,
            "by_region": by_region.iter().map(|(r, (n, a, b))| (r.clone(), json!({"records": n, "first_written": a, "last_written": b}))).collect::<BTreeMap<_, _>>(),
            "examples": examples,
            "unverified": unverified.iter().map(|(r, (n, e))| (r.clone(), json!({"reads": n, "error": e}))).collect::<BTreeMap<_, _>>(),
        }),
    })
}

#[async_trait]
impl Step for ResidencySpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        let mut calls = vec![];
        if let Some(rb) = &self.read_back {
            calls.push(PlannedCall {
                call: format!(
                    "read canary `{}` records back where they must be absent",
                    rb.canary
                ),
                undo: None,
            });
        }
        if let Some(t) = &self.traffic {
            calls.push(PlannedCall {
                call: format!(
                    "Prometheus range query over {}: {} (every point {})",
                    t.window.as_deref().unwrap_or("the drill"),
                    t.query,
                    t.expect
                ),
                undo: None,
            });
        }
        calls
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let who = self.jurisdiction.as_deref().unwrap_or("resident");
        let mut ok = true;
        let mut parts = vec![];
        let mut evidence = serde_json::Map::new();
        let mut value = 0.0;
        let rec = super::postgres::ctx_record(ctx);
        let record = |suffix: &str, v: f64| {
            if let Some(r) = &rec {
                let _ = ctx.events.emit(EventKind::Recorded {
                    name: format!("{r}_{suffix}"),
                    value: v,
                    unit: None,
                    step: ctx.step_name.clone(),
                });
            }
        };
        if let Some(rb) = &self.read_back {
            let w = ctx.clients.canaries.get(&rb.canary).ok_or_else(|| {
                StepError::fatal(format!(
                    "canary `{}` was not started in this run, so there are no records to read back",
                    rb.canary
                ))
            })?;
            let r = read_back(ctx, w, who).await?;
            ok &= r.violations == 0 && r.unverified == 0 && r.checked > 0;
            if r.checked == 0 {
                parts.push(format!(
                    "read-back: canary `{}` has no acknowledged {who} records to check",
                    rb.canary
                ));
            } else {
                parts.push(r.summary);
            }
            value += r.violations as f64;
            record("readback", r.violations as f64);
            evidence.insert("read_back".into(), r.evidence);
        }
        if let Some(t) = &self.traffic {
            let r = check_traffic(ctx, t).await?;
            ok &= r.ok;
            value += r.breaches as f64;
            record("traffic_peak", r.peak.unwrap_or(0.0));
            if let Some(total) = r.total {
                record("traffic_total", total);
            }
            parts.push(r.summary);
            evidence.insert("traffic".into(), r.evidence);
        }
        if let (Some(r), false) = (&rec, ok) {
            let _ = ctx.events.emit(EventKind::Recorded {
                name: r.clone(),
                value,
                unit: None,
                step: ctx.step_name.clone(),
            });
        }
        Ok(Outcome {
            ok,
            value: Some(value),
            summary: format!("{who} residency: {}", parts.join("; ")),
            evidence: Value::Object(evidence),
            refined: None,
        })
    }
}
