//! History: every run under a directory (default `./reports`), read from
//! the journals, each compared with the previous run of the same drill in
//! the same environment. Feeds `gameday history` (table, Markdown, JSON,
//! CSV) and the "Compared with the previous run" section of report.md.
//!
//! Metrics are matched across runs by their declared `role` (`ttd`, `ttr`,
//! `rto`, `rpo`, `catch_up`, `conflicts`, `lost_writes`), then by name, so
//! a drill whose TTD is called `time_to_page` still shows in the TTD
//! column. Direction: a metric with a target `<`/`<=` is better lower,
//! `>`/`>=` better higher, `==` better closer to the target; without a
//! target, every role is better lower; other metrics are only shown as
//! changed.

use super::model::{self, MetricChange, MetricInfo, PreviousRun, Report, display_value};
use crate::journal::JOURNAL_FILE;
use crate::journal::event::Outcome;
use crate::playbook::MetricRole;
use crate::playbook::expect::{Comparison, Op};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The metrics the history shows, by role, in this order (the table and
/// Markdown leave out roles no run has; CSV always has every column).
pub const COLUMNS: [MetricRole; 7] = MetricRole::ALL;

/// One run in the history.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub run_id: String,
    pub run_dir: String,
    pub started_at: String,
    pub drill: String,
    pub environment: String,
    pub outcome: Outcome,
    /// The previous run of the same drill and environment, if any.
    pub previous_run_id: Option<String>,
    /// Every metric, compared with the previous run.
    pub metrics: Vec<MetricChange>,
}

/// A run directory and its report.
pub type Run = (PathBuf, Report);

/// Runs found under `dir` (its subdirectories holding a journal), oldest
/// first. Directories that are not runs are skipped; unreadable runs are
/// returned as warnings.
pub fn scan(dir: &Path) -> std::io::Result<(Vec<Run>, Vec<String>)> {
    let mut runs = vec![];
    let mut warnings = vec![];
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        if !path.join(JOURNAL_FILE).is_file() {
            continue;
        }
        match super::load(&path) {
            Ok(r) => runs.push((path, r)),
            Err(e) => warnings.push(format!("skipped {}: {e}", path.display())),
        }
    }
    runs.sort_by(|a, b| {
        a.1.run
            .started_at
            .cmp(&b.1.run.started_at)
            .then(a.0.cmp(&b.0))
    });
    Ok((runs, warnings))
}

/// How good a value is, as a number where lower is better, judged by the
/// metric's target: `<`/`<=` lower is better, `>`/`>=` higher, `==`/`!=`
/// the distance to the target value. None when there is no way to tell.
fn badness(m: Option<&MetricInfo>) -> Option<Box<dyn Fn(f64) -> f64>> {
    if let Some(c) = m
        .and_then(|m| m.target.as_deref())
        .and_then(|t| Comparison::parse(t).ok())
    {
        let target = c.value;
        return Some(match c.op {
            Op::Lt | Op::Le => Box::new(|v| v),
            Op::Gt | Op::Ge => Box::new(|v| -v),
            Op::Eq => Box::new(move |v| (v - target).abs()),
            Op::Ne => Box::new(move |v| -(v - target).abs()),
        });
    }
    m.and_then(|m| m.role)
        .map(|_| Box::new(|v| v) as Box<dyn Fn(f64) -> f64>)
}

fn signed(v: f64, unit: &str) -> String {
    let text = display_value(v.abs(), unit);
    if v > 0.0 {
        format!("+{text}")
    } else if v < 0.0 {
        format!("−{text}")
    } else {
        text
    }
}

