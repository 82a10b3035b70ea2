//! `kind: http`: one HTTP request with expectations on status, JSON values,
//! body text and latency. GET and HEAD are read-only; other methods change
//! something and need an `undo` request (or `read_only: true`).

use crate::playbook::expect::Comparison;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub expect: HttpExpect,
    /// Declares a non-GET request harmless (a search POST, say).
    #[serde(default)]
    pub read_only: Option<bool>,
    /// The request that undoes this one, for mutating requests.
    #[serde(default)]
    pub undo: Option<HttpRequest>,
}

fn get() -> String {
    "GET".into()
}

/// A request without expectations (used for undo).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequest {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    /// Expected status: a number (`200`) or a comparison (`< 500`). Default: 2xx.
    #[serde(default)]
    pub status: Option<String>,
    /// Values at dotted JSON paths (`data.state`, `items.0.id`): text is compared
    /// for equality, a comparison (`>= 3`) numerically.
    #[serde(default)]
    pub json: BTreeMap<String, String>,
    /// A regular expression the body must match.
    #[serde(default)]
    pub body_matches: Option<crate::playbook::pattern::Pattern>,
    /// Latency bound, such as `< 500ms`.
    #[serde(default)]
    pub latency: Option<Comparison>,
}

impl HttpSpec {
    pub fn is_read_only(&self) -> bool {
        self.read_only.unwrap_or_else(|| {
            matches!(
                self.method.to_ascii_uppercase().as_str(),
                "GET" | "HEAD" | "OPTIONS"
            )
        })
    }
}

impl super::Kind for HttpSpec {
    fn effect(&self) -> super::Effect {
        if self.is_read_only() {
            super::Effect::ReadOnly
        } else {
            super::Effect::Mutating {
                has_undo: self.undo.is_some(),
            }
        }
    }
}
