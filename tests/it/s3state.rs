//! Shared run state in S3 (`--state s3://…`) against moto's S3 server on
//! loopback: host loss restored by a remote `gameday guard`, two runners
//! on one environment, S3 down at start, and S3 cut mid-run through a
//! loopback TCP relay (moto keeps its buckets in memory, so the relay is
//! cut instead of moto).

use crate::cli::*;
use crate::support::Proc;
use nix::sys::signal::Signal;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BUCKET: &str = "gameday-state";
const LIMIT: Duration = Duration::from_secs(30);

fn venv_bin(name: &str) -> PathBuf {
    let p = std::env::var_os("GAMEDAY_MOTO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root/.venv-moto/bin/moto_server"));
    assert!(
        p.exists(),
        "moto_server not found at {}: run the tests with scripts/test.sh (it sets GAMEDAY_MOTO)",
        p.display()
    );
    p.with_file_name(name)
}

/// moto's server with the state bucket created.
fn moto() -> Proc {
    let mut p = Proc::spawn(
        "moto",
        venv_bin("moto_server").to_str().unwrap(),
        &["-H", "127.0.0.1", "-p", "{port}"],
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(p.wait_ready("/moto-api/data.json", Duration::from_secs(60)));
    let out = Command::new(venv_bin("python"))
        .args([
            "-c",
            "import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1').create_bucket(Bucket=sys.argv[2])",
            &p.base_url(),
            BUCKET,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p
}

/// Fake credentials, the S3 endpoint, none of the caller's AWS settings,
/// and a private download cache.
fn s3_env(cmd: &mut Command, endpoint: &str, home: &Path) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_S3", endpoint)
        .env("GAMEDAY_S3_CACHE", home.join("s3-cache"));
}

fn state(prefix: &str) -> String {
    format!("s3://{BUCKET}/{prefix}")
}

/// hello.yaml with `lease:` set.
fn hello(tmp: &Path, lease: &str) -> PathBuf {
    let src = std::fs::read_to_string(repo().join("drills/examples/hello.yaml")).unwrap();
    let src = src.replacen(
        "deadline: 10m\n",
        &format!("deadline: 10m\nlease: {lease}\n"),
        1,
    );
    let p = tmp.join("hello.yaml");
    std::fs::write(&p, src).unwrap();
    p
}

fn run_cmd(
    playbook: &Path,
    flag: &Path,
    observe: &str,
    endpoint: &str,
    st: &str,
    extra: &[&str],
) -> Gd {
    let mut gd = Gd::drill(&[
        playbook.to_str().unwrap(),
        "--var",
        &format!("flag_file={}", flag.display()),
        "--var",
        &format!("observe_for={observe}"),
        "--state",
        st,
    ]);
    gd.cmd.args(extra);
    let home = gd.dir.path().to_path_buf();
    s3_env(&mut gd.cmd, endpoint, &home);
    gd
}

fn journal(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("journal.jsonl")).unwrap_or_default()
}

fn field_u32(j: &str, event: &str, field: &str) -> Option<u32> {
    j.lines().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["event"] == event).then(|| v[field].as_u64().map(|p| p as u32))?
    })
}

/// `gameday report s3://…` from a fresh directory: the local copy it rendered.
fn report_s3(endpoint: &str, url: &str) -> PathBuf {
    let mut gd = Gd::new(&["report", url]);
    let home = gd.dir.path().to_path_buf();
    s3_env(&mut gd.cmd, endpoint, &home);
    let (out, d) = gd.run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = PathBuf::from(stdout(&out).lines().last().unwrap().trim());
    // Keep the copy past the temp dir's drop.
    let keep = tempfile::tempdir().unwrap().keep();
    for f in ["journal.jsonl", "report.md"] {
        std::fs::copy(dir.join(f), keep.join(f)).unwrap();
    }
    drop(d);
    keep
}

