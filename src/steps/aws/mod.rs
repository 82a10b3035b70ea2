//! AWS step executors, through `aws-config` and the official `aws-sdk-*`
//! crates, one module per service. This module holds what they share:
//!
//! * [`AwsClients`]: SDK configurations built lazily, once per distinct
//!   region/profile/role, from the SDK's default credential chain, with the
//!   standard retry mode (throttling, 5xx and connection errors are retried
//!   by the SDK up to `max_attempts`) and timeouts.
//! * [`Target`]: what one step talks to: the connection resolved for one
//!   service (region and endpoint filled in from the SDK and the environment)
//!   so the undo journaled with it reaches the same place from
//!   `gameday restore` after a crash. Nothing secret is in it.
//! * [`ApiFailure`]: an SDK error classified (access denied, throttled,
//!   server, network, conflict, ...) and rendered with the API call, the
//!   resource and, for access denied, the IAM action that is missing.
//! * [`AwsUndo`]: the undo data of every mutating AWS step.

pub mod arc;
pub mod cloudwatch;
pub mod elbv2;
pub mod fis;
pub mod ga;
pub mod rds;
pub mod route53;

use super::{StepCtx, StepError};
use crate::playbook::spec::aws::{AwsConn, CredentialsMode, Service};

/// The placeholder access key of `credentials: anonymous` (public, accepted by no AWS account).
const ANONYMOUS_KEY: &str = "gameday-anonymous";
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// Attempts per call when the connection does not say (first try included).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// SDK configurations of one run, keyed by what changes them.
#[derive(Default)]
pub struct AwsClients {
    configs: tokio::sync::Mutex<HashMap<String, SdkConfig>>,
}

/// One service as one step reaches it.
#[derive(Clone)]
pub struct Target {
    /// Resolved: region and the service's endpoint filled in. Journaled with undos.
    pub conn: AwsConn,
    pub sdk: SdkConfig,
    pub endpoint: Option<String>,
}

/// The endpoint for `service`: the connection's, else `AWS_ENDPOINT_URL_<SERVICE>`,
/// else `AWS_ENDPOINT_URL`.
pub fn endpoint_for(conn: &AwsConn, service: Service) -> Option<String> {
    conn.endpoints
        .get(service)
        .cloned()
        .or_else(|| std::env::var(service.endpoint_env()).ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|u| !u.trim().is_empty())
}

/// The region a global service signs for when nothing else says.
fn default_region(service: Service) -> Option<&'static str> {
    match service {
        Service::Route53 => Some("us-east-1"),
        Service::GlobalAccelerator => Some("us-west-2"),
        // Each cluster endpoint names its own region; this only fills the gap.
        Service::Route53RecoveryCluster => Some("us-east-1"),
        _ => None,
    }
}

impl AwsClients {
    /// The SDK configuration for `conn` and `service`, built on first use.
    pub async fn target(&self, conn: &AwsConn, service: Service) -> Result<Target, StepError> {
        let key = serde_json::json!([
            conn.region,
            conn.profile,
            conn.assume_role,
            conn.max_attempts,
            endpoint_for(conn, Service::Sts),
            conn.credentials,
        ])
        .to_string();
        let mut cache = self.configs.lock().await;
        let sdk = match cache.get(&key) {
            Some(c) => c.clone(),
            None => {
                let c = load_config(conn).await?;
                cache.insert(key, c.clone());
                c
            }
        };
        drop(cache);
        let mut sdk = sdk;
        let mut resolved = conn.clone();
        if sdk.region().is_none() {
            match default_region(service) {
                Some(r) => {
                    sdk = sdk.into_builder().region(Region::new(r)).build();
                }
                None => {
                    return Err(StepError::fatal(format!(
                        "no AWS region for {}: set `aws: {{ region: ... }}` in the playbook or the environment file, `region:` on the step, or AWS_REGION",
                        service_name(service)
                    )));
                }
            }
        }
        resolved.region = sdk.region().map(|r| r.to_string());
        if resolved.profile.is_none() {
            resolved.profile = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
        }
        let endpoint = endpoint_for(conn, service);
        if let Some(e) = &endpoint {
            resolved.endpoints.set(service, e.clone());
        }
        if let Some(e) = endpoint_for(conn, Service::Sts)
            && conn.assume_role.is_some()
        {
            resolved.endpoints.set(Service::Sts, e);
        }
        Ok(Target {
            conn: resolved,
            sdk,
            endpoint,
        })
    }
}

