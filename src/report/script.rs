//! The drill script's part of the report (`report.json` `script`): each
//! phase's budget planned against the time it took, the observation windows
//! (`hold:`) with their invariants and the instant one broke, the lag budgets
//! per data class, and the findings these produce: a phase over budget
//! (warning, or failure with `over_budget: fail`), an invariant broken during
//! a hold, a failed post phase, a lag budget breached. Built from the journal's
//! events like the rest of the model.

use super::model::rfc;
use crate::journal::EventKind;
use crate::journal::event::Status;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ScriptInfo {
    /// Phases with a budget, in the order they ran.
    pub budgets: Vec<BudgetInfo>,
    /// Observation windows, in the order they ran.
    pub holds: Vec<HoldInfo>,
    /// Lag budgets per data class (`lag_budgets:`), judged during the drill.
    pub lag_budgets: Vec<LagBudgetInfo>,
    /// Values judged against a baseline taken before the isolation.
    #[serde(default)]
    pub baselines: Vec<BaselineInfo>,
    /// What the script's checks found, in the order they were found.
    pub findings: Vec<ScriptFinding>,
}

/// A phase's budget: planned against actual.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BudgetInfo {
    pub phase: String,
    pub kind: String,
    pub budget_seconds: f64,
    /// null when the phase never finished.
    pub actual_seconds: Option<f64>,
    /// within | over | unfinished
    pub verdict: String,
    /// Going over fails the drill (`over_budget: fail`).
    pub fails: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldInfo {
    pub phase: String,
    pub hold_seconds: f64,
    pub invariants: Vec<String>,
    pub started_at: String,
    pub t: String,
    /// passed | failed | cancelled | unfinished
    pub status: String,
    pub held_seconds: Option<f64>,
    pub detail: Option<String>,
    pub broken: Option<BrokenInvariant>,
    /// Invariant state changes during the hold, in order.
    pub changes: Vec<InvariantChange>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrokenInvariant {
    pub name: String,
    /// The first failing check of the streak that broke it.
    pub since: String,
    pub t: String,
    pub summary: String,
    pub evidence: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvariantChange {
    pub at: String,
    pub t: String,
    pub name: String,
    pub ok: bool,
    pub summary: String,
}

/// A window's value against its baseline (`prometheus-window` with `baseline:`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineInfo {
    pub step: String,
    pub phase: String,
    pub function: String,
    pub window: String,
    pub value: Option<f64>,
    pub baseline_window: String,
    pub baseline: Option<f64>,
    /// value / baseline; null when the baseline is 0.
    pub ratio: Option<f64>,
    /// The most the value could be and hold.
    pub allowance: Option<f64>,
    /// passed | failed
    pub status: String,
}

/// One data class's lag budget and what the drill saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LagBudgetInfo {
    pub class: String,
    pub max_lag_seconds: f64,
    /// alert | halt_cross_region_reads | warn
    pub action: String,
    /// The worst lag seen in any check, null when never measured.
    pub worst_lag_seconds: Option<f64>,
    /// The first instant it was over budget.
    pub breached_at: Option<String>,
    pub breached_t: Option<String>,
    /// The phases it was judged in.
    pub judged_in: Vec<String>,
}

/// Something the drill script's checks found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScriptFinding {
    /// warning | failure
    pub severity: String,
    /// over_budget | invariant_broken | post_phase_failed | lag_budget_breached
    pub kind: String,
    pub phase: Option<String>,
    pub at: String,
    pub t: String,
    pub message: String,
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
        Status::Cancelled => "cancelled",
    }
}

impl ScriptInfo {
    /// Take in one event; `t` turns an instant into the report's `T+` offset.
    pub(super) fn feed(
        &mut self,
        ts: DateTime<Utc>,
        kind: &EventKind,
        t: &dyn Fn(DateTime<Utc>) -> String,
    ) {
        match kind {
            EventKind::PhaseStarted { .. }
            | EventKind::PhaseFinished { .. }
            | EventKind::BudgetExceeded { .. } => self.feed_phase(ts, kind, t),
            EventKind::StepFinished { .. } => self.feed_baseline(kind),
            EventKind::LagBudgetChecked { .. } | EventKind::LagBudgetBreached { .. } => {
                self.feed_lag(ts, kind, t)
            }
            EventKind::HoldStarted { .. }
            | EventKind::InvariantState { .. }
            | EventKind::InvariantBroken { .. }
            | EventKind::HoldFinished { .. } => self.feed_hold(ts, kind, t),
            _ => {}
        }
    }

