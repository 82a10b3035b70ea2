//! Step executors: one module per step kind, all behind the [`Step`] trait.
//!
//! The engine never looks inside a step. For a read-only check it calls
//! [`Step::run`] (once, or repeatedly when waited on); for a mutating step it
//! first calls [`Step::capture`] to read the state it is about to change and
//! build the [`Undo`] that restores it, journals both (fsync'd), and only then
//! calls [`Step::run`]. An [`Undo`] is plain serializable data, so
//! `gameday restore` can run it from the journal after a crash.

pub mod aws;
pub mod canary;
pub mod canary_verify;
pub mod children;
pub mod clients;
pub mod conflicts;
pub mod errors;
pub mod http;
pub mod manual;
pub mod note;
pub mod pinned;
pub mod postgres;
pub mod postgres_tls;
pub mod prometheus;
pub mod residency;
pub mod retry;
pub mod shell;
pub mod wait;

use crate::journal::EventSink;
use crate::playbook::spec::StepSpec;
use crate::playbook::{PhaseKind, Playbook};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What one execution of a step found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The call succeeded and every expectation held.
    pub ok: bool,
    /// The number measured, if the step measures one (for `record:` and reports).
    pub value: Option<f64>,
    /// One line for the terminal and the report: what was seen against what was expected.
    pub summary: String,
    /// The query or call and what came back, for the report.
    pub evidence: Value,
    /// When the condition really first held, if the step can tell better than
    /// "when we noticed" (an alert's activation time, a look-back over samples).
    pub refined: Option<Refined>,
}

impl Outcome {
    pub fn pass(summary: impl Into<String>) -> Outcome {
        Outcome {
            ok: true,
            summary: summary.into(),
            ..Default::default()
        }
    }
    pub fn fail(summary: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            summary: summary.into(),
            ..Default::default()
        }
    }
    pub fn with_value(mut self, v: f64) -> Outcome {
        self.value = Some(v);
        self
    }
    pub fn with_evidence(mut self, e: Value) -> Outcome {
        self.evidence = e;
        self
    }
}

/// A better estimate of when a condition first held.
#[derive(Debug, Clone, PartialEq)]
pub struct Refined {
    pub at: DateTime<Utc>,
    /// Error bar in seconds (scrape interval + rule evaluation interval, say).
    pub resolution_seconds: f64,
    /// How it was found: `alert activeAt + for`, `range query look-back`, ...
    pub source: String,
}

/// Why a step could not run to a verdict. Retried per `retries` (or until the
/// wait's timeout); a condition that does not hold is an [`Outcome`] instead.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    /// Worth another attempt (network error, 5xx, throttling)?
    pub retryable: bool,
}

impl StepError {
    pub fn retryable(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            retryable: true,
        }
    }
    pub fn fatal(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            retryable: false,
        }
    }
}

/// How to put back what a mutating step changed. Serialized into the
/// journal's `intent` event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Undo {
    /// In words, for plans and reports: `remove /tmp/flag`, `set routing control eu-west-1 On`.
    pub description: String,
    pub action: UndoAction,
}

