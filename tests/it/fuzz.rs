//! Fuzzing with proptest (stable toolchain), run by `cargo test` in CI with
//! fixed case counts so the whole module stays well under a minute: the
//! playbook loader, environment files, the simulator config, the journal
//! reader (torn, reordered, truncated, corrupt lines) and the report builder
//! over arbitrary journals. Inputs are real files mutated (bytes flipped,
//! spans cut, duplicated or spliced, lines shuffled), so the cases reach deep
//! into each parser rather than failing at the first byte. Each case must not
//! panic and must finish within a time bound. Executions per run: 3 × 1,000
//! (loader, environment files, sim config) + 2 × 400 (journal reader, report
//! builder) = 3,800. Journals are damaged as bytes, so a tear or a flip can
//! split a multi-byte character as a real torn write does.

use proptest::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// No single case may take longer than this (debug build, loaded machine).
const CASE_LIMIT: Duration = Duration::from_secs(5);

fn repo_file(p: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
}

/// One edit of a text.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Cut(usize, usize),
    Duplicate(usize, usize),
    Insert(usize, String),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Flip(a, b)),
        (any::<usize>(), 0usize..64).prop_map(|(a, n)| Edit::Cut(a, n)),
        (any::<usize>(), 0usize..64).prop_map(|(a, n)| Edit::Duplicate(a, n)),
        (
            any::<usize>(),
            prop_oneof![
                Just("${".to_string()),
                Just("\n- ".to_string()),
                Just(": [".to_string()),
                Just("{{".to_string()),
                Just("\t".to_string()),
                Just("\"".to_string()),
                Just("\u{0}".to_string()),
                Just("99999999999999999999".to_string()),
                Just("-1s".to_string()),
                Just("&a *a".to_string()),
                "\\PC{0,12}",
            ]
        )
            .prop_map(|(a, s)| Edit::Insert(a, s)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// Apply edits on bytes, then read as UTF-8 (lossy: loaders take text).
fn mutate(text: &str, edits: &[Edit]) -> String {
    String::from_utf8_lossy(&mutate_bytes(text.as_bytes().to_vec(), edits)).into_owned()
}

/// Apply edits on bytes: a flip or a cut may split a multi-byte character,
/// as a torn write or a bad disk would.
fn mutate_bytes(mut b: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = b.len().max(1);
        match e {
            Edit::Flip(at, v) => {
                if !b.is_empty() {
                    let i = at % b.len();
                    b[i] = *v;
                }
            }
            Edit::Cut(at, n) => {
                let i = at % len;
                let j = (i + n).min(b.len());
                if i < j {
                    b.drain(i..j);
                }
            }
            Edit::Duplicate(at, n) => {
                let i = at % len;
                let j = (i + n).min(b.len());
                if i < j {
                    let span = b[i..j].to_vec();
                    b.splice(j..j, span);
                }
            }
            Edit::Insert(at, s) => {
                let i = (at % len).min(b.len());
                b.splice(i..i, s.bytes());
            }
            Edit::Truncate(at) => b.truncate(at % len),
        }
    }
    b
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let r = f();
    assert!(
        start.elapsed() < CASE_LIMIT,
        "{what} took {:?}",
        start.elapsed()
    );
    r
}

const DRILLS: &[&str] = &[
    "drills/examples/hello.yaml",
    "drills/regional-failover.yaml",
    "drills/postgres-promotion.yaml",
    "drills/examples/data-safety-sim.yaml",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Shipped drills, mutated: a playbook or diagnostics, never a panic.
    #[test]
    fn fuzz_playbook_loader(which in 0..DRILLS.len(), edits in proptest::collection::vec(edit(), 1..6)) {
        let src = mutate(&repo_file(DRILLS[which]), &edits);
        timed("the loader", || {
            let _ = gameday::playbook::load_str("fuzz.yaml", src, &gameday::playbook::LoadOptions::default());
        });
    }

    /// Environment files, mutated, under a real playbook.
    #[test]
    fn fuzz_environment_files(edits in proptest::collection::vec(edit(), 1..6)) {
        let env = mutate(&repo_file("drills/environments/sim.yaml"), &edits);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.yaml");
        std::fs::write(&path, env).unwrap();
        let opts = gameday::playbook::LoadOptions { env_file: Some(path), ..Default::default() };
        timed("an environment file", || {
            let _ = gameday::playbook::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/drills/regional-failover.yaml")), &opts);
        });
    }

    /// The simulator's config, mutated.
    #[test]
    fn fuzz_sim_config(edits in proptest::collection::vec(edit(), 1..6)) {
        let text = mutate(&repo_file("drills/sim/config.example.yaml"), &edits);
        timed("the sim config", || {
            let _ = gameday::sim::config::parse("fuzz.yaml", &text);
        });
    }
}

