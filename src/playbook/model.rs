//! The typed playbook: what `load` produces and the engine runs. Every node
//! that a later check may need to point at keeps its `Pos`.

use super::duration::{NonNegative, Positive};
use super::expect::Comparison;
use super::spec::StepSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A 1-based line and column in the playbook file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// The six-phase drill script of DOMAIN.md; `post` (the sixth) runs after
/// restoration and only checks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    Precheck,
    Isolate,
    Observe,
    Validate,
    Restore,
    Post,
}

impl PhaseKind {
    pub const NAMES: &'static [&'static str] = &[
        "precheck", "isolate", "observe", "validate", "restore", "post",
    ];

    pub fn parse(s: &str) -> Option<PhaseKind> {
        Some(match s {
            "precheck" => PhaseKind::Precheck,
            "isolate" => PhaseKind::Isolate,
            "observe" => PhaseKind::Observe,
            "validate" => PhaseKind::Validate,
            "restore" => PhaseKind::Restore,
            "post" => PhaseKind::Post,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// What a failed step does when the phase does not say.
    pub fn default_on_failure(self) -> OnFailure {
        match self {
            PhaseKind::Precheck | PhaseKind::Isolate => OnFailure::Abort,
            _ => OnFailure::Continue,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Stop the drill and go straight to restoration.
    Abort,
    /// Record the failure (the drill fails) and go on.
    Continue,
}

/// A loaded, interpolated, validated playbook.
#[derive(Debug, Clone, Serialize)]
pub struct Playbook {
    pub name: String,
    pub description: Option<String>,
    /// The steady state the drill expects to hold; shown first in the report.
    pub hypothesis: Option<String>,
    pub owner: Option<String>,
    /// May run from cron with `--yes`.
    pub unattended: bool,
    /// The whole drill must finish (restoration starts) by then.
    pub deadline: Option<Positive>,
    /// How long the runner may go without a heartbeat before its guard restores (default 30 s).
    pub lease: Positive,
    /// Webhooks told about the run (`notify:`; URLs are secrets, read from env or file).
    pub notify: Vec<super::notify::NotifyTarget>,
    /// Prometheus Pushgateway that shows the running drill (`gameday_drill_active`).
    pub pushgateway: Option<String>,
    /// The environment the values came from (`--env` file name), or `default`.
    pub environment: String,
    /// Var values after defaults, environment file and `--var` (secrets excluded).
    pub vars: BTreeMap<String, String>,
    pub connections: Connections,
    pub phases: Vec<Phase>,
    pub guardrails: Vec<Guardrail>,
    pub metrics: Vec<MetricDef>,
    /// Replication lag budgets per data class.
    pub lag_budgets: Option<LagBudgets>,
    /// The file as named on the command line.
    pub path: String,
    /// sha256 of the file's bytes.
    pub hash: String,
    /// Secret values by name: given to commands as environment variables,
    /// never serialized or shown.
    #[serde(skip)]
    pub secrets: SecretValues,
}

/// Secret values by name; `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct SecretValues(pub BTreeMap<String, String>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Where the systems the steps talk to are. Each step kind documents which
/// of these it needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connections {
    #[serde(default)]
    pub prometheus: Option<super::spec::prometheus::ApiConnection>,
    #[serde(default)]
    pub alertmanager: Option<super::spec::prometheus::ApiConnection>,
    #[serde(default)]
    pub aws: Option<super::spec::aws::AwsConn>,
    /// Named PostgreSQL connections (`primary`, `standby`), whose connection
    /// strings come from environment variables or files.
    #[serde(default)]
    pub postgres: BTreeMap<String, super::spec::postgres::PostgresConnection>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub kind: PhaseKind,
    pub name: String,
    pub budget: Option<Positive>,
    /// What going over `budget` means.
    pub over_budget: OverBudget,
    /// The observation window: the phase lasts at least this long after its
    /// steps and watches completed, checking `invariants` throughout.
    pub hold: Option<Positive>,
    pub invariants: Vec<Invariant>,
    pub on_failure: OnFailure,
    pub steps: Vec<Step>,
    /// Background waits that run while the phase's steps go on.
    pub watches: Vec<Step>,
    pub pos: Pos,
}

/// What a phase that took longer than its `budget` means for the drill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverBudget {
    /// A finding (warning) in the report; the drill can still pass.
    #[default]
    Warn,
    /// The drill fails (exit 1).
    Fail,
}

/// Replication lag budgets per data class (DOMAIN.md's table): judged at the
/// end of the precheck, throughout the observe phase and in the post phase.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LagBudgets {
    /// PromQL giving the lag in seconds, one series per data class.
    pub query: String,
    /// The label naming the data class (default `data_class`).
    #[serde(default)]
    pub label: Option<String>,
    /// How often to check during the observe phase (default 2s).
    #[serde(default)]
    pub every: Option<Positive>,
    pub classes: BTreeMap<String, LagBudget>,
}

impl LagBudgets {
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or("data_class")
    }

    pub fn every(&self) -> std::time::Duration {
        self.every
            .map_or(std::time::Duration::from_secs(2), |e| e.get())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LagBudget {
    pub max_lag: Positive,
    pub action: LagAction,
}

/// What a breached lag budget means for the drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LagAction {
    /// Alert and investigate: the drill fails (exit 1).
    Alert,
    /// Alert and halt cross-region reads: during the drill it aborts it like a guardrail (exit 3).
    HaltCrossRegionReads,
    /// A warning in the report.
    Warn,
}

impl LagAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LagAction::Alert => "alert",
            LagAction::HaltCrossRegionReads => "halt_cross_region_reads",
            LagAction::Warn => "warn",
        }
    }
}

