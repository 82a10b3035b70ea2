//! The application API canary checks use, the ground truth, and the runtime
//! fault switch.
//!
//! * `PUT /app/{region}/records/{key}` with `{"value": <JSON, at most 1 KiB>,
//!   "jurisdiction": "EU"|"US" (optional)}`: write in that region. 200 with
//!   `{key, region, version, region_clock, written_at}` (`region_clock` is the
//!   timestamp last-writer-wins compares); 503 when the region is isolated,
//!   partitioned or failing; 451 for an EU record in a non-EU region (unless
//!   the `residency_bug` fault is on); 400 for a bad key or body; 507 when the
//!   bounded application keyspace (4096 keys) is full.
//! * `GET /app/{region}/records/{key}`: the record as that region has it now
//!   (replication lag, partitions and residency included); 404 when absent there.
//! * `GET /app/{region}/health`: 200 `{"region", "status": "ok"}` or 503.
//! * `GET /sim/truth`: [`super::model::Truth`].
//! * `GET /sim/faults`, `POST /sim/faults` with a [`super::model::FaultPatch`]
//!   such as `{"residency_bug": 0.3, "slow_reroute": "60s", "clock_skew": {"eu-west-1": "-2s"}}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::aws;
use super::config::Jurisdiction;
use super::model::{AppError, FaultPatch};
use super::server::{Shared, json_error};

fn app_error(e: AppError) -> Response {
    let status = match &e {
        AppError::UnknownRegion(_) | AppError::NotFound { .. } => StatusCode::NOT_FOUND,
        AppError::Unavailable(_) | AppError::Failed(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Residency(_) => StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        AppError::Invalid(_) => StatusCode::BAD_REQUEST,
        AppError::Full => StatusCode::INSUFFICIENT_STORAGE,
    };
    json_error(status, e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteBody {
    value: Option<serde_json::Value>,
    jurisdiction: Option<Jurisdiction>,
}

/// `PUT /app/{region}/records/{key}`.
pub(crate) async fn write(
    State(s): State<Arc<Shared>>,
    Path((region, key)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let parsed: WriteBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("invalid body: {e}; send {{\"value\": ..., \"jurisdiction\": \"EU\"}}"),
            );
        }
    };
    let Some(value) = parsed.value else {
        return json_error(StatusCode::BAD_REQUEST, "missing field `value`");
    };
    match s.with_sim(|sim, now| sim.app_write(&region, &key, value, parsed.jurisdiction, now)) {
        Ok(ack) => axum::Json(ack).into_response(),
        Err(e) => app_error(e),
    }
}

/// `GET /app/{region}/records/{key}`.
pub(crate) async fn read(
    State(s): State<Arc<Shared>>,
    Path((region, key)): Path<(String, String)>,
) -> Response {
    match s.with_sim(|sim, now| sim.app_read(&region, &key, now)) {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => app_error(e),
    }
}

/// `GET /app/{region}/health`.
pub(crate) async fn health(State(s): State<Arc<Shared>>, Path(region): Path<String>) -> Response {
    match s.with_sim(|sim, now| sim.app_health(&region, now)) {
        Ok(()) => axum::Json(json!({"region": region, "status": "ok"})).into_response(),
        Err(e @ AppError::UnknownRegion(_)) => app_error(e),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"region": region, "status": "unavailable", "error": e.to_string()})),
        )
            .into_response(),
    }
}

/// `GET /sim/truth`.
pub(crate) async fn truth(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(s.with_sim(|sim, _| sim.truth())).into_response()
}

/// `GET /sim/faults`.
pub(crate) async fn get_faults(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(s.with_sim(|sim, _| sim.faults())).into_response()
}

/// `POST /sim/faults`.
pub(crate) async fn set_faults(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let patch: FaultPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("invalid fault change: {e}"),
            );
        }
    };
    match s.with_sim(|sim, now| sim.set_faults(patch, now).map(|()| sim.faults())) {
        Ok(view) => axum::Json(view).into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e),
    }
}

/// `GET /`: what is served here.
pub(crate) async fn index(State(s): State<Arc<Shared>>) -> Response {
    let regions = s.with_sim(|sim, _| sim.region_names());
    let controls: Vec<String> = regions
        .iter()
        .map(|r| aws::routing_control_arn(r))
        .collect();
    let groups: Vec<String> = regions.iter().map(|r| aws::endpoint_group_arn(r)).collect();
    axum::Json(json!({
        "service": "gameday simulator",
        "regions": regions,
        "endpoints": {
            "metrics": "/metrics",
            "prometheus_api": "/api/v1/",
            "aws": "POST / (X-Amz-Target: GlobalAccelerator_V20180706.* or ToggleCustomerAPI.*)",
            "truth": "/sim/truth",
            "faults": "/sim/faults",
            "app": "/app/{region}/records/{key}, /app/{region}/health",
        },
        "arc_control_panel": aws::CONTROL_PANEL_ARN,
        "arc_routing_controls": controls,
        "ga_listener": aws::LISTENER_ARN,
        "ga_endpoint_groups": groups,
    }))
    .into_response()
}
