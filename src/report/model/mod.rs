//! The report model: one typed structure built from a journal's events,
//! which every format renders (report.json is this model serialized; the
//! Markdown template receives it as its context; JUnit and the charts read it).
//!
//! Building it is a pure function of the events: no clock, no network, no
//! files. Times are UTC RFC 3339 with milliseconds; `t` fields are offsets
//! from the reference instant (the first `isolated` marker, or the run's
//! first event when the drill never isolated anything), written `T+00:01:23.4`.

mod builder;
mod defs;
mod feed;
mod feed_changes;
mod format;
mod types;

pub use builder::{Builder, build};
pub use format::{display_value, human_secs, one_line, rfc, t_offset, trim_num};
pub use types::*;
