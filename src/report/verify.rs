//! `gameday verify RUN_DIR`: evidence that holds up in an audit. Checks
//! that the journal's hash chain is whole (`journal::chain`), and that
//! report.json and report.md were rendered from exactly that journal: each
//! states the journal's final hash, and rendering the journal again gives
//! the same bytes. A changed byte, a removed line or swapped lines break
//! the chain at the first line concerned; a removed last line or an edited
//! report no longer match the reports. A crash's torn last line is
//! reported as torn, not as tampering.
//!
//! report.md is compared with the shipped template's rendering; a report
//! written with `--template` is checked only for the hash it states.

use super::ReportError;
use crate::journal::JOURNAL_FILE;
use crate::journal::chain::{self, Break};
use std::path::Path;

/// One thing `verify` found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `journal.jsonl:12`, `report.md`.
    pub place: String,
    pub message: String,
}

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Verified {
    pub lines: usize,
    pub final_hash: Option<String>,
    /// Notes that are not failures (a torn last line).
    pub notes: Vec<String>,
    pub problems: Vec<Problem>,
}

impl Verified {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The run directory as the report names it in its commands
/// (`gameday report DIR`), so it is rendered again the same way.
fn shown_dir(md: &str) -> Option<&str> {
    let from = md.rfind("gameday report ")? + "gameday report ".len();
    let len = md[from..].find('`')?;
    Some(&md[from..from + len])
}

fn problem(place: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        place: place.into(),
        message: message.into(),
    }
}

/// The first line where two texts differ (1-based).
fn first_difference(a: &str, b: &str) -> usize {
    a.lines()
        .zip(b.lines())
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.lines().count().min(b.lines().count()))
        + 1
}

/// Check `run_dir`. Errors only when the journal cannot be read at all.
pub fn verify(run_dir: &Path) -> Result<Verified, ReportError> {
    let jpath = run_dir.join(JOURNAL_FILE);
    let checked = chain::check(&jpath).map_err(|e| ReportError::Read {
        path: jpath.display().to_string(),
        source: e,
    })?;
    let mut out = Verified {
        lines: checked.lines,
        final_hash: checked.final_hash.clone(),
        ..Default::default()
    };
    if checked.unchained {
        out.problems.push(problem(
            JOURNAL_FILE,
            "no line carries a hash: the journal was written by a gameday without the hash chain, or rewritten; it cannot be verified",
        ));
        return Ok(out);
    }
    match checked.broken {
        Some(Break::Mismatch { line: 1 }) => out.problems.push(problem(
            format!("{JOURNAL_FILE}:1"),
            "the first line does not start the chain: lines before it were removed, or it was changed",
        )),
        Some(Break::Mismatch { line }) => out.problems.push(problem(
            format!("{JOURNAL_FILE}:{line}"),
            format!(
                "this line does not carry the hash of line {}: one of them was changed, or lines were removed or moved here",
                line - 1
            ),
        )),
        Some(Break::Unchained { line }) => out.problems.push(problem(
            format!("{JOURNAL_FILE}:{line}"),
            "this line carries no hash: it was added or rewritten by something other than gameday",
        )),
        None => {}
    }
    for l in &checked.torn_lines {
        out.notes.push(format!(
            "{JOURNAL_FILE}:{l} is a torn write (the runner was killed while writing it); the chain continues over it"
        ));
    }
    if checked.torn_tail {
        out.notes.push(format!(
            "{JOURNAL_FILE}:{} is torn: the runner was killed while writing it, so it is not part of the chain (not tampering)",
            checked.lines + 1
        ));
    }
    let Some(final_hash) = checked.final_hash else {
        return Ok(out);
    };

    // The reports: the hash they state, and a fresh rendering.
    let md_path = run_dir.join("report.md");
    let json_path = run_dir.join("report.json");
    let md_disk = std::fs::read_to_string(&md_path).ok();
    let json_disk = std::fs::read_to_string(&json_path).ok();
    if md_disk.is_none() && json_disk.is_none() {
        out.problems.push(problem(
            "report.md",
            "there is no report.md nor report.json to check (render them with `gameday report RUN_DIR`)",
        ));
        return Ok(out);
    }
    let shown = md_disk
        .as_deref()
        .and_then(shown_dir)
        .map(str::to_string)
        .unwrap_or_else(|| run_dir.display().to_string());
    let now = super::rerender(run_dir, &shown)?;
    let html_disk = std::fs::read_to_string(run_dir.join("report.html")).ok();
    let has_html = html_disk.is_some();
    for (name, disk, now) in [
        ("report.json", json_disk, now.json),
        ("report.md", md_disk, now.md),
        ("report.html", html_disk, now.html),
    ] {
        if name == "report.html" && !has_html {
            continue; // optional (`--format`)
        }
        let Some(disk) = disk else {
            out.notes.push(format!("{name} is missing; not checked"));
            continue;
        };
        if !disk.contains(&final_hash) {
            out.problems.push(problem(
                name,
                "does not state the journal's final hash: it was rendered from another journal (or an earlier state of this one: re-render with `gameday report RUN_DIR`), or edited",
            ));
        } else if disk != now {
            out.problems.push(problem(
                format!("{name}:{}", first_difference(&disk, &now)),
                "differs from the report this journal renders to: the report was edited (or rendered with --template)",
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_dir_is_read_back_from_the_report() {
        let md = "…Rebuild it at any time with `gameday report reports/x-hello`; the same…";
        assert_eq!(shown_dir(md), Some("reports/x-hello"));
        assert_eq!(first_difference("a\nb\nc", "a\nB\nc"), 2);
        assert_eq!(first_difference("a\nb", "a\nb\nc"), 3);
    }
}
