//! The metrics the simulator exports, in the Prometheus text format
//! (`GET /metrics`), and the same samples recorded into its history.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `http_requests_total` | counter | `region`, `jurisdiction`, `code` | user requests by the region that served them (`region="none"` when no allowed region was left), the users' home jurisdiction (`us`, `eu`) and the HTTP status (`200`, `503`) |
//! | `region_requests_per_second` | gauge | `region` | requests per second currently routed to the region (drops to 0 the moment a reroute has propagated) |
//! | `region_error_ratio` | gauge | `region` | failed / all requests of the region over the trailing error window (default 30 s); 0 without requests |
//! | `requests_served_outside_home_total` | counter | `jurisdiction`, `region` | requests served by a region outside the users' jurisdiction; `jurisdiction="eu"` with a US region is a residency violation |
//! | `routing_control_state` | gauge | `region` | the region's Route 53 ARC routing control as accepted: 1 On, 0 Off |
//! | `traffic_dial_percent` | gauge | `region` | the region's Global Accelerator traffic dial as accepted (0-100) |
//! | `synthetic_probe_success` | gauge | `region` | 1 when `GET /app/{region}/health` would succeed, else 0 (blackbox-exporter style) |
//! | `db_writes_total` | counter | `region`, `source` | writes accepted locally (`source`: `user`, `job`, `app`) |
//! | `db_entity_writes_total` | counter | `entity_type` | writes accepted in any region, by entity type (the denominator of the conflict rate) |
//! | `replication_lag_seconds` | gauge | `source`, `target` | age of the oldest write not yet applied on the link; 0 when the queue is empty |
//! | `replication_data_class_lag_seconds` | gauge | `source`, `target`, `data_class` | age of the oldest write of the data class (`credentials`: sessions, `financial`: orders, `profiles`: user profiles, `content`: carts, `analytics`: application API records) not yet applied on the link; 0 when none waits |
//! | `replication_queue_depth` | gauge | `source`, `target` | writes waiting on the link |
//! | `replication_conflicts_total` | counter | `conflict_type`, `resolution`, `entity_type` | concurrent writes to one key detected on replication (`concurrent_update`, resolved `last_writer_wins`; `entity_type` `user_profile`, `cart`, `session`, `order`, `ledger_entry` or `record` for the application API; `ledger_entry` records are region-pinned and never conflict unless the `pinning_broken` fault is on) |
//! | `replication_conflicts_per_second` | gauge | | conflicts per second over the trailing error window |
//! | `replication_conflict_age_seconds` | histogram | `le` | conflicts by age at resolution: from the newer of the two concurrent writes until the conflict was resolved |
//!
//! The embedded history additionally holds Prometheus's `ALERTS{alertname, alertstate, ...}` series.

use std::fmt::Write as _;

/// One sample: a metric name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// `(name, type, help)` for every exported metric, in exposition order.
pub const CATALOG: &[(&str, &str, &str)] = &[
    (
        "http_requests_total",
        "counter",
        "User requests by serving region, home jurisdiction and status code.",
    ),
    (
        "region_requests_per_second",
        "gauge",
        "Requests per second currently routed to the region.",
    ),
    (
        "region_error_ratio",
        "gauge",
        "Failed over all requests of the region over the trailing error window.",
    ),
    (
        "requests_served_outside_home_total",
        "counter",
        "Requests served by a region outside the users' home jurisdiction.",
    ),
    (
        "routing_control_state",
        "gauge",
        "Route 53 ARC routing control state of the region (1 On, 0 Off).",
    ),
    (
        "traffic_dial_percent",
        "gauge",
        "Global Accelerator traffic dial of the region's endpoint group.",
    ),
    (
        "synthetic_probe_success",
        "gauge",
        "Whether the synthetic probe of the region's health endpoint succeeds.",
    ),
    (
        "db_writes_total",
        "counter",
        "Writes accepted locally by the region, by source.",
    ),
    (
        "db_entity_writes_total",
        "counter",
        "Writes accepted in any region, by entity type.",
    ),
    (
        "replication_lag_seconds",
        "gauge",
        "Age of the oldest write not yet applied on the replication link.",
    ),
    (
        "replication_data_class_lag_seconds",
        "gauge",
        "Age of the oldest write of the data class not yet applied on the replication link.",
    ),
    (
        "replication_queue_depth",
        "gauge",
        "Writes waiting on the replication link.",
    ),
    (
        "replication_conflicts_total",
        "counter",
        "Concurrent writes to one key detected on replication.",
    ),
    (
        "replication_conflicts_per_second",
        "gauge",
        "Replication conflicts per second over the trailing window.",
    ),
    (
        "replication_conflict_age_seconds",
        "histogram",
        "Replication conflicts by age at resolution.",
    ),
];

/// Format a float the way Prometheus does in text and JSON (`+Inf`, `NaN`, shortest round-trip).
pub fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Render samples in the Prometheus text exposition format (0.0.4).
pub fn render(samples: &[Sample]) -> String {
    let mut out = String::with_capacity(8 * 1024);
    for (name, kind, help) in CATALOG {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        // A histogram's samples are `<name>_bucket`, `<name>_sum` and `<name>_count`.
        let of_this = |s: &&Sample| {
            s.name == *name
                || (*kind == "histogram"
                    && s.name
                        .strip_prefix(name)
                        .is_some_and(|rest| matches!(rest, "_bucket" | "_sum" | "_count")))
        };
        for s in samples.iter().filter(of_this) {
            let name = s.name;
            out.push_str(name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", fmt_value(s.value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_labels() {
        let s = [Sample {
            name: "region_error_ratio",
            labels: vec![("region", "eu-west-1".into())],
            value: 0.25,
        }];
        let text = render(&s);
        assert!(
            text.contains(
                "# TYPE region_error_ratio gauge\nregion_error_ratio{region=\"eu-west-1\"} 0.25\n"
            ),
            "{text}"
        );
    }
}
