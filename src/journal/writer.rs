//! Appending events: stamp, redact secrets, write one line, fsync when the
//! event is critical, then hand the event to the live observers (terminal view).

use super::event::{Event, EventKind};
use chrono::Utc;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Something that watches events as they happen (the terminal view).
pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);
}

struct Inner {
    file: File,
    /// Write failures after the first are not repeated on the terminal.
    failed: bool,
    /// Hash chain (`super::chain`): the last line's hash and the file's
    /// length after it, to notice lines appended by another process.
    chain: Option<(String, u64)>,
}

/// The journal file of one run directory.
pub struct Journal {
    inner: Mutex<Inner>,
    started: Instant,
    /// Elapsed seconds to add (a restore appending to an older journal).
    base_elapsed: f64,
    secrets: Vec<String>,
    observers: Mutex<Vec<Arc<dyn Observer>>>,
    path: PathBuf,
}

/// A cheap handle that anything in the run can emit events through.
pub type EventSink = Arc<Journal>;

impl Journal {
    /// Create (or append to) `path`. `secrets` are replaced by `[redacted]` in every line.
    pub fn open(
        path: &Path,
        secrets: Vec<String>,
        base_elapsed: f64,
    ) -> std::io::Result<Arc<Journal>> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        // Make the file's existence durable too.
        if let Some(dir) = path.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(Arc::new(Journal {
            inner: Mutex::new(Inner {
                file,
                failed: false,
                chain: None,
            }),
            started: Instant::now(),
            base_elapsed,
            secrets,
            observers: Mutex::new(vec![]),
            path: path.to_path_buf(),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn add_observer(&self, o: Arc<dyn Observer>) {
        self.observers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(o);
    }

    /// Seconds since the run began (monotonic).
    pub fn elapsed(&self) -> f64 {
        self.base_elapsed + self.started.elapsed().as_secs_f64()
    }

    /// Replace every secret value in `text`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[redacted]");
            }
        }
        out
    }

    /// Stamp, write (fsync'd if critical) and broadcast an event. Returns
    /// an error only when the journal could not be written: the caller must
    /// not perform a mutating call it could not journal.
    pub fn emit(&self, kind: EventKind) -> std::io::Result<Event> {
        let critical = kind.is_critical();
        let mut event = Event {
            ts: Utc::now(),
            elapsed: self.elapsed(),
            prev: None,
            kind,
        };
        let mut line = String::new();
        let result = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let r = self
                .chained_write(&mut inner, &mut event, &mut line)
                .and_then(|_| {
                    if critical {
                        inner.file.sync_data()
                    } else {
                        Ok(())
                    }
                });
            if r.is_err() && !inner.failed {
                inner.failed = true;
            }
            r
        };
        // Observers see the redacted event.
        let shown: Event = if self.secrets.is_empty() {
            event.clone()
        } else {
            serde_json::from_str(line.trim_end()).unwrap_or_else(|_| event.clone())
        };
        let observers = self
            .observers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for o in observers {
            o.event(&shown);
        }
        result.map(|_| event)
    }

    /// Append `event` as one line under an exclusive `flock` (other
    /// processes, such as `gameday note`, append to the same file), with
    /// `prev` set to the hash of the line before it on disk. One `write`
    /// of the whole line: an `O_APPEND` write is never split by another's.
    fn chained_write(
        &self,
        inner: &mut Inner,
        event: &mut Event,
        line: &mut String,
    ) -> std::io::Result<()> {
        use nix::fcntl::{Flock, FlockArg};
        let _lock = Flock::lock(inner.file.try_clone()?, FlockArg::LockExclusive)
            .map_err(|(_, e)| std::io::Error::from(e))?;
        let len = inner.file.metadata()?.len();
        let mut out = String::new();
        let prev = match &inner.chain {
            Some((hash, at)) if *at == len => hash.clone(),
            _ => {
                let tail = super::chain::tail(&mut inner.file)?;
                if tail.needs_newline {
                    out.push('\n'); // end a crash's torn line; it stays in the chain
                }
                tail.prev
            }
        };
        event.prev = Some(prev);
        *line = serde_json::to_string(&*event).map_err(std::io::Error::other)?;
        if !self.secrets.is_empty() {
            *line = self.redact(line);
        }
        let hash = super::chain::line_hash(line.as_bytes());
        line.push('\n');
        out.push_str(line);
        inner.file.write_all(out.as_bytes())?;
        inner.chain = Some((hash, len + out.len() as u64));
        Ok(())
    }

    /// Flush and fsync everything written so far.
    pub fn sync(&self) -> std::io::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.file.flush()?;
        inner.file.sync_data()
    }
}
