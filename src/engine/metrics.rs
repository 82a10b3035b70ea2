//! Metrics: durations between markers and recorded values, each judged
//! against its target. The error bar of a duration is the sum of its two
//! markers' resolutions.
//!
//! Evaluation is pure and shared: the engine evaluates every metric at the
//! end of a run ([`evaluate`]); the report evaluates, the same way, the
//! metrics of a run that stopped before it got there
//! (`report::model`, through [`MetricInputs`] and [`evaluate_one`]).

use crate::journal::{Event, EventKind};
use crate::playbook::expect::Comparison;
use crate::playbook::{MetricSource, Playbook};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A metric's verdict, as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValue {
    pub name: String,
    pub value: Option<f64>,
    pub unit: String,
    pub target: Option<String>,
    pub met: Option<bool>,
    pub resolution_seconds: Option<f64>,
    pub detail: String,
}

/// What metrics are computed from, gathered one event at a time: the first
/// instant of each marker (with its resolution) and the last value of each
/// recorded name.
#[derive(Debug, Clone, Default)]
pub struct MetricInputs {
    markers: BTreeMap<String, (DateTime<Utc>, Option<f64>)>,
    records: BTreeMap<String, f64>,
}

impl MetricInputs {
    /// Take in one journal event (markers and recorded values; the rest is ignored).
    pub fn observe(&mut self, kind: &EventKind) {
        match kind {
            EventKind::Marker {
                name,
                at,
                resolution_seconds,
                ..
            } => {
                self.markers
                    .entry(name.clone())
                    .or_insert((*at, *resolution_seconds));
            }
            EventKind::Recorded { name, value, .. } => {
                self.records.insert(name.clone(), *value);
            }
            _ => {}
        }
    }

    pub fn from_events(events: &[Event]) -> MetricInputs {
        let mut m = MetricInputs::default();
        for e in events {
            m.observe(&e.kind);
        }
        m
    }
}

/// Judge one metric from `inputs`. With a target and no value, `met` is
/// false (the run did not show it was met), except when the marker a
/// duration counts from was never set: the run stopped before what the
/// metric measures began (an abort before isolation), so it is not judged.
pub fn evaluate_one(
    name: &str,
    source: &MetricSource,
    target: Option<&Comparison>,
    inputs: &MetricInputs,
) -> MetricValue {
    let mut judged = true;
    let (value, unit, resolution, detail) = match source {
        MetricSource::Between { from, to } => {
            let unit = "seconds".to_string();
            match (inputs.markers.get(from), inputs.markers.get(to)) {
                (Some((a, ra)), Some((b, rb))) => {
                    let secs = (*b - *a).num_milliseconds() as f64 / 1000.0;
                    let res = match (ra, rb) {
                        (None, None) => None,
                        _ => Some(ra.unwrap_or(0.0) + rb.unwrap_or(0.0)),
                    };
                    (Some(secs), unit, res, format!("from `{from}` to `{to}`"))
                }
                (None, _) => {
                    judged = false;
                    (None, unit, None, format!("marker `{from}` was never set"))
                }
                (_, None) => (None, unit, None, format!("marker `{to}` was never set")),
            }
        }
        MetricSource::Value { record, unit } => {
            let unit = unit.clone().unwrap_or_else(|| "count".into());
            match inputs.records.get(record) {
                Some(v) => (Some(*v), unit, None, format!("recorded as `{record}`")),
                None => (None, unit, None, format!("`{record}` was never recorded")),
            }
        }
    };
    MetricValue {
        name: name.to_string(),
        value,
        unit,
        target: target.map(|t| t.text.clone()),
        met: target
            .filter(|_| judged)
            .map(|t| value.is_some_and(|v| t.holds(v))),
        resolution_seconds: resolution,
        detail,
    }
}

/// Evaluate every metric of `pb` from the run's events.
pub fn evaluate(pb: &Playbook, events: &[Event]) -> Vec<MetricValue> {
    let inputs = MetricInputs::from_events(events);
    pb.metrics
        .iter()
        .map(|m| evaluate_one(&m.name, &m.source, m.target.as_ref(), &inputs))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn marker(name: &str, secs: i64, res: Option<f64>) -> EventKind {
        let at = Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap();
        EventKind::Marker {
            name: name.into(),
            at,
            observed_at: at,
            resolution_seconds: res,
            source: "test".into(),
            step: "s".into(),
        }
    }

    #[test]
    fn a_duration_counts_from_the_first_marker_and_adds_the_error_bars() {
        let mut inputs = MetricInputs::default();
        for k in [
            marker("isolated", 0, None),
            marker("detected", 12, Some(1.5)),
            marker("isolated", 5, None),
        ] {
            inputs.observe(&k);
        }
        let between = MetricSource::Between {
            from: "isolated".into(),
            to: "detected".into(),
        };
        let target = Comparison::parse("< 10").unwrap();
        let m = evaluate_one("ttd", &between, Some(&target), &inputs);
        assert_eq!(m.value, Some(12.0));
        assert_eq!(m.resolution_seconds, Some(1.5));
        assert_eq!(m.met, Some(false));
        assert_eq!(m.detail, "from `isolated` to `detected`");
        let missing = MetricSource::Value {
            record: "lost".into(),
            unit: None,
        };
        let m = evaluate_one("lost", &missing, Some(&target), &inputs);
        assert_eq!(
            (m.value, m.met, m.unit.as_str()),
            (None, Some(false), "count")
        );
    }

    #[test]
    fn a_duration_whose_start_never_happened_is_not_judged() {
        let target = Comparison::parse("< 60").unwrap();
        let between = MetricSource::Between {
            from: "isolated".into(),
            to: "detected".into(),
        };
        // Stopped before isolating: nothing to measure, no verdict.
        let m = evaluate_one("ttd", &between, Some(&target), &MetricInputs::default());
        assert_eq!((m.value, m.met), (None, None));
        assert_eq!(m.detail, "marker `isolated` was never set");
        // Isolated, never detected: missed.
        let mut inputs = MetricInputs::default();
        inputs.observe(&marker("isolated", 0, None));
        let m = evaluate_one("ttd", &between, Some(&target), &inputs);
        assert_eq!((m.value, m.met), (None, Some(false)));
    }
}
