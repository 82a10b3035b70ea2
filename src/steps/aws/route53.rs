//! Route 53 executors: a health check's `Inverted`/`Disabled` flags
//! (UpdateHealthCheck; the pre-state is the whole GetHealthCheck answer, the
//! undo sets the two flags back), what the health checkers report
//! (GetHealthCheckStatus), and the weights of weighted records
//! (ChangeResourceRecordSets UPSERT; the pre-state is the record sets
//! themselves, and the undo UPSERTs them exactly as they were).

use super::{AwsClients, AwsUndo, AwsUndoOp, Target, api_error, route53_client, to_chrono};
use crate::playbook::spec::aws::route53::{
    Health, Route53HealthCheckSpec, Route53HealthCheckStatusSpec, Route53WeightsSpec,
};
use crate::playbook::spec::aws::{AwsConn, Service};
use crate::steps::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError, Undo, UndoAction};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, GeoLocation, HealthCheck,
    ResourceRecord, ResourceRecordSet, RrType,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

const GET_HC: &str = "route53:GetHealthCheck";
const UPDATE_HC: &str = "route53:UpdateHealthCheck";
const HC_STATUS: &str = "route53:GetHealthCheckStatus";
const LIST_RRS: &str = "route53:ListResourceRecordSets";
const CHANGE_RRS: &str = "route53:ChangeResourceRecordSets";
const GET_CHANGE: &str = "route53:GetChange";
/// Route 53 calls a health check healthy when more than this share of checkers do.
const HEALTHY_SHARE: f64 = 0.18;

async fn target(ctx: &StepCtx, profile: &Option<String>) -> Result<Target, StepError> {
    ctx.clients
        .aws
        .target(
            &super::conn_of(&ctx.playbook, &None, profile),
            Service::Route53,
        )
        .await
}

fn plan_endpoint(ctx: &PlanCtx, profile: &Option<String>) -> String {
    let conn = super::conn_of(ctx.playbook, &None, profile);
    match super::endpoint_for(&conn, Service::Route53) {
        Some(e) => format!(" at {e}"),
        None => String::new(),
    }
}

// ----- health checks ---------------------------------------------------------

/// Set a health check's flags back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HealthCheckUndo {
    pub health_check_id: String,
    pub inverted: Option<bool>,
    pub disabled: Option<bool>,
}

impl HealthCheckUndo {
    pub async fn run(&self, clients: &AwsClients, conn: &AwsConn) -> Result<String, StepError> {
        let t = clients.target(conn, Service::Route53).await?;
        update_flags(&t, &self.health_check_id, self.inverted, self.disabled).await?;
        Ok(format!(
            "health check {}: {}",
            self.health_check_id,
            flags_text(self.inverted, self.disabled)
        ))
    }
}

fn flags_text(inverted: Option<bool>, disabled: Option<bool>) -> String {
    let mut p = vec![];
    if let Some(i) = inverted {
        p.push(format!("inverted={i}"));
    }
    if let Some(d) = disabled {
        p.push(format!("disabled={d}"));
    }
    p.join(", ")
}

async fn get_health_check(t: &Target, id: &str) -> Result<HealthCheck, StepError> {
    let out = route53_client(t)
        .get_health_check()
        .health_check_id(id)
        .send()
        .await
        .map_err(|e| api_error(GET_HC, &format!("health check {id}"), e))?;
    out.health_check
        .ok_or_else(|| StepError::fatal(format!("{GET_HC} on health check {id} answered nothing")))
}

async fn update_flags(
    t: &Target,
    id: &str,
    inverted: Option<bool>,
    disabled: Option<bool>,
) -> Result<(), StepError> {
    route53_client(t)
        .update_health_check()
        .health_check_id(id)
        .set_inverted(inverted)
        .set_disabled(disabled)
        .send()
        .await
        .map_err(|e| api_error(UPDATE_HC, &format!("health check {id}"), e))?;
    Ok(())
}

