//! What a team adopting gameday starts from: the JSON Schemas (current, and
//! every shipped drill and environment valid against them), the generated
//! playbook reference, `explain` for every kind, completions and man page.

use super::cli::{Gd, repo, stderr, stdout};
use marked_yaml::Node;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn gameday(args: &[&str]) -> std::process::Output {
    Gd::new(args).run().0
}

/// YAML node → JSON with YAML 1.2 core typing of plain (unquoted) scalars.
fn to_json(n: &Node) -> Value {
    match n {
        Node::Scalar(s) => {
            let t = s.as_str();
            if !s.may_coerce() {
                return Value::String(t.to_string());
            }
            match t {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" | "~" | "" => Value::Null,
                _ => t
                    .parse::<i64>()
                    .map(Value::from)
                    .or_else(|_| t.parse::<f64>().map(Value::from))
                    .unwrap_or_else(|_| Value::String(t.to_string())),
            }
        }
        Node::Sequence(q) => Value::Array(q.iter().map(to_json).collect()),
        Node::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    out
}

fn shipped_playbooks() -> Vec<PathBuf> {
    let mut v = yaml_files(&repo().join("drills"));
    v.extend(yaml_files(&repo().join("drills/examples")));
    v
}

fn validator(file: &str) -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join(file)).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("a valid schema")
}

