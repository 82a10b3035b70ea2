//! The simulator (`gameday sim`): determinism, faults, every HTTP face,
//! bad input, load, the real AWS SDK, and a real Prometheus side by side.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use gameday::sim::config::{self, IsolationMode, SimConfig};
use gameday::sim::model::{FaultPatch, Sim, Truth};
use gameday::sim::{SimHandle, aws};
use serde_json::{Value, json};

use crate::support::prometheus::{Alertmanager, Prometheus, query_at};
use crate::support::{http, repo, wait_for};

const T0: i64 = 1_800_000_000_000;

async fn start(cfg: SimConfig, seed: u64) -> SimHandle {
    gameday::sim::start(cfg, seed, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("simulator starts")
}

fn ms_of(t: &Option<String>) -> Option<i64> {
    t.as_deref()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.timestamp_millis())
}

fn sample(sim: &Sim, name: &str, labels: &[(&str, &str)]) -> f64 {
    sim.samples()
        .into_iter()
        .filter(|s| s.name == name)
        .find(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.value)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

/// Isolate eu-west-1 at +30 s, restore at +90 s, run to +150 s; the ticker
/// wakes at irregular times in between.
fn drill(cfg: SimConfig, seed: u64) -> (Sim, Truth) {
    let mut sim = Sim::new(cfg, seed, T0);
    let eu = sim.region_index("eu-west-1").expect("eu-west-1");
    sim.advance_to(T0 + 30_000);
    sim.set_routing_control(eu, false, T0 + 30_007);
    let mut t = T0 + 30_007;
    while t < T0 + 90_000 {
        t += 313 + (t % 7) * 41;
        sim.advance_to(t.min(T0 + 90_000));
    }
    sim.set_routing_control(eu, true, T0 + 90_011);
    sim.advance_to(T0 + 150_000);
    let truth = sim.truth();
    (sim, truth)
}

// ----- the model, driven by an explicit clock --------------------------------

#[test]
fn sim_ground_truth_is_reproducible_for_a_seed() {
    let cfg = SimConfig {
        isolation_mode: IsolationMode::Partition,
        ..SimConfig::default()
    };
    let (a_sim, a) = drill(cfg.clone(), 42);
    let (b_sim, b) = drill(cfg.clone(), 42);
    assert_eq!(a, b);
    assert_eq!(a_sim.samples(), b_sim.samples());
    assert_eq!(ms_of(&a.isolated_at), Some(T0 + 30_007));
    assert_eq!(ms_of(&a.restored_at), Some(T0 + 90_011));
    let rerouted = ms_of(&a.rerouted_at).expect("rerouted");
    assert!(
        (T0 + 35_007..=T0 + 36_007).contains(&rerouted),
        "5 s + up to 1 s jitter: {a:?}"
    );
    let firing = ms_of(&a.alert_firing_at).expect("an alert fired");
    assert!(firing > T0 + 40_000 && firing < T0 + 45_000, "{a:?}");
    assert!(ms_of(&a.caught_up_at).expect("caught up") > T0 + 90_011);
    assert!(a.conflicts_total > 0, "{a:?}");
    let (_, other) = drill(cfg, 43);
    assert_ne!(
        a.rerouted_at, other.rerouted_at,
        "another seed, other jitter"
    );
}

#[test]
fn sim_fault_residency_bug_serves_eu_users_in_the_us() {
    let (sim, clean) = drill(SimConfig::default(), 1);
    assert_eq!(clean.residency_violations_total, 0);
    let mut cfg = SimConfig::default();
    cfg.faults.residency_bug = 0.3;
    let (sim_bug, bug) = drill(cfg, 1);
    assert!(bug.residency_violations_total > 50, "{bug:?}");
    let outside = |s: &Sim| {
        s.samples()
            .into_iter()
            .filter(|x| x.name == "requests_served_outside_home_total")
            .filter(|x| {
                x.labels.contains(&("jurisdiction", "eu".into()))
                    && x.labels.contains(&("region", "us-east-1".into()))
            })
            .map(|x| x.value)
            .sum::<f64>()
    };
    assert_eq!(outside(&sim), 0.0);
    assert!(outside(&sim_bug) > 50.0);
}

#[test]
fn sim_fault_clock_skew_loses_newer_writes_silently() {
    let mut cfg = SimConfig {
        isolation_mode: IsolationMode::Partition,
        ..SimConfig::default()
    };
    let (_, plain) = drill(cfg.clone(), 5);
    cfg.faults.clock_skew_ms.insert("eu-west-1".into(), 120_000);
    let (_, skewed) = drill(cfg, 5);
    assert!(skewed.conflicts_total > 0);
    assert!(
        skewed.lost_updates_total > plain.lost_updates_total + 10,
        "skewed {skewed:?} plain {plain:?}"
    );
}

#[test]
fn sim_fault_replication_stall_raises_lag_and_its_alert() {
    let mut cfg = SimConfig::default();
    cfg.faults.replication_stall = vec!["eu-central-1".into()];
    let mut sim = Sim::new(cfg, 1, T0);
    sim.advance_to(T0 + 30_000);
    assert!(
        sample(
            &sim,
            "replication_lag_seconds",
            &[("source", "eu-central-1"), ("target", "us-east-1")]
        ) > 20.0
    );
    assert!(
        sample(
            &sim,
            "replication_queue_depth",
            &[("source", "us-east-1"), ("target", "eu-central-1")]
        ) > 50.0
    );
    assert!(
        sample(
            &sim,
            "replication_lag_seconds",
            &[("source", "us-east-1"), ("target", "eu-west-1")]
        ) < 1.0
    );
    assert!(
        sim.alerts()
            .active()
            .any(|a| a.labels.get("alertname").map(String::as_str) == Some("ReplicationLagHigh"))
    );
}

#[test]
fn sim_fault_slow_reroute_delays_the_reroute() {
    let mut cfg = SimConfig::default();
    cfg.faults.slow_reroute = Duration::from_secs(40);
    let (_, t) = drill(cfg, 1);
    let took = ms_of(&t.rerouted_at).expect("rerouted") - ms_of(&t.isolated_at).expect("isolated");
    assert!((45_000..=46_000).contains(&took), "{t:?}");
}

#[test]
fn sim_fault_alert_that_never_fires_leaves_detection_missing() {
    let mut cfg = SimConfig::default();
    cfg.faults.alert_never_fires = vec!["*".into()];
    let (sim, t) = drill(cfg, 1);
    assert_eq!(t.alert_firing_at, None, "{t:?}");
    assert!(t.isolated_at.is_some() && t.rerouted_at.is_some());
    assert_eq!(sim.alerts().active().count(), 0);
    // Naming one alert silences only that one.
    let mut cfg = SimConfig::default();
    cfg.faults.alert_never_fires = vec!["RegionProbeFailing".into()];
    let (_, t) = drill(cfg, 1);
    assert_eq!(t.first_alert.as_deref(), Some("RegionErrorRatioHigh"));
}

#[test]
fn sim_fault_region_keeps_failing_after_restore() {
    let mut cfg = SimConfig::default();
    cfg.faults.keeps_failing_after_restore = vec!["eu-west-1".into()];
    let (mut sim, _) = drill(cfg, 1);
    assert!(sample(&sim, "region_error_ratio", &[("region", "eu-west-1")]) > 0.2);
    assert_eq!(
        sample(&sim, "synthetic_probe_success", &[("region", "eu-west-1")]),
        0.0
    );
    assert!(sim.app_health("eu-west-1", T0 + 150_000).is_err());
    let (mut healthy, _) = drill(SimConfig::default(), 1);
    assert!(sample(&healthy, "region_error_ratio", &[("region", "eu-west-1")]) < 0.05);
    assert!(healthy.app_health("eu-west-1", T0 + 150_000).is_ok());
    // Clearing the fault at run time heals the region.
    sim.set_faults(
        FaultPatch {
            keeps_failing_after_restore: Some(vec![]),
            ..Default::default()
        },
        T0 + 150_000,
    )
    .expect("valid fault change");
    assert!(sim.app_health("eu-west-1", T0 + 150_000).is_ok());
}

#[test]
fn sim_invalid_config_reports_every_problem_at_its_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sim.yaml");
    std::fs::write(
        &path,
        "regions:\n  us-east-1: US\n  eu-west-1: EU\nrouting:\n  propagation_dealy: 5s\n  isolation_mode: partiton\ntiming:\n  tick: soon\nfaults:\n  replication_stall: [eu-wets-1]\n  alert_never_fires: [RegionErrorRatioHgh]\n",
    )
    .expect("write config");
    let diags = config::load(&path).expect_err("invalid config");
    let p = path.display().to_string();
    let locs: Vec<String> = diags.iter().map(|d| d.location()).collect();
    assert_eq!(
        locs,
        vec![
            format!("{p}:5:3"),
            format!("{p}:6:19"),
            format!("{p}:8:9"),
            format!("{p}:10:23"),
            format!("{p}:11:23")
        ],
        "{diags:#?}"
    );
    let text = gameday::diag::render_all(&diags);
    assert!(text.contains("did you mean `propagation_delay`?"), "{text}");
    assert!(text.contains("did you mean `partition`?"), "{text}");
    assert!(text.contains("did you mean `eu-west-1`?"), "{text}");
    assert!(
        text.contains("did you mean `RegionErrorRatioHigh`?"),
        "{text}"
    );
    let example = repo().join("drills/sim/config.example.yaml");
    let cfg =
        config::load(&example).unwrap_or_else(|d| panic!("{}", gameday::diag::render_all(&d)));
    assert_eq!(
        SimConfig { seed: None, ..cfg },
        SimConfig::default(),
        "the example shows the defaults"
    );
}

