//! Executors of the Prometheus and Alertmanager step kinds (`prometheus`,
//! `alert`, `prometheus-window`, `prometheus-charts`; their syntax is in
//! `crate::playbook::spec::prometheus`), and the per-run Prometheus session.
//!
//! The session ([`PromClients`], one field of `StepCtx::clients`) is opened on
//! first use: it builds the client, compares the server's clock with ours
//! (a `time()` query, half the round trip; journaled as `clock_offset` and
//! used for every timestamp crossing between the two clocks) and reads the
//! scrape and evaluation intervals from `/api/v1/status/config`, falling
//! back to the intervals the playbook declares. Those intervals are the
//! error bar of every refined marker.
//!
//! Precision: a waited `prometheus` check that sets a marker looks back,
//! once it holds, with a range query at a fifth of the scrape interval from
//! the last poll that saw it not hold, and places the marker at the first
//! evaluation from which the condition held without interruption. An `alert`
//! wait places it at the alert's own firing instant (`activeAt` + the rule's
//! `for`, or Alertmanager's `startsAt`). The engine journals both that
//! instant and the moment the poll noticed.

mod baseline;
pub mod client;

use super::{Outcome, PlanCtx, PlannedCall, Refined, Step, StepCtx, StepError};
use crate::journal::EventKind;
use crate::playbook::expect::{Comparison, Op};
use crate::playbook::spec::prometheus::{
    AlertSource, AlertSpec, EmptyRule, PrometheusChartsSpec, PrometheusSpec, PrometheusWindowSpec,
    SeriesRule, WindowFunction,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use client::{ApiClient, ApiError, InstantValue, from_unix, to_unix};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Samples of a look-back per scrape interval.
const LOOK_BACK_SUBSTEPS: f64 = 5.0;
/// Series shown as evidence.
const MAX_EVIDENCE_SERIES: usize = 20;

/// An open Prometheus: the client, the clock offset and the intervals.
pub struct Prometheus {
    pub api: ApiClient,
    /// Server clock minus ours, seconds.
    pub offset: f64,
    pub scrape: Duration,
    pub eval: Duration,
}

impl Prometheus {
    /// Our instant on the server's clock (unix seconds).
    pub fn to_server(&self, t: DateTime<Utc>) -> f64 {
        to_unix(t) + self.offset
    }
    /// A server timestamp on our clock.
    pub fn to_ours(&self, t: f64) -> DateTime<Utc> {
        from_unix(t - self.offset)
    }
    /// Error bar of an instant read from samples or alerts: one scrape
    /// interval plus one rule evaluation interval.
    pub fn resolution(&self) -> f64 {
        self.scrape.as_secs_f64() + self.eval.as_secs_f64()
    }
}

/// Prometheus and Alertmanager clients of one run, opened on first use.
#[derive(Default)]
pub struct PromClients {
    prometheus: tokio::sync::OnceCell<Arc<Prometheus>>,
    alertmanager: tokio::sync::OnceCell<Arc<ApiClient>>,
    /// Waited steps: server time of the last poll that saw the condition not hold.
    not_held: Mutex<HashMap<String, f64>>,
    /// Warnings already journaled (a wait polling every second repeats them).
    warned: Mutex<HashSet<String>>,
}

impl PromClients {
    /// The run's Prometheus, opened (clock compared, intervals read) on first use.
    pub async fn prometheus(&self, ctx: &StepCtx) -> Result<Arc<Prometheus>, StepError> {
        self.prometheus
            .get_or_try_init(|| open_prometheus(ctx))
            .await
            .cloned()
    }

    /// The run's Alertmanager client.
    pub async fn alertmanager(&self, ctx: &StepCtx) -> Result<Arc<ApiClient>, StepError> {
        self.alertmanager
            .get_or_try_init(|| async {
                let conn = ctx.playbook.connections.alertmanager.as_ref().ok_or_else(|| {
                    StepError::fatal(
                        "the playbook has no `alertmanager:` connection; add `alertmanager: { url: http://HOST:9093 }`",
                    )
                })?;
                Ok(Arc::new(ApiClient::new("Alertmanager", conn)?))
            })
            .await
            .cloned()
    }

    fn warn_once(&self, ctx: &StepCtx, message: String) {
        let key = format!("{}\u{0}{message}", ctx.step_name);
        let new = self
            .warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        if new {
            let _ = ctx.events.emit(EventKind::Warning {
                message,
                step: Some(ctx.step_name.clone()),
            });
        }
    }

    fn server_warnings(&self, ctx: &StepCtx, expr: &str, warnings: &[String]) {
        for w in warnings {
            self.warn_once(ctx, format!("Prometheus warned about `{expr}`: {w}"));
        }
    }

    fn set_not_held(&self, step: &str, t: f64) {
        self.not_held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(step.to_string(), t);
    }

    fn last_not_held(&self, step: &str) -> Option<f64> {
        self.not_held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(step)
            .copied()
    }
}

async fn open_prometheus(ctx: &StepCtx) -> Result<Arc<Prometheus>, StepError> {
    let conn = ctx.playbook.connections.prometheus.as_ref().ok_or_else(|| {
        StepError::fatal(
            "the playbook has no `prometheus:` connection; add `prometheus: { url: http://HOST:9090 }`",
        )
    })?;
    let api = ApiClient::new("Prometheus", conn)?;
    let (offset, rtt) = api.clock_offset().await?;
    let _ = ctx.events.emit(EventKind::ClockOffset {
        source: format!("prometheus {}", api.base_url()),
        offset_seconds: offset,
        round_trip_seconds: rtt,
    });
    if offset.abs() > 1.0 {
        let _ = ctx.events.emit(EventKind::Warning {
            message: format!(
                "Prometheus's clock is {:.3} s {} ours; timestamps read from it are corrected by that much",
                offset.abs(),
                if offset > 0.0 { "ahead of" } else { "behind" }
            ),
            step: Some(ctx.step_name.clone()),
        });
    }
    let declared = (conn.scrape_interval, conn.evaluation_interval);
    let (scrape, eval) = match api
        .config_yaml()
        .await
        .ok()
        .and_then(|y| client::intervals_from_config(&y))
    {
        Some((s, e)) => {
            for (name, d, server) in [
                ("scrape_interval", declared.0, s),
                ("evaluation_interval", declared.1, e),
            ] {
                if let Some(d) = d.filter(|d| d.get() != server) {
                    let _ = ctx.events.emit(EventKind::Warning {
                        message: format!(
                            "the playbook declares prometheus.{name} {d}, but the server's configuration says {}; using the server's",
                            crate::playbook::duration::format(server)
                        ),
                        step: Some(ctx.step_name.clone()),
                    });
                }
            }
            (s, e)
        }
        None => {
            let fallback = Duration::from_secs(60);
            if declared.0.is_none() || declared.1.is_none() {
                let _ = ctx.events.emit(EventKind::Warning {
                    message: format!(
                        "{} does not show its configuration and the playbook declares no {}; error bars assume Prometheus's default of 1m",
                        api.base_url(),
                        if declared.0.is_none() { "prometheus.scrape_interval" } else { "prometheus.evaluation_interval" }
                    ),
                    step: Some(ctx.step_name.clone()),
                });
            }
            (
                declared.0.map_or(fallback, |d| d.get()),
                declared.1.map_or(fallback, |d| d.get()),
            )
        }
    };
    Ok(Arc::new(Prometheus {
        api,
        offset,
        scrape,
        eval,
    }))
}

fn prom_url(pb: &crate::playbook::Playbook) -> String {
    pb.connections
        .prometheus
        .as_ref()
        .map_or("(no prometheus connection)".into(), |c| c.url.clone())
}

/// `{region="eu-west-1"}`, without the metric name; empty for no labels.
pub fn labels_text(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// A series' labels and one of its values.
pub type Labelled<'a> = (&'a BTreeMap<String, String>, f64);

/// How a set of values measures up against a condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub ok: bool,
    /// The representative value: the worst series for `all`, a passing one for `any`.
    pub value: Option<f64>,
    pub summary: String,
}

