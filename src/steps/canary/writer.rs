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

/// One scheduled write: its sequence number, stream, key and region.
struct Slot {
    seq: u64,
    stream: usize,
    key: String,
    region: String,
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
        let (stream, key, region) = {
            let mut st = shared.lock();
            st.attempted += 1;
            shared.slot(seq, &st)
        };
        let slot = Slot {
            seq,
            stream,
            key,
            region,
        };
        let started = Instant::now();
        let result = send(&cx, &mut pg, &slot, timeout).await;
        let report = match record(&cx, slot, result, started) {
            Ok(report) => report,
            Err(e) => {
                if let Some(tx) = first.take() {
                    let _ = tx.send(Err(format!("the journal cannot be written: {e}")));
                }
                break;
            }
        };
        if let Some(tx) = first.take() {
            let _ = tx.send(report);
        }
    }
    shared.lock().stopped_at = Some(Utc::now());
}

/// Make one write to the canary's target (HTTP or Postgres).
async fn send(
    cx: &LoopCtx,
    pg: &mut Option<PgConn>,
    slot: &Slot,
    timeout: Duration,
) -> WriteResult {
    let shared = &cx.shared;
    let spec = &shared.spec;
    let Slot {
        seq,
        stream: stream_ix,
        key,
        region,
    } = slot;
    let seq = *seq;
    match (&spec.http, &spec.postgres) {
        (Some(h), _) => {
            let stream: Option<&CanaryStream> = spec.streams.get(*stream_ix);
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
                name: region,
                table: &p.table,
                token: &shared.token,
                key,
                seq,
            };
            write_pg(&cx.playbook, pg, w, timeout).await
        }
        (None, None) => WriteResult::Rejected("no target".into()),
    }
}

/// Count a write's result in the writer's state, journaling an acknowledged
/// one. Returns what the first write reports (acknowledged or why not), or the
/// journal's error when an acknowledged write could not be journaled (the
/// writer stops).
fn record(
    cx: &LoopCtx,
    slot: Slot,
    result: WriteResult,
    started: Instant,
) -> Result<Result<String, String>, std::io::Error> {
    let shared = &cx.shared;
    let Slot {
        seq,
        stream: stream_ix,
        key,
        region,
    } = slot;
    Ok(match result {
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
                return Err(e);
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
    })
}
