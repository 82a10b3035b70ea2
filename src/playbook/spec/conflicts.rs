//! `kind: conflicts`: replication conflicts within the limits of DOMAIN.md's
//! conflict monitoring, over a window (the drill so far, or a phase).
//!
//! Three rules, each optional (at least one is required):
//!
//! * `max_rate`: conflicts as a share of writes (`0.1%`);
//! * `max_age`: no conflict older than this at resolution (`60s`), read from
//!   the `…_bucket` series of the conflict-age histogram;
//! * `never_conflict`: entity types that must never conflict (region-pinned
//!   or single-writer data); any conflict of theirs breaks the rule.
//!
//! ```yaml
//! - name: conflicts within limits
//!   kind: conflicts
//!   window: restoration        # or `drill` (the default) or a phase name
//!   max_rate: 0.1%
//!   max_age: 60s
//!   never_conflict: [ledger_entry]
//! ```
//!
//! The metric names default to DOMAIN.md's shapes:
//! `replication_conflicts_total{entity_type}` (counter),
//! `replication_conflict_age_seconds` (histogram) and
//! `db_entity_writes_total{entity_type}` (counter of writes).

use crate::playbook::duration::Positive;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConflictsSpec {
    /// `drill` (the default: from the first event) or a phase name or kind.
    #[serde(default)]
    pub window: Option<String>,
    /// Most conflicts as a share of writes over the window: `0.1%` (or `0.001`).
    #[serde(default)]
    pub max_rate: Option<Share>,
    /// No conflict may be older than this at resolution: `60s`.
    #[serde(default)]
    pub max_age: Option<Positive>,
    /// Entity types that must never conflict: any conflict of theirs fails the check.
    #[serde(default)]
    pub never_conflict: Vec<String>,
    /// Metric names and a label selector, when they differ from DOMAIN.md's.
    #[serde(default)]
    pub metrics: ConflictMetrics,
}

/// Where the conflict numbers come from.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConflictMetrics {
    /// Counter of conflicts with an `entity_type` label.
    #[serde(default = "conflicts_metric")]
    pub conflicts: String,
    /// Counter of writes (any labels): the rate's denominator.
    #[serde(default = "writes_metric")]
    pub writes: String,
    /// Histogram of conflict age at resolution, in seconds (its `_bucket` series are read).
    #[serde(default = "age_metric")]
    pub age: String,
    /// Label matchers added to every query, such as `cluster="prod"`.
    #[serde(default)]
    pub selector: Option<String>,
}

impl Default for ConflictMetrics {
    fn default() -> Self {
        ConflictMetrics {
            conflicts: conflicts_metric(),
            writes: writes_metric(),
            age: age_metric(),
            selector: None,
        }
    }
}

fn conflicts_metric() -> String {
    "replication_conflicts_total".into()
}
fn writes_metric() -> String {
    "db_entity_writes_total".into()
}
fn age_metric() -> String {
    "replication_conflict_age_seconds".into()
}

/// A share between 0 and 1, written as a percentage (`0.1%`) or a ratio (`0.001`).
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// The ratio (0.001 for `0.1%`).
    pub ratio: f64,
    /// What the user wrote.
    pub text: String,
}

impl Share {
    pub fn parse(text: &str) -> Result<Share, String> {
        let t = text.trim();
        let ratio = match t.strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
            None => t.parse::<f64>(),
        }
        .map_err(|_| format!("`{t}` is not a share; write a percentage such as `0.1%`"))?;
        if !(0.0..=1.0).contains(&ratio) {
            return Err(format!("`{t}` is not between 0% and 100%"));
        }
        Ok(Share {
            ratio,
            text: t.to_string(),
        })
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Share::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl JsonSchema for Share {
    fn schema_name() -> Cow<'static, str> {
        "Share".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^\s*[0-9.]+(e-?[0-9]+)?\s*%?\s*$",
            "description": "A share of 0-100 %: `0.1%`, or a ratio such as `0.001`.",
        })
    }
}

impl ConflictsSpec {
    pub fn problems(&self) -> Vec<String> {
        let mut p = vec![];
        if self.max_rate.is_none() && self.max_age.is_none() && self.never_conflict.is_empty() {
            p.push("a conflicts step checks `max_rate:`, `max_age:`, `never_conflict:`, or several of them".into());
        }
        if let Some(t) = self.never_conflict.iter().find(|t| t.trim().is_empty()) {
            p.push(format!("`never_conflict` has an empty entity type `{t}`"));
        }
        p
    }

    /// The label matchers every query adds, with braces, or empty.
    pub fn selector(&self) -> String {
        match self.metrics.selector.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => format!("{{{}}}", s.trim_matches(['{', '}'])),
            _ => String::new(),
        }
    }
}

impl super::Kind for ConflictsSpec {
    fn effect(&self) -> super::Effect {
        super::Effect::ReadOnly
    }

    fn recorded_suffixes(&self) -> &'static [&'static str] {
        &["conflicts", "writes", "old", "forbidden"]
    }

    fn problems(&self, refs: &super::Refs<'_>) -> super::Problems {
        use crate::playbook::problem::Problem;
        let mut out: super::Problems = self.problems().into_iter().map(Problem::new).collect();
        if let Some(win) = self.window.as_deref()
            && win != "drill"
            && !refs
                .pb
                .phases
                .iter()
                .any(|p| p.name == win || p.kind.as_str() == win)
        {
            out.push(
                Problem::new(format!("window `{win}` is not a phase of this playbook"))
                    .hint("name a phase (by name or kind), or `drill` for the whole drill so far"),
            );
        }
        if refs.pb.connections.prometheus.is_none() {
            out.push(
                Problem::new(
                    "conflicts are read from Prometheus, and the playbook has no `prometheus:` connection",
                )
                .hint("add `prometheus: { url: http://HOST:9090 }` at the top level"),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_percentages_or_ratios_between_zero_and_one() {
        assert_eq!(Share::parse("0.1%").unwrap().ratio, 0.001);
        assert_eq!(Share::parse("0.002").unwrap().ratio, 0.002);
        assert!(Share::parse("150%").unwrap_err().contains("between"));
        assert!(Share::parse("lots").unwrap_err().contains("not a share"));
    }
}
