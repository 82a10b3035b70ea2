//! The drill script: phase budgets, observation windows (`hold:` with
//! invariants), the post phase. First with a flag-file drill (no services),
//! then the shipped regional-failover drill against the real `gameday sim`
//! with faults injected through `POST /sim/faults`: each must fail the drill
//! (exit 1) with the cause named in report.md and report.json, and leave
//! everything restored.

use crate::cli::*;
use crate::prom::{drill_args, events, gameday, journal, run_dir_of, run_gameday, sim};
use crate::support::http;
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// A flag-file drill: isolate creates the flag, restore removes it. `observe`
/// and `post` are the YAML of those phases (indented as phase items).
fn flag_playbook(dir: &Path, observe: &str, post: &str) -> PathBuf {
    let text = format!(
        r#"name: script-test
unattended: true
deadline: 5m
vars:
  flag_file: /tmp/never
  tmp: /tmp/never
phases:
  - kind: isolate
    steps:
      - name: raise flag
        kind: shell
        script: 'echo up > "$flag_file"'
        undo: {{ argv: [rm, -f, "${{flag_file}}"] }}
        mark: isolated
{observe}
  - kind: restore
    steps:
      - name: lower flag
        kind: undo
        of: raise flag
{post}
"#
    );
    let p = dir.join("drill.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run_flag(playbook: &Path, tmp: &Path) -> (std::process::Output, PathBuf, tempfile::TempDir) {
    let flag = tmp.join("flag");
    let gd = Gd::drill(&[
        playbook.to_str().unwrap(),
        "--var",
        &format!("flag_file={}", flag.display()),
        "--var",
        &format!("tmp={}", tmp.display()),
    ]);
    let out_dir = gd.out_dir();
    let (out, d) = gd.run();
    let dir = run_dir(&out_dir).expect("run dir");
    (out, dir, d)
}

fn findings(report: &Value) -> Vec<Value> {
    report["script"]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn validate_refuses_changes_in_a_post_phase_and_invariants_that_are_not_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let p = flag_playbook(
        tmp.path(),
        r#"  - kind: observe
    hold: 1s
    invariants:
      - { name: touch it, kind: shell, argv: [touch, x], undo: { argv: [rm, x] } }"#,
        r#"  - kind: post
    steps:
      - name: raise it again
        kind: shell
        argv: [touch, "${flag_file}"]
        undo: { argv: [rm, -f, "${flag_file}"] }
      - name: flag gone
        kind: shell
        read_only: true
        argv: [test, "!", -e, "${flag_file}"]"#,
    );
    let (out, _d) = Gd::new(&["validate", p.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("step `raise it again` is a `shell` step that changes something; the post phase only checks"),
        "{err}"
    );
    assert!(err.contains("drill.yaml:26:"), "points at the step: {err}");
    assert!(
        err.contains("invariant `touch it` is a `shell` step; invariants must be read-only checks"),
        "{err}"
    );
    // Invariants are checked during a hold, so they need one.
    let no_hold = tmp.path().join("no-hold.yaml");
    std::fs::write(
        &no_hold,
        "name: x\nphases:\n  - kind: observe\n    invariants:\n      - { name: up, kind: shell, read_only: true, argv: [\"true\"] }\n",
    )
    .unwrap();
    let (out, _d) = Gd::new(&["validate", no_hold.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("error: a phase with `invariants:` needs `hold:`")
            && stderr(&out).contains("no-hold.yaml:3:"),
        "{}",
        stderr(&out)
    );
    // A post phase must come after restore.
    let bad_order = tmp.path().join("order.yaml");
    std::fs::write(
        &bad_order,
        "name: x\nphases:\n  - kind: post\n    steps: []\n  - kind: restore\n    steps: []\n",
    )
    .unwrap();
    let (out, _d) = Gd::new(&["validate", bad_order.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("phase `restore` comes after `post`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failing_post_phase_fails_the_drill_after_restoring_and_is_a_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let p = flag_playbook(
        tmp.path(),
        "",
        r#"  - kind: post
    name: back to normal
    steps:
      - name: marker file present
        kind: shell
        read_only: true
        argv: [test, -e, "${tmp}/healthy"]"#,
    );
    let (out, dir, _d) = run_flag(&p, tmp.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!tmp.path().join("flag").exists(), "restored");
    let r = report_json(&dir);
    assert_eq!(r["outcome"], "failed");
    assert_eq!(r["restoration"]["status"], "restored");
    let f = findings(&r);
    assert!(
        f.iter()
            .any(|f| f["kind"] == "post_phase_failed" && f["phase"] == "back to normal"),
        "{f:?}"
    );
    let post = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "post")
        .expect("post phase in the report");
    assert_eq!(post["status"], "failed");
    // It ran after the automatic restoration: the flag was gone when it checked.
    let j = journal(&dir);
    let undone = j.iter().position(|e| e["event"] == "undone").unwrap();
    let post_start = j
        .iter()
        .position(|e| e["event"] == "phase_started" && e["kind"] == "post")
        .unwrap();
    assert!(undone < post_start);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("post phase failed"), "{md}");

    // The same drill passes once the check holds; the post phase passes.
    std::fs::write(tmp.path().join("healthy"), "").unwrap();
    let (out, dir, _d) = run_flag(&p, tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(findings(&report_json(&dir)).is_empty());
}

#[test]
fn over_budget_is_a_warning_by_default_and_a_failure_with_over_budget_fail() {
    let tmp = tempfile::tempdir().unwrap();
    for (policy, code, severity) in [("warn", 0, "warning"), ("fail", 1, "failure")] {
        let p = flag_playbook(
            tmp.path(),
            &format!(
                r#"  - kind: observe
    name: watch
    budget: 200ms
    over_budget: {policy}
    steps:
      - {{ name: look, kind: wait, duration: 600ms }}"#
            ),
            "",
        );
        let (out, dir, _d) = run_flag(&p, tmp.path());
        assert_eq!(out.status.code(), Some(code), "{policy}: {}", stderr(&out));
        let r = report_json(&dir);
        let b = &r["script"]["budgets"][0];
        assert_eq!(b["phase"], "watch");
        assert_eq!(b["budget_seconds"], 0.2);
        assert!(b["actual_seconds"].as_f64().unwrap() >= 0.6, "{b}");
        assert_eq!(b["verdict"], "over");
        let f = findings(&r);
        assert!(
            f.iter()
                .any(|f| f["kind"] == "over_budget" && f["severity"] == severity),
            "{policy}: {f:?}"
        );
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains("### Phase budgets: planned vs actual"), "{md}");
        assert!(md.contains("| `watch` | observe | 0.20 s |"), "{md}");
    }
}

#[test]
fn an_invariant_breaking_mid_hold_fails_the_phase_with_the_instant_and_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let p = flag_playbook(
        tmp.path(),
        r#"  - kind: observe
    name: observation
    hold: 30s
    invariants:
      - name: nothing broke
        kind: shell
        read_only: true
        argv: [test, "!", -e, "${tmp}/broken"]
        every: 100ms"#,
        "",
    );
    let flag = tmp.path().join("flag");
    let mut gd = Gd::drill(&[
        p.to_str().unwrap(),
        "--var",
        &format!("flag_file={}", flag.display()),
        "--var",
        &format!("tmp={}", tmp.path().display()),
    ]);
    gd.cmd.arg("--quiet");
    let out_dir = gd.out_dir();
    let (mut child, _d) = gd.spawn();
    wait_until(LIMIT, "the hold", || {
        journal_has(&out_dir, "\"event\":\"invariant_state\"")
    });
    let broke_at = chrono::Utc::now();
    std::fs::write(tmp.path().join("broken"), "").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(!flag.exists(), "restored");
    let dir = run_dir(&out_dir).unwrap();
    let r = report_json(&dir);
    let hold = &r["script"]["holds"][0];
    assert_eq!(hold["status"], "failed", "{hold}");
    assert!(hold["held_seconds"].as_f64().unwrap() < 30.0);
    let broken = &hold["broken"];
    assert_eq!(broken["name"], "nothing broke");
    let since = chrono::DateTime::parse_from_rfc3339(broken["since"].as_str().unwrap()).unwrap();
    let lag = (since.with_timezone(&chrono::Utc) - broke_at).num_milliseconds();
    assert!(
        (0..1000).contains(&lag),
        "broke {lag} ms after the file appeared"
    );
    assert!(broken["evidence"].is_object(), "{broken}");
    assert!(findings(&r).iter().any(|f| f["kind"] == "invariant_broken"));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("Invariant **`nothing broke` broke**"), "{md}");
}

#[test]
fn sigint_during_a_hold_restores_and_exits_4() {
    let tmp = tempfile::tempdir().unwrap();
    let p = flag_playbook(
        tmp.path(),
        r#"  - kind: observe
    hold: 60s
    invariants:
      - { name: flag up, kind: shell, read_only: true, argv: [test, -e, "${flag_file}"] }"#,
        r#"  - kind: post
    steps:
      - { name: flag down, kind: shell, read_only: true, argv: [test, "!", -e, "${flag_file}"] }"#,
    );
    let flag = tmp.path().join("flag");
    let mut gd = Gd::drill(&[
        p.to_str().unwrap(),
        "--var",
        &format!("flag_file={}", flag.display()),
    ]);
    let out_dir = gd.out_dir();
    gd.cmd.arg("--quiet");
    let (mut child, _d) = gd.spawn();
    wait_until(LIMIT, "the hold", || {
        journal_has(&out_dir, "\"event\":\"hold_started\"")
    });
    assert!(flag.exists());
    signal(&child, Signal::SIGINT);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(4));
    assert!(!flag.exists(), "flag removed after SIGINT during the hold");
    let r = report_json(&run_dir(&out_dir).unwrap());
    assert_eq!(r["outcome"], "interrupted");
    assert_eq!(r["script"]["holds"][0]["status"], "cancelled");
    let post = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "post")
        .unwrap()
        .clone();
    assert_eq!(post["status"], "skipped", "{post}");
}

