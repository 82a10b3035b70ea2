//! AWS steps through the real binary and the real SDK, against real servers
//! on loopback: moto's server (Route 53, ELBv2, FIS, RDS, CloudWatch) and the
//! simulator's AWS endpoints (Global Accelerator, Route 53 ARC), with
//! [`proxy::Proxy`] in between where a test needs throttling, access denied,
//! a safety-rule conflict, CloudWatch's CBOR protocol, or the emulator gone.
//!
//! Every drill holds at a `hold` step until a gate file exists, so the test
//! can compare the full descriptions of the resources before, during and
//! after (they must change, then be exactly what they were), or SIGKILL the
//! run there and check that `gameday restore` brings everything back.
//!
//! moto is found through `GAMEDAY_MOTO` (the `moto_server` executable of a
//! virtualenv that also has boto3) or at /root/.venv-moto/bin/moto_server.

mod proxy;

use crate::cli::{Gd, run_dir, signal, stderr};
use crate::support::Proc;
use nix::sys::signal::Signal;
use proxy::Proxy;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn moto_server() -> PathBuf {
    let p = std::env::var_os("GAMEDAY_MOTO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root/.venv-moto/bin/moto_server"));
    assert!(
        p.exists(),
        "moto_server not found at {}: install it with `python3 -m venv V && V/bin/pip install 'moto[server]'` and set GAMEDAY_MOTO=V/bin/moto_server",
        p.display()
    );
    p
}

/// moto's server on a free loopback port, killed by PID on drop.
struct Moto {
    proc: Proc,
    ids: Value,
}

impl Moto {
    fn start() -> Moto {
        let bin = moto_server();
        let mut proc = Proc::spawn(
            "moto",
            bin.to_str().expect("utf-8 path"),
            &["-H", "127.0.0.1", "-p", "{port}"],
        );
        block_on(proc.wait_ready("/moto-api/data.json", Duration::from_secs(60)));
        let ids: Value =
            serde_json::from_str(&moto_py(&["setup", &proc.base_url()])).expect("setup ids");
        Moto { proc, ids }
    }

    fn url(&self) -> String {
        self.proc.base_url()
    }

    /// The full descriptions of every resource the drill touches.
    fn snapshot(&self) -> String {
        moto_py(&["snapshot", &self.url(), &self.ids.to_string()])
    }

    fn id(&self, k: &str) -> String {
        self.ids[k].as_str().expect("id").to_string()
    }
}