/// Judge series values against `expect` under the `series` and `empty` rules.
/// NaN never holds.
pub fn judge(
    values: &[(&BTreeMap<String, String>, f64)],
    expect: &Comparison,
    series: SeriesRule,
    empty: EmptyRule,
) -> Verdict {
    if values.is_empty() {
        return match empty {
            EmptyRule::Fail => Verdict {
                ok: false,
                value: None,
                summary: "no series returned (`empty: fail`)".into(),
            },
            EmptyRule::Pass => Verdict {
                ok: true,
                value: None,
                summary: "no series returned (`empty: pass`)".into(),
            },
        };
    }
    let holding: Vec<bool> = values.iter().map(|(_, v)| expect.holds(*v)).collect();
    let n_ok = holding.iter().filter(|h| **h).count();
    let ok = match series {
        SeriesRule::All => n_ok == values.len(),
        SeriesRule::Any => n_ok > 0,
    };
    // The worst value for the condition: the largest for `<`, the smallest for `>`.
    let worst = |among: &mut dyn Iterator<Item = usize>| -> Option<usize> {
        let idx: Vec<usize> = among.collect();
        let key = |i: &usize| values[*i].1;
        match expect.op {
            Op::Lt | Op::Le => idx
                .iter()
                .copied()
                .max_by(|a, b| key(a).total_cmp(&key(b)).then(b.cmp(a))),
            Op::Gt | Op::Ge => idx
                .iter()
                .copied()
                .min_by(|a, b| key(a).total_cmp(&key(b)).then(a.cmp(b))),
            Op::Eq | Op::Ne => idx.first().copied(),
        }
    };
    let failing = || (0..values.len()).filter(|i| !holding[*i]);
    let pick = match (series, ok) {
        (SeriesRule::Any, true) => (0..values.len()).find(|i| holding[*i]),
        _ => worst(&mut failing()).or_else(|| worst(&mut (0..values.len()))),
    };
    let shown = pick.map(|i| {
        format!(
            "{}{}",
            fmt_num(values[i].1),
            match labels_text(values[i].0) {
                l if l.is_empty() => String::new(),
                l => format!(" {l}"),
            }
        )
    });
    let shown = shown.unwrap_or_default();
    let summary = if values.len() == 1 {
        if ok {
            format!("{shown} (holds {expect})")
        } else {
            format!("{shown} (expected {expect})")
        }
    } else {
        let rule = match series {
            SeriesRule::All => "all",
            SeriesRule::Any => "any",
        };
        let what = if ok && series == SeriesRule::Any {
            "holding"
        } else if ok {
            "worst"
        } else {
            "failing"
        };
        format!(
            "{n_ok} of {} series hold {expect} (`series: {rule}`); {what}: {shown}",
            values.len()
        )
    };
    Verdict {
        ok,
        value: pick.map(|i| values[i].1),
        summary,
    }
}

