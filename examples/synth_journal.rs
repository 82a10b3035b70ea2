//! Writes synthetic run directories (journal.jsonl + series/*.json) for the
//! report tests and the report benchmark. The output is deterministic: a
//! fixed clock, no randomness, so committed fixtures can be regenerated and
//! compared.
//!
//! ```text
//! cargo run --example synth_journal -- fixtures tests/fixtures/journals
//! cargo run --example synth_journal -- big DIR [EVENTS]   # 24 h, 100,000 events by default
//! ```

use chrono::{DateTime, Duration, TimeZone, Utc};
use gameday::journal::event::{CancelReason, Outcome, Status};
use gameday::journal::{Event, EventKind};
use serde_json::{Value, json};
use std::path::Path;

struct Run {
    base: DateTime<Utc>,
    now: DateTime<Utc>,
    events: Vec<Event>,
}

impl Run {
    fn new(base: DateTime<Utc>) -> Run {
        Run {
            base,
            now: base,
            events: vec![],
        }
    }
    fn at(&mut self, secs: f64) -> &mut Self {
        self.now = self.base + Duration::milliseconds((secs * 1000.0) as i64);
        self
    }
    fn t(&self, secs: f64) -> DateTime<Utc> {
        self.base + Duration::milliseconds((secs * 1000.0) as i64)
    }
    fn emit(&mut self, kind: EventKind) -> &mut Self {
        let elapsed = (self.now - self.base).num_milliseconds() as f64 / 1000.0;
        self.events.push(Event {
            ts: self.now,
            elapsed,
            prev: None,
            kind,
        });
        self.now += Duration::milliseconds(3);
        self
    }
    fn phase(&mut self, name: &str) -> &mut Self {
        self.emit(EventKind::PhaseStarted {
            phase: name.into(),
            kind: name.into(),
            budget_seconds: None,
        })
    }
    fn phase_end(&mut self, name: &str, status: Status, detail: Option<&str>) -> &mut Self {
        self.emit(EventKind::PhaseFinished {
            phase: name.into(),
            kind: name.into(),
            status,
            detail: detail.map(str::to_string),
        })
    }
    fn start(&mut self, phase: &str, step: &str, kind: &str, call: &str, watch: bool) -> &mut Self {
        self.emit(EventKind::StepStarted {
            phase: phase.into(),
            step: step.into(),
            kind: kind.into(),
            description: call.into(),
            watch,
        })
    }
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        phase: &str,
        step: &str,
        kind: &str,
        status: Status,
        summary: &str,
        value: Option<f64>,
        evidence: Value,
        attempts: u32,
        secs: f64,
    ) -> &mut Self {
        self.emit(EventKind::StepFinished {
            phase: phase.into(),
            step: step.into(),
            kind: kind.into(),
            status,
            summary: summary.into(),
            value,
            evidence,
            attempts,
            duration_seconds: secs,
            error: None,
        })
    }
    fn marker(
        &mut self,
        name: &str,
        at: f64,
        res: Option<f64>,
        source: &str,
        step: &str,
    ) -> &mut Self {
        let at = self.t(at);
        let observed_at = self.now;
        self.emit(EventKind::Marker {
            name: name.into(),
            at,
            observed_at,
            resolution_seconds: res,
            source: source.into(),
            step: step.into(),
        })
    }
    fn record(&mut self, name: &str, value: f64, step: &str) -> &mut Self {
        self.emit(EventKind::Recorded {
            name: name.into(),
            value,
            unit: None,
            step: step.into(),
        })
    }
    fn metric(
        &mut self,
        name: &str,
        value: Option<f64>,
        unit: &str,
        target: &str,
        res: Option<f64>,
        detail: &str,
    ) -> &mut Self {
        let met = Some(value.is_some_and(|v| {
            gameday::playbook::expect::Comparison::parse(target)
                .map(|c| c.holds(v))
                .unwrap_or(false)
        }));
        self.emit(EventKind::Metric {
            name: name.into(),
            value,
            unit: unit.into(),
            target: Some(target.into()),
            met,
            resolution_seconds: res,
            detail: detail.into(),
        })
    }
    fn write(&self, dir: &Path, torn_tail: Option<&str>) {
        std::fs::create_dir_all(dir).expect("create the run directory");
        let mut text = String::new();
        // Chained like a real journal (see gameday::journal::chain).
        let mut prev = gameday::journal::chain::GENESIS.to_string();
        for e in &self.events {
            let mut e = e.clone();
            e.prev = Some(prev);
            let line = serde_json::to_string(&e).expect("events serialize");
            prev = gameday::journal::chain::line_hash(line.as_bytes());
            text.push_str(&line);
            text.push('\n');
        }
        if let Some(t) = torn_tail {
            text.push_str(t);
        }
        std::fs::write(dir.join("journal.jsonl"), text).expect("write the journal");
    }
}

fn step_def(name: &str, spec: Value, wait: Option<(&str, &str)>) -> Value {
    json!({
        "name": name, "spec": spec,
        "wait": wait.map(|(e, t)| json!({"every": e, "timeout": t})),
        "timeout": "30s", "retries": 0, "backoff": "1s",
        "mark": null, "record": null, "irreversible": null, "pos": {"line": 1, "col": 1}
    })
}

