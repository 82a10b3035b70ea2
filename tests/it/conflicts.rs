//! DOMAIN.md's conflict monitoring (`kind: conflicts`) and region-pinned
//! users (`kind: pinned-users`) against the real `gameday sim`: each rule
//! passes on the default deployment and fails when a fault (injected by the
//! drill itself through `POST /sim/faults`, undone at restoration) or a
//! hot-keyspace config breaks it.

use crate::prom::{events, journal, run_dir_of, run_gameday, sim};
use crate::support::{Proc, repo};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_gameday");

/// `gameday sim` with a config file (seed 31), ready.
async fn sim_with(config: &str) -> (Proc, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.yaml");
    std::fs::write(&path, config).unwrap();
    let path = path.to_str().unwrap().to_string();
    let mut p = Proc::spawn(
        "gameday sim",
        BIN,
        &[
            "sim",
            "--listen",
            "127.0.0.1:{port}",
            "--seed",
            "31",
            "--config",
            &path,
        ],
    );
    p.wait_ready("/sim/truth", Duration::from_secs(30)).await;
    (p, dir)
}

/// A drill that switches `fault` on in the simulator (undone at restoration
/// with `clear`), keeps it for `keep`, restores, lets replication settle for
/// 3 s, then runs `check` (a step's YAML, indented as a list item of steps).
fn drill(dir: &Path, fault: &str, clear: &str, keep: &str, check: &str) -> PathBuf {
    let text = format!(
        r#"name: conflicts-test
unattended: true
deadline: 5m
vars:
  sim_url: http://127.0.0.1:1
prometheus:
  url: ${{sim_url}}
  scrape_interval: 250ms
  evaluation_interval: 1s
phases:
  - kind: isolate
    steps:
      - name: fault on
        kind: http
        method: POST
        url: ${{sim_url}}/sim/faults
        headers: {{ content-type: application/json }}
        body: '{fault}'
        undo: {{ method: POST, url: "${{sim_url}}/sim/faults", headers: {{ content-type: application/json }}, body: '{clear}' }}
        mark: isolated
  - kind: observe
    steps:
      - name: keep it
        kind: wait
        duration: {keep}
  - kind: restore
    steps:
      - name: fault off
        kind: undo
        of: fault on
      - name: replication settles
        kind: wait
        duration: 3s
{check}
"#
    );
    let p = dir.join("drill.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Run `playbook` against `sim_url`: exit code and the report.
async fn run(playbook: &Path, sim_url: &str) -> (Option<i32>, Value, PathBuf, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "run",
        playbook.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--yes",
        "--non-interactive",
        "--log-format",
        "json",
        "--var",
        &format!("sim_url={sim_url}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let o = run_gameday(args, out.path().to_path_buf()).await;
    let dir = run_dir_of(&o);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json")).unwrap_or_else(|e| {
            panic!(
                "no report.json in {}: {e}\n{}",
                dir.display(),
                String::from_utf8_lossy(&o.stderr)
            )
        }),
    )
    .unwrap();
    (o.status.code(), report, dir, out)
}

