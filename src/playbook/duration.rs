//! Durations in playbooks: always written with a unit (`30s`, `5m`, `1h30m`),
//! parsed with humantime. A bare number is an error (is `30` seconds or
//! milliseconds?), and so is zero where zero makes no sense.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// Parse `text` as a duration with a unit. `allow_zero` permits `0s`.
pub fn parse(text: &str, allow_zero: bool) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!(
            "duration `{t}` is negative; durations must be positive, such as `30s`"
        ));
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "duration `{t}` has no unit; write it with one, such as `{t}s` or `{t}ms`"
        ));
    }
    let d = humantime::parse_duration(t).map_err(|e| {
        format!("`{t}` is not a duration ({e}); write it like `30s`, `5m` or `1h30m`")
    })?;
    if d.is_zero() && !allow_zero {
        return Err(format!(
            "duration `{t}` is zero; it must be greater than zero"
        ));
    }
    Ok(d)
}

/// Human form used in plans and reports: `30s`, `5m`, `1h 30m`, `250ms`.
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    humantime::format_duration(d).to_string()
}

/// A duration in Prometheus's own syntax (`15s`, `1m30s`, `500ms`, `1h`,
/// units ms/s/m/h/d/w/y, no bare numbers), as Prometheus configs and query
/// parameters write them. Used by the Prometheus client and the simulator's API.
pub fn parse_prometheus(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total_ms = total_ms.checked_add(n.checked_mul(ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_millis(total_ms))
}

macro_rules! duration_type {
    ($(#[$m:meta])* $name:ident, $allow_zero:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub Duration);

        impl $name {
            pub fn get(self) -> Duration {
                self.0
            }
            pub fn secs(self) -> f64 {
                self.0.as_secs_f64()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                parse(&s, $allow_zero).map($name).map_err(serde::de::Error::custom)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&format(self.0))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&format(self.0))
            }
        }
    };
}

duration_type!(
    /// A duration that must be greater than zero: timeouts, intervals, budgets.
    Positive,
    false
);
duration_type!(
    /// A duration that may be zero: observation windows (`observe_for=0s` in a smoke run).
    NonNegative,
    true
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_required_and_zero_is_refused_where_it_makes_no_sense() {
        assert_eq!(parse("30s", false).unwrap(), Duration::from_secs(30));
        assert_eq!(parse("1h30m", false).unwrap(), Duration::from_secs(5400));
        assert!(parse("30", false).unwrap_err().contains("has no unit"));
        assert!(parse("0s", false).unwrap_err().contains("is zero"));
        assert_eq!(parse("0s", true).unwrap(), Duration::ZERO);
        assert!(parse("-5s", true).unwrap_err().contains("negative"));
        assert!(parse("soon", true).unwrap_err().contains("not a duration"));
    }
}
