//! JUnit XML (`--junit FILE` on `run` and `report`), so schedulers and CI
//! systems show drill results natively. One `<testsuite>` per run (named
//! after the drill and environment), and in it one `<testcase>` per check:
//!
//! - every step and watch (`classname` = `<drill>.<phase>`): failed → `<failure>`,
//!   skipped, cancelled or never finished → `<skipped>`;
//! - every metric with a target (`classname` = `<drill>.metrics`, name
//!   `<metric> <target>`): missed or not measured → `<failure>`;
//! - every guardrail (`<drill>.guardrails`): breached → `<failure>`;
//! - restoration (`<drill>.restoration`): anything still applied → `<failure>`.
//!
//! A run that did not finish gets an `<error>` test case `run finished`.

use super::model::{GuardrailState, MetricInfo, Report, StepInfo, trim_num};
use crate::journal::event::Outcome;
use std::fmt::Write;

/// XML-escape text for attributes and content; drops characters XML forbids.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

enum Verdict {
    Pass,
    Failure(String, String),
    Skipped(String),
    Error(String, String),
}

struct Case {
    classname: String,
    name: String,
    time: f64,
    verdict: Verdict,
    out: String,
}

fn cases(r: &Report) -> Vec<Case> {
    let drill = &r.run.drill;
    let mut out: Vec<Case> = r.steps.iter().map(|s| step_case(drill, s)).collect();
    out.extend(
        r.metrics
            .iter()
            .filter_map(|(name, m)| metric_case(drill, name, m)),
    );
    out.extend(r.guardrails.names.iter().map(|g| guardrail_case(r, g)));
    out.extend(restoration_case(r));
    if r.outcome == Outcome::Incomplete {
        out.push(Case {
            classname: format!("{drill}.run"),
            name: "run finished".into(),
            time: 0.0,
            verdict: Verdict::Error(
                "the run stopped without finishing (crash or kill)".into(),
                r.outcome_line.clone(),
            ),
            out: String::new(),
        });
    }
    out
}

/// A step or watch: failed → failure; skipped, cancelled, unfinished → skipped.
fn step_case(drill: &str, s: &StepInfo) -> Case {
    let mut text = String::new();
    if !s.call.is_empty() {
        let _ = writeln!(text, "call: {}", s.call);
    }
    if let Some(e) = &s.expectation {
        let _ = writeln!(text, "expected: {e}");
    }
    if !s.summary.is_empty() {
        let _ = writeln!(text, "seen: {}", s.summary);
    }
    let _ = writeln!(text, "attempts: {}", s.attempts);
    let verdict = match s.status.as_str() {
        "passed" => Verdict::Pass,
        "failed" => Verdict::Failure(
            if s.summary.is_empty() {
                s.error.clone().unwrap_or_default()
            } else {
                s.summary.clone()
            },
            s.error.clone().unwrap_or_default(),
        ),
        "unfinished" => Verdict::Skipped("the run stopped before this step finished".into()),
        other => Verdict::Skipped(format!("{other}: {}", s.summary)),
    };
    Case {
        classname: format!("{drill}.{}", s.phase),
        name: s.name.clone(),
        time: s.duration_seconds.unwrap_or(0.0),
        verdict,
        out: text,
    }
}

/// A metric with a target (none without): missed or not measured → failure.
fn metric_case(drill: &str, name: &str, m: &MetricInfo) -> Option<Case> {
    let target = m.target.as_ref()?;
    let text = format!(
        "value: {}{}\ntarget: {target}\nmeasured: {}\n",
        m.display,
        if m.error_bar.is_empty() {
            String::new()
        } else {
            format!(" ({})", m.error_bar)
        },
        m.detail
    );
    let verdict = match m.met {
        Some(true) => Verdict::Pass,
        _ => Verdict::Failure(
            format!("{name} was {} against a target of {target}", m.display),
            text.clone(),
        ),
    };
    Some(Case {
        classname: format!("{drill}.metrics"),
        name: format!("{name} {target}"),
        time: 0.0,
        verdict,
        out: text,
    })
}

