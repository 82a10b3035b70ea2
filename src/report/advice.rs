//! What a report says in words: the outcome in one sentence a manager
//! understands, and "what to do next", which maps every missed target,
//! failed check and breach to the practitioners' guidance of DOMAIN.md
//! (TTR over 5 minutes points at routing automation, a TTD that was never
//! measured means the alert never fired, conflicts above 0.1 % of writes...).

use super::model::{
    Advice, MetricInfo, Progress, Report, StepInfo, display_value, human_secs, one_line,
};
use crate::journal::event::Outcome;
use crate::playbook::MetricRole;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn put_back(r: &Report) -> &'static str {
    match r.restoration.status.as_str() {
        "nothing_changed" => "the drill changed nothing",
        _ => "everything the drill changed was put back",
    }
}

/// The outcome in one sentence.
pub fn outcome_line(r: &Report) -> String {
    match r.outcome {
        Outcome::Passed => format!(
            "Passed: every check held{}, and {}.",
            if r.metrics.values().any(|m| m.target.is_some()) {
                " and every target was met"
            } else {
                ""
            },
            put_back(r)
        ),
        Outcome::Failed => failed_line(r),
        Outcome::Aborted => aborted_line(r),
        Outcome::Interrupted => format!(
            "Interrupted: an operator stopped the drill{}; {}.",
            r.cancelled
                .as_ref()
                .map(|c| format!(" at {}", c.t))
                .unwrap_or_default(),
            put_back(r)
        ),
        Outcome::RestoreFailed => {
            let still = still_applied(r);
            format!(
                "Restoration FAILED: {} still in effect ({}); run `gameday restore` on this run directory now.",
                plural(still.len(), "change is", "changes are"),
                still.join(", ")
            )
        }
        Outcome::Incomplete => incomplete_line(r),
    }
}

/// The steps whose changes are still in effect.
fn still_applied(r: &Report) -> Vec<&str> {
    r.restoration
        .still_applied
        .iter()
        .map(|c| c.step.as_str())
        .collect()
}

/// A drill that ran to the end but failed: the targets missed (values for one
/// or two, names beyond that) and the checks that failed.
fn failed_line(r: &Report) -> String {
    let missed_metrics: Vec<(&String, _)> = r
        .metrics
        .iter()
        .filter(|(_, m)| m.met == Some(false))
        .collect();
    // Values for one or two; names only beyond that (the summary has the rest).
    let missed: Vec<String> = missed_metrics
        .iter()
        .map(|(n, m)| {
            if missed_metrics.len() <= 2 {
                format!(
                    "{n} {} against a target of {}",
                    m.display,
                    m.target.as_deref().unwrap_or("?")
                )
            } else {
                n.to_string()
            }
        })
        .collect();
    let failed: Vec<&str> = r
        .steps
        .iter()
        .filter(|s| s.status == Progress::Failed)
        .map(|s| s.name.as_str())
        .collect();
    let mut parts = vec![];
    if !missed.is_empty() {
        parts.push(format!(
            "{} of {} {} missed ({})",
            missed.len(),
            r.metrics.values().filter(|m| m.target.is_some()).count(),
            if r.metrics.values().filter(|m| m.target.is_some()).count() == 1 {
                "target"
            } else {
                "targets"
            },
            missed.join(if missed_metrics.len() <= 2 {
                "; "
            } else {
                ", "
            })
        ));
    }
    if failed.len() > 3 {
        parts.push(format!(
            "{} failed",
            plural(failed.len(), "check", "checks")
        ));
    } else if !failed.is_empty() {
        parts.push(format!(
            "{} failed ({})",
            plural(failed.len(), "check", "checks"),
            failed.join(", ")
        ));
    }
    if parts.is_empty() {
        parts.push("a phase did not pass".into());
    }
    format!(
        "Failed: the drill ran to the end but {}; {}.",
        parts.join(" and "),
        put_back(r)
    )
}

/// A drill stopped early: by a guardrail, the deadline or a fatal step.
fn aborted_line(r: &Report) -> String {
    let detail = r
        .cancelled
        .as_ref()
        .map(|c| c.detail.clone())
        .unwrap_or_default();
    let why = match r.cancelled.as_ref().map(|c| c.reason.as_str()) {
        Some("guardrail") => format!("a guardrail was breached ({detail})"),
        Some("deadline") => format!("the deadline passed ({detail})"),
        _ => format!("a step failed where the drill cannot go on ({detail})"),
    };
    format!(
        "Aborted: the drill stopped early because {why}; {}.",
        put_back(r)
    )
}

