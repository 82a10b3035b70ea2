//! The simulator's recorded metric history and the PromQL engine over it.
//!
//! Samples taken every `record_interval` (250 ms by default) are written to an
//! in-memory [`tsink`] store (no data path, no background threads); queries
//! are evaluated by tsink's PromQL engine with millisecond timestamps and
//! Prometheus's 5-minute lookback. tsink was chosen over writing an evaluator:
//! it is an embedded TSDB with a native PromQL parser and evaluator
//! (selectors, `rate`/`increase` with Prometheus extrapolation, `*_over_time`,
//! aggregations, binary operators, subqueries) and needs no server.
//!
//! Two differences from Prometheus are corrected here: result samples carry
//! the evaluation time (tsink keeps the raw sample's), and functions,
//! aggregations and arithmetic drop `__name__` as Prometheus does.

use std::sync::Arc;
use std::time::Duration;

use tsink::promql::ast::{BinaryOp, Expr};
use tsink::promql::{Engine, PromqlError, PromqlValue};
use tsink::{DataPoint, Label, Row, Storage, StorageBuilder, TimestampPrecision};

use super::metrics::Sample;

/// Why a query failed, in Prometheus's terms.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query does not parse (Prometheus `bad_data`, 400).
    #[error("{0}")]
    BadData(String),
    /// The query parsed but could not be evaluated (Prometheus `execution`, 422).
    #[error("{0}")]
    Execution(String),
}

/// A series in a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesOut {
    /// Labels including `__name__` where Prometheus keeps it, sorted.
    pub labels: Vec<(String, String)>,
    /// (unix ms, value) points.
    pub points: Vec<(i64, f64)>,
}

/// A query result, shaped as Prometheus's `resultType`s.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Vector(Vec<SeriesOut>),
    Matrix(Vec<SeriesOut>),
    Scalar(i64, f64),
    String(i64, String),
}

/// The recorded history.
pub struct History {
    storage: Arc<dyn Storage>,
    engine: Engine,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("History")
    }
}

impl History {
    /// An empty in-memory history keeping `retention`.
    pub fn new(retention: Duration) -> Result<History, String> {
        let storage = StorageBuilder::new()
            .with_timestamp_precision(TimestampPrecision::Milliseconds)
            .with_retention(retention)
            .with_wal_enabled(false)
            .build()
            .map_err(|e| format!("cannot create the metric history: {e}"))?;
        let engine = Engine::with_precision(storage.clone(), TimestampPrecision::Milliseconds);
        Ok(History { storage, engine })
    }

    /// Record one instant's samples.
    pub fn record(&self, t: i64, samples: &[Sample]) -> Result<(), String> {
        let rows: Vec<Row> = samples
            .iter()
            .map(|s| {
                let labels = s
                    .labels
                    .iter()
                    .map(|(k, v)| Label::new(*k, v.clone()))
                    .collect();
                Row::with_labels(s.name, labels, DataPoint::new(t, s.value))
            })
            .collect();
        self.storage
            .insert_rows(&rows)
            .map_err(|e| format!("cannot record samples: {e}"))
    }

    /// Evaluate `query` at `t` (unix ms).
    pub fn instant(&self, query: &str, t: i64) -> Result<QueryValue, QueryError> {
        let expr = parse(query)?;
        let v = self.engine.instant_query(query, t).map_err(exec_error)?;
        Ok(convert(v, t, keeps_name(&expr), false))
    }

    /// Evaluate `query` over `[start, end]` every `step` ms.
    pub fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryValue, QueryError> {
        let expr = parse(query)?;
        if matches!(
            strip_parens(&expr),
            Expr::MatrixSelector(_) | Expr::Subquery(_)
        ) {
            return Err(QueryError::BadData("invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into()));
        }
        let v = self
            .engine
            .range_query(query, start, end, step)
            .map_err(exec_error)?;
        let scalar = matches!(type_of(&expr), ExprType::Scalar);
        Ok(convert(v, end, keeps_name(&expr), scalar))
    }
}

fn parse(query: &str) -> Result<Expr, QueryError> {
    if query.trim().is_empty() {
        return Err(QueryError::BadData(
            "1:1: parse error: no expression found in input".into(),
        ));
    }
    tsink::promql::parse(query).map_err(|e| QueryError::BadData(format!("1:1: parse error: {e}")))
}

fn exec_error(e: PromqlError) -> QueryError {
    match e {
        PromqlError::Parse(_)
        | PromqlError::UnexpectedToken { .. }
        | PromqlError::UnknownFunction(_)
        | PromqlError::ArgumentCount { .. }
        | PromqlError::Regex(_)
        | PromqlError::Type(_) => QueryError::BadData(e.to_string()),
        other => QueryError::Execution(other.to_string()),
    }
}

fn strip_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(inner) => strip_parens(inner),
        other => other,
    }
}