/// A rejected expression is the playbook's fault: say where it is
/// (`file:line:col`), with Prometheus's own reason.
fn at_step(ctx: &StepCtx, e: ApiError) -> StepError {
    let rejected = matches!(
        &e,
        ApiError::Rejected {
            retryable: false,
            ..
        }
    );
    let mut err: StepError = e.into();
    if rejected
        && let Some((_, s)) = ctx
            .playbook
            .all_steps()
            .find(|(_, s)| s.name == ctx.step_name)
    {
        err.message = format!(
            "{}:{}:{}: step `{}`: {}",
            ctx.playbook.path, s.pos.line, s.pos.col, s.name, err.message
        );
    }
    err
}

/// The playbook step being run, if it is waited on and sets a marker.
fn waited_marker(ctx: &StepCtx) -> bool {
    ctx.playbook
        .all_steps()
        .any(|(_, s)| s.name == ctx.step_name && s.wait.is_some() && s.mark.is_some())
}

/// The last instant of a series grid from which `held` was true without
/// interruption up to the end, if it was false somewhere before.
pub fn first_of_last_run(points: &[(f64, bool)]) -> Option<f64> {
    let last_false = points.iter().rposition(|(_, h)| !h)?;
    points.get(last_false + 1).map(|(t, _)| *t)
}

impl PrometheusSpec {
    /// Range query from `from` to `to` (server clock) to find when the
    /// condition started holding.
    async fn look_back(
        &self,
        prom: &Prometheus,
        from: f64,
        to: f64,
    ) -> Result<Option<Refined>, ApiError> {
        let scrape = prom.scrape.as_secs_f64();
        let mut step = (scrape / LOOK_BACK_SUBSTEPS).max(0.01);
        let start = from - scrape;
        if (to - start) / step > client::MAX_POINTS - 1.0 {
            step = (to - start) / (client::MAX_POINTS - 1.0);
        }
        let ans = prom.api.query_range(&self.expr, start, to, step).await?;
        let (series, _) = ans.data;
        let mut grid: BTreeMap<i64, Vec<Labelled<'_>>> = BTreeMap::new();
        let mut k = 0i64;
        let mut t = start;
        while t <= to + 1e-6 {
            grid.insert((t * 1000.0).round() as i64, vec![]);
            k += 1;
            t = start + k as f64 * step;
        }
        for s in &series {
            for (t, v) in &s.points {
                grid.entry((t * 1000.0).round() as i64)
                    .or_default()
                    .push((&s.metric, *v));
            }
        }
        let held: Vec<(f64, bool)> = grid
            .iter()
            .map(|(t, vals)| {
                (
                    *t as f64 / 1000.0,
                    judge(vals, &self.expect, self.series, self.empty).ok,
                )
            })
            .collect();
        Ok(first_of_last_run(&held).map(|t| Refined {
            at: prom.to_ours(t),
            resolution_seconds: prom.resolution(),
            source: format!(
                "range query look-back (step {}): first evaluation from which the condition held",
                crate::playbook::duration::format(Duration::from_secs_f64(step))
            ),
        }))
    }
}

