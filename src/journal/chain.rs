//! The journal as a hash chain, so tampering shows. Every line carries, in
//! `prev`, the sha256 (hex) of the bytes of the line before it (without its
//! newline); the first line carries 64 zeros. The hash of the last line is
//! the journal's *final hash*: the reports state it, so a removed last line
//! or a report rendered from another journal shows too.
//!
//! Writers (the run, `gameday restore`, `gameday note` from another
//! terminal) append under an exclusive `flock` on the journal file and
//! compute `prev` from what is on disk at that moment, so their lines never
//! interleave and the chain holds across processes.
//!
//! `check` walks a journal and names the first line where the chain breaks.
//! A final line without a newline that does not parse is a crash's torn
//! write, reported as torn, not as tampering.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// sha256 of a line's bytes (a trailing newline is not part of the line).
pub fn line_hash(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    hex::encode(Sha256::digest(line))
}

/// What the end of a journal file looks like, for the next writer.
pub struct Tail {
    /// `prev` for the next line: the hash of the last line, or `GENESIS`.
    pub prev: String,
    /// The file does not end with a newline (a torn write): the next
    /// writer ends that line first.
    pub needs_newline: bool,
}

/// Read the last line of `file` (backwards, in blocks: a line may be
/// long): its bytes, and whether it lacks its newline. None when empty.
pub fn last_line(file: &mut File) -> std::io::Result<Option<(Vec<u8>, bool)>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    let torn = last[0] != b'\n';
    let end = if torn { len } else { len - 1 };
    // Find the newline before the last line.
    let mut start = 0;
    let mut pos = end;
    const BLOCK: u64 = 64 * 1024;
    let mut buf = vec![0u8; BLOCK as usize];
    while pos > 0 {
        let from = pos.saturating_sub(BLOCK);
        let n = (pos - from) as usize;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            start = from + i as u64 + 1;
            break;
        }
        pos = from;
    }
    let mut line = vec![0u8; (end - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut line)?;
    Ok(Some((line, torn)))
}

/// The end of `file`, for the next writer.
pub fn tail(file: &mut File) -> std::io::Result<Tail> {
    Ok(match last_line(file)? {
        None => Tail {
            prev: GENESIS.into(),
            needs_newline: false,
        },
        Some((line, torn)) => Tail {
            prev: line_hash(&line),
            needs_newline: torn,
        },
    })
}

/// Where and how a chain broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// Line `line` (1-based) does not carry the hash of the line before it:
    /// that line or the one before it was changed, removed, or moved.
    Mismatch { line: usize },
    /// Line `line` has no `prev` at all (not written by a chaining gameday, or edited).
    Unchained { line: usize },
}

/// What `check` found.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Complete lines read.
    pub lines: usize,
    /// The hash of the last complete line (the journal's final hash).
    pub final_hash: Option<String>,
    /// The first break, if any.
    pub broken: Option<Break>,
    /// The file ends in a partial line that does not parse (a crash mid-write).
    pub torn_tail: bool,
    /// Complete lines that are not JSON events but whose successor carries
    /// their hash: a torn write that a later writer ended with a newline.
    pub torn_lines: Vec<usize>,
    /// No line carries a hash: a journal from before the chain existed.
    pub unchained: bool,
}

fn prev_of(line: &[u8]) -> Option<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Prev {
        #[serde(default)]
        prev: Option<String>,
    }
    serde_json::from_slice::<Prev>(line).ok().map(|p| p.prev)
}

/// Walk the journal at `path` and check every link of the chain.
pub fn check(path: &Path) -> std::io::Result<Checked> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, File::open(path)?);
    let mut out = Checked::default();
    let mut buf = Vec::new();
    let mut expected = GENESIS.to_string();
    let mut any_chained = false;
    let mut unparsed: Option<usize> = None;
    let mut n = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        n += 1;
        let complete = buf.last() == Some(&b'\n');
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        match prev_of(line) {
            None if !complete => {
                out.torn_tail = true;
                break;
            }
            None => {
                // Not an event: torn if the next line chains over it.
                unparsed = Some(n);
            }
            Some(prev) => {
                match prev {
                    Some(p) => {
                        any_chained = true;
                        if p != expected && out.broken.is_none() {
                            out.broken = Some(Break::Mismatch { line: n });
                        } else if let Some(u) = unparsed {
                            out.torn_lines.push(u);
                        }
                    }
                    None if out.broken.is_none() => {
                        out.broken = Some(Break::Unchained { line: n });
                    }
                    None => {}
                }
                unparsed = None;
            }
        }
        expected = line_hash(line);
        out.lines = n;
        out.final_hash = Some(expected.clone());
    }
    if let Some(u) = unparsed
        && out.broken.is_none()
    {
        // A complete last line that is not an event.
        out.broken = Some(Break::Mismatch { line: u });
    }
    if !any_chained {
        out.unchained = true;
        out.broken = None;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_finds_the_last_line_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        let long = "x".repeat(200_000);
        std::fs::write(&p, format!("first\n{long}\n")).unwrap();
        let t = tail(&mut File::open(&p).unwrap()).unwrap();
        assert_eq!(t.prev, line_hash(long.as_bytes()));
        assert!(!t.needs_newline);
        std::fs::write(&p, "only, torn").unwrap();
        let t = tail(&mut File::open(&p).unwrap()).unwrap();
        assert_eq!(t.prev, line_hash(b"only, torn"));
        assert!(t.needs_newline);
    }
}
