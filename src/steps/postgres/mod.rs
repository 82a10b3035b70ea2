//! PostgreSQL steps over `tokio-postgres`: `postgres-query` (a read-only
//! query with a condition on its first value), `postgres-replication`
//! (replay lag from either side, a check or a wait), `postgres-fence`
//! (make a primary refuse writes, with an undo) and `postgres-promote`
//! (`pg_promote()`, then wait until the server accepts writes).
//!
//! Connections are opened per step from the playbook's named connections;
//! the connection string is read from its environment variable or file at
//! that moment and never journaled. Messages name a server as
//! `host:port/db as user`, and any password is scrubbed from error text.
//! TLS through rustls: libpq's `sslmode` (up to `verify-full`), `sslrootcert`,
//! `sslcert` and `sslkey` in the connection string (see `postgres_tls`).

use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError, Undo, UndoAction};
use crate::journal::EventKind;
use crate::playbook::expect::Comparison;
use crate::playbook::spec::postgres::{
    DsnSource, PostgresConnection, PostgresFenceSpec, PostgresPromoteSpec, PostgresQuerySpec,
    PostgresReplicationSpec, ReplicationRole,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};

mod connection;
mod fence;
mod promote;
mod query;
mod replication;

pub use connection::{
    PgConn, connect, connect_source, connection, describe, parse_dsn, read_dsn, scrub,
};
pub use fence::PostgresFenceUndo;
use query::*;
pub(crate) use replication::ctx_record;

#[cfg(test)]
mod tests {
    use super::connection::password_of;
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        let dsn = "host=db.internal port=6432 user=app password=hunter2secret dbname=orders";
        let c = parse_dsn("primary", dsn).unwrap();
        assert_eq!(describe(&c), "db.internal:6432/orders as app");
        assert_eq!(password_of(dsn).as_deref(), Some("hunter2secret"));
        let url = "postgres://app:s3cr%3Dt@db:5432/orders";
        assert_eq!(
            describe(&parse_dsn("p", url).unwrap()),
            "db:5432/orders as app"
        );
        assert_eq!(
            scrub("auth failed for hunter2secret", Some("hunter2secret")),
            "auth failed for [redacted]"
        );
        let e = parse_dsn("p", "host=x password=hunter2secret bogus==").unwrap_err();
        assert!(!e.message.contains("hunter2secret"), "{}", e.message);
    }

    #[test]
    fn first_values_become_numbers() {
        assert_eq!(as_number("t"), Some(1.0));
        assert_eq!(as_number("0.25"), Some(0.25));
        assert_eq!(as_number("primary"), None);
    }
}
