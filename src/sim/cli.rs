//! The `gameday sim` command: run the simulator in the foreground until
//! SIGINT or SIGTERM, after printing what it serves and where.
//!
//! Exit codes: 0 after a signal, 2 for an invalid config, 3 when the simulator
//! cannot start (address in use, runtime failure).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::aws;
use super::config::{self, SimConfig};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9797";

/// Run `gameday sim`; returns the process exit code.
pub fn run(listen: Option<SocketAddr>, config: Option<PathBuf>, seed: Option<u64>) -> i32 {
    let cfg = match &config {
        Some(path) => match config::load(path) {
            Ok(c) => c,
            Err(diags) => {
                eprintln!("{}", crate::diag::render_all(&diags));
                return 2;
            }
        },
        None => SimConfig::default(),
    };
    let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9797)));
    let seed = seed
        .or(cfg.seed)
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis() as u64);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return 3;
        }
    };
    runtime.block_on(async move {
        // Handlers first, port second: a SIGINT sent as soon as the port
        // answers must stop the simulator cleanly, not kill it.
        let stop = match StopSignals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot install the signal handlers: {e}");
                return 3;
            }
        };
        let regions: Vec<String> = cfg.regions.iter().map(|r| r.name.clone()).collect();
        let handle = match super::start(cfg, seed, listen).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: {e}");
                return 3;
            }
        };
        print_banner(&handle.base_url(), seed, &regions);
        stop.wait().await;
        eprintln!("stopping the simulator");
        handle.shutdown().await;
        0
    })
}

fn print_banner(base: &str, seed: u64, regions: &[String]) {
    println!("gameday simulator listening on {base} (seed {seed})");
    println!("  metrics         {base}/metrics");
    println!("  Prometheus API  {base}/api/v1/query  (query_range, alerts, rules)");
    println!("  ground truth    {base}/sim/truth");
    println!("  faults          {base}/sim/faults  (GET, POST JSON)");
    println!(
        "  application     {base}/app/{{region}}/records/{{key}}, {base}/app/{{region}}/health"
    );
    println!("  AWS endpoints   POST {base}/  (Global Accelerator, Route 53 ARC)");
    println!("ARC control panel {}", aws::CONTROL_PANEL_ARN);
    for r in regions {
        println!("  {r:<14} routing control {}", aws::routing_control_arn(r));
        println!(
            "  {:<14} endpoint group  {}",
            "",
            aws::endpoint_group_arn(r)
        );
    }
    println!("For the AWS SDK and CLI:");
    println!("  export AWS_ENDPOINT_URL_GLOBAL_ACCELERATOR={base}");
    println!("  export AWS_ENDPOINT_URL_ROUTE53_RECOVERY_CLUSTER={base}");
    println!("  export AWS_ACCESS_KEY_ID=sim AWS_SECRET_ACCESS_KEY=sim AWS_REGION=us-west-2");
    println!("Press Ctrl-C to stop.");
}

/// SIGINT and SIGTERM, listened for from the moment they are installed.
struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