/// A read-only check that must keep holding during a phase's `hold`.
#[derive(Debug, Clone, Serialize)]
pub struct Invariant {
    pub step: Step,
    /// How long the check may fail before it counts as broken (default 0s).
    pub for_: NonNegative,
    pub every: Positive,
}

/// How to wait on a read-only check: poll every `every` until it holds, for at most `timeout`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitPolicy {
    pub every: Positive,
    pub timeout: Positive,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub spec: StepSpec,
    /// Time limit of one attempt.
    pub timeout: Positive,
    /// Extra attempts after a failed one (errors only; a condition that does not hold is not retried unless waited on).
    pub retries: u32,
    /// Pause before the first retry; doubles each time.
    pub backoff: Positive,
    /// Record the instant the step succeeded as this marker.
    pub mark: Option<String>,
    /// Record the step's measured value under this name (for value metrics).
    pub record: Option<String>,
    /// Poll the check until it holds.
    pub wait: Option<WaitPolicy>,
    /// For mutating steps that cannot be undone automatically: why, and the
    /// restore-phase step that covers it.
    pub irreversible: Option<Irreversible>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Irreversible {
    /// Why there is no automatic undo.
    pub reason: String,
    /// The name of the restore-phase step that covers it (usually a manual step).
    pub covered_by: String,
}

/// A check that must keep holding from the first mutating step until restoration ends.
#[derive(Debug, Clone, Serialize)]
pub struct Guardrail {
    pub step: Step,
    /// How long the check may fail before the drill aborts.
    pub for_: NonNegative,
    pub every: Positive,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricDef {
    pub name: String,
    pub source: MetricSource,
    pub target: Option<Comparison>,
    pub description: Option<String>,
    /// What the metric is for (`role: ttd`); reports and history use it.
    pub role: Option<super::role::MetricRole>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricSource {
    /// Seconds from marker `from` to marker `to`.
    Between { from: String, to: String },
    /// A value recorded by a step's `record:`.
    Value {
        record: String,
        unit: Option<String>,
    },
}

impl Playbook {
    /// Every step of every phase, watches and guardrails included, with its phase.
    pub fn all_steps(&self) -> impl Iterator<Item = (Option<&Phase>, &Step)> {
        self.phases
            .iter()
            .flat_map(|p| {
                p.steps
                    .iter()
                    .chain(p.watches.iter())
                    .chain(p.invariants.iter().map(|i| &i.step))
                    .map(move |s| (Some(p), s))
            })
            .chain(self.guardrails.iter().map(|g| (None, &g.step)))
    }
}

impl Playbook {
    /// A playbook with nothing in it, for contexts that only undo (restore after a crash).
    pub fn empty(name: &str) -> Playbook {
        Playbook {
            name: name.to_string(),
            description: None,
            hypothesis: None,
            owner: None,
            unattended: true,
            deadline: None,
            lease: Positive(std::time::Duration::from_secs(30)),
            notify: vec![],
            pushgateway: None,
            environment: "default".into(),
            vars: BTreeMap::new(),
            connections: Connections::default(),
            phases: vec![],
            guardrails: vec![],
            metrics: vec![],
            lag_budgets: None,
            path: String::new(),
            hash: String::new(),
            secrets: SecretValues::default(),
        }
    }
}
