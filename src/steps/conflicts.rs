//! `kind: conflicts`: DOMAIN.md's conflict monitoring over a window.
//!
//! Each rule is one instant query at the window's end over the window's
//! length (`increase(…[312s])`), through the run's shared Prometheus session
//! (its clock offset corrects the instants):
//!
//! * rate: `sum(increase(conflicts))` / `sum(increase(writes))`; no writes
//!   counted at all is not evidence of a low rate, so it fails;
//! * age: conflicts above the largest histogram bound at or below `max_age`
//!   (`+Inf` minus that bucket); the report says which bound was used when
//!   `max_age` is not one of the histogram's;
//! * never-conflict: conflicts per `entity_type`, any of the listed types.
//!
//! A window shorter than a minute is judged over the minute before its end
//! (the evidence's `window.seconds` says which range was used).

use super::prometheus::client::InstantValue;
use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError};
use crate::journal::EventKind;
use crate::playbook::duration::Positive;
use crate::playbook::spec::conflicts::{ConflictsSpec, Share};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use std::collections::BTreeMap;

/// The window a step judges: its name for messages, start and end.
struct Window {
    name: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

fn window_of(ctx: &StepCtx, name: Option<&str>) -> Result<Window, StepError> {
    let now = Utc::now();
    match name {
        None | Some("drill") => Ok(Window {
            name: "the drill".into(),
            start: ctx.started_at,
            end: now,
        }),
        Some(name) => {
            let w = ctx.window(name).ok_or_else(|| {
                StepError::fatal(format!(
                    "phase `{name}` has not started, so it has no window yet; use `window: drill` or a phase that ran before this step"
                ))
            })?;
            Ok(Window {
                name: format!("phase `{}`", w.name),
                start: w.start,
                end: w.end.unwrap_or(now),
            })
        }
    }
}

/// Sum of an instant answer's samples, by the value of `label` (`""` when absent).
fn by_label(
    answer: InstantValue,
    label: &str,
    what: &str,
) -> Result<BTreeMap<String, f64>, StepError> {
    match answer {
        InstantValue::Vector(v) => {
            let mut out = BTreeMap::new();
            for s in v {
                let key = s.metric.get(label).cloned().unwrap_or_default();
                *out.entry(key).or_insert(0.0) += s.v;
            }
            Ok(out)
        }
        InstantValue::Scalar(_, v) => Ok(BTreeMap::from([(String::new(), v)])),
        InstantValue::Other(kind) => Err(StepError::fatal(format!(
            "the {what} query returned a {kind}; it must be an instant vector"
        ))),
    }
}

/// Conflicts above `max_age` from cumulative histogram buckets (`le` → count):
/// (count, the bound used).
fn older_than(buckets: &BTreeMap<String, f64>, max_age: f64) -> Option<(f64, f64)> {
    let total = *buckets.get("+Inf")?;
    let bound = buckets
        .iter()
        .filter_map(|(le, n)| le.parse::<f64>().ok().map(|b| (b, *n)))
        .filter(|(b, _)| b.is_finite() && *b <= max_age)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Some(match bound {
        Some((b, n)) => ((total - n).max(0.0), b),
        None => (total, 0.0),
    })
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[async_trait]
impl Step for ConflictsSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        let mut rules = vec![];
        if let Some(r) = &self.max_rate {
            rules.push(format!("conflicts <= {r} of writes"));
        }
        if let Some(a) = &self.max_age {
            rules.push(format!("none older than {a} at resolution"));
        }
        if !self.never_conflict.is_empty() {
            rules.push(format!("none on {}", self.never_conflict.join(", ")));
        }
        vec![PlannedCall {
            call: format!(
                "Prometheus queries over {}: {}",
                self.window.as_deref().unwrap_or("the drill"),
                rules.join("; ")
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let prom = ctx.clients.prometheus.prometheus(ctx).await?;
        let w = window_of(ctx, self.window.as_deref())?;
        // A window shorter than a minute (a check early in its phase) is
        // widened to the minute before its end: `increase()` needs a few
        // scrapes of every counter, and no samples is not evidence.
        let span = ((w.end - w.start).num_milliseconds() as f64 / 1000.0)
            .ceil()
            .max(super::prometheus::MIN_COUNTER_RANGE_SECS) as u64;
        let at = Some(prom.to_server(w.end));
        let sel = self.selector();
        let q_conflicts = format!(
            "sum by (entity_type) (increase({}{sel}[{span}s]))",
            self.metrics.conflicts
        );
        let conflicts = by_label(
            prom.api.query(&q_conflicts, at).await?.data,
            "entity_type",
            "conflicts",
        )?;
        let total: f64 = conflicts.values().sum();
        let mut j = Judgement {
            ok: true,
            parts: vec![],
            evidence: json!({
                "prometheus": prom.api.base_url(),
                "window": {"name": w.name, "start": w.start, "end": w.end, "seconds": span},
                "conflicts": total,
                "conflicts_by_entity_type": conflicts,
                "queries": {"conflicts": q_conflicts},
            }),
            recorded: BTreeMap::from([("conflicts", total)]),
            rate: 0.0,
        };
        if let Some(max) = &self.max_rate {
            let q = format!("sum(increase({}{sel}[{span}s]))", self.metrics.writes);
            let writes: f64 = by_label(prom.api.query(&q, at).await?.data, "", "writes")?
                .values()
                .sum();
            j.evidence["queries"]["writes"] = json!(q);
            j.rate_rule(&self.metrics.writes, max, total, writes);
        }
        if let Some(max_age) = &self.max_age {
            let q = format!(
                "sum by (le) (increase({}_bucket{sel}[{span}s]))",
                self.metrics.age
            );
            let buckets = by_label(prom.api.query(&q, at).await?.data, "le", "age")?;
            j.evidence["queries"]["age"] = json!(q);
            j.age_rule(&self.metrics.age, max_age, &buckets);
        }
        if !self.never_conflict.is_empty() {
            j.never_rule(&self.never_conflict, &conflicts);
        }
        if let Some(r) = super::postgres::ctx_record(ctx) {
            j.recorded.insert("", total);
            for (suffix, v) in &j.recorded {
                let _ = ctx.events.emit(EventKind::Recorded {
                    name: if suffix.is_empty() {
                        r.clone()
                    } else {
                        format!("{r}_{suffix}")
                    },
                    value: *v,
                    unit: None,
                    step: ctx.step_name.clone(),
                });
            }
        }
        let end = w.end.to_rfc3339_opts(SecondsFormat::Secs, true);
        Ok(Outcome {
            ok: j.ok,
            value: Some(j.rate),
            summary: format!(
                "conflicts over {} (to {end}): {}",
                w.name,
                j.parts.join("; ")
            ),
            evidence: j.evidence,
            refined: None,
        })
    }
}

/// The verdict of a `conflicts` step, built one rule at a time.
struct Judgement {
    ok: bool,
    parts: Vec<String>,
    evidence: serde_json::Value,
    recorded: BTreeMap<&'static str, f64>,
    rate: f64,
}

impl Judgement {
    /// Conflicts as a share of writes, against `max`.
    fn rate_rule(&mut self, writes_metric: &str, max: &Share, total: f64, writes: f64) {
        self.evidence["writes"] = json!(writes);
        self.recorded.insert("writes", writes);
        if writes <= 0.0 {
            self.ok = false;
            self.parts.push(format!(
                "rate: no writes counted by `{writes_metric}` (no data is not evidence of a low rate: check the metric name)"
            ));
        } else {
            self.rate = total / writes;
            let held = self.rate <= max.ratio;
            self.ok &= held;
            self.parts.push(format!(
                "rate {:.3}% ({} conflicts in {} writes) {} {max}",
                self.rate * 100.0,
                round(total),
                round(writes),
                if held { "within" } else { "above" }
            ));
        }
        self.evidence["rate"] = json!(self.rate);
        self.evidence["max_rate"] = json!(max.ratio);
    }

    /// No conflict older than `max_age` at resolution, from the histogram.
    fn age_rule(&mut self, age_metric: &str, max_age: &Positive, buckets: &BTreeMap<String, f64>) {
        let limit = max_age.0.as_secs_f64();
        match older_than(buckets, limit) {
            None => {
                self.ok = false;
                self.parts.push(format!(
                    "age: no `{age_metric}_bucket{{le=\"+Inf\"}}` series (check the histogram's name)"
                ));
            }
            Some((old, bound)) => {
                self.recorded.insert("old", old);
                let held = old < 0.5;
                self.ok &= held;
                let bound_note = if (bound - limit).abs() > 1e-9 {
                    format!(" (histogram bound {bound}s, the largest at or below {max_age})")
                } else {
                    String::new()
                };
                self.parts.push(if held {
                    format!("no conflict older than {max_age} at resolution{bound_note}")
                } else {
                    format!(
                        "{} conflicts older than {max_age} at resolution{bound_note}",
                        round(old)
                    )
                });
                self.evidence["older_than_max_age"] = json!(old);
                self.evidence["age_bound_seconds"] = json!(bound);
            }
        }
        self.evidence["age_buckets"] = json!(buckets);
    }

    /// No conflict at all on the entity types listed as never-conflict.
    fn never_rule(&mut self, never: &[String], conflicts: &BTreeMap<String, f64>) {
        let bad: Vec<(String, f64)> = never
            .iter()
            .filter_map(|t| conflicts.get(t).map(|n| (t.clone(), *n)))
            .filter(|(_, n)| *n >= 0.5)
            .collect();
        let forbidden: f64 = bad.iter().map(|(_, n)| n).sum();
        self.recorded.insert("forbidden", forbidden);
        self.ok &= bad.is_empty();
        self.parts.push(if bad.is_empty() {
            format!("none on {}", never.join(", "))
        } else {
            let list: Vec<String> = bad
                .iter()
                .map(|(t, n)| format!("{} on {t}", round(*n)))
                .collect();
            format!("conflicts on never-conflict types: {}", list.join(", "))
        });
        self.evidence["never_conflict"] = json!(bad.into_iter().collect::<BTreeMap<_, _>>());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_above_the_age_limit_come_from_the_bucket_at_or_below_it() {
        let b: BTreeMap<String, f64> = [("1", 5.0), ("60", 8.0), ("120", 9.0), ("+Inf", 10.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(older_than(&b, 60.0), Some((2.0, 60.0)));
        assert_eq!(older_than(&b, 90.0), Some((2.0, 60.0)));
        assert_eq!(older_than(&b, 0.5), Some((10.0, 0.0)));
        assert_eq!(older_than(&BTreeMap::new(), 60.0), None);
    }
}
