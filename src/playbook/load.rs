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
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{Node, Span};
use serde::Deserialize;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Playbooks, environment files and sim configs are limited to this size.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Deepest nesting accepted (flow `[`/`{` levels, or indentation levels).
pub const MAX_DEPTH: usize = 64;

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "hypothesis",
    "owner",
    "unattended",
    "deadline",
    "lease",
    "notify",
    "pushgateway",
    "vars",
    "secrets",
    "prometheus",
    "alertmanager",
    "aws",
    "postgres",
    "phases",
    "guardrails",
    "metrics",
    "lag_budgets",
];
const STEP_COMMON: &[&str] = &[
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
const GUARD_EXTRA: &[&str] = &["for", "every"];

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

/// Read a YAML input file, refusing what no playbook can be.
pub fn read_source(path: &Path) -> Result<String, Diagnostic> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        let msg = if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".to_string()
        } else {
            format!("cannot read the file: {e}")
        };
        Diagnostic::file(&file, msg).with_hint("check the path")
    })?;
    if meta.is_dir() {
        return Err(Diagnostic::file(&file, "is a directory, not a file")
            .with_hint("name a YAML file, such as drills/examples/hello.yaml"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::file(
            &file,
            format!("is {} bytes; files are limited to 1 MiB", meta.len()),
        )
        .with_hint("split the drill into several playbooks"));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Diagnostic::file(&file, format!("cannot read the file: {e}")))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let good = String::from_utf8_lossy(good);
            let line = good.matches('\n').count() + 1;
            let col = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let bad = e.as_bytes()[e.utf8_error().valid_up_to()];
            let src = String::from_utf8_lossy(e.as_bytes()).into_owned();
            return Err(Diagnostic::at(
                &file,
                &src,
                line,
                col,
                format!("is not valid UTF-8 (byte 0x{bad:02x})"),
            )
            .with_hint("save the file as UTF-8"));
        }
    };
    if text.trim().is_empty() {
        return Err(Diagnostic::file(&file, "is empty")
            .with_hint("a playbook needs at least `name:` and `phases:`"));
    }
    Ok(text)
}

/// Parse YAML text into a node tree with positions; rejects tabs used for
/// indentation, duplicate keys, tags and nesting deeper than [`MAX_DEPTH`].
/// Anchors, aliases and merge keys are expanded, bounded in size
/// (`super::yaml`).
pub fn parse_yaml(file: &str, src: &str) -> Result<Node, Diagnostic> {
    check_shape(file, src)?;
    super::yaml::parse(file, src)
}

