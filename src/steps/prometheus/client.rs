//! A small client for the Prometheus HTTP API (`/api/v1/query`,
//! `/api/v1/query_range`, `/api/v1/alerts`, `/api/v1/rules`,
//! `/api/v1/status/config`) and Alertmanager's `/api/v2/alerts`, over reqwest
//! with rustls.
//!
//! Authentication (bearer token or basic auth, read from an environment
//! variable or a file), extra headers, a custom CA and a client certificate
//! come from the playbook's [`ApiConnection`]. Every request has the
//! connection's timeout.
//!
//! Retries: reads are idempotent, so a request that fails on the network, times
//! out or gets a 5xx is tried again up to [`RETRIES`] times with jittered
//! exponential backoff (backon), inside the step's own time limit; a 4xx
//! (a bad expression, a wrong token) is never retried. This absorbs the
//! blip of a Prometheus restart or a dropped connection without every step
//! having to say `retries:`; longer outages are the engine's business (a
//! wait keeps polling until its timeout and journals the gap).
//!
//! Errors say what failed and where: a bad expression carries Prometheus's
//! own `error` text (the engine adds the step's position); an unreachable
//! server names the URL and the cause.

use crate::playbook::spec::prometheus::ApiConnection;
use crate::steps::StepError;
use backon::Retryable;
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Extra attempts after a network error, timeout or 5xx.
pub const RETRIES: usize = 2;
/// Time limit of one request when the connection does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Prometheus refuses range queries with more points than this per series.
pub const MAX_POINTS: f64 = 11_000.0;

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The server answered `status: error` (bad PromQL, execution error).
    #[error("{what} rejected the query: {message}")]
    Rejected {
        what: &'static str,
        error_type: String,
        message: String,
        retryable: bool,
    },
    /// Connection refused, DNS, TLS, timeout.
    #[error("cannot reach {what} at {url}: {cause}")]
    Unreachable {
        what: &'static str,
        url: String,
        cause: String,
    },
    /// An HTTP error status without a Prometheus error body.
    #[error("{what} at {url} answered HTTP {status}{detail}")]
    Status {
        what: &'static str,
        url: String,
        status: u16,
        detail: String,
    },
    /// A body that is not what the API documents.
    #[error("{what} at {url} sent an unexpected answer: {detail}")]
    Decode {
        what: &'static str,
        url: String,
        detail: String,
    },
    /// The connection settings cannot be used (missing token file, bad CA).
    #[error("{0}")]
    Config(String),
}

impl ApiError {
    pub fn retryable(&self) -> bool {
        match self {
            ApiError::Unreachable { .. } => true,
            ApiError::Status { status, .. } => *status >= 500 || *status == 429,
            ApiError::Rejected { retryable, .. } => *retryable,
            ApiError::Decode { .. } | ApiError::Config(_) => false,
        }
    }
}

impl From<ApiError> for StepError {
    fn from(e: ApiError) -> StepError {
        StepError {
            retryable: e.retryable(),
            message: e.to_string(),
        }
    }
}

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub metric: BTreeMap<String, String>,
    /// Server time, unix seconds.
    pub t: f64,
    pub v: f64,
}

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub metric: BTreeMap<String, String>,
    /// `(server unix seconds, value)`, in time order.
    pub points: Vec<(f64, f64)>,
}

/// What an instant query returned.
#[derive(Debug, Clone, PartialEq)]
pub enum InstantValue {
    Vector(Vec<Sample>),
    Scalar(f64, f64),
    /// A range vector or a string: not a value a condition can judge.
    Other(String),
}

/// A successful answer with the server's warnings.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub data: T,
    pub warnings: Vec<String>,
}

/// An alert as `/api/v1/alerts` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct PromAlert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub state: String,
    #[serde(default, rename = "activeAt")]
    pub active_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub value: Option<String>,
}

