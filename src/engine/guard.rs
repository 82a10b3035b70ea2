//! The local dead-man's switch. `gameday run` starts a guard: the same
//! binary (`/proc/self/exe guard --local RUN_DIR …`), detached in its own
//! session so it survives the runner, with no terminal and a log file in the
//! run directory. The runner touches `RUN_DIR/heartbeat` every second.
//!
//! The guard polls twice a second. When the runner's process is gone (or
//! its heartbeat is older than the playbook's `lease:`, in which case the
//! guard first SIGKILLs the hung runner) and the journal has no
//! `run_finished`, it restores with the code of `gameday restore`, journals
//! that the guard restored and why, notifies, and exits. When the run
//! finishes normally, or the operator abandoned restoration on purpose
//! (third signal), it exits without touching anything.
//!
//! The runner's restoration, the guard and `gameday restore` never undo at
//! the same time: each holds `RUN_DIR/restore.lock` (an `flock`) while it does.
//!
//! The watch loop is plain blocking code with no async runtime, so an idle
//! guard stays small; a runtime is built only to restore.

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

pub const HEARTBEAT_FILE: &str = "heartbeat";
pub const RESTORE_LOCK_FILE: &str = "restore.lock";
pub const GUARD_LOG_FILE: &str = "guard.log";
/// How often the runner touches its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How often the guard looks: once a second, like the heartbeat. A death is
/// seen within a second; a silent runner within its lease plus a second.
const POLL: Duration = Duration::from_secs(1);

/// A held restore lock of one run directory; released on drop.
pub struct RestoreLock(#[allow(dead_code)] Flock<File>);

/// Take `RUN_DIR/restore.lock`. With `wait`, block until it is free;
/// otherwise `Ok(None)` when someone else holds it.
pub fn lock_restore(run_dir: &Path, wait: bool) -> std::io::Result<Option<RestoreLock>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(run_dir.join(RESTORE_LOCK_FILE))?;
    let arg = if wait {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockExclusiveNonblock
    };
    match Flock::lock(file, arg) {
        Ok(l) => Ok(Some(RestoreLock(l))),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) if !wait => Ok(None),
        Err((_, e)) => Err(std::io::Error::from(e)),
    }
}

/// Touch the heartbeat now and then every [`HEARTBEAT_EVERY`] until aborted.
pub fn spawn_heartbeat(run_dir: &Path) -> tokio::task::JoinHandle<()> {
    let path = run_dir.join(HEARTBEAT_FILE);
    beat(&path);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        loop {
            tick.tick().await;
            beat(&path);
        }
    })
}

fn beat(path: &Path) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let _ = std::fs::write(path, format!("{now} pid {}\n", std::process::id()));
}

/// The guard child of a runner.
pub struct LocalGuard {
    child: std::process::Child,
}

