//! `Problem`: one thing wrong with a playbook, found by a check that knows
//! the model but not the file (spec cross-checks, the loader's validation).
//! The loader turns each into a [`Diagnostic`] with `file:line:col`, the
//! source line and the hint; every check in `playbook` returns this one shape.

use super::model::Pos;
use crate::diag::Diagnostic;

/// What is wrong, where (when the check knows better than its caller), and
/// what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it is; `None`: at the node the caller is checking (a step).
    pub pos: Option<Pos>,
    /// A lowercase fragment saying what is wrong.
    pub message: String,
    /// What to do about it, or a did-you-mean suggestion.
    pub hint: Option<String>,
}

impl Problem {
    /// A problem at the node being checked.
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            pos: None,
            message: message.into(),
            hint: None,
        }
    }

    /// A problem at `pos`.
    pub fn at(pos: Pos, message: impl Into<String>) -> Self {
        Problem {
            pos: Some(pos),
            ..Problem::new(message)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// With `hint` when there is one.
    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// As a diagnostic in `file` (text `src`), at its own position or else
    /// at `default`.
    pub fn diagnostic(self, file: &str, src: &str, default: Pos) -> Diagnostic {
        let pos = self.pos.unwrap_or(default);
        let mut d = Diagnostic::at(file, src, pos.line, pos.col, self.message);
        d.hint = self.hint;
        d
    }
}