fn check_shape(file: &str, src: &str) -> Result<(), Diagnostic> {
    let mut flow_depth = 0usize;
    for (i, line) in src.lines().enumerate() {
        let indent: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if let Some(tab) = indent.find('\t') {
            return Err(
                Diagnostic::at(file, src, i + 1, tab + 1, "tab character in indentation")
                    .with_hint("YAML indents with spaces; replace the tab with spaces"),
            );
        }
        if indent.len() > MAX_DEPTH * 4 {
            return Err(Diagnostic::at(file, src, i + 1, 1, "nesting is too deep")
                .with_hint(format!("playbooks nest at most {MAX_DEPTH} levels")));
        }
        let (mut single, mut double) = (false, false);
        for (j, c) in line.chars().enumerate() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '#' if !single && !double => break,
                '[' | '{' if !single && !double => {
                    flow_depth += 1;
                    if flow_depth > MAX_DEPTH {
                        return Err(
                            Diagnostic::at(file, src, i + 1, j + 1, "nesting is too deep")
                                .with_hint(format!("playbooks nest at most {MAX_DEPTH} levels")),
                        );
                    }
                }
                ']' | '}' if !single && !double => flow_depth = flow_depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Collects diagnostics while building the model.
struct Builder<'a> {
    file: &'a str,
    src: &'a str,
    diags: Vec<Diagnostic>,
}

fn pos_of(span: &Span) -> Pos {
    span.start()
        .map(|m| Pos {
            line: m.line(),
            col: m.column(),
        })
        .unwrap_or_default()
}

impl Builder<'_> {
    fn at(&mut self, pos: Pos, msg: impl Into<String>, hint: Option<String>) {
        let mut d = Diagnostic::at(self.file, self.src, pos.line, pos.col, msg);
        d.hint = hint;
        self.diags.push(d);
    }

    /// Deserialize `node` into `T`, turning errors into diagnostics.
    fn de<T: for<'de> Deserialize<'de>>(&mut self, node: &Node, extra: &[&str]) -> Option<T> {
        match marked_yaml::from_node::<T>(node) {
            Ok(v) => Some(v),
            Err(e) => {
                self.node_error(&e, node, extra, None);
                None
            }
        }
    }

    /// A deserialization error as a diagnostic at the offending key or value.
    /// `kind` names the step kind when the node is a step's own fields.
    fn node_error(
        &mut self,
        e: &marked_yaml::FromNodeError,
        node: &Node,
        extra: &[&str],
        kind: Option<&str>,
    ) {
        use marked_yaml::Error as E;
        let pos = e
            .start_mark()
            .map(|m| Pos {
                line: m.line(),
                col: m.column(),
            })
            .filter(|p| p.line > 0)
            .unwrap_or_else(|| pos_of(node.span()));
        let in_kind = kind
            .map(|k| format!(" (in a `{k}` step)"))
            .unwrap_or_default();
        let (msg, hint) = match &**e {
            E::UnknownFieldError(field, expected, _) => {
                let all: Vec<&str> = expected
                    .iter()
                    .copied()
                    .chain(extra.iter().copied())
                    .collect();
                let hint = match (did_you_mean(field, all.iter().copied()), kind) {
                    (Some(s), _) => format!("did you mean `{s}`?"),
                    (None, Some(k)) => format!("`{k}` steps take: {}", all.join(", ")),
                    (None, None) => format!("expected one of: {}", all.join(", ")),
                };
                let what = kind
                    .map(|k| format!(" for a `{k}` step"))
                    .unwrap_or_default();
                (format!("unknown field `{field}`{what}"), Some(hint))
            }
            E::NotBoolean(_) => ("expected `true` or `false`".to_string(), None),
            E::IntegerParseFailure(err, _) => (format!("expected a whole number ({err})"), None),
            E::FloatParseFailure(_, _) => ("expected a number".to_string(), None),
            E::Other(m, _) => (format!("{m}{in_kind}"), None),
            #[allow(unreachable_patterns)]
            other => (other.to_string(), None),
        };
        self.at(pos, msg, hint);
    }

    fn check_keys(&mut self, m: &MarkedMappingNode, allowed: &[&str], what: &str) {
        for k in m.keys() {
            if !allowed.contains(&k.as_str()) && !is_extension(k.as_str()) {
                let hint = match did_you_mean(k.as_str(), allowed.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("{what} keys are: {}", allowed.join(", ")),
                };
                self.at(
                    pos_of(k.span()),
                    format!("unknown {what} key `{}`", k.as_str()),
                    Some(hint),
                );
            }
        }
    }
}

/// Top-level keys starting with `x-` are the playbook's own (a place for
/// YAML anchors to be defined once and used with `*name` and `<<: *name`).
pub(crate) fn is_extension(key: &str) -> bool {
    key.starts_with("x-")
}

