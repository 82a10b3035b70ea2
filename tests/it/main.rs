//! All integration tests, compiled into one binary. Each area adds its own module.

mod data;
