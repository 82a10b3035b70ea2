//! All integration tests, compiled into one binary (one link, shared
//! helpers). Each area adds its own module.

mod cli;
mod conflicts;
mod support;

mod adoption;
mod audit;
mod aws;
mod crash;
mod data;
mod deploy;
mod engine;
mod exclusive;
mod fuzz;
mod guard;
mod notify;
mod pg_tls;
mod prom;
mod pushgateway;
mod readme;
mod report;
mod s3state;
mod script;
mod secrets;
mod sim;
mod unattended;
