//! Reports: pure functions of a run directory's `journal.jsonl` (plus the
//! chart data the run stored beside it). `write_reports` builds the report
//! model (`model`), then renders `report.json` (`json`), `report.md`
//! (`markdown`, from a template), the SVG charts (`charts`) and, on request,
//! JUnit XML (`junit`). It can be re-run at any time (`gameday report
//! RUN_DIR`), also for crashed runs, and gives the same files for the same
//! journal. `history` compares runs of the same drill over time.

pub mod advice;
pub mod charts;
pub mod history;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;

use crate::journal::{Event, JOURNAL_FILE, read_journal};
pub use model::Report;
use std::path::Path;

/// What `write_reports` returns (the report model).
pub type Summary = Report;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "cannot read {path}: {source}\n  = hint: name a run directory, such as reports/20261122T101500Z-hello"
    )]
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
    #[error("cannot read the template {path}: {source}")]
    TemplateRead {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}\n  = hint: fix the template, or leave out --template to use the shipped one")]
    Template(#[from] markdown::TemplateError),
}

/// Build the report model from a journal's events.
pub fn summarize(events: &[Event]) -> Report {
    model::build(events)
}

/// Write `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half a report.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let err = |e| ReportError::Write {
        path: path.display().to_string(),
        source: e,
    };
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Read and build the report of `run_dir` (nothing written).
pub fn load(run_dir: &Path) -> Result<Report, ReportError> {
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
    let mut report = model::build(&read.events);
    report.journal.torn_tail = read.torn_tail;
    report.journal.unreadable_lines = read.unreadable_lines;
    Ok(report)
}

/// Every format of one run, rendered.
pub struct Rendered {
    pub report: Report,
    pub json: String,
    pub markdown: String,
    pub junit: String,
}

/// Build the report of `run_dir`, draw its charts into `RUN_DIR/charts/`,
/// and render every format. `shown_dir` is how the report names the run
/// directory (in commands to copy); `template` is (name, source) of a
/// Markdown template instead of the shipped one.
pub fn render_run(
    run_dir: &Path,
    shown_dir: &str,
    template: Option<(&str, &str)>,
) -> Result<Rendered, ReportError> {
    let mut report = load(run_dir)?;
    if let Some((name, source)) = template {
        // A template that does not parse fails before anything is drawn.
        let mut env = minijinja::Environment::new();
        env.add_template(name, source)
            .map_err(|e| markdown::template_error(name, &e))?;
    }
    let (charts, chart_warnings) = charts::write_charts(run_dir, &report);
    report.charts = charts;
    for w in chart_warnings {
        report.warnings.push(model::WarningInfo {
            at: report.run.finished_at.clone().unwrap_or_default(),
            t: String::new(),
            message: w,
            step: None,
        });
    }
    report.previous = history::previous_run(run_dir, &report);
    let gantt = charts::mermaid_gantt(&report);
    let extras = markdown::Extras {
        run_dir: shown_dir,
        gantt: &gantt,
    };
    let markdown = match template {
        Some((name, source)) => markdown::render_with(&report, &extras, name, source)?,
        None => markdown::render(&report, &extras)?,
    };
    Ok(Rendered {
        json: json::render(&report),
        junit: junit::render(&report),
        markdown,
        report,
    })
}

/// Render every report of `run_dir` from its journal: report.json,
/// report.md, charts/*.svg, and `junit` when asked. Idempotent: the same
/// journal gives the same files.
pub fn write_reports(
    run_dir: &Path,
    template: Option<&Path>,
    junit: Option<&Path>,
) -> Result<Report, ReportError> {
    let custom = match template {
        Some(p) => Some((
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| ReportError::TemplateRead {
                path: p.display().to_string(),
                source: e,
            })?,
        )),
        None => None,
    };
    let shown = run_dir.display().to_string();
    let r = render_run(
        run_dir,
        &shown,
        custom.as_ref().map(|(n, s)| (n.as_str(), s.as_str())),
    )?;
    write_file(&run_dir.join("report.json"), r.json.as_bytes())?;
    write_file(&run_dir.join("report.md"), r.markdown.as_bytes())?;
    if let Some(j) = junit {
        write_file(j, r.junit.as_bytes())?;
    }
    Ok(r.report)
}

#[cfg(test)]
mod tests;
