//! `gameday sim`: a simulated active-active deployment in three regions,
//! reached the way a real one is.
//!
//! * [`model`]: the deterministic model (routing with propagation delay,
//!   traffic by jurisdiction, replication with queues, conflicts resolved
//!   last-writer-wins on skewed clocks, faults, ground truth), driven by an
//!   explicit clock.
//! * [`alerts`]: the alert rules of `drills/sim/rules.yml`, evaluated with Prometheus semantics.
//! * [`metrics`]: exported metric names and the text exposition format.
//! * [`history`]: the recorded metric history and the PromQL engine (tsink) over it.
//! * [`server`]: the one HTTP listener, the wall-clock ticker, [`start`] and [`SimHandle`].
//! * [`promapi`], [`aws`], [`app`]: the Prometheus API, the Global Accelerator and
//!   Route 53 ARC wire protocols, the application API with ground truth and faults.
//! * [`config`]: the YAML config with positions on every error.
//! * [`cli`]: the `gameday sim` command.

pub mod alerts;
pub mod app;
pub mod aws;
pub mod cli;
pub mod config;
pub mod history;
pub mod metrics;
pub mod model;
pub mod promapi;
pub mod server;

use std::net::SocketAddr;

pub use config::SimConfig;
pub use model::{Sim, Truth};
pub use server::{SimHandle, start};

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("failed to listen on {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// The metric history could not be created or filled.
    #[error("{0}")]
    History(String),
}