/// Compare the metric `name` of two runs.
pub fn compare_metric(
    name: &str,
    now: Option<&MetricInfo>,
    before: Option<&MetricInfo>,
) -> MetricChange {
    let unit = now.or(before).map(|m| m.unit.clone()).unwrap_or_default();
    let show = |m: Option<&MetricInfo>| match m {
        Some(m) => m.display.clone(),
        None => "—".into(),
    };
    let (a, b) = (now.and_then(|m| m.value), before.and_then(|m| m.value));
    let delta = match (a, b) {
        (Some(a), Some(b)) => signed(a - b, &unit),
        _ => String::new(),
    };
    let (verdict, change) = match (a, b) {
        (Some(a), Some(b)) => {
            let d = a - b;
            let eps = 1e-9 * a.abs().max(b.abs()).max(1.0);
            if d.abs() <= eps {
                ("same".to_string(), "same".to_string())
            } else {
                let v = match badness(now.or(before)) {
                    Some(f) if f(a) < f(b) => "better",
                    Some(f) if f(a) > f(b) => "worse",
                    Some(_) => "as good",
                    None => "changed",
                };
                (v.to_string(), format!("{} ({v})", signed(d, &unit)))
            }
        }
        (Some(_), None) if before.is_some() => {
            ("new".into(), "measured now, not measured before".into())
        }
        (Some(_), None) => ("new".into(), "new metric".into()),
        (None, Some(_)) => ("gone".into(), "not measured this time (worse)".into()),
        (None, None) => ("unknown".into(), "not measured in either run".into()),
    };
    MetricChange {
        name: name.to_string(),
        role: now.or(before).and_then(|m| m.role),
        now: a,
        before: b,
        unit,
        now_display: show(now),
        before_display: show(before),
        verdict,
        change,
        delta,
    }
}

/// Every metric of `now` and `before`, compared: paired by role when they
/// have one (a renamed TTD is still the TTD), otherwise by name.
pub fn compare(now: &Report, before: Option<&Report>) -> Vec<MetricChange> {
    let mut paired: Vec<&String> = vec![];
    let mut out: Vec<MetricChange> = now
        .metrics
        .iter()
        .map(|(name, m)| {
            let prev = before.and_then(|b| {
                let by_role = m
                    .role
                    .and_then(|role| b.metrics.iter().find(|(_, x)| x.role == Some(role)));
                by_role.or_else(|| {
                    b.metrics
                        .get_key_value(name)
                        .filter(|(_, x)| x.role.is_none() || x.role == m.role)
                })
            });
            if let Some((k, _)) = prev {
                paired.push(k);
            }
            compare_metric(name, Some(m), prev.map(|(_, x)| x))
        })
        .collect();
    if let Some(b) = before {
        for (name, m) in &b.metrics {
            if !paired.contains(&name) {
                out.push(compare_metric(name, None, Some(m)));
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn same_series(a: &Report, b: &Report) -> bool {
    a.run.drill == b.run.drill && a.run.environment == b.run.environment
}

/// Drill, environment and start of a run, from its journal's first line
/// (cheap: a day-long journal is not read to find out whose it is).
fn journal_header(run_dir: &Path) -> Option<(String, String, String)> {
    use std::io::BufRead;
    let f = std::fs::File::open(run_dir.join(JOURNAL_FILE)).ok()?;
    let mut line = String::new();
    std::io::BufReader::new(f).read_line(&mut line).ok()?;
    let e: crate::journal::Event = serde_json::from_str(&line).ok()?;
    match e.kind {
        crate::journal::EventKind::RunStarted {
            drill, environment, ..
        } => Some((drill, environment, model::rfc(e.ts))),
        _ => None,
    }
}

/// The previous run of the same drill and environment in `run_dir`'s parent.
pub fn previous_run(run_dir: &Path, report: &Report) -> Option<PreviousRun> {
    let parent = run_dir.parent()?;
    let me = std::fs::canonicalize(run_dir).ok();
    let mut best: Option<(String, PathBuf)> = None;
    for entry in std::fs::read_dir(parent).ok()?.flatten() {
        let path = entry.path();
        if std::fs::canonicalize(&path).ok() == me {
            continue;
        }
        let Some((drill, env, started)) = journal_header(&path) else {
            continue;
        };
        if drill != report.run.drill
            || env != report.run.environment
            || started >= report.run.started_at
        {
            continue;
        }
        if best.as_ref().is_none_or(|(b, _)| started > *b) {
            best = Some((started, path));
        }
    }
    let b = super::load(&best?.1).ok()?;
    Some(PreviousRun {
        run_id: b.run.run_id.clone(),
        started_at: b.run.started_at.clone(),
        outcome: b.outcome,
        metrics: compare(report, Some(&b)),
    })
}

/// History rows of the runs under `dir`, oldest first, optionally of one drill.
pub fn rows(runs: &[Run], drill: Option<&str>) -> Vec<Row> {
    let mut out = vec![];
    for (i, (path, r)) in runs.iter().enumerate() {
        if drill.is_some_and(|d| d != r.run.drill) {
            continue;
        }
        let prev = runs[..i]
            .iter()
            .rev()
            .map(|(_, p)| p)
            .find(|p| same_series(p, r));
        out.push(Row {
            run_id: r.run.run_id.clone(),
            run_dir: path.display().to_string(),
            started_at: r.run.started_at.clone(),
            drill: r.run.drill.clone(),
            environment: r.run.environment.clone(),
            outcome: r.outcome,
            previous_run_id: prev.map(|p| p.run.run_id.clone()),
            metrics: compare(r, prev),
        });
    }
    out
}

/// How `gameday history` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Markdown,
    Json,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "table" => Format::Table,
            "md" | "markdown" => Format::Markdown,
            "json" => Format::Json,
            "csv" => Format::Csv,
            _ => return None,
        })
    }
}