#[async_trait]
impl Step for PrometheusSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!(
                "PromQL `{}` {} ({} series, empty {}) on {}",
                self.expr,
                self.expect,
                match self.series {
                    SeriesRule::All => "all",
                    SeriesRule::Any => "any",
                },
                match self.empty {
                    EmptyRule::Fail => "fails",
                    EmptyRule::Pass => "passes",
                },
                prom_url(ctx.playbook)
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let clients = &ctx.clients.prometheus;
        let prom = clients.prometheus(ctx).await?;
        let asked = prom.to_server(Utc::now());
        let ans = prom
            .api
            .query(&self.expr, None)
            .await
            .map_err(|e| at_step(ctx, e))?;
        clients.server_warnings(ctx, &self.expr, &ans.warnings);
        let samples = match ans.data {
            InstantValue::Vector(v) => v,
            InstantValue::Scalar(t, v) => vec![client::Sample {
                metric: BTreeMap::new(),
                t,
                v,
            }],
            InstantValue::Other(rt) => {
                return Err(StepError::fatal(format!(
                    "`{}` returns a {rt}; a condition needs an instant vector or a scalar (drop the `[range]`, or wrap it in a function such as `max_over_time(...)`)",
                    self.expr
                )));
            }
        };
        let evaluated_at = samples.first().map_or(asked, |s| s.t);
        let values: Vec<(&BTreeMap<String, String>, f64)> =
            samples.iter().map(|s| (&s.metric, s.v)).collect();
        let verdict = judge(&values, &self.expect, self.series, self.empty);
        let evidence = json!({
            "query": self.expr,
            "expect": self.expect.text,
            "evaluated_at": prom.to_ours(evaluated_at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "series": samples.iter().take(MAX_EVIDENCE_SERIES).map(|s| json!({"metric": s.metric, "value": fmt_num(s.v)})).collect::<Vec<_>>(),
            "series_total": samples.len(),
        });
        let mut refined = None;
        if !verdict.ok {
            clients.set_not_held(&ctx.step_name, evaluated_at);
        } else if waited_marker(ctx)
            && let Some(from) = clients.last_not_held(&ctx.step_name)
        {
            match self.look_back(&prom, from, evaluated_at).await {
                    Ok(r) => refined = r,
                    Err(e) => clients.warn_once(
                        ctx,
                        format!("could not look back for when the condition started holding; the marker is the poll time: {e}"),
                    ),
                }
        }
        Ok(Outcome {
            ok: verdict.ok,
            value: verdict.value,
            summary: verdict.summary,
            evidence,
            refined,
        })
    }
}

fn labels_match(have: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S%.3f").to_string()
}

impl AlertSpec {
    fn selector(&self) -> String {
        let mut all = self.labels.clone();
        all.remove("alertname");
        format!("{}{}", self.alertname, labels_text(&all))
    }

    fn after(&self, ctx: &StepCtx) -> Result<Option<DateTime<Utc>>, Box<Outcome>> {
        let Some(m) = &self.after else {
            return Ok(None);
        };
        let at = ctx
            .markers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(m)
            .copied();
        match at {
            Some(t) => Ok(Some(t)),
            None => Err(Box::new(Outcome::fail(format!(
                "marker `{m}` is not set yet, so no alert can count as a detection"
            )))),
        }
    }

