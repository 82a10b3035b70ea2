//! Drill visibility for on-call: while a drill runs, keep
//! `gameday_drill_active{drill,environment,phase} 1` and one
//! `gameday_drill_marker_timestamp_seconds{marker}` per marker in a
//! Prometheus Pushgateway (`pushgateway: URL` in the playbook or the
//! environment file), and delete them when the run ends, so dashboards can
//! annotate the drill and Alertmanager can inhibit or route its alerts.
//!
//! The group is `/metrics/job/gameday/drill@base64/…/environment@base64/…`
//! (base64url label values, so any drill name is safe); each phase change
//! replaces the group (PUT). An observer of the journal queues the changes
//! for a background task, so a slow Pushgateway never holds the drill up;
//! a failed push is journaled as a warning and never fails the drill.

use crate::journal::event::{Event, EventKind};
use crate::journal::writer::Observer;
use crate::journal::{EventSink, Journal};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

enum Push {
    /// Replace the group with this exposition text.
    Put(String),
    /// Delete the group (the run ended).
    Delete,
}

/// The Pushgateway publisher of one run.
pub struct Publisher {
    observer: Arc<PushObserver>,
    task: tokio::task::JoinHandle<()>,
}

struct PushObserver {
    tx: Mutex<Option<mpsc::UnboundedSender<Push>>>,
    state: Mutex<(String, Vec<(String, f64)>)>,
}

/// base64url without padding, for `label@base64` path segments.
fn b64url(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    if out.is_empty() { "=".into() } else { out }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The group URL of a drill and environment.
pub fn group_url(base: &str, drill: &str, environment: &str) -> String {
    format!(
        "{}/metrics/job/gameday/drill@base64/{}/environment@base64/{}",
        base.trim_end_matches('/'),
        b64url(drill),
        b64url(environment)
    )
}

impl Publisher {
    pub fn start(base: &str, journal: &EventSink, drill: &str, environment: &str) -> Publisher {
        let (tx, rx) = mpsc::unbounded_channel();
        let observer = Arc::new(PushObserver {
            tx: Mutex::new(Some(tx)),
            state: Mutex::new((String::new(), vec![])),
        });
        journal.add_observer(observer.clone());
        let url = group_url(base, drill, environment);
        let task = tokio::spawn(publish(url, rx, journal.clone()));
        Publisher { observer, task }
    }

    /// Delete the group and wait at most `limit` for what is queued.
    pub async fn finish(self, limit: Duration) {
        {
            let mut tx = self.observer.tx.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(t) = tx.as_ref() {
                let _ = t.send(Push::Delete);
            }
            tx.take();
        }
        let _ = tokio::time::timeout(limit, self.task).await;
    }
}

impl Observer for PushObserver {
    fn event(&self, e: &Event) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &e.kind {
            EventKind::PhaseStarted { kind, .. } => st.0 = kind.clone(),
            EventKind::Marker { name, at, .. } => {
                st.1.push((name.clone(), at.timestamp_millis() as f64 / 1000.0))
            }
            _ => return,
        }
        let mut text = String::from(
            "# TYPE gameday_drill_active gauge\n# HELP gameday_drill_active 1 while a gameday drill runs, by phase.\n",
        );
        text.push_str(&format!(
            "gameday_drill_active{{phase=\"{}\"}} 1\n",
            escape(&st.0)
        ));
        if !st.1.is_empty() {
            text.push_str("# TYPE gameday_drill_marker_timestamp_seconds gauge\n# HELP gameday_drill_marker_timestamp_seconds When each marker of the running drill was set.\n");
            for (m, t) in &st.1 {
                text.push_str(&format!(
                    "gameday_drill_marker_timestamp_seconds{{marker=\"{}\"}} {t}\n",
                    escape(m)
                ));
            }
        }
        drop(st);
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(Push::Put(text));
        }
    }
}

async fn publish(url: String, mut rx: mpsc::UnboundedReceiver<Push>, journal: Arc<Journal>) {
    let client = crate::tls::http_builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let mut warned = false;
    while let Some(p) = rx.recv().await {
        let req = match p {
            Push::Put(text) => client.put(&url).body(text),
            Push::Delete => client.delete(&url),
        };
        let r = match req.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("answered {}", r.status())),
            Err(e) => Err(e.without_url().to_string()),
        };
        if let Err(e) = r
            && !warned
        {
            warned = true;
            let _ = journal.emit(EventKind::Warning {
                message: format!("the Pushgateway could not be updated ({e}); the drill goes on"),
                step: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_base64url_without_padding() {
        // As Python's base64.urlsafe_b64encode(...).rstrip(b"=").
        assert_eq!(b64url("hello"), "aGVsbG8");
        assert_eq!(b64url("eu/west?1"), "ZXUvd2VzdD8x");
        assert_eq!(b64url(""), "=");
    }
}
