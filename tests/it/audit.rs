//! Findings, action items and the tamper-evident journal through the real
//! binary: `gameday note` from another process while a drill runs and
//! after it, and `gameday verify` on a real run and on each kind of tampering.

use crate::cli::Gd;
use crate::support::repo;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

fn gameday(args: &[&str], cwd: &Path) -> Output {
    Gd::at(cwd, args).output()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Start the hello drill with a long observation window; return the child
/// and its run directory once the journal says the region is isolated.
// The child is returned to the caller, which waits for it (`interrupt_and_wait`).
#[allow(clippy::zombie_processes)]
fn start_hello(dir: &Path) -> (Child, PathBuf) {
    let runs = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d.join("reports"))
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };
    let before = runs(dir);
    let playbook = repo().join("drills/examples/hello.yaml");
    let mut child = Gd::at(
        dir,
        &[
            "run",
            playbook.to_str().unwrap(),
            "--non-interactive",
            "--yes",
            "--quiet",
            "--out",
            "reports",
            "--var",
            &format!("flag_file={}", dir.join("flag").display()),
            "--var",
            "observe_for=10m",
        ],
    )
    .command()
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = runs(dir).into_iter().find(|d| {
            !before.contains(d)
                && std::fs::read_to_string(d.join("journal.jsonl"))
                    .is_ok_and(|j| j.contains(r#""event":"marker","name":"isolated""#))
        });
        if let Some(d) = found {
            return (child, d);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the drill never isolated");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn interrupt_and_wait(mut child: Child) -> i32 {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    child.wait().unwrap().code().unwrap_or(-1)
}

#[test]
fn notes_added_while_a_drill_runs_and_after_it_appear_in_the_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let (child, run_dir) = start_hello(tmp.path());
    let dir = run_dir.to_str().unwrap().to_string();
    // Several people at once, while the run writes its own events.
    let notes: Vec<Child> = (0..4)
        .map(|i| {
            Gd::at(
                tmp.path(),
                &[
                    "note",
                    &dir,
                    &format!("the flag took a while to show up (observer {i})"),
                    "--finding",
                    "--by",
                    &format!("observer{i}"),
                ],
            )
            .command()
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for n in notes {
        let o = n.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stderr(&o).contains("the running drill's reports will include it"));
    }
    assert_eq!(interrupt_and_wait(child), 4);
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    for i in 0..4 {
        assert!(md.contains(&format!("(observer {i})")), "{md}");
    }
    assert!(md.contains("**NO ACTION ITEM YET**"), "{md}");

    // After the run: an action item answering F1, and a note at a given time.
    let o = gameday(
        &[
            "note",
            &dir,
            "shorten the watch's poll interval",
            "--action",
            "--owner",
            "bob",
            "--for",
            "F1",
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("reports re-rendered"), "{}", stderr(&o));
    let o = gameday(
        &["note", &dir, "bridge call ended", "--at", "23:59"],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = gameday(&["note", &dir, "x", "--action", "--for", "F99"], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no finding `F99`"), "{}", stderr(&o));

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    let findings = json["findings"].as_array().unwrap();
    let f1 = findings.iter().find(|f| f["id"] == "F1").unwrap();
    assert_eq!(f1["actions"], serde_json::json!(["A1"]));
    assert_eq!(f1["needs_action"], false);
    assert_eq!(findings.iter().filter(|f| f["source"] == "note").count(), 4);
    assert_eq!(json["action_items"][0]["owner"], "bob");
    assert_eq!(json["notes"][0]["text"], "bridge call ended");
    assert!(
        json["notes"][0]["at"]
            .as_str()
            .unwrap()
            .ends_with("T23:59:00.000Z")
    );
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(
        md.contains("| A1 | shorten the watch's poll interval | bob | `F1` |"),
        "{md}"
    );

    // Every line, the run's and the notes', is in one chain.
    let o = gameday(&["verify", &dir], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Copy a run directory (journal and reports) to `name` under `into`.
fn copy_run(from: &Path, into: &Path, name: &str) -> PathBuf {
    let to = into.join(name);
    std::fs::create_dir_all(&to).unwrap();
    for f in ["journal.jsonl", "report.md", "report.json"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    to
}

fn edit_lines(dir: &Path, f: impl FnOnce(&mut Vec<String>)) {
    let p = dir.join("journal.jsonl");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    f(&mut lines);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
}

#[test]
fn verify_passes_on_a_real_run_and_names_the_first_bad_line_of_each_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let (child, run_dir) = start_hello(tmp.path());
    assert_eq!(interrupt_and_wait(child), 4);
    let o = gameday(&["verify", run_dir.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let final_hash = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(final_hash.len(), 64);
    for f in ["report.md", "report.json"] {
        let text = std::fs::read_to_string(run_dir.join(f)).unwrap();
        assert!(
            text.contains(&final_hash),
            "{f} does not state the final hash"
        );
    }

    let cases = tmp.path().join("cases");
    let verify = |dir: &Path| {
        let o = gameday(&["verify", dir.to_str().unwrap()], tmp.path());
        (o.status.code(), stderr(&o))
    };

    // A byte changed in line 3: line 4 no longer carries its hash.
    let d = copy_run(&run_dir, &cases, "byte");
    edit_lines(&d, |l| {
        l[2] = l[2].replacen("\"elapsed\":", "\"elapsed\": ", 1)
    });
    let (code, err) = verify(&d);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("journal.jsonl:4: error"), "{err}");

    // Line 3 removed.
    let d = copy_run(&run_dir, &cases, "removed");
    edit_lines(&d, |l| {
        l.remove(2);
    });
    let (code, err) = verify(&d);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("journal.jsonl:3: error"), "{err}");

    // Lines 3 and 4 swapped.
    let d = copy_run(&run_dir, &cases, "swapped");
    edit_lines(&d, |l| l.swap(2, 3));
    let (code, err) = verify(&d);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("journal.jsonl:3: error"), "{err}");

    // The last line removed: the chain is whole but the reports state another hash.
    let d = copy_run(&run_dir, &cases, "truncated");
    edit_lines(&d, |l| {
        l.pop();
    });
    let (code, err) = verify(&d);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("report.json: error"), "{err}");

    // A report edited.
    let d = copy_run(&run_dir, &cases, "edited");
    let md = std::fs::read_to_string(d.join("report.md")).unwrap();
    std::fs::write(d.join("report.md"), md.replacen("Interrupted", "Passed", 1)).unwrap();
    let (code, err) = verify(&d);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("report.md:"), "{err}");
    assert!(!err.contains("report.json"), "{err}");

    // A torn last line (a crash mid-write) is not tampering.
    let d = copy_run(&run_dir, &cases, "torn");
    let mut j = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("journal.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut j, b"{\"ts\":\"2026-11-22T00:00:00Z\",\"elap").unwrap();
    let o = gameday(&["report", d.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (code, err) = verify(&d);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("is torn"), "{err}");
    // --format chooses what is written.
    let d = copy_run(&run_dir, &cases, "formats");
    std::fs::remove_file(d.join("report.md")).unwrap();
    let o = gameday(
        &["report", d.to_str().unwrap(), "--format", "json,junit"],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!d.join("report.md").exists() && !d.join("report.html").exists());
    assert!(d.join("report.json").is_file() && d.join("junit.xml").is_file());
    let o = gameday(
        &["report", d.to_str().unwrap(), "--format", "pdf"],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown report format `pdf`"),
        "{}",
        stderr(&o)
    );
}

/// The demo's report.md: a one-page summary (at most 150 lines before the
/// appendix) with who, what and where; everything else in the appendix;
/// and `gameday verify` holds.
#[test]
fn the_demo_report_summary_fits_one_page_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reports");
    let o = Gd::new(&["demo", "--quiet", "--out", out.to_str().unwrap()])
        .lock_dir(&tmp.path().join("locks"))
        .output();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run_dir = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.join("journal.jsonl").is_file())
        .expect("a run directory");
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    let summary = md.split("\n## Appendix\n").next().unwrap();
    let lines = summary.lines().count();
    assert!(lines <= 150, "the summary is {lines} lines:\n{summary}");
    assert!(md.contains("\n## Appendix\n"), "{md}");
    for needle in [
        "**Hypothesis:** With one region isolated",
        "on call: sim-on-call",
        "## Findings",
        "## Action items",
        "is **TTD**, time to detect",
        "is **TTR**, time to route",
        "is **RTO**, recovery time",
    ] {
        assert!(
            summary.contains(needle),
            "`{needle}` not in the summary:\n{summary}"
        );
    }
    // Nothing is lost: the timeline and the evidence are in the appendix.
    let appendix = md.split("\n## Appendix\n").nth(1).unwrap();
    assert!(appendix.contains("### Timeline"));
    assert!(appendix.contains("<summary>evidence</summary>"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["metrics"]["ttd"]["role"], "ttd");
    assert!(json["run"]["host"].is_string());
    assert!(json["run"]["git_revision"].is_string());
    let o = gameday(&["verify", run_dir.to_str().unwrap()], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // The PNGs decode, at the size of their SVG.
    let charts: Vec<serde_json::Value> = json["charts"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&json["phase_chart"]))
        .cloned()
        .collect();
    assert!(charts.len() >= 2, "{charts:?}");
    for c in charts {
        let png = std::fs::read(run_dir.join(c["png"].as_str().unwrap())).unwrap();
        let svg = std::fs::read_to_string(run_dir.join(c["svg"].as_str().unwrap())).unwrap();
        let pixmap = resvg::tiny_skia::Pixmap::decode_png(&png).expect("a PNG");
        let size = |attr: &str| -> u32 {
            let from = svg.find(&format!(" {attr}=\"")).unwrap() + attr.len() + 3;
            let to = svg[from..].find('"').unwrap();
            svg[from..from + to]
                .trim_end_matches("px")
                .parse::<f64>()
                .unwrap() as u32
        };
        assert_eq!(
            (pixmap.width(), pixmap.height()),
            (size("width"), size("height")),
            "{c}"
        );
        // Not blank: the chart was drawn.
        let first = pixmap.pixels()[0];
        assert!(pixmap.pixels().iter().any(|p| *p != first), "{c} is blank");
    }
    // report.html is there too, self-contained (checked in detail by the unit tests).
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(
        !html.contains(" src=\"") && !html.contains("<link"),
        "report.html refers outside itself"
    );
}

/// `gameday history --chart` draws TTD, TTR and RPO per run, as SVG and PNG.
#[test]
fn history_draws_its_chart_as_svg_and_png() {
    let tmp = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let (child, _) = start_hello(tmp.path());
        assert_eq!(interrupt_and_wait(child), 4);
    }
    let o = gameday(&["history", "reports", "--chart", "trend.svg"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let svg = std::fs::read_to_string(tmp.path().join("trend.svg")).unwrap();
    roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert!(svg.contains("TTD, TTR and RPO per run (2 runs)"), "{svg}");
    let png = std::fs::read(tmp.path().join("trend.png")).unwrap();
    let pixmap = resvg::tiny_skia::Pixmap::decode_png(&png).unwrap();
    assert_eq!((pixmap.width(), pixmap.height()), (900, 420));
    let o = gameday(
        &["history", "reports", "--chart", "no/such/dir/x.svg"],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot write the chart"),
        "{}",
        stderr(&o)
    );
}
