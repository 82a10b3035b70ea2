//! The crash sweep: a run is killed with a real SIGKILL right after it
//! writes journal event N (`GAMEDAY_CRASH_AFTER_EVENT=N`, the runner raises
//! SIGKILL on itself), for every N of `hello` and a dense sample of
//! `regional-failover` against a real `gameday sim`. After each kill,
//! `gameday restore` must bring the world back to its pre-drill state (the
//! flag file; the simulator's routing controls, traffic dials and ground
//! truth), and a second restore must be a no-op (exit 0, journal unchanged).

use crate::cli::*;
use crate::support::Proc;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What one kill point gave.
#[derive(Debug, PartialEq)]
enum KillPoint {
    /// The runner was killed after event N, and restore brought the world back.
    Restored,
    /// The run ended with fewer than N events (nothing to kill there).
    NotReached,
}

fn journal_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Restore `dir`, then restore again: the second must change nothing.
fn restore_twice(dir: &Path, env: &[(&str, &str)], what: &str) {
    let mut gd = Gd::new(&["restore", dir.to_str().unwrap()]);
    gd.cmd.envs(env.iter().copied());
    let (out, _d) = gd.run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: restore failed:\n{}",
        stderr(&out)
    );
    let before = std::fs::read(dir.join("journal.jsonl")).unwrap();
    let mut gd = Gd::new(&["restore", dir.to_str().unwrap()]);
    gd.cmd.envs(env.iter().copied());
    let (out, _d) = gd.run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: second restore:\n{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("nothing to restore"),
        "{what}: the second restore must be a no-op:\n{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(dir.join("journal.jsonl")).unwrap(),
        before,
        "{what}: the second restore wrote to the journal"
    );
}

/// Run `points` on `workers` threads; returns (tried, restored).
fn sweep(
    points: Vec<usize>,
    workers: usize,
    one: impl Fn(usize) -> KillPoint + Sync,
) -> (usize, usize) {
    let queue = Mutex::new(points);
    let results = Mutex::new(vec![]);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let Some(n) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let r = one(n);
                    results.lock().unwrap().push((n, r));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let tried = results
        .iter()
        .filter(|(_, r)| *r == KillPoint::Restored)
        .count();
    (tried, tried)
}

fn hello_run(
    flag: &Path,
    crash_after: Option<usize>,
) -> (std::process::Output, PathBuf, tempfile::TempDir) {
    let mut gd = Gd::drill(&[
        "drills/examples/hello.yaml",
        "--var",
        &format!("flag_file={}", flag.display()),
        "--var",
        "observe_for=0s",
        "--quiet",
        // What this file tests is `gameday restore` after a crash; the guard
        // would race it to the same undo (its own tests: guard.rs).
        "--no-guard",
    ]);
    if let Some(n) = crash_after {
        gd.cmd.env("GAMEDAY_CRASH_AFTER_EVENT", n.to_string());
    }
    let out_dir = gd.out_dir();
    let (out, d) = gd.run();
    let dir = run_dir(&out_dir).expect("a run directory");
    (out, dir, d)
}

#[test]
fn crash_sweep_hello_every_kill_point_is_restorable() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, dir, _d) = hello_run(&tmp.path().join("flag"), None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = journal_lines(&dir);
    assert!(events > 20, "hello writes {events} events");
    let (tried, restored) = sweep((1..=events).collect(), 2, |n| {
        let tmp = tempfile::tempdir().unwrap();
        let flag = tmp.path().join("flag");
        let (out, dir, _d) = hello_run(&flag, Some(n));
        if out.status.signal() != Some(9) {
            assert!(
                out.status.code().is_some(),
                "kill point {n}: {:?}",
                out.status
            );
            assert!(
                !flag.exists(),
                "kill point {n}: a finished run left the flag"
            );
            return KillPoint::NotReached;
        }
        assert_eq!(
            journal_lines(&dir),
            n,
            "kill point {n}: the journal has every event written before the kill"
        );
        restore_twice(&dir, &[], &format!("hello kill point {n}"));
        assert!(!flag.exists(), "kill point {n}: restore left the flag file");
        KillPoint::Restored
    });
    eprintln!("crash sweep hello: {events} events, {tried} kill points tried, {restored} restored");
    assert!(
        tried + 1 >= events,
        "only {tried} of {events} kill points were reached"
    );
}

/// The simulator state a drill changes and restoration must put back.
fn world(sim: &Proc) -> (Vec<String>, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = crate::support::http();
        let metrics = c
            .get(format!("{}/metrics", sim.base_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let routing: Vec<String> = metrics
            .lines()
            .filter(|l| {
                l.starts_with("routing_control_state{") || l.starts_with("traffic_dial_percent{")
            })
            .map(str::to_string)
            .collect();
        let truth: serde_json::Value = c
            .get(format!("{}/sim/truth", sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (routing, truth)
    })
}

const SIM_AWS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "sim"),
    ("AWS_SECRET_ACCESS_KEY", "sim"),
    ("AWS_REGION", "us-west-2"),
];

