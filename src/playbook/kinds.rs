//! What each step kind is for, written once: the one-line summary, how it
//! is used (check, wait, change, …), how its undo works, the IAM actions it
//! needs, and an example. The JSON Schema (`playbook::schema`), `gameday
//! kinds`, `gameday explain KIND` and `docs/playbook.md` all read this table;
//! the field list comes from the typed specs through the schema. Tests check
//! that every kind of `spec::KINDS` is here and that every example loads and
//! has the effect stated.

/// How a step kind may be used, as `gameday explain` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Reads only: a check, a wait (`wait:`), a watch or a guardrail.
    Check,
    /// Changes something; journaled with its pre-state before it acts.
    Change,
    /// A person confirms (or `--yes` in unattended runs).
    Manual,
    /// Touches nothing outside gameday (sleeps, notes, its own canary writer).
    Passive,
    /// Runs recorded undos in the restore phase.
    Restore,
}

impl Use {
    pub fn as_str(self) -> &'static str {
        match self {
            Use::Check => "check (read-only: a check, a wait with `wait:`, a watch or a guardrail)",
            Use::Change => {
                "change (journaled with its pre-state before it acts; undone at restoration)"
            }
            Use::Manual => {
                "manual (an engineer confirms; `--yes` confirms automatically where allowed)"
            }
            Use::Passive => "passive (touches nothing outside gameday)",
            Use::Restore => "restore (restore phase only: runs recorded undos here)",
        }
    }
}

/// One step kind, described.
#[derive(Debug, Clone, Copy)]
pub struct About {
    pub kind: &'static str,
    pub summary: &'static str,
    pub usage: Use,
    /// How the change is put back (empty for read-only kinds).
    pub undo: &'static str,
    /// IAM actions (AWS kinds) the credentials need.
    pub iam: &'static [&'static str],
    /// A step of this kind, as written in a phase's `steps:` (YAML, without the leading `- `).
    pub example: &'static str,
}

/// The description of `kind`, if it is one.
pub fn about(kind: &str) -> Option<&'static About> {
    ALL.iter().find(|a| a.kind == kind)
}

const NO_UNDO: &str = "";

macro_rules! about {
    ($kind:literal, $usage:ident, $summary:literal, undo: $undo:expr, iam: [$($iam:literal),*], example: $ex:literal) => {
        About { kind: $kind, summary: $summary, usage: Use::$usage, undo: $undo, iam: &[$($iam),*], example: $ex }
    };
}

