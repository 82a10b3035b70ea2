//! Charts: SVG line charts of the key series across the drill (plotters),
//! with a vertical line at each marker (isolation, detection, reroute,
//! restoration...), and a Mermaid Gantt chart of the phases for the Markdown.
//!
//! # Series files (the contract with the steps that query Prometheus)
//!
//! Chart data is stored in the run directory at the end of a run, so a later
//! `gameday report` needs no Prometheus. One file per chart:
//!
//! `RUN_DIR/series/<name>.json`, where `<name>` is `[a-z0-9_-]+`:
//!
//! ```json
//! {
//!   "title": "Requests per second by region",   // optional; default: <name>
//!   "unit": "req/s",                             // optional; y-axis label
//!   "query": "sum by (region) (rate(http_requests_total[1m]))",
//!   "start": 1795000000.0,                       // optional, unix seconds
//!   "end": 1795003600.0,                         // optional, unix seconds
//!   "step": 15,                                  // seconds, or a string such as "15s"
//!   "result": [
//!     { "metric": { "region": "eu-west-1" },
//!       "values": [[1795000000.0, "12.5"], [1795000015.0, "12.7"]] }
//!   ]
//! }
//! ```
//!
//! `result` is exactly the `data.result` of a Prometheus `query_range`
//! response (a matrix: label set, then `[unix_seconds, "value"]` pairs;
//! `"NaN"` and `"±Inf"` are skipped). A file holding the whole response
//! (`{"status":"success","data":{"resultType":"matrix","result":[...]}}`)
//! plus `query`/`step` is read too. The step that writes a file announces it
//! with `EventKind::Artifact { name: <name>, path: "series/<name>.json",
//! description }`; the description becomes the chart's subtitle. Every
//! `series/*.json` found is drawn, announced or not; one that does not parse
//! is named in a warning of the report, never fatal.
//!
//! Names with a fixed place at the top of the report, in this order:
//! `traffic` (requests per region), `error_ratio`, `replication_lag`,
//! `conflicts`; any other name follows, alphabetically. A series' legend is
//! its label values (`region=eu-west-1` → `eu-west-1`), or the chart's name
//! when it has no labels.
//!
//! Charts are written to `RUN_DIR/charts/<name>.svg`; the x axis is time
//! from isolation (`T+mm:ss`), the y axis is the value in `unit`.

use super::model::{ChartInfo, Report, t_offset};
use chrono::DateTime;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Series with a fixed order at the top of the report.
pub const KEY_SERIES: [&str; 4] = ["traffic", "error_ratio", "replication_lag", "conflicts"];

/// Above this many points a series is thinned (min and max per bucket kept).
const MAX_POINTS: usize = 2000;

#[derive(Debug, Deserialize)]
struct SeriesFile {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    result: Option<Vec<Matrix>>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<Matrix>,
}

#[derive(Debug, Deserialize)]
struct Matrix {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, Value)>,
}

/// One chart's data, read from a series file.
#[derive(Debug, Clone)]
pub struct Chart {
    pub name: String,
    pub title: String,
    pub subtitle: Option<String>,
    pub unit: Option<String>,
    pub query: Option<String>,
    /// Legend → (unix seconds, value) points, sorted by time.
    pub lines: Vec<(String, Vec<(f64, f64)>)>,
}

fn legend(name: &str, metric: &BTreeMap<String, String>) -> String {
    let labels: Vec<&str> = metric
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(_, v)| v.as_str())
        .collect();
    if labels.is_empty() {
        name.to_string()
    } else {
        labels.join(" ")
    }
}

