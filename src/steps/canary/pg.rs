//! One canary write into PostgreSQL: the table, the upsert, reconnection.

use super::*;

/// The upsert a PostgreSQL canary makes.
pub(super) fn upsert_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} (run_id, key, seq, written_at) VALUES ($1, $2, $3, now()) \
         ON CONFLICT (run_id, key) DO UPDATE SET seq = EXCLUDED.seq, written_at = EXCLUDED.written_at"
    )
}

/// Create the canary table if it is missing.
pub(crate) async fn create_table(conn: &PgConn, table: &str) -> Result<(), StepError> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {table} (run_id text NOT NULL, key text NOT NULL, \
         seq bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, key))"
    );
    conn.client
        .batch_execute(&sql)
        .await
        .map_err(|e| conn.error(&format!("creating table {table}"), &e))
}

/// One row to upsert.
pub(super) struct PgWrite<'a> {
    /// Connection name.
    pub(super) name: &'a str,
    pub(super) table: &'a str,
    pub(super) token: &'a str,
    pub(super) key: &'a str,
    pub(super) seq: u64,
}

pub(super) async fn write_pg(
    pb: &Playbook,
    conn: &mut Option<PgConn>,
    w: PgWrite<'_>,
    timeout: Duration,
) -> WriteResult {
    let PgWrite {
        name,
        table,
        token,
        key,
        seq,
    } = w;
    if conn
        .as_ref()
        .is_none_or(|c| c.name != name || c.client.is_closed())
    {
        *conn = None;
        let Some(c) = pb.connections.postgres.get(name) else {
            return WriteResult::Rejected(format!("no PostgreSQL connection named `{name}`"));
        };
        let t = c.connect_timeout.map_or(timeout, |t| t.get().min(timeout));
        match postgres::connect_source(name, &c.source, Some(t)).await {
            Ok(c) => *conn = Some(c),
            Err(e) => return WriteResult::Rejected(e.message),
        }
    }
    let Some(c) = conn.as_ref() else {
        return WriteResult::Rejected("no connection".into());
    };
    let seq_i = seq as i64;
    let sql = upsert_sql(table);
    let r = tokio::time::timeout(
        timeout,
        c.client.execute(sql.as_str(), &[&token, &key, &seq_i]),
    )
    .await;
    match r {
        Ok(Ok(_)) => WriteResult::Acked {
            region: None,
            version: None,
        },
        Ok(Err(e)) => {
            let err = c.error("insert", &e);
            if e.as_db_error().is_some() && !err.retryable {
                WriteResult::Rejected(err.message)
            } else {
                // The connection broke: the commit may or may not have happened.
                *conn = None;
                WriteResult::Unknown(err.message)
            }
        }
        Err(_) => {
            *conn = None;
            WriteResult::Unknown(format!(
                "no answer within {}",
                crate::playbook::duration::format(timeout)
            ))
        }
    }
}
