//! `kind: arc-routing-control` (set Route 53 ARC routing controls On or Off)
//! and `kind: arc-routing-control-state` (read them), through the cluster's
//! data-plane endpoints, trying the next endpoint when one fails.

use super::NonEmpty;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One of the cluster's endpoints (a cluster has five, in five regions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterEndpoint {
    pub url: String,
    /// The region the endpoint is in (requests are signed for it).
    pub region: String,
}

/// `On` lets traffic flow to the cell, `Off` stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlState {
    On,
    Off,
}

impl ControlState {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlState::On => "On",
            ControlState::Off => "Off",
        }
    }
    pub fn parse(s: &str) -> Option<ControlState> {
        match s {
            "On" => Some(ControlState::On),
            "Off" => Some(ControlState::Off),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for ControlState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = super::one_of(d, "routing control state", &["On", "Off"])?;
        Ok(ControlState::parse(s).unwrap_or(ControlState::On))
    }
}

impl Serialize for ControlState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArcRoutingControlSpec {
    /// The cluster's endpoints, tried in order until one answers.
    pub cluster_endpoints: NonEmpty<ClusterEndpoint>,
    /// Routing control ARNs, all set in one call (safety rules see them together).
    pub routing_controls: NonEmpty<String>,
    pub state: ControlState,
    /// Safety rules to bypass (ARNs); the rejection is reported otherwise.
    #[serde(default)]
    pub safety_rules_to_override: Vec<String>,
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArcRoutingControlStateSpec {
    pub cluster_endpoints: NonEmpty<ClusterEndpoint>,
    pub routing_controls: NonEmpty<String>,
    /// The state every listed control must be in.
    pub expect: ControlState,
    #[serde(default)]
    pub profile: Option<String>,
}

super::super::fixed_effect!(ArcRoutingControlStateSpec => ReadOnly);
super::super::fixed_effect!(ArcRoutingControlSpec => Mutating { has_undo: true });
