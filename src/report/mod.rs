//! Reports: pure functions of a run directory's `journal.jsonl` (plus the
//! chart data the run stored beside it). `write_reports` builds the report
//! model (`model`), then renders `report.json` (`json`), `report.md`
//! (`markdown`, from a template), the SVG charts (`charts`) and, on request,
//! JUnit XML (`junit`). It can be re-run at any time (`gameday report
//! RUN_DIR`), also for crashed runs, and gives the same files for the same
//! journal. `history` compares runs of the same drill over time.

pub mod advice;
pub mod charts;
pub mod findings;
pub mod history;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod png;
pub mod script;
pub mod trend;
pub mod verify;

use crate::journal::reader::for_each_event;
use crate::journal::{Event, EventKind, JOURNAL_FILE};
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
    #[error(
        "{path}:{line}: the playbook journaled in `run_started` does not load: {message}\n  = hint: the journal was edited, or written by a gameday whose playbook model differs; render it with the version named in its `tool_version`"
    )]
    Playbook {
        path: String,
        line: usize,
        message: String,
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
    write_file_with(path, |w| std::io::Write::write_all(w, bytes))
}

/// Write `path` with `f` through a temporary file and a rename.
pub(crate) fn write_file_with(
    path: &Path,
    f: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), ReportError> {
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
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(err)?);
    f(&mut w).map_err(err)?;
    std::io::Write::flush(&mut w).map_err(err)?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(err)
}

/// Read and build the report of `run_dir` (nothing written). The journal
/// is read twice, one line at a time: first for the instants every offset
/// counts from (the first event, the `isolated` marker), then to build.
pub fn load(run_dir: &Path) -> Result<Report, ReportError> {
    let jpath = run_dir.join(JOURNAL_FILE);
    let read_err = |e| ReportError::Read {
        path: jpath.display().to_string(),
        source: e,
    };
    let mut start = None;
    let mut isolated = None;
    let mut last_complete = String::new();
    // Markers are few: parse only the lines that can hold one.
    scan_lines(&jpath, |line| {
        if line.ends_with('\n') && !line.trim().is_empty() {
            last_complete.clear();
            last_complete.push_str(line);
        }
        let wanted =
            start.is_none() || (isolated.is_none() && line.contains(r#""event":"marker""#));
        if let Some(e) = wanted
            .then(|| serde_json::from_str::<Event>(line).ok())
            .flatten()
        {
            start.get_or_insert(e.ts);
            if let EventKind::Marker { name, at, .. } = &e.kind
                && name == model::REFERENCE_MARKER
            {
                isolated.get_or_insert(*at);
            }
        }
    })
    .map_err(read_err)?;
    let Some(start) = start else {
        return Err(ReportError::Empty {
            path: jpath.display().to_string(),
        });
    };
    let mut builder = model::Builder::new(start, isolated);
    let read = for_each_event(&jpath, |e| builder.feed(&e)).map_err(read_err)?;
    if let Some((line, message)) = read.unloadable_playbook {
        return Err(ReportError::Playbook {
            path: jpath.display().to_string(),
            line,
            message,
        });
    }
    let mut report = builder.finish();
    report.journal.torn_tail = read.torn_tail;
    report.journal.unreadable_lines = read.unreadable_lines;
    if !last_complete.is_empty() {
        report.journal.final_hash =
            Some(crate::journal::chain::line_hash(last_complete.as_bytes()));
        report.journal.chained = last_complete.contains(r#""prev":""#);
    }
    Ok(report)
}

/// Call `f` with every line of `path`.
fn scan_lines(path: &Path, mut f: impl FnMut(&str)) -> std::io::Result<()> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let mut buf = Vec::new();
    while reader.read_until(b'\n', &mut buf)? > 0 {
        f(&String::from_utf8_lossy(&buf));
        buf.clear();
    }
    Ok(())
}

/// Every format of one run, rendered.
pub struct Rendered {
    pub report: Report,
    pub json: String,
    pub markdown: String,
    pub junit: String,
}

/// A report ready to render: built, its charts drawn into `RUN_DIR/charts/`,
/// compared with the previous run, with its Gantt chart.
struct Prepared {
    report: Report,
    gantt: String,
}

fn prepare(
    run_dir: &Path,
    template: Option<(&str, &str)>,
    draw: bool,
) -> Result<Prepared, ReportError> {
    let mut report = load(run_dir)?;
    if let Some((name, source)) = template {
        // A template that does not parse fails before anything is drawn.
        let mut env = minijinja::Environment::new();
        env.add_template(name, source)
            .map_err(|e| markdown::template_error(name, &e))?;
    }
    let (charts, mut chart_warnings) = charts::charts_of(run_dir, &report, draw);
    report.charts = charts;
    match charts::gantt_of(run_dir, &report, draw) {
        Ok(g) => report.phase_chart = g,
        Err(w) => chart_warnings.push(w),
    }
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
    Ok(Prepared { report, gantt })
}

fn markdown_of(
    p: &mut Prepared,
    shown_dir: &str,
    template: Option<(&str, &str)>,
) -> Result<String, ReportError> {
    let extras = markdown::Extras {
        run_dir: shown_dir,
        gantt: &p.gantt,
    };
    Ok(match template {
        Some((name, source)) => markdown::render_with(&mut p.report, &extras, name, source)?,
        None => markdown::render(&mut p.report, &extras)?,
    })
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
    let mut p = prepare(run_dir, template, true)?;
    let markdown = markdown_of(&mut p, shown_dir, template)?;
    Ok(Rendered {
        json: json::render(&p.report),
        junit: junit::render(&p.report),
        markdown,
        report: p.report,
    })
}

/// Which report files to write (`--format md,html,json,junit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    pub md: bool,
    pub html: bool,
    pub json: bool,
    /// `RUN_DIR/junit.xml` (or the `--junit FILE`).
    pub junit: bool,
}

impl Formats {
    /// What a run writes unless told otherwise.
    pub const DEFAULT: Formats = Formats {
        md: true,
        html: true,
        json: true,
        junit: false,
    };

    /// `md,html,json,junit`, any subset, comma-separated.
    pub fn parse(s: &str) -> Result<Formats, String> {
        let mut f = Formats {
            md: false,
            html: false,
            json: false,
            junit: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "md" | "markdown" => f.md = true,
                "html" => f.html = true,
                "json" => f.json = true,
                "junit" => f.junit = true,
                other => {
                    return Err(format!(
                        "unknown report format `{other}`: choose from md, html, json, junit (comma-separated)"
                    ));
                }
            }
        }
        if f == (Formats {
            md: false,
            html: false,
            json: false,
            junit: false,
        }) {
            return Err("no report format given: choose from md, html, json, junit".into());
        }
        Ok(f)
    }
}

