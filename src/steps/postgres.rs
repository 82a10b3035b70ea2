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

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An open connection: the client, and the task driving its socket
/// (stopped when this is dropped).
pub struct PgConn {
    pub client: Client,
    /// `host:port/db as user`, for messages.
    pub server: String,
    /// The connection's name in the playbook.
    pub name: String,
    secret: Option<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PgConn {
    /// An error of this connection as a step error: password scrubbed,
    /// retryable when the connection (not the statement) failed.
    pub fn error(&self, doing: &str, e: &tokio_postgres::Error) -> StepError {
        pg_error(&self.name, &self.server, doing, e, self.secret.as_deref())
    }
}

/// Read a connection string from its source.
pub fn read_dsn(name: &str, source: &DsnSource) -> Result<String, StepError> {
    let text = match source {
        DsnSource::Env(var) => std::env::var(var).map_err(|_| {
            StepError::fatal(format!(
                "PostgreSQL connection `{name}`: environment variable {var} is not set; export it with a connection string such as `host=db.internal port=5432 user=gameday dbname=app`"
            ))
        })?,
        DsnSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
            StepError::fatal(format!(
                "PostgreSQL connection `{name}`: cannot read the connection string from {path}: {e}"
            ))
        })?,
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(StepError::fatal(format!(
            "PostgreSQL connection `{name}`: the {source} is empty; it must hold a connection string"
        )));
    }
    Ok(text)
}

/// Parse a connection string (its TLS keys already taken out by
/// `postgres_tls::split_dsn`).
pub fn parse_dsn(name: &str, dsn: &str) -> Result<Config, StepError> {
    let config: Config = dsn.parse().map_err(|e: tokio_postgres::Error| {
        StepError::fatal(scrub(
            &format!(
                "PostgreSQL connection `{name}`: invalid connection string: {e}; use `key=value` pairs or a postgres:// URL"
            ),
            password_of(dsn).as_deref(),
        ))
    })?;
    Ok(config)
}

/// `host:port/db as user`.
pub fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("(default user)");
    let db = config.get_dbname().unwrap_or(user);
    format!("{host}:{port}/{db} as {user}")
}

/// The password in a connection string, if it has one (to scrub from messages).
fn password_of(dsn: &str) -> Option<String> {
    dsn.parse::<Config>()
        .ok()
        .and_then(|c| {
            c.get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned())
        })
        .filter(|p| !p.is_empty())
}

/// Replace a password wherever it appears.
pub fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, "[redacted]"),
        _ => text.to_string(),
    }
}

fn pg_error(
    name: &str,
    server: &str,
    doing: &str,
    e: &tokio_postgres::Error,
    secret: Option<&str>,
) -> StepError {
    let (detail, retryable) = match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            // 08: connection exception; 57P: shutdown or starting up; 53: resources.
            let retry = code.starts_with("08") || code.starts_with("57P") || code.starts_with("53");
            (format!("{} (SQLSTATE {code})", db.message()), retry)
        }
        None => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            (msg, true)
        }
    };
    StepError {
        message: scrub(
            &format!("PostgreSQL `{name}` ({server}): {doing}: {detail}"),
            secret,
        ),
        retryable,
    }
}

