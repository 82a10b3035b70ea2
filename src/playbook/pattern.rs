//! `Pattern`: a regular expression from a playbook, compiled once when the
//! playbook loads. A bad expression is a load error at its `file:line:col`,
//! never a failure in the middle of a run; steps match with the compiled
//! value on every attempt.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A compiled regular expression, written as text (`stdout_matches: "^ok"`).
#[derive(Clone)]
pub struct Pattern {
    re: regex::Regex,
}

impl Pattern {
    /// Compile `text`; the error is a fragment that reads after the field name.
    pub fn new(text: &str) -> Result<Self, String> {
        regex::Regex::new(text)
            .map(|re| Pattern { re })
            .map_err(|e| format!("is not a valid regular expression: {e}"))
    }

    pub fn is_match(&self, haystack: &str) -> bool {
        self.re.is_match(haystack)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        self.re.as_str()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.as_str())
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Pattern::new(&text).map_err(|e| serde::de::Error::custom(format!("`{text}` {e}")))
    }
}

impl schemars::JsonSchema for Pattern {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_once_and_refuses_bad_expressions() {
        let p = Pattern::new("^ok \\d+$").unwrap();
        assert!(p.is_match("ok 12"));
        assert_eq!(p.to_string(), "^ok \\d+$");
        let e = Pattern::new("(unclosed").unwrap_err();
        assert!(e.starts_with("is not a valid regular expression"), "{e}");
    }
}
