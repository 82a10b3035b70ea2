//! The typed fields of each step kind, as written in a playbook.
//!
//! These are plain data (no I/O). Each kind has its own module; the
//! executors live in `crate::steps`, one module per kind, behind the
//! `crate::steps::Step` trait. To add a kind: add its spec module here, a
//! line to `step_kinds!`, and its executor in `crate::steps`.

pub mod aws;
pub mod canary;
pub mod conflicts;
pub mod http;
pub mod manual;
pub mod note;
pub mod pinned;
pub mod postgres;
pub mod prometheus;
pub mod residency;
pub mod shell;
pub mod undo;
pub mod wait;

use super::model::Playbook;
use super::problem::Problem;
use marked_yaml::Node;
use serde::Serialize;

macro_rules! step_kinds {
    ($($name:literal => $variant:ident($ty:ty)),* $(,)?) => {
        /// The kind-specific part of a step, chosen by its `kind:` tag.
        #[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
        #[serde(tag = "kind")]
        pub enum StepSpec {
            $(#[serde(rename = $name)] $variant($ty),)*
        }

        /// Every step kind a playbook may name.
        pub const KINDS: &[&str] = &[$($name),*];

        impl StepSpec {
            /// The `kind:` tag of this step.
            pub fn kind(&self) -> &'static str {
                match self { $(StepSpec::$variant(_) => $name,)* }
            }

            /// Deserialize the kind-specific fields of a step of kind `kind`.
            /// `None` when the kind is unknown.
            pub fn from_node(kind: &str, node: &Node)
                -> Option<Result<StepSpec, marked_yaml::FromNodeError>> {
                match kind {
                    $($name => Some(marked_yaml::from_node::<$ty>(node).map(StepSpec::$variant)),)*
                    _ => None,
                }
            }
        }
    };
}

step_kinds! {
    "http" => Http(http::HttpSpec),
    "shell" => Shell(shell::ShellSpec),
    "manual" => Manual(manual::ManualSpec),
    "wait" => Wait(wait::WaitSpec),
    "note" => Note(note::NoteSpec),
    "undo" => Undo(undo::UndoSpec),
    "prometheus" => Prometheus(prometheus::PrometheusSpec),
    "alert" => Alert(prometheus::AlertSpec),
    "prometheus-window" => PrometheusWindow(prometheus::PrometheusWindowSpec),
    "prometheus-charts" => PrometheusCharts(prometheus::PrometheusChartsSpec),
    "canary" => Canary(canary::CanarySpec),
    "canary-retarget" => CanaryRetarget(canary::CanaryRetargetSpec),
    "canary-stop" => CanaryStop(canary::CanaryStopSpec),
    "canary-verify" => CanaryVerify(canary::CanaryVerifySpec),
    "residency" => Residency(residency::ResidencySpec),
    "conflicts" => Conflicts(conflicts::ConflictsSpec),
    "pinned-users" => PinnedUsers(pinned::PinnedUsersSpec),
    "postgres-query" => PostgresQuery(postgres::PostgresQuerySpec),
    "postgres-replication" => PostgresReplication(postgres::PostgresReplicationSpec),
    "postgres-fence" => PostgresFence(postgres::PostgresFenceSpec),
    "postgres-promote" => PostgresPromote(postgres::PostgresPromoteSpec),
    "arc-routing-control" => ArcRoutingControl(aws::arc::ArcRoutingControlSpec),
    "arc-routing-control-state" => ArcRoutingControlState(aws::arc::ArcRoutingControlStateSpec),
    "ga-traffic-dial" => GaTrafficDial(aws::ga::GaTrafficDialSpec),
    "ga-endpoint-group" => GaEndpointGroup(aws::ga::GaEndpointGroupSpec),
    "route53-health-check" => Route53HealthCheck(aws::route53::Route53HealthCheckSpec),
    "route53-health-check-status" => Route53HealthCheckStatus(aws::route53::Route53HealthCheckStatusSpec),
    "route53-weights" => Route53Weights(aws::route53::Route53WeightsSpec),
    "elbv2-forward-weights" => Elbv2ForwardWeights(aws::elbv2::Elbv2ForwardWeightsSpec),
    "elbv2-deregister-targets" => Elbv2DeregisterTargets(aws::elbv2::Elbv2DeregisterTargetsSpec),
    "fis-experiment" => FisExperiment(aws::fis::FisExperimentSpec),
    "fis-experiment-state" => FisExperimentState(aws::fis::FisExperimentStateSpec),
    "rds-failover-cluster" => RdsFailoverCluster(aws::rds::RdsFailoverClusterSpec),
    "rds-global-switchover" => RdsGlobalSwitchover(aws::rds::RdsGlobalSwitchoverSpec),
    "rds-global-failover" => RdsGlobalFailover(aws::rds::RdsGlobalFailoverSpec),
    "rds-cluster-status" => RdsClusterStatus(aws::rds::RdsClusterStatusSpec),
    "cloudwatch-metric" => CloudWatchMetric(aws::cloudwatch::CloudWatchMetricSpec),
    "cloudwatch-alarm" => CloudWatchAlarm(aws::cloudwatch::CloudWatchAlarmSpec),
}

