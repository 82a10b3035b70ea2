//! Event types of the journal. The schema is append-only: new kinds and new
//! optional fields may be added; existing ones keep their meaning, because
//! reports are re-rendered from old journals.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// Wall-clock time, UTC, RFC 3339 with milliseconds or finer.
    pub ts: DateTime<Utc>,
    /// Monotonic seconds since the run began.
    pub elapsed: f64,
    /// sha256 (hex) of the previous line's bytes; 64 zeros on the first
    /// line. Set by the writer: the journal is a hash chain (`gameday verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// How a step, phase or check ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    Cancelled,
}

/// Why the drill stopped early, strongest last (the strongest one wins).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// A step failed in a phase whose `on_failure` is `abort`.
    StepFailed,
    /// The drill's `deadline` passed.
    Deadline,
    /// A guardrail stayed breached for its `for` duration.
    Guardrail,
    /// SIGINT or SIGTERM.
    Signal,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// First event of every run.
    RunStarted {
        run_id: String,
        drill: String,
        description: Option<String>,
        owner: Option<String>,
        playbook_path: String,
        playbook_hash: String,
        /// The resolved playbook (secrets redacted), read back typed.
        playbook: Box<super::playbook::JournaledPlaybook>,
        environment: String,
        vars: Value,
        tool_version: String,
        operator: String,
        unattended: bool,
        pid: u32,
    },
    /// Where and from what the drill ran, beside `run_started`: the host,
    /// the playbook's git revision, the AWS identities used.
    RunContext {
        host: String,
        /// `git rev-parse HEAD` of the repository holding the playbook, when it is in one.
        git_revision: Option<String>,
        /// The playbook differs from that revision (uncommitted changes).
        git_dirty: Option<bool>,
        #[serde(default)]
        aws_identities: Vec<AwsIdentity>,
    },
    /// The lock for this drill and environment was taken.
    LockAcquired {
        path: String,
        stale_previous: Option<String>,
    },
    /// Difference between a remote clock (Prometheus) and ours.
    ClockOffset {
        source: String,
        offset_seconds: f64,
        round_trip_seconds: f64,
    },
    PhaseStarted {
        phase: String,
        kind: String,
        budget_seconds: Option<f64>,
    },
    PhaseFinished {
        phase: String,
        kind: String,
        status: Status,
        detail: Option<String>,
    },
    StepStarted {
        phase: String,
        step: String,
        kind: String,
        description: String,
        watch: bool,
    },
    /// One failed attempt or poll (kept so gaps in a wait show in the report).
    StepAttempt {
        phase: String,
        step: String,
        attempt: u32,
        ok: bool,
        summary: String,
        error: Option<String>,
    },
    StepFinished {
        phase: String,
        step: String,
        kind: String,
        status: Status,
        summary: String,
        value: Option<f64>,
        evidence: Value,
        attempts: u32,
        duration_seconds: f64,
        error: Option<String>,
    },
    /// A mutating step is about to act: what it will do, the state it
    /// changes, and how to undo it. fsync'd before the call.
    Intent {
        id: String,
        phase: String,
        step: String,
        description: String,
        pre_state: Value,
        /// `crate::steps::Undo`, serialized; null when the step has no automatic undo.
        undo: Option<Value>,
    },
    /// The mutating call succeeded (or may have: `certain: false` after a timeout).
    Applied {
        id: String,
        certain: bool,
    },
    /// The mutating call failed before changing anything.
    ApplyFailed {
        id: String,
        error: String,
    },
    UndoStarted {
        id: String,
        reason: String,
    },
    Undone {
        id: String,
    },
    UndoFailed {
        id: String,
        error: String,
    },
    /// A named instant. `at` is the best estimate; `observed_at` when the runner saw it.
    Marker {
        name: String,
        at: DateTime<Utc>,
        observed_at: DateTime<Utc>,
        /// Error bar of `at`, in seconds (scrape + evaluation interval), when known.
        resolution_seconds: Option<f64>,
        source: String,
        step: String,
    },
    /// A value recorded by a step's `record:`.
    Recorded {
        name: String,
        value: f64,
        unit: Option<String>,
        step: String,
    },
    GuardrailArmed {
        names: Vec<String>,
    },
    GuardrailState {
        name: String,
        ok: bool,
        summary: String,
    },
    GuardrailBreached {
        name: String,
        since: DateTime<Utc>,
        summary: String,
    },
    ManualPrompt {
        step: String,
        prompt: String,
    },
    ManualConfirmed {
        step: String,
        by: String,
        answer: Option<String>,
        automatic: bool,
    },
    /// A signal arrived; `count` is how many so far.
    Signal {
        signal: String,
        count: u32,
        action: String,
    },
    /// The drill is stopping early.
    Cancelled {
        reason: CancelReason,
        detail: String,
    },
    Warning {
        message: String,
        step: Option<String>,
    },
    /// A phase's observation window began: it lasts `hold_seconds` after the
    /// phase's steps and watches, checking `invariants` throughout.
    HoldStarted {
        phase: String,
        hold_seconds: f64,
        invariants: Vec<String>,
    },
    /// An invariant changed state during a hold.
    InvariantState {
        phase: String,
        name: String,
        ok: bool,
        summary: String,
    },
    /// An invariant stopped holding during a hold (for its `for:`): the phase fails.
    /// `since` is the first failing check.
    InvariantBroken {
        phase: String,
        name: String,
        since: DateTime<Utc>,
        summary: String,
        evidence: Value,
    },
    /// The observation window ended: `passed` (held for its whole length),
    /// `failed` (an invariant broke) or `cancelled` (the drill is stopping).
    HoldFinished {
        phase: String,
        status: Status,
        held_seconds: f64,
        detail: Option<String>,
    },
    /// A phase took longer than its `budget`; `fails` when `over_budget: fail`.
    BudgetExceeded {
        phase: String,
        budget_seconds: f64,
        actual_seconds: f64,
        fails: bool,
    },
    /// The lag budgets per data class were judged (end of the precheck,
    /// each poll during observation, post phase).
    LagBudgetChecked {
        phase: String,
        lags: Vec<LagReading>,
    },
    /// A data class's replication lag went over its budget (first time in the phase).
    LagBudgetBreached {
        phase: String,
        class: String,
        lag_seconds: f64,
        max_lag_seconds: f64,
        /// alert | halt_cross_region_reads | warn
        action: String,
    },
    /// Evaluated at the end of the run.
    Metric {
        name: String,
        value: Option<f64>,
        unit: String,
        target: Option<String>,
        met: Option<bool>,
        resolution_seconds: Option<f64>,
        detail: String,
    },
    /// An acknowledged canary write (data-safety steps).
    CanaryWrite {
        step: String,
        seq: u64,
        key: String,
        region: String,
        version: Option<String>,
        acked_at: DateTime<Utc>,
    },
    /// A file written into the run directory (chart data, evidence).
    Artifact {
        name: String,
        path: String,
        description: String,
    },
    RunFinished {
        outcome: Outcome,
        exit_code: i32,
        still_applied: Vec<String>,
    },
    /// `gameday restore` (or the guard) started on this run directory.
    RestoreStarted {
        operator: String,
        pid: u32,
        /// `guard` when the dead-man's switch restored; absent for `gameday restore`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// Why the guard took over (the runner died, its heartbeat stopped).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The dead-man's switch is watching this run (`engine::guard`).
    GuardStarted {
        pid: u32,
        lease_seconds: f64,
        host: String,
    },
    /// A notification could not be delivered (`notify`); the drill goes on.
    NotifyFailed {
        target: String,
        about: String,
        error: String,
    },
    RestoreFinished {
        still_applied: Vec<String>,
    },
    /// A note, finding or action item added by a person (`gameday note`),
    /// during the run or after it.
    Note {
        note: NoteKind,
        text: String,
        /// Who wrote it (the operator running `gameday note`).
        by: String,
        /// Who is to do it (action items).
        owner: Option<String>,
        /// The finding an action item answers (`F1`, `M-ttd`…).
        #[serde(rename = "for")]
        for_finding: Option<String>,
        /// The instant the note is about, when not the moment it was written.
        at: Option<DateTime<Utc>>,
    },
}