/// Run tests/it/aws/moto.py with the Python of moto's virtualenv.
fn moto_py(args: &[&str]) -> String {
    let python = moto_server().with_file_name("python");
    let script = crate::cli::repo().join("tests/it/aws/moto.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "moto.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `gameday` command with fake credentials and none of the caller's AWS settings.
fn aws_env(cmd: &mut Command, home: &Path) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

fn gd(args: &[&str]) -> Gd {
    let mut g = Gd::new(args);
    let home = g.dir.path().to_path_buf();
    aws_env(&mut g.cmd, &home);
    g
}

/// A drill started in the background, holding at `hold` until its gate exists.
struct Drill {
    child: Child,
    out: PathBuf,
    gate: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drill {
    fn start(playbook: &str, vars: &[(&str, String)]) -> Drill {
        // These tests kill the runner and restore by hand (`gameday restore`);
        // the dead-man's switch is tested with `start_guarded`.
        Self::start_with(playbook, vars, &["--no-guard"])
    }

    /// A drill with its dead-man's switch (the default of `gameday run`).
    fn start_guarded(playbook: &str, vars: &[(&str, String)]) -> Drill {
        Self::start_with(playbook, vars, &[])
    }

    fn start_with(playbook: &str, vars: &[(&str, String)], extra: &[&str]) -> Drill {
        let mut g = Gd::drill(&[playbook, "--yes"]);
        g.cmd.args(extra);
        let home = g.dir.path().to_path_buf();
        aws_env(&mut g.cmd, &home);
        let gate = home.join("gate");
        g.cmd.arg("--var").arg(format!("gate={}", gate.display()));
        for (k, v) in vars {
            g.cmd.arg("--var").arg(format!("{k}={v}"));
        }
        let out = g.out_dir();
        let (child, dir) = g.spawn();
        Drill {
            child,
            out,
            gate,
            _dir: dir,
        }
    }

    fn run_dir(&self) -> PathBuf {
        run_dir(&self.out).expect("run directory")
    }

    fn journal(&self) -> String {
        run_dir(&self.out)
            .and_then(|d| std::fs::read_to_string(d.join("journal.jsonl")).ok())
            .unwrap_or_default()
    }

    /// Wait until the journal contains `needle`; fail with the run's stderr if it exits first.
    fn wait_for(&mut self, needle: &str) {
        let start = std::time::Instant::now();
        while !self.journal().contains(needle) {
            if let Ok(Some(_)) = self.child.try_wait() {
                let out = self.finish_output();
                panic!("the drill exited before `{needle}`:\n{out}");
            }
            assert!(
                start.elapsed() < LIMIT,
                "timed out waiting for `{needle}`:\n{}",
                self.journal()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for_hold(&mut self) {
        self.wait_for("\"event\":\"step_started\",\"phase\":\"observe\",\"step\":\"hold\"");
    }

    fn open_gate(&self) {
        std::fs::write(&self.gate, b"").expect("gate");
    }

    fn finish_output(&mut self) -> String {
        use std::io::Read;
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err
    }

    /// Wait for the exit; returns its code and stderr.
    fn finish(&mut self) -> (Option<i32>, String, PathBuf) {
        let err = self.finish_output();
        let status = self.child.wait().expect("wait");
        let dir = self.run_dir();
        (status.code(), err, dir)
    }
}

fn restore(dir: &Path) -> (Option<i32>, String) {
    let (out, _d) = gd(&["restore", dir.to_str().expect("utf-8")]).run();
    (out.status.code(), stderr(&out))
}

fn moto_vars(m: &Moto, endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("endpoint", m.url()),
        ("cloudwatch_endpoint", endpoint.to_string()),
        ("health_check_id", m.id("health_check_id")),
        ("zone_id", m.id("zone_id")),
        ("tg_a", m.id("tg_a")),
        ("tg_b", m.id("tg_b")),
        ("listener_arn", m.id("listener_arn")),
        ("fis_template_id", m.id("fis_template_id")),
        ("alarm_name", m.id("alarm_name")),
    ]
}

const MOTO_DRILL: &str = "tests/it/aws/moto-drill.yaml";
const SIM_DRILL: &str = "tests/it/aws/sim-drill.yaml";

/// Start the moto drill and hold it with everything applied; returns the
/// drill, the state before, and the state while applied.
fn moto_drill_applied(m: &Moto, cw: &Proxy) -> (Drill, String, String) {
    let pre = m.snapshot();
    let mut d = Drill::start(MOTO_DRILL, &moto_vars(m, &cw.url));
    // The alarm fires after the isolation, as a real one would.
    d.wait_for("\"event\":\"marker\",\"name\":\"isolated\"");
    moto_py(&["set-alarm", &m.url(), &m.id("alarm_name"), "ALARM"]);
    d.wait_for_hold();
    let during = m.snapshot();
    (d, pre, during)
}

fn assert_applied(pre: &str, during: &str) {
    let pre: Value = serde_json::from_str(pre).unwrap();
    let during: Value = serde_json::from_str(during).unwrap();
    for key in [
        "health_check",
        "records",
        "listener",
        "targets_a",
        "experiments_running",
        "db_cluster_members",
    ] {
        assert_ne!(
            pre[key], during[key],
            "`{key}` did not change during the drill"
        );
    }
    assert_eq!(
        during["health_check"]["HealthCheckConfig"]["Inverted"],
        Value::Bool(true)
    );
    assert_eq!(
        pre["targets_b"], during["targets_b"],
        "untouched group stays"
    );
}

#[test]
fn moto_every_mutating_step_changes_state_and_restoration_puts_it_back_exactly() {
    let m = Moto::start();
    let cw = Proxy::start(&m.url());
    let (mut d, pre, during) = moto_drill_applied(&m, &cw);
    assert_applied(&pre, &during);
    d.open_gate();
    let (code, err, dir) = d.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        m.snapshot(),
        pre,
        "restoration must give back exactly the pre-state"
    );

    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    // Time to detect from the alarm's own state-change timestamp.
    assert!(
        journal.contains("CloudWatch alarm state-change timestamp"),
        "{journal}"
    );
    // The replication lag came through GetMetricData (CBOR, through the proxy).
    assert!(cw.calls("GetMetricData") >= 1);
    assert!(journal.contains("\"lag_ms\""), "{journal}");
    // Pre-states are journaled before each change, without secrets.
    assert!(journal.contains("\"Inverted\"") || journal.contains("\"inverted\":false"));
    assert!(!journal.contains("AWS_SECRET_ACCESS_KEY") && !journal.contains("\"test\""));
    // sts:GetCallerIdentity at run start, through moto's STS: its account in every report.
    let report = crate::cli::report_json(&dir);
    let ids = &report["run"]["aws_identities"];
    assert_eq!(ids[0]["account"], "123456789012", "{ids}");
    let arn = ids[0]["arn"].as_str().unwrap_or("");
    assert!(
        arn.starts_with("arn:aws:") && arn.contains("123456789012"),
        "{ids}"
    );
    for file in ["report.md", "report.html"] {
        // report.html escapes `/` as HTML does (`&#x2f;`); a browser shows `/`.
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap()
            .replace("&#x2f;", "/");
        assert!(text.contains(arn), "{file} does not name {arn}");
    }
}

#[test]
fn moto_sigkill_mid_drill_then_restore_brings_every_resource_back_and_again_is_a_no_op() {
    let m = Moto::start();
    let cw = Proxy::start(&m.url());
    let (mut d, pre, during) = moto_drill_applied(&m, &cw);
    assert_applied(&pre, &during);
    signal(&d.child, Signal::SIGKILL);
    let _ = d.child.wait();
    assert_eq!(m.snapshot(), during, "SIGKILL leaves everything applied");

    let dir = d.run_dir();
    let (code, err) = restore(&dir);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        m.snapshot(),
        pre,
        "restore must give back exactly the pre-state"
    );
    let (code, err) = restore(&dir);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("nothing to restore"), "{err}");
    assert_eq!(m.snapshot(), pre);
}

// ----- the simulator: ARC and Global Accelerator ---------------------------------

/// The simulator on its own thread, serving until dropped.
struct SimServer {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimServer {
    fn start() -> SimServer {
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            block_on(async move {
                let sim = gameday::sim::start(
                    gameday::sim::SimConfig::default(),
                    7,
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                )
                .await
                .expect("start the simulator");
                url_tx.send(sim.base_url()).expect("send url");
                let _ = stop_rx.await;
                sim.shutdown().await;
            })
        });
        let url = url_rx.recv_timeout(LIMIT).expect("simulator started");
        SimServer {
            url,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop();
    }
}

const REGION: &str = "eu-west-1";

fn sim_call(url: &str, target: &str, body: Value) -> Value {
    let json_1_0 = target.starts_with("ToggleCustomerAPI");
    block_on(async {
        let r = gameday::tls::http_builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{url}/"))
            .header("x-amz-target", target)
            .header(
                "content-type",
                if json_1_0 {
                    "application/x-amz-json-1.0"
                } else {
                    "application/x-amz-json-1.1"
                },
            )
            .body(body.to_string())
            .send()
            .await
            .expect("simulator answers");
        r.json::<Value>().await.expect("JSON")
    })
}

/// The full ARC and GA descriptions of the drill's region.
fn sim_snapshot(url: &str) -> Value {
    let arc = sim_call(
        url,
        "ToggleCustomerAPI.GetRoutingControlState",
        serde_json::json!({"RoutingControlArn": gameday::sim::aws::routing_control_arn(REGION)}),
    );
    let ga = sim_call(
        url,
        "GlobalAccelerator_V20180706.DescribeEndpointGroup",
        serde_json::json!({"EndpointGroupArn": gameday::sim::aws::endpoint_group_arn(REGION)}),
    );
    serde_json::json!({"arc": arc, "ga": ga})
}

fn sim_vars(ga: &str, arc: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ga_endpoint", ga.to_string()),
        ("arc_endpoint", arc.to_string()),
        // A port nobody listens on: the first cluster endpoint is down.
        (
            "dead_endpoint",
            format!("http://127.0.0.1:{}", crate::support::free_port()),
        ),
        (
            "routing_control",
            gameday::sim::aws::routing_control_arn(REGION),
        ),
        (
            "endpoint_group",
            gameday::sim::aws::endpoint_group_arn(REGION),
        ),
        (
            "endpoint_id",
            gameday::sim::model::default_endpoint_id(REGION),
        ),
    ]
}

/// The runner is SIGKILLed while the region is isolated; with nobody
/// acting, its guard puts ARC and GA back exactly within the lease + 5 s.
#[test]
fn sim_runner_killed_mid_drill_its_guard_restores_arc_and_ga_by_itself() {
    let sim = SimServer::start();
    let pre = sim_snapshot(&sim.url);
    let mut d = Drill::start_guarded(SIM_DRILL, &sim_vars(&sim.url, &sim.url));
    d.wait_for_hold();
    assert!(d.journal().contains("\"event\":\"guard_started\""));
    assert_eq!(sim_snapshot(&sim.url)["arc"]["RoutingControlState"], "Off");
    signal(&d.child, Signal::SIGKILL);
    let killed = std::time::Instant::now();
    let _ = d.child.wait();
    // Default lease: 30 s.
    let limit = Duration::from_secs(35);
    while sim_snapshot(&sim.url) != pre {
        assert!(
            killed.elapsed() < limit,
            "the guard did not restore within the lease + 5 s:\n{}",
            d.journal()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let dir = d.run_dir();
    crate::cli::wait_until(LIMIT, "the guard's restore_finished", || {
        d.journal().contains("\"event\":\"restore_finished\"")
    });
    let journal = d.journal();
    assert!(journal.contains("\"by\":\"guard\""), "{journal}");
    let (code, err) = restore(&dir);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("nothing to restore"), "{err}");
}

#[test]
fn sim_arc_and_ga_change_and_restore_exactly_also_after_sigkill() {
    let sim = SimServer::start();
    let pre = sim_snapshot(&sim.url);
    assert_eq!(pre["arc"]["RoutingControlState"], "On");

    // A run that restores by itself.
    let mut d = Drill::start(SIM_DRILL, &sim_vars(&sim.url, &sim.url));
    d.wait_for_hold();
    let during = sim_snapshot(&sim.url);
    assert_eq!(during["arc"]["RoutingControlState"], "Off");
    assert_eq!(during["ga"]["EndpointGroup"]["TrafficDialPercentage"], 0.0);
    assert_eq!(
        during["ga"]["EndpointGroup"]["EndpointDescriptions"][0]["Weight"],
        0
    );
    d.open_gate();
    let (code, err, dir) = d.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(sim_snapshot(&sim.url), pre);
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("UpdateRoutingControlStates"),
        "the ARC call is journaled"
    );

    // A run killed with everything applied, then `gameday restore`.
    let mut d = Drill::start(SIM_DRILL, &sim_vars(&sim.url, &sim.url));
    d.wait_for_hold();
    signal(&d.child, Signal::SIGKILL);
    let _ = d.child.wait();
    assert_eq!(sim_snapshot(&sim.url)["arc"]["RoutingControlState"], "Off");
    let dir = d.run_dir();
    let (code, err) = restore(&dir);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(sim_snapshot(&sim.url), pre);
    let (code, err) = restore(&dir);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("nothing to restore"), "{err}");
}

