//! The resolved playbook as `run_started` journals it, read back typed.
//!
//! On disk it is the loader's `Playbook` serialized (secrets redacted),
//! kept whole: [`JournaledPlaybook`] serializes exactly those bytes again,
//! so journals and their hash chains are unchanged. Reading it back gives
//! [`PlaybookView`]: the parts that the report, notifications and restore
//! read (phases and their kinds, steps and their kinds, markers, recorded
//! names, waits, metrics with their sources and targets), each checked
//! against the model: an unknown step kind, phase kind, metric source or a
//! target that does not parse makes the whole `run_started` line unreadable,
//! and the reader names that line (`reader::read_journal`).
//!
//! The view is deliberately not the loader's `Playbook` itself: the journal
//! schema is append-only and old journals must keep rendering while the
//! loader's types change, and a step's own fields stay a JSON object (the
//! report only states them in words).

use crate::playbook::expect::Comparison;
use crate::playbook::{MetricRole, MetricSource, PhaseKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The journaled playbook: its JSON as written, and the typed view of it.
#[derive(Debug, Clone, Default)]
pub struct JournaledPlaybook {
    raw: Value,
    view: PlaybookView,
}

/// What a journaled playbook says, typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlaybookView {
    pub name: String,
    #[serde(default)]
    pub hypothesis: Option<String>,
    #[serde(default)]
    pub phases: Vec<PhaseView>,
    #[serde(default)]
    pub guardrails: Vec<CheckView>,
    #[serde(default)]
    pub metrics: Vec<MetricView>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PhaseView {
    pub name: String,
    pub kind: PhaseKind,
    #[serde(default)]
    pub steps: Vec<StepView>,
    #[serde(default)]
    pub watches: Vec<StepView>,
    #[serde(default)]
    pub invariants: Vec<CheckView>,
}

/// A guardrail or an invariant: a step checked repeatedly.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckView {
    pub step: StepView,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StepView {
    pub name: String,
    pub spec: SpecView,
    #[serde(default)]
    pub mark: Option<String>,
    #[serde(default)]
    pub record: Option<String>,
    #[serde(default)]
    pub wait: Option<WaitView>,
}

/// A step's kind-specific fields: the kind checked, the rest as written.
#[derive(Debug, Clone)]
pub struct SpecView {
    /// A kind of `playbook::spec::KINDS` (kebab-case).
    pub kind: String,
    pub fields: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WaitView {
    pub every: crate::playbook::duration::Positive,
    pub timeout: crate::playbook::duration::Positive,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricView {
    pub name: String,
    pub source: MetricSource,
    #[serde(default)]
    pub target: Option<Comparison>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub role: Option<MetricRole>,
}

impl MetricView {
    /// The markers (`from`, `to`) or the recorded value it is computed from.
    pub fn inputs(&self) -> Vec<String> {
        match &self.source {
            MetricSource::Between { from, to } => vec![from.clone(), to.clone()],
            MetricSource::Value { record, .. } => vec![record.clone()],
        }
    }
}

impl<'de> Deserialize<'de> for SpecView {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fields = Map::<String, Value>::deserialize(d)?;
        let kind = fields
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| serde::de::Error::custom("a step's spec has no `kind`"))?;
        // Journals of versions that wrote snake_case kinds read as kebab-case.
        let kebab = kind.replace('_', "-");
        if !crate::playbook::spec::KINDS.contains(&kebab.as_str()) {
            return Err(serde::de::Error::custom(format!(
                "unknown step kind `{kind}` (known: {})",
                crate::playbook::spec::KINDS.join(", ")
            )));
        }
        Ok(SpecView {
            kind: kebab,
            fields,
        })
    }
}

impl JournaledPlaybook {
    /// The journaled form of a loaded playbook. It is journaled whole even
    /// if its view would not read back (a bug the tests over the shipped
    /// drills catch): the drill must not stop for the report's sake, and
    /// reading that journal later names the line.
    pub fn of(pb: &crate::playbook::Playbook) -> JournaledPlaybook {
        let raw = serde_json::to_value(pb).unwrap_or_default();
        let view = PlaybookView::deserialize(&raw).unwrap_or_default();
        JournaledPlaybook { raw, view }
    }

    fn from_raw(raw: Value) -> Result<JournaledPlaybook, serde_json::Error> {
        let view = PlaybookView::deserialize(&raw)?;
        Ok(JournaledPlaybook { raw, view })
    }

    pub fn view(&self) -> &PlaybookView {
        &self.view
    }

    /// A top-level field as journaled (`notify`, `connections`, …).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.raw.get(key)
    }
}

impl PartialEq for JournaledPlaybook {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Serialize for JournaledPlaybook {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for JournaledPlaybook {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        JournaledPlaybook::from_raw(raw)
            .map_err(|e| serde::de::Error::custom(format!("the journaled playbook: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped drill, journaled, reads back typed with all its steps.
    #[test]
    fn every_shipped_drill_reads_back_from_its_journaled_form() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        let envs = [
            None,
            Some(root.join("drills/environments/sim.yaml")),
            Some(root.join("drills/environments/aws-staging.example.yaml")),
        ];
        let dirs = [root.join("drills"), root.join("drills/examples")];
        for path in dirs.iter().flat_map(|d| std::fs::read_dir(d).unwrap()) {
            let path = path.unwrap().path();
            if path.extension().and_then(|x| x.to_str()) != Some("yaml") {
                continue;
            }
            let Some(loaded) = envs.iter().find_map(|env| {
                let opts = crate::playbook::LoadOptions {
                    env_file: env.clone(),
                    ..Default::default()
                };
                crate::playbook::load(&path, &opts).ok()
            }) else {
                continue;
            };
            let pb = &loaded.playbook;
            let j = JournaledPlaybook::of(pb);
            let back: JournaledPlaybook = serde_json::from_str(&serde_json::to_string(&j).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(back, j);
            let steps = |v: &PlaybookView| {
                v.phases
                    .iter()
                    .map(|p| p.steps.len() + p.watches.len() + p.invariants.len())
                    .sum::<usize>()
                    + v.guardrails.len()
            };
            assert_eq!(
                steps(back.view()),
                pb.all_steps().count(),
                "{}",
                path.display()
            );
            assert_eq!(back.view().metrics.len(), pb.metrics.len());
            n += 1;
        }
        assert!(n >= 6, "only {n} drills loaded");
    }

    #[test]
    fn an_unknown_step_kind_does_not_read() {
        let raw = serde_json::json!({
            "name": "x",
            "phases": [{"name": "p", "kind": "isolate",
                        "steps": [{"name": "s", "spec": {"kind": "arc_routing_controls"}}]}]
        });
        let e = serde_json::from_value::<JournaledPlaybook>(raw).unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown step kind `arc_routing_controls`"),
            "{e}"
        );
    }
}
