//! The report model: one typed structure built from a journal's events,
//! which every format renders (report.json is this model serialized; the
//! Markdown template receives it as its context; JUnit and the charts read it).
//!
//! Building it is a pure function of the events: no clock, no network, no
//! files. Times are UTC RFC 3339 with milliseconds; `t` fields are offsets
//! from the reference instant (the first `isolated` marker, or the run's
//! first event when the drill never isolated anything), written `T+00:01:23.4`.

use super::findings::{ActionItem, Finding, NoteInfo, RawNote};
use crate::journal::event::NoteKind;
use crate::journal::event::{CancelReason, Outcome, Status};
use crate::journal::{Event, EventKind};
use crate::playbook::MetricRole;
use crate::playbook::expect::Comparison;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

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
    pub script: super::script::ScriptInfo,
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
    pub reason: String,
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
    /// met | missed | not measured | no target
    pub verdict: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseInfo {
    pub name: String,
    pub kind: String,
    /// passed | failed | skipped | cancelled | unfinished | not_run
    pub status: String,
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
    pub status: String,
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
    pub state: String,
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
    pub status: String,
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
    pub state: String,
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
    /// phase | step | change | undo | marker | guardrail | manual | signal | cancel | warning | run | restore | note
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

/// RFC 3339 with milliseconds, `Z`.
pub fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `T+00:01:23.4` / `T-00:00:05.0`.
pub fn t_offset(secs: f64) -> String {
    let sign = if secs < 0.0 { '-' } else { '+' };
    let tenths = (secs.abs() * 10.0).round() as u64;
    let (h, rem) = (tenths / 36_000, tenths % 36_000);
    let (m, rem) = (rem / 600, rem % 600);
    format!("T{sign}{h:02}:{m:02}:{:02}.{}", rem / 10, rem % 10)
}

/// Seconds for people: `0.35 s`, `42.1 s`, `3 min 12 s`, `2 h 05 min`.
pub fn human_secs(s: f64) -> String {
    if !s.is_finite() {
        return format!("{s}");
    }
    let a = s.abs();
    let sign = if s < 0.0 { "-" } else { "" };
    if a < 1.0 {
        format!("{sign}{a:.2} s")
    } else if a < 60.0 {
        format!("{sign}{a:.1} s")
    } else if a < 3600.0 {
        let r = a.round() as u64;
        format!("{sign}{} min {:02} s", r / 60, r % 60)
    } else {
        let r = (a / 60.0).round() as u64;
        format!("{sign}{} h {:02} min", r / 60, r % 60)
    }
}

/// A metric value with its unit, for people.
pub fn display_value(v: f64, unit: &str) -> String {
    match unit {
        "seconds" | "s" => human_secs(v),
        "ratio" => format!("{}%", trim_num(v * 100.0)),
        "percent" | "%" => format!("{}%", trim_num(v)),
        "count" | "" => trim_num(v),
        u => format!("{} {u}", trim_num(v)),
    }
}

/// A number without noise: `17`, `0.25`, `1234.5`.
pub fn trim_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
        Status::Cancelled => "cancelled",
    }
}

fn reason_str(r: CancelReason) -> &'static str {
    match r {
        CancelReason::StepFailed => "step_failed",
        CancelReason::Deadline => "deadline",
        CancelReason::Guardrail => "guardrail",
        CancelReason::Signal => "signal",
    }
}

/// What the playbook says about a step, read from the resolved playbook
/// journaled in `run_started` (the report never needs the YAML file).
#[derive(Default)]
struct StepDef {
    expectation: Option<String>,
    mark: Option<String>,
    record: Option<String>,
}

fn step_defs(playbook: &Value) -> HashMap<String, StepDef> {
    let mut out = HashMap::new();
    let mut add = |s: &Value| {
        let Some(name) = s.get("name").and_then(Value::as_str) else {
            return;
        };
        out.insert(
            name.to_string(),
            StepDef {
                expectation: expectation_of(s),
                mark: s.get("mark").and_then(Value::as_str).map(str::to_string),
                record: s.get("record").and_then(Value::as_str).map(str::to_string),
            },
        );
    };
    if let Some(phases) = playbook.get("phases").and_then(Value::as_array) {
        for p in phases {
            for key in ["steps", "watches"] {
                for s in p.get(key).and_then(Value::as_array).into_iter().flatten() {
                    add(s);
                }
            }
        }
    }
    for g in playbook
        .get("guardrails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(s) = g.get("step") {
            add(s);
        }
    }
    out
}

