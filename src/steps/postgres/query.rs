//! `kind: postgres-query`, and the simple-query helpers the other kinds use
//! (first value, number parsing, recovery state).

use super::*;

/// The first value of the first row of a simple query, as text.
pub(super) async fn first_value(
    conn: &PgConn,
    sql: &str,
) -> Result<(Option<String>, usize), StepError> {
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
pub(super) fn as_number(text: &str) -> Option<f64> {
    match text {
        "t" | "true" => Some(1.0),
        "f" | "false" => Some(0.0),
        other => other.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

pub(super) async fn in_recovery(conn: &PgConn) -> Result<bool, StepError> {
    let row = conn
        .client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(|e| conn.error("SELECT pg_is_in_recovery()", &e))?;
    row.try_get::<_, bool>(0)
        .map_err(|e| conn.error("reading pg_is_in_recovery()", &e))
}

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

pub(super) fn one_line(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}