fn playbook() -> Value {
    let prom = |q: &str, e: &str| json!({"kind": "prometheus", "query": q, "expect": e});
    json!({
        "name": "eu-west-1-failover",
        "description": "Isolate eu-west-1 by turning its routing control off; watch detection, rerouting and data safety; put it back.",
        "owner": "sre-team",
        "phases": [
            {"name": "precheck", "kind": "precheck", "steps": [
                step_def("replication lag under 5s", prom("max(pg_replication_lag_seconds)", "< 5"), None),
                step_def("on-call staged", json!({"kind": "manual", "prompt": "Is the on-call engineer on the bridge?"}), None)
            ], "watches": []},
            {"name": "isolate", "kind": "isolate", "steps": [
                step_def("disable eu-west-1 routing", json!({"kind": "arc_routing_control", "control": "eu-west-1", "state": "Off"}), None)
            ], "watches": []},
            {"name": "observe", "kind": "observe", "steps": [
                step_def("canary writes", json!({"kind": "canary", "every": "1s", "regions": ["eu-central-1", "us-east-1"]}), None),
                step_def("observation window", json!({"kind": "wait", "duration": "5m"}), None)
            ], "watches": [
                step_def("alert fired", json!({"kind": "alert", "alertname": "RegionDown", "expect_state": "firing"}), Some(("10s", "10m"))),
                step_def("traffic rerouted", prom("sum(rate(http_requests_total{region=\"eu-west-1\"}[1m])) / sum(rate(http_requests_total[1m]))", "< 1%"), Some(("15s", "10m")))
            ]},
            {"name": "validate", "kind": "validate", "steps": [
                step_def("smoke test surviving regions", json!({"kind": "http", "url": "https://eu-central-1.shop.example/health", "expect_status": 200}), None),
                step_def("canary writes all readable", json!({"kind": "canary_verify"}), None),
                step_def("residency: EU users served in EU", json!({"kind": "residency", "users": "eu", "allowed_regions": ["eu-central-1", "eu-west-1"]}), None),
                step_def("conflicts during failover", prom("sum(increase(replication_conflicts_total[30m]))", "<= 5"), None)
            ], "watches": []},
            {"name": "restore", "kind": "restore", "steps": [
                step_def("re-enable eu-west-1 routing", json!({"kind": "undo", "of": "disable eu-west-1 routing"}), None),
                step_def("replication caught up", prom("max(pg_replication_lag_seconds)", "< 5"), Some(("15s", "15m")))
            ], "watches": []}
        ],
        "guardrails": [
            {"step": step_def("error ratio below 5%", prom("sum(rate(http_requests_total{code=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))", "< 5%"), None), "for_": "30s", "every": "10s"}
        ],
        "metrics": [
            {"name": "ttd", "source": {"between": {"from": "isolated", "to": "detected"}}, "target": "<= 2m", "description": "time to detect: from isolation until the RegionDown alert fired"},
            {"name": "ttr", "source": {"between": {"from": "isolated", "to": "rerouted"}}, "target": "<= 60s", "description": "time to route: from isolation until eu-west-1 served under 1% of requests"},
            {"name": "catch_up", "source": {"between": {"from": "restored", "to": "caught_up"}}, "target": "<= 5m", "description": "replication catch-up: from restoration until lag was under 5 s again"},
            {"name": "conflicts", "source": {"value": {"record": "conflicts", "unit": "count"}}, "target": "<= 5", "description": "replication conflicts during the drill"},
            {"name": "lost_writes", "source": {"value": {"record": "lost_writes", "unit": "count"}}, "target": "== 0", "description": "acknowledged canary writes not found afterwards"},
            {"name": "residency_violations", "source": {"value": {"record": "residency_violations", "unit": "count"}}, "target": "== 0", "description": "EU requests served outside the EU"}
        ]
    })
}

fn run_started(r: &mut Run, run_id: &str, env: &str, operator: &str, unattended: bool) {
    r.emit(EventKind::RunStarted {
        run_id: run_id.into(),
        drill: "eu-west-1-failover".into(),
        description: Some("Isolate eu-west-1 by turning its routing control off; watch detection, rerouting and data safety; put it back.".into()),
        owner: Some("sre-team".into()),
        playbook_path: "drills/eu-west-1-failover.yaml".into(),
        playbook_hash: "3f1c9a7e5b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e".into(),
        playbook: playbook(),
        environment: env.into(),
        vars: json!({"region": "eu-west-1"}),
        tool_version: "0.1.0".into(),
        operator: operator.into(),
        unattended,
        pid: 4242,
    });
    r.emit(EventKind::LockAcquired {
        path: format!("/tmp/gameday-locks/{env}.lock"),
        stale_previous: None,
    });
    r.emit(EventKind::ClockOffset {
        source: "prometheus http://prometheus.staging:9090".into(),
        offset_seconds: 0.042,
        round_trip_seconds: 0.003,
    });
}

const LAG_Q: &str = "max(pg_replication_lag_seconds)";