#[test]
fn host_loss_a_remote_guard_with_no_local_files_restores_and_the_report_renders_from_s3() {
    let m = moto();
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let pb = hello(tmp.path(), "3s");
    let st = state("host-loss");
    let gd = run_cmd(&pb, &flag, "60s", &m.base_url(), &st, &[]);
    let out_dir = gd.out_dir();
    let (mut child, _d) = gd.spawn();
    wait_until(LIMIT, "the observe phase", || {
        journal_has(&out_dir, "\"phase\":\"observe\"")
    });
    assert!(flag.exists());
    let dir = run_dir(&out_dir).unwrap();
    let run_id = dir.file_name().unwrap().to_string_lossy().into_owned();
    let local_guard = field_u32(&journal(&dir), "guard_started", "pid").unwrap();
    // The host goes: its guard and its runner die together.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(local_guard as i32),
        Signal::SIGKILL,
    );
    signal(&child, Signal::SIGKILL);
    let killed = Instant::now();
    let _ = child.wait();

    // A guard elsewhere: its own directory, no local files, only S3.
    let mut g = Gd::new(&["guard", "--state", &st, "--poll", "1s"]);
    let home = g.dir.path().to_path_buf();
    s3_env(&mut g.cmd, &m.base_url(), &home);
    let (mut guard, _gd) = g.spawn();
    let until = Instant::now() + Duration::from_secs(20);
    while flag.exists() {
        if Instant::now() > until {
            let _ = guard.kill();
            let _ = guard.wait();
            let mut err = String::new();
            guard
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("the remote guard did not restore within 20 s:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = killed.elapsed();
    eprintln!("restored {took:?} after the kill");
    // Lease 3 s + poll 1 s, and the time to download, undo and upload.
    assert!(took < Duration::from_secs(3 + 1 + 4), "took {took:?}");

    let url = format!("{st}/runs/{run_id}");
    // The reports are uploaded after the restoration: wait for them.
    wait_until(LIMIT, "the restored journal in S3", || {
        let copy = report_s3(&m.base_url(), &url);
        journal(&copy).contains("\"event\":\"restore_finished\"")
    });
    let copy = report_s3(&m.base_url(), &url);
    let j = journal(&copy);
    assert!(j.contains("\"by\":\"guard\""), "{j}");
    assert!(j.contains("restored by the remote guard on"), "{j}");
    assert!(
        j.contains("\"event\":\"restore_finished\",\"still_applied\":[]"),
        "{j}"
    );
    let md = std::fs::read_to_string(copy.join("report.md")).unwrap();
    assert!(md.contains("dead-man's switch"), "{md}");
    assert!(md.contains("everything undone"), "{md}");

    // SIGTERM between polls: the service stops cleanly.
    signal(&guard, Signal::SIGTERM);
    let status = guard.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    guard
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("lock released"), "{err}");
}

#[test]
fn two_runners_one_environment_the_second_is_refused_until_the_dead_holder_is_restored() {
    let m = moto();
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let pb = hello(tmp.path(), "2s");
    let st = state("two-runners");
    // The holder runs without a local guard: nobody restores it but us.
    let gd = run_cmd(&pb, &flag, "60s", &m.base_url(), &st, &["--no-guard"]);
    let out_dir = gd.out_dir();
    let (mut holder, _d) = gd.spawn();
    wait_until(LIMIT, "the observe phase", || {
        journal_has(&out_dir, "\"phase\":\"observe\"")
    });
    let run_id = run_dir(&out_dir)
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();

    // Another machine: its own lock directory (Gd gives each its own).
    let second = || {
        let (out, _d) = run_cmd(&pb, &flag, "0s", &m.base_url(), &st, &[]).run();
        out
    };
    let out = second();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "is locked in s3://gameday-state/two-runners/locks/default.json by drill `hello`"
        ),
        "{err}"
    );
    assert!(err.contains(&run_id), "the holder's run is named: {err}");
    assert!(flag.exists(), "the refused runner changed nothing");

    signal(&holder, Signal::SIGKILL);
    let _ = holder.wait();
    // Its lease runs out, but it is still applied: still refused.
    let mut last = String::new();
    wait_until(LIMIT, "a refusal that says the run is not restored", || {
        let out = second();
        last = format!("exit {:?}: {}", out.status.code(), stderr(&out));
        eprintln!("{last}");
        last.contains("is not restored yet")
    });
    assert!(
        last.contains(&format!("gameday restore {st}/runs/{run_id}")),
        "{last}"
    );
    assert!(flag.exists());

    // Restored from S3 by an operator elsewhere: the next runner may start.
    let mut r = Gd::new(&["restore", &format!("{st}/runs/{run_id}")]);
    let home = r.dir.path().to_path_buf();
    s3_env(&mut r.cmd, &m.base_url(), &home);
    let (out, _d) = r.run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!flag.exists());
    let out = second();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn s3_unreachable_at_start_refuses_the_run_before_anything_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let pb = hello(tmp.path(), "30s");
    let nothing = format!("http://127.0.0.1:{}", crate::support::free_port());
    let gd = run_cmd(&pb, &flag, "0s", &nothing, &state("down"), &[]);
    let out_dir = gd.out_dir();
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot take the lock s3://gameday-state/down/locks/default.json"),
        "{err}"
    );
    assert!(err.contains(&nothing), "names the endpoint: {err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(!flag.exists());
    assert!(
        run_dir(&out_dir).is_none(),
        "no run directory is left behind"
    );
}

