//! `kind: prometheus-charts`: range queries over the run stored as chart
//! data in the run directory (clock offset removed).

use super::*;

#[async_trait]
impl Step for PrometheusChartsSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        self.charts
            .iter()
            .map(|(name, c)| PlannedCall {
                call: format!(
                    "save range query `{}` since the run started into series/{name}.json (from {})",
                    c.query,
                    prom_url(ctx.playbook)
                ),
                undo: None,
            })
            .collect()
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let clients = &ctx.clients.prometheus;
        let prom = clients.prometheus(ctx).await?;
        let lead = self.lead.map_or(0.0, |d| d.secs());
        let start = prom.to_server(ctx.started_at) - lead;
        let end = prom.to_server(Utc::now());
        let want = self.step.map_or(prom.scrape, |s| s.get()).as_secs_f64();
        // At most ~2000 points a series: plenty for a chart.
        let step = want.max((end - start) / 2000.0);
        let dir = ctx.run_dir.join("series");
        std::fs::create_dir_all(&dir)
            .map_err(|e| StepError::fatal(format!("cannot create {}: {e}", dir.display())))?;
        let mut saved = vec![];
        let mut failed = vec![];
        let mut last_err: Option<ApiError> = None;
        for (name, c) in &self.charts {
            match prom.api.query_range(&c.query, start, end, step).await {
                Ok(ans) => {
                    clients.server_warnings(ctx, &c.query, &ans.warnings);
                    let (_, raw) = ans.data;
                    let doc = json!({
                        "title": c.title.clone().unwrap_or_else(|| name.clone()),
                        "unit": c.unit,
                        "query": c.query,
                        "start": start - prom.offset,
                        "end": end - prom.offset,
                        "step": step,
                        "result": shift_matrix(raw, prom.offset),
                    });
                    let rel = format!("series/{name}.json");
                    let path = ctx.run_dir.join(&rel);
                    let text = serde_json::to_string(&doc).unwrap_or_default();
                    match std::fs::write(&path, text) {
                        Ok(()) => {
                            let _ = ctx.events.emit(EventKind::Artifact {
                                name: name.clone(),
                                path: rel,
                                description: c
                                    .title
                                    .clone()
                                    .unwrap_or_else(|| format!("`{}`", c.query)),
                            });
                            saved.push(name.clone());
                        }
                        Err(e) => {
                            failed.push(format!("{name}: cannot write {}: {e}", path.display()))
                        }
                    }
                }
                Err(e) => {
                    failed.push(format!("{name}: {e}"));
                    last_err = Some(e);
                }
            }
        }
        if saved.is_empty()
            && let Some(e) = last_err
        {
            return Err(e.into());
        }
        for f in &failed {
            clients.warn_once(ctx, format!("chart data not saved: {f}"));
        }
        Ok(Outcome::pass(format!(
            "saved {} of {} chart series ({}){}",
            saved.len(),
            self.charts.len(),
            saved.join(", "),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; not saved: {}", failed.join("; "))
            }
        ))
        .with_evidence(json!({"saved": saved, "failed": failed})))
    }
}

/// Move a matrix's timestamps from the server's clock to ours.
pub(super) fn shift_matrix(mut raw: Value, offset: f64) -> Value {
    if offset == 0.0 {
        return raw;
    }
    for s in raw.as_array_mut().into_iter().flatten() {
        for p in s
            .get_mut("values")
            .and_then(|v| v.as_array_mut())
            .into_iter()
            .flatten()
        {
            if let Some(t) = p.get(0).and_then(|t| t.as_f64()) {
                p[0] = json!(((t - offset) * 1000.0).round() / 1000.0);
            }
        }
    }
    raw
}
