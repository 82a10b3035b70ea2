//! Report tests on the fixed journals of `tests/fixtures/journals/`,
//! recorded from real runs of the shipped drill (`scripts/record-fixtures.sh`:
//! the demo and its scenarios, SIGINT, a real SIGKILL): snapshots of
//! report.md, report.json and JUnit; every report.json validates against the
//! schema; the SVG charts hold their series and markers; rendering is
//! idempotent; history compares runs.

use super::*;
use crate::journal::event::Outcome;
use std::path::PathBuf;

const FIXTURES: [&str; 5] = ["passed", "failed", "aborted", "interrupted", "crashed"];

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/journals")
        .join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Copy fixtures into one temporary parent (so `failed` finds `passed` as
/// its previous run) and render `name`.
fn render_fixture(name: &str, siblings: &[&str]) -> (tempfile::TempDir, Rendered) {
    let tmp = tempfile::tempdir().unwrap();
    for s in siblings.iter().chain(std::iter::once(&name)) {
        copy_dir(&fixture_dir(s), &tmp.path().join(s));
    }
    let r = render_run(&tmp.path().join(name), &format!("reports/{name}"), None).unwrap();
    (tmp, r)
}

fn siblings_of(name: &str) -> Vec<&'static str> {
    if name == "failed" {
        vec!["passed"]
    } else {
        vec![]
    }
}

#[test]
fn snapshots_of_every_format() {
    for name in FIXTURES {
        let (_tmp, r) = render_fixture(name, &siblings_of(name));
        insta::assert_snapshot!(format!("{name}.md"), r.markdown);
        insta::assert_snapshot!(format!("{name}.json"), r.json);
        insta::assert_snapshot!(format!("{name}.junit.xml"), r.junit);
    }
}

#[test]
fn outcomes_are_read_from_the_journal() {
    let expect = [
        ("passed", Outcome::Passed),
        ("failed", Outcome::Failed),
        ("aborted", Outcome::Aborted),
        ("interrupted", Outcome::Interrupted),
        ("crashed", Outcome::Incomplete),
    ];
    for (name, outcome) in expect {
        let (_tmp, r) = render_fixture(name, &[]);
        assert_eq!(r.report.outcome, outcome, "{name}");
    }
}

#[test]
fn every_report_validates_against_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(json::SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for name in FIXTURES {
        let (_tmp, r) = render_fixture(name, &siblings_of(name));
        let instance: serde_json::Value = serde_json::from_str(&r.json).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
    // The schema is not vacuous: a report with a wrong outcome fails it.
    let (_tmp, r) = render_fixture("passed", &[]);
    let mut bad: serde_json::Value = serde_json::from_str(&r.json).unwrap();
    bad["outcome"] = "fine".into();
    assert!(!validator.is_valid(&bad));
    bad["outcome"] = "passed".into();
    bad["metrics"]["ttr"]["met"] = "yes".into();
    assert!(!validator.is_valid(&bad));
}

#[test]
fn a_crashed_run_is_incomplete_with_what_is_still_applied_at_the_top() {
    // The recorded crash was a SIGKILL between two events; a crash in the
    // middle of a write also leaves half a line, which must read as torn.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("crashed");
    copy_dir(&fixture_dir("crashed"), &dir);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("journal.jsonl"))
        .unwrap();
    std::io::Write::write_all(
        &mut f,
        br#"{"ts":"2026-11-30T06:06:45.1Z","elapsed":1.7,"prev":"#,
    )
    .unwrap();
    let r = render_run(&dir, "reports/crashed", None).unwrap();
    assert!(r.report.journal.torn_tail);
    let still: Vec<&str> = r
        .report
        .restoration
        .still_applied
        .iter()
        .map(|c| c.step.as_str())
        .collect();
    assert_eq!(still, ["canary", "isolate region"]);
    let top: Vec<&str> = r.markdown.lines().take(8).collect();
    assert!(
        top.iter()
            .any(|l| l.starts_with("> **STILL APPLIED: 2 changes are still in effect")),
        "{top:#?}"
    );
    assert!(top.iter().any(|l| l.contains("**`isolate region`**")));
    assert!(r.report.outcome_line.starts_with("Incomplete:"));
    assert!(
        r.junit
            .contains("<error message=\"the run stopped without finishing")
    );
    // Metrics were never evaluated: what the markers allow is computed, the
    // rest is "not measured", without a verdict and without advice.
    assert_eq!(r.report.metrics["ttr"].value, None);
    assert_eq!(r.report.metrics["ttr"].met, None);
    assert_eq!(r.report.metrics["ttr"].verdict, model::Verdict::NotMeasured);
    assert!(!r.report.next_steps.iter().any(|a| a.about == "ttr"));
}

