//! `notify:`: the webhooks told about a run (in the playbook or the
//! environment file). Webhook URLs and signing keys are secrets, so the
//! playbook names where they come from (an environment variable or a file)
//! and never holds them; the journal names a target by its `name` only.
//!
//! ```yaml
//! notify:
//!   - name: drills-channel
//!     format: slack                  # Slack-compatible incoming-webhook text
//!     url: { env: SLACK_WEBHOOK_URL }
//!   - name: incident-bot
//!     format: json                   # generic JSON, signed with HMAC-SHA256
//!     url: { file: /run/secrets/bot-url }
//!     signing_key: { env: BOT_HMAC_KEY }
//!     on: [start, abort, end, restore_failed, guard]   # default: every event
//! ```

use serde::{Deserialize, Serialize};

/// Where a secret value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretRef {
    Env(String),
    File(String),
}

impl SecretRef {
    /// The value, trimmed; the error names the variable or file, never a value.
    pub fn read(&self) -> Result<String, String> {
        match self {
            SecretRef::Env(v) => std::env::var(v)
                .ok()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().to_string())
                .ok_or_else(|| format!("environment variable {v} is not set")),
            SecretRef::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("cannot read {p}: {e}")),
        }
    }
}

/// The body format of a webhook.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NotifyFormat {
    /// `{"event": …, "drill": …, …}`, signed in `X-Gameday-Signature`.
    #[default]
    Json,
    /// `{"text": "…"}` for Slack-compatible incoming webhooks.
    Slack,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    /// The run started.
    Start,
    /// A marker was recorded.
    Marker,
    /// A guardrail aborted the drill.
    Abort,
    /// The run ended: outcome and metrics.
    End,
    /// Restoration is incomplete (exit 5): what is applied, how to finish.
    RestoreFailed,
    /// The dead-man's switch took over.
    Guard,
}

impl NotifyOn {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyOn::Start => "start",
            NotifyOn::Marker => "marker",
            NotifyOn::Abort => "abort",
            NotifyOn::End => "end",
            NotifyOn::RestoreFailed => "restore_failed",
            NotifyOn::Guard => "guard",
        }
    }
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyTarget {
    /// How the journal and warnings name this target (never its URL).
    pub name: String,
    #[serde(default)]
    pub format: NotifyFormat,
    /// The webhook URL: a secret.
    pub url: SecretRef,
    /// HMAC-SHA256 key for `json` bodies: a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SecretRef>,
    /// Which events to send; every event when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<NotifyOn>>,
}

impl NotifyTarget {
    pub fn wants(&self, about: NotifyOn) -> bool {
        self.on.as_ref().is_none_or(|o| o.contains(&about))
    }
}