fn service_name(s: Service) -> &'static str {
    match s {
        Service::Route53 => "Route 53",
        Service::Route53RecoveryCluster => "Route 53 ARC",
        Service::GlobalAccelerator => "Global Accelerator",
        Service::Elbv2 => "Elastic Load Balancing",
        Service::Fis => "Fault Injection Service",
        Service::Rds => "RDS",
        Service::CloudWatch => "CloudWatch",
        Service::Sts => "STS",
    }
}

async fn load_config(conn: &AwsConn) -> Result<SdkConfig, StepError> {
    let attempts = conn.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::tls::aws_http_client())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(5)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .build(),
        );
    if let Some(r) = &conn.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(p) = &conn.profile {
        loader = loader.profile_name(p);
    }
    if conn.credentials == Some(CredentialsMode::Anonymous) {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            ANONYMOUS_KEY,
            ANONYMOUS_KEY,
            None,
            None,
            "gameday-anonymous",
        ));
    }
    let sdk = loader.load().await;
    let Some(role) = &conn.assume_role else {
        return Ok(sdk);
    };
    let mut sts_conf = sdk.clone();
    if let Some(url) = endpoint_for(conn, Service::Sts) {
        sts_conf = sts_conf.into_builder().endpoint_url(url).build();
    }
    if sts_conf.region().is_none() {
        sts_conf = sts_conf
            .into_builder()
            .region(Region::new("us-east-1"))
            .build();
    }
    let mut b = aws_config::sts::AssumeRoleProvider::builder(role.arn.clone()).session_name(
        role.session_name
            .clone()
            .unwrap_or_else(|| "gameday".into()),
    );
    if let Some(x) = &role.external_id {
        b = b.external_id(x.clone());
    }
    let provider = b.configure(&sts_conf).build().await;
    Ok(sdk
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build())
}

/// The connection a step uses: the playbook's (with the environment's
/// overrides) and the step's own `region`/`profile`.
pub fn step_conn(
    ctx_conn: &Option<AwsConn>,
    region: &Option<String>,
    profile: &Option<String>,
) -> AwsConn {
    ctx_conn
        .clone()
        .unwrap_or_default()
        .for_step(region, profile)
}

/// The connection a step uses: the playbook's `connections.aws` with the
/// step's own `region` and `profile`.
pub fn conn_of(
    playbook: &crate::playbook::Playbook,
    region: &Option<String>,
    profile: &Option<String>,
) -> AwsConn {
    step_conn(&playbook.connections.aws, region, profile)
}

/// Where `gameday plan` says a step's calls go: `in REGION [at ENDPOINT]`.
pub fn plan_at(
    playbook: &crate::playbook::Playbook,
    region: &Option<String>,
    profile: &Option<String>,
    service: Service,
) -> String {
    plan_where(&conn_of(playbook, region, profile), service)
}

/// Build a service client from a [`Target`], with its endpoint override.
macro_rules! client_for {
    ($fn:ident, $krate:ident) => {
        pub fn $fn(t: &Target) -> $krate::Client {
            let mut b = $krate::config::Builder::from(&t.sdk);
            if let Some(u) = &t.endpoint {
                b = b.endpoint_url(u.clone());
            }
            $krate::Client::from_conf(b.build())
        }
    };
}
client_for!(route53_client, aws_sdk_route53);
client_for!(ga_client, aws_sdk_globalaccelerator);
client_for!(elbv2_client, aws_sdk_elasticloadbalancingv2);
client_for!(fis_client, aws_sdk_fis);
client_for!(rds_client, aws_sdk_rds);
client_for!(cloudwatch_client, aws_sdk_cloudwatch);

/// What went wrong with an API call, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The caller lacks an IAM permission.
    AccessDenied,
    /// Credentials missing, expired or rejected.
    Credentials,
    /// Throttled even after the SDK's retries.
    Throttled,
    /// 5xx even after the SDK's retries.
    Server,
    /// No connection, timeout, unreadable response.
    Network,
    /// A conflicting request or state (ARC: a safety rule said no).
    Conflict,
    NotFound,
    /// Anything else the service refused (validation, bad state).
    Client,
}

/// A failed API call, classified.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub kind: FailureKind,
    pub code: Option<String>,
    pub detail: String,
}

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "NotAuthorized",
    "UnauthorizedException",
];
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "SlowDown",
    "RequestThrottled",
];
const CREDENTIALS: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
];

