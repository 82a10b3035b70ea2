//! CloudWatch executors: a metric (or metric-math) value over a look-back
//! window compared with a threshold (GetMetricData), and an alarm's state
//! (DescribeAlarms). Both are read-only checks and waits. When they hold,
//! they say when the condition really began: the first datapoint of the
//! trailing run that satisfies the comparison (to one period), or the
//! alarm's state-change timestamp (to one alarm period) — so an alarm can
//! stand in for Prometheus as the source of time to detect.

use super::{Target, api_error, cloudwatch_client, to_chrono};
use crate::playbook::spec::aws::Service;
use crate::playbook::spec::aws::cloudwatch::{CloudWatchAlarmSpec, CloudWatchMetricSpec, Reduce};
use crate::steps::{Outcome, PlanCtx, PlannedCall, Refined, Step, StepCtx, StepError};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, ScanBy,
};
use chrono::{DateTime, Utc};
use serde_json::json;

const GET_METRIC_DATA: &str = "cloudwatch:GetMetricData";
const DESCRIBE_ALARMS: &str = "cloudwatch:DescribeAlarms";

impl CloudWatchMetricSpec {
    fn what(&self) -> String {
        match (&self.expression, &self.namespace, &self.metric) {
            (Some(e), _, _) => format!("expression `{e}`"),
            (None, Some(ns), Some(m)) => {
                let dims = self
                    .dimensions
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                if dims.is_empty() {
                    format!("{ns} {m} {}", self.stat)
                } else {
                    format!("{ns} {m}{{{dims}}} {}", self.stat)
                }
            }
            _ => "metric".into(),
        }
    }

    fn query(&self) -> MetricDataQuery {
        let period = self.period.get().as_secs() as i32;
        let b = MetricDataQuery::builder().id("q").return_data(true);
        match &self.expression {
            Some(e) => b.expression(e).period(period).build(),
            None => b
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .set_namespace(self.namespace.clone())
                                .set_metric_name(self.metric.clone())
                                .set_dimensions(Some(
                                    self.dimensions
                                        .iter()
                                        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                                        .collect(),
                                ))
                                .build(),
                        )
                        .period(period)
                        .stat(&self.stat)
                        .build(),
                )
                .build(),
        }
    }

    /// Datapoints of the window, oldest first.
    async fn datapoints(&self, t: &Target) -> Result<Vec<(DateTime<Utc>, f64)>, StepError> {
        let c = cloudwatch_client(t);
        let end = Utc::now();
        let start = end - chrono::Duration::from_std(self.window.get()).unwrap_or_default();
        let mut points = vec![];
        let mut next: Option<String> = None;
        loop {
            let out = c
                .get_metric_data()
                .metric_data_queries(self.query())
                .start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
                .end_time(aws_smithy_types::DateTime::from_secs(end.timestamp() + 1))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(|e| api_error(GET_METRIC_DATA, &self.what(), e))?;
            for r in out.metric_data_results() {
                for (ts, v) in r.timestamps().iter().zip(r.values()) {
                    if let Some(at) = to_chrono(ts) {
                        points.push((at, *v));
                    }
                }
            }
            next = out.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        points.sort_by_key(|p| p.0);
        Ok(points)
    }
}

fn reduce(points: &[(DateTime<Utc>, f64)], how: Reduce) -> Option<f64> {
    let vals = points.iter().map(|p| p.1);
    match how {
        Reduce::Last => points.last().map(|p| p.1),
        Reduce::Max => vals.reduce(f64::max),
        Reduce::Min => vals.reduce(f64::min),
        Reduce::Avg => (!points.is_empty()).then(|| vals.sum::<f64>() / points.len() as f64),
    }
}

fn reduce_text(r: Reduce) -> &'static str {
    match r {
        Reduce::Last => "last",
        Reduce::Max => "max",
        Reduce::Min => "min",
        Reduce::Avg => "avg",
    }
}

/// The first datapoint of the trailing run that satisfies `holds`.
fn run_start(
    points: &[(DateTime<Utc>, f64)],
    holds: impl Fn(f64) -> bool,
) -> Option<DateTime<Utc>> {
    let mut start = None;
    for (at, v) in points.iter().rev() {
        if holds(*v) {
            start = Some(*at);
        } else {
            break;
        }
    }
    start
}