/// What running a step does to the world; decides where it may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only: can be a check, a wait, a watch or a guardrail.
    ReadOnly,
    /// Changes something: journaled with pre-state before it acts.
    Mutating { has_undo: bool },
    /// Needs a person (or `--yes`).
    Interactive,
    /// Sleeps or notes; touches nothing.
    Passive,
    /// Runs recorded undos (restore phase).
    Restore,
}

impl StepSpec {
    pub fn effect(&self) -> Effect {
        match self {
            StepSpec::Http(s) if s.is_read_only() => Effect::ReadOnly,
            StepSpec::Http(s) => Effect::Mutating {
                has_undo: s.undo.is_some(),
            },
            StepSpec::Shell(s) if s.read_only => Effect::ReadOnly,
            StepSpec::Shell(s) => Effect::Mutating {
                has_undo: s.undo.is_some(),
            },
            StepSpec::Manual(_) => Effect::Interactive,
            StepSpec::Wait(_) | StepSpec::Note(_) => Effect::Passive,
            StepSpec::Undo(_) => Effect::Restore,
            StepSpec::Prometheus(_)
            | StepSpec::Alert(_)
            | StepSpec::PrometheusWindow(_)
            | StepSpec::PrometheusCharts(_) => Effect::ReadOnly,
            // The writer's undo stops it; its records stay as evidence.
            StepSpec::Canary(_) => Effect::Mutating { has_undo: true },
            // Only gameday's own writer changes.
            StepSpec::CanaryRetarget(_) | StepSpec::CanaryStop(_) => Effect::Passive,
            StepSpec::CanaryVerify(_)
            | StepSpec::Residency(_)
            | StepSpec::Conflicts(_)
            | StepSpec::PinnedUsers(_)
            | StepSpec::PostgresQuery(_)
            | StepSpec::PostgresReplication(_) => Effect::ReadOnly,
            StepSpec::PostgresFence(_) => Effect::Mutating { has_undo: true },
            StepSpec::PostgresPromote(_) => Effect::Mutating { has_undo: false },
            StepSpec::ArcRoutingControlState(_)
            | StepSpec::GaEndpointGroup(_)
            | StepSpec::Route53HealthCheckStatus(_)
            | StepSpec::FisExperimentState(_)
            | StepSpec::RdsClusterStatus(_)
            | StepSpec::CloudWatchMetric(_)
            | StepSpec::CloudWatchAlarm(_) => Effect::ReadOnly,
            StepSpec::ArcRoutingControl(_)
            | StepSpec::GaTrafficDial(_)
            | StepSpec::Route53HealthCheck(_)
            | StepSpec::Route53Weights(_)
            | StepSpec::Elbv2ForwardWeights(_)
            | StepSpec::Elbv2DeregisterTargets(_)
            | StepSpec::FisExperiment(_)
            | StepSpec::RdsFailoverCluster(_)
            | StepSpec::RdsGlobalSwitchover(_) => Effect::Mutating { has_undo: true },
            // Promotion with possible data loss: the playbook must declare `irreversible:`.
            StepSpec::RdsGlobalFailover(_) => Effect::Mutating { has_undo: false },
        }
    }

    /// The names a step records values under when it says `record: <record>`:
    /// the name itself, and for steps that measure several numbers,
    /// `<record>_<count>` for each.
    pub fn recorded_names(&self, record: &str) -> Vec<String> {
        let mut names = vec![record.to_string()];
        let extra: &[&str] = match self {
            StepSpec::CanaryVerify(_) => canary::VERIFY_COUNTS,
            StepSpec::Residency(_) => &["readback", "traffic_peak", "traffic_total"],
            StepSpec::PostgresReplication(_) => &["bytes"],
            StepSpec::Conflicts(_) => &["conflicts", "writes", "old", "forbidden"],
            _ => &[],
        };
        names.extend(extra.iter().map(|e| format!("{record}_{e}")));
        names
    }

