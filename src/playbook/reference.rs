//! The playbook reference as text: `gameday kinds`, `gameday explain KIND`
//! and `docs/playbook.md`, all rendered from the generated schema (fields,
//! types, defaults, descriptions from the typed specs) and the kind table
//! (`playbook::kinds`: summary, use, undo, IAM, example). Nothing here is
//! written twice; a test checks that docs/playbook.md is current.

use super::kinds::{self, About};
// The fields every step has, listed once rather than under every kind.
use super::load::STEP_FIELDS as COMMON;
use super::schema;
use serde_json::{Value, json};

/// One field of a step kind, as the schema describes it.
pub struct Field {
    pub name: String,
    pub ty: String,
    pub required: bool,
    pub default: Option<String>,
    pub description: String,
}

fn variant<'a>(s: &'a Value, kind: &str) -> Option<&'a Value> {
    s["definitions"]["Step"]["allOf"]
        .as_array()?
        .iter()
        .map(|c| &c["then"])
        .find(|v| v["properties"]["kind"]["const"] == kind)
}

/// The fields of `kind` (common fields excluded when `own_only`).
pub fn fields(s: &Value, kind: &str, own_only: bool) -> Vec<Field> {
    let Some(v) = variant(s, kind) else {
        return vec![];
    };
    let required: Vec<&str> = v["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = v["properties"].as_object() else {
        return vec![];
    };
    props
        .iter()
        .filter(|(k, _)| !own_only || !COMMON.contains(&k.as_str()))
        .map(|(k, p)| Field {
            name: k.clone(),
            ty: type_name(s, p),
            required: required.contains(&k.as_str()),
            default: p
                .get("default")
                .filter(|d| !d.is_null() && *d != &Value::Array(vec![]) && !d.is_object())
                .map(|d| match d {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            description: description(s, p),
        })
        .collect()
}

fn definition<'a>(s: &'a Value, p: &Value) -> Option<(&'a str, &'a Value)> {
    let r = p.get("$ref")?.as_str()?;
    let name = r.rsplit('/').next()?;
    let (k, v) = s["definitions"].as_object()?.get_key_value(name)?;
    Some((k.as_str(), v))
}

fn description(s: &Value, p: &Value) -> String {
    let own = p.get("description").and_then(Value::as_str);
    let via_ref = || {
        p.get("anyOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(std::iter::once(p))
            .find_map(|x| definition(s, x))
            .and_then(|(_, d)| d.get("description").and_then(Value::as_str))
    };
    own.or_else(via_ref)
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A short type name: `string`, `duration`, `comparison`, `On | Off`, `list of string`, `map`, …
pub fn type_name(s: &Value, p: &Value) -> String {
    if let Some((name, d)) = definition(s, p) {
        return match name {
            "Duration" | "DurationOrZero" => "duration".into(),
            "Comparison" => "comparison".into(),
            "Rate" => "rate".into(),
            _ if ["enum", "anyOf", "oneOf"]
                .iter()
                .any(|k| d.get(*k).is_some()) =>
            {
                type_name(s, d)
            }
            _ => "mapping".into(),
        };
    }
    if let Some(e) = p.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    if let Some(alts) = p
        .get("anyOf")
        .or_else(|| p.get("oneOf"))
        .and_then(Value::as_array)
    {
        let names: Vec<String> = alts
            .iter()
            .filter(|a| a.get("pattern").and_then(Value::as_str) != Some("\\$\\{[^}]+\\}"))
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
            .map(|a| match a.get("const").and_then(Value::as_str) {
                Some(c) => c.to_string(),
                None => type_name(s, a),
            })
            .collect();
        let consts = alts.iter().all(|a| a.get("const").is_some());
        return names.join(if consts { " | " } else { " or " });
    }
    match p.get("type") {
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            // Any scalar fills a string field; say `string`.
            .filter(|t| !(ts.contains(&json!("string")) && matches!(*t, "number" | "boolean")))
            .map(|t| simple(t).to_string())
            .collect::<Vec<_>>()
            .join(" or "),
        Some(Value::String(t)) if t == "array" => {
            format!("list of {}", type_name(s, &p["items"]))
        }
        Some(Value::String(t)) if t == "object" && p.get("additionalProperties").is_some() => {
            let inner = &p["additionalProperties"];
            if inner.is_object() {
                format!("map of {}", type_name(s, inner))
            } else {
                "mapping".into()
            }
        }
        Some(Value::String(t)) => simple(t).to_string(),
        _ => "any".into(),
    }
}

fn simple(t: &str) -> &str {
    match t {
        "object" => "mapping",
        "integer" => "whole number",
        other => other,
    }
}

/// `gameday kinds`: every kind with its use and summary.
pub fn kinds_table() -> String {
    let mut out = String::new();
    let width = kinds::ALL.iter().map(|a| a.kind.len()).max().unwrap_or(0);
    for a in kinds::ALL {
        let use_ = a.usage.as_str().split(' ').next().unwrap_or_default();
        out.push_str(&format!(
            "{:<width$}  {:<7}  {}\n",
            a.kind,
            use_,
            first_sentence(a.summary)
        ));
    }
    out.push_str("\n`gameday explain KIND` shows a kind's fields, defaults, undo, IAM actions and an example.\n");
    out
}

fn first_sentence(s: &str) -> &str {
    match s.find(". ") {
        Some(i) => &s[..=i],
        None => s,
    }
}

/// `gameday explain KIND` as plain text.
pub fn explain(kind: &str) -> Option<String> {
    let a = kinds::about(kind)?;
    let s = schema::playbook();
    let mut out = format!("kind: {}\n\n{}\n\n", a.kind, wrap(a.summary, 78, ""));
    out.push_str(&format!("use:   {}\n", a.usage.as_str()));
    if !a.undo.is_empty() {
        out.push_str(&format!("undo:  {}\n", a.undo));
    }
    if !a.iam.is_empty() {
        out.push_str(&format!("IAM:   {}\n", a.iam.join(", ")));
    }
    out.push_str("\nfields:\n");
    let fs = fields(&s, kind, true);
    if fs.is_empty() {
        out.push_str("  (none besides the common ones)\n");
    }
    for f in &fs {
        let mut head = format!("  {}: {}", f.name, f.ty);
        if f.required {
            head.push_str(", required");
        }
        if let Some(d) = &f.default {
            head.push_str(&format!(", default {d}"));
        }
        out.push_str(&head);
        out.push('\n');
        if !f.description.is_empty() {
            out.push_str(&wrap(&f.description, 74, "      "));
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "\ncommon fields: {} (see docs/playbook.md)\n\nexample:\n",
        COMMON.join(", ")
    ));
    out.push_str(&indent_example(a));
    Some(out)
}

fn indent_example(a: &About) -> String {
    let mut out = String::new();
    for (i, line) in a.example.lines().enumerate() {
        out.push_str(if i == 0 { "  - " } else { "    " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines = vec![];
    let mut line = String::new();
    for w in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + w.len() > width {
            lines.push(format!("{indent}{line}"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if !line.is_empty() {
        lines.push(format!("{indent}{line}"));
    }
    lines.join("\n")
}

/// The rules that hold across kinds, for docs/playbook.md.
const RULES: &str = include_str!("reference_rules.md");

/// docs/playbook.md.
pub fn markdown() -> String {
    let s = schema::playbook();
    let mut out = String::from(
        "<!-- Generated by `gameday kinds --markdown > docs/playbook.md` from the typed model and src/playbook/kinds.rs; do not edit. -->\n\n# Playbook reference\n\n",
    );
    out.push_str(RULES);
    out.push_str("\n## Top-level keys\n\n| key | type | meaning |\n|---|---|---|\n");
    if let Some(props) = s["properties"].as_object() {
        for (k, p) in props {
            out.push_str(&format!(
                "| `{k}` | {} | {} |\n",
                type_name(&s, p),
                cell(&description(&s, p))
            ));
        }
    }
    out.push_str("\n## Common step fields\n\n| field | type | meaning |\n|---|---|---|\n");
    for f in fields(&s, "note", false)
        .into_iter()
        .filter(|f| COMMON.contains(&f.name.as_str()))
    {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            f.name,
            f.ty,
            cell(&f.description)
        ));
    }
    out.push_str("\n## Step kinds\n\n| kind | use | what it does |\n|---|---|---|\n");
    for a in kinds::ALL {
        let use_ = a.usage.as_str().split(' ').next().unwrap_or_default();
        out.push_str(&format!(
            "| [`{}`](#{}) | {use_} | {} |\n",
            a.kind,
            a.kind,
            cell(first_sentence(a.summary))
        ));
    }
    for a in kinds::ALL {
        out.push_str(&format!(
            "\n### {}\n\n{}\n\n- **use:** {}\n",
            a.kind,
            a.summary,
            a.usage.as_str()
        ));
        if !a.undo.is_empty() {
            out.push_str(&format!("- **undo:** {}\n", a.undo));
        }
        if !a.iam.is_empty() {
            out.push_str(&format!(
                "- **IAM:** {}\n",
                a.iam
                    .iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let fs = fields(&s, a.kind, true);
        if !fs.is_empty() {
            out.push_str(
                "\n| field | type | required | default | meaning |\n|---|---|---|---|---|\n",
            );
            for f in fs {
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} | {} |\n",
                    f.name,
                    f.ty,
                    if f.required { "yes" } else { "" },
                    f.default.map(|d| format!("`{d}`")).unwrap_or_default(),
                    cell(&f.description)
                ));
            }
        }
        out.push_str(&format!("\n```yaml\n{}```\n", indent_example(a)));
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_shows_fields_types_defaults_and_the_example() {
        let t = explain("prometheus").unwrap();
        assert!(t.contains("expr: string, required"), "{t}");
        assert!(t.contains("series: all | any"), "{t}");
        assert!(t.contains("use:   check"), "{t}");
        let t = explain("arc-routing-control").unwrap();
        assert!(
            t.contains("route53-recovery-cluster:UpdateRoutingControlStates"),
            "{t}"
        );
        assert!(t.contains("state: On | Off, required"), "{t}");
        assert!(explain("nope").is_none());
    }
}