fn subset(m: &MarkedMappingNode, keep: impl Fn(&str) -> bool) -> Node {
    let mut out = MarkedMappingNode::new_empty(*m.span());
    for (k, v) in m.iter() {
        if keep(k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    Node::from(out)
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

fn resolve(
    r: Ref<'_>,
    values: &BTreeMap<String, String>,
    declared: &BTreeMap<String, (Option<String>, Pos)>,
    secrets: &BTreeMap<String, Option<String>>,
) -> Result<String, (String, Option<String>)> {
    match r {
        Ref::Var(n) => match values.get(n) {
            Some(v) => Ok(v.clone()),
            None if declared.contains_key(n) => Err((
                format!("var `{n}` has no value"),
                Some(format!(
                    "give it a default under `vars:`, set it in the --env file, or pass --var {n}=VALUE"
                )),
            )),
            None => Err((
                format!("undefined var `{n}`"),
                Some(match did_you_mean(n, declared.keys().map(|s| s.as_str())) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("declare it under `vars:` or pass --var {n}=VALUE"),
                }),
            )),
        },
        Ref::Env(n) => std::env::var(n).map_err(|_| {
            (
                format!("environment variable `{n}` is not set"),
                Some(format!("export {n}=... before running")),
            )
        }),
        Ref::Secret(n) => match secrets.get(n) {
            Some(Some(v)) => Ok(v.clone()),
            Some(None) => Ok(format!("<secret:{n}>")),
            None => Err((
                format!("undefined secret `{n}`"),
                Some(format!(
                    "declare it under `secrets:` as `{n}: {{ env: VAR }}` or `{{ file: PATH }}`"
                )),
            )),
        },
    }
}

/// Column offset (in characters) of byte `offset` within the single-line
/// scalar starting at `pos`.
fn text_col(src: &str, pos: Pos, offset: usize) -> usize {
    src.lines()
        .nth(pos.line.saturating_sub(1))
        .and_then(|l| l.get(pos.col.saturating_sub(1)..))
        .map_or(offset, |rest| {
            let rest = rest.trim_start_matches(['"', '\'']);
            rest.get(..offset.min(rest.len()))
                .map_or(offset, |p| p.chars().count())
        })
}

type InterpResult = Result<String, (Pos, interp::InterpError)>;

/// A secret in a shell step's `argv` would be readable by every local user
/// in `/proc/PID/cmdline` while the command runs: refused, with the way to
/// pass it through the environment instead.
fn refuse_secrets_in_argv(b: &mut Builder<'_>, node: &Node) {
    match node {
        Node::Mapping(m) => {
            let is_shell = m.get_scalar("kind").is_some_and(|k| k.as_str() == "shell");
            if is_shell {
                let undo_argv = m.get_mapping("undo").and_then(|u| u.get_node("argv"));
                for argv in [m.get_node("argv"), undo_argv].into_iter().flatten() {
                    let Some(seq) = argv.as_sequence() else {
                        continue;
                    };
                    for arg in seq.iter().filter_map(|a| a.as_scalar()) {
                        let Some(at) = arg.as_str().find("${secret.") else {
                            continue;
                        };
                        let name: String = arg.as_str()[at + 9..]
                            .chars()
                            .take_while(|c| *c != '}')
                            .collect();
                        b.at(
                            pos_of(arg.span()),
                            format!(
                                "secret `{name}` in a shell step's `argv`: other local users can read a command line in /proc/PID/cmdline"
                            ),
                            Some(format!(
                                "pass it through the environment: `env: {{ {}: \"${{secret.{name}}}\" }}`, read by the program or by a `script:` as \"${}\" (secrets also reach commands as environment variables under their own name)",
                                name.to_uppercase().replace('-', "_"),
                                name.to_uppercase().replace('-', "_")
                            )),
                        );
                    }
                }
            }
            for (_, v) in m.iter() {
                refuse_secrets_in_argv(b, v);
            }
        }
        Node::Sequence(seq) => seq.iter().for_each(|v| refuse_secrets_in_argv(b, v)),
        Node::Scalar(_) => {}
    }
}

fn interpolate_node(
    node: &mut Node,
    f: &mut dyn FnMut(Pos, &str) -> InterpResult,
    diags: &mut Vec<(Pos, interp::InterpError, bool)>,
) {
    match node {
        Node::Scalar(s) => {
            if !s.as_str().contains('$') {
                return;
            }
            let pos = pos_of(s.span());
            match f(pos, s.as_str()) {
                Ok(v) => *s = MarkedScalarNode::new(*s.span(), v),
                Err((p, e)) => diags.push((p, e, false)),
            }
        }
        Node::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                if k.as_str() == "script" {
                    continue;
                }
                interpolate_node(v, f, diags);
            }
        }
        Node::Sequence(seq) => {
            for v in seq.iter_mut() {
                interpolate_node(v, f, diags);
            }
        }
    }
}

