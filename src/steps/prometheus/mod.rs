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

mod alert;
mod baseline;
mod charts;
pub mod client;
mod judge;
mod query;
mod session;
mod window;

use alert::*;
use judge::*;
pub use judge::{Labelled, Verdict, judge, labels_text};
pub use query::first_of_last_run;
use query::*;
use session::*;
pub use session::{PromClients, Prometheus};
use window::*;
pub use window::{counter_increase, window_value};

/// The shortest range, in seconds, a counter's increase or rate is judged
/// over. Over a second or two, one event reads as a large rate and a few
/// scrapes may hold no sample at all; a shorter window (a restoration that
/// takes a second against the simulator, a check early in its phase) is
/// measured over the minute before its end. `kind: conflicts` and
/// `prometheus-window`'s `rate` both use it.
pub const MIN_COUNTER_RANGE_SECS: f64 = 60.0;

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
