//! `kind: pinned-users`: region-pinned users are still served.
//!
//! For each home jurisdiction, `samples` writes go through the canary's HTTP
//! write request with `{region}` = `via` (sequentially, so the result does not
//! depend on concurrency). Each write is classified:
//!
//! * failed: not acknowledged (the users were not served);
//! * served outside: acknowledged by a region not in `allowed` (the answer's
//!   region, read at the canary's `region_at`; `via` when it has none);
//! * then read-your-writes in `home`, right after the acknowledgement:
//!   `stale` when the read shows no record or another sequence number,
//!   `failed` when the read itself fails.
//!
//! The step fails when a write failed or was served outside, or when the
//! share of failed or stale reads is above `max_failed` (default 0).

use super::canary::{WriteResult, write_http};
use super::canary_verify::{Seen, read_http};
use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError};
use crate::journal::EventKind;
use crate::playbook::spec::pinned::{PinnedUsers, PinnedUsersSpec};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::time::Duration;

/// Sequence numbers of sample writes start here (apart from the canary's own).
const FIRST_SEQ: u64 = 1_000_000_000;

/// What the samples of one jurisdiction found.
#[derive(Debug, Default)]
struct Tally {
    writes: u64,
    write_failed: u64,
    served_outside: u64,
    reads: u64,
    read_failed: u64,
    stale: u64,
    examples: Vec<Value>,
}

impl Tally {
    fn bad_read_share(&self) -> f64 {
        if self.reads == 0 {
            return 0.0;
        }
        (self.read_failed + self.stale) as f64 / self.reads as f64
    }

    fn example(&mut self, v: Value) {
        if self.examples.len() < 5 {
            self.examples.push(v);
        }
    }
}

async fn sample(
    ctx: &StepCtx,
    shared: &super::canary::Shared,
    u: &PinnedUsers,
    n: u32,
) -> Result<Tally, StepError> {
    let Some(h) = &shared.spec.http else {
        return Err(StepError::fatal(
            "pinned-users needs an HTTP canary (a PostgreSQL canary has no regions to route through)",
        ));
    };
    let timeout = shared.write_timeout().max(Duration::from_secs(2));
    let mut t = Tally::default();
    let tag = u.jurisdiction.to_ascii_lowercase();
    for i in 0..n {
        let key = format!("pinned-{}-{tag}-{}", shared.token, i);
        let seq = (FIRST_SEQ + u64::from(i)).to_string();
        let vals = |region: &str| -> Vec<(&'static str, String)> {
            vec![
                ("region", region.to_string()),
                ("key", key.clone()),
                ("seq", seq.clone()),
                ("jurisdiction", u.jurisdiction.clone()),
                ("stream", format!("pinned-{tag}")),
                ("run", shared.token.clone()),
            ]
        };
        let wv = vals(&u.via);
        let wrefs: Vec<(&str, &str)> = wv.iter().map(|(k, v)| (*k, v.as_str())).collect();
        t.writes += 1;
        let served = match write_http(&ctx.http, h, &wrefs, timeout).await {
            WriteResult::Acked { region, .. } => region.unwrap_or_else(|| u.via.clone()),
            WriteResult::Rejected(e) | WriteResult::Unknown(e) => {
                t.write_failed += 1;
                t.example(json!({"key": key, "write_failed": e}));
                continue;
            }
        };
        if !u.allowed.contains(&served) {
            t.served_outside += 1;
            t.example(json!({"key": key, "served_in": served}));
        }
        let rv = vals(&u.home);
        let rrefs: Vec<(&str, &str)> = rv.iter().map(|(k, v)| (*k, v.as_str())).collect();
        t.reads += 1;
        match read_http(&ctx.http, &h.read, &rrefs, timeout).await {
            Seen::Present(s) if s.to_string() == seq => {}
            Seen::Present(s) => {
                t.stale += 1;
                t.example(json!({"key": key, "served_in": served, "home": u.home, "read_seq": s, "written_seq": seq}));
            }
            Seen::Absent => {
                t.stale += 1;
                t.example(
                    json!({"key": key, "served_in": served, "home": u.home, "read": "absent"}),
                );
            }
            Seen::Error(e) => {
                t.read_failed += 1;
                t.example(json!({"key": key, "home": u.home, "read_failed": e}));
            }
        }
    }
    Ok(t)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

#[async_trait]
impl Step for PinnedUsersSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        self.users
            .iter()
            .map(|u| PlannedCall {
                call: format!(
                    "{} sample writes of `{}` users through canary `{}` via {} (allowed: {}), each read back in {}",
                    self.samples,
                    u.jurisdiction,
                    self.canary,
                    u.via,
                    u.allowed.join(", "),
                    u.home
                ),
                undo: None,
            })
            .collect()
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let w = ctx.clients.canaries.get(&self.canary).ok_or_else(|| {
            StepError::fatal(format!(
                "canary `{}` was not started in this run, so its requests are not known",
                self.canary
            ))
        })?;
        let max = self.max_failed.as_ref().map_or(0.0, |s| s.ratio);
        let mut ok = true;
        let mut parts = vec![];
        let mut by_j = serde_json::Map::new();
        let (mut reads, mut bad) = (0u64, 0u64);
        for u in &self.users {
            let t = sample(ctx, &w.shared, u, self.samples).await?;
            let share = t.bad_read_share();
            let held = t.write_failed == 0 && t.served_outside == 0 && t.reads > 0 && share <= max;
            ok &= held;
            reads += t.reads;
            bad += t.read_failed + t.stale;
            let mut line = format!(
                "{}: {}/{} served in an allowed region, {} failed or stale reads in {} of {}",
                u.jurisdiction,
                t.writes - t.write_failed - t.served_outside,
                t.writes,
                pct(share),
                u.home,
                t.reads
            );
            if t.write_failed > 0 {
                line.push_str(&format!(" ({} writes failed)", t.write_failed));
            }
            if t.served_outside > 0 {
                line.push_str(&format!(
                    " ({} served outside {})",
                    t.served_outside,
                    u.allowed.join("/")
                ));
            }
            parts.push(line);
            by_j.insert(
                u.jurisdiction.clone(),
                json!({
                    "via": u.via, "home": u.home, "allowed": u.allowed,
                    "writes": t.writes, "write_failed": t.write_failed,
                    "served_outside": t.served_outside, "reads": t.reads,
                    "read_failed": t.read_failed, "stale": t.stale,
                    "failed_or_stale_share": share, "examples": t.examples,
                }),
            );
        }
        let share = if reads == 0 {
            0.0
        } else {
            bad as f64 / reads as f64
        };
        if let Some(r) = super::postgres::ctx_record(ctx) {
            let _ = ctx.events.emit(EventKind::Recorded {
                name: r,
                value: share,
                unit: None,
                step: ctx.step_name.clone(),
            });
        }
        Ok(Outcome {
            ok,
            value: Some(share),
            summary: format!(
                "region-pinned users: {} failed or stale reads overall (allowed {}); {}",
                pct(share),
                pct(max),
                parts.join("; ")
            ),
            evidence: json!({"by_jurisdiction": by_j, "failed_or_stale_share": share, "max_failed": max}),
            refined: None,
        })
    }
}
