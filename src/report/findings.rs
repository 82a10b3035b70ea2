//! Findings and action items: what people noticed (`gameday note RUN_DIR
//! "text" --finding`, during the run or after it) and what the journal
//! shows by itself (a missed target, a guardrail abort, a failed check),
//! and who will do what about them (`--action --owner NAME [--for ID]`).
//!
//! Ids are stable across re-renders of the same journal: people's findings
//! are `F1`, `F2`… and action items `A1`, `A2`… in journal order;
//! automatic findings are named after what they are about (`M-ttd` for a
//! metric, `G-<guardrail>`, `S-<step>`). A finding no action item answers
//! (`--for ID`) is flagged for the postmortem.
//!
//! To add a kind of automatic finding, write a function from the report
//! to findings and add it to `AUTOMATIC`; nothing else changes.

use super::model::{GuardrailState, Progress, Report, StepInfo, one_line};
use crate::journal::event::NoteKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// `F1` (a person's), `M-ttd`, `G-<guardrail>`, `S-<step>` (automatic).
    pub id: String,
    /// note | missed_target | guardrail | failed_check (automatic kinds may be added)
    pub source: String,
    pub text: String,
    /// Who wrote it; null for automatic findings.
    pub by: Option<String>,
    /// When it was written (a person's) or what it is about happened, when known.
    pub at: Option<String>,
    pub t: Option<String>,
    /// Ids of the action items that answer it.
    pub actions: Vec<String>,
    /// No action item answers it: the postmortem must decide one (or say why none).
    pub needs_action: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionItem {
    /// `A1`, `A2`…
    pub id: String,
    pub text: String,
    pub owner: Option<String>,
    /// Who wrote it.
    pub by: String,
    pub at: String,
    pub t: String,
    /// The finding it answers, when given.
    pub for_finding: Option<String>,
}

/// A plain note (`gameday note` without `--finding` or `--action`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoteInfo {
    pub text: String,
    pub by: String,
    pub at: String,
    pub t: String,
}

/// A note as journaled, kept by the builder until the report is finished.
#[derive(Debug, Clone)]
pub(crate) struct RawNote {
    pub kind: NoteKind,
    pub text: String,
    pub by: String,
    pub owner: Option<String>,
    pub for_finding: Option<String>,
    pub at: String,
    pub t: String,
}

/// The automatic findings, in the order they are listed.
const AUTOMATIC: &[fn(&Report) -> Vec<Finding>] = &[
    guardrail_aborts,
    missed_targets,
    failed_checks,
    script_findings,
];

fn automatic(id: String, source: &str, text: String, at: Option<(String, String)>) -> Finding {
    let (at, t) = match at {
        Some((a, t)) => (Some(a), Some(t)),
        None => (None, None),
    };
    Finding {
        id,
        source: source.into(),
        text,
        by: None,
        at,
        t,
        actions: vec![],
        needs_action: true,
    }
}

fn guardrail_aborts(r: &Report) -> Vec<Finding> {
    r.guardrails
        .breached
        .iter()
        .map(|name| {
            let ev = r
                .guardrails
                .events
                .iter()
                .find(|e| &e.name == name && e.state == GuardrailState::Breached);
            automatic(
                format!("G-{name}"),
                "guardrail",
                format!(
                    "guardrail `{name}` was breached and aborted the drill{}",
                    ev.map(|e| format!(": {}", one_line(&e.summary, 200)))
                        .unwrap_or_default()
                ),
                ev.map(|e| (e.at.clone(), e.t.clone())),
            )
        })
        .collect()
}

fn missed_targets(r: &Report) -> Vec<Finding> {
    r.metrics
        .iter()
        .filter(|(_, m)| m.met == Some(false))
        .map(|(name, m)| {
            let what = match m.value {
                Some(_) => format!("{} against a target of", m.display),
                None => "not measured, with a target of".into(),
            };
            automatic(
                format!("M-{name}"),
                "missed_target",
                format!(
                    "`{name}` missed its target: {what} {} ({})",
                    m.target.as_deref().unwrap_or("?"),
                    m.detail
                ),
                None,
            )
        })
        .collect()
}

