//! `kind: residency`: data and traffic of a jurisdiction stay inside it.
//!
//! Two checks, either or both:
//!
//! * `read_back`: every acknowledged record of the canary's streams that
//!   declare `absent_in:` is read in those regions; any that is readable
//!   there is a violation (when it was written and where it showed up).
//! * `traffic`: a Prometheus expression evaluated over a whole window with a
//!   range query (every point must hold, not just the last one), plus an
//!   optional total over the window. Prometheus is the playbook's
//!   `prometheus:` connection.
//!
//! ```yaml
//! - name: EU data stays in the EU
//!   kind: residency
//!   jurisdiction: EU
//!   read_back: { canary: canary }
//!   traffic:
//!     query: 'sum(increase(requests_served_outside_home_total{jurisdiction="eu",region="us-east-1"}[{step}])) or vector(0)'
//!     expect: "== 0"
//!     total: 'sum(increase(requests_served_outside_home_total{jurisdiction="eu",region="us-east-1"}[{window}])) or vector(0)'
//!     window: drill          # or a phase name; default: the whole drill so far
//!     step: 5s
//! ```
//!
//! `{step}` and `{window}` in the expressions become the step and the
//! window's length in seconds (`5s`, `312s`).

use crate::playbook::duration::Positive;
use crate::playbook::expect::Comparison;
use crate::playbook::problem::Problem;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResidencySpec {
    /// For messages: whose data (`EU`).
    #[serde(default)]
    pub jurisdiction: Option<String>,
    #[serde(default)]
    pub read_back: Option<ReadBack>,
    #[serde(default)]
    pub traffic: Option<Traffic>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBack {
    /// The `canary` step whose records are read back.
    pub canary: String,
}

/// What to do when a query returns no series at all.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Empty {
    /// No data is not evidence of zero (a wrong metric name looks the same).
    #[default]
    Fail,
    Pass,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Evaluated at every `step` of the window; every point must meet `expect`.
    pub query: String,
    #[serde(default = "eq_zero")]
    pub expect: Comparison,
    /// Evaluated once at the window's end ("how much").
    #[serde(default)]
    pub total: Option<String>,
    /// `drill` (the default: from the first event) or a phase name or kind.
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub step: Option<Positive>,
    #[serde(default)]
    pub empty: Empty,
}

fn eq_zero() -> Comparison {
    Comparison {
        op: crate::playbook::expect::Op::Eq,
        value: 0.0,
        text: "== 0".into(),
        unit: "",
    }
}

impl ResidencySpec {
    pub fn problems(&self) -> Vec<crate::playbook::problem::Problem> {
        let mut p: Vec<String> = vec![];
        if self.read_back.is_none() && self.traffic.is_none() {
            p.push("a residency step checks `read_back:` (canary records), `traffic:` (a Prometheus expression), or both".into());
        }
        if let Some(t) = &self.traffic
            && t.query.trim().is_empty()
        {
            p.push("`traffic.query` is empty".into());
        }
        p.into_iter()
            .map(crate::playbook::problem::Problem::new)
            .collect()
    }
}

impl super::Kind for ResidencySpec {
    fn effect(&self) -> super::Effect {
        super::Effect::ReadOnly
    }

    fn recorded_suffixes(&self) -> &'static [&'static str] {
        &["readback", "traffic_peak", "traffic_total"]
    }

    fn problems(&self, refs: &super::Refs<'_>) -> super::Problems {
        let r = self;
        let mut out = r.problems();
        if let Some(rb) = &r.read_back
            && let Some(c) = refs.find_canary(&rb.canary, &mut out)
            && !c.streams.iter().any(|s| !s.absent_in.is_empty())
        {
            out.push(
                Problem::new(format!(
                    "canary `{}` has no stream with `absent_in:`, so there is nothing to read back",
                    rb.canary
                ))
                .hint("add `absent_in: [us-east-1]` to the stream written for EU users"),
            );
        }
        if r.traffic.is_some() && refs.pb.connections.prometheus.is_none() {
            out.push(
                Problem::new("`traffic` is read from Prometheus, and the playbook has no `prometheus:` connection")
                    .hint("add `prometheus: { url: http://HOST:9090 }` at the top level"),
            );
        }
        out
    }
}
