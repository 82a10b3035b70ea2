//! Fault Injection Service executors. Starting an experiment is undone by
//! stopping it. The experiment's id is only known after the start call, so
//! the journaled undo names the experiment by a token fixed before the call
//! (the start's client token and a `gameday:token` tag, derived from the run
//! directory and the step name): the undo lists the template's experiments,
//! finds the tagged ones and stops those still pending or running. That works
//! from `gameday restore` after a crash, even if the process died between the
//! call and its answer, and stopping twice is harmless.

use super::{AwsClients, AwsUndo, AwsUndoOp, Target, api_error, fis_client, to_chrono};
use crate::playbook::spec::aws::fis::{FisExperimentSpec, FisExperimentStateSpec};
use crate::playbook::spec::aws::{AwsConn, Service};
use crate::steps::{
    Outcome, PlanCtx, PlannedCall, Refined, Step, StepCtx, StepError, Undo, UndoAction,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::HashMap;
use std::time::Duration;

const GET_TEMPLATE: &str = "fis:GetExperimentTemplate";
const START: &str = "fis:StartExperiment";
const GET: &str = "fis:GetExperiment";
const LIST: &str = "fis:ListExperiments";
const STOP: &str = "fis:StopExperiment";
const TAG_RESOURCE: &str = "fis:TagResource";
/// The tag naming the step (and run) that started an experiment.
pub const TOKEN_TAG: &str = "gameday:token";
/// States in which an experiment can still be stopped.
const ACTIVE: &[&str] = &["pending", "initiating", "running"];
/// States an experiment never leaves.
const TERMINAL: &[&str] = &["completed", "stopped", "failed", "cancelled"];

/// The token of the experiment started by `step` in the run at `run_dir`.
pub fn token(run_dir: &std::path::Path, step: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(run_dir.display().to_string().as_bytes());
    h.update([0]);
    h.update(step.as_bytes());
    format!("gameday-{}", &hex::encode(h.finalize())[..32])
}

/// Stop the experiments a step started.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FisUndo {
    pub template_id: String,
    pub token: String,
}

impl FisUndo {
    pub async fn run(&self, clients: &AwsClients, conn: &AwsConn) -> Result<String, StepError> {
        let t = clients.target(conn, Service::Fis).await?;
        let found = find_by_token(&t, Some(&self.template_id), &self.token).await?;
        let c = fis_client(&t);
        let mut stopped = vec![];
        let mut already = vec![];
        for (id, status) in found {
            if ACTIVE.contains(&status.as_str()) {
                c.stop_experiment()
                    .id(&id)
                    .send()
                    .await
                    .map_err(|e| api_error(STOP, &format!("experiment {id}"), e))?;
                stopped.push(id);
            } else {
                already.push(format!("{id} is {status}"));
            }
        }
        Ok(match (stopped.is_empty(), already.is_empty()) {
            (true, true) => format!(
                "no experiment of template {} was started by this step",
                self.template_id
            ),
            (true, false) => format!("nothing to stop: {}", already.join(", ")),
            _ => format!("stopped experiment {}", stopped.join(", ")),
        })
    }
}

