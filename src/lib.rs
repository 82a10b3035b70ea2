//! gameday: runs multi-region failover drills from YAML playbooks and writes
//! the evidence a postmortem needs. See ARCHITECTURE.md for the module map.

pub mod cli;
pub mod diag;
pub mod engine;
pub mod journal;
pub mod notify;
pub mod playbook;
pub mod pushgateway;
pub mod redact;
pub mod report;
pub mod sim;
pub mod state;
pub mod steps;
pub mod tls;
pub mod view;