fn number(v: &Value) -> Option<f64> {
    let x = match v {
        Value::String(s) => s.parse::<f64>().ok()?,
        Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// Parse one series file's text.
pub fn parse_series(name: &str, text: &str) -> Result<Chart, String> {
    let f: SeriesFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let matrix = match (f.result, f.data) {
        (Some(r), _) => r,
        (None, Some(d)) => d.result,
        (None, None) => return Err("no `result` (nor `data.result`) array".into()),
    };
    let lines = matrix
        .iter()
        .map(|m| {
            let mut pts: Vec<(f64, f64)> = m
                .values
                .iter()
                .filter_map(|(t, v)| Some((*t, number(v)?)))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (legend(name, &m.metric), thin(pts))
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    Ok(Chart {
        name: name.to_string(),
        title: f.title.unwrap_or_else(|| name.replace('_', " ")),
        subtitle: None,
        unit: f.unit,
        query: f.query,
        lines,
    })
}

/// Keep at most about `MAX_POINTS` points, keeping each bucket's extremes so
/// spikes stay visible.
fn thin(pts: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if pts.len() <= MAX_POINTS {
        return pts;
    }
    let per = pts.len().div_ceil(MAX_POINTS / 2);
    let mut out = Vec::with_capacity(MAX_POINTS + 2);
    for chunk in pts.chunks(per) {
        let lo = chunk.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        let hi = chunk.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(&lo), Some(&hi)) = (lo, hi) {
            if lo.0 <= hi.0 {
                out.push(lo);
                if hi != lo {
                    out.push(hi);
                }
            } else {
                out.push(hi);
                out.push(lo);
            }
        }
    }
    out
}

/// Read every `series/*.json` of `run_dir`, key series first. Problems come
/// back as warnings.
pub fn load_series(run_dir: &Path, report: &Report) -> (Vec<Chart>, Vec<String>) {
    let dir = run_dir.join("series");
    let mut warnings = vec![];
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return (vec![], warnings);
    };
    let mut files: Vec<(String, std::path::PathBuf)> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| Some((p.file_stem()?.to_string_lossy().into_owned(), p)))
        .collect();
    let rank = |n: &str| {
        KEY_SERIES
            .iter()
            .position(|k| *k == n)
            .unwrap_or(KEY_SERIES.len())
    };
    files.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.0.cmp(&b.0)));
    let mut charts = vec![];
    for (name, path) in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                warnings.push(format!("cannot read {}: {e}", path.display()));
                continue;
            }
        };
        match parse_series(&name, &text) {
            Ok(mut c) => {
                c.subtitle = report
                    .artifacts
                    .iter()
                    .find(|a| a.name == name || a.path.ends_with(&format!("series/{name}.json")))
                    .map(|a| a.description.clone())
                    .filter(|d| !d.is_empty());
                if c.lines.is_empty() {
                    warnings.push(format!(
                        "{}: no data points; no chart drawn",
                        path.display()
                    ));
                } else {
                    charts.push(c);
                }
            }
            Err(e) => warnings.push(format!(
                "{} is not a series file ({e}); see the format in the docs of src/report/charts.rs",
                path.display()
            )),
        }
    }
    (charts, warnings)
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The markers to draw: the first instant of each, as unix seconds.
fn marker_points(report: &Report) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = vec![];
    for m in &report.marker_details {
        if out.iter().any(|(n, _)| n == &m.name) {
            continue;
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(&m.at) {
            out.push((m.name.clone(), t.timestamp_millis() as f64 / 1000.0));
        }
    }
    out
}

fn reference_unix(report: &Report) -> f64 {
    DateTime::parse_from_rfc3339(&report.run.reference.at)
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

fn time_range(chart: &Chart) -> Option<(f64, f64)> {
    let ts = chart
        .lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(t, _)| *t));
    let (lo, hi) = ts.fold((f64::MAX, f64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    (lo <= hi).then_some((lo, hi.max(lo + 1.0)))
}

/// The markers a chart shows (those inside its time range).
fn markers_in_range(chart: &Chart, report: &Report) -> Vec<String> {
    let Some((lo, hi)) = time_range(chart) else {
        return vec![];
    };
    marker_points(report)
        .into_iter()
        .filter(|(_, t)| *t >= lo && *t <= hi)
        .map(|(n, _)| n)
        .collect()
}

/// The axes' ranges: every point's time and value (values from 0 at least),
/// at least a second and a unit wide, with headroom for the marker labels.
fn bounds(chart: &Chart) -> Result<(f64, f64, f64, f64), String> {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, 0.0f64, f64::MIN);
    for (_, pts) in &chart.lines {
        for (t, v) in pts {
            x0 = x0.min(*t);
            x1 = x1.max(*t);
            y0 = y0.min(*v);
            y1 = y1.max(*v);
        }
    }
    if x0 > x1 {
        return Err("no points".into());
    }
    if x1 - x0 < 1.0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    y1 += (y1 - y0) * 0.12; // room for the marker labels
    Ok((x0, x1, y0, y1))
}

/// A marker's line and where its label goes.
struct MarkerLabel<'a> {
    name: &'a str,
    /// Seconds from the reference.
    x: f64,
    y: f64,
    /// The label sits left of the line (near the right edge).
    right: bool,
}

