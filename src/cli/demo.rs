//! `gameday demo`: the whole drill on a machine with nothing else installed.
//!
//! Starts the simulator in-process on a free loopback port, points the AWS
//! SDK at it (`AWS_ENDPOINT_URL_ROUTE53_RECOVERY_CLUSTER`,
//! `AWS_ENDPOINT_URL_GLOBAL_ACCELERATOR`, throwaway credentials), runs the
//! shipped `drills/regional-failover.yaml` with `drills/environments/sim.yaml`
//! — the same playbook a team runs against AWS and Prometheus, only the
//! endpoints differ — without prompts (manual steps are confirmed
//! automatically, and the journal and report say so), then prints the
//! metrics next to the simulator's ground truth and where the report is.
//!
//! The playbook and environment are read from `drills/` when run from a
//! checkout; otherwise the copies built into the binary are written next to
//! the reports and used.

use super::run::print_summary;
use crate::engine::{RunOptions, exit};
use crate::journal::writer::Observer;
use crate::playbook::LoadOptions;
use crate::steps::Interaction;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const PLAYBOOK: &str = include_str!("../../drills/regional-failover.yaml");
const ENVIRONMENT: &str = include_str!("../../drills/environments/sim.yaml");

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Parent directory of the run directory.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Simulator seed (the same seed gives the same simulated deployment).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Show only the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// A fault to rehearse (`--list` describes them).
    #[arg(long, value_enum, default_value_t)]
    pub scenario: super::scenario::Scenario,
    /// Describe the scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Also keep the run's journal, heartbeat and lock in S3 (`s3://BUCKET/PREFIX`).
    #[arg(long, value_name = "S3_URL", value_parser = super::parse_state)]
    pub state: Option<crate::state::Location>,
}

/// The playbook and environment file to use: the checkout's, or the built-in copies.
fn drill_files(out: &Path) -> Result<(PathBuf, PathBuf), String> {
    let pb = PathBuf::from("drills/regional-failover.yaml");
    let env = PathBuf::from("drills/environments/sim.yaml");
    if pb.is_file() && env.is_file() {
        return Ok((pb, env));
    }
    let dir = out.join("demo-drill");
    std::fs::create_dir_all(dir.join("environments"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let (pb, env) = (
        dir.join("regional-failover.yaml"),
        dir.join("environments/sim.yaml"),
    );
    for (path, text) in [(&pb, PLAYBOOK), (&env, ENVIRONMENT)] {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok((pb, env))
}

/// Seconds between two RFC 3339 instants of `/sim/truth`.
fn between(truth: &serde_json::Value, from: &str, to: &str) -> Option<f64> {
    let t = |k: &str| {
        truth
            .get(k)
            .and_then(|v| v.as_str())
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    Some((t(to)? - t(from)?).num_milliseconds() as f64 / 1000.0)
}

pub fn run(a: DemoArgs) -> i32 {
    if a.list {
        print!("{}", super::scenario::list());
        return exit::PASSED;
    }
    let (playbook, env_file) = match drill_files(&a.out) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gameday demo: {e}\n  = hint: pass --out with a writable directory");
            return exit::INVALID;
        }
    };
    // A free loopback port, known before any thread exists so the SDK's
    // environment can be set safely.
    let addr = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gameday demo: cannot find a free loopback port: {e}");
            return exit::ABORTED;
        }
    };
    let base = format!("http://{addr}");
    point_aws_sdk_at(&base);
    let loaded = match crate::playbook::load(
        &playbook,
        &LoadOptions {
            env_file: Some(env_file),
            vars: [("sim_url".to_string(), base.clone())]
                .into_iter()
                .chain(a.scenario.vars())
                .collect(),
            require_secrets: true,
        },
    ) {
        Ok(l) => l,
        Err(d) => {
            super::print_diags(&d);
            return exit::INVALID;
        }
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    rt.block_on(against_simulator(a, loaded, &playbook, addr))
}

/// Point the AWS SDK at the simulator, with throwaway credentials. Must run
/// before any other thread exists.
fn point_aws_sdk_at(base: &str) {
    for (k, v) in [
        ("AWS_ENDPOINT_URL_ROUTE53_RECOVERY_CLUSTER", base),
        ("AWS_ENDPOINT_URL_GLOBAL_ACCELERATOR", base),
        ("AWS_ACCESS_KEY_ID", "gameday-demo"),
        ("AWS_SECRET_ACCESS_KEY", "gameday-demo"),
        ("AWS_REGION", "us-west-2"),
    ] {
        // SAFETY: no other thread exists yet (the runtime is built below).
        unsafe { std::env::set_var(k, v) };
    }
    // SAFETY: as above.
    unsafe { std::env::remove_var("AWS_PROFILE") };
}

/// Start the simulator on `addr`, run the drill against it without prompts,
/// and print the summary next to the simulator's ground truth.
async fn against_simulator(
    a: DemoArgs,
    loaded: crate::playbook::Loaded,
    playbook: &Path,
    addr: std::net::SocketAddr,
) -> i32 {
    let scenario = super::scenario::about(a.scenario);
    let base = format!("http://{addr}");
    // A minute of history before the drill starts: warm gauges and a lead-in for the charts.
    let config = a.scenario.config(crate::sim::SimConfig {
        backfill: std::time::Duration::from_secs(60),
        ..Default::default()
    });
    let sim = match crate::sim::start(config, a.seed, addr).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gameday demo: cannot start the simulator: {e}");
            return exit::ABORTED;
        }
    };
    eprintln!(
        "gameday demo: simulator (seed {}, scenario {}: {}) on {base}; running {} against it, manual steps confirmed automatically",
        a.seed,
        scenario.name,
        scenario.injects,
        playbook.display()
    );
    let pb = Arc::new(loaded.playbook.clone());
    let mut observers: Vec<Arc<dyn Observer>> = vec![];
    if !a.quiet {
        observers.push(crate::view::TerminalView::new(pb));
    }
    let opts = RunOptions {
        out_dir: a.out.clone(),
        interaction: Interaction::Auto {
            by: "gameday demo (no prompts: manual steps are confirmed automatically)".into(),
        },
        observers,
        junit: None,
        template: None,
        // The simulator lives in this process: a guard could not reach it after a crash.
        guard: false,
        formats: crate::report::Formats::DEFAULT,
        state: a.state.clone(),
    };
    let summary = match crate::engine::run_drill(loaded, opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gameday demo: {e}");
            sim.shutdown().await;
            return exit::INVALID;
        }
    };
    if summary.abandoned {
        print_summary(&summary);
        return summary.exit_code;
    }
    let truth: Option<serde_json::Value> = match reqwest::get(format!("{base}/sim/truth")).await {
        Ok(r) => r.json().await.ok(),
        Err(_) => None,
    };
    sim.shutdown().await;
    print_summary(&summary);
    if let Some(t) = &truth {
        print_truth(&summary, t);
    }
    println!(
        "Scenario {} ({}): the report shows {}",
        scenario.name, scenario.injects, scenario.shows
    );
    println!("Report: {}", summary.run_dir.join("report.md").display());
    println!("{}", summary.run_dir.display());
    summary.exit_code
}

