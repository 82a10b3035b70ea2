//! Data safety with real components: a PostgreSQL 15 primary and streaming
//! standby built with `initdb` and `pg_basebackup -R` on free loopback ports
//! (the promotion drill, and an abrupt primary stop mid-drill), and the
//! simulator (canary lost updates against its ground truth, residency with
//! and without its `residency_bug` fault). Every drill runs through the real
//! `gameday` binary; results are read from its journal and checked against
//! the systems themselves.

use gameday::journal::event::Status;
use gameday::journal::{Event, EventKind, read_journal};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{Proc, free_port, repo};

/// PostgreSQL 15 binaries (`GAMEDAY_PG_BIN`, set by scripts/test.sh, or Debian's path).
fn pg_bin() -> PathBuf {
    std::env::var_os("GAMEDAY_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

// ----- running drills ------------------------------------------------------------

struct Run {
    code: i32,
    run_dir: PathBuf,
    events: Vec<Event>,
    output: String,
}

impl Run {
    fn recorded(&self, name: &str) -> Option<f64> {
        self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::Recorded { name: n, value, .. } if n == name => Some(*value),
            _ => None,
        })
    }

    fn step(&self, step: &str) -> (Status, String, Value) {
        self.events
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::StepFinished {
                    step: s,
                    status,
                    summary,
                    evidence,
                    ..
                } if s == step => Some((*status, summary.clone(), evidence.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("step `{step}` never finished:\n{}", self.output))
    }

    fn canary_writes(&self) -> Vec<(u64, String, String)> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::CanaryWrite {
                    seq, key, region, ..
                } => Some((*seq, key.clone(), region.clone())),
                _ => None,
            })
            .collect()
    }

    /// Failed steps and phases, for assertion messages.
    fn failures(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::StepFinished {
                    step,
                    status: Status::Failed,
                    summary,
                    ..
                } => Some(format!("step `{step}`: {summary}")),
                EventKind::Cancelled { detail, .. } => Some(format!("cancelled: {detail}")),
                EventKind::Warning { message, .. } => Some(format!("warning: {message}")),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn position(&self, pred: impl Fn(&EventKind) -> bool) -> Option<usize> {
        self.events.iter().position(|e| pred(&e.kind))
    }
}

