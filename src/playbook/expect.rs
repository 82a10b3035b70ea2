//! Comparisons written as text in playbooks: targets such as `<= 60s`,
//! `== 0`, `< 5%`, and expectations on values read by checks.
//!
//! The right-hand side is a number, a duration (converted to seconds) or a
//! percentage (converted to a ratio, so `< 5%` means `< 0.05`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Ge => ">=",
            Op::Gt => ">",
        }
    }
}

/// `op value`, with the text the user wrote kept for display.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub op: Op,
    /// The threshold in base units: seconds for durations, a ratio for percentages.
    pub value: f64,
    /// What the user wrote, for plans and reports.
    pub text: String,
    /// `s` when the threshold was a duration, `ratio` for a percentage, empty otherwise.
    pub unit: &'static str,
}

impl Comparison {
    pub fn parse(text: &str) -> Result<Comparison, String> {
        let t = text.trim();
        let (op, rest) = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .iter()
        .find_map(|(sym, op)| t.strip_prefix(sym).map(|r| (*op, r.trim())))
        .ok_or_else(|| {
            format!("`{t}` is not a comparison; write it like `<= 60s`, `== 0` or `< 5%`")
        })?;
        if rest.is_empty() {
            return Err(format!("`{t}` has no value after `{}`", op.symbol()));
        }
        let (value, unit) = if let Some(p) = rest.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("`{rest}` is not a percentage"))?;
            (v / 100.0, "ratio")
        } else if let Ok(v) = rest.parse::<f64>() {
            (v, "")
        } else {
            let d = crate::playbook::duration::parse(rest, true)?;
            (d.as_secs_f64(), "s")
        };
        if !value.is_finite() {
            return Err(format!("`{rest}` is not a finite number"));
        }
        Ok(Comparison {
            op,
            value,
            text: t.to_string(),
            unit,
        })
    }

    /// Whether `v` satisfies the comparison. NaN never does.
    pub fn holds(&self, v: f64) -> bool {
        if v.is_nan() {
            return false;
        }
        match self.op {
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Eq => (v - self.value).abs() <= f64::EPSILON * self.value.abs().max(1.0),
            Op::Ne => (v - self.value).abs() > f64::EPSILON * self.value.abs().max(1.0),
            Op::Ge => v >= self.value,
            Op::Gt => v > self.value,
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Comparison {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Comparison::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Comparison {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_durations_and_percentages() {
        let c = Comparison::parse("<= 60s").unwrap();
        assert_eq!((c.op, c.value, c.unit), (Op::Le, 60.0, "s"));
        assert!(c.holds(60.0) && !c.holds(60.5));
        let c = Comparison::parse("< 5%").unwrap();
        assert!(c.holds(0.049) && !c.holds(0.05));
        let c = Comparison::parse("== 0").unwrap();
        assert!(c.holds(0.0) && !c.holds(1.0) && !c.holds(f64::NAN));
        assert!(Comparison::parse("about 5").is_err());
        assert!(Comparison::parse("<=").is_err());
    }
}