    /// Phase budgets and the post phase: a budget opened, exceeded, a post phase failed.
    fn feed_phase(
        &mut self,
        ts: DateTime<Utc>,
        kind: &EventKind,
        t: &dyn Fn(DateTime<Utc>) -> String,
    ) {
        match kind {
            EventKind::PhaseStarted {
                phase,
                kind,
                budget_seconds: Some(b),
            } => self.budgets.push(BudgetInfo {
                phase: phase.clone(),
                kind: kind.clone(),
                budget_seconds: *b,
                actual_seconds: None,
                verdict: "unfinished".into(),
                fails: false,
            }),
            EventKind::PhaseFinished {
                phase,
                kind,
                status: Status::Failed,
                detail,
            } if kind == "post" => self.findings.push(ScriptFinding {
                severity: "failure".into(),
                kind: "post_phase_failed".into(),
                phase: Some(phase.clone()),
                at: rfc(ts),
                t: t(ts),
                message: format!(
                    "the system was not back to normal after the drill: {}",
                    detail.as_deref().unwrap_or("a check failed")
                ),
            }),
            EventKind::BudgetExceeded {
                phase,
                budget_seconds,
                actual_seconds,
                fails,
            } => {
                if let Some(b) = self.budgets.iter_mut().rev().find(|b| b.phase == *phase) {
                    b.fails = *fails;
                }
                self.findings.push(ScriptFinding {
                    severity: if *fails { "failure" } else { "warning" }.into(),
                    kind: "over_budget".into(),
                    phase: Some(phase.clone()),
                    at: rfc(ts),
                    t: t(ts),
                    message: format!(
                        "phase `{phase}` took {} against a budget of {}",
                        super::model::human_secs(*actual_seconds),
                        super::model::human_secs(*budget_seconds)
                    ),
                });
            }
            _ => {}
        }
    }

    /// A window judged against its baseline (`prometheus-window` with `baseline:`).
    fn feed_baseline(&mut self, kind: &EventKind) {
        match kind {
            EventKind::StepFinished {
                phase,
                step,
                status,
                evidence,
                ..
            } if evidence.get("baseline").is_some_and(Value::is_object) => {
                let b = &evidence["baseline"];
                let name = |v: &Value| v["name"].as_str().unwrap_or_default().to_string();
                self.baselines.push(BaselineInfo {
                    step: step.clone(),
                    phase: phase.clone(),
                    function: evidence["function"].as_str().unwrap_or_default().into(),
                    window: name(&evidence["window"]),
                    value: evidence["value"].as_f64(),
                    baseline_window: name(&b["window"]),
                    baseline: b["value"].as_f64(),
                    ratio: b["ratio"].as_f64(),
                    allowance: b["allowance"].as_f64(),
                    status: status_str(*status).into(),
                });
            }
            _ => {}
        }
    }

