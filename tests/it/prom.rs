//! Prometheus and Alertmanager steps against real components: the shipped
//! regional-failover drill run by the real binary against `gameday sim`,
//! once through a real Prometheus + Alertmanager scraping it and once
//! through the simulator's embedded API, each compared with `/sim/truth`;
//! and the failures: Prometheus down at start, Prometheus going away during
//! observation, a query that errors, a query that returns nothing.

use crate::support::prometheus::{Alertmanager, Prometheus};
use crate::support::sim::truth;
use crate::support::{Proc, free_port, http, repo, wait_for};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// `gameday sim` on a free loopback port, ready.
pub(crate) async fn sim(seed: u64) -> Proc {
    crate::support::sim::sim_with(Some(seed), None).await
}

/// The arguments of `gameday run` for the shipped drill against `sim_url`.
pub(crate) fn drill_args(out: &Path, sim_url: &str, extra: &[(&str, String)]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "run".into(),
        repo()
            .join("drills/regional-failover.yaml")
            .display()
            .to_string(),
        "--env".into(),
        repo()
            .join("drills/environments/sim.yaml")
            .display()
            .to_string(),
        "--out".into(),
        out.display().to_string(),
        "--yes".into(),
        "--non-interactive".into(),
        "--log-format".into(),
        "json".into(),
        "--var".into(),
        format!("sim_url={sim_url}"),
    ];
    for (k, v) in extra {
        a.push("--var".into());
        a.push(format!("{k}={v}"));
    }
    a
}

pub(crate) fn gameday(args: &[String], lock_dir: &Path) -> Command {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    crate::cli::Gd::new(&args)
        .lock_dir(lock_dir)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-west-2")
        .command()
}

/// Run `gameday` to the end (on a blocking thread, so the test's servers keep serving).
pub(crate) async fn run_gameday(args: Vec<String>, lock_dir: PathBuf) -> Output {
    tokio::task::spawn_blocking(move || {
        gameday(&args, &lock_dir)
            .output()
            .expect("run the gameday binary")
    })
    .await
    .expect("join")
}

pub(crate) fn run_dir_of(out: &Output) -> PathBuf {
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

pub(crate) fn journal(run_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(run_dir.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub(crate) fn events<'a>(j: &'a [Value], kind: &str) -> Vec<&'a Value> {
    j.iter().filter(|e| e["event"] == kind).collect()
}

fn metric(j: &[Value], name: &str) -> (Option<f64>, Option<f64>) {
    events(j, "metric")
        .into_iter()
        .find(|e| e["name"] == name)
        .map(|e| (e["value"].as_f64(), e["resolution_seconds"].as_f64()))
        .unwrap_or((None, None))
}

fn recorded(j: &[Value], name: &str) -> Option<f64> {
    events(j, "recorded")
        .into_iter()
        .rev()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_f64())
}

fn between(t: &Value, from: &str, to: &str) -> f64 {
    let at = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(
            t[k].as_str()
                .unwrap_or_else(|| panic!("truth has no {k}: {t}")),
        )
        .expect("rfc3339")
    };
    (at(to) - at(from)).num_milliseconds() as f64 / 1000.0
}

