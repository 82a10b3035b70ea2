//! Reading a journal back. A run killed mid-write leaves a torn last line;
//! that line is ignored (and reported), every complete line before it counts.

use super::event::Event;
use std::path::Path;

/// What was read, and what could not be.
#[derive(Debug, Default)]
pub struct JournalRead {
    pub events: Vec<Event>,
    /// A partial final line (crash mid-write) was skipped.
    pub torn_tail: bool,
    /// Complete lines that did not parse (1-based line numbers), e.g. from a
    /// newer gameday version.
    pub unreadable_lines: Vec<usize>,
}

/// Read `path`. Errors only when the file cannot be read at all.
pub fn read_journal(path: &Path) -> std::io::Result<JournalRead> {
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut out = JournalRead::default();
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(line) {
            Ok(e) => out.events.push(e),
            Err(_) if i + 1 == lines.len() && !complete => out.torn_tail = true,
            Err(_) => out.unreadable_lines.push(i + 1),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{EventKind, Journal};

    #[test]
    fn tolerates_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let j = Journal::open(&p, vec!["hunter22".into()], 0.0).unwrap();
        j.emit(EventKind::Warning {
            message: "token hunter22 leaked?".into(),
            step: None,
        })
        .unwrap();
        j.emit(EventKind::Undone { id: "a".into() }).unwrap();
        drop(j);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.extend_from_slice(b"{\"ts\":\"2026-11-22T00:00:00Z\",\"elap");
        std::fs::write(&p, bytes).unwrap();
        let r = read_journal(&p).unwrap();
        assert_eq!(r.events.len(), 2);
        assert!(r.torn_tail);
        match &r.events[0].kind {
            EventKind::Warning { message, .. } => assert_eq!(message, "token [redacted] leaked?"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
