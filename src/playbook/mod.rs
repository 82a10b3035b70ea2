//! The playbook model: types, loading, interpolation, validation and
//! diagnostics. Nothing in here talks to a network or runs a command.

pub mod duration;
pub mod expect;
pub mod interp;
pub mod kinds;
pub mod load;
pub mod model;
pub mod node_de;
pub mod notify;
pub mod pattern;
pub mod problem;
pub mod reference;
pub mod role;
pub mod schema;
pub mod spec;
pub mod yaml;

pub use load::{LoadOptions, Loaded, load, load_str};
pub use model::*;
pub use role::MetricRole;