#[test]
fn gameday_restore_afterwards_clears_what_is_still_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("crashed");
    copy_dir(&fixture_dir("crashed"), &dir);
    // What `gameday restore` appends after undoing every change the crash
    // left (the ids of the recorded run; a torn final line is completed
    // first, as the reader skips only a final torn line).
    let before = load(&dir).unwrap();
    assert!(!before.restoration.still_applied.is_empty());
    let mut text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    text.truncate(text.rfind('\n').unwrap() + 1);
    let at = |i: usize| format!("2099-01-01T00:00:{i:02}.000Z");
    let mut lines = vec![format!(
        r#"{{"ts":"{}","elapsed":3600.0,"event":"restore_started","operator":"alice@bastion","pid":7}}"#,
        at(0)
    )];
    for (i, c) in before.restoration.still_applied.iter().rev().enumerate() {
        lines.push(format!(
            r#"{{"ts":"{}","elapsed":3601.0,"event":"undo_started","id":"{}","reason":"gameday restore"}}"#,
            at(2 * i + 1),
            c.id
        ));
        lines.push(format!(
            r#"{{"ts":"{}","elapsed":3602.0,"event":"undone","id":"{}"}}"#,
            at(2 * i + 2),
            c.id
        ));
    }
    lines.push(format!(
        r#"{{"ts":"{}","elapsed":3605.0,"event":"restore_finished","still_applied":[]}}"#,
        at(59)
    ));
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(dir.join("journal.jsonl"), text).unwrap();
    let r = write_reports(&dir, None, None).unwrap();
    assert_eq!(r.outcome, Outcome::Incomplete);
    assert!(r.restoration.still_applied.is_empty());
    assert_eq!(r.restoration.status, model::RestorationStatus::Restored);
    assert!(
        r.outcome_line
            .contains("`gameday restore` has since undone everything"),
        "{}",
        r.outcome_line
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(!md.contains("STILL APPLIED"));
}

#[test]
fn write_reports_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("failed");
    copy_dir(&fixture_dir("failed"), &dir);
    let junit = tmp.path().join("junit.xml");
    let read_all = || {
        let mut files = vec![];
        for f in ["report.md", "report.json", "charts/traffic.svg"] {
            files.push(std::fs::read(dir.join(f)).unwrap());
        }
        files.push(std::fs::read(&junit).unwrap());
        files
    };
    write_reports(&dir, None, Some(&junit)).unwrap();
    let first = read_all();
    write_reports(&dir, None, Some(&junit)).unwrap();
    assert_eq!(first, read_all());
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_bad_team_template_names_its_file_and_line_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("passed");
    copy_dir(&fixture_dir("passed"), &dir);
    let t = tmp.path().join("team.md.j2");
    std::fs::write(&t, "# {{ run.drill }}\n\n{% for m in metrics %}\n").unwrap();
    let e = write_reports(&dir, Some(&t), None).unwrap_err().to_string();
    assert!(e.contains(&format!("{}:3", t.display())), "{e}");
    assert!(!dir.join("report.md").exists());
    std::fs::write(
        &t,
        "# {{ run.drill }}: {{ outcome }}\n{% for n, m in metrics | items %}- {{ n }} {{ m.display }}\n{% endfor %}",
    )
    .unwrap();
    let r = write_reports(&dir, Some(&t), None).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.starts_with(&format!("# {}: passed\n", r.run.drill)),
        "{md}"
    );
    assert!(
        md.contains(&format!("- ttr {}\n", r.metrics["ttr"].display)),
        "{md}"
    );
}

