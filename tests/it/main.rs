//! All integration tests, in one binary (one link, shared helpers). Each area adds its own module.

mod support;

mod aws;
mod cli;
mod engine;
mod sim;
