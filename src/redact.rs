//! Secret redaction, applied to typed values before anything is serialized
//! or formatted: journal events (as JSON values, string by string), the
//! terminal view, the stdout summary, error messages, `plan` and
//! notifications all go through one [`Redactor`].
//!
//! A secret is found in every form it takes in text: raw, JSON- or
//! Rust-escaped (`\"`, `\\`, `\u00e9`), percent-encoded (`%22`, `+` for a
//! space, either hex case) and HTML/XML-escaped (`&quot;`, `&#39;`,
//! `&#x3C;`). Each character of the secret may be in any of those forms, so
//! a URL whose query is partly encoded is still caught.
//!
//! The process-wide redactor ([`install`], [`redact`]) is the one entry
//! point for code that prints outside the journal (notifications, errors).

use serde_json::Value;
use std::sync::{Arc, OnceLock, RwLock};

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are refused at load unless `allow_short: true`:
/// a short value also matches ordinary text and would blank it out.
pub const MIN_SECRET_LEN: usize = 8;

/// Replaces secret values, in all their encodings, by `[redacted]`.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    /// Secret values as characters, longest first (a secret that contains
    /// another is replaced whole).
    secrets: Vec<Vec<char>>,
}

impl Redactor {
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Redactor {
        let mut secrets: Vec<Vec<char>> = secrets
            .into_iter()
            .map(|s| s.as_ref().chars().collect::<Vec<char>>())
            .filter(|s| !s.is_empty())
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every occurrence of a secret, in any encoding, replaced.
    pub fn text(&self, text: &str) -> String {
        if self.secrets.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        'scan: while i < text.len() {
            let rest = &text[i..];
            for s in &self.secrets {
                if let Some(n) = match_secret(rest, s) {
                    out.push_str(REDACTED);
                    i += n;
                    continue 'scan;
                }
            }
            let c = rest
                .chars()
                .next()
                .expect("i is below len on a char boundary");
            out.push(c);
            i += c.len_utf8();
        }
        out
    }

    /// Redact every string (and object key) of a JSON value in place.
    pub fn value(&self, v: &mut Value) {
        if self.secrets.is_empty() {
            return;
        }
        match v {
            Value::String(s) => {
                let r = self.text(s);
                if r != *s {
                    *s = r;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|v| self.value(v)),
            Value::Object(m) => {
                let old = std::mem::take(m);
                for (k, mut v) in old {
                    self.value(&mut v);
                    m.insert(self.text(&k), v);
                }
            }
            _ => {}
        }
    }

    /// A serializable value, redacted as typed data and turned back into
    /// its type. `None` if the value does not survive the round trip (the
    /// caller then falls back to redacting the serialized text).
    pub fn typed<T: serde::Serialize + serde::de::DeserializeOwned>(&self, t: &T) -> Option<T> {
        let mut v = serde_json::to_value(t).ok()?;
        self.value(&mut v);
        serde_json::from_value(v).ok()
    }
}

/// Length in bytes of the encoded occurrence of `secret` at the start of
/// `text`, if there is one. A character can match in more than one way
/// (`\\` is a raw backslash or an escaped one), so this backtracks, within
/// a bounded number of steps.
fn match_secret(text: &str, secret: &[char]) -> Option<usize> {
    let mut budget = 4096u32;
    match_from(text, secret, &mut budget)
}

fn match_from(text: &str, secret: &[char], budget: &mut u32) -> Option<usize> {
    let Some((&c, rest)) = secret.split_first() else {
        return Some(0);
    };
    *budget = budget.checked_sub(1)?;
    let raw = text.starts_with(c).then_some(c.len_utf8());
    let encoded = match text.as_bytes().first()? {
        b'%' => percent(text, c),
        b'+' if c == ' ' => Some(1),
        b'&' => html(text, c),
        b'\\' => escaped(text, c),
        _ => None,
    };
    for n in [encoded, raw].into_iter().flatten() {
        if let Some(m) = match_from(&text[n..], rest, budget) {
            return Some(n + m);
        }
    }
    None
}

fn hex_byte(s: &[u8]) -> Option<u8> {
    let h = std::str::from_utf8(s.get(..2)?).ok()?;
    u8::from_str_radix(h, 16).ok()
}

/// `%XX` for each UTF-8 byte of `c` (either hex case).
fn percent(text: &str, c: char) -> Option<usize> {
    let mut buf = [0u8; 4];
    let bytes = c.encode_utf8(&mut buf).as_bytes();
    let t = text.as_bytes();
    let mut at = 0;
    for &want in bytes {
        if t.get(at) != Some(&b'%') || hex_byte(&t[at + 1..])? != want {
            return None;
        }
        at += 3;
    }
    Some(at)
}

/// Named and numeric HTML/XML character references.
fn html(text: &str, c: char) -> Option<usize> {
    let named: &[(&str, char)] = &[
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&apos;", '\''),
        ("&nbsp;", '\u{a0}'),
    ];
    for (name, ch) in named {
        if *ch == c && text.starts_with(name) {
            return Some(name.len());
        }
    }
    let body = text.strip_prefix("&#")?;
    let end = body.find(';')?;
    let num = &body[..end];
    let code = match num.strip_prefix(['x', 'X']) {
        Some(h) => u32::from_str_radix(h, 16).ok()?,
        None => num.parse::<u32>().ok()?,
    };
    (code == c as u32).then_some(2 + end + 1)
}

/// JSON and Rust escapes: `\"`, `\\`, `\/`, `\n`, `\uXXXX` (with surrogate
/// pairs), `\u{X…}`, `\'`.
fn escaped(text: &str, c: char) -> Option<usize> {
    let t = text.as_bytes();
    let simple = match t.get(1)? {
        b'"' => Some('"'),
        b'\\' => Some('\\'),
        b'/' => Some('/'),
        b'\'' => Some('\''),
        b'n' => Some('\n'),
        b't' => Some('\t'),
        b'r' => Some('\r'),
        b'0' => Some('\0'),
        b'b' => Some('\u{8}'),
        b'f' => Some('\u{c}'),
        _ => None,
    };
    if let Some(s) = simple {
        return (s == c).then_some(2);
    }
    if t.get(1) != Some(&b'u') {
        return None;
    }
    if t.get(2) == Some(&b'{') {
        let end = text[3..].find('}')?;
        let code = u32::from_str_radix(&text[3..3 + end], 16).ok()?;
        return (code == c as u32).then_some(3 + end + 1);
    }
    let unit = |at: usize| -> Option<u32> {
        let h = text.get(at..at + 4)?;
        u32::from_str_radix(h, 16).ok()
    };
    let hi = unit(2)?;
    if (0xD800..0xDC00).contains(&hi) {
        if text.get(6..8)? != "\\u" {
            return None;
        }
        let lo = unit(8)?;
        let code = 0x10000 + ((hi - 0xD800) << 10) + (lo.checked_sub(0xDC00)?);
        return (code == c as u32).then_some(12);
    }
    (hi == c as u32).then_some(6)
}

fn global_cell() -> &'static RwLock<Arc<Redactor>> {
    static GLOBAL: OnceLock<RwLock<Arc<Redactor>>> = OnceLock::new();
    GLOBAL.get_or_init(|| RwLock::new(Arc::new(Redactor::default())))
}