/// Connect from a source (used by undo actions, which have no playbook).
pub async fn connect_source(
    name: &str,
    source: &DsnSource,
    timeout: Option<Duration>,
) -> Result<PgConn, StepError> {
    let dsn = read_dsn(name, source)?;
    let (tls, dsn) = super::postgres_tls::split_dsn(&dsn)
        .map_err(|e| StepError::fatal(format!("PostgreSQL connection `{name}`: {e}")))?;
    let secret = password_of(&dsn);
    let mut config = parse_dsn(name, &dsn)?;
    let tls_config = super::postgres_tls::client_config(&tls).map_err(|e| {
        StepError::fatal(format!(
            "PostgreSQL connection `{name}`: {e}; check sslrootcert, sslcert and sslkey in its connection string"
        ))
    })?;
    config.ssl_mode(match tls.mode {
        super::postgres_tls::SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        super::postgres_tls::SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    let timeout = timeout
        .or(config.get_connect_timeout().copied())
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    config.connect_timeout(timeout);
    if config.get_application_name().is_none() {
        config.application_name("gameday");
    }
    let server = describe(&config);
    let opened = match tls_config {
        None => open(&config, NoTls, timeout).await,
        Some(c) => {
            open(
                &config,
                tokio_postgres_rustls::MakeRustlsConnect::new(c),
                timeout,
            )
            .await
        }
    };
    let (client, task) = match opened {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return Err(pg_error(
                name,
                &server,
                "cannot connect",
                &e,
                secret.as_deref(),
            ));
        }
        Err(_) => {
            return Err(StepError::retryable(format!(
                "PostgreSQL `{name}` ({server}): cannot connect: no answer within {}",
                crate::playbook::duration::format(timeout)
            )));
        }
    };
    Ok(PgConn {
        client,
        server,
        name: name.to_string(),
        secret,
        task,
    })
}

/// Connect with `tls` within `timeout`; the connection's socket is driven
/// by a task.
async fn open<T>(
    config: &Config,
    tls: T,
    timeout: Duration,
) -> Result<
    Result<(Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    tokio::time::error::Elapsed,
>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    tokio::time::timeout(timeout, async move {
        let (client, connection) = config.connect(tls).await?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok((client, task))
    })
    .await
}

/// The named connection of the playbook.
pub fn connection<'a>(ctx: &'a StepCtx, name: &str) -> Result<&'a PostgresConnection, StepError> {
    ctx.playbook.connections.postgres.get(name).ok_or_else(|| {
        StepError::fatal(format!(
            "no PostgreSQL connection named `{name}` under `postgres:` in the playbook"
        ))
    })
}

/// Connect to the playbook's connection `name`.
pub async fn connect(ctx: &StepCtx, name: &str) -> Result<PgConn, StepError> {
    let c = connection(ctx, name)?;
    connect_source(name, &c.source, c.connect_timeout.map(|t| t.get())).await
}

/// The first value of the first row of a simple query, as text.
async fn first_value(conn: &PgConn, sql: &str) -> Result<(Option<String>, usize), StepError> {
    let msgs = conn
        .client
        .simple_query(sql)
        .await
        .map_err(|e| conn.error("query failed", &e))?;
    let mut first = None;
    let mut rows = 0;
    for m in msgs {
        if let SimpleQueryMessage::Row(r) = m {
            if rows == 0 {
                first = r.get(0).map(|s| s.to_string());
            }
            rows += 1;
        }
    }
    Ok((first, rows))
}

/// `t`/`true` is 1, `f`/`false` 0, numbers are numbers.
fn as_number(text: &str) -> Option<f64> {
    match text {
        "t" | "true" => Some(1.0),
        "f" | "false" => Some(0.0),
        other => other.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

async fn in_recovery(conn: &PgConn) -> Result<bool, StepError> {
    let row = conn
        .client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(|e| conn.error("SELECT pg_is_in_recovery()", &e))?;
    row.try_get::<_, bool>(0)
        .map_err(|e| conn.error("reading pg_is_in_recovery()", &e))
}

// ----- postgres-query --------------------------------------------------------

#[async_trait]
impl Step for PostgresQuerySpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!(
                "postgres `{}`: {} (read-only transaction){}",
                self.connection,
                one_line(&self.query),
                self.expect
                    .as_ref()
                    .map(|e| format!(", expect {e}"))
                    .unwrap_or_default()
            ),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = connect(ctx, &self.connection).await?;
        conn.client
            .batch_execute("BEGIN READ ONLY")
            .await
            .map_err(|e| conn.error("BEGIN READ ONLY", &e))?;
        let result = first_value(&conn, &self.query).await;
        let _ = conn.client.batch_execute("ROLLBACK").await;
        let (first, rows) = result?;
        let shown = first.clone().unwrap_or_else(|| "no value".into());
        let number = first.as_deref().and_then(as_number);
        let (ok, wanted) = match &self.expect {
            None => (true, String::new()),
            Some(e) => match Comparison::parse(e) {
                Ok(c) => (
                    number.is_some_and(|v| c.holds(v)),
                    format!(", expected {e}"),
                ),
                Err(_) => (
                    first.as_deref() == Some(e.as_str()),
                    format!(", expected `{e}`"),
                ),
            },
        };
        let summary = format!(
            "`{}` ({}): {shown}{wanted} ({rows} row{})",
            self.connection,
            conn.server,
            if rows == 1 { "" } else { "s" }
        );
        Ok(Outcome {
            ok,
            value: number,
            summary,
            evidence: json!({
                "connection": self.connection,
                "server": conn.server,
                "query": self.query,
                "rows": rows,
                "first_value": first,
            }),
            refined: None,
        })
    }
}

