//! All integration tests, compiled into one binary (one link, shared
//! helpers). Each area adds its own module.

mod cli;
mod support;

mod aws;
mod crash;
mod data;
mod engine;
mod fuzz;
mod pg_tls;
mod prom;
mod report;
mod secrets;
mod sim;