fn failover_run(
    sim: &Proc,
    crash_after: Option<usize>,
) -> (std::process::Output, PathBuf, tempfile::TempDir) {
    let mut gd = Gd::drill(&[
        "drills/regional-failover.yaml",
        "--env",
        "drills/environments/sim.yaml",
        "--var",
        &format!("sim_url={}", sim.base_url()),
        "--yes",
        "--quiet",
        // `gameday restore` is under test, not the guard (see hello_run).
        "--no-guard",
    ]);
    gd.cmd.envs(SIM_AWS.iter().copied());
    if let Some(n) = crash_after {
        gd.cmd.env("GAMEDAY_CRASH_AFTER_EVENT", n.to_string());
    }
    let out_dir = gd.out_dir();
    let (out, d) = gd.run();
    let dir = run_dir(&out_dir).expect("a run directory");
    (out, dir, d)
}

fn start_sim() -> Proc {
    crate::support::sim::sim_blocking(None)
}

#[test]
fn crash_sweep_regional_failover_against_the_simulator_is_restorable() {
    let sim = start_sim();
    let pristine = world(&sim).0;
    let (out, dir, _d) = failover_run(&sim, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    let kinds: Vec<String> = journal
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    drop(sim);
    // Every event up to the end of isolation (both intents and applies and
    // all between), every event next to a change or an undo, the end, and
    // every 15th event of the observation window in between.
    let last_apply = kinds.iter().rposition(|k| k == "applied").unwrap();
    let mut points: Vec<usize> = (1..=last_apply + 2).collect();
    for (i, k) in kinds.iter().enumerate() {
        if matches!(
            k.as_str(),
            "intent" | "applied" | "undo_started" | "undone" | "cancelled" | "run_finished"
        ) {
            points.extend([i, i + 1, i + 2]);
        }
    }
    points.extend((last_apply..kinds.len()).step_by(15));
    points.retain(|n| (1..=kinds.len()).contains(n));
    points.sort_unstable();
    points.dedup();
    let sampled = points.len();
    let (tried, restored) = sweep(points, 4, |n| {
        // A fresh simulator per kill point: the world starts pristine.
        let sim = start_sim();
        assert_eq!(world(&sim).0, pristine);
        let (out, dir, _d) = failover_run(&sim, Some(n));
        if out.status.signal() != Some(9) {
            assert!(
                out.status.code().is_some(),
                "kill point {n}: {:?}",
                out.status
            );
            // Not killed: this run ended before writing its n-th event (runs
            // differ by a few watch polls), never after it.
            let lines = journal_lines(&dir);
            assert!(
                lines < n,
                "kill point {n}: the run wrote {lines} events and was not killed"
            );
            return KillPoint::NotReached;
        }
        assert_eq!(journal_lines(&dir), n, "kill point {n}");
        restore_twice(&dir, SIM_AWS, &format!("regional-failover kill point {n}"));
        let (routing, truth) = world(&sim);
        assert_eq!(
            routing, pristine,
            "kill point {n}: routing not back to its pre-drill state"
        );
        assert!(
            truth["isolated_at"].is_null() || !truth["restored_at"].is_null(),
            "kill point {n}: the simulator's ground truth says the region is still isolated: {truth}"
        );
        KillPoint::Restored
    });
    eprintln!(
        "crash sweep regional-failover: {} events, {sampled} kill points sampled, {tried} tried, {restored} restored",
        kinds.len()
    );
    // Only points near the end can be out of a shorter run's reach.
    assert!(
        tried * 10 >= sampled * 9,
        "only {tried} of {sampled} kill points were reached"
    );
}

/// `restore --dry-run` lists and changes nothing; an undo record edited to
/// something that cannot undo its step is refused, never run (exit 5).
#[test]
fn restore_dry_run_lists_and_a_tampered_undo_record_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let (_, dir, _d) = hello_run(&flag, None);
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    let applied = journal
        .lines()
        .position(|l| l.contains("\"event\":\"applied\""))
        .unwrap()
        + 1;
    let (out, dir, _d) = hello_run(&flag, Some(applied));
    assert_eq!(out.status.signal(), Some(9));
    assert!(flag.exists());

    let (out, _d) = Gd::new(&["restore", "--dry-run", dir.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("would undo, newest first:"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("raise flag: run rm -f"),
        "{}",
        stdout(&out)
    );
    assert!(flag.exists(), "--dry-run changed something");

    // The undo record now claims an HTTP request undoes the shell step.
    let path = dir.join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = text.replacen(
        "\"kind\":\"shell\"},\"description\"",
        "\"kind\":\"http\",\"request\":{\"method\":\"DELETE\",\"url\":\"http://127.0.0.1:9/\"}},\"description\"",
        1,
    );
    assert_ne!(tampered, text, "the undo record's shape changed: {text}");
    std::fs::write(&path, tampered).unwrap();
    let (out, _d) = Gd::new(&["restore", dir.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refusing the undo record of `raise flag`"),
        "{}",
        stderr(&out)
    );
    assert!(flag.exists(), "a refused record must not run");
}