/// Precheck and isolation; t=0 is the start, isolation at 60 s.
fn precheck_and_isolate(r: &mut Run) {
    r.at(1.0).phase("precheck");
    r.start(
        "precheck",
        "replication lag under 5s",
        "prometheus",
        &format!("query {LAG_Q}"),
        false,
    );
    r.finish(
        "precheck",
        "replication lag under 5s",
        "prometheus",
        Status::Passed,
        "max(pg_replication_lag_seconds) = 0.8 (expected < 5)",
        Some(0.8),
        json!({"query": LAG_Q, "value": 0.8, "at": "sample time"}),
        1,
        0.02,
    );
    r.start(
        "precheck",
        "on-call staged",
        "manual",
        "ask: Is the on-call engineer on the bridge?",
        false,
    );
    r.emit(EventKind::ManualPrompt {
        step: "on-call staged".into(),
        prompt: "Is the on-call engineer on the bridge?".into(),
    });
    r.at(41.0).emit(EventKind::ManualConfirmed {
        step: "on-call staged".into(),
        by: "alice".into(),
        answer: Some("yes, Bob is on the bridge".into()),
        automatic: false,
    });
    r.finish(
        "precheck",
        "on-call staged",
        "manual",
        Status::Passed,
        "confirmed by alice",
        None,
        Value::Null,
        1,
        40.0,
    );
    r.phase_end("precheck", Status::Passed, None);
    r.at(59.0).phase("isolate");
    r.start(
        "isolate",
        "disable eu-west-1 routing",
        "arc_routing_control",
        "set routing control eu-west-1 to Off",
        false,
    );
    r.emit(EventKind::Intent {
        id: "001-disable-eu-west-1-routing".into(),
        phase: "isolate".into(),
        step: "disable eu-west-1 routing".into(),
        description: "set routing control eu-west-1 to Off".into(),
        pre_state: json!({"routing_control": "eu-west-1", "state": "On"}),
        undo: Some(json!({"description": "set routing control eu-west-1 to On", "action": {"kind": "arc_routing_control", "control": "eu-west-1", "state": "On"}})),
    });
    r.at(60.0).emit(EventKind::Applied {
        id: "001-disable-eu-west-1-routing".into(),
        certain: true,
    });
    r.emit(EventKind::GuardrailArmed {
        names: vec!["error ratio below 5%".into()],
    });
    r.marker(
        "isolated",
        60.0,
        None,
        "step completed",
        "disable eu-west-1 routing",
    );
    r.finish(
        "isolate",
        "disable eu-west-1 routing",
        "arc_routing_control",
        Status::Passed,
        "routing control eu-west-1 is Off",
        None,
        json!({"control": "eu-west-1", "before": "On", "after": "Off"}),
        1,
        0.4,
    );
    r.phase_end("isolate", Status::Passed, None);
    r.emit(EventKind::GuardrailState {
        name: "error ratio below 5%".into(),
        ok: true,
        summary: "error ratio 0.4% (expected < 5%)".into(),
    });
}

const TRAFFIC_Q: &str =
    "sum(rate(http_requests_total{region=\"eu-west-1\"}[1m])) / sum(rate(http_requests_total[1m]))";

fn canary(r: &mut Run, from: f64, n: u64) {
    for i in 0..n {
        let region = if i % 3 == 2 {
            "us-east-1"
        } else {
            "eu-central-1"
        };
        let acked = r.t(from + i as f64 * 20.0);
        r.emit(EventKind::CanaryWrite {
            step: "canary writes".into(),
            seq: i + 1,
            key: format!("canary/{:04}", i + 1),
            region: region.into(),
            version: Some(format!("v{}", i + 1)),
            acked_at: acked,
        });
    }
}

/// How the observation went.
struct Observed {
    detected: Option<f64>,
    rerouted: Option<f64>,
}