#[test]
fn throttling_is_retried_by_the_sdk_and_the_step_passes() {
    let sim = SimServer::start();
    let p = Proxy::start(&sim.url);
    p.fail("UpdateEndpointGroup", 2, 400, "ThrottlingException");
    p.fail("UpdateRoutingControlStates", 1, 429, "ThrottlingException");
    let mut d = Drill::start(SIM_DRILL, &sim_vars(&p.url, &p.url));
    d.wait_for_hold();
    d.open_gate();
    let (code, err, _) = d.finish();
    assert_eq!(code, Some(0), "{err}");
    // Two throttled answers, then the call that went through (and the undo's).
    assert!(
        p.calls("UpdateEndpointGroup") >= 3,
        "{}",
        p.calls("UpdateEndpointGroup")
    );
    assert!(p.calls("UpdateRoutingControlStates") >= 2);
}

#[test]
fn access_denied_names_the_missing_iam_action_and_a_safety_rule_rejection_says_so() {
    let sim = SimServer::start();
    let p = Proxy::start(&sim.url);
    p.fail(
        "UpdateRoutingControlStates",
        1,
        403,
        "AccessDeniedException",
    );
    let mut d = Drill::start(SIM_DRILL, &sim_vars(&p.url, &p.url));
    let (code, err, _) = d.finish();
    assert_eq!(code, Some(3), "aborted in isolate: {err}");
    assert!(
        err.contains(
            "grant the IAM permission `route53-recovery-cluster:UpdateRoutingControlStates`"
        ),
        "{err}"
    );
    assert_eq!(sim_snapshot(&sim.url)["arc"]["RoutingControlState"], "On");

    p.fail("UpdateRoutingControlStates", 1, 409, "ConflictException");
    let mut d = Drill::start(SIM_DRILL, &sim_vars(&p.url, &p.url));
    let (code, err, _) = d.finish();
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("rejected by a safety rule"), "{err}");
    assert!(err.contains("safety_rules_to_override"), "{err}");
    assert_eq!(sim_snapshot(&sim.url)["arc"]["RoutingControlState"], "On");
}

