//! Notifications: an observer of the journal's event stream that tells the
//! playbook's `notify:` webhooks (see `playbook::notify`) when a run starts,
//! at each marker, when a guardrail aborts it, when it ends (outcome and
//! metrics), when restoration is incomplete (what is still applied and the
//! exact `gameday restore` command) and when the guard takes over.
//!
//! Sending happens on a background task, so a slow or dead webhook never
//! holds the drill up; a failed delivery is journaled (`notify_failed`, by
//! the target's name, never its URL) and never fails the drill.
//!
//! Formats:
//! - `json`: `{"event", "drill", "environment", "run_dir", "ts", "text", …}`
//!   with headers `X-Gameday-Event`, `X-Gameday-Timestamp` (Unix seconds) and,
//!   when the target has a `signing_key`, `X-Gameday-Signature:
//!   sha256=HEX`, the HMAC-SHA256 of `TIMESTAMP.BODY` with that key.
//! - `slack`: `{"text": "…"}` for Slack-compatible incoming webhooks.

use crate::journal::event::{CancelReason, Event, EventKind, Outcome};
use crate::journal::writer::Observer;
use crate::journal::{EventSink, Journal};
use crate::playbook::notify::{NotifyFormat, NotifyOn, NotifyTarget};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long one delivery may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// One notification, before it is shaped for a target.
#[derive(Debug, Clone)]
struct Message {
    about: NotifyOn,
    text: String,
    fields: Value,
}

/// The notifier of one process (a runner, or a guard that took over).
pub struct Notifier {
    observer: Arc<NotifyObserver>,
    task: tokio::task::JoinHandle<()>,
}

struct NotifyObserver {
    tx: Mutex<Option<mpsc::UnboundedSender<Message>>>,
    run_dir: PathBuf,
    state: Mutex<RunInfo>,
}

#[derive(Default)]
struct RunInfo {
    drill: String,
    environment: String,
    metrics: Vec<Value>,
}

impl Notifier {
    /// Start a notifier for `targets`, journaling failures into `journal`.
    /// `None` when there is nobody to tell.
    pub fn start(
        targets: &[NotifyTarget],
        journal: &EventSink,
        run_dir: &Path,
        drill: &str,
        environment: &str,
    ) -> Option<Notifier> {
        if targets.is_empty() {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let observer = Arc::new(NotifyObserver {
            tx: Mutex::new(Some(tx)),
            run_dir: run_dir.to_path_buf(),
            state: Mutex::new(RunInfo {
                drill: drill.to_string(),
                environment: environment.to_string(),
                metrics: vec![],
            }),
        });
        journal.add_observer(observer.clone());
        let task = tokio::spawn(deliver(targets.to_vec(), rx, journal.clone()));
        Some(Notifier { observer, task })
    }

    /// Send what is queued, waiting at most `limit`, then stop.
    pub async fn finish(self, limit: Duration) {
        self.observer
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let _ = tokio::time::timeout(limit, self.task).await;
    }
}

/// The `notify:` targets a run journaled in its `run_started` event (the
/// resolved playbook names where the URLs come from, never the URLs).
pub fn targets_from_journal(events: &[Event]) -> (Vec<NotifyTarget>, String, String) {
    events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::RunStarted {
                playbook,
                drill,
                environment,
                ..
            } => Some((
                serde_json::from_value(playbook.get("notify").cloned().unwrap_or(Value::Null))
                    .unwrap_or_default(),
                drill.clone(),
                environment.clone(),
            )),
            _ => None,
        })
        .unwrap_or_default()
}