fn observe(r: &mut Run, o: &Observed, end: f64) {
    r.at(61.0).phase("observe");
    r.start(
        "observe",
        "alert fired",
        "alert",
        "wait for alert RegionDown to be firing",
        true,
    );
    r.start(
        "observe",
        "traffic rerouted",
        "prometheus",
        &format!("query {TRAFFIC_Q}"),
        true,
    );
    r.start(
        "observe",
        "canary writes",
        "canary",
        "write canary/NNNN every 1s through the app API",
        false,
    );
    canary(r, 62.0, 12);
    r.start("observe", "observation window", "wait", "", false);
    match o.detected {
        Some(d) => {
            r.at(d + 12.0).marker(
                "detected",
                d,
                Some(30.0),
                "alert RegionDown activeAt + for (rules evaluated every 15s, scraped every 15s)",
                "alert fired",
            );
            r.finish("observe", "alert fired", "alert", Status::Passed, "RegionDown is firing (active since T+00:00:15)", Some(1.0),
                json!({"alertname": "RegionDown", "state": "firing", "labels": {"region": "eu-west-1", "severity": "page"}, "activeAt": "isolation + 15 s", "for": "30s"}),
                ((d - 61.0) / 10.0).ceil() as u32 + 1, d + 12.0 - 61.0);
        }
        None => {
            r.at(200.0).emit(EventKind::StepAttempt {
                phase: "observe".into(),
                step: "alert fired".into(),
                attempt: 14,
                ok: false,
                summary: "poll failed; still waiting".into(),
                error: Some(
                    "alertmanager http://alertmanager.staging:9093: connection refused".into(),
                ),
            });
            r.at(215.0).emit(EventKind::StepAttempt {
                phase: "observe".into(),
                step: "alert fired".into(),
                attempt: 16,
                ok: true,
                summary: "reachable again: RegionDown is not firing".into(),
                error: None,
            });
            r.at(661.0).finish(
                "observe",
                "alert fired",
                "alert",
                Status::Failed,
                "condition not met within 10m: RegionDown is not firing (no alert with that name)",
                None,
                json!({"alertname": "RegionDown", "state": null, "alerts_seen": ["Watchdog"]}),
                61,
                600.0,
            );
        }
    }
    if let Some(t) = o.rerouted {
        {
            r.at(t + 4.0).marker(
                "rerouted",
                t,
                Some(15.0),
                "range query look-back: first sample under 1% (step 15s)",
                "traffic rerouted",
            );
            r.finish(
                "observe",
                "traffic rerouted",
                "prometheus",
                Status::Passed,
                &format!("{TRAFFIC_Q} = 0.004 (expected < 1%)"),
                Some(0.004),
                json!({"query": TRAFFIC_Q, "value": 0.004, "expect": "< 1%"}),
                ((t - 61.0) / 15.0).ceil() as u32 + 1,
                t + 4.0 - 61.0,
            );
        }
    }
    r.at(end).finish(
        "observe",
        "canary writes",
        "canary",
        Status::Passed,
        "12 canary writes acknowledged (8 eu-central-1, 4 us-east-1)",
        Some(12.0),
        json!({"acked": 12, "errors": 0}),
        1,
        end - 61.0,
    );
    r.finish(
        "observe",
        "observation window",
        "wait",
        Status::Passed,
        "waited 5m",
        None,
        Value::Null,
        1,
        300.0,
    );
}

fn restore(r: &mut Run, from: f64, reason: &str, catch_up: Option<f64>) -> f64 {
    r.at(from).phase("restore");
    r.start(
        "restore",
        "re-enable eu-west-1 routing",
        "undo",
        "restore: set routing control eu-west-1 to On (undo of `disable eu-west-1 routing`)",
        false,
    );
    r.emit(EventKind::UndoStarted {
        id: "001-disable-eu-west-1-routing".into(),
        reason: reason.into(),
    });
    r.at(from + 0.5).emit(EventKind::Undone {
        id: "001-disable-eu-west-1-routing".into(),
    });
    r.marker(
        "restored",
        from + 0.5,
        None,
        "step completed",
        "re-enable eu-west-1 routing",
    );
    r.finish(
        "restore",
        "re-enable eu-west-1 routing",
        "undo",
        Status::Passed,
        "undone: disable eu-west-1 routing: routing control eu-west-1 is On",
        None,
        Value::Null,
        1,
        0.5,
    );
    r.start(
        "restore",
        "replication caught up",
        "prometheus",
        &format!("query {LAG_Q}"),
        false,
    );
    let end = match catch_up {
        Some(c) => {
            r.at(from + c + 5.0).marker(
                "caught_up",
                from + c,
                Some(15.0),
                "range query look-back: first sample under 5 (step 15s)",
                "replication caught up",
            );
            r.finish(
                "restore",
                "replication caught up",
                "prometheus",
                Status::Passed,
                "max(pg_replication_lag_seconds) = 1.2 (expected < 5)",
                Some(1.2),
                json!({"query": LAG_Q, "value": 1.2}),
                (c / 15.0).ceil() as u32 + 1,
                c + 5.0,
            );
            from + c + 6.0
        }
        None => from + 1.0,
    };
    r.at(end).phase_end("restore", Status::Passed, None);
    end
}