// ----- HTTP faces ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_http_faces_metrics_truth_app_and_faults() {
    let sim = start(SimConfig::default(), 3).await;
    let base = sim.base_url();
    let c = http();
    let metrics = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for name in [
        "http_requests_total",
        "region_requests_per_second",
        "region_error_ratio",
        "replication_lag_seconds",
        "replication_queue_depth",
        "replication_conflicts_total",
        "routing_control_state",
        "traffic_dial_percent",
        "requests_served_outside_home_total",
        "synthetic_probe_success",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{metrics}"
        );
    }
    assert!(metrics.contains("routing_control_state{region=\"eu-west-1\"} 1"));

    let truth: Value = c
        .get(format!("{base}/sim/truth"))
        .send()
        .await
        .expect("truth")
        .json()
        .await
        .expect("json");
    assert_eq!(truth["isolated_at"], Value::Null);
    assert_eq!(truth["seed"], json!(3));

    // A canary write lands, replicates inside the EU, never to the US.
    let put = c
        .put(format!("{base}/app/eu-west-1/records/canary-1"))
        .json(&json!({"value": {"n": 1}, "jurisdiction": "EU"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200);
    let ack: Value = put.json().await.expect("ack");
    assert_eq!(ack["region"], "eu-west-1");
    assert!(
        ack["region_clock"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    let read: Value = wait_for(
        "replication to eu-central-1",
        Duration::from_secs(10),
        || {
            let c = c.clone();
            let url = format!("{base}/app/eu-central-1/records/canary-1");
            async move {
                let r = c.get(url).send().await.ok()?;
                if r.status() == 200 {
                    r.json().await.ok()
                } else {
                    None
                }
            }
        },
    )
    .await;
    assert_eq!(read["value"], json!({"n": 1}));
    assert_eq!(read["version"], ack["version"]);
    let us = c
        .get(format!("{base}/app/us-east-1/records/canary-1"))
        .send()
        .await
        .expect("get");
    assert_eq!(us.status(), 404, "EU records are not replicated to the US");
    let refused = c
        .put(format!("{base}/app/us-east-1/records/canary-2"))
        .json(&json!({"value": 1, "jurisdiction": "EU"}))
        .send()
        .await
        .expect("put");
    assert_eq!(refused.status(), 451);

    // Faults at run time: residency bug shows in /sim/faults and the writes it lets through.
    let set = c
        .post(format!("{base}/sim/faults"))
        .json(&json!({"residency_bug": 0.5, "slow_reroute": "2s"}))
        .send()
        .await
        .expect("faults");
    assert_eq!(set.status(), 200);
    let view: Value = set.json().await.expect("json");
    assert_eq!(view["residency_bug"], json!(0.5));
    let let_through = c
        .put(format!("{base}/app/us-east-1/records/canary-2"))
        .json(&json!({"value": 1, "jurisdiction": "EU"}))
        .send()
        .await
        .expect("put");
    assert_eq!(let_through.status(), 200);
    let health = c
        .get(format!("{base}/app/eu-west-1/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    sim.shutdown().await;
}

/// (method, path, x-amz-target, content-type, body, status, text the body must contain)
type Case = (
    &'static str,
    String,
    Option<String>,
    &'static str,
    String,
    u16,
    &'static str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_malformed_requests_get_4xx_with_a_reason() {
    let sim = start(SimConfig::default(), 4).await;
    let base = sim.base_url();
    let c = http();
    let ga = "GlobalAccelerator_V20180706";
    let arc = "ToggleCustomerAPI";
    let big = "x".repeat(70 * 1024);
    // (method, path, x-amz-target, content-type, body, status, text the body must contain)
    let cases: Vec<Case> = vec![
        ("GET", "/api/v1/query".into(), None, "", String::new(), 400, "bad_data"),
        ("GET", "/api/v1/query?query=sum(".into(), None, "", String::new(), 400, "parse error"),
        ("GET", "/api/v1/query?query=up&time=tomorrow".into(), None, "", String::new(), 400, "invalid parameter \\\"time\\\""),
        ("GET", "/api/v1/query?query=%ZZ".into(), None, "", String::new(), 400, "bad_data"),
        ("POST", "/api/v1/query".into(), None, "application/json", "{\"query\":\"up\"}".into(), 400, "form-urlencoded"),
        ("GET", "/api/v1/query_range?query=up&start=10&end=5&step=1".into(), None, "", String::new(), 400, "end timestamp"),
        ("GET", "/api/v1/query_range?query=up&start=1&end=5".into(), None, "", String::new(), 400, "step"),
        ("GET", "/api/v1/query_range?query=up&start=1&end=5&step=0".into(), None, "", String::new(), 400, "step"),
        ("GET", "/api/v1/query_range?query=up&start=0&end=100000&step=1".into(), None, "", String::new(), 400, "11,000 points"),
        ("GET", "/api/v1/query_range?query=up[5m]&start=1&end=5&step=1".into(), None, "", String::new(), 400, "range vector"),
        ("GET", "/api/v1/rules?type=bogus".into(), None, "", String::new(), 400, "bad_data"),
        ("POST", "/".into(), None, "application/x-amz-json-1.1", "{}".into(), 400, "UnknownOperationException"),
        ("POST", "/".into(), Some(format!("{ga}.Explode")), "application/x-amz-json-1.1", "{}".into(), 400, "UnknownOperationException"),
        ("POST", "/".into(), Some(format!("{ga}.DescribeEndpointGroup")), "application/x-amz-json-1.1", "{".into(), 400, "SerializationException"),
        ("POST", "/".into(), Some(format!("{ga}.DescribeEndpointGroup")), "application/x-amz-json-1.1", "[]".into(), 400, "SerializationException"),
        ("POST", "/".into(), Some(format!("{ga}.DescribeEndpointGroup")), "application/x-amz-json-1.1", "{}".into(), 400, "ValidationException"),
        ("POST", "/".into(), Some(format!("{ga}.DescribeEndpointGroup")), "application/x-amz-json-1.1", "{\"EndpointGroupArn\":\"arn:nope\"}".into(), 400, "EndpointGroupNotFoundException"),
        ("POST", "/".into(), Some(format!("{ga}.UpdateEndpointGroup")), "application/x-amz-json-1.1", format!("{{\"EndpointGroupArn\":\"{}\",\"TrafficDialPercentage\":150}}", aws::endpoint_group_arn("eu-west-1")), 400, "ValidationException"),
        ("POST", "/".into(), Some(format!("{ga}.UpdateEndpointGroup")), "application/x-amz-json-1.1", format!("{{\"EndpointGroupArn\":\"{}\",\"EndpointConfigurations\":[{{\"Weight\":3}}]}}", aws::endpoint_group_arn("eu-west-1")), 400, "ValidationException"),
        ("POST", "/".into(), Some(format!("{arc}.UpdateRoutingControlState")), "application/x-amz-json-1.0", format!("{{\"RoutingControlArn\":\"{}\",\"RoutingControlState\":\"Maybe\"}}", aws::routing_control_arn("eu-west-1")), 400, "ValidationException"),
        ("POST", "/".into(), Some(format!("{arc}.GetRoutingControlState")), "application/x-amz-json-1.0", "{\"RoutingControlArn\":\"arn:aws:route53-recovery-control::000000000000:controlpanel/sim/routingcontrol/mars-1\"}".into(), 404, "ResourceNotFoundException"),
        ("POST", "/".into(), Some(format!("{arc}.UpdateRoutingControlStates")), "application/x-amz-json-1.0", "{\"UpdateRoutingControlStateEntries\":{}}".into(), 400, "SerializationException"),
        ("POST", "/".into(), Some(format!("{arc}.ListRoutingControls")), "application/x-amz-json-1.0", "{\"MaxResults\":0}".into(), 400, "ValidationException"),
        ("PUT", "/app/eu-west-1/records/k".into(), None, "application/json", "not json".into(), 400, "invalid body"),
        ("PUT", "/app/eu-west-1/records/k".into(), None, "application/json", "{}".into(), 400, "missing field `value`"),
        ("PUT", "/app/eu-west-1/records/k".into(), None, "application/json", "{\"value\":1,\"jurisdiction\":\"MARS\"}".into(), 400, "invalid body"),
        ("PUT", "/app/eu-west-1/records/k".into(), None, "application/json", format!("{{\"value\":\"{}\"}}", "y".repeat(2000)), 400, "at most 1024"),
        ("PUT", "/app/eu-west-1/records/a%20b".into(), None, "application/json", "{\"value\":1}".into(), 400, "keys are"),
        ("PUT", "/app/mars-1/records/k".into(), None, "application/json", "{\"value\":1}".into(), 404, "unknown region"),
        ("PUT", "/app/eu-west-1/records/k".into(), None, "application/json", format!("{{\"value\":\"{big}\"}}"), 413, ""),
        ("GET", "/app/eu-west-1/records/never-written".into(), None, "", String::new(), 404, "not found"),
        ("GET", "/app/mars-1/health".into(), None, "", String::new(), 404, "unknown region"),
        ("POST", "/sim/faults".into(), None, "application/json", "{\"bogus\":1}".into(), 400, "unknown field"),
        ("POST", "/sim/faults".into(), None, "application/json", "{\"residency_bug\":7}".into(), 400, "between 0 and 1"),
        ("POST", "/sim/faults".into(), None, "application/json", "{\"replication_stall\":[\"mars-1\"]}".into(), 400, "unknown region"),
        ("POST", "/sim/faults".into(), None, "application/json", "{\"clock_skew\":{\"eu-west-1\":\"later\"}}".into(), 400, "invalid clock_skew"),
        ("POST", "/sim/faults".into(), None, "application/json", "{\"alert_never_fires\":[\"Nope\"]}".into(), 400, "unknown alert"),
        ("GET", "/nowhere".into(), None, "", String::new(), 404, "no such endpoint"),
        ("DELETE", "/metrics".into(), None, "", String::new(), 405, "not allowed"),
    ];
    for (method, path, target, ct, body, status, needle) in cases {
        let mut req = c.request(method.parse().expect("method"), format!("{base}{path}"));
        if let Some(t) = &target {
            req = req.header("x-amz-target", t);
        }
        if !ct.is_empty() {
            req = req.header("content-type", ct);
        }
        let r = req.body(body).send().await.expect("request");
        let got = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(got, status, "{method} {path} {target:?}: {text}");
        assert!(!text.is_empty(), "{method} {path}: a reason is given");
        assert!(
            text.contains(needle),
            "{method} {path} {target:?}: `{needle}` not in {text}"
        );
        if path.starts_with("/api/v1/") {
            let v: Value = serde_json::from_str(&text).expect("Prometheus error JSON");
            assert_eq!(v["status"], "error");
            assert!(v["error"].as_str().is_some());
        }
    }
    let ready = c
        .get(format!("{base}/-/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200, "still serving");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_keeps_serving_200_concurrent_clients() {
    let sim = start(SimConfig::default(), 5).await;
    let base = sim.base_url();
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            // One client each: 200 separate connections.
            let c = http();
            let region = ["us-east-1", "eu-west-1", "eu-central-1"][i % 3];
            let mut statuses = Vec::new();
            for round in 0..3 {
                let r = match (i + round) % 5 {
                    0 => c.get(format!("{base}/metrics")).send().await,
                    1 => {
                        c.get(format!("{base}/api/v1/query"))
                            .query(&[("query", "max(region_error_ratio)")])
                            .send()
                            .await
                    }
                    2 => {
                        c.put(format!("{base}/app/{region}/records/load-{i}"))
                            .json(&json!({"value": i}))
                            .send()
                            .await
                    }
                    3 => c.get(format!("{base}/sim/truth")).send().await,
                    _ => c.get(format!("{base}/app/{region}/health")).send().await,
                };
                statuses.push(r.map(|r| r.status().as_u16()).unwrap_or(0));
            }
            statuses
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("bounded")
                .expect("task"),
        );
    }
    assert_eq!(all.len(), 600);
    assert!(
        all.iter().all(|s| *s == 200),
        "non-200 answers: {:?}",
        all.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    sim.shutdown().await;
}

// ----- the real AWS SDK ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_aws_sdk_drives_global_accelerator_and_arc() {
    use aws_credential_types::Credentials;
    use aws_sdk_globalaccelerator::config::{BehaviorVersion, Region};

    let sim = start(SimConfig::default(), 6).await;
    let base = sim.base_url();
    let creds = Credentials::new("AKIDSIMTEST", "sim-secret", None, None, "static");
    let ga = aws_sdk_globalaccelerator::Client::from_conf(
        aws_sdk_globalaccelerator::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .credentials_provider(creds.clone())
            .endpoint_url(&base)
            // The SDK crates are built without their default client: gameday
            // gives them its own (rustls with ring), and so does this test.
            .http_client(gameday::tls::aws_http_client())
            .build(),
    );
    let arc = aws_sdk_route53recoverycluster::Client::from_conf(
        aws_sdk_route53recoverycluster::Config::builder()
            .behavior_version(aws_sdk_route53recoverycluster::config::BehaviorVersion::latest())
            .region(aws_sdk_route53recoverycluster::config::Region::new(
                "us-west-2",
            ))
            .credentials_provider(creds)
            .endpoint_url(&base)
            .http_client(gameday::tls::aws_http_client())
            .build(),
    );

    // Global Accelerator: describe, dial down to 0 (isolation), weights, errors.
    let eu_central = aws::endpoint_group_arn("eu-central-1");
    let g = ga
        .describe_endpoint_group()
        .endpoint_group_arn(&eu_central)
        .send()
        .await
        .expect("describe");
    let group = g.endpoint_group().expect("group");
    assert_eq!(group.traffic_dial_percentage(), Some(100.0));
    assert_eq!(group.endpoint_group_region(), Some("eu-central-1"));
    let updated = ga
        .update_endpoint_group()
        .endpoint_group_arn(&eu_central)
        .traffic_dial_percentage(0.0)
        .send()
        .await
        .expect("update dial");
    assert_eq!(
        updated
            .endpoint_group()
            .and_then(|g| g.traffic_dial_percentage()),
        Some(0.0)
    );
    let truth: Value = http()
        .get(format!("{base}/sim/truth"))
        .send()
        .await
        .expect("truth")
        .json()
        .await
        .expect("json");
    assert_eq!(truth["region"], "eu-central-1");
    assert!(truth["isolated_at"].is_string());
    let weighted = ga
        .update_endpoint_group()
        .endpoint_group_arn(&eu_central)
        .traffic_dial_percentage(100.0)
        .endpoint_configurations(
            aws_sdk_globalaccelerator::types::EndpointConfiguration::builder()
                .endpoint_id("arn:aws:elasticloadbalancing:eu-central-1:000000000000:loadbalancer/app/blue/1")
                .weight(200)
                .build(),
        )
        .send()
        .await
        .expect("update weights");
    let d = weighted
        .endpoint_group()
        .expect("group")
        .endpoint_descriptions();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].weight(), Some(200));
    let missing = ga
        .describe_endpoint_group()
        .endpoint_group_arn("arn:aws:globalaccelerator::000000000000:accelerator/sim/listener/sim/endpoint-group/mars-1")
        .send()
        .await
        .expect_err("unknown group");
    assert!(
        missing
            .into_service_error()
            .is_endpoint_group_not_found_exception()
    );

    // Route 53 ARC: list, get, update one, update several, errors.
    let list = arc.list_routing_controls().send().await.expect("list");
    let arns: Vec<&str> = list
        .routing_controls()
        .iter()
        .map(|c| c.routing_control_arn().unwrap_or(""))
        .collect();
    assert_eq!(arns.len(), 3);
    assert!(arns.contains(&aws::routing_control_arn("eu-west-1").as_str()));
    let eu_west = aws::routing_control_arn("eu-west-1");
    use aws_sdk_route53recoverycluster::types::{
        RoutingControlState, UpdateRoutingControlStateEntry,
    };
    let got = arc
        .get_routing_control_state()
        .routing_control_arn(&eu_west)
        .send()
        .await
        .expect("get");
    assert_eq!(got.routing_control_state(), &RoutingControlState::On);
    arc.update_routing_control_state()
        .routing_control_arn(&eu_west)
        .routing_control_state(RoutingControlState::Off)
        .send()
        .await
        .expect("turn off");
    let got = arc
        .get_routing_control_state()
        .routing_control_arn(&eu_west)
        .send()
        .await
        .expect("get");
    assert_eq!(got.routing_control_state(), &RoutingControlState::Off);
    let truth: Value = http()
        .get(format!("{base}/sim/truth"))
        .send()
        .await
        .expect("truth")
        .json()
        .await
        .expect("json");
    assert_eq!(truth["region"], "eu-west-1", "the latest isolation");
    let metrics = http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("routing_control_state{region=\"eu-west-1\"} 0"),
        "{metrics}"
    );
    let entry = |arn: &str| {
        UpdateRoutingControlStateEntry::builder()
            .routing_control_arn(arn)
            .routing_control_state(RoutingControlState::On)
            .build()
            .expect("entry")
    };
    arc.update_routing_control_states()
        .update_routing_control_state_entries(entry(&eu_west))
        .update_routing_control_state_entries(entry(&aws::routing_control_arn("us-east-1")))
        .send()
        .await
        .expect("update several");
    let truth: Value = http()
        .get(format!("{base}/sim/truth"))
        .send()
        .await
        .expect("truth")
        .json()
        .await
        .expect("json");
    assert!(truth["restored_at"].is_string(), "{truth}");
    let err = arc
        .get_routing_control_state()
        .routing_control_arn(format!("{}/routingcontrol/mars-1", aws::CONTROL_PANEL_ARN))
        .send()
        .await
        .expect_err("unknown control");
    assert!(err.into_service_error().is_resource_not_found_exception());
    sim.shutdown().await;
}

// ----- side by side with a real Prometheus -----------------------------------

fn vector(v: &Value) -> BTreeMap<String, f64> {
    v["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| {
                    let mut m = s["metric"].clone();
                    if let Some(o) = m.as_object_mut() {
                        o.remove("instance");
                        o.remove("job");
                    }
                    let value = s["value"][1]
                        .as_str()
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(f64::NAN);
                    (m.to_string(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn firing(base: &str) -> BTreeMap<String, i64> {
    let Ok(r) = http().get(format!("{base}/api/v1/alerts")).send().await else {
        return BTreeMap::new();
    };
    let v: Value = r.json().await.unwrap_or(Value::Null);
    v["data"]["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["state"] == "firing")
                .map(|x| {
                    let mut l = x["labels"].clone();
                    if let Some(o) = l.as_object_mut() {
                        o.remove("instance");
                        o.remove("job");
                    }
                    let at = x["activeAt"]
                        .as_str()
                        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                        .map(|d| d.timestamp_millis())
                        .unwrap_or(0);
                    (l.to_string(), at)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_embedded_prometheus_api_matches_real_prometheus() {
    let sim = start(SimConfig::default(), 7).await;
    let base = sim.base_url();
    let am = Alertmanager::start().await;
    let prom = Prometheus::start(
        sim.addr(),
        Some(&repo().join("drills/sim/rules.yml")),
        Some(am.proc.addr()),
    )
    .await;
    let c = http();

    // Stall replication of eu-central-1 and isolate eu-west-1.
    let r = c
        .post(format!("{base}/sim/faults"))
        .json(&json!({"replication_stall": ["eu-central-1"]}))
        .send()
        .await
        .expect("faults");
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/"))
        .header("x-amz-target", "ToggleCustomerAPI.UpdateRoutingControlState")
        .header("content-type", "application/x-amz-json-1.0")
        .body(json!({"RoutingControlArn": aws::routing_control_arn("eu-west-1"), "RoutingControlState": "Off"}).to_string())
        .send()
        .await
        .expect("isolate");
    assert_eq!(r.status(), 200);

    // Both fire the same alerts, with activeAt within sampling of each other.
    let (ours, theirs) = wait_for(
        "the same firing alerts in both",
        Duration::from_secs(60),
        || async {
            let ours = firing(&base).await;
            let theirs = firing(&prom.base_url()).await;
            let names = |m: &BTreeMap<String, i64>| {
                m.keys()
                    .filter(|k| k.contains("ReplicationLagHigh"))
                    .count()
            };
            (names(&ours) >= 4
                && ours.keys().any(|k| k.contains("RegionProbeFailing"))
                && ours.keys().eq(theirs.keys()))
            .then_some((ours, theirs))
        },
    )
    .await;
    for (k, at) in &ours {
        let d = (at - theirs[k]).abs();
        assert!(d <= 2_500, "{k}: activeAt differs by {d} ms");
    }
    wait_for(
        "Alertmanager to receive ReplicationLagHigh",
        Duration::from_secs(20),
        || async {
            am.alert_names()
                .await
                .iter()
                .any(|n| n == "ReplicationLagHigh")
                .then_some(())
        },
    )
    .await;

    // Representative queries at one instant both have samples for (Prometheus
    // started scraping after the simulator: windows stay within its data).
    let t = chrono::Utc::now().timestamp_millis() as f64 / 1000.0 - 2.0;
    let exact = [
        "routing_control_state",
        "traffic_dial_percent",
        "synthetic_probe_success",
    ];
    for q in exact {
        let a = vector(&query_at(&base, q, Some(t)).await.expect("ours"));
        let b = vector(&prom.query(q, Some(t)).await.expect("theirs"));
        assert_eq!(a, b, "{q}");
    }
    // (query, absolute tolerance, relative tolerance)
    let approx: [(&str, f64, f64); 6] = [
        ("max(region_error_ratio)", 0.05, 0.0),
        ("replication_lag_seconds{source=\"eu-central-1\"}", 1.5, 0.0),
        ("sum by (region) (region_requests_per_second)", 10.0, 0.3),
        (
            "sum by (region) (increase(http_requests_total{code=\"200\"}[10s]))",
            40.0,
            0.25,
        ),
        ("sum(increase(replication_conflicts_total[1m]))", 3.0, 0.0),
        ("max by (source) (replication_queue_depth)", 15.0, 0.1),
    ];
    for (q, abs, rel) in approx {
        let a = vector(&query_at(&base, q, Some(t)).await.expect("ours"));
        let b = vector(&prom.query(q, Some(t)).await.expect("theirs"));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{q}: same series"
        );
        for (k, x) in &a {
            let y = b[k];
            assert!(
                (x - y).abs() <= abs + rel * y.abs(),
                "{q} {k}: ours {x}, Prometheus {y}"
            );
        }
    }
    drop(prom);
    drop(am);
    sim.shutdown().await;
}
