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
    /// A `run_started` line whose journaled playbook does not read back
    /// (1-based line, why). Reports refuse such a journal; restore does not
    /// need the playbook and goes on.
    pub unloadable_playbook: Option<(usize, String)>,
}

/// Read `path`. Errors only when the file cannot be read at all.
pub fn read_journal(path: &Path) -> std::io::Result<JournalRead> {
    let mut events = vec![];
    let mut out = for_each_event(path, |e| events.push(e))?;
    out.events = events;
    Ok(out)
}

/// Read `path` one line at a time, handing each event to `f` (a journal of
/// a day-long run is never held whole). The returned `JournalRead` has no
/// events, only what could not be read.
pub fn for_each_event(path: &Path, mut f: impl FnMut(Event)) -> std::io::Result<JournalRead> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let mut out = JournalRead::default();
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        n += 1;
        let complete = buf.last() == Some(&b'\n');
        let line = String::from_utf8_lossy(&buf);
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(&line) {
            Ok(e) => f(e),
            Err(_) if !complete => out.torn_tail = true,
            Err(e) => {
                if out.unloadable_playbook.is_none() && line.contains(r#""event":"run_started""#) {
                    out.unloadable_playbook = Some((n, e.to_string()));
                }
                out.unreadable_lines.push(n)
            }
        }
    }
    Ok(out)
}

/// The first event of `path` (`run_started`), without reading the rest.
pub fn read_first(path: &Path) -> std::io::Result<Option<Event>> {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(std::fs::File::open(path)?).read_line(&mut line)?;
    Ok(serde_json::from_str(&line).ok())
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