fn series(
    dir: &Path,
    base: DateTime<Utc>,
    end: f64,
    isolated: f64,
    rerouted: f64,
    restored: f64,
    caught_up: f64,
) {
    let sdir = dir.join("series");
    std::fs::create_dir_all(&sdir).expect("create series dir");
    let t0 = base.timestamp() as f64;
    let steps: Vec<f64> = (0..=((end / 15.0) as i64))
        .map(|i| i as f64 * 15.0)
        .collect();
    let region = |name: &str, f: &dyn Fn(f64) -> f64| json!({"metric": {"region": name}, "values": steps.iter().map(|t| json!([t0 + t, format!("{:.3}", f(*t))])).collect::<Vec<_>>()});
    let isolated_now = |t: f64| t >= rerouted && t < restored;
    let wave = |t: f64| 1.0 + 0.03 * ((t / 90.0).sin());
    let traffic = json!({
        "title": "Requests per second by region", "unit": "req/s",
        "query": "sum by (region) (rate(http_requests_total[1m]))", "step": 15,
        "result": [
            region("eu-west-1", &|t| if isolated_now(t) { 0.0 } else if t >= isolated && t < rerouted { 400.0 * (1.0 - (t - isolated) / (rerouted - isolated)) } else { 400.0 * wave(t) }),
            region("eu-central-1", &|t| if isolated_now(t) { 700.0 * wave(t) } else { 420.0 * wave(t) }),
            region("us-east-1", &|t| if isolated_now(t) { 560.0 * wave(t) } else { 440.0 * wave(t) }),
        ]
    });
    let errors = json!({
        "title": "Error ratio (5xx / all requests)", "unit": "ratio",
        "query": "sum(rate(http_requests_total{code=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))", "step": 15,
        "result": [{"metric": {}, "values": steps.iter().map(|t| json!([t0 + t, format!("{:.4}", if *t >= isolated && *t < rerouted + 15.0 { 0.031 } else { 0.004 })])).collect::<Vec<_>>()}]
    });
    let lag = json!({
        "title": "Replication lag", "unit": "seconds",
        "query": "max by (region) (pg_replication_lag_seconds)", "step": 15,
        "result": [
            region("eu-west-1", &|t| if t >= isolated && t < restored { 0.8 + (t - isolated) * 0.6 } else if t >= restored && t < caught_up { (0.8 + (restored - isolated) * 0.6) * (1.0 - (t - restored) / (caught_up - restored)) + 1.0 } else { 0.8 }),
            region("us-east-1", &|_| 0.6),
        ]
    });
    let conflicts = json!({
        "title": "Replication conflicts (cumulative)", "unit": "count",
        "query": "sum(increase(replication_conflicts_total[30m]))", "step": 15,
        "result": [{"metric": {"conflict_type": "update_update"}, "values": steps.iter().map(|t| json!([t0 + t, if *t > restored { "2" } else { "0" }])).collect::<Vec<_>>()}]
    });
    for (name, v) in [
        ("traffic", traffic),
        ("error_ratio", errors),
        ("replication_lag", lag),
        ("conflicts", conflicts),
    ] {
        std::fs::write(
            sdir.join(format!("{name}.json")),
            serde_json::to_string_pretty(&v).expect("json"),
        )
        .expect("write series");
    }
}

fn artifacts(r: &mut Run) {
    for (name, d) in [
        ("traffic", "requests per second by region"),
        ("error_ratio", "share of requests answered 5xx"),
        ("replication_lag", "replication lag by region"),
        ("conflicts", "replication conflicts since the drill began"),
    ] {
        r.emit(EventKind::Artifact {
            name: name.into(),
            path: format!("series/{name}.json"),
            description: d.into(),
        });
    }
}

fn validate(r: &mut Run, at: f64, lost: f64, violations: f64, conflicts: f64) {
    r.at(at).phase("validate");
    r.start(
        "validate",
        "smoke test surviving regions",
        "http",
        "GET https://eu-central-1.shop.example/health",
        false,
    );
    r.finish(
        "validate",
        "smoke test surviving regions",
        "http",
        Status::Passed,
        "200 OK in 41 ms",
        Some(200.0),
        json!({"status": 200, "millis": 41}),
        1,
        0.05,
    );
    let lost_status = if lost == 0.0 {
        Status::Passed
    } else {
        Status::Failed
    };
    r.start(
        "validate",
        "canary writes all readable",
        "canary_verify",
        "read back 12 canary writes from every region",
        false,
    );
    r.record("lost_writes", lost, "canary writes all readable");
    r.finish("validate", "canary writes all readable", "canary_verify", lost_status,
        &if lost == 0.0 { "12 of 12 canary writes found in every region".to_string() } else { format!("{} of 12 canary writes missing: canary/0007, canary/0008, canary/0009", lost) },
        Some(lost), json!({"acked": 12, "found": 12.0 - lost, "missing": if lost == 0.0 { json!([]) } else { json!(["canary/0007", "canary/0008", "canary/0009"]) }}), 1, 1.2);
    let res_status = if violations == 0.0 {
        Status::Passed
    } else {
        Status::Failed
    };
    r.start(
        "validate",
        "residency: EU users served in EU",
        "residency",
        "check which region served each EU canary request",
        false,
    );
    r.record(
        "residency_violations",
        violations,
        "residency: EU users served in EU",
    );
    r.finish(
        "validate",
        "residency: EU users served in EU",
        "residency",
        res_status,
        &if violations == 0.0 {
            "all 8 EU requests were served in eu-central-1".to_string()
        } else {
            format!("{violations} of 8 EU requests were served in us-east-1")
        },
        Some(violations),
        json!({"eu_requests": 8, "outside_eu": violations}),
        1,
        0.3,
    );
    r.start(
        "validate",
        "conflicts during failover",
        "prometheus",
        "query sum(increase(replication_conflicts_total[30m]))",
        false,
    );
    r.record("conflicts", conflicts, "conflicts during failover");
    r.record("writes", 12000.0, "conflicts during failover");
    let c_status = if conflicts <= 5.0 {
        Status::Passed
    } else {
        Status::Failed
    };
    r.finish("validate", "conflicts during failover", "prometheus", c_status,
        &format!("sum(increase(replication_conflicts_total[30m])) = {conflicts} (expected <= 5)"), Some(conflicts),
        json!({"query": "sum(increase(replication_conflicts_total[30m]))", "value": conflicts, "writes": 12000}), 1, 0.02);
    let failed = lost > 0.0 || violations > 0.0 || conflicts > 5.0;
    r.phase_end(
        "validate",
        if failed {
            Status::Failed
        } else {
            Status::Passed
        },
        None,
    );
}