    async fn read_prometheus(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let clients = &ctx.clients.prometheus;
        let prom = clients.prometheus(ctx).await?;
        let after = match self.after(ctx) {
            Ok(a) => a,
            Err(o) => return Ok(*o),
        };
        let ans = prom.api.alerts().await?;
        clients.server_warnings(ctx, "/api/v1/alerts", &ans.warnings);
        let matching: Vec<&client::PromAlert> = ans
            .data
            .iter()
            .filter(|a| a.labels.get("alertname") == Some(&self.alertname))
            .filter(|a| labels_match(&a.labels, &self.labels))
            .collect();
        let firing: Vec<&&client::PromAlert> =
            matching.iter().filter(|a| a.state == "firing").collect();
        if firing.is_empty() {
            // "No rule of that name" is a different finding from "it never fired".
            let rule_exists = match matching.is_empty() {
                true => prom
                    .api
                    .alert_rules()
                    .await
                    .ok()
                    .map(|rules| rules.iter().any(|r| r.name == self.alertname)),
                false => Some(true),
            };
            let summary = match matching.iter().filter_map(|a| a.active_at).min() {
                Some(t) => format!(
                    "{} is pending since {} (server time)",
                    self.selector(),
                    fmt_time(prom.to_ours(to_unix(t)))
                ),
                None if rule_exists == Some(false) => format!(
                    "no alert rule named {} exists in Prometheus (/api/v1/rules)",
                    self.alertname
                ),
                None => format!("no alert {} is active", self.selector()),
            };
            return Ok(Outcome::fail(summary)
                .with_evidence(json!({"source": "prometheus", "alertname": self.alertname, "labels": self.labels, "matching": matching.len(), "rule_exists": rule_exists})));
        }
        // The rule's `for` turns activeAt (pending) into the firing instant.
        let rules = prom.api.alert_rules().await;
        let for_seconds = match &rules {
            Ok(rules) => rules
                .iter()
                .filter(|r| r.name == self.alertname)
                .find(|r| {
                    r.alerts.is_empty()
                        || r.alerts
                            .iter()
                            .any(|a| labels_match(&a.labels, &self.labels))
                })
                .map(|r| r.for_seconds),
            Err(_) => None,
        };
        if for_seconds.is_none() {
            clients.warn_once(
                ctx,
                format!(
                    "the `for` of rule {} could not be read from /api/v1/rules; the detection time is the alert's activeAt",
                    self.alertname
                ),
            );
        }
        let fired: Vec<(DateTime<Utc>, &client::PromAlert)> = firing
            .iter()
            .filter_map(|a| {
                a.active_at
                    .map(|t| (prom.to_ours(to_unix(t) + for_seconds.unwrap_or(0.0)), **a))
            })
            .filter(|(t, _)| after.is_none_or(|m| *t >= m))
            .collect();
        let Some((at, alert)) = fired.iter().min_by_key(|(t, _)| *t) else {
            return Ok(Outcome::fail(format!(
                "{} is firing, but it fired before marker `{}`",
                self.selector(),
                self.after.as_deref().unwrap_or("")
            )));
        };
        Ok(Outcome {
            ok: true,
            value: None,
            summary: format!(
                "{}{} firing since {}",
                self.alertname,
                labels_text(
                    &alert
                        .labels
                        .iter()
                        .filter(|(k, _)| k.as_str() != "alertname")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                ),
                fmt_time(*at)
            ),
            evidence: json!({
                "source": "prometheus",
                "labels": alert.labels,
                "activeAt": alert.active_at,
                "for_seconds": for_seconds,
                "value": alert.value,
                "firing_at": at,
            }),
            refined: Some(Refined {
                at: *at,
                resolution_seconds: prom.resolution(),
                source: if for_seconds.is_some() {
                    "alert activeAt + rule `for` (Prometheus)".into()
                } else {
                    "alert activeAt (Prometheus; rule `for` unknown)".into()
                },
            }),
        })
    }

    async fn read_alertmanager(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let am = ctx.clients.prometheus.alertmanager(ctx).await?;
        let after = match self.after(ctx) {
            Ok(a) => a,
            Err(o) => return Ok(*o),
        };
        // startsAt is stamped by Prometheus; use its clock offset when known.
        let offset = match ctx.playbook.connections.prometheus {
            Some(_) => ctx
                .clients
                .prometheus
                .prometheus(ctx)
                .await
                .map(|p| (p.offset, p.resolution()))
                .ok(),
            None => None,
        };
        let alerts = am.am_alerts(&self.alertname).await?;
        let matching: Vec<&client::AmAlert> = alerts
            .iter()
            .filter(|a| a.labels.get("alertname") == Some(&self.alertname))
            .filter(|a| labels_match(&a.labels, &self.labels))
            .filter(|a| a.status.state != "unprocessed")
            .collect();
        let shift = |t: DateTime<Utc>| from_unix(to_unix(t) - offset.map_or(0.0, |o| o.0));
        let Some(alert) = matching
            .iter()
            .filter(|a| after.is_none_or(|m| shift(a.starts_at) >= m))
            .min_by_key(|a| a.starts_at)
        else {
            return Ok(Outcome::fail(if matching.is_empty() {
                format!("Alertmanager has no alert {}", self.selector())
            } else {
                format!(
                    "Alertmanager's {} started before marker `{}`",
                    self.selector(),
                    self.after.as_deref().unwrap_or("")
                )
            })
            .with_evidence(json!({"source": "alertmanager", "alertname": self.alertname, "labels": self.labels})));
        };
        let at = shift(alert.starts_at);
        Ok(Outcome {
            ok: true,
            value: None,
            summary: format!(
                "{} reached Alertmanager ({}), started {}",
                self.selector(),
                alert.status.state,
                fmt_time(at)
            ),
            evidence: json!({"source": "alertmanager", "labels": alert.labels, "startsAt": alert.starts_at, "state": alert.status.state}),
            refined: Some(Refined {
                at,
                resolution_seconds: offset.map_or(0.0, |o| o.1),
                source: "Alertmanager startsAt (the instant Prometheus fired the alert)".into(),
            }),
        })
    }
}

