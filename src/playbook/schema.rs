//! JSON Schemas of playbooks and environment files, generated from the typed
//! model (`schemars` derives on the spec types and on the loader's header
//! types), for editors (`# yaml-language-server: $schema=…`) and for
//! `gameday schema`. The files in `schemas/` are these outputs, checked by a
//! test to be current.
//!
//! The loader reads a step as its common fields (`name`, `timeout`, `wait`,
//! …) plus the fields of its kind; the schema says the same: every step kind
//! is one variant of `Step`, tagged by `kind`, with the common fields merged
//! in and nothing else allowed. Text substitution (`${var}`) happens before
//! typing, so wherever a number, a boolean, an enum or a pattern is expected
//! the schema also accepts a string holding a `${…}` reference.

use super::duration::{NonNegative, Positive};
use super::expect::Comparison;
use super::kinds;
use super::load::{EnvFile, Header, PhaseHeader, RawMetric, SecretDecl, StepCommon, VarDecl};
use super::spec::StepSpec;
use super::spec::aws::NonEmpty;
use super::spec::aws::arc::ControlState;
use super::spec::aws::cloudwatch::{AlarmState, Reduce};
use super::spec::aws::fis::{ExperimentState, STATES};
use super::spec::aws::route53::Health;
use super::spec::canary::Rate;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// The report schema (`report.json`), written by hand beside the report model.
pub const REPORT: &str = include_str!("../../schemas/report.schema.json");

/// Where `gameday schema` output is kept in the repository.
pub const FILES: &[(&str, &str)] = &[
    ("playbook", "schemas/playbook.schema.json"),
    ("environment", "schemas/environment.schema.json"),
    ("report", "schemas/report.schema.json"),
];

/// The schema named `what` (`playbook`, `environment`, `report`), pretty-printed with a final newline.
pub fn render(what: &str) -> Option<String> {
    let v = match what {
        "playbook" => playbook(),
        "environment" => environment(),
        "report" => return Some(REPORT.to_string()),
        _ => return None,
    };
    Some(serde_json::to_string_pretty(&v).expect("a schema serializes") + "\n")
}

fn generator() -> SchemaGenerator {
    schemars::generate::SchemaSettings::draft07().into_generator()
}

/// The schema of `T` as an object (its definition when `T` is referenced).
fn resolved<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    let s = g.subschema_for::<T>().to_value();
    deref(g.definitions(), &s)
}

fn deref(defs: &Map<String, Value>, s: &Value) -> Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            let mut out = defs.get(name).cloned().unwrap_or(Value::Null);
            // Keep what sits beside the `$ref` (a description, say).
            if let (Some(o), Some(side)) = (out.as_object_mut(), s.as_object()) {
                for (k, v) in side.iter().filter(|(k, _)| *k != "$ref") {
                    o.insert(k.clone(), v.clone());
                }
            }
            out
        }
        None => s.clone(),
    }
}

/// The properties and required names of an object schema, following `$ref` and `allOf`.
fn object_parts(defs: &Map<String, Value>, s: &Value) -> (Map<String, Value>, Vec<Value>) {
    let s = deref(defs, s);
    let mut props = s
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut required: Vec<Value> = s
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for part in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (p, r) = object_parts(defs, part);
        props.extend(p);
        required.extend(r);
    }
    (props, required)
}

/// The schema of a playbook.
pub fn playbook() -> Value {
    let mut g = generator();
    let header = resolved::<Header>(&mut g);
    let phase = resolved::<PhaseHeader>(&mut g);
    let spec = resolved::<StepSpec>(&mut g);
    let metric = g.subschema_for::<RawMetric>().to_value();
    let secret = g.subschema_for::<SecretDecl>().to_value();
    let var = g.subschema_for::<VarDecl>().to_value();
    let common = resolved::<StepCommon>(&mut g);
    let (common, _) = object_parts(g.definitions(), &common);
    let defs = g.definitions().clone();
    let (steps, guards) = step_variants(&spec, &common, &defs);
    let props = playbook_properties(&header, &phase, var, secret, metric);

    let mut definitions: Map<String, Value> = defs
        .into_iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "Header" | "PhaseHeader" | "StepCommon" | "StepSpec"
            )
        })
        .collect();
    definitions.insert(
        "Step".into(),
        tagged("A step: common fields plus those of its `kind`.", steps),
    );
    definitions.insert(
        "Guardrail".into(),
        tagged(
            "A read-only step with `for` (how long it may fail) and `every` (poll interval).",
            guards,
        ),
    );
    let mut root = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://gameday.invalid/schemas/playbook.schema.json",
        "title": "gameday playbook",
        "description": "A failover drill: phases of steps, guardrails and metrics. Reference: docs/playbook.md; `gameday explain KIND` for one step kind.",
        "type": "object",
        "properties": props,
        "required": ["name", "phases"],
        "patternProperties": { "^x-": { "description": "Your own keys, ignored by gameday: a place to define YAML anchors." } },
        "additionalProperties": false,
        "definitions": definitions,
    });
    allow_interpolation(&mut root);
    root
}

