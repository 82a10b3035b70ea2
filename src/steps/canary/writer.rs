//! The writer task: the schedule, one write at a time, each acknowledged write journaled.

use super::http::write_http;
use super::pg::{PgWrite, write_pg};
use super::*;

pub(super) struct LoopCtx {
    pub(super) shared: Arc<Shared>,
    pub(super) events: EventSink,
    pub(super) http: reqwest::Client,
    pub(super) playbook: Arc<Playbook>,
}

pub(super) async fn write_loop(
    cx: LoopCtx,
    mut stop: watch::Receiver<bool>,
    first: oneshot::Sender<Result<String, String>>,
) {
    let shared = cx.shared.clone();
    let spec = &shared.spec;
    let mut first = Some(first);
    let mut ticker = tokio::time::interval(spec.rate.interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let max = spec.max_writes.unwrap_or(DEFAULT_MAX_WRITES);
    let timeout = shared.write_timeout();
    let mut pg: Option<PgConn> = None;
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = ticker.tick() => {}
        }
        if *stop.borrow() {
            break;
        }
        if seq >= max {
            shared.lock().ended = Some(format!(
                "stopped after max_writes = {max}; raise it for longer drills"
            ));
            break;
        }
        seq += 1;
        let (stream_ix, key, region) = {
            let mut st = shared.lock();
            st.attempted += 1;
            shared.slot(seq, &st)
        };
        let started = Instant::now();
        let result = match (&spec.http, &spec.postgres) {
            (Some(h), _) => {
                let stream: Option<&CanaryStream> = spec.streams.get(stream_ix);
                let seq_s = seq.to_string();
                let vals = [
                    ("region", region.as_str()),
                    ("key", key.as_str()),
                    ("seq", seq_s.as_str()),
                    (
                        "jurisdiction",
                        stream.and_then(|s| s.jurisdiction.as_deref()).unwrap_or(""),
                    ),
                    ("stream", stream.map_or("", |s| s.name.as_str())),
                    ("run", shared.token.as_str()),
                ];
                write_http(&cx.http, h, &vals, timeout).await
            }
            (None, Some(p)) => {
                let w = PgWrite {
                    name: &region,
                    table: &p.table,
                    token: &shared.token,
                    key: &key,
                    seq,
                };
                write_pg(&cx.playbook, &mut pg, w, timeout).await
            }
            (None, None) => WriteResult::Rejected("no target".into()),
        };
        let report = match result {
            WriteResult::Acked {
                region: answered,
                version,
            } => {
                let region = answered.unwrap_or(region);
                let acked_at = Utc::now();
                let journaled = cx.events.emit(EventKind::CanaryWrite {
                    step: shared.step.clone(),
                    seq,
                    key: key.clone(),
                    region: region.clone(),
                    version: version.clone(),
                    acked_at,
                });
                let mut st = shared.lock();
                if let Err(e) = journaled {
                    st.ended = Some(format!(
                        "stopped: acknowledged write {seq} could not be journaled ({e})"
                    ));
                    drop(st);
                    if let Some(tx) = first.take() {
                        let _ = tx.send(Err(format!("the journal cannot be written: {e}")));
                    }
                    break;
                }
                st.region(&region).acked += 1;
                st.acked.push(Ack {
                    seq,
                    key,
                    stream: stream_ix,
                    region: region.clone(),
                    version,
                    acked_at,
                });
                Ok(format!(
                    "first write acknowledged by {region} in {} ms",
                    started.elapsed().as_millis()
                ))
            }
            WriteResult::Rejected(msg) => {
                let mut st = shared.lock();
                st.rejected += 1;
                st.region(&region).rejected += 1;
                st.error(&region, &msg);
                Err(format!("first write to {region} was rejected: {msg}"))
            }
            WriteResult::Unknown(msg) => {
                let mut st = shared.lock();
                st.unknown.push(seq);
                st.region(&region).unknown += 1;
                st.error(&region, &msg);
                Err(format!("first write to {region} got no answer: {msg}"))
            }
        };
        if let Some(tx) = first.take() {
            let _ = tx.send(report);
        }
    }
    shared.lock().stopped_at = Some(Utc::now());
}
