//! Named connections: the DSN read from its environment variable or file at
//! connect time, parsed, described as `host:port/db as user`, passwords
//! scrubbed from every error; TLS through `postgres_tls`.

use super::*;

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
pub(super) fn password_of(dsn: &str) -> Option<String> {
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

pub(super) fn pg_error(
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
    let (tls, dsn) = crate::steps::postgres_tls::split_dsn(&dsn)
        .map_err(|e| StepError::fatal(format!("PostgreSQL connection `{name}`: {e}")))?;
    let secret = password_of(&dsn);
    let mut config = parse_dsn(name, &dsn)?;
    let tls_config = crate::steps::postgres_tls::client_config(&tls).map_err(|e| {
        StepError::fatal(format!(
            "PostgreSQL connection `{name}`: {e}; check sslrootcert, sslcert and sslkey in its connection string"
        ))
    })?;
    config.ssl_mode(match tls.mode {
        crate::steps::postgres_tls::SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        crate::steps::postgres_tls::SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
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
pub(super) async fn open<T>(
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
