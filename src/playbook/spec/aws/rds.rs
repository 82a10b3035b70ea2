//! RDS and Aurora: `kind: rds-failover-cluster` (fail a DB cluster over to
//! another instance; the undo fails it back), `kind: rds-global-switchover`
//! (move an Aurora global database's writer to another region without data
//! loss; the undo switches back), `kind: rds-global-failover` (promote a
//! secondary with possible data loss; no automatic undo, so it needs
//! `irreversible:`) and `kind: rds-cluster-status` (wait until available).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsFailoverClusterSpec {
    /// DB cluster identifier.
    pub cluster: String,
    /// The instance to promote to writer; default: RDS chooses.
    #[serde(default)]
    pub target_instance: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsGlobalSwitchoverSpec {
    /// Global cluster identifier.
    pub global_cluster: String,
    /// ARN of the secondary DB cluster to become the writer.
    pub target_cluster_arn: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RdsGlobalFailoverSpec {
    pub global_cluster: String,
    pub target_cluster_arn: String,
    /// Must be `true`: this is the unplanned failover that may lose the
    /// writes not yet replicated. (A planned one is `rds-global-switchover`.)
    pub allow_data_loss: bool,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawStatus")]
pub struct RdsClusterStatusSpec {
    /// A DB cluster identifier ...
    pub cluster: Option<String>,
    /// ... or a global cluster identifier.
    pub global_cluster: Option<String>,
    /// Expected status, default `available`.
    pub status: String,
    /// The writer must be this instance (for `cluster`) or this DB cluster ARN (for `global_cluster`).
    pub writer: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    global_cluster: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    writer: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    profile: Option<String>,
}

impl TryFrom<RawStatus> for RdsClusterStatusSpec {
    type Error = String;
    fn try_from(r: RawStatus) -> Result<Self, String> {
        if r.cluster.is_some() == r.global_cluster.is_some() {
            return Err(
                "an `rds-cluster-status` step needs exactly one of `cluster:` or `global_cluster:`"
                    .into(),
            );
        }
        Ok(RdsClusterStatusSpec {
            cluster: r.cluster,
            global_cluster: r.global_cluster,
            status: r.status.unwrap_or_else(|| "available".into()),
            writer: r.writer,
            region: r.region,
            profile: r.profile,
        })
    }
}

super::super::fixed_effect!(RdsClusterStatusSpec => ReadOnly);
super::super::fixed_effect!(RdsFailoverClusterSpec, RdsGlobalSwitchoverSpec => Mutating { has_undo: true });
// Promotion with possible data loss: the playbook must declare `irreversible:`.
super::super::fixed_effect!(RdsGlobalFailoverSpec => Mutating { has_undo: false });
