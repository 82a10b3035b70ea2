//! Building the report model one event at a time (`Builder`), and
//! finishing it once the journal is read.

use super::defs::*;
use super::format::*;
use super::types::*;
use crate::engine::metrics::MetricInputs;
use crate::journal::event::Outcome;
use crate::journal::playbook::PlaybookView;
use crate::journal::{Event, EventKind};
use crate::playbook::MetricRole;
use crate::report::findings::RawNote;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// Times every `t` is computed from.
#[derive(Clone, Copy)]
pub(super) struct Clock {
    pub(super) start: DateTime<Utc>,
    pub(super) reference: DateTime<Utc>,
}

impl Clock {
    pub(super) fn offset(&self, t: DateTime<Utc>) -> f64 {
        (t - self.reference).num_milliseconds() as f64 / 1000.0
    }

    pub(super) fn t(&self, t: DateTime<Utc>) -> String {
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
    pub(super) c: Clock,
    pub(super) events: usize,
    pub(super) last_ts: Option<DateTime<Utc>>,
    /// The events `pending_from_journal` needs (intents, failures, undos).
    pub(super) restoration_events: Vec<Event>,
    pub(super) run: RunInfo,
    pub(super) playbook: PlaybookView,
    /// Markers and recorded values, for metrics the run never evaluated.
    pub(super) metric_inputs: MetricInputs,
    pub(super) outcome: Option<Outcome>,
    pub(super) finished_at: Option<DateTime<Utc>>,
    pub(super) cancelled: Option<CancelInfo>,
    pub(super) markers: BTreeMap<String, String>,
    pub(super) marker_details: Vec<MarkerInfo>,
    pub(super) metric_events: Vec<(String, MetricInfo)>,
    pub(super) phases: Vec<PhaseInfo>,
    pub(super) open_phase: HashMap<String, (usize, DateTime<Utc>)>,
    pub(super) steps: Vec<StepInfo>,
    pub(super) open_step: HashMap<(String, String), usize>,
    pub(super) guardrails: GuardrailInfo,
    pub(super) manual: Vec<ManualInfo>,
    pub(super) signals: Vec<SignalInfo>,
    pub(super) changes: Vec<ChangeInfo>,
    pub(super) change_idx: HashMap<String, usize>,
    pub(super) restore_runs: Vec<RestoreRun>,
    pub(super) recorded: Vec<RecordedInfo>,
    pub(super) canary: Option<CanaryInfo>,
    pub(super) clock: ClockInfo,
    pub(super) timeline: Vec<(DateTime<Utc>, &'static str, String)>,
    pub(super) warnings: Vec<WarningInfo>,
    pub(super) script: crate::report::script::ScriptInfo,
    pub(super) artifacts: Vec<ArtifactInfo>,
    pub(super) notes: Vec<RawNote>,
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
            playbook: PlaybookView::default(),
            metric_inputs: MetricInputs::default(),
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
}

impl Builder {
    /// The report of everything fed.
    pub fn finish(self) -> Report {
        let c = self.c;
        let start = c.start;
        let Builder {
            mut run,
            playbook,
            metric_inputs,
            outcome,
            finished_at,
            cancelled,
            markers,
            marker_details,
            metric_events,
            phases,
            mut steps,
            guardrails,
            manual,
            signals,
            changes,
            restore_runs,
            recorded,
            canary,
            mut clock,
            timeline,
            warnings,
            mut script,
            artifacts,
            notes,
            restoration_events,
            events,
            last_ts,
            ..
        } = self;

        with_step_defs(&playbook, &mut steps);
        let phases = in_playbook_order(&playbook, phases);
        let restoration = restoration_of(&restoration_events, changes, restore_runs);
        let metrics = metrics_of(&playbook, &metric_inputs, metric_events);

        let end = finished_at.unwrap_or(last_ts.unwrap_or(start));
        finish_run(&mut run, c, end, markers.contains_key(REFERENCE_MARKER));
        let outcome = final_outcome(outcome, &restoration);

        let data_safety = DataSafety {
            canary,
            steps: indices(&steps, |s| {
                is_data_safety(&s.kind) || is_data_safety(&s.name)
            }),
            recorded: indices(&recorded, |r| is_data_safety(&r.name)),
        };
        clock.notes = clock_notes(&clock.offsets, &marker_details);
        let timeline = timeline_of(c, timeline);
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
            data_safety,
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
                events,
                torn_tail: false,
                unreadable_lines: vec![],
                final_hash: None,
                chained: false,
            },
        };
        report.outcome_line = crate::report::advice::outcome_line(&report);
        report.next_steps = crate::report::advice::next_steps(&report);
        crate::report::findings::attach(&mut report, notes);
        report
    }
}