fn passed(dir: &Path) {
    let base = Utc
        .with_ymd_and_hms(2026, 8, 20, 10, 0, 0)
        .single()
        .expect("date");
    let mut r = Run::new(base);
    run_started(
        &mut r,
        "20260820T100000Z-eu-west-1-failover",
        "staging",
        "alice@bastion",
        false,
    );
    precheck_and_isolate(&mut r);
    observe(
        &mut r,
        &Observed {
            detected: Some(105.0),
            rerouted: Some(112.0),
        },
        366.0,
    );
    r.at(366.5).phase_end("observe", Status::Passed, None);
    validate(&mut r, 367.0, 0.0, 0.0, 2.0);
    let end = restore(
        &mut r,
        380.0,
        "restore step `re-enable eu-west-1 routing`",
        Some(45.0),
    );
    r.at(end + 1.0);
    artifacts(&mut r);
    r.metric(
        "ttd",
        Some(45.0),
        "seconds",
        "<= 2m",
        Some(30.0),
        "from `isolated` to `detected`",
    )
    .metric(
        "ttr",
        Some(52.0),
        "seconds",
        "<= 60s",
        Some(15.0),
        "from `isolated` to `rerouted`",
    )
    .metric(
        "catch_up",
        Some(45.0),
        "seconds",
        "<= 5m",
        Some(15.0),
        "from `restored` to `caught_up`",
    )
    .metric(
        "conflicts",
        Some(2.0),
        "count",
        "<= 5",
        None,
        "recorded as `conflicts`",
    )
    .metric(
        "lost_writes",
        Some(0.0),
        "count",
        "== 0",
        None,
        "recorded as `lost_writes`",
    )
    .metric(
        "residency_violations",
        Some(0.0),
        "count",
        "== 0",
        None,
        "recorded as `residency_violations`",
    );
    r.emit(EventKind::RunFinished {
        outcome: Outcome::Passed,
        exit_code: 0,
        still_applied: vec![],
    });
    r.write(dir, None);
    series(dir, base, end + 60.0, 60.0, 112.0, 380.5, 425.5);
}

fn failed(dir: &Path) {
    let base = Utc
        .with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
        .single()
        .expect("date");
    let mut r = Run::new(base);
    run_started(
        &mut r,
        "20261120T100000Z-eu-west-1-failover",
        "staging",
        "alice@bastion",
        false,
    );
    precheck_and_isolate(&mut r);
    observe(
        &mut r,
        &Observed {
            detected: None,
            rerouted: Some(492.0),
        },
        661.0,
    );
    r.at(662.0).phase_end("observe", Status::Failed, Some("watch failed: condition not met within 10m: RegionDown is not firing (no alert with that name)"));
    validate(&mut r, 663.0, 3.0, 2.0, 31.0);
    let end = restore(
        &mut r,
        680.0,
        "restore step `re-enable eu-west-1 routing`",
        Some(210.0),
    );
    r.at(end + 1.0);
    artifacts(&mut r);
    r.metric(
        "ttd",
        None,
        "seconds",
        "<= 2m",
        None,
        "marker `detected` was never set",
    )
    .metric(
        "ttr",
        Some(432.0),
        "seconds",
        "<= 60s",
        Some(15.0),
        "from `isolated` to `rerouted`",
    )
    .metric(
        "catch_up",
        Some(210.0),
        "seconds",
        "<= 5m",
        Some(15.0),
        "from `restored` to `caught_up`",
    )
    .metric(
        "conflicts",
        Some(31.0),
        "count",
        "<= 5",
        None,
        "recorded as `conflicts`",
    )
    .metric(
        "lost_writes",
        Some(3.0),
        "count",
        "== 0",
        None,
        "recorded as `lost_writes`",
    )
    .metric(
        "residency_violations",
        Some(2.0),
        "count",
        "== 0",
        None,
        "recorded as `residency_violations`",
    );
    r.emit(EventKind::RunFinished {
        outcome: Outcome::Failed,
        exit_code: 1,
        still_applied: vec![],
    });
    r.write(dir, None);
    series(dir, base, end + 60.0, 60.0, 492.0, 680.5, 890.5);
}