#[async_trait]
impl Step for AlertSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let (what, url) = match self.source {
            AlertSource::Prometheus => ("firing in Prometheus", prom_url(ctx.playbook)),
            AlertSource::Alertmanager => (
                "received by Alertmanager",
                ctx.playbook
                    .connections
                    .alertmanager
                    .as_ref()
                    .map_or("(no alertmanager connection)".into(), |c| c.url.clone()),
            ),
        };
        vec![PlannedCall {
            call: format!("alert {} {what} at {url}", self.selector()),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        match self.source {
            AlertSource::Prometheus => self.read_prometheus(ctx).await,
            AlertSource::Alertmanager => self.read_alertmanager(ctx).await,
        }
    }
}

/// Increase of a counter across its points, counting resets: a drop means
/// the counter restarted from zero, so the new value is all increase.
pub fn counter_increase(points: &[(f64, f64)], appeared_in_window: bool) -> f64 {
    let mut total = 0.0;
    let mut prev: Option<f64> = None;
    for (_, v) in points.iter().filter(|(_, v)| v.is_finite()) {
        match prev {
            None if appeared_in_window => total += v,
            None => {}
            Some(p) if *v >= p => total += v - p,
            Some(_) => total += v,
        }
        prev = Some(*v);
    }
    total
}

/// Compute `f` over series within `[start, end]` (server clock).
pub fn window_value(f: WindowFunction, series: &[client::Series], start: f64) -> Option<f64> {
    let finite = |s: &client::Series| -> Vec<f64> {
        s.points
            .iter()
            .map(|(_, v)| *v)
            .filter(|v| v.is_finite())
            .collect()
    };
    match f {
        // For `rate` the caller divides by the window's length (`baseline::value_over`).
        WindowFunction::Increase | WindowFunction::Rate => {
            if series.is_empty() {
                return None;
            }
            Some(
                series
                    .iter()
                    .map(|s| {
                        // A series whose first point is well after the window
                        // started was created in the window: it counted from 0.
                        let appeared = s.points.first().is_some_and(|(t, _)| *t > start + 1e-3);
                        counter_increase(&s.points, appeared)
                    })
                    .sum(),
            )
        }
        WindowFunction::Min => series.iter().flat_map(finite).min_by(|a, b| a.total_cmp(b)),
        WindowFunction::Max => series.iter().flat_map(finite).max_by(|a, b| a.total_cmp(b)),
        WindowFunction::Avg => {
            let all: Vec<f64> = series.iter().flat_map(finite).collect();
            (!all.is_empty()).then(|| all.iter().sum::<f64>() / all.len() as f64)
        }
    }
}

/// A range-query step no finer than `want` that keeps under Prometheus's point limit.
/// Whole milliseconds, rounded up: servers parse the step to milliseconds,
/// and a step rounded down would exceed the limit (an hour's window at 250 ms).
fn range_step(start: f64, end: f64, want: f64) -> f64 {
    let step = want
        .max((end - start) / (client::MAX_POINTS - 1.0))
        .max(0.001);
    (step * 1000.0).ceil() / 1000.0
}

impl PrometheusWindowSpec {
    fn describe(&self) -> String {
        match (&self.window, &self.since) {
            (Some(w), _) => format!("phase `{w}`"),
            (None, Some(m)) => format!("since marker `{m}`"),
            (None, None) => "no window".into(),
        }
    }

    /// The window to measure over: a phase's, or from a marker until now.
    fn span(&self, ctx: &StepCtx) -> Result<super::PhaseWindow, StepError> {
        if let Some(m) = &self.since {
            let at = ctx
                .markers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(m)
                .copied()
                .ok_or_else(|| {
                    StepError::fatal(format!(
                        "marker `{m}` was never set, so there is no window to measure over"
                    ))
                })?;
            return Ok(super::PhaseWindow {
                kind: crate::playbook::PhaseKind::Observe,
                name: format!("since `{m}`"),
                start: at,
                end: None,
            });
        }
        let name = self.window.as_deref().unwrap_or("");
        let mut w = ctx.window(name).ok_or_else(|| {
            StepError::fatal(format!(
                "phase `{name}` has not started, so it has no window yet; put this step in that phase or after it"
            ))
        })?;
        w.name = format!("phase `{}`", w.name);
        Ok(w)
    }
}