impl ApiFailure {
    pub fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> ApiFailure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match &err {
            SdkError::ServiceError(se) => {
                let status = se.raw().status().as_u16();
                let code = se.err().code().map(str::to_string);
                let message = se.err().message().unwrap_or("").to_string();
                let c = code.as_deref().unwrap_or("");
                let kind = if ACCESS_DENIED.contains(&c) || (status == 403 && c.is_empty()) {
                    FailureKind::AccessDenied
                } else if CREDENTIALS.contains(&c) {
                    FailureKind::Credentials
                } else if THROTTLED.contains(&c) || status == 429 {
                    FailureKind::Throttled
                } else if status >= 500 {
                    FailureKind::Server
                } else if c == "ConflictException" {
                    FailureKind::Conflict
                } else if c.contains("NotFound") || c.starts_with("NoSuch") || status == 404 {
                    FailureKind::NotFound
                } else {
                    FailureKind::Client
                };
                let detail = match (code.as_deref(), message.is_empty()) {
                    (Some(c), false) => format!("{c}: {message}"),
                    (Some(c), true) => c.to_string(),
                    (None, false) => format!("HTTP {status}: {message}"),
                    (None, true) => format!("HTTP {status}"),
                };
                ApiFailure { kind, code, detail }
            }
            SdkError::TimeoutError(_) => ApiFailure {
                kind: FailureKind::Network,
                code: None,
                detail: "timed out".into(),
            },
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                let text = crate::steps::errors::chain(&err);
                let kind = if text.contains("credentials") || text.contains("identity") {
                    FailureKind::Credentials
                } else {
                    FailureKind::Network
                };
                ApiFailure {
                    kind,
                    code: None,
                    detail: text,
                }
            }
            _ => {
                let text = crate::steps::errors::chain(&err);
                let kind = if text.contains("credentials") || text.contains("identity") {
                    FailureKind::Credentials
                } else {
                    FailureKind::Client
                };
                ApiFailure {
                    kind,
                    code: None,
                    detail: text,
                }
            }
        }
    }

    /// Worth trying elsewhere or later.
    pub fn transient(&self) -> bool {
        matches!(
            self.kind,
            FailureKind::Throttled | FailureKind::Server | FailureKind::Network
        )
    }

    /// The step error for `action` (`route53:UpdateHealthCheck`) on `resource`.
    pub fn step_error(&self, action: &str, resource: &str) -> StepError {
        let message = match self.kind {
            FailureKind::AccessDenied => format!(
                "{action} on {resource} was denied ({}); grant the IAM permission `{action}` to the credentials in use (see docs/aws.md)",
                self.detail
            ),
            FailureKind::Credentials => format!(
                "{action} on {resource}: no usable AWS credentials ({}); set AWS_PROFILE or `aws: {{ profile: ... }}`, run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                crate::steps::errors::credential_attempts(&self.detail)
            ),
            FailureKind::Throttled => format!(
                "{action} on {resource} was throttled after the SDK's retries ({}); raise `aws: {{ max_attempts: ... }}` or try again later",
                self.detail
            ),
            FailureKind::Server => format!(
                "{action} on {resource}: the service failed after the SDK's retries ({})",
                self.detail
            ),
            FailureKind::Network => format!(
                "{action} on {resource}: cannot reach the endpoint ({}); check the network, the region and any endpoint override",
                self.detail
            ),
            FailureKind::Conflict => {
                format!("{action} on {resource} was refused: {}", self.detail)
            }
            FailureKind::NotFound => format!(
                "{action}: {resource} does not exist ({}); check the identifier and the region",
                self.detail
            ),
            FailureKind::Client => {
                format!("{action} on {resource} was refused: {}", self.detail)
            }
        };
        StepError {
            message,
            retryable: self.transient(),
        }
    }
}

/// Map an SDK error of `action` on `resource` to a step error.
pub fn api_error<E>(action: &str, resource: &str, err: SdkError<E, HttpResponse>) -> StepError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    ApiFailure::from_sdk(err).step_error(action, resource)
}

/// A smithy timestamp as chrono.
pub fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// The undo of a mutating AWS step: where, and what to put back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AwsUndo {
    /// Resolved at capture time (region and endpoint included), never secret.
    pub conn: AwsConn,
    pub op: AwsUndoOp,
}

/// What to put back, per service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AwsUndoOp {
    ArcRoutingControls(arc::ArcUndo),
    GaEndpointGroup(ga::GaUndo),
    Route53HealthCheck(route53::HealthCheckUndo),
    Route53Records(route53::RecordsUndo),
    Elbv2Actions(elbv2::ActionsUndo),
    Elbv2Targets(elbv2::TargetsUndo),
    FisStop(fis::FisUndo),
    RdsFailBack(rds::FailBackUndo),
    RdsSwitchBack(rds::SwitchBackUndo),
}

