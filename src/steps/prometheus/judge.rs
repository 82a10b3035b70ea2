//! Judging series values against a condition (`expect`, `series`, `empty`)
//! and the labels and numbers shown in summaries.

use super::*;

/// `{region="eu-west-1"}`, without the metric name; empty for no labels.
pub fn labels_text(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

pub(super) fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// A series' labels and one of its values.
pub type Labelled<'a> = (&'a BTreeMap<String, String>, f64);

/// How a set of values measures up against a condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub ok: bool,
    /// The representative value: the worst series for `all`, a passing one for `any`.
    pub value: Option<f64>,
    pub summary: String,
}

/// Judge series values against `expect` under the `series` and `empty` rules.
/// NaN never holds.
pub fn judge(
    values: &[(&BTreeMap<String, String>, f64)],
    expect: &Comparison,
    series: SeriesRule,
    empty: EmptyRule,
) -> Verdict {
    if values.is_empty() {
        return match empty {
            EmptyRule::Fail => Verdict {
                ok: false,
                value: None,
                summary: "no series returned (`empty: fail`)".into(),
            },
            EmptyRule::Pass => Verdict {
                ok: true,
                value: None,
                summary: "no series returned (`empty: pass`)".into(),
            },
        };
    }
    let holding: Vec<bool> = values.iter().map(|(_, v)| expect.holds(*v)).collect();
    let n_ok = holding.iter().filter(|h| **h).count();
    let ok = match series {
        SeriesRule::All => n_ok == values.len(),
        SeriesRule::Any => n_ok > 0,
    };
    // The worst value for the condition: the largest for `<`, the smallest for `>`.
    let worst = |among: &mut dyn Iterator<Item = usize>| -> Option<usize> {
        let idx: Vec<usize> = among.collect();
        let key = |i: &usize| values[*i].1;
        match expect.op {
            Op::Lt | Op::Le => idx
                .iter()
                .copied()
                .max_by(|a, b| key(a).total_cmp(&key(b)).then(b.cmp(a))),
            Op::Gt | Op::Ge => idx
                .iter()
                .copied()
                .min_by(|a, b| key(a).total_cmp(&key(b)).then(a.cmp(b))),
            Op::Eq | Op::Ne => idx.first().copied(),
        }
    };
    let failing = || (0..values.len()).filter(|i| !holding[*i]);
    let pick = match (series, ok) {
        (SeriesRule::Any, true) => (0..values.len()).find(|i| holding[*i]),
        _ => worst(&mut failing()).or_else(|| worst(&mut (0..values.len()))),
    };
    let shown = pick.map(|i| {
        format!(
            "{}{}",
            fmt_num(values[i].1),
            match labels_text(values[i].0) {
                l if l.is_empty() => String::new(),
                l => format!(" {l}"),
            }
        )
    });
    let shown = shown.unwrap_or_default();
    let summary = if values.len() == 1 {
        if ok {
            format!("{shown} (holds {expect})")
        } else {
            format!("{shown} (expected {expect})")
        }
    } else {
        let rule = match series {
            SeriesRule::All => "all",
            SeriesRule::Any => "any",
        };
        let what = if ok && series == SeriesRule::Any {
            "holding"
        } else if ok {
            "worst"
        } else {
            "failing"
        };
        format!(
            "{n_ok} of {} series hold {expect} (`series: {rule}`); {what}: {shown}",
            values.len()
        )
    };
    Verdict {
        ok,
        value: pick.map(|i| values[i].1),
        summary,
    }
}
