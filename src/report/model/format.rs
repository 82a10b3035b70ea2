//! Formatting shared by the builder and every renderer: instants, offsets,
//! durations and values for people.

use super::types::*;
use crate::journal::event::Status;
use chrono::{DateTime, SecondsFormat, Utc};

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

pub(super) fn status_str(s: Status) -> &'static str {
    Progress::from(s).as_str()
}

/// Step kinds as playbooks write them (`canary-verify`), also for
/// journals written by versions that used snake_case.
pub(super) fn kebab(kind: &str) -> String {
    kind.replace('_', "-")
}

pub(super) fn secs_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
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
        (Some(true), _, _) => Verdict::Met,
        (Some(false), _, _) => Verdict::Missed,
        (_, _, None) => Verdict::NotMeasured,
        (None, None, _) => Verdict::NoTarget,
        (None, Some(_), _) => Verdict::NotJudged,
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
        verdict,
    }
}

pub(super) fn clock_notes(offsets: &[ClockOffsetInfo], markers: &[MarkerInfo]) -> Vec<String> {
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