    /// Lag budgets per data class: each check's worst lag, and the first breach.
    fn feed_lag(
        &mut self,
        ts: DateTime<Utc>,
        kind: &EventKind,
        t: &dyn Fn(DateTime<Utc>) -> String,
    ) {
        match kind {
            EventKind::LagBudgetChecked { phase, lags } => {
                for r in lags {
                    let row = match self.lag_budgets.iter().position(|l| l.class == r.class) {
                        Some(i) => &mut self.lag_budgets[i],
                        None => {
                            self.lag_budgets.push(LagBudgetInfo {
                                class: r.class.clone(),
                                max_lag_seconds: r.max_lag_seconds,
                                action: r.action.clone(),
                                worst_lag_seconds: None,
                                breached_at: None,
                                breached_t: None,
                                judged_in: vec![],
                            });
                            self.lag_budgets.last_mut().expect("just pushed")
                        }
                    };
                    if let Some(l) = r.lag_seconds {
                        row.worst_lag_seconds = Some(row.worst_lag_seconds.map_or(l, |w| w.max(l)));
                    }
                    if !row.judged_in.contains(phase) {
                        row.judged_in.push(phase.clone());
                    }
                }
            }
            EventKind::LagBudgetBreached {
                phase,
                class,
                lag_seconds,
                max_lag_seconds,
                action,
            } => {
                if let Some(row) = self.lag_budgets.iter_mut().find(|l| l.class == *class)
                    && row.breached_at.is_none()
                {
                    row.breached_at = Some(rfc(ts));
                    row.breached_t = Some(t(ts));
                }
                self.findings.push(ScriptFinding {
                    severity: if action == "warn" { "warning" } else { "failure" }.into(),
                    kind: "lag_budget_breached".into(),
                    phase: Some(phase.clone()),
                    at: rfc(ts),
                    t: t(ts),
                    message: format!(
                        "replication lag of data class `{class}` reached {} against its budget of {} (action: {})",
                        super::model::human_secs(*lag_seconds),
                        super::model::human_secs(*max_lag_seconds),
                        action.replace('_', " ")
                    ),
                });
            }
            _ => {}
        }
    }

    /// Observation windows: started, invariant changes, broken, finished.
    fn feed_hold(
        &mut self,
        ts: DateTime<Utc>,
        kind: &EventKind,
        t: &dyn Fn(DateTime<Utc>) -> String,
    ) {
        match kind {
            EventKind::HoldStarted {
                phase,
                hold_seconds,
                invariants,
            } => self.holds.push(HoldInfo {
                phase: phase.clone(),
                hold_seconds: *hold_seconds,
                invariants: invariants.clone(),
                started_at: rfc(ts),
                t: t(ts),
                status: "unfinished".into(),
                held_seconds: None,
                detail: None,
                broken: None,
                changes: vec![],
            }),
            EventKind::InvariantState {
                phase,
                name,
                ok,
                summary,
            } => {
                if let Some(h) = self.holds.iter_mut().rev().find(|h| h.phase == *phase) {
                    h.changes.push(InvariantChange {
                        at: rfc(ts),
                        t: t(ts),
                        name: name.clone(),
                        ok: *ok,
                        summary: summary.clone(),
                    });
                }
            }
            EventKind::InvariantBroken {
                phase,
                name,
                since,
                summary,
                evidence,
            } => {
                if let Some(h) = self.holds.iter_mut().rev().find(|h| h.phase == *phase) {
                    h.broken = Some(BrokenInvariant {
                        name: name.clone(),
                        since: rfc(*since),
                        t: t(*since),
                        summary: summary.clone(),
                        evidence: evidence.clone(),
                    });
                }
                self.findings.push(ScriptFinding {
                    severity: "failure".into(),
                    kind: "invariant_broken".into(),
                    phase: Some(phase.clone()),
                    at: rfc(*since),
                    t: t(*since),
                    message: format!(
                        "invariant `{name}` broke during the observation window: {summary}"
                    ),
                });
            }
            EventKind::HoldFinished {
                phase,
                status,
                held_seconds,
                detail,
            } => {
                if let Some(h) = self.holds.iter_mut().rev().find(|h| h.phase == *phase) {
                    h.status = status_str(*status).into();
                    h.held_seconds = Some(*held_seconds);
                    h.detail = detail.clone();
                }
            }
            _ => {}
        }
    }

    /// Fill in what only the end knows: each budgeted phase's actual duration.
    pub(super) fn finish(&mut self, phases: &[super::model::PhaseInfo]) {
        for b in &mut self.budgets {
            let Some(actual) = phases
                .iter()
                .find(|p| p.name == b.phase)
                .and_then(|p| p.duration_seconds)
            else {
                continue;
            };
            b.actual_seconds = Some(actual);
            b.verdict = if actual > b.budget_seconds {
                "over"
            } else {
                "within"
            }
            .into();
        }
    }
}
