//! `ga-traffic-dial` and `ga-endpoint-group` executors: Global Accelerator
//! endpoint groups. UpdateEndpointGroup replaces the whole endpoint list, so
//! both the change and its undo send every endpoint (with the traffic dial):
//! the change keeps the weights it does not name, the undo sends back exactly
//! what DescribeEndpointGroup showed before.

use super::{AwsClients, AwsUndo, AwsUndoOp, Target, api_error, ga_client};
use crate::playbook::spec::aws::ga::{GaEndpointGroupSpec, GaTrafficDialSpec};
use crate::playbook::spec::aws::{AwsConn, Service};
use crate::steps::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError, Undo, UndoAction};
use async_trait::async_trait;
use aws_sdk_globalaccelerator::types::{EndpointConfiguration, EndpointGroup};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const DESCRIBE: &str = "globalaccelerator:DescribeEndpointGroup";
const UPDATE: &str = "globalaccelerator:UpdateEndpointGroup";

/// One endpoint's routing settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GaEndpoint {
    pub id: String,
    pub weight: Option<i32>,
    pub client_ip_preservation: Option<bool>,
}

/// Put an endpoint group's dial and endpoint weights back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GaUndo {
    pub endpoint_group_arn: String,
    pub traffic_dial: Option<f32>,
    pub endpoints: Vec<GaEndpoint>,
}

impl GaUndo {
    pub async fn run(&self, clients: &AwsClients, conn: &AwsConn) -> Result<String, StepError> {
        let t = clients.target(conn, Service::GlobalAccelerator).await?;
        update(
            &t,
            &self.endpoint_group_arn,
            self.traffic_dial,
            &self.endpoints,
        )
        .await?;
        Ok(format!(
            "set {} back to dial {}% and weights {}",
            self.endpoint_group_arn,
            self.traffic_dial.map_or("unset".into(), |d| d.to_string()),
            weights_text(&self.endpoints)
        ))
    }
}

