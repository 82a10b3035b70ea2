//! The terminal view: a consumer of the event stream that shows a person on
//! a call what is happening — phase and step, UTC time and T+ offset, each
//! marker as it is set, a countdown during fixed waits, guardrail state.
//! Writes to stderr (stdout is for the run directory path and the summary).
//! `--log-format json` swaps it for one JSON event per line.

use crate::journal::event::Status;
use crate::journal::writer::Observer;
use crate::journal::{CancelReason, Event, EventKind};
use crate::playbook::Playbook;
use crate::playbook::spec::StepSpec;
use console::style;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Human-readable progress on stderr.
pub struct TerminalView {
    playbook: Arc<Playbook>,
    bar: Mutex<Option<ProgressBar>>,
    /// The current phase's budget: (elapsed at its start, budget), in seconds.
    budget: Mutex<Option<(f64, f64)>>,
}

impl TerminalView {
    pub fn new(playbook: Arc<Playbook>) -> Arc<TerminalView> {
        Arc::new(TerminalView {
            playbook,
            bar: Mutex::new(None),
            budget: Mutex::new(None),
        })
    }

    /// `  [budget: 4m 12s left]` while the current phase has a budget.
    fn budget_left(&self, e: &Event) -> String {
        let Some((start, budget)) = *self.budget.lock().unwrap_or_else(|e| e.into_inner()) else {
            return String::new();
        };
        let left = budget - (e.elapsed - start);
        let text = if left >= 0.0 {
            format!("[budget: {} left]", crate::report::model::human_secs(left))
        } else {
            format!(
                "[over budget by {}]",
                crate::report::model::human_secs(-left)
            )
        };
        format!("  {}", style(text).dim())
    }

    /// A countdown bar on a terminal (nothing otherwise), cleared by the next step or hold end.
    fn countdown(&self, label: &str, d: Duration) {
        if d.is_zero() || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return;
        }
        let pb = ProgressBar::new(d.as_millis() as u64);
        pb.set_style(
            ProgressStyle::with_template("      {spinner} {msg} [{bar:30}] {elapsed} / {duration}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_message(label.to_string());
        pb.enable_steady_tick(Duration::from_millis(200));
        let pb2 = pb.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !pb2.is_finished() {
                pb2.set_position(start.elapsed().as_millis() as u64);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(pb);
    }

    fn line(&self, e: &Event, text: String) {
        let stamp = e.ts.format("%H:%M:%S%.3fZ");
        let line = format!(
            "{}  {}  {text}",
            style(stamp).dim(),
            style(format!("T+{:>7.1}s", e.elapsed)).dim()
        );
        match &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(b) if !b.is_hidden() => b.println(line),
            _ => eprintln!("{line}"),
        }
    }
}

impl Observer for TerminalView {
    fn event(&self, e: &Event) {
        use EventKind as K;
        match &e.kind {
            K::RunStarted { .. }
            | K::PhaseStarted { .. }
            | K::PhaseFinished { .. }
            | K::BudgetExceeded { .. } => self.phase_event(e),
            K::StepStarted { .. }
            | K::StepFinished { .. }
            | K::StepAttempt { .. }
            | K::Marker { .. }
            | K::Intent { .. }
            | K::ManualConfirmed { .. } => self.step_event(e),
            K::UndoStarted { .. } | K::Undone { .. } | K::UndoFailed { .. } => self.undo_event(e),
            K::GuardrailArmed { .. }
            | K::GuardrailState { .. }
            | K::GuardrailBreached { .. }
            | K::LagBudgetBreached { .. } => self.guardrail_event(e),
            K::HoldStarted { .. }
            | K::InvariantState { .. }
            | K::InvariantBroken { .. }
            | K::HoldFinished { .. } => self.hold_event(e),
            K::Cancelled { .. }
            | K::Warning { .. }
            | K::NotifyFailed { .. }
            | K::GuardStarted { .. }
            | K::ClockOffset { .. } => self.other_event(e),
            _ => {}
        }
    }
}

/// `ok` in green or `FAILING` in red.
fn ok_or_failing(ok: bool) -> console::StyledObject<String> {
    if ok {
        style("ok".to_string()).green()
    } else {
        style("FAILING".to_string()).red()
    }
}

impl TerminalView {
    /// Ends the countdown bar, if one is showing.
    fn clear_bar(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }

