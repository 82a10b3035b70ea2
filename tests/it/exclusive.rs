//! Every spec field with exclusive alternatives is checked when the playbook
//! loads: `gameday validate` refuses it (exit 2) when none or both of the
//! alternatives are given, and says where (`file:line:col`).
//!
//! The table lists each group once; a new group in `src/playbook` (an enum
//! or a `try_from` check of "exactly one of") gets a row here.

use crate::cli::{Gd, stderr};

/// One exclusive choice: where it is written and the fields for "none" and
/// "both". `at` is the line the diagnostic must point at.
struct Group {
    what: &'static str,
    /// Top-level lines added after `name:` (connections, secrets, metrics).
    top: &'static str,
    /// The fields of a step (one flow mapping) in the precheck phase.
    none: &'static str,
    both: &'static str,
    /// Text the diagnostic contains.
    says: &'static str,
    /// Line of the diagnostic (the step is on line 5 unless `top` moves it).
    at: usize,
}

const STEP_LINE: usize = 5;

const GROUPS: &[Group] = &[
    Group {
        what: "shell argv/script",
        top: "",
        none: "kind: shell, read_only: true",
        both: "kind: shell, read_only: true, argv: [\"true\"], script: \"true\"",
        says: "exactly one of `argv`",
        at: STEP_LINE,
    },
    Group {
        what: "shell undo argv/script",
        top: "",
        none: "kind: shell, argv: [\"true\"], undo: {}",
        both: "kind: shell, argv: [\"true\"], undo: { argv: [\"true\"], script: \"true\" }",
        says: "exactly one of `argv`",
        at: STEP_LINE,
    },
    Group {
        what: "fis-experiment-state started_by/experiment_id",
        top: "",
        none: "kind: fis-experiment-state, state: running",
        both: "kind: fis-experiment-state, state: running, started_by: x, experiment_id: EXP1",
        says: "exactly one of `started_by:`",
        at: STEP_LINE,
    },
    Group {
        what: "rds-cluster-status cluster/global_cluster",
        top: "",
        none: "kind: rds-cluster-status, status: available",
        both: "kind: rds-cluster-status, status: available, cluster: a, global_cluster: b",
        says: "exactly one of `cluster:` or `global_cluster:`",
        at: STEP_LINE,
    },
    Group {
        what: "elbv2-forward-weights listener_arn/rule_arn",
        top: "",
        none: "kind: elbv2-forward-weights, weights: [{ target_group_arn: t, weight: 0 }]",
        both: "kind: elbv2-forward-weights, listener_arn: l, rule_arn: r, weights: [{ target_group_arn: t, weight: 0 }]",
        says: "exactly one of `listener_arn:`",
        at: STEP_LINE,
    },
    Group {
        what: "cloudwatch-metric namespace+metric/expression",
        top: "",
        none: "kind: cloudwatch-metric, stat: Maximum, period: 60s, window: 5m, expect: \"< 5\"",
        both: "kind: cloudwatch-metric, namespace: N, metric: M, expression: \"m1\", stat: Maximum, period: 60s, window: 5m, expect: \"< 5\"",
        says: "`expression:`",
        at: STEP_LINE,
    },
    Group {
        what: "prometheus-window window/since",
        top: "prometheus: { url: \"http://127.0.0.1:9\" }\n",
        none: "kind: prometheus-window, expr: up, function: max",
        both: "kind: prometheus-window, expr: up, function: max, window: precheck, since: m",
        says: "exactly one of `window:` (a phase) or `since:`",
        at: STEP_LINE + 1,
    },
    Group {
        what: "prometheus-window baseline window/before",
        top: "prometheus: { url: \"http://127.0.0.1:9\" }\n",
        none: "kind: prometheus-window, expr: up, function: max, window: precheck, max_ratio: 2, baseline: {}",
        both: "kind: prometheus-window, expr: up, function: max, window: precheck, max_ratio: 2, baseline: { window: precheck, before: m, duration: 1h }",
        says: "either `window:` (a phase) or `before:`",
        at: STEP_LINE + 1,
    },
    Group {
        what: "canary http/postgres",
        top: "postgres: { main: { env: PG_DSN } }\n",
        none: "kind: canary, rate: 10/s",
        both: "kind: canary, rate: 10/s, postgres: { connection: main }, http: { write: { url: \"http://h/{region}/{key}\" }, read: { url: \"http://h/{region}/{key}\" } }",
        says: "exactly one of `http:` or `postgres:`",
        at: STEP_LINE + 1,
    },
    Group {
        what: "postgres connection env/file",
        top: "postgres:\n  main: {}\n",
        none: "kind: note, text: hi",
        both: "kind: note, text: hi",
        says: "exactly one of `env: VARIABLE` or `file: PATH`",
        at: 3,
    },
    Group {
        what: "prometheus bearer_token env/file",
        top: "prometheus:\n  url: \"http://127.0.0.1:9\"\n  bearer_token: {}\n",
        none: "kind: note, text: hi",
        both: "kind: note, text: hi",
        says: "exactly one of `env: VARIABLE` or `file: PATH`",
        at: 4,
    },
    Group {
        what: "secret env/file",
        top: "secrets:\n  token: {}\n",
        none: "kind: note, text: hi",
        both: "kind: note, text: hi",
        says: "needs exactly one of `env:` or `file:`",
        at: 3,
    },
    Group {
        what: "metric from+to/value",
        top: "metrics:\n  m: { target: \"<= 1s\" }\n",
        none: "kind: note, text: hi",
        both: "kind: note, text: hi",
        says: "needs either `from:` and `to:`",
        at: 3,
    },
];

/// The "both" form of the top-level groups: the empty mapping filled with both.
fn both_top(top: &str) -> String {
    top.replace("main: {}", "main: { env: A, file: b }")
        .replace("bearer_token: {}", "bearer_token: { env: A, file: b }")
        .replace("token: {}", "token: { env: A, file: b }")
        .replace(
            "m: { target: \"<= 1s\" }",
            "m: { from: a, to: b, value: c, target: \"<= 1s\" }",
        )
}

fn playbook(top: &str, step: &str) -> String {
    format!(
        "name: x\n{top}phases:\n  - kind: precheck\n    steps:\n      - {{ name: s, {step} }}\n"
    )
}

fn refused(g: &Group, label: &str, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.yaml");
    std::fs::write(&path, text).unwrap();
    let file = path.display().to_string();
    let (out, _d) = Gd::new(&["validate", &file]).run();
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{} ({label}) must be refused:\n{text}\n{err}",
        g.what
    );
    let at = format!("{file}:{}:", g.at);
    let line = err
        .lines()
        .find(|l| l.starts_with(&at) && l.contains("error:"))
        .unwrap_or_else(|| panic!("{} ({label}): no error at {at}\n{text}\n{err}", g.what));
    assert!(
        err.contains(g.says),
        "{} ({label}): expected `{}` in:\n{line}\n{err}",
        g.what,
        g.says
    );
}

#[test]
fn every_exclusive_choice_is_refused_with_none_or_both() {
    for g in GROUPS {
        refused(g, "none", &playbook(g.top, g.none));
        refused(g, "both", &playbook(&both_top(g.top), g.both));
    }
}
