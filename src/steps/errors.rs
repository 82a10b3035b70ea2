//! Errors from libraries, made readable: the cause chain through `Display`
//! (never `Debug`), one line, without the layers that only repeat or say
//! nothing ("dispatch failure", "other"), and the AWS credential chain as
//! the list of providers that were tried.

use std::error::Error;

/// Messages of wrapper layers that add nothing for a person.
const EMPTY_LAYERS: &[&str] = &["dispatch failure", "other", "io error", "unhandled error"];

/// `err` and its sources, `: `-separated, each through `Display`; a layer
/// already contained in the text before it is left out, and so are layers
/// that say nothing. Multi-line messages are folded into one line (`; `).
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![];
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        let text = text.trim();
        let repeated = parts.iter().any(|p| p.contains(text));
        if !text.is_empty() && !repeated && !EMPTY_LAYERS.contains(&text) {
            // A layer that contains the one before it replaces it.
            parts.retain(|p| !text.contains(p.as_str()));
            parts.push(text.to_string());
        }
        cur = e.source();
    }
    let joined = parts.join(": ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
        .replace(":; ", ": ")
}

/// The AWS SDK's "no credentials found in chain. Attempted: …" as one line
/// naming each provider tried and why it gave nothing; other text as is.
pub fn credential_attempts(detail: &str) -> String {
    let Some(at) = detail.find("Attempted:") else {
        return detail.to_string();
    };
    let tried: Vec<String> = detail[at + "Attempted:".len()..]
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            let (name, why) = s.split_once(": ")?;
            let why = why
                .trim_start_matches("the credential provider was not enabled")
                .trim_start_matches(": ")
                .trim();
            Some(if why.is_empty() {
                format!("{name} (not configured)")
            } else {
                format!("{name} ({why})")
            })
        })
        .collect();
    if tried.is_empty() {
        return detail.to_string();
    }
    format!(
        "no credentials found; providers tried: {}",
        tried.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn the_chain_reads_as_one_line_without_empty_or_repeated_layers() {
        let e = E(
            "dispatch failure",
            Some(Box::new(E(
                "other",
                Some(Box::new(E(
                    "connection refused",
                    Some(Box::new(E("connection refused", None))),
                ))),
            ))),
        );
        assert_eq!(chain(&e), "connection refused");
    }

    #[test]
    fn credential_attempts_name_every_provider() {
        let text = "the credential provider was not enabled: no credentials found in chain. Attempted:\n  Environment: the credential provider was not enabled: environment variable not set\n  Profile: the credential provider was not enabled\n  Ec2InstanceMetadata: the credential provider was not enabled: IMDS disabled by AWS_EC2_METADATA_DISABLED env var set to `true`";
        let folded = text.lines().map(str::trim).collect::<Vec<_>>().join("; ");
        assert_eq!(
            credential_attempts(&folded),
            "no credentials found; providers tried: Environment (environment variable not set), Profile (not configured), Ec2InstanceMetadata (IMDS disabled by AWS_EC2_METADATA_DISABLED env var set to `true`)"
        );
    }
}
