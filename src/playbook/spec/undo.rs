//! `kind: undo` (restore phase): run the recorded undo of an earlier step at
//! this point of the restoration, so the playbook orders restoration (routing
//! back first, then watch catch-up). `of: all` undoes everything still applied,
//! newest first. Anything not undone by the end is undone automatically.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoSpec {
    /// The name of the step to undo, or `all`.
    pub of: String,
}

super::fixed_effect!(UndoSpec => Restore);
