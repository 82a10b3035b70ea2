//! Shared run state in S3 (`--state s3://BUCKET/PREFIX`). The local run
//! directory stays the source of truth while a drill runs; this module keeps
//! a copy of it in S3 so that a run outlives its host:
//!
//! - `PREFIX/locks/ENV.json`: the environment lock, created with a
//!   conditional write (`If-None-Match: *`); its lease is the heartbeat of
//!   the run it names (see [`lock`]);
//! - `PREFIX/runs/RUN_ID/journal.jsonl` (and, at the end, the reports):
//!   re-put whole within a second of every change (see [`sync`]);
//! - `PREFIX/runs/RUN_ID/heartbeat.json`: re-put every second while the
//!   runner lives.
//!
//! `gameday restore|report|history s3://…` download a run into a local cache
//! directory, run the same code as for a local directory, and upload what it
//! appended. `gameday guard --state s3://…` ([`remote`]) restores runs whose
//! heartbeat is older than their lease.
//!
//! Credentials come from the AWS credential chain; `AWS_ENDPOINT_URL_S3`
//! points at another endpoint (then with path-style addressing, as moto and
//! most S3-compatible stores want).

pub mod lock;
pub mod remote;
pub mod sync;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file in a run directory that says where its state lives in S3, for
/// the local guard (which uploads what it appended after restoring).
pub const STATE_FILE: &str = "state.json";

/// `s3://BUCKET/PREFIX`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl Location {
    pub fn parse(s: &str) -> Result<Location, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{s}` is not an S3 location; write s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{s}` names no bucket; write s3://BUCKET/PREFIX"));
        }
        Ok(Location {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    pub fn is_s3(s: &str) -> bool {
        s.starts_with("s3://")
    }

    pub fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }

    pub fn lock_key(&self, environment: &str) -> String {
        self.key(&format!("locks/{}.json", safe(environment)))
    }

    pub fn run_key(&self, run_id: &str) -> String {
        self.key(&format!("runs/{run_id}"))
    }

    /// `s3://BUCKET/PREFIX/runs/RUN_ID`: what `gameday restore` takes.
    pub fn run_url(&self, run_id: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.run_key(run_id))
    }

    /// Where the client sends requests, for messages.
    pub fn endpoint(&self) -> String {
        std::env::var("AWS_ENDPOINT_URL_S3")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|_| "the AWS S3 endpoint of the configured region".into())
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The heartbeat object of a run: the lease of its lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub ts: chrono::DateTime<chrono::Utc>,
    pub lease_seconds: f64,
    pub host: String,
    pub pid: u32,
    pub run_id: String,
    pub environment: String,
}

/// An S3 client from the credential chain, with short timeouts so that an
/// unreachable endpoint is noticed within seconds.
pub async fn client() -> Client {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::aws_http_client())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(100)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await;
    let mut b = aws_sdk_s3::config::Builder::from(&sdk);
    if sdk.region().is_none() {
        b = b.region(aws_config::Region::new("us-east-1"));
    }
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL_S3") {
        b = b.endpoint_url(url).force_path_style(true);
    } else if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        b = b.force_path_style(true);
    }
    Client::from_conf(b.build())
}

/// A short description of an SDK error (the service's code and message, or
/// the transport failure).
pub fn describe<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let code = s.err().code().unwrap_or("error");
            let msg = s.err().message().unwrap_or("");
            format!("HTTP {status} {code} {msg}").trim_end().to_string()
        }
        SdkError::DispatchFailure(d) => format!("cannot connect: {:?}", d.as_connector_error()),
        SdkError::TimeoutError(_) => "timed out".into(),
        other => {
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(x) = src {
                s.push_str(&format!(": {x}"));
                src = x.source();
            }
            s
        }
    }
}

/// The HTTP status of a service error, if the service answered.
pub fn status<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<u16> {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => Some(s.raw().status().as_u16()),
        _ => None,
    }
}

pub async fn put(c: &Client, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), String> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// The object's bytes, `Ok(None)` when there is no such key.
pub async fn get(c: &Client, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
    match c.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => o
            .body
            .collect()
            .await
            .map(|b| Some(b.into_bytes().to_vec()))
            .map_err(|e| e.to_string()),
        Err(e) if status(&e) == Some(404) => Ok(None),
        Err(e) => Err(describe(&e)),
    }
}

