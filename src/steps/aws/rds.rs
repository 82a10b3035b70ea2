//! RDS and Aurora executors. A DB cluster failover is undone by failing over
//! back to the instance that was the writer; a global switchover by
//! switching back to the DB cluster that was the writer. Both undos first
//! wait (up to [`SETTLE`]) for the cluster to be `available` again, since RDS
//! refuses a failover while one is in progress, and do nothing when the old
//! writer already is the writer. A global failover with data loss has no
//! automatic undo: the playbook declares it `irreversible:`.

use super::{AwsClients, AwsUndo, AwsUndoOp, Target, api_error, rds_client};
use crate::playbook::spec::aws::rds::{
    RdsClusterStatusSpec, RdsFailoverClusterSpec, RdsGlobalFailoverSpec, RdsGlobalSwitchoverSpec,
};
use crate::playbook::spec::aws::{AwsConn, Service};
use crate::steps::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError, Undo, UndoAction};
use async_trait::async_trait;
use aws_sdk_rds::types::{DbCluster, GlobalCluster};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DESCRIBE_CLUSTERS: &str = "rds:DescribeDBClusters";
const DESCRIBE_GLOBAL: &str = "rds:DescribeGlobalClusters";
const FAILOVER_CLUSTER: &str = "rds:FailoverDBCluster";
const SWITCHOVER_GLOBAL: &str = "rds:SwitchoverGlobalCluster";
const FAILOVER_GLOBAL: &str = "rds:FailoverGlobalCluster";
/// How long an undo waits for a cluster to settle before failing back.
const SETTLE: Duration = Duration::from_secs(15 * 60);
const POLL: Duration = Duration::from_secs(5);

async fn cluster(t: &Target, id: &str) -> Result<DbCluster, StepError> {
    let out = rds_client(t)
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
        .map_err(|e| api_error(DESCRIBE_CLUSTERS, &format!("DB cluster {id}"), e))?;
    out.db_clusters().first().cloned().ok_or_else(|| {
        StepError::fatal(format!(
            "{DESCRIBE_CLUSTERS}: DB cluster {id} was not found"
        ))
    })
}

async fn global(t: &Target, id: &str) -> Result<GlobalCluster, StepError> {
    let out = rds_client(t)
        .describe_global_clusters()
        .global_cluster_identifier(id)
        .send()
        .await
        .map_err(|e| api_error(DESCRIBE_GLOBAL, &format!("global cluster {id}"), e))?;
    out.global_clusters().first().cloned().ok_or_else(|| {
        StepError::fatal(format!(
            "{DESCRIBE_GLOBAL}: global cluster {id} was not found"
        ))
    })
}

fn writer_instance(c: &DbCluster) -> Option<String> {
    c.db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .and_then(|m| m.db_instance_identifier())
        .map(str::to_string)
}

fn writer_cluster(g: &GlobalCluster) -> Option<String> {
    g.global_cluster_members()
        .iter()
        .find(|m| m.is_writer() == Some(true))
        .and_then(|m| m.db_cluster_arn())
        .map(str::to_string)
}

pub fn cluster_json(c: &DbCluster) -> Value {
    json!({
        "db_cluster_identifier": c.db_cluster_identifier(),
        "db_cluster_arn": c.db_cluster_arn(),
        "status": c.status(),
        "engine": c.engine(),
        "members": c.db_cluster_members().iter().map(|m| json!({
            "db_instance_identifier": m.db_instance_identifier(),
            "is_cluster_writer": m.is_cluster_writer(),
            "promotion_tier": m.promotion_tier(),
        })).collect::<Vec<_>>(),
    })
}

pub fn global_json(g: &GlobalCluster) -> Value {
    json!({
        "global_cluster_identifier": g.global_cluster_identifier(),
        "global_cluster_arn": g.global_cluster_arn(),
        "status": g.status(),
        "engine": g.engine(),
        "failover_state": g.failover_state().map(|f| json!({
            "status": f.status().map(|s| s.as_str()),
            "from_db_cluster_arn": f.from_db_cluster_arn(),
            "to_db_cluster_arn": f.to_db_cluster_arn(),
            "is_data_loss_allowed": f.is_data_loss_allowed(),
        })),
        "members": g.global_cluster_members().iter().map(|m| json!({
            "db_cluster_arn": m.db_cluster_arn(),
            "is_writer": m.is_writer(),
            "readers": m.readers(),
            "synchronization_status": m.synchronization_status().map(|s| s.as_str()),
        })).collect::<Vec<_>>(),
    })
}