enum ExprType {
    Scalar,
    Other,
}

fn type_of(e: &Expr) -> ExprType {
    match strip_parens(e) {
        Expr::NumberLiteral(_) => ExprType::Scalar,
        Expr::Call(c) if c.func == "scalar" || c.func == "time" => ExprType::Scalar,
        Expr::Binary(b) => match (type_of(&b.lhs), type_of(&b.rhs)) {
            (ExprType::Scalar, ExprType::Scalar) => ExprType::Scalar,
            _ => ExprType::Other,
        },
        Expr::Unary(u) => type_of(&u.expr),
        _ => ExprType::Other,
    }
}

/// Whether Prometheus keeps `__name__` on the result of `e`.
fn keeps_name(e: &Expr) -> bool {
    match strip_parens(e) {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => true,
        Expr::Subquery(s) => keeps_name(&s.expr),
        Expr::Call(c) => {
            matches!(
                c.func.as_str(),
                "last_over_time" | "sort" | "sort_desc" | "label_replace" | "label_join"
            ) && c.args.first().is_some_and(keeps_name)
        }
        Expr::Binary(b) if b.op.is_comparison() && !b.return_bool => {
            keeps_name(&b.lhs) || keeps_name(&b.rhs)
        }
        Expr::Binary(b) if matches!(b.op, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless) => {
            keeps_name(&b.lhs)
        }
        Expr::Aggregation(a) => matches!(
            a.op,
            tsink::promql::ast::AggregationOp::TopK | tsink::promql::ast::AggregationOp::BottomK
        ),
        _ => false,
    }
}

fn labels_of(metric: String, labels: Vec<Label>, keep_name: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = labels
        .into_iter()
        .filter(|l| l.name != "__name__")
        .map(|l| (l.name, l.value))
        .collect();
    if keep_name && !metric.is_empty() {
        out.push(("__name__".into(), metric));
    }
    out.sort();
    out
}

fn convert(v: PromqlValue, t: i64, keep_name: bool, scalar_range: bool) -> QueryValue {
    match v {
        PromqlValue::Scalar(x, _) => QueryValue::Scalar(t, x),
        PromqlValue::String(s, _) => QueryValue::String(t, s),
        PromqlValue::InstantVector(samples) => QueryValue::Vector(
            samples
                .into_iter()
                .map(|s| SeriesOut {
                    labels: labels_of(s.metric, s.labels, keep_name),
                    points: vec![(t, s.value)],
                })
                .collect(),
        ),
        PromqlValue::RangeVector(series) => {
            let mut out: Vec<SeriesOut> = series
                .into_iter()
                .filter(|s| !s.samples.is_empty())
                .map(|s| SeriesOut {
                    labels: if scalar_range {
                        Vec::new()
                    } else {
                        labels_of(s.metric, s.labels, keep_name)
                    },
                    points: s.samples,
                })
                .collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            QueryValue::Matrix(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    #[test]
    fn gauges_counters_and_errors() {
        let h = History::new(Duration::from_secs(3600)).unwrap();
        let t0 = now() - 120_000;
        for i in 0..=480 {
            let t = t0 + i * 250;
            let s = [
                Sample {
                    name: "region_error_ratio",
                    labels: vec![("region", "a".into())],
                    value: 0.5,
                },
                Sample {
                    name: "c_total",
                    labels: vec![],
                    value: i as f64,
                },
            ];
            h.record(t, &s).unwrap();
        }
        let end = t0 + 120_000;
        match h.instant("max(region_error_ratio)", end).unwrap() {
            QueryValue::Vector(v) => {
                assert_eq!(v.len(), 1);
                assert_eq!(v[0].labels, vec![]);
                assert_eq!(v[0].points, vec![(end, 0.5)]);
            }
            other => panic!("{other:?}"),
        }
        match h.instant("increase(c_total[1m])", end).unwrap() {
            QueryValue::Vector(v) => {
                assert!((v[0].points[0].1 - 240.0).abs() < 5.0, "{v:?}");
                assert!(v[0].labels.is_empty(), "increase drops the name: {v:?}");
            }
            other => panic!("{other:?}"),
        }
        match h.instant("region_error_ratio", end).unwrap() {
            QueryValue::Vector(v) => assert!(
                v[0].labels
                    .contains(&("__name__".into(), "region_error_ratio".into()))
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            h.instant("sum(", end),
            Err(QueryError::BadData(_))
        ));
        assert!(matches!(h.instant("", end), Err(QueryError::BadData(_))));
        match h
            .range("region_error_ratio", end - 10_000, end, 5_000)
            .unwrap()
        {
            QueryValue::Matrix(m) => assert_eq!(m[0].points.len(), 3),
            other => panic!("{other:?}"),
        }
    }
}