/// Every step kind, in the order of `spec::KINDS`.
pub const ALL: &[About] = &[
    about!("http", Check,
        "An HTTP request with expectations on status, JSON values, body and latency. GET/HEAD read only; other methods change something and need `undo:` (or `read_only: true`).",
        undo: "a non-GET request runs its `undo:` request at restoration",
        iam: [],
        example: "name: api healthy\nkind: http\nurl: http://127.0.0.1:8080/health\nexpect: { status: 200, json: { status: ok }, latency: \"< 500ms\" }\n"),
    about!("shell", Change,
        "A command (`argv`) or a `/bin/sh` script in its own process group; vars arrive as environment variables. A change unless `read_only: true`.",
        undo: "its `undo:` command (argv or script) runs at restoration",
        iam: [],
        example: "name: raise flag\nkind: shell\nscript: 'echo isolated > \"$flag_file\"'\nundo: { argv: [rm, -f, /tmp/flag] }\n"),
    about!("manual", Manual,
        "An engineer confirms a prompt (or types an answer); who and when is journaled.",
        undo: NO_UNDO, iam: [],
        example: "name: on-call staged\nkind: manual\nprompt: On-call is staged and the incident channel is open.\n"),
    about!("wait", Passive,
        "A fixed observation window with a countdown.",
        undo: NO_UNDO, iam: [],
        example: "name: observation window\nkind: wait\nduration: 10m\nreason: let the alerts and dashboards settle\n"),
    about!("note", Passive,
        "A line in the journal and the report.",
        undo: NO_UNDO, iam: [],
        example: "name: context\nkind: note\ntext: Drill requested by the platform team for the Q3 review.\n"),
    about!("undo", Restore,
        "Restore phase: run the recorded undo of an earlier step (`of: STEP`) or of everything still applied (`of: all`) at this point.",
        undo: NO_UNDO, iam: [],
        example: "name: route traffic back\nkind: undo\nof: isolate region\nmark: restored\n"),
    about!("prometheus", Check,
        "A PromQL expression (`expr`) and a condition (`expect`) on every (`series: all`) or any series; an empty answer fails unless `empty: pass`. As a wait, the marker is the first evaluation where it held.",
        undo: NO_UNDO, iam: [],
        example: "name: replication lag under budget\nkind: prometheus\nexpr: replication_lag_seconds\nexpect: \"< 5\"\nseries: all\n"),
    about!("alert", Check,
        "Until an alert with `alertname` and `labels` fires, from Prometheus (the rule's activation time plus `for`) or Alertmanager (`startsAt`): the detection marker.",
        undo: NO_UNDO, iam: [],
        example: "name: alert fires\nkind: alert\nalertname: RegionProbeFailing\nlabels: { region: eu-west-1 }\nafter: isolated\nwait: { every: 1s, timeout: 5m }\nmark: alert_firing\n"),
    about!("prometheus-window", Check,
        "A value over a phase's window (`window: observation`, by phase name, or `drill`) or since a marker: `increase` of a counter (resets handled), its `rate` per second (over the minute before the window's end when the window is shorter), or `min`/`max`/`avg` of a gauge; `record:` it for a metric; `baseline:` with `max_ratio`/`max_increase` judges it against a window before the isolation.",
        undo: NO_UNDO, iam: [],
        example: "name: worst lag while isolated\nkind: prometheus-window\nexpr: replication_lag_seconds\nfunction: max\nwindow: observation\nrecord: worst_lag_isolated\n"),
    about!("prometheus-charts", Check,
        "Save range queries over the run into `series/` for the report's charts.",
        undo: NO_UNDO, iam: [],
        example: "name: save chart data\nkind: prometheus-charts\nlead: 30s\ncharts:\n  traffic: { query: region_requests_per_second, title: Requests per second, unit: req/s }\n"),
    about!("canary", Change,
        "Start a background writer of sequence-numbered records (HTTP or PostgreSQL); each acknowledged write is journaled. URLs and bodies take `{region}`, `{key}`, `{seq}`, `{jurisdiction}`, `{stream}`, `{run}`.",
        undo: "the writer is stopped; its records stay as evidence",
        iam: [],
        example: "name: canary\nkind: canary\nrate: 10/s\nhttp:\n  write: { method: PUT, url: \"http://127.0.0.1:9797/app/{region}/records/{key}\", body: '{\"value\": {\"seq\": {seq}}}' }\n  read: { url: \"http://127.0.0.1:9797/app/{region}/records/{key}\", seq_at: value.seq }\nstreams:\n  - { name: eu, jurisdiction: EU, write_in: [eu-west-1], read_in: [eu-central-1], absent_in: [us-east-1] }\n"),
    about!("canary-retarget", Passive,
        "Point the canary writer elsewhere: `write_in` regions (HTTP) or a `connection` (the new PostgreSQL primary).",
        undo: NO_UNDO, iam: [],
        example: "name: canary follows the reroute\nkind: canary-retarget\ncanary: canary\nstream: eu\nwrite_in: [eu-central-1]\n"),
    about!("canary-stop", Passive,
        "Stop the canary writer.",
        undo: NO_UNDO, iam: [],
        example: "name: stop writing\nkind: canary-stop\ncanary: canary\n"),
    about!("canary-verify", Check,
        "Read every acknowledged canary record back: present, missing, stale, lost, RPO; records `<record>_<count>` for each count.",
        undo: NO_UNDO, iam: [],
        example: "name: verify canary writes\nkind: canary-verify\ncanary: canary\ncatch_up: 30s\nexpect: { lost: \"== 0\" }\nrecord: canary\n"),
    about!("residency", Check,
        "Data residency: canary records readable where they must not be (`read_back`), and a Prometheus expression over the whole window (`traffic`, with `{step}` and `{window}` placeholders).",
        undo: NO_UNDO, iam: [],
        example: "name: residency held\nkind: residency\njurisdiction: EU\ntraffic:\n  query: 'sum(increase(requests_served_outside_home_total{jurisdiction=\"eu\"}[{step}])) or vector(0)'\n  expect: \"== 0\"\n  window: drill\n"),
    about!("conflicts", Check,
        "DOMAIN.md's conflict monitoring over a window (`drill` or a phase): conflicts as a share of writes (`max_rate`), conflict age at resolution from the histogram (`max_age`), and entity types that must never conflict (`never_conflict`).",
        undo: NO_UNDO, iam: [],
        example: "name: conflicts within limits\nkind: conflicts\nwindow: drill\nmax_rate: 0.1%\nmax_age: 60s\nnever_conflict: [ledger_entry]\n"),
    about!("pinned-users", Check,
        "Region-pinned users still served: per home jurisdiction, sample writes through the canary's HTTP requests via an entry point must be served by an allowed region and be readable right after in the users' home region (read-your-writes); reports the share of failed or stale reads.",
        undo: NO_UNDO, iam: [],
        example: "name: region-pinned users still served\nkind: pinned-users\ncanary: canary\nsamples: 20\nusers:\n  - { jurisdiction: EU, via: eu, home: eu-central-1, allowed: [eu-west-1, eu-central-1] }\n"),
    about!("postgres-query", Check,
        "A read-only transaction on a named connection; the condition applies to the first value.",
        undo: NO_UNDO, iam: [],
        example: "name: primary accepts writes\nkind: postgres-query\nconnection: primary\nquery: SELECT NOT pg_is_in_recovery()\nexpect: \"== 1\"\n"),
    about!("postgres-replication", Check,
        "Replay lag from `pg_stat_replication` (primary) or the standby's WAL positions; a check or a wait.",
        undo: NO_UNDO, iam: [],
        example: "name: standby within lag budget\nkind: postgres-replication\nconnection: standby\nrole: standby\nexpect: \"<= 5s\"\n"),
    about!("postgres-fence", Change,
        "Make the primary read-only (`ALTER SYSTEM SET default_transaction_read_only = on` and reload), optionally terminating sessions.",
        undo: "the setting is put back, unless the standby named by `keep_while_promoted` was promoted",
        iam: [],
        example: "name: fence primary\nkind: postgres-fence\nconnection: primary\nkeep_while_promoted: standby\n"),
    about!("postgres-promote", Change,
        "`pg_promote()` on a standby, then wait until it accepts writes. Cannot be undone automatically: needs `irreversible:`.",
        undo: "none: declare `irreversible: { reason, covered_by }` naming the restore step that covers it",
        iam: [],
        example: "name: promote standby\nkind: postgres-promote\nconnection: standby\nwait_for: 60s\nirreversible:\n  reason: a promoted standby cannot be turned back automatically\n  covered_by: data checked\n"),
    about!("arc-routing-control", Change,
        "Set Route 53 ARC routing controls `On` or `Off` through the cluster endpoints (next endpoint on failure; safety-rule rejections reported as such).",
        undo: "the captured states are set back",
        iam: ["route53-recovery-cluster:GetRoutingControlState", "route53-recovery-cluster:UpdateRoutingControlStates"],
        example: "name: routing off\nkind: arc-routing-control\ncluster_endpoints:\n  - { url: \"https://host-aaaaaa.us-west-2.example.com/v1\", region: us-west-2 }\nrouting_controls: [\"arn:aws:route53-recovery-control::111122223333:controlpanel/abc/routingcontrol/def\"]\nstate: \"Off\"\nmark: isolated\n"),
    about!("arc-routing-control-state", Check,
        "Routing controls are in the expected state.",
        undo: NO_UNDO,
        iam: ["route53-recovery-cluster:GetRoutingControlState"],
        example: "name: routing on\nkind: arc-routing-control-state\ncluster_endpoints:\n  - { url: \"https://host-aaaaaa.us-west-2.example.com/v1\", region: us-west-2 }\nrouting_controls: [\"arn:aws:route53-recovery-control::111122223333:controlpanel/abc/routingcontrol/def\"]\nexpect: \"On\"\n"),
    about!("ga-traffic-dial", Change,
        "Set a Global Accelerator endpoint group's traffic dial and/or endpoint weights.",
        undo: "the captured dial and weights are set back",
        iam: ["globalaccelerator:DescribeEndpointGroup", "globalaccelerator:UpdateEndpointGroup"],
        example: "name: dial down region\nkind: ga-traffic-dial\nendpoint_group_arn: arn:aws:globalaccelerator::111122223333:accelerator/a/listener/l/endpoint-group/g\ntraffic_dial: 0\nmark: isolated\n"),
    about!("ga-endpoint-group", Check,
        "An endpoint group's traffic dial, weights and healthy endpoints meet expectations.",
        undo: NO_UNDO,
        iam: ["globalaccelerator:DescribeEndpointGroup"],
        example: "name: region serving\nkind: ga-endpoint-group\nendpoint_group_arn: arn:aws:globalaccelerator::111122223333:accelerator/a/listener/l/endpoint-group/g\nexpect: { traffic_dial: \"> 0\", healthy_endpoints: \">= 1\" }\n"),
    about!("route53-health-check", Change,
        "Set a Route 53 health check's `inverted` or `disabled` flag (inverting makes a healthy target look failed).",
        undo: "the captured flags are set back",
        iam: ["route53:GetHealthCheck", "route53:UpdateHealthCheck"],
        example: "name: fail the primary\nkind: route53-health-check\nhealth_check_id: abcdef12-3456-7890-abcd-ef1234567890\ninverted: true\nmark: isolated\n"),
    about!("route53-health-check-status", Check,
        "What Route 53's health checkers report: `healthy` or `unhealthy`.",
        undo: NO_UNDO,
        iam: ["route53:GetHealthCheckStatus"],
        example: "name: primary healthy\nkind: route53-health-check-status\nhealth_check_id: abcdef12-3456-7890-abcd-ef1234567890\nexpect: healthy\n"),
    about!("route53-weights", Change,
        "Change the weights of weighted records (by set identifier) and wait until the change is INSYNC.",
        undo: "the captured weights are written back",
        iam: ["route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets", "route53:GetChange"],
        example: "name: weight region out\nkind: route53-weights\nhosted_zone_id: Z0123456789ABCDEFGHIJ\nrecord_name: api.example.com\nrecord_type: A\nweights: [{ set_identifier: eu-west-1, weight: 0 }]\nmark: isolated\n"),
    about!("elbv2-forward-weights", Change,
        "Change the target group weights of an ALB listener's default forward action or of a rule.",
        undo: "the captured action is put back",
        iam: ["elasticloadbalancing:DescribeListeners", "elasticloadbalancing:ModifyListener", "elasticloadbalancing:DescribeRules", "elasticloadbalancing:ModifyRule"],
        example: "name: evacuate zone\nkind: elbv2-forward-weights\nlistener_arn: arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/web/1/2\nweights:\n  - { target_group_arn: \"arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/a/1\", weight: 0 }\n  - { target_group_arn: \"arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/b/2\", weight: 100 }\nmark: isolated\n"),
    about!("elbv2-deregister-targets", Change,
        "Deregister targets from a target group.",
        undo: "the targets are registered again",
        iam: ["elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"],
        example: "name: drain instance\nkind: elbv2-deregister-targets\ntarget_group_arn: arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/a/1\ntargets: [{ id: i-0123456789abcdef0, port: 8080 }]\n"),
    about!("fis-experiment", Change,
        "Start an AWS Fault Injection Service experiment from a template (tagged with the run) and wait for a state.",
        undo: "the experiment is stopped",
        iam: ["fis:GetExperimentTemplate", "fis:StartExperiment", "fis:TagResource", "fis:GetExperiment", "fis:ListExperiments", "fis:StopExperiment"],
        example: "name: cut cross-region connectivity\nkind: fis-experiment\ntemplate_id: EXT123456789\nwait_for: running\ntimeout: 5m\nmark: isolated\n"),
    about!("fis-experiment-state", Check,
        "An experiment (started by a step, or by id) is in a state.",
        undo: NO_UNDO,
        iam: ["fis:GetExperiment"],
        example: "name: experiment running\nkind: fis-experiment-state\nexperiment_id: EXP123456789\nstate: running\n"),
    about!("rds-failover-cluster", Change,
        "Fail an Aurora cluster over to another instance.",
        undo: "fails back to the writer captured before",
        iam: ["rds:DescribeDBClusters", "rds:FailoverDBCluster"],
        example: "name: fail over writer\nkind: rds-failover-cluster\ncluster: orders\ntarget_instance: orders-2\n"),
    about!("rds-global-switchover", Change,
        "Switch an Aurora global database over to another region's cluster (no data loss).",
        undo: "switches back to the captured primary cluster",
        iam: ["rds:DescribeGlobalClusters", "rds:SwitchoverGlobalCluster"],
        example: "name: switch over\nkind: rds-global-switchover\nglobal_cluster: orders-global\ntarget_cluster_arn: arn:aws:rds:eu-central-1:111122223333:cluster:orders-fra\n"),
    about!("rds-global-failover", Change,
        "Fail an Aurora global database over, possibly losing data (`allow_data_loss`). Cannot be undone automatically: needs `irreversible:`.",
        undo: "none: declare `irreversible: { reason, covered_by }`",
        iam: ["rds:DescribeGlobalClusters", "rds:FailoverGlobalCluster"],
        example: "name: fail over globally\nkind: rds-global-failover\nglobal_cluster: orders-global\ntarget_cluster_arn: arn:aws:rds:eu-central-1:111122223333:cluster:orders-fra\nallow_data_loss: true\nirreversible:\n  reason: the old primary must be rebuilt\n  covered_by: data checked\n"),
    about!("rds-cluster-status", Check,
        "A DB cluster or global cluster has a status (default `available`) and, optionally, a given writer.",
        undo: NO_UNDO,
        iam: ["rds:DescribeDBClusters", "rds:DescribeGlobalClusters"],
        example: "name: cluster available\nkind: rds-cluster-status\ncluster: orders\nstatus: available\n"),
    about!("cloudwatch-metric", Check,
        "A CloudWatch metric (or metric math `expression`) over a window, reduced to one value and compared (e.g. DynamoDB `ReplicationLatency`).",
        undo: NO_UNDO,
        iam: ["cloudwatch:GetMetricData"],
        example: "name: replication latency\nkind: cloudwatch-metric\nnamespace: AWS/DynamoDB\nmetric: ReplicationLatency\ndimensions: { TableName: orders, ReceivingRegion: eu-central-1 }\nstat: Maximum\nperiod: 60s\nwindow: 5m\nexpect: \"< 5000\"\n"),
    about!("cloudwatch-alarm", Check,
        "A CloudWatch alarm is in a state; as a wait, its marker is the alarm's state change (another source for TTD).",
        undo: NO_UNDO,
        iam: ["cloudwatch:DescribeAlarms"],
        example: "name: lag alarm quiet\nkind: cloudwatch-alarm\nalarm_name: orders-replication-lag\nstate: OK\n"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::spec::{Effect, KINDS};
    use crate::playbook::{LoadOptions, load_str};

    #[test]
    fn every_kind_is_described_once_in_the_order_of_the_model() {
        let described: Vec<&str> = ALL.iter().map(|a| a.kind).collect();
        assert_eq!(described, KINDS);
    }

    fn indent(example: &str) -> String {
        example
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{}{l}\n", if i == 0 { "      - " } else { "        " }))
            .collect()
    }

    /// A playbook around `a.example`: connections, a canary and a change to undo,
    /// the example in the phase where its use belongs.
    fn harness(a: &About) -> String {
        let ex = indent(a.example);
        let mark = if a.example.contains("mark: isolated") {
            ""
        } else {
            "        mark: isolated\n"
        };
        let canary = if a.kind == "canary" {
            String::new()
        } else {
            indent(ALL.iter().find(|k| k.kind == "canary").unwrap().example)
        };
        let (isolate, observe, restore) = match a.usage {
            Use::Change => (ex, String::new(), String::new()),
            Use::Restore => (String::new(), String::new(), ex),
            _ => (String::new(), ex, String::new()),
        };
        format!(
            "name: example\nprometheus: {{ url: \"http://127.0.0.1:9090\" }}\nalertmanager: {{ url: \"http://127.0.0.1:9093\" }}\n\
             postgres: {{ primary: {{ env: PG_PRIMARY_DSN }}, standby: {{ env: PG_STANDBY_DSN }} }}\n\
             phases:\n  - kind: isolate\n    steps:\n{canary}      - name: isolate region\n        kind: shell\n        argv: [\"true\"]\n        undo: {{ argv: [\"true\"] }}\n{mark}{isolate}\
             \n  - kind: observe\n    name: observation\n    steps:\n      - name: pause\n        kind: wait\n        duration: 0s\n{observe}\
             \n  - kind: restore\n    steps:\n{restore}      - name: data checked\n        kind: manual\n        prompt: checked\n"
        )
    }

    #[test]
    fn every_example_loads_and_has_the_use_it_states() {
        for a in ALL {
            let text = harness(a);
            let loaded = load_str("example.yaml", text.clone(), &LoadOptions::default())
                .unwrap_or_else(|d| {
                    panic!(
                        "example of `{}` does not load:\n{text}\n{}",
                        a.kind,
                        crate::diag::render_all(&d)
                    )
                });
            let name = a
                .example
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("name: ");
            let (_, step) = loaded
                .playbook
                .all_steps()
                .find(|(_, s)| s.name == name)
                .expect("the example's step");
            assert_eq!(step.spec.kind(), a.kind);
            let usage = match step.spec.effect() {
                Effect::ReadOnly => Use::Check,
                Effect::Mutating { .. } => Use::Change,
                Effect::Interactive => Use::Manual,
                Effect::Passive => Use::Passive,
                Effect::Restore => Use::Restore,
            };
            assert_eq!(usage, a.usage, "use of `{}`", a.kind);
        }
    }
}
