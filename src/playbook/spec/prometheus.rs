//! The Prometheus and Alertmanager side of a playbook: the `prometheus:` and
//! `alertmanager:` connections, and the step kinds that read them.
//!
//! ```yaml
//! prometheus:
//!   url: https://prometheus.internal:9090
//!   bearer_token: { env: PROM_TOKEN }        # or { file: /run/secrets/prom-token }
//!   basic_auth: { username: gameday, password: { env: PROM_PASSWORD } }
//!   headers: { X-Scope-OrgID: payments }
//!   ca_file: /etc/ssl/internal-ca.pem
//!   client_cert: { cert_file: client.pem, key_file: client-key.pem }
//!   timeout: 10s                             # per query (default 10s)
//!   scrape_interval: 15s                     # error bars; read from the server when it says
//!   evaluation_interval: 15s
//! alertmanager: { url: http://alertmanager.internal:9093 }
//! ```
//!
//! Step kinds (all read-only: checks, waits, watches or guardrails):
//!
//! * `prometheus`: an instant query and a condition on its value(s).
//!   `expect: "< 0.05"`; `series: all | any` (default `all`: every series
//!   returned must hold); `empty: fail | pass` (default `fail`: no series
//!   means the condition does not hold). NaN never holds. Stale series (a
//!   target that went away) are not in Prometheus's answer, so they neither
//!   pass nor fail. Waited on with `mark:`, the marker is refined by a range
//!   query looking back at the scrape step for the first evaluation from
//!   which the condition held.
//! * `alert`: an alert with `alertname` and `labels` firing, read from
//!   Prometheus (`source: prometheus`, the rule fired: `activeAt` + the
//!   rule's `for`) or Alertmanager (`source: alertmanager`, the notification
//!   reached it: its `startsAt`).
//! * `prometheus-window`: one number over a phase's window: `increase` of a
//!   counter (resets handled), or `min`, `max`, `avg` of a gauge, with an
//!   optional `expect:` and usually `record:`.
//! * `prometheus-charts`: save range queries over the run so far into
//!   `RUN_DIR/series/<name>.json` for the report's charts.

use crate::playbook::duration::Positive;
use crate::playbook::expect::Comparison;
use crate::playbook::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a secret value comes from: an environment variable or a file
/// (never inline, so it stays out of the playbook and the journal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", try_from = "RawSecretRef")]
pub enum SecretRef {
    Env(String),
    File(String),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawSecretRef {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    file: Option<String>,
}

impl TryFrom<RawSecretRef> for SecretRef {
    type Error = String;
    fn try_from(r: RawSecretRef) -> Result<Self, String> {
        match (r.env, r.file) {
            (Some(e), None) if !e.trim().is_empty() => Ok(SecretRef::Env(e)),
            (None, Some(f)) if !f.trim().is_empty() => Ok(SecretRef::File(f)),
            _ => Err("give exactly one of `env: VARIABLE` or `file: PATH`".into()),
        }
    }
}

impl SecretRef {
    /// Read the value (a file's trailing newline removed).
    pub fn read(&self) -> Result<String, String> {
        match self {
            SecretRef::Env(name) => {
                std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))
            }
            SecretRef::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read `{path}`: {e}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: SecretRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCert {
    /// PEM certificate (chain) presented to the server.
    pub cert_file: String,
    /// PEM private key of that certificate.
    pub key_file: String,
}

/// How to reach a Prometheus-compatible API or an Alertmanager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiConnection {
    /// Base URL, such as `http://127.0.0.1:9090` (a path prefix is kept).
    #[serde(deserialize_with = "http_url")]
    #[schemars(with = "String")]
    pub url: String,
    #[serde(default)]
    pub bearer_token: Option<SecretRef>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// Extra headers sent with every request (tenant ids, say).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// PEM CA certificate(s) to trust in addition to the system roots.
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub client_cert: Option<ClientCert>,
    /// Time limit of one request (default 10s).
    #[serde(default)]
    pub timeout: Option<Positive>,
    /// Prometheus only: the scrape interval, used when the server's
    /// `/api/v1/status/config` cannot be read.
    #[serde(default)]
    pub scrape_interval: Option<Positive>,
    /// Prometheus only: the rule evaluation interval, likewise.
    #[serde(default)]
    pub evaluation_interval: Option<Positive>,
}

fn http_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    match reqwest::Url::parse(s.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {
            Ok(s.trim().trim_end_matches('/').to_string())
        }
        Ok(u) => Err(serde::de::Error::custom(format!(
            "`{s}` is a `{}` URL; write an http:// or https:// URL",
            u.scheme()
        ))),
        Err(e) => Err(serde::de::Error::custom(format!(
            "`{s}` is not a URL ({e}); write it like `http://127.0.0.1:9090`"
        ))),
    }
}