/// The `step_finished` event of the step named `name`.
fn finished(dir: &Path, name: &str) -> Value {
    let j = journal(dir);
    events(&j, "step_finished")
        .into_iter()
        .find(|e| e["step"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no step_finished for {name}: {j:#?}"))
}

const CHECK: &str = r#"      - name: conflicts within limits
        kind: conflicts
        window: drill
        max_rate: RATE
        max_age: AGE
        never_conflict: [ledger_entry]
        record: conflicts"#;

fn check(rate: &str, age: &str) -> String {
    CHECK.replace("RATE", rate).replace("AGE", age)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_rules_hold_on_the_default_simulator() {
    let sim = sim(30).await;
    let tmp = tempfile::tempdir().unwrap();
    // A fault that changes nothing: the default deployment for 6 s.
    let p = drill(
        tmp.path(),
        r#"{"pinning_broken": false}"#,
        r#"{"pinning_broken": false}"#,
        "6s",
        &check("1%", "60s"),
    );
    let (code, report, dir, _o) = run(&p, &sim.base_url()).await;
    let step = finished(&dir, "conflicts within limits");
    assert_eq!(code, Some(0), "{step:#}");
    assert_eq!(report["outcome"], "passed");
    let summary = step["summary"].as_str().unwrap();
    assert!(summary.contains("within 1%"), "{summary}");
    assert!(
        summary.contains("no conflict older than 1m at resolution"),
        "{summary}"
    );
    assert!(summary.contains("none on ledger_entry"), "{summary}");
    assert!(
        step["evidence"]["writes"].as_f64().unwrap() > 100.0,
        "{step:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_on_a_never_conflict_type_fails_the_check() {
    let sim = sim(32).await;
    let tmp = tempfile::tempdir().unwrap();
    // Region pinning of the ledger breaks: every region writes the few hot
    // ledger keys, and concurrent versions meet on replication.
    let p = drill(
        tmp.path(),
        r#"{"pinning_broken": true}"#,
        r#"{"pinning_broken": false}"#,
        "8s",
        &check("100%", "1h"),
    );
    let (code, report, dir, _o) = run(&p, &sim.base_url()).await;
    let step = finished(&dir, "conflicts within limits");
    assert_eq!(code, Some(1), "{step:#}");
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["restoration"]["status"], "restored");
    let summary = step["summary"].as_str().unwrap();
    assert!(
        summary.contains("conflicts on never-conflict types:")
            && summary.contains("on ledger_entry"),
        "{summary}"
    );
    assert!(
        step["evidence"]["never_conflict"]["ledger_entry"]
            .as_f64()
            .unwrap()
            >= 1.0,
        "{step:#}"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("never-conflict types"),
        "report.md names the cause"
    );
}

/// A small keyspace: concurrent writes to one key are common (several % of writes).
const HOT: &str = "data: { keyspace: 100 }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_above_the_rate_fail_the_check_and_the_report_gives_the_rate() {
    let (sim, _cfg) = sim_with(HOT).await;
    let tmp = tempfile::tempdir().unwrap();
    let p = drill(
        tmp.path(),
        r#"{"pinning_broken": false}"#,
        r#"{"pinning_broken": false}"#,
        "6s",
        &check("1%", "1h"),
    );
    let (code, _report, dir, _o) = run(&p, &sim.base_url()).await;
    let step = finished(&dir, "conflicts within limits");
    assert_eq!(code, Some(1), "{step:#}");
    let summary = step["summary"].as_str().unwrap();
    assert!(summary.contains("above 1%"), "{summary}");
    let rate = step["evidence"]["rate"].as_f64().unwrap();
    assert!(rate > 0.01, "{step:#}");
    let conflicts = step["evidence"]["conflicts"].as_f64().unwrap();
    let writes = step["evidence"]["writes"].as_f64().unwrap();
    assert!((rate - conflicts / writes).abs() < 1e-9, "{step:#}");
    let j = journal(&dir);
    assert!(
        events(&j, "recorded")
            .iter()
            .any(|e| e["name"] == "conflicts_writes" && e["value"].as_f64() == Some(writes)),
        "the counts are recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_older_than_the_limit_at_resolution_fail_the_check() {
    let (sim, _cfg) = sim_with(HOT).await;
    let tmp = tempfile::tempdir().unwrap();
    // Without a stall, conflicts resolve within the replication latency.
    let calm = drill(
        tmp.path(),
        r#"{"pinning_broken": false}"#,
        r#"{"pinning_broken": false}"#,
        "2s",
        &check("100%", "2s"),
    );
    let (code, _r, dir, _o) = run(&calm, &sim.base_url()).await;
    let step = finished(&dir, "conflicts within limits");
    assert_eq!(code, Some(0), "{step:#}");
    let summary = step["summary"].as_str().unwrap();
    assert!(
        summary.contains("no conflict older than 2s at resolution (histogram bound 1s"),
        "{summary}"
    );
    // Replication of one region stalls for 8 s: its writes meet the others'
    // only when it resumes, seconds after they were made.
    let stalled = drill(
        tmp.path(),
        r#"{"replication_stall": ["eu-west-1"]}"#,
        r#"{"replication_stall": []}"#,
        "8s",
        &check("100%", "2s"),
    );
    let (code, _r, dir, _o) = run(&stalled, &sim.base_url()).await;
    let step = finished(&dir, "conflicts within limits");
    assert_eq!(code, Some(1), "{step:#}");
    let summary = step["summary"].as_str().unwrap();
    assert!(
        summary.contains("conflicts older than 2s at resolution"),
        "{summary}"
    );
    assert!(step["evidence"]["older_than_max_age"].as_f64().unwrap() >= 1.0);
}

#[test]
fn validate_explains_a_conflicts_step_without_rules_or_prometheus() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("c.yaml");
    std::fs::write(
        &p,
        "name: x\nphases:\n  - kind: validate\n    steps:\n      - name: c\n        kind: conflicts\n        max_rate: lots\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["validate", p.to_str().unwrap()])
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`lots` is not a share"), "{err}");
    assert!(err.contains("c.yaml:7:"), "{err}");
}

// ----- region-pinned users (the shipped drill's validation) ----------------------

fn pinned_step(dir: &Path) -> Value {
    finished(dir, "region-pinned users still served")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_pinned_users_are_served_in_their_jurisdiction_on_the_default_simulator() {
    let sim = sim(33).await;
    let out = tempfile::tempdir().unwrap();
    let o = run_gameday(
        crate::prom::drill_args(out.path(), &sim.base_url(), &[]),
        out.path().to_path_buf(),
    )
    .await;
    let dir = run_dir_of(&o);
    let step = pinned_step(&dir);
    assert_eq!(o.status.code(), Some(0), "{step:#}");
    let s = step["summary"].as_str().unwrap();
    assert!(s.contains("0.0% failed or stale reads overall"), "{s}");
    assert!(s.contains("EU: 20/20 served in an allowed region"), "{s}");
    assert!(s.contains("US: 20/20 served in an allowed region"), "{s}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("failed or stale reads"),
        "report.md gives the share"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_pinned_users_fail_when_eu_failover_traffic_lands_in_the_us() {
    let sim = sim(34).await;
    let r = crate::support::http()
        .post(format!("{}/sim/faults", sim.base_url()))
        .json(&serde_json::json!({ "residency_bug": 1.0 }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let out = tempfile::tempdir().unwrap();
    let o = run_gameday(
        crate::prom::drill_args(out.path(), &sim.base_url(), &[]),
        out.path().to_path_buf(),
    )
    .await;
    let dir = run_dir_of(&o);
    let step = pinned_step(&dir);
    assert_eq!(o.status.code(), Some(1), "{step:#}");
    assert_eq!(step["status"], "failed", "{step:#}");
    let s = step["summary"].as_str().unwrap();
    assert!(s.contains("served outside eu-west-1/eu-central-1"), "{s}");
    let eu = &step["evidence"]["by_jurisdiction"]["EU"];
    assert!(eu["served_outside"].as_u64().unwrap() >= 1, "{eu}");
    // Written in the US, not yet in the home region right after: stale reads.
    assert!(eu["failed_or_stale_share"].as_f64().unwrap() > 0.0, "{eu}");
    assert_eq!(
        step["evidence"]["by_jurisdiction"]["US"]["served_outside"], 0,
        "US users are served where they may be"
    );
}
