//! Elastic Load Balancing v2 executors: forward weights of a listener's
//! default action or of a rule (ModifyListener / ModifyRule; the pre-state and
//! the undo are the whole action list as DescribeListeners / DescribeRules
//! showed it), and deregistering targets (the undo registers exactly the
//! targets that were registered, with their ports and zones).

use super::{AwsClients, AwsUndo, AwsUndoOp, Target, api_error, elbv2_client};
use crate::playbook::spec::aws::elbv2::{Elbv2DeregisterTargetsSpec, Elbv2ForwardWeightsSpec};
use crate::playbook::spec::aws::{AwsConn, Service};
use crate::steps::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError, Undo, UndoAction};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig, RedirectActionConfig,
    RedirectActionStatusCodeEnum, TargetDescription, TargetGroupStickinessConfig, TargetGroupTuple,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const DESCRIBE_LISTENERS: &str = "elasticloadbalancing:DescribeListeners";
const DESCRIBE_RULES: &str = "elasticloadbalancing:DescribeRules";
const MODIFY_LISTENER: &str = "elasticloadbalancing:ModifyListener";
const MODIFY_RULE: &str = "elasticloadbalancing:ModifyRule";
const DESCRIBE_HEALTH: &str = "elasticloadbalancing:DescribeTargetHealth";
const DEREGISTER: &str = "elasticloadbalancing:DeregisterTargets";
const REGISTER: &str = "elasticloadbalancing:RegisterTargets";

// ----- actions -----------------------------------------------------------------

/// An action as journaled. Only the kinds gameday can put back exactly.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionData {
    #[serde(rename = "type")]
    pub kind: String,
    pub order: Option<i32>,
    pub target_group_arn: Option<String>,
    /// Target group ARN and weight, for forward actions.
    pub forward: Option<Vec<(String, Option<i32>)>>,
    pub stickiness: Option<(Option<bool>, Option<i32>)>,
    pub fixed_response: Option<FixedResponse>,
    pub redirect: Option<Redirect>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FixedResponse {
    pub status_code: Option<String>,
    pub content_type: Option<String>,
    pub message_body: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Redirect {
    pub protocol: Option<String>,
    pub port: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub query: Option<String>,
    pub status_code: Option<String>,
}

impl ActionData {
    fn from_sdk(a: &Action, what: &str) -> Result<ActionData, StepError> {
        let kind = a
            .r#type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default();
        if !matches!(kind.as_str(), "forward" | "fixed-response" | "redirect") {
            return Err(StepError::fatal(format!(
                "{what} has a `{kind}` action; gameday can only capture and restore forward, fixed-response and redirect actions exactly, so it will not change this one"
            )));
        }
        Ok(ActionData {
            kind,
            order: a.order(),
            target_group_arn: a.target_group_arn().map(str::to_string),
            forward: a.forward_config().map(|f| {
                f.target_groups
                    .iter()
                    .flatten()
                    .map(|t| (t.target_group_arn.clone().unwrap_or_default(), t.weight))
                    .collect()
            }),
            stickiness: a
                .forward_config()
                .and_then(|f| f.target_group_stickiness_config.as_ref())
                .map(|s| (s.enabled, s.duration_seconds)),
            fixed_response: a.fixed_response_config().map(|f| FixedResponse {
                status_code: f.status_code().map(str::to_string),
                content_type: f.content_type().map(str::to_string),
                message_body: f.message_body().map(str::to_string),
            }),
            redirect: a.redirect_config().map(|r| Redirect {
                protocol: r.protocol().map(str::to_string),
                port: r.port().map(str::to_string),
                host: r.host().map(str::to_string),
                path: r.path().map(str::to_string),
                query: r.query().map(str::to_string),
                status_code: r.status_code().map(|s| s.as_str().to_string()),
            }),
        })
    }

    fn to_sdk(&self) -> Action {
        let forward = self.forward.as_ref().map(|groups| {
            ForwardActionConfig::builder()
                .set_target_groups(Some(
                    groups
                        .iter()
                        .map(|(arn, w)| {
                            TargetGroupTuple::builder()
                                .target_group_arn(arn)
                                .set_weight(*w)
                                .build()
                        })
                        .collect(),
                ))
                .set_target_group_stickiness_config(self.stickiness.map(|(e, d)| {
                    TargetGroupStickinessConfig::builder()
                        .set_enabled(e)
                        .set_duration_seconds(d)
                        .build()
                }))
                .build()
        });
        Action::builder()
            .r#type(ActionTypeEnum::from(self.kind.as_str()))
            .set_order(self.order)
            .set_target_group_arn(self.target_group_arn.clone())
            .set_forward_config(forward)
            .set_fixed_response_config(self.fixed_response.as_ref().map(|f| {
                FixedResponseActionConfig::builder()
                    .set_status_code(f.status_code.clone())
                    .set_content_type(f.content_type.clone())
                    .set_message_body(f.message_body.clone())
                    .build()
            }))
            .set_redirect_config(self.redirect.as_ref().map(|r| {
                RedirectActionConfig::builder()
                    .set_protocol(r.protocol.clone())
                    .set_port(r.port.clone())
                    .set_host(r.host.clone())
                    .set_path(r.path.clone())
                    .set_query(r.query.clone())
                    .set_status_code(
                        r.status_code
                            .as_deref()
                            .map(RedirectActionStatusCodeEnum::from),
                    )
                    .build()
            }))
            .build()
    }
}

/// Where the actions live.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ActionsOf {
    ListenerDefault(String),
    Rule(String),
}

