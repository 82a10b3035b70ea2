//! `kind: shell`: a command as an argv, or a script for `/bin/sh`. Playbook
//! vars reach scripts as environment variables, never spliced into the text.
//! A shell step changes something unless it says `read_only: true`, so it
//! needs an `undo` command.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::playbook::duration::Positive;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellSpec {
    #[serde(default)]
    pub argv: Option<Vec<String>>,
    #[serde(default)]
    pub script: Option<String>,
    /// Extra environment for the command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub read_only: bool,
    /// Exit status that counts as success (default 0).
    #[serde(default)]
    pub expect_exit: Option<i32>,
    /// A regular expression stdout must match.
    #[serde(default)]
    pub stdout_matches: Option<String>,
    /// Time between SIGTERM and SIGKILL when the step is stopped.
    #[serde(default)]
    pub grace: Option<Positive>,
    #[serde(default)]
    pub undo: Option<ShellCommand>,
}

/// A command with no expectations beyond exit 0: the undo of a shell step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellCommand {
    #[serde(default)]
    pub argv: Option<Vec<String>>,
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub cwd: Option<String>,
}

impl super::Kind for ShellSpec {
    fn effect(&self) -> super::Effect {
        if self.read_only {
            super::Effect::ReadOnly
        } else {
            super::Effect::Mutating {
                has_undo: self.undo.is_some(),
            }
        }
    }
}
