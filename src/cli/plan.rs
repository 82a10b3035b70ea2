//! `gameday plan`: the full dry run. Every phase and step with resolved
//! values, every call it would make and how it would be undone, guardrails
//! and metrics. Loads and prints; never calls anything.

use super::{PlaybookArgs, load, print_diags};
use crate::engine::exit;
use crate::playbook::spec::Effect;
use crate::playbook::{MetricSource, Step};
use crate::steps::{PlanCtx, executor};
use std::fmt::Write;
use std::path::Path;

pub fn plan(path: &Path, args: &PlaybookArgs) -> i32 {
    let loaded = match load(path, args, false) {
        Ok(l) => l,
        Err(d) => {
            print_diags(&d);
            return exit::INVALID;
        }
    };
    // A secret whose variable is set is resolved even here: never shown.
    let redactor = crate::redact::Redactor::new(&loaded.secrets);
    print!("{}", redactor.text(&render(&loaded.playbook)));
    exit::PASSED
}

fn step_lines(out: &mut String, s: &Step, ctx: &PlanCtx, indent: &str) {
    let effect = match s.spec.effect() {
        Effect::ReadOnly => "check",
        Effect::Mutating { .. } => "CHANGE",
        Effect::Interactive => "manual",
        Effect::Passive => "pause",
        Effect::Restore => "restore",
    };
    let _ = writeln!(out, "{indent}- {} [{} · {effect}]", s.name, s.spec.kind());
    if let Some(w) = &s.wait {
        let _ = writeln!(
            out,
            "{indent}    until it holds: every {}, at most {}",
            w.every, w.timeout
        );
    }
    for c in executor(&s.spec).plan(ctx) {
        let _ = writeln!(out, "{indent}    call: {}", c.call);
        if let Some(u) = c.undo {
            let _ = writeln!(out, "{indent}    undo: {u}");
        }
    }
    if let Some(irr) = &s.irreversible {
        let _ = writeln!(
            out,
            "{indent}    IRREVERSIBLE: {} (covered by `{}`)",
            irr.reason, irr.covered_by
        );
    }
    if let Some(m) = &s.mark {
        let _ = writeln!(out, "{indent}    sets marker: {m}");
    }
    if let Some(r) = &s.record {
        let _ = writeln!(out, "{indent}    records: {r}");
    }
}

/// The plan as text.
pub fn render(pb: &crate::playbook::Playbook) -> String {
    let ctx = PlanCtx { playbook: pb };
    let mut out = String::new();
    header_lines(&mut out, pb);
    let after_restore =
        "\nAfter the restore phase: anything still applied is undone automatically, newest first.";
    let mut said_after_restore = false;
    for p in &pb.phases {
        if p.kind == crate::playbook::PhaseKind::Post && !said_after_restore {
            let _ = writeln!(out, "{after_restore}");
            said_after_restore = true;
        }
        phase_lines(&mut out, p, &ctx);
    }
    if !said_after_restore {
        let _ = writeln!(out, "{after_restore}");
    }
    if !pb.guardrails.is_empty() {
        let _ = writeln!(
            out,
            "\nGuardrails (from the first change until restoration ends):"
        );
        for g in &pb.guardrails {
            polled_check_lines(&mut out, &ctx, "  ", &g.step, "breach", &g.for_, &g.every);
        }
    }
    if !pb.metrics.is_empty() {
        let _ = writeln!(out, "\nMetrics:");
        for m in &pb.metrics {
            let src = match &m.source {
                MetricSource::Between { from, to } => format!("time from `{from}` to `{to}`"),
                MetricSource::Value { record, .. } => format!("value `{record}`"),
            };
            let t = m
                .target
                .as_ref()
                .map(|t| format!(", target {t}"))
                .unwrap_or_default();
            let _ = writeln!(out, "  - {}: {src}{t}", m.name);
        }
    }
    let _ = writeln!(out, "\nNothing was called: this is a plan.");
    out
}

/// The drill's name, environment and run-wide settings, and its vars.
fn header_lines(out: &mut String, pb: &crate::playbook::Playbook) {
    let _ = writeln!(
        out,
        "Drill {} (environment {}) — {}",
        pb.name, pb.environment, pb.path
    );
    if let Some(d) = &pb.description {
        let _ = writeln!(out, "  {}", d.trim());
    }
    let _ = writeln!(
        out,
        "  unattended runs: {}",
        if pb.unattended {
            "allowed (with --yes)"
        } else {
            "not allowed"
        }
    );
    if let Some(d) = pb.deadline {
        let _ = writeln!(out, "  deadline: {d}");
    }
    let _ = writeln!(
        out,
        "  guard: restores if the runner dies or sends no heartbeat for {}",
        pb.lease
    );
    if !pb.notify.is_empty() {
        let names: Vec<&str> = pb.notify.iter().map(|n| n.name.as_str()).collect();
        let _ = writeln!(out, "  notify: {}", names.join(", "));
    }
    if let Some(p) = &pb.pushgateway {
        let _ = writeln!(out, "  pushgateway: {p}");
    }
    if !pb.vars.is_empty() {
        let _ = writeln!(out, "\nVars:");
        for (k, v) in &pb.vars {
            let _ = writeln!(out, "  {k} = {v}");
        }
    }
}

/// One phase: its budget, steps, watches and observation window.
fn phase_lines(out: &mut String, p: &crate::playbook::Phase, ctx: &PlanCtx) {
    let budget = p
        .budget
        .map(|b| {
            let over = match p.over_budget {
                crate::playbook::OverBudget::Warn => "a warning",
                crate::playbook::OverBudget::Fail => "a failure",
            };
            format!(", budget {b} (over budget is {over})")
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\nPhase {} ({}{budget}; on failure: {:?})",
        p.name,
        p.kind.as_str(),
        p.on_failure
    );
    for s in &p.steps {
        step_lines(out, s, ctx, "  ");
    }
    if !p.watches.is_empty() {
        let _ = writeln!(out, "  watches (in the background):");
        for s in &p.watches {
            step_lines(out, s, ctx, "    ");
        }
    }
    if let Some(h) = p.hold {
        let _ = writeln!(
            out,
            "  hold {h} after the steps and watches (observation window); invariants:"
        );
        for i in &p.invariants {
            polled_check_lines(out, ctx, "    ", &i.step, "broken", &i.for_, &i.every);
        }
        if p.invariants.is_empty() {
            let _ = writeln!(out, "    (none: a fixed wait)");
        }
    }
    if p.kind == crate::playbook::PhaseKind::Post {
        let _ = writeln!(
            out,
            "  (runs after restoration; checks only; a failure fails the drill, exit 1)"
        );
    }
}

/// A check polled in the background (a guardrail or an invariant): when it
/// counts as `when` (breached, broken), and the calls it makes.
fn polled_check_lines(
    out: &mut String,
    ctx: &PlanCtx,
    indent: &str,
    step: &Step,
    when: &str,
    for_: &dyn std::fmt::Display,
    every: &dyn std::fmt::Display,
) {
    let _ = writeln!(
        out,
        "{indent}- {}: {when} when failing for {for_} (checked every {every})",
        step.name
    );
    for c in executor(&step.spec).plan(ctx) {
        let _ = writeln!(out, "{indent}    call: {}", c.call);
    }
}
