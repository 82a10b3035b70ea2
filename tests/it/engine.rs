//! The engine through the real binary: diagnostics for bad input, a full
//! run, real signals (SIGINT, SIGTERM, SIGKILL), crash restore, guardrails,
//! the environment lock and unattended refusal.

use crate::cli::*;
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn var(k: &str, v: impl AsRef<Path>) -> String {
    format!("{k}={}", v.as_ref().display())
}

/// A finished `gameday run` of a drill whose change is a flag file in a
/// temporary directory. `{tmp}` in `extra` stands for that directory.
struct FlagRun {
    out: std::process::Output,
    out_dir: std::path::PathBuf,
    flag: std::path::PathBuf,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn run_flag_drill(playbook: &str, extra: &[&str]) -> FlagRun {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let extra: Vec<String> = extra
        .iter()
        .map(|a| a.replace("{tmp}", &tmp.path().display().to_string()))
        .collect();
    let mut args = vec![
        playbook.to_string(),
        "--var".into(),
        var("flag_file", &flag),
    ];
    args.extend(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let gd = Gd::drill(&args);
    let out_dir = gd.out_dir();
    let (out, d) = gd.run();
    FlagRun {
        out,
        out_dir,
        flag,
        _dirs: (tmp, d),
    }
}

#[test]
fn invalid_playbooks_get_positioned_diagnostics_and_exit_2() {
    let dir = repo().join("tests/cases/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for f in files {
        let rel = f.strip_prefix(repo()).unwrap().display().to_string();
        let (out, _d) = Gd::new(&["validate", &rel]).run();
        assert_eq!(out.status.code(), Some(2), "{rel}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{rel}: {err}"
        );
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(name, err);
    }
}

#[test]
fn missing_files_directories_and_huge_files_are_refused() {
    let (out, _d) = Gd::new(&["validate", "no/such/playbook.yaml"]).run();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no/such/playbook.yaml: error: no such file"),
        "{}",
        stderr(&out)
    );

    let (out, _d) = Gd::new(&["validate", "drills"]).run();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("drills: error: is a directory"),
        "{}",
        stderr(&out)
    );

    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big.yaml");
    std::fs::write(
        &big,
        format!("name: big\nphases: []\n# {}\n", "x".repeat(1 << 20)),
    )
    .unwrap();
    let (out, _d) = Gd::new(&["validate", big.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("files are limited to 1 MiB"),
        "{}",
        stderr(&out)
    );
}

/// Every shipped drill validates, alone or with one of the shipped
/// environment files (drills leave environment-specific vars, such as a
/// routing control ARN, without defaults on purpose).
#[test]
fn every_shipped_drill_validates() {
    let envs: Vec<String> = std::fs::read_dir(repo().join("drills/environments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    let mut n = 0;
    let mut stack = vec![repo().join("drills")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let is_playbook = p.extension().is_some_and(|x| x == "yaml")
                && std::fs::read_to_string(&p).unwrap().contains("\nphases:");
            if !is_playbook {
                continue;
            }
            let path = p.to_str().unwrap();
            let (alone, _d) = Gd::new(&["validate", path]).run();
            let ok = alone.status.code() == Some(0)
                || envs.iter().any(|env| {
                    Gd::new(&["validate", path, "--env", env])
                        .run()
                        .0
                        .status
                        .code()
                        == Some(0)
                });
            assert!(
                ok,
                "{path} validates neither alone nor with any of {envs:?}: {}",
                stderr(&alone)
            );
            n += 1;
        }
    }
    assert!(n >= 5, "found only {n} drills");
}

#[test]
fn hello_passes_restores_and_prints_the_run_dir_last() {
    let FlagRun {
        out,
        out_dir,
        flag,
        _dirs,
    } = run_flag_drill("drills/examples/hello.yaml", &["--var", "observe_for=0s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last = stdout(&out).lines().last().unwrap_or_default().to_string();
    let dir = run_dir(&out_dir).expect("run dir");
    assert_eq!(Path::new(&last), dir);
    assert!(
        !flag.exists(),
        "the flag file must be removed by restoration"
    );
    let report = report_json(&dir);
    assert_eq!(report["outcome"], "passed");
    assert!(report["markers"]["isolated"].is_string());
    assert_eq!(report["metrics"]["time_to_see_flag"]["met"], true);
    assert_eq!(report["metrics"]["time_to_see_flag"]["unit"], "seconds");
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    for needle in [
        "\"event\":\"run_started\"",
        "\"event\":\"intent\"",
        "\"event\":\"applied\"",
        "\"event\":\"undone\"",
        "\"event\":\"run_finished\"",
    ] {
        assert!(journal.contains(needle), "journal lacks {needle}");
    }
    // The intent is journaled before the change is applied.
    assert!(journal.find("\"event\":\"intent\"") < journal.find("\"event\":\"applied\""));
}

fn start_long_hello(
    flag: &Path,
    extra: &[&str],
) -> (std::process::Child, tempfile::TempDir, std::path::PathBuf) {
    let mut gd = Gd::new(&[
        "run",
        "drills/examples/hello.yaml",
        "--var",
        &var("flag_file", flag),
        "--var",
        "observe_for=60s",
    ]);
    let out_dir = gd.out_dir();
    gd.cmd
        .args(["--out", out_dir.to_str().unwrap()])
        .args(extra);
    let (child, d) = gd.spawn();
    wait_until(LIMIT, "the observe phase", || {
        journal_has(&out_dir, "\"phase\":\"observe\"")
    });
    assert!(flag.exists());
    (child, d, out_dir)
}

fn wait_exit(child: &mut std::process::Child) -> i32 {
    let mut code = None;
    wait_until(LIMIT, "gameday to exit", || {
        code = child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1));
        code.is_some()
    });
    code.unwrap()
}

#[test]
fn sigint_during_observation_restores_and_exits_4() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let (mut child, _d, out_dir) = start_long_hello(&flag, &[]);
    signal(&child, Signal::SIGINT);
    assert_eq!(wait_exit(&mut child), 4);
    assert!(!flag.exists(), "flag must be removed after SIGINT");
    assert_eq!(
        report_json(&run_dir(&out_dir).unwrap())["outcome"],
        "interrupted"
    );
}

#[test]
fn sigterm_is_treated_like_sigint() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let (mut child, _d, out_dir) = start_long_hello(&flag, &[]);
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child), 4);
    assert!(!flag.exists());
    assert!(journal_has(&out_dir, "\"signal\":\"SIGTERM\""));
}

