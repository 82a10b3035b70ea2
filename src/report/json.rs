//! report.json: the report model serialized, pretty-printed, with a
//! `schema_version` (see `model::SCHEMA_VERSION`). The schema is documented
//! as a JSON Schema in `schemas/report.schema.json`; every report produced
//! validates against it (tested). Stable keys for scripts: `outcome`
//! (passed | failed | aborted | interrupted | restore_failed | incomplete),
//! `markers` (name → RFC 3339), `metrics.<name>.{value,unit,target,met}`,
//! `phases`, `steps`, `guardrails.events`, `data_safety`, `restoration`.

use super::model::Report;

/// The JSON Schema of report.json.
pub const SCHEMA: &str = include_str!("../../schemas/report.schema.json");

/// report.json's text.
pub fn render(report: &Report) -> String {
    // The model holds only strings, numbers, maps and JSON values: it always serializes.
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| {
        format!(
            "{{\"schema_version\":{},\"error\":\"{e}\"}}",
            report.schema_version
        )
    });
    s.push('\n');
    s
}

/// Write report.json to `w` without building the text in memory.
pub fn write(w: &mut impl std::io::Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, report)?;
    w.write_all(b"\n")
}
