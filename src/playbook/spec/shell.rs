//! `kind: shell`: a command as an argv, or a script for `/bin/sh`. Playbook
//! vars reach scripts as environment variables, never spliced into the text.
//! A shell step changes something unless it says `read_only: true`, so it
//! needs an `undo` command.
//!
//! `argv` and `script` are exclusive: the typed spec holds a [`Program`],
//! so a step (or an undo) with neither or both is refused when the playbook
//! loads, at its position.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::playbook::duration::Positive;
use crate::playbook::pattern::Pattern;

/// What a shell command runs: exactly one of `argv` or `script`.
#[derive(Debug, Clone, PartialEq)]
pub enum Program {
    /// A program and its arguments, started directly (never empty).
    Argv(Vec<String>),
    /// A script for `/bin/sh -c`.
    Script(String),
}

impl Program {
    fn from_fields(argv: Option<Vec<String>>, script: Option<String>) -> Result<Self, String> {
        match (argv, script) {
            (Some(a), None) if !a.is_empty() => Ok(Program::Argv(a)),
            (None, Some(s)) => Ok(Program::Script(s)),
            (Some(_), Some(_)) => Err("needs exactly one of `argv` or `script`, not both".into()),
            (Some(_), None) => Err("has an empty `argv`: name the program to run".into()),
            (None, None) => Err(
                "needs exactly one of `argv` (a program and its arguments) or `script` (for /bin/sh)"
                    .into(),
            ),
        }
    }

    fn into_fields(self) -> (Option<Vec<String>>, Option<String>) {
        match self {
            Program::Argv(a) => (Some(a), None),
            Program::Script(s) => (None, Some(s)),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawShellSpec", into = "RawShellSpec")]
pub struct ShellSpec {
    /// The command, its extra environment and working directory.
    pub command: ShellCommand,
    pub read_only: bool,
    pub expect_exit: Option<i32>,
    pub stdout_matches: Option<Pattern>,
    pub grace: Option<Positive>,
    pub undo: Option<ShellCommand>,
}

// `kind: shell` as written.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawShellSpec {
    #[serde(default)]
    argv: Option<Vec<String>>,
    #[serde(default)]
    script: Option<String>,
    /// Extra environment for the command.
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    read_only: bool,
    /// Exit status that counts as success (default 0).
    #[serde(default)]
    expect_exit: Option<i32>,
    /// A regular expression stdout must match.
    #[serde(default)]
    stdout_matches: Option<Pattern>,
    /// Time between SIGTERM and SIGKILL when the step is stopped.
    #[serde(default)]
    grace: Option<Positive>,
    #[serde(default)]
    undo: Option<ShellCommand>,
}

impl TryFrom<RawShellSpec> for ShellSpec {
    type Error = String;
    fn try_from(r: RawShellSpec) -> Result<Self, String> {
        let program =
            Program::from_fields(r.argv, r.script).map_err(|e| format!("the command {e}"))?;
        Ok(ShellSpec {
            command: ShellCommand {
                program,
                env: r.env,
                cwd: r.cwd,
            },
            read_only: r.read_only,
            expect_exit: r.expect_exit,
            stdout_matches: r.stdout_matches,
            grace: r.grace,
            undo: r.undo,
        })
    }
}

impl From<ShellSpec> for RawShellSpec {
    fn from(s: ShellSpec) -> Self {
        let (argv, script) = s.command.program.into_fields();
        RawShellSpec {
            argv,
            script,
            env: s.command.env,
            cwd: s.command.cwd,
            read_only: s.read_only,
            expect_exit: s.expect_exit,
            stdout_matches: s.stdout_matches,
            grace: s.grace,
            undo: s.undo,
        }
    }
}

/// A command with no expectations beyond exit 0: the undo of a shell step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(try_from = "RawShellCommand", into = "RawShellCommand")]
pub struct ShellCommand {
    pub program: Program,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
}

// A shell command as written (and as journaled in an undo record).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawShellCommand {
    #[serde(default)]
    argv: Option<Vec<String>>,
    #[serde(default)]
    script: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cwd: Option<String>,
}

impl TryFrom<RawShellCommand> for ShellCommand {
    type Error = String;
    fn try_from(r: RawShellCommand) -> Result<Self, String> {
        let program = Program::from_fields(r.argv, r.script)
            .map_err(|e| format!("the `undo` command {e}"))?;
        Ok(ShellCommand {
            program,
            env: r.env,
            cwd: r.cwd,
        })
    }
}

impl From<ShellCommand> for RawShellCommand {
    fn from(c: ShellCommand) -> Self {
        let (argv, script) = c.program.into_fields();
        RawShellCommand {
            argv,
            script,
            env: c.env,
            cwd: c.cwd,
        }
    }
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