/// TTD, TTR and catch-up within `tolerance` seconds of the truth, conflicts
/// since isolation within `conflict_slack`; every refined marker states its
/// resolution.
fn assert_matches_truth(j: &[Value], t: &Value, tolerance: f64, conflict_slack: f64, what: &str) {
    for (name, from, to) in [
        ("ttd", "isolated_at", "alert_firing_at"),
        ("ttr", "isolated_at", "rerouted_at"),
        ("catch_up", "restored_at", "caught_up_at"),
    ] {
        let (v, res) = metric(j, name);
        let v = v.unwrap_or_else(|| panic!("{what}: metric {name} missing"));
        let truth = between(t, from, to);
        assert!(
            (v - truth).abs() <= tolerance,
            "{what}: {name} measured {v:.3}s, truth {truth:.3}s (tolerance {tolerance}s)"
        );
        assert!(res.is_some(), "{what}: {name} has no error bar");
    }
    let measured = recorded(j, "conflicts_since_isolation").expect("conflicts since isolation");
    let truth = t["conflicts_total"].as_f64().expect("conflicts_total");
    assert!(
        (measured - truth).abs() <= conflict_slack,
        "{what}: conflicts since isolation measured {measured}, truth {truth}"
    );
    assert!(
        metric(j, "conflicts").0.is_some(),
        "{what}: conflicts metric missing"
    );
    assert_eq!(
        events(j, "clock_offset").len(),
        1,
        "{what}: one clock_offset event"
    );
    for m in events(j, "marker") {
        if m["name"] == "alert_firing" || m["name"] == "traffic_rerouted" {
            assert!(
                m["resolution_seconds"].as_f64().is_some_and(|r| r > 0.0),
                "{what}: marker without resolution: {m}"
            );
            assert_ne!(m["at"], m["observed_at"], "{what}: {m}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regional_failover_through_real_prometheus_and_alertmanager_matches_truth() {
    let sim = sim(11).await;
    let am = Alertmanager::start().await;
    let prom = Prometheus::start(
        sim.addr(),
        Some(&repo().join("drills/sim/rules.yml")),
        Some(am.proc.addr()),
    )
    .await;
    let out = tempfile::tempdir().expect("tempdir");
    let args = drill_args(
        out.path(),
        &sim.base_url(),
        &[
            ("prometheus_url", prom.base_url()),
            ("alertmanager_url", am.proc.base_url()),
            ("alert_source", "alertmanager".into()),
        ],
    );
    let o = run_gameday(args, out.path().to_path_buf()).await;
    let run_dir = run_dir_of(&o);
    let j = journal(&run_dir);
    assert!(
        o.status.code() == Some(0),
        "drill failed ({:?}):\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout)
    );
    let t = truth(&sim.base_url()).await;
    // One scrape interval plus one evaluation interval (1 s each).
    assert_matches_truth(&j, &t, 2.0, 2.0, "real Prometheus");
    // The intervals came from the server's configuration: error bar 1 s + 1 s.
    assert_eq!(metric(&j, "ttd").1, Some(2.0));
    let alert = events(&j, "marker")
        .into_iter()
        .find(|m| m["name"] == "alert_firing")
        .expect("alert_firing marker");
    assert!(
        alert["source"]
            .as_str()
            .unwrap_or("")
            .contains("Alertmanager"),
        "{alert}"
    );
    // Chart data for the report, announced as artifacts.
    for name in ["traffic", "error_ratio", "replication_lag", "conflicts"] {
        let doc: Value = serde_json::from_str(
            &std::fs::read_to_string(run_dir.join(format!("series/{name}.json")))
                .expect("series file"),
        )
        .expect("series json");
        assert!(
            doc["result"].as_array().is_some_and(|r| !r.is_empty()),
            "{name}: {doc}"
        );
        assert!(doc["query"].is_string() && doc["step"].is_number());
    }
    assert_eq!(events(&j, "artifact").len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regional_failover_through_the_embedded_api_matches_truth() {
    let sim = sim(12).await;
    let out = tempfile::tempdir().expect("tempdir");
    let args = drill_args(out.path(), &sim.base_url(), &[]);
    let o = run_gameday(args, out.path().to_path_buf()).await;
    let j = journal(&run_dir_of(&o));
    assert_eq!(
        o.status.code(),
        Some(0),
        "drill failed:\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let t = truth(&sim.base_url()).await;
    assert_matches_truth(&j, &t, 1.0, 1.0, "embedded API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_down_at_start_aborts_before_anything_changes() {
    let sim = sim(13).await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = tempfile::tempdir().expect("tempdir");
    let args = drill_args(
        out.path(),
        &sim.base_url(),
        &[("prometheus_url", dead.clone())],
    );
    let o = run_gameday(args, out.path().to_path_buf()).await;
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let j = journal(&run_dir_of(&o));
    assert!(events(&j, "intent").is_empty(), "something was changed");
    let first = events(&j, "step_finished")
        .into_iter()
        .find(|e| e["status"] == "failed")
        .expect("a failed step");
    assert_eq!(first["phase"], "pre-drill verification");
    let err = first["error"].as_str().unwrap_or("");
    assert!(
        err.contains(&format!("cannot reach Prometheus at {dead}/api/v1/query"))
            && err.contains("refused"),
        "{err}"
    );
    // The routing control was never touched.
    let t = truth(&sim.base_url()).await;
    assert!(t["isolated_at"].is_null(), "{t}");
}

/// A Prometheus this test can stop and start again on the same port and data.
struct Restartable {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Restartable {
    fn new(target: std::net::SocketAddr) -> Restartable {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = repo().join("drills/sim/rules.yml");
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: sim\n    static_configs:\n      - targets: ['{target}']\n",
                rules.display()
            ),
        )
        .expect("config");
        Restartable {
            dir,
            port: free_port(),
            child: None,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        let d = self.dir.path().display().to_string();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("output.log"))
            .expect("log");
        let child = Command::new("prometheus")
            .args([
                format!("--config.file={d}/prometheus.yml"),
                format!("--storage.tsdb.path={d}/data"),
                format!("--web.listen-address=127.0.0.1:{}", self.port),
                "--rules.alert.resend-delay=1s".into(),
                "--log.level=warn".into(),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        self.child = Some(child);
        let url = format!("{}/api/v1/query?query=up", self.url());
        wait_for(
            "Prometheus to scrape the simulator",
            Duration::from_secs(60),
            || async {
                let v: Value = http().get(&url).send().await.ok()?.json().await.ok()?;
                (v["data"]["result"][0]["value"][1] == "1").then_some(())
            },
        )
        .await;
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_going_away_during_observation_leaves_a_gap_and_restoration_runs() {
    let sim = sim(14).await;
    let mut prom = Restartable::new(sim.addr());
    prom.start().await;
    let out = tempfile::tempdir().expect("tempdir");
    let args = drill_args(
        out.path(),
        &sim.base_url(),
        &[("prometheus_url", prom.url())],
    );
    let lock_dir = out.path().to_path_buf();
    let child = gameday(&args, &lock_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the drill");
    // Wait for the isolation, then take Prometheus away for a few polls.
    let runs = out.path().to_path_buf();
    let find_journal = move || {
        std::fs::read_dir(&runs)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("journal.jsonl"))
            .find(|p| p.is_file())
    };
    let jpath = wait_for("the run's journal", Duration::from_secs(30), || {
        let f = find_journal.clone();
        async move { f() }
    })
    .await;
    let isolated = || {
        std::fs::read_to_string(&jpath)
            .unwrap_or_default()
            .contains("\"name\":\"isolated\"")
    };
    wait_for("the isolation marker", Duration::from_secs(60), || async {
        isolated().then_some(())
    })
    .await;
    prom.stop();
    let saw_gap = || {
        std::fs::read_to_string(&jpath)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("\"step_attempt\"") && l.contains("cannot reach Prometheus"))
    };
    wait_for(
        "a failed poll in the journal",
        Duration::from_secs(30),
        || async { saw_gap().then_some(()) },
    )
    .await;
    prom.start().await;
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().expect("drill output"))
        .await
        .expect("join");
    let j = journal(&run_dir_of(&o));
    let gap: Vec<&Value> = events(&j, "step_attempt")
        .into_iter()
        .filter(|e| {
            e["ok"] == false
                && e["error"]
                    .as_str()
                    .is_some_and(|s| s.contains("cannot reach Prometheus"))
        })
        .collect();
    assert!(!gap.is_empty(), "no gap journaled");
    assert!(
        gap.iter().any(|e| e["phase"] == "observation"),
        "the gap is not in the observation: {gap:?}"
    );
    // The watches kept polling through the gap and resolved after it.
    let markers: Vec<&str> = events(&j, "marker")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        markers.contains(&"traffic_rerouted") || markers.contains(&"alert_firing"),
        "{markers:?}"
    );
    // Restoration ran: the routing control was put back.
    assert!(!events(&j, "undone").is_empty(), "nothing was undone");
    let t = truth(&sim.base_url()).await;
    assert!(t["restored_at"].is_string(), "{t}");
    assert_ne!(o.status.code(), Some(5), "restoration failed");
}

/// A small playbook of checks against `prometheus_url`, each in its own
/// precheck so all of them run.
fn checks_playbook(dir: &Path) -> PathBuf {
    let p = dir.join("checks.yaml");
    std::fs::write(
        &p,
        r#"name: prometheus-checks
unattended: true
vars:
  prometheus_url: http://127.0.0.1:9090
prometheus: { url: "${prometheus_url}" }
phases:
  - kind: precheck
    on_failure: continue
    steps:
      - name: bad query
        kind: prometheus
        expr: "sum(rate(http_requests_total[1m]) by (region"
        expect: "< 1"
      - name: nothing returned
        kind: prometheus
        expr: 'region_error_ratio{region="nowhere"}'
        expect: "< 5%"
      - name: nothing returned is fine here
        kind: prometheus
        expr: 'region_error_ratio{region="nowhere"}'
        expect: "< 5%"
        empty: pass
      - name: any region serving
        kind: prometheus
        expr: region_requests_per_second
        expect: "> 0"
        series: any
"#,
    )
    .expect("write playbook");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_errors_and_one_that_returns_nothing() {
    let sim = sim(15).await;
    let prom = Prometheus::start(sim.addr(), None, None).await;
    let out = tempfile::tempdir().expect("tempdir");
    let pb = checks_playbook(out.path());
    let args: Vec<String> = vec![
        "run".into(),
        pb.display().to_string(),
        "--out".into(),
        out.path().display().to_string(),
        "--yes".into(),
        "--non-interactive".into(),
        "--var".into(),
        format!("prometheus_url={}", prom.base_url()),
    ];
    let o = run_gameday(args, out.path().to_path_buf()).await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let j = journal(&run_dir_of(&o));
    let finished = |name: &str| {
        events(&j, "step_finished")
            .into_iter()
            .find(|e| e["step"] == name)
            .unwrap_or_else(|| panic!("no step {name}"))
            .clone()
    };
    let bad = finished("bad query");
    assert_eq!(bad["status"], "failed");
    let err = bad["error"].as_str().unwrap_or("");
    // Prometheus's own words, and where the step is.
    assert!(err.contains("Prometheus rejected the query"), "{err}");
    assert!(err.contains("parse error"), "{err}");
    assert!(err.contains(&format!("{}:10:", pb.display())), "{err}");
    assert_eq!(bad["attempts"], 1, "a bad query is not retried");
    let empty = finished("nothing returned");
    assert_eq!(empty["status"], "failed");
    assert!(
        empty["summary"]
            .as_str()
            .unwrap_or("")
            .contains("no series returned"),
        "{empty}"
    );
    assert_eq!(
        finished("nothing returned is fine here")["status"],
        "passed"
    );
    assert_eq!(finished("any region serving")["status"], "passed");
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
fn make_certs(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=gameday test CA",
    ]);
    openssl(dir, &ca);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    for who in ["server", "client"] {
        let key = format!("{who}-key.pem");
        let csr = format!("{who}.csr");
        let pem = format!("{who}.pem");
        let ext = format!("{who}.ext");
        let subj = format!("/CN=gameday test {who}");
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend([
            "-keyout",
            key.as_str(),
            "-out",
            csr.as_str(),
            "-subj",
            subj.as_str(),
        ]);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "1",
                "-extfile",
                &ext,
            ],
        );
    }
}

/// bcrypt of `gameday-test` (cost 4), for Prometheus's web config.
const PASSWORD_HASH: &str = "$2b$04$IcQKDabwZauc8rJxKGYExu4u6dmyYfONbdyQjmXXAC/kcQenolrZq";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_certificate_and_basic_auth_against_real_prometheus() {
    let certs = tempfile::tempdir().expect("tempdir");
    let c = certs.path();
    make_certs(c);
    let web = c.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {d}/server.pem\n  key_file: {d}/server-key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {d}/ca.pem\nbasic_auth_users:\n  gameday: {PASSWORD_HASH}\n",
            d = c.display()
        ),
    )
    .expect("web config");
    let web_arg = format!("--web.config.file={}", web.display());
    let mut prom = Proc::spawn(
        "prometheus (TLS)",
        "prometheus",
        &[
            "--config.file=/dev/null",
            "--storage.tsdb.path={dir}/data",
            "--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            &web_arg,
        ],
    );
    let url = format!("https://127.0.0.1:{}", prom.port);
    let read = |f: &str| std::fs::read(c.join(f)).expect("cert file");
    let mut id = read("client.pem");
    id.extend(read("client-key.pem"));
    let probe = gameday::tls::http_builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&read("ca.pem")).expect("ca"))
        .identity(reqwest::Identity::from_pem(&id).expect("identity"))
        .build()
        .expect("client");
    wait_for("Prometheus over TLS", Duration::from_secs(60), || {
        prom.assert_running();
        let req = probe
            .get(format!("{url}/-/ready"))
            .basic_auth("gameday", Some("gameday-test"));
        async move {
            req.send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
    })
    .await;

    let out = tempfile::tempdir().expect("tempdir");
    let pb = out.path().join("tls.yaml");
    let playbook = |password_env: &str, with_cert: bool| {
        format!(
            "name: tls-check\nunattended: true\nprometheus:\n  url: {url}\n  ca_file: {d}/ca.pem\n{cert}  basic_auth: {{ username: gameday, password: {{ env: {password_env} }} }}\n  headers: {{ X-Scope-OrgID: gameday-test }}\n  scrape_interval: 1s\n  evaluation_interval: 1s\nphases:\n  - kind: precheck\n    steps:\n      - {{ name: one, kind: prometheus, expr: vector(1), expect: \"== 1\" }}\n",
            d = c.display(),
            cert = if with_cert {
                format!(
                    "  client_cert: {{ cert_file: {d}/client.pem, key_file: {d}/client-key.pem }}\n",
                    d = c.display()
                )
            } else {
                String::new()
            }
        )
    };
    let run = |text: String| {
        std::fs::write(&pb, text).expect("playbook");
        let args: Vec<String> = vec![
            "run".into(),
            pb.display().to_string(),
            "--out".into(),
            out.path().display().to_string(),
            "--yes".into(),
            "--non-interactive".into(),
        ];
        let mut cmd = gameday(&args, out.path());
        cmd.env("PROM_TEST_PASSWORD", "gameday-test")
            .env("PROM_WRONG_PASSWORD", "nope");
        cmd.output().expect("run")
    };
    // Prometheus is another process: blocking this thread is fine.
    let ok = run(playbook("PROM_TEST_PASSWORD", true));
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let j = journal(&run_dir_of(&ok));
    assert_eq!(events(&j, "clock_offset").len(), 1);

    // Prometheus is another process: blocking this thread is fine.
    let wrong = run(playbook("PROM_WRONG_PASSWORD", true));
    assert_eq!(wrong.status.code(), Some(3));
    let j = journal(&run_dir_of(&wrong));
    let err = events(&j, "step_finished")[0]["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        err.contains("HTTP 401") && err.contains("basic_auth"),
        "{err}"
    );
    assert_eq!(
        events(&j, "step_finished")[0]["attempts"],
        1,
        "a 401 is not retried"
    );

    // Prometheus is another process: blocking this thread is fine.
    let no_cert = run(playbook("PROM_TEST_PASSWORD", false));
    assert_eq!(no_cert.status.code(), Some(3));
    let j = journal(&run_dir_of(&no_cert));
    let err = events(&j, "step_finished")[0]["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        err.contains(&format!("cannot reach Prometheus at {url}")),
        "{err}"
    );
}