impl AwsUndo {
    /// Put back the captured state. Idempotent: a state already back is left alone.
    pub async fn run(&self, ctx: &StepCtx) -> Result<String, StepError> {
        let clients = &ctx.clients.aws;
        match &self.op {
            AwsUndoOp::ArcRoutingControls(u) => u.run(clients, &self.conn).await,
            AwsUndoOp::GaEndpointGroup(u) => u.run(clients, &self.conn).await,
            AwsUndoOp::Route53HealthCheck(u) => u.run(clients, &self.conn).await,
            AwsUndoOp::Route53Records(u) => u.run(clients, &self.conn).await,
            AwsUndoOp::Elbv2Actions(u) => u.run(clients, &self.conn).await,
            AwsUndoOp::Elbv2Targets(u) => u.run(clients, &self.conn).await,
            AwsUndoOp::FisStop(u) => u.run(clients, &self.conn).await,
            AwsUndoOp::RdsFailBack(u) => u.run(clients, &self.conn).await,
            AwsUndoOp::RdsSwitchBack(u) => u.run(clients, &self.conn).await,
        }
    }
}

/// Where a step's calls go, for plans: `in eu-west-1`, `at http://…`.
pub fn plan_where(conn: &AwsConn, service: Service) -> String {
    let region = conn
        .region
        .clone()
        .or_else(|| default_region(service).map(str::to_string))
        .unwrap_or_else(|| "the default region".into());
    match endpoint_for(conn, service) {
        Some(e) => format!("in {region} at {e}"),
        None => format!("in {region}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::spec::aws::arc::{ClusterEndpoint, ControlState};

    /// `gameday restore` reads undos back from the journal: every kind must round-trip.
    #[test]
    fn every_undo_round_trips_through_json() {
        let conn = AwsConn {
            region: Some("eu-west-1".into()),
            profile: Some("drills".into()),
            ..Default::default()
        };
        let ops = vec![
            AwsUndoOp::ArcRoutingControls(arc::ArcUndo {
                endpoints: vec![ClusterEndpoint {
                    url: "https://a".into(),
                    region: "us-east-1".into(),
                }],
                states: vec![("arn:rc".into(), ControlState::On)],
                safety_rules_to_override: vec![],
            }),
            AwsUndoOp::GaEndpointGroup(ga::GaUndo {
                endpoint_group_arn: "arn:eg".into(),
                traffic_dial: Some(100.0),
                endpoints: vec![ga::GaEndpoint {
                    id: "e".into(),
                    weight: Some(128),
                    client_ip_preservation: Some(false),
                }],
            }),
            AwsUndoOp::Route53HealthCheck(route53::HealthCheckUndo {
                health_check_id: "hc".into(),
                inverted: Some(false),
                disabled: None,
            }),
            AwsUndoOp::Route53Records(route53::RecordsUndo {
                hosted_zone_id: "Z".into(),
                records: vec![],
            }),
            AwsUndoOp::Elbv2Actions(elbv2::ActionsUndo {
                of: elbv2::ActionsOf::Rule("arn:rule".into()),
                actions: vec![],
            }),
            AwsUndoOp::Elbv2Targets(elbv2::TargetsUndo {
                target_group_arn: "arn:tg".into(),
                targets: vec![],
            }),
            AwsUndoOp::FisStop(fis::FisUndo {
                template_id: "T".into(),
                token: "gameday-x".into(),
            }),
            AwsUndoOp::RdsFailBack(rds::FailBackUndo {
                cluster: "c".into(),
                writer_instance: "c-1".into(),
            }),
            AwsUndoOp::RdsSwitchBack(rds::SwitchBackUndo {
                global_cluster: "g".into(),
                writer_cluster_arn: "arn:c".into(),
            }),
        ];
        for op in ops {
            let undo = crate::steps::Undo {
                description: "d".into(),
                action: crate::steps::UndoAction::Aws(Box::new(AwsUndo {
                    conn: conn.clone(),
                    op,
                })),
            };
            let text = serde_json::to_value(&undo).unwrap();
            let back: crate::steps::Undo = serde_json::from_value(text.clone()).unwrap();
            assert_eq!(back, undo, "{text}");
        }
    }

    #[test]
    fn access_denied_names_the_action() {
        let f = ApiFailure {
            kind: FailureKind::AccessDenied,
            code: Some("AccessDeniedException".into()),
            detail: "AccessDeniedException: not allowed".into(),
        };
        let e = f.step_error(
            "route53-recovery-cluster:UpdateRoutingControlStates",
            "routing control arn:x",
        );
        assert!(!e.retryable);
        assert!(
            e.message.contains(
                "grant the IAM permission `route53-recovery-cluster:UpdateRoutingControlStates`"
            ),
            "{}",
            e.message
        );
    }
}
