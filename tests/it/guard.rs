//! The dead-man's switch through the real binary and real signals: a runner
//! SIGKILLed (or stopped with SIGSTOP) during observation is restored by its
//! guard with nobody acting; a run that ends normally stops its guard.

use crate::cli::*;
use crate::support::webhook::Receiver;
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn journal(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("journal.jsonl")).unwrap_or_default()
}

/// The guard's pid, from its `guard_started` event.
fn guard_pid(dir: &Path) -> Option<u32> {
    journal(dir).lines().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["event"] == "guard_started")
            .then(|| v["pid"].as_u64())?
            .map(|p| p as u32)
    })
}

/// Whether `pid` is a live process (a zombie is not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(str::to_owned))
        })
        .is_some_and(|state| state != "Z" && state != "X")
}

/// hello.yaml with `lease:` set, in `tmp`.
fn hello_with_lease(tmp: &Path, lease: &str) -> PathBuf {
    let src = std::fs::read_to_string(repo().join("drills/examples/hello.yaml")).unwrap();
    let src = src.replacen(
        "deadline: 10m\n",
        &format!("deadline: 10m\nlease: {lease}\n"),
        1,
    );
    assert!(src.contains("lease:"));
    let p = tmp.join("hello-lease.yaml");
    std::fs::write(&p, src).unwrap();
    p
}

/// Start a long hello drill (with its guard) and wait for the observation window.
fn start(playbook: &Path, flag: &Path) -> (std::process::Child, tempfile::TempDir, PathBuf) {
    start_with(playbook, flag, &[], |_| {})
}

fn start_with(
    playbook: &Path,
    flag: &Path,
    extra: &[&str],
    env: impl FnOnce(&mut std::process::Command),
) -> (std::process::Child, tempfile::TempDir, PathBuf) {
    let mut gd = Gd::new(&[
        "run",
        playbook.to_str().unwrap(),
        "--var",
        &format!("flag_file={}", flag.display()),
        "--var",
        "observe_for=60s",
    ]);
    let out_dir = gd.out_dir();
    gd.cmd
        .args(["--out", out_dir.to_str().unwrap()])
        .args(extra);
    env(&mut gd.cmd);
    let (child, d) = gd.spawn();
    wait_until(LIMIT, "the observe phase", || {
        journal_has(&out_dir, "\"phase\":\"observe\"")
    });
    assert!(flag.exists());
    (child, d, run_dir(&out_dir).unwrap())
}

#[test]
fn a_runner_killed_during_observation_is_restored_by_its_guard_within_the_lease() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let hooks = Receiver::start();
    let env = crate::notify::env_file(tmp.path());
    let (mut child, _d, dir) = start_with(
        &repo().join("drills/examples/hello.yaml"),
        &flag,
        &["--env", env.to_str().unwrap()],
        |cmd| crate::notify::hook_env(cmd, &hooks),
    );
    let guard = guard_pid(&dir).expect("guard_started is journaled with the guard's pid");
    assert!(alive(guard), "the guard runs beside the runner");

    signal(&child, Signal::SIGKILL);
    let killed = Instant::now();
    let _ = child.wait();
    // The default lease is 30 s: restored within the lease + 5 s.
    wait_until(
        Duration::from_secs(35),
        "the guard to remove the flag",
        || !flag.exists(),
    );
    eprintln!("restored {:?} after the kill", killed.elapsed());
    wait_until(LIMIT, "the guard to exit", || !alive(guard));

    let j = journal(&dir);
    assert!(j.contains("\"by\":\"guard\""), "{j}");
    assert!(j.contains("died before the run finished"), "{j}");
    assert!(
        j.contains("\"event\":\"restore_finished\",\"still_applied\":[]"),
        "{j}"
    );
    // The guard re-rendered the reports: they say who restored and why.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("the dead-man's switch"), "{md}");
    assert!(md.contains("everything undone"), "{md}");
    assert!(
        md.contains("its guard (the dead-man's switch) has since undone everything it changed"),
        "{md}"
    );

    // A webhook says that the guard took over, and that it restored.
    let guard_msgs: Vec<serde_json::Value> = hooks
        .at("/bot")
        .iter()
        .map(|m| m.json())
        .filter(|m| m["event"] == "guard")
        .collect();
    assert_eq!(guard_msgs.len(), 2, "{guard_msgs:?}");
    assert!(
        guard_msgs[0]["text"]
            .as_str()
            .unwrap()
            .contains("the guard took over drill `hello`"),
        "{guard_msgs:?}"
    );
    assert!(
        guard_msgs[1]["text"]
            .as_str()
            .unwrap()
            .contains("everything is undone"),
        "{guard_msgs:?}"
    );

    // `gameday restore` afterwards finds nothing to do.
    let (out, _d2) = Gd::new(&["restore", dir.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to restore"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_hung_runner_is_killed_and_restored_once_its_heartbeat_is_older_than_the_lease() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let playbook = hello_with_lease(tmp.path(), "2s");
    let (mut child, _d, dir) = start(&playbook, &flag);
    let guard = guard_pid(&dir).unwrap();
    // SIGSTOP: the process lives on but stops beating.
    signal(&child, Signal::SIGSTOP);
    let stopped = Instant::now();
    wait_until(Duration::from_secs(7), "the guard to restore", || {
        !flag.exists()
    });
    // The last beat came up to 1 s before the stop: not before lease - 1 s.
    assert!(
        stopped.elapsed() >= Duration::from_secs(1),
        "restored {:?} after the stop, before the lease ran out",
        stopped.elapsed()
    );
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the guard SIGKILLs the hung runner before restoring"
    );
    wait_until(LIMIT, "the guard to exit", || !alive(guard));
    let j = journal(&dir);
    assert!(j.contains("sent no heartbeat"), "{j}");
}