fn command(
    playbook: &Path,
    out: &Path,
    vars: &[(&str, String)],
    envs: &[(&str, String)],
) -> tokio::process::Command {
    // Runs under `out/runs`; a lock directory of its own, so drills of
    // tests running in parallel do not lock each other out.
    let mut cmd = tokio::process::Command::from(
        crate::cli::Gd::new(&["run"])
            .lock_dir(&out.join("locks"))
            .command(),
    );
    cmd.arg(playbook)
        .arg("--out")
        .arg(out.join("runs"))
        .arg("--yes")
        .arg("--non-interactive")
        .arg("--log-format")
        .arg("json")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in vars {
        cmd.arg("--var").arg(format!("{k}={v}"));
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// The last lines of the journal under `out` (for failure messages).
fn journal_tail(out: &Path) -> String {
    let text = std::fs::read_dir(out.join("runs"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .and_then(|e| std::fs::read_to_string(e.path().join("journal.jsonl")).ok())
        .unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("canary_write"))
        .collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

async fn finish(child: tokio::process::Child, out_dir: &Path, limit: Duration) -> Run {
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the drill did not finish within {limit:?} (it must never hang); journal:\n{}",
                journal_tail(out_dir)
            )
        })
        .expect("waiting for gameday");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let output = format!(
        "--- stdout\n{stdout}\n--- stderr\n{}",
        tail(&stderr, 12_000)
    );
    let run_dir = PathBuf::from(
        stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("no run directory printed:\n{output}"))
            .trim(),
    );
    let events = read_journal(&run_dir.join("journal.jsonl"))
        .unwrap_or_else(|e| {
            panic!(
                "cannot read the journal in {}: {e}\n{output}",
                run_dir.display()
            )
        })
        .events;
    Run {
        code: out.status.code().unwrap_or(-1),
        run_dir,
        events,
        output,
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

async fn run_drill(
    playbook: &Path,
    out: &Path,
    vars: &[(&str, String)],
    envs: &[(&str, String)],
) -> Run {
    let child = command(playbook, out, vars, envs)
        .spawn()
        .expect("start gameday");
    finish(child, out, Duration::from_secs(180)).await
}

// ----- PostgreSQL ----------------------------------------------------------------

/// drills/postgres-promotion.yaml with its rebuild step confirmed by `--yes`
/// (`unattended: confirm`) instead of waiting for a rebuilt standby: these
/// tests are about the promotion's data, and nobody rebuilds the old primary
/// here. (tests/it/engine.rs runs an `unattended: check` replacement.)
fn promotion_confirmed(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(repo().join("drills/postgres-promotion.yaml")).unwrap();
    let mut out = vec![];
    let mut skipping = false;
    for line in src.lines() {
        if line == "        unattended:" {
            out.push("        unattended: confirm".to_string());
            skipping = true;
            continue;
        }
        if skipping && line.starts_with("          ") {
            continue;
        }
        skipping = false;
        out.push(line.to_string());
    }
    let text = out.join("\n");
    assert!(text.contains("unattended: confirm") && !text.contains("check:"));
    let p = dir.join("postgres-promotion-confirmed.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// In every connection string; must never appear in a journal.
const PASSWORD: &str = "canary-test-secret";

/// A PostgreSQL server started by the test, stopped by PID on drop.
struct Pg {
    data: PathBuf,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

/// Run a PostgreSQL binary as the `postgres` user when we are root (the
/// server refuses to run as root), else as ourselves.
fn pg_command(tool: &str, cwd: &Path) -> Command {
    let mut cmd = Command::new(pg_bin().join(tool));
    cmd.current_dir(cwd).stdin(Stdio::null());
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::process::CommandExt;
        let user = nix::unistd::User::from_name("postgres")
            .ok()
            .flatten()
            .expect("running as root needs a `postgres` user to run the server");
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        cmd.env("HOME", &user.dir);
    }
    cmd
}

fn run_pg_tool(tool: &str, cwd: &Path, args: &[&str]) {
    let out = pg_command(tool, cwd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn give_to_postgres(path: &Path) {
    if nix::unistd::geteuid().is_root() {
        let user = nix::unistd::User::from_name("postgres")
            .ok()
            .flatten()
            .expect("postgres user");
        nix::unistd::chown(path, Some(user.uid), Some(user.gid)).expect("chown to postgres");
    }
}

impl Pg {
    fn start(data: PathBuf, port: u16, root: &Path) -> Pg {
        let log = root.join(format!("{port}.log"));
        let logf = std::fs::File::create(&log).expect("log file");
        give_to_postgres(&log);
        let child = pg_command("postgres", root)
            .arg("-D")
            .arg(&data)
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf)
            .spawn()
            .expect("start postgres");
        let mut pg = Pg {
            data,
            port,
            child: Some(child),
            log,
        };
        pg.wait_ready();
        pg
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "postgres on port {} exited with {status}:\n{}",
                    self.port,
                    self.log_text()
                );
            }
            let ok = Command::new(pg_bin().join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres on port {} not ready after 60s:\n{}",
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The server trusts loopback, so the password is never checked: it is
    /// here to prove it never reaches the journal.
    fn dsn(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=gameday password={PASSWORD} dbname=postgres",
            self.port
        )
    }

    async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.dsn(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to port {}: {e}", self.port));
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    /// `pg_ctl stop -m immediate`: the abrupt end of a primary.
    fn crash(&mut self, root: &Path) {
        run_pg_tool(
            "pg_ctl",
            root,
            &[
                "stop",
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "-w",
            ],
        );
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        // Fast shutdown by PID, then SIGKILL if it lingers.
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A primary and a streaming standby in one temporary directory.
struct PgPair {
    standby: Pg,
    primary: Pg,
    root: tempfile::TempDir,
}

impl PgPair {
    fn start() -> PgPair {
        assert!(
            pg_bin().join("initdb").exists(),
            "PostgreSQL 15 is not installed under {} (Debian package postgresql-15, or set GAMEDAY_PG_BIN)",
            pg_bin().display()
        );
        let root = tempfile::Builder::new()
            .prefix("gameday-pg-")
            .tempdir()
            .expect("temp dir");
        let r = root.path().to_path_buf();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&r, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        give_to_postgres(&r);
        let pdata = r.join("primary");
        run_pg_tool(
            "initdb",
            &r,
            &[
                "-D",
                &pdata.display().to_string(),
                "-U",
                "gameday",
                "--auth=trust",
                "-N",
            ],
        );
        let pport = free_port();
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {pport}\nunix_socket_directories = '{}'\n\
             wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\n\
             wal_receiver_status_interval = 1s\n",
            r.display()
        );
        append(&pdata.join("postgresql.conf"), &conf);
        append(
            &pdata.join("pg_hba.conf"),
            "\nhost replication all 127.0.0.1/32 trust\n",
        );
        let primary = Pg::start(pdata, pport, &r);
        let sdata = r.join("standby");
        run_pg_tool(
            "pg_basebackup",
            &r,
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pport.to_string(),
                "-U",
                "gameday",
                "-D",
                &sdata.display().to_string(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        );
        let sport = free_port();
        append(
            &sdata.join("postgresql.conf"),
            &format!("\nport = {sport}\n"),
        );
        let standby = Pg::start(sdata, sport, &r);
        PgPair {
            standby,
            primary,
            root,
        }
    }

    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PG_PRIMARY_DSN", self.primary.dsn()),
            ("PG_STANDBY_DSN", self.standby.dsn()),
        ]
    }

    /// Wait until the standby streams from the primary.
    async fn wait_streaming(&self) {
        let c = self.primary.client().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
                    &[],
                )
                .await
                .expect("pg_stat_replication")
                .get(0);
            if n >= 1 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the standby never started streaming"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all(text.as_bytes()).expect("append");
}

/// Canary rows of a run on a server: key -> seq.
async fn canary_rows(pg: &Pg, token: &str) -> BTreeMap<String, i64> {
    let c = pg.client().await;
    c.query(
        "SELECT key, seq FROM gameday_canary WHERE run_id = $1",
        &[&token],
    )
    .await
    .expect("read gameday_canary")
    .iter()
    .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
    .collect()
}

fn run_token(run: &Run) -> String {
    gameday::steps::canary::run_token(&run.run_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_promotion_loses_no_acknowledged_write() {
    let pair = PgPair::start();
    pair.wait_streaming().await;
    let out = tempfile::tempdir().expect("out dir");
    let run = run_drill(
        &promotion_confirmed(out.path()),
        out.path(),
        &[
            ("warmup", "3s".into()),
            ("observe_for", "3s".into()),
            ("canary_rate", "20/s".into()),
        ],
        &pair.envs(),
    )
    .await;
    assert_eq!(run.code, 0, "the drill should pass:\n{}", run.failures());

    // Lag was measured before the promotion.
    let lag = run.recorded("lag_before").expect("lag_before recorded");
    assert!((0.0..=5.0).contains(&lag), "lag before promotion {lag}");
    let lag_at = run
        .position(|k| matches!(k, EventKind::Recorded { name, .. } if name == "lag_before"))
        .expect("lag event");
    let promoted = run
        .position(|k| matches!(k, EventKind::Marker { name, .. } if name == "promoted"))
        .expect("promoted marker");
    assert!(
        lag_at < promoted,
        "lag must be measured before the promotion"
    );
    assert_eq!(
        run.recorded("lag_at_promotion"),
        Some(0.0),
        "caught up before promoting"
    );

    // Canary rows were acknowledged by both servers, and none was lost.
    let writes = run.canary_writes();
    let by: BTreeMap<&str, usize> = writes.iter().fold(BTreeMap::new(), |mut m, (_, _, r)| {
        *m.entry(r.as_str()).or_default() += 1;
        m
    });
    assert!(
        by.get("primary").copied().unwrap_or(0) >= 20,
        "writes before the promotion: {by:?}"
    );
    assert!(
        by.get("standby").copied().unwrap_or(0) >= 20,
        "writes after the promotion: {by:?}"
    );
    let (status, summary, _) = run.step("verify canary rows on new primary");
    assert_eq!(status, Status::Passed, "{summary}");
    assert_eq!(run.recorded("canary_lost"), Some(0.0), "{summary}");
    assert_eq!(run.recorded("canary_acked"), Some(writes.len() as f64));
    // Checked on the server itself, not only by the step: every journaled
    // acknowledged row is on the new primary with its sequence number.
    let rows = canary_rows(&pair.standby, &run_token(&run)).await;
    for (seq, key, _) in &writes {
        assert_eq!(
            rows.get(key),
            Some(&(*seq as i64)),
            "row {key} (seq {seq}) lost"
        );
    }

    // The old standby accepts writes; the old primary stayed fenced.
    let s = pair.standby.client().await;
    let in_recovery: bool = s
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!in_recovery);
    s.batch_execute("CREATE TABLE after_promotion (x int); INSERT INTO after_promotion VALUES (1)")
        .await
        .expect("the promoted standby accepts writes");
    let p = pair.primary.client().await;
    let ro: String = p
        .query_one("SHOW default_transaction_read_only", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        ro, "on",
        "the old primary must stay fenced after the promotion"
    );
    assert!(
        run.events.iter().any(|e| matches!(&e.kind, EventKind::Warning { message, .. } if message.contains("left `primary` fenced"))),
        "the report says why the fence stayed"
    );
    let metrics: BTreeMap<String, Option<bool>> = run
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Metric { name, met, .. } => Some((name.clone(), *met)),
            _ => None,
        })
        .collect();
    assert_eq!(metrics.get("canary_writes_lost"), Some(&Some(true)));
    assert_eq!(metrics.get("failover_time"), Some(&Some(true)));
    // The connection strings never reached the journal.
    let journal = std::fs::read_to_string(run.run_dir.join("journal.jsonl")).unwrap();
    assert!(
        !journal.contains(PASSWORD),
        "a password reached the journal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_stopped_abruptly_mid_drill_reports_losses_honestly() {
    let mut pair = PgPair::start();
    pair.wait_streaming().await;
    let out = tempfile::tempdir().expect("out dir");
    let child = command(
        &promotion_confirmed(out.path()),
        out.path(),
        &[
            ("warmup", "6s".into()),
            ("observe_for", "1s".into()),
            ("canary_rate", "50/s".into()),
        ],
        &pair.envs(),
    )
    .spawn()
    .expect("start gameday");

    // Stop the primary abruptly once the canary has written for a while.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let journal = std::fs::read_dir(out.path().join("runs"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path().join("journal.jsonl"));
        let acked = journal
            .and_then(|j| read_journal(&j).ok())
            .map(|r| {
                r.events
                    .iter()
                    .filter(|e| matches!(e.kind, EventKind::CanaryWrite { .. }))
                    .count()
            })
            .unwrap_or(0);
        if acked >= 40 {
            break;
        }
        assert!(Instant::now() < deadline, "the canary never wrote 40 rows");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let root = pair.root.path().to_path_buf();
    pair.primary.crash(&root);

    let run = finish(child, out.path(), Duration::from_secs(120)).await;
    // Fencing a dead primary fails, so the drill aborts before promoting,
    // restores, and still verifies the canary on the standby.
    assert_eq!(run.code, 3, "aborted and restored:\n{}", run.output);
    let (fence, fence_summary, _) = run.step("fence primary");
    assert_eq!(fence, Status::Failed, "{fence_summary}");
    assert!(
        run.position(|k| matches!(k, EventKind::Marker { name, .. } if name == "promoted"))
            .is_none(),
        "nothing may be promoted after the primary died mid-fence"
    );
    let (_, summary, evidence) = run.step("verify canary rows on new primary");
    let reported_lost = run.recorded("canary_lost").expect("canary_lost recorded");

    // Independently: acknowledged rows (journal) missing on the standby.
    let writes = run.canary_writes();
    assert!(writes.len() >= 40);
    let rows = canary_rows(&pair.standby, &run_token(&run)).await;
    let lost: Vec<u64> = writes
        .iter()
        .filter(|(seq, key, _)| rows.get(key).is_none_or(|s| *s < *seq as i64))
        .map(|(seq, _, _)| *seq)
        .collect();
    assert_eq!(
        reported_lost,
        lost.len() as f64,
        "the verify step must report exactly the acknowledged rows missing on the standby ({lost:?}): {summary}\n{evidence}"
    );
    assert_eq!(run.recorded("canary_unverified"), Some(0.0), "{summary}");
    if lost.is_empty() {
        assert_eq!(run.recorded("canary_rpo_seconds"), Some(0.0));
    } else {
        assert!(run.recorded("canary_rpo_seconds").unwrap_or(0.0) > 0.0);
        assert!(summary.contains("missing"), "{summary}");
    }
    let journal = std::fs::read_to_string(run.run_dir.join("journal.jsonl")).unwrap();
    assert!(
        !journal.contains(PASSWORD),
        "a password reached the journal"
    );
    // Writes after the crash were refused, not acknowledged.
    assert!(
        run.recorded("canary_rejected").unwrap_or(0.0) > 0.0,
        "{summary}"
    );
}

// ----- the simulator ---------------------------------------------------------------

/// `gameday sim` with fast reroutes; `quiet` turns off synthetic traffic and
/// jobs, so the only writes (and lost updates) are the canary's.
async fn sim(quiet: bool) -> Proc {
    let mut cfg = String::from("routing: { propagation_delay: 500ms, propagation_jitter: 0s }\n");
    if quiet {
        cfg.push_str("load: { US: 0, EU: 0 }\ndata: { background_writes_per_second: 0 }\n");
    }
    crate::support::sim::sim_with(Some(7), Some(&cfg)).await
}

async fn truth(sim: &Proc) -> Value {
    crate::support::sim::truth(&sim.base_url()).await
}

fn drill() -> PathBuf {
    repo().join("drills/examples/data-safety-sim.yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_finds_the_lost_updates_the_simulator_counts() {
    let sim = sim(true).await;
    let out = tempfile::tempdir().expect("out dir");
    let run = run_drill(
        &drill(),
        out.path(),
        &[
            ("sim", sim.base_url()),
            ("skew", "-2s".into()),
            ("isolation_mode", "partition".into()),
            ("observe_for", "3s".into()),
        ],
        &[],
    )
    .await;
    let t = truth(&sim).await;
    let lost_updates = t["lost_updates_total"]
        .as_u64()
        .expect("lost_updates_total");
    let (status, summary, _) = run.step("verify canary");
    assert_eq!(
        status,
        Status::Failed,
        "lost updates must fail the verification: {summary}"
    );
    assert!(lost_updates > 0, "the skew must lose updates: {t}");
    assert_eq!(
        run.recorded("canary_stale"),
        Some(lost_updates as f64),
        "the canary must find exactly the lost updates of the ground truth: {summary}\n{t}"
    );
    assert_eq!(run.recorded("canary_missing"), Some(0.0), "{summary}");
    assert!(summary.contains("older version won"), "{summary}");
    assert!(run.recorded("canary_rpo_seconds").unwrap_or(0.0) > 0.0);
    assert_eq!(run.code, 1, "failed, restored:\n{}", run.output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_faults_the_canary_and_residency_find_nothing() {
    let sim = sim(false).await;
    let out = tempfile::tempdir().expect("out dir");
    let run = run_drill(
        &drill(),
        out.path(),
        &[("sim", sim.base_url()), ("observe_for", "3s".into())],
        &[],
    )
    .await;
    let (status, summary, _) = run.step("verify canary");
    assert_eq!(status, Status::Passed, "{summary}");
    assert_eq!(run.recorded("canary_lost"), Some(0.0));
    assert!(
        run.recorded("canary_acked").unwrap_or(0.0) > 50.0,
        "{summary}"
    );
    // Writes to the partitioned region were refused during the isolation.
    assert!(
        run.recorded("canary_rejected").unwrap_or(0.0) > 0.0,
        "{summary}"
    );
    let (status, summary, evidence) = run.step("EU data stays in the EU");
    assert_eq!(status, Status::Passed, "{summary}");
    assert!(
        evidence["traffic"]["points"].as_u64().unwrap_or(0) >= 3,
        "{evidence}"
    );
    assert!(
        evidence["read_back"]["records_checked"]
            .as_u64()
            .unwrap_or(0)
            > 10,
        "{evidence}"
    );
    assert_eq!(truth(&sim).await["residency_violations_total"], 0);
    assert_eq!(run.code, 0, "{}", run.failures());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residency_bug_fails_the_residency_check_with_when_and_how_much() {
    let sim = sim(false).await;
    let out = tempfile::tempdir().expect("out dir");
    let run = run_drill(
        &drill(),
        out.path(),
        &[
            ("sim", sim.base_url()),
            ("residency_bug", "0.5".into()),
            ("isolation_mode", "routing".into()),
            ("observe_for", "4s".into()),
        ],
        &[],
    )
    .await;
    let t = truth(&sim).await;
    assert!(
        t["residency_violations_total"].as_u64().unwrap_or(0) > 0,
        "{t}"
    );
    let (status, summary, evidence) = run.step("EU data stays in the EU");
    assert_eq!(status, Status::Failed, "{summary}");
    assert!(summary.contains("readable outside"), "{summary}");
    assert!(
        summary.contains("in us-east-1 (written"),
        "says when: {summary}"
    );
    assert!(summary.contains("traffic broke"), "{summary}");
    assert!(summary.contains("first at"), "says when: {summary}");
    assert!(run.recorded("residency_readback").unwrap_or(0.0) > 0.0);
    assert!(
        run.recorded("residency_traffic_peak").unwrap_or(0.0) > 0.0,
        "how much: {evidence}"
    );
    assert!(
        run.recorded("residency_traffic_total").unwrap_or(0.0) > 0.0,
        "how much: {evidence}"
    );
    let keys: BTreeSet<&str> = evidence["read_back"]["examples"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["key"].as_str())
        .collect();
    assert!(
        keys.iter().all(|k| k.contains("-eu-")),
        "only EU records count: {keys:?}"
    );
    assert_eq!(run.code, 1, "{}", run.output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_through_a_global_endpoint_records_the_region_that_answered() {
    let sim = sim(true).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let playbook = dir.path().join("global.yaml");
    // The write URL has no `{region}`: one endpoint takes every write (here
    // the simulator's eu-central-1 stands in for a global load balancer),
    // and the answer says which region served it.
    std::fs::write(
        &playbook,
        r#"name: global-canary
unattended: true
vars: { sim: "http://127.0.0.1:9797" }
phases:
  - kind: precheck
    steps:
      - name: canary
        kind: canary
        rate: 20/s
        http:
          write:
            url: ${sim}/app/eu-central-1/records/{key}
            body: '{"value": {"seq": {seq}}, "jurisdiction": "US"}'
            region_at: region
            version_at: version
          read: { url: "${sim}/app/{region}/records/{key}" }
        streams:
          - { name: users, read_in: [us-east-1, eu-west-1, eu-central-1] }
      - name: writing
        kind: wait
        duration: 1s
  - kind: restore
    steps:
      - name: verify
        kind: canary-verify
        canary: canary
        catch_up: 10s
        record: canary
"#,
    )
    .expect("write playbook");
    let run = run_drill(&playbook, dir.path(), &[("sim", sim.base_url())], &[]).await;
    assert_eq!(run.code, 0, "{}", run.failures());
    let writes = run.canary_writes();
    assert!(writes.len() >= 10, "{}", writes.len());
    assert!(
        writes.iter().all(|(_, _, region)| region == "eu-central-1"),
        "{writes:?}"
    );
    assert!(run.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::CanaryWrite {
            version: Some(_),
            ..
        }
    )));
    let (status, summary, _) = run.step("verify");
    assert_eq!(status, Status::Passed, "{summary}");
    assert_eq!(
        run.recorded("canary_present"),
        Some(writes.len() as f64),
        "{summary}"
    );
}

// ----- validation ------------------------------------------------------------------

#[test]
fn data_step_mistakes_are_diagnosed_before_anything_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        r#"name: bad-data
postgres:
  primary: { env: PG_PRIMARY_DSN }
phases:
  - kind: precheck
    steps:
      - name: canary
        kind: canary
        rate: 10/s
        http:
          write: { url: "http://x/app/{region}/records/{key}", body: '{"seq": {seq}, "r": "{regoin}"}' }
          read: { url: "http://x/app/{region}/records/{key}" }
        streams: [{ name: eu, write_in: [eu-west-1] }]
      - name: lag
        kind: postgres-replication
        connection: primray
  - kind: isolate
    steps:
      - name: promote
        kind: postgres-promote
        connection: primary
  - kind: restore
    steps:
      - name: verify
        kind: canary-verify
        canary: canry
        expect: { lots: "== 0" }
"#,
    )
    .expect("write playbook");
    let out = crate::cli::Gd::new(&["validate", path.to_str().unwrap()]).output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let file = path.display().to_string();
    for (line, text) in [
        (7, "`{regoin}`, which is not a canary placeholder"),
        (14, "no PostgreSQL connection named `primray`"),
        (19, "step `promote` changes something and has no undo"),
        (24, "no `canary` step named `canry`"),
        (24, "`expect.lots` is not a canary-verify count"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("{file}:{line}:")) && l.contains(text)),
            "expected `{text}` at line {line}:\n{err}"
        );
    }
    for hint in [
        "did you mean `primary`?",
        "did you mean `canary`?",
        "did you mean `lost`?",
    ] {
        assert!(err.contains(hint), "expected hint `{hint}`:\n{err}");
    }

    // A connection string is never written inline.
    std::fs::write(
        &path,
        "name: bad\npostgres:\n  primary: { env: A, file: /b }\nphases: [{ kind: precheck, steps: [{ name: n, kind: note, text: x }] }]\n",
    )
    .expect("write playbook");
    let out = crate::cli::Gd::new(&["validate", path.to_str().unwrap()]).output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{file}:3:12: error: a PostgreSQL connection takes exactly one of `env: VARIABLE` or `file: PATH`")),
        "{err}"
    );
}