fn one_line(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

// ----- postgres-replication --------------------------------------------------

/// One standby as the primary sees it.
#[derive(Debug, Clone, Serialize)]
struct StandbyRow {
    application_name: String,
    client: String,
    state: String,
    bytes: Option<f64>,
    lag_seconds: Option<f64>,
}

#[async_trait]
impl Step for PostgresReplicationSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        let side = match self.role {
            Some(ReplicationRole::Primary) => "pg_stat_replication".to_string(),
            Some(ReplicationRole::Standby) => {
                "pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), pg_last_xact_replay_timestamp()"
                    .to_string()
            }
            None => "replication state (role from pg_is_in_recovery())".to_string(),
        };
        let mut call = format!("postgres `{}`: {side}", self.connection);
        if let Some(p) = &self.compare_with {
            call.push_str(&format!(", compared with pg_current_wal_lsn() on `{p}`"));
        }
        call.push_str(&format!(
            "; expect lag {}",
            self.expect.as_ref().map_or("<= 5s", |c| c.text.as_str())
        ));
        if let Some(b) = &self.expect_bytes {
            call.push_str(&format!(", bytes behind {b}"));
        }
        vec![PlannedCall { call, undo: None }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = connect(ctx, &self.connection).await?;
        let role = match self.role {
            Some(r) => r,
            None if in_recovery(&conn).await? => ReplicationRole::Standby,
            None => ReplicationRole::Primary,
        };
        let expect = self
            .expect
            .clone()
            .unwrap_or_else(|| Comparison::parse("<= 5s").expect("constant comparison"));
        let (lag, bytes, mut problems, evidence, what) = match role {
            ReplicationRole::Primary => self.primary_side(&conn).await?,
            ReplicationRole::Standby => self.standby_side(ctx, &conn).await?,
        };
        match lag {
            Some(l) if !expect.holds(l) => {
                problems.push(format!("replay lag {l:.3}s, expected {expect}"))
            }
            None => problems.push("replay lag unknown".into()),
            _ => {}
        }
        if let Some(b) = &self.expect_bytes {
            match bytes {
                Some(v) if b.holds(v) => {}
                Some(v) => problems.push(format!("{v} bytes not replayed, expected {b}")),
                None => problems.push("bytes behind unknown".into()),
            }
        }
        if let (Some(rec), Some(b)) = (ctx_record(ctx), bytes) {
            let _ = ctx.events.emit(EventKind::Recorded {
                name: format!("{rec}_bytes"),
                value: b,
                unit: Some("bytes".into()),
                step: ctx.step_name.clone(),
            });
        }
        let summary = format!(
            "`{}` ({}): {what}{}",
            self.connection,
            conn.server,
            if problems.is_empty() {
                String::new()
            } else {
                format!(": {}", problems.join("; "))
            }
        );
        Ok(Outcome {
            ok: problems.is_empty(),
            value: lag,
            summary,
            evidence,
            refined: None,
        })
    }
}

/// The `record:` of the step being run, if any.
pub(crate) fn ctx_record(ctx: &StepCtx) -> Option<String> {
    ctx.playbook
        .all_steps()
        .find(|(_, s)| s.name == ctx.step_name)
        .and_then(|(_, s)| s.record.clone())
}

type SideResult = (Option<f64>, Option<f64>, Vec<String>, Value, String);

