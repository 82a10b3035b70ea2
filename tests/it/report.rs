//! Reports through the real binary: a drill run with `--junit`, `gameday
//! report` re-rendering the same files, `gameday history` over the runs, and
//! the errors a user sees for a bad template or directory.

use crate::cli::Gd;
use crate::support::repo;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Each test its own lock directory (`cwd/locks`): tests run in parallel.
fn gameday(args: &[&str], cwd: &Path) -> Output {
    Gd::at(cwd, args).output()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run the hello drill (its flag file in `dir`), return the run directory.
fn run_hello(dir: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let playbook = repo().join("drills/examples/hello.yaml");
    let flag = format!("flag_file={}", dir.join("flag").display());
    let mut args = vec![
        "run",
        playbook.to_str().expect("utf-8 path"),
        "--non-interactive",
        "--yes",
        "--quiet",
        "--out",
        "reports",
        "--var",
        &flag,
        "--var",
        "observe_for=0s",
    ];
    args.extend_from_slice(extra);
    let out = gameday(&args, dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let run_dir = stdout.lines().last().unwrap_or("").trim().to_string();
    (out, dir.join(run_dir))
}

#[test]
fn a_run_writes_every_report_and_gameday_report_rebuilds_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, run_dir) = run_hello(tmp.path(), &["--junit", "junit.xml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.starts_with("# Drill report: hello in default\n"), "{md}");
    assert!(md.contains("**Passed: every check held and every target was met"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["outcome"], "passed");
    assert_eq!(json["metrics"]["time_to_see_flag"]["met"], true);
    assert!(json["markers"]["isolated"].is_string());
    let junit = std::fs::read_to_string(tmp.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testcase classname=\"hello.metrics\" name=\"time_to_see_flag &lt;= 5s\"")
    );
    assert!(junit.contains("failures=\"0\""));

    // `gameday report` gives the same files, every time.
    let before: Vec<Vec<u8>> = ["report.md", "report.json"]
        .iter()
        .map(|f| std::fs::read(run_dir.join(f)).unwrap())
        .collect();
    let rel = run_dir
        .strip_prefix(tmp.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for _ in 0..2 {
        let o = gameday(&["report", &rel, "--junit", "junit2.xml"], tmp.path());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), rel);
        let after: Vec<Vec<u8>> = ["report.md", "report.json"]
            .iter()
            .map(|f| std::fs::read(run_dir.join(f)).unwrap())
            .collect();
        assert!(before == after, "gameday report changed the reports");
    }
    assert_eq!(
        std::fs::read(tmp.path().join("junit.xml")).unwrap(),
        std::fs::read(tmp.path().join("junit2.xml")).unwrap()
    );
}

#[test]
fn history_lists_runs_and_compares_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = run_hello(tmp.path(), &[]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let (b, _) = run_hello(tmp.path(), &[]);
    assert_eq!(b.status.code(), Some(0), "{}", stderr(&b));
    let o = gameday(&["history", "--format", "csv"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("started_at,run_id,drill,environment,outcome,ttd,ttd_change"));
    assert!(lines[1].contains(",hello,default,passed,"), "{csv}");
    let o = gameday(&["history", "reports", "--drill", "hello"], tmp.path());
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(table.matches("┆ hello ┆").count(), 2, "{table}");
    let o = gameday(
        &["history", "reports", "--drill", "other", "--format", "json"],
        tmp.path(),
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    assert!(stderr(&o).contains("no run of drill `other`"));
}

#[test]
fn errors_name_the_template_line_or_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, run_dir) = run_hello(tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(
        tmp.path().join("team.md.j2"),
        "# {{ run.drill }}\n{{ nope.x }}\n",
    )
    .unwrap();
    let o = gameday(
        &[
            "report",
            run_dir.to_str().unwrap(),
            "--template",
            "team.md.j2",
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("template team.md.j2:2: undefined value"), "{e}");
    assert!(e.contains("hint: fix the template"), "{e}");

    let o = gameday(&["report", "no-such-run"], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read no-such-run/journal.jsonl"),
        "{}",
        stderr(&o)
    );
    let o = gameday(&["history", "no-such-dir"], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read no-such-dir"),
        "{}",
        stderr(&o)
    );
}

/// A run killed with SIGKILL while isolated: `gameday report` says
/// incomplete and puts what is still applied at the top; after `gameday
/// restore`, the re-rendered report says everything was undone.
#[test]
fn a_run_killed_mid_isolation_is_reported_incomplete_with_what_is_still_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let playbook = repo().join("drills/examples/hello.yaml");
    let flag = tmp.path().join("flag");
    let mut child = Gd::at(
        tmp.path(),
        &[
            "run",
            playbook.to_str().unwrap(),
            "--non-interactive",
            "--yes",
            "--quiet",
            // Restored by hand below; the guard has its own tests.
            "--no-guard",
            "--out",
            "reports",
            "--var",
            &format!("flag_file={}", flag.display()),
            "--var",
            "observe_for=10m",
        ],
    )
    .command()
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // Wait until the journal says the region is isolated (bounded polling).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let run_dir = loop {
        let found = std::fs::read_dir(tmp.path().join("reports"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path())
            .filter(|d| {
                std::fs::read_to_string(d.join("journal.jsonl"))
                    .is_ok_and(|j| j.contains(r#""event":"marker","name":"isolated""#))
            });
        if let Some(d) = found {
            break d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the drill never isolated"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    assert!(
        flag.exists(),
        "the isolation is still applied after the kill"
    );

    let dir = run_dir.to_str().unwrap();
    let o = gameday(&["report", dir, "--junit", "junit.xml"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("(incomplete)"), "{}", stderr(&o));
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    let top: String = md.lines().take(6).collect::<Vec<_>>().join("\n");
    assert!(top.contains("**Incomplete:"), "{top}");
    assert!(
        top.contains("> **STILL APPLIED: 1 change is still in effect"),
        "{top}"
    );
    assert!(top.contains("**`raise flag`**"), "{top}");
    let junit = std::fs::read_to_string(tmp.path().join("junit.xml")).unwrap();
    assert!(junit.contains("still applied: raise flag"), "{junit}");

    let o = gameday(&["restore", dir, "--quiet"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!flag.exists());
    let o = gameday(&["report", dir], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["outcome"], "incomplete");
    assert_eq!(json["restoration"]["status"], "restored");
    assert_eq!(json["restoration"]["still_applied"], serde_json::json!([]));
}
