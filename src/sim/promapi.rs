//! The Prometheus-compatible HTTP API over the simulator's recorded history,
//! and `/metrics`.
//!
//! Same request parameters (`query`, `time`, `start`, `end`, `step`, as
//! query string or form body; times as RFC 3339 or unix seconds, steps as
//! seconds or Prometheus durations), same JSON shapes
//! (`{"status":"success","data":{"resultType":..,"result":..}}`) and same
//! errors (`{"status":"error","errorType":"bad_data","error":..}` with 400,
//! `execution` with 422) as Prometheus 2.x. `/api/v1/alerts` and
//! `/api/v1/rules` show the simulator's own rule evaluation.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::alerts::{self, AlertState};
use super::history::{QueryError, QueryValue, SeriesOut};
use super::metrics;
use super::model::rfc3339;
use super::server::Shared;

/// Prometheus's limit on points per series of a range query.
const MAX_POINTS: i64 = 11_000;

/// `GET /metrics`.
pub(crate) async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let samples = s.with_sim(|sim, _| sim.samples());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&samples),
    )
        .into_response()
}

/// A Prometheus API error: status, `errorType`, message.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errorType": self.kind, "error": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

fn error(status: StatusCode, kind: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError {
        status,
        kind,
        message: msg.into(),
    }
}

fn bad_data(msg: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, "bad_data", msg)
}

fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

/// Query-string and form-body parameters, later ones winning.
fn params(
    method: &Method,
    headers: &HeaderMap,
    raw: Option<String>,
    body: &Bytes,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    if let Some(q) = raw {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&q)
            .map_err(|e| bad_data(format!("invalid query string: {e}")))?;
        out.extend(pairs);
    }
    if method == Method::POST && !body.is_empty() {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.starts_with("application/x-www-form-urlencoded") {
            return Err(bad_data(
                "POST bodies must be application/x-www-form-urlencoded",
            ));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| bad_data(format!("invalid form body: {e}")))?;
        out.extend(pairs);
    }
    Ok(out)
}

/// Parse a Prometheus timestamp: unix seconds (with fraction) or RFC 3339.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() && f.abs() < 1e13 {
            return Some((f * 1000.0).round() as i64);
        }
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// Parse a Prometheus duration (`15s`, `1m30s`, `500ms`) or float seconds into ms.
pub fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        return (f.is_finite() && f > 0.0 && f < 1e10).then(|| (f * 1000.0).round() as i64);
    }
    crate::playbook::duration::parse_prometheus(s)
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .filter(|ms| *ms > 0)
}

fn time_param(p: &BTreeMap<String, String>, name: &str, default: i64) -> Result<i64, ApiError> {
    match p.get(name) {
        None => Ok(default),
        Some(v) => parse_time(v).ok_or_else(|| {
            bad_data(format!(
                "invalid parameter \"{name}\": cannot parse \"{v}\" to a valid timestamp"
            ))
        }),
    }
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn metric_json(labels: &[(String, String)]) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn point(t: i64, v: f64) -> Value {
    json!([secs(t), metrics::fmt_value(v)])
}

fn result_json(v: QueryValue) -> Value {
    let series = |s: &[SeriesOut], instant: bool| -> Vec<Value> {
        s.iter()
            .map(|s| {
                if instant {
                    let (t, v) = s.points.last().copied().unwrap_or((0, f64::NAN));
                    json!({"metric": metric_json(&s.labels), "value": point(t, v)})
                } else {
                    let values: Vec<Value> = s.points.iter().map(|(t, v)| point(*t, *v)).collect();
                    json!({"metric": metric_json(&s.labels), "values": values})
                }
            })
            .collect()
    };
    match v {
        QueryValue::Vector(s) => json!({"resultType": "vector", "result": series(&s, true)}),
        QueryValue::Matrix(s) => json!({"resultType": "matrix", "result": series(&s, false)}),
        QueryValue::Scalar(t, x) => json!({"resultType": "scalar", "result": point(t, x)}),
        QueryValue::String(t, x) => json!({"resultType": "string", "result": [secs(t), x]}),
    }
}

fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::BadData(m) => bad_data(m),
        QueryError::Execution(m) => error(StatusCode::UNPROCESSABLE_ENTITY, "execution", m),
    }
}

fn query_text(p: &BTreeMap<String, String>) -> Result<String, ApiError> {
    match p.get("query") {
        Some(q) if !q.trim().is_empty() => Ok(q.clone()),
        _ => Err(bad_data(
            "invalid parameter \"query\": 1:1: parse error: no expression found in input",
        )),
    }
}

/// A query request's parameters (query string and form body) and its `query`.
fn query_request(
    method: &Method,
    headers: &HeaderMap,
    raw: Option<String>,
    body: &Bytes,
) -> Result<(BTreeMap<String, String>, String), ApiError> {
    let p = params(method, headers, raw, body)?;
    let q = query_text(&p)?;
    Ok((p, q))
}

/// Run a query off the async runtime and answer with its result or error.
async fn evaluate(
    run: impl FnOnce() -> Result<QueryValue, QueryError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(run).await {
        Ok(Ok(v)) => success(result_json(v)),
        Ok(Err(e)) => query_error(e).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("query failed: {e}"),
        )
        .into_response(),
    }
}

/// `GET|POST /api/v1/query`.
pub(crate) async fn query(
    State(s): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (p, q) = match query_request(&method, &headers, raw, &body) {
        Ok(pq) => pq,
        Err(r) => return r.into_response(),
    };
    let now = s.with_sim(|_, now| now);
    let t = match time_param(&p, "time", now) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let shared = s.clone();
    evaluate(move || shared.history.instant(&q, t)).await
}