#[test]
fn a_run_that_ends_normally_stops_its_guard_and_nothing_is_restored_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let gd = Gd::drill(&[
        "drills/examples/hello.yaml",
        "--var",
        &format!("flag_file={}", flag.display()),
        "--var",
        "observe_for=0s",
    ]);
    let out_dir = gd.out_dir();
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = run_dir(&out_dir).unwrap();
    let guard = guard_pid(&dir).expect("guard pid journaled");
    wait_until(Duration::from_secs(5), "the guard to exit", || {
        !alive(guard)
    });
    let j = journal(&dir);
    assert!(!j.contains("\"event\":\"restore_started\""), "{j}");
    assert!(dir.join("guard.log").exists());
}

#[test]
fn no_guard_turns_the_dead_mans_switch_off() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let gd = Gd::drill(&[
        "drills/examples/hello.yaml",
        "--no-guard",
        "--var",
        &format!("flag_file={}", flag.display()),
        "--var",
        "observe_for=0s",
    ]);
    let out_dir = gd.out_dir();
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = run_dir(&out_dir).unwrap();
    assert_eq!(guard_pid(&dir), None);
    assert!(!dir.join("guard.log").exists());
}

/// Whoever restores holds RUN_DIR/restore.lock: `gameday restore` waits
/// while someone else (here the test, standing in for a guard) holds it.
#[test]
fn gameday_restore_waits_for_a_restoration_in_progress() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let mut gd = Gd::new(&[
        "run",
        "drills/examples/hello.yaml",
        "--no-guard",
        "--var",
        &format!("flag_file={}", flag.display()),
        "--var",
        "observe_for=60s",
    ]);
    let out_dir = gd.out_dir();
    gd.cmd.args(["--out", out_dir.to_str().unwrap()]);
    let (mut child, _d) = gd.spawn();
    wait_until(LIMIT, "the observe phase", || {
        journal_has(&out_dir, "\"phase\":\"observe\"")
    });
    signal(&child, Signal::SIGKILL);
    let _ = child.wait();
    let dir = run_dir(&out_dir).unwrap();

    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("restore.lock"))
        .unwrap();
    let held = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap();
    let (mut restore, _d2) = Gd::new(&["restore", dir.to_str().unwrap()]).spawn();
    let mut err_pipe = restore.stderr.take().unwrap();
    let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = err.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = err_pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    wait_until(LIMIT, "restore to say it waits", || {
        err.lock().unwrap().contains("another restoration")
    });
    assert!(flag.exists(), "nothing is undone while the lock is held");
    assert!(restore.try_wait().unwrap().is_none());
    drop(held);
    let status = restore.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{}", err.lock().unwrap());
    assert!(!flag.exists());
}