/// One object schema per step kind: the common fields plus the kind's own;
/// as a step, and as a guardrail (which also has `for` and `every`).
fn step_variants(
    spec: &Value,
    common: &Map<String, Value>,
    defs: &Map<String, Value>,
) -> (Vec<Value>, Vec<Value>) {
    let mut step_common = common.clone();
    step_common.remove("for");
    step_common.remove("every");
    let guard_extra: Map<String, Value> = common
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "for" | "every"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    let variants = spec
        .get("oneOf")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut steps = vec![];
    let mut guards = vec![];
    for v in &variants {
        let (props, required) = object_parts(defs, v);
        let kind = props
            .get("kind")
            .and_then(|k| k.get("const"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let about = kinds::about(&kind);
        let mut all = step_common.clone();
        all.extend(props);
        if let Some(k) = all.get_mut("kind") {
            *k = json!({ "const": kind, "description": about.map_or("", |a| a.summary) });
        }
        let mut required = required;
        if !required.contains(&json!("name")) {
            required.insert(0, json!("name"));
        }
        let title = format!("kind: {kind}");
        let description = about.map_or(String::new(), |a| a.summary.to_string());
        let step = json!({
            "title": title,
            "description": description,
            "type": "object",
            "properties": all,
            "required": required,
            "additionalProperties": false,
        });
        let mut guard = step.clone();
        guard["properties"]
            .as_object_mut()
            .expect("properties")
            .extend(guard_extra.clone());
        steps.push(step);
        guards.push(guard);
    }
    (steps, guards)
}

/// The playbook's top-level properties: the header's, then vars, secrets,
/// phases, guardrails and metrics.
fn playbook_properties(
    header: &Value,
    phase: &Value,
    var: Value,
    secret: Value,
    metric: Value,
) -> Map<String, Value> {
    let mut props = header
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    props.insert(
        "vars".into(),
        json!({
            "description": "Vars and their defaults, overridden by `--env FILE` then `--var k=v`; used as `${name}`. A value, or `{ default, description }`; `{}` has no default.",
            "type": "object",
            "additionalProperties": { "anyOf": [ { "type": ["string", "number", "boolean"] }, var ] },
        }),
    );
    props.insert(
        "secrets".into(),
        json!({
            "description": "Secrets read from an environment variable or a file, never inline; used as `${secret.NAME}` and redacted everywhere.",
            "type": "object",
            "additionalProperties": secret,
        }),
    );
    props.insert(
        "phases".into(),
        json!({
            "description": "The drill script: precheck, isolate, observe, validate, restore, in this order.",
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "description": phase.get("description").cloned().unwrap_or(json!("A phase of the drill.")),
                "properties": phase_properties(phase),
                "required": ["kind"],
                "additionalProperties": false,
            },
        }),
    );
    props.insert(
        "guardrails".into(),
        json!({
            "description": "Read-only checks polled from the first change until restoration ends; a breach aborts the drill (exit 3).",
            "type": "array",
            "items": { "$ref": "#/definitions/Guardrail" },
        }),
    );
    props.insert(
        "metrics".into(),
        json!({
            "description": "Durations between markers (`from`, `to`) or values a step recorded (`value`), with targets.",
            "type": "object",
            "additionalProperties": metric,
        }),
    );
    props
}

/// A phase's properties: the header's, then steps, watches and invariants.
fn phase_properties(phase: &Value) -> Map<String, Value> {
    let mut phase_props = phase
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    phase_props.insert(
        "steps".into(),
        json!({ "description": "The steps, in order.", "type": "array", "items": { "$ref": "#/definitions/Step" } }),
    );
    phase_props.insert(
        "watches".into(),
        json!({ "description": "Read-only waits that run in the background while the phase's steps go on.", "type": "array", "items": { "$ref": "#/definitions/Step" } }),
    );
    phase_props.insert(
        "invariants".into(),
        json!({ "description": "With `hold:`: read-only checks (a step with guardrail-style `for` and `every`) that must keep holding through the observation window; the first that breaks fails the phase.", "type": "array", "items": { "$ref": "#/definitions/Guardrail" } }),
    );
    phase_props
}

/// Variants chosen by their `kind`: the tag's values in one enum (so editors
/// offer every kind), then `if kind is K then K's fields` for each (so errors
/// name the fields of the kind written, not of every kind).
fn tagged(description: &str, variants: Vec<Value>) -> Value {
    let kinds: Vec<Value> = variants
        .iter()
        .map(|v| v["properties"]["kind"]["const"].clone())
        .collect();
    let cases: Vec<Value> = variants
        .into_iter()
        .map(|v| {
            json!({
                "if": { "properties": { "kind": { "const": v["properties"]["kind"]["const"] } }, "required": ["kind"] },
                "then": v,
            })
        })
        .collect();
    json!({
        "description": description,
        "type": "object",
        "properties": { "kind": { "description": "The step kind (`gameday kinds` lists them).", "enum": kinds } },
        "required": ["name", "kind"],
        "allOf": cases,
    })
}

/// The schema of an environment file (`--env FILE`).
pub fn environment() -> Value {
    let g = generator();
    let mut root = g.into_root_schema_for::<EnvFile>().to_value();
    if let Some(o) = root.as_object_mut() {
        o.insert(
            "$id".into(),
            json!("https://gameday.invalid/schemas/environment.schema.json"),
        );
        o.insert("title".into(), json!("gameday environment file"));
    }
    allow_interpolation(&mut root);
    root
}

/// A string holding a `${…}` reference, substituted before the value is typed.
fn interpolated() -> Value {
    json!({ "type": "string", "pattern": "\\$\\{[^}]+\\}" })
}

/// Wherever a typed scalar is expected (number, boolean, enum, pattern),
/// also accept a `${…}` reference.
fn allow_interpolation(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                // Keys holding schema maps, not schemas.
                if matches!(k.as_str(), "properties" | "definitions") {
                    if let Value::Object(m) = child {
                        // The step tag is read before substitution: it stays exact.
                        for (_, s) in m.iter_mut().filter(|(name, _)| *name != "kind") {
                            allow_interpolation(s);
                        }
                    }
                } else if k != "const" && k != "enum" && k != "default" && k != "examples" {
                    allow_interpolation(child);
                }
            }
            // Scalars are text to the loader: `status: 200` fills a string field.
            let plain_string = !["pattern", "enum", "const", "format"]
                .iter()
                .any(|k| o.contains_key(*k))
                && !matches!(o.get("type"), Some(t) if scalar_type(t));
            if plain_string && let Some(t) = o.get_mut("type") {
                widen_string(t);
                return;
            }
            let all_consts = o
                .get("oneOf")
                .and_then(Value::as_array)
                .is_some_and(|alts| alts.iter().all(|a| a.get("const").is_some()));
            let typed = all_consts
                || o.contains_key("enum")
                || o.contains_key("pattern")
                || matches!(o.get("type"), Some(t) if scalar_type(t));
            if typed && !o.contains_key("const") {
                let mut inner = Map::new();
                let mut outer = Map::new();
                for (k, val) in std::mem::take(o) {
                    match k.as_str() {
                        "description" | "default" | "title" => outer.insert(k, val),
                        _ => inner.insert(k, val),
                    };
                }
                outer.insert(
                    "anyOf".into(),
                    json!([Value::Object(inner), interpolated()]),
                );
                *o = outer;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(allow_interpolation),
        _ => {}
    }
}

