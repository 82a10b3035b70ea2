//! Who the drill acts as in AWS: `sts:GetCallerIdentity`, called once at
//! run start for each distinct profile the playbook's AWS steps use, and
//! journaled in `run_context` (the report shows the account and ARN).
//!
//! The call goes where the steps' calls go: the connection's STS endpoint,
//! else `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, with the SDK's
//! credential chain (or the role to assume). A playbook without AWS steps
//! makes no call; neither does `credentials: anonymous` (the simulator's
//! placeholder key belongs to no account). Nothing here fails a run: an
//! identity that cannot be had is a warning.

use crate::playbook::Playbook;
use crate::playbook::spec::aws::{AwsConn, CredentialsMode, Service};
use crate::steps::aws::{ApiFailure, AwsClients, FailureKind, step_conn};
use std::time::Duration;

/// How long one identity call may take before it becomes a warning.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Kind-name prefixes of the AWS step kinds.
const AWS_KINDS: [&str; 7] = [
    "arc-",
    "ga-",
    "route53-",
    "elbv2-",
    "fis-",
    "rds-",
    "cloudwatch-",
];

/// The AWS connections of `pb`'s AWS steps, one per distinct profile.
pub fn aws_connections(pb: &Playbook) -> Vec<AwsConn> {
    let mut out: Vec<AwsConn> = vec![];
    for (_, step) in pb.all_steps() {
        let kind = step.spec.kind();
        if !AWS_KINDS.iter().any(|p| kind.starts_with(p)) {
            continue;
        }
        let spec = serde_json::to_value(&step.spec).unwrap_or_default();
        let field = |k: &str| spec.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let conn = step_conn(&pb.connections.aws, &field("region"), &field("profile"));
        if !out.iter().any(|c| c.profile == conn.profile) {
            out.push(conn);
        }
    }
    out
}

/// The identity of every profile `pb`'s AWS steps use, and a warning for
/// each one that could not be had.
pub async fn aws_identities(
    pb: &Playbook,
) -> (Vec<crate::journal::event::AwsIdentity>, Vec<String>) {
    let clients = AwsClients::default();
    let (mut ids, mut warnings) = (vec![], vec![]);
    for conn in aws_connections(pb) {
        if conn.credentials == Some(CredentialsMode::Anonymous) {
            continue;
        }
        let who = match &conn.profile {
            Some(p) => format!("profile `{p}`"),
            None => "the default credentials".to_string(),
        };
        match tokio::time::timeout(TIMEOUT, caller_identity(&clients, &conn)).await {
            Ok(Ok(id)) => ids.push(id),
            Ok(Err(e)) => warnings.push(format!(
                "cannot tell which AWS account the drill acts as ({who}): {e}; the report leaves the account out"
            )),
            Err(_) => warnings.push(format!(
                "cannot tell which AWS account the drill acts as ({who}): sts:GetCallerIdentity took more than {} s; the report leaves the account out",
                TIMEOUT.as_secs()
            )),
        }
    }
    (ids, warnings)
}

async fn caller_identity(
    clients: &AwsClients,
    conn: &AwsConn,
) -> Result<crate::journal::event::AwsIdentity, String> {
    // STS is global: without any region, sign for us-east-1.
    let t = match clients.target(conn, Service::Sts).await {
        Ok(t) => t,
        Err(_) if conn.region.is_none() => {
            let mut c = conn.clone();
            c.region = Some("us-east-1".into());
            clients
                .target(&c, Service::Sts)
                .await
                .map_err(|e| e.message)?
        }
        Err(e) => return Err(e.message),
    };
    let mut b = aws_sdk_sts::config::Builder::from(&t.sdk);
    if let Some(u) = &t.endpoint {
        b = b.endpoint_url(u.clone());
    }
    let out = aws_sdk_sts::Client::from_conf(b.build())
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            let f = ApiFailure::from_sdk(e);
            match f.kind {
                // The steps that need credentials say in full what was tried.
                FailureKind::Credentials => "no AWS credentials found".to_string(),
                _ => f.step_error("sts:GetCallerIdentity", "the caller").message,
            }
        })?;
    Ok(crate::journal::event::AwsIdentity {
        profile: t.conn.profile.clone(),
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
    })
}

/// Journal `run_context` with the AWS identities, and a warning for each
/// identity that could not be had.
pub async fn journal_run_context(pb: &Playbook, journal: &crate::journal::Journal) {
    use crate::journal::EventKind;
    let (ids, warnings) = aws_identities(pb).await;
    let mut context = super::context::run_context(pb);
    if let EventKind::RunContext { aws_identities, .. } = &mut context {
        *aws_identities = ids;
    }
    let _ = journal.emit(context);
    for message in warnings {
        let _ = journal.emit(EventKind::Warning {
            message,
            step: None,
        });
    }
}