    /// The run's start, phase starts and ends, and phase budgets.
    fn phase_event(&self, e: &Event) {
        match &e.kind {
            EventKind::RunStarted {
                drill,
                environment,
                operator,
                ..
            } => {
                self.line(
                    e,
                    format!(
                        "{} drill {} in environment {} by {}",
                        style("gameday").bold(),
                        style(drill).bold(),
                        style(environment).bold(),
                        operator
                    ),
                );
            }
            EventKind::PhaseStarted {
                phase,
                kind,
                budget_seconds,
            } => {
                *self.budget.lock().unwrap_or_else(|e| e.into_inner()) =
                    budget_seconds.map(|b| (e.elapsed, b));
                let budget = budget_seconds
                    .map(|b| format!("  budget {}", crate::report::model::human_secs(b)))
                    .unwrap_or_default();
                self.line(
                    e,
                    format!(
                        "{} {}{}",
                        style("▶ phase").cyan().bold(),
                        style(if phase == kind {
                            phase.clone()
                        } else {
                            format!("{phase} ({kind})")
                        })
                        .bold(),
                        style(budget).dim()
                    ),
                )
            }
            EventKind::PhaseFinished {
                phase,
                status,
                detail,
                ..
            } => self.phase_finished(e, phase, *status, detail.as_deref()),
            EventKind::BudgetExceeded {
                phase,
                budget_seconds,
                actual_seconds,
                fails,
            } => self.line(
                e,
                format!(
                    "  {} phase {phase} took {} against a budget of {}",
                    if *fails {
                        style("OVER BUDGET:".to_string()).red().bold()
                    } else {
                        style("over budget:".to_string()).yellow()
                    },
                    crate::report::model::human_secs(*actual_seconds),
                    crate::report::model::human_secs(*budget_seconds)
                ),
            ),
            _ => {}
        }
    }

    fn phase_finished(&self, e: &Event, phase: &str, status: Status, detail: Option<&str>) {
        let s = match status {
            Status::Passed => style("passed".to_string()).green(),
            Status::Skipped => style("skipped".to_string()).dim(),
            Status::Cancelled => style("stopped".to_string()).yellow(),
            Status::Failed => style("failed".to_string()).red(),
        };
        // A failure is shown once where it happens (its step's line)
        // and once in the summary, not again here.
        let d = match (status, detail) {
            (Status::Failed | Status::Cancelled, Some(_)) => {
                " (the failures are above)".to_string()
            }
            (_, Some(d)) => format!(" — {d}"),
            (_, None) => String::new(),
        };
        self.line(e, format!("  phase {phase} {s}{d}"));
    }

    /// A step's start, attempts, markers, intents, confirmations and end.
    fn step_event(&self, e: &Event) {
        match &e.kind {
            EventKind::StepStarted {
                step,
                watch,
                description,
                ..
            } => self.step_started(e, step, *watch, description),
            EventKind::StepFinished {
                step,
                status,
                summary,
                attempts,
                ..
            } => {
                self.clear_bar();
                let mark = match status {
                    Status::Passed => style("✓".to_string()).green(),
                    Status::Failed => style("✗".to_string()).red(),
                    Status::Cancelled => style("■".to_string()).yellow(),
                    Status::Skipped => style("-".to_string()).dim(),
                };
                let tries = if *attempts > 1 {
                    format!(" ({attempts} attempts)")
                } else {
                    String::new()
                };
                self.line(e, format!("    {mark} {step}: {summary}{tries}"));
            }
            EventKind::StepAttempt {
                step,
                error: Some(err),
                ..
            } => self.line(e, format!("      {} {step}: {err}", style("!").yellow())),
            EventKind::Marker {
                name,
                at,
                resolution_seconds,
                source,
                ..
            } => {
                let res = resolution_seconds
                    .map(|r| format!(" ±{r:.1}s"))
                    .unwrap_or_default();
                self.line(
                    e,
                    format!(
                        "    {} {} at {}{res} ({source})",
                        style("◆ marker").magenta().bold(),
                        style(name).bold(),
                        at.format("%H:%M:%S%.3fZ")
                    ),
                );
            }
            EventKind::Intent {
                step, description, ..
            } => self.line(
                e,
                format!("    {} {step}: {description}", style("→ applying").yellow()),
            ),
            EventKind::ManualConfirmed {
                step,
                by,
                automatic,
                ..
            } => {
                let how = if *automatic {
                    "confirmed automatically"
                } else {
                    "confirmed"
                };
                self.line(e, format!("    {step}: {how} by {by}"));
            }
            _ => {}
        }
    }

    /// `running`/`watching` a step; a countdown when the step is a fixed wait.
    fn step_started(&self, e: &Event, step: &str, watch: bool, description: &str) {
        let what = if watch { "watching" } else { "running" };
        let d = if description.is_empty() {
            String::new()
        } else {
            format!("  {}", style(description).dim())
        };
        self.line(e, format!("    {what} {step}{d}{}", self.budget_left(e)));
        let wait = self
            .playbook
            .all_steps()
            .find_map(|(_, s)| match (&s.spec, s.name == *step) {
                (StepSpec::Wait(w), true) => Some(w.duration.get()),
                _ => None,
            });
        if let Some(d) = wait {
            self.countdown(step, d);
        }
    }

