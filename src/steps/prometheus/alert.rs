//! `kind: alert`: an alert's state in Prometheus or Alertmanager, with the
//! marker at the alert's own firing instant.

use super::*;

pub(super) fn labels_match(
    have: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

pub(super) fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S%.3f").to_string()
}

impl AlertSpec {
    fn selector(&self) -> String {
        let mut all = self.labels.clone();
        all.remove("alertname");
        format!("{}{}", self.alertname, labels_text(&all))
    }

    fn after(&self, ctx: &StepCtx) -> Result<Option<DateTime<Utc>>, Box<Outcome>> {
        let Some(m) = &self.after else {
            return Ok(None);
        };
        let at = ctx.marker(m);
        match at {
            Some(t) => Ok(Some(t)),
            None => Err(Box::new(Outcome::fail(format!(
                "marker `{m}` is not set yet, so no alert can count as a detection"
            )))),
        }
    }

    async fn read_prometheus(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let clients = &ctx.clients.prometheus;
        let prom = clients.prometheus(ctx).await?;
        let after = match self.after(ctx) {
            Ok(a) => a,
            Err(o) => return Ok(*o),
        };
        let ans = prom.api.alerts().await?;
        clients.server_warnings(ctx, "/api/v1/alerts", &ans.warnings);
        let matching: Vec<&client::PromAlert> = ans
            .data
            .iter()
            .filter(|a| a.labels.get("alertname") == Some(&self.alertname))
            .filter(|a| labels_match(&a.labels, &self.labels))
            .collect();
        let firing: Vec<&&client::PromAlert> =
            matching.iter().filter(|a| a.state == "firing").collect();
        if firing.is_empty() {
            // "No rule of that name" is a different finding from "it never fired".
            let rule_exists = match matching.is_empty() {
                true => prom
                    .api
                    .alert_rules()
                    .await
                    .ok()
                    .map(|rules| rules.iter().any(|r| r.name == self.alertname)),
                false => Some(true),
            };
            let summary = match matching.iter().filter_map(|a| a.active_at).min() {
                Some(t) => format!(
                    "{} is pending since {} (server time)",
                    self.selector(),
                    fmt_time(prom.to_ours(to_unix(t)))
                ),
                None if rule_exists == Some(false) => format!(
                    "no alert rule named {} exists in Prometheus (/api/v1/rules)",
                    self.alertname
                ),
                None => format!("no alert {} is active", self.selector()),
            };
            return Ok(Outcome::fail(summary)
                .with_evidence(json!({"source": "prometheus", "alertname": self.alertname, "labels": self.labels, "matching": matching.len(), "rule_exists": rule_exists})));
        }
        // The rule's `for` turns activeAt (pending) into the firing instant.
        let rules = prom.api.alert_rules().await;
        let for_seconds = match &rules {
            Ok(rules) => rules
                .iter()
                .filter(|r| r.name == self.alertname)
                .find(|r| {
                    r.alerts.is_empty()
                        || r.alerts
                            .iter()
                            .any(|a| labels_match(&a.labels, &self.labels))
                })
                .map(|r| r.for_seconds),
            Err(_) => None,
        };
        if for_seconds.is_none() {
            clients.warn_once(
                ctx,
                format!(
                    "the `for` of rule {} could not be read from /api/v1/rules; the detection time is the alert's activeAt",
                    self.alertname
                ),
            );
        }
        let fired: Vec<(DateTime<Utc>, &client::PromAlert)> = firing
            .iter()
            .filter_map(|a| {
                a.active_at
                    .map(|t| (prom.to_ours(to_unix(t) + for_seconds.unwrap_or(0.0)), **a))
            })
            .filter(|(t, _)| after.is_none_or(|m| *t >= m))
            .collect();
        let Some((at, alert)) = fired.iter().min_by_key(|(t, _)| *t) else {
            return Ok(Outcome::fail(format!(
                "{} is firing, but it fired before marker `{}`",
                self.selector(),
                self.after.as_deref().unwrap_or("")
            )));
        };
        Ok(Outcome {
            ok: true,
            value: None,
            summary: format!(
                "{}{} firing since {}",
                self.alertname,
                labels_text(
                    &alert
                        .labels
                        .iter()
                        .filter(|(k, _)| k.as_str() != "alertname")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                ),
                fmt_time(*at)
            ),
            evidence: json!({
                "source": "prometheus",
                "labels": alert.labels,
                "activeAt": alert.active_at,
                "for_seconds": for_seconds,
                "value": alert.value,
                "firing_at": at,
            }),
            refined: Some(Refined {
                at: *at,
                resolution_seconds: prom.resolution(),
                source: if for_seconds.is_some() {
                    "alert activeAt + rule `for` (Prometheus)".into()
                } else {
                    "alert activeAt (Prometheus; rule `for` unknown)".into()
                },
            }),
        })
    }