/// `"string"` → `["string", "number", "boolean"]` (keeping `"null"` where allowed).
fn widen_string(t: &mut Value) {
    let mut names: Vec<String> = match t {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => return,
    };
    if !names.iter().any(|n| n == "string") {
        return;
    }
    for extra in ["number", "boolean"] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.into());
        }
    }
    *t = json!(names);
}

fn scalar_type(t: &Value) -> bool {
    let is = |s: &str| matches!(s, "integer" | "number" | "boolean");
    match t {
        Value::String(s) => is(s),
        Value::Array(a) => a.iter().filter_map(Value::as_str).any(is),
        _ => false,
    }
}

// Schemas of the types that parse their own text.

macro_rules! string_schema {
    ($ty:ty, $name:literal, $schema:tt) => {
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

const DURATION: &str = r"^\s*([0-9]+\s*(ms|s|m|h|d|w|y)\s*)+$";

string_schema!(Positive, "Duration", {
    "type": "string",
    "pattern": DURATION,
    "description": "A duration with a unit, greater than zero: `500ms`, `30s`, `5m`, `1h30m`.",
});
string_schema!(NonNegative, "DurationOrZero", {
    "type": "string",
    "pattern": DURATION,
    "description": "A duration with a unit, zero allowed: `0s`, `30s`, `5m`.",
});
string_schema!(Comparison, "Comparison", {
    "type": "string",
    "pattern": r"^\s*(<=|>=|==|!=|<|>)\s*-?[0-9.]+(e-?[0-9]+)?\s*[a-z%]*\s*$",
    "description": "A condition on a number: `<= 60s`, `== 0`, `< 5%`, `>= 3`.",
});
string_schema!(Rate, "Rate", {
    "type": "string",
    "pattern": r"^\s*[0-9.]+\s*/\s*(s|m|min|h)\s*$",
    "description": "Writes per unit of time: `10/s`, `600/m`, `5000/h` (at most 1000/s).",
});
string_schema!(ControlState, "ControlState", {
    "enum": ["On", "Off"],
    "description": "`On` lets traffic flow to the cell, `Off` stops it.",
});
string_schema!(Reduce, "Reduce", {
    "enum": ["last", "max", "min", "avg"],
    "description": "How the datapoints of the window become one value.",
});
string_schema!(AlarmState, "AlarmState", {
    "enum": ["OK", "ALARM", "INSUFFICIENT_DATA"],
    "description": "A CloudWatch alarm state.",
});
string_schema!(Health, "Health", {
    "enum": ["healthy", "unhealthy"],
    "description": "What the health checkers report.",
});

impl JsonSchema for ExperimentState {
    fn schema_name() -> Cow<'static, str> {
        "ExperimentState".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "enum": STATES, "description": "A FIS experiment state." })
    }
}

