//! `Builder::feed`, continued: the changes a drill made and their undos,
//! and what it measured.

use super::builder::Builder;
use super::format::*;
use super::types::*;
use crate::journal::EventKind;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

impl Builder {
    /// Changes the drill made and their undos.
    pub(super) fn feed_change(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        match kind {
            EventKind::Intent {
                id,
                phase,
                step,
                description,
                pre_state,
                undo,
            } => {
                self.change_idx.insert(id.clone(), self.changes.len());
                let undo_text = undo
                    .as_ref()
                    .and_then(|u| u.get("description"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                self.changes.push(ChangeInfo {
                    id: id.clone(),
                    phase: phase.clone(),
                    step: step.clone(),
                    what: description.clone(),
                    undo: undo_text,
                    pre_state: pre_state.clone(),
                    intent_at: rfc(ts),
                    applied_at: None,
                    certain: None,
                    state: ChangeState::StillApplied,
                    undone_at: None,
                    undo_reason: None,
                    errors: vec![],
                });
                self.timeline.push((
                    ts,
                    "change",
                    format!("changing (step `{step}`): {}", one_line(description, 160)),
                ));
            }
            EventKind::Applied { id, certain } => {
                if let Some(&i) = self.change_idx.get(id) {
                    self.changes[i].applied_at = Some(rfc(ts));
                    self.changes[i].certain = Some(*certain);
                    let step = &self.changes[i].step;
                    self.timeline.push((
                        ts,
                        "change",
                        if *certain {
                            format!("change by `{step}` applied")
                        } else {
                            format!("change by `{step}` may have been applied (the call did not confirm)")
                        },
                    ));
                }
            }
            EventKind::ApplyFailed { id, error } => {
                if let Some(&i) = self.change_idx.get(id) {
                    self.changes[i].state = ChangeState::ApplyFailed;
                    self.changes[i].errors.push(error.clone());
                    self.timeline.push((
                        ts,
                        "change",
                        format!(
                            "change by `{}` failed before acting: {}",
                            self.changes[i].step,
                            one_line(error, 160)
                        ),
                    ));
                }
            }
            EventKind::UndoStarted { id, reason } => {
                if let Some(&i) = self.change_idx.get(id) {
                    self.changes[i].undo_reason = Some(reason.clone());
                    self.timeline.push((
                        ts,
                        "undo",
                        format!("undoing `{}` ({reason})", self.changes[i].step),
                    ));
                }
            }
            EventKind::Undone { id } => {
                if let Some(&i) = self.change_idx.get(id) {
                    self.changes[i].state = ChangeState::Undone;
                    self.changes[i].undone_at = Some(rfc(ts));
                    self.timeline
                        .push((ts, "undo", format!("`{}` undone", self.changes[i].step)));
                }
            }
            EventKind::UndoFailed { id, error } => {
                if let Some(&i) = self.change_idx.get(id) {
                    self.changes[i].errors.push(error.clone());
                    self.timeline.push((
                        ts,
                        "undo",
                        format!(
                            "undo of `{}` FAILED: {}",
                            self.changes[i].step,
                            one_line(error, 160)
                        ),
                    ));
                }
            }
            _ => {}
        }
    }

    /// What was measured: markers, recorded values, metrics, canary writes, artifacts.
    pub(super) fn feed_measure(&mut self, ts: DateTime<Utc>, kind: &EventKind) {
        let c = self.c;
        match kind {
            EventKind::Marker {
                name,
                at,
                observed_at,
                resolution_seconds,
                source,
                step,
            } => {
                self.markers.entry(name.clone()).or_insert_with(|| rfc(*at));
                self.marker_details.push(MarkerInfo {
                    name: name.clone(),
                    at: rfc(*at),
                    t: c.t(*at),
                    observed_at: rfc(*observed_at),
                    noticed_after_seconds: secs_between(*at, *observed_at),
                    resolution_seconds: *resolution_seconds,
                    source: source.clone(),
                    step: step.clone(),
                });
                if let Some(s) = self.steps.iter_mut().rev().find(|s| &s.name == step) {
                    s.marker = Some(name.clone());
                }
                let res = resolution_seconds
                    .map(|r| format!(" (± {})", human_secs(r)))
                    .unwrap_or_default();
                self.timeline.push((
                    *at,
                    "marker",
                    format!("marker `{name}`{res}: {source}, set by `{step}`"),
                ));
            }
            EventKind::Recorded {
                name,
                value,
                unit,
                step,
            } => self.recorded.push(RecordedInfo {
                name: name.clone(),
                value: *value,
                unit: unit.clone(),
                step: step.clone(),
                at: rfc(ts),
            }),
            EventKind::Metric {
                name,
                value,
                unit,
                target,
                met,
                resolution_seconds,
                detail,
            } => self.metric_events.push((
                name.clone(),
                metric_info(
                    *value,
                    unit,
                    target.clone(),
                    *met,
                    *resolution_seconds,
                    detail.clone(),
                    None,
                ),
            )),
            EventKind::CanaryWrite {
                step,
                region,
                acked_at,
                ..
            } => {
                let c = self.canary.get_or_insert_with(|| CanaryInfo {
                    writes: 0,
                    by_region: BTreeMap::new(),
                    first_acked_at: rfc(*acked_at),
                    last_acked_at: rfc(*acked_at),
                    steps: vec![],
                });
                c.writes += 1;
                *c.by_region.entry(region.clone()).or_insert(0) += 1;
                c.last_acked_at = rfc(*acked_at);
                if !c.steps.contains(step) {
                    c.steps.push(step.clone());
                }
            }
            EventKind::Artifact {
                name,
                path,
                description,
            } => self.artifacts.push(ArtifactInfo {
                name: name.clone(),
                path: path.clone(),
                description: description.clone(),
            }),
            _ => {}
        }
    }
}
