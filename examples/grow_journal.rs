//! Grows a run directory into a long one for the report benchmark
//! (`benches/report.sh`): the journal of a recorded run (by default the
//! `passed` fixture; `scripts/record-fixtures.sh` records it from a real
//! `gameday demo` run) is read typed, and
//! the events a long observation repeats (canary writes, step attempts,
//! guardrail and invariant states, lag checks, warnings, watch polls) are
//! replayed, in the order and with the content the run wrote them, across
//! 24 hours until the journal holds EVENTS events. Everything after the
//! replayed stretch moves 24 hours later. Every kind and field is one the
//! real run wrote, so the report reads it as it reads a real day-long run;
//! the hash chain is rebuilt so `gameday verify` passes too. The chart
//! series are stretched to the same 24 hours at a 15 s step.
//!
//! ```text
//! cargo run --example grow_journal -- tests/fixtures/journals/passed OUT_DIR [EVENTS]
//! ```

use chrono::{DateTime, Duration, Utc};
use gameday::journal::chain::{GENESIS, line_hash};
use gameday::journal::{Event, EventKind, read_journal};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

const DAY_SECS: i64 = 86_400;

/// Events that a long observation repeats.
fn repeats(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::CanaryWrite { .. }
            | EventKind::StepAttempt { .. }
            | EventKind::GuardrailState { .. }
            | EventKind::InvariantState { .. }
            | EventKind::LagBudgetChecked { .. }
            | EventKind::Warning { .. }
    )
}

/// Move every instant of `kind` by `d`.
fn shift(kind: &mut EventKind, d: Duration) {
    match kind {
        EventKind::Marker {
            at, observed_at, ..
        } => {
            *at += d;
            *observed_at += d;
        }
        EventKind::GuardrailBreached { since, .. } | EventKind::InvariantBroken { since, .. } => {
            *since += d
        }
        EventKind::CanaryWrite { acked_at, .. } => *acked_at += d,
        EventKind::Note { at: Some(at), .. } => *at += d,
        _ => {}
    }
}

fn write_journal(path: &Path, events: &[Event]) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create journal"));
    let mut prev = GENESIS.to_string();
    for e in events {
        let mut e = e.clone();
        e.prev = Some(prev);
        let line = serde_json::to_string(&e).expect("serialize");
        prev = line_hash(line.as_bytes());
        writeln!(w, "{line}").expect("write journal");
    }
    w.flush().expect("flush journal");
}

/// The recorded series, stretched over [start, start + span] at a 15 s step
/// (each series' recorded values repeated in order).
fn stretch_series(from: &Path, to: &Path, start: DateTime<Utc>, span: i64) {
    let Ok(dir) = std::fs::read_dir(from) else {
        return;
    };
    std::fs::create_dir_all(to).expect("create series dir");
    let t0 = start.timestamp() as f64;
    let steps = span / 15;
    for f in dir {
        let f = f.expect("series entry").path();
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&f).expect("read series"))
            .expect("series json");
        if let Some(results) = v.get_mut("result").and_then(Value::as_array_mut) {
            for r in results {
                let values: Vec<Value> = r["values"].as_array().cloned().unwrap_or_default();
                if values.is_empty() {
                    continue;
                }
                r["values"] = (0..=steps)
                    .map(|i| json!([t0 + (i * 15) as f64, values[i as usize % values.len()][1]]))
                    .collect();
            }
        }
        if v.get("step").is_some() {
            v["step"] = json!(15);
        }
        std::fs::write(to.join(f.file_name().expect("name")), v.to_string()).expect("write series");
    }
}

fn grow(from: &Path, out: &Path, n: usize) {
    let read = read_journal(&from.join("journal.jsonl")).expect("read the recorded journal");
    let events = read.events;
    let template: Vec<&Event> = events.iter().filter(|e| repeats(&e.kind)).collect();
    assert!(!template.is_empty(), "the recorded run repeats nothing");
    // The day is inserted after the last repeatable event the run wrote.
    let cut = events
        .iter()
        .rposition(|e| repeats(&e.kind))
        .expect("a repeatable event")
        + 1;
    let filler = n.saturating_sub(events.len());
    let day = Duration::seconds(DAY_SECS);
    let begin = events[cut - 1].ts;
    let mut out_events: Vec<Event> = events[..cut].to_vec();
    let mut seq = 1_000_000u64;
    for i in 0..filler {
        let mut e = template[i % template.len()].clone();
        let ts =
            begin + Duration::milliseconds((DAY_SECS * 1000) * i as i64 / filler.max(1) as i64);
        shift(&mut e.kind, ts - e.ts);
        if let EventKind::CanaryWrite { seq: s, key, .. } = &mut e.kind {
            seq += 1;
            *s = seq;
            *key = format!("canary/{seq:07}");
        }
        e.elapsed += (ts - e.ts).num_milliseconds() as f64 / 1000.0;
        e.ts = ts;
        out_events.push(e);
    }
    for e in &events[cut..] {
        let mut e = e.clone();
        shift(&mut e.kind, day);
        e.ts += day;
        e.elapsed += DAY_SECS as f64;
        out_events.push(e);
    }
    std::fs::create_dir_all(out).expect("create the run directory");
    write_journal(&out.join("journal.jsonl"), &out_events);
    let start = out_events.first().map(|e| e.ts).unwrap_or_default();
    let span = (out_events.last().map(|e| e.ts).unwrap_or_default() - start).num_seconds();
    stretch_series(&from.join("series"), &out.join("series"), start, span);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [from, out, rest @ ..] => {
            let n = rest.first().and_then(|s| s.parse().ok()).unwrap_or(100_000);
            grow(Path::new(from), Path::new(out), n);
        }
        _ => {
            eprintln!("usage: grow_journal RECORDED_RUN_DIR OUT_DIR [EVENTS]");
            std::process::exit(2);
        }
    }
}