/// Which series must satisfy a condition.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SeriesRule {
    /// Every series returned (the safe default: one bad region fails the check).
    #[default]
    All,
    /// At least one series.
    Any,
}

/// What an empty answer means.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EmptyRule {
    /// No data is not good news: the condition does not hold.
    #[default]
    Fail,
    /// No series is what we want (`ALERTS{...}` being empty, say).
    Pass,
}

/// `kind: prometheus`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSpec {
    /// PromQL, evaluated as an instant query.
    pub expr: String,
    /// The condition each value must meet, such as `< 0.05` or `== 0`.
    pub expect: Comparison,
    #[serde(default)]
    pub series: SeriesRule,
    #[serde(default)]
    pub empty: EmptyRule,
}

/// Which face of the alerting pipeline counts as "detected".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    /// The rule fired in Prometheus (`/api/v1/alerts`).
    #[default]
    Prometheus,
    /// The alert reached Alertmanager (`/api/v2/alerts`).
    Alertmanager,
}

/// `kind: alert`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    pub alertname: String,
    /// Labels the alert must carry (exact values).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub source: AlertSource,
    /// Only alerts that started firing after this marker count (an alert
    /// still firing from before the drill is not a detection).
    #[serde(default)]
    pub after: Option<String>,
}

/// What to compute over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowFunction {
    /// Increase of a counter, summed over series, counter resets handled.
    Increase,
    /// Smallest value of any series.
    Min,
    /// Largest value of any series.
    Max,
    /// Mean of every sample of every series.
    Avg,
    /// Increase of a counter per second of the window (`increase` / seconds).
    /// A window shorter than a minute is measured over the minute before its
    /// end: over less, a single event reads as a large rate.
    Rate,
}

impl WindowFunction {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowFunction::Increase => "increase",
            WindowFunction::Min => "min",
            WindowFunction::Max => "max",
            WindowFunction::Avg => "avg",
            WindowFunction::Rate => "rate",
        }
    }
}

/// `kind: prometheus-window`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusWindowSpec {
    /// PromQL returning the counter or gauge series (not wrapped in `sum`
    /// for `increase`: resets are found per series).
    pub expr: String,
    pub function: WindowFunction,
    /// A phase name or kind (`restore`): its start to its end (or now).
    #[serde(default)]
    pub window: Option<String>,
    /// Or: from this marker until now (`since: isolated`).
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub expect: Option<Comparison>,
    /// Sample step of the range query (default: the scrape interval).
    #[serde(default)]
    pub step: Option<Positive>,
    /// Compare with the same function over a window before the isolation.
    #[serde(default)]
    pub baseline: Option<BaselineSpec>,
    /// With `baseline`: the value may be at most the baseline times this.
    #[serde(default)]
    pub max_ratio: Option<f64>,
    /// With `baseline`: the value may be at most the baseline plus this.
    /// With both, the larger allowance applies (a ratio means little over a baseline near 0).
    #[serde(default)]
    pub max_increase: Option<f64>,
}