/// The conditions a step's spec states, in words: every `expect*`,
/// `*_matches`, `status` and `condition` field that is set, and its wait.
fn expectation_of(step: &Value) -> Option<String> {
    let spec = step.get("spec")?.as_object()?;
    let kind = spec.get("kind").and_then(Value::as_str).unwrap_or("");
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
    if parts.is_empty() && kind == "shell" && spec.get("read_only") == Some(&Value::Bool(true)) {
        parts.push("exit code 0".into());
    }
    if let Some(w) = step.get("wait").filter(|w| !w.is_null()) {
        let every = w.get("every").and_then(Value::as_str).unwrap_or("?");
        let timeout = w.get("timeout").and_then(Value::as_str).unwrap_or("?");
        parts.push(format!(
            "polled every {every} until it holds, for at most {timeout}"
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Metric definitions of the playbook (for descriptions, and for runs that
/// ended before metrics were evaluated).
struct MetricDef {
    name: String,
    between: Option<(String, String)>,
    record: Option<(String, Option<String>)>,
    target: Option<String>,
    description: Option<String>,
    role: Option<MetricRole>,
}

impl MetricDef {
    fn inputs(&self) -> Vec<String> {
        match (&self.between, &self.record) {
            (Some((from, to)), _) => vec![from.clone(), to.clone()],
            (None, Some((rec, _))) => vec![rec.clone()],
            (None, None) => vec![],
        }
    }
}

fn metric_defs(playbook: &Value) -> Vec<MetricDef> {
    playbook
        .get("metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let name = m.get("name")?.as_str()?.to_string();
            let src = m.get("source");
            let between = src.and_then(|s| s.get("between")).and_then(|b| {
                Some((
                    b.get("from")?.as_str()?.to_string(),
                    b.get("to")?.as_str()?.to_string(),
                ))
            });
            let record = src.and_then(|s| s.get("value")).and_then(|v| {
                Some((
                    v.get("record")?.as_str()?.to_string(),
                    v.get("unit").and_then(Value::as_str).map(str::to_string),
                ))
            });
            Some(MetricDef {
                name,
                between,
                record,
                target: m.get("target").and_then(Value::as_str).map(str::to_string),
                description: m
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                role: m
                    .get("role")
                    .and_then(Value::as_str)
                    .and_then(MetricRole::parse),
            })
        })
        .collect()
}

fn is_data_safety(text: &str) -> bool {
    const WORDS: [&str; 8] = [
        "canary", "residen", "conflict", "lost", "replica", "lag", "catch", "postgres",
    ];
    text.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| WORDS.iter().any(|p| w.starts_with(p)))
}

/// Times every `t` is computed from.
#[derive(Clone, Copy)]
struct Clock {
    start: DateTime<Utc>,
    reference: DateTime<Utc>,
}

impl Clock {
    fn offset(&self, t: DateTime<Utc>) -> f64 {
        (t - self.reference).num_milliseconds() as f64 / 1000.0
    }

    fn t(&self, t: DateTime<Utc>) -> String {
        t_offset(self.offset(t))
    }
}

/// Build the report of a run from its journal's events.
pub fn build(events: &[Event]) -> Report {
    let start = events.first().map(|e| e.ts).unwrap_or_default();
    let isolated = events.iter().find_map(|e| match &e.kind {
        EventKind::Marker { name, at, .. } if name == REFERENCE_MARKER => Some(*at),
        _ => None,
    });
    let mut b = Builder::new(start, isolated);
    for e in events {
        b.feed(e);
    }
    b.finish()
}

/// Builds a report one event at a time (a 24-hour journal is never held in
/// memory whole). `isolated` is the first `isolated` marker's instant, found
/// beforehand, since every `t` counts from it.
pub struct Builder {
    c: Clock,
    events: usize,
    last_ts: Option<DateTime<Utc>>,
    /// The events `pending_from_journal` needs (intents, failures, undos).
    restoration_events: Vec<Event>,
    run: RunInfo,
    playbook: Value,
    outcome: Option<Outcome>,
    finished_at: Option<DateTime<Utc>>,
    cancelled: Option<CancelInfo>,
    markers: BTreeMap<String, String>,
    marker_details: Vec<MarkerInfo>,
    metric_events: Vec<(String, MetricInfo)>,
    phases: Vec<PhaseInfo>,
    open_phase: HashMap<String, (usize, DateTime<Utc>)>,
    steps: Vec<StepInfo>,
    open_step: HashMap<(String, String), usize>,
    guardrails: GuardrailInfo,
    manual: Vec<ManualInfo>,
    signals: Vec<SignalInfo>,
    changes: Vec<ChangeInfo>,
    change_idx: HashMap<String, usize>,
    restore_runs: Vec<RestoreRun>,
    recorded: Vec<RecordedInfo>,
    canary: Option<CanaryInfo>,
    clock: ClockInfo,
    timeline: Vec<(DateTime<Utc>, &'static str, String)>,
    warnings: Vec<WarningInfo>,
    script: super::script::ScriptInfo,
    artifacts: Vec<ArtifactInfo>,
    notes: Vec<RawNote>,
}

impl Builder {
    pub fn new(start: DateTime<Utc>, isolated: Option<DateTime<Utc>>) -> Builder {
        Builder {
            c: Clock {
                start,
                reference: isolated.unwrap_or(start),
            },
            events: 0,
            last_ts: None,
            restoration_events: vec![],
            run: RunInfo {
                started_at: rfc(start),
                ..Default::default()
            },
            playbook: Value::Null,
            outcome: None,
            finished_at: None,
            cancelled: None,
            markers: BTreeMap::new(),
            marker_details: vec![],
            metric_events: vec![],
            phases: vec![],
            open_phase: HashMap::new(),
            steps: vec![],
            open_step: HashMap::new(),
            guardrails: GuardrailInfo::default(),
            manual: vec![],
            signals: vec![],
            changes: vec![],
            change_idx: HashMap::new(),
            restore_runs: vec![],
            recorded: vec![],
            canary: None,
            clock: ClockInfo::default(),
            timeline: vec![],
            warnings: vec![],
            script: Default::default(),
            artifacts: vec![],
            notes: vec![],
        }
    }

    /// Take in the next event of the journal.
    pub fn feed(&mut self, e: &Event) {
        let c = self.c;
        let ts = e.ts;
        self.events += 1;
        self.last_ts = Some(ts);
        if matches!(
            e.kind,
            EventKind::Intent { .. } | EventKind::ApplyFailed { .. } | EventKind::Undone { .. }
        ) {
            self.restoration_events.push(e.clone());
        }
        self.script.feed(ts, &e.kind, &|t| c.t(t));
        match &e.kind {
            EventKind::RunStarted {
                run_id,
                drill,
                description,
                owner,
                playbook_path,
                playbook_hash,
                playbook: pb,
                environment,
                tool_version,
                operator,
                unattended,
                vars,
                ..
            } => {
                if let Some(v) = vars.as_object() {
                    self.run.vars = v.clone().into_iter().collect();
                }
                self.run.on_call = ["on_call", "oncall"]
                    .iter()
                    .find_map(|k| vars.get(k)?.as_str().map(str::to_string))
                    .filter(|s| !s.trim().is_empty());
                self.run.hypothesis = pb
                    .get("hypothesis")
                    .and_then(Value::as_str)
                    .map(|h| h.trim().to_string());
                self.run.run_id = run_id.clone();
                self.run.drill = drill.clone();
                self.run.description = description.as_ref().map(|d| d.trim().to_string());
                self.run.owner = owner.clone();
                self.run.playbook_path = playbook_path.clone();
                self.run.playbook_hash = playbook_hash.clone();
                self.run.environment = environment.clone();
                self.run.tool_version = tool_version.clone();
                self.run.operator = operator.clone();
                self.run.unattended = *unattended;
                self.playbook = pb.clone();
                self.timeline.push((
                    ts,
                    "run",
                    format!(
                        "run started by {operator}{}",
                        if *unattended { " (unattended)" } else { "" }
                    ),
                ));
            }
            EventKind::LockAcquired { .. } => {}
            // The drill script's events feed `script` (above); the notable ones reach the timeline.
            EventKind::HoldStarted {
                phase,
                hold_seconds,
                ..
            } => self.timeline.push((
                ts,
                "phase",
                format!(
                    "observation window of `{phase}` started ({})",
                    human_secs(*hold_seconds)
                ),
            )),
            EventKind::InvariantBroken {
                phase,
                name,
                since,
                summary,
                ..
            } => self.timeline.push((
                *since,
                "invariant",
                format!("invariant `{name}` broke during the hold of `{phase}`: {summary}"),
            )),
            EventKind::BudgetExceeded {
                phase,
                budget_seconds,
                actual_seconds,
                ..
            } => self.timeline.push((
                ts,
                "budget",
                format!(
                    "phase `{phase}` took {} against a budget of {}",
                    human_secs(*actual_seconds),
                    human_secs(*budget_seconds)
                ),
            )),
            EventKind::RunContext {
                host,
                git_revision,
                git_dirty,
                aws_identities,
            } => {
                self.run.host = Some(host.clone());
                self.run.git_revision = git_revision.as_ref().map(|r| {
                    let dirty = if *git_dirty == Some(true) {
                        "+dirty"
                    } else {
                        ""
                    };
                    format!("{}{dirty}", &r[..r.len().min(12)])
                });
                self.run.aws_identities = aws_identities.clone();
            }
            EventKind::LagBudgetBreached {
                phase,
                class,
                lag_seconds,
                max_lag_seconds,
                ..
            } => self.timeline.push((
                ts,
                "lag",
                format!(
                    "lag budget of `{class}` breached in `{phase}`: {} over {}",
                    human_secs(*lag_seconds),
                    human_secs(*max_lag_seconds)
                ),
            )),
            EventKind::InvariantState { .. }
            | EventKind::HoldFinished { .. }
            | EventKind::LagBudgetChecked { .. } => {}
            EventKind::ClockOffset {
                source,
                offset_seconds,
                round_trip_seconds,
            } => self.clock.offsets.push(ClockOffsetInfo {
                at: rfc(ts),
                source: source.clone(),
                offset_seconds: *offset_seconds,
                round_trip_seconds: *round_trip_seconds,
            }),
            EventKind::PhaseStarted {
                phase,
                kind,
                budget_seconds,
            } => {
                self.open_phase
                    .insert(phase.clone(), (self.phases.len(), ts));
                self.phases.push(PhaseInfo {
                    name: phase.clone(),
                    kind: kind.clone(),
                    status: "unfinished".into(),
                    started_at: Some(rfc(ts)),
                    finished_at: None,
                    t: Some(c.t(ts)),
                    duration_seconds: None,
                    budget_seconds: *budget_seconds,
                    detail: None,
                });
                self.timeline
                    .push((ts, "phase", format!("phase `{phase}` started")));
            }
            EventKind::PhaseFinished {
                phase,
                status,
                detail,
                ..
            } => {
                if let Some((i, st)) = self.open_phase.remove(phase) {
                    let p = &mut self.phases[i];
                    p.status = status_str(*status).into();
                    p.finished_at = Some(rfc(ts));
                    p.duration_seconds = Some(secs_between(st, ts));
                    p.detail = detail.clone();
                }
                let more = detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                self.timeline.push((
                    ts,
                    "phase",
                    format!("phase `{phase}` {}{more}", status_str(*status)),
                ));
            }
            EventKind::StepStarted {
                phase,
                step,
                kind,
                description,
                watch,
            } => {
                self.open_step
                    .insert((phase.clone(), step.clone()), self.steps.len());
                self.steps.push(StepInfo {
                    phase: phase.clone(),
                    name: step.clone(),
                    kind: kebab(kind),
                    watch: *watch,
                    status: "unfinished".into(),
                    started_at: rfc(ts),
                    t: c.t(ts),
                    finished_at: None,
                    duration_seconds: None,
                    call: description.clone(),
                    expectation: None,
                    summary: String::new(),
                    value: None,
                    evidence: Value::Null,
                    attempts: 0,
                    attempt_log: vec![],
                    error: None,
                    marker: None,
                    mark: None,
                    record: None,
                });
            }
            EventKind::StepAttempt {
                phase,
                step,
                attempt,
                ok,
                summary,
                error,
            } => {
                if let Some(&i) = self.open_step.get(&(phase.clone(), step.clone())) {
                    let s = &mut self.steps[i];
                    s.attempts = s.attempts.max(*attempt);
                    if s.attempt_log.len() < 20 {
                        s.attempt_log.push(AttemptInfo {
                            at: rfc(ts),
                            attempt: *attempt,
                            ok: *ok,
                            summary: summary.clone(),
                            error: error.clone(),
                        });
                    }
                }
            }
            EventKind::StepFinished {
                phase,
                step,
                kind,
                status,
                summary,
                value,
                evidence,
                attempts,
                duration_seconds,
                error,
            } => {
                let i = match self.open_step.remove(&(phase.clone(), step.clone())) {
                    Some(i) => i,
                    None => {
                        // Finished without a start (a step self.cancelled before it began).
                        self.steps.push(StepInfo {
                            phase: phase.clone(),
                            name: step.clone(),
                            kind: kebab(kind),
                            watch: false,
                            status: String::new(),
                            started_at: rfc(ts),
                            t: c.t(ts),
                            finished_at: None,
                            duration_seconds: None,
                            call: String::new(),
                            expectation: None,
                            summary: String::new(),
                            value: None,
                            evidence: Value::Null,
                            attempts: 0,
                            attempt_log: vec![],
                            error: None,
                            marker: None,
                            mark: None,
                            record: None,
                        });
                        self.steps.len() - 1
                    }
                };
                let s = &mut self.steps[i];
                s.status = status_str(*status).into();
                s.finished_at = Some(rfc(ts));
                s.duration_seconds = Some(*duration_seconds);
                s.summary = summary.clone();
                s.value = *value;
                s.evidence = evidence.clone();
                s.attempts = (*attempts).max(s.attempts);
                s.error = error.clone();
                let what = if s.watch { "watch" } else { "step" };
                let tries = if *attempts > 1 {
                    format!(", {attempts} attempts")
                } else {
                    String::new()
                };
                self.timeline.push((
                    ts,
                    "step",
                    format!(
                        "{what} `{step}` {} in {}{tries}: {}",
                        status_str(*status),
                        human_secs(*duration_seconds),
                        one_line(summary, 160)
                    ),
                ));
            }
            EventKind::Intent {
                id,
                phase,
                step,
                description,
                pre_state,
                undo,
            } => {
                self.change_idx.insert(id.clone(), self.changes.len());
                let undo_text = undo
                    .as_ref()
                    .and_then(|u| u.get("description"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                self.changes.push(ChangeInfo {
                    id: id.clone(),
                    phase: phase.clone(),
                    step: step.clone(),
                    what: description.clone(),
                    undo: undo_text,
                    pre_state: pre_state.clone(),
                    intent_at: rfc(ts),
                    applied_at: None,
                    certain: None,
                    state: "still_applied".into(),
                    undone_at: None,
                    undo_reason: None,
                    errors: vec![],
                });
                self.timeline.push((
                    ts,
                    "change",
                    format!("changing (step `{step}`): {}", one_line(description, 160)),
                ));
            }
            EventKind::Applied { id, certain } => {
                if let Some(&i) = self.change_idx.get(id) {
                    self.changes[i].applied_at = Some(rfc(ts));
                    self.changes[i].certain = Some(*certain);
                    let step = &self.changes[i].step;
                    self.timeline.push((
                        ts,
                        "change",
                        if *certain {
                            format!("change by `{step}` applied")
                        } else {
                            format!("change by `{step}` may have been applied (the call did not confirm)")
                        },
                    ));
                }
            }
            EventKind::ApplyFailed { id, error } => {
                if let Some(&i) = self.change_idx.get(id) {
                    self.changes[i].state = "apply_failed".into();
                    self.changes[i].errors.push(error.clone());
                    self.timeline.push((
                        ts,
                        "change",
                        format!(
                            "change by `{}` failed before acting: {}",
                            self.changes[i].step,
                            one_line(error, 160)
                        ),
                    ));
                }
            }
            EventKind::UndoStarted { id, reason } => {
                if let Some(&i) = self.change_idx.get(id) {
                    self.changes[i].undo_reason = Some(reason.clone());
                    self.timeline.push((
                        ts,
                        "undo",
                        format!("undoing `{}` ({reason})", self.changes[i].step),
                    ));
                }
            }
            EventKind::Undone { id } => {
                if let Some(&i) = self.change_idx.get(id) {
                    self.changes[i].state = "undone".into();
                    self.changes[i].undone_at = Some(rfc(ts));
                    self.timeline
                        .push((ts, "undo", format!("`{}` undone", self.changes[i].step)));
                }
            }
            EventKind::UndoFailed { id, error } => {
                if let Some(&i) = self.change_idx.get(id) {
                    self.changes[i].errors.push(error.clone());
                    self.timeline.push((
                        ts,
                        "undo",
                        format!(
                            "undo of `{}` FAILED: {}",
                            self.changes[i].step,
                            one_line(error, 160)
                        ),
                    ));
                }
            }
            EventKind::Marker {
                name,
                at,
                observed_at,
                resolution_seconds,
                source,
                step,
            } => {
                self.markers.entry(name.clone()).or_insert_with(|| rfc(*at));
                self.marker_details.push(MarkerInfo {
                    name: name.clone(),
                    at: rfc(*at),
                    t: c.t(*at),
                    observed_at: rfc(*observed_at),
                    noticed_after_seconds: secs_between(*at, *observed_at),
                    resolution_seconds: *resolution_seconds,
                    source: source.clone(),
                    step: step.clone(),
                });
                if let Some(s) = self.steps.iter_mut().rev().find(|s| &s.name == step) {
                    s.marker = Some(name.clone());
                }
                let res = resolution_seconds
                    .map(|r| format!(" (± {})", human_secs(r)))
                    .unwrap_or_default();
                self.timeline.push((
                    *at,
                    "marker",
                    format!("marker `{name}`{res}: {source}, set by `{step}`"),
                ));
            }
            EventKind::Recorded {
                name,
                value,
                unit,
                step,
            } => self.recorded.push(RecordedInfo {
                name: name.clone(),
                value: *value,
                unit: unit.clone(),
                step: step.clone(),
                at: rfc(ts),
            }),
            EventKind::GuardrailArmed { names } => {
                self.guardrails.names = names.clone();
                self.guardrails.armed_at = Some(rfc(ts));
                self.timeline.push((
                    ts,
                    "guardrail",
                    format!("guardrails armed: {}", names.join(", ")),
                ));
            }
            EventKind::GuardrailState { name, ok, summary } => {
                let state = if *ok { "ok" } else { "failing" };
                self.guardrails.events.push(GuardrailEvent {
                    at: rfc(ts),
                    t: c.t(ts),
                    name: name.clone(),
                    state: state.into(),
                    summary: summary.clone(),
                });
                self.timeline.push((
                    ts,
                    "guardrail",
                    format!("guardrail `{name}` {state}: {}", one_line(summary, 160)),
                ));
            }
            EventKind::GuardrailBreached {
                name,
                since,
                summary,
            } => {
                self.guardrails.events.push(GuardrailEvent {
                    at: rfc(ts),
                    t: c.t(ts),
                    name: name.clone(),
                    state: "breached".into(),
                    summary: summary.clone(),
                });
                if !self.guardrails.breached.contains(name) {
                    self.guardrails.breached.push(name.clone());
                }
                self.timeline.push((
                    ts,
                    "guardrail",
                    format!(
                        "guardrail `{name}` BREACHED (failing since {}): {}",
                        c.t(*since),
                        one_line(summary, 160)
                    ),
                ));
            }
            EventKind::ManualPrompt { step, prompt } => {
                self.manual.push(ManualInfo {
                    step: step.clone(),
                    prompt: prompt.clone(),
                    prompted_at: Some(rfc(ts)),
                    confirmed_at: None,
                    t: None,
                    by: None,
                    answer: None,
                    automatic: false,
                });
                self.timeline.push((
                    ts,
                    "manual",
                    format!("asked a person (step `{step}`): {}", one_line(prompt, 160)),
                ));
            }
            EventKind::ManualConfirmed {
                step,
                by,
                answer,
                automatic,
            } => {
                let i = match self
                    .manual
                    .iter()
                    .rposition(|m| &m.step == step && m.confirmed_at.is_none())
                {
                    Some(i) => i,
                    None => {
                        self.manual.push(ManualInfo {
                            step: step.clone(),
                            prompt: String::new(),
                            prompted_at: None,
                            confirmed_at: None,
                            t: None,
                            by: None,
                            answer: None,
                            automatic: false,
                        });
                        self.manual.len() - 1
                    }
                };
                let m = &mut self.manual[i];
                m.confirmed_at = Some(rfc(ts));
                m.t = Some(c.t(ts));
                m.by = Some(by.clone());
                m.answer = answer.clone();
                m.automatic = *automatic;
                let how = if *automatic {
                    "confirmed automatically"
                } else {
                    "confirmed"
                };
                let ans = answer
                    .as_deref()
                    .map(|a| format!(", answer: {}", one_line(a, 120)))
                    .unwrap_or_default();
                self.timeline
                    .push((ts, "manual", format!("step `{step}` {how} by {by}{ans}")));
            }
            EventKind::Signal {
                signal,
                count,
                action,
            } => {
                self.signals.push(SignalInfo {
                    at: rfc(ts),
                    t: c.t(ts),
                    signal: signal.clone(),
                    count: *count,
                    action: action.clone(),
                });
                self.timeline.push((
                    ts,
                    "signal",
                    format!("{signal} received (#{count}): {action}"),
                ));
            }
            EventKind::Cancelled { reason, detail } => {
                if self.cancelled.is_none() {
                    self.cancelled = Some(CancelInfo {
                        at: rfc(ts),
                        t: c.t(ts),
                        reason: reason_str(*reason).into(),
                        detail: detail.clone(),
                    });
                }
                self.timeline
                    .push((ts, "cancel", format!("drill stopping: {detail}")));
            }
            EventKind::Warning { message, step } => {
                self.warnings.push(WarningInfo {
                    at: rfc(ts),
                    t: c.t(ts),
                    message: message.clone(),
                    step: step.clone(),
                });
                self.timeline.push((
                    ts,
                    "warning",
                    format!("warning: {}", one_line(message, 160)),
                ));
            }
            EventKind::Metric {
                name,
                value,
                unit,
                target,
                met,
                resolution_seconds,
                detail,
            } => self.metric_events.push((
                name.clone(),
                metric_info(
                    *value,
                    unit,
                    target.clone(),
                    *met,
                    *resolution_seconds,
                    detail.clone(),
                    None,
                ),
            )),
            EventKind::CanaryWrite {
                step,
                region,
                acked_at,
                ..
            } => {
                let c = self.canary.get_or_insert_with(|| CanaryInfo {
                    writes: 0,
                    by_region: BTreeMap::new(),
                    first_acked_at: rfc(*acked_at),
                    last_acked_at: rfc(*acked_at),
                    steps: vec![],
                });
                c.writes += 1;
                *c.by_region.entry(region.clone()).or_insert(0) += 1;
                c.last_acked_at = rfc(*acked_at);
                if !c.steps.contains(step) {
                    c.steps.push(step.clone());
                }
            }
            EventKind::Artifact {
                name,
                path,
                description,
            } => self.artifacts.push(ArtifactInfo {
                name: name.clone(),
                path: path.clone(),
                description: description.clone(),
            }),
            EventKind::RunFinished {
                outcome: o,
                exit_code,
                ..
            } => {
                self.outcome = Some(*o);
                self.finished_at = Some(ts);
                self.run.exit_code = Some(*exit_code);
                self.timeline
                    .push((ts, "run", format!("run finished: {}", o.as_str())));
            }
            EventKind::RestoreStarted {
                operator,
                by,
                reason,
                ..
            } => {
                let by_guard = by.as_deref() == Some("guard");
                let who = match reason {
                    Some(r) if by_guard => format!("{operator}, the dead-man's switch: {r}"),
                    _ => operator.clone(),
                };
                self.restore_runs.push(RestoreRun {
                    operator: who.clone(),
                    started_at: rfc(ts),
                    finished_at: None,
                    still_applied: None,
                });
                let what = if by_guard {
                    format!("the guard took over and started restoring ({who})")
                } else {
                    format!("`gameday restore` started by {operator}")
                };
                self.timeline.push((ts, "restore", what));
            }
            EventKind::GuardStarted {
                pid,
                lease_seconds,
                host,
            } => self.timeline.push((
                ts,
                "run",
                format!("guard (dead-man's switch) pid {pid} on {host}, lease {lease_seconds} s"),
            )),
            EventKind::NotifyFailed {
                target,
                about,
                error,
            } => self.warnings.push(WarningInfo {
                at: rfc(ts),
                t: c.t(ts),
                message: format!("notification `{about}` to `{target}` failed: {error}"),
                step: None,
            }),
            EventKind::Note {
                note,
                text,
                by,
                owner,
                for_finding,
                at,
            } => {
                let when = at.unwrap_or(ts);
                let what = match note {
                    NoteKind::Note => "note".to_string(),
                    NoteKind::Finding => "finding".to_string(),
                    NoteKind::Action => match owner {
                        Some(o) => format!("action item for {o}"),
                        None => "action item".to_string(),
                    },
                };
                self.timeline.push((
                    when,
                    "note",
                    format!("{what} by {by}: {}", one_line(text, 160)),
                ));
                self.notes.push(RawNote {
                    kind: *note,
                    text: text.clone(),
                    by: by.clone(),
                    owner: owner.clone(),
                    for_finding: for_finding.clone(),
                    at: rfc(when),
                    t: c.t(when),
                });
            }
            EventKind::RestoreFinished { still_applied } => {
                if let Some(r) = self.restore_runs.last_mut() {
                    r.finished_at = Some(rfc(ts));
                    r.still_applied = Some(still_applied.clone());
                }
                let what = if still_applied.is_empty() {
                    "everything is undone".to_string()
                } else {
                    format!("still applied: {}", still_applied.join(", "))
                };
                self.timeline
                    .push((ts, "restore", format!("restoration finished: {what}")));
            }
        }
    }

    /// The report of everything fed.
    pub fn finish(self) -> Report {
        let c = self.c;
        let start = c.start;
        let Builder {
            mut run,
            playbook,
            outcome,
            finished_at,
            cancelled,
            markers,
            marker_details,
            metric_events,
            mut phases,
            mut steps,
            guardrails,
            manual,
            signals,
            mut changes,
            restore_runs,
            recorded,
            canary,
            mut clock,
            mut timeline,
            warnings,
            mut script,
            artifacts,
            notes,
            ..
        } = self;

        // Expectations from the playbook.
        let defs = step_defs(&playbook);
        for s in &mut steps {
            if let Some(d) = defs.get(&s.name) {
                s.expectation = d.expectation.clone();
                s.mark = d.mark.clone();
                s.record = d.record.clone();
            }
        }
        // Phases in the playbook's order, with those that never started.
        if let Some(pb_phases) = playbook.get("phases").and_then(Value::as_array) {
            let mut ran = std::mem::take(&mut phases);
            for p in pb_phases {
                let (Some(name), Some(kind)) = (
                    p.get("name").and_then(Value::as_str),
                    p.get("kind").and_then(Value::as_str),
                ) else {
                    continue;
                };
                match ran.iter().position(|x| x.name == name) {
                    Some(i) => phases.push(ran.remove(i)),
                    None => phases.push(PhaseInfo {
                        name: name.into(),
                        kind: kind.into(),
                        status: "not_run".into(),
                        started_at: None,
                        finished_at: None,
                        t: None,
                        duration_seconds: None,
                        budget_seconds: None,
                        detail: Some("never started".into()),
                    }),
                }
            }
            phases.append(&mut ran);
        }

        // Still applied, as `gameday restore` sees it.
        let pending = crate::engine::restore::pending_from_journal(&self.restoration_events);
        for c in &mut changes {
            if c.state != "apply_failed" {
                c.state = if pending.iter().any(|a| a.id == c.id) {
                    "still_applied"
                } else {
                    "undone"
                }
                .into();
            }
        }
        let still_applied: Vec<ChangeInfo> = changes
            .iter()
            .filter(|c| c.state == "still_applied")
            .cloned()
            .collect();
        let restoration = Restoration {
            status: if !still_applied.is_empty() {
                "still_applied"
            } else if changes.iter().all(|c| c.state == "apply_failed") {
                "nothing_changed"
            } else {
                "restored"
            }
            .into(),
            still_applied,
            changes,
            restore_runs,
        };

        // Metrics: as evaluated at the end of the run, or from markers and
        // recorded values when the run never got there.
        let mdefs = metric_defs(&playbook);
        let mut metrics: BTreeMap<String, MetricInfo> = BTreeMap::new();
        if metric_events.is_empty() {
            for d in &mdefs {
                metrics.insert(d.name.clone(), provisional_metric(d, &markers, &recorded));
            }
        } else {
            for (name, mut m) in metric_events {
                let def = mdefs.iter().find(|d| d.name == name);
                m.description = def.and_then(|d| d.description.clone());
                m.role = def.and_then(|d| d.role);
                m.inputs = def.map(MetricDef::inputs).unwrap_or_default();
                metrics.insert(name, m);
            }
        }

        // A metric named exactly like a role (`ttd`) has that role unless
        // it declares another or another metric declares it (older playbooks).
        let declared: Vec<MetricRole> = metrics.values().filter_map(|m| m.role).collect();
        for (name, m) in metrics.iter_mut() {
            if m.role.is_none()
                && let Some(r) = MetricRole::parse(name).filter(|r| !declared.contains(r))
            {
                m.role = Some(r);
            }
        }

        let last_ts = self.last_ts.unwrap_or(start);
        let end = finished_at.unwrap_or(last_ts);
        run.finished_at = Some(rfc(end));
        run.duration_seconds = Some(secs_between(start, end));
        run.duration = human_secs(secs_between(start, end));
        let has_isolated = markers.contains_key(REFERENCE_MARKER);
        run.reference = Reference {
            marker: has_isolated.then(|| REFERENCE_MARKER.to_string()),
            at: rfc(c.reference),
            label: if has_isolated {
                "isolation (the `isolated` marker)".into()
            } else {
                "the start of the run (nothing was isolated)".into()
            },
        };

        let outcome = outcome.unwrap_or(Outcome::Incomplete);
        // A later `gameday restore` may have undone what a crashed run left.
        let outcome = if outcome != Outcome::Incomplete && !restoration.still_applied.is_empty() {
            Outcome::RestoreFailed
        } else {
            outcome
        };

        let data_steps: Vec<usize> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| is_data_safety(&s.kind) || is_data_safety(&s.name))
            .map(|(i, _)| i)
            .collect();
        let data_recorded: Vec<usize> = recorded
            .iter()
            .enumerate()
            .filter(|(_, r)| is_data_safety(&r.name))
            .map(|(i, _)| i)
            .collect();

        clock.notes = clock_notes(&clock.offsets, &marker_details);

        let mut timeline: Vec<TimelineEntry> = {
            timeline.sort_by_key(|(t, _, _)| *t);
            timeline
                .into_iter()
                .map(|(t, kind, text)| TimelineEntry {
                    at: rfc(t),
                    t: c.t(t),
                    offset_seconds: c.offset(t),
                    kind: kind.into(),
                    text,
                })
                .collect()
        };
        timeline.shrink_to_fit();

        script.finish(&phases);
        let mut report = Report {
            schema_version: SCHEMA_VERSION,
            run,
            outcome,
            outcome_line: String::new(),
            cancelled,
            markers,
            marker_details,
            metrics,
            phases,
            steps,
            guardrails,
            manual,
            signals,
            restoration,
            recorded,
            data_safety: DataSafety {
                canary,
                steps: data_steps,
                recorded: data_recorded,
            },
            clock,
            timeline,
            next_steps: vec![],
            findings: vec![],
            action_items: vec![],
            notes: vec![],
            warnings,
            script,
            artifacts,
            charts: vec![],
            phase_chart: None,
            previous: None,
            journal: JournalInfo {
                events: self.events,
                torn_tail: false,
                unreadable_lines: vec![],
                final_hash: None,
                chained: false,
            },
        };
        report.outcome_line = super::advice::outcome_line(&report);
        report.next_steps = super::advice::next_steps(&report);
        super::findings::attach(&mut report, notes);
        report
    }
}

/// Step kinds as playbooks write them (`canary-verify`), also for
/// journals written by versions that used snake_case.
fn kebab(kind: &str) -> String {
    kind.replace('_', "-")
}

fn secs_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

/// The first line of `s`, at most `max` characters.
pub fn one_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let more = s.trim().lines().count() > 1;
    if line.chars().count() > max {
        let cut: String = line.chars().take(max).collect();
        format!("{cut}…")
    } else if more {
        format!("{line} …")
    } else {
        line.to_string()
    }
}

pub(crate) fn metric_info(
    value: Option<f64>,
    unit: &str,
    target: Option<String>,
    met: Option<bool>,
    resolution: Option<f64>,
    detail: String,
    description: Option<String>,
) -> MetricInfo {
    let display = match value {
        Some(v) => display_value(v, unit),
        None => "not measured".into(),
    };
    let error_bar = match resolution {
        Some(r) if r > 0.0 => format!("± {}", human_secs(r)),
        _ => String::new(),
    };
    let verdict = match (met, &target, value) {
        (Some(true), _, _) => "met",
        (Some(false), _, _) => "missed",
        (_, _, None) => "not measured",
        (None, None, _) => "no target",
        (None, Some(_), _) => "not judged",
    };
    MetricInfo {
        value,
        unit: unit.to_string(),
        target,
        met,
        resolution_seconds: resolution,
        detail,
        description,
        role: None,
        inputs: vec![],
        display,
        error_bar,
        verdict: verdict.into(),
    }
}

/// A metric the run never evaluated (it stopped first), computed the way
/// `engine::metrics` would from what the journal holds.
fn provisional_metric(
    d: &MetricDef,
    markers: &BTreeMap<String, String>,
    recorded: &[RecordedInfo],
) -> MetricInfo {
    let parse = |s: &String| DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc());
    let (value, unit, detail) = if let Some((from, to)) = &d.between {
        match (
            markers.get(from).and_then(parse),
            markers.get(to).and_then(parse),
        ) {
            (Some(a), Some(b)) => (
                Some(secs_between(a, b)),
                "seconds".to_string(),
                format!("from `{from}` to `{to}` (the run ended before metrics were evaluated)"),
            ),
            (None, _) => (
                None,
                "seconds".into(),
                format!("marker `{from}` was never set"),
            ),
            (_, None) => (
                None,
                "seconds".into(),
                format!("marker `{to}` was never set"),
            ),
        }
    } else if let Some((rec, unit)) = &d.record {
        let unit = unit.clone().unwrap_or_else(|| "count".into());
        match recorded.iter().rev().find(|r| &r.name == rec) {
            Some(r) => (Some(r.value), unit, format!("recorded as `{rec}`")),
            None => (None, unit, format!("`{rec}` was never recorded")),
        }
    } else {
        (None, String::new(), "unknown metric source".into())
    };
    let met = match (&d.target, value) {
        (Some(t), Some(v)) => Comparison::parse(t).ok().map(|c| c.holds(v)),
        // The run stopped before it could be measured: not a verdict.
        _ => None,
    };
    let mut m = metric_info(
        value,
        &unit,
        d.target.clone(),
        met,
        None,
        detail,
        d.description.clone(),
    );
    m.role = d.role;
    m.inputs = d.inputs();
    m
}

fn clock_notes(offsets: &[ClockOffsetInfo], markers: &[MarkerInfo]) -> Vec<String> {
    let mut notes =
        vec!["All times are UTC, from the clock of the machine that ran the drill.".to_string()];
    for o in offsets {
        let dir = if o.offset_seconds >= 0.0 {
            "ahead of"
        } else {
            "behind"
        };
        notes.push(format!(
            "{}'s clock was {} {dir} ours (measured with a round trip of {}).{}",
            o.source,
            human_secs(o.offset_seconds.abs()),
            human_secs(o.round_trip_seconds),
            if o.offset_seconds.abs() > 1.0 {
                " Instants read from it are off by that much unless corrected."
            } else {
                ""
            }
        ));
    }
    for m in markers {
        let text = match m.resolution_seconds {
            Some(r) => format!(
                "`{}` is known to within {} ({}); the runner noticed it {} later.",
                m.name,
                human_secs(r),
                m.source,
                human_secs(m.noticed_after_seconds)
            ),
            None => format!(
                "`{}` is the moment step `{}` finished ({}), exact to the runner's clock.",
                m.name, m.step, m.source
            ),
        };
        notes.push(text);
    }
    notes
}