/// Keep the simulator's ground truth beside the run and print the measured
/// metrics next to the true values.
fn print_truth(summary: &crate::engine::RunSummary, t: &serde_json::Value) {
    let _ = std::fs::write(
        summary.run_dir.join("sim-truth.json"),
        serde_json::to_string_pretty(t).unwrap_or_default(),
    );
    println!("Measured against the simulator's ground truth (sim-truth.json):");
    for (name, from, to) in [
        ("ttd", "isolated_at", "alert_firing_at"),
        ("ttr", "isolated_at", "rerouted_at"),
        ("catch_up", "restored_at", "caught_up_at"),
    ] {
        let measured = summary.metrics.iter().find(|m| m.name == name);
        let fmt = |v: Option<f64>| v.map_or("missing".to_string(), |v| format!("{v:.2} s"));
        println!(
            "  {name:<9} measured {:>9}  true {:>9}",
            fmt(measured.and_then(|m| m.value)),
            fmt(between(t, from, to))
        );
    }
    let count = |k: &str| t.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let since = read_recorded(&summary.run_dir, "conflicts_since_isolation");
    println!(
        "  conflicts measured {:>9}  true {:>9} (since isolation; lost updates {}, residency violations {})",
        since.map_or("missing".into(), |v| format!("{v:.0}")),
        count("conflicts_total"),
        count("lost_updates_total"),
        count("residency_violations_total"),
    );
}

/// A value a step recorded during the run, read back from its journal.
fn read_recorded(run_dir: &Path, name: &str) -> Option<f64> {
    let events = crate::journal::read_journal(&run_dir.join(crate::journal::JOURNAL_FILE)).ok()?;
    events.events.iter().rev().find_map(|e| match &e.kind {
        crate::journal::EventKind::Recorded { name: n, value, .. } if n == name => Some(*value),
        _ => None,
    })
}
