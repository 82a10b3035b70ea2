//! `kind: manual`: an engineer confirms (or types an answer). Unattended runs
//! confirm only with `--yes` in playbooks that allow it.

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
}