impl PostgresReplicationSpec {
    async fn primary_side(&self, conn: &PgConn) -> Result<SideResult, StepError> {
        let sql = "SELECT coalesce(application_name, ''), coalesce(client_addr::text, 'local'), \
                   coalesce(state, ''), \
                   pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8, \
                   extract(epoch FROM replay_lag)::float8 \
                   FROM pg_stat_replication";
        let rows = conn
            .client
            .query(sql, &[])
            .await
            .map_err(|e| conn.error("reading pg_stat_replication", &e))?;
        let mut standbys = vec![];
        for r in rows {
            let row = StandbyRow {
                application_name: r.try_get(0).unwrap_or_default(),
                client: r.try_get(1).unwrap_or_default(),
                state: r.try_get(2).unwrap_or_default(),
                bytes: r.try_get(3).ok().flatten(),
                lag_seconds: r.try_get(4).ok().flatten(),
            };
            if self
                .application_name
                .as_ref()
                .is_none_or(|a| *a == row.application_name)
            {
                standbys.push(row);
            }
        }
        let mut problems = vec![];
        let streaming = standbys.iter().filter(|s| s.state == "streaming").count();
        let min = self.min_standbys.unwrap_or(1) as usize;
        if streaming < min {
            problems.push(format!(
                "{streaming} standby{} streaming{}, expected at least {min}",
                if streaming == 1 { "" } else { "s" },
                self.application_name
                    .as_ref()
                    .map(|a| format!(" as `{a}`"))
                    .unwrap_or_default()
            ));
        }
        // Lag columns are NULL once a standby is caught up and idle: no bytes
        // behind means no lag.
        let lag = standbys
            .iter()
            .map(|s| match (s.lag_seconds, s.bytes) {
                (Some(l), _) => Some(l),
                (None, Some(b)) if b <= 0.0 => Some(0.0),
                _ => None,
            })
            .try_fold(0.0f64, |acc, l| l.map(|l| acc.max(l)));
        let lag = if standbys.is_empty() { None } else { lag };
        let bytes = standbys
            .iter()
            .map(|s| s.bytes)
            .try_fold(0.0f64, |acc, b| b.map(|b| acc.max(b)));
        let bytes = if standbys.is_empty() { None } else { bytes };
        let what = format!(
            "{} standby{} ({streaming} streaming), replay lag {}, {} bytes behind",
            standbys.len(),
            if standbys.len() == 1 { "" } else { "s" },
            lag.map_or("unknown".into(), |l| format!("{l:.3}s")),
            bytes.map_or("unknown".into(), |b| format!("{b}"))
        );
        Ok((
            lag,
            bytes,
            problems,
            json!({"role": "primary", "server": conn.server, "standbys": standbys}),
            what,
        ))
    }

    async fn standby_side(&self, ctx: &StepCtx, conn: &PgConn) -> Result<SideResult, StepError> {
        // Read the primary's position first: a standby that has replayed up
        // to it was caught up when we asked.
        let primary_lsn = match &self.compare_with {
            Some(p) => {
                let pc = connect(ctx, p).await?;
                if in_recovery(&pc).await? {
                    return Err(StepError::fatal(format!(
                        "`compare_with: {p}` ({}) is itself a standby; name the primary",
                        pc.server
                    )));
                }
                let row = pc
                    .client
                    .query_one("SELECT pg_current_wal_lsn()::text", &[])
                    .await
                    .map_err(|e| pc.error("SELECT pg_current_wal_lsn()", &e))?;
                Some((p.clone(), row.try_get::<_, String>(0).unwrap_or_default()))
            }
            None => None,
        };
        let sql = "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text, \
                   pg_last_wal_replay_lsn()::text, \
                   coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::float8, \
                   pg_last_xact_replay_timestamp()::text, \
                   extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, \
                   (SELECT status FROM pg_stat_wal_receiver LIMIT 1)";
        let r = conn
            .client
            .query_one(sql, &[])
            .await
            .map_err(|e| conn.error("reading the standby's WAL positions", &e))?;
        let recovering: bool = r.try_get(0).unwrap_or(false);
        if !recovering {
            return Ok((
                None,
                None,
                vec![format!(
                    "`{}` is not in recovery: it is a primary, not a standby",
                    self.connection
                )],
                json!({"role": "standby", "server": conn.server, "in_recovery": false}),
                "not a standby".into(),
            ));
        }
        let receive: Option<String> = r.try_get(1).ok().flatten();
        let replay: Option<String> = r.try_get(2).ok().flatten();
        let unreplayed: f64 = r.try_get(3).unwrap_or(0.0);
        let replay_ts: Option<String> = r.try_get(4).ok().flatten();
        let since_replay: Option<f64> = r.try_get(5).ok().flatten();
        let receiver: Option<String> = r.try_get(6).ok().flatten();
        let mut bytes = Some(unreplayed);
        if let Some((_, lsn)) = &primary_lsn {
            let row = conn
                .client
                .query_one(
                    "SELECT pg_wal_lsn_diff($1::text::pg_lsn, pg_last_wal_replay_lsn())::float8",
                    &[lsn],
                )
                .await
                .map_err(|e| conn.error("comparing WAL positions", &e))?;
            bytes = row
                .try_get::<_, Option<f64>>(0)
                .ok()
                .flatten()
                .map(|b| b.max(0.0));
        }
        // Everything received (or everything the primary has) is replayed:
        // no lag, however long ago the last transaction was. Otherwise the
        // lag is the age of the last replayed transaction.
        let lag = if bytes.is_some_and(|b| b <= 0.0) {
            Some(0.0)
        } else {
            since_replay.map(|s| s.max(0.0))
        };
        let what = format!(
            "standby (receiver {}), received {}, replayed {}{}, replay lag {}",
            receiver.as_deref().unwrap_or("not running"),
            receive.as_deref().unwrap_or("nothing"),
            replay.as_deref().unwrap_or("nothing"),
            match &primary_lsn {
                Some((p, lsn)) => format!(
                    ", primary `{p}` at {lsn} ({} bytes behind)",
                    bytes.map_or("?".into(), |b| b.to_string())
                ),
                None => String::new(),
            },
            lag.map_or("unknown".into(), |l| format!("{l:.3}s"))
        );
        Ok((
            lag,
            bytes,
            vec![],
            json!({
                "role": "standby",
                "server": conn.server,
                "receiver": receiver,
                "receive_lsn": receive,
                "replay_lsn": replay,
                "last_replayed_transaction": replay_ts,
                "primary": primary_lsn.as_ref().map(|(p, lsn)| json!({"connection": p, "current_lsn": lsn})),
                "bytes_behind": bytes,
                "lag_seconds": lag,
            }),
            what,
        ))
    }
}

