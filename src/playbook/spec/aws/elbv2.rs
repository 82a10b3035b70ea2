//! Elastic Load Balancing v2: `kind: elbv2-forward-weights` (change the
//! target-group weights of a listener's default forward action or of a
//! rule's) and `kind: elbv2-deregister-targets` (take targets out of a
//! target group; the undo registers them again).

use super::NonEmpty;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawForwardWeights")]
pub struct Elbv2ForwardWeightsSpec {
    /// Change this listener's default action ...
    pub listener_arn: Option<String>,
    /// ... or this rule's action (exactly one of the two).
    pub rule_arn: Option<String>,
    /// New weights (0 to 999); target groups not named keep theirs.
    pub weights: Vec<TargetGroupWeight>,
    pub region: Option<String>,
    pub profile: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawForwardWeights {
    #[serde(default)]
    listener_arn: Option<String>,
    #[serde(default)]
    rule_arn: Option<String>,
    weights: Vec<TargetGroupWeight>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    profile: Option<String>,
}

impl TryFrom<RawForwardWeights> for Elbv2ForwardWeightsSpec {
    type Error = String;
    fn try_from(r: RawForwardWeights) -> Result<Self, String> {
        if r.listener_arn.is_some() == r.rule_arn.is_some() {
            return Err("an `elbv2-forward-weights` step needs exactly one of `listener_arn:` (its default action) or `rule_arn:`".into());
        }
        if r.weights.is_empty() {
            return Err("`weights` is empty; list target groups and weights, such as `[{ target_group_arn: ..., weight: 0 }]`".into());
        }
        if let Some(w) = r.weights.iter().find(|w| !(0..=999).contains(&w.weight)) {
            return Err(format!(
                "weight {} of `{}` is out of range; target group weights go from 0 to 999",
                w.weight, w.target_group_arn
            ));
        }
        Ok(Elbv2ForwardWeightsSpec {
            listener_arn: r.listener_arn,
            rule_arn: r.rule_arn,
            weights: r.weights,
            region: r.region,
            profile: r.profile,
        })
    }
}

/// One target group's new weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupWeight {
    pub target_group_arn: String,
    pub weight: i32,
}

/// A target of a target group.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct TargetRef {
    /// Instance id, IP address, Lambda ARN or ALB ARN.
    pub id: String,
    /// Default: every registration of `id`, whatever its port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Elbv2DeregisterTargetsSpec {
    pub target_group_arn: String,
    pub targets: NonEmpty<TargetRef>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
}

super::super::fixed_effect!(Elbv2ForwardWeightsSpec, Elbv2DeregisterTargetsSpec => Mutating { has_undo: true });
