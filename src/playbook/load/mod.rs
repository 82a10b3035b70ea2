//! Loading a playbook: read the file (size, encoding, emptiness checked),
//! parse YAML with positions, merge vars (defaults < environment file <
//! `--var`), interpolate `${...}` references, build the typed model and
//! validate it. Every problem becomes a [`Diagnostic`] with `file:line:col`;
//! all problems found are reported at once.

use super::duration::{NonNegative, Positive};
use super::expect::Comparison;
use super::interp::{self, Ref};
use super::model::*;
use super::problem::Problem;
use super::spec::{self, StepSpec};
use crate::diag::{Diagnostic, suggest};
use build::*;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{Node, Span};
use serde::Deserialize;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use validate::validate;
use vars::*;

mod build;
mod source;
mod validate;
mod vars;

pub use source::{MAX_DEPTH, MAX_FILE_BYTES, parse_yaml, read_file, read_source};

/// What the command line adds to a playbook.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub env_file: Option<PathBuf>,
    /// `--var key=value`, in order (later wins).
    pub vars: Vec<(String, String)>,
    /// Fail when a secret's environment variable or file is missing (run);
    /// validate and plan use a placeholder instead.
    pub require_secrets: bool,
}

/// A playbook with what is needed to report on it later.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub playbook: Playbook,
    /// Secret values, for redaction wherever text is printed or journaled.
    pub secrets: Vec<String>,
    /// The file's text (for diagnostics found after loading).
    pub source: String,
}

#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Header {
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    hypothesis: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    unattended: bool,
    #[serde(default)]
    deadline: Option<Positive>,
    #[serde(default)]
    lease: Option<Positive>,
    #[serde(default)]
    notify: Vec<super::notify::NotifyTarget>,
    #[serde(default)]
    pushgateway: Option<String>,
    #[serde(default)]
    prometheus: Option<spec::prometheus::ApiConnection>,
    #[serde(default)]
    alertmanager: Option<spec::prometheus::ApiConnection>,
    #[serde(default)]
    aws: Option<spec::aws::AwsConn>,
    #[serde(default)]
    postgres: BTreeMap<String, super::spec::postgres::PostgresConnection>,
    #[serde(default)]
    lag_budgets: Option<LagBudgets>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PhaseHeader {
    #[allow(dead_code)] // read through the raw node, kept here so `kind` is an allowed key
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    budget: Option<Positive>,
    #[serde(default)]
    over_budget: Option<OverBudget>,
    #[serde(default)]
    hold: Option<Positive>,
    #[serde(default)]
    on_failure: Option<OnFailure>,
}