fn problems(v: &jsonschema::Validator, path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let node = gameday::playbook::load::parse_yaml(&path.display().to_string(), &text).unwrap();
    v.iter_errors(&to_json(&node))
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn schema_files_are_the_generated_output() {
    for (what, file) in gameday::playbook::schema::FILES {
        let out = gameday(&["schema", what]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let on_disk = std::fs::read_to_string(repo().join(file)).unwrap();
        assert!(
            stdout(&out) == on_disk,
            "{file} is not current: run `gameday schema {what} > {file}`"
        );
    }
}

#[test]
fn shipped_drills_and_environments_are_valid_against_the_schemas_and_name_them() {
    let playbook = validator("schemas/playbook.schema.json");
    let environment = validator("schemas/environment.schema.json");
    let playbooks = shipped_playbooks();
    assert!(playbooks.len() >= 8);
    for p in &playbooks {
        let first = std::fs::read_to_string(p).unwrap();
        let depth = p.strip_prefix(repo()).unwrap().components().count() - 1;
        let want = format!(
            "# yaml-language-server: $schema={}schemas/playbook.schema.json",
            "../".repeat(depth)
        );
        assert_eq!(first.lines().next(), Some(want.as_str()), "{}", p.display());
        let errs = problems(&playbook, p);
        assert!(errs.is_empty(), "{}:\n{}", p.display(), errs.join("\n"));
    }
    for e in yaml_files(&repo().join("drills/environments")) {
        let errs = problems(&environment, &e);
        assert!(errs.is_empty(), "{}:\n{}", e.display(), errs.join("\n"));
    }
}

#[test]
fn the_playbook_schema_refuses_what_the_loader_refuses() {
    let v = validator("schemas/playbook.schema.json");
    let dir = tempfile::tempdir().unwrap();
    for (text, why) in [
        (
            "name: x\nphases:\n  - kind: precheck\n    steps:\n      - { name: a, kind: promethus, expr: up }\n",
            "unknown kind",
        ),
        (
            "name: x\nphases:\n  - kind: precheck\n    steps:\n      - { name: a, kind: prometheus, expr: up, expect: \"== 1\", colour: red }\n",
            "unknown field",
        ),
        (
            "name: x\nphases:\n  - kind: precheck\n    steps:\n      - { name: a, kind: prometheus, expr: up, series: most }\n",
            "value outside the enum",
        ),
        (
            "name: x\nphases:\n  - kind: precheck\n    steps:\n      - { name: a, kind: wait, duration: 5 }\n",
            "duration without a unit",
        ),
    ] {
        let p = dir.path().join("p.yaml");
        std::fs::write(&p, text).unwrap();
        assert!(!problems(&v, &p).is_empty(), "schema accepts {why}");
        let out = gameday(&["validate", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "loader refuses {why}");
    }
}

#[test]
fn docs_playbook_md_is_generated_and_current() {
    let out = gameday(&["kinds", "--markdown"]);
    assert_eq!(out.status.code(), Some(0));
    let on_disk = std::fs::read_to_string(repo().join("docs/playbook.md")).unwrap();
    assert!(
        stdout(&out) == on_disk,
        "docs/playbook.md is not current: run `gameday kinds --markdown > docs/playbook.md`"
    );
    for rule in [
        "window: observation",
        "`drill`",
        "{region}",
        "{window}",
        "`aws:`",
        "`postgres:`",
        "environment file",
        "default\n`30s`",
        "`isolated`",
    ] {
        assert!(on_disk.contains(rule), "docs/playbook.md documents {rule}");
    }
}

#[test]
fn explain_works_for_every_kind_and_kinds_lists_them_all() {
    let kinds = gameday(&["kinds"]);
    assert_eq!(kinds.status.code(), Some(0));
    for k in gameday::playbook::spec::KINDS {
        assert!(stdout(&kinds).contains(k), "`gameday kinds` lists {k}");
        let out = gameday(&["explain", k]);
        assert_eq!(out.status.code(), Some(0), "{k}: {}", stderr(&out));
        let text = stdout(&out);
        for part in [&format!("kind: {k}") as &str, "use:", "fields:", "example:"] {
            assert!(text.contains(part), "explain {k} shows {part}:\n{text}");
        }
    }
    let out = gameday(&["explain", "prometheus-windw"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `prometheus-window`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn completions_for_every_shell_and_a_man_page() {
    for (shell, marker) in [
        ("bash", "_gameday()"),
        ("zsh", "#compdef gameday"),
        ("fish", "complete -c gameday"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = gameday(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell} completions:\n{text}");
        assert!(text.contains("explain"), "{shell} completes subcommands");
    }
    let out = gameday(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with(".ie") || text.contains(".TH gameday"),
        "{text}"
    );
    assert!(text.contains(".TH gameday-run"), "a section per command");
}

#[test]
fn init_writes_a_playbook_that_validates_and_plans_for_every_mechanism_and_never_overwrites() {
    for mech in [
        "arc",
        "ga",
        "route53-health-check",
        "route53-weights",
        "alb-weights",
        "alb-targets",
        "postgres",
        "shell",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let args = [
            "init",
            "--non-interactive",
            "--name",
            "first",
            "--dir",
            d,
            "--mechanism",
            mech,
            "--regions",
            "us-east-1,eu-west-1,eu-central-1",
            "--isolate",
            "eu-west-1",
            "--alert",
            "RegionProbeFailing",
        ];
        let out = gameday(&args);
        assert_eq!(out.status.code(), Some(0), "{mech}: {}", stderr(&out));
        let pb = dir.path().join("first.yaml");
        let env = dir.path().join("environments/first.yaml");
        let (pb_s, env_s) = (pb.to_str().unwrap(), env.to_str().unwrap());
        for cmd in ["validate", "plan"] {
            let out = gameday(&[cmd, pb_s, "--env", env_s]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{mech}: {cmd}\n{}\n{}",
                stderr(&out),
                std::fs::read_to_string(&pb).unwrap()
            );
        }
        let text = std::fs::read_to_string(&pb).unwrap();
        for phase in [
            "precheck", "isolate", "observe", "validate", "restore", "post",
        ] {
            assert!(
                text.contains(&format!("- kind: {phase}")),
                "{mech}: {phase}"
            );
        }
        assert!(text.contains("mark: isolated"), "{mech}");
        assert_eq!(
            text.matches("    budget: ").count(),
            6,
            "{mech}: a budget per phase"
        );
        // Again: refused, nothing touched.
        std::fs::write(&env, "name: mine\n").unwrap();
        let out = gameday(&args);
        assert_eq!(out.status.code(), Some(2), "{mech}");
        assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(&env).unwrap(), "name: mine\n");
        assert_eq!(std::fs::read_to_string(&pb).unwrap(), text);
    }
}

#[test]
fn demo_list_describes_every_scenario() {
    let out = gameday(&["demo", "--list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for s in [
        "clean",
        "clock-skew",
        "residency-bug",
        "slow-reroute",
        "silent-alert",
        "sick-after-restore",
        "partition",
    ] {
        assert!(
            stdout(&out).contains(&format!("\n  {s}\n")),
            "{s}:\n{}",
            stdout(&out)
        );
    }
}
