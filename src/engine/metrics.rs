//! Metrics evaluated at the end of a run: durations between markers and
//! recorded values, each judged against its target. The error bar of a
//! duration is the sum of its two markers' resolutions.

use crate::journal::{Event, EventKind};
use crate::playbook::{MetricSource, Playbook};
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

/// Evaluate every metric of `pb` from the run's events.
pub fn evaluate(pb: &Playbook, events: &[Event]) -> Vec<MetricValue> {
    let mut markers: BTreeMap<&str, (chrono::DateTime<chrono::Utc>, Option<f64>)> = BTreeMap::new();
    let mut records: BTreeMap<&str, f64> = BTreeMap::new();
    for e in events {
        match &e.kind {
            EventKind::Marker {
                name,
                at,
                resolution_seconds,
                ..
            } => {
                markers.entry(name).or_insert((*at, *resolution_seconds));
            }
            EventKind::Recorded { name, value, .. } => {
                records.insert(name, *value);
            }
            _ => {}
        }
    }
    pb.metrics
        .iter()
        .map(|m| {
            let (value, unit, resolution, detail) = match &m.source {
                MetricSource::Between { from, to } => {
                    match (markers.get(from.as_str()), markers.get(to.as_str())) {
                        (Some((a, ra)), Some((b, rb))) => {
                            let secs = (*b - *a).num_milliseconds() as f64 / 1000.0;
                            let res = match (ra, rb) {
                                (None, None) => None,
                                _ => Some(ra.unwrap_or(0.0) + rb.unwrap_or(0.0)),
                            };
                            (
                                Some(secs),
                                "seconds".to_string(),
                                res,
                                format!("from `{from}` to `{to}`"),
                            )
                        }
                        (None, _) => (
                            None,
                            "seconds".into(),
                            None,
                            format!("marker `{from}` was never set"),
                        ),
                        (_, None) => (
                            None,
                            "seconds".into(),
                            None,
                            format!("marker `{to}` was never set"),
                        ),
                    }
                }
                MetricSource::Value { record, unit } => match records.get(record.as_str()) {
                    Some(v) => (
                        Some(*v),
                        unit.clone().unwrap_or_else(|| "count".into()),
                        None,
                        format!("recorded as `{record}`"),
                    ),
                    None => (
                        None,
                        unit.clone().unwrap_or_else(|| "count".into()),
                        None,
                        format!("`{record}` was never recorded"),
                    ),
                },
            };
            let met = m.target.as_ref().map(|t| value.is_some_and(|v| t.holds(v)));
            MetricValue {
                name: m.name.clone(),
                value,
                unit,
                target: m.target.as_ref().map(|t| t.text.clone()),
                met,
                resolution_seconds: resolution,
                detail,
            }
        })
        .collect()
}
