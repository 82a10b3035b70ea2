//! `gameday guard --state s3://… [--environment NAME]…`: the remote guard,
//! a long-running service (a systemd unit, a Kubernetes Deployment in
//! another region) that needs no local files. Every poll it reads the
//! environment locks in S3; a lock whose run sent no heartbeat for longer
//! than its lease, and whose journal still shows changes applied, is
//! restored from the journal in S3 with the code of `gameday restore`
//! (journaled as restored by the guard, with the guard's host), then the
//! journal and reports go back to S3 and the lock is released.
//!
//! SIGTERM and SIGINT only set a flag read between runs, so a stop never
//! leaves a restoration half-done.

use super::{Location, client, download_dir, list, lock};
use crate::engine::guard::{install_stop_handler, stop_requested};
use std::time::Duration;

/// Run the service until SIGTERM. Returns the exit code.
pub fn run(loc: &Location, environments: &[String], poll: Duration) -> i32 {
    install_stop_handler();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gameday guard: cannot start the async runtime: {e}");
            return crate::engine::exit::RESTORE_FAILED;
        }
    };
    let c = rt.block_on(client());
    // Refuse to start against a bucket we cannot read.
    if let Err(e) = rt.block_on(list(&c, &loc.bucket, &loc.key("locks"))) {
        eprintln!(
            "gameday guard: cannot read {loc} at {}: {e}\n  = hint: check that the bucket exists, the credentials (AWS credential chain) and AWS_ENDPOINT_URL_S3",
            loc.endpoint()
        );
        return crate::engine::exit::INVALID;
    }
    let scope = if environments.is_empty() {
        "every environment".to_string()
    } else {
        format!("environments {}", environments.join(", "))
    };
    eprintln!(
        "gameday guard: watching {scope} in {loc} every {:.1} s",
        poll.as_secs_f64()
    );
    let mut failing = false;
    let mut seen = std::collections::BTreeSet::new();
    while !stop_requested() {
        match rt.block_on(poll_once(&c, loc, environments, &mut seen)) {
            Ok(()) => {
                if failing {
                    eprintln!("gameday guard: {loc} is reachable again");
                }
                failing = false;
            }
            Err(e) => {
                if !failing {
                    eprintln!("gameday guard: warning: cannot read {loc}: {e}; trying again");
                }
                failing = true;
            }
        }
        // Sleep in small steps so SIGTERM is answered quickly.
        let until = std::time::Instant::now() + poll;
        while std::time::Instant::now() < until && !stop_requested() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    eprintln!("gameday guard: stopped by a signal; no restoration was in progress");
    crate::engine::exit::PASSED
}

async fn poll_once(
    c: &aws_sdk_s3::Client,
    loc: &Location,
    environments: &[String],
    seen: &mut std::collections::BTreeSet<String>,
) -> Result<(), String> {
    let keys = list(c, &loc.bucket, &loc.key("locks")).await?;
    for k in keys {
        let Some(env) = k
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".json"))
            .map(String::from)
        else {
            continue;
        };
        let Some(h) = lock::inspect(c, loc, &env).await? else {
            continue;
        };
        if !environments.is_empty() && !environments.contains(&h.holder.environment) {
            continue;
        }
        if seen.insert(h.holder.run_id.clone()) {
            eprintln!(
                "gameday guard: watching {} (last heartbeat {:.1} s ago, lease {:.0} s)",
                h.holder.describe(),
                h.silent_for,
                h.holder.lease_seconds
            );
        }
        if !h.expired || h.restored {
            continue;
        }
        restore_one(c, loc, &h).await;
        if stop_requested() {
            return Ok(());
        }
    }
    Ok(())
}

async fn restore_one(c: &aws_sdk_s3::Client, loc: &Location, h: &lock::HolderState) {
    let run_key = loc.run_key(&h.holder.run_id);
    let dir = super::cache_dir(&loc.bucket, &run_key);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("gameday guard: cannot create {}: {e}", dir.display());
        return;
    }
    if let Err(e) = download_dir(c, &loc.bucket, &run_key, &dir).await {
        eprintln!("gameday guard: cannot download {}: {e}", h.holder.run);
        return;
    }
    let reason = format!(
        "the runner on {} (pid {}) sent no heartbeat to S3 for {:.1} s, more than its lease of {:.0} s; restored by the remote guard on {}",
        h.holder.host,
        h.holder.pid,
        h.silent_for,
        h.holder.lease_seconds,
        crate::engine::operator()
    );
    eprintln!("gameday guard: {}: {reason}; restoring", h.holder.run);
    let code = crate::cli::restore::restore(
        &dir,
        Default::default(),
        crate::engine::restore::Restorer::Guard { reason },
    )
    .await;
    if let Err(e) = crate::report::write_reports(&dir, None, None) {
        eprintln!("gameday guard: could not write the reports: {e}");
    }
    // Upload even a partial restoration: the journal says what is left.
    let mut tries = 0;
    while let Err(e) = super::upload_dir(c, &loc.bucket, &run_key, &dir).await {
        tries += 1;
        if tries >= 20 {
            eprintln!(
                "gameday guard: could not upload the restored run to {}: {e}; the local copy is in {}",
                h.holder.run,
                dir.display()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if code == crate::engine::exit::PASSED {
        lock::release(c, loc, &h.holder.environment, &h.holder.run_id).await;
        eprintln!("gameday guard: {} restored; lock released", h.holder.run);
    } else {
        eprintln!(
            "gameday guard: {} is not fully restored (exit {code}); the lock stays. Fix the cause and run `gameday restore {}`",
            h.holder.run, h.holder.run
        );
    }
}

/// `gameday restore|report s3://BUCKET/PREFIX/runs/RUN_ID`: a local copy.
pub async fn fetch_run(
    url: &str,
) -> Result<(aws_sdk_s3::Client, String, String, std::path::PathBuf), String> {
    let (bucket, key) = super::split_url(url)?;
    let c = client().await;
    let dir = super::cache_dir(&bucket, &key);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let n = download_dir(&c, &bucket, &key, &dir).await.map_err(|e| {
        format!(
            "cannot download {url} from {}: {e}; check the credentials (AWS credential chain) and AWS_ENDPOINT_URL_S3",
            Location::parse(url).map(|l| l.endpoint()).unwrap_or_default()
        )
    })?;
    if n == 0 || !dir.join(crate::journal::JOURNAL_FILE).is_file() {
        return Err(format!(
            "{url} holds no run (no journal.jsonl); name a run such as s3://BUCKET/PREFIX/runs/RUN_ID"
        ));
    }
    Ok((c, bucket, key, dir))
}
