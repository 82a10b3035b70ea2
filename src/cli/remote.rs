//! `gameday restore|report|history s3://…`: download the run (or every
//! run) from the S3 state into a local cache directory, run the same code
//! as for a local directory, and upload what it appended or rendered.

use crate::engine::exit;
use std::path::PathBuf;

/// `gameday restore s3://BUCKET/PREFIX/runs/RUN_ID`.
pub async fn restore(url: &str, quiet: bool) -> i32 {
    let (c, bucket, key, dir) = match crate::state::remote::fetch_run(url).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    let code = super::restore::restore(
        &dir,
        super::restore::RestoreOptions {
            quiet,
            ..Default::default()
        },
        crate::engine::restore::Restorer::Command,
    )
    .await;
    let _ = crate::report::write_reports(&dir, None, None);
    if let Err(e) = crate::state::upload_dir(&c, &bucket, &key, &dir).await {
        eprintln!(
            "gameday: could not upload the restored journal to {url}: {e}\n  = hint: the local copy is in {}; upload it with `aws s3 sync {} {url}`",
            dir.display(),
            dir.display()
        );
        return exit::RESTORE_FAILED;
    }
    if code == exit::PASSED {
        // The run is restored: its environment lock (if still held) is free.
        if let Some((loc, env, run_id)) = run_lock(url, &dir) {
            crate::state::lock::release(&c, &loc, &env, &run_id).await;
        }
    }
    code
}

/// The state location, environment and run id of a downloaded run.
fn run_lock(url: &str, dir: &std::path::Path) -> Option<(crate::state::Location, String, String)> {
    let (bucket, key) = crate::state::split_url(url).ok()?;
    let (prefix, run_id) = key.rsplit_once("/runs/")?;
    let events = crate::journal::read_journal(&dir.join(crate::journal::JOURNAL_FILE))
        .ok()?
        .events;
    let env = events.iter().find_map(|e| match &e.kind {
        crate::journal::EventKind::RunStarted { environment, .. } => Some(environment.clone()),
        _ => None,
    })?;
    Some((
        crate::state::Location {
            bucket,
            prefix: prefix.to_string(),
        },
        env,
        run_id.to_string(),
    ))
}

/// `gameday report s3://BUCKET/PREFIX/runs/RUN_ID`: render into the local
/// copy (printed as the last line) and upload the reports beside the journal.
pub fn report(url: &str, template: Option<PathBuf>, junit: Option<PathBuf>) -> i32 {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let (c, bucket, key, dir) = match rt.block_on(crate::state::remote::fetch_run(url)) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    match crate::report::write_reports(&dir, template.as_deref(), junit.as_deref()) {
        Ok(s) => {
            if let Err(e) = rt.block_on(crate::state::upload_reports(&c, &bucket, &key, &dir)) {
                eprintln!("gameday: warning: could not upload the reports to {url}: {e}");
            }
            eprintln!(
                "gameday: reports of drill `{}` ({}) written to {} and {url}",
                s.run.drill,
                s.outcome.as_str(),
                dir.display()
            );
            println!("{}", dir.display());
            exit::PASSED
        }
        Err(e) => {
            eprintln!("gameday: {e}");
            exit::INVALID
        }
    }
}

/// `gameday history s3://BUCKET/PREFIX`: every run of the state, copied
/// into the local cache; returns the directory that holds them.
pub fn fetch_runs(url: &str) -> Result<PathBuf, String> {
    let loc = crate::state::Location::parse(url)?;
    let rt = super::runtime().map_err(|_| "cannot start the async runtime".to_string())?;
    rt.block_on(async {
        let c = crate::state::client().await;
        let key = loc.key("runs");
        let dir = crate::state::cache_dir(&loc.bucket, &key);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        crate::state::download_dir(&c, &loc.bucket, &key, &dir)
            .await
            .map_err(|e| {
                format!(
                    "cannot download the runs of {url} from {}: {e}; check the credentials (AWS credential chain) and AWS_ENDPOINT_URL_S3",
                    loc.endpoint()
                )
            })?;
        Ok(dir)
    })
}
