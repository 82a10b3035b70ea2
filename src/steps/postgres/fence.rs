//! `kind: postgres-fence`: make a primary refuse writes
//! (`default_transaction_read_only`), with a guarded undo.

use super::*;

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

pub(super) fn quote_literal(v: &str) -> String {
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