/// A loopback TCP relay in front of moto that can be cut and restored.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: std::net::SocketAddr) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Default::default();
        let (u, c) = (up.clone(), conns.clone());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(client) = s else { continue };
                if !u.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                c.lock().unwrap().push(client.try_clone().unwrap());
                c.lock().unwrap().push(server.try_clone().unwrap());
                for (mut a, mut b) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = a.read(&mut buf) {
                            if n == 0 || b.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = b.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, up, conns }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[test]
fn s3_cut_mid_run_the_drill_completes_and_the_journal_in_s3_catches_up() {
    let m = moto();
    let relay = Relay::start(m.addr());
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let pb = hello(tmp.path(), "30s");
    let st = state("outage");
    let gd = run_cmd(&pb, &flag, "6s", &relay.url(), &st, &[]);
    let out_dir = gd.out_dir();
    let (mut child, _d) = gd.spawn();
    wait_until(LIMIT, "the observe phase", || {
        journal_has(&out_dir, "\"phase\":\"observe\"")
    });
    relay.cut();
    wait_until(LIMIT, "the warning that S3 is unreachable", || {
        journal_has(&out_dir, "is unreachable")
    });
    relay.restore();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!flag.exists());
    let dir = run_dir(&out_dir).unwrap();
    let run_id = dir.file_name().unwrap().to_string_lossy().into_owned();
    let local = journal(&dir);
    assert!(local.contains("\"event\":\"run_finished\""));
    let copy = report_s3(&m.base_url(), &format!("{st}/runs/{run_id}"));
    assert_eq!(
        journal(&copy),
        local,
        "the journal in S3 is the whole local journal"
    );
}

#[test]
fn state_from_the_environment_file_the_local_guard_restores_and_publishes_to_s3() {
    let m = moto();
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("flag");
    let pb = hello(tmp.path(), "30s");
    let env = tmp.path().join("staging.yaml");
    std::fs::write(
        &env,
        format!("name: staging\nstate: {}\n", state("from-env")),
    )
    .unwrap();
    let start = |observe: &str| {
        let mut gd = Gd::drill(&[
            pb.to_str().unwrap(),
            "--env",
            env.to_str().unwrap(),
            "--var",
            &format!("flag_file={}", flag.display()),
            "--var",
            &format!("observe_for={observe}"),
        ]);
        let home = gd.dir.path().to_path_buf();
        s3_env(&mut gd.cmd, &m.base_url(), &home);
        gd
    };
    let gd = start("60s");
    let out_dir = gd.out_dir();
    let (mut child, _d) = gd.spawn();
    wait_until(LIMIT, "the observe phase", || {
        journal_has(&out_dir, "\"phase\":\"observe\"")
    });
    let dir = run_dir(&out_dir).unwrap();
    let run_id = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        journal(&dir).contains("s3://gameday-state/from-env/locks/staging.json"),
        "the S3 lock is journaled"
    );
    // Only the runner dies: its local guard restores, then publishes to S3.
    signal(&child, Signal::SIGKILL);
    let _ = child.wait();
    wait_until(
        Duration::from_secs(35),
        "the local guard to restore",
        || !flag.exists(),
    );
    let url = format!("{}/runs/{run_id}", state("from-env"));
    wait_until(LIMIT, "the restored journal in S3", || {
        journal(&report_s3(&m.base_url(), &url))
            .contains("\"event\":\"restore_finished\",\"still_applied\":[]")
    });
    // The local guard released the S3 lock: the next runner starts at once.
    let (out, _d) = start("0s").run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
