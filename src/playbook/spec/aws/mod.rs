//! The AWS part of a playbook: where to reach AWS (`aws:` at the top of a
//! playbook or an environment file, [`AwsConn`]) and the fields of every AWS
//! step kind, one module per service. Plain data; the executors live in
//! `crate::steps::aws`.
//!
//! Credentials are never written here: the SDK's default chain finds them
//! (environment, shared config and profiles, SSO, web identity, instance
//! metadata). What is written (region, profile, role ARN, endpoint URLs) is
//! not secret and is journaled with each undo so `gameday restore` reaches
//! the same place after a crash.

pub mod arc;
pub mod cloudwatch;
pub mod elbv2;
pub mod fis;
pub mod ga;
pub mod rds;
pub mod route53;

use serde::{Deserialize, Deserializer, Serialize};

/// How to reach AWS: `aws:` in a playbook, overridden field by field by the
/// `aws:` of an environment file, then by a step's own `region`/`profile`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsConn {
    /// Region of the regional APIs (ELBv2, RDS, FIS, CloudWatch). Default:
    /// the SDK's (`AWS_REGION`, the profile's region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A profile of the shared config files (`~/.aws/config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// A role to assume (through STS) with the credentials found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<AssumeRole>,
    /// Endpoint URLs per service, for private endpoints, emulators and the
    /// simulator. They win over `AWS_ENDPOINT_URL_<SERVICE>` and `AWS_ENDPOINT_URL`.
    #[serde(default, skip_serializing_if = "Endpoints::is_empty")]
    pub endpoints: Endpoints,
    /// Attempts per API call, retries included, for throttling, 5xx and
    /// connection errors (SDK standard retry mode). Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Which credentials sign the calls: `default` (the SDK's chain) or
    /// `anonymous` (a fixed placeholder key that no AWS account accepts, for
    /// `gameday sim` and emulators that do not check signatures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsMode>,
}

/// Where an AWS connection's credentials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialsMode {
    /// The SDK's default chain: environment, profiles, SSO, web identity, instance metadata.
    Default,
    /// A fixed placeholder key (`gameday-anonymous`): no AWS variables or
    /// profiles needed; only for the simulator and emulators.
    Anonymous,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssumeRole {
    pub arn: String,
    /// Shows in CloudTrail as who made the calls. Default `gameday`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    /// The external id the role's trust policy asks for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// Endpoint URL overrides, by service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route53: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globalaccelerator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elbv2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rds: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudwatch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts: Option<String>,
}

/// An AWS service a step talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Route53,
    Route53RecoveryCluster,
    GlobalAccelerator,
    Elbv2,
    Fis,
    Rds,
    CloudWatch,
    Sts,
}

impl Service {
    /// The SDK's environment variable for this service's endpoint.
    pub fn endpoint_env(self) -> &'static str {
        match self {
            Service::Route53 => "AWS_ENDPOINT_URL_ROUTE_53",
            Service::Route53RecoveryCluster => "AWS_ENDPOINT_URL_ROUTE53_RECOVERY_CLUSTER",
            Service::GlobalAccelerator => "AWS_ENDPOINT_URL_GLOBAL_ACCELERATOR",
            Service::Elbv2 => "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
            Service::Fis => "AWS_ENDPOINT_URL_FIS",
            Service::Rds => "AWS_ENDPOINT_URL_RDS",
            Service::CloudWatch => "AWS_ENDPOINT_URL_CLOUDWATCH",
            Service::Sts => "AWS_ENDPOINT_URL_STS",
        }
    }
}

impl Endpoints {
    pub fn is_empty(&self) -> bool {
        *self == Endpoints::default()
    }

    pub fn get(&self, s: Service) -> Option<&String> {
        match s {
            Service::Route53 => self.route53.as_ref(),
            Service::GlobalAccelerator => self.globalaccelerator.as_ref(),
            Service::Elbv2 => self.elbv2.as_ref(),
            Service::Fis => self.fis.as_ref(),
            Service::Rds => self.rds.as_ref(),
            Service::CloudWatch => self.cloudwatch.as_ref(),
            Service::Sts => self.sts.as_ref(),
            // Cluster endpoints are listed by each ARC step.
            Service::Route53RecoveryCluster => None,
        }
    }

