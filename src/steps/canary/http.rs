//! One canary write over HTTP: the request from the templates, and how it ended.

use super::*;

pub(super) fn cause(e: &reqwest::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

pub(crate) async fn write_http(
    http: &reqwest::Client,
    h: &CanaryHttp,
    vals: &[(&str, &str)],
    timeout: Duration,
) -> WriteResult {
    let w = &h.write;
    let Ok(method) = reqwest::Method::from_bytes(w.method.to_ascii_uppercase().as_bytes()) else {
        return WriteResult::Rejected(format!("`{}` is not an HTTP method", w.method));
    };
    let url = fill(&w.url, vals);
    let mut req = http.request(method, &url).timeout(timeout);
    for (k, v) in &w.headers {
        req = req.header(k, fill(v, vals));
    }
    if let Some(b) = &w.body {
        if !w
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        req = req.body(fill(b, vals));
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => {
            return WriteResult::Rejected(format!("cannot connect: {}", cause(&e)));
        }
        Err(e) if e.is_timeout() => {
            return WriteResult::Unknown(format!(
                "no answer within {}",
                crate::playbook::duration::format(timeout)
            ));
        }
        Err(e) => return WriteResult::Unknown(format!("request failed: {}", cause(&e))),
    };
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let mut short: String = body.chars().take(160).collect();
        if short.len() < body.len() {
            short.push('…');
        }
        return WriteResult::Rejected(format!("HTTP {} {}", status.as_u16(), short.trim()));
    }
    let doc: Option<Value> = serde_json::from_str(&body).ok();
    let at = |path: &Option<String>| -> Option<String> {
        let p = path.as_deref()?;
        let v = super::super::http::json_path(doc.as_ref()?, p)?;
        Some(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    WriteResult::Acked {
        region: at(&w.region_at),
        version: at(&w.version_at),
    }
}