/// The SVG charts: every series is a polyline in its colour with its
/// legend, and every marker in range is a dashed vertical line with its name.
#[test]
fn charts_hold_their_series_and_markers() {
    let (tmp, r) = render_fixture("passed", &[]);
    let names: Vec<&str> = r.report.charts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["traffic", "error_ratio", "replication_lag", "conflicts"]
    );
    let svg = std::fs::read_to_string(tmp.path().join("passed/charts/traffic.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<(String, f64)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            (
                n.text().unwrap_or("").trim().to_string(),
                n.attribute("x")
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(-1.0),
            )
        })
        .collect();
    let polylines: Vec<(String, Vec<(f64, f64)>)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .map(|n| {
            let pts = n
                .attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect();
            (n.attribute("stroke").unwrap_or("").to_uppercase(), pts)
        })
        .collect();
    for (i, region) in ["eu-west-1", "eu-central-1", "us-east-1"]
        .iter()
        .enumerate()
    {
        assert!(texts.iter().any(|(t, _)| t == region), "legend {region}");
        let colour = ["#1F77B4", "#FF7F0E", "#2CA02C"][i];
        assert!(
            polylines
                .iter()
                .any(|(stroke, pts)| stroke == colour && pts.len() > 20),
            "series {region} ({colour}) is not drawn"
        );
    }
    for marker in [
        "isolated",
        "alert_firing",
        "traffic_rerouted",
        "restored",
        "lag_ok",
    ] {
        let x = texts
            .iter()
            .find(|(t, _)| t == marker)
            .map(|(_, x)| *x)
            .unwrap_or_else(|| panic!("no label for marker {marker}"));
        let segments = polylines
            .iter()
            .filter(|(stroke, pts)| {
                stroke == "#5A5A5A"
                    && pts.len() == 2
                    && pts.iter().all(|(px, _)| (px - x).abs() <= 2.0)
                    && pts[0].1 != pts[1].1
            })
            .count();
        assert!(segments >= 5, "marker {marker}: {segments} dashes at x={x}");
    }
    assert!(
        r.markdown
            .contains("![Requests per second by region](charts/traffic.png)")
    );
}

#[test]
fn the_gantt_chart_lists_every_phase_that_ran() {
    // Stopped by SIGINT during the observation window.
    let (_tmp, r) = render_fixture("interrupted", &[]);
    let g = charts::mermaid_gantt(&r.report);
    assert!(g.starts_with("gantt\n"));
    assert!(g.contains("observation (cancelled) :crit,"), "{g}");
    assert!(
        !g.contains("validation"),
        "a phase that never ran has no bar: {g}"
    );
    assert!(g.contains("isolated :milestone,"), "{g}");
}

#[test]
fn a_series_file_that_does_not_parse_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("passed");
    copy_dir(&fixture_dir("passed"), &dir);
    std::fs::write(dir.join("series/bogus.json"), "{\"result\": 3}").unwrap();
    let r = write_reports(&dir, None, None).unwrap();
    assert_eq!(r.charts.len(), 4);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.message.contains("bogus.json is not a series file")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn raw_prometheus_responses_are_series_files_too() {
    let c = charts::parse_series(
        "lag",
        r#"{"status":"success","query":"q","step":"15s","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"x","region":"eu"},"values":[[2,"1"],[1,"NaN"],[3,"+Inf"],[0,"0.5"]]}]}}"#,
    )
    .unwrap();
    assert_eq!(
        c.lines,
        vec![("eu".to_string(), vec![(0.0, 0.5), (2.0, 1.0)])]
    );
}