/// The keys every step takes besides its kind's own (the fields of
/// [`StepCommon`] but `for`/`every`); the reference lists them once.
pub(crate) const STEP_FIELDS: &[&str] = &[
    "name",
    "kind",
    "timeout",
    "retries",
    "backoff",
    "mark",
    "record",
    "wait",
    "irreversible",
];
/// The keys only a guardrail's check step takes.
pub(super) const GUARD_FIELDS: &[&str] = &["for", "every"];

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StepCommon {
    #[serde(default)]
    name: Option<String>,
    #[allow(dead_code)] // read through the raw node, kept here so `kind` is an allowed key
    kind: String,
    #[serde(default)]
    timeout: Option<Positive>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    backoff: Option<Positive>,
    #[serde(default)]
    mark: Option<String>,
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    wait: Option<WaitPolicy>,
    #[serde(default)]
    irreversible: Option<Irreversible>,
    #[serde(default, rename = "for")]
    for_: Option<NonNegative>,
    #[serde(default)]
    every: Option<Positive>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetric {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    target: Option<Comparison>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    role: Option<super::role::MetricRole>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct VarDecl {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SecretDecl {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    file: Option<String>,
    /// Accept a value shorter than `redact::MIN_SECRET_LEN`.
    #[serde(default)]
    allow_short: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EnvFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    /// Overrides the playbook's `aws:` field by field.
    #[serde(default)]
    aws: Option<spec::aws::AwsConn>,
    /// Webhooks added to the playbook's `notify:`.
    #[serde(default)]
    notify: Vec<super::notify::NotifyTarget>,
    /// Overrides the playbook's `pushgateway:`.
    #[serde(default)]
    pushgateway: Option<String>,
    /// Where runs keep their state (`s3://BUCKET/PREFIX`); `--state` overrides it.
    #[serde(default)]
    state: Option<String>,
}

/// What an environment file sets.
#[derive(Debug, Clone, Default)]
pub struct EnvValues {
    pub name: String,
    pub vars: BTreeMap<String, String>,
    pub aws: Option<spec::aws::AwsConn>,
    pub notify: Vec<super::notify::NotifyTarget>,
    pub pushgateway: Option<String>,
    /// `state: s3://BUCKET/PREFIX` (see `crate::state`).
    pub state: Option<String>,
}

/// Load an environment file: `name:`, `vars:` (values override playbook
/// defaults) and connection overrides such as `aws:`.
pub fn load_env_file(path: &Path) -> Result<EnvValues, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let src = read_source(path).map_err(|d| vec![d])?;
    let node = parse_yaml(&file, &src).map_err(|d| vec![d])?;
    let mut b = Builder {
        file: &file,
        src: &src,
        diags: vec![],
    };
    let env: Option<EnvFile> = b.de(&node, &[]);
    match env {
        Some(e) if b.diags.is_empty() => {
            let name = e.name.unwrap_or_else(|| {
                path.file_stem()
                    .map_or("default".into(), |s| s.to_string_lossy().into_owned())
            });
            Ok(EnvValues {
                name,
                vars: e.vars,
                aws: e.aws,
                notify: e.notify,
                pushgateway: e.pushgateway,
                state: e.state,
            })
        }
        _ => Err(b.diags),
    }
}

/// Load, interpolate and validate a playbook.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
    let src = read_source(path).map_err(|d| vec![d])?;
    load_str(&path.display().to_string(), src, opts)
}

/// Load a playbook from text already read (`file` names it in diagnostics).
pub fn load_str(file: &str, src: String, opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
    let file = file.to_string();
    if src.len() as u64 > MAX_FILE_BYTES {
        return Err(vec![Diagnostic::file(&file, "is larger than 1 MiB")]);
    }
    let mut root = parse_yaml(&file, &src).map_err(|d| vec![d])?;
    let hash = hex::encode(sha2::Sha256::digest(src.as_bytes()));
    let mut b = Builder {
        file: &file,
        src: &src,
        diags: vec![],
    };

    let Some(rootm) = root.as_mapping() else {
        return Err(vec![Diagnostic::at(
            &file,
            &src,
            1,
            1,
            "the top level must be a mapping",
        )]);
    };
    check_top_level(&mut b, rootm);
    let vars = merge_vars(&mut b, rootm, opts);
    let secret_values = read_secrets(&mut b, rootm, opts.require_secrets);
    refuse_secrets_in_argv(&mut b, &root);
    interpolate_tree(&mut b, &mut root, &vars, &secret_values);

    let rootm = root.as_mapping().expect("checked above");
    let mut playbook = build_playbook(&mut b, rootm, vars, &file, hash);
    check_lag_budgets(&mut b, rootm, &playbook);
    if b.diags.is_empty() {
        validate(&mut b, &playbook);
    }
    if !b.diags.is_empty() {
        let mut d = b.diags;
        d.sort_by_key(|d| (d.line, d.col));
        d.dedup();
        return Err(d);
    }
    playbook.secrets = super::model::SecretValues(
        secret_values
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect(),
    );
    let secrets = secret_values.into_values().flatten().collect();
    Ok(Loaded {
        playbook,
        secrets,
        source: src,
    })
}

/// Top-level keys are known; `name` and `phases` are there.
fn check_top_level(b: &mut Builder<'_>, rootm: &MarkedMappingNode) {
    b.check_keys(rootm, TOP_KEYS, "top-level");
    if rootm.get_node("phases").is_none() {
        b.at(
            Pos { line: 1, col: 1 },
            "missing `phases`",
            Some(
                "a playbook lists its phases: precheck, isolate, observe, validate, restore".into(),
            ),
        );
    }
    if rootm.get_node("name").is_none() {
        b.at(
            Pos { line: 1, col: 1 },
            "missing `name`",
            Some("add `name: my-drill` at the top".into()),
        );
    }
}

/// The typed playbook from the interpolated tree: the header's fields, the
/// phases, guardrails and metrics, and what the environment file adds.
fn build_playbook(
    b: &mut Builder<'_>,
    rootm: &MarkedMappingNode,
    vars: Vars,
    file: &str,
    hash: String,
) -> Playbook {
    let header: Option<Header> = b.de(
        &subset(rootm, |k| {
            !matches!(k, "vars" | "secrets" | "phases" | "guardrails" | "metrics")
                && !is_extension(k)
        }),
        &["vars", "secrets", "phases", "guardrails", "metrics"],
    );
    let phases = build_phases(b, rootm);
    let guardrails = build_guardrails(b, rootm);
    let metrics = build_metrics(b, rootm);
    let header = header.unwrap_or_default();
    let env = vars.env;
    Playbook {
        name: header.name.unwrap_or_default(),
        description: header.description,
        hypothesis: header.hypothesis,
        owner: header.owner,
        unattended: header.unattended,
        deadline: header.deadline,
        lease: header.lease.unwrap_or(Positive(Duration::from_secs(30))),
        notify: header.notify.into_iter().chain(env.notify).collect(),
        pushgateway: env.pushgateway.or(header.pushgateway),
        environment: env.name,
        vars: vars.values,
        connections: Connections {
            prometheus: header.prometheus,
            alertmanager: header.alertmanager,
            aws: match (header.aws, env.aws) {
                (Some(p), Some(e)) => Some(p.overlay(&e)),
                (p, e) => p.or(e),
            },
            postgres: header.postgres,
        },
        phases,
        guardrails,
        metrics,
        lag_budgets: header.lag_budgets,
        path: file.to_string(),
        hash,
        secrets: Default::default(),
    }
}

/// `lag_budgets` reads Prometheus and names at least one data class.
fn check_lag_budgets(b: &mut Builder<'_>, rootm: &MarkedMappingNode, playbook: &Playbook) {
    let Some(lb) = &playbook.lag_budgets else {
        return;
    };
    let pos = rootm
        .get_node("lag_budgets")
        .map_or(Pos { line: 1, col: 1 }, |n| pos_of(n.span()));
    if playbook.connections.prometheus.is_none() {
        b.at(
            pos,
            "`lag_budgets` reads Prometheus, but the playbook has no `prometheus:` connection",
            Some("add `prometheus: { url: http://HOST:9090 }` at the top of the playbook".into()),
        );
    }
    if lb.classes.is_empty() {
        b.at(
            pos,
            "`lag_budgets` lists no data class",
            Some("for example `classes: { credentials: { max_lag: 5s, action: alert } }`".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_common_step_keys_are_the_fields_of_step_common() {
        let schema = schemars::schema_for!(super::StepCommon).to_value();
        let mut fields: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut listed: Vec<&str> = super::STEP_FIELDS
            .iter()
            .chain(super::GUARD_FIELDS)
            .copied()
            .collect();
        fields.sort_unstable();
        listed.sort_unstable();
        assert_eq!(fields, listed);
    }

    use super::*;
    use proptest::prelude::*;

    fn opts() -> LoadOptions {
        LoadOptions::default()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        /// Arbitrary text never panics the loader: it is a playbook or diagnostics.
        #[test]
        fn arbitrary_text_never_panics(src in "\\PC{0,400}") {
            let _ = load_str("fuzz.yaml", src, &opts());
        }

        /// Text shaped like playbooks (keys, indentation, flow, refs) never panics.
        #[test]
        fn playbook_shaped_text_never_panics(parts in proptest::collection::vec(prop_oneof![
            Just("name: x\n"), Just("phases:\n"), Just("  - kind: precheck\n"), Just("    steps:\n"),
            Just("      - name: s\n"), Just("        kind: shell\n"), Just("        argv: [true]\n"),
            Just("        wait: { every: 1s, timeout: 0s }\n"), Just("metrics: { a: { from: b, to: c } }\n"),
            Just("  ${x}\n"), Just("[[{"), Just("\t"), Just("&a "), Just("*a"), Just(": "), Just("- "),
            Just("vars: { x: ${y} }\n"), Just("guardrails:\n  - { name: g, kind: http, url: u, for: 1s }\n"),
        ], 0..40)) {
            let src: String = parts.concat();
            let _ = load_str("fuzz.yaml", src, &opts());
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_blowing_the_stack() {
        let src = format!(
            "name: x\nphases: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = load_str("deep.yaml", src, &opts()).unwrap_err();
        assert!(e[0].message.contains("too deep"), "{e:?}");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("name: x\na0: &a0 [lol]\n");
        for i in 1..10 {
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n",
                p = i - 1
            ));
        }
        src.push_str("phases: []\n");
        let e = load_str("bomb.yaml", src, &opts()).unwrap_err();
        assert!(e[0].message.contains("expands to more than"), "{e:?}");
        assert!(
            e[0].location().starts_with("bomb.yaml:7:"),
            "at the alias crossing the bound: {e:?}"
        );
    }

    #[test]
    fn var_values_may_name_environment_file_vars() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env.yaml");
        std::fs::write(
            &env,
            "vars:\n  sim_url: http://127.0.0.1:9797\n  prometheus_url: \"${sim_url}\"\n",
        )
        .unwrap();
        let src = "name: x\nvars:\n  prometheus_url: http://default:9090\nprometheus: { url: \"${prometheus_url}\" }\nphases:\n  - kind: precheck\n    steps:\n      - { name: up, kind: prometheus, expr: up, expect: \"== 1\" }\n";
        let o = LoadOptions {
            env_file: Some(env.clone()),
            vars: vec![("sim_url".into(), "http://127.0.0.1:1234".into())],
            require_secrets: false,
        };
        let l = load_str("x.yaml", src.into(), &o).unwrap();
        assert_eq!(l.playbook.vars["prometheus_url"], "http://127.0.0.1:1234");
        let url = l
            .playbook
            .connections
            .prometheus
            .as_ref()
            .map(|c| c.url.as_str());
        assert_eq!(url, Some("http://127.0.0.1:1234"));
    }

    #[test]
    fn prometheus_steps_are_cross_checked() {
        let src = "name: x\nphases:\n  - kind: precheck\n    steps:\n      - { name: up, kind: prometheus, expr: up, expect: \"== 1\" }\n      - { name: w, kind: prometheus-window, expr: up, function: max, window: restor }\n      - { name: a, kind: alert, alertname: X, after: isolatd, source: alertmanager }\n";
        let e = load_str("x.yaml", src.into(), &opts()).unwrap_err();
        let text = format!("{e:?}");
        assert!(text.contains("no `prometheus:` connection"), "{text}");
        assert!(text.contains("window `restor`"), "{text}");
        assert!(text.contains("no `alertmanager:` connection"), "{text}");
        assert!(text.contains("marker `isolatd`"), "{text}");
        let bad_url = "name: x\nprometheus: { url: \"localhost:9090/x\" }\nphases:\n  - kind: precheck\n    steps: []\n";
        let e = load_str("x.yaml", bad_url.into(), &opts()).unwrap_err();
        assert_eq!((e[0].line, e[0].col), (2, 20), "{e:?}");
        let secret = "name: x\nprometheus: { url: \"http://p:9090\", bearer_token: { env: A, file: b } }\nphases:\n  - kind: precheck\n    steps: []\n";
        let e = load_str("x.yaml", secret.into(), &opts()).unwrap_err();
        assert!(e[0].message.contains("exactly one of"), "{e:?}");
    }
}
