//! Loading a playbook: read the file (size, encoding, emptiness checked),
//! parse YAML with positions, merge vars (defaults < environment file <
//! `--var`), interpolate `${...}` references, build the typed model and
//! validate it. Every problem becomes a [`Diagnostic`] with `file:line:col`;
//! all problems found are reported at once.

use super::duration::{NonNegative, Positive};
use super::expect::Comparison;
use super::interp::{self, Ref};
use super::model::*;
use super::spec::{self, StepSpec};
use crate::diag::{Diagnostic, did_you_mean};
use build::*;
use vars::*;
use validate::validate;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{Node, Span};
use serde::Deserialize;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod build;
mod source;
mod validate;
mod vars;

pub use source::{MAX_DEPTH, MAX_FILE_BYTES, parse_yaml, read_source};

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

#[derive(Deserialize, schemars::JsonSchema)]
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

    // Vars: defaults, then the environment file, then --var.
    let mut declared: BTreeMap<String, (Option<String>, Pos)> = BTreeMap::new();
    if let Some(vars) = rootm.get_node("vars") {
        match vars.as_mapping() {
            Some(m) => {
                for (k, v) in m.iter() {
                    let default = match v {
                        Node::Scalar(s) => Some(s.as_str().to_string()),
                        _ => b.de::<VarDecl>(v, &[]).and_then(|d| d.default),
                    };
                    declared.insert(k.as_str().to_string(), (default, pos_of(k.span())));
                }
            }
            None => b.at(
                pos_of(vars.span()),
                "`vars` must be a mapping of names to default values",
                None,
            ),
        }
    }
    let mut environment = "default".to_string();
    let mut env_aws = None;
    let mut env_notify = vec![];
    let mut env_pushgateway = None;
    let mut env_only: BTreeMap<String, String> = BTreeMap::new();
    let mut values: BTreeMap<String, String> = declared
        .iter()
        .filter_map(|(k, (d, _))| d.clone().map(|d| (k.clone(), d)))
        .collect();
    if let Some(env_path) = &opts.env_file {
        match load_env_file(env_path) {
            Ok(EnvValues {
                name,
                vars,
                aws,
                notify,
                pushgateway,
                ..
            }) => {
                env_notify = notify;
                env_pushgateway = pushgateway;
                environment = name;
                env_aws = aws;
                // Environment files are shared by several drills: vars a
                // playbook does not declare are not the playbook's, but other
                // vars' values may refer to them (`prometheus_url: "${sim_url}"`).
                for (k, v) in vars {
                    if declared.contains_key(&k) {
                        values.insert(k, v);
                    } else {
                        env_only.insert(k, v);
                    }
                }
            }
            Err(d) => b.diags.extend(d),
        }
    }
    for (k, v) in &opts.vars {
        if declared.contains_key(k) {
            values.insert(k.clone(), v.clone());
        } else if env_only.contains_key(k) {
            env_only.insert(k.clone(), v.clone());
        } else {
            let hint = match did_you_mean(k, declared.keys().map(|s| s.as_str())) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "the playbook declares: {}",
                    declared.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            };
            b.diags.push(
                Diagnostic::file(
                    "command line",
                    format!("--var `{k}` is not a var of {file}"),
                )
                .with_hint(hint),
            );
        }
    }

    // A var's value may name other vars (`prometheus_url: "${sim_url}"` in an
    // environment file): resolved once, after every override is known.
    let snapshot = values.clone();
    for (k, v) in values.iter_mut().filter(|(_, v)| v.contains('$')) {
        let expanded = interp::interpolate(v, |r| match r {
            Ref::Var(n) if n != k.as_str() => snapshot
                .get(n)
                .or_else(|| env_only.get(n))
                .filter(|x| !x.contains("${"))
                .cloned()
                .ok_or_else(|| (format!("var `{n}` has no plain value"), None)),
            Ref::Env(n) => std::env::var(n)
                .map_err(|_| (format!("environment variable `{n}` is not set"), None)),
            _ => Err((
                "only other vars and `${env.NAME}` can be used in a var's value".into(),
                None,
            )),
        });
        match expanded {
            Ok(x) => *v = x,
            Err(e) => b.diags.push(
                Diagnostic::file(&file, format!("var `{k}` = `{v}`: {}", e.message))
                    .with_hint("a var's value may refer to other vars that have plain values"),
            ),
        }
    }

    // Secrets: from environment variables or files, never inline.
    let mut secret_values: BTreeMap<String, Option<String>> = BTreeMap::new();
    if let Some(secrets) = rootm.get_node("secrets") {
        match secrets.as_mapping() {
            Some(m) => {
                for (k, v) in m.iter() {
                    let Some(decl) = b.de::<SecretDecl>(v, &[]) else {
                        continue;
                    };
                    let value = match (decl.env, decl.file) {
                        (Some(env), None) => std::env::var(&env)
                            .ok()
                            .map(|v| (v, format!("environment variable {env}")))
                            .ok_or(format!("environment variable `{env}`")),
                        (None, Some(f)) => std::fs::read_to_string(&f)
                            .map(|v| (v.trim_end().to_string(), f.clone()))
                            .map_err(|_| format!("file `{f}`")),
                        _ => {
                            b.at(
                                pos_of(v.span()),
                                format!(
                                    "secret `{}` needs exactly one of `env:` or `file:`",
                                    k.as_str()
                                ),
                                Some("secrets are never written inline".into()),
                            );
                            continue;
                        }
                    };
                    match value {
                        Ok((value, from)) => {
                            let n = value.chars().count();
                            if n < crate::redact::MIN_SECRET_LEN && !decl.allow_short {
                                b.at(
                                    pos_of(v.span()),
                                    format!(
                                        "secret `{}` from {from} is {n} character{} long: too short to redact safely (minimum {})",
                                        k.as_str(),
                                        if n == 1 { "" } else { "s" },
                                        crate::redact::MIN_SECRET_LEN
                                    ),
                                    Some("use a longer secret, or add `allow_short: true` to the declaration if this value may blank out matching text wherever it is printed".into()),
                                );
                            }
                            secret_values.insert(k.as_str().to_string(), Some(value));
                        }
                        Err(from) if opts.require_secrets => {
                            b.at(
                                pos_of(v.span()),
                                format!("secret `{}` cannot be read from {from}", k.as_str()),
                                Some("set it before running the drill".into()),
                            );
                            secret_values.insert(k.as_str().to_string(), None);
                        }
                        Err(_) => {
                            secret_values.insert(k.as_str().to_string(), None);
                        }
                    }
                }
            }
            None => b.at(
                pos_of(secrets.span()),
                "`secrets` must be a mapping such as `token: { env: API_TOKEN }`",
                None,
            ),
        }
    }

    refuse_secrets_in_argv(&mut b, &root);

    // Vars left without a value are an error only if something uses them;
    // interpolation reports that use with its position.
    let mut interp_diags = vec![];
    if let Some(m) = root.as_mapping_mut() {
        for (k, v) in m.iter_mut() {
            if k.as_str() == "vars" || k.as_str() == "secrets" {
                continue;
            }
            interpolate_node(
                v,
                &mut |pos, text| {
                    interp::interpolate(text, |r| resolve(r, &values, &declared, &secret_values))
                        .map_err(|e| (pos, e))
                },
                &mut interp_diags,
            );
        }
    }
    for (pos, e, _) in interp_diags {
        let quoted = src
            .lines()
            .nth(pos.line.saturating_sub(1))
            .and_then(|l| l.chars().nth(pos.col.saturating_sub(1)))
            .is_some_and(|c| c == '"' || c == '\'');
        let col = pos.col + quoted as usize + text_col(&src, pos, e.offset);
        b.at(
            Pos {
                line: pos.line,
                col,
            },
            e.message,
            e.hint,
        );
    }

    let rootm = root.as_mapping().expect("checked above");
    let header: Option<Header> = b.de(
        &subset(rootm, |k| {
            !matches!(k, "vars" | "secrets" | "phases" | "guardrails" | "metrics")
                && !is_extension(k)
        }),
        &["vars", "secrets", "phases", "guardrails", "metrics"],
    );

    let mut phases = vec![];
    if let Some(node) = rootm.get_node("phases") {
        match node.as_sequence() {
            Some(seq) if !seq.is_empty() => {
                for p in seq.iter() {
                    if let Some(ph) = build_phase(&mut b, p) {
                        phases.push(ph);
                    }
                }
            }
            _ => b.at(pos_of(node.span()), "`phases` must be a non-empty list", Some("each item has `kind:` (precheck, isolate, observe, validate or restore) and `steps:`".into())),
        }
    }
    let mut guardrails = vec![];
    if let Some(node) = rootm.get_node("guardrails") {
        match node.as_sequence() {
            Some(seq) => {
                for g in seq.iter() {
                    if let Some((step, f, e)) = build_step(&mut b, g, true) {
                        guardrails.push(Guardrail {
                            step,
                            for_: f.unwrap_or(NonNegative(Duration::ZERO)),
                            every: e.unwrap_or(Positive(Duration::from_secs(2))),
                        });
                    }
                }
            }
            None => b.at(
                pos_of(node.span()),
                "`guardrails` must be a list of checks",
                None,
            ),
        }
    }
    let mut metrics = vec![];
    if let Some(node) = rootm.get_node("metrics") {
        match node.as_mapping() {
            Some(m) => {
                for (k, v) in m.iter() {
                    let pos = pos_of(k.span());
                    let Some(raw) = b.de::<RawMetric>(v, &[]) else {
                        continue;
                    };
                    let source = match (raw.from, raw.to, raw.value) {
                        (Some(from), Some(to), None) => MetricSource::Between { from, to },
                        (None, None, Some(record)) => MetricSource::Value {
                            record,
                            unit: raw.unit,
                        },
                        _ => {
                            b.at(pos, format!("metric `{}` needs either `from:` and `to:` (markers) or `value:` (a recorded value)", k.as_str()), Some("for example `ttd: { from: isolated, to: alert_firing, target: \"<= 60s\" }`".into()));
                            continue;
                        }
                    };
                    if let Some(role) = raw.role
                        && let Some(other) =
                            metrics.iter().find(|m: &&MetricDef| m.role == Some(role))
                    {
                        b.at(pos, format!("metric `{}` has role `{role}`, which metric `{}` already has", k.as_str(), other.name), Some("each role (ttd, ttr, rto, rpo, catch_up, conflicts, lost_writes) names one metric of the drill: history and advice follow it".into()));
                    }
                    metrics.push(MetricDef {
                        name: k.as_str().to_string(),
                        source,
                        target: raw.target,
                        description: raw.description,
                        role: raw.role,
                        pos,
                    });
                }
            }
            None => b.at(
                pos_of(node.span()),
                "`metrics` must be a mapping of metric names",
                None,
            ),
        }
    }

    let header = header.unwrap_or(Header {
        name: None,
        description: None,
        hypothesis: None,
        owner: None,
        unattended: false,
        deadline: None,
        lease: None,
        notify: vec![],
        pushgateway: None,
        prometheus: None,
        alertmanager: None,
        aws: None,
        postgres: BTreeMap::new(),
        lag_budgets: None,
    });
    let mut playbook = Playbook {
        name: header.name.unwrap_or_default(),
        description: header.description,
        hypothesis: header.hypothesis,
        owner: header.owner,
        unattended: header.unattended,
        deadline: header.deadline,
        lease: header.lease.unwrap_or(Positive(Duration::from_secs(30))),
        notify: header.notify.into_iter().chain(env_notify).collect(),
        pushgateway: env_pushgateway.or(header.pushgateway),
        environment,
        vars: values,
        connections: Connections {
            prometheus: header.prometheus,
            alertmanager: header.alertmanager,
            aws: match (header.aws, env_aws) {
                (Some(p), Some(e)) => Some(p.overlay(&e)),
                (p, e) => p.or(e),
            },
            postgres: header.postgres,
        },
        phases,
        guardrails,
        metrics,
        lag_budgets: header.lag_budgets,
        path: file.clone(),
        hash,
        secrets: Default::default(),
    };
    if let Some(lb) = &playbook.lag_budgets {
        let pos = rootm
            .get_node("lag_budgets")
            .map_or(Pos { line: 1, col: 1 }, |n| pos_of(n.span()));
        if playbook.connections.prometheus.is_none() {
            b.at(
                pos,
                "`lag_budgets` reads Prometheus, but the playbook has no `prometheus:` connection",
                Some(
                    "add `prometheus: { url: http://HOST:9090 }` at the top of the playbook".into(),
                ),
            );
        }
        if lb.classes.is_empty() {
            b.at(
                pos,
                "`lag_budgets` lists no data class",
                Some(
                    "for example `classes: { credentials: { max_lag: 5s, action: alert } }`".into(),
                ),
            );
        }
    }
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

#[cfg(test)]
mod tests {
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
