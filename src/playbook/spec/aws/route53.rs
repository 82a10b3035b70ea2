//! Route 53: `kind: route53-health-check` (set a health check's `inverted`
//! / `disabled`, the standard way to fake a region failure under failover
//! routing), `kind: route53-health-check-status` (read what the checkers
//! see) and `kind: route53-weights` (change the weights of weighted records).

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawHealthCheck")]
pub struct Route53HealthCheckSpec {
    pub health_check_id: String,
    pub inverted: Option<bool>,
    pub disabled: Option<bool>,
    pub profile: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawHealthCheck {
    health_check_id: String,
    #[serde(default)]
    inverted: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    profile: Option<String>,
}

impl TryFrom<RawHealthCheck> for Route53HealthCheckSpec {
    type Error = String;
    fn try_from(r: RawHealthCheck) -> Result<Self, String> {
        if r.inverted.is_none() && r.disabled.is_none() {
            return Err("a `route53-health-check` step needs `inverted:`, `disabled:` or both (true or false)".into());
        }
        Ok(Route53HealthCheckSpec {
            health_check_id: r.health_check_id,
            inverted: r.inverted,
            disabled: r.disabled,
            profile: r.profile,
        })
    }
}

/// What the health checkers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Unhealthy,
}

impl<'de> Deserialize<'de> for Health {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(
            match super::one_of(d, "health status", &["healthy", "unhealthy"])? {
                "healthy" => Health::Healthy,
                _ => Health::Unhealthy,
            },
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route53HealthCheckStatusSpec {
    pub health_check_id: String,
    pub expect: Health,
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawWeights")]
pub struct Route53WeightsSpec {
    pub hosted_zone_id: String,
    /// Fully qualified; a trailing dot is added when missing.
    pub record_name: String,
    pub record_type: String,
    /// New weights (0 to 255) by set identifier; records not named keep theirs.
    pub weights: Vec<RecordWeight>,
    pub profile: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawWeights {
    hosted_zone_id: String,
    record_name: String,
    #[serde(default)]
    record_type: Option<String>,
    weights: Vec<RecordWeight>,
    #[serde(default)]
    profile: Option<String>,
}

impl TryFrom<RawWeights> for Route53WeightsSpec {
    type Error = String;
    fn try_from(r: RawWeights) -> Result<Self, String> {
        if r.weights.is_empty() {
            return Err(
                "`weights` is empty; list set identifiers and weights, such as `[{ set_identifier: eu-west-1, weight: 0 }]`"
                    .into(),
            );
        }
        if let Some(w) = r.weights.iter().find(|w| !(0..=255).contains(&w.weight)) {
            return Err(format!(
                "weight {} of `{}` is out of range; Route 53 weights go from 0 to 255",
                w.weight, w.set_identifier
            ));
        }
        Ok(Route53WeightsSpec {
            hosted_zone_id: r.hosted_zone_id,
            record_name: r.record_name,
            record_type: r
                .record_type
                .unwrap_or_else(|| "A".into())
                .to_ascii_uppercase(),
            weights: r.weights,
            profile: r.profile,
        })
    }
}

/// One weighted record's new weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordWeight {
    pub set_identifier: String,
    pub weight: i64,
}

super::super::fixed_effect!(Route53HealthCheckStatusSpec => ReadOnly);
super::super::fixed_effect!(Route53HealthCheckSpec, Route53WeightsSpec => Mutating { has_undo: true });
