//! The run's Prometheus session: the client, the server's clock offset and
//! its scrape/evaluation intervals, opened on first use (see the parent
//! module's docs), and the Alertmanager client.

use super::*;

/// An open Prometheus: the client, the clock offset and the intervals.
pub struct Prometheus {
    pub api: ApiClient,
    /// Server clock minus ours, seconds.
    pub offset: f64,
    pub scrape: Duration,
    pub eval: Duration,
}

impl Prometheus {
    /// Our instant on the server's clock (unix seconds).
    pub fn to_server(&self, t: DateTime<Utc>) -> f64 {
        to_unix(t) + self.offset
    }
    /// A server timestamp on our clock.
    pub fn to_ours(&self, t: f64) -> DateTime<Utc> {
        from_unix(t - self.offset)
    }
    /// Error bar of an instant read from samples or alerts: one scrape
    /// interval plus one rule evaluation interval.
    pub fn resolution(&self) -> f64 {
        self.scrape.as_secs_f64() + self.eval.as_secs_f64()
    }
}

/// Prometheus and Alertmanager clients of one run, opened on first use.
#[derive(Default)]
pub struct PromClients {
    prometheus: tokio::sync::OnceCell<Arc<Prometheus>>,
    alertmanager: tokio::sync::OnceCell<Arc<ApiClient>>,
    /// Waited steps: server time of the last poll that saw the condition not hold.
    not_held: Mutex<HashMap<String, f64>>,
    /// Warnings already journaled (a wait polling every second repeats them).
    warned: Mutex<HashSet<String>>,
}

impl PromClients {
    /// The run's Prometheus, opened (clock compared, intervals read) on first use.
    pub async fn prometheus(&self, ctx: &StepCtx) -> Result<Arc<Prometheus>, StepError> {
        self.prometheus
            .get_or_try_init(|| open_prometheus(ctx))
            .await
            .cloned()
    }

    /// The run's Alertmanager client.
    pub async fn alertmanager(&self, ctx: &StepCtx) -> Result<Arc<ApiClient>, StepError> {
        self.alertmanager
            .get_or_try_init(|| async {
                let conn = ctx.playbook.connections.alertmanager.as_ref().ok_or_else(|| {
                    StepError::fatal(
                        "the playbook has no `alertmanager:` connection; add `alertmanager: { url: http://HOST:9093 }`",
                    )
                })?;
                Ok(Arc::new(ApiClient::new("Alertmanager", conn)?))
            })
            .await
            .cloned()
    }

    pub(super) fn warn_once(&self, ctx: &StepCtx, message: String) {
        let key = format!("{}\u{0}{message}", ctx.step_name);
        let new = self
            .warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        if new {
            let _ = ctx.events.emit(EventKind::Warning {
                message,
                step: Some(ctx.step_name.clone()),
            });
        }
    }

    pub(super) fn server_warnings(&self, ctx: &StepCtx, expr: &str, warnings: &[String]) {
        for w in warnings {
            self.warn_once(ctx, format!("Prometheus warned about `{expr}`: {w}"));
        }
    }

    pub(super) fn set_not_held(&self, step: &str, t: f64) {
        self.not_held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(step.to_string(), t);
    }

    pub(super) fn last_not_held(&self, step: &str) -> Option<f64> {
        self.not_held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(step)
            .copied()
    }
}

pub(super) async fn open_prometheus(ctx: &StepCtx) -> Result<Arc<Prometheus>, StepError> {
    let conn = ctx.playbook.connections.prometheus.as_ref().ok_or_else(|| {
        StepError::fatal(
            "the playbook has no `prometheus:` connection; add `prometheus: { url: http://HOST:9090 }`",
        )
    })?;
    let api = ApiClient::new("Prometheus", conn)?;
    let (offset, rtt) = api.clock_offset().await?;
    let _ = ctx.events.emit(EventKind::ClockOffset {
        source: format!("prometheus {}", api.base_url()),
        offset_seconds: offset,
        round_trip_seconds: rtt,
    });
    if offset.abs() > 1.0 {
        let _ = ctx.events.emit(EventKind::Warning {
            message: format!(
                "Prometheus's clock is {:.3} s {} ours; timestamps read from it are corrected by that much",
                offset.abs(),
                if offset > 0.0 { "ahead of" } else { "behind" }
            ),
            step: Some(ctx.step_name.clone()),
        });
    }
    let declared = (conn.scrape_interval, conn.evaluation_interval);
    let (scrape, eval) = match api
        .config_yaml()
        .await
        .ok()
        .and_then(|y| client::intervals_from_config(&y))
    {
        Some((s, e)) => {
            for (name, d, server) in [
                ("scrape_interval", declared.0, s),
                ("evaluation_interval", declared.1, e),
            ] {
                if let Some(d) = d.filter(|d| d.get() != server) {
                    let _ = ctx.events.emit(EventKind::Warning {
                        message: format!(
                            "the playbook declares prometheus.{name} {d}, but the server's configuration says {}; using the server's",
                            crate::playbook::duration::format(server)
                        ),
                        step: Some(ctx.step_name.clone()),
                    });
                }
            }
            (s, e)
        }
        None => {
            let fallback = Duration::from_secs(60);
            if declared.0.is_none() || declared.1.is_none() {
                let _ = ctx.events.emit(EventKind::Warning {
                    message: format!(
                        "{} does not show its configuration and the playbook declares no {}; error bars assume Prometheus's default of 1m",
                        api.base_url(),
                        if declared.0.is_none() { "prometheus.scrape_interval" } else { "prometheus.evaluation_interval" }
                    ),
                    step: Some(ctx.step_name.clone()),
                });
            }
            (
                declared.0.map_or(fallback, |d| d.get()),
                declared.1.map_or(fallback, |d| d.get()),
            )
        }
    };
    Ok(Arc::new(Prometheus {
        api,
        offset,
        scrape,
        eval,
    }))
}

pub(super) fn prom_url(pb: &crate::playbook::Playbook) -> String {
    pb.connections
        .prometheus
        .as_ref()
        .map_or("(no prometheus connection)".into(), |c| c.url.clone())
}
