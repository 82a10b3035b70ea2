//! `arc-routing-control` and `arc-routing-control-state` executors: Route 53
//! ARC's data plane, reached through the cluster endpoints in turn (AWS
//! advises trying the next one when one fails: they sit in five regions).
//! Connection errors, timeouts, throttling and 5xx move on to the next
//! endpoint; access denied, a safety-rule rejection (`ConflictException`)
//! or an unknown control stop at once.

use super::{ApiFailure, AwsClients, AwsUndo, AwsUndoOp, FailureKind, Target};
use crate::playbook::spec::aws::arc::{
    ArcRoutingControlSpec, ArcRoutingControlStateSpec, ClusterEndpoint, ControlState,
};
use crate::playbook::spec::aws::{AwsConn, Service};
use crate::steps::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError, Undo, UndoAction};
use async_trait::async_trait;
use aws_config::Region;
use aws_sdk_route53recoverycluster as arc;
use aws_smithy_types::retry::RetryConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;

const GET: &str = "route53-recovery-cluster:GetRoutingControlState";
const UPDATE: &str = "route53-recovery-cluster:UpdateRoutingControlStates";
/// Attempts per endpoint before moving to the next one.
const ATTEMPTS_PER_ENDPOINT: u32 = 2;

/// Put routing controls back in the states captured before the step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArcUndo {
    pub endpoints: Vec<ClusterEndpoint>,
    /// Routing control ARN and the state to set it back to.
    pub states: Vec<(String, ControlState)>,
    #[serde(default)]
    pub safety_rules_to_override: Vec<String>,
}

impl ArcUndo {
    pub async fn run(&self, clients: &AwsClients, conn: &AwsConn) -> Result<String, StepError> {
        let t = clients
            .target(conn, Service::Route53RecoveryCluster)
            .await?;
        let used = update_states(
            &t,
            &self.endpoints,
            &self.states,
            &self.safety_rules_to_override,
        )
        .await?;
        Ok(format!("set {} via {used}", describe_states(&self.states)))
    }
}

