//! CloudWatch: `kind: cloudwatch-metric` (a metric or metric-math value
//! compared with a threshold, such as DynamoDB `ReplicationLatency` or Aurora
//! global lag) and `kind: cloudwatch-alarm` (wait for an alarm state: an
//! alternative source for time to detect, timed by the alarm's own
//! state-change timestamp).

use crate::playbook::duration::Positive;
use crate::playbook::expect::Comparison;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// How the datapoints of the window become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduce {
    Last,
    Max,
    Min,
    Avg,
}

impl<'de> Deserialize<'de> for Reduce {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(
            match super::one_of(d, "reduction", &["last", "max", "min", "avg"])? {
                "last" => Reduce::Last,
                "max" => Reduce::Max,
                "min" => Reduce::Min,
                _ => Reduce::Avg,
            },
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawMetric")]
pub struct CloudWatchMetricSpec {
    pub namespace: Option<String>,
    pub metric: Option<String>,
    pub dimensions: BTreeMap<String, String>,
    /// `Average`, `Maximum`, `Sum`, `p99`, ...
    pub stat: String,
    /// A metric-math expression instead of `namespace`/`metric`.
    pub expression: Option<String>,
    pub period: Positive,
    /// How far back to read.
    pub window: Positive,
    pub reduce: Reduce,
    pub expect: Comparison,
    /// The value when the window has no datapoints (CloudWatch emits none for
    /// counts of zero, such as an evacuated target group's `RequestCount`).
    /// Default: no datapoints fails the check.
    pub missing_as: Option<f64>,
    pub region: Option<String>,
    pub profile: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    #[serde(default)]
    stat: Option<String>,
    #[serde(default)]
    expression: Option<String>,
    #[serde(default)]
    period: Option<Positive>,
    #[serde(default)]
    window: Option<Positive>,
    #[serde(default)]
    reduce: Option<Reduce>,
    expect: Comparison,
    #[serde(default)]
    missing_as: Option<f64>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    profile: Option<String>,
}

impl TryFrom<RawMetric> for CloudWatchMetricSpec {
    type Error = String;
    fn try_from(r: RawMetric) -> Result<Self, String> {
        let metric = r.namespace.is_some() && r.metric.is_some();
        if metric == r.expression.is_some() || (r.namespace.is_some() != r.metric.is_some()) {
            return Err("a `cloudwatch-metric` step needs `namespace:` and `metric:`, or `expression:` (metric math), not both".into());
        }
        let period = r
            .period
            .unwrap_or(Positive(std::time::Duration::from_secs(60)));
        if period.get().as_secs() == 0 || period.get().subsec_nanos() != 0 {
            return Err(format!(
                "period {period} is not a whole number of seconds; CloudWatch periods are 1s, 5s, 10s, 30s or multiples of 60s"
            ));
        }
        let window = r
            .window
            .unwrap_or(Positive(std::time::Duration::from_secs(300)));
        if window < period {
            return Err(format!(
                "window {window} is shorter than period {period}; read at least one period"
            ));
        }
        Ok(CloudWatchMetricSpec {
            namespace: r.namespace,
            metric: r.metric,
            dimensions: r.dimensions,
            stat: r.stat.unwrap_or_else(|| "Average".into()),
            expression: r.expression,
            period,
            window,
            reduce: r.reduce.unwrap_or(Reduce::Last),
            expect: r.expect,
            missing_as: r.missing_as,
            region: r.region,
            profile: r.profile,
        })
    }
}

/// Alarm states, as CloudWatch spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AlarmState(pub &'static str);

impl<'de> Deserialize<'de> for AlarmState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::one_of(d, "alarm state", &["OK", "ALARM", "INSUFFICIENT_DATA"]).map(AlarmState)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchAlarmSpec {
    pub alarm_name: String,
    pub state: AlarmState,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
}

super::super::fixed_effect!(CloudWatchMetricSpec, CloudWatchAlarmSpec => ReadOnly);
