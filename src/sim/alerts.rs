//! Alert rules evaluated inside the simulator, with Prometheus semantics.
//!
//! The rules are the ones shipped in `drills/sim/rules.yml` (embedded at
//! compile time), so a real Prometheus loading that file fires the same alerts.
//! Each rule's `expr` is a threshold on an exported gauge,
//! `<metric> <op> <number>`; every evaluation compares each series of the
//! metric with the threshold. A series that matches becomes a *pending* alert
//! with `activeAt` = that evaluation's time; once it has matched for the
//! rule's `for:` it becomes *firing*; a series that stops matching is dropped
//! (resolved), as in Prometheus.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use super::metrics::Sample;

/// The shipped rules file, the single source of the simulator's alerts.
pub const RULES_YAML: &str = include_str!("../../drills/sim/rules.yml");

/// The rule group name, as in `rules.yml`.
pub const GROUP_NAME: &str = "gameday-sim";

/// Comparison of a rule expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Cmp {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
        }
    }
}

/// One alerting rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// The expression text, as in the rules file.
    pub expr: String,
    pub metric: String,
    pub cmp: Cmp,
    pub threshold: f64,
    pub for_: Duration,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Pending or firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One active alert (a series of a rule that currently matches).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Index of the rule in [`rules`].
    pub rule: usize,
    /// `alertname`, the series' labels and the rule's labels.
    pub labels: BTreeMap<String, String>,
    pub state: AlertState,
    /// Unix ms of the evaluation at which the series first matched.
    pub active_at: i64,
    /// Unix ms of the evaluation at which it became firing.
    pub fired_at: Option<i64>,
    pub value: f64,
}

/// The rules of `rules.yml`, parsed once.
pub fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| parse_rules(RULES_YAML).unwrap_or_default())
}

/// Names of all rules.
pub fn rule_names() -> Vec<&'static str> {
    rules().iter().map(|r| r.name.as_str()).collect()
}