    async fn read_alertmanager(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let am = ctx.clients.prometheus.alertmanager(ctx).await?;
        let after = match self.after(ctx) {
            Ok(a) => a,
            Err(o) => return Ok(*o),
        };
        // startsAt is stamped by Prometheus; use its clock offset when known.
        let offset = match ctx.playbook.connections.prometheus {
            Some(_) => ctx
                .clients
                .prometheus
                .prometheus(ctx)
                .await
                .map(|p| (p.offset, p.resolution()))
                .ok(),
            None => None,
        };
        let alerts = am.am_alerts(&self.alertname).await?;
        let matching: Vec<&client::AmAlert> = alerts
            .iter()
            .filter(|a| a.labels.get("alertname") == Some(&self.alertname))
            .filter(|a| labels_match(&a.labels, &self.labels))
            .filter(|a| a.status.state != "unprocessed")
            .collect();
        let shift = |t: DateTime<Utc>| from_unix(to_unix(t) - offset.map_or(0.0, |o| o.0));
        let Some(alert) = matching
            .iter()
            .filter(|a| after.is_none_or(|m| shift(a.starts_at) >= m))
            .min_by_key(|a| a.starts_at)
        else {
            return Ok(Outcome::fail(if matching.is_empty() {
                format!("Alertmanager has no alert {}", self.selector())
            } else {
                format!(
                    "Alertmanager's {} started before marker `{}`",
                    self.selector(),
                    self.after.as_deref().unwrap_or("")
                )
            })
            .with_evidence(json!({"source": "alertmanager", "alertname": self.alertname, "labels": self.labels})));
        };
        let at = shift(alert.starts_at);
        Ok(Outcome {
            ok: true,
            value: None,
            summary: format!(
                "{} reached Alertmanager ({}), started {}",
                self.selector(),
                alert.status.state,
                fmt_time(at)
            ),
            evidence: json!({"source": "alertmanager", "labels": alert.labels, "startsAt": alert.starts_at, "state": alert.status.state}),
            refined: Some(Refined {
                at,
                resolution_seconds: offset.map_or(0.0, |o| o.1),
                source: "Alertmanager startsAt (the instant Prometheus fired the alert)".into(),
            }),
        })
    }
}

#[async_trait]
impl Step for AlertSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let (what, url) = match self.source {
            AlertSource::Prometheus => ("firing in Prometheus", prom_url(ctx.playbook)),
            AlertSource::Alertmanager => (
                "received by Alertmanager",
                ctx.playbook
                    .connections
                    .alertmanager
                    .as_ref()
                    .map_or("(no alertmanager connection)".into(), |c| c.url.clone()),
            ),
        };
        vec![PlannedCall {
            call: format!("alert {} {what} at {url}", self.selector()),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        match self.source {
            AlertSource::Prometheus => self.read_prometheus(ctx).await,
            AlertSource::Alertmanager => self.read_alertmanager(ctx).await,
        }
    }
}
