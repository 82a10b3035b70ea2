//! Debian's `prometheus` and `prometheus-alertmanager` as test fixtures:
//! temporary data directories, loopback ports, 1 s scrape and evaluation
//! intervals, `--rules.alert.resend-delay=1s`, and readiness waits (the
//! server's `/-/ready`, then the first successful scrape of the target).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{Proc, http, wait_for};

/// A running Prometheus scraping one target.
pub struct Prometheus {
    pub proc: Proc,
}

/// A running Alertmanager.
pub struct Alertmanager {
    pub proc: Proc,
}

impl Alertmanager {
    pub async fn start() -> Alertmanager {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("alertmanager.yml"),
            "route:\n  receiver: none\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: none\n",
        )
        .expect("write alertmanager.yml");
        let mut proc = Proc::spawn_in(
            "alertmanager",
            "prometheus-alertmanager",
            &[
                "--config.file={dir}/alertmanager.yml",
                "--storage.path={dir}/data",
                "--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            dir,
        );
        proc.wait_ready("/-/ready", Duration::from_secs(30)).await;
        Alertmanager { proc }
    }

    /// Names of the alerts Alertmanager currently holds.
    pub async fn alert_names(&self) -> Vec<String> {
        let url = format!("{}/api/v2/alerts", self.proc.base_url());
        let Ok(r) = http().get(url).send().await else {
            return Vec::new();
        };
        let v: Value = r.json().await.unwrap_or(Value::Null);
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["labels"]["alertname"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Prometheus {
    /// Start Prometheus scraping `target` every second, with `rules` loaded
    /// and alerts sent to `alertmanager`; returns once the first scrape of the
    /// target succeeded.
    pub async fn start(
        target: SocketAddr,
        rules: Option<&Path>,
        alertmanager: Option<SocketAddr>,
    ) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n");
        if let Some(r) = rules {
            cfg.push_str(&format!("rule_files:\n  - {}\n", r.display()));
        }
        if let Some(am) = alertmanager {
            cfg.push_str(&format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
            ));
        }
        cfg.push_str(&format!(
            "scrape_configs:\n  - job_name: sim\n    static_configs:\n      - targets: ['{target}']\n"
        ));
        std::fs::write(dir.path().join("prometheus.yml"), cfg).expect("write prometheus.yml");
        let mut proc = Proc::spawn_in(
            "prometheus",
            "prometheus",
            &[
                "--config.file={dir}/prometheus.yml",
                "--storage.tsdb.path={dir}/data",
                "--web.listen-address=127.0.0.1:{port}",
                "--rules.alert.resend-delay=1s",
                "--log.level=warn",
            ],
            dir,
        );
        proc.wait_ready("/-/ready", Duration::from_secs(60)).await;
        let p = Prometheus { proc };
        wait_for(
            "the first successful scrape",
            Duration::from_secs(30),
            || async {
                let v = p.query("up", None).await.ok()?;
                let r = v["data"]["result"].as_array()?;
                (r.first()?["value"][1].as_str()? == "1").then_some(())
            },
        )
        .await;
        p
    }

    pub fn base_url(&self) -> String {
        self.proc.base_url()
    }

    /// `GET /api/v1/query`, at `time` (unix seconds) if given.
    pub async fn query(&self, q: &str, time: Option<f64>) -> Result<Value, reqwest::Error> {
        query_at(&self.base_url(), q, time).await
    }
}

/// `GET {base}/api/v1/query` on any Prometheus-compatible API.
pub async fn query_at(base: &str, q: &str, time: Option<f64>) -> Result<Value, reqwest::Error> {
    let mut params = vec![("query", q.to_string())];
    if let Some(t) = time {
        params.push(("time", format!("{t:.3}")));
    }
    http()
        .get(format!("{base}/api/v1/query"))
        .query(&params)
        .send()
        .await?
        .json()
        .await
}