/// The markers within the x range, in time order, with their labels placed:
/// left of the line near the right edge, and moved down a row when they
/// would overlap a label already placed.
fn marker_labels<'a>(
    markers: &'a [(String, f64)],
    reference: f64,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Vec<MarkerLabel<'a>> {
    let ytop = y1 - (y1 - y0) * 0.02;
    const PLOT_PX: f64 = 700.0;
    let mut placed: Vec<Vec<(f64, f64)>> = vec![];
    let mut in_range: Vec<&(String, f64)> = markers
        .iter()
        .filter(|(_, at)| (x0..=x1).contains(&(at - reference)))
        .collect();
    in_range.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out = vec![];
    for (name, at) in in_range {
        let x = at - reference;
        let px = (x - x0) / (x1 - x0) * PLOT_PX;
        let width = 7.0 * (name.chars().count() as f64 + 1.0);
        let right = px > PLOT_PX * 0.8;
        let span = if right {
            (px - width, px)
        } else {
            (px, px + width)
        };
        let level = (0..)
            .find(|l| {
                placed
                    .get(*l)
                    .is_none_or(|row| row.iter().all(|(a, b)| span.1 < *a || span.0 > *b))
            })
            .unwrap_or(0);
        if placed.len() <= level {
            placed.resize(level + 1, vec![]);
        }
        placed[level].push(span);
        let y = ytop - (y1 - y0) * 0.055 * (level % 6) as f64;
        out.push(MarkerLabel { name, x, y, right });
    }
    out
}

/// Draw one chart as SVG text.
pub fn render_svg(chart: &Chart, report: &Report) -> Result<String, String> {
    let reference = reference_unix(report);
    let markers = marker_points(report);
    let (x0, x1, y0, y1) = bounds(chart)?;
    let (x0, x1) = (x0 - reference, x1 - reference);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 420)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let caption = match &chart.subtitle {
            Some(s) if !s.eq_ignore_ascii_case(&chart.title) => format!("{} — {s}", chart.title),
            _ => chart.title.clone(),
        };
        let (plot, side) = root.split_horizontally(790);
        let mut c = ChartBuilder::on(&plot)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        let xfmt = |x: &f64| t_offset(*x).trim_end_matches(".0").to_string();
        c.configure_mesh()
            .x_labels(8)
            .x_label_formatter(&xfmt)
            .x_desc(format!("time from {}", report.run.reference.label))
            .y_desc(chart.unit.clone().unwrap_or_default())
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        for (i, (label, pts)) in chart.lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            c.draw_series(LineSeries::new(
                pts.iter().map(|(t, v)| (t - reference, *v)),
                color.stroke_width(2),
            ))
            .map_err(e)?;
            // The legend, beside the plot so it never hides a line or a marker.
            let y = 50 + 22 * i as i32;
            side.draw(&PathElement::new(
                vec![(8, y), (30, y)],
                color.stroke_width(3),
            ))
            .map_err(e)?;
            side.draw(&Text::new(
                label.clone(),
                (36, y - 7),
                ("sans-serif", 13).into_font(),
            ))
            .map_err(e)?;
        }
        for l in marker_labels(&markers, reference, (x0, x1), (y0, y1)) {
            let style = RGBColor(90, 90, 90).stroke_width(1);
            c.draw_series(DashedLineSeries::new(
                vec![(l.x, y0), (l.x, y1)],
                6,
                4,
                style,
            ))
            .map_err(e)?;
            let font = ("sans-serif", 13).into_font().color(&RGBColor(60, 60, 60));
            let name = l.name;
            let (text, font) = if l.right {
                (
                    format!("{name} "),
                    font.pos(Pos::new(HPos::Right, VPos::Top)),
                )
            } else {
                (format!(" {name}"), font)
            };
            c.draw_series(std::iter::once(Text::new(text, (l.x, l.y), font)))
                .map_err(e)?;
        }
        root.present().map_err(e)?;
    }
    Ok(svg)
}

/// Draw every chart into `RUN_DIR/charts/`. Returns what was drawn and warnings.
pub fn write_charts(run_dir: &Path, report: &Report) -> (Vec<ChartInfo>, Vec<String>) {
    charts_of(run_dir, report, true)
}

/// The charts of `run_dir` as `write_charts` would list them, drawing
/// them into `RUN_DIR/charts/` only when `write` (`gameday verify` reads).
pub fn charts_of(run_dir: &Path, report: &Report, write: bool) -> (Vec<ChartInfo>, Vec<String>) {
    let (charts, mut warnings) = load_series(run_dir, report);
    let mut out = vec![];
    if charts.is_empty() {
        return (out, warnings);
    }
    let dir = run_dir.join("charts");
    if write && let Err(e) = std::fs::create_dir_all(&dir) {
        warnings.push(format!("cannot create {}: {e}", dir.display()));
        return (out, warnings);
    }
    for c in charts {
        match render_svg(&c, report) {
            Ok(svg) => {
                let rel = format!("charts/{}.svg", c.name);
                let png_rel = format!("charts/{}.png", c.name);
                let written = match write {
                    true => super::write_file(&run_dir.join(&rel), svg.as_bytes()).and_then(|_| {
                        let png = super::png::svg_to_png(&svg).map_err(|e| {
                            super::ReportError::Write {
                                path: png_rel.clone(),
                                source: std::io::Error::other(e),
                            }
                        })?;
                        super::write_file(&run_dir.join(&png_rel), &png)
                    }),
                    false => Ok(()),
                };
                match written {
                    Ok(()) => out.push(ChartInfo {
                        name: c.name.clone(),
                        title: c.title.clone(),
                        svg: rel,
                        png: Some(png_rel),
                        series: c.lines.iter().map(|(l, _)| l.clone()).collect(),
                        markers: markers_in_range(&c, report),
                    }),
                    Err(e) => warnings.push(e.to_string()),
                }
            }
            Err(e) => warnings.push(format!("chart `{}` could not be drawn: {e}", c.name)),
        }
    }
    (out, warnings)
}