/// Add secret values to the process-wide redactor (a run installs its
/// playbook's secrets before anything can print them).
pub fn install<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) {
    let mut g = global_cell().write().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<String> = g.secrets.iter().map(|s| s.iter().collect()).collect();
    all.extend(secrets.into_iter().map(|s| s.as_ref().to_string()));
    *g = Arc::new(Redactor::new(all));
}

/// The process-wide redactor.
pub fn global() -> Arc<Redactor> {
    global_cell()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Redact `text` with the process-wide redactor: the entry point for
/// anything that prints or sends text outside the journal.
pub fn redact(text: &str) -> String {
    global().text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NASTY: &str = "p\"a\\ss w0rd!%&<é>'😀";

    fn encodings(s: &str) -> Vec<String> {
        let json = serde_json::to_string(s).unwrap();
        let ascii_json: String = s
            .encode_utf16()
            .map(|u| {
                if u < 0x80 && u as u8 != b'"' && u as u8 != b'\\' {
                    (u as u8 as char).to_string()
                } else {
                    format!("\\u{u:04x}")
                }
            })
            .collect();
        let pct: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
        let pct_lower: String = s.bytes().map(|b| format!("%{b:02x}")).collect();
        let form: String = s
            .bytes()
            .map(|b| match b {
                b' ' => "+".to_string(),
                b if b.is_ascii_alphanumeric() => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect();
        let html = s
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;");
        let numeric: String = s.chars().map(|c| format!("&#x{:X};", c as u32)).collect();
        vec![
            s.to_string(),
            json[1..json.len() - 1].to_string(),
            ascii_json,
            format!("{s:?}").trim_matches('"').to_string(),
            pct,
            pct_lower,
            form,
            html,
            numeric,
        ]
    }

    #[test]
    fn every_encoding_of_a_nasty_secret_is_redacted() {
        let r = Redactor::new([NASTY]);
        for enc in encodings(NASTY) {
            let text = format!("GET http://h/x?t={enc}: cannot connect");
            assert_eq!(
                r.text(&text),
                "GET http://h/x?t=[redacted]: cannot connect",
                "form {enc}"
            );
        }
    }

    #[test]
    fn json_values_are_redacted_as_typed_strings() {
        let r = Redactor::new(["hunter2hunter2"]);
        let mut v = serde_json::json!({"a": ["x hunter2hunter2 y"], "hunter2hunter2": 1, "n": 3});
        r.value(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x [redacted] y"], "[redacted]": 1, "n": 3})
        );
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let r = Redactor::new(["hunter2hunter2"]);
        let t = "50% of <users> & \\ \"quotes\" %41 &#65; \\u0041 😀";
        assert_eq!(r.text(t), t);
        assert_eq!(Redactor::default().text(t), t);
    }

    #[test]
    fn the_longest_secret_wins() {
        let r = Redactor::new(["abcdefgh", "abcdefghijkl"]);
        assert_eq!(r.text("-abcdefghijkl-"), "-[redacted]-");
    }
}
