//! All integration tests, compiled into one binary (one link, shared
//! helpers). Each area adds its own module.

mod cli;
mod support;

mod aws;
mod data;
mod deploy;
mod engine;
mod guard;
mod notify;
mod prom;
mod pushgateway;
mod report;
mod s3state;
mod sim;
mod unattended;