/// The window a baseline is measured over: a phase (`window: precheck`), or
/// the `duration` before a marker (`before: isolated, duration: 1h`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineSpec {
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub duration: Option<Positive>,
}

impl BaselineSpec {
    /// In words, for plans and reports.
    pub fn describe(&self) -> String {
        match (&self.window, &self.before, &self.duration) {
            (Some(w), _, _) => format!("phase `{w}`"),
            (None, Some(m), Some(d)) => format!("the {d} before marker `{m}`"),
            _ => "an incomplete baseline".into(),
        }
    }
}

/// One chart's query.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartQuery {
    pub query: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
}

/// `kind: prometheus-charts`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusChartsSpec {
    /// Chart name (`[a-z0-9_-]+`; `traffic`, `error_ratio`,
    /// `replication_lag` and `conflicts` come first in the report) → query.
    pub charts: BTreeMap<String, ChartQuery>,
    /// Sample step (default: the scrape interval, coarser for long runs).
    #[serde(default)]
    pub step: Option<Positive>,
    /// Extra time before the run started to include.
    #[serde(default)]
    pub lead: Option<Positive>,
}

/// A chart name that the report accepts as a file name.
pub fn valid_chart_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// What is wrong with a window's baseline and its judgement, if anything.
fn baseline_problem(
    w: &PrometheusWindowSpec,
    phases: &[&str],
    markers: &[&str],
) -> Option<Problem> {
    let Some(b) = &w.baseline else {
        return Some(
            Problem::new("`max_ratio` and `max_increase` compare with a baseline, but there is no `baseline:`")
                .hint("add `baseline: { window: precheck }` or `baseline: { before: isolated, duration: 1h }`"),
        );
    };
    if w.max_ratio.is_none() && w.max_increase.is_none() {
        return Some(
            Problem::new("`baseline:` needs a judgement: `max_ratio` or `max_increase` (or both)")
                .hint("for example `max_ratio: 2` (at most twice the baseline)"),
        );
    }
    if w.expect.is_some() {
        return Some(
            Problem::new("`expect` and a baseline judgement cannot be combined")
                .hint("keep `max_ratio`/`max_increase`, or drop `baseline:` and use `expect`"),
        );
    }
    if w.max_ratio.is_some_and(|r| !(r.is_finite() && r > 0.0))
        || w.max_increase.is_some_and(|i| !(i.is_finite() && i >= 0.0))
    {
        return Some(
            Problem::new("`max_ratio` must be above 0 and `max_increase` at least 0")
                .hint("for example `max_ratio: 2` or `max_increase: 0.001`"),
        );
    }
    match (&b.window, &b.before, &b.duration) {
        (Some(win), None, None) if !phases.contains(&win.as_str()) => Some(
            Problem::new(format!("baseline window `{win}` is not a phase of this playbook"))
                .hint(crate::diag::suggest(win, phases.iter().copied(), || format!("phases here are: {}", phases.join(", ")))),
        ),
        (Some(_), None, None) => None,
        (None, Some(m), Some(_)) if !markers.contains(&m.as_str()) => Some(
            Problem::new(format!("baseline before marker `{m}`, which no step sets"))
                .hint(crate::diag::suggest(m, markers.iter().copied(), || "name a marker set with `mark:`, such as `isolated`".into())),
        ),
        (None, Some(_), Some(_)) => None,
        _ => Some(
            Problem::new("`baseline:` needs either `window:` (a phase) or `before:` (a marker) with `duration:`")
                .hint("for example `baseline: { window: precheck }` or `baseline: { before: isolated, duration: 1h }`"),
        ),
    }
}