const JOURNALS: &[&str] = &["passed", "aborted", "crashed", "failed", "interrupted"];

/// A journal damaged line-wise: lines reordered, dropped, duplicated, one
/// torn mid-line, corrupt bytes.
#[derive(Debug, Clone)]
struct Damage {
    which: usize,
    swaps: Vec<(usize, usize)>,
    drops: Vec<usize>,
    tear_at: Option<usize>,
    edits: Vec<Edit>,
}

fn damage() -> impl Strategy<Value = Damage> {
    (
        0..JOURNALS.len(),
        proptest::collection::vec((any::<usize>(), any::<usize>()), 0..8),
        proptest::collection::vec(any::<usize>(), 0..4),
        proptest::option::of(any::<usize>()),
        proptest::collection::vec(edit(), 0..4),
    )
        .prop_map(|(which, swaps, drops, tear_at, edits)| Damage {
            which,
            swaps,
            drops,
            tear_at,
            edits,
        })
}

/// The journal's bytes after the damage. The tear is at a byte, not a
/// character: a write torn by a crash can end inside a multi-byte character
/// (the fixtures hold `→` and `—`), and the reader must take that too.
fn damaged_journal(d: &Damage) -> Vec<u8> {
    let text = repo_file(&format!(
        "tests/fixtures/journals/{}/journal.jsonl",
        JOURNALS[d.which]
    ));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len();
    for (a, b) in &d.swaps {
        if n > 0 {
            lines.swap(a % n, b % n);
        }
    }
    for x in &d.drops {
        if !lines.is_empty() {
            let i = x % lines.len();
            lines.remove(i);
        }
    }
    let mut out = (lines.join("\n") + "\n").into_bytes();
    if let Some(t) = d.tear_at {
        out.truncate(t % out.len().max(1));
    }
    mutate_bytes(out, &d.edits)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// The reader takes any damage: every complete, valid line is an event,
    /// a torn tail is noted, nothing panics.
    #[test]
    fn fuzz_journal_reader(d in damage()) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let text = damaged_journal(&d);
        std::fs::write(&p, &text).unwrap();
        let r = timed("the journal reader", || gameday::journal::read_journal(&p)).unwrap();
        let lines = text
            .split(|b| *b == b'\n')
            .filter(|l| !String::from_utf8_lossy(l).trim().is_empty())
            .count();
        prop_assert!(r.events.len() + r.unreadable_lines.len() + usize::from(r.torn_tail) <= lines);
    }

    /// Every report format renders from a damaged journal, or says why not.
    #[test]
    fn fuzz_report_builder(d in damage()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("journal.jsonl"), damaged_journal(&d)).unwrap();
        timed("the report builder", || {
            let _ = gameday::report::render_run(dir.path(), "reports/fuzz", None);
        });
    }
}

/// The case proptest found: a crash tears the journal inside a multi-byte
/// character. The lines before it are all events, the broken one is a torn
/// tail, not an unreadable line.
#[test]
fn a_journal_torn_inside_a_multibyte_character_reads_up_to_the_tear() {
    let text = repo_file("tests/fixtures/journals/passed/journal.jsonl");
    let at = text
        .bytes()
        .position(|b| b >= 0x80)
        .expect("the fixture holds a non-ASCII character");
    let whole_lines_before = text[..at].matches('\n').count();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("journal.jsonl");
    std::fs::write(&p, &text.as_bytes()[..at + 1]).unwrap();
    let r = gameday::journal::read_journal(&p).unwrap();
    assert_eq!(r.events.len(), whole_lines_before);
    assert!(r.torn_tail, "the split character's line is a torn tail");
    assert!(r.unreadable_lines.is_empty(), "{:?}", r.unreadable_lines);
}
