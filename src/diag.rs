//! Diagnostics that point at a place in a file: `path:line:col: message`,
//! the offending source line, a caret under the column, and an optional hint.
//!
//! Every user-facing input error (playbooks, environment files, simulator
//! configs) is one of these, so all of them look alike and all of them say
//! where the problem is and what to do about it.

use std::fmt;

/// One problem found in an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line; 0 when the problem concerns the file as a whole.
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub col: usize,
    /// A lowercase fragment saying what is wrong.
    pub message: String,
    /// What to do about it, or a did-you-mean suggestion.
    pub hint: Option<String>,
    /// The text of `line`, for the caret display.
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// A problem with the file as a whole (missing, unreadable, too large).
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line: 0,
            col: 0,
            message: message.into(),
            hint: None,
            source_line: None,
        }
    }

    /// A problem at `line:col` (1-based) of `source`, the file's text.
    pub fn at(
        file: impl Into<String>,
        source: &str,
        line: usize,
        col: usize,
        message: impl Into<String>,
    ) -> Self {
        let source_line = if line > 0 {
            source.lines().nth(line - 1).map(|l| l.to_string())
        } else {
            None
        };
        Diagnostic {
            file: file.into(),
            line,
            col,
            message: message.into(),
            hint: None,
            source_line,
        }
    }

    /// Attach a hint ("did you mean …", "add a unit such as 30s").
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `path:line:col` (or just `path` when there is no position).
    pub fn location(&self) -> String {
        match (self.line, self.col) {
            (0, _) => self.file.clone(),
            (l, 0) => format!("{}:{}", self.file, l),
            (l, c) => format!("{}:{}:{}", self.file, l, c),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error: {}", self.location(), self.message)?;
        if let Some(src) = &self.source_line {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            // Tabs would shift the caret; show them as single spaces.
            let shown: String = src
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .collect();
            write!(f, "\n{pad} |\n{num} | {shown}")?;
            if self.col > 0 {
                let caret_pad = " ".repeat(self.col - 1);
                write!(f, "\n{pad} | {caret_pad}^")?;
            }
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

/// Suggest the closest candidate to `word`, if one is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len().max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The hint for an unknown name: "did you mean `x`?" when a candidate is
/// close enough to be a typo, otherwise `otherwise()` (often the list of
/// what is accepted). Every did-you-mean in gameday goes through here.
pub fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    otherwise: impl FnOnce() -> String,
) -> String {
    match did_you_mean(word, candidates) {
        Some(s) => format!("did you mean `{s}`?"),
        None => otherwise(),
    }
}

/// Render a list of diagnostics, one block per problem, separated by blank lines.
pub fn render_all(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_caret_and_hint() {
        let src = "name: x\nphases:\n  - kind: isolte\n";
        let d = Diagnostic::at("p.yaml", src, 3, 11, "unknown phase kind `isolte`")
            .with_hint("did you mean `isolate`?");
        assert_eq!(
            d.to_string(),
            "p.yaml:3:11: error: unknown phase kind `isolte`\n  |\n3 |   - kind: isolte\n  |           ^\n  = hint: did you mean `isolate`?"
        );
    }

    #[test]
    fn suggests_close_words_only() {
        let kinds = ["precheck", "isolate", "observe", "validate", "restore"];
        assert_eq!(did_you_mean("isolte", kinds), Some("isolate"));
        assert_eq!(did_you_mean("banana", kinds), None);
    }
}
