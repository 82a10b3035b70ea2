//! The typed fields of each step kind, as written in a playbook.
//!
//! These are plain data (no I/O). Each kind has its own module; the
//! executors live in `crate::steps`, one module per kind, behind the
//! `crate::steps::Step` trait. To add a kind: add its spec module here, a
//! line to `step_kinds!`, and its executor in `crate::steps`.

pub mod aws;
pub mod http;
pub mod manual;
pub mod note;
pub mod shell;
pub mod undo;
pub mod wait;

use marked_yaml::Node;
use serde::Serialize;

macro_rules! step_kinds {
    ($($name:literal => $variant:ident($ty:ty)),* $(,)?) => {
        /// The kind-specific part of a step, chosen by its `kind:` tag.
        #[derive(Debug, Clone, Serialize)]
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
                -> Option<Result<StepSpec, marked_yaml::FromNodeError>> {
                match kind {
                    $($name => Some(marked_yaml::from_node::<$ty>(node).map(StepSpec::$variant)),)*
                    _ => None,
                }
            }
        }
    };
}

step_kinds! {
    "http" => Http(http::HttpSpec),
    "shell" => Shell(shell::ShellSpec),
    "manual" => Manual(manual::ManualSpec),
    "wait" => Wait(wait::WaitSpec),
    "note" => Note(note::NoteSpec),
    "undo" => Undo(undo::UndoSpec),
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

impl StepSpec {
    pub fn effect(&self) -> Effect {
        match self {
            StepSpec::Http(s) if s.is_read_only() => Effect::ReadOnly,
            StepSpec::Http(s) => Effect::Mutating {
                has_undo: s.undo.is_some(),
            },
            StepSpec::Shell(s) if s.read_only => Effect::ReadOnly,
            StepSpec::Shell(s) => Effect::Mutating {
                has_undo: s.undo.is_some(),
            },
            StepSpec::Manual(_) => Effect::Interactive,
            StepSpec::Wait(_) | StepSpec::Note(_) => Effect::Passive,
            StepSpec::Undo(_) => Effect::Restore,
            StepSpec::ArcRoutingControlState(_)
            | StepSpec::GaEndpointGroup(_)
            | StepSpec::Route53HealthCheckStatus(_)
            | StepSpec::FisExperimentState(_)
            | StepSpec::RdsClusterStatus(_)
            | StepSpec::CloudWatchMetric(_)
            | StepSpec::CloudWatchAlarm(_) => Effect::ReadOnly,
            StepSpec::ArcRoutingControl(_)
            | StepSpec::GaTrafficDial(_)
            | StepSpec::Route53HealthCheck(_)
            | StepSpec::Route53Weights(_)
            | StepSpec::Elbv2ForwardWeights(_)
            | StepSpec::Elbv2DeregisterTargets(_)
            | StepSpec::FisExperiment(_)
            | StepSpec::RdsFailoverCluster(_)
            | StepSpec::RdsGlobalSwitchover(_) => Effect::Mutating { has_undo: true },
            // Promotion with possible data loss: the playbook must declare `irreversible:`.
            StepSpec::RdsGlobalFailover(_) => Effect::Mutating { has_undo: false },
        }
    }
}
