//! `unattended:` rules of manual steps through the real binary: a `check:`
//! replaces the person (and the journal says so), `refuse` refuses before
//! anything changes, and `validate --unattended` wants a rule for manual
//! steps in the restore phase.

use crate::cli::*;
use std::path::{Path, PathBuf};

const DRILL: &str = "tests/cases/drills/unattended-rules.yaml";

/// The test drill with `from` replaced by `to` (which must be there), in `dir`.
fn variant(dir: &Path, from: &str, to: &str) -> PathBuf {
    let src = std::fs::read_to_string(repo().join(DRILL)).unwrap();
    assert!(src.contains(from), "{from}");
    let p = dir.join("variant.yaml");
    std::fs::write(&p, src.replacen(from, to, 1)).unwrap();
    p
}

fn run(playbook: &str, tmp: &Path) -> (std::process::Output, PathBuf, tempfile::TempDir) {
    let gd = Gd::drill(&[
        playbook,
        "--yes",
        "--non-interactive",
        "--var",
        &format!("flag_file={}", tmp.join("flag").display()),
        "--var",
        &format!("oncall_file={}", tmp.join("oncall").display()),
    ]);
    let out_dir = gd.out_dir();
    let (out, d) = gd.run();
    (out, out_dir, d)
}

#[test]
fn a_check_replaces_the_person_and_the_journal_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("oncall"), "alice").unwrap();
    let (out, out_dir, _d) = run(DRILL, tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = std::fs::read_to_string(run_dir(&out_dir).unwrap().join("journal.jsonl")).unwrap();
    assert!(
        j.contains("unattended run: check `on-call shift file present` replaces the person"),
        "{j}"
    );
    assert!(
        j.contains(
            r#""event":"manual_confirmed","step":"on-call staged","by":"check `on-call shift file present` (unattended: check)""#
        ),
        "{j}"
    );
    assert!(j.contains(r#""replaced_by_check":"on-call shift file present""#));
    assert!(!tmp.path().join("flag").exists());
}

#[test]
fn a_failing_check_stops_the_drill_before_any_change() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, out_dir, _d) = run(DRILL, tmp.path());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let j = std::fs::read_to_string(run_dir(&out_dir).unwrap().join("journal.jsonl")).unwrap();
    assert!(!j.contains("\"event\":\"intent\""), "{j}");
    assert!(!j.contains("\"event\":\"manual_confirmed\",\"step\":\"on-call staged\""));
    assert!(
        j.contains("not confirmed: check `on-call shift file present`"),
        "{j}"
    );
}

#[test]
fn refuse_refuses_an_unattended_run_before_anything_changes() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("oncall"), "alice").unwrap();
    let p = variant(tmp.path(), "unattended: confirm", "unattended: refuse");
    let (out, out_dir, _d) = run(p.to_str().unwrap(), tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("manual step `tell the team` says `unattended: refuse`"),
        "{err}"
    );
    assert!(err.contains("variant.yaml:"), "positioned: {err}");
    assert!(run_dir(&out_dir).is_none(), "no run directory");
    assert!(!tmp.path().join("flag").exists());
}

#[test]
fn validate_unattended_wants_a_rule_for_manual_steps_in_the_restore_phase() {
    let (out, _d) = Gd::new(&["validate", "--unattended", "--yes", DRILL]).run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let tmp = tempfile::tempdir().unwrap();
    let p = variant(tmp.path(), "        unattended: confirm\n", "");
    let (out, _d) = Gd::new(&["validate", "--unattended", "--yes", p.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("manual step `tell the team` in the restore phase has no `unattended:` rule"),
        "{}",
        stderr(&out)
    );
    // Without --unattended the same file is valid.
    let (out, _d) = Gd::new(&["validate", p.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The shipped PostgreSQL drill says what replaces the person.
    let (out, _d) = Gd::new(&[
        "validate",
        "--unattended",
        "--yes",
        "drills/postgres-promotion.yaml",
    ])
    .run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_unattended_check_must_be_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let p = variant(tmp.path(), "            read_only: true\n", "");
    let (out, _d) = Gd::new(&["validate", p.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the unattended check of manual step `on-call staged` is a `shell` step; it must be a read-only check"),
        "{}",
        stderr(&out)
    );
}