/// Each step's `expect:`, `mark:` and `record:`, from its playbook definition.
fn with_step_defs(playbook: &PlaybookView, steps: &mut [StepInfo]) {
    let defs = step_defs(playbook);
    for s in steps {
        if let Some(d) = defs.get(&s.name) {
            s.expectation = d.expectation.clone();
            s.mark = d.mark.clone();
            s.record = d.record.clone();
        }
    }
}

/// The run's end, duration and the reference every `t` counts from.
fn finish_run(run: &mut RunInfo, c: Clock, end: DateTime<Utc>, has_isolated: bool) {
    let start = c.start;
    run.finished_at = Some(rfc(end));
    run.duration_seconds = Some(secs_between(start, end));
    run.duration = human_secs(secs_between(start, end));
    run.reference = Reference {
        marker: has_isolated.then(|| REFERENCE_MARKER.to_string()),
        at: rfc(c.reference),
        label: if has_isolated {
            "isolation (the `isolated` marker)".into()
        } else {
            "the start of the run (nothing was isolated)".into()
        },
    };
}

/// The outcome the journal gave (none: incomplete), or restore-failed when
/// changes are still in effect.
fn final_outcome(outcome: Option<Outcome>, restoration: &Restoration) -> Outcome {
    let outcome = outcome.unwrap_or(Outcome::Incomplete);
    // A later `gameday restore` may have undone what a crashed run left.
    if outcome != Outcome::Incomplete && !restoration.still_applied.is_empty() {
        Outcome::RestoreFailed
    } else {
        outcome
    }
}

/// The indices of the items of `v` for which `f` holds.
fn indices<T>(v: &[T], f: impl Fn(&T) -> bool) -> Vec<usize> {
    v.iter()
        .enumerate()
        .filter(|(_, x)| f(x))
        .map(|(i, _)| i)
        .collect()
}

/// The phases in the playbook's order, with those that never started;
/// phases the playbook does not name (an older journal) come last.
fn in_playbook_order(playbook: &PlaybookView, mut ran: Vec<PhaseInfo>) -> Vec<PhaseInfo> {
    let mut phases = vec![];
    for p in &playbook.phases {
        match ran.iter().position(|x| x.name == p.name) {
            Some(i) => phases.push(ran.remove(i)),
            None => phases.push(PhaseInfo {
                name: p.name.clone(),
                kind: p.kind.as_str().into(),
                status: Progress::NotRun,
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
    phases
}

/// What was changed and whether it was put back: still applied as
/// `gameday restore` sees it (`engine::restore::pending_from_journal`).
fn restoration_of(
    restoration_events: &[Event],
    mut changes: Vec<ChangeInfo>,
    restore_runs: Vec<RestoreRun>,
) -> Restoration {
    let pending = crate::engine::restore::pending_from_journal(restoration_events);
    for c in &mut changes {
        if c.state != ChangeState::ApplyFailed {
            c.state = if pending.iter().any(|a| a.id == c.id) {
                ChangeState::StillApplied
            } else {
                ChangeState::Undone
            };
        }
    }
    let still_applied: Vec<ChangeInfo> = changes
        .iter()
        .filter(|c| c.state == ChangeState::StillApplied)
        .cloned()
        .collect();
    let status = if !still_applied.is_empty() {
        RestorationStatus::StillApplied
    } else if changes.iter().all(|c| c.state == ChangeState::ApplyFailed) {
        RestorationStatus::NothingChanged
    } else {
        RestorationStatus::Restored
    };
    Restoration {
        status,
        still_applied,
        changes,
        restore_runs,
    }
}

/// Metrics as evaluated at the end of the run, or, when the run never got
/// there, evaluated the engine's way from the markers and recorded values.
fn metrics_of(
    playbook: &PlaybookView,
    inputs: &MetricInputs,
    metric_events: Vec<(String, MetricInfo)>,
) -> BTreeMap<String, MetricInfo> {
    let mut metrics: BTreeMap<String, MetricInfo> = BTreeMap::new();
    if metric_events.is_empty() {
        for d in &playbook.metrics {
            metrics.insert(d.name.clone(), provisional_metric(d, inputs));
        }
    } else {
        for (name, mut m) in metric_events {
            let def = playbook.metrics.iter().find(|d| d.name == name);
            m.description = def.and_then(|d| d.description.clone());
            m.role = def.and_then(|d| d.role);
            m.inputs = def.map(|d| d.inputs()).unwrap_or_default();
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
    metrics
}

/// The timeline in time order, with offsets.
fn timeline_of(
    c: Clock,
    mut timeline: Vec<(DateTime<Utc>, &'static str, String)>,
) -> Vec<TimelineEntry> {
    timeline.sort_by_key(|(t, _, _)| *t);
    let mut out: Vec<TimelineEntry> = timeline
        .into_iter()
        .map(|(t, kind, text)| TimelineEntry {
            at: rfc(t),
            t: c.t(t),
            offset_seconds: c.offset(t),
            kind: kind.into(),
            text,
        })
        .collect();
    out.shrink_to_fit();
    out
}
