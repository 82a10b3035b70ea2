//! `gameday history --chart FILE`: TTD, TTR and RPO of every run over time,
//! one line per role (metrics found by their role, whatever their names),
//! as SVG (`FILE`, `.svg` added when missing) and PNG beside it.

use super::history::Row;
use super::model::{human_secs, trim_num};
use crate::playbook::MetricRole;
use std::path::{Path, PathBuf};

/// The roles drawn, with their colours.
const LINES: [(MetricRole, &str); 3] = [
    (MetricRole::Ttd, "#1f77b4"),
    (MetricRole::Ttr, "#d62728"),
    (MetricRole::Rpo, "#2ca02c"),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart as SVG text: runs left to right (oldest first), seconds up.
pub fn trend_svg(rows: &[Row]) -> String {
    let (w, h, left, right, top, bottom) = (900.0, 420.0, 70.0, 150.0, 40.0, 80.0);
    let value = |r: &Row, role: MetricRole| {
        r.metrics
            .iter()
            .find(|m| m.role == Some(role))
            .and_then(|m| m.now)
    };
    let max = rows
        .iter()
        .flat_map(|r| LINES.iter().filter_map(move |(role, _)| value(r, *role)))
        .fold(0.0f64, f64::max)
        .max(1.0);
    let n = rows.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            left + (w - left - right) / 2.0
        } else {
            left + i as f64 * (w - left - right) / (n - 1) as f64
        }
    };
    let y = |v: f64| top + (1.0 - v / max) * (h - top - bottom);
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, sans-serif" font-size="12"><rect width="{w}" height="{h}" fill="#ffffff"/><text x="{left}" y="24" font-size="15">TTD, TTR and RPO per run ({} runs)</text>"##,
        rows.len()
    );
    // Axes and a few gridlines.
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let yy = y(v);
        s.push_str(&format!(
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            w - right,
            left - 6.0,
            yy + 4.0,
            esc(&human_secs(v))
        ));
    }
    for (i, r) in rows.iter().enumerate() {
        let xx = x(i);
        let date = r.started_at.get(..10).unwrap_or(&r.started_at);
        s.push_str(&format!(
            r##"<text x="{xx:.1}" y="{:.1}" text-anchor="end" transform="rotate(-35 {xx:.1} {:.1})" font-size="10">{}</text>"##,
            h - bottom + 16.0,
            h - bottom + 16.0,
            esc(&format!("{date} {}", r.drill))
        ));
    }
    for (li, (role, color)) in LINES.iter().enumerate() {
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| value(r, *role).map(|v| (x(i), y(v))))
            .collect();
        if pts.len() > 1 {
            let p: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            s.push_str(&format!(
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                p.join(" ")
            ));
        }
        for (a, b) in &pts {
            s.push_str(&format!(
                r#"<circle cx="{a:.1}" cy="{b:.1}" r="3.5" fill="{color}"/>"#
            ));
        }
        let ly = top + 20.0 * li as f64;
        s.push_str(&format!(
            r#"<rect x="{:.1}" y="{:.1}" width="14" height="4" fill="{color}"/><text x="{:.1}" y="{:.1}">{} ({} runs)</text>"#,
            w - right + 15.0,
            ly - 4.0,
            w - right + 35.0,
            ly,
            role.title(),
            trim_num(pts.len() as f64)
        ));
    }
    s.push_str("</svg>");
    s
}

/// Write the chart to `file` (SVG) and its PNG beside it; returns both paths.
pub fn write_trend(file: &Path, rows: &[Row]) -> Result<(PathBuf, PathBuf), String> {
    let svg_path = match file.extension() {
        Some(e) if e == "svg" => file.to_path_buf(),
        _ => file.with_extension("svg"),
    };
    let png_path = svg_path.with_extension("png");
    let svg = trend_svg(rows);
    let png = super::png::svg_to_png(&svg)?;
    super::write_file(&svg_path, svg.as_bytes()).map_err(|e| e.to_string())?;
    super::write_file(&png_path, &png).map_err(|e| e.to_string())?;
    Ok((svg_path, png_path))
}
