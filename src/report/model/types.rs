//! The report's types: report.json is `Report` serialized.

use crate::journal::event::{CancelReason, Outcome, Status};
use crate::playbook::MetricRole;
use crate::report::findings::{ActionItem, Finding, NoteInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Version of report.json. Bump on any change that removes or renames a key
/// or changes a meaning; adding optional keys keeps the version.
pub const SCHEMA_VERSION: u32 = 1;

/// The marker that drill times are measured from.
pub const REFERENCE_MARKER: &str = "isolated";

/// Everything a report says about one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub run: RunInfo,
    /// passed | failed | aborted | interrupted | restore_failed | incomplete
    pub outcome: Outcome,
    /// The outcome in one sentence a manager understands.
    pub outcome_line: String,
    /// Why the drill stopped early, if it did.
    pub cancelled: Option<CancelInfo>,
    /// Marker name → instant (RFC 3339); the first time each was set.
    pub markers: BTreeMap<String, String>,
    /// Every marker with its source and precision, in the order they were set.
    pub marker_details: Vec<MarkerInfo>,
    pub metrics: BTreeMap<String, MetricInfo>,
    pub phases: Vec<PhaseInfo>,
    /// Every step run (watches included), in the order they started.
    pub steps: Vec<StepInfo>,
    pub guardrails: GuardrailInfo,
    pub manual: Vec<ManualInfo>,
    pub signals: Vec<SignalInfo>,
    pub restoration: Restoration,
    pub recorded: Vec<RecordedInfo>,
    pub data_safety: DataSafety,
    pub clock: ClockInfo,
    pub timeline: Vec<TimelineEntry>,
    pub next_steps: Vec<Advice>,
    /// What people and the journal found (`report::findings`).
    #[serde(default)]
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub action_items: Vec<ActionItem>,
    /// Plain `gameday note`s.
    #[serde(default)]
    pub notes: Vec<NoteInfo>,
    pub warnings: Vec<WarningInfo>,
    /// Phase budgets, observation windows, lag budgets and what they found.
    #[serde(default)]
    pub script: crate::report::script::ScriptInfo,
    pub artifacts: Vec<ArtifactInfo>,
    /// SVG charts beside the report (filled in when they are drawn).
    pub charts: Vec<ChartInfo>,
    /// The phases as a Gantt chart (`charts/phases.svg` and `.png`).
    #[serde(default)]
    pub phase_chart: Option<ChartInfo>,
    /// The same drill's previous run in the same environment, when found.
    pub previous: Option<PreviousRun>,
    pub journal: JournalInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RunInfo {
    pub run_id: String,
    pub drill: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub environment: String,
    pub operator: String,
    pub unattended: bool,
    pub tool_version: String,
    pub playbook_path: String,
    pub playbook_hash: String,
    pub started_at: String,
    /// The last event of the run (`run_finished`, or the last one written).
    pub finished_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub duration: String,
    pub exit_code: Option<i32>,
    /// What `t` offsets count from.
    pub reference: Reference,
    /// The steady state the drill expects to hold (`hypothesis:`).
    #[serde(default)]
    pub hypothesis: Option<String>,
    /// The machine that ran the drill.
    #[serde(default)]
    pub host: Option<String>,
    /// The on-call named in the environment (var `on_call`).
    #[serde(default)]
    pub on_call: Option<String>,
    /// `git rev-parse HEAD` of the playbook's repository (`+dirty` when it has changes).
    #[serde(default)]
    pub git_revision: Option<String>,
    #[serde(default)]
    pub aws_identities: Vec<crate::journal::event::AwsIdentity>,
    /// The resolved vars (secrets are not vars; secret values are redacted in the journal).
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Reference {
    /// `isolated`, or null when offsets count from the run's start.
    pub marker: Option<String>,
    pub at: String,
    /// In words, for the report: `the isolated marker` or `the start of the run`.
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelInfo {
    pub at: String,
    pub t: String,
    /// step_failed | deadline | guardrail | signal
    pub reason: CancelReason,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkerInfo {
    pub name: String,
    pub at: String,
    pub t: String,
    pub observed_at: String,
    /// Seconds between the instant and when the runner noticed it.
    pub noticed_after_seconds: f64,
    pub resolution_seconds: Option<f64>,
    pub source: String,
    pub step: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricInfo {
    pub value: Option<f64>,
    pub unit: String,
    pub target: Option<String>,
    /// null when there is no target or no value to judge.
    pub met: Option<bool>,
    pub resolution_seconds: Option<f64>,
    /// How it was measured (`from isolated to rerouted`).
    pub detail: String,
    /// What it means, from the playbook.
    pub description: Option<String>,
    /// What it is for (`role:` in the playbook); advice and history follow it.
    #[serde(default)]
    pub role: Option<MetricRole>,
    /// The markers (`from`, `to`) or the recorded value it is computed from.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// The value for people: `42.1 s`, `3 min 12 s`, `17`.
    pub display: String,
    /// `± 15 s`, or empty.
    pub error_bar: String,
    /// met | missed | not measured | no target | not judged
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseInfo {
    pub name: String,
    pub kind: String,
    /// passed | failed | skipped | cancelled | unfinished | not_run
    pub status: Progress,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub t: Option<String>,
    pub duration_seconds: Option<f64>,
    pub budget_seconds: Option<f64>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepInfo {
    pub phase: String,
    pub name: String,
    pub kind: String,
    /// A background watch rather than a step in sequence.
    pub watch: bool,
    /// passed | failed | skipped | cancelled | unfinished
    pub status: Progress,
    pub started_at: String,
    pub t: String,
    pub finished_at: Option<String>,
    pub duration_seconds: Option<f64>,
    /// The query or call, resolved.
    pub call: String,
    /// What had to hold, from the playbook.
    pub expectation: Option<String>,
    /// What was seen.
    pub summary: String,
    pub value: Option<f64>,
    pub evidence: Value,
    pub attempts: u32,
    /// Failed attempts and polls that errored (the first 20).
    pub attempt_log: Vec<AttemptInfo>,
    pub error: Option<String>,
    /// Marker this step set, if any.
    pub marker: Option<String>,
    /// The marker the playbook says this step sets (`mark:`), set or not.
    #[serde(default)]
    pub mark: Option<String>,
    /// The value the playbook says this step records (`record:`).
    #[serde(default)]
    pub record: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptInfo {
    pub at: String,
    pub attempt: u32,
    pub ok: bool,
    pub summary: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct GuardrailInfo {
    pub names: Vec<String>,
    pub armed_at: Option<String>,
    /// State changes and breaches, in order.
    pub events: Vec<GuardrailEvent>,
    pub breached: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardrailEvent {
    pub at: String,
    pub t: String,
    pub name: String,
    /// ok | failing | breached
    pub state: GuardrailState,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManualInfo {
    pub step: String,
    pub prompt: String,
    pub prompted_at: Option<String>,
    pub confirmed_at: Option<String>,
    pub t: Option<String>,
    pub by: Option<String>,
    pub answer: Option<String>,
    pub automatic: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalInfo {
    pub at: String,
    pub t: String,
    pub signal: String,
    pub count: u32,
    pub action: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Restoration {
    /// restored | nothing_changed | still_applied
    pub status: RestorationStatus,
    /// Changes still in effect: in bold at the top of the report.
    pub still_applied: Vec<ChangeInfo>,
    /// Every change the drill made, in order.
    pub changes: Vec<ChangeInfo>,
    /// `gameday restore` runs on this directory after the run.
    pub restore_runs: Vec<RestoreRun>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeInfo {
    pub id: String,
    pub phase: String,
    pub step: String,
    /// What the step did (the call).
    pub what: String,
    /// How it is undone, in words; null when there is no automatic undo.
    pub undo: Option<String>,
    pub pre_state: Value,
    pub intent_at: String,
    pub applied_at: Option<String>,
    /// false when the call timed out and may or may not have acted.
    pub certain: Option<bool>,
    /// undone | still_applied | apply_failed
    pub state: ChangeState,
    pub undone_at: Option<String>,
    /// Why the undo ran (restore step, automatic restoration, gameday restore).
    pub undo_reason: Option<String>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreRun {
    pub operator: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub still_applied: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedInfo {
    pub name: String,
    pub value: f64,
    pub unit: Option<String>,
    pub step: String,
    pub at: String,
}

/// Canary writes and the data-safety checks (canary, residency, conflicts,
/// lost writes): whatever the run recorded, kept generic.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct DataSafety {
    pub canary: Option<CanaryInfo>,
    /// Steps whose kind or name is about data safety, by index into `steps`.
    pub steps: Vec<usize>,
    /// Recorded values about data safety, by index into `recorded`.
    pub recorded: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CanaryInfo {
    /// Acknowledged canary writes.
    pub writes: u64,
    pub by_region: BTreeMap<String, u64>,
    pub first_acked_at: String,
    pub last_acked_at: String,
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ClockInfo {
    pub offsets: Vec<ClockOffsetInfo>,
    /// Notes on how precise the times are, in sentences.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockOffsetInfo {
    pub at: String,
    pub source: String,
    pub offset_seconds: f64,
    pub round_trip_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: String,
    pub t: String,
    pub offset_seconds: f64,
    /// phase | step | change | undo | marker | guardrail | manual | signal | cancel | warning | run | restore | note | invariant | budget | lag
    pub kind: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Advice {
    /// The metric, step or subject the advice is about.
    pub about: String,
    pub finding: String,
    pub guidance: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarningInfo {
    pub at: String,
    pub t: String,
    pub message: String,
    pub step: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactInfo {
    pub name: String,
    pub path: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChartInfo {
    pub name: String,
    pub title: String,
    /// Relative to the run directory.
    pub svg: String,
    /// The same chart as PNG (relative), for tools that cannot show SVG.
    #[serde(default)]
    pub png: Option<String>,
    pub series: Vec<String>,
    /// Markers drawn on it (those inside its time range), in order.
    pub markers: Vec<String>,
}

/// This run against the previous run of the same drill and environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreviousRun {
    pub run_id: String,
    pub started_at: String,
    pub outcome: Outcome,
    pub metrics: Vec<MetricChange>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricChange {
    pub name: String,
    /// The metric's role, when it has one (history columns follow it).
    #[serde(default)]
    pub role: Option<MetricRole>,
    pub now: Option<f64>,
    pub before: Option<f64>,
    pub unit: String,
    pub now_display: String,
    pub before_display: String,
    /// better | worse | same | new | gone | unknown
    pub verdict: String,
    /// `−12.0 s (better)`.
    pub change: String,
    /// `−12.0 s`, or empty when there is nothing to subtract.
    pub delta: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct JournalInfo {
    pub events: usize,
    /// The last line was cut off (the runner died mid-write) and skipped.
    pub torn_tail: bool,
    /// Lines that did not parse (1-based), e.g. from a newer gameday.
    pub unreadable_lines: Vec<usize>,
    /// sha256 of the journal's last complete line: with the hash chain
    /// (`prev` on every line), it stands for the whole journal
    /// (`gameday verify` checks both).
    #[serde(default)]
    pub final_hash: Option<String>,
    /// The journal carries the hash chain (written by gameday 0.1 with `prev`).
    #[serde(default)]
    pub chained: bool,
}

/// How far a phase or step got: the journal's [`Status`] once it ended,
/// `unfinished` while the journal shows it started and never ended, and
/// `not_run` for a playbook phase that never started.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    Passed,
    Failed,
    Skipped,
    Cancelled,
    Unfinished,
    NotRun,
}

impl From<Status> for Progress {
    fn from(s: Status) -> Progress {
        match s {
            Status::Passed => Progress::Passed,
            Status::Failed => Progress::Failed,
            Status::Skipped => Progress::Skipped,
            Status::Cancelled => Progress::Cancelled,
        }
    }
}

impl Progress {
    pub fn as_str(self) -> &'static str {
        match self {
            Progress::Passed => "passed",
            Progress::Failed => "failed",
            Progress::Skipped => "skipped",
            Progress::Cancelled => "cancelled",
            Progress::Unfinished => "unfinished",
            Progress::NotRun => "not_run",
        }
    }
}

/// A metric's verdict, for people.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Verdict {
    #[serde(rename = "met")]
    Met,
    #[serde(rename = "missed")]
    Missed,
    #[serde(rename = "not measured")]
    NotMeasured,
    #[serde(rename = "no target")]
    NoTarget,
    /// A target and a value, but no judgement was journaled.
    #[serde(rename = "not judged")]
    NotJudged,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "missed",
            Verdict::NotMeasured => "not measured",
            Verdict::NoTarget => "no target",
            Verdict::NotJudged => "not judged",
        }
    }
}

/// A guardrail's state at one of its events.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailState {
    Ok,
    Failing,
    Breached,
}

impl GuardrailState {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardrailState::Ok => "ok",
            GuardrailState::Failing => "failing",
            GuardrailState::Breached => "breached",
        }
    }
}

/// Where a change the drill made stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    Undone,
    StillApplied,
    ApplyFailed,
}

/// Whether everything the drill changed was put back.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RestorationStatus {
    Restored,
    #[default]
    NothingChanged,
    StillApplied,
}

impl ChangeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Undone => "undone",
            ChangeState::StillApplied => "still_applied",
            ChangeState::ApplyFailed => "apply_failed",
        }
    }
}

impl RestorationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RestorationStatus::Restored => "restored",
            RestorationStatus::NothingChanged => "nothing_changed",
            RestorationStatus::StillApplied => "still_applied",
        }
    }
}

/// The word report.json uses, for people too.
macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(
    Progress,
    Verdict,
    GuardrailState,
    ChangeState,
    RestorationStatus
);