#[async_trait]
impl Step for CloudWatchMetricSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!(
                "{GET_METRIC_DATA} {} over the last {} by {} {} ({} {})",
                self.what(),
                self.window,
                self.period,
                super::plan_at(
                    ctx.playbook,
                    &self.region,
                    &self.profile,
                    Service::CloudWatch
                ),
                reduce_text(self.reduce),
                self.expect
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = super::conn_of(&ctx.playbook, &self.region, &self.profile);
        let t = ctx.clients.aws.target(&conn, Service::CloudWatch).await?;
        let points = self.datapoints(&t).await?;
        let evidence = json!({
            "call": GET_METRIC_DATA,
            "query": self.what(),
            "window_seconds": self.window.secs(),
            "period_seconds": self.period.secs(),
            "datapoints": points.iter().rev().take(60).rev().map(|(at, v)| json!([at, v])).collect::<Vec<_>>(),
        });
        let Some(value) = reduce(&points, self.reduce).or(self.missing_as) else {
            return Ok(Outcome::fail(format!(
                "{}: no datapoints in the last {}",
                self.what(),
                self.window
            ))
            .with_evidence(evidence));
        };
        let ok = self.expect.holds(value);
        let refined = if ok && self.reduce == Reduce::Last {
            run_start(&points, |v| self.expect.holds(v)).map(|at| Refined {
                at,
                resolution_seconds: self.period.secs(),
                source: "CloudWatch datapoints look-back".into(),
            })
        } else {
            None
        };
        Ok(Outcome {
            ok,
            value: Some(value),
            summary: format!(
                "{} = {value}{}{}",
                self.what(),
                if points.is_empty() {
                    " (no datapoints)"
                } else {
                    ""
                },
                if ok {
                    format!(" ({})", self.expect)
                } else {
                    format!(", expected {}", self.expect)
                }
            ),
            evidence,
            refined,
        })
    }
}

#[async_trait]
impl Step for CloudWatchAlarmSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!(
                "{DESCRIBE_ALARMS} {} {} (expect {})",
                self.alarm_name,
                super::plan_at(
                    ctx.playbook,
                    &self.region,
                    &self.profile,
                    Service::CloudWatch
                ),
                self.state.0
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = super::conn_of(&ctx.playbook, &self.region, &self.profile);
        let t = ctx.clients.aws.target(&conn, Service::CloudWatch).await?;
        let name = &self.alarm_name;
        let out = cloudwatch_client(&t)
            .describe_alarms()
            .alarm_names(name)
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .send()
            .await
            .map_err(|e| api_error(DESCRIBE_ALARMS, &format!("alarm {name}"), e))?;
        let found = if let Some(a) = out.metric_alarms().first() {
            Some((
                a.state_value().map(|s| s.as_str().to_string()),
                a.state_reason().map(str::to_string),
                a.state_transitioned_timestamp()
                    .or(a.state_updated_timestamp())
                    .and_then(to_chrono),
                a.period().map(f64::from),
            ))
        } else {
            out.composite_alarms().first().map(|a| {
                (
                    a.state_value().map(|s| s.as_str().to_string()),
                    a.state_reason().map(str::to_string),
                    a.state_transitioned_timestamp()
                        .or(a.state_updated_timestamp())
                        .and_then(to_chrono),
                    None,
                )
            })
        };
        let Some((state, reason, changed, period)) = found else {
            return Err(StepError::fatal(format!(
                "{DESCRIBE_ALARMS}: alarm {name} does not exist in {}; check the name and the region",
                t.conn.region.as_deref().unwrap_or("the default region")
            )));
        };
        let state = state.unwrap_or_else(|| "unknown".into());
        let ok = state == self.state.0;
        Ok(Outcome {
            ok,
            value: None,
            summary: format!(
                "alarm {name} is {state}{}",
                if ok {
                    String::new()
                } else {
                    format!(", expected {}", self.state.0)
                }
            ),
            evidence: json!({
                "call": DESCRIBE_ALARMS,
                "alarm_name": name,
                "state": state,
                "reason": reason,
                "state_changed_at": changed,
            }),
            refined: match (ok, changed) {
                (true, Some(at)) => Some(Refined {
                    at,
                    resolution_seconds: period.unwrap_or(60.0),
                    source: "CloudWatch alarm state-change timestamp".into(),
                }),
                _ => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trailing_run_gives_when_the_condition_began() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let pts = vec![(t(0), 9.0), (t(60), 1.0), (t(120), 8.0), (t(180), 7.0)];
        assert_eq!(run_start(&pts, |v| v > 5.0), Some(t(120)));
        assert_eq!(run_start(&pts, |v| v < 5.0), None);
        assert_eq!(reduce(&pts, Reduce::Max), Some(9.0));
        assert_eq!(reduce(&pts, Reduce::Avg), Some(6.25));
        assert_eq!(reduce(&[], Reduce::Last), None);
    }
}
