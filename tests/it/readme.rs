//! The README works as written: its `sh` command blocks run with their exact
//! text, with the built `gameday` first on PATH, in a copy of `drills/`,
//! with no AWS variables and an empty HOME (no `~/.aws`).
//!
//! Every `sh` block of the README is either run here or listed in
//! [`NOT_RUN_HERE`] with the test that covers it, so a new block cannot be
//! added without deciding how it is checked.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `sh` code blocks of README.md, in order.
fn sh_blocks() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let mut blocks = vec![];
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Blocks that are not run by this module, by a line they contain, and why.
const NOT_RUN_HERE: &[(&str, &str)] = &[
    (
        "scripts/test.sh ",
        "the test suite itself (it runs this test); `gameday demo` is run by the demo tests",
    ),
    (
        "gameday note reports/20261122T101500Z-regional-failover",
        "names a run directory of the reader's own; tests/it/audit.rs runs `gameday note` with --finding and --action --owner --for on real runs, during and after them",
    ),
];

/// A shell in a fresh directory holding a copy of `drills/`, `gameday` on
/// PATH, no AWS variables, an empty HOME. Its process group is killed on drop,
/// so a backgrounded `gameday sim &` is stopped by its PID even if the test fails.
struct Shell {
    dir: tempfile::TempDir,
}

impl Shell {
    fn new() -> Shell {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(&repo().join("drills"), &dir.path().join("drills"));
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gameday"), bin.join("gameday")).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Shell { dir }
    }

    /// Run `script` (the block's text, then `epilogue`) with bash, in its own process group.
    fn run(&self, script: &str, epilogue: &str) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("{script}{epilogue}"))
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("HOME", self.dir.path().join("home"))
            .env("NO_COLOR", "1")
            .env("GAMEDAY_LOCK_DIR", self.dir.path().join("locks"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd.spawn().expect("bash");
        let group = Group(child.id() as i32);
        let out = child.wait_with_output().expect("bash output");
        drop(group);
        out
    }
}

/// Kills a process group (by its leader's PID) when dropped.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn block_with(needle: &str) -> String {
    let found: Vec<String> = sh_blocks()
        .into_iter()
        .filter(|b| b.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "one README block with `{needle}`");
    found.into_iter().next().unwrap()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const SIM_SNIPPET: &str = "gameday sim --seed 1 &";
const HELLO_SNIPPET: &str = "gameday validate drills/examples/hello.yaml";
const INIT_SNIPPET: &str = "gameday init ";

#[test]
fn every_readme_command_block_is_run_or_accounted_for() {
    let blocks = sh_blocks();
    assert!(blocks.len() >= 3, "README has its command blocks");
    for b in &blocks {
        let run_here = [SIM_SNIPPET, HELLO_SNIPPET, INIT_SNIPPET]
            .iter()
            .any(|n| b.contains(n));
        let accounted = NOT_RUN_HERE.iter().any(|(n, _)| b.contains(n));
        assert!(
            run_here ^ accounted,
            "README block is neither run by tests/it/readme.rs nor listed in NOT_RUN_HERE:\n{b}"
        );
    }
}

/// "Run a drill against a standalone simulator", verbatim, with no AWS
/// variables: the simulator environment needs no credentials.
#[test]
fn readme_standalone_simulator_snippet_runs_verbatim_without_aws_credentials() {
    let block = block_with(SIM_SNIPPET);
    if std::net::TcpListener::bind("127.0.0.1:9797").is_err() {
        panic!("port 9797 (the README's simulator address) is in use; stop what holds it");
    }
    let shell = Shell::new();
    // After the block: report its status and stop the backgrounded simulator by PID.
    let out = shell.run(
        &block,
        "status=$?\nkill -TERM $! && wait $!\necho \"sim stopped: $?\" >&2\nexit $status\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let run_dir = shell
        .dir
        .path()
        .join(stdout.lines().last().unwrap_or("").trim());
    assert!(
        run_dir.join("report.json").is_file(),
        "the last line of stdout is the run directory:\n{}",
        show(&out)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "passed", "{report:#}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sim stopped: 0"),
        "the simulator stops cleanly on SIGTERM:\n{}",
        show(&out)
    );
}

/// The hello tutorial, verbatim: validate, plan, run (no Ctrl-C: it passes)
/// and re-render the report of that run.
#[test]
fn readme_hello_tutorial_runs_verbatim() {
    let block = block_with(HELLO_SNIPPET);
    let shell = Shell::new();
    let out = shell.run(&format!("set -e\n{block}"), "");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let reports: Vec<_> = std::fs::read_dir(shell.dir.path().join("reports"))
        .unwrap()
        .collect();
    assert_eq!(reports.len(), 1, "{}", show(&out));
}

/// "Writing your own drill", verbatim: with no TTY, `gameday init` takes its
/// defaults; the playbook it writes validates and plans with its environment.
#[test]
fn readme_writing_your_own_drill_runs_verbatim() {
    let block = block_with(INIT_SNIPPET);
    let shell = Shell::new();
    let out = shell.run(&format!("set -e\n{block}"), "");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(shell.dir.path().join("drills/my-drill.yaml").is_file());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("arc-routing-control"),
        "{}",
        show(&out)
    );
}