    /// Problems with a step's own fields and with what it names elsewhere in
    /// the playbook (connections, other steps), at the step unless they say.
    pub fn problems(&self, pb: &Playbook) -> Vec<Problem> {
        let mut out: Vec<Problem> = vec![];
        let connections: Vec<&str> = pb.connections.postgres.keys().map(|s| s.as_str()).collect();
        let need_connection = |name: &str, out: &mut Vec<Problem>| {
            if !pb.connections.postgres.contains_key(name) {
                let hint = crate::diag::suggest(name, connections.iter().copied(), || {
                    if connections.is_empty() {
                        format!(
                            "declare it at the top level: `postgres: {{ {name}: {{ env: PG_{}_DSN }} }}`",
                            name.to_ascii_uppercase()
                        )
                    } else {
                        format!("connections are: {}", connections.join(", "))
                    }
                });
                out.push(
                    Problem::new(format!("no PostgreSQL connection named `{name}`")).hint(hint),
                );
            }
        };
        let canaries: Vec<(&str, &canary::CanarySpec)> = pb
            .all_steps()
            .filter_map(|(_, s)| match &s.spec {
                StepSpec::Canary(c) => Some((s.name.as_str(), c)),
                _ => None,
            })
            .collect();
        let find_canary = |name: &str, out: &mut Vec<Problem>| {
            let found = canaries.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
            if found.is_none() {
                let hint = crate::diag::suggest(name, canaries.iter().map(|(n, _)| *n), || {
                    "name the step of kind `canary` that starts the writer".into()
                });
                out.push(Problem::new(format!("no `canary` step named `{name}`")).hint(hint));
            }
            found
        };
        match self {
            StepSpec::Canary(c) => {
                out.extend(c.problems());
                for name in c.connections() {
                    need_connection(name, &mut out);
                }
            }
            StepSpec::CanaryRetarget(r) => {
                if let Some(c) = find_canary(&r.canary, &mut out) {
                    match (&c.postgres, &r.connection, r.write_in.is_empty()) {
                        (Some(_), Some(conn), true) if r.stream.is_none() => {
                            need_connection(conn, &mut out)
                        }
                        (Some(_), _, _) => out.push(Problem::new("a PostgreSQL canary is retargeted with `connection:` alone")),
                        (None, None, false) => {
                            if let Some(st) = &r.stream
                                && !c.streams.iter().any(|s| &s.name == st)
                            {
                                out.push(Problem::new(format!("canary `{}` has no stream `{st}`", r.canary)));
                            }
                        }
                        (None, _, _) => out.push(Problem::new("an HTTP canary is retargeted with `write_in:` (and optionally `stream:`)")),
                    }
                }
            }
            StepSpec::CanaryStop(s) => {
                find_canary(&s.canary, &mut out);
            }
            StepSpec::CanaryVerify(v) => {
                let c = find_canary(&v.canary, &mut out);
                for k in v.expect.keys() {
                    if !canary::VERIFY_COUNTS.contains(&k.as_str()) {
                        let hint =
                            crate::diag::suggest(k, canary::VERIFY_COUNTS.iter().copied(), || {
                                format!("counts are: {}", canary::VERIFY_COUNTS.join(", "))
                            });
                        out.push(
                            Problem::new(format!("`expect.{k}` is not a canary-verify count"))
                                .hint(hint),
                        );
                    }
                }
                if c.is_some_and(|c| c.postgres.is_some()) {
                    for name in &v.read_in {
                        need_connection(name, &mut out);
                    }
                }
            }
            StepSpec::Residency(r) => {
                out.extend(r.problems());
                if let Some(rb) = &r.read_back
                    && let Some(c) = find_canary(&rb.canary, &mut out)
                    && !c.streams.iter().any(|s| !s.absent_in.is_empty())
                {
                    out.push(Problem::new(format!("canary `{}` has no stream with `absent_in:`, so there is nothing to read back", rb.canary)).hint("add `absent_in: [us-east-1]` to the stream written for EU users"));
                }
                if r.traffic.is_some() && pb.connections.prometheus.is_none() {
                    out.push(Problem::new("`traffic` is read from Prometheus, and the playbook has no `prometheus:` connection").hint("add `prometheus: { url: http://HOST:9090 }` at the top level"));
                }
            }
            StepSpec::Conflicts(c) => {
                out.extend(c.problems().into_iter().map(Problem::new));
                if let Some(win) = c.window.as_deref()
                    && win != "drill"
                    && !pb
                        .phases
                        .iter()
                        .any(|p| p.name == win || p.kind.as_str() == win)
                {
                    out.push(
                        Problem::new(format!("window `{win}` is not a phase of this playbook"))
                            .hint("name a phase (by name or kind), or `drill` for the whole drill so far"),
                    );
                }
                if pb.connections.prometheus.is_none() {
                    out.push(
                        Problem::new("conflicts are read from Prometheus, and the playbook has no `prometheus:` connection")
                            .hint("add `prometheus: { url: http://HOST:9090 }` at the top level"),
                    );
                }
            }
            StepSpec::PinnedUsers(p) => {
                out.extend(p.problems().into_iter().map(Problem::new));
                if let Some(c) = find_canary(&p.canary, &mut out)
                    && c.http.is_none()
                {
                    out.push(Problem::new(format!(
                        "canary `{}` writes into PostgreSQL; pinned-users needs an HTTP canary",
                        p.canary
                    )));
                }
            }
            StepSpec::PostgresQuery(q) => need_connection(&q.connection, &mut out),
            StepSpec::PostgresReplication(r) => {
                need_connection(&r.connection, &mut out);
                if let Some(p) = &r.compare_with {
                    need_connection(p, &mut out);
                }
            }
            StepSpec::PostgresFence(f) => {
                need_connection(&f.connection, &mut out);
                if let Some(s) = &f.keep_while_promoted {
                    need_connection(s, &mut out);
                }
            }
            StepSpec::PostgresPromote(p) => need_connection(&p.connection, &mut out),
            _ => {}
        }
        out
    }
}
