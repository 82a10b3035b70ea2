//! Fault Injection Service: `kind: fis-experiment` (start an experiment from
//! a template; the undo stops it) and `kind: fis-experiment-state` (wait for
//! an experiment to reach a state).

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// Experiment states, as FIS spells them.
pub const STATES: &[&str] = &[
    "pending",
    "initiating",
    "running",
    "completed",
    "stopping",
    "stopped",
    "failed",
    "cancelled",
];

/// An experiment state (one of [`STATES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ExperimentState(pub &'static str);

impl<'de> Deserialize<'de> for ExperimentState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::one_of(d, "FIS experiment state", STATES).map(ExperimentState)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FisExperimentSpec {
    pub template_id: String,
    /// After starting, poll until the experiment reaches this state (usually
    /// `running`); a failed or stopped experiment fails the step.
    #[serde(default)]
    pub wait_for: Option<ExperimentState>,
    /// Tags for the experiment (gameday adds its own run tags).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawState")]
pub struct FisExperimentStateSpec {
    /// The `fis-experiment` step of this run whose experiment to read ...
    pub started_by: Option<String>,
    /// ... or an experiment id.
    pub experiment_id: Option<String>,
    pub state: ExperimentState,
    pub region: Option<String>,
    pub profile: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawState {
    #[serde(default)]
    started_by: Option<String>,
    #[serde(default)]
    experiment_id: Option<String>,
    state: ExperimentState,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    profile: Option<String>,
}

impl TryFrom<RawState> for FisExperimentStateSpec {
    type Error = String;
    fn try_from(r: RawState) -> Result<Self, String> {
        if r.started_by.is_some() == r.experiment_id.is_some() {
            return Err("a `fis-experiment-state` step needs exactly one of `started_by:` (the name of a `fis-experiment` step) or `experiment_id:`".into());
        }
        Ok(FisExperimentStateSpec {
            started_by: r.started_by,
            experiment_id: r.experiment_id,
            state: r.state,
            region: r.region,
            profile: r.profile,
        })
    }
}

super::super::fixed_effect!(FisExperimentStateSpec => ReadOnly);
super::super::fixed_effect!(FisExperimentSpec => Mutating { has_undo: true });