/// The phase Gantt chart as `charts/phases.svg` and `charts/phases.png`
/// (drawn only when `write`). None when no phase started.
pub fn gantt_of(run_dir: &Path, report: &Report, write: bool) -> Result<Option<ChartInfo>, String> {
    let svg = super::html::gantt_svg(report);
    if svg.is_empty() {
        return Ok(None);
    }
    let (rel, png_rel) = ("charts/phases.svg", "charts/phases.png");
    if write {
        let dir = run_dir.join("charts");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        super::write_file(&run_dir.join(rel), svg.as_bytes()).map_err(|e| e.to_string())?;
        let png = super::png::svg_to_png(&svg)
            .map_err(|e| format!("the phase chart could not be drawn as PNG: {e}"))?;
        super::write_file(&run_dir.join(png_rel), &png).map_err(|e| e.to_string())?;
    }
    Ok(Some(ChartInfo {
        name: "phases".into(),
        title: "Phases of the drill".into(),
        svg: rel.into(),
        png: Some(png_rel.into()),
        series: report
            .phases
            .iter()
            .filter(|p| p.started_at.is_some())
            .map(|p| p.name.clone())
            .collect(),
        markers: report
            .marker_details
            .iter()
            .map(|m| m.name.clone())
            .fold(vec![], |mut v, n| {
                if !v.contains(&n) {
                    v.push(n);
                }
                v
            }),
    }))
}

fn gantt_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, ':' | '#' | ';' | '\n') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

fn gantt_time(s: &str, round_up: bool) -> Option<String> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.to_utc();
    let secs = t.timestamp() + i64::from(round_up && t.timestamp_subsec_millis() > 0);
    Some(
        DateTime::from_timestamp(secs, 0)?
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
    )
}

/// A Mermaid Gantt chart of the phases (and the markers as milestones).
/// Empty when no phase started.
pub fn mermaid_gantt(report: &Report) -> String {
    let mut rows = vec![];
    for (i, p) in report.phases.iter().enumerate() {
        let Some(start) = p.started_at.as_deref().and_then(|s| gantt_time(s, false)) else {
            continue;
        };
        let end = p
            .finished_at
            .as_deref()
            .or(report.run.finished_at.as_deref())
            .and_then(|s| gantt_time(s, true))
            .unwrap_or_else(|| start.clone());
        let end = if end <= start {
            // At least one second, so the bar shows.
            DateTime::parse_from_str(&format!("{start} +0000"), "%Y-%m-%d %H:%M:%S %z")
                .map(|t| {
                    (t + chrono::Duration::seconds(1))
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or(end)
        } else {
            end
        };
        let tag = match p.status.as_str() {
            "passed" | "skipped" => "done, ",
            "failed" | "cancelled" => "crit, ",
            "unfinished" => "active, ",
            _ => "",
        };
        rows.push(format!(
            "    {} ({}) :{tag}p{i}, {start}, {end}",
            gantt_name(&p.name),
            p.status
        ));
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "gantt\n    title Phases of the drill (UTC)\n    dateFormat YYYY-MM-DD HH:mm:ss\n    axisFormat %H:%M:%S\n    section Phases\n",
    );
    for r in rows {
        out.push_str(&r);
        out.push('\n');
    }
    let mut seen = vec![];
    let mut milestones = vec![];
    for (i, m) in report.marker_details.iter().enumerate() {
        if seen.contains(&m.name) {
            continue;
        }
        seen.push(m.name.clone());
        if let Some(at) = gantt_time(&m.at, false) {
            milestones.push(format!(
                "    {} :milestone, m{i}, {at}, 0s\n",
                gantt_name(&m.name)
            ));
        }
    }
    if !milestones.is_empty() {
        out.push_str("    section Markers\n");
        for m in milestones {
            out.push_str(&m);
        }
    }
    out
}
