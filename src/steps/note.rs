//! `kind: note` and `kind: undo` executors. A note only records its text;
//! `undo` steps are carried out by the engine, which owns the list of what
//! is applied, so their executor only plans.

use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError};
use crate::playbook::spec::note::NoteSpec;
use crate::playbook::spec::undo::UndoSpec;
use async_trait::async_trait;

#[async_trait]
impl Step for NoteSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![]
    }
    async fn run(&self, _ctx: &StepCtx) -> Result<Outcome, StepError> {
        Ok(Outcome::pass(self.text.clone()))
    }
}

#[async_trait]
impl Step for UndoSpec {
    fn plan(&self, ctx: &PlanCtx) -> Vec<PlannedCall> {
        let what = if self.of == "all" {
            "everything still applied, newest first".to_string()
        } else {
            let undo = ctx
                .playbook
                .all_steps()
                .find(|(_, s)| s.name == self.of)
                .and_then(|(_, s)| {
                    super::executor(&s.spec)
                        .plan(ctx)
                        .into_iter()
                        .find_map(|c| c.undo)
                });
            match undo {
                Some(u) => format!("{u} (undo of `{}`)", self.of),
                None => format!("the undo of `{}`", self.of),
            }
        };
        vec![PlannedCall {
            call: format!("restore: {what}"),
            undo: None,
        }]
    }
    async fn run(&self, _ctx: &StepCtx) -> Result<Outcome, StepError> {
        Err(StepError::fatal("undo steps are carried out by the engine"))
    }
}