    /// Undo actions: started, done, failed.
    fn undo_event(&self, e: &Event) {
        match &e.kind {
            EventKind::UndoStarted { id, reason } => self.line(
                e,
                format!("    {} {id} ({reason})", style("↩ undoing").yellow()),
            ),
            EventKind::Undone { id } => {
                self.line(e, format!("    {} {id}", style("↩ undone").green()))
            }
            EventKind::UndoFailed { id, error } => self.line(
                e,
                format!("    {} {id}: {error}", style("↩ UNDO FAILED").red().bold()),
            ),
            _ => {}
        }
    }

    /// Guardrails (armed, state, breached) and lag budgets.
    fn guardrail_event(&self, e: &Event) {
        match &e.kind {
            EventKind::GuardrailArmed { names } => self.line(
                e,
                format!(
                    "  {} {}",
                    style("guardrails armed:").cyan(),
                    names.join(", ")
                ),
            ),
            EventKind::GuardrailState { name, ok, summary } => {
                let s = ok_or_failing(*ok);
                self.line(e, format!("  guardrail {name} {s}: {summary}"));
            }
            EventKind::GuardrailBreached { name, summary, .. } => self.line(
                e,
                format!(
                    "  {} {name}: {summary}",
                    style("GUARDRAIL BREACHED").red().bold()
                ),
            ),
            EventKind::LagBudgetBreached {
                class,
                lag_seconds,
                max_lag_seconds,
                action,
                ..
            } => self.line(
                e,
                format!(
                    "    {} {class}: {} over its budget of {} (action: {})",
                    style("LAG BUDGET BREACHED").red().bold(),
                    crate::report::model::human_secs(*lag_seconds),
                    crate::report::model::human_secs(*max_lag_seconds),
                    action.replace('_', " ")
                ),
            ),
            _ => {}
        }
    }

    /// Observation windows (holds) and their invariants.
    fn hold_event(&self, e: &Event) {
        match &e.kind {
            EventKind::HoldStarted {
                phase,
                hold_seconds,
                invariants,
            } => {
                let inv = if invariants.is_empty() {
                    String::new()
                } else {
                    format!("; invariants: {}", invariants.join(", "))
                };
                self.line(
                    e,
                    format!(
                        "    {} for {}{inv}{}",
                        style("◷ holding").cyan(),
                        crate::report::model::human_secs(*hold_seconds),
                        self.budget_left(e)
                    ),
                );
                self.countdown(
                    &format!("observation window of {phase}"),
                    Duration::from_secs_f64(*hold_seconds),
                );
            }
            EventKind::InvariantState {
                name, ok, summary, ..
            } => {
                let s = ok_or_failing(*ok);
                self.line(e, format!("    invariant {name} {s}: {summary}"));
            }
            EventKind::InvariantBroken {
                name,
                since,
                summary,
                ..
            } => self.line(
                e,
                format!(
                    "    {} {name} since {}: {summary}",
                    style("INVARIANT BROKEN").red().bold(),
                    since.format("%H:%M:%S%.3fZ")
                ),
            ),
            EventKind::HoldFinished {
                status,
                held_seconds,
                ..
            } => {
                self.clear_bar();
                let what = match status {
                    Status::Passed => "held",
                    Status::Failed => "broken after",
                    _ => "stopped after",
                };
                self.line(
                    e,
                    format!(
                        "    observation window {what} {}",
                        crate::report::model::human_secs(*held_seconds)
                    ),
                );
            }
            _ => {}
        }
    }

    /// Cancellation, warnings, failed notifications, the guard, clock offsets.
    fn other_event(&self, e: &Event) {
        match &e.kind {
            EventKind::Cancelled { reason, detail } => {
                // A failed step or a breached guardrail was shown in full on
                // its own line: name it only.
                let d = match reason {
                    CancelReason::StepFailed | CancelReason::Guardrail => {
                        detail.split_once(": ").map_or(detail.as_str(), |(a, _)| a)
                    }
                    _ => detail.as_str(),
                };
                self.line(
                    e,
                    format!("  {} {d}; restoring", style("stopping:").red().bold()),
                )
            }
            EventKind::Warning { message, .. } => {
                self.line(e, format!("  {} {message}", style("warning:").yellow()))
            }
            EventKind::NotifyFailed {
                target,
                about,
                error,
            } => self.line(
                e,
                format!(
                    "  {} notification `{about}` to `{target}` failed: {error}",
                    style("warning:").yellow()
                ),
            ),
            EventKind::GuardStarted {
                pid, lease_seconds, ..
            } => self.line(
                e,
                format!(
                    "  guard pid {pid} restores if this process dies (lease {lease_seconds} s)"
                ),
            ),
            EventKind::ClockOffset {
                source,
                offset_seconds,
                ..
            } => self.line(
                e,
                format!("  clock offset of {source}: {offset_seconds:+.3}s"),
            ),
            _ => {}
        }
    }
}

/// One JSON event per line on stderr, for machines.
pub struct JsonLog;

impl Observer for JsonLog {
    fn event(&self, e: &Event) {
        if let Ok(s) = serde_json::to_string(e) {
            eprintln!("{s}");
        }
    }
}
