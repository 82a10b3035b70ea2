//! The typed fields of each step kind, as written in a playbook.
//!
//! These are plain data (no I/O). Each kind has its own module; the
//! executors live in `crate::steps`, one module per kind, behind the
//! `crate::steps::Step` trait. To add a kind: its spec type with an
//! `impl Kind` (effect, recorded names, cross-checks) in its spec module, a
//! line to `step_kinds!`, and `impl Step` in its executor module in
//! `crate::steps` (`steps::executor` finds it through `match_kind!`).

pub mod aws;
pub mod canary;
pub mod conflicts;
pub mod http;
pub mod manual;
pub mod note;
pub mod pinned;
pub mod postgres;
pub mod prometheus;
pub mod residency;
pub mod shell;
pub mod undo;
pub mod wait;

use super::model::Playbook;
use super::problem::Problem;
use marked_yaml::Node;
use serde::Serialize;

macro_rules! step_kinds {
    ($d:tt $($name:literal => $variant:ident($ty:ty)),* $(,)?) => {
        /// The kind-specific part of a step, chosen by its `kind:` tag.
        #[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
        #[serde(tag = "kind")]
        pub enum StepSpec {
            $(#[serde(rename = $name)] $variant($ty),)*
        }

        /// Every step kind a playbook may name.
        pub const KINDS: &[&str] = &[$($name),*];

        impl StepSpec {
            /// The `kind:` tag of this step.
            pub fn kind(&self) -> &'static str {
                match self { $(StepSpec::$variant(_) => $name,)* }
            }

            /// Deserialize the kind-specific fields of a step of kind `kind`.
            /// `None` when the kind is unknown.
            pub fn from_node(kind: &str, node: &Node)
                -> Option<Result<StepSpec, marked_yaml::Error>> {
                match kind {
                    $($name => Some($crate::playbook::node_de::from_node::<$ty>(node).map(StepSpec::$variant)),)*
                    _ => None,
                }
            }

            /// What the step's kind says about itself ([`Kind`]).
            pub fn as_kind(&self) -> &dyn Kind {
                match_kind!(self, s => s)
            }
        }

        /// `match_kind!(spec, s => expr)`: `expr` with `s` bound to the
        /// kind-specific spec, whatever the kind (`steps::executor` uses it).
        macro_rules! match_kind {
            ($d spec:expr, $d s:ident => $d body:expr) => {
                match $d spec {
                    $($crate::playbook::spec::StepSpec::$variant($d s) => $d body,)*
                }
            };
        }
        pub(crate) use match_kind;
    };
}

step_kinds! { $
    "http" => Http(http::HttpSpec),
    "shell" => Shell(shell::ShellSpec),
    "manual" => Manual(manual::ManualSpec),
    "wait" => Wait(wait::WaitSpec),
    "note" => Note(note::NoteSpec),
    "undo" => Undo(undo::UndoSpec),
    "prometheus" => Prometheus(prometheus::PrometheusSpec),
    "alert" => Alert(prometheus::AlertSpec),
    "prometheus-window" => PrometheusWindow(prometheus::PrometheusWindowSpec),
    "prometheus-charts" => PrometheusCharts(prometheus::PrometheusChartsSpec),
    "canary" => Canary(canary::CanarySpec),
    "canary-retarget" => CanaryRetarget(canary::CanaryRetargetSpec),
    "canary-stop" => CanaryStop(canary::CanaryStopSpec),
    "canary-verify" => CanaryVerify(canary::CanaryVerifySpec),
    "residency" => Residency(residency::ResidencySpec),
    "conflicts" => Conflicts(conflicts::ConflictsSpec),
    "pinned-users" => PinnedUsers(pinned::PinnedUsersSpec),
    "postgres-query" => PostgresQuery(postgres::PostgresQuerySpec),
    "postgres-replication" => PostgresReplication(postgres::PostgresReplicationSpec),
    "postgres-fence" => PostgresFence(postgres::PostgresFenceSpec),
    "postgres-promote" => PostgresPromote(postgres::PostgresPromoteSpec),
    "arc-routing-control" => ArcRoutingControl(aws::arc::ArcRoutingControlSpec),
    "arc-routing-control-state" => ArcRoutingControlState(aws::arc::ArcRoutingControlStateSpec),
    "ga-traffic-dial" => GaTrafficDial(aws::ga::GaTrafficDialSpec),
    "ga-endpoint-group" => GaEndpointGroup(aws::ga::GaEndpointGroupSpec),
    "route53-health-check" => Route53HealthCheck(aws::route53::Route53HealthCheckSpec),
    "route53-health-check-status" => Route53HealthCheckStatus(aws::route53::Route53HealthCheckStatusSpec),
    "route53-weights" => Route53Weights(aws::route53::Route53WeightsSpec),
    "elbv2-forward-weights" => Elbv2ForwardWeights(aws::elbv2::Elbv2ForwardWeightsSpec),
    "elbv2-deregister-targets" => Elbv2DeregisterTargets(aws::elbv2::Elbv2DeregisterTargetsSpec),
    "fis-experiment" => FisExperiment(aws::fis::FisExperimentSpec),
    "fis-experiment-state" => FisExperimentState(aws::fis::FisExperimentStateSpec),
    "rds-failover-cluster" => RdsFailoverCluster(aws::rds::RdsFailoverClusterSpec),
    "rds-global-switchover" => RdsGlobalSwitchover(aws::rds::RdsGlobalSwitchoverSpec),
    "rds-global-failover" => RdsGlobalFailover(aws::rds::RdsGlobalFailoverSpec),
    "rds-cluster-status" => RdsClusterStatus(aws::rds::RdsClusterStatusSpec),
    "cloudwatch-metric" => CloudWatchMetric(aws::cloudwatch::CloudWatchMetricSpec),
    "cloudwatch-alarm" => CloudWatchAlarm(aws::cloudwatch::CloudWatchAlarmSpec),
}