/// Experiments (id, status) tagged with `token`, newest last.
async fn find_by_token(
    t: &Target,
    template: Option<&str>,
    token: &str,
) -> Result<Vec<(String, String)>, StepError> {
    let c = fis_client(t);
    let mut out = vec![];
    let mut next: Option<String> = None;
    loop {
        let r = c
            .list_experiments()
            .set_experiment_template_id(template.map(str::to_string))
            .set_next_token(next.clone())
            .send()
            .await
            .map_err(|e| {
                api_error(
                    LIST,
                    &template.map_or("experiments".into(), |t| {
                        format!("experiments of template {t}")
                    }),
                    e,
                )
            })?;
        for s in r.experiments() {
            let tagged = s
                .tags()
                .and_then(|tags| tags.get(TOKEN_TAG))
                .is_some_and(|v| v == token);
            if let (true, Some(id)) = (tagged, s.id()) {
                let status = s
                    .state()
                    .and_then(|st| st.status())
                    .map_or("unknown".to_string(), |st| st.as_str().to_string());
                out.push((id.to_string(), status));
            }
        }
        next = r.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    Ok(out)
}

/// One experiment's status, reason and start time.
async fn experiment(
    t: &Target,
    id: &str,
) -> Result<
    (
        String,
        Option<String>,
        Value,
        Option<chrono::DateTime<chrono::Utc>>,
    ),
    StepError,
> {
    let out = fis_client(t)
        .get_experiment()
        .id(id)
        .send()
        .await
        .map_err(|e| api_error(GET, &format!("experiment {id}"), e))?;
    let e = out
        .experiment
        .ok_or_else(|| StepError::fatal(format!("{GET} on experiment {id} answered nothing")))?;
    let status = e
        .state()
        .and_then(|s| s.status())
        .map_or("unknown".into(), |s| s.as_str().to_string());
    let reason = e.state().and_then(|s| s.reason()).map(str::to_string);
    let started = e.start_time().and_then(to_chrono);
    let shown = json!({
        "id": e.id(),
        "arn": e.arn(),
        "experiment_template_id": e.experiment_template_id(),
        "status": status,
        "reason": reason,
        "start_time": started,
        "end_time": e.end_time().and_then(to_chrono),
        "tags": e.tags(),
    });
    Ok((status, reason, shown, started))
}

#[async_trait]
impl Step for FisExperimentSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let at = super::plan_at(ctx.playbook, &self.region, &self.profile, Service::Fis);
        let mut calls = vec![
            PlannedCall {
                call: format!("{GET_TEMPLATE} {} {at} (capture)", self.template_id),
                undo: None,
            },
            PlannedCall {
                call: format!(
                    "{START} from template {} {at} (tagged {TOKEN_TAG}; needs {TAG_RESOURCE})",
                    self.template_id
                ),
                undo: Some(format!(
                    "{LIST} of template {}, then {STOP} on the experiment this step started if still pending or running",
                    self.template_id
                )),
            },
        ];
        if let Some(s) = self.wait_for {
            calls.push(PlannedCall {
                call: format!("{GET} every 2s until the experiment is {}", s.0),
                undo: None,
            });
        }
        calls
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let conn = super::conn_of(&ctx.playbook, &self.region, &self.profile);
        let t = ctx.clients.aws.target(&conn, Service::Fis).await?;
        let id = &self.template_id;
        let out = fis_client(&t)
            .get_experiment_template()
            .id(id)
            .send()
            .await
            .map_err(|e| api_error(GET_TEMPLATE, &format!("experiment template {id}"), e))?;
        let tpl = out.experiment_template;
        let token = token(&ctx.run_dir, &ctx.step_name);
        let pre = json!({
            "template": {
                "id": tpl.as_ref().and_then(|t| t.id()),
                "description": tpl.as_ref().and_then(|t| t.description()),
                "role_arn": tpl.as_ref().and_then(|t| t.role_arn()),
                "actions": tpl.as_ref().and_then(|t| t.actions()).map(|a| a.keys().cloned().collect::<Vec<_>>()),
                "stop_conditions": tpl.as_ref().map(|t| t.stop_conditions().iter().map(|s| json!({"source": s.source(), "value": s.value()})).collect::<Vec<_>>()),
            },
            "token": token,
            "running_experiment": null,
        });
        Ok(Some((
            pre,
            Undo {
                description: format!("stop the experiment of template {id} started by this step"),
                action: UndoAction::Aws(Box::new(AwsUndo {
                    conn: t.conn.clone(),
                    op: AwsUndoOp::FisStop(FisUndo {
                        template_id: id.clone(),
                        token,
                    }),
                })),
            },
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = super::conn_of(&ctx.playbook, &self.region, &self.profile);
        let t = ctx.clients.aws.target(&conn, Service::Fis).await?;
        let token = token(&ctx.run_dir, &ctx.step_name);
        let mut tags: HashMap<String, String> = self.tags.clone().into_iter().collect();
        tags.insert(TOKEN_TAG.into(), token.clone());
        tags.insert("gameday:drill".into(), ctx.playbook.name.clone());
        tags.insert("gameday:step".into(), ctx.step_name.clone());
        let tpl = &self.template_id;
        let out = fis_client(&t)
            .start_experiment()
            .experiment_template_id(tpl)
            .client_token(&token)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| api_error(START, &format!("experiment template {tpl}"), e))?;
        let id = out
            .experiment
            .as_ref()
            .and_then(|e| e.id())
            .ok_or_else(|| {
                StepError::fatal(format!(
                    "{START} on template {tpl} answered no experiment id"
                ))
            })?
            .to_string();
        let Some(want) = self.wait_for else {
            return Ok(
                Outcome::pass(format!("started experiment {id} from template {tpl}"))
                    .with_evidence(json!({"call": START, "experiment_id": id, "token": token})),
            );
        };
        // Poll until the wanted state; the step's timeout bounds this.
        loop {
            let (status, reason, shown, _) = experiment(&t, &id).await?;
            if status == want.0 {
                return Ok(Outcome::pass(format!("experiment {id} is {status}"))
                    .with_evidence(json!({"call": START, "experiment": shown})));
            }
            if TERMINAL.contains(&status.as_str()) {
                return Ok(Outcome::fail(format!(
                    "experiment {id} is {status}{} (waited for {})",
                    reason.map_or(String::new(), |r| format!(": {r}")),
                    want.0
                ))
                .with_evidence(json!({"call": START, "experiment": shown})));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

#[async_trait]
impl Step for FisExperimentStateSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let at = super::plan_at(ctx.playbook, &self.region, &self.profile, Service::Fis);
        let call = match (&self.experiment_id, &self.started_by) {
            (Some(id), _) => format!("{GET} {id} {at} (expect {})", self.state.0),
            (None, Some(step)) => format!(
                "{LIST} (the experiment started by step `{step}`), then {GET} {at} (expect {})",
                self.state.0
            ),
            (None, None) => String::new(),
        };
        vec![PlannedCall { call, undo: None }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = super::conn_of(&ctx.playbook, &self.region, &self.profile);
        let t = ctx.clients.aws.target(&conn, Service::Fis).await?;
        let id = match (&self.experiment_id, &self.started_by) {
            (Some(id), _) => id.clone(),
            (None, Some(step)) => {
                let found = find_by_token(&t, None, &token(&ctx.run_dir, step)).await?;
                match found.last() {
                    Some((id, _)) => id.clone(),
                    None => {
                        return Ok(Outcome::fail(format!(
                            "step `{step}` has not started an experiment in this run"
                        )));
                    }
                }
            }
            (None, None) => return Err(StepError::fatal("no experiment named")),
        };
        let (status, reason, shown, started) = experiment(&t, &id).await?;
        let ok = status == self.state.0;
        Ok(Outcome {
            ok,
            value: None,
            summary: format!(
                "experiment {id} is {status}{}{}",
                reason.map_or(String::new(), |r| format!(" ({r})")),
                if ok {
                    String::new()
                } else {
                    format!(", expected {}", self.state.0)
                }
            ),
            evidence: json!({"call": GET, "experiment": shown}),
            refined: match (ok, self.state.0, started) {
                (true, "running", Some(at)) => Some(Refined {
                    at,
                    resolution_seconds: 1.0,
                    source: "FIS experiment startTime".into(),
                }),
                _ => None,
            },
        })
    }
}