/// A guardrail: breached → failure, with the breach's summary.
fn guardrail_case(r: &Report, g: &str) -> Case {
    let drill = &r.run.drill;
    let verdict = if r.guardrails.breached.iter().any(|b| b == g) {
        let last = r
            .guardrails
            .events
            .iter()
            .rev()
            .find(|e| e.name == g && e.state == GuardrailState::Breached)
            .map(|e| e.summary.clone())
            .unwrap_or_default();
        Verdict::Failure(format!("guardrail {g} was breached"), last)
    } else {
        Verdict::Pass
    };
    Case {
        classname: format!("{drill}.guardrails"),
        name: g.to_string(),
        time: 0.0,
        verdict,
        out: String::new(),
    }
}

/// Restoration, when the drill changed anything: still applied → failure.
fn restoration_case(r: &Report) -> Option<Case> {
    if r.restoration.changes.is_empty() {
        return None;
    }
    let drill = &r.run.drill;
    let still: Vec<String> = r
        .restoration
        .still_applied
        .iter()
        .map(|c| format!("{} ({})", c.step, c.what))
        .collect();
    let verdict = if still.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Failure(
            format!("still applied: {}", still.join(", ")),
            "run `gameday restore RUN_DIR`".into(),
        )
    };
    Some(Case {
        classname: format!("{drill}.restoration"),
        name: "everything put back".into(),
        time: 0.0,
        verdict,
        out: String::new(),
    })
}

/// The JUnit XML text of a report.
pub fn render(r: &Report) -> String {
    let cases = cases(r);
    let count = |f: fn(&Verdict) -> bool| cases.iter().filter(|c| f(&c.verdict)).count();
    let failures = count(|v| matches!(v, Verdict::Failure(..)));
    let errors = count(|v| matches!(v, Verdict::Error(..)));
    let skipped = count(|v| matches!(v, Verdict::Skipped(..)));
    let time = trim_num(r.run.duration_seconds.unwrap_or(0.0));
    let suite = format!("{} ({})", r.run.drill, r.run.environment);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"gameday\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\">",
        cases.len()
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" timestamp=\"{}\" time=\"{time}\">",
        escape(&suite),
        cases.len(),
        escape(&r.run.started_at)
    );
    x.push_str("    <properties>\n");
    for (k, v) in [
        ("outcome", r.outcome.as_str()),
        ("outcome_line", r.outcome_line.as_str()),
        ("run_id", r.run.run_id.as_str()),
        ("operator", r.run.operator.as_str()),
        ("tool_version", r.run.tool_version.as_str()),
    ] {
        let _ = writeln!(x, "      <property name=\"{k}\" value=\"{}\"/>", escape(v));
    }
    x.push_str("    </properties>\n");
    for c in &cases {
        let _ = write!(
            x,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
            escape(&c.classname),
            escape(&c.name),
            trim_num(c.time)
        );
        let body = match &c.verdict {
            Verdict::Pass => String::new(),
            Verdict::Failure(m, t) => format!(
                "      <failure message=\"{}\" type=\"failure\">{}</failure>\n",
                escape(m),
                escape(t)
            ),
            Verdict::Error(m, t) => format!(
                "      <error message=\"{}\" type=\"error\">{}</error>\n",
                escape(m),
                escape(t)
            ),
            Verdict::Skipped(m) => format!("      <skipped message=\"{}\"/>\n", escape(m)),
        };
        let sysout = if c.out.is_empty() {
            String::new()
        } else {
            format!("      <system-out>{}</system-out>\n", escape(&c.out))
        };
        if body.is_empty() && sysout.is_empty() {
            x.push_str("/>\n");
        } else {
            let _ = write!(x, ">\n{body}{sysout}    </testcase>\n");
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