// ----- postgres-fence ----------------------------------------------------------

/// The undo of a fence: put `default_transaction_read_only` back, unless the
/// guard standby has been promoted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PostgresFenceUndo {
    pub connection: String,
    pub source: DsnSource,
    pub connect_timeout_seconds: Option<f64>,
    /// The value `postgresql.auto.conf` had (None: not set there).
    pub prior: Option<String>,
    /// Keep the fence if this connection is no longer in recovery.
    pub keep_while_promoted: Option<(String, DsnSource)>,
}

impl PostgresFenceUndo {
    pub async fn run(&self, ctx: &StepCtx) -> Result<String, StepError> {
        let timeout = self.connect_timeout_seconds.map(Duration::from_secs_f64);
        if let Some((guard, source)) = &self.keep_while_promoted {
            let g = connect_source(guard, source, timeout).await.map_err(|e| {
                StepError::fatal(format!(
                    "not unfencing `{}`: cannot tell whether `{guard}` was promoted ({}); unfencing next to a promoted standby would make two writable primaries. Check `{guard}`, then run `ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf();` on `{}` by hand if it is safe",
                    self.connection, e.message, self.connection
                ))
            })?;
            if !in_recovery(&g).await? {
                let msg = format!(
                    "left `{}` fenced (read-only): `{guard}` ({}) has been promoted and takes the writes; unfencing would make two writable primaries. Rebuild `{}` as a standby of `{guard}`",
                    self.connection, g.server, self.connection
                );
                let _ = ctx.events.emit(EventKind::Warning {
                    message: msg.clone(),
                    step: Some(ctx.step_name.clone()),
                });
                return Ok(msg);
            }
        }
        let conn = connect_source(&self.connection, &self.source, timeout).await?;
        let sql = match &self.prior {
            Some(v) => format!(
                "ALTER SYSTEM SET default_transaction_read_only = {}",
                quote_literal(v)
            ),
            None => "ALTER SYSTEM RESET default_transaction_read_only".to_string(),
        };
        conn.client
            .batch_execute(&sql)
            .await
            .map_err(|e| conn.error(&sql, &e))?;
        conn.client
            .batch_execute("SELECT pg_reload_conf()")
            .await
            .map_err(|e| conn.error("SELECT pg_reload_conf()", &e))?;
        Ok(format!(
            "`{}` ({}): {sql}; reloaded",
            self.connection, conn.server
        ))
    }
}

