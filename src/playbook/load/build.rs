//! Building the typed model from the positioned node tree: the diagnostics
//! collector (`Builder`), phases and steps with their common fields.

use super::*;

pub(super) const TOP_KEYS: &[&str] = &[
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

/// Collects diagnostics while building the model.
pub(super) struct Builder<'a> {
    pub(super) file: &'a str,
    pub(super) src: &'a str,
    pub(super) diags: Vec<Diagnostic>,
}

pub(super) fn pos_of(span: &Span) -> Pos {
    span.start()
        .map(|m| Pos {
            line: m.line(),
            col: m.column(),
        })
        .unwrap_or_default()
}

impl Builder<'_> {
    pub(super) fn at(&mut self, pos: Pos, msg: impl Into<String>, hint: Option<String>) {
        self.problem(pos, Problem::at(pos, msg).maybe_hint(hint));
    }

    /// A problem found by a check, at its own position or else at `default`.
    pub(super) fn problem(&mut self, default: Pos, p: Problem) {
        self.diags.push(p.diagnostic(self.file, self.src, default));
    }

    /// Deserialize `node` into `T`, turning errors into diagnostics.
    pub(super) fn de<T: for<'de> Deserialize<'de>>(
        &mut self,
        node: &Node,
        extra: &[&str],
    ) -> Option<T> {
        match crate::playbook::node_de::from_node::<T>(node) {
            Ok(v) => Some(v),
            Err(e) => {
                self.node_error(&e, node, extra, None);
                None
            }
        }
    }

    /// A deserialization error as a diagnostic at the offending key or value.
    /// `kind` names the step kind when the node is a step's own fields.
    pub(super) fn node_error(
        &mut self,
        e: &marked_yaml::Error,
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
        let (msg, hint) = match e {
            E::UnknownFieldError(field, expected, _) => {
                let all: Vec<&str> = expected
                    .iter()
                    .copied()
                    .chain(extra.iter().copied())
                    .collect();
                let hint = suggest(field, all.iter().copied(), || match kind {
                    Some(k) => format!("`{k}` steps take: {}", all.join(", ")),
                    None => format!("expected one of: {}", all.join(", ")),
                });
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

    pub(super) fn check_keys(&mut self, m: &MarkedMappingNode, allowed: &[&str], what: &str) {
        for k in m.keys() {
            if !allowed.contains(&k.as_str()) && !is_extension(k.as_str()) {
                let hint = suggest(k.as_str(), allowed.iter().copied(), || {
                    format!("{what} keys are: {}", allowed.join(", "))
                });
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

pub(super) fn subset(m: &MarkedMappingNode, keep: impl Fn(&str) -> bool) -> Node {
    let mut out = MarkedMappingNode::new_empty(*m.span());
    for (k, v) in m.iter() {
        if keep(k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    Node::from(out)
}

pub(super) fn build_phase(b: &mut Builder<'_>, node: &Node) -> Option<Phase> {
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
        let hint = suggest(&header.kind, PhaseKind::NAMES.iter().copied(), || {
            format!("phase kinds are: {}", PhaseKind::NAMES.join(", "))
        });
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
            Some(seq) => invariants.extend(
                build_polled(b, seq).map(|(step, for_, every)| Invariant { step, for_, every }),
            ),
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

pub(super) fn build_step(
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
    let is_common = |k: &str| STEP_FIELDS.contains(&k) || (guard && GUARD_FIELDS.contains(&k));
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
    let extra: Vec<&str> = STEP_FIELDS
        .iter()
        .chain(if guard { GUARD_FIELDS } else { &[] })
        .copied()
        .collect();
    let spec = match StepSpec::from_node(&kind, &rest) {
        None => {
            let hint = suggest(&kind, spec::KINDS.iter().copied(), || {
                format!("step kinds are: {}", spec::KINDS.join(", "))
            });
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

/// `phases:`, a non-empty list.
pub(super) fn build_phases(b: &mut Builder<'_>, rootm: &MarkedMappingNode) -> Vec<Phase> {
    let Some(node) = rootm.get_node("phases") else {
        return vec![];
    };
    match node.as_sequence() {
        Some(seq) if !seq.is_empty() => seq.iter().filter_map(|p| build_phase(b, p)).collect(),
        _ => {
            b.at(
                pos_of(node.span()),
                "`phases` must be a non-empty list",
                Some("each item has `kind:` (precheck, isolate, observe, validate or restore) and `steps:`".into()),
            );
            vec![]
        }
    }
}

/// `guardrails:`, a list of checks polled from the first mutation on.
pub(super) fn build_guardrails(b: &mut Builder<'_>, rootm: &MarkedMappingNode) -> Vec<Guardrail> {
    let Some(node) = rootm.get_node("guardrails") else {
        return vec![];
    };
    match node.as_sequence() {
        Some(seq) => build_polled(b, seq)
            .map(|(step, for_, every)| Guardrail { step, for_, every })
            .collect(),
        None => {
            b.at(
                pos_of(node.span()),
                "`guardrails` must be a list of checks",
                None,
            );
            vec![]
        }
    }
}

/// Steps polled on a schedule (guardrails, invariants): each with its
/// `for:` (default 0s) and `every:` (default 2s).
fn build_polled(
    b: &mut Builder<'_>,
    seq: &[Node],
) -> std::vec::IntoIter<(Step, NonNegative, Positive)> {
    let built: Vec<_> = seq
        .iter()
        .filter_map(|s| build_step(b, s, true))
        .map(|(step, f, e)| {
            (
                step,
                f.unwrap_or(NonNegative(Duration::ZERO)),
                e.unwrap_or(Positive(Duration::from_secs(2))),
            )
        })
        .collect();
    built.into_iter()
}

/// `metrics:`, a mapping of names to durations between markers or recorded
/// values; each role names one metric at most.
pub(super) fn build_metrics(b: &mut Builder<'_>, rootm: &MarkedMappingNode) -> Vec<MetricDef> {
    let mut metrics: Vec<MetricDef> = vec![];
    let Some(node) = rootm.get_node("metrics") else {
        return metrics;
    };
    let Some(m) = node.as_mapping() else {
        b.at(
            pos_of(node.span()),
            "`metrics` must be a mapping of metric names",
            None,
        );
        return metrics;
    };
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
            && let Some(other) = metrics.iter().find(|m| m.role == Some(role))
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
    metrics
}