/// What running a step does to the world; decides where it may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only: can be a check, a wait, a watch or a guardrail.
    ReadOnly,
    /// Changes something: journaled with pre-state before it acts.
    Mutating { has_undo: bool },
    /// Needs a person (or `--yes`).
    Interactive,
    /// Sleeps or notes; touches nothing.
    Passive,
    /// Runs recorded undos (restore phase).
    Restore,
}

/// What a step kind says about itself, declared in its spec module.
pub trait Kind {
    /// What running a step of this kind does to the world.
    fn effect(&self) -> Effect;

    /// For steps that measure several numbers: the suffixes of the names
    /// recorded besides `record:` itself (`<record>_<suffix>`).
    fn recorded_suffixes(&self) -> &'static [&'static str] {
        &[]
    }

    /// Problems with the step's own fields and with what it names elsewhere
    /// in the playbook (connections, other steps): message and hint.
    fn problems(&self, _refs: &Refs<'_>) -> Problems {
        vec![]
    }
}

/// `fixed_effect!(A, B => ReadOnly)`: kinds whose effect never depends on their fields.
macro_rules! fixed_effect {
    ($($ty:ty),+ => $effect:expr) => {
        $(impl $crate::playbook::spec::Kind for $ty {
            fn effect(&self) -> $crate::playbook::spec::Effect {
                use $crate::playbook::spec::Effect::*;
                $effect
            }
        })+
    };
}
pub(crate) use fixed_effect;

/// Problems found in a step, for [`Kind::problems`].
pub type Problems = Vec<Problem>;

/// What a step may name elsewhere in the playbook, for [`Kind::problems`].
pub struct Refs<'a> {
    pub pb: &'a Playbook,
    connections: Vec<&'a str>,
    canaries: Vec<(&'a str, &'a canary::CanarySpec)>,
}

impl<'a> Refs<'a> {
    pub fn new(pb: &'a Playbook) -> Refs<'a> {
        Refs {
            pb,
            connections: pb.connections.postgres.keys().map(|s| s.as_str()).collect(),
            canaries: pb
                .all_steps()
                .filter_map(|(_, s)| match &s.spec {
                    StepSpec::Canary(c) => Some((s.name.as_str(), c)),
                    _ => None,
                })
                .collect(),
        }
    }

    /// A problem unless the playbook declares the PostgreSQL connection `name`.
    pub fn need_connection(&self, name: &str, out: &mut Problems) {
        if !self.pb.connections.postgres.contains_key(name) {
            let connections = &self.connections;
            let hint = crate::diag::suggest(name, connections.iter().copied(), || {
                if connections.is_empty() {
                    format!(
                        "declare it at the top level: `postgres: {{ {name}: {{ env: PG_{}_DSN }} }}`",
                        name.to_ascii_uppercase()
                    )
                } else {
                    format!("connections are: {}", connections.join(", "))
                }
            });
            out.push(Problem::new(format!("no PostgreSQL connection named `{name}`")).hint(hint));
        }
    }

    /// The `canary` step named `name`, or a problem.
    pub fn find_canary(&self, name: &str, out: &mut Problems) -> Option<&'a canary::CanarySpec> {
        let found = self
            .canaries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c);
        if found.is_none() {
            let hint = crate::diag::suggest(name, self.canaries.iter().map(|(n, _)| *n), || {
                "name the step of kind `canary` that starts the writer".into()
            });
            out.push(Problem::new(format!("no `canary` step named `{name}`")).hint(hint));
        }
        found
    }
}

impl StepSpec {
    pub fn effect(&self) -> Effect {
        self.as_kind().effect()
    }

    /// The names a step records values under when it says `record: <record>`:
    /// the name itself, and for steps that measure several numbers,
    /// `<record>_<count>` for each.
    pub fn recorded_names(&self, record: &str) -> Vec<String> {
        let mut names = vec![record.to_string()];
        let extra = self.as_kind().recorded_suffixes();
        names.extend(extra.iter().map(|e| format!("{record}_{e}")));
        names
    }

    /// Problems with a step's own fields and with what it names elsewhere in
    /// the playbook (connections, other steps): message and hint.
    pub fn problems(&self, pb: &Playbook) -> Problems {
        self.as_kind().problems(&Refs::new(pb))
    }
}