/// A run that stopped without finishing, and whether its changes are still in effect.
fn incomplete_line(r: &Report) -> String {
    let still = still_applied(r);
    let when = r
        .timeline
        .last()
        .map(|e| format!(" after {}", e.t))
        .unwrap_or_default();
    let state = if !still.is_empty() {
        format!(
            "{} STILL IN EFFECT ({}); run `gameday restore` on this run directory now",
            plural(still.len(), "change is", "changes are"),
            still.join(", ")
        )
    } else if let Some(last) = r.restoration.restore_runs.last() {
        if last.operator.contains("the dead-man's switch") {
            "its guard (the dead-man's switch) has since undone everything it changed".into()
        } else {
            "`gameday restore` has since undone everything it changed".into()
        }
    } else if r.restoration.changes.is_empty() {
        "it had changed nothing yet".into()
    } else {
        "nothing it changed is still in effect".into()
    };
    format!(
        "Incomplete: the run stopped without finishing{when} (the runner crashed or was killed); {state}."
    )
}

/// Numbers a conflict rate can be computed against.
fn writes_total(r: &Report) -> Option<f64> {
    const NAMES: [&str; 4] = ["writes", "total_writes", "writes_total", "canary_writes"];
    for n in NAMES {
        if let Some(v) = r.metrics.get(n).and_then(|m| m.value) {
            return Some(v);
        }
        if let Some(v) = r.recorded.iter().rev().find(|x| x.name == n) {
            return Some(v.value);
        }
    }
    r.data_safety.canary.as_ref().map(|c| c.writes as f64)
}

/// Why a TTD metric has no value: a failed `alert` step that set (or
/// should have set) its marker, which tells "no alert rule of that name
/// exists" apart from "the alert never fired".
fn alert_missing(r: &Report, m: &MetricInfo) -> Option<String> {
    r.steps
        .iter()
        .filter(|s| s.kind == "alert" && s.status != Progress::Passed)
        .filter(|s| s.mark.as_ref().is_none_or(|k| m.inputs.contains(k)))
        .find(|s| s.evidence.get("rule_exists") == Some(&serde_json::Value::Bool(false)))
        .map(|s| one_line(&s.summary, 200))
}

/// Guidance for one metric, or None when it needs none. The topic comes
/// from the metric's declared `role`, never from its name.
fn metric_advice(r: &Report, name: &str, m: &MetricInfo) -> Option<Advice> {
    match m.role {
        Some(MetricRole::Ttr) => return ttr_advice(name, m),
        Some(MetricRole::Ttd) => return ttd_advice(r, name, m),
        _ => {}
    }
    let missed = m.met == Some(false);
    let seen = seen(m);
    if m.value.is_none() {
        // Only the timing metrics say something when their marker never came.
        return m.target.as_ref().map(|_| Advice {
            about: name.to_string(),
            finding: format!("not measured: {}", m.detail),
            guidance: if r.outcome == Outcome::Aborted {
                "The drill stopped before this was measured: its value is unknown, not good. Measure it in the next run.".into()
            } else {
                "The step that records it did not run or recorded no value: fix the playbook or the step so the next run measures it.".into()
            },
        });
    }
    match m.role {
        Some(MetricRole::Rto) => missed.then(|| Advice {
            about: name.to_string(),
            finding: format!("the service took {seen} to be healthy everywhere again"),
            guidance: "RTO is typically 1-5 minutes for active-passive failover. Look at which step of the recovery took longest in the timeline: detection, rerouting, replica promotion, or the region's own recovery after restoration.".into(),
        }),
        Some(MetricRole::CatchUp) => missed.then(|| Advice {
            about: name.to_string(),
            finding: format!("replication was over budget: {seen}"),
            guidance: "Lag budgets per data class: credentials 5 s, financial transactions 30 s, user profiles 2 min, content 5 min, analytics 15 min; lag above 10 s for long is a red flag. Check replica capacity and the catch-up throughput after restoration.".into(),
        }),
        Some(MetricRole::Conflicts) => {
            let rate = match (m.value, writes_total(r)) {
                (Some(c), Some(w)) if w > 0.0 => Some(c / w),
                _ => None,
            };
            let over = rate.is_some_and(|x| x > 0.001);
            (missed || over).then(|| {
                let rate_text = rate
                    .map(|x| format!(", {} of writes", display_value(x, "ratio")))
                    .unwrap_or_default();
                Advice {
                    about: name.to_string(),
                    finding: format!("{seen}{rate_text}"),
                    guidance: "Conflicts above 0.1 % of writes need attention: alert on that rate, on conflicts older than 60 s at resolution, and on any conflict for an entity type that should never conflict. Region pinning makes conflicts rare; CRDTs merge deterministically; under last-writer-wins, clock skew drops writes silently.".into(),
                }
            })
        }
        Some(MetricRole::LostWrites | MetricRole::Rpo) => (missed
            || m.value.is_some_and(|v| v > 0.0))
        .then(|| Advice {
            about: name.to_string(),
            finding: format!("writes acknowledged during the drill were lost: {seen}"),
            guidance: "Every write made during failover must be recoverable: the span lost is the measured RPO. Under last-writer-wins, clock skew between regions drops newer writes without an error; use hybrid logical clocks or version vectors, or region pinning, and check replication lag at the moment of isolation.".into(),
        }),
        _ => missed.then(|| Advice {
            about: name.to_string(),
            finding: format!("{seen}: {}", m.detail),
            guidance: "A target the team set was missed: find out why and record it in the review.".into(),
        }),
    }
}

