//! What a metric is *for*, declared in the playbook (`role: ttd`), so the
//! report's advice, the comparison with the previous run and `gameday
//! history` never guess from a metric's name.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The role of a metric. Every role is better lower.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MetricRole {
    /// Time to detect: from isolation until the alert fired.
    Ttd,
    /// Time to route: from isolation until traffic was rerouted.
    Ttr,
    /// Recovery time: from isolation until the service is healthy everywhere again.
    Rto,
    /// Recovery point: the span of acknowledged writes lost.
    Rpo,
    /// Replication catch-up after restoration.
    CatchUp,
    /// Conflicts during restoration.
    Conflicts,
    /// Acknowledged writes lost.
    LostWrites,
}

impl MetricRole {
    pub const ALL: [MetricRole; 7] = [
        MetricRole::Ttd,
        MetricRole::Ttr,
        MetricRole::Rto,
        MetricRole::Rpo,
        MetricRole::CatchUp,
        MetricRole::Conflicts,
        MetricRole::LostWrites,
    ];

    /// The name written in playbooks and report.json.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricRole::Ttd => "ttd",
            MetricRole::Ttr => "ttr",
            MetricRole::Rto => "rto",
            MetricRole::Rpo => "rpo",
            MetricRole::CatchUp => "catch_up",
            MetricRole::Conflicts => "conflicts",
            MetricRole::LostWrites => "lost_writes",
        }
    }

    pub fn parse(s: &str) -> Option<MetricRole> {
        MetricRole::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// A column title: `TTD`, `catch-up`.
    pub fn title(self) -> &'static str {
        match self {
            MetricRole::Ttd => "TTD",
            MetricRole::Ttr => "TTR",
            MetricRole::Rto => "RTO",
            MetricRole::Rpo => "RPO",
            MetricRole::CatchUp => "catch-up",
            MetricRole::Conflicts => "conflicts",
            MetricRole::LostWrites => "lost writes",
        }
    }

    /// What the role measures, in one plain sentence (report and README).
    pub fn meaning(self) -> &'static str {
        match self {
            MetricRole::Ttd => {
                "time to detect: from isolation until the alert fired (the alert's own activation time)"
            }
            MetricRole::Ttr => {
                "time to route: from isolation until traffic was rerouted to the surviving regions (when the traffic data shows the move)"
            }
            MetricRole::Rto => {
                "recovery time: from isolation until the service was healthy everywhere again"
            }
            MetricRole::Rpo => {
                "recovery point: how much acknowledged data (in time) could not be recovered afterwards"
            }
            MetricRole::CatchUp => {
                "replication catch-up: from restoration until replication lag was back under budget"
            }
            MetricRole::Conflicts => {
                "conflicts while the isolated region reconnected and caught up"
            }
            MetricRole::LostWrites => "acknowledged writes that could not be read back afterwards",
        }
    }
}

impl std::fmt::Display for MetricRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        for r in MetricRole::ALL {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(MetricRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(MetricRole::parse("lag"), None);
    }
}
