//! `kind: residency`: a jurisdiction's records and traffic stay inside it.
//!
//! * Read-back: every acknowledged record of the canary streams that declare
//!   `absent_in:` is read in those regions; one that is readable there is a
//!   violation, reported with when it was written and where it showed up.
//! * Traffic: a Prometheus range query over the whole window (the drill so
//!   far, or a phase): every point must meet `expect`, and the report names
//!   the first and last point that did not, the peak, and the optional total.
//!
//! The Prometheus client here is deliberately small (two GET endpoints);
//! the `prometheus` step kinds own the full client.

use super::canary::Writer;
use super::canary_verify::{Seen, keys_of, read_many_http};
use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError};
use crate::journal::EventKind;
use crate::playbook::spec::residency::{Empty, ResidencySpec, Traffic};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Points per series a window query aims at, at most.
const MAX_POINTS: f64 = 10_000.0;

fn hms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The Prometheus base URL of a traffic check.
fn prometheus_url(ctx: &StepCtx, t: &Traffic) -> Result<String, StepError> {
    if let Some(u) = &t.url {
        return Ok(u.trim_end_matches('/').to_string());
    }
    let conn = serde_json::to_value(&ctx.playbook.connections.prometheus).unwrap_or(Value::Null);
    let url = match &conn {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("url").and_then(|u| u.as_str()).map(String::from),
        _ => None,
    };
    url.map(|u| u.trim_end_matches('/').to_string())
        .ok_or_else(|| {
            StepError::fatal(
                "no Prometheus to ask: set `traffic.url` or the top-level `prometheus: { url: ... }`",
            )
        })
}

/// GET a Prometheus API endpoint and return its `data`.
async fn prom_get(
    ctx: &StepCtx,
    base: &str,
    path: &str,
    params: &[(&str, String)],
) -> Result<Value, StepError> {
    let url = format!("{base}{path}");
    let resp = ctx
        .http
        .get(&url)
        .query(params)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| StepError::retryable(format!("Prometheus {url}: {e}")))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| StepError::retryable(format!("Prometheus {url}: reading the answer: {e}")))?;
    let doc: Value = serde_json::from_str(&body).map_err(|_| {
        StepError {
            message: format!(
                "Prometheus {url} answered HTTP {} with something that is not JSON; is this the Prometheus base URL?",
                status.as_u16()
            ),
            retryable: status.is_server_error(),
        }
    })?;
    if doc.get("status").and_then(|s| s.as_str()) != Some("success") {
        let err = doc
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("no error message");
        return Err(StepError {
            message: format!("Prometheus {url}: {err}"),
            retryable: status.is_server_error(),
        });
    }
    Ok(doc.get("data").cloned().unwrap_or(Value::Null))
}

fn labels(m: &Value) -> String {
    match m.as_object() {
        Some(o) if !o.is_empty() => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "{}".into(),
    }
}

fn sample(v: &Value) -> Option<(f64, f64)> {
    let a = v.as_array()?;
    let t = a.first()?.as_f64()?;
    let x = a.get(1)?.as_str()?.parse::<f64>().ok()?;
    Some((t, x))
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
    let base = prometheus_url(ctx, t)?;
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
    let ts = |d: DateTime<Utc>| format!("{:.3}", d.timestamp_millis() as f64 / 1000.0);
    let data = prom_get(
        ctx,
        &base,
        "/api/v1/query_range",
        &[
            ("query", query.clone()),
            ("start", ts(start)),
            ("end", ts(end)),
            ("step", format!("{step}")),
        ],
    )
    .await?;
    let series = data
        .get("result")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    let mut r = TrafficResult::default();
    for s in &series {
        let name = labels(s.get("metric").unwrap_or(&Value::Null));
        for v in s
            .get("values")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            let Some((at, x)) = sample(v) else { continue };
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
        let data = prom_get(
            ctx,
            &base,
            "/api/v1/query",
            &[("query", fill(total_q)), ("time", ts(end))],
        )
        .await?;
        r.total = data.get("result").and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .filter_map(|s| s.get("value").and_then(sample).map(|(_, x)| x))
                .sum()
        });
    }
    let at = |secs: f64| {
        DateTime::<Utc>::from_timestamp_millis((secs * 1000.0) as i64)
            .map(hms)
            .unwrap_or_default()
    };
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
        "prometheus": base,
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
        if let Some(r) = &rec {
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
