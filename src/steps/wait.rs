//! `kind: wait` executor: a fixed pause (observation window). The terminal
//! view shows its countdown from the `step_started` event.

use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError};
use crate::playbook::spec::wait::WaitSpec;
use async_trait::async_trait;

#[async_trait]
impl Step for WaitSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![]
    }
    async fn run(&self, _ctx: &StepCtx) -> Result<Outcome, StepError> {
        tokio::time::sleep(self.duration.get()).await;
        Ok(Outcome::pass(format!("waited {}", self.duration)))
    }
}
