//! gameday: runs multi-region failover drills from YAML playbooks and writes
//! the evidence a postmortem needs. See ARCHITECTURE.md for the module map.

pub mod diag;
pub mod sim;