impl ActionsOf {
    fn text(&self) -> String {
        match self {
            ActionsOf::ListenerDefault(a) => format!("listener {a} default action"),
            ActionsOf::Rule(a) => format!("rule {a}"),
        }
    }
    fn modify_call(&self) -> &'static str {
        match self {
            ActionsOf::ListenerDefault(_) => MODIFY_LISTENER,
            ActionsOf::Rule(_) => MODIFY_RULE,
        }
    }
}

/// Put a listener's default actions or a rule's actions back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionsUndo {
    pub of: ActionsOf,
    pub actions: Vec<ActionData>,
}

impl ActionsUndo {
    pub async fn run(&self, clients: &AwsClients, conn: &AwsConn) -> Result<String, StepError> {
        let t = clients.target(conn, Service::Elbv2).await?;
        modify(&t, &self.of, &self.actions).await?;
        Ok(format!(
            "{}: {}",
            self.of.text(),
            actions_text(&self.actions)
        ))
    }
}

fn actions_text(actions: &[ActionData]) -> String {
    actions
        .iter()
        .map(|a| match &a.forward {
            Some(groups) => format!(
                "forward {}",
                groups
                    .iter()
                    .map(|(arn, w)| format!(
                        "{}={}",
                        short(arn),
                        w.map_or("-".into(), |w| w.to_string())
                    ))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None => a.kind.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `arn:...:targetgroup/eu-west-1a/abc` → `targetgroup/eu-west-1a/abc`.
fn short(arn: &str) -> &str {
    arn.split_once(":targetgroup/")
        .map_or(arn, |(_, rest)| rest)
}

async fn read_actions(t: &Target, of: &ActionsOf) -> Result<Vec<ActionData>, StepError> {
    let c = elbv2_client(t);
    let raw: Vec<Action> = match of {
        ActionsOf::ListenerDefault(arn) => {
            let out = c
                .describe_listeners()
                .listener_arns(arn)
                .send()
                .await
                .map_err(|e| api_error(DESCRIBE_LISTENERS, &format!("listener {arn}"), e))?;
            let l = out.listeners().first().ok_or_else(|| {
                StepError::fatal(format!(
                    "{DESCRIBE_LISTENERS}: listener {arn} was not found"
                ))
            })?;
            l.default_actions().to_vec()
        }
        ActionsOf::Rule(arn) => {
            let out = c
                .describe_rules()
                .rule_arns(arn)
                .send()
                .await
                .map_err(|e| api_error(DESCRIBE_RULES, &format!("rule {arn}"), e))?;
            let r = out.rules().first().ok_or_else(|| {
                StepError::fatal(format!("{DESCRIBE_RULES}: rule {arn} was not found"))
            })?;
            r.actions().to_vec()
        }
    };
    raw.iter()
        .map(|a| ActionData::from_sdk(a, &of.text()))
        .collect()
}

async fn modify(t: &Target, of: &ActionsOf, actions: &[ActionData]) -> Result<(), StepError> {
    let c = elbv2_client(t);
    let sdk: Vec<Action> = actions.iter().map(ActionData::to_sdk).collect();
    match of {
        ActionsOf::ListenerDefault(arn) => {
            c.modify_listener()
                .listener_arn(arn)
                .set_default_actions(Some(sdk))
                .send()
                .await
                .map_err(|e| api_error(MODIFY_LISTENER, &format!("listener {arn}"), e))?;
        }
        ActionsOf::Rule(arn) => {
            c.modify_rule()
                .rule_arn(arn)
                .set_actions(Some(sdk))
                .send()
                .await
                .map_err(|e| api_error(MODIFY_RULE, &format!("rule {arn}"), e))?;
        }
    }
    Ok(())
}

impl Elbv2ForwardWeightsSpec {
    fn of(&self) -> ActionsOf {
        match (&self.listener_arn, &self.rule_arn) {
            (Some(l), _) => ActionsOf::ListenerDefault(l.clone()),
            (None, Some(r)) => ActionsOf::Rule(r.clone()),
            (None, None) => ActionsOf::Rule(String::new()),
        }
    }

    fn change_text(&self) -> String {
        self.weights
            .iter()
            .map(|w| format!("{} → {}", short(&w.target_group_arn), w.weight))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The actions with the new weights; every named group must be in the forward action.
    fn reweighted(&self, actions: &[ActionData]) -> Result<Vec<ActionData>, StepError> {
        let of = self.of();
        let mut out = actions.to_vec();
        let fwd = out
            .iter_mut()
            .find(|a| a.kind == "forward")
            .ok_or_else(|| {
                StepError::fatal(format!("{} has no forward action to reweight", of.text()))
            })?;
        let mut groups = fwd.forward.clone().unwrap_or_else(|| {
            fwd.target_group_arn
                .iter()
                .map(|arn| (arn.clone(), Some(1)))
                .collect()
        });
        for tw in &self.weights {
            let arn = &tw.target_group_arn;
            match groups.iter_mut().find(|(g, _)| g == arn) {
                Some(slot) => slot.1 = Some(tw.weight),
                None => {
                    return Err(StepError::fatal(format!(
                        "{} does not forward to {arn}; it forwards to: {}",
                        of.text(),
                        groups
                            .iter()
                            .map(|(g, _)| g.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        // With several groups, the ARN goes in ForwardConfig only.
        if groups.len() > 1 {
            fwd.target_group_arn = None;
        }
        fwd.forward = Some(groups);
        Ok(out)
    }
}

#[async_trait]
impl Step for Elbv2ForwardWeightsSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let of = self.of();
        let at = super::plan_at(ctx.playbook, &self.region, &self.profile, Service::Elbv2);
        let read = match of {
            ActionsOf::ListenerDefault(_) => DESCRIBE_LISTENERS,
            ActionsOf::Rule(_) => DESCRIBE_RULES,
        };
        vec![
            PlannedCall {
                call: format!("{read} {} {at} (capture)", of.text()),
                undo: None,
            },
            PlannedCall {
                call: format!(
                    "{} {}: forward weights {} {at}",
                    of.modify_call(),
                    of.text(),
                    self.change_text()
                ),
                undo: Some(format!("{} with the captured actions", of.modify_call())),
            },
        ]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let conn = super::conn_of(&ctx.playbook, &self.region, &self.profile);
        let t = ctx.clients.aws.target(&conn, Service::Elbv2).await?;
        let of = self.of();
        let actions = read_actions(&t, &of).await?;
        self.reweighted(&actions)?; // refuse now rather than after the intent
        let pre = json!({"of": of, "actions": actions});
        let undo = ActionsUndo { of, actions };
        Ok(Some((
            pre,
            Undo {
                description: format!(
                    "set {} back to {}",
                    undo.of.text(),
                    actions_text(&undo.actions)
                ),
                action: UndoAction::Aws(Box::new(AwsUndo {
                    conn: t.conn.clone(),
                    op: AwsUndoOp::Elbv2Actions(undo),
                })),
            },
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = super::conn_of(&ctx.playbook, &self.region, &self.profile);
        let t = ctx.clients.aws.target(&conn, Service::Elbv2).await?;
        let of = self.of();
        let actions = self.reweighted(&read_actions(&t, &of).await?)?;
        modify(&t, &of, &actions).await?;
        Ok(
            Outcome::pass(format!("{}: {}", of.text(), actions_text(&actions)))
                .with_evidence(json!({"call": of.modify_call(), "of": of, "actions": actions})),
        )
    }
}

// ----- targets -----------------------------------------------------------------

/// A registered target as journaled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct TargetData {
    pub id: String,
    pub port: Option<i32>,
    pub availability_zone: Option<String>,
}

impl TargetData {
    fn to_sdk(&self) -> TargetDescription {
        TargetDescription::builder()
            .id(&self.id)
            .set_port(self.port)
            .set_availability_zone(self.availability_zone.clone())
            .build()
    }
    fn text(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.id),
            None => self.id.clone(),
        }
    }
}

/// Register targets again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetsUndo {
    pub target_group_arn: String,
    pub targets: Vec<TargetData>,
}

impl TargetsUndo {
    pub async fn run(&self, clients: &AwsClients, conn: &AwsConn) -> Result<String, StepError> {
        let t = clients.target(conn, Service::Elbv2).await?;
        if self.targets.is_empty() {
            return Ok("nothing was deregistered".into());
        }
        let arn = &self.target_group_arn;
        elbv2_client(&t)
            .register_targets()
            .target_group_arn(arn)
            .set_targets(Some(self.targets.iter().map(TargetData::to_sdk).collect()))
            .send()
            .await
            .map_err(|e| api_error(REGISTER, &format!("target group {arn}"), e))?;
        Ok(format!(
            "registered {} in {arn}",
            self.targets
                .iter()
                .map(TargetData::text)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Registered targets of a group, with their health, as DescribeTargetHealth shows them.
async fn registered(t: &Target, arn: &str) -> Result<(Vec<TargetData>, Value), StepError> {
    let out = elbv2_client(t)
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| api_error(DESCRIBE_HEALTH, &format!("target group {arn}"), e))?;
    let mut targets = vec![];
    let mut shown = vec![];
    for d in out.target_health_descriptions() {
        let Some(td) = &d.target else { continue };
        let Some(id) = &td.id else { continue };
        let state = d
            .target_health
            .as_ref()
            .and_then(|h| h.state.as_ref())
            .map(|s| s.as_str().to_string());
        shown.push(json!({"id": id, "port": td.port, "availability_zone": td.availability_zone, "state": state}));
        // Targets already leaving do not count as registered.
        if state.as_deref() != Some("draining") {
            targets.push(TargetData {
                id: id.clone(),
                port: td.port,
                availability_zone: td.availability_zone.clone(),
            });
        }
    }
    targets.sort();
    Ok((targets, Value::Array(shown)))
}

impl Elbv2DeregisterTargetsSpec {
    /// The registered targets this step names.
    fn chosen(&self, registered: &[TargetData]) -> Vec<TargetData> {
        registered
            .iter()
            .filter(|r| {
                self.targets
                    .iter()
                    .any(|t| t.id == r.id && (t.port.is_none() || t.port == r.port))
            })
            .cloned()
            .collect()
    }

    fn targets_text(&self) -> String {
        self.targets
            .iter()
            .map(|t| match t.port {
                Some(p) => format!("{}:{p}", t.id),
                None => t.id.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[async_trait]
impl Step for Elbv2DeregisterTargetsSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let at = super::plan_at(ctx.playbook, &self.region, &self.profile, Service::Elbv2);
        vec![
            PlannedCall {
                call: format!("{DESCRIBE_HEALTH} {} {at} (capture)", self.target_group_arn),
                undo: None,
            },
            PlannedCall {
                call: format!(
                    "{DEREGISTER} {} from {} {at}",
                    self.targets_text(),
                    self.target_group_arn
                ),
                undo: Some(format!(
                    "{REGISTER} the targets that were registered, with their ports and zones"
                )),
            },
        ]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let conn = super::conn_of(&ctx.playbook, &self.region, &self.profile);
        let t = ctx.clients.aws.target(&conn, Service::Elbv2).await?;
        let (all, shown) = registered(&t, &self.target_group_arn).await?;
        let chosen = self.chosen(&all);
        let undo = TargetsUndo {
            target_group_arn: self.target_group_arn.clone(),
            targets: chosen,
        };
        Ok(Some((
            json!({"target_group_arn": self.target_group_arn, "targets": shown}),
            Undo {
                description: format!(
                    "register {} in {} again",
                    if undo.targets.is_empty() {
                        "nothing".to_string()
                    } else {
                        undo.targets
                            .iter()
                            .map(TargetData::text)
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    self.target_group_arn
                ),
                action: UndoAction::Aws(Box::new(AwsUndo {
                    conn: t.conn.clone(),
                    op: AwsUndoOp::Elbv2Targets(undo),
                })),
            },
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = super::conn_of(&ctx.playbook, &self.region, &self.profile);
        let t = ctx.clients.aws.target(&conn, Service::Elbv2).await?;
        let arn = &self.target_group_arn;
        let (all, _) = registered(&t, arn).await?;
        let chosen = self.chosen(&all);
        if chosen.is_empty() {
            return Ok(Outcome::pass(format!(
                "none of {} is registered in {arn}; nothing to deregister",
                self.targets_text()
            )));
        }
        elbv2_client(&t)
            .deregister_targets()
            .target_group_arn(arn)
            .set_targets(Some(chosen.iter().map(TargetData::to_sdk).collect()))
            .send()
            .await
            .map_err(|e| api_error(DEREGISTER, &format!("target group {arn}"), e))?;
        Ok(Outcome::pass(format!(
            "deregistered {} from {arn}",
            chosen
                .iter()
                .map(TargetData::text)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_evidence(json!({"call": DEREGISTER, "target_group_arn": arn, "targets": chosen})))
    }
}
