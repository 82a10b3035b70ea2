//! `kind: manual` executor: asks the engineer at the terminal (dialoguer), or
//! confirms automatically in unattended runs that allow it. Who confirmed,
//! when and what they answered goes into the journal.

use super::{Interaction, Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError};
use crate::journal::EventKind;
use crate::playbook::spec::manual::ManualSpec;
use async_trait::async_trait;

#[async_trait]
impl Step for ManualSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        use crate::playbook::spec::manual::UnattendedRule;
        let unattended = match (&self.unattended, &self.check) {
            (Some(UnattendedRule::Check), Some(c)) => {
                format!(" (unattended: check `{}` instead)", c.name)
            }
            (Some(UnattendedRule::Refuse), _) => " (unattended: refused)".into(),
            (Some(UnattendedRule::Confirm), _) => " (unattended: confirmed by --yes)".into(),
            _ => String::new(),
        };
        vec![PlannedCall {
            call: format!("ask the operator: {}{unattended}", self.prompt),
            undo: None,
        }]
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let _ = ctx.events.emit(EventKind::ManualPrompt {
            step: ctx.step_name.clone(),
            prompt: self.prompt.clone(),
        });
        let (confirmed, answer, by, automatic) = match &ctx.interaction {
            Interaction::Auto { by } => (true, self.default.clone(), by.clone(), true),
            Interaction::Prompt => {
                let prompt = ctx.events.redact(&self.prompt);
                let input = self.input.as_deref().map(|q| ctx.events.redact(q));
                let default = self.default.clone();
                let r = tokio::task::spawn_blocking(
                    move || -> std::io::Result<(bool, Option<String>)> {
                        let theme = dialoguer::theme::ColorfulTheme::default();
                        eprintln!("\n  {prompt}");
                        match input {
                            Some(q) => {
                                let mut i =
                                    dialoguer::Input::<String>::with_theme(&theme).with_prompt(q);
                                if let Some(d) = default {
                                    i = i.default(d);
                                }
                                let a = i.interact_text().map_err(std::io::Error::other)?;
                                Ok((true, Some(a)))
                            }
                            None => {
                                let yes = dialoguer::Confirm::with_theme(&theme)
                                    .with_prompt("Done? Confirm to continue")
                                    .default(false)
                                    .wait_for_newline(true)
                                    .interact()
                                    .map_err(std::io::Error::other)?;
                                Ok((yes, None))
                            }
                        }
                    },
                )
                .await
                .map_err(|e| StepError::fatal(format!("prompt failed: {e}")))?
                .map_err(|e| StepError::fatal(format!("prompt failed: {e}")))?;
                (r.0, r.1, crate::engine::operator(), false)
            }
        };
        if confirmed {
            let _ = ctx.events.emit(EventKind::ManualConfirmed {
                step: ctx.step_name.clone(),
                by: by.clone(),
                answer: answer.clone(),
                automatic,
            });
            let how = if automatic {
                format!("confirmed automatically ({by})")
            } else {
                format!("confirmed by {by}")
            };
            Ok(Outcome::pass(match &answer {
                Some(a) => format!("{how}: {a}"),
                None => how,
            }))
        } else {
            Ok(Outcome::fail(format!("declined by {by}")))
        }
    }
}