fn cell(row: &Row, role: MetricRole, with_change: bool) -> String {
    match row.metrics.iter().find(|m| m.role == Some(role)) {
        None => "—".into(),
        Some(m) if with_change && row.previous_run_id.is_some() => match m.verdict.as_str() {
            "better" | "worse" | "as good" | "changed" => {
                format!("{} ({}, {})", m.now_display, m.delta, m.verdict)
            }
            "same" => format!("{} (same)", m.now_display),
            "gone" => format!("{} (worse: measured last time)", m.now_display),
            _ => m.now_display.clone(),
        },
        Some(m) => m.now_display.clone(),
    }
}

fn date(s: &str) -> String {
    // 2026-11-22T00:22:21.447Z → 2026-11-22 00:22
    s.get(..16)
        .map(|d| d.replace('T', " "))
        .unwrap_or_else(|| s.to_string())
}

/// The roles at least one of `rows` measured or defined.
pub fn shown_roles(rows: &[Row]) -> Vec<MetricRole> {
    COLUMNS
        .into_iter()
        .filter(|role| {
            rows.iter()
                .any(|r| r.metrics.iter().any(|m| m.role == Some(*role)))
        })
        .collect()
}

fn header(roles: &[MetricRole]) -> Vec<String> {
    let mut h: Vec<String> = ["date (UTC)", "drill", "environment", "outcome"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    h.extend(roles.iter().map(|r| r.title().to_string()));
    h
}

fn cells(r: &Row, roles: &[MetricRole], with_change: bool) -> Vec<String> {
    let mut c = vec![
        date(&r.started_at),
        r.drill.clone(),
        r.environment.clone(),
        r.outcome.as_str().to_string(),
    ];
    c.extend(roles.iter().map(|role| cell(r, *role, with_change)));
    c
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Render the rows.
pub fn render(rows: &[Row], format: Format) -> String {
    let roles = shown_roles(rows);
    match format {
        Format::Table => {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(header(&roles));
            for r in rows {
                t.add_row(cells(r, &roles, true));
            }
            format!("{t}\n")
        }
        Format::Markdown => {
            let h = header(&roles);
            let mut s = format!("| {} |\n|{}\n", h.join(" | "), "---|".repeat(h.len()));
            for r in rows {
                let c: Vec<String> = cells(r, &roles, true)
                    .into_iter()
                    .map(|c| c.replace('|', "\\|"))
                    .collect();
                s.push_str(&format!("| {} |\n", c.join(" | ")));
            }
            s
        }
        Format::Json => {
            let mut s = serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into());
            s.push('\n');
            s
        }
        Format::Csv => {
            let mut h: Vec<String> = vec![
                "started_at".into(),
                "run_id".into(),
                "drill".into(),
                "environment".into(),
                "outcome".into(),
            ];
            for role in COLUMNS {
                h.push(role.as_str().to_string());
                h.push(format!("{role}_change"));
            }
            let mut s = h.join(",") + "\n";
            for r in rows {
                let mut c = vec![
                    r.started_at.clone(),
                    r.run_id.clone(),
                    r.drill.clone(),
                    r.environment.clone(),
                    r.outcome.as_str().to_string(),
                ];
                for role in COLUMNS {
                    let m = r.metrics.iter().find(|m| m.role == Some(role));
                    c.push(
                        m.and_then(|m| m.now)
                            .map(model::trim_num)
                            .unwrap_or_default(),
                    );
                    c.push(
                        m.filter(|_| r.previous_run_id.is_some())
                            .map(|m| m.verdict.clone())
                            .unwrap_or_default(),
                    );
                }
                let c: Vec<String> = c.iter().map(|x| csv_field(x)).collect();
                s.push_str(&(c.join(",") + "\n"));
            }
            s
        }
    }
}