fn build_phase(b: &mut Builder<'_>, node: &Node) -> Option<Phase> {
    let Some(m) = node.as_mapping() else {
        b.at(
            pos_of(node.span()),
            "a phase must be a mapping with `kind:` and `steps:`",
            None,
        );
        return None;
    };
    let pos = pos_of(m.span());
    let header: PhaseHeader = b.de(
        &subset(m, |k| !matches!(k, "steps" | "watches" | "invariants")),
        &["steps", "watches", "invariants"],
    )?;
    let Some(kind) = PhaseKind::parse(&header.kind) else {
        let kpos = m.get_node("kind").map(|n| pos_of(n.span())).unwrap_or(pos);
        let hint = match did_you_mean(&header.kind, PhaseKind::NAMES.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("phase kinds are: {}", PhaseKind::NAMES.join(", ")),
        };
        b.at(
            kpos,
            format!("unknown phase kind `{}`", header.kind),
            Some(hint),
        );
        return None;
    };
    let mut steps = vec![];
    let mut watches = vec![];
    for (key, out) in [("steps", &mut steps), ("watches", &mut watches)] {
        if let Some(n) = m.get_node(key) {
            match n.as_sequence() {
                Some(seq) => {
                    for s in seq.iter() {
                        if let Some((st, _, _)) = build_step(b, s, false) {
                            out.push(st);
                        }
                    }
                }
                None => b.at(
                    pos_of(n.span()),
                    format!("`{key}` must be a list of steps"),
                    None,
                ),
            }
        }
    }
    let mut invariants = vec![];
    if let Some(n) = m.get_node("invariants") {
        match n.as_sequence() {
            Some(seq) => {
                for s in seq.iter() {
                    if let Some((step, f, e)) = build_step(b, s, true) {
                        invariants.push(Invariant {
                            step,
                            for_: f.unwrap_or(NonNegative(Duration::ZERO)),
                            every: e.unwrap_or(Positive(Duration::from_secs(2))),
                        });
                    }
                }
            }
            None => b.at(
                pos_of(n.span()),
                "`invariants` must be a list of read-only checks",
                Some("each item is a step such as `{ name: ..., kind: prometheus, expr: ..., expect: ... }`".into()),
            ),
        }
    }
    if header.hold.is_none() && !invariants.is_empty() {
        b.at(
            pos,
            "a phase with `invariants:` needs `hold:`",
            Some(
                "invariants are checked during the observation window, such as `hold: 20m`".into(),
            ),
        );
    }
    Some(Phase {
        kind,
        name: header.name.unwrap_or_else(|| kind.as_str().to_string()),
        budget: header.budget,
        over_budget: header.over_budget.unwrap_or_default(),
        hold: header.hold,
        invariants,
        on_failure: header.on_failure.unwrap_or(kind.default_on_failure()),
        steps,
        watches,
        pos,
    })
}

