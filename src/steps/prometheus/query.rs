//! `kind: prometheus`: an instant query judged against `expect`; waited
//! with a marker, a look-back range query refines the instant it held.

use super::*;

/// A rejected expression is the playbook's fault: say where it is
/// (`file:line:col`), with Prometheus's own reason.
pub(super) fn at_step(ctx: &StepCtx, e: ApiError) -> StepError {
    let rejected = matches!(
        &e,
        ApiError::Rejected {
            retryable: false,
            ..
        }
    );
    let mut err: StepError = e.into();
    if rejected
        && let Some((_, s)) = ctx
            .playbook
            .all_steps()
            .find(|(_, s)| s.name == ctx.step_name)
    {
        err.message = format!(
            "{}:{}:{}: step `{}`: {}",
            ctx.playbook.path, s.pos.line, s.pos.col, s.name, err.message
        );
    }
    err
}

/// The playbook step being run, if it is waited on and sets a marker.
pub(super) fn waited_marker(ctx: &StepCtx) -> bool {
    ctx.playbook
        .all_steps()
        .any(|(_, s)| s.name == ctx.step_name && s.wait.is_some() && s.mark.is_some())
}

/// The last instant of a series grid from which `held` was true without
/// interruption up to the end, if it was false somewhere before.
pub fn first_of_last_run(points: &[(f64, bool)]) -> Option<f64> {
    let last_false = points.iter().rposition(|(_, h)| !h)?;
    points.get(last_false + 1).map(|(t, _)| *t)
}

impl PrometheusSpec {
    /// Range query from `from` to `to` (server clock) to find when the
    /// condition started holding.
    async fn look_back(
        &self,
        prom: &Prometheus,
        from: f64,
        to: f64,
    ) -> Result<Option<Refined>, ApiError> {
        let scrape = prom.scrape.as_secs_f64();
        let mut step = (scrape / LOOK_BACK_SUBSTEPS).max(0.01);
        let start = from - scrape;
        if (to - start) / step > client::MAX_POINTS - 1.0 {
            step = (to - start) / (client::MAX_POINTS - 1.0);
        }
        let ans = prom.api.query_range(&self.expr, start, to, step).await?;
        let (series, _) = ans.data;
        let mut grid: BTreeMap<i64, Vec<Labelled<'_>>> = BTreeMap::new();
        let mut k = 0i64;
        let mut t = start;
        while t <= to + 1e-6 {
            grid.insert((t * 1000.0).round() as i64, vec![]);
            k += 1;
            t = start + k as f64 * step;
        }
        for s in &series {
            for (t, v) in &s.points {
                grid.entry((t * 1000.0).round() as i64)
                    .or_default()
                    .push((&s.metric, *v));
            }
        }
        let held: Vec<(f64, bool)> = grid
            .iter()
            .map(|(t, vals)| {
                (
                    *t as f64 / 1000.0,
                    judge(vals, &self.expect, self.series, self.empty).ok,
                )
            })
            .collect();
        Ok(first_of_last_run(&held).map(|t| Refined {
            at: prom.to_ours(t),
            resolution_seconds: prom.resolution(),
            source: format!(
                "range query look-back (step {}): first evaluation from which the condition held",
                crate::playbook::duration::format(Duration::from_secs_f64(step))
            ),
        }))
    }
}

#[async_trait]
impl Step for PrometheusSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!(
                "PromQL `{}` {} ({} series, empty {}) on {}",
                self.expr,
                self.expect,
                match self.series {
                    SeriesRule::All => "all",
                    SeriesRule::Any => "any",
                },
                match self.empty {
                    EmptyRule::Fail => "fails",
                    EmptyRule::Pass => "passes",
                },
                prom_url(ctx.playbook)
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let clients = &ctx.clients.prometheus;
        let prom = clients.prometheus(ctx).await?;
        let asked = prom.to_server(Utc::now());
        let ans = prom
            .api
            .query(&self.expr, None)
            .await
            .map_err(|e| at_step(ctx, e))?;
        clients.server_warnings(ctx, &self.expr, &ans.warnings);
        let samples = match ans.data {
            InstantValue::Vector(v) => v,
            InstantValue::Scalar(t, v) => vec![client::Sample {
                metric: BTreeMap::new(),
                t,
                v,
            }],
            InstantValue::Other(rt) => {
                return Err(StepError::fatal(format!(
                    "`{}` returns a {rt}; a condition needs an instant vector or a scalar (drop the `[range]`, or wrap it in a function such as `max_over_time(...)`)",
                    self.expr
                )));
            }
        };
        let evaluated_at = samples.first().map_or(asked, |s| s.t);
        let values: Vec<(&BTreeMap<String, String>, f64)> =
            samples.iter().map(|s| (&s.metric, s.v)).collect();
        let verdict = judge(&values, &self.expect, self.series, self.empty);
        let evidence = json!({
            "query": self.expr,
            "expect": self.expect.text,
            "evaluated_at": prom.to_ours(evaluated_at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "series": samples.iter().take(MAX_EVIDENCE_SERIES).map(|s| json!({"metric": s.metric, "value": fmt_num(s.v)})).collect::<Vec<_>>(),
            "series_total": samples.len(),
        });
        let mut refined = None;
        if !verdict.ok {
            clients.set_not_held(&ctx.step_name, evaluated_at);
        } else if waited_marker(ctx)
            && let Some(from) = clients.last_not_held(&ctx.step_name)
        {
            match self.look_back(&prom, from, evaluated_at).await {
                    Ok(r) => refined = r,
                    Err(e) => clients.warn_once(
                        ctx,
                        format!("could not look back for when the condition started holding; the marker is the poll time: {e}"),
                    ),
                }
        }
        Ok(Outcome {
            ok: verdict.ok,
            value: verdict.value,
            summary: verdict.summary,
            evidence,
            refined,
        })
    }
}
