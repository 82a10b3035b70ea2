//! The environment lock in S3: `PREFIX/locks/ENV.json`, created only if
//! absent (`If-None-Match: *`), so runners on different machines exclude
//! each other. Its lease is the heartbeat of the run it names: a lock whose
//! run sent no heartbeat for longer than its lease is stale, and may be taken
//! over only once that run's journal in S3 shows nothing left applied
//! (restored by a guard or `gameday restore`, or nothing was ever changed).

use super::{Heartbeat, Location, describe, get, status};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub run_id: String,
    pub run: String,
    pub drill: String,
    pub environment: String,
    pub host: String,
    pub pid: u32,
    pub lease_seconds: f64,
    pub started: chrono::DateTime<chrono::Utc>,
}

impl Holder {
    pub fn describe(&self) -> String {
        format!(
            "drill `{}` ({}, pid {}, started {}, run {})",
            self.drill,
            self.host,
            self.pid,
            self.started
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.run
        )
    }
}

/// What the state of a lock holder's run is.
pub struct HolderState {
    pub holder: Holder,
    /// Seconds since its last heartbeat (or since it took the lock).
    pub silent_for: f64,
    pub expired: bool,
    /// The journal in S3 shows nothing still applied.
    pub restored: bool,
}

/// Read the lock of `environment` and judge its holder. `Ok(None)`: no lock.
pub async fn inspect(
    c: &Client,
    loc: &Location,
    environment: &str,
) -> Result<Option<HolderState>, String> {
    let Some(body) = get(c, &loc.bucket, &loc.lock_key(environment)).await? else {
        return Ok(None);
    };
    let holder: Holder = serde_json::from_slice(&body).map_err(|e| {
        format!(
            "s3://{}/{} is not a gameday lock: {e}",
            loc.bucket,
            loc.lock_key(environment)
        )
    })?;
    let run_key = loc.run_key(&holder.run_id);
    let beat: Option<Heartbeat> = get(c, &loc.bucket, &format!("{run_key}/heartbeat.json"))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok());
    let last = beat.as_ref().map_or(holder.started, |b| b.ts);
    let silent_for = (chrono::Utc::now() - last).num_milliseconds().max(0) as f64 / 1000.0;
    let expired = silent_for > holder.lease_seconds;
    let restored = if expired {
        let journal = get(c, &loc.bucket, &format!("{run_key}/journal.jsonl"))
            .await?
            .unwrap_or_default();
        nothing_applied(&journal)
    } else {
        false
    };
    Ok(Some(HolderState {
        holder,
        silent_for,
        expired,
        restored,
    }))
}

/// Whether a journal's text shows nothing still applied.
pub fn nothing_applied(journal: &[u8]) -> bool {
    let events: Vec<crate::journal::Event> = String::from_utf8_lossy(journal)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    crate::engine::restore::pending_from_journal(&events).is_empty()
}

/// Take the lock of `environment` for `holder`, or say why not.
pub async fn acquire(c: &Client, loc: &Location, holder: &Holder) -> Result<(), String> {
    let key = loc.lock_key(&holder.environment);
    let body = serde_json::to_vec(holder).map_err(|e| e.to_string())?;
    for attempt in 0..2 {
        let r = c
            .put_object()
            .bucket(&loc.bucket)
            .key(&key)
            .if_none_match("*")
            .body(ByteStream::from(body.clone()))
            .send()
            .await;
        let e = match r {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if !matches!(status(&e), Some(412 | 409)) {
            return Err(format!(
                "cannot take the lock s3://{}/{key} at {}: {}. Check that the bucket exists, the credentials (AWS credential chain) and AWS_ENDPOINT_URL_S3; or run without --state to keep the state on this machine",
                loc.bucket,
                loc.endpoint(),
                describe(&e)
            ));
        }
        let Some(h) = inspect(c, loc, &holder.environment).await? else {
            continue; // released meanwhile: try again
        };
        if !h.expired {
            return Err(format!(
                "environment `{}` is locked in s3://{}/{key} by {}, which sent a heartbeat {:.0} s ago (lease {:.0} s); only one drill may run per environment at a time. Wait for it to finish",
                holder.environment,
                loc.bucket,
                h.holder.describe(),
                h.silent_for,
                h.holder.lease_seconds
            ));
        }
        if !h.restored {
            return Err(format!(
                "environment `{}` is locked in s3://{}/{key} by {}, whose runner sent no heartbeat for {:.0} s (lease {:.0} s) and whose run is not restored yet. Wait for `gameday guard` to restore it, or run `gameday restore {}`, then start again",
                holder.environment,
                loc.bucket,
                h.holder.describe(),
                h.silent_for,
                h.holder.lease_seconds,
                h.holder.run
            ));
        }
        if attempt == 0 {
            // The holder is gone and its run restored: take over.
            c.delete_object()
                .bucket(&loc.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| describe(&e))?;
        }
    }
    Err(format!(
        "environment `{}`: another runner took the lock s3://{}/{key} at the same time; try again",
        holder.environment, loc.bucket
    ))
}

/// Delete the lock of `environment` if `run_id` still holds it.
pub async fn release(c: &Client, loc: &Location, environment: &str, run_id: &str) -> bool {
    let key = loc.lock_key(environment);
    let ours = match get(c, &loc.bucket, &key).await {
        Ok(Some(b)) => serde_json::from_slice::<Holder>(&b).is_ok_and(|h| h.run_id == run_id),
        _ => false,
    };
    ours && c
        .delete_object()
        .bucket(&loc.bucket)
        .key(&key)
        .send()
        .await
        .is_ok()
}
