//! Baselines for `prometheus-window`: the same function of the same
//! expression over a window before the isolation (a phase such as
//! `precheck`, or the `duration` before a marker), and the judgement of the
//! window's value against it: at most `baseline × max_ratio`, or at most
//! `baseline + max_increase`; with both, the larger allowance applies, since
//! a ratio means little over a baseline near 0 (an active-active system
//! always has some conflicts, but sometimes none in a short baseline).

use super::{MIN_COUNTER_RANGE_SECS, Prometheus, client, range_step, window_value};
use crate::playbook::spec::prometheus::{BaselineSpec, PrometheusWindowSpec, WindowFunction};
use crate::steps::{StepCtx, StepError};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Where `f` over a window ending at `end` (server clock) is measured from:
/// `start`, or for a `rate` over less than [`MIN_COUNTER_RANGE_SECS`], that
/// long before `end` (a single replication conflict in a 0.7 s restoration
/// phase read as 1.4 per second).
pub(super) fn measured_from(f: WindowFunction, start: f64, end: f64) -> f64 {
    if f == WindowFunction::Rate && end - start < MIN_COUNTER_RANGE_SECS {
        end - MIN_COUNTER_RANGE_SECS
    } else {
        start
    }
}

/// `function` over `[start, end]` (server clock); `rate` is the increase per second.
pub(super) fn value_over(
    f: WindowFunction,
    series: &[client::Series],
    start: f64,
    end: f64,
) -> Option<f64> {
    match f {
        WindowFunction::Rate => {
            let inc = window_value(WindowFunction::Increase, series, start)?;
            (end > start).then(|| inc / (end - start))
        }
        f => window_value(f, series, start),
    }
}

/// The baseline measured and the window's value judged against it.
pub(super) struct Judged {
    pub ok: bool,
    /// Baseline, ratio and allowance in words.
    pub summary: String,
    /// `{window, value, ratio, allowance, max_ratio, max_increase, series}`.
    pub evidence: Value,
}

/// The baseline window on our clock.
fn span(
    b: &BaselineSpec,
    ctx: &StepCtx,
) -> Result<(DateTime<Utc>, DateTime<Utc>, String), StepError> {
    if let (Some(m), Some(d)) = (&b.before, &b.duration) {
        let at = ctx.marker(m).ok_or_else(|| {
            StepError::fatal(format!(
                "marker `{m}` was never set, so there is no baseline window before it"
            ))
        })?;
        let d = chrono::Duration::from_std(d.get()).unwrap_or_default();
        return Ok((at - d, at, b.describe()));
    }
    let name = b.window.as_deref().unwrap_or("");
    let w = ctx.window(name).ok_or_else(|| {
        StepError::fatal(format!(
            "baseline phase `{name}` never ran, so there is no baseline to compare with"
        ))
    })?;
    Ok((w.start, w.end.unwrap_or_else(Utc::now), b.describe()))
}

/// Measure the baseline of `spec` and judge `value` against it.
pub(super) async fn judge(
    spec: &PrometheusWindowSpec,
    b: &BaselineSpec,
    prom: &Prometheus,
    ctx: &StepCtx,
    value: f64,
) -> Result<Judged, StepError> {
    let (from, to, label) = span(b, ctx)?;
    let from_server = prom.to_server(from);
    let end = prom.to_server(to).max(from_server);
    let start = measured_from(spec.function, from_server, end);
    let want = spec.step.map_or(prom.scrape, |s| s.get()).as_secs_f64();
    let step = range_step(start, end, want);
    let ans = prom
        .api
        .query_range(&spec.expr, start, end, step)
        .await
        .map_err(|e| super::at_step(ctx, e))?;
    let (series, _) = ans.data;
    let f = spec.function.as_str();
    let Some(baseline) = value_over(spec.function, &series, start, end) else {
        return Err(StepError::fatal(format!(
            "`{}` returned no samples over the baseline window ({label}), so there is nothing to compare with",
            spec.expr
        )));
    };
    let by_ratio = spec.max_ratio.map(|r| baseline * r);
    let by_increase = spec.max_increase.map(|i| baseline + i);
    let allowance = by_ratio
        .into_iter()
        .chain(by_increase)
        .fold(f64::NEG_INFINITY, f64::max);
    let ratio = (baseline != 0.0).then(|| value / baseline);
    let ok = value <= allowance;
    let fmt = crate::report::model::trim_num;
    let summary = format!(
        "baseline {f} {} over {label}, ratio {}, allowed up to {}",
        fmt(baseline),
        ratio.map_or("n/a (baseline 0)".to_string(), |r| format!("{:.2}", r)),
        fmt(allowance),
    );
    let evidence = json!({
        "window": {"name": label, "start": from, "end": to, "measured_from": prom.to_ours(start)},
        "value": baseline,
        "ratio": ratio,
        "allowance": allowance,
        "max_ratio": spec.max_ratio,
        "max_increase": spec.max_increase,
        "series": series.len(),
    });
    Ok(Judged {
        ok,
        summary,
        evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(points: &[(f64, f64)]) -> Vec<client::Series> {
        vec![client::Series {
            metric: Default::default(),
            points: points.to_vec(),
        }]
    }

    #[test]
    fn a_rate_over_less_than_a_minute_is_measured_over_the_minute_before_its_end() {
        use WindowFunction::*;
        assert_eq!(measured_from(Rate, 1000.0, 1000.7), 940.7);
        assert_eq!(measured_from(Rate, 1000.0, 1120.0), 1000.0);
        assert_eq!(measured_from(Increase, 1000.0, 1000.7), 1000.0);
        assert_eq!(measured_from(Max, 1000.0, 1000.7), 1000.0);
    }

    #[test]
    fn one_event_in_a_short_window_is_not_a_spike_but_many_still_are() {
        // A restoration phase of 0.7 s against the simulator: one conflict
        // in it was a rate of 1.4/s over the phase alone.
        let (start, end) = (1000.0, 1000.7);
        let from = measured_from(WindowFunction::Rate, start, end);
        let one = counter(&[(from, 3.0), (980.0, 3.0), (1000.5, 4.0)]);
        let rate = value_over(WindowFunction::Rate, &one, from, end).unwrap();
        assert!((rate - 1.0 / 60.0).abs() < 1e-9, "{rate}");
        // A partition's queued writes conflicting on reconnect: 40 of them.
        let many = counter(&[(from, 3.0), (1000.5, 43.0)]);
        let rate = value_over(WindowFunction::Rate, &many, from, end).unwrap();
        assert!(rate > 0.6, "{rate}");
    }
}