/// `GET|POST /api/v1/query_range`.
pub(crate) async fn query_range(
    State(s): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (p, q) = match query_request(&method, &headers, raw, &body) {
        Ok(pq) => pq,
        Err(r) => return r.into_response(),
    };
    s.with_sim(|_, _| ());
    let (start, end) = match (p.get("start"), p.get("end")) {
        (Some(a), Some(b)) => match (parse_time(a), parse_time(b)) {
            (Some(a), Some(b)) => (a, b),
            (None, _) => {
                return bad_data(format!(
                    "invalid parameter \"start\": cannot parse \"{a}\" to a valid timestamp"
                ))
                .into_response();
            }
            (_, None) => {
                return bad_data(format!(
                    "invalid parameter \"end\": cannot parse \"{b}\" to a valid timestamp"
                ))
                .into_response();
            }
        },
        (None, _) => {
            return bad_data("invalid parameter \"start\": cannot parse \"\" to a valid timestamp")
                .into_response();
        }
        (_, None) => {
            return bad_data("invalid parameter \"end\": cannot parse \"\" to a valid timestamp")
                .into_response();
        }
    };
    if end < start {
        return bad_data("invalid parameter \"end\": end timestamp must not be before start time")
            .into_response();
    }
    let step = match p.get("step").map(|s| (s, parse_duration(s))) {
        Some((_, Some(step))) => step,
        Some((raw, None)) => {
            return bad_data(format!(
                "invalid parameter \"step\": cannot parse \"{raw}\" to a valid duration"
            ))
            .into_response();
        }
        None => {
            return bad_data("invalid parameter \"step\": cannot parse \"\" to a valid duration")
                .into_response();
        }
    };
    if (end - start) / step > MAX_POINTS {
        return bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ).into_response();
    }
    let shared = s.clone();
    evaluate(move || shared.history.range(&q, start, end, step)).await
}

/// Expand `{{ $labels.X }}` and `{{ $value }}` in an annotation.
fn expand(template: &str, labels: &BTreeMap<String, String>, value: f64) -> String {
    let mut out = template.to_string();
    for (k, v) in labels {
        for pat in [
            format!("{{{{ $labels.{k} }}}}"),
            format!("{{{{$labels.{k}}}}}"),
        ] {
            out = out.replace(&pat, v);
        }
    }
    out.replace("{{ $value }}", &metrics::fmt_value(value))
}

fn alert_json(a: &alerts::Alert) -> Value {
    let rule = &alerts::rules()[a.rule];
    let annotations: BTreeMap<String, String> = rule
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), expand(v, &a.labels, a.value)))
        .collect();
    json!({
        "labels": a.labels,
        "annotations": annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": alerts::go_exp(a.value),
    })
}

/// `GET /api/v1/alerts`.
pub(crate) async fn alerts(State(s): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = s.with_sim(|sim, _| sim.alerts().active().map(alert_json).collect());
    success(json!({ "alerts": list }))
}

/// `GET /api/v1/rules`.
pub(crate) async fn rules(State(s): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let p = match params(&Method::GET, &HeaderMap::new(), raw, &Bytes::new()) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    match p.get("type").map(String::as_str) {
        None | Some("alert") | Some("") => {}
        Some("record") => return success(json!({"groups": []})),
        Some(other) => {
            return bad_data(format!(
                "invalid parameter \"type\": {other:?} is not one of alert or record"
            ))
            .into_response();
        }
    }
    let (active, last): (Vec<alerts::Alert>, Option<i64>) = s.with_sim(|sim, _| {
        (
            sim.alerts().active().cloned().collect(),
            sim.alerts().last_eval,
        )
    });
    let interval = s.with_sim(|sim, _| sim.config().eval_interval.as_secs_f64());
    let last = last
        .map(rfc3339)
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
    let rules: Vec<Value> = alerts::rules()
        .iter()
        .enumerate()
        .map(|(ri, r)| {
            let mine: Vec<&alerts::Alert> = active.iter().filter(|a| a.rule == ri).collect();
            let state = if mine.iter().any(|a| a.state == AlertState::Firing) {
                "firing"
            } else if mine.is_empty() {
                "inactive"
            } else {
                "pending"
            };
            json!({
                "state": state,
                "name": r.name,
                "query": r.expr,
                "duration": r.for_.as_secs_f64(),
                "keepFiringFor": 0,
                "labels": r.labels,
                "annotations": r.annotations,
                "alerts": mine.iter().map(|a| alert_json(a)).collect::<Vec<_>>(),
                "health": "ok",
                "evaluationTime": 0.0,
                "lastEvaluation": last,
                "type": "alerting",
            })
        })
        .collect();
    success(json!({"groups": [{
        "name": alerts::GROUP_NAME,
        "file": "drills/sim/rules.yml",
        "rules": rules,
        "interval": interval,
        "limit": 0,
        "evaluationTime": 0.0,
        "lastEvaluation": last,
    }]}))
}

/// `GET /api/v1/status/buildinfo`.
pub(crate) async fn buildinfo() -> Response {
    success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "gameday-sim",
        "branch": "gameday-sim",
        "buildUser": "gameday",
        "buildDate": "",
        "goVersion": "none (gameday simulator)",
    }))
}

/// `GET /-/ready` and `/-/healthy`.
pub(crate) async fn ready() -> Response {
    (StatusCode::OK, "gameday simulator is Ready.\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("1.5"), Some(1_500));
        assert_eq!(
            parse_time("2026-01-01T00:00:00.250Z"),
            Some(1_767_225_600_250)
        );
        assert_eq!(parse_time("soon"), None);
        assert_eq!(parse_duration("1m30s"), Some(90_000));
        assert_eq!(parse_duration("0.25"), Some(250));
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("5x"), None);
    }
}