#[test]
fn sigkill_then_restore_undoes_and_a_second_restore_is_a_no_op() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let (mut child, _d, out_dir) = start_long_hello(&flag, &["--no-guard"]);
    let dir = run_dir(&out_dir).unwrap();
    // While the run is alive, restore refuses (the run restores by itself).
    let (out, _d1) = Gd::new(&["restore", dir.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is still in progress"),
        "{}",
        stderr(&out)
    );
    assert!(flag.exists());

    signal(&child, Signal::SIGKILL);
    let _ = child.wait();
    assert!(flag.exists(), "SIGKILL leaves the change applied");

    let (out, _d2) = Gd::new(&["restore", dir.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!flag.exists(), "restore must remove the flag");
    let (out, _d3) = Gd::new(&["restore", dir.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("nothing to restore"),
        "{}",
        stderr(&out)
    );

    // The crashed run still gets a report, marked incomplete.
    let (out, _d4) = Gd::new(&["report", dir.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report_json(&dir)["outcome"], "incomplete");
}

#[test]
fn signals_during_restoration_warn_and_the_third_abandons_with_the_restore_command() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let gd = Gd::drill(&[
        "tests/cases/drills/slow-restore.yaml",
        "--var",
        &var("flag_file", &flag),
    ]);
    let out_dir = gd.out_dir();
    let (mut child, _d) = gd.spawn();
    wait_until(LIMIT, "the observe phase", || {
        journal_has(&out_dir, "\"phase\":\"observe\"")
    });
    signal(&child, Signal::SIGINT);
    wait_until(LIMIT, "the restore phase", || {
        journal_has(&out_dir, "\"step\":\"slow restoration\"")
    });
    signal(&child, Signal::SIGINT);
    wait_until(LIMIT, "the warning", || {
        journal_has(&out_dir, "ignored: restoration is running")
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "the second signal must not stop restoration"
    );
    signal(&child, Signal::SIGINT);
    let code = wait_exit(&mut child);
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(code, 5, "{err}");
    let dir = run_dir(&out_dir).unwrap();
    assert!(
        err.contains(&format!("gameday restore {}", dir.display())),
        "{err}"
    );
    assert!(
        flag.exists(),
        "abandoned restoration leaves the change applied"
    );
    let (out, _d2) = Gd::new(&["restore", dir.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!flag.exists());
}

#[test]
fn a_guardrail_breach_aborts_and_restores() {
    let FlagRun {
        out,
        out_dir,
        flag,
        _dirs,
    } = run_flag_drill(
        "tests/cases/drills/guardrail.yaml",
        &["--var", "trip_file={tmp}/trip"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!flag.exists());
    let dir = run_dir(&out_dir).unwrap();
    assert_eq!(report_json(&dir)["outcome"], "aborted");
    assert!(journal_has(
        &out_dir,
        "\"event\":\"guardrail_breached\",\"name\":\"nothing tripped\""
    ));
}

#[test]
fn a_second_run_in_the_same_environment_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let mut gd = Gd::new(&[
        "run",
        "drills/examples/hello.yaml",
        "--var",
        &var("flag_file", &flag),
        "--var",
        "observe_for=60s",
    ]);
    let out_dir = gd.out_dir();
    let locks = gd.dir.path().join("locks");
    gd.cmd.args(["--out", out_dir.to_str().unwrap()]);
    let (mut child, _d) = gd.spawn();
    wait_until(LIMIT, "the observe phase", || {
        journal_has(&out_dir, "\"phase\":\"observe\"")
    });

    let mut second = Gd::new(&[
        "run",
        "drills/examples/hello.yaml",
        "--var",
        &var("flag_file", tmp.path().join("other")),
        "--var",
        "observe_for=0s",
    ]);
    second.cmd.env("GAMEDAY_LOCK_DIR", &locks);
    let (out, _d2) = second.run();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("environment `default` is locked by drill `hello`"),
        "{}",
        stderr(&out)
    );

    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child), 4);
}

#[test]
fn a_manual_step_refuses_an_unattended_run_before_touching_anything() {
    let FlagRun {
        out,
        out_dir,
        flag,
        _dirs,
    } = run_flag_drill("tests/cases/drills/manual.yaml", &["--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("manual step `on-call staged` needs a person, and this run is unattended"),
        "{}",
        stderr(&out)
    );
    assert!(!flag.exists());
    assert!(run_dir(&out_dir).is_none(), "nothing may run");
}

#[test]
fn secrets_are_redacted_from_the_journal_and_the_terminal_and_env_files_set_vars() {
    let secret = "s3cr3t-Tok3n-value";
    let mut gd = Gd::new(&[
        "run",
        "tests/cases/drills/secret.yaml",
        "--env",
        "tests/cases/env/staging.yaml",
    ]);
    let out_dir = gd.out_dir();
    gd.cmd
        .args(["--out", out_dir.to_str().unwrap()])
        .env("GAMEDAY_TEST_TOKEN", secret);
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = run_dir(&out_dir).unwrap();
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert!(!journal.contains(secret), "secret leaked into the journal");
    assert!(!stderr(&out).contains(secret) && !stdout(&out).contains(secret));
    assert!(
        journal.contains("bonjour [redacted]"),
        "the env file sets `greeting` and the secret is redacted in evidence"
    );
    assert!(journal.contains("\"environment\":\"staging\""));

    // Without the variable, the run refuses before doing anything.
    let mut gd = Gd::new(&["run", "tests/cases/drills/secret.yaml"]);
    gd.cmd.env_remove("GAMEDAY_TEST_TOKEN");
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "secret `token` cannot be read from environment variable `GAMEDAY_TEST_TOKEN`"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_var_on_the_command_line_is_refused_with_a_suggestion() {
    let (out, _d) = Gd::new(&[
        "validate",
        "drills/examples/hello.yaml",
        "--var",
        "observe_fro=1s",
    ])
    .run();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--var `observe_fro` is not a var of drills/examples/hello.yaml"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("did you mean `observe_for`?"));
}

#[test]
fn the_deadline_aborts_and_restores() {
    let FlagRun {
        out,
        out_dir,
        flag,
        _dirs,
    } = run_flag_drill("tests/cases/drills/deadline.yaml", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!flag.exists());
    assert!(journal_has(&out_dir, "\"reason\":\"deadline\""));
}

#[test]
fn a_failed_precheck_is_retried_then_aborts_without_changing_anything() {
    let FlagRun {
        out,
        out_dir,
        flag,
        _dirs,
    } = run_flag_drill("tests/cases/drills/unreachable.yaml", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!flag.exists());
    let dir = run_dir(&out_dir).unwrap();
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("\"attempts\":3"),
        "two retries after the first attempt"
    );
    assert!(
        journal.contains("cannot connect"),
        "the error says what failed"
    );
    assert!(
        !journal.contains("\"event\":\"intent\""),
        "nothing may be changed"
    );
    assert!(journal.contains("nothing was applied, so there is nothing to restore"));
    assert_eq!(report_json(&dir)["outcome"], "aborted");
}

#[test]
fn plan_lists_calls_and_undos_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let (out, _d) = Gd::new(&[
        "plan",
        "drills/examples/hello.yaml",
        "--var",
        &var("flag_file", &flag),
    ])
    .run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("undo: run rm -f {}", flag.display())),
        "{text}"
    );
    assert!(text.contains("sets marker: isolated"));
    assert!(!flag.exists(), "plan must not run anything");
}