/// Every key under `prefix/`.
pub async fn list(c: &Client, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let mut token: Option<String> = None;
    loop {
        let r = c
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{prefix}/"))
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        out.extend(
            r.contents()
                .iter()
                .filter_map(|o| o.key().map(String::from)),
        );
        match r.next_continuation_token() {
            Some(t) if r.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

/// Files of a run directory worth keeping in S3 (not the local guard's
/// lock or log), relative to it.
fn run_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(rel) = p.strip_prefix(base) {
                let name = rel.to_string_lossy();
                if !matches!(
                    name.as_ref(),
                    crate::engine::guard::RESTORE_LOCK_FILE
                        | crate::engine::guard::HEARTBEAT_FILE
                        | STATE_FILE
                ) {
                    out.push(rel.to_path_buf());
                }
            }
        }
    }
    let mut out = vec![];
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Upload every file of `dir` under `key/`.
pub async fn upload_dir(c: &Client, bucket: &str, key: &str, dir: &Path) -> Result<(), String> {
    upload_files(c, bucket, key, dir, |_| true).await
}

/// Upload the rendered reports of `dir` (not the journal or chart data,
/// which another writer may have extended meanwhile).
pub async fn upload_reports(c: &Client, bucket: &str, key: &str, dir: &Path) -> Result<(), String> {
    upload_files(c, bucket, key, dir, |rel| {
        rel != crate::journal::JOURNAL_FILE && !rel.starts_with("series/")
    })
    .await
}

async fn upload_files(
    c: &Client,
    bucket: &str,
    key: &str,
    dir: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<(), String> {
    for rel in run_files(dir)
        .into_iter()
        .filter(|r| keep(&r.to_string_lossy()))
    {
        let body = std::fs::read(dir.join(&rel)).map_err(|e| format!("{}: {e}", rel.display()))?;
        put(c, bucket, &format!("{key}/{}", rel.to_string_lossy()), body).await?;
    }
    Ok(())
}

/// A local directory for a copy of `s3://bucket/key`.
pub fn cache_dir(bucket: &str, key: &str) -> PathBuf {
    let base = std::env::var_os("GAMEDAY_S3_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("gameday/s3")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/gameday/s3")))
        .unwrap_or_else(|| std::env::temp_dir().join("gameday-s3"));
    base.join(safe(bucket)).join(key)
}

/// Download every object under `key/` into `dir` (replacing older copies).
/// Returns how many objects there were.
pub async fn download_dir(
    c: &Client,
    bucket: &str,
    key: &str,
    dir: &Path,
) -> Result<usize, String> {
    let keys = list(c, bucket, key).await?;
    for k in &keys {
        let rel = &k[key.len() + 1..];
        if rel.is_empty() || rel.split('/').any(|p| p == ".." || p.is_empty()) {
            continue;
        }
        let Some(body) = get(c, bucket, k).await? else {
            continue;
        };
        let path = dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        std::fs::write(&path, body).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(keys.len())
}

/// A run location given on the command line: `s3://BUCKET/KEY` → bucket and key.
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let l = Location::parse(url)?;
    if l.prefix.is_empty() {
        return Err(format!(
            "`{url}` names a bucket but no run; write s3://BUCKET/PREFIX/runs/RUN_ID"
        ));
    }
    Ok((l.bucket, l.prefix))
}

/// What `state.json` in a run directory says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub state: Location,
    pub run_id: String,
    pub environment: String,
}

impl RunState {
    pub fn read(run_dir: &Path) -> Option<RunState> {
        let s = std::fs::read_to_string(run_dir.join(STATE_FILE)).ok()?;
        serde_json::from_str(&s).ok()
    }
}

/// After a local restoration (local guard): upload the run directory and
/// release the environment lock if this run still holds it. Best effort;
/// returns a message for the log.
pub async fn publish_after_restore(run_dir: &Path) -> Option<String> {
    let rs = RunState::read(run_dir)?;
    let c = client().await;
    let key = rs.state.run_key(&rs.run_id);
    if let Err(e) = upload_dir(&c, &rs.state.bucket, &key, run_dir).await {
        return Some(format!(
            "could not upload the restored journal to s3://{}/{key}: {e}",
            rs.state.bucket
        ));
    }
    lock::release(&c, &rs.state, &rs.environment, &rs.run_id).await;
    Some(format!(
        "uploaded the restored run to s3://{}/{key} and released the lock",
        rs.state.bucket
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_name_their_objects() {
        let l = Location::parse("s3://bucket/a/b/").unwrap();
        assert_eq!(l.bucket, "bucket");
        assert_eq!(l.prefix, "a/b");
        assert_eq!(l.lock_key("prod eu"), "a/b/locks/prod_eu.json");
        assert_eq!(l.run_url("R1"), "s3://bucket/a/b/runs/R1");
        let bare = Location::parse("s3://bucket").unwrap();
        assert_eq!(bare.lock_key("prod"), "locks/prod.json");
        assert!(Location::parse("bucket/x").is_err());
        assert!(Location::parse("s3:///x").is_err());
        assert!(split_url("s3://bucket").is_err());
    }
}
