//! All integration tests, compiled into one binary (one link, shared
//! helpers). Each area adds its own module.

mod cli;
mod support;

mod audit;
mod adoption;
mod aws;
mod crash;
mod data;
mod deploy;
mod engine;
mod guard;
mod notify;
mod fuzz;
mod pg_tls;
mod prom;
mod pushgateway;
mod readme;
mod report;
mod script;
mod secrets;
mod s3state;
mod sim;
mod unattended;
