//! `kind: ga-traffic-dial` (set a Global Accelerator endpoint group's
//! traffic dial and endpoint weights) and `kind: ga-endpoint-group` (read them).

use crate::playbook::expect::Comparison;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawTrafficDial")]
pub struct GaTrafficDialSpec {
    pub endpoint_group_arn: String,
    /// Percentage of traffic (0 to 100) sent to this endpoint group.
    pub traffic_dial: Option<f32>,
    /// New weights (0 to 255); endpoints not named keep theirs.
    pub weights: Vec<EndpointWeight>,
    /// Region of the Global Accelerator API. Default us-west-2 (the only one).
    pub region: Option<String>,
    pub profile: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawTrafficDial {
    endpoint_group_arn: String,
    #[serde(default)]
    traffic_dial: Option<f32>,
    #[serde(default)]
    weights: Vec<EndpointWeight>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    profile: Option<String>,
}

impl TryFrom<RawTrafficDial> for GaTrafficDialSpec {
    type Error = String;
    fn try_from(r: RawTrafficDial) -> Result<Self, String> {
        if r.traffic_dial.is_none() && r.weights.is_empty() {
            return Err("a `ga-traffic-dial` step needs `traffic_dial:` (0 to 100), `weights:` (such as `[{ endpoint_id: ..., weight: 0 }]`), or both".into());
        }
        if let Some(d) = r.traffic_dial
            && !(0.0..=100.0).contains(&d)
        {
            return Err(format!(
                "traffic_dial {d} is out of range; it is a percentage from 0 to 100"
            ));
        }
        if let Some(e) = r.weights.iter().find(|e| !(0..=255).contains(&e.weight)) {
            return Err(format!(
                "weight {} of endpoint `{}` is out of range; weights go from 0 to 255",
                e.weight, e.endpoint_id
            ));
        }
        Ok(GaTrafficDialSpec {
            endpoint_group_arn: r.endpoint_group_arn,
            traffic_dial: r.traffic_dial,
            weights: r.weights,
            region: r.region,
            profile: r.profile,
        })
    }
}

/// One endpoint's new weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointWeight {
    /// The endpoint's id: an ALB/NLB ARN, an EC2 instance id or an Elastic IP allocation id.
    pub endpoint_id: String,
    pub weight: i32,
}

/// An expectation on one endpoint's weight.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointWeightExpect {
    pub endpoint_id: String,
    /// Such as `== 0`.
    pub weight: Comparison,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GaEndpointGroupSpec {
    pub endpoint_group_arn: String,
    #[serde(default)]
    pub expect: GaExpect,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GaExpect {
    /// On the traffic dial percentage, such as `== 0`.
    #[serde(default)]
    pub traffic_dial: Option<Comparison>,
    /// Comparisons on endpoints' weights.
    #[serde(default)]
    pub weights: Vec<EndpointWeightExpect>,
    /// On the number of endpoints whose health state is HEALTHY.
    #[serde(default)]
    pub healthy_endpoints: Option<Comparison>,
}

super::super::fixed_effect!(GaEndpointGroupSpec => ReadOnly);
super::super::fixed_effect!(GaTrafficDialSpec => Mutating { has_undo: true });