/// A failed step whose marker or recorded value feeds a missed metric is
/// the same finding as the metric's, said once.
fn feeds_a_missed_metric(r: &Report, s: &StepInfo) -> bool {
    [&s.mark, &s.record].into_iter().flatten().any(|k| {
        r.metrics
            .values()
            .any(|m| m.met == Some(false) && m.inputs.contains(k))
    })
}

fn failed_checks(r: &Report) -> Vec<Finding> {
    r.steps
        .iter()
        .filter(|s| s.status == Progress::Failed && !feeds_a_missed_metric(r, s))
        .map(|s| {
            let seen = if s.summary.is_empty() {
                s.error.as_deref().unwrap_or("")
            } else {
                &s.summary
            };
            automatic(
                format!("S-{}", s.name),
                "failed_check",
                format!(
                    "{} `{}` ({}) failed in phase `{}`: {}",
                    if s.watch { "watch" } else { "step" },
                    s.name,
                    s.kind,
                    s.phase,
                    one_line(seen, 200)
                ),
                s.finished_at.clone().map(|a| (a, s.t.clone())),
            )
        })
        .collect()
}

/// What the drill script's own checks found (`report::script`): a phase over
/// its budget (`B-<phase>`), an invariant broken during an observation window
/// (`I-<phase>`), a lag budget breached (`L-<class>`), a post phase that
/// failed (`P-<phase>`, unless its failed steps are already findings).
fn script_findings(r: &Report) -> Vec<Finding> {
    let mut seen = std::collections::HashSet::new();
    r.script
        .findings
        .iter()
        .filter(|f| {
            !(f.kind == "post_phase_failed"
                && r.steps
                    .iter()
                    .any(|s| s.status == Progress::Failed && Some(&s.phase) == f.phase.as_ref()))
        })
        .filter_map(|f| {
            let prefix = match f.kind.as_str() {
                "over_budget" => "B",
                "invariant_broken" => "I",
                "lag_budget_breached" => "L",
                "post_phase_failed" => "P",
                _ => "D",
            };
            let about = match (f.kind.as_str(), &f.phase) {
                ("lag_budget_breached", _) | (_, None) => f
                    .message
                    .split('`')
                    .nth(1)
                    .unwrap_or(f.kind.as_str())
                    .to_string(),
                (_, Some(p)) => p.clone(),
            };
            let id = format!("{prefix}-{about}");
            seen.insert(id.clone()).then(|| {
                automatic(
                    id,
                    &f.kind,
                    f.message.clone(),
                    Some((f.at.clone(), f.t.clone())),
                )
            })
        })
        .collect()
}

/// Fill `findings`, `action_items` and `notes` of `r` from its automatic
/// findings and the people's notes.
pub(crate) fn attach(r: &mut Report, notes: Vec<RawNote>) {
    let mut findings: Vec<Finding> = AUTOMATIC.iter().flat_map(|f| f(r)).collect();
    let mut actions = vec![];
    let mut plain = vec![];
    for n in notes {
        match n.kind {
            NoteKind::Finding => findings.push(Finding {
                id: format!(
                    "F{}",
                    findings.iter().filter(|f| f.source == "note").count() + 1
                ),
                source: "note".into(),
                text: n.text,
                by: Some(n.by),
                at: Some(n.at),
                t: Some(n.t),
                actions: vec![],
                needs_action: true,
            }),
            NoteKind::Action => actions.push(ActionItem {
                id: format!("A{}", actions.len() + 1),
                text: n.text,
                owner: n.owner,
                by: n.by,
                at: n.at,
                t: n.t,
                for_finding: n.for_finding,
            }),
            NoteKind::Note => plain.push(NoteInfo {
                text: n.text,
                by: n.by,
                at: n.at,
                t: n.t,
            }),
        }
    }
    for f in &mut findings {
        f.actions = actions
            .iter()
            .filter(|a| a.for_finding.as_deref() == Some(f.id.as_str()))
            .map(|a| a.id.clone())
            .collect();
        f.needs_action = f.actions.is_empty();
    }
    r.findings = findings;
    r.action_items = actions;
    r.notes = plain;
}