/// The run id a fixture's journal starts with.
fn run_id_of(name: &str) -> String {
    let text = std::fs::read_to_string(fixture_dir(name).join("journal.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    first["run_id"].as_str().unwrap().to_string()
}

#[test]
fn history_compares_each_run_with_the_previous_one_of_its_drill() {
    let tmp = tempfile::tempdir().unwrap();
    for f in FIXTURES {
        copy_dir(&fixture_dir(f), &tmp.path().join(f));
    }
    std::fs::create_dir(tmp.path().join("not-a-run")).unwrap();
    let (runs, warnings) = history::scan(tmp.path()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let rows = history::rows(&runs, None);
    let ids: Vec<&str> = rows.iter().map(|r| r.run_id.as_str()).collect();
    // Oldest first; every fixture is a run of the shipped drill in `sim`.
    let mut expected: Vec<String> = FIXTURES.iter().map(|f| run_id_of(f)).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        rows[0].previous_run_id, None,
        "the first run has no previous one"
    );
    for pair in rows.windows(2) {
        assert_eq!(
            pair[1].previous_run_id.as_deref(),
            Some(pair[0].run_id.as_str())
        );
    }
    // slow-reroute (`failed`) against the clean run before it: TTR got worse.
    let failed = rows
        .iter()
        .find(|r| r.run_id == run_id_of("failed"))
        .unwrap();
    assert_eq!(
        failed.previous_run_id.as_deref(),
        Some(run_id_of("passed").as_str())
    );
    let ttr = failed.metrics.iter().find(|m| m.name == "ttr").unwrap();
    assert_eq!(ttr.verdict.as_str(), "worse", "{ttr:?}");
    assert!(
        ttr.change.starts_with('+') && ttr.change.ends_with("(worse)"),
        "{ttr:?}"
    );
    insta::assert_snapshot!(
        "history.md",
        history::render(&rows, history::Format::Markdown)
    );
    insta::assert_snapshot!("history.csv", history::render(&rows, history::Format::Csv));
    let json: serde_json::Value =
        serde_json::from_str(&history::render(&rows, history::Format::Json)).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(FIXTURES.len()));
    let only: Vec<_> = history::rows(&runs, Some("no-such-drill"));
    assert!(only.is_empty());
}

#[test]
fn conflict_rates_above_a_tenth_of_a_percent_of_writes_are_flagged() {
    // clock-skew: eu-west-1 kept writing while cut off, with a clock 2 s behind.
    let (_tmp, r) = render_fixture("conflicts", &[]);
    let a = r
        .report
        .next_steps
        .iter()
        .find(|a| a.about == "conflicts")
        .unwrap_or_else(|| panic!("{:#?}", r.report.next_steps));
    assert!(a.finding.contains("of writes"), "{}", a.finding);
    assert!(a.guidance.contains("0.1 % of writes"), "{}", a.guidance);
    // slow-reroute: TTR missed its target, under 5 minutes.
    let (_tmp, r) = render_fixture("failed", &[]);
    let ttr = r
        .report
        .next_steps
        .iter()
        .find(|a| a.about == "ttr")
        .unwrap();
    assert!(
        ttr.finding.starts_with("rerouting took 1 min"),
        "{}",
        ttr.finding
    );
    assert!(
        !ttr.finding.contains("more than 5 minutes"),
        "{}",
        ttr.finding
    );
    // An abort before the isolation: TTD and TTR were never measured, so
    // no advice claims the alert never fired.
    let (_tmp, r) = render_fixture("aborted", &[]);
    assert_eq!(r.report.metrics["ttd"].verdict, model::Verdict::NotMeasured);
    assert!(
        !r.report
            .next_steps
            .iter()
            .any(|a| a.about == "ttd" || a.about == "ttr"),
        "{:#?}",
        r.report.next_steps
    );
}

/// report.html is well-formed, holds the phase Gantt and the charts inline,
/// and references nothing outside itself.
#[test]
fn the_html_report_is_self_contained() {
    for name in FIXTURES {
        let (tmp, mut r) = render_fixture(name, &siblings_of(name));
        let dir = tmp.path().join(name);
        let charts = html::chart_svgs(&dir, &r.report);
        let page = html::render(&mut r.report, "RUN_DIR", &charts);
        let opts = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(&page, opts)
            .unwrap_or_else(|e| panic!("{name}: report.html is not well-formed: {e}"));
        for n in doc.descendants().filter(|n| n.is_element()) {
            let tag = n.tag_name().name();
            assert!(
                !matches!(
                    tag,
                    "script" | "link" | "img" | "iframe" | "object" | "embed" | "image" | "use"
                ),
                "{name}: <{tag}> in report.html"
            );
            for a in n.attributes() {
                if matches!(a.name(), "href" | "src" | "srcset" | "action" | "data") {
                    assert!(
                        a.value().starts_with('#'),
                        "{name}: {}={}",
                        a.name(),
                        a.value()
                    );
                }
                assert!(!a.value().contains("url("), "{name}: {}", a.value());
            }
        }
        assert!(!page.contains("@import"), "{name}");
        let svgs = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "svg")
            .count();
        assert_eq!(
            svgs,
            1 + r.report.charts.len(),
            "{name}: the Gantt and every chart"
        );
        assert!(page.contains(&format!(
            "<p class=\"outcome {}\">",
            r.report.outcome.as_str()
        )));
    }
}