fn weights_text(eps: &[GaEndpoint]) -> String {
    eps.iter()
        .map(|e| {
            format!(
                "{}={}",
                e.id,
                e.weight.map_or("default".into(), |w| w.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The GA API lives in us-west-2 whatever the playbook's region.
fn ga_conn(
    playbook: &crate::playbook::Playbook,
    region: &Option<String>,
    profile: &Option<String>,
) -> AwsConn {
    let region = Some(region.clone().unwrap_or_else(|| "us-west-2".into()));
    super::conn_of(playbook, &region, profile)
}

async fn describe(t: &Target, arn: &str) -> Result<EndpointGroup, StepError> {
    let out = ga_client(t)
        .describe_endpoint_group()
        .endpoint_group_arn(arn)
        .send()
        .await
        .map_err(|e| api_error(DESCRIBE, &format!("endpoint group {arn}"), e))?;
    out.endpoint_group.ok_or_else(|| {
        StepError::fatal(format!(
            "{DESCRIBE} on endpoint group {arn} answered no endpoint group"
        ))
    })
}

fn endpoints_of(g: &EndpointGroup) -> Vec<GaEndpoint> {
    g.endpoint_descriptions()
        .iter()
        .filter_map(|d| {
            Some(GaEndpoint {
                id: d.endpoint_id()?.to_string(),
                weight: d.weight(),
                client_ip_preservation: d.client_ip_preservation_enabled(),
            })
        })
        .collect()
}

/// The full description, for pre-state and evidence.
pub fn group_json(g: &EndpointGroup) -> Value {
    json!({
        "endpoint_group_arn": g.endpoint_group_arn(),
        "endpoint_group_region": g.endpoint_group_region(),
        "traffic_dial_percentage": g.traffic_dial_percentage(),
        "endpoints": g.endpoint_descriptions().iter().map(|d| json!({
            "endpoint_id": d.endpoint_id(),
            "weight": d.weight(),
            "health_state": d.health_state().map(|h| h.as_str()),
            "health_reason": d.health_reason(),
            "client_ip_preservation_enabled": d.client_ip_preservation_enabled(),
        })).collect::<Vec<_>>(),
        "health_check_port": g.health_check_port(),
        "health_check_protocol": g.health_check_protocol().map(|p| p.as_str()),
        "health_check_path": g.health_check_path(),
        "health_check_interval_seconds": g.health_check_interval_seconds(),
        "threshold_count": g.threshold_count(),
    })
}

async fn update(
    t: &Target,
    arn: &str,
    dial: Option<f32>,
    endpoints: &[GaEndpoint],
) -> Result<(), StepError> {
    let configs: Vec<EndpointConfiguration> = endpoints
        .iter()
        .map(|e| {
            EndpointConfiguration::builder()
                .endpoint_id(&e.id)
                .set_weight(e.weight)
                .set_client_ip_preservation_enabled(e.client_ip_preservation)
                .build()
        })
        .collect();
    ga_client(t)
        .update_endpoint_group()
        .endpoint_group_arn(arn)
        .set_traffic_dial_percentage(dial)
        .set_endpoint_configurations(Some(configs))
        .send()
        .await
        .map_err(|e| api_error(UPDATE, &format!("endpoint group {arn}"), e))?;
    Ok(())
}

impl GaTrafficDialSpec {
    fn change_text(&self) -> String {
        let mut parts = vec![];
        if let Some(d) = self.traffic_dial {
            parts.push(format!("traffic dial → {d}%"));
        }
        for w in &self.weights {
            parts.push(format!("{} weight → {}", w.endpoint_id, w.weight));
        }
        parts.join(", ")
    }
}

#[async_trait]
impl Step for GaTrafficDialSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let conn = ga_conn(ctx.playbook, &self.region, &self.profile);
        let at = super::plan_where(&conn, Service::GlobalAccelerator);
        vec![
            PlannedCall {
                call: format!("{DESCRIBE} {} {at} (capture)", self.endpoint_group_arn),
                undo: None,
            },
            PlannedCall {
                call: format!(
                    "{UPDATE} {}: {} {at}",
                    self.endpoint_group_arn,
                    self.change_text()
                ),
                undo: Some(format!(
                    "{UPDATE} with the captured traffic dial and endpoint weights"
                )),
            },
        ]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let conn = ga_conn(&ctx.playbook, &self.region, &self.profile);
        let t = ctx
            .clients
            .aws
            .target(&conn, Service::GlobalAccelerator)
            .await?;
        let g = describe(&t, &self.endpoint_group_arn).await?;
        let endpoints = endpoints_of(&g);
        let unknown: Vec<&String> = self
            .weights
            .iter()
            .map(|w| &w.endpoint_id)
            .filter(|id| !endpoints.iter().any(|e| &e.id == *id))
            .collect();
        if !unknown.is_empty() {
            return Err(StepError::fatal(format!(
                "endpoint group {} has no endpoint {}; its endpoints are: {}",
                self.endpoint_group_arn,
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                endpoints
                    .iter()
                    .map(|e| e.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let undo = GaUndo {
            endpoint_group_arn: self.endpoint_group_arn.clone(),
            traffic_dial: g.traffic_dial_percentage(),
            endpoints,
        };
        Ok(Some((
            group_json(&g),
            Undo {
                description: format!(
                    "set {} back to traffic dial {}% and weights {}",
                    self.endpoint_group_arn,
                    undo.traffic_dial.map_or("unset".into(), |d| d.to_string()),
                    weights_text(&undo.endpoints)
                ),
                action: UndoAction::Aws(Box::new(AwsUndo {
                    conn: t.conn.clone(),
                    op: AwsUndoOp::GaEndpointGroup(undo),
                })),
            },
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = ga_conn(&ctx.playbook, &self.region, &self.profile);
        let t = ctx
            .clients
            .aws
            .target(&conn, Service::GlobalAccelerator)
            .await?;
        // Read again: keep the weights this step does not name as they are now.
        let g = describe(&t, &self.endpoint_group_arn).await?;
        let endpoints: Vec<GaEndpoint> = endpoints_of(&g)
            .into_iter()
            .map(|mut e| {
                if let Some(w) = self.weights.iter().find(|w| w.endpoint_id == e.id) {
                    e.weight = Some(w.weight);
                }
                e
            })
            .collect();
        let dial = self.traffic_dial.or(g.traffic_dial_percentage());
        update(&t, &self.endpoint_group_arn, dial, &endpoints).await?;
        Ok(Outcome::pass(format!("{}: {}", self.endpoint_group_arn, self.change_text()))
            .with_evidence(json!({"call": UPDATE, "endpoint_group_arn": self.endpoint_group_arn, "traffic_dial": dial, "endpoints": endpoints})))
    }
}

#[async_trait]
impl Step for GaEndpointGroupSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let conn = ga_conn(ctx.playbook, &self.region, &self.profile);
        vec![PlannedCall {
            call: format!(
                "{DESCRIBE} {} {}",
                self.endpoint_group_arn,
                super::plan_where(&conn, Service::GlobalAccelerator)
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = ga_conn(&ctx.playbook, &self.region, &self.profile);
        let t = ctx
            .clients
            .aws
            .target(&conn, Service::GlobalAccelerator)
            .await?;
        let g = describe(&t, &self.endpoint_group_arn).await?;
        let dial = g.traffic_dial_percentage();
        let mut problems = vec![];
        if let Some(c) = &self.expect.traffic_dial
            && !dial.is_some_and(|d| c.holds(f64::from(d)))
        {
            problems.push(format!(
                "traffic dial is {}, expected {c}",
                dial.map_or("unset".into(), |d| format!("{d}%"))
            ));
        }
        for we in &self.expect.weights {
            let (id, c) = (&we.endpoint_id, &we.weight);
            let w = g
                .endpoint_descriptions()
                .iter()
                .find(|d| d.endpoint_id() == Some(id.as_str()))
                .map(|d| d.weight());
            match w {
                None => problems.push(format!("endpoint {id} is not in the group")),
                Some(w) if !w.is_some_and(|w| c.holds(f64::from(w))) => problems.push(format!(
                    "{id} weight is {}, expected {c}",
                    w.map_or("unset".into(), |w| w.to_string())
                )),
                _ => {}
            }
        }
        let healthy = g
            .endpoint_descriptions()
            .iter()
            .filter(|d| d.health_state().is_some_and(|h| h.as_str() == "HEALTHY"))
            .count();
        if let Some(c) = &self.expect.healthy_endpoints
            && !c.holds(healthy as f64)
        {
            problems.push(format!("{healthy} healthy endpoint(s), expected {c}"));
        }
        let summary = format!(
            "traffic dial {}, {} healthy of {} endpoint(s){}",
            dial.map_or("unset".into(), |d| format!("{d}%")),
            healthy,
            g.endpoint_descriptions().len(),
            if problems.is_empty() {
                String::new()
            } else {
                format!(": {}", problems.join("; "))
            }
        );
        Ok(Outcome {
            ok: problems.is_empty(),
            value: dial.map(f64::from),
            summary,
            evidence: json!({"call": DESCRIBE, "endpoint_group": group_json(&g)}),
            refined: None,
        })
    }
}