impl LocalGuard {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The run finished normally: tell the guard to go, and reap it.
    pub fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let until = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Start the guard of this process's run in `run_dir`.
pub fn spawn_local(run_dir: &Path, lease: Duration) -> std::io::Result<LocalGuard> {
    use std::os::unix::process::CommandExt;
    let exe = std::fs::read_link("/proc/self/exe").or_else(|_| std::env::current_exe())?;
    let log = File::create(run_dir.join(GUARD_LOG_FILE))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("guard")
        .arg("--local")
        .arg(run_dir)
        .arg("--runner-pid")
        .arg(std::process::id().to_string())
        .arg("--lease")
        .arg(format!("{}ms", lease.as_millis()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    Ok(LocalGuard {
        child: cmd.spawn()?,
    })
}

static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: nix::libc::c_int) {
    TERMINATE.store(true, Ordering::SeqCst);
}

/// SIGTERM and SIGINT set a flag the guard reads between polls, so a stop
/// never interrupts a restoration half-way.
pub fn install_stop_handler() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let act = SigAction::new(
        SigHandler::Handler(on_term),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        let _ = sigaction(Signal::SIGTERM, &act);
        let _ = sigaction(Signal::SIGINT, &act);
    }
}

/// Sleep for `d`, or less when a signal arrives. `poll(2)` with no
/// descriptors returns on a signal and, unlike the `nanosleep` behind
/// `thread::sleep`, is never resumed: the SIGTERM of a runner that finished
/// is acted on at once, so the runner's exit does not wait out a look.
fn nap(d: Duration) {
    let ms = i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: poll with no descriptors only waits; a null array with a
    // count of 0 is allowed.
    unsafe {
        nix::libc::poll(std::ptr::null_mut(), 0, ms);
    }
}

pub fn stop_requested() -> bool {
    TERMINATE.load(Ordering::SeqCst)
}

/// Process start time (clock ticks since boot), to tell a pid reused by
/// another process from the runner.
fn start_time(pid: u32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 of stat is the start time; `rest` begins at field 3.
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

fn alive(pid: u32, started: Option<u64>) -> bool {
    match start_time(pid) {
        Some((_, 'Z' | 'X')) | None => false,
        Some((s, _)) => started.is_none_or(|st| st == s),
    }
}

/// Reads the journal's new lines as they are appended.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

/// How the run ended, as far as the journal says.
#[derive(Debug, PartialEq)]
enum Ended {
    Running,
    Finished,
    Abandoned,
}

impl Tail {
    fn poll(&mut self) -> Ended {
        let Ok(mut f) = File::open(&self.path) else {
            return Ended::Running;
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Ended::Running;
        }
        let mut buf = String::new();
        let Ok(n) = f.read_to_string(&mut buf) else {
            return Ended::Running;
        };
        self.offset += n as u64;
        self.partial.push_str(&buf);
        let mut ended = Ended::Running;
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            if line.contains("\"event\":\"run_finished\"") {
                ended = Ended::Finished;
            } else if line.contains("\"event\":\"signal\"")
                && line.contains("\"action\":\"abandoned restoration\"")
            {
                ended = Ended::Abandoned;
            }
        }
        ended
    }
}

/// `gameday guard --local RUN_DIR`: watch one runner; restore if it dies.
/// Returns the exit code.
pub fn run_local(run_dir: &Path, runner_pid: u32, lease: Duration) -> i32 {
    install_stop_handler();
    let started = start_time(runner_pid).map(|(s, _)| s);
    let heartbeat = run_dir.join(HEARTBEAT_FILE);
    let mut tail = Tail {
        path: run_dir.join(crate::journal::JOURNAL_FILE),
        offset: 0,
        partial: String::new(),
    };
    let mut ended = Ended::Running;
    eprintln!(
        "gameday guard: watching runner pid {runner_pid} of {} (lease {:?})",
        run_dir.display(),
        lease
    );
    loop {
        if ended == Ended::Running {
            ended = tail.poll();
        }
        match ended {
            Ended::Finished => {
                eprintln!("gameday guard: the run finished; nothing to do");
                return super::exit::PASSED;
            }
            Ended::Abandoned => {
                eprintln!(
                    "gameday guard: the operator abandoned restoration (third signal); standing down"
                );
                return super::exit::PASSED;
            }
            Ended::Running => {}
        }
        if stop_requested() {
            eprintln!("gameday guard: stopped by a signal while the runner was alive");
            return super::exit::PASSED;
        }
        let age = std::fs::metadata(&heartbeat)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        let is_alive = alive(runner_pid, started);
        let reason = if !is_alive {
            Some(format!(
                "the runner (pid {runner_pid}) died before the run finished"
            ))
        } else if let Some(a) = age.filter(|a| *a > lease) {
            let pid = nix::unistd::Pid::from_raw(runner_pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let until = std::time::Instant::now() + Duration::from_secs(5);
            while alive(runner_pid, started) && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(format!(
                "the runner (pid {runner_pid}) sent no heartbeat for {:.1} s, more than its lease of {:.0} s; the guard killed it",
                a.as_secs_f64(),
                lease.as_secs_f64()
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            // The runner may have finished between our last look and its exit.
            ended = tail.poll();
            if ended != Ended::Running {
                continue;
            }
            eprintln!("gameday guard: {reason}; restoring");
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("gameday guard: cannot start the async runtime: {e}");
                    return super::exit::RESTORE_FAILED;
                }
            };
            let code = rt.block_on(crate::cli::restore::restore(
                run_dir,
                Default::default(),
                super::restore::Restorer::Guard { reason },
            ));
            // The reports say that the guard restored.
            if let Err(e) = crate::report::write_reports(run_dir, None, None) {
                eprintln!("gameday guard: could not write the reports: {e}");
            }
            // With `--state s3://…`: the journal in S3 says it is restored too.
            if let Some(msg) = rt.block_on(crate::state::publish_after_restore(run_dir)) {
                eprintln!("gameday guard: {msg}");
            }
            return code;
        }
        nap(POLL);
    }
}