/// Advice follows roles: a metric named like lag gets no replication advice
/// unless its role says so.
#[test]
fn advice_follows_the_metric_role_not_its_name() {
    let (_tmp, r) = render_fixture("passed", &[]);
    let mut report = r.report;
    let mut m = report.metrics["ttr"].clone();
    m.role = None;
    m.met = Some(false);
    m.target = Some("<= 5s".into());
    report.metrics.insert("time_to_see_flag".into(), m.clone());
    let advice = advice::next_steps(&report);
    let flag = advice
        .iter()
        .find(|a| a.about == "time_to_see_flag")
        .unwrap();
    assert!(!flag.guidance.contains("Lag budgets"), "{}", flag.guidance);
    assert!(flag.guidance.contains("A target the team set was missed"));
    m.role = Some(crate::playbook::MetricRole::CatchUp);
    report.metrics.insert("time_to_see_flag".into(), m);
    let advice = advice::next_steps(&report);
    let flag = advice
        .iter()
        .find(|a| a.about == "time_to_see_flag")
        .unwrap();
    assert!(flag.guidance.contains("Lag budgets"), "{}", flag.guidance);
    // The same advice is never listed twice.
    let mut seen = std::collections::HashSet::new();
    assert!(advice.iter().all(|a| seen.insert((&a.about, &a.finding))));
}

/// The previous-run comparison pairs metrics by role, so a renamed TTR is
/// still compared with the last TTR.
#[test]
fn a_renamed_metric_is_compared_by_its_role() {
    let (_a, passed) = render_fixture("passed", &[]);
    let (_b, failed) = render_fixture("failed", &[]);
    let mut now = failed.report;
    let ttr = now.metrics.remove("ttr").unwrap();
    assert_eq!(ttr.role, Some(crate::playbook::MetricRole::Ttr));
    now.metrics.insert("time_to_route".into(), ttr);
    let changes = history::compare(&now, Some(&passed.report));
    let c = changes.iter().find(|c| c.name == "time_to_route").unwrap();
    assert_eq!(c.verdict, "worse", "{c:?}");
    assert!(c.before.is_some());
    assert!(!changes.iter().any(|c| c.name == "ttr"), "{changes:?}");
}

/// Findings: automatic ones from a missed target and failed checks, people's
/// from `gameday note` (the `failed` fixture got a finding and an action item
/// answering `M-ttr` that way); an action item clears its finding's flag.
#[test]
fn findings_and_action_items_from_the_journal_and_from_notes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("failed");
    copy_dir(&fixture_dir("failed"), &dir);
    let r = write_reports(&dir, None, None).unwrap();
    let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
    assert!(ids.contains(&"M-ttr"), "{ids:?}");
    assert!(ids.contains(&"F1"), "{ids:?}");
    let ttr = r.findings.iter().find(|f| f.id == "M-ttr").unwrap();
    assert_eq!(ttr.actions, ["A1"]);
    assert!(!ttr.needs_action);
    let f1 = r.findings.iter().find(|f| f.id == "F1").unwrap();
    assert!(f1.actions.is_empty() && f1.needs_action, "{f1:?}");
    assert_eq!(r.action_items[0].owner.as_deref(), Some("bob"));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let summary = md.split("\n## Appendix\n").next().unwrap();
    assert!(
        summary.contains("| `F1` | Routing back to eu-west-1 was as slow as failing over"),
        "{summary}"
    );
    assert!(
        summary.contains("| `M-ttr` | `ttr` missed its target"),
        "{summary}"
    );
    assert!(summary.contains("**NO ACTION ITEM YET**"));
    assert!(
        summary.contains("| A1 | Alert when a routing change has not propagated within 30 s, and add it to the runbook | bob | `M-ttr` |"),
        "{summary}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("Routing back to eu-west-1"));
}

/// A journal whose `run_started` playbook does not read back typed (here a
/// step kind no gameday has) is refused, naming the file and line.
#[test]
fn a_journal_whose_playbook_does_not_load_is_an_error_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("passed");
    copy_dir(&fixture_dir("passed"), &dir);
    let path = dir.join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    let spec_kind = r#""spec":{"kind":""#;
    let at = first.find(spec_kind).expect("a step spec") + spec_kind.len();
    let bad = format!("{}no-such-kind-{}", &first[..at], &first[at..]);
    std::fs::write(&path, format!("{bad}\n{rest}")).unwrap();
    let e = load(&dir).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:1: ", path.display())), "{e}");
    assert!(e.contains("unknown step kind `no-such-kind-"), "{e}");
}
