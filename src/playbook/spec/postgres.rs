//! The PostgreSQL side of a playbook: named connections, and the step kinds
//! `postgres-query`, `postgres-replication`, `postgres-fence` and
//! `postgres-promote`.
//!
//! Connection strings (libpq `key=value` or `postgres://` URLs) come from an
//! environment variable or a file, never from the playbook, so they never
//! reach the journal; messages show `host:port/db as user` only.
//!
//! ```yaml
//! postgres:
//!   primary: { env: PG_PRIMARY_DSN }
//!   standby: { file: /run/secrets/pg-standby-dsn, connect_timeout: 5s }
//! ```
//!
//! TLS goes through rustls with libpq's keys in the connection string:
//! `sslmode=require|verify-ca|verify-full`, `sslrootcert`, `sslcert`, `sslkey`
//! (see `crate::steps::postgres_tls`).

use crate::playbook::duration::Positive;
use crate::playbook::expect::Comparison;
use serde::{Deserialize, Serialize};

/// Where a connection string comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DsnSource {
    Env(String),
    File(String),
}

impl std::fmt::Display for DsnSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DsnSource::Env(v) => write!(f, "environment variable {v}"),
            DsnSource::File(p) => write!(f, "file {p}"),
        }
    }
}

/// One named connection under `postgres:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawConnection", into = "RawConnection")]
pub struct PostgresConnection {
    pub source: DsnSource,
    pub connect_timeout: Option<Positive>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connect_timeout: Option<Positive>,
}

impl TryFrom<RawConnection> for PostgresConnection {
    type Error = String;
    fn try_from(r: RawConnection) -> Result<Self, String> {
        let source = match (r.env, r.file) {
            (Some(e), None) if !e.trim().is_empty() => DsnSource::Env(e),
            (None, Some(f)) if !f.trim().is_empty() => DsnSource::File(f),
            _ => {
                return Err("a PostgreSQL connection takes exactly one of `env: VARIABLE` or `file: PATH` holding its connection string (never the string itself)".into());
            }
        };
        Ok(PostgresConnection {
            source,
            connect_timeout: r.connect_timeout,
        })
    }
}

impl From<PostgresConnection> for RawConnection {
    fn from(c: PostgresConnection) -> Self {
        let (env, file) = match c.source {
            DsnSource::Env(e) => (Some(e), None),
            DsnSource::File(f) => (None, Some(f)),
        };
        RawConnection {
            env,
            file,
            connect_timeout: c.connect_timeout,
        }
    }
}

/// `kind: postgres-query`: one query, run in a read-only transaction (so it
/// can never change anything, and `transaction_read_only` reads `on` inside
/// it: ask `default_transaction_read_only` instead), with a condition on the
/// first column of the first row.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresQuerySpec {
    pub connection: String,
    pub query: String,
    /// A comparison (`>= 1`, `<= 5s`) on a numeric first value (`true` is 1),
    /// or text the first value must equal. Without it, the query must succeed.
    #[serde(default)]
    pub expect: Option<String>,
}

/// Which side of the replication a `postgres-replication` step reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplicationRole {
    /// `pg_stat_replication` on the primary: every standby (or the one named).
    Primary,
    /// `pg_last_wal_receive_lsn()`, `pg_last_wal_replay_lsn()`, `pg_last_xact_replay_timestamp()`.
    Standby,
}

/// `kind: postgres-replication`: replay lag as a check or a wait.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresReplicationSpec {
    pub connection: String,
    /// Default: asked of the server (`pg_is_in_recovery()`).
    #[serde(default)]
    pub role: Option<ReplicationRole>,
    /// On a primary: only the standby with this `application_name`.
    #[serde(default)]
    pub application_name: Option<String>,
    /// On a standby: also compare its replay position with this primary's
    /// current WAL position (exact bytes behind, valid once the primary is fenced).
    #[serde(default)]
    pub compare_with: Option<String>,
    /// Condition on the replay lag in seconds (default `<= 5s`).
    #[serde(default)]
    pub expect: Option<Comparison>,
    /// Condition on the bytes of WAL not yet replayed.
    #[serde(default)]
    pub expect_bytes: Option<Comparison>,
    /// On a primary: at least this many standbys must be streaming (default 1).
    #[serde(default)]
    pub min_standbys: Option<u32>,
}

/// `kind: postgres-fence`: stop writes to a primary:
/// `ALTER SYSTEM SET default_transaction_read_only = on` and a reload, then
/// check that a new session is read-only. Undo puts the previous setting back,
/// unless `keep_while_promoted` names a standby that now accepts writes
/// (unfencing then would give two writable primaries).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresFenceSpec {
    pub connection: String,
    /// Also end the other client sessions, so no open transaction keeps writing.
    #[serde(default)]
    pub terminate_sessions: bool,
    #[serde(default)]
    pub keep_while_promoted: Option<String>,
}

/// `kind: postgres-promote`: `pg_promote()` on a standby, then wait until it
/// accepts writes. Cannot be undone: the playbook declares `irreversible:`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresPromoteSpec {
    pub connection: String,
    /// How long to wait for the promotion and for writes to be accepted (default 60s).
    #[serde(default)]
    pub wait_for: Option<Positive>,
}

use super::Problems;

impl super::Kind for PostgresQuerySpec {
    fn effect(&self) -> super::Effect {
        super::Effect::ReadOnly
    }

    fn problems(&self, refs: &super::Refs<'_>) -> Problems {
        let mut out = vec![];
        refs.need_connection(&self.connection, &mut out);
        out
    }
}

impl super::Kind for PostgresReplicationSpec {
    fn effect(&self) -> super::Effect {
        super::Effect::ReadOnly
    }

    fn recorded_suffixes(&self) -> &'static [&'static str] {
        &["bytes"]
    }

    fn problems(&self, refs: &super::Refs<'_>) -> Problems {
        let mut out = vec![];
        refs.need_connection(&self.connection, &mut out);
        if let Some(p) = &self.compare_with {
            refs.need_connection(p, &mut out);
        }
        out
    }
}

impl super::Kind for PostgresFenceSpec {
    fn effect(&self) -> super::Effect {
        super::Effect::Mutating { has_undo: true }
    }

    fn problems(&self, refs: &super::Refs<'_>) -> Problems {
        let mut out = vec![];
        refs.need_connection(&self.connection, &mut out);
        if let Some(s) = &self.keep_while_promoted {
            refs.need_connection(s, &mut out);
        }
        out
    }
}

impl super::Kind for PostgresPromoteSpec {
    fn effect(&self) -> super::Effect {
        super::Effect::Mutating { has_undo: false }
    }

    fn problems(&self, refs: &super::Refs<'_>) -> Problems {
        let mut out = vec![];
        refs.need_connection(&self.connection, &mut out);
        out
    }
}
