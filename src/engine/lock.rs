//! One drill per environment at a time. The lock is an `flock` on a file
//! named after the environment, so a holder that died (SIGKILL, reboot)
//! releases it by itself; the file's content names the holder, for the
//! message to whoever is refused, and a taken-over stale holder is reported.

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    operator: String,
    drill: String,
    run_dir: String,
    started: String,
}

/// A held lock; released on drop.
pub struct EnvLock {
    _file: Flock<File>,
    pub path: PathBuf,
    /// The holder recorded in the file before us, whose process is gone.
    pub stale_previous: Option<String>,
}

/// Where locks live: `$GAMEDAY_LOCK_DIR`, else `$XDG_RUNTIME_DIR/gameday`, else `/tmp/gameday-locks`.
pub fn lock_dir() -> PathBuf {
    if let Ok(d) = std::env::var("GAMEDAY_LOCK_DIR") {
        return PathBuf::from(d);
    }
    match std::env::var("XDG_RUNTIME_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d).join("gameday"),
        _ => PathBuf::from("/tmp/gameday-locks"),
    }
}

/// Take the lock of `environment`, or say who holds it.
pub fn acquire(environment: &str, drill: &str, run_dir: &str) -> Result<EnvLock, String> {
    let dir = lock_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the lock directory {}: {e}", dir.display()))?;
    let safe: String = environment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{safe}.lock"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(f) => f,
        Err((mut f, _)) => {
            let mut s = String::new();
            let _ = f.read_to_string(&mut s);
            let who = serde_json::from_str::<Holder>(&s)
                .map(|h| {
                    format!(
                        "drill `{}` (pid {}, {}, started {}, run directory {})",
                        h.drill, h.pid, h.operator, h.started, h.run_dir
                    )
                })
                .unwrap_or_else(|_| "another gameday process".into());
            return Err(format!(
                "environment `{environment}` is locked by {who}; only one drill may run per environment at a time. Wait for it to finish (lock file {})",
                path.display()
            ));
        }
    };
    let mut prev = String::new();
    let _ = file.read_to_string(&mut prev);
    let stale_previous = serde_json::from_str::<Holder>(&prev).ok().map(|h| {
        format!(
            "drill `{}` (pid {}, {}, run directory {}) ended without releasing the lock",
            h.drill, h.pid, h.operator, h.run_dir
        )
    });
    let holder = Holder {
        pid: std::process::id(),
        operator: super::operator(),
        drill: drill.to_string(),
        run_dir: run_dir.to_string(),
        started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(
        serde_json::to_string(&holder)
            .unwrap_or_default()
            .as_bytes(),
    );
    let _ = file.sync_all();
    Ok(EnvLock {
        _file: file,
        path,
        stale_previous,
    })
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        // Clear the holder so the next run does not report a stale one.
        let _ = self._file.set_len(0);
    }
}
