//! The typed fields of each step kind, as written in a playbook.
//!
//! These are plain data (no I/O). Each kind has its own module; the
//! executors live in `crate::steps`, one module per kind, behind the
//! `crate::steps::Step` trait. To add a kind: add its spec module here, a
//! line to `step_kinds!`, and its executor in `crate::steps`.

pub mod http;
pub mod manual;
pub mod note;
pub mod prometheus;
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
    "prometheus" => Prometheus(prometheus::PrometheusSpec),
    "alert" => Alert(prometheus::AlertSpec),
    "prometheus-window" => PrometheusWindow(prometheus::PrometheusWindowSpec),
    "prometheus-charts" => PrometheusCharts(prometheus::PrometheusChartsSpec),
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
            StepSpec::Prometheus(_)
            | StepSpec::Alert(_)
            | StepSpec::PrometheusWindow(_)
            | StepSpec::PrometheusCharts(_) => Effect::ReadOnly,
        }
    }
}
