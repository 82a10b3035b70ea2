//! `gameday note RUN_DIR "text" [--finding | --action [--owner NAME] [--for ID]] [--at TIME] [--by NAME]`:
//! append a note, a finding or an action item to a run's journal, from
//! another terminal while the run goes on or at any time after it. The
//! line is appended under the journal's lock, chained like every other
//! (see `journal::chain`). A finished run's reports are re-rendered at once;
//! a running drill puts the note in the reports it writes at its end.

use crate::engine::exit;
use crate::journal::event::NoteKind;
use crate::journal::{Event, EventKind, JOURNAL_FILE, Journal};
use chrono::{DateTime, NaiveTime, Utc};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct NoteArgs {
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    /// What was noticed or is to be done.
    #[arg(value_name = "TEXT")]
    pub text: String,
    /// A finding for the postmortem.
    #[arg(long, conflicts_with = "action")]
    pub finding: bool,
    /// An action item (give it an --owner).
    #[arg(long)]
    pub action: bool,
    /// Who will do the action item.
    #[arg(long, value_name = "NAME", requires = "action")]
    pub owner: Option<String>,
    /// The finding the action item answers (its id in the report: F1, M-ttd, S-<step>…).
    #[arg(long = "for", value_name = "ID", requires = "action")]
    pub for_finding: Option<String>,
    /// When what the note is about happened: RFC 3339, or HH:MM[:SS] (UTC, on the run's start date).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Who writes the note (default: user@host).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

/// `--at`: RFC 3339, or a UTC time of day on the run's start date.
fn parse_at(s: &str, run_start: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    let time = NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .map_err(|_| {
            format!(
                "--at `{s}` is not a time\n  = hint: write RFC 3339 (2026-11-22T10:15:00Z) or a UTC time of day (10:15 or 10:15:30)"
            )
        })?;
    Ok(run_start.date_naive().and_time(time).and_utc())
}

fn last_event(path: &Path) -> std::io::Result<Option<Event>> {
    let mut f = std::fs::File::open(path)?;
    if let Some((line, _)) = crate::journal::chain::last_line(&mut f)?
        && let Ok(e) = serde_json::from_slice::<Event>(&line)
    {
        return Ok(Some(e));
    }
    // A torn last line: the last complete event.
    Ok(crate::journal::read_journal(path)?.events.pop())
}

/// Whether the run that wrote the journal may still be going: no
/// `run_finished`, and its process is alive.
fn still_running(first: &Event, last: &Event) -> bool {
    let EventKind::RunStarted { pid, .. } = &first.kind else {
        return false;
    };
    let finished = matches!(
        last.kind,
        EventKind::RunFinished { .. }
            | EventKind::RestoreStarted { .. }
            | EventKind::RestoreFinished { .. }
    );
    !finished
        && *pid != std::process::id()
        && nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), None).is_ok()
}

pub fn note(a: NoteArgs) -> i32 {
    let path = a.run_dir.join(JOURNAL_FILE);
    let first = match crate::journal::read_first(&path) {
        Ok(Some(e)) => e,
        Ok(None) => {
            eprintln!(
                "gameday: {} holds no events; is it a gameday run directory?",
                path.display()
            );
            return exit::INVALID;
        }
        Err(e) => {
            eprintln!(
                "gameday: cannot read {}: {e}\n  = hint: name a run directory, such as reports/20261122T101500Z-hello",
                path.display()
            );
            return exit::INVALID;
        }
    };
    let text = a.text.trim();
    if text.is_empty() {
        eprintln!("gameday: the note is empty\n  = hint: say what was noticed or is to be done");
        return exit::INVALID;
    }
    let at = match a.at.as_deref().map(|s| parse_at(s, first.ts)).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    let last = match last_event(&path) {
        Ok(Some(e)) => e,
        Ok(None) => first.clone(),
        Err(e) => {
            eprintln!("gameday: cannot read {}: {e}", path.display());
            return exit::INVALID;
        }
    };
    let running = still_running(&first, &last);
    if let Some(id) = &a.for_finding
        && !running
    {
        // Only a finished run's findings are all known.
        match crate::report::load(&a.run_dir) {
            Ok(r) if !r.findings.iter().any(|f| &f.id == id) => {
                let known: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
                eprintln!(
                    "gameday: no finding `{id}` in {}\n  = hint: the findings are {}",
                    a.run_dir.display(),
                    if known.is_empty() {
                        "none yet (add one with --finding)".to_string()
                    } else {
                        known.join(", ")
                    }
                );
                return exit::INVALID;
            }
            _ => {}
        }
    }
    let kind = if a.finding {
        NoteKind::Finding
    } else if a.action {
        NoteKind::Action
    } else {
        NoteKind::Note
    };
    let base = last.elapsed + (Utc::now() - last.ts).num_milliseconds().max(0) as f64 / 1000.0;
    let journal = match Journal::open(&path, vec![], base) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("gameday: cannot append to {}: {e}", path.display());
            return exit::INVALID;
        }
    };
    if let Err(e) = journal.emit(EventKind::Note {
        note: kind,
        text: text.to_string(),
        by: a.by.unwrap_or_else(crate::engine::operator),
        owner: a.owner,
        for_finding: a.for_finding,
        at,
    }) {
        eprintln!("gameday: cannot append to {}: {e}", path.display());
        return exit::INVALID;
    }
    let what = match kind {
        NoteKind::Note => "note",
        NoteKind::Finding => "finding",
        NoteKind::Action => "action item",
    };
    if running {
        eprintln!(
            "gameday: {what} added to {}; the running drill's reports will include it",
            a.run_dir.display()
        );
        return exit::PASSED;
    }
    match crate::report::write_reports(&a.run_dir, None, None) {
        Ok(_) => {
            eprintln!(
                "gameday: {what} added to {}; reports re-rendered",
                a.run_dir.display()
            );
            exit::PASSED
        }
        Err(e) => {
            eprintln!(
                "gameday: {what} added to {}, but the reports could not be re-rendered: {e}",
                a.run_dir.display()
            );
            exit::INVALID
        }
    }
}