    pub fn set(&mut self, s: Service, url: String) {
        let slot = match s {
            Service::Route53 => &mut self.route53,
            Service::GlobalAccelerator => &mut self.globalaccelerator,
            Service::Elbv2 => &mut self.elbv2,
            Service::Fis => &mut self.fis,
            Service::Rds => &mut self.rds,
            Service::CloudWatch => &mut self.cloudwatch,
            Service::Sts => &mut self.sts,
            Service::Route53RecoveryCluster => return,
        };
        *slot = Some(url);
    }

    fn overlay(&self, top: &Endpoints) -> Endpoints {
        let pick = |a: &Option<String>, b: &Option<String>| b.clone().or_else(|| a.clone());
        Endpoints {
            route53: pick(&self.route53, &top.route53),
            globalaccelerator: pick(&self.globalaccelerator, &top.globalaccelerator),
            elbv2: pick(&self.elbv2, &top.elbv2),
            fis: pick(&self.fis, &top.fis),
            rds: pick(&self.rds, &top.rds),
            cloudwatch: pick(&self.cloudwatch, &top.cloudwatch),
            sts: pick(&self.sts, &top.sts),
        }
    }
}

impl AwsConn {
    /// `self` with every field `top` sets replaced (an environment over a playbook).
    pub fn overlay(&self, top: &AwsConn) -> AwsConn {
        AwsConn {
            region: top.region.clone().or_else(|| self.region.clone()),
            profile: top.profile.clone().or_else(|| self.profile.clone()),
            assume_role: top.assume_role.clone().or_else(|| self.assume_role.clone()),
            endpoints: self.endpoints.overlay(&top.endpoints),
            max_attempts: top.max_attempts.or(self.max_attempts),
            credentials: top.credentials.or(self.credentials),
        }
    }

    /// With a step's own `region` and `profile`.
    pub fn for_step(&self, region: &Option<String>, profile: &Option<String>) -> AwsConn {
        let mut c = self.clone();
        if region.is_some() {
            c.region = region.clone();
        }
        if profile.is_some() {
            c.profile = profile.clone();
        }
        c
    }
}

/// A list that must not be empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct NonEmpty<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NonEmpty<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<T>::deserialize(d)?;
        if v.is_empty() {
            return Err(serde::de::Error::custom(
                "the list is empty; name at least one",
            ));
        }
        Ok(NonEmpty(v))
    }
}

impl<T> std::ops::Deref for NonEmpty<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

/// Deserialize a string that must be one of `allowed` (case-insensitive),
/// returning the canonical spelling.
pub(crate) fn one_of<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    allowed: &[&'static str],
) -> Result<&'static str, D::Error> {
    let s = String::deserialize(d)?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(s.trim()))
        .copied()
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a {what}; write one of: {}",
                allowed.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_playbook_field_by_field() {
        let pb = AwsConn {
            region: Some("eu-west-1".into()),
            profile: Some("drills".into()),
            endpoints: Endpoints {
                route53: Some("http://a".into()),
                fis: Some("http://f".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let env = AwsConn {
            region: Some("us-east-1".into()),
            endpoints: Endpoints {
                route53: Some("http://b".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let c = pb.overlay(&env);
        assert_eq!(c.region.as_deref(), Some("us-east-1"));
        assert_eq!(c.profile.as_deref(), Some("drills"));
        assert_eq!(c.endpoints.route53.as_deref(), Some("http://b"));
        assert_eq!(c.endpoints.fis.as_deref(), Some("http://f"));
        let s = c.for_step(&Some("eu-central-1".into()), &None);
        assert_eq!(s.region.as_deref(), Some("eu-central-1"));
        assert_eq!(s.profile.as_deref(), Some("drills"));
    }
}