/// An alerting rule as `/api/v1/rules` shows it.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub name: String,
    /// The rule's `for`, in seconds.
    pub for_seconds: f64,
    pub alerts: Vec<PromAlert>,
}

/// An alert as Alertmanager's `/api/v2/alerts` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct AmAlert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: DateTime<Utc>,
    #[serde(default)]
    pub status: AmStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AmStatus {
    #[serde(default)]
    pub state: String,
}

/// A client for one API (a Prometheus or an Alertmanager).
#[derive(Clone)]
pub struct ApiClient {
    what: &'static str,
    base: String,
    http: reqwest::Client,
    auth: Auth,
    timeout: Duration,
}

/// Credentials sent with every request.
#[derive(Clone)]
enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    let mut msg = e.to_string();
    while let Some(next) = cur.source() {
        cur = next;
        msg = cur.to_string();
    }
    msg
}

/// Parse a Prometheus sample value (`"1.5"`, `"NaN"`, `"+Inf"`).
pub fn parse_value(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn parse_point(p: &Value) -> Option<(f64, f64)> {
    let a = p.as_array()?;
    Some((a.first()?.as_f64()?, parse_value(a.get(1)?)?))
}

fn parse_metric(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `(unix seconds)` → `DateTime`, millisecond precision.
pub fn from_unix(t: f64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt((t * 1000.0).round() as i64)
        .single()
        .unwrap_or_default()
}

/// `DateTime` → unix seconds with milliseconds.
pub fn to_unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Prometheus durations in configs: `15s`, `1m30s`, `500ms`, `1h`.
pub fn parse_prom_duration(s: &str) -> Option<Duration> {
    crate::playbook::duration::parse_prometheus(s)
}

impl ApiClient {
    /// Build a client from a connection. Reads token, password, CA and
    /// certificate files now, so a bad path is reported before any query.
    pub fn new(what: &'static str, conn: &ApiConnection) -> Result<ApiClient, ApiError> {
        use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
        let cfg = |m: String| ApiError::Config(format!("{} connection: {m}", what.to_lowercase()));
        let mut headers = HeaderMap::new();
        for (k, v) in &conn.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| cfg(format!("`{k}` is not a valid header name")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| cfg(format!("the value of header `{k}` is not valid")))?;
            headers.insert(name, value);
        }
        let mut b = crate::tls::http_builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .default_headers(headers);
        if let Some(ca) = &conn.ca_file {
            let pem =
                std::fs::read(ca).map_err(|e| cfg(format!("cannot read `ca_file` {ca}: {e}")))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| cfg(format!("`ca_file` {ca} is not PEM certificates: {e}")))?;
            if certs.is_empty() {
                return Err(cfg(format!("`ca_file` {ca} holds no certificate")));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let Some(cc) = &conn.client_cert {
            let mut pem = std::fs::read(&cc.cert_file).map_err(|e| {
                cfg(format!(
                    "cannot read `client_cert.cert_file` {}: {e}",
                    cc.cert_file
                ))
            })?;
            let key = std::fs::read(&cc.key_file).map_err(|e| {
                cfg(format!(
                    "cannot read `client_cert.key_file` {}: {e}",
                    cc.key_file
                ))
            })?;
            pem.push(b'\n');
            pem.extend_from_slice(&key);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                cfg(format!(
                    "`client_cert` ({} + {}) is not a PEM certificate and private key: {}",
                    cc.cert_file,
                    cc.key_file,
                    root_cause(&e)
                ))
            })?;
            b = b.identity(id);
        }
        let auth = match (&conn.bearer_token, &conn.basic_auth) {
            (Some(_), Some(_)) => {
                return Err(cfg("give `bearer_token` or `basic_auth`, not both".into()));
            }
            (Some(t), None) => Auth::Bearer(
                t.read()
                    .map_err(|m| cfg(format!("bearer_token: {m}")))?
                    .trim()
                    .to_string(),
            ),
            (None, Some(basic)) => Auth::Basic(
                basic.username.clone(),
                basic
                    .password
                    .read()
                    .map_err(|m| cfg(format!("basic_auth.password: {m}")))?,
            ),
            (None, None) => Auth::None,
        };
        let http = b
            .build()
            .map_err(|e| cfg(format!("cannot build the HTTP client: {}", root_cause(&e))))?;
        Ok(ApiClient {
            what,
            base: conn.url.trim_end_matches('/').to_string(),
            http,
            auth,
            timeout: conn.timeout.map_or(DEFAULT_TIMEOUT, |t| t.get()),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One GET, no retry: the body as JSON, with the response's `Date` header.
    async fn get_once(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(Value, Option<DateTime<Utc>>), ApiError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.get(&url).query(params).timeout(self.timeout);
        req = match &self.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
        };
        let resp = req.send().await.map_err(|e| ApiError::Unreachable {
            what: self.what,
            url: url.clone(),
            cause: if e.is_timeout() {
                format!(
                    "no answer within {}",
                    crate::playbook::duration::format(self.timeout)
                )
            } else {
                root_cause(&e)
            },
        })?;
        let status = resp.status();
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.with_timezone(&Utc));
        let body = resp.text().await.map_err(|e| ApiError::Unreachable {
            what: self.what,
            url: url.clone(),
            cause: format!("reading the answer: {}", root_cause(&e)),
        })?;
        let json: Option<Value> = serde_json::from_str(&body).ok();
        // Prometheus's error shape: {"status":"error","errorType":..,"error":..}
        if let Some(j) = &json
            && j.get("status").and_then(|s| s.as_str()) == Some("error")
        {
            let error_type = j
                .get("errorType")
                .and_then(|s| s.as_str())
                .unwrap_or("error")
                .to_string();
            let message = j
                .get("error")
                .and_then(|s| s.as_str())
                .unwrap_or("no reason given")
                .to_string();
            let retryable = status.is_server_error()
                || matches!(error_type.as_str(), "timeout" | "unavailable" | "canceled");
            return Err(ApiError::Rejected {
                what: self.what,
                error_type,
                message,
                retryable,
            });
        }
        if !status.is_success() {
            let snippet: String = body.chars().take(200).collect();
            let detail = if snippet.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", snippet.trim())
            };
            let hint = match status.as_u16() {
                401 | 403 => " (check the connection's bearer_token or basic_auth)",
                404 => " (check the connection's url and path prefix)",
                _ => "",
            };
            return Err(ApiError::Status {
                what: self.what,
                url,
                status: status.as_u16(),
                detail: format!("{detail}{hint}"),
            });
        }
        match json {
            Some(j) => Ok((j, date)),
            None => Err(ApiError::Decode {
                what: self.what,
                url,
                detail: "the body is not JSON".into(),
            }),
        }
    }

    /// GET with retries on network errors and 5xx.
    pub async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(Value, Option<DateTime<Utc>>), ApiError> {
        (|| self.get_once(path, params))
            .retry(
                crate::steps::retry::backoff(
                    Duration::from_millis(100),
                    Duration::from_secs(2),
                    RETRIES,
                )
                .with_jitter(),
            )
            .when(|e: &ApiError| e.retryable())
            .notify(|e: &ApiError, after: Duration| {
                tracing::debug!("retrying in {after:?}: {e}");
            })
            .await
    }

    /// `data` of a `{"status":"success"}` answer, and its warnings.
    async fn api(&self, path: &str, params: &[(&str, String)]) -> Result<Answer<Value>, ApiError> {
        let (j, _) = self.get(path, params).await?;
        let warnings = j
            .get("warnings")
            .and_then(|w| w.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        match j.get("data") {
            Some(d) => Ok(Answer {
                data: d.clone(),
                warnings,
            }),
            None => Err(self.decode(path, "no `data` in the answer")),
        }
    }

    fn decode(&self, path: &str, detail: &str) -> ApiError {
        ApiError::Decode {
            what: self.what,
            url: format!("{}{path}", self.base),
            detail: detail.into(),
        }
    }

    /// Instant query at `time` (server clock; `None`: the server's now).
    pub async fn query(
        &self,
        expr: &str,
        time: Option<f64>,
    ) -> Result<Answer<InstantValue>, ApiError> {
        let mut params = vec![("query", expr.to_string())];
        if let Some(t) = time {
            params.push(("time", format!("{t:.3}")));
        }
        let a = self.api("/api/v1/query", &params).await?;
        let rt = a
            .data
            .get("resultType")
            .and_then(|s| s.as_str())
            .unwrap_or("");
        let result = a.data.get("result");
        let data = match rt {
            "vector" => {
                let items = result.and_then(|r| r.as_array()).ok_or_else(|| {
                    self.decode("/api/v1/query", "a vector result that is not a list")
                })?;
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    let (t, v) = it
                        .get("value")
                        .and_then(parse_point)
                        .ok_or_else(|| self.decode("/api/v1/query", "a sample without a value"))?;
                    out.push(Sample {
                        metric: parse_metric(it.get("metric")),
                        t,
                        v,
                    });
                }
                InstantValue::Vector(out)
            }
            "scalar" => {
                let (t, v) = result
                    .and_then(parse_point)
                    .ok_or_else(|| self.decode("/api/v1/query", "a scalar without a value"))?;
                InstantValue::Scalar(t, v)
            }
            other => InstantValue::Other(other.to_string()),
        };
        Ok(Answer {
            data,
            warnings: a.warnings,
        })
    }

    /// Range query over `[start, end]` (server clock, unix seconds) at `step`
    /// seconds. Returns the parsed series and the raw `data.result`.
    pub async fn query_range(
        &self,
        expr: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<Answer<(Vec<Series>, Value)>, ApiError> {
        let params = [
            ("query", expr.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{step:.3}")),
        ];
        let a = self.api("/api/v1/query_range", &params).await?;
        let raw = a
            .data
            .get("result")
            .cloned()
            .unwrap_or(Value::Array(vec![]));
        let rt = a
            .data
            .get("resultType")
            .and_then(|s| s.as_str())
            .unwrap_or("");
        if rt != "matrix" {
            return Err(self.decode(
                "/api/v1/query_range",
                &format!("result type `{rt}`, expected a matrix"),
            ));
        }
        let series = raw
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|it| Series {
                        metric: parse_metric(it.get("metric")),
                        points: it
                            .get("values")
                            .and_then(|v| v.as_array())
                            .map(|ps| ps.iter().filter_map(parse_point).collect())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Answer {
            data: (series, raw),
            warnings: a.warnings,
        })
    }

    /// Active alerts (pending and firing) of every alerting rule.
    pub async fn alerts(&self) -> Result<Answer<Vec<PromAlert>>, ApiError> {
        let a = self.api("/api/v1/alerts", &[]).await?;
        let alerts = a
            .data
            .get("alerts")
            .cloned()
            .map(serde_json::from_value::<Vec<PromAlert>>)
            .transpose()
            .map_err(|e| self.decode("/api/v1/alerts", &e.to_string()))?
            .unwrap_or_default();
        Ok(Answer {
            data: alerts,
            warnings: a.warnings,
        })
    }

    /// Alerting rules with their `for` and current alerts.
    pub async fn alert_rules(&self) -> Result<Vec<AlertRule>, ApiError> {
        let a = self
            .api("/api/v1/rules", &[("type", "alert".to_string())])
            .await?;
        let mut out = vec![];
        for g in a
            .data
            .get("groups")
            .and_then(|g| g.as_array())
            .into_iter()
            .flatten()
        {
            for r in g
                .get("rules")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten()
            {
                if r.get("type").and_then(|t| t.as_str()) != Some("alerting") {
                    continue;
                }
                out.push(AlertRule {
                    name: r
                        .get("name")
                        .and_then(|n| n.as_str())
                        .unwrap_or("")
                        .to_string(),
                    for_seconds: r.get("duration").and_then(|d| d.as_f64()).unwrap_or(0.0),
                    alerts: r
                        .get("alerts")
                        .cloned()
                        .and_then(|a| serde_json::from_value(a).ok())
                        .unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    /// The server's loaded configuration (YAML text), if it shows it.
    pub async fn config_yaml(&self) -> Result<String, ApiError> {
        let a = self.api("/api/v1/status/config", &[]).await?;
        a.data
            .get("yaml")
            .and_then(|y| y.as_str())
            .map(str::to_string)
            .ok_or_else(|| self.decode("/api/v1/status/config", "no `yaml` in the answer"))
    }

    /// Alertmanager: active alerts named `alertname` (all states).
    pub async fn am_alerts(&self, alertname: &str) -> Result<Vec<AmAlert>, ApiError> {
        let (j, _) = self
            .get(
                "/api/v2/alerts",
                &[(
                    "filter",
                    format!("alertname=\"{}\"", alertname.replace('"', "\\\"")),
                )],
            )
            .await?;
        serde_json::from_value(j).map_err(|e| self.decode("/api/v2/alerts", &e.to_string()))
    }

    /// Measure the server clock against ours with a `time()` query:
    /// `(offset = server - ours, round trip)`, in seconds.
    pub async fn clock_offset(&self) -> Result<(f64, f64), ApiError> {
        let t0 = Utc::now();
        let started = Instant::now();
        let a = self.query("time()", None).await?;
        let rtt = started.elapsed().as_secs_f64();
        let server = match a.data {
            InstantValue::Scalar(t, _) => t,
            _ => return Err(self.decode("/api/v1/query", "`time()` did not return a scalar")),
        };
        let ours = to_unix(t0) + rtt / 2.0;
        Ok((server - ours, rtt))
    }
}

/// Global `scrape_interval` (the largest of any job when jobs override it)
/// and `evaluation_interval` from a Prometheus config, with Prometheus's
/// defaults (1m) where the file is silent.
pub fn intervals_from_config(yaml: &str) -> Option<(Duration, Duration)> {
    let root = marked_yaml::parse_yaml(0, yaml).ok()?;
    let root = root.as_mapping()?;
    let get = |m: &marked_yaml::types::MarkedMappingNode, k: &str| {
        m.get_scalar(k)
            .and_then(|s| parse_prom_duration(s.as_str()))
    };
    let global = root.get_mapping("global");
    let default = Duration::from_secs(60);
    let mut scrape = global
        .and_then(|g| get(g, "scrape_interval"))
        .unwrap_or(default);
    let eval = global
        .and_then(|g| get(g, "evaluation_interval"))
        .unwrap_or(default);
    if let Some(jobs) = root.get_sequence("scrape_configs") {
        let job_max = jobs
            .iter()
            .filter_map(|j| j.as_mapping().and_then(|m| get(m, "scrape_interval")))
            .max();
        if let Some(m) = job_max {
            scrape = m;
        }
    }
    Some((scrape, eval))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_and_durations() {
        assert_eq!(
            parse_value(&Value::String("+Inf".into())),
            Some(f64::INFINITY)
        );
        assert!(parse_value(&Value::String("NaN".into())).is_some_and(f64::is_nan));
        assert_eq!(parse_value(&Value::String("0.25".into())), Some(0.25));
        assert_eq!(parse_prom_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_prom_duration("500ms"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_prom_duration("15"), None);
    }

    #[test]
    fn reads_intervals_from_a_config() {
        let y = "global:\n  scrape_interval: 1s\n  evaluation_interval: 2s\nscrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n";
        assert_eq!(
            intervals_from_config(y),
            Some((Duration::from_secs(5), Duration::from_secs(2)))
        );
        assert_eq!(
            intervals_from_config("global: {}\n"),
            Some((Duration::from_secs(60), Duration::from_secs(60)))
        );
    }
}
