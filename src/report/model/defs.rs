//! What the report reads from the resolved playbook journaled in
//! `run_started`: step expectations and metric definitions.

use crate::journal::event::NoteKind;
use crate::journal::event::{CancelReason, Outcome, Status};
use crate::journal::{Event, EventKind};
use crate::playbook::MetricRole;
use crate::playbook::expect::Comparison;
use crate::report::findings::{ActionItem, Finding, NoteInfo, RawNote};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use super::format::*;
use super::types::*;

/// What the playbook says about a step, read from the resolved playbook
/// journaled in `run_started` (the report never needs the YAML file).
#[derive(Default)]
pub(super) struct StepDef {
    expectation: Option<String>,
    mark: Option<String>,
    record: Option<String>,
}

pub(super) fn step_defs(playbook: &Value) -> HashMap<String, StepDef> {
    let mut out = HashMap::new();
    let mut add = |s: &Value| {
        let Some(name) = s.get("name").and_then(Value::as_str) else {
            return;
        };
        out.insert(
            name.to_string(),
            StepDef {
                expectation: expectation_of(s),
                mark: s.get("mark").and_then(Value::as_str).map(str::to_string),
                record: s.get("record").and_then(Value::as_str).map(str::to_string),
            },
        );
    };
    if let Some(phases) = playbook.get("phases").and_then(Value::as_array) {
        for p in phases {
            for key in ["steps", "watches"] {
                for s in p.get(key).and_then(Value::as_array).into_iter().flatten() {
                    add(s);
                }
            }
        }
    }
    for g in playbook
        .get("guardrails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = g.get("step") {
            add(s);
        }
    }
    out
}

/// The conditions a step's spec states, in words: every `expect*`,
/// `*_matches`, `status` and `condition` field that is set, and its wait.
pub(super) fn expectation_of(step: &Value) -> Option<String> {
    let spec = step.get("spec")?.as_object()?;
    let kind = spec.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut parts: Vec<String> = vec![];
    for (k, v) in spec {
        let relevant = k.starts_with("expect")
            || k.ends_with("_matches")
            || k == "status"
            || k == "condition"
            || k == "threshold";
        if !relevant || v.is_null() {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let what = k.strip_prefix("expect_").unwrap_or(k);
        if what == "expect" {
            parts.push(text);
        } else {
            parts.push(format!("{} {text}", what.replace('_', " ")));
        }
    }
    if parts.is_empty() && kind == "shell" && spec.get("read_only") == Some(&Value::Bool(true)) {
        parts.push("exit code 0".into());
    }
    if let Some(w) = step.get("wait").filter(|w| !w.is_null()) {
        let every = w.get("every").and_then(Value::as_str).unwrap_or("?");
        let timeout = w.get("timeout").and_then(Value::as_str).unwrap_or("?");
        parts.push(format!(
            "polled every {every} until it holds, for at most {timeout}"
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Metric definitions of the playbook (for descriptions, and for runs that
/// ended before metrics were evaluated).
pub(super) struct MetricDef {
    name: String,
    between: Option<(String, String)>,
    record: Option<(String, Option<String>)>,
    target: Option<String>,
    description: Option<String>,
    role: Option<MetricRole>,
}

impl MetricDef {
    fn inputs(&self) -> Vec<String> {
        match (&self.between, &self.record) {
            (Some((from, to)), _) => vec![from.clone(), to.clone()],
            (None, Some((rec, _))) => vec![rec.clone()],
            (None, None) => vec![],
        }
    }
}

pub(super) fn metric_defs(playbook: &Value) -> Vec<MetricDef> {
    playbook
        .get("metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let name = m.get("name")?.as_str()?.to_string();
            let src = m.get("source");
            let between = src.and_then(|s| s.get("between")).and_then(|b| {
                Some((
                    b.get("from")?.as_str()?.to_string(),
                    b.get("to")?.as_str()?.to_string(),
                ))
            });
            let record = src.and_then(|s| s.get("value")).and_then(|v| {
                Some((
                    v.get("record")?.as_str()?.to_string(),
                    v.get("unit").and_then(Value::as_str).map(str::to_string),
                ))
            });
            Some(MetricDef {
                name,
                between,
                record,
                target: m.get("target").and_then(Value::as_str).map(str::to_string),
                description: m
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                role: m
                    .get("role")
                    .and_then(Value::as_str)
                    .and_then(MetricRole::parse),
            })
        })
        .collect()
}

pub(super) fn is_data_safety(text: &str) -> bool {
    const WORDS: [&str; 8] = [
        "canary", "residen", "conflict", "lost", "replica", "lag", "catch", "postgres",
    ];
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| WORDS.iter().any(|p| w.starts_with(p)))
}

/// A metric the run never evaluated (it stopped first), computed the way
/// `engine::metrics` would from what the journal holds.
pub(super) fn provisional_metric(
    d: &MetricDef,
    markers: &BTreeMap<String, String>,
    recorded: &[RecordedInfo],
) -> MetricInfo {
    let parse = |s: &String| DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc());
    let (value, unit, detail) = if let Some((from, to)) = &d.between {
        match (
            markers.get(from).and_then(parse),
            markers.get(to).and_then(parse),
        ) {
            (Some(a), Some(b)) => (
                Some(secs_between(a, b)),
                "seconds".to_string(),
                format!("from `{from}` to `{to}` (the run ended before metrics were evaluated)"),
            ),
            (None, _) => (
                None,
                "seconds".into(),
                format!("marker `{from}` was never set"),
            ),
            (_, None) => (
                None,
                "seconds".into(),
                format!("marker `{to}` was never set"),
            ),
        }
    } else if let Some((rec, unit)) = &d.record {
        let unit = unit.clone().unwrap_or_else(|| "count".into());
        match recorded.iter().rev().find(|r| &r.name == rec) {
            Some(r) => (Some(r.value), unit, format!("recorded as `{rec}`")),
            None => (None, unit, format!("`{rec}` was never recorded")),
        }
    } else {
        (None, String::new(), "unknown metric source".into())
    };
    let met = match (&d.target, value) {
        (Some(t), Some(v)) => Comparison::parse(t).ok().map(|c| c.holds(v)),
        // The run stopped before it could be measured: not a verdict.
        _ => None,
    };
    let mut m = metric_info(
        value,
        &unit,
        d.target.clone(),
        met,
        None,
        detail,
        d.description.clone(),
    );
    m.role = d.role;
    m.inputs = d.inputs();
    m
}
