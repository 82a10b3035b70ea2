//! Cross-cutting checks on a playbook that parsed, and the checks for
//! running it unattended.

use super::spec::Effect;
use super::*;

/// Cross-cutting checks on a playbook that parsed.
pub(super) fn validate(b: &mut Builder<'_>, pb: &Playbook) {
    check_manual_checks(b, pb);
    check_phase_order(b, pb);
    check_unique_names(b, pb);
    let (markers, records) = check_markers_and_steps(b, pb);
    check_metric_sources(b, pb, &markers, &records);
    check_effects(b, pb);
    for p in spec::prometheus::validate(pb) {
        b.problem(Pos::default(), p);
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

/// The unattended check of a manual step must be read-only.
fn check_manual_checks(b: &mut Builder<'_>, pb: &Playbook) {
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
}

/// Phase order follows the drill script; restore comes last.
fn check_phase_order(b: &mut Builder<'_>, pb: &Playbook) {
    let mut last: Option<PhaseKind> = None;
    for p in &pb.phases {
        if let Some(l) = last
            && (p.kind < l || (p.kind == l && matches!(l, PhaseKind::Restore | PhaseKind::Post)))
        {
            b.at(p.pos, format!("phase `{}` comes after `{}`", p.kind.as_str(), l.as_str()), Some("phases run in the order precheck, isolate, observe, validate, restore, post; there is at most one restore and one post phase".into()));
        }
        last = Some(p.kind);
    }
}

/// Unique step names.
fn check_unique_names(b: &mut Builder<'_>, pb: &Playbook) {
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
}

/// Markers set once each, and each step kind's own problems. Returns the
/// markers (where each is set) and the names of the recorded values.
fn check_markers_and_steps<'p>(
    b: &mut Builder<'_>,
    pb: &'p Playbook,
) -> (BTreeMap<&'p str, Pos>, BTreeSet<String>) {
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
        for p in s.spec.problems(pb) {
            let message = format!("step `{}`: {}", s.name, p.message);
            b.problem(s.pos, Problem { message, ..p });
        }
    }
    (markers, records)
}

/// Metrics use markers that some step sets and values that some step records.
fn check_metric_sources(
    b: &mut Builder<'_>,
    pb: &Playbook,
    markers: &BTreeMap<&str, Pos>,
    records: &BTreeSet<String>,
) {
    for m in &pb.metrics {
        match &m.source {
            MetricSource::Between { from, to } => {
                for marker in [from, to] {
                    if !markers.contains_key(marker.as_str()) {
                        let hint = suggest(marker, markers.keys().copied(), || {
                            format!("set it with `mark: {marker}` on the step that reaches it")
                        });
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
                    let hint = suggest(record, records.iter().map(|s| s.as_str()), || {
                        format!("add `record: {record}` to the step that measures it")
                    });
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
}

/// Effects: waits, watches and guardrails must be read-only; mutations need an undo.
fn check_effects(b: &mut Builder<'_>, pb: &Playbook) {
    let restore_steps: BTreeSet<&str> = pb
        .phases
        .iter()
        .filter(|p| p.kind == PhaseKind::Restore)
        .flat_map(|p| p.steps.iter().map(|s| s.name.as_str()))
        .collect();
    let mut mutating_so_far: BTreeSet<&str> = BTreeSet::new();
    for p in &pb.phases {
        check_read_only_parts(b, p);
        for s in &p.steps {
            check_step_effect(b, p, s, &restore_steps, &mut mutating_so_far);
        }
    }
}

/// Invariants and watches are read-only checks; the post phase changes nothing.
fn check_read_only_parts(b: &mut Builder<'_>, p: &Phase) {
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
}

/// One step of phase `p`: only checks are waited on; a change has an undo (or
/// is covered by a restore step); an `undo` step names an earlier change.
fn check_step_effect<'p>(
    b: &mut Builder<'_>,
    p: &Phase,
    s: &'p Step,
    restore_steps: &BTreeSet<&str>,
    mutating_so_far: &mut BTreeSet<&'p str>,
) {
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
                    let hint = suggest(&irr.covered_by, restore_steps.iter().copied(), || "name a step of the restore phase (often a manual step) that covers it".into());
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
            let hint = suggest(&u.of, mutating_so_far.iter().copied(), || {
                "name an earlier step that changes something, or `all`".into()
            });
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