#[test]
fn plan_shows_budgets_holds_invariants_and_the_post_phase() {
    let (out, _d) = Gd::new(&[
        "plan",
        "drills/regional-failover.yaml",
        "--env",
        "drills/environments/sim.yaml",
    ])
    .run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    for needle in [
        "Phase observation (observe, budget 1m (over budget is a warning)",
        "hold 5s after the steps and watches (observation window); invariants:",
        "- replication between surviving regions keeps up: broken when failing for 0s",
        "Phase post-drill verification (post, budget 1m",
        "(runs after restoration; checks only; a failure fails the drill, exit 1)",
    ] {
        assert!(plan.contains(needle), "plan lacks {needle:?}:\n{plan}");
    }
    let post = plan.find("Phase post-drill verification").unwrap();
    let undo_note = plan.find("After the restore phase").unwrap();
    assert!(undo_note < post, "{plan}");
}

// ----- the shipped drill against the simulator ---------------------------------

async fn set_faults(sim_url: &str, patch: Value) {
    let r = http()
        .post(format!("{sim_url}/sim/faults"))
        .json(&patch)
        .send()
        .await
        .expect("faults");
    assert!(r.status().is_success(), "{patch}: {}", r.status());
}

/// The routing control of the isolated region is On again (everything restored).
async fn assert_restored(sim_url: &str) {
    let t: Value = http()
        .get(format!("{sim_url}/sim/truth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(t["restored_at"].is_string(), "not restored: {t}");
}

fn assert_cause(run_dir: &Path, kind: &str, needle: &str) {
    let r = report_json(run_dir);
    assert_eq!(r["outcome"], "failed", "{}", r["outcome_line"]);
    assert_eq!(r["restoration"]["status"], "restored");
    let f = findings(&r);
    assert!(
        f.iter()
            .any(|f| f["kind"] == kind && f["message"].as_str().unwrap_or("").contains(needle)),
        "no {kind} finding naming {needle:?}: {f:#?}"
    );
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains(needle), "report.md does not name {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_drill_fails_when_the_region_keeps_failing_after_restore() {
    let sim = sim(21).await;
    set_faults(
        &sim.base_url(),
        json!({ "keeps_failing_after_restore": ["eu-west-1"] }),
    )
    .await;
    let out = tempfile::tempdir().unwrap();
    let o = run_gameday(
        drill_args(out.path(), &sim.base_url(), &[]),
        out.path().to_path_buf(),
    )
    .await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let dir = run_dir_of(&o);
    assert_cause(&dir, "post_phase_failed", "post-drill verification");
    assert_restored(&sim.base_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_drill_fails_on_a_replication_stall_during_the_observation_window() {
    let sim = sim(22).await;
    let out = tempfile::tempdir().unwrap();
    let args = drill_args(
        out.path(),
        &sim.base_url(),
        &[
            ("observe_hold", "60s".into()),
            // The stall stays: catch-up cannot finish, so do not wait long for it.
            ("catch_up_timeout", "5s".into()),
            ("post_settle_timeout", "5s".into()),
        ],
    );
    let lock_dir = out.path().to_path_buf();
    let mut child = gameday(&args, &lock_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn gameday");
    // The JSON log on stderr: inject the stall once the observation window began.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("\"event\":\"hold_started\"") {
                let _ = tx.send(());
            }
        }
    });
    tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(120)))
        .await
        .unwrap()
        .expect("the observation window started");
    set_faults(
        &sim.base_url(),
        json!({ "replication_stall": ["eu-central-1"] }),
    )
    .await;
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let dir = run_dir_of(&o);
    assert_cause(&dir, "invariant_broken", "replication");
    let j = journal(&dir);
    let broken = events(&j, "invariant_broken");
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert_eq!(broken[0]["phase"], "observation");
    // Clear the stall so restoration's catch-up can finish, then check it was restored.
    assert_restored(&sim.base_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_drill_fails_on_a_conflict_rate_spike_during_catch_up() {
    // A partition: the isolated region's jobs keep writing locally, and the
    // queued writes conflict when it reconnects. Over a keyspace of 1,000
    // keys the short cut of a test run gives a clear spike (45-60 conflicts
    // in the minute the rate is measured over, against an allowance of 3);
    // over the default 10,000 it conflicts only 2-5 times, which a clean run
    // can come close to.
    let sim = crate::support::sim::sim_with(
        Some(23),
        Some("routing: { isolation_mode: partition }\ndata: { keyspace: 1000 }\n"),
    )
    .await;
    let out = tempfile::tempdir().unwrap();
    let o = run_gameday(
        drill_args(out.path(), &sim.base_url(), &[]),
        out.path().to_path_buf(),
    )
    .await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let dir = run_dir_of(&o);
    let r = report_json(&dir);
    assert_eq!(r["outcome"], "failed");
    assert_eq!(r["restoration"]["status"], "restored");
    let b = &r["script"]["baselines"][0];
    assert_eq!(
        b["step"], "conflict rate during restoration within its baseline",
        "{b}"
    );
    assert_eq!(b["status"], "failed", "{b}");
    let (value, allowance) = (
        b["value"].as_f64().unwrap(),
        b["allowance"].as_f64().unwrap(),
    );
    assert!(value > allowance, "{b}");
    assert!(b["baseline"].is_number(), "{b}");
    // The conflict count is still reported.
    assert!(r["metrics"]["conflicts"]["value"].as_f64().unwrap() > 0.0);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("### Baselines"), "{md}");
    assert!(md.contains("**above baseline**"), "{md}");
    assert_restored(&sim.base_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_drill_fails_on_a_lag_budget_breach_of_one_data_class() {
    let sim = sim(24).await;
    let out = tempfile::tempdir().unwrap();
    let args = drill_args(
        out.path(),
        &sim.base_url(),
        &[("observe_hold", "30s".into())],
    );
    let mut child = gameday(&args, out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn gameday");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("\"event\":\"hold_started\"")
                || line.contains("\"event\":\"lag_budget_breached\"")
            {
                let _ = tx.send(());
            }
        }
    });
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let next = |what: &'static str| {
        let rx = rx.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                rx.lock().unwrap().recv_timeout(Duration::from_secs(120))
            })
            .await
            .unwrap()
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        }
    };
    next("the observation window").await;
    // Replication of the isolated region stalls: the surviving regions'
    // invariants hold, but its links fall behind, and credentials (5 s)
    // breach first. Once they did, replication resumes.
    set_faults(
        &sim.base_url(),
        json!({ "replication_stall": ["eu-west-1"] }),
    )
    .await;
    next("a lag budget breach").await;
    set_faults(&sim.base_url(), json!({ "replication_stall": [] })).await;
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let dir = run_dir_of(&o);
    assert_cause(&dir, "lag_budget_breached", "credentials");
    let r = report_json(&dir);
    let rows = r["script"]["lag_budgets"].as_array().unwrap();
    let cred = rows.iter().find(|l| l["class"] == "credentials").unwrap();
    assert!(cred["breached_at"].is_string(), "{cred}");
    assert!(cred["worst_lag_seconds"].as_f64().unwrap() > 5.0, "{cred}");
    let fin = rows.iter().find(|l| l["class"] == "financial").unwrap();
    assert!(
        fin["breached_at"].is_null(),
        "only one class breached: {fin}"
    );
    assert!(
        events(&journal(&dir), "invariant_broken").is_empty(),
        "the survivors' invariants held"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("### Replication lag budgets per data class"));
    assert_restored(&sim.base_url()).await;
}
