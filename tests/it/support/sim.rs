//! The simulator for tests: `gameday sim` on a free loopback port, waited
//! for until `/sim/truth` answers, and its ground truth. Every test that
//! needs the simulator as a separate process starts it here.

use super::{Proc, http};
use serde_json::Value;
use std::time::Duration;

/// How long the simulator may take to answer.
const READY: Duration = Duration::from_secs(30);

/// `gameday sim` with `--seed` (if any) and `config` (YAML, if any) written
/// to its temporary directory, ready.
pub async fn sim_with(seed: Option<u64>, config: Option<&str>) -> Proc {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args: Vec<String> = vec!["sim".into(), "--listen".into(), "127.0.0.1:{port}".into()];
    if let Some(cfg) = config {
        std::fs::write(dir.path().join("sim.yaml"), cfg).expect("sim config");
        args.extend(["--config".into(), "{dir}/sim.yaml".into()]);
    }
    if let Some(s) = seed {
        args.extend(["--seed".into(), s.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = Proc::spawn_in("gameday sim", env!("CARGO_BIN_EXE_gameday"), &args, dir);
    p.wait_ready("/sim/truth", READY).await;
    p
}

/// [`sim_with`] from a test without a runtime of its own.
pub fn sim_blocking(seed: Option<u64>) -> Proc {
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(sim_with(seed, None))
}

/// The simulator's ground truth (`GET /sim/truth`).
pub async fn truth(base_url: &str) -> Value {
    http()
        .get(format!("{base_url}/sim/truth"))
        .send()
        .await
        .expect("GET /sim/truth")
        .json()
        .await
        .expect("truth JSON")
}