/// A metric's value against its target, as the advice quotes it.
fn seen(m: &MetricInfo) -> String {
    let target = m.target.as_deref().unwrap_or("none");
    format!("{} (target {target})", m.display)
}

/// Advice about the metric `name`.
fn advice(name: &str, finding: String, guidance: &str) -> Option<Advice> {
    Some(Advice {
        about: name.to_string(),
        finding,
        guidance: guidance.to_string(),
    })
}

/// Time to route (`role: ttr`): never rerouted, over 5 minutes, or slow.
fn ttr_advice(name: &str, m: &MetricInfo) -> Option<Advice> {
    let missed = m.met == Some(false);
    let seen = seen(m);
    match m.value {
        None if m.target.is_some() && m.met.is_some() => advice(
            name,
            format!(
                "traffic was never seen moving away from the isolated region: {}",
                m.detail
            ),
            "Either rerouting did not happen or the traffic query does not see it. Check the routing automation (health checks, routing controls, traffic dials) and that the traffic series is labelled by region.",
        ),
        Some(v) if missed && v > 300.0 => advice(
            name,
            format!("rerouting took {seen}, more than 5 minutes"),
            "Failover over 5 minutes means routing automation is broken or missing: traffic should move by itself when health checks fail. Under 60 s is good; global load balancers with health checks fail over in under 30 s.",
        ),
        Some(_) if missed => advice(
            name,
            format!("rerouting took {seen}"),
            "Under 60 s is good. DNS-based failover is bounded below by the record TTL (often 60 s); global load balancers with health checks fail over in under 30 s. Lower TTLs and health-check intervals, or move to health-checked global load balancing.",
        ),
        _ => None,
    }
}

/// Time to detect (`role: ttd`): no such alert, an alert that never fired, or slow.
fn ttd_advice(r: &Report, name: &str, m: &MetricInfo) -> Option<Advice> {
    let missed = m.met == Some(false);
    let seen = seen(m);
    match m.value {
        None if missed => match alert_missing(r, m) {
            Some(seen) => advice(
                name,
                format!("no alert of that name exists: {seen}"),
                "The alert the drill waits for is not defined where it looked (a misspelt alert name, or rules not loaded). Compare the name with /api/v1/rules; until it exists, nobody would be paged.",
            ),
            None => advice(
                name,
                format!("the alert never fired: {}", m.detail),
                "Nobody would have been paged. Check the alert rule's expression against the signals seen during isolation, its `for:` duration, and Alertmanager routing.",
            ),
        },
        Some(_) if missed => advice(
            name,
            format!("detection took {seen}"),
            "Shorten the rule's `for:` and evaluation interval, or alert on a faster signal such as synthetic probes (`probe_success`). Detection is only as precise as the scrape and evaluation intervals: read the error bar before tuning.",
        ),
        _ => None,
    }
}

fn phase_kind<'a>(r: &'a Report, phase: &str) -> &'a str {
    r.phases
        .iter()
        .find(|p| p.name == phase)
        .map(|p| p.kind.as_str())
        .unwrap_or("")
}

/// Everything the team should act on, most urgent first.
pub fn next_steps(r: &Report) -> Vec<Advice> {
    let mut out = run_advice(r);
    let covered = push_metric_advice(r, &mut out);
    let said_by_a_metric = |s: &StepInfo| {
        [&s.mark, &s.record]
            .into_iter()
            .flatten()
            .any(|k| covered.contains(&k.as_str()))
    };
    for s in r
        .steps
        .iter()
        .filter(|s| s.status == Progress::Failed && !said_by_a_metric(s))
    {
        out.push(failed_step_advice(r, s));
    }
    push_clock_advice(r, &mut out);
    // The same words twice help nobody.
    let mut seen = std::collections::HashSet::new();
    out.retain(|a| seen.insert((a.about.clone(), a.finding.clone())));
    if out.is_empty() && r.outcome == Outcome::Passed {
        out.push(Advice {
            about: "review".into(),
            finding: "nothing failed".into(),
            guidance: "Record time-to-detect and time-to-route in the runbook and compare them with the previous quarter's run.".into(),
        });
    }
    out
}