#[async_trait]
impl Step for PrometheusWindowSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!(
                "{} of PromQL `{}` over {}{}{} on {}",
                self.function.as_str(),
                self.expr,
                self.describe(),
                self.expect
                    .as_ref()
                    .map_or(String::new(), |e| format!(", expect {e}")),
                self.baseline.as_ref().map_or(String::new(), |b| format!(
                    ", against its baseline over {} (max_ratio {}, max_increase {})",
                    b.describe(),
                    self.max_ratio
                        .map_or("—".into(), crate::report::model::trim_num),
                    self.max_increase
                        .map_or("—".into(), crate::report::model::trim_num),
                )),
                prom_url(ctx.playbook)
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let clients = &ctx.clients.prometheus;
        let prom = clients.prometheus(ctx).await?;
        let w = self.span(ctx)?;
        let start = prom.to_server(w.start);
        let end = prom.to_server(w.end.unwrap_or_else(Utc::now));
        let want = self.step.map_or(prom.scrape, |s| s.get()).as_secs_f64();
        let step = range_step(start, end, want);
        let ans = prom
            .api
            .query_range(&self.expr, start, end.max(start), step)
            .await
            .map_err(|e| at_step(ctx, e))?;
        clients.server_warnings(ctx, &self.expr, &ans.warnings);
        let (series, _) = ans.data;
        let value = baseline::value_over(self.function, &series, start, end);
        let f = self.function.as_str();
        let span = format!(
            "{} ({} – {}{})",
            w.name,
            fmt_time(w.start),
            fmt_time(prom.to_ours(end)),
            if w.end.is_none() { ", so far" } else { "" }
        );
        let mut evidence = json!({
            "query": self.expr,
            "function": f,
            "window": {"name": w.name, "start": w.start, "end": prom.to_ours(end)},
            "step_seconds": step,
            "series": series.len(),
            "value": value,
        });
        let Some(v) = value else {
            return Ok(
                Outcome::fail(format!("`{}` returned no samples over {span}", self.expr))
                    .with_evidence(evidence),
            );
        };
        if let Some(b) = &self.baseline {
            let j = baseline::judge(self, b, &prom, ctx, v).await?;
            evidence["baseline"] = j.evidence;
            let verdict = if j.ok { "holds" } else { "ABOVE BASELINE" };
            return Ok(Outcome {
                ok: j.ok,
                value: Some(v),
                summary: format!("{f} {} over {span}; {} ({verdict})", fmt_num(v), j.summary),
                evidence,
                refined: None,
            });
        }
        let ok = self.expect.as_ref().is_none_or(|c| c.holds(v));
        let summary = match &self.expect {
            Some(c) if ok => format!("{f} {} over {span} (holds {c})", fmt_num(v)),
            Some(c) => format!("{f} {} over {span} (expected {c})", fmt_num(v)),
            None => format!("{f} {} over {span}", fmt_num(v)),
        };
        Ok(Outcome {
            ok,
            value: Some(v),
            summary,
            evidence,
            refined: None,
        })
    }
}

#[async_trait]
impl Step for PrometheusChartsSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        self.charts
            .iter()
            .map(|(name, c)| PlannedCall {
                call: format!(
                    "save range query `{}` since the run started into series/{name}.json (from {})",
                    c.query,
                    prom_url(ctx.playbook)
                ),
                undo: None,
            })
            .collect()
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let clients = &ctx.clients.prometheus;
        let prom = clients.prometheus(ctx).await?;
        let lead = self.lead.map_or(0.0, |d| d.secs());
        let start = prom.to_server(ctx.started_at) - lead;
        let end = prom.to_server(Utc::now());
        let want = self.step.map_or(prom.scrape, |s| s.get()).as_secs_f64();
        // At most ~2000 points a series: plenty for a chart.
        let step = want.max((end - start) / 2000.0);
        let dir = ctx.run_dir.join("series");
        std::fs::create_dir_all(&dir)
            .map_err(|e| StepError::fatal(format!("cannot create {}: {e}", dir.display())))?;
        let mut saved = vec![];
        let mut failed = vec![];
        let mut last_err: Option<ApiError> = None;
        for (name, c) in &self.charts {
            match prom.api.query_range(&c.query, start, end, step).await {
                Ok(ans) => {
                    clients.server_warnings(ctx, &c.query, &ans.warnings);
                    let (_, raw) = ans.data;
                    let doc = json!({
                        "title": c.title.clone().unwrap_or_else(|| name.clone()),
                        "unit": c.unit,
                        "query": c.query,
                        "start": start - prom.offset,
                        "end": end - prom.offset,
                        "step": step,
                        "result": shift_matrix(raw, prom.offset),
                    });
                    let rel = format!("series/{name}.json");
                    let path = ctx.run_dir.join(&rel);
                    let text = serde_json::to_string(&doc).unwrap_or_default();
                    match std::fs::write(&path, text) {
                        Ok(()) => {
                            let _ = ctx.events.emit(EventKind::Artifact {
                                name: name.clone(),
                                path: rel,
                                description: c
                                    .title
                                    .clone()
                                    .unwrap_or_else(|| format!("`{}`", c.query)),
                            });
                            saved.push(name.clone());
                        }
                        Err(e) => {
                            failed.push(format!("{name}: cannot write {}: {e}", path.display()))
                        }
                    }
                }
                Err(e) => {
                    failed.push(format!("{name}: {e}"));
                    last_err = Some(e);
                }
            }
        }
        if saved.is_empty()
            && let Some(e) = last_err
        {
            return Err(e.into());
        }
        for f in &failed {
            clients.warn_once(ctx, format!("chart data not saved: {f}"));
        }
        Ok(Outcome::pass(format!(
            "saved {} of {} chart series ({}){}",
            saved.len(),
            self.charts.len(),
            saved.join(", "),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; not saved: {}", failed.join("; "))
            }
        ))
        .with_evidence(json!({"saved": saved, "failed": failed})))
    }
}

