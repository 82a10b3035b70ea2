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
    redactor: crate::redact::Redactor,
    observers: Mutex<Vec<Arc<dyn Observer>>>,
    path: PathBuf,
    /// Crash testing: SIGKILL this process right after writing this many events.
    crash_after: std::sync::OnceLock<usize>,
    written: std::sync::atomic::AtomicUsize,
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
            redactor: crate::redact::Redactor::new(secrets),
            observers: Mutex::new(vec![]),
            path: path.to_path_buf(),
            crash_after: std::sync::OnceLock::new(),
            written: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// For the crash sweep (`GAMEDAY_CRASH_AFTER_EVENT=N`): the process kills
    /// itself with a real SIGKILL right after the N-th event is written.
    pub fn crash_after(&self, n: usize) {
        let _ = self.crash_after.set(n);
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

    /// Replace every secret value in `text`, in any encoding.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.text(text)
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
        // Redact the typed event, string by string, before it is serialized:
        // the secret is found in its raw form, not in JSON's escaping of it.
        let mut redacted = if self.redactor.is_empty() {
            None
        } else {
            let mut value = serde_json::to_value(&event).map_err(std::io::Error::other)?;
            self.redactor.value(&mut value);
            Some(value)
        };
        let mut line = String::new();
        let result = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let r = self
                .chained_write(&mut inner, &mut event, redacted.as_mut(), &mut line)
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
            // Still holding the file: no other event can follow event N.
            let n = self
                .written
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            if self.crash_after.get() == Some(&n) {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
            r
        };
        // Observers see the redacted event; one that no longer parses once
        // redacted is written, not shown.
        let shown = match redacted {
            None => Some(event.clone()),
            Some(value) => serde_json::from_value::<Event>(value).ok(),
        };
        let observers = self
            .observers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(shown) = &shown {
            for o in observers {
                o.event(shown);
            }
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
        redacted: Option<&mut serde_json::Value>,
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
        event.prev = Some(prev.clone());
        *line = match redacted {
            None => serde_json::to_string(&*event),
            Some(value) => {
                if let Some(map) = value.as_object_mut() {
                    map.insert("prev".to_string(), serde_json::Value::String(prev));
                }
                serde_json::to_string(&*value)
            }
        }
        .map_err(std::io::Error::other)?;
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
