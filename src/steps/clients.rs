//! Network clients shared by all steps of a run, built lazily on first use
//! (an AWS SDK config, a Prometheus client). Each step area adds its own
//! field here; everything else in `StepCtx` stays untouched.

/// Lazily-built clients of one run.
#[derive(Default)]
pub struct Clients {
    /// Prometheus and Alertmanager (`crate::steps::prometheus`).
    pub prometheus: super::prometheus::PromClients,
    /// Background canary writers, by step name (stopped by their undo, a
    /// `canary-stop` or `canary-verify` step; aborted when the run ends).
    pub canaries: super::canary::Canaries,
    /// AWS SDK configurations, per region/profile/role.
    pub aws: super::aws::AwsClients,
}