/// The whole health check, for pre-state and evidence.
pub fn health_check_json(h: &HealthCheck) -> Value {
    let c = h.health_check_config();
    json!({
        "id": h.id(),
        "caller_reference": h.caller_reference(),
        "health_check_version": h.health_check_version(),
        "config": c.map(|c| json!({
            "type": c.r#type().as_str(),
            "ip_address": c.ip_address(),
            "port": c.port(),
            "resource_path": c.resource_path(),
            "fully_qualified_domain_name": c.fully_qualified_domain_name(),
            "search_string": c.search_string(),
            "request_interval": c.request_interval(),
            "failure_threshold": c.failure_threshold(),
            "measure_latency": c.measure_latency(),
            "inverted": c.inverted(),
            "disabled": c.disabled(),
            "health_threshold": c.health_threshold(),
            "child_health_checks": c.child_health_checks(),
            "enable_sni": c.enable_sni(),
            "regions": c.regions().iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "insufficient_data_health_status": c.insufficient_data_health_status().map(|s| s.as_str()),
            "routing_control_arn": c.routing_control_arn(),
        })),
    })
}

#[async_trait]
impl Step for Route53HealthCheckSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let at = plan_endpoint(ctx, &self.profile);
        vec![
            PlannedCall {
                call: format!("{GET_HC} {}{at} (capture)", self.health_check_id),
                undo: None,
            },
            PlannedCall {
                call: format!(
                    "{UPDATE_HC} {}: {}{at}",
                    self.health_check_id,
                    flags_text(self.inverted, self.disabled)
                ),
                undo: Some(format!("{UPDATE_HC} with the captured flags")),
            },
        ]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let t = target(ctx, &self.profile).await?;
        let h = get_health_check(&t, &self.health_check_id).await?;
        let c = h.health_check_config();
        // Only the flags this step changes are put back; the rest is untouched.
        let undo = HealthCheckUndo {
            health_check_id: self.health_check_id.clone(),
            inverted: self
                .inverted
                .map(|_| c.and_then(|c| c.inverted()).unwrap_or(false)),
            disabled: self
                .disabled
                .map(|_| c.and_then(|c| c.disabled()).unwrap_or(false)),
        };
        Ok(Some((
            health_check_json(&h),
            Undo {
                description: format!(
                    "set health check {} back to {}",
                    self.health_check_id,
                    flags_text(undo.inverted, undo.disabled)
                ),
                action: UndoAction::Aws(Box::new(AwsUndo {
                    conn: t.conn.clone(),
                    op: AwsUndoOp::Route53HealthCheck(undo),
                })),
            },
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let t = target(ctx, &self.profile).await?;
        update_flags(&t, &self.health_check_id, self.inverted, self.disabled).await?;
        Ok(Outcome::pass(format!(
            "health check {}: {}",
            self.health_check_id,
            flags_text(self.inverted, self.disabled)
        ))
        .with_evidence(json!({"call": UPDATE_HC, "health_check_id": self.health_check_id, "inverted": self.inverted, "disabled": self.disabled})))
    }
}

#[async_trait]
impl Step for Route53HealthCheckStatusSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!(
                "{HC_STATUS} {}{} (expect {})",
                self.health_check_id,
                plan_endpoint(ctx, &self.profile),
                health_text(self.expect)
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let t = target(ctx, &self.profile).await?;
        let id = &self.health_check_id;
        let out = route53_client(&t)
            .get_health_check_status()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| api_error(HC_STATUS, &format!("health check {id}"), e))?;
        let obs = out.health_check_observations();
        let healthy = obs
            .iter()
            .filter(|o| {
                o.status_report()
                    .and_then(|r| r.status())
                    .is_some_and(|s| s.starts_with("Success"))
            })
            .count();
        let share = if obs.is_empty() {
            0.0
        } else {
            healthy as f64 / obs.len() as f64
        };
        let seen = if share > HEALTHY_SHARE {
            Health::Healthy
        } else {
            Health::Unhealthy
        };
        let ok = seen == self.expect;
        Ok(Outcome {
            ok,
            value: Some(share),
            summary: format!(
                "{healthy} of {} checkers report healthy: {}{}",
                obs.len(),
                if seen == Health::Healthy {
                    "healthy"
                } else {
                    "unhealthy"
                },
                if ok {
                    String::new()
                } else {
                    format!(" (expected {:?})", self.expect).to_lowercase()
                }
            ),
            evidence: json!({
                "call": HC_STATUS,
                "health_check_id": id,
                "observations": obs.iter().map(|o| json!({
                    "region": o.region().map(|r| r.as_str()),
                    "ip_address": o.ip_address(),
                    "status": o.status_report().and_then(|r| r.status()),
                    "checked_at": o.status_report().and_then(|r| r.checked_time()).and_then(to_chrono),
                })).collect::<Vec<_>>(),
            }),
            refined: None,
        })
    }
}