fn aborted(dir: &Path) {
    let base = Utc
        .with_ymd_and_hms(2026, 11, 21, 9, 0, 0)
        .single()
        .expect("date");
    let mut r = Run::new(base);
    run_started(
        &mut r,
        "20261121T090000Z-eu-west-1-failover",
        "production",
        "cron@ops-runner",
        true,
    );
    precheck_and_isolate(&mut r);
    r.at(61.0).phase("observe");
    r.start(
        "observe",
        "alert fired",
        "alert",
        "wait for alert RegionDown to be firing",
        true,
    );
    r.start("observe", "observation window", "wait", "", false);
    r.at(105.0).marker(
        "detected",
        90.0,
        Some(30.0),
        "alert RegionDown activeAt + for (rules evaluated every 15s, scraped every 15s)",
        "alert fired",
    );
    r.finish(
        "observe",
        "alert fired",
        "alert",
        Status::Passed,
        "RegionDown is firing",
        Some(1.0),
        json!({"alertname": "RegionDown", "state": "firing"}),
        5,
        44.0,
    );
    r.at(120.0).emit(EventKind::GuardrailState {
        name: "error ratio below 5%".into(),
        ok: false,
        summary: "error ratio 7.9% (expected < 5%)".into(),
    });
    let since = r.t(120.0);
    r.at(150.0).emit(EventKind::GuardrailBreached {
        name: "error ratio below 5%".into(),
        since,
        summary: "error ratio 8.3% (expected < 5%)".into(),
    });
    r.emit(EventKind::Cancelled {
        reason: CancelReason::Guardrail,
        detail: "guardrail `error ratio below 5%` failed for 30s: error ratio 8.3% (expected < 5%)"
            .into(),
    });
    r.emit(EventKind::StepFinished {
        phase: "observe".into(),
        step: "observation window".into(),
        kind: "wait".into(),
        status: Status::Cancelled,
        summary: "stopped: guardrail `error ratio below 5%` failed for 30s".into(),
        value: None,
        evidence: Value::Null,
        attempts: 0,
        duration_seconds: 0.0,
        error: None,
    });
    r.phase_end("observe", Status::Cancelled, None);
    let end = restore(
        &mut r,
        151.0,
        "restore step `re-enable eu-west-1 routing`",
        Some(30.0),
    );
    r.at(end + 10.0).emit(EventKind::GuardrailState {
        name: "error ratio below 5%".into(),
        ok: true,
        summary: "error ratio 0.5% (expected < 5%)".into(),
    });
    r.metric(
        "ttd",
        Some(30.0),
        "seconds",
        "<= 2m",
        Some(30.0),
        "from `isolated` to `detected`",
    )
    .metric(
        "ttr",
        None,
        "seconds",
        "<= 60s",
        None,
        "marker `rerouted` was never set",
    )
    .metric(
        "catch_up",
        Some(30.0),
        "seconds",
        "<= 5m",
        Some(15.0),
        "from `restored` to `caught_up`",
    )
    .metric(
        "conflicts",
        None,
        "count",
        "<= 5",
        None,
        "`conflicts` was never recorded",
    )
    .metric(
        "lost_writes",
        None,
        "count",
        "== 0",
        None,
        "`lost_writes` was never recorded",
    )
    .metric(
        "residency_violations",
        None,
        "count",
        "== 0",
        None,
        "`residency_violations` was never recorded",
    );
    r.emit(EventKind::RunFinished {
        outcome: Outcome::Aborted,
        exit_code: 3,
        still_applied: vec![],
    });
    r.write(dir, None);
}

fn interrupted(dir: &Path) {
    let base = Utc
        .with_ymd_and_hms(2026, 11, 21, 14, 0, 0)
        .single()
        .expect("date");
    let mut r = Run::new(base);
    run_started(
        &mut r,
        "20261121T140000Z-eu-west-1-failover",
        "staging",
        "bob@laptop",
        false,
    );
    precheck_and_isolate(&mut r);
    r.at(61.0).phase("observe");
    r.start(
        "observe",
        "alert fired",
        "alert",
        "wait for alert RegionDown to be firing",
        true,
    );
    r.start("observe", "observation window", "wait", "", false);
    r.at(95.0).emit(EventKind::Signal { signal: "SIGINT".into(), count: 1, action: "stopping the drill; restoring what it changed (press Ctrl-C twice more to exit without restoring)".into() });
    r.emit(EventKind::Cancelled {
        reason: CancelReason::Signal,
        detail: "SIGINT from the operator".into(),
    });
    r.emit(EventKind::StepFinished {
        phase: "observe".into(),
        step: "observation window".into(),
        kind: "wait".into(),
        status: Status::Cancelled,
        summary: "stopped: SIGINT from the operator".into(),
        value: None,
        evidence: Value::Null,
        attempts: 0,
        duration_seconds: 0.0,
        error: None,
    });
    r.emit(EventKind::StepFinished {
        phase: "observe".into(),
        step: "alert fired".into(),
        kind: "alert".into(),
        status: Status::Cancelled,
        summary: "stopped: SIGINT from the operator".into(),
        value: None,
        evidence: Value::Null,
        attempts: 0,
        duration_seconds: 0.0,
        error: None,
    });
    r.phase_end("observe", Status::Cancelled, None);
    restore(
        &mut r,
        96.0,
        "restore step `re-enable eu-west-1 routing`",
        None,
    );
    r.metric(
        "ttd",
        None,
        "seconds",
        "<= 2m",
        None,
        "marker `detected` was never set",
    )
    .metric(
        "ttr",
        None,
        "seconds",
        "<= 60s",
        None,
        "marker `rerouted` was never set",
    );
    r.emit(EventKind::RunFinished {
        outcome: Outcome::Interrupted,
        exit_code: 4,
        still_applied: vec![],
    });
    r.write(dir, None);
}

