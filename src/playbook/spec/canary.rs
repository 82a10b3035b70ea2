//! The canary step kinds: a background writer of sequence-numbered records
//! (`canary`), pointing it elsewhere (`canary-retarget`), stopping it
//! (`canary-stop`) and reading every acknowledged record back
//! (`canary-verify`).
//!
//! ```yaml
//! - name: canary
//!   kind: canary
//!   rate: 10/s                       # writes per second, all streams together
//!   writes_per_key: 2                # each key is written twice, from different regions
//!   http:
//!     write:
//!       method: PUT
//!       url: "${app}/app/{region}/records/{key}"
//!       body: '{"value": {"seq": {seq}}, "jurisdiction": "{jurisdiction}"}'
//!     read:
//!       url: "${app}/app/{region}/records/{key}"
//!       seq_at: value.seq            # where a read finds the sequence number
//!   streams:
//!     - name: eu
//!       jurisdiction: EU
//!       write_in: [eu-west-1, eu-central-1]
//!       absent_in: [us-east-1]       # residency: read back by a `residency` step
//!     - name: us
//!       jurisdiction: US
//!       write_in: [us-east-1, eu-central-1]
//!       read_in: [us-east-1, eu-west-1, eu-central-1]
//! ```
//!
//! Or into PostgreSQL (one row per key in a table it creates if missing):
//!
//! ```yaml
//! - name: canary
//!   kind: canary
//!   rate: 20/s
//!   postgres: { connection: primary, table: gameday_canary, read_in: [standby] }
//! ```
//!
//! Placeholders in URLs and bodies: `{region}`, `{key}`, `{seq}`,
//! `{jurisdiction}`, `{stream}`, `{run}`. Any other braces are left alone
//! (JSON bodies keep theirs).

use crate::playbook::duration::Positive;
use crate::playbook::expect::Comparison;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Placeholders a canary URL or body may use.
pub const PLACEHOLDERS: &[&str] = &["region", "key", "seq", "jurisdiction", "stream", "run"];

/// Writes per second, written `10/s`, `600/m` or `5000/h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    text_unit: char,
}

