//! `Builder::feed`: what each journal event adds to the report, one
//! method per group of events.

use super::builder::Builder;
use super::format::*;
use super::types::*;
use crate::journal::event::NoteKind;
use crate::journal::{Event, EventKind};
use crate::report::findings::RawNote;
use chrono::{DateTime, Utc};
use serde_json::Value;

impl Builder {
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
        self.metric_inputs.observe(&e.kind);
        self.script.feed(ts, &e.kind, &|t| c.t(t));
        let kind = &e.kind;
        match kind {
            EventKind::RunStarted { .. }
            | EventKind::LockAcquired { .. }
            | EventKind::RunContext { .. }
            | EventKind::RunFinished { .. } => self.feed_run(ts, kind),
            EventKind::RestoreStarted { .. }
            | EventKind::GuardStarted { .. }
            | EventKind::RestoreFinished { .. } => self.feed_restore(ts, kind),
            EventKind::HoldStarted { .. }
            | EventKind::InvariantBroken { .. }
            | EventKind::BudgetExceeded { .. }
            | EventKind::LagBudgetBreached { .. }
            | EventKind::InvariantState { .. }
            | EventKind::HoldFinished { .. }
            | EventKind::LagBudgetChecked { .. }
            | EventKind::ClockOffset { .. } => self.feed_script(ts, kind),
            EventKind::PhaseStarted { .. } | EventKind::PhaseFinished { .. } => {
                self.feed_phase(ts, kind)
            }
            EventKind::StepStarted { .. }
            | EventKind::StepAttempt { .. }
            | EventKind::StepFinished { .. } => self.feed_step(ts, kind),
            EventKind::Intent { .. }
            | EventKind::Applied { .. }
            | EventKind::ApplyFailed { .. }
            | EventKind::UndoStarted { .. }
            | EventKind::Undone { .. }
            | EventKind::UndoFailed { .. } => self.feed_change(ts, kind),
            EventKind::Marker { .. }
            | EventKind::Recorded { .. }
            | EventKind::Metric { .. }
            | EventKind::CanaryWrite { .. }
            | EventKind::Artifact { .. } => self.feed_measure(ts, kind),
            EventKind::GuardrailArmed { .. }
            | EventKind::GuardrailState { .. }
            | EventKind::GuardrailBreached { .. } => self.feed_guardrail(ts, kind),
            EventKind::ManualPrompt { .. } | EventKind::ManualConfirmed { .. } => {
                self.feed_manual(ts, kind)
            }
            EventKind::Signal { .. }
            | EventKind::Cancelled { .. }
            | EventKind::Warning { .. }
            | EventKind::NotifyFailed { .. }
            | EventKind::Note { .. } => self.feed_notice(ts, kind),
        }
    }

    /// The run itself: who started it, where, and how it ended.
    fn feed_run(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        match kind {
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
                self.run.hypothesis = pb.view().hypothesis.as_ref().map(|h| h.trim().to_string());
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
                self.playbook = pb.view().clone();
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
            _ => {}
        }
    }

    /// `gameday restore` and the guard.
    fn feed_restore(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        match kind {
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
            _ => {}
        }
    }

    /// The drill script's notable events (the rest feed `script`), and clock offsets.
    fn feed_script(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        match kind {
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
            _ => {}
        }
    }

    /// Phases starting and ending.
    fn feed_phase(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        let c = self.c;
        match kind {
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
                    status: Progress::Unfinished,
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
                    p.status = (*status).into();
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
            _ => {}
        }
    }

    /// Steps and watches: started, attempts, finished.
    fn feed_step(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        match kind {
            EventKind::StepStarted {
                phase,
                step,
                kind,
                description,
                watch,
            } => {
                self.open_step
                    .insert((phase.clone(), step.clone()), self.steps.len());
                let s = self.new_step(ts, phase, step, kind, *watch, description.clone());
                self.steps.push(s);
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
            EventKind::StepFinished { .. } => self.finish_step(ts, kind),
            _ => {}
        }
    }

    /// A step's entry as its start describes it, not yet finished.
    fn new_step(
        &self,
        ts: DateTime<Utc>,
        phase: &str,
        step: &str,
        kind: &str,
        watch: bool,
        call: String,
    ) -> StepInfo {
        StepInfo {
            phase: phase.to_string(),
            name: step.to_string(),
            kind: kebab(kind),
            watch,
            status: Progress::Unfinished,
            started_at: rfc(ts),
            t: self.c.t(ts),
            finished_at: None,
            duration_seconds: None,
            call,
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
        }
    }

    /// A step finished: its outcome on its entry, and a line in the timeline.
    fn finish_step(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        let EventKind::StepFinished {
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
        } = kind
        else {
            return;
        };
        let i = match self.open_step.remove(&(phase.clone(), step.clone())) {
            Some(i) => i,
            None => {
                // Finished without a start (a step self.cancelled before it began).
                let s = self.new_step(ts, phase, step, kind, false, String::new());
                self.steps.push(s);
                self.steps.len() - 1
            }
        };
        let s = &mut self.steps[i];
        s.status = (*status).into();
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

    /// Guardrails armed, flipping and breached.
    fn feed_guardrail(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        let c = self.c;
        match kind {
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
                let state = if *ok {
                    GuardrailState::Ok
                } else {
                    GuardrailState::Failing
                };
                self.guardrails.events.push(GuardrailEvent {
                    at: rfc(ts),
                    t: c.t(ts),
                    name: name.clone(),
                    state,
                    summary: summary.clone(),
                });
                self.timeline.push((
                    ts,
                    "guardrail",
                    format!(
                        "guardrail `{name}` {}: {}",
                        state.as_str(),
                        one_line(summary, 160)
                    ),
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
                    state: GuardrailState::Breached,
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
            _ => {}
        }
    }

    /// People asked and answering.
    fn feed_manual(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        let c = self.c;
        match kind {
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
            _ => {}
        }
    }

    /// Signals, cancellation, warnings and notes.
    fn feed_notice(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        let c = self.c;
        match kind {
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
                        reason: *reason,
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
            _ => {}
        }
    }
}
