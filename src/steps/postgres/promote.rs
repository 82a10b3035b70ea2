//! `kind: postgres-promote`: `pg_promote()`, then wait until the server
//! accepts writes.

use super::*;

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