/// Move a matrix's timestamps from the server's clock to ours.
fn shift_matrix(mut raw: Value, offset: f64) -> Value {
    if offset == 0.0 {
        return raw;
    }
    for s in raw.as_array_mut().into_iter().flatten() {
        for p in s
            .get_mut("values")
            .and_then(|v| v.as_array_mut())
            .into_iter()
            .flatten()
        {
            if let Some(t) = p.get(0).and_then(|t| t.as_f64()) {
                p[0] = json!(((t - offset) * 1000.0).round() / 1000.0);
            }
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(region: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("region".to_string(), region.to_string())])
    }

    #[test]
    fn all_any_empty_and_nan() {
        let lt = Comparison::parse("< 0.05").unwrap();
        let (a, b) = (m("us-east-1"), m("eu-west-1"));
        let v = judge(
            &[(&a, 0.01), (&b, 0.3)],
            &lt,
            SeriesRule::All,
            EmptyRule::Fail,
        );
        assert!(!v.ok);
        assert_eq!(v.value, Some(0.3));
        assert!(v.summary.contains("eu-west-1"), "{}", v.summary);
        let v = judge(
            &[(&a, 0.01), (&b, 0.3)],
            &lt,
            SeriesRule::Any,
            EmptyRule::Fail,
        );
        assert!(v.ok);
        assert_eq!(v.value, Some(0.01));
        assert!(!judge(&[], &lt, SeriesRule::All, EmptyRule::Fail).ok);
        assert!(judge(&[], &lt, SeriesRule::All, EmptyRule::Pass).ok);
        let nan = judge(&[(&a, f64::NAN)], &lt, SeriesRule::Any, EmptyRule::Pass);
        assert!(!nan.ok);
        let ge = Comparison::parse(">= 1").unwrap();
        let v = judge(
            &[(&a, 1.0), (&b, 1.0)],
            &ge,
            SeriesRule::All,
            EmptyRule::Fail,
        );
        assert!(v.ok, "{}", v.summary);
    }

    #[test]
    fn counters_with_resets() {
        // 10 → 15 → reset to 2 → 4: 5 + 2 + 2.
        let p = [(0.0, 10.0), (1.0, 15.0), (2.0, 2.0), (3.0, 4.0)];
        assert_eq!(counter_increase(&p, false), 9.0);
        // A series born in the window counts its first value.
        assert_eq!(counter_increase(&[(5.0, 3.0), (6.0, 4.0)], true), 4.0);
        let s = |pts: &[(f64, f64)]| client::Series {
            metric: BTreeMap::new(),
            points: pts.to_vec(),
        };
        let both = [s(&p), s(&[(2.0, 1.0)])];
        assert_eq!(
            window_value(WindowFunction::Increase, &both, 0.0),
            Some(10.0)
        );
        assert_eq!(window_value(WindowFunction::Max, &both, 0.0), Some(15.0));
        assert_eq!(window_value(WindowFunction::Min, &both, 0.0), Some(1.0));
        assert_eq!(
            window_value(WindowFunction::Avg, &[s(&[(0.0, 1.0), (1.0, 3.0)])], 0.0),
            Some(2.0)
        );
        assert_eq!(window_value(WindowFunction::Increase, &[], 0.0), None);
    }

    #[test]
    fn look_back_finds_the_last_transition() {
        let pts = [
            (1.0, true),
            (2.0, false),
            (3.0, true),
            (4.0, false),
            (5.0, true),
            (6.0, true),
        ];
        assert_eq!(first_of_last_run(&pts), Some(5.0));
        assert_eq!(first_of_last_run(&[(1.0, true)]), None);
        assert_eq!(first_of_last_run(&[(1.0, false)]), None);
    }
}