fn build_step(
    b: &mut Builder<'_>,
    node: &Node,
    guard: bool,
) -> Option<(Step, Option<NonNegative>, Option<Positive>)> {
    let Some(m) = node.as_mapping() else {
        b.at(
            pos_of(node.span()),
            "a step must be a mapping with `name:` and `kind:`",
            None,
        );
        return None;
    };
    let pos = pos_of(m.span());
    let is_common = |k: &str| STEP_COMMON.contains(&k) || (guard && GUARD_EXTRA.contains(&k));
    let Some(kind_node) = m.get_scalar("kind") else {
        b.at(
            pos,
            "step has no `kind`",
            Some(format!("step kinds are: {}", spec::KINDS.join(", "))),
        );
        return None;
    };
    let kind = kind_node.as_str().to_string();
    let mut rest = subset(m, |k| !is_common(k));
    // `unattended: { check: STEP }` of a manual step: a nested step, built
    // like any other; the spec sees `unattended: check`.
    let mut check_step = None;
    if kind == "manual"
        && let Some(u) = m.get_node("unattended")
        && let Some(um) = u.as_mapping()
    {
        b.check_keys(um, &["check"], "`unattended`");
        match um.get_node("check") {
            Some(c) => check_step = build_step(b, c, false).map(|(s, _, _)| Box::new(s)),
            None => b.at(
                pos_of(um.span()),
                "`unattended` is `confirm`, `refuse` or `check: STEP`",
                None,
            ),
        }
        if let Some(rm) = rest.as_mapping() {
            let mut rm = rm.clone();
            rm.insert(
                MarkedScalarNode::new(*um.span(), "unattended"),
                Node::from(MarkedScalarNode::new(*um.span(), "check")),
            );
            rest = Node::from(rm);
        }
    }
    let extra: Vec<&str> = STEP_COMMON
        .iter()
        .chain(if guard { GUARD_EXTRA } else { &[] })
        .copied()
        .collect();
    let spec = match StepSpec::from_node(&kind, &rest) {
        None => {
            let hint = match did_you_mean(&kind, spec::KINDS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("step kinds are: {}", spec::KINDS.join(", ")),
            };
            b.at(
                pos_of(kind_node.span()),
                format!("unknown step kind `{kind}`"),
                Some(hint),
            );
            None
        }
        Some(Ok(StepSpec::Manual(mut ms))) => {
            ms.check = check_step;
            Some(StepSpec::Manual(ms))
        }
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            b.node_error(&e, &rest, &extra, Some(&kind));
            None
        }
    };
    let common: StepCommon = b.de(&subset(m, is_common), &[])?;
    let spec = spec?;
    let Some(name) = common.name.filter(|n| !n.trim().is_empty()) else {
        b.at(
            pos,
            "step has no `name`",
            Some("every step needs a name: reports and `undo` steps refer to it".into()),
        );
        return None;
    };
    Some((
        Step {
            name,
            spec,
            timeout: common.timeout.unwrap_or(Positive(Duration::from_secs(30))),
            retries: common.retries.unwrap_or(0),
            backoff: common.backoff.unwrap_or(Positive(Duration::from_secs(1))),
            mark: common.mark,
            record: common.record,
            wait: common.wait,
            irreversible: common.irreversible,
            pos,
        },
        common.for_,
        common.every,
    ))
}