fn describe_states(states: &[(String, ControlState)]) -> String {
    states
        .iter()
        .map(|(a, s)| format!("{} {}", short_arn(a), s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last path segment of an ARN (the routing control's id), for summaries.
fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The endpoints to use: `AWS_ENDPOINT_URL_ROUTE53_RECOVERY_CLUSTER`, when
/// set, replaces the playbook's list (signed for the first one's region).
fn effective_endpoints(listed: &[ClusterEndpoint]) -> Vec<ClusterEndpoint> {
    match std::env::var(Service::Route53RecoveryCluster.endpoint_env()) {
        Ok(url) if !url.trim().is_empty() => vec![ClusterEndpoint {
            url,
            region: listed
                .first()
                .map_or_else(|| "us-east-1".into(), |e| e.region.clone()),
        }],
        _ => listed.to_vec(),
    }
}

fn client(t: &Target, ep: &ClusterEndpoint) -> arc::Client {
    let attempts = t
        .conn
        .max_attempts
        .unwrap_or(ATTEMPTS_PER_ENDPOINT)
        .clamp(1, ATTEMPTS_PER_ENDPOINT);
    let conf = arc::config::Builder::from(&t.sdk)
        .endpoint_url(ep.url.clone())
        .region(Region::new(ep.region.clone()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .build();
    arc::Client::from_conf(conf)
}

/// Call `f` on each endpoint in turn until one answers. Returns the answer
/// and the endpoint that gave it.
async fn on_any_endpoint<T, F, Fut>(
    t: &Target,
    endpoints: &[ClusterEndpoint],
    action: &str,
    resource: &str,
    f: F,
) -> Result<(T, String), StepError>
where
    F: Fn(arc::Client) -> Fut,
    Fut: Future<Output = Result<T, ApiFailure>>,
{
    let mut tried = vec![];
    for ep in endpoints {
        match f(client(t, ep)).await {
            Ok(v) => return Ok((v, ep.url.clone())),
            Err(e) if e.transient() => {
                tried.push(format!("{} ({}): {}", ep.url, ep.region, e.detail))
            }
            Err(e) if e.kind == FailureKind::Conflict => {
                return Err(StepError::fatal(format!(
                    "{action} on {resource} was rejected by a safety rule ({}); the routing controls are unchanged. If the drill means to bypass the rule, list its ARN under `safety_rules_to_override:`",
                    e.detail
                )));
            }
            Err(e) => return Err(e.step_error(action, resource)),
        }
    }
    Err(StepError::retryable(format!(
        "{action} on {resource} failed on every cluster endpoint: {}",
        tried.join("; ")
    )))
}

async fn get_states(
    t: &Target,
    endpoints: &[ClusterEndpoint],
    arns: &[String],
) -> Result<(Vec<(String, ControlState, Option<String>)>, String), StepError> {
    let mut out = vec![];
    let mut used = String::new();
    for arn in arns {
        let ((state, name), ep) =
            on_any_endpoint(t, endpoints, GET, &format!("routing control {arn}"), |c| {
                let arn = arn.clone();
                async move {
                    let r = c
                        .get_routing_control_state()
                        .routing_control_arn(arn)
                        .send()
                        .await
                        .map_err(ApiFailure::from_sdk)?;
                    Ok((
                        r.routing_control_state().as_str().to_string(),
                        r.routing_control_name().map(str::to_string),
                    ))
                }
            })
            .await?;
        let state = ControlState::parse(&state).ok_or_else(|| {
            StepError::fatal(format!(
                "{GET} on routing control {arn} answered an unknown state `{state}`"
            ))
        })?;
        out.push((arn.clone(), state, name));
        used = ep;
    }
    Ok((out, used))
}

async fn update_states(
    t: &Target,
    endpoints: &[ClusterEndpoint],
    states: &[(String, ControlState)],
    overrides: &[String],
) -> Result<String, StepError> {
    let mut entries = vec![];
    for (arn, s) in states {
        entries.push(
            arc::types::UpdateRoutingControlStateEntry::builder()
                .routing_control_arn(arn)
                .routing_control_state(arc::types::RoutingControlState::from(s.as_str()))
                .build()
                .map_err(|e| StepError::fatal(format!("{UPDATE}: {e}")))?,
        );
    }
    let resource = format!(
        "routing control{} {}",
        if states.len() == 1 { "" } else { "s" },
        states
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (_, used) = on_any_endpoint(t, endpoints, UPDATE, &resource, |c| {
        let entries = entries.clone();
        let overrides = overrides.to_vec();
        async move {
            c.update_routing_control_states()
                .set_update_routing_control_state_entries(Some(entries))
                .set_safety_rules_to_override((!overrides.is_empty()).then_some(overrides))
                .send()
                .await
                .map_err(ApiFailure::from_sdk)?;
            Ok(())
        }
    })
    .await?;
    Ok(used)
}

/// The SDK target and the cluster endpoints to try, in order.
async fn cluster(
    ctx: &StepCtx,
    profile: &Option<String>,
    listed: &[ClusterEndpoint],
) -> Result<(Target, Vec<ClusterEndpoint>), StepError> {
    let t = ctx
        .clients
        .aws
        .target(
            &super::conn_of(&ctx.playbook, &None, profile),
            Service::Route53RecoveryCluster,
        )
        .await?;
    Ok((t, effective_endpoints(listed)))
}

fn endpoints_text(eps: &[ClusterEndpoint]) -> String {
    let first = eps.first().map_or("", |e| e.url.as_str());
    if eps.len() > 1 {
        format!("{first} (then {} more cluster endpoints)", eps.len() - 1)
    } else {
        first.to_string()
    }
}

#[async_trait]
impl Step for ArcRoutingControlSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        let eps = effective_endpoints(&self.cluster_endpoints);
        let mut calls: Vec<PlannedCall> = self
            .routing_controls
            .iter()
            .map(|a| PlannedCall {
                call: format!("{GET} {a} at {} (capture)", endpoints_text(&eps)),
                undo: None,
            })
            .collect();
        calls.push(PlannedCall {
            call: format!(
                "{UPDATE} {} → {} at {}{}",
                self.routing_controls.join(", "),
                self.state.as_str(),
                endpoints_text(&eps),
                if self.safety_rules_to_override.is_empty() {
                    String::new()
                } else {
                    format!(
                        " overriding safety rules {}",
                        self.safety_rules_to_override.join(", ")
                    )
                }
            ),
            undo: Some(format!("{UPDATE} back to the captured states")),
        });
        calls
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let (t, eps) = cluster(ctx, &self.profile, &self.cluster_endpoints).await?;
        let (states, used) = get_states(&t, &eps, &self.routing_controls).await?;
        let pre = json!({
            "endpoint": used,
            "routing_controls": states.iter().map(|(a, s, n)| json!({"arn": a, "state": s.as_str(), "name": n})).collect::<Vec<_>>(),
        });
        let back: Vec<(String, ControlState)> =
            states.into_iter().map(|(a, s, _)| (a, s)).collect();
        let undo = Undo {
            description: format!("set routing controls back: {}", describe_states(&back)),
            action: UndoAction::Aws(Box::new(AwsUndo {
                conn: t.conn.clone(),
                op: AwsUndoOp::ArcRoutingControls(ArcUndo {
                    endpoints: eps,
                    states: back,
                    safety_rules_to_override: self.safety_rules_to_override.clone(),
                }),
            })),
        };
        Ok(Some((pre, undo)))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let (t, eps) = cluster(ctx, &self.profile, &self.cluster_endpoints).await?;
        let states: Vec<(String, ControlState)> = self
            .routing_controls
            .iter()
            .map(|a| (a.clone(), self.state))
            .collect();
        let used = update_states(&t, &eps, &states, &self.safety_rules_to_override).await?;
        Ok(Outcome::pass(format!("set {} via {used}", describe_states(&states))).with_evidence(
            json!({"call": UPDATE, "endpoint": used, "routing_controls": self.routing_controls.0, "state": self.state.as_str()}),
        ))
    }
}

#[async_trait]
impl Step for ArcRoutingControlStateSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        let eps = effective_endpoints(&self.cluster_endpoints);
        self.routing_controls
            .iter()
            .map(|a| PlannedCall {
                call: format!(
                    "{GET} {a} at {} (expect {})",
                    endpoints_text(&eps),
                    self.expect.as_str()
                ),
                undo: None,
            })
            .collect()
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let (t, eps) = cluster(ctx, &self.profile, &self.cluster_endpoints).await?;
        let (states, used) = get_states(&t, &eps, &self.routing_controls).await?;
        let matching = states.iter().filter(|(_, s, _)| *s == self.expect).count();
        let wrong: Vec<String> = states
            .iter()
            .filter(|(_, s, _)| *s != self.expect)
            .map(|(a, s, _)| format!("{} is {}", short_arn(a), s.as_str()))
            .collect();
        let summary = if wrong.is_empty() {
            format!("{} routing control(s) {}", matching, self.expect.as_str())
        } else {
            format!("{} (expected {})", wrong.join(", "), self.expect.as_str())
        };
        Ok(Outcome {
            ok: wrong.is_empty(),
            value: Some(matching as f64),
            summary,
            evidence: json!({
                "call": GET,
                "endpoint": used,
                "routing_controls": states.iter().map(|(a, s, n)| json!({"arn": a, "state": s.as_str(), "name": n})).collect::<Vec<_>>(),
            }),
            refined: None,
        })
    }
}