fn health_text(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
    }
}

// ----- weighted records ------------------------------------------------------

/// A record set as journaled: every field a weighted record can carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordSet {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub set_identifier: Option<String>,
    pub weight: Option<i64>,
    pub region: Option<String>,
    pub failover: Option<String>,
    pub multi_value_answer: Option<bool>,
    pub ttl: Option<i64>,
    #[serde(default)]
    pub records: Vec<String>,
    pub alias: Option<Alias>,
    pub health_check_id: Option<String>,
    pub geo_location: Option<Geo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alias {
    pub hosted_zone_id: String,
    pub dns_name: String,
    pub evaluate_target_health: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Geo {
    pub continent_code: Option<String>,
    pub country_code: Option<String>,
    pub subdivision_code: Option<String>,
}

impl RecordSet {
    fn from_sdk(r: &ResourceRecordSet) -> Result<RecordSet, String> {
        if r.cidr_routing_config().is_some()
            || r.geo_proximity_location().is_some()
            || r.traffic_policy_instance_id().is_some()
        {
            return Err(format!(
                "record {} {} ({}) uses CIDR, geoproximity or traffic-policy routing, which gameday cannot restore exactly",
                r.name(),
                r.r#type().as_str(),
                r.set_identifier().unwrap_or("-")
            ));
        }
        Ok(RecordSet {
            name: r.name().to_string(),
            rtype: r.r#type().as_str().to_string(),
            set_identifier: r.set_identifier().map(str::to_string),
            weight: r.weight(),
            region: r.region().map(|x| x.as_str().to_string()),
            failover: r.failover().map(|x| x.as_str().to_string()),
            multi_value_answer: r.multi_value_answer(),
            ttl: r.ttl(),
            records: r
                .resource_records()
                .iter()
                .map(|v| v.value().to_string())
                .collect(),
            alias: r.alias_target().map(|a| Alias {
                hosted_zone_id: a.hosted_zone_id().to_string(),
                dns_name: a.dns_name().to_string(),
                evaluate_target_health: a.evaluate_target_health(),
            }),
            health_check_id: r.health_check_id().map(str::to_string),
            geo_location: r.geo_location().map(|g| Geo {
                continent_code: g.continent_code().map(str::to_string),
                country_code: g.country_code().map(str::to_string),
                subdivision_code: g.subdivision_code().map(str::to_string),
            }),
        })
    }

    fn to_sdk(&self) -> Result<ResourceRecordSet, StepError> {
        let bad = |e: aws_smithy_types::error::operation::BuildError| {
            StepError::fatal(format!("record {} {}: {e}", self.name, self.rtype))
        };
        let mut b = ResourceRecordSet::builder()
            .name(&self.name)
            .r#type(RrType::from(self.rtype.as_str()))
            .set_set_identifier(self.set_identifier.clone())
            .set_weight(self.weight)
            .set_region(self.region.as_deref().map(Into::into))
            .set_failover(self.failover.as_deref().map(Into::into))
            .set_multi_value_answer(self.multi_value_answer)
            .set_ttl(self.ttl)
            .set_health_check_id(self.health_check_id.clone());
        if !self.records.is_empty() {
            let mut rr = vec![];
            for v in &self.records {
                rr.push(ResourceRecord::builder().value(v).build().map_err(bad)?);
            }
            b = b.set_resource_records(Some(rr));
        }
        if let Some(a) = &self.alias {
            b = b.alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(&a.hosted_zone_id)
                    .dns_name(&a.dns_name)
                    .evaluate_target_health(a.evaluate_target_health)
                    .build()
                    .map_err(bad)?,
            );
        }
        if let Some(g) = &self.geo_location {
            b = b.geo_location(
                GeoLocation::builder()
                    .set_continent_code(g.continent_code.clone())
                    .set_country_code(g.country_code.clone())
                    .set_subdivision_code(g.subdivision_code.clone())
                    .build(),
            );
        }
        b.build().map_err(bad)
    }
}