/// An AWS identity a drill used (`sts:GetCallerIdentity`), once per profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AwsIdentity {
    pub profile: Option<String>,
    pub account: String,
    pub arn: String,
}

/// What a `gameday note` is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    Note,
    Finding,
    Action,
}

/// One data class's lag at a check, with its budget.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LagReading {
    pub class: String,
    /// null when the query returned no series for the class.
    pub lag_seconds: Option<f64>,
    pub max_lag_seconds: f64,
    pub action: String,
}

/// The one-word result of a run (report.json `outcome`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    Aborted,
    Interrupted,
    RestoreFailed,
    /// The journal ends without `run_finished` (crash, SIGKILL, reboot).
    Incomplete,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::StepFailed => "step_failed",
            CancelReason::Deadline => "deadline",
            CancelReason::Guardrail => "guardrail",
            CancelReason::Signal => "signal",
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Aborted => "aborted",
            Outcome::Interrupted => "interrupted",
            Outcome::RestoreFailed => "restore_failed",
            Outcome::Incomplete => "incomplete",
        }
    }
}

impl EventKind {
    /// Events the engine must not outrun: fsync'd before `emit` returns.
    pub fn is_critical(&self) -> bool {
        matches!(
            self,
            EventKind::RunStarted { .. }
                | EventKind::PhaseStarted { .. }
                | EventKind::PhaseFinished { .. }
                | EventKind::Intent { .. }
                | EventKind::Applied { .. }
                | EventKind::ApplyFailed { .. }
                | EventKind::UndoStarted { .. }
                | EventKind::Undone { .. }
                | EventKind::UndoFailed { .. }
                | EventKind::Marker { .. }
                | EventKind::CanaryWrite { .. }
                | EventKind::Cancelled { .. }
                | EventKind::GuardrailBreached { .. }
                | EventKind::InvariantBroken { .. }
                | EventKind::LagBudgetBreached { .. }
                | EventKind::ManualConfirmed { .. }
                | EventKind::RunFinished { .. }
                | EventKind::RestoreFinished { .. }
                | EventKind::Note { .. }
        )
    }
}
