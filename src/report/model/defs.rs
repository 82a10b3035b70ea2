//! What the report reads from the resolved playbook journaled in
//! `run_started` (typed: `journal::playbook::PlaybookView`): step
//! expectations, and the metrics of a run that stopped before evaluating
//! them, evaluated as the engine does (`engine::metrics`).

use super::format::*;
use super::types::*;
use crate::engine::metrics::{MetricInputs, evaluate_one};
use crate::journal::playbook::{MetricView, PlaybookView, StepView};
use serde_json::Value;
use std::collections::HashMap;

/// What the playbook says about a step (the report never needs the YAML file).
#[derive(Default)]
pub(super) struct StepDef {
    pub(super) expectation: Option<String>,
    pub(super) mark: Option<String>,
    pub(super) record: Option<String>,
}

pub(super) fn step_defs(playbook: &PlaybookView) -> HashMap<String, StepDef> {
    let steps = playbook
        .phases
        .iter()
        .flat_map(|p| p.steps.iter().chain(&p.watches))
        .chain(playbook.guardrails.iter().map(|g| &g.step));
    steps
        .map(|s| {
            let def = StepDef {
                expectation: expectation_of(s),
                mark: s.mark.clone(),
                record: s.record.clone(),
            };
            (s.name.clone(), def)
        })
        .collect()
}

/// The conditions a step's spec states, in words: every `expect*`,
/// `*_matches`, `status` and `condition` field that is set, and its wait.
fn expectation_of(step: &StepView) -> Option<String> {
    let spec = &step.spec.fields;
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
    if parts.is_empty()
        && step.spec.kind == "shell"
        && spec.get("read_only") == Some(&Value::Bool(true))
    {
        parts.push("exit code 0".into());
    }
    if let Some(w) = &step.wait {
        parts.push(format!(
            "polled every {} until it holds, for at most {}",
            w.every, w.timeout
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A metric the run never evaluated (it stopped first), evaluated the way
/// the engine does from what the journal holds. Without a value it has no
/// verdict: the run stopped before it could be measured.
pub(super) fn provisional_metric(d: &MetricView, inputs: &MetricInputs) -> MetricInfo {
    let v = evaluate_one(&d.name, &d.source, d.target.as_ref(), inputs);
    let detail = match (&d.source, v.value) {
        (crate::playbook::MetricSource::Between { .. }, Some(_)) => {
            format!("{} (the run ended before metrics were evaluated)", v.detail)
        }
        _ => v.detail,
    };
    let met = v.value.and(v.met);
    // Reports of runs that stopped early have always shown these without an
    // error bar; kept so (no visible change in this refactor).
    let mut m = metric_info(
        v.value,
        &v.unit,
        v.target,
        met,
        None,
        detail,
        d.description.clone(),
    );
    m.role = d.role;
    m.inputs = d.inputs();
    m
}

pub(super) fn is_data_safety(text: &str) -> bool {
    const WORDS: [&str; 8] = [
        "canary", "residen", "conflict", "lost", "replica", "lag", "catch", "postgres",
    ];
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| WORDS.iter().any(|p| w.starts_with(p)))
}
