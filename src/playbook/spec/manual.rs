//! `kind: manual`: an engineer confirms (or types an answer). `unattended:`
//! says what happens when nobody is there (cron, CI, a CronJob):
//!
//! ```yaml
//! - name: on-call staged
//!   kind: manual
//!   prompt: Is the on-call engineer on the bridge?
//!   unattended:                      # confirm | refuse | check: STEP
//!     check:                         # a read-only step replaces the person
//!       name: on-call shift open
//!       kind: http
//!       url: ${oncall_api}/shifts/current
//!       expect: { status: 200 }
//! ```
//!
//! Without a rule, unattended runs confirm with `--yes` in playbooks that
//! say `unattended: true`; `validate --unattended` refuses a manual step in
//! the restore phase without an explicit rule.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualSpec {
    /// What the engineer must do or check before confirming.
    pub prompt: String,
    /// Ask for a typed answer instead of yes/no (recorded in the journal).
    #[serde(default)]
    pub input: Option<String>,
    /// The answer used when the step is confirmed automatically.
    #[serde(default)]
    pub default: Option<String>,
    /// What an unattended run does with this step.
    /// `confirm`, `refuse`, or `{ check: STEP }` (a read-only step that replaces the person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub unattended: Option<UnattendedRule>,
    /// With `unattended: { check: … }`: the read-only step that replaces the
    /// person (built by the loader, which keeps its position).
    #[serde(skip_deserializing, default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub check: Option<Box<crate::playbook::Step>>,
}

/// What an unattended run does with a manual step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnattendedRule {
    /// Confirm automatically (needs `--yes`), as a person would have.
    Confirm,
    /// The drill cannot run unattended: refused before anything changes.
    Refuse,
    /// Run the `check:` step instead; it passes or the step fails.
    Check,
}

super::fixed_effect!(ManualSpec => Interactive);