/// Render every report of `run_dir` from its journal: report.json,
/// report.md, report.html, charts/*.svg, and `junit` when asked.
/// Idempotent: the same journal gives the same files.
pub fn write_reports(
    run_dir: &Path,
    template: Option<&Path>,
    junit: Option<&Path>,
) -> Result<Report, ReportError> {
    write_reports_as(run_dir, template, junit, Formats::DEFAULT)
}

/// `write_reports`, writing only `formats`.
pub fn write_reports_as(
    run_dir: &Path,
    template: Option<&Path>,
    junit: Option<&Path>,
    formats: Formats,
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
    let custom = custom.as_ref().map(|(n, s)| (n.as_str(), s.as_str()));
    let mut p = prepare(run_dir, custom, true)?;
    let shown = run_dir.display().to_string();
    // Markdown first: a template error leaves every file as it was.
    if formats.md {
        let md = markdown_of(&mut p, &shown, custom)?;
        write_file(&run_dir.join("report.md"), md.as_bytes())?;
    }
    if formats.json {
        write_file_with(&run_dir.join("report.json"), |w| json::write(w, &p.report))?;
    }
    if formats.html {
        let charts = html::chart_svgs(run_dir, &p.report);
        let page = html::render(&mut p.report, &shown, &charts);
        write_file(&run_dir.join("report.html"), page.as_bytes())?;
    }
    let default_junit = run_dir.join("junit.xml");
    if let Some(j) = junit.or(formats.junit.then_some(default_junit.as_path())) {
        write_file(j, junit::render(&p.report).as_bytes())?;
    }
    Ok(p.report)
}

#[cfg(test)]
mod tests;

/// report.md and report.json of `run_dir` as `write_reports` would write
/// them now (shipped template), without writing anything: what `gameday
/// verify` compares the files on disk with.
pub(crate) fn rerender(run_dir: &Path, shown_dir: &str) -> Result<Rerendered, ReportError> {
    let mut p = prepare(run_dir, None, false)?;
    let md = markdown_of(&mut p, shown_dir, None)?;
    let json = json::render(&p.report);
    let charts = html::chart_svgs(run_dir, &p.report);
    let html = html::render(&mut p.report, shown_dir, &charts);
    Ok(Rerendered { md, json, html })
}

/// The reports of a run as rendered now (`rerender`).
pub(crate) struct Rerendered {
    pub md: String,
    pub json: String,
    pub html: String,
}