impl<T: JsonSchema> JsonSchema for NonEmpty<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("NonEmpty_{}", T::schema_name()).into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "array", "items": g.subschema_for::<T>(), "minItems": 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_kind_is_a_tagged_variant_with_the_common_fields() {
        let s = playbook();
        let steps: Vec<&Value> = s["definitions"]["Step"]["allOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["then"])
            .collect();
        let kinds: Vec<&str> = steps
            .iter()
            .map(|v| v["properties"]["kind"]["const"].as_str().unwrap())
            .collect();
        assert_eq!(
            s["definitions"]["Step"]["properties"]["kind"]["enum"],
            json!(super::super::spec::KINDS)
        );
        assert_eq!(kinds, super::super::spec::KINDS);
        for v in &steps {
            assert_eq!(v["additionalProperties"], false);
            for common in ["name", "timeout", "retries", "wait", "mark", "record"] {
                assert!(v["properties"].get(common).is_some(), "{common} in {v}");
            }
            assert!(v["properties"].get("for").is_none());
        }
        let http = &steps[0]["properties"];
        assert!(http.get("url").is_some() && http.get("undo").is_some());
    }

    #[test]
    fn typed_scalars_also_take_a_var_reference() {
        let s = playbook();
        let props = &s["properties"];
        let any = props["unattended"]["anyOf"].as_array().expect("anyOf");
        assert_eq!(any[1]["pattern"], "\\$\\{[^}]+\\}");
        assert!(
            props["name"].get("anyOf").is_none(),
            "plain strings stay plain"
        );
    }
}
