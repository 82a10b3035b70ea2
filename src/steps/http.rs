//! `kind: http` executor: one request, then expectations on status, values
//! at JSON paths, the body and latency. Mutating requests carry an undo
//! request, journaled before the call.

use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError, Undo, UndoAction};
use crate::playbook::expect::Comparison;
use crate::playbook::spec::http::{HttpRequest, HttpSpec};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Instant;

/// Body bytes kept as evidence.
const MAX_BODY: usize = 8 * 1024;

/// The undo of an HTTP step: another request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HttpUndo {
    pub request: HttpRequest,
}

impl HttpUndo {
    pub async fn run(&self, ctx: &StepCtx) -> Result<String, StepError> {
        let (status, _, millis) = send(ctx, &self.request).await?;
        if status.is_success() {
            Ok(format!("HTTP {} in {millis} ms", status.as_u16()))
        } else {
            Err(StepError {
                message: format!(
                    "undo request {} {} answered HTTP {}",
                    self.request.method,
                    self.request.url,
                    status.as_u16()
                ),
                retryable: status.is_server_error(),
            })
        }
    }
}

async fn send(
    ctx: &StepCtx,
    r: &HttpRequest,
) -> Result<(reqwest::StatusCode, String, u128), StepError> {
    let method = reqwest::Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| StepError::fatal(format!("`{}` is not an HTTP method", r.method)))?;
    let mut req = ctx.http.request(method, &r.url);
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    if let Some(b) = &r.body {
        req = req.body(b.clone());
    }
    let started = Instant::now();
    let resp = req.send().await.map_err(|e| {
        let what = if e.is_connect() {
            "cannot connect"
        } else if e.is_timeout() {
            "timed out"
        } else {
            "request failed"
        };
        StepError::retryable(format!(
            "{} {}: {what}: {}",
            r.method,
            r.url,
            root_cause(&e)
        ))
    })?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| {
        StepError::retryable(format!("{} {}: reading the body: {e}", r.method, r.url))
    })?;
    Ok((status, body, started.elapsed().as_millis()))
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Look up a dotted path (`data.items.0.id`) in a JSON document.
pub fn json_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(doc, |cur, part| match cur {
            Value::Object(m) => m.get(part),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        })
}

fn status_ok(expect: &Option<String>, status: u16) -> Result<bool, StepError> {
    match expect {
        None => Ok((200..300).contains(&status)),
        Some(e) => {
            if let Ok(n) = e.trim().parse::<u16>() {
                Ok(n == status)
            } else {
                let c = Comparison::parse(e)
                    .map_err(|m| StepError::fatal(format!("expect.status: {m}")))?;
                Ok(c.holds(status as f64))
            }
        }
    }
}

#[async_trait]
impl Step for HttpSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!("{} {}", self.method.to_ascii_uppercase(), self.url),
            undo: if self.is_read_only() {
                None
            } else {
                Some(match &self.undo {
                    Some(u) => format!("{} {}", u.method.to_ascii_uppercase(), u.url),
                    None => "no automatic undo".into(),
                })
            },
        }]
    }

    async fn capture(&self, _ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        if self.is_read_only() {
            return Ok(None);
        }
        Ok(self.undo.as_ref().map(|u| {
            (
                json!({"note": "the prior state is restored by the undo request"}),
                Undo {
                    description: format!("{} {}", u.method.to_ascii_uppercase(), u.url),
                    action: UndoAction::Http(HttpUndo { request: u.clone() }),
                },
            )
        }))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let req = HttpRequest {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
        };
        let (status, body, millis) = send(ctx, &req).await?;
        let code = status.as_u16();
        if status.is_server_error() && self.expect.status.is_none() {
            return Err(StepError::retryable(format!(
                "{} {} answered HTTP {code}",
                self.method, self.url
            )));
        }
        let mut problems = vec![];
        if !status_ok(&self.expect.status, code)? {
            problems.push(format!(
                "status {code}, expected {}",
                self.expect.status.as_deref().unwrap_or("2xx")
            ));
        }
        if !self.expect.json.is_empty() {
            match serde_json::from_str::<Value>(&body) {
                Err(_) => problems.push("body is not JSON".into()),
                Ok(doc) => {
                    for (path, want) in &self.expect.json {
                        let got = json_path(&doc, path);
                        let ok = match (Comparison::parse(want), got) {
                            (_, None) => false,
                            (Ok(c), Some(v)) => v
                                .as_f64()
                                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                                .is_some_and(|n| c.holds(n)),
                            (Err(_), Some(Value::String(s))) => s == want,
                            (Err(_), Some(v)) => {
                                serde_json::from_str::<Value>(want).is_ok_and(|w| &w == v)
                            }
                        };
                        if !ok {
                            let shown = got.map_or("nothing".to_string(), |v| v.to_string());
                            problems.push(format!("{path} is {shown}, expected {want}"));
                        }
                    }
                }
            }
        }
        if let Some(pat) = &self.expect.body_matches
            && !pat.is_match(&body)
        {
            problems.push(format!("body does not match /{pat}/"));
        }
        if let Some(lat) = &self.expect.latency
            && !lat.holds(millis as f64 / 1000.0)
        {
            problems.push(format!("latency {millis} ms, expected {lat}"));
        }
        let mut shown = body;
        if shown.len() > MAX_BODY {
            let mut cut = MAX_BODY;
            while !shown.is_char_boundary(cut) {
                cut -= 1;
            }
            shown.truncate(cut);
            shown.push('…');
        }
        let summary = if problems.is_empty() {
            format!("HTTP {code} in {millis} ms")
        } else {
            format!("HTTP {code} in {millis} ms: {}", problems.join("; "))
        };
        Ok(Outcome {
            ok: problems.is_empty(),
            value: Some(code as f64),
            summary,
            evidence: json!({"request": format!("{} {}", self.method.to_ascii_uppercase(), self.url), "status": code, "millis": millis, "body": ctx.events.redact(&shown)}),
            refined: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_walk_objects_and_arrays() {
        let doc = json!({"data": {"items": [{"id": 7}], "state": "ok"}});
        assert_eq!(json_path(&doc, "data.items.0.id"), Some(&json!(7)));
        assert_eq!(json_path(&doc, "data.state"), Some(&json!("ok")));
        assert_eq!(json_path(&doc, "data.missing"), None);
    }
}