/// The RDS client target of a step: its `region:`/`profile:` over the playbook's connection.
async fn rds_target(
    ctx: &StepCtx,
    region: &Option<String>,
    profile: &Option<String>,
) -> Result<Target, StepError> {
    let conn = super::conn_of(&ctx.playbook, region, profile);
    ctx.clients.aws.target(&conn, Service::Rds).await
}

/// What an undo's poll of a cluster found.
enum Settled {
    /// The old writer already is the writer again: nothing to do.
    Back(String),
    /// Available: the undo can act.
    Ready,
    /// Still changing; the error to give once [`SETTLE`] has passed.
    Busy(String),
}

/// Poll with `look` every [`POLL`] until the old writer is back (`Some`, its
/// message) or the cluster is ready for the undo (`None`); a retryable error
/// when it is still busy after [`SETTLE`].
async fn settle<F, Fut>(mut look: F) -> Result<Option<String>, StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Settled, StepError>>,
{
    let started = Instant::now();
    loop {
        match look().await? {
            Settled::Back(done) => return Ok(Some(done)),
            Settled::Ready => return Ok(None),
            Settled::Busy(why) if started.elapsed() > SETTLE => {
                return Err(StepError::retryable(why));
            }
            Settled::Busy(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// The undo of a change: an AWS call made through the same connection.
fn aws_undo(t: &Target, description: String, op: AwsUndoOp) -> Undo {
    Undo {
        description,
        action: UndoAction::Aws(Box::new(AwsUndo {
            conn: t.conn.clone(),
            op,
        })),
    }
}

// ----- DB cluster failover -----------------------------------------------------

/// Fail a DB cluster back over to the instance that was its writer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailBackUndo {
    pub cluster: String,
    pub writer_instance: String,
}

impl FailBackUndo {
    pub async fn run(&self, clients: &AwsClients, conn: &AwsConn) -> Result<String, StepError> {
        let t = clients.target(conn, Service::Rds).await?;
        let t = &t;
        let settled = settle(|| async move {
            let c = cluster(t, &self.cluster).await?;
            Ok(if writer_instance(&c).as_deref() == Some(self.writer_instance.as_str()) {
                Settled::Back(format!(
                    "{} is the writer of {} again",
                    self.writer_instance, self.cluster
                ))
            } else if c.status() == Some("available") {
                Settled::Ready
            } else {
                Settled::Busy(format!(
                    "DB cluster {} is still {} after {} min; fail it back to {} when it is available",
                    self.cluster,
                    c.status().unwrap_or("in an unknown state"),
                    SETTLE.as_secs() / 60,
                    self.writer_instance
                ))
            })
        })
        .await?;
        if let Some(back) = settled {
            return Ok(back);
        }
        failover_cluster(t, &self.cluster, Some(&self.writer_instance)).await?;
        Ok(format!(
            "failed {} back over to {}",
            self.cluster, self.writer_instance
        ))
    }
}

async fn failover_cluster(t: &Target, id: &str, target: Option<&str>) -> Result<(), StepError> {
    rds_client(t)
        .failover_db_cluster()
        .db_cluster_identifier(id)
        .set_target_db_instance_identifier(target.map(str::to_string))
        .send()
        .await
        .map_err(|e| api_error(FAILOVER_CLUSTER, &format!("DB cluster {id}"), e))?;
    Ok(())
}

#[async_trait]
impl Step for RdsFailoverClusterSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let at = super::plan_at(ctx.playbook, &self.region, &self.profile, Service::Rds);
        vec![
            PlannedCall {
                call: format!(
                    "{DESCRIBE_CLUSTERS} {} {at} (capture the writer)",
                    self.cluster
                ),
                undo: None,
            },
            PlannedCall {
                call: format!(
                    "{FAILOVER_CLUSTER} {} to {} {at}",
                    self.cluster,
                    self.target_instance
                        .as_deref()
                        .unwrap_or("the instance RDS chooses")
                ),
                undo: Some(format!(
                    "wait until available, then {FAILOVER_CLUSTER} back to the captured writer"
                )),
            },
        ]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let t = rds_target(ctx, &self.region, &self.profile).await?;
        let c = cluster(&t, &self.cluster).await?;
        let writer = writer_instance(&c).ok_or_else(|| {
            StepError::fatal(format!(
                "DB cluster {} has no writer instance to fail back to",
                self.cluster
            ))
        })?;
        Ok(Some((
            cluster_json(&c),
            aws_undo(
                &t,
                format!("fail {} back over to {writer}", self.cluster),
                AwsUndoOp::RdsFailBack(FailBackUndo {
                    cluster: self.cluster.clone(),
                    writer_instance: writer,
                }),
            ),
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let t = rds_target(ctx, &self.region, &self.profile).await?;
        failover_cluster(&t, &self.cluster, self.target_instance.as_deref()).await?;
        Ok(Outcome::pass(format!(
            "failover of {} to {} started",
            self.cluster,
            self.target_instance.as_deref().unwrap_or("the instance RDS chose")
        ))
        .with_evidence(json!({"call": FAILOVER_CLUSTER, "cluster": self.cluster, "target_instance": self.target_instance})))
    }
}

// ----- global switchover / failover --------------------------------------------

/// Switch a global database back to the DB cluster that was its writer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SwitchBackUndo {
    pub global_cluster: String,
    pub writer_cluster_arn: String,
}

impl SwitchBackUndo {
    pub async fn run(&self, clients: &AwsClients, conn: &AwsConn) -> Result<String, StepError> {
        let t = clients.target(conn, Service::Rds).await?;
        let t = &t;
        let settled = settle(|| async move {
            let g = global(t, &self.global_cluster).await?;
            Ok(if writer_cluster(&g).as_deref() == Some(self.writer_cluster_arn.as_str()) {
                Settled::Back(format!(
                    "{} is the writer of {} again",
                    self.writer_cluster_arn, self.global_cluster
                ))
            } else if g.status() == Some("available") && g.failover_state().is_none() {
                Settled::Ready
            } else {
                Settled::Busy(format!(
                    "global cluster {} is still {} after {} min; switch it back to {} when it is available",
                    self.global_cluster,
                    g.status().unwrap_or("in an unknown state"),
                    SETTLE.as_secs() / 60,
                    self.writer_cluster_arn
                ))
            })
        })
        .await?;
        if let Some(back) = settled {
            return Ok(back);
        }
        switchover(t, &self.global_cluster, &self.writer_cluster_arn).await?;
        Ok(format!(
            "switched {} back to {}",
            self.global_cluster, self.writer_cluster_arn
        ))
    }
}

async fn switchover(t: &Target, id: &str, to: &str) -> Result<(), StepError> {
    rds_client(t)
        .switchover_global_cluster()
        .global_cluster_identifier(id)
        .target_db_cluster_identifier(to)
        .send()
        .await
        .map_err(|e| api_error(SWITCHOVER_GLOBAL, &format!("global cluster {id}"), e))?;
    Ok(())
}

#[async_trait]
impl Step for RdsGlobalSwitchoverSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let at = super::plan_at(ctx.playbook, &self.region, &self.profile, Service::Rds);
        vec![
            PlannedCall {
                call: format!(
                    "{DESCRIBE_GLOBAL} {} {at} (capture the writer)",
                    self.global_cluster
                ),
                undo: None,
            },
            PlannedCall {
                call: format!(
                    "{SWITCHOVER_GLOBAL} {} to {} {at}",
                    self.global_cluster, self.target_cluster_arn
                ),
                undo: Some(format!(
                    "wait until available, then {SWITCHOVER_GLOBAL} back to the captured writer cluster"
                )),
            },
        ]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let t = rds_target(ctx, &self.region, &self.profile).await?;
        let g = global(&t, &self.global_cluster).await?;
        let writer = writer_cluster(&g).ok_or_else(|| {
            StepError::fatal(format!(
                "global cluster {} has no writer cluster to switch back to",
                self.global_cluster
            ))
        })?;
        Ok(Some((
            global_json(&g),
            aws_undo(
                &t,
                format!("switch {} back to {writer}", self.global_cluster),
                AwsUndoOp::RdsSwitchBack(SwitchBackUndo {
                    global_cluster: self.global_cluster.clone(),
                    writer_cluster_arn: writer,
                }),
            ),
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let t = rds_target(ctx, &self.region, &self.profile).await?;
        switchover(&t, &self.global_cluster, &self.target_cluster_arn).await?;
        Ok(Outcome::pass(format!(
            "switchover of {} to {} started",
            self.global_cluster, self.target_cluster_arn
        ))
        .with_evidence(json!({"call": SWITCHOVER_GLOBAL, "global_cluster": self.global_cluster, "target_cluster_arn": self.target_cluster_arn})))
    }
}

#[async_trait]
impl Step for RdsGlobalFailoverSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let at = super::plan_at(ctx.playbook, &self.region, &self.profile, Service::Rds);
        vec![PlannedCall {
            call: format!(
                "{FAILOVER_GLOBAL} {} to {} with AllowDataLoss {at}",
                self.global_cluster, self.target_cluster_arn
            ),
            undo: Some("none automatic: the old writer must be rebuilt as a secondary (see `irreversible.covered_by`)".into()),
        }]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let t = rds_target(ctx, &self.region, &self.profile).await?;
        let g = global(&t, &self.global_cluster).await?;
        Ok(Some((
            global_json(&g),
            Undo {
                description: format!(
                    "{} was failed over with possible data loss; rebuild the old writer as a secondary and switch back by hand",
                    self.global_cluster
                ),
                action: UndoAction::Manual {
                    instructions: format!(
                        "global cluster {} was failed over to {} with AllowDataLoss; the old writer {} must be re-added as a secondary before switching back",
                        self.global_cluster,
                        self.target_cluster_arn,
                        writer_cluster(&g).unwrap_or_else(|| "(unknown)".into())
                    ),
                },
            },
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        if !self.allow_data_loss {
            return Err(StepError::fatal(format!(
                "`rds-global-failover` needs `allow_data_loss: true`; for a failover without data loss use `rds-global-switchover` on {}",
                self.global_cluster
            )));
        }
        let t = rds_target(ctx, &self.region, &self.profile).await?;
        let id = &self.global_cluster;
        rds_client(&t)
            .failover_global_cluster()
            .global_cluster_identifier(id)
            .target_db_cluster_identifier(&self.target_cluster_arn)
            .allow_data_loss(true)
            .send()
            .await
            .map_err(|e| api_error(FAILOVER_GLOBAL, &format!("global cluster {id}"), e))?;
        Ok(Outcome::pass(format!(
            "failover of {id} to {} started (data loss allowed)",
            self.target_cluster_arn
        )))
    }
}

// ----- status ------------------------------------------------------------------

#[async_trait]
impl Step for RdsClusterStatusSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let at = super::plan_at(ctx.playbook, &self.region, &self.profile, Service::Rds);
        let writer = self
            .writer
            .as_ref()
            .map_or(String::new(), |w| format!(", writer {w}"));
        let call = match (&self.cluster, &self.global_cluster) {
            (Some(c), _) => format!(
                "{DESCRIBE_CLUSTERS} {c} {at} (expect {}{writer})",
                self.status
            ),
            (None, Some(g)) => format!(
                "{DESCRIBE_GLOBAL} {g} {at} (expect {}{writer})",
                self.status
            ),
            _ => String::new(),
        };
        vec![PlannedCall { call, undo: None }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let t = rds_target(ctx, &self.region, &self.profile).await?;
        let (name, status, writer, evidence) = match (&self.cluster, &self.global_cluster) {
            (Some(id), _) => {
                let c = cluster(&t, id).await?;
                (
                    format!("DB cluster {id}"),
                    c.status().map(str::to_string),
                    writer_instance(&c),
                    cluster_json(&c),
                )
            }
            (None, Some(id)) => {
                let g = global(&t, id).await?;
                (
                    format!("global cluster {id}"),
                    g.status().map(str::to_string),
                    writer_cluster(&g),
                    global_json(&g),
                )
            }
            _ => return Err(StepError::fatal("no cluster named")),
        };
        let mut problems = vec![];
        if status.as_deref() != Some(self.status.as_str()) {
            problems.push(format!(
                "status is {}, expected {}",
                status.as_deref().unwrap_or("unknown"),
                self.status
            ));
        }
        if let Some(w) = &self.writer
            && writer.as_deref() != Some(w.as_str())
        {
            problems.push(format!(
                "writer is {}, expected {w}",
                writer.as_deref().unwrap_or("none")
            ));
        }
        Ok(Outcome {
            ok: problems.is_empty(),
            value: None,
            summary: if problems.is_empty() {
                format!(
                    "{name} is {}, writer {}",
                    self.status,
                    writer.as_deref().unwrap_or("none")
                )
            } else {
                format!("{name}: {}", problems.join("; "))
            },
            evidence,
            refined: None,
        })
    }
}
