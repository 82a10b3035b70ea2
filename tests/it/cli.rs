//! A builder that runs the real `gameday` binary, in the style of just's
//! `Test`: arguments, environment, expected exit code and output.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_gameday")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `gameday` invocation in a temporary working directory with its own lock directory.
pub struct Gd {
    pub cmd: Command,
    pub dir: tempfile::TempDir,
}

impl Gd {
    pub fn new(args: &[&str]) -> Gd {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(repo())
            .env("NO_COLOR", "1")
            .env("GAMEDAY_LOCK_DIR", dir.path().join("locks"))
            .stdin(Stdio::null());
        Gd { cmd, dir }
    }

    /// `gameday run ARGS… --out <temp>/reports`.
    pub fn drill(args: &[&str]) -> Gd {
        let mut gd = Gd::new(&["run"]);
        let out = gd.out_dir();
        gd.cmd.args(args).arg("--out").arg(out);
        gd
    }

    /// `gameday ARGS…` run in `cwd`, with its lock directory at `cwd/locks`
    /// (tests that keep their run directories beside other files).
    pub fn at(cwd: &Path, args: &[&str]) -> Gd {
        let mut gd = Gd::new(args);
        gd.cmd
            .current_dir(cwd)
            .env("GAMEDAY_LOCK_DIR", cwd.join("locks"));
        gd
    }

    /// Take environment locks in `dir` (shared by the runs of one test).
    pub fn lock_dir(mut self, dir: &Path) -> Gd {
        self.cmd.env("GAMEDAY_LOCK_DIR", dir);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Gd {
        self.cmd.env(key, value);
        self
    }

    /// Run to the end and return what it printed and its exit status.
    pub fn output(self) -> Output {
        self.run().0
    }

    /// The command itself, to spawn with other stdio or on tokio. Its
    /// temporary directory is gone: use it with [`Gd::at`] or [`Gd::lock_dir`].
    pub fn command(self) -> Command {
        self.cmd
    }

    pub fn out_dir(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    pub fn run(mut self) -> (Output, tempfile::TempDir) {
        let out = self.cmd.output().expect("run gameday");
        (out, self.dir)
    }

    pub fn spawn(mut self) -> (Child, tempfile::TempDir) {
        let child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gameday");
        (child, self.dir)
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Poll `cond` every 20 ms until it holds or `limit` passes (readiness, not a sleep).
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The single run directory under `out`, once it exists.
pub fn run_dir(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.is_dir())
}

/// Whether the journal under `out` contains `needle`.
pub fn journal_has(out: &Path, needle: &str) -> bool {
    run_dir(out)
        .and_then(|d| std::fs::read_to_string(d.join("journal.jsonl")).ok())
        .is_some_and(|j| j.contains(needle))
}

pub fn report_json(run_dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run_dir.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// Send a signal to a child process.
pub fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig)
        .expect("send signal");
}