/// Parse a Prometheus rules file restricted to `<gauge> <op> <number>` exprs.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let root = crate::playbook::load::parse_yaml("rules.yml", text).map_err(|d| d.to_string())?;
    let groups = root
        .as_mapping()
        .and_then(|m| m.get_sequence("groups"))
        .ok_or("no `groups` list")?;
    let mut out = Vec::new();
    for g in groups.iter() {
        let rules = g
            .as_mapping()
            .and_then(|m| m.get_sequence("rules"))
            .ok_or("group without `rules`")?;
        for r in rules.iter() {
            let m = r.as_mapping().ok_or("rule is not a mapping")?;
            let name = m
                .get_scalar("alert")
                .ok_or("rule without `alert`")?
                .as_str()
                .to_string();
            let expr = m
                .get_scalar("expr")
                .ok_or("rule without `expr`")?
                .as_str()
                .to_string();
            let (metric, cmp, threshold) =
                parse_expr(&expr).ok_or_else(|| format!("unsupported expr `{expr}`"))?;
            let for_ = match m.get_scalar("for") {
                Some(s) => humantime::parse_duration(s.as_str()).map_err(|e| e.to_string())?,
                None => Duration::ZERO,
            };
            let strings = |key: &str| -> BTreeMap<String, String> {
                m.get_mapping(key)
                    .map(|mm| {
                        mm.iter()
                            .filter_map(|(k, v)| {
                                v.as_scalar()
                                    .map(|s| (k.as_str().to_string(), s.as_str().to_string()))
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            out.push(Rule {
                name,
                expr,
                metric,
                cmp,
                threshold,
                for_,
                labels: strings("labels"),
                annotations: strings("annotations"),
            });
        }
    }
    Ok(out)
}

fn parse_expr(expr: &str) -> Option<(String, Cmp, f64)> {
    let mut it = expr.split_whitespace();
    let metric = it.next()?.to_string();
    let cmp = match it.next()? {
        ">" => Cmp::Gt,
        ">=" => Cmp::Ge,
        "<" => Cmp::Lt,
        "<=" => Cmp::Le,
        "==" => Cmp::Eq,
        "!=" => Cmp::Ne,
        _ => return None,
    };
    let threshold = it.next()?.parse().ok()?;
    if it.next().is_some()
        || !metric
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    Some((metric, cmp, threshold))
}

/// The evaluator's state: the active alerts of every rule.
#[derive(Debug, Default, Clone)]
pub struct AlertEngine {
    /// Active alerts keyed by (rule index, labels).
    active: BTreeMap<(usize, BTreeMap<String, String>), Alert>,
    /// Unix ms of the last evaluation.
    pub last_eval: Option<i64>,
}

impl AlertEngine {
    /// Evaluate every rule against `samples` at `now` (unix ms). `silenced`
    /// says whether a rule's alerts are prevented from firing (the
    /// `alert_never_fires` fault). Returns the alerts that became firing.
    pub fn evaluate(
        &mut self,
        now: i64,
        samples: &[Sample],
        silenced: impl Fn(&str) -> bool,
    ) -> Vec<Alert> {
        self.last_eval = Some(now);
        let mut became_firing = Vec::new();
        for (ri, rule) in rules().iter().enumerate() {
            if silenced(&rule.name) {
                self.active.retain(|(r, _), _| *r != ri);
                continue;
            }
            let mut seen = Vec::new();
            for s in samples.iter().filter(|s| s.name == rule.metric) {
                if !rule.cmp.holds(s.value, rule.threshold) {
                    continue;
                }
                let mut labels: BTreeMap<String, String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                labels.insert("alertname".into(), rule.name.clone());
                for (k, v) in &rule.labels {
                    labels.insert(k.clone(), v.clone());
                }
                let key = (ri, labels.clone());
                let alert = self.active.entry(key.clone()).or_insert_with(|| Alert {
                    rule: ri,
                    labels,
                    state: AlertState::Pending,
                    active_at: now,
                    fired_at: None,
                    value: s.value,
                });
                alert.value = s.value;
                if alert.state == AlertState::Pending
                    && now - alert.active_at >= rule.for_.as_millis() as i64
                {
                    alert.state = AlertState::Firing;
                    alert.fired_at = Some(now);
                    became_firing.push(alert.clone());
                }
                seen.push(key);
            }
            self.active
                .retain(|(r, l), _| *r != ri || seen.iter().any(|(sr, sl)| *sr == ri && sl == l));
        }
        became_firing
    }

    /// All active alerts, in a stable order.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }
}

/// Format a float as Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as
/// Prometheus does for an alert's `value`.
pub fn go_exp(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((mant, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mant}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &'static str, region: &str, value: f64) -> Sample {
        Sample {
            name,
            labels: vec![("region", region.to_string())],
            value,
        }
    }

    #[test]
    fn shipped_rules_parse() {
        let names = rule_names();
        assert!(names.contains(&"RegionErrorRatioHigh"), "{names:?}");
        assert!(names.contains(&"ReplicationLagHigh"));
        assert_eq!(
            parse_rules(RULES_YAML).map(|r| r.len()).ok(),
            Some(rules().len())
        );
    }

    #[test]
    fn pending_then_firing_then_resolved() {
        let mut e = AlertEngine::default();
        let high = [sample("region_error_ratio", "eu-west-1", 0.5)];
        assert!(e.evaluate(1_000, &high, |_| false).is_empty());
        let a = e.active().next().cloned().unwrap();
        assert_eq!((a.state, a.active_at), (AlertState::Pending, 1_000));
        assert!(e.evaluate(10_000, &high, |_| false).is_empty());
        let fired = e.evaluate(11_000, &high, |_| false);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].fired_at, Some(11_000));
        e.evaluate(
            12_000,
            &[sample("region_error_ratio", "eu-west-1", 0.0)],
            |_| false,
        );
        assert_eq!(e.active().count(), 0);
    }

    #[test]
    fn silenced_rules_never_fire() {
        let mut e = AlertEngine::default();
        let high = [sample("region_error_ratio", "eu-west-1", 0.5)];
        for t in 0..30 {
            assert!(e.evaluate(t * 1_000, &high, |_| true).is_empty());
        }
    }

    #[test]
    fn go_style_exponent() {
        assert_eq!(go_exp(0.55), "5.5e-01");
        assert_eq!(go_exp(12.0), "1.2e+01");
        assert_eq!(go_exp(1.0), "1e+00");
    }
}