#[test]
fn json_log_format_prints_one_event_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let gd = Gd::drill(&[
        "drills/examples/hello.yaml",
        "--var",
        &var("flag_file", tmp.path().join("f")),
        "--var",
        "observe_for=0s",
        "--log-format",
        "json",
    ]);
    let _out_dir = gd.out_dir();
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON event per line"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|e| e["event"] == "marker" && e["name"] == "isolated")
    );
    assert!(
        lines
            .iter()
            .all(|e| e["ts"].is_string() && e["elapsed"].is_number())
    );
}

fn alive(pid: i32) -> bool {
    // A zombie (killed, not yet reaped by init) counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

#[test]
fn a_step_timeout_kills_the_whole_process_group_even_if_it_ignores_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = tmp.path().join("pid");
    let gd = Gd::drill(&[
        "tests/cases/drills/stubborn.yaml",
        "--var",
        &var("pid_file", &pid_file),
    ]);
    let out_dir = gd.out_dir();
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(journal_has(&out_dir, "timed out after 1s"));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until(LIMIT, "the grandchild to be killed", || !alive(pid));
}

#[test]
fn gameday_sim_refuses_a_bad_config_with_positions_and_stops_cleanly_on_sigint() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("sim.yaml");
    std::fs::write(
        &cfg,
        "regions:\n  - name: us-east-1\nfaults:\n  residency_bgu: 0.5\n",
    )
    .unwrap();
    let (out, _d) = Gd::new(&["sim", "--config", cfg.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{}:4:3", cfg.display())),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("residency_bug"),
        "did-you-mean: {}",
        stderr(&out)
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let (mut child, _d) = Gd::new(&["sim", "--listen", &addr, "--seed", "3"]).spawn();
    wait_until(LIMIT, "the simulator to listen", || {
        std::net::TcpStream::connect(&addr).is_ok()
    });
    signal(&child, Signal::SIGINT);
    assert_eq!(wait_exit(&mut child), 0);
}