fn crashed(dir: &Path) {
    let base = Utc
        .with_ymd_and_hms(2026, 11, 22, 8, 0, 0)
        .single()
        .expect("date");
    let mut r = Run::new(base);
    run_started(
        &mut r,
        "20261122T080000Z-eu-west-1-failover",
        "staging",
        "alice@bastion",
        false,
    );
    precheck_and_isolate(&mut r);
    r.at(59.5).start(
        "isolate",
        "drain eu-west-1 accelerator",
        "ga_traffic_dial",
        "set Global Accelerator traffic dial of eu-west-1 to 0%",
        false,
    );
    r.emit(EventKind::Intent {
        id: "002-drain-eu-west-1-accelerator".into(),
        phase: "isolate".into(),
        step: "drain eu-west-1 accelerator".into(),
        description: "set Global Accelerator traffic dial of eu-west-1 to 0%".into(),
        pre_state: json!({"endpoint_group": "eu-west-1", "traffic_dial": 100}),
        undo: Some(json!({"description": "set Global Accelerator traffic dial of eu-west-1 to 100%", "action": {"kind": "ga_traffic_dial", "endpoint_group": "eu-west-1", "percent": 100}})),
    });
    r.at(90.0).emit(EventKind::Applied {
        id: "002-drain-eu-west-1-accelerator".into(),
        certain: false,
    });
    r.emit(EventKind::Warning {
        message: "set traffic dial: timed out after 30s; the change may have been applied".into(),
        step: Some("drain eu-west-1 accelerator".into()),
    });
    r.write(
        dir,
        Some("{\"ts\":\"2026-11-22T08:01:31.000Z\",\"elapsed\":91.0,\"event\":\"step_fin"),
    );
}

fn big(dir: &Path, n: usize) {
    let base = Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("date");
    let mut r = Run::new(base);
    run_started(
        &mut r,
        "20261101T000000Z-soak",
        "staging",
        "cron@ops-runner",
        true,
    );
    precheck_and_isolate(&mut r);
    r.at(61.0).phase("observe");
    let day = 86_400.0;
    let span = day - 200.0;
    let budget = n.saturating_sub(r.events.len() + 40);
    let mut i = 0usize;
    let mut seq = 0u64;
    while r.events.len() < budget {
        let t = 61.0 + span * (r.events.len() as f64 / budget as f64);
        r.at(t);
        match i % 10 {
            0..=3 => {
                seq += 1;
                let acked = r.now;
                r.emit(EventKind::CanaryWrite {
                    step: "canary writes".into(),
                    seq,
                    key: format!("canary/{seq:06}"),
                    region: if seq.is_multiple_of(3) {
                        "us-east-1".into()
                    } else {
                        "eu-central-1".into()
                    },
                    version: None,
                    acked_at: acked,
                });
            }
            4 | 5 => {
                let name = format!("probe {}", i % 50);
                r.start(
                    "observe",
                    &name,
                    "http",
                    "GET https://eu-central-1.shop.example/health",
                    false,
                );
                r.finish(
                    "observe",
                    &name,
                    "http",
                    Status::Passed,
                    "200 OK in 35 ms",
                    Some(200.0),
                    json!({"status": 200, "millis": 35}),
                    1,
                    0.035,
                );
            }
            6 | 7 => {
                r.emit(EventKind::StepAttempt {
                    phase: "observe".into(),
                    step: "probe 0".into(),
                    attempt: (i % 5) as u32 + 1,
                    ok: false,
                    summary: "error; retrying".into(),
                    error: Some("connection reset by peer".into()),
                });
            }
            8 => {
                r.emit(EventKind::GuardrailState {
                    name: "error ratio below 5%".into(),
                    ok: i % 20 == 8,
                    summary: "error ratio 0.4% (expected < 5%)".into(),
                });
            }
            _ => {
                r.emit(EventKind::Warning {
                    message: "scrape of eu-west-1 was slow (2.1 s)".into(),
                    step: None,
                });
            }
        }
        i += 1;
    }
    r.at(day - 100.0).phase_end("observe", Status::Passed, None);
    let end = restore(
        &mut r,
        day - 90.0,
        "restore step `re-enable eu-west-1 routing`",
        Some(45.0),
    );
    r.at(end + 1.0);
    artifacts(&mut r);
    r.metric(
        "ttd",
        None,
        "seconds",
        "<= 2m",
        None,
        "marker `detected` was never set",
    );
    r.emit(EventKind::RunFinished {
        outcome: Outcome::Failed,
        exit_code: 1,
        still_applied: vec![],
    });
    r.write(dir, None);
    series(dir, base, day, 60.0, 112.0, day - 89.5, day - 44.5);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["fixtures", out] => {
            let out = Path::new(out);
            passed(&out.join("passed"));
            failed(&out.join("failed"));
            aborted(&out.join("aborted"));
            interrupted(&out.join("interrupted"));
            crashed(&out.join("crashed"));
        }
        ["big", out, rest @ ..] => {
            let n = rest.first().and_then(|s| s.parse().ok()).unwrap_or(100_000);
            big(Path::new(out), n);
        }
        _ => {
            eprintln!("usage: synth_journal fixtures DIR | synth_journal big DIR [EVENTS]");
            std::process::exit(2);
        }
    }
}
