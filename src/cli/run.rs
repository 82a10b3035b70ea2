//! `gameday run`: load, refuse unattended runs that would need a person,
//! run the drill with the terminal view, print the summary table and the
//! run directory (last line of stdout), and exit with the outcome's code.

use super::{PlaybookArgs, load, print_diags, runtime};
use crate::engine::metrics::MetricValue;
use crate::engine::{RunOptions, RunSummary, exit};
use crate::journal::writer::Observer;
use crate::redact::redact;
use crate::steps::Interaction;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(value_name = "PLAYBOOK")]
    pub playbook: PathBuf,
    #[command(flatten)]
    pub args: PlaybookArgs,
    /// Parent directory of the run directory.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Confirm manual steps automatically (only in playbooks with `unattended: true`).
    #[arg(long)]
    pub yes: bool,
    /// Never prompt (implied when stdin is not a terminal).
    #[arg(long)]
    pub non_interactive: bool,
    /// Show only the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// `text` (default) or `json` (one event per line on stderr).
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Also write a JUnit XML file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Markdown report template (minijinja) instead of the shipped one.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Do not start the dead-man's switch (a guard process that restores if this one dies).
    #[arg(long)]
    pub no_guard: bool,
    /// Which reports to write: md, html, json, junit (comma-separated; junit goes to RUN_DIR/junit.xml unless --junit).
    #[arg(long, value_name = "LIST", default_value = "md,html,json", value_parser = crate::report::Formats::parse)]
    pub format: crate::report::Formats,
    /// Keep the journal, heartbeat and environment lock in S3 too
    /// (`s3://BUCKET/PREFIX`; default: the environment file's `state:`, else local only).
    #[arg(long, value_name = "S3_URL", value_parser = super::parse_state)]
    pub state: Option<crate::state::Location>,
}

pub fn run(a: RunArgs) -> i32 {
    let loaded = match load(&a.playbook, &a.args, true) {
        Ok(l) => l,
        Err(d) => {
            print_diags(&d);
            return exit::INVALID;
        }
    };
    crate::redact::install(&loaded.secrets);
    let unattended = a.non_interactive || !std::io::stdin().is_terminal();
    let interaction = if unattended {
        let problems = loaded.check_unattended(a.yes);
        if !problems.is_empty() {
            print_diags(&problems);
            return exit::INVALID;
        }
        Interaction::Auto {
            by: "--yes (unattended run)".into(),
        }
    } else {
        Interaction::Prompt
    };
    let pb = Arc::new(loaded.playbook.clone());
    let mut observers: Vec<Arc<dyn Observer>> = vec![];
    if a.log_format == "json" {
        observers.push(Arc::new(crate::view::JsonLog));
    } else if !a.quiet {
        observers.push(crate::view::TerminalView::new(pb));
    }
    let state = match a.state.clone() {
        Some(s) => Some(s),
        None => match env_state(&a.args) {
            Ok(s) => s,
            Err(c) => return c,
        },
    };
    let opts = RunOptions {
        out_dir: a.out.clone(),
        interaction,
        observers,
        junit: a.junit.clone(),
        template: a.template.clone(),
        guard: !a.no_guard,
        formats: a.format,
        state,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    match rt.block_on(crate::engine::run_drill(loaded, opts)) {
        Ok(summary) => {
            print_summary(&summary);
            if summary.abandoned {
                // Tasks of the abandoned run (a prompt, say) are not waited for.
                rt.shutdown_background();
            }
            summary.exit_code
        }
        Err(e) => {
            eprintln!(
                "{}",
                redact(&format!("gameday: {e}\n  = hint: nothing was changed"))
            );
            exit::INVALID
        }
    }
}

/// The environment file's `state:`, if any.
fn env_state(args: &super::PlaybookArgs) -> Result<Option<crate::state::Location>, i32> {
    let Some(path) = &args.env_file else {
        return Ok(None);
    };
    let Ok(env) = crate::playbook::load::load_env_file(path) else {
        return Ok(None); // already loaded once: its diagnostics were shown
    };
    match env.state.as_deref().map(crate::state::Location::parse) {
        None => Ok(None),
        Some(Ok(l)) => Ok(Some(l)),
        Some(Err(e)) => {
            eprintln!(
                "gameday: {}: `state:` {e}\n  = hint: nothing was run",
                path.display()
            );
            Err(exit::INVALID)
        }
    }
}

fn fmt_value(m: &MetricValue) -> String {
    match m.value {
        None => "missing".into(),
        Some(v) if m.unit == "seconds" => format!("{v:.1} s"),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// The outcome line and the metrics table on stdout, then the run directory.
pub fn print_summary(s: &RunSummary) {
    if s.abandoned {
        eprintln!(
            "\ngameday: restoration abandoned after a third signal; what is still applied stays applied.\n\
             Finish it with:\n\n    gameday restore {}\n",
            s.run_dir.display()
        );
        return;
    }
    let outcome = match s.outcome {
        crate::journal::event::Outcome::Passed => {
            "PASSED: all checks held and all targets were met".to_string()
        }
        crate::journal::event::Outcome::Failed => format!(
            "FAILED: {}",
            s.failures.first().cloned().unwrap_or_default()
        ),
        crate::journal::event::Outcome::Aborted => format!(
            "ABORTED and restored: {}",
            s.cancel.as_ref().map(|c| c.1.clone()).unwrap_or_default()
        ),
        crate::journal::event::Outcome::Interrupted => {
            "INTERRUPTED by a signal, then restored".to_string()
        }
        crate::journal::event::Outcome::RestoreFailed => format!(
            "RESTORATION INCOMPLETE: still applied: {}",
            s.still_applied.join(", ")
        ),
        crate::journal::event::Outcome::Incomplete => "INCOMPLETE".to_string(),
    };
    if !s.metrics.is_empty() {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
        t.set_header(vec!["metric", "value", "error bar", "target", "result"]);
        for m in &s.metrics {
            let res = m
                .resolution_seconds
                .map(|r| format!("±{r:.1} s"))
                .unwrap_or_default();
            let met = match m.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "-",
            };
            t.add_row(vec![
                m.name.clone(),
                fmt_value(m),
                res,
                m.target.clone().unwrap_or_default(),
                met.to_string(),
            ]);
        }
        println!("{}", redact(&t.to_string()));
    }
    println!("{}", redact(&outcome));
    if !s.still_applied.is_empty() {
        eprintln!(
            "{}",
            redact(&format!(
                "gameday: still applied: {}. Finish with: gameday restore {}",
                s.still_applied.join(", "),
                s.run_dir.display()
            ))
        );
    }
    println!("{}", s.run_dir.display());
}
