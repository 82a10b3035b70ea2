//! report.md: the report model rendered with minijinja, from the shipped
//! template (`templates/report.md.j2`, compiled in) or a team's own
//! (`--template FILE`).
//!
//! The template's context is the report model (the keys of report.json, see
//! `schemas/report.schema.json`) at the top level, plus `gantt` (a Mermaid
//! Gantt chart of the phases, or empty) and `run_dir` (the run directory as
//! given on the command line). Filters: `cell` (one line, `|` escaped, safe
//! in a table cell), `short` (first line, at most 160 characters), `secs` (seconds for people: `3 min 12 s`), `num` (a
//! number without noise), `code` (inline code with the right number of
//! backticks), `pretty` (indented JSON, cut at 4,000 characters).
//! Undefined names are errors (so a typo is found, with its line), except
//! in `if` tests. Template errors name the file and the line. Beside the
//! model's keys, `phase_steps` maps a phase name to the indexes of its
//! steps in `steps`.

use super::model::{Report, human_secs, trim_num};
use minijinja::value::{Enumerator, Object, ObjectRepr, Serde};
use minijinja::{Environment, UndefinedBehavior, Value, context};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The shipped template.
pub const SHIPPED: &str = include_str!("../../templates/report.md.j2");
/// The name errors in the shipped template are reported under.
pub const SHIPPED_NAME: &str = "templates/report.md.j2";

/// A template problem, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("template {location}: {message}")]
pub struct TemplateError {
    /// `file:line`, or `file` when the line is unknown.
    pub location: String,
    pub message: String,
}

pub(crate) fn template_error(name: &str, e: &minijinja::Error) -> TemplateError {
    let location = match e.line() {
        Some(l) => format!("{}:{l}", e.name().unwrap_or(name)),
        None => e.name().unwrap_or(name).to_string(),
    };
    let mut message = e.kind().to_string();
    if let Some(d) = e.detail() {
        message.push_str(": ");
        message.push_str(d);
    }
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        message.push_str(&format!(" ({s})"));
        src = s.source();
    }
    TemplateError { location, message }
}

fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.trim().lines().enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        out.push_str(&line.replace('|', "\\|"));
    }
    out
}

fn code(s: &str) -> String {
    let s = s.trim().replace('\n', " ");
    let mut ticks = 1;
    while s.contains(&"`".repeat(ticks)) {
        ticks += 1;
    }
    let fence = "`".repeat(ticks);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", s.replace('|', "\\|"))
}

fn pretty(v: Value) -> String {
    let json = serde_json::to_value(&v)
        .ok()
        .and_then(|j| serde_json::to_string_pretty(&j).ok())
        .unwrap_or_else(|| v.to_string());
    if json.len() > 4000 {
        let mut cut = 4000;
        while !json.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}\n… ({} more characters)", &json[..cut], json.len() - cut)
    } else {
        json.replace("```", "` ` `")
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("cell", |s: String| cell(&s));
    env.add_filter("short", |s: String| super::model::one_line(&s, 160));
    env.add_filter("code", |s: String| code(&s));
    env.add_filter("secs", |v: f64| human_secs(v));
    env.add_filter("num", |v: f64| trim_num(v));
    env.add_filter("pretty", pretty);
    env.add_filter("role_title", |r: String| {
        crate::playbook::MetricRole::parse(&r).map_or(r.clone(), |r| r.title().to_string())
    });
    env.add_filter("role_meaning", |r: String| {
        crate::playbook::MetricRole::parse(&r).map_or(String::new(), |r| r.meaning().to_string())
    });
    env
}

/// What the Markdown needs beside the model.
pub struct Extras<'a> {
    pub run_dir: &'a str,
    pub gantt: &'a str,
}

/// A list handed to the template one element at a time: each element is
/// converted when the template reads it, so a day-long run's steps and
/// timeline are never copied into the template engine whole.
#[derive(Debug)]
pub(crate) struct Lazy<T>(Vec<T>);

impl<T: Serialize + std::fmt::Debug + Send + Sync + 'static> Object for Lazy<T> {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_usize()?).map(|x| Value::from(Serde(x)))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }
}

/// Take a list out of the report for the template; `give_back` returns it.
pub(crate) fn lend<T: Serialize + Clone + std::fmt::Debug + Send + Sync + 'static>(
    v: &mut Vec<T>,
) -> Arc<Lazy<T>> {
    Arc::new(Lazy(std::mem::take(v)))
}

pub(crate) fn give_back<T: Clone>(v: &mut Vec<T>, lent: Arc<Lazy<T>>) {
    *v = match Arc::try_unwrap(lent) {
        Ok(l) => l.0,
        Err(shared) => shared.0.clone(),
    };
}

/// Render `report` with the template `source` (named `name` in errors).
/// The report is lent to the template and comes back unchanged.
pub fn render_with(
    report: &mut Report,
    extras: &Extras,
    name: &str,
    source: &str,
) -> Result<String, TemplateError> {
    let mut env = environment();
    env.add_template_owned(name.to_string(), source.to_string())
        .map_err(|e| template_error(name, &e))?;
    let tmpl = env
        .get_template(name)
        .map_err(|e| template_error(name, &e))?;
    // Steps by phase, so a template need not scan every step for each phase.
    let mut phase_steps: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in report.steps.iter().enumerate() {
        phase_steps.entry(s.phase.as_str()).or_default().push(i);
    }
    let phase_steps = Value::from(Serde(&phase_steps));
    let steps = lend(&mut report.steps);
    let timeline = lend(&mut report.timeline);
    let result = {
        let ctx = context! {
            run_dir => extras.run_dir,
            gantt => extras.gantt,
            phase_steps => phase_steps,
            steps => Value::from_dyn_object(steps.clone()),
            timeline => Value::from_dyn_object(timeline.clone()),
            ..Value::from(Serde(&*report))
        };
        tmpl.render(ctx)
    };
    give_back(&mut report.steps, steps);
    give_back(&mut report.timeline, timeline);
    let mut out = result.map_err(|e| template_error(name, &e))?;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Render with the shipped template.
pub fn render(report: &mut Report, extras: &Extras) -> Result<String, TemplateError> {
    render_with(report, extras, SHIPPED_NAME, SHIPPED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_code_are_table_safe() {
        assert_eq!(cell("a | b\nc"), "a \\| b<br>c");
        assert_eq!(code("rate(x[1m])"), "`rate(x[1m])`");
        assert_eq!(code("a `b` c"), "``a `b` c``");
    }

    #[test]
    fn template_errors_name_the_file_and_line() {
        let mut r = super::super::model::build(&[]);
        let extras = Extras {
            run_dir: "RUN_DIR",
            gantt: "",
        };
        let e = render_with(
            &mut r,
            &extras,
            "team.md.j2",
            "ok\n{{ outcome }}\n{% if %}\n",
        )
        .unwrap_err();
        assert_eq!(e.location, "team.md.j2:3", "{e}");
        let e = render_with(
            &mut r,
            &extras,
            "team.md.j2",
            "line one\n{{ no_such_thing.x }}\n",
        )
        .unwrap_err();
        assert_eq!(e.location, "team.md.j2:2", "{e}");
        assert!(e.message.contains("undefined"), "{e}");
    }
}