impl Rate {
    pub fn parse(text: &str) -> Result<Rate, String> {
        let t = text.trim();
        let (n, unit) = t.split_once('/').ok_or_else(|| {
            format!("`{t}` is not a rate; write it like `10/s`, `600/m` or `5000/h`")
        })?;
        let n: f64 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{t}`: `{}` is not a number", n.trim()))?;
        let per = match unit.trim() {
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "`{t}`: unknown unit `{other}`; use `/s`, `/m` or `/h`"
                ));
            }
        };
        if !n.is_finite() || n <= 0.0 {
            return Err(format!("`{t}`: the rate must be greater than zero"));
        }
        let per_second = n / per;
        if per_second > 1000.0 {
            return Err(format!(
                "`{t}` is more than 1000 writes per second; a canary samples, it is not a load test"
            ));
        }
        Ok(Rate {
            per_second,
            text_unit: unit.trim().chars().next().unwrap_or('s'),
        })
    }

    /// Time between two writes.
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(1.0 / self.per_second)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = match self.text_unit {
            'm' => 60.0,
            'h' => 3600.0,
            _ => 1.0,
        };
        write!(f, "{}/{}", self.per_second * per, self.text_unit)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Rate::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// `kind: canary`: start the background writer.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanarySpec {
    pub rate: Rate,
    /// How many consecutive writes of a stream go to the same key (cycling
    /// through its `write_in` regions), so lost updates show up, not only
    /// lost inserts. 1 writes every record once.
    #[serde(default = "two")]
    pub writes_per_key: u32,
    /// Time limit of one write; a write without an answer in time is
    /// "unknown" (it may have happened), never acknowledged.
    #[serde(default)]
    pub write_timeout: Option<Positive>,
    /// Stop writing after this many writes (memory and keyspace bound).
    #[serde(default)]
    pub max_writes: Option<u64>,
    /// Keys are `<prefix>-<run token>-<stream>-<n>`.
    #[serde(default)]
    pub key_prefix: Option<String>,
    #[serde(default)]
    pub http: Option<CanaryHttp>,
    #[serde(default)]
    pub postgres: Option<CanaryPostgres>,
    /// HTTP only: who writes where. At least one stream.
    #[serde(default)]
    pub streams: Vec<CanaryStream>,
}

fn two() -> u32 {
    2
}

/// The HTTP API records are written to and read from.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryHttp {
    pub write: CanaryWrite,
    pub read: CanaryRead,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryWrite {
    #[serde(default = "put")]
    pub method: String,
    /// With `{region}` to write in each region; without, through a global endpoint.
    pub url: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON path in the write's answer naming the region that took it
    /// (useful behind a global endpoint).
    #[serde(default)]
    pub region_at: Option<String>,
    /// JSON path in the write's answer holding a version (kept as evidence).
    #[serde(default)]
    pub version_at: Option<String>,
}

fn put() -> String {
    "PUT".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryRead {
    /// Must contain `{region}` and `{key}`. 404 means absent.
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON path of the sequence number in a read's answer (default `value.seq`).
    #[serde(default = "value_seq")]
    pub seq_at: String,
}

fn value_seq() -> String {
    "value.seq".into()
}

/// One writer population: its jurisdiction and the regions it writes in.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryStream {
    pub name: String,
    /// Substituted for `{jurisdiction}` (`EU`, `US`).
    #[serde(default)]
    pub jurisdiction: Option<String>,
    /// Regions written in turn; `[global]` (the default) when the write URL has no `{region}`.
    #[serde(default)]
    pub write_in: Vec<String>,
    /// Regions where every acknowledged record must be readable at the end
    /// (default: `write_in`).
    #[serde(default)]
    pub read_in: Vec<String>,
    /// Regions where these records must never be readable (residency).
    #[serde(default)]
    pub absent_in: Vec<String>,
}

impl CanaryStream {
    pub fn required_regions(&self) -> &[String] {
        if self.read_in.is_empty() {
            &self.write_in
        } else {
            &self.read_in
        }
    }
}

/// Rows in a PostgreSQL table: `(run_id, key)` primary key, `seq`, `written_at`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryPostgres {
    /// A connection named under the playbook's `postgres:`.
    pub connection: String,
    /// Created if missing. Plain or schema-qualified identifier.
    #[serde(default = "canary_table")]
    pub table: String,
    /// Connections where every acknowledged row must exist at the end
    /// (default: the connection written last).
    #[serde(default)]
    pub read_in: Vec<String>,
}

fn canary_table() -> String {
    "gameday_canary".into()
}

/// `kind: canary-retarget`: point the writer elsewhere (the new primary after
/// a promotion, the surviving regions after an isolation). Changes only
/// gameday's own writer.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryRetargetSpec {
    pub canary: String,
    /// PostgreSQL canaries: the connection to write to from now on.
    #[serde(default)]
    pub connection: Option<String>,
    /// HTTP canaries: the stream whose `write_in` changes (all streams if omitted).
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub write_in: Vec<String>,
}

/// `kind: canary-stop`: stop the writer without verifying.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryStopSpec {
    pub canary: String,
}

/// The counts `canary-verify` reports, by the name used in `expect:` and
/// in the values it records (`<record>_<name>`).
pub const VERIFY_COUNTS: &[&str] = &[
    "written",
    "acked",
    "rejected",
    "unknown",
    "present",
    "missing",
    "stale",
    "lost",
    "unverified",
    "rpo_seconds",
];

/// `kind: canary-verify`: stop the writer, then read every acknowledged
/// record back wherever it must exist.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryVerifySpec {
    pub canary: String,
    /// Conditions on the counts (default `lost: "== 0"` and `unverified: "== 0"`).
    #[serde(default)]
    pub expect: BTreeMap<String, Comparison>,
    /// Read in these regions/connections instead of the canary's own list.
    #[serde(default)]
    pub read_in: Vec<String>,
    /// Stop the writer first (default true). `false` checks what has arrived so far.
    #[serde(default = "yes")]
    pub stop: bool,
    /// Read again until every record holds one value everywhere it must
    /// exist (replication converged), for at most this long; then judge.
    #[serde(default)]
    pub catch_up: Option<Positive>,
    /// Reads in flight at once.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Examples of lost writes kept as evidence.
    #[serde(default)]
    pub examples: Option<u32>,
}

fn yes() -> bool {
    true
}

impl CanarySpec {
    /// Problems a loaded playbook's canary step can have.
    pub fn problems(&self) -> Vec<crate::playbook::problem::Problem> {
        let mut p: Vec<String> = vec![];
        match (&self.http, &self.postgres) {
            (Some(_), Some(_)) | (None, None) => {
                p.push("a canary writes through exactly one of `http:` or `postgres:`".to_string())
            }
            _ => {}
        }
        if self.writes_per_key == 0 {
            p.push("`writes_per_key` must be at least 1".into());
        }
        if let Some(prefix) = &self.key_prefix
            && !valid_key_part(prefix)
        {
            p.push(format!(
                "`key_prefix: {prefix}` may use only letters, digits, `.`, `_`, `:` and `-` (1-40 characters)"
            ));
        }
        if let Some(h) = &self.http {
            if self.streams.is_empty() {
                p.push("an HTTP canary needs `streams:` (who writes where)".into());
            }
            for (what, text) in [
                ("http.write.url", Some(&h.write.url)),
                ("http.write.body", h.write.body.as_ref()),
                ("http.read.url", Some(&h.read.url)),
            ] {
                if let Some(t) = text {
                    for name in unknown_placeholders(t) {
                        p.push(format!(
                            "{what} uses `{{{name}}}`, which is not a canary placeholder ({})",
                            PLACEHOLDERS
                                .iter()
                                .map(|s| format!("{{{s}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                }
            }
            let per_region = h.write.url.contains("{region}");
            if !h.read.url.contains("{region}") || !h.read.url.contains("{key}") {
                p.push("`http.read.url` must contain `{region}` and `{key}`".into());
            }
            let mut names = std::collections::BTreeSet::new();
            for s in &self.streams {
                if !valid_key_part(&s.name) {
                    p.push(format!(
                        "stream name `{}` may use only letters, digits, `.`, `_`, `:` and `-`",
                        s.name
                    ));
                }
                if !names.insert(s.name.as_str()) {
                    p.push(format!("stream `{}` is listed twice", s.name));
                }
                if per_region && s.write_in.is_empty() {
                    p.push(format!(
                        "stream `{}` has no `write_in` regions, and the write URL has `{{region}}`",
                        s.name
                    ));
                }
                if !per_region && s.read_in.is_empty() {
                    p.push(format!(
                        "stream `{}` writes through a global endpoint: list the regions to read back in `read_in`",
                        s.name
                    ));
                }
            }
        }
        if let Some(pg) = &self.postgres {
            if !self.streams.is_empty() {
                p.push("`streams:` is for HTTP canaries; a PostgreSQL canary writes to `postgres.connection`".into());
            }
            if !valid_table(&pg.table) {
                p.push(format!(
                    "`postgres.table: {}` must be an identifier such as `gameday_canary` or `ops.gameday_canary` (lowercase letters, digits, `_`)",
                    pg.table
                ));
            }
        }
        p.into_iter()
            .map(crate::playbook::problem::Problem::new)
            .collect()
    }

    /// The connections a PostgreSQL canary names.
    pub fn connections(&self) -> Vec<&str> {
        match &self.postgres {
            Some(pg) => std::iter::once(pg.connection.as_str())
                .chain(pg.read_in.iter().map(|s| s.as_str()))
                .collect(),
            None => vec![],
        }
    }
}

/// Names in `{...}` that look like placeholders but are not canary placeholders.
pub fn unknown_placeholders(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        let Some(j) = rest.find('}') else { break };
        let name = &rest[..j];
        if !name.is_empty()
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && !PLACEHOLDERS.contains(&name)
        {
            out.push(name.to_string());
        }
    }
    out
}

/// Letters, digits, `.`, `_`, `:`, `-`; 1-40 characters (a key part).
pub fn valid_key_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

/// `name` or `schema.name`, lowercase identifiers (safe to splice into SQL).
pub fn valid_table(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 63
                && p.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

use super::Problems;
use crate::playbook::problem::Problem;

impl super::Kind for CanarySpec {
    /// The writer's undo stops it; its records stay as evidence.
    fn effect(&self) -> super::Effect {
        super::Effect::Mutating { has_undo: true }
    }

    fn problems(&self, refs: &super::Refs<'_>) -> Problems {
        let mut out: Problems = self.problems();
        for name in self.connections() {
            refs.need_connection(name, &mut out);
        }
        out
    }
}

impl super::Kind for CanaryRetargetSpec {
    /// Only gameday's own writer changes.
    fn effect(&self) -> super::Effect {
        super::Effect::Passive
    }

    fn problems(&self, refs: &super::Refs<'_>) -> Problems {
        let mut out = vec![];
        let r = self;
        if let Some(c) = refs.find_canary(&r.canary, &mut out) {
            match (&c.postgres, &r.connection, r.write_in.is_empty()) {
                (Some(_), Some(conn), true) if r.stream.is_none() => {
                    refs.need_connection(conn, &mut out)
                }
                (Some(_), _, _) => out.push(Problem::new(
                    "a PostgreSQL canary is retargeted with `connection:` alone",
                )),
                (None, None, false) => {
                    if let Some(st) = &r.stream
                        && !c.streams.iter().any(|s| &s.name == st)
                    {
                        out.push(Problem::new(format!(
                            "canary `{}` has no stream `{st}`",
                            r.canary
                        )));
                    }
                }
                (None, _, _) => out.push(Problem::new(
                    "an HTTP canary is retargeted with `write_in:` (and optionally `stream:`)",
                )),
            }
        }
        out
    }
}

impl super::Kind for CanaryStopSpec {
    /// Only gameday's own writer changes.
    fn effect(&self) -> super::Effect {
        super::Effect::Passive
    }

    fn problems(&self, refs: &super::Refs<'_>) -> Problems {
        let mut out = vec![];
        refs.find_canary(&self.canary, &mut out);
        out
    }
}

impl super::Kind for CanaryVerifySpec {
    fn effect(&self) -> super::Effect {
        super::Effect::ReadOnly
    }

    fn recorded_suffixes(&self) -> &'static [&'static str] {
        VERIFY_COUNTS
    }

    fn problems(&self, refs: &super::Refs<'_>) -> Problems {
        let mut out = vec![];
        let c = refs.find_canary(&self.canary, &mut out);
        for k in self.expect.keys() {
            if !VERIFY_COUNTS.contains(&k.as_str()) {
                let hint = crate::diag::suggest(k, VERIFY_COUNTS.iter().copied(), || {
                    format!("counts are: {}", VERIFY_COUNTS.join(", "))
                });
                out.push(
                    Problem::new(format!("`expect.{k}` is not a canary-verify count")).hint(hint),
                );
            }
        }
        if c.is_some_and(|c| c.postgres.is_some()) {
            for name in &self.read_in {
                refs.need_connection(name, &mut out);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_take_a_unit_and_stay_reasonable() {
        assert_eq!(Rate::parse("10/s").unwrap().per_second, 10.0);
        assert_eq!(Rate::parse("600/m").unwrap().per_second, 10.0);
        assert_eq!(Rate::parse("600/m").unwrap().to_string(), "600/m");
        assert!(Rate::parse("10").unwrap_err().contains("not a rate"));
        assert!(
            Rate::parse("0/s")
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!(Rate::parse("5/d").unwrap_err().contains("unknown unit"));
        assert!(Rate::parse("5000/s").unwrap_err().contains("load test"));
    }

    #[test]
    fn json_braces_are_not_placeholders() {
        let body = r#"{"value": {"seq": {seq}}, "x": "{regoin}"}"#;
        assert_eq!(unknown_placeholders(body), vec!["regoin".to_string()]);
        assert!(valid_table("ops.gameday_canary"));
        assert!(!valid_table("gameday; drop table x"));
    }
}