/// Cross-cutting checks on a playbook that parsed.
fn validate(b: &mut Builder<'_>, pb: &Playbook) {
    for (_, s) in pb.all_steps() {
        if let StepSpec::Manual(m) = &s.spec
            && let Some(c) = &m.check
            && c.spec.effect() != spec::Effect::ReadOnly
        {
            b.at(
                c.pos,
                format!(
                    "the unattended check of manual step `{}` is a `{}` step; it must be a read-only check",
                    s.name,
                    c.spec.kind()
                ),
                Some("use a check such as `http` (GET), `prometheus`, `postgres-query` or a `shell` step with `read_only: true`".into()),
            );
        }
    }
    use super::spec::Effect;
    // Phase order follows the drill script; restore comes last.
    let mut last: Option<PhaseKind> = None;
    for p in &pb.phases {
        if let Some(l) = last
            && (p.kind < l || (p.kind == l && matches!(l, PhaseKind::Restore | PhaseKind::Post)))
        {
            b.at(p.pos, format!("phase `{}` comes after `{}`", p.kind.as_str(), l.as_str()), Some("phases run in the order precheck, isolate, observe, validate, restore, post; there is at most one restore and one post phase".into()));
        }
        last = Some(p.kind);
    }
    // Unique step names.
    let mut names: BTreeMap<&str, Pos> = BTreeMap::new();
    for (_, s) in pb.all_steps() {
        if let Some(first) = names.insert(&s.name, s.pos) {
            b.at(
                s.pos,
                format!("step name `{}` is used twice", s.name),
                Some(format!(
                    "it is first used on line {}; step names must be unique",
                    first.line
                )),
            );
        }
    }
    // Markers and recorded values.
    let mut markers: BTreeMap<&str, Pos> = BTreeMap::new();
    let mut records: BTreeSet<String> = BTreeSet::new();
    for (_, s) in pb.all_steps() {
        if let Some(m) = &s.mark
            && let Some(first) = markers.insert(m, s.pos)
        {
            b.at(
                s.pos,
                format!("marker `{m}` is set twice"),
                Some(format!(
                    "it is already set by the step on line {}",
                    first.line
                )),
            );
        }
        if let Some(r) = &s.record {
            records.extend(s.spec.recorded_names(r));
        }
        for (msg, hint) in s.spec.problems(pb) {
            b.at(s.pos, format!("step `{}`: {msg}", s.name), hint);
        }
    }
    for m in &pb.metrics {
        match &m.source {
            MetricSource::Between { from, to } => {
                for marker in [from, to] {
                    if !markers.contains_key(marker.as_str()) {
                        let hint = match did_you_mean(marker, markers.keys().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => {
                                format!("set it with `mark: {marker}` on the step that reaches it")
                            }
                        };
                        b.at(
                            m.pos,
                            format!(
                                "metric `{}` uses marker `{marker}`, which no step sets",
                                m.name
                            ),
                            Some(hint),
                        );
                    }
                }
            }
            MetricSource::Value { record, .. } => {
                if !records.contains(record.as_str()) {
                    let hint = match did_you_mean(record, records.iter().map(|s| s.as_str())) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("add `record: {record}` to the step that measures it"),
                    };
                    b.at(
                        m.pos,
                        format!(
                            "metric `{}` uses value `{record}`, which no step records",
                            m.name
                        ),
                        Some(hint),
                    );
                }
            }
        }
    }
    // Effects: waits, watches and guardrails must be read-only; mutations need an undo.
    let restore_steps: BTreeSet<&str> = pb
        .phases
        .iter()
        .filter(|p| p.kind == PhaseKind::Restore)
        .flat_map(|p| p.steps.iter().map(|s| s.name.as_str()))
        .collect();
    let mut mutating_so_far: BTreeSet<&str> = BTreeSet::new();
    for p in &pb.phases {
        for i in &p.invariants {
            if i.step.spec.effect() != Effect::ReadOnly {
                b.at(
                    i.step.pos,
                    format!(
                        "invariant `{}` is a `{}` step; invariants must be read-only checks",
                        i.step.name,
                        i.step.spec.kind()
                    ),
                    None,
                );
            }
        }
        if p.kind == PhaseKind::Post {
            for s in p
                .steps
                .iter()
                .filter(|s| matches!(s.spec.effect(), Effect::Mutating { .. }))
            {
                b.at(
                    s.pos,
                    format!(
                        "step `{}` is a `{}` step that changes something; the post phase only checks",
                        s.name,
                        s.spec.kind()
                    ),
                    Some("the post phase runs after restoration: move changes to an earlier phase and undos to the restore phase, or use a read-only check here".into()),
                );
            }
        }
        for w in &p.watches {
            if w.spec.effect() != Effect::ReadOnly {
                b.at(
                    w.pos,
                    format!(
                        "watch `{}` is a `{}` step; watches must be read-only checks",
                        w.name,
                        w.spec.kind()
                    ),
                    None,
                );
            }
            if w.wait.is_none() {
                b.at(w.pos, format!("watch `{}` has no `wait:`", w.name), Some("say how often and how long to check, such as `wait: { every: 1s, timeout: 5m }`".into()));
            }
        }
        for s in &p.steps {
            let effect = s.spec.effect();
            if s.wait.is_some() && effect != Effect::ReadOnly {
                b.at(
                    s.pos,
                    format!(
                        "step `{}` cannot be waited on: only read-only checks can",
                        s.name
                    ),
                    Some("remove `wait:`, or use a check step".into()),
                );
            }
            if let Effect::Mutating { has_undo } = effect
                && !matches!(p.kind, PhaseKind::Restore | PhaseKind::Post)
            {
                mutating_so_far.insert(&s.name);
                match (&s.irreversible, has_undo) {
                        (None, false) => b.at(s.pos, format!("step `{}` changes something and has no undo", s.name), Some("add `undo:` with the command that reverses it, mark it `read_only: true` if it changes nothing, or declare `irreversible: { reason: ..., covered_by: <restore step> }`".into())),
                        (Some(irr), _) if !restore_steps.contains(irr.covered_by.as_str()) => {
                            let hint = match did_you_mean(&irr.covered_by, restore_steps.iter().copied()) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => "name a step of the restore phase (often a manual step) that covers it".into(),
                            };
                            b.at(s.pos, format!("step `{}` is irreversible but `covered_by: {}` is not a restore-phase step", s.name, irr.covered_by), Some(hint));
                        }
                        _ => {}
                    }
            }
            if let StepSpec::Undo(u) = &s.spec {
                if p.kind != PhaseKind::Restore {
                    b.at(
                        s.pos,
                        format!("`undo` step `{}` is outside the restore phase", s.name),
                        Some("move it to the restore phase".into()),
                    );
                } else if u.of != "all" && !mutating_so_far.contains(u.of.as_str()) {
                    let hint = match did_you_mean(&u.of, mutating_so_far.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "name an earlier step that changes something, or `all`".into(),
                    };
                    b.at(
                        s.pos,
                        format!(
                            "`undo` step `{}` names `{}`, which is not an earlier mutating step",
                            s.name, u.of
                        ),
                        Some(hint),
                    );
                }
            }
        }
    }
    for (pos, msg, hint) in spec::prometheus::validate(pb) {
        b.at(pos, msg, hint);
    }
    for g in &pb.guardrails {
        if g.step.spec.effect() != Effect::ReadOnly {
            b.at(
                g.step.pos,
                format!(
                    "guardrail `{}` is a `{}` step; guardrails must be read-only checks",
                    g.step.name,
                    g.step.spec.kind()
                ),
                None,
            );
        }
    }
}