fn quote_literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

#[async_trait]
impl Step for PostgresFenceSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        let mut call = format!(
            "postgres `{}`: ALTER SYSTEM SET default_transaction_read_only = on; SELECT pg_reload_conf()",
            self.connection
        );
        if self.terminate_sessions {
            call.push_str("; pg_terminate_backend() of the other client sessions");
        }
        vec![PlannedCall {
            call,
            undo: Some(format!(
                "put default_transaction_read_only back and reload{}",
                self.keep_while_promoted
                    .as_ref()
                    .map(|s| format!(", unless `{s}` has been promoted"))
                    .unwrap_or_default()
            )),
        }]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let conn = connect(ctx, &self.connection).await?;
        if in_recovery(&conn).await? {
            return Err(StepError::fatal(format!(
                "`{}` ({}) is a standby (in recovery); fence the primary",
                self.connection, conn.server
            )));
        }
        let current = first_value(&conn, "SHOW default_transaction_read_only")
            .await?
            .0;
        let prior = conn
            .client
            .query(
                "SELECT setting FROM pg_file_settings WHERE name = 'default_transaction_read_only' \
                 AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(|e| {
                conn.error(
                    "reading pg_file_settings (needs superuser or pg_read_all_settings)",
                    &e,
                )
            })?
            .first()
            .and_then(|r| r.try_get::<_, String>(0).ok());
        let c = connection(ctx, &self.connection)?;
        let guard = match &self.keep_while_promoted {
            Some(g) => Some((g.clone(), connection(ctx, g)?.source.clone())),
            None => None,
        };
        let undo = PostgresFenceUndo {
            connection: self.connection.clone(),
            source: c.source.clone(),
            connect_timeout_seconds: c.connect_timeout.map(|t| t.secs()),
            prior: prior.clone(),
            keep_while_promoted: guard,
        };
        let description = match &prior {
            Some(v) => format!(
                "ALTER SYSTEM SET default_transaction_read_only = {v} on `{}`",
                self.connection
            ),
            None => format!(
                "ALTER SYSTEM RESET default_transaction_read_only on `{}`",
                self.connection
            ),
        };
        Ok(Some((
            json!({
                "server": conn.server,
                "default_transaction_read_only": current,
                "auto_conf_setting": prior,
            }),
            Undo {
                description,
                action: UndoAction::PostgresFence(undo),
            },
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let conn = connect(ctx, &self.connection).await?;
        conn.client
            .batch_execute("ALTER SYSTEM SET default_transaction_read_only = on")
            .await
            .map_err(|e| conn.error("ALTER SYSTEM SET default_transaction_read_only = on", &e))?;
        conn.client
            .batch_execute("SELECT pg_reload_conf()")
            .await
            .map_err(|e| conn.error("SELECT pg_reload_conf()", &e))?;
        let mut terminated = 0u64;
        if self.terminate_sessions {
            let row = conn
                .client
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .map_err(|e| conn.error("terminating client sessions", &e))?;
            terminated = row.try_get::<_, i64>(0).unwrap_or(0) as u64;
        }
        // The reload is asynchronous: check from a new session until it is read-only.
        let started = Instant::now();
        loop {
            let check = connect(ctx, &self.connection).await?;
            let v = first_value(&check, "SHOW default_transaction_read_only")
                .await?
                .0;
            if v.as_deref() == Some("on") {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Ok(Outcome::fail(format!(
                    "`{}` ({}): new sessions still have default_transaction_read_only = {} 10s after the reload",
                    self.connection,
                    conn.server,
                    v.unwrap_or_default()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Outcome::pass(format!(
            "`{}` ({}) fenced: new transactions are read-only{}",
            self.connection,
            conn.server,
            if self.terminate_sessions {
                format!(", {terminated} other session(s) ended")
            } else {
                " (open sessions keep their transaction; sessions that set default_transaction_read_only themselves are not fenced)".into()
            }
        ))
        .with_evidence(json!({"server": conn.server, "terminated_sessions": terminated})))
    }
}

// ----- postgres-promote --------------------------------------------------------

#[async_trait]
impl Step for PostgresPromoteSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!(
                "postgres `{}`: SELECT pg_promote(true, {}), then wait until it accepts writes",
                self.connection,
                self.wait_secs()
            ),
            undo: Some("none: a promoted standby cannot be demoted automatically".into()),
        }]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        let conn = connect(ctx, &self.connection).await?;
        let row = conn
            .client
            .query_one(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, pg_last_wal_receive_lsn()::text",
                &[],
            )
            .await
            .map_err(|e| conn.error("reading the standby's state", &e))?;
        let recovering: bool = row.try_get(0).unwrap_or(false);
        if !recovering {
            return Err(StepError::fatal(format!(
                "`{}` ({}) is not a standby (pg_is_in_recovery() is false); there is nothing to promote",
                self.connection, conn.server
            )));
        }
        let replay: Option<String> = row.try_get(1).ok().flatten();
        let receive: Option<String> = row.try_get(2).ok().flatten();
        let (reason, covered_by) = ctx
            .playbook
            .all_steps()
            .find(|(_, s)| s.name == ctx.step_name)
            .and_then(|(_, s)| s.irreversible.clone())
            .map(|i| (i.reason, i.covered_by))
            .unwrap_or_else(|| {
                (
                    "a promoted standby cannot be demoted".into(),
                    "a manual rebuild".into(),
                )
            });
        Ok(Some((
            json!({"server": conn.server, "in_recovery": true, "replay_lsn": replay, "receive_lsn": receive}),
            Undo {
                description: format!("manual: {reason} (covered by `{covered_by}`)"),
                action: UndoAction::Manual {
                    instructions: format!(
                        "{reason}: `{}` was promoted; rebuild the old primary as its standby (pg_basebackup -R or pg_rewind) — see restore step `{covered_by}`",
                        self.connection
                    ),
                },
            },
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let started = Instant::now();
        let limit = Duration::from_secs(self.wait_secs());
        let conn = connect(ctx, &self.connection).await?;
        let mut promoted_by_us = false;
        if in_recovery(&conn).await? {
            let row = conn
                .client
                .query_one("SELECT pg_promote(true, $1)", &[&(self.wait_secs() as i32)])
                .await
                .map_err(|e| conn.error("SELECT pg_promote()", &e))?;
            promoted_by_us = true;
            if !row.try_get::<_, bool>(0).unwrap_or(false) {
                return Ok(Outcome::fail(format!(
                    "`{}` ({}): pg_promote() did not finish within {}s",
                    self.connection,
                    conn.server,
                    self.wait_secs()
                )));
            }
        }
        // Accepting writes: out of recovery, not read-only, and able to take
        // a transaction id (which a standby cannot assign).
        loop {
            let check = async {
                let c = connect(ctx, &self.connection).await?;
                if in_recovery(&c).await? {
                    return Ok::<_, StepError>(Err("still in recovery".to_string()));
                }
                let ro = first_value(&c, "SHOW transaction_read_only").await?.0;
                if ro.as_deref() != Some("off") {
                    return Ok(Err(format!(
                        "transaction_read_only = {}",
                        ro.unwrap_or_default()
                    )));
                }
                c.client
                    .batch_execute("BEGIN; SELECT txid_current(); COMMIT")
                    .await
                    .map_err(|e| c.error("assigning a transaction id", &e))?;
                Ok(Ok(()))
            };
            let last = match check.await {
                Ok(Ok(())) => break,
                Ok(Err(why)) => why,
                Err(e) => e.message,
            };
            if started.elapsed() > limit {
                return Ok(Outcome::fail(format!(
                    "`{}` ({}) does not accept writes {}s after promotion: {last}",
                    self.connection,
                    conn.server,
                    self.wait_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let secs = started.elapsed().as_secs_f64();
        Ok(Outcome {
            ok: true,
            value: Some(secs),
            summary: format!(
                "`{}` ({}) {} and accepts writes after {secs:.2}s",
                self.connection,
                conn.server,
                if promoted_by_us {
                    "promoted"
                } else {
                    "was already promoted"
                }
            ),
            evidence: json!({"server": conn.server, "seconds_to_accept_writes": secs, "promoted_by_this_step": promoted_by_us}),
            refined: None,
        })
    }
}

impl PostgresPromoteSpec {
    fn wait_secs(&self) -> u64 {
        self.wait_for.map_or(60, |d| d.get().as_secs().max(1))
    }
}

#[cfg(test)]
mod tests {
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