impl Observer for NotifyObserver {
    fn event(&self, e: &Event) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.run_dir.display().to_string();
        let restore_cmd = format!("gameday restore {dir}");
        let drill = st.drill.clone();
        // Sent after the state lock is released (`send` takes it too).
        let mut end = None;
        let msg = match &e.kind {
            EventKind::RunStarted {
                drill,
                environment,
                operator,
                unattended,
                ..
            } => {
                st.drill = drill.clone();
                st.environment = environment.clone();
                Some(Message {
                    about: NotifyOn::Start,
                    text: format!(
                        "gameday: drill `{drill}` started in `{environment}` by {operator}{}",
                        if *unattended { " (unattended)" } else { "" }
                    ),
                    fields: json!({ "operator": operator, "unattended": unattended }),
                })
            }
            EventKind::Marker { name, at, .. } => Some(Message {
                about: NotifyOn::Marker,
                text: format!("gameday: drill `{drill}`: marker `{name}` at {at}"),
                fields: json!({ "marker": name, "at": at }),
            }),
            EventKind::Cancelled {
                reason: CancelReason::Guardrail,
                detail,
            } => Some(Message {
                about: NotifyOn::Abort,
                text: format!(
                    "gameday: drill `{drill}` aborted by a guardrail: {detail}; restoring"
                ),
                fields: json!({ "detail": detail }),
            }),
            EventKind::Metric {
                name,
                value,
                unit,
                target,
                met,
                ..
            } => {
                st.metrics.push(json!({
                    "name": name, "value": value, "unit": unit, "target": target, "met": met
                }));
                None
            }
            EventKind::RunFinished {
                outcome,
                exit_code,
                still_applied,
            } => {
                let table: Vec<String> = st.metrics.iter().map(metric_line).collect();
                let mut text = format!(
                    "gameday: drill `{drill}` in `{}` ended: {} (exit {exit_code})",
                    st.environment,
                    outcome.as_str()
                );
                if !table.is_empty() {
                    text.push_str(&format!("\n```\n{}\n```", table.join("\n")));
                }
                end = Some(Message {
                    about: NotifyOn::End,
                    text,
                    fields: json!({
                        "outcome": outcome.as_str(), "exit_code": exit_code,
                        "metrics": st.metrics, "still_applied": still_applied
                    }),
                });
                (*outcome == Outcome::RestoreFailed).then(|| Message {
                    about: NotifyOn::RestoreFailed,
                    text: format!(
                        "gameday: RESTORATION INCOMPLETE for drill `{drill}`: still applied: {}. Finish with: {restore_cmd}",
                        still_applied.join(", ")
                    ),
                    fields: json!({ "still_applied": still_applied, "restore_command": restore_cmd }),
                })
            }
            EventKind::RestoreStarted {
                by: Some(by),
                reason,
                operator,
                ..
            } if by == "guard" => Some(Message {
                about: NotifyOn::Guard,
                text: format!(
                    "gameday: the guard took over drill `{drill}` and is restoring: {}",
                    reason.as_deref().unwrap_or("the runner is gone")
                ),
                fields: json!({ "guard": operator, "reason": reason }),
            }),
            // Only a guard that took over has a notifier while restoring.
            EventKind::RestoreFinished { still_applied } => Some(Message {
                about: NotifyOn::Guard,
                text: if still_applied.is_empty() {
                    format!("gameday: the guard restored drill `{drill}`: everything is undone")
                } else {
                    format!(
                        "gameday: RESTORATION INCOMPLETE: the guard could not undo {} of drill `{drill}`. Finish with: {restore_cmd}",
                        still_applied.join(", ")
                    )
                },
                fields: json!({ "still_applied": still_applied, "restore_command": restore_cmd }),
            }),
            _ => None,
        };
        drop(st);
        for m in end.into_iter().chain(msg) {
            self.send(m);
        }
    }
}

impl NotifyObserver {
    fn send(&self, mut m: Message) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Value::Object(f) = &mut m.fields {
            f.insert("drill".into(), json!(st.drill));
            f.insert("environment".into(), json!(st.environment));
            f.insert("run_dir".into(), json!(self.run_dir.display().to_string()));
        }
        drop(st);
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(m);
        }
    }
}

fn metric_line(m: &Value) -> String {
    let value = match m["value"].as_f64() {
        None => "missing".to_string(),
        Some(v) if m["unit"] == "seconds" => format!("{v:.1} s"),
        Some(v) => format!("{v}"),
    };
    let met = match m["met"].as_bool() {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "-",
    };
    format!(
        "{:<28} {:>10}  {:<10} {met}",
        m["name"].as_str().unwrap_or(""),
        value,
        m["target"].as_str().unwrap_or("")
    )
}

/// Deliver messages in order until the channel closes.
async fn deliver(
    targets: Vec<NotifyTarget>,
    mut rx: mpsc::UnboundedReceiver<Message>,
    journal: Arc<Journal>,
) {
    let client = crate::tls::http_builder()
        .timeout(SEND_TIMEOUT)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    while let Some(m) = rx.recv().await {
        for t in targets.iter().filter(|t| t.wants(m.about)) {
            if let Err(error) = send_one(&client, t, &m).await {
                let _ = journal.emit(EventKind::NotifyFailed {
                    target: t.name.clone(),
                    about: m.about.as_str().into(),
                    error,
                });
            }
        }
    }
}

/// The HMAC-SHA256 signature of `timestamp.body`, as `sha256=HEX`.
pub fn signature(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One delivery. Errors never contain the URL (it is a secret).
async fn send_one(client: &reqwest::Client, t: &NotifyTarget, m: &Message) -> Result<(), String> {
    let url = t.url.read().map_err(|e| format!("no webhook URL: {e}"))?;
    let ts = chrono::Utc::now();
    let body = match t.format {
        NotifyFormat::Slack => json!({ "text": m.text }),
        NotifyFormat::Json => {
            let mut b = json!({
                "event": m.about.as_str(),
                "ts": ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "text": m.text,
            });
            if let (Value::Object(b), Value::Object(f)) = (&mut b, &m.fields) {
                for (k, v) in f {
                    b.insert(k.clone(), v.clone());
                }
            }
            b
        }
    };
    // Nothing leaves the process with a secret in it, in any encoding.
    let mut body = body;
    crate::redact::global().value(&mut body);
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let stamp = ts.timestamp().to_string();
    let mut req = client
        .post(&url)
        .header("content-type", "application/json")
        .header("x-gameday-event", m.about.as_str())
        .header("x-gameday-timestamp", &stamp);
    if let Some(k) = &t.signing_key {
        let key = k.read().map_err(|e| format!("no signing key: {e}"))?;
        req = req.header(
            "x-gameday-signature",
            signature(key.as_bytes(), &stamp, &body),
        );
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {}", resp.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked against Python's `hmac.new(key, b"1700000000." + body, sha256)`.
    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        assert_eq!(
            signature(b"Jefe", "1700000000", br#"{"text":"hi"}"#),
            "sha256=78c16fb1347cc108e4fe45972cb2c71d070d22cb5c714af583367a3b7d491ce5"
        );
    }
}