/// Advice about the run as a whole: changes still in effect, a run that
/// stopped early or was stopped, breached guardrails.
fn run_advice(r: &Report) -> Vec<Advice> {
    let mut out = vec![];
    if !r.restoration.still_applied.is_empty() {
        let list: Vec<String> = r
            .restoration
            .still_applied
            .iter()
            .map(|c| format!("`{}`", c.step))
            .collect();
        out.push(Advice {
            about: "restoration".into(),
            finding: format!(
                "{} still in effect: {}",
                plural(list.len(), "change is", "changes are"),
                list.join(", ")
            ),
            guidance: "Run `gameday restore RUN_DIR` now (it is idempotent and works from the journal). Changes without an automatic undo list what a person must do under Restoration. Then re-render this report with `gameday report RUN_DIR`.".into(),
        });
    }
    if r.outcome == Outcome::Incomplete {
        out.push(Advice {
            about: "run".into(),
            finding: "the journal ends before the run did: the runner crashed, was killed or the machine stopped".into(),
            guidance: "Find out why the runner stopped (host logs, out-of-memory killer, a SIGKILL). The metrics above were computed from what was recorded before the stop; the ones not measured had no chance to be.".into(),
        });
    }
    if r.outcome == Outcome::Interrupted {
        let signals: Vec<&str> = r.signals.iter().map(|s| s.signal.as_str()).collect();
        out.push(Advice {
            about: "run".into(),
            finding: format!(
                "an operator stopped the drill{}{}",
                r.cancelled
                    .as_ref()
                    .map(|c| format!(" at {}", c.t))
                    .unwrap_or_default(),
                if signals.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", signals.join(", "))
                }
            ),
            guidance: "Nothing after the stop was observed. Note why it was stopped in the review (the timeline shows what was happening), then run the drill again to the end.".into(),
        });
    }
    for name in &r.guardrails.breached {
        out.push(Advice {
            about: format!("guardrail `{name}`"),
            finding: "the guardrail was breached and the drill aborted".into(),
            guidance: "A guardrail protects users while the region is isolated. Find why it breached (see the timeline and the charts) before running the drill again: the system may not yet survive losing this region.".into(),
        });
    }
    out
}

/// Advice for each metric that needs it; returns the markers and values those
/// metrics were computed from.
fn push_metric_advice<'a>(r: &'a Report, out: &mut Vec<Advice>) -> Vec<&'a str> {
    let stopped_early = matches!(r.outcome, Outcome::Interrupted | Outcome::Incomplete);
    // Markers and values whose metric already has advice: the step that
    // failed to set them is the same failure, said once.
    let mut covered: Vec<&str> = vec![];
    for (name, m) in &r.metrics {
        if stopped_early && m.value.is_none() {
            continue; // never had the chance to be measured
        }
        if let Some(a) = metric_advice(r, name, m) {
            out.push(a);
            covered.extend(m.inputs.iter().map(String::as_str));
        }
    }
    covered
}

/// What to do about a failed step, by what its phase was for.
fn failed_step_advice(r: &Report, s: &StepInfo) -> Advice {
    let guidance = match phase_kind(r, &s.phase) {
        _ if s.kind == "residency" => {
            "Data residency was broken: during failover EU traffic must go to another EU region, never to the US; with no EU region left, degrade or refuse. Check the routing rules for EU users and cross-region replication, backup and export of personal data."
        }
        "precheck" => {
            "Pre-drill verification failed: the system was not healthy enough to drill (replication lag under 5 s in every region, synthetic monitors green). Fix that first; nothing was isolated."
        }
        "isolate" => {
            "The isolation itself failed: check the credentials and the resource the step changes. The drill observed nothing."
        }
        "restore" => {
            "A restoration step failed: check that the region serves traffic again and that replication caught up."
        }
        _ => {
            "What the drill expected did not happen: that is a finding for the review. The evidence is under Phases and steps."
        }
    };
    Advice {
        about: format!("step `{}`", s.name),
        finding: format!(
            "failed in phase `{}`: {}",
            s.phase,
            one_line(
                if s.summary.is_empty() {
                    s.error.as_deref().unwrap_or("")
                } else {
                    &s.summary
                },
                200
            )
        ),
        guidance: guidance.into(),
    }
}

/// Clocks more than a second apart from the runner's.
fn push_clock_advice(r: &Report, out: &mut Vec<Advice>) {
    for o in r
        .clock
        .offsets
        .iter()
        .filter(|o| o.offset_seconds.abs() > 1.0)
    {
        out.push(Advice {
            about: format!("clock of {}", o.source),
            finding: format!(
                "{} apart from the runner's clock",
                human_secs(o.offset_seconds.abs())
            ),
            guidance: "Synchronise clocks (NTP/chrony): instants read from a skewed clock shift TTD and TTR, and last-writer-wins drops writes under skew.".into(),
        });
    }
}