/// Cross-checks of the Prometheus step kinds against the rest of the
/// playbook: the connection they need is declared, windows name a phase,
/// `after:` names a marker, chart names are file names.
pub fn validate(pb: &crate::playbook::Playbook) -> Vec<Problem> {
    use super::StepSpec;
    let mut out = vec![];
    let markers: Vec<&str> = pb
        .all_steps()
        .filter_map(|(_, s)| s.mark.as_deref())
        .collect();
    let phases: Vec<&str> = pb
        .phases
        .iter()
        .flat_map(|p| [p.name.as_str(), p.kind.as_str()])
        .collect();
    for (_, s) in pb.all_steps() {
        let needs_prometheus = match &s.spec {
            StepSpec::Prometheus(_)
            | StepSpec::PrometheusWindow(_)
            | StepSpec::PrometheusCharts(_) => true,
            StepSpec::Alert(a) => a.source == AlertSource::Prometheus,
            _ => false,
        };
        if needs_prometheus && pb.connections.prometheus.is_none() {
            out.push(Problem::at(s.pos, format!(
                    "step `{}` reads Prometheus, but the playbook has no `prometheus:` connection",
                    s.name
                )).hint("add `prometheus: { url: http://HOST:9090 }` at the top of the playbook"));
        }
        if let StepSpec::PrometheusWindow(w) = &s.spec
            && (w.baseline.is_some() || w.max_ratio.is_some() || w.max_increase.is_some())
            && let Some(p) = baseline_problem(w, &phases, &markers)
        {
            out.push(Problem {
                pos: Some(s.pos),
                message: format!("step `{}`: {}", s.name, p.message),
                ..p
            });
        }
        match &s.spec {
            StepSpec::Alert(a) => {
                if a.source == AlertSource::Alertmanager && pb.connections.alertmanager.is_none() {
                    out.push(Problem::at(s.pos, format!("step `{}` reads Alertmanager, but the playbook has no `alertmanager:` connection", s.name)).hint("add `alertmanager: { url: http://HOST:9093 }` at the top of the playbook, or use `source: prometheus`"));
                }
                if let Some(m) = &a.after
                    && !markers.contains(&m.as_str())
                {
                    let hint = crate::diag::suggest(m, markers.iter().copied(), || "name a marker set with `mark:` by an earlier step".into());
                    out.push(Problem::at(s.pos, format!(
                            "step `{}` waits for alerts after marker `{m}`, which no step sets",
                            s.name
                        )).hint(hint));
                }
            }
            StepSpec::PrometheusWindow(w) => match (&w.window, &w.since) {
                (Some(win), None) if !phases.contains(&win.as_str()) => {
                    let hint = crate::diag::suggest(win, phases.iter().copied(), || format!("phases here are: {}", phases.join(", ")));
                    out.push(Problem::at(s.pos, format!("step `{}` measures over window `{win}`, which is not a phase of this playbook", s.name)).hint(hint));
                }
                (None, Some(m)) if !markers.contains(&m.as_str()) => {
                    let hint = crate::diag::suggest(m, markers.iter().copied(), || "name a marker set with `mark:` by an earlier step".into());
                    out.push(Problem::at(s.pos, format!(
                            "step `{}` measures since marker `{m}`, which no step sets",
                            s.name
                        )).hint(hint));
                }
                (Some(_), Some(_)) | (None, None) => out.push(Problem::at(s.pos, format!(
                        "step `{}` needs exactly one of `window:` (a phase) or `since:` (a marker)",
                        s.name
                    )).hint("for example `window: restore` or `since: isolated`")),
                _ => {}
            },
            StepSpec::PrometheusCharts(c) => {
                for name in c.charts.keys().filter(|n| !valid_chart_name(n)) {
                    out.push(Problem::at(s.pos, format!(
                            "chart name `{name}` in step `{}` is not a file name",
                            s.name
                        )).hint("use lowercase letters, digits, `_` and `-`, such as `error_ratio`"));
                }
            }
            _ => {}
        }
    }
    out
}

super::fixed_effect!(PrometheusSpec, AlertSpec, PrometheusWindowSpec, PrometheusChartsSpec => ReadOnly);
