//! report.html: one self-contained file to attach to a postmortem ticket,
//! for tools that cannot show report.md's relative SVG links or Mermaid.
//! CSS is inline, charts are inline SVG (the run's `charts/*.svg` and a
//! phase Gantt drawn here), and nothing is fetched: no scripts, no links,
//! no images by URL. The markup is well-formed XML (XHTML syntax), so any
//! XML parser reads it. Built from `templates/report.html.j2` (minijinja,
//! HTML auto-escaping) with the report model as context, like report.md.

use super::model::{Report, human_secs, trim_num};
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value, context};
use std::path::Path;

/// The shipped template.
pub const SHIPPED: &str = include_str!("../../templates/report.html.j2");
const SHIPPED_NAME: &str = "templates/report.html.j2";

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG chart inline: without its XML declaration or doctype, so it can
/// sit inside the page.
fn inline_svg(svg: &str) -> String {
    let start = svg.find("<svg").unwrap_or(0);
    svg[start..].to_string()
}

fn secs_of(rfc: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// The phases as an SVG Gantt chart (markers as diamonds). Empty when no
/// phase started.
pub fn gantt_svg(r: &Report) -> String {
    let bars: Vec<(&str, &str, f64, f64)> = r
        .phases
        .iter()
        .filter_map(|p| {
            let s = secs_of(p.started_at.as_deref()?)?;
            let e = p
                .finished_at
                .as_deref()
                .or(r.run.finished_at.as_deref())
                .and_then(secs_of)
                .unwrap_or(s);
            Some((p.name.as_str(), p.status.as_str(), s, e.max(s)))
        })
        .collect();
    if bars.is_empty() {
        return String::new();
    }
    let t0 = bars.iter().map(|b| b.2).fold(f64::MAX, f64::min);
    let t1 = bars
        .iter()
        .map(|b| b.3)
        .fold(f64::MIN, f64::max)
        .max(t0 + 1.0);
    let (w, left, row) = (800.0, 150.0, 26.0);
    let markers: Vec<(&str, f64)> = {
        let mut seen: Vec<&str> = vec![];
        r.marker_details
            .iter()
            .filter_map(|m| {
                if seen.contains(&m.name.as_str()) {
                    return None;
                }
                seen.push(&m.name);
                let t = secs_of(&m.at)?;
                (t >= t0 && t <= t1).then_some((m.name.as_str(), t))
            })
            .collect()
    };
    let h = 40.0 + row * bars.len() as f64 + if markers.is_empty() { 0.0 } else { 30.0 };
    let x = |t: f64| left + (t - t0) / (t1 - t0) * (w - left - 20.0);
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, sans-serif" font-size="12"><rect width="{w}" height="{h}" fill="#ffffff"/><text x="10" y="18" font-size="14">Phases of the drill ({} in all)</text>"##,
        human_secs(t1 - t0)
    );
    for (i, (name, status, a, b)) in bars.iter().enumerate() {
        let y = 30.0 + row * i as f64;
        let color = match *status {
            "passed" | "skipped" => "#4c9a6a",
            "failed" | "cancelled" => "#c0392b",
            _ => "#888888",
        };
        s.push_str(&format!(
            r#"<text x="10" y="{:.1}">{}</text><rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{} ({status}): {}</title></rect>"#,
            y + 15.0,
            xml_escape(name),
            x(*a),
            (x(*b) - x(*a)).max(2.0),
            row - 6.0,
            xml_escape(name),
            human_secs(b - a)
        ));
    }
    let base = 30.0 + row * bars.len() as f64;
    for (i, (name, t)) in markers.iter().enumerate() {
        let (mx, my) = (x(*t), base + 10.0);
        s.push_str(&format!(
            r##"<line x1="{mx:.1}" y1="30" x2="{mx:.1}" y2="{my:.1}" stroke="#333333" stroke-dasharray="3,3"/><path d="M{mx:.1} {:.1} l5 5 l-5 5 l-5 -5 z" fill="#333333"/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"##,
            my - 5.0,
            mx + 6.0,
            my + 4.0 + 10.0 * (i % 2) as f64,
            xml_escape(name)
        ));
    }
    s.push_str("</svg>");
    s
}

/// report.html's text. `charts` are (title, SVG text) of the run's charts.
/// The report's steps and timeline are lent to the template one element
/// at a time (as for report.md) and come back unchanged.
pub fn render(r: &mut Report, run_dir: &str, charts: &[(String, String)]) -> String {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_filter("secs", |v: f64| human_secs(v));
    env.add_filter("num", |v: f64| trim_num(v));
    env.add_filter("pretty", |v: Value| {
        serde_json::to_value(&v)
            .ok()
            .and_then(|j| serde_json::to_string_pretty(&j).ok())
            .unwrap_or_default()
    });
    env.add_filter("role_title", |v: String| {
        crate::playbook::MetricRole::parse(&v).map_or(v.clone(), |r| r.title().to_string())
    });
    env.add_filter("role_meaning", |v: String| {
        crate::playbook::MetricRole::parse(&v).map_or(String::new(), |r| r.meaning().to_string())
    });
    let gantt = gantt_svg(r);
    let steps = super::markdown::lend(&mut r.steps);
    let timeline = super::markdown::lend(&mut r.timeline);
    let rendered = env
        .template_from_named_str(SHIPPED_NAME, SHIPPED)
        .and_then(|t| {
            let charts: Vec<Value> = charts
                .iter()
                .map(|(title, svg)| {
                    context! { title => title, svg => Value::from_safe_string(inline_svg(svg)) }
                })
                .collect();
            t.render(context! {
                run_dir => run_dir,
                gantt_svg => Value::from_safe_string(gantt),
                chart_svgs => charts,
                steps => Value::from_dyn_object(steps.clone()),
                timeline => Value::from_dyn_object(timeline.clone()),
                ..Value::from(Serde(&*r))
            })
        });
    super::markdown::give_back(&mut r.steps, steps);
    super::markdown::give_back(&mut r.timeline, timeline);
    match rendered {
        Ok(s) => s,
        // The shipped template is tested; should it fail, say so in the page.
        Err(e) => format!(
            "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>report</title></head><body><p>report.html could not be rendered: {}</p></body></html>\n",
            xml_escape(&e.to_string())
        ),
    }
}

/// The run's charts as (title, SVG text), read from `RUN_DIR/charts/`.
pub fn chart_svgs(run_dir: &Path, r: &Report) -> Vec<(String, String)> {
    r.charts
        .iter()
        .filter_map(|c| {
            let svg = std::fs::read_to_string(run_dir.join(&c.svg)).ok()?;
            Some((c.title.clone(), svg))
        })
        .collect()
}
