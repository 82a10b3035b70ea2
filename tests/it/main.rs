//! All integration tests, compiled into one binary (one link, shared
//! helpers). Each area adds its own module.

mod cli;
mod support;

mod adoption;
mod aws;
mod data;
mod engine;
mod prom;
mod readme;
mod report;
mod sim;
