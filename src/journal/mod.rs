//! The journal: the run as a stream of timestamped events, written to
//! `RUN_DIR/journal.jsonl` one JSON object per line, append-only.
//!
//! Every event carries a UTC timestamp and monotonic seconds since the run
//! began. Events that guard safety (intent before a mutating call, applied,
//! undone, phase boundaries, markers) are fsync'd before the engine moves on.
//! The journal is the single source for `gameday restore` and for every
//! report; the terminal view consumes the same stream.

pub mod chain;
pub mod event;
pub mod playbook;
pub mod reader;
pub mod writer;

pub use event::{CancelReason, Event, EventKind};
pub use reader::{read_first, read_journal};
pub use writer::{EventSink, Journal};

/// File name of the journal inside a run directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";