#[test]
fn the_emulator_going_away_during_restoration_exits_5_listing_what_is_still_applied() {
    let mut sim = SimServer::start();
    let p = Proxy::start(&sim.url);
    let mut d = Drill::start(SIM_DRILL, &sim_vars(&p.url, &p.url));
    d.wait_for_hold();
    // The emulator and the way to it go away: connections are refused.
    sim.stop();
    drop(p);
    d.open_gate();
    let (code, err, dir) = d.finish();
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("still applied"), "{err}");
    assert!(
        err.contains("eu-off") && err.contains("eu-dial-zero"),
        "{err}"
    );
    assert!(
        err.contains(&format!("gameday restore {}", dir.display())),
        "{err}"
    );
}

#[test]
fn plans_of_the_shipped_aws_drills_list_every_call_and_its_undo() {
    let env = "drills/environments/aws-staging.example.yaml";
    let cases: &[(&str, &[&str])] = &[
        (
            "drills/route53-health-check-failover.yaml",
            &[
                "route53:GetHealthCheck",
                "route53:UpdateHealthCheck",
                "route53:GetHealthCheckStatus",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:GetMetricData",
            ],
        ),
        (
            "drills/global-accelerator-dial.yaml",
            &[
                "globalaccelerator:DescribeEndpointGroup",
                "globalaccelerator:UpdateEndpointGroup",
                "in us-west-2",
            ],
        ),
        (
            "drills/alb-zonal-evacuation.yaml",
            &[
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:ModifyListener",
                "cloudwatch:GetMetricData",
            ],
        ),
        (
            "drills/fis-cross-region.yaml",
            &[
                "fis:GetExperimentTemplate",
                "fis:StartExperiment",
                "fis:StopExperiment",
                "fis:GetExperiment",
            ],
        ),
    ];
    for (drill, calls) in cases {
        let (out, _d) = gd(&["plan", drill, "--env", env]).run();
        let text = crate::cli::stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{drill}: {}", stderr(&out));
        for c in *calls {
            assert!(text.contains(c), "{drill}: plan lacks `{c}`:\n{text}");
        }
        // Every change shows its undo.
        let changes = text.matches("· CHANGE]").count();
        assert!(changes >= 1, "{drill}");
        assert!(
            text.matches("      undo: ").count() >= changes,
            "{drill}:\n{text}"
        );
    }
}

