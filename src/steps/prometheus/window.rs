//! `kind: prometheus-window`: a function of a series over a phase's window
//! (counter increases that tolerate resets and series that appear late).

use super::*;

/// Increase of a counter across its points, counting resets: a drop means
/// the counter restarted from zero, so the new value is all increase.
pub fn counter_increase(points: &[(f64, f64)], appeared_in_window: bool) -> f64 {
    let mut total = 0.0;
    let mut prev: Option<f64> = None;
    for (_, v) in points.iter().filter(|(_, v)| v.is_finite()) {
        match prev {
            None if appeared_in_window => total += v,
            None => {}
            Some(p) if *v >= p => total += v - p,
            Some(_) => total += v,
        }
        prev = Some(*v);
    }
    total
}

/// Compute `f` over series within `[start, end]` (server clock).
pub fn window_value(f: WindowFunction, series: &[client::Series], start: f64) -> Option<f64> {
    let finite = |s: &client::Series| -> Vec<f64> {
        s.points
            .iter()
            .map(|(_, v)| *v)
            .filter(|v| v.is_finite())
            .collect()
    };
    match f {
        // For `rate` the caller divides by the window's length (`baseline::value_over`).
        WindowFunction::Increase | WindowFunction::Rate => {
            if series.is_empty() {
                return None;
            }
            Some(
                series
                    .iter()
                    .map(|s| {
                        // A series whose first point is well after the window
                        // started was created in the window: it counted from 0.
                        let appeared = s.points.first().is_some_and(|(t, _)| *t > start + 1e-3);
                        counter_increase(&s.points, appeared)
                    })
                    .sum(),
            )
        }
        WindowFunction::Min => series.iter().flat_map(finite).min_by(|a, b| a.total_cmp(b)),
        WindowFunction::Max => series.iter().flat_map(finite).max_by(|a, b| a.total_cmp(b)),
        WindowFunction::Avg => {
            let all: Vec<f64> = series.iter().flat_map(finite).collect();
            (!all.is_empty()).then(|| all.iter().sum::<f64>() / all.len() as f64)
        }
    }
}

/// A range-query step no finer than `want` that keeps under Prometheus's point limit.
/// Whole milliseconds, rounded up: servers parse the step to milliseconds,
/// and a step rounded down would exceed the limit (an hour's window at 250 ms).
pub(super) fn range_step(start: f64, end: f64, want: f64) -> f64 {
    let step = want
        .max((end - start) / (client::MAX_POINTS - 1.0))
        .max(0.001);
    (step * 1000.0).ceil() / 1000.0
}

impl PrometheusWindowSpec {
    fn describe(&self) -> String {
        match (&self.window, &self.since) {
            (Some(w), _) => format!("phase `{w}`"),
            (None, Some(m)) => format!("since marker `{m}`"),
            (None, None) => "no window".into(),
        }
    }

    /// The window to measure over: a phase's, or from a marker until now.
    fn span(&self, ctx: &StepCtx) -> Result<crate::steps::PhaseWindow, StepError> {
        if let Some(m) = &self.since {
            let at = ctx.marker(m).ok_or_else(|| {
                StepError::fatal(format!(
                    "marker `{m}` was never set, so there is no window to measure over"
                ))
            })?;
            return Ok(crate::steps::PhaseWindow {
                kind: crate::playbook::PhaseKind::Observe,
                name: format!("since `{m}`"),
                start: at,
                end: None,
            });
        }
        let name = self.window.as_deref().unwrap_or("");
        let mut w = ctx.window(name).ok_or_else(|| {
            StepError::fatal(format!(
                "phase `{name}` has not started, so it has no window yet; put this step in that phase or after it"
            ))
        })?;
        w.name = format!("phase `{}`", w.name);
        Ok(w)
    }
}

#[async_trait]
impl Step for PrometheusWindowSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!(
                "{} of PromQL `{}` over {}{}{} on {}",
                self.function.as_str(),
                self.expr,
                self.describe(),
                self.expect
                    .as_ref()
                    .map_or(String::new(), |e| format!(", expect {e}")),
                self.baseline.as_ref().map_or(String::new(), |b| format!(
                    ", against its baseline over {} (max_ratio {}, max_increase {})",
                    b.describe(),
                    self.max_ratio
                        .map_or("—".into(), crate::report::model::trim_num),
                    self.max_increase
                        .map_or("—".into(), crate::report::model::trim_num),
                )),
                prom_url(ctx.playbook)
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let clients = &ctx.clients.prometheus;
        let prom = clients.prometheus(ctx).await?;
        let w = self.span(ctx)?;
        let end = prom.to_server(w.end.unwrap_or_else(Utc::now));
        let from = prom.to_server(w.start);
        let start = baseline::measured_from(self.function, from, end);
        let want = self.step.map_or(prom.scrape, |s| s.get()).as_secs_f64();
        let step = range_step(start, end, want);
        let ans = prom
            .api
            .query_range(&self.expr, start, end.max(start), step)
            .await
            .map_err(|e| at_step(ctx, e))?;
        clients.server_warnings(ctx, &self.expr, &ans.warnings);
        let (series, _) = ans.data;
        let value = baseline::value_over(self.function, &series, start, end);
        let f = self.function.as_str();
        let widened = start < from;
        let span = format!(
            "{} ({} – {}{}{})",
            w.name,
            fmt_time(w.start),
            fmt_time(prom.to_ours(end)),
            if w.end.is_none() { ", so far" } else { "" },
            if widened {
                "; a rate over less than a minute is taken over the minute before its end"
            } else {
                ""
            }
        );
        let mut evidence = json!({
            "query": self.expr,
            "function": f,
            "window": {"name": w.name, "start": w.start, "end": prom.to_ours(end), "measured_from": prom.to_ours(start)},
            "step_seconds": step,
            "series": series.len(),
            "value": value,
        });
        let Some(v) = value else {
            return Ok(
                Outcome::fail(format!("`{}` returned no samples over {span}", self.expr))
                    .with_evidence(evidence),
            );
        };
        if let Some(b) = &self.baseline {
            let j = baseline::judge(self, b, &prom, ctx, v).await?;
            evidence["baseline"] = j.evidence;
            let verdict = if j.ok { "holds" } else { "ABOVE BASELINE" };
            return Ok(Outcome {
                ok: j.ok,
                value: Some(v),
                summary: format!("{f} {} over {span}; {} ({verdict})", fmt_num(v), j.summary),
                evidence,
                refined: None,
            });
        }
        let ok = self.expect.as_ref().is_none_or(|c| c.holds(v));
        let summary = match &self.expect {
            Some(c) if ok => format!("{f} {} over {span} (holds {c})", fmt_num(v)),
            Some(c) => format!("{f} {} over {span} (expected {c})", fmt_num(v)),
            None => format!("{f} {} over {span}", fmt_num(v)),
        };
        Ok(Outcome {
            ok,
            value: Some(v),
            summary,
            evidence,
            refined: None,
        })
    }
}
