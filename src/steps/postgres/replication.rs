//! `kind: postgres-replication`: replay lag read from either side (the
//! primary's `pg_stat_replication` or the standby's replay timestamps).

use super::*;

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