/// A read-only ARC check against the simulator, whose STS answers
/// `GetCallerIdentity`; `sts` is the STS endpoint given to the drill.
fn identity_drill(dir: &Path, sim: &str, sts: &str) -> (Option<i32>, String, Value, String) {
    let pb = dir.join("identity.yaml");
    std::fs::write(
        &pb,
        format!(
            "name: aws-identity\nunattended: true\naws:\n  region: us-east-1\n  max_attempts: 1\n  endpoints: {{ sts: \"{sts}\" }}\nphases:\n  - kind: precheck\n    steps:\n      - name: eu-serving\n        kind: arc-routing-control-state\n        cluster_endpoints: [{{ url: \"{sim}\", region: us-west-2 }}]\n        routing_controls: [\"arn:aws:route53-recovery-control::000000000000:controlpanel/sim/routingcontrol/eu-west-1\"]\n        expect: \"On\"\n"
        ),
    )
    .unwrap();
    let mut gd = Gd::drill(&[pb.to_str().unwrap()]);
    aws_env(&mut gd.cmd, dir);
    let (out, tmp) = gd.run();
    let run = run_dir(&tmp.path().join("reports")).expect("run dir");
    let report = crate::cli::report_json(&run);
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    (out.status.code(), stderr(&out), report, md)
}

/// sts:GetCallerIdentity is called once at run start, through the drill's
/// STS endpoint; the account and ARN are journaled and shown in every
/// report. When STS cannot answer, that is a warning and the drill passes.
#[test]
fn the_aws_account_and_caller_arn_are_in_the_report_and_a_failed_lookup_only_warns() {
    let sim = SimServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let url = sim.url.clone();
    let (code, err, report, md) = identity_drill(tmp.path(), &url, &url);
    assert_eq!(code, Some(0), "{err}");
    let ids = &report["run"]["aws_identities"];
    assert_eq!(ids.as_array().map(Vec::len), Some(1), "{ids}");
    assert_eq!(ids[0]["account"], "000000000000", "{ids}");
    assert_eq!(ids[0]["arn"], "arn:aws:iam::000000000000:user/gameday-sim");
    assert!(
        md.contains("arn:aws:iam::000000000000:user/gameday-sim"),
        "{md}"
    );

    // Nothing listens there: a warning, not a failure.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let (code, err, report, _) = identity_drill(tmp.path(), &url, &dead_url);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(report["run"]["aws_identities"], serde_json::json!([]));
    let warned = report["warnings"].as_array().unwrap().iter().any(|w| {
        w["message"]
            .as_str()
            .unwrap_or("")
            .contains("cannot tell which AWS account")
    });
    assert!(warned, "{}", report["warnings"]);
}