/// UPSERT record sets back as they were.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordsUndo {
    pub hosted_zone_id: String,
    pub records: Vec<RecordSet>,
}

impl RecordsUndo {
    pub async fn run(&self, clients: &AwsClients, conn: &AwsConn) -> Result<String, StepError> {
        let t = clients.target(conn, Service::Route53).await?;
        upsert(&t, &self.hosted_zone_id, &self.records, "gameday: restore").await?;
        Ok(format!(
            "zone {}: {}",
            self.hosted_zone_id,
            weights_text(&self.records)
        ))
    }
}

fn weights_text(records: &[RecordSet]) -> String {
    records
        .iter()
        .map(|r| {
            format!(
                "{} {} {} weight {}",
                r.name,
                r.rtype,
                r.set_identifier.as_deref().unwrap_or("-"),
                r.weight.map_or("-".into(), |w| w.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `api.example.com` → `api.example.com.`, lowercase, `\052` → `*`.
fn normalize(name: &str) -> String {
    let n = name.replace("\\052", "*").to_ascii_lowercase();
    if n.ends_with('.') { n } else { format!("{n}.") }
}

/// Every record set named `name` of type `rtype` in the zone.
async fn list_records(
    t: &Target,
    zone: &str,
    name: &str,
    rtype: &str,
) -> Result<Vec<ResourceRecordSet>, StepError> {
    let want = normalize(name);
    let c = route53_client(t);
    let mut out = vec![];
    let (mut next_name, mut next_type, mut next_id) = (
        Some(want.clone()),
        Some(RrType::from(rtype)),
        None::<String>,
    );
    loop {
        let r = c
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .set_start_record_name(next_name.clone())
            .set_start_record_type(next_type.clone())
            .set_start_record_identifier(next_id.clone())
            .send()
            .await
            .map_err(|e| api_error(LIST_RRS, &format!("hosted zone {zone}"), e))?;
        let mut past = false;
        for rr in r.resource_record_sets() {
            if normalize(rr.name()) == want && rr.r#type().as_str() == rtype {
                out.push(rr.clone());
            } else if !out.is_empty() {
                past = true;
            }
        }
        if past || !r.is_truncated() {
            break;
        }
        next_name = r.next_record_name().map(str::to_string);
        next_type = r.next_record_type().cloned();
        next_id = r.next_record_identifier().map(str::to_string);
    }
    Ok(out)
}

async fn upsert(
    t: &Target,
    zone: &str,
    records: &[RecordSet],
    comment: &str,
) -> Result<(), StepError> {
    let bad = |e: aws_smithy_types::error::operation::BuildError| {
        StepError::fatal(format!("{CHANGE_RRS} on hosted zone {zone}: {e}"))
    };
    let mut changes = vec![];
    for r in records {
        changes.push(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(r.to_sdk()?)
                .build()
                .map_err(bad)?,
        );
    }
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .comment(comment)
        .build()
        .map_err(bad)?;
    let c = route53_client(t);
    let out = c
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| api_error(CHANGE_RRS, &format!("hosted zone {zone}"), e))?;
    // Wait until the change reached every Route 53 name server.
    let mut info = out.change_info;
    loop {
        let Some(ci) = &info else { return Ok(()) };
        if *ci.status() == ChangeStatus::Insync {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let id = ci.id().to_string();
        info = c
            .get_change()
            .id(&id)
            .send()
            .await
            .map_err(|e| api_error(GET_CHANGE, &format!("change {id}"), e))?
            .change_info;
    }
}

impl Route53WeightsSpec {
    fn change_text(&self) -> String {
        self.weights
            .iter()
            .map(|w| format!("{} → {}", w.set_identifier, w.weight))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The record sets this step changes, as they are now.
    async fn current(&self, t: &Target) -> Result<Vec<RecordSet>, StepError> {
        let all = list_records(
            t,
            &self.hosted_zone_id,
            &self.record_name,
            &self.record_type,
        )
        .await?;
        let mut out = vec![];
        for id in self.weights.iter().map(|w| &w.set_identifier) {
            let Some(r) = all.iter().find(|r| r.set_identifier() == Some(id.as_str())) else {
                let have: Vec<&str> = all.iter().filter_map(|r| r.set_identifier()).collect();
                return Err(StepError::fatal(format!(
                    "hosted zone {} has no {} record {} with set identifier `{id}`; {}",
                    self.hosted_zone_id,
                    self.record_type,
                    normalize(&self.record_name),
                    if have.is_empty() {
                        "it has no weighted records of that name and type".to_string()
                    } else {
                        format!("its set identifiers are: {}", have.join(", "))
                    }
                )));
            };
            if r.weight().is_none() {
                return Err(StepError::fatal(format!(
                    "record {} {} `{id}` is not a weighted record",
                    r.name(),
                    self.record_type
                )));
            }
            out.push(RecordSet::from_sdk(r).map_err(StepError::fatal)?);
        }
        Ok(out)
    }
}

#[async_trait]
impl Step for Route53WeightsSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let at = plan_endpoint(ctx, &self.profile);
        let what = format!(
            "{} {} in hosted zone {}",
            normalize(&self.record_name),
            self.record_type,
            self.hosted_zone_id
        );
        vec![
            PlannedCall {
                call: format!("{LIST_RRS} {what}{at} (capture)"),
                undo: None,
            },
            PlannedCall {
                call: format!(
                    "{CHANGE_RRS} UPSERT {what}: {}{at}, then {GET_CHANGE} until INSYNC",
                    self.change_text()
                ),
                undo: Some(format!("{CHANGE_RRS} UPSERT the captured record sets")),
            },
        ]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let t = target(ctx, &self.profile).await?;
        let records = self.current(&t).await?;
        let undo = RecordsUndo {
            hosted_zone_id: self.hosted_zone_id.clone(),
            records,
        };
        Ok(Some((
            json!({"hosted_zone_id": self.hosted_zone_id, "record_sets": undo.records}),
            Undo {
                description: format!(
                    "UPSERT the captured records: {}",
                    weights_text(&undo.records)
                ),
                action: UndoAction::Aws(Box::new(AwsUndo {
                    conn: t.conn.clone(),
                    op: AwsUndoOp::Route53Records(undo),
                })),
            },
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let t = target(ctx, &self.profile).await?;
        let mut records = self.current(&t).await?;
        for r in &mut records {
            if let Some(w) = self
                .weights
                .iter()
                .find(|w| r.set_identifier.as_deref() == Some(w.set_identifier.as_str()))
            {
                r.weight = Some(w.weight);
            }
        }
        upsert(
            &t,
            &self.hosted_zone_id,
            &records,
            &format!("gameday: {}", ctx.step_name),
        )
        .await?;
        Ok(Outcome::pass(format!(
            "{} {}: {}",
            normalize(&self.record_name),
            self.record_type,
            self.change_text()
        ))
        .with_evidence(json!({"call": CHANGE_RRS, "hosted_zone_id": self.hosted_zone_id, "record_sets": records})))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_compared_fully_qualified() {
        assert_eq!(normalize("API.example.com"), "api.example.com.");
        assert_eq!(normalize("\\052.example.com."), "*.example.com.");
    }
}