/// `undo_actions!`: the [`UndoAction`] enum and its `run`, from one line
/// per undo type (each has `async fn run(&self, &StepCtx)`), plus `Manual`.
macro_rules! undo_actions {
    ($($(#[$doc:meta])* $variant:ident($ty:ty)),* $(,)?) => {
        /// The undo actions of every mutating step kind.
        #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum UndoAction {
            $($(#[$doc])* $variant($ty),)*
            /// Cannot be undone by a machine; a person must (reported as still applied).
            Manual { instructions: String },
        }

        impl UndoAction {
            /// Run the undo. Must be idempotent: restore may run it again after a crash.
            pub async fn run(&self, ctx: &StepCtx) -> Result<String, StepError> {
                match self {
                    $(UndoAction::$variant(u) => u.run(ctx).await,)*
                    UndoAction::Manual { instructions } => Err(StepError::fatal(format!(
                        "cannot be undone automatically: {instructions}"
                    ))),
                }
            }
        }
    };
}

undo_actions! {
    Shell(shell::ShellUndo),
    Http(http::HttpUndo),
    /// Stop a canary writer.
    Canary(canary::CanaryUndo),
    /// Put a fenced PostgreSQL primary's `default_transaction_read_only` back.
    PostgresFence(postgres::PostgresFenceUndo),
    Aws(Box<aws::AwsUndo>),
}

/// One call a step would make, for `gameday plan`.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCall {
    /// `GET http://…`, `route53:ChangeResourceRecordSets on Z123`, `/bin/sh -c <script>`.
    pub call: String,
    /// How it would be undone; None for read-only calls.
    pub undo: Option<String>,
}

/// A step kind's executor.
#[async_trait]
pub trait Step: Send + Sync {
    /// The calls this step would make and how each would be undone. Pure: never calls anything.
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall>;

    /// For mutating steps: read the state about to change and build its undo.
    /// Read-only; called before the intent is journaled.
    async fn capture(&self, _ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        Ok(None)
    }

    /// Do the step once: the call, the check, the prompt.
    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError>;
}

/// What `plan` may look at.
pub struct PlanCtx<'a> {
    pub playbook: &'a Playbook,
}

/// The time span of a phase, for checks over a window ("conflicts during restoration").
#[derive(Debug, Clone, Serialize)]
pub struct PhaseWindow {
    pub kind: PhaseKind,
    pub name: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// How manual steps are answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// Ask the person at the terminal.
    Prompt,
    /// Confirm automatically, recording why (`--yes`, `gameday demo`).
    Auto { by: String },
}

/// Everything a step may use while it runs. Shared by all steps of a run.
pub struct StepCtx {
    pub playbook: Arc<Playbook>,
    pub events: EventSink,
    pub http: reqwest::Client,
    pub run_dir: PathBuf,
    pub interaction: Interaction,
    /// Markers set so far (name → instant).
    pub markers: Arc<Mutex<BTreeMap<String, DateTime<Utc>>>>,
    /// Phases started so far, with their windows.
    pub windows: Arc<Mutex<Vec<PhaseWindow>>>,
    /// The step being run (for events emitted from inside a step).
    pub step_name: String,
    pub phase_name: String,
    /// The run's child process groups (the one registry).
    pub children: children::Children,
    /// Wall time the drill started (first event).
    pub started_at: DateTime<Utc>,
    /// Lazily-built network clients shared by all steps.
    pub clients: Arc<clients::Clients>,
}

impl StepCtx {
    /// When marker `name` was set in this run, if it was.
    pub fn marker(&self, name: &str) -> Option<DateTime<Utc>> {
        self.markers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
    }

    /// The context of a run (or of `gameday restore`) before any step: no
    /// markers, windows or children yet, fresh clients, started now.
    pub fn new(
        playbook: Arc<Playbook>,
        events: EventSink,
        run_dir: PathBuf,
        interaction: Interaction,
    ) -> StepCtx {
        StepCtx {
            playbook,
            events,
            http: http_client(),
            run_dir,
            interaction,
            markers: Default::default(),
            windows: Default::default(),
            step_name: String::new(),
            phase_name: String::new(),
            children: Default::default(),
            started_at: Utc::now(),
            clients: Default::default(),
        }
    }

    /// A copy for another step (the shared state stays shared).
    pub fn for_step(&self, phase: &str, step: &str) -> StepCtx {
        StepCtx {
            playbook: self.playbook.clone(),
            events: self.events.clone(),
            http: self.http.clone(),
            run_dir: self.run_dir.clone(),
            interaction: self.interaction.clone(),
            markers: self.markers.clone(),
            windows: self.windows.clone(),
            step_name: step.to_string(),
            phase_name: phase.to_string(),
            children: self.children.clone(),
            started_at: self.started_at,
            clients: self.clients.clone(),
        }
    }

    /// The window of the phase named `name` (or of kind `name`).
    pub fn window(&self, name: &str) -> Option<PhaseWindow> {
        let w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        w.iter()
            .rev()
            .find(|p| p.name == name || p.kind.as_str() == name)
            .cloned()
    }
}

/// The executor for a step's spec: every spec type implements [`Step`].
pub fn executor(spec: &StepSpec) -> &dyn Step {
    crate::playbook::spec::match_kind!(spec, s => s)
}

/// A shared HTTP client: rustls, sensible timeouts, our user agent.
pub fn http_client() -> reqwest::Client {
    crate::tls::http_builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