impl Loaded {
    /// Problems with running this playbook unattended (no TTY, or
    /// `--non-interactive`), decided per manual step by its `unattended:`
    /// rule: `refuse` refuses the run; `check:` needs nothing; `confirm` (or
    /// no rule) needs `unattended: true` in the playbook and `--yes`. A
    /// manual step in the restore phase must say which rule applies: there,
    /// a blind confirmation can leave production half-restored.
    pub fn check_unattended(&self, yes: bool) -> Vec<Diagnostic> {
        use spec::manual::UnattendedRule;
        let pb = &self.playbook;
        let mut out = vec![];
        for (phase, s) in pb.all_steps() {
            let StepSpec::Manual(m) = &s.spec else {
                continue;
            };
            let needs = format!(
                "manual step `{}` needs a person, and this run is unattended",
                s.name
            );
            let restoring = phase.is_some_and(|p| p.kind == PhaseKind::Restore);
            let (msg, hint) = match m.unattended {
                Some(UnattendedRule::Refuse) => (
                    format!(
                        "manual step `{}` says `unattended: refuse`: this drill cannot run unattended",
                        s.name
                    ),
                    "run it from a terminal with someone to answer; nothing was changed".to_string(),
                ),
                Some(UnattendedRule::Check) => continue,
                None if restoring => (
                    format!(
                        "manual step `{}` in the restore phase has no `unattended:` rule",
                        s.name
                    ),
                    "say what happens when nobody is there: `unattended: confirm` (--yes stands for the person), `refuse`, or `unattended: { check: STEP }` with a read-only step that proves it was done".to_string(),
                ),
                _ if !pb.unattended => (
                    needs,
                    "run it from a terminal, or set `unattended: true` in the playbook if the step may be confirmed automatically, and pass --yes".to_string(),
                ),
                _ if !yes => (
                    needs,
                    "pass --yes to confirm manual steps automatically (the journal records that they were)".to_string(),
                ),
                _ if m.input.is_some() && m.default.is_none() => (
                    format!(
                        "manual step `{}` asks for an answer and has no `default` for unattended runs",
                        s.name
                    ),
                    "add `default:` with the answer to record when nobody is there".to_string(),
                ),
                _ => continue,
            };
            out.push(
                Diagnostic::at(&pb.path, &self.source, s.pos.line, s.pos.col, msg).with_hint(hint),
            );
        }
        out
    }
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
