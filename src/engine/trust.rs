//! The journal is a trust boundary: `gameday restore` acts on what a file
//! says, and a file can be damaged or edited. Before anything is undone,
//! every pending undo record is checked against the change it claims to
//! undo: the step must have started in this journal, the record must parse,
//! and its action must be of the step's kind (a shell step is undone by a
//! command, an ARC step by routing controls…). A record that does not fit is
//! refused with a diagnostic and never executed.

use super::restore::Applied;
use crate::journal::{Event, EventKind};
use crate::steps::aws::AwsUndoOp;
use crate::steps::{Undo, UndoAction};
use std::collections::{BTreeMap, BTreeSet};

/// A pending application whose undo record was refused, and why.
#[derive(Debug, Clone)]
pub struct Refused {
    pub applied: Applied,
    pub reason: String,
}

/// Whether `action` can be the undo of a step of kind `kind`.
pub fn undo_fits(kind: &str, action: &UndoAction) -> bool {
    match action {
        // Irreversible steps record what a person must do.
        UndoAction::Manual { .. } => true,
        UndoAction::Shell(_) => kind == "shell",
        UndoAction::Http(_) => kind == "http",
        UndoAction::Canary(_) => kind == "canary",
        UndoAction::PostgresFence(_) => kind == "postgres-fence",
        UndoAction::Aws(u) => {
            let prefix = match u.op {
                AwsUndoOp::ArcRoutingControls(_) => "arc-",
                AwsUndoOp::GaEndpointGroup(_) => "ga-",
                AwsUndoOp::Route53HealthCheck(_) | AwsUndoOp::Route53Records(_) => "route53-",
                AwsUndoOp::Elbv2Actions(_) | AwsUndoOp::Elbv2Targets(_) => "elbv2-",
                AwsUndoOp::FisStop(_) => "fis-",
                AwsUndoOp::RdsFailBack(_) | AwsUndoOp::RdsSwitchBack(_) => "rds-",
            };
            kind.starts_with(prefix)
        }
    }
}

fn action_name(action: &UndoAction) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| {
            let kind = v.get("kind")?.as_str()?.to_string();
            Some(match v.get("op").and_then(|o| o.as_str()) {
                Some(op) => format!("{kind} ({op})"),
                None => kind,
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The applications a journal leaves pending, oldest first, split into
/// those whose undo record can be trusted and those refused.
pub fn vet(events: &[Event]) -> (Vec<Applied>, Vec<Refused>) {
    let mut kinds: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen_ids: BTreeSet<&str> = BTreeSet::new();
    let mut out: Vec<(Applied, Option<String>)> = vec![];
    for e in events {
        match &e.kind {
            EventKind::StepStarted { step, kind, .. } => {
                kinds.insert(step, kind);
            }
            EventKind::Intent { id, step, undo, .. } => {
                let parsed = undo
                    .as_ref()
                    .map(|u| serde_json::from_value::<Undo>(u.clone()));
                let mut reason = None;
                if !seen_ids.insert(id) {
                    reason = Some(format!(
                        "a second intent with id `{id}`: the journal was edited or damaged"
                    ));
                }
                let undo = match parsed {
                    None => None,
                    Some(Ok(u)) => Some(u),
                    Some(Err(err)) => {
                        reason
                            .get_or_insert(format!("its undo record is not a valid undo ({err})"));
                        None
                    }
                };
                match (kinds.get(step.as_str()), &undo) {
                    (None, _) => {
                        reason
                            .get_or_insert(format!("step `{step}` never started in this journal"));
                    }
                    (Some(kind), Some(u)) if !undo_fits(kind, &u.action) => {
                        reason.get_or_insert(format!(
                            "its undo record is a {} action, which cannot undo a `{kind}` step",
                            action_name(&u.action)
                        ));
                    }
                    _ => {}
                }
                out.push((
                    Applied {
                        id: id.clone(),
                        step: step.clone(),
                        undo,
                    },
                    reason,
                ));
            }
            EventKind::ApplyFailed { id, .. } | EventKind::Undone { id } => {
                out.retain(|(a, _)| &a.id != id)
            }
            _ => {}
        }
    }
    let mut trusted = vec![];
    let mut refused = vec![];
    for (applied, reason) in out {
        match reason {
            None => trusted.push(applied),
            Some(reason) => refused.push(Refused { applied, reason }),
        }
    }
    (trusted, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;

    fn journal(intent_undo: serde_json::Value, kind: &str) -> Vec<Event> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("journal.jsonl");
        let j = Journal::open(&p, vec![], 0.0).unwrap();
        j.emit(EventKind::StepStarted {
            phase: "isolate".into(),
            step: "raise flag".into(),
            kind: kind.into(),
            description: String::new(),
            watch: false,
        })
        .unwrap();
        j.emit(EventKind::Intent {
            id: "001-raise-flag".into(),
            phase: "isolate".into(),
            step: "raise flag".into(),
            description: "create the flag".into(),
            pre_state: serde_json::Value::Null,
            undo: Some(intent_undo),
        })
        .unwrap();
        drop(j);
        crate::journal::read_journal(&p).unwrap().events
    }

    fn shell_undo() -> serde_json::Value {
        serde_json::json!({
            "description": "run rm -f /tmp/flag",
            "action": {"kind": "shell", "command": {"argv": ["rm", "-f", "/tmp/flag"]}, "env": {}}
        })
    }

    #[test]
    fn a_matching_undo_is_trusted() {
        let (ok, refused) = vet(&journal(shell_undo(), "shell"));
        assert_eq!(ok.len(), 1);
        assert!(refused.is_empty());
    }

    #[test]
    fn an_undo_of_another_kind_is_refused() {
        let (ok, refused) = vet(&journal(shell_undo(), "arc-routing-control"));
        assert!(ok.is_empty());
        assert_eq!(
            refused[0].reason,
            "its undo record is a shell action, which cannot undo a `arc-routing-control` step"
        );
    }

    #[test]
    fn an_unparsable_undo_is_refused_not_treated_as_absent() {
        let (ok, refused) = vet(&journal(serde_json::json!({"action": 3}), "shell"));
        assert!(ok.is_empty());
        assert!(
            refused[0]
                .reason
                .starts_with("its undo record is not a valid undo")
        );
    }
}
