//! Replication lag budgets per data class (`lag_budgets:`): one PromQL query
//! gives each class's lag; each class has a budget and an action. They are
//! judged at the end of the precheck (everything within budget before
//! anything changes), throughout the observe phase (polled every `every`),
//! and at the end of the post phase. A breach is journaled once per class and
//! phase; what it does depends on the action: `warn` is a warning in the
//! report, `alert` fails the drill (exit 1), and `halt_cross_region_reads`
//! during observation aborts the drill like a guardrail (exit 3).

use super::Cancel;
use crate::journal::event::LagReading;
use crate::journal::{CancelReason, EventKind};
use crate::playbook::{LagAction, LagBudgets, OnFailure, Phase, PhaseKind};
use crate::steps::StepCtx;
use crate::steps::prometheus::client::InstantValue;
use std::collections::BTreeSet;

/// A class over its budget.
struct Breach {
    class: String,
    lag: f64,
    max_lag: f64,
    action: LagAction,
}

impl Breach {
    fn message(&self) -> String {
        format!(
            "replication lag of data class `{}` is {:.1} s, over its budget of {:.1} s (action: {})",
            self.class,
            self.lag,
            self.max_lag,
            self.action.as_str()
        )
    }
}

/// Query the lags once, journal them and the new breaches.
async fn judge(
    lb: &LagBudgets,
    ctx: &StepCtx,
    phase: &str,
    seen: &mut BTreeSet<String>,
) -> Result<Vec<Breach>, String> {
    let prom = ctx
        .clients
        .prometheus
        .prometheus(ctx)
        .await
        .map_err(|e| e.message)?;
    let ans = prom
        .api
        .query(&lb.query, None)
        .await
        .map_err(|e| e.to_string())?;
    let InstantValue::Vector(samples) = ans.data else {
        return Err(format!(
            "`{}` did not return a vector with one series per data class",
            lb.query
        ));
    };
    let mut lags = vec![];
    let mut breaches = vec![];
    for (class, budget) in &lb.classes {
        let lag = samples
            .iter()
            .filter(|s| s.metric.get(lb.label()) == Some(class))
            .map(|s| s.v)
            .filter(|v| v.is_finite())
            .max_by(|a, b| a.total_cmp(b));
        let max_lag = budget.max_lag.secs();
        lags.push(LagReading {
            class: class.clone(),
            lag_seconds: lag,
            max_lag_seconds: max_lag,
            action: budget.action.as_str().into(),
        });
        if let Some(lag) = lag.filter(|l| *l > max_lag)
            && seen.insert(class.clone())
        {
            breaches.push(Breach {
                class: class.clone(),
                lag,
                max_lag,
                action: budget.action,
            });
        }
    }
    let _ = ctx.events.emit(EventKind::LagBudgetChecked {
        phase: phase.to_string(),
        lags,
    });
    for b in &breaches {
        let _ = ctx.events.emit(EventKind::LagBudgetBreached {
            phase: phase.to_string(),
            class: b.class.clone(),
            lag_seconds: b.lag,
            max_lag_seconds: b.max_lag,
            action: b.action.as_str().into(),
        });
    }
    Ok(breaches)
}

/// The polling of the observe phase, stopped when the phase ends.
pub(super) struct LagWatch {
    stop: Cancel,
    task: tokio::task::JoinHandle<Vec<String>>,
}

/// Start polling the lag budgets if `phase` is an observe phase and the playbook has them.
pub(super) fn watch(phase: &Phase, ctx: &StepCtx, cancel: &Cancel) -> Option<LagWatch> {
    let lb = ctx.playbook.lag_budgets.clone()?;
    if phase.kind != PhaseKind::Observe {
        return None;
    }
    let stop = Cancel::new();
    let (ctx, cancel, over, name) = (
        ctx.for_step(&phase.name, "lag budgets"),
        cancel.clone(),
        stop.clone(),
        phase.name.clone(),
    );
    let task = tokio::spawn(async move {
        let mut failures = vec![];
        let mut seen = BTreeSet::new();
        let mut warned = false;
        let mut tick = tokio::time::interval(lb.every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = over.cancelled() => return failures,
            }
            match judge(&lb, &ctx, &name, &mut seen).await {
                Ok(breaches) => {
                    for b in breaches {
                        match b.action {
                            LagAction::Warn => {}
                            LagAction::Alert => failures.push(b.message()),
                            LagAction::HaltCrossRegionReads => {
                                failures.push(b.message());
                                cancel.cancel(
                                    CancelReason::Guardrail,
                                    format!("lag budget breached: {}", b.message()),
                                );
                            }
                        }
                    }
                }
                Err(e) if !warned => {
                    warned = true;
                    let _ = ctx.events.emit(EventKind::Warning {
                        message: format!("cannot judge the lag budgets: {e}"),
                        step: None,
                    });
                }
                Err(_) => {}
            }
        }
    });
    Some(LagWatch { stop, task })
}

/// Stop the polling; the failures it saw.
pub(super) async fn finish(w: Option<LagWatch>) -> Vec<String> {
    let Some(w) = w else { return vec![] };
    w.stop.cancel(CancelReason::StepFailed, "phase over");
    w.task.await.unwrap_or_default()
}

/// Judge once at the end of a precheck or post phase; a precheck that aborts on failure stops the drill.
pub(super) async fn at_end(phase: &Phase, ctx: &StepCtx, cancel: &Cancel) -> Vec<String> {
    let Some(lb) = &ctx.playbook.lag_budgets else {
        return vec![];
    };
    if !matches!(phase.kind, PhaseKind::Precheck | PhaseKind::Post) || cancel.reason().is_some() {
        return vec![];
    }
    let failures: Vec<String> = match judge(lb, ctx, &phase.name, &mut BTreeSet::new()).await {
        Ok(b) => b
            .iter()
            .filter(|b| b.action != LagAction::Warn)
            .map(Breach::message)
            .collect(),
        Err(e) => vec![format!("cannot judge the lag budgets: {e}")],
    };
    if phase.kind == PhaseKind::Precheck
        && phase.on_failure == OnFailure::Abort
        && let Some(f) = failures.first()
    {
        cancel.cancel(
            CancelReason::StepFailed,
            format!("phase `{}`: {f}", phase.name),
        );
    }
    failures
}
