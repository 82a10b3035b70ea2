//! Interpolation of `${...}` references in playbook text.
//!
//! - `${name}`: a playbook var (default, environment file, `--var`)
//! - `${env.NAME}`: an environment variable of the runner
//! - `${secret.NAME}`: a secret declared under `secrets:` (redacted wherever printed)
//! - `$$`: a literal `$`
//!
//! Nothing is ever evaluated by a shell; `script:` fields are not interpolated
//! at all (shell scripts receive vars as environment variables instead).

/// Where a reference points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref<'a> {
    Var(&'a str),
    Env(&'a str),
    Secret(&'a str),
}

/// An interpolation problem at a byte offset in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpError {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// Replace every reference in `text` using `resolve`.
pub fn interpolate(
    text: &str,
    mut resolve: impl FnMut(Ref<'_>) -> Result<String, (String, Option<String>)>,
) -> Result<String, InterpError> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            offset += i + 2;
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(InterpError {
                    offset: offset + i,
                    message: "unclosed `${`".into(),
                    hint: Some(
                        "close the reference with `}`, or write `$$` for a literal `$`".into(),
                    ),
                });
            };
            let name = body[..end].trim();
            let r = if let Some(n) = name.strip_prefix("env.") {
                Ref::Env(n)
            } else if let Some(n) = name.strip_prefix("secret.") {
                Ref::Secret(n)
            } else {
                Ref::Var(name)
            };
            let valid = |n: &str| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            };
            let bare = match &r {
                Ref::Var(n) | Ref::Env(n) | Ref::Secret(n) => *n,
            };
            if !valid(bare) {
                return Err(InterpError {
                    offset: offset + i,
                    message: format!("`${{{name}}}` is not a valid reference"),
                    hint: Some("write `${var}`, `${env.NAME}` or `${secret.NAME}`".into()),
                });
            }
            match resolve(r) {
                Ok(v) => out.push_str(&v),
                Err((message, hint)) => {
                    return Err(InterpError {
                        offset: offset + i,
                        message,
                        hint,
                    });
                }
            }
            offset += i + 2 + end + 1;
            rest = &body[end + 1..];
        } else {
            out.push('$');
            offset += i + 1;
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(r: Ref<'_>) -> Result<String, (String, Option<String>)> {
        match r {
            Ref::Var("region") => Ok("eu-west-1".into()),
            Ref::Env("HOME") => Ok("/root".into()),
            other => Err((format!("unknown {other:?}"), None)),
        }
    }

    #[test]
    fn replaces_vars_env_and_escapes() {
        assert_eq!(
            interpolate("r=${region} h=${env.HOME} cost=$$5 $x", vars).unwrap(),
            "r=eu-west-1 h=/root cost=$5 $x"
        );
    }

    #[test]
    fn reports_offsets() {
        let e = interpolate("ab ${nope}", vars).unwrap_err();
        assert_eq!(e.offset, 3);
        let e = interpolate("${region", vars).unwrap_err();
        assert!(e.message.contains("unclosed"));
        let e = interpolate("${a b}", vars).unwrap_err();
        assert!(e.message.contains("not a valid"));
    }
}
