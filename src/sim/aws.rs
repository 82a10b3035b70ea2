//! AWS wire-compatible endpoints for the traffic controls moto lacks, so the
//! official SDKs drive the simulator unchanged (point them at it with
//! `AWS_ENDPOINT_URL_GLOBAL_ACCELERATOR` / `AWS_ENDPOINT_URL_ROUTE53_RECOVERY_CLUSTER`).
//!
//! Both arrive as `POST /` and are told apart by `X-Amz-Target`:
//!
//! * Global Accelerator, awsJson1_1, `GlobalAccelerator_V20180706.{DescribeEndpointGroup,
//!   UpdateEndpointGroup, ListEndpointGroups}`: traffic dials and endpoint weights.
//! * Route 53 ARC cluster, awsJson1_0, `ToggleCustomerAPI.{GetRoutingControlState,
//!   UpdateRoutingControlState, UpdateRoutingControlStates, ListRoutingControls}`.
//!
//! STS `GetCallerIdentity` (query protocol) answers with the simulator's
//! account, so a drill's identity is journaled against it too.
//!
//! Any credentials are accepted (signatures are not checked). Request shapes
//! are validated as AWS does; errors use AWS's JSON error format
//! (`{"__type": .., "message": ..}`, also in `x-amzn-ErrorType`) with its status codes.
//!
//! ARNs are stable and derived from the region names of the config:
//!
//! | resource | ARN |
//! |---|---|
//! | ARC control panel | `arn:aws:route53-recovery-control::000000000000:controlpanel/sim` |
//! | ARC routing control | `arn:aws:route53-recovery-control::000000000000:controlpanel/sim/routingcontrol/{region}` (name `{region}`) |
//! | GA accelerator | `arn:aws:globalaccelerator::000000000000:accelerator/sim` |
//! | GA listener | `arn:aws:globalaccelerator::000000000000:accelerator/sim/listener/sim` |
//! | GA endpoint group | `arn:aws:globalaccelerator::000000000000:accelerator/sim/listener/sim/endpoint-group/{region}` |
//!
//! Turning a region's routing control Off, its dial to 0 or all its endpoint
//! weights to 0 isolates it (`isolated_at` is when the call was accepted);
//! turning it back restores it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::model::{Endpoint, EndpointGroupView, Sim};
use super::server::Shared;

/// The ARC control panel of the simulator.
pub const CONTROL_PANEL_ARN: &str =
    "arn:aws:route53-recovery-control::000000000000:controlpanel/sim";
/// The Global Accelerator listener holding every region's endpoint group.
pub const LISTENER_ARN: &str =
    "arn:aws:globalaccelerator::000000000000:accelerator/sim/listener/sim";

/// The routing control ARN of a region.
pub fn routing_control_arn(region: &str) -> String {
    format!("{CONTROL_PANEL_ARN}/routingcontrol/{region}")
}

/// The endpoint group ARN of a region.
pub fn endpoint_group_arn(region: &str) -> String {
    format!("{LISTENER_ARN}/endpoint-group/{region}")
}

/// An AWS error: `__type`, message, status.
#[derive(Debug)]
struct AwsError {
    kind: &'static str,
    message: String,
    status: StatusCode,
    json_1_0: bool,
}

impl AwsError {
    fn new(kind: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        AwsError {
            kind,
            message: message.into(),
            status,
            json_1_0: false,
        }
    }
    fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let ct = if self.json_1_0 {
            "application/x-amz-json-1.0"
        } else {
            "application/x-amz-json-1.1"
        };
        let mut r = (
            self.status,
            json!({"__type": self.kind, "message": self.message}).to_string(),
        )
            .into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        if let Ok(v) = HeaderValue::from_str(self.kind) {
            r.headers_mut().insert("x-amzn-ErrorType", v);
        }
        r
    }
}

fn ok(body: Value, json_1_0: bool) -> Response {
    let ct = if json_1_0 {
        "application/x-amz-json-1.0"
    } else {
        "application/x-amz-json-1.1"
    };
    ([(header::CONTENT_TYPE, ct)], body.to_string()).into_response()
}

/// The simulator's account, for `sts:GetCallerIdentity`.
pub const ACCOUNT: &str = "000000000000";

/// STS `GetCallerIdentity` (query protocol, XML): whoever calls is the
/// simulator's operator, so a drill against it journals an identity.
fn caller_identity() -> Response {
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{ACCOUNT}:user/gameday-sim</Arn><UserId>AIDAGAMEDAYSIM</UserId><Account>{ACCOUNT}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>gameday-sim</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    );
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// `POST /`: dispatch on `X-Amz-Target` (STS's `GetCallerIdentity`, query
/// protocol, has none).
pub(crate) async fn dispatch(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) else {
        if body.starts_with(b"Action=GetCallerIdentity") {
            return caller_identity();
        }
        return AwsError::new(
            "UnknownOperationException",
            StatusCode::BAD_REQUEST,
            "missing X-Amz-Target header",
        )
        .into_response();
    };
    let (service, op) = target.split_once('.').unwrap_or((target, ""));
    let json_1_0 = service == "ToggleCustomerAPI";
    let result = (|| {
        if service != "GlobalAccelerator_V20180706" && !json_1_0 {
            return Err(AwsError::new(
                "UnknownOperationException",
                StatusCode::BAD_REQUEST,
                format!("unknown operation {target}"),
            ));
        }
        let input: Value = if body.is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                AwsError::new(
                    "SerializationException",
                    StatusCode::BAD_REQUEST,
                    format!("malformed request body: {e}"),
                )
            })?
        };
        let Value::Object(input) = input else {
            return Err(AwsError::new(
                "SerializationException",
                StatusCode::BAD_REQUEST,
                "request body must be a JSON object",
            ));
        };
        match (json_1_0, op) {
            (false, "DescribeEndpointGroup") => {
                s.with_sim(|sim, _| describe_endpoint_group(sim, &input))
            }
            (false, "UpdateEndpointGroup") => {
                s.with_sim(|sim, now| update_endpoint_group(sim, &input, now))
            }
            (false, "ListEndpointGroups") => s.with_sim(|sim, _| list_endpoint_groups(sim, &input)),
            (true, "GetRoutingControlState") => {
                s.with_sim(|sim, _| get_routing_control_state(sim, &input))
            }
            (true, "UpdateRoutingControlState") => {
                s.with_sim(|sim, now| update_routing_control_state(sim, &input, now))
            }
            (true, "UpdateRoutingControlStates") => {
                s.with_sim(|sim, now| update_routing_control_states(sim, &input, now))
            }
            (true, "ListRoutingControls") => {
                s.with_sim(|sim, _| list_routing_controls(sim, &input))
            }
            _ => Err(AwsError::new(
                "UnknownOperationException",
                StatusCode::BAD_REQUEST,
                format!("unknown operation {target}"),
            )),
        }
    })();
    match result {
        Ok(v) => ok(v, json_1_0),
        Err(mut e) => {
            e.json_1_0 = json_1_0;
            e.into_response()
        }
    }
}

// ----- shape validation ------------------------------------------------------

fn required_string<'a>(input: &'a Map<String, Value>, field: &str) -> Result<&'a str, AwsError> {
    match input.get(field) {
        None | Some(Value::Null) => Err(AwsError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(field)
        ))),
        Some(Value::String(s)) if s.is_empty() || s.len() > 255 => {
            Err(AwsError::validation(format!(
                "1 validation error detected: Value '{s}' at '{}' failed to satisfy constraint: Member must have length between 1 and 255",
                lower_first(field)
            )))
        }
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AwsError::new(
            "SerializationException",
            StatusCode::BAD_REQUEST,
            format!("{field} must be a string"),
        )),
    }
}

fn optional_number(
    input: &Map<String, Value>,
    field: &str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, AwsError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let v = n.as_f64().unwrap_or(f64::NAN);
            if v.is_finite() && v >= min && v <= max {
                Ok(Some(v))
            } else {
                Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{n}' at '{}' failed to satisfy constraint: Member must have value between {min} and {max}",
                    lower_first(field)
                )))
            }
        }
        Some(_) => Err(AwsError::new(
            "SerializationException",
            StatusCode::BAD_REQUEST,
            format!("{field} must be a number"),
        )),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

// ----- Global Accelerator ----------------------------------------------------

fn group_region(sim: &Sim, arn: &str) -> Result<usize, AwsError> {
    arn.strip_prefix(LISTENER_ARN)
        .and_then(|r| r.strip_prefix("/endpoint-group/"))
        .and_then(|r| sim.region_index(r))
        .ok_or_else(|| {
            AwsError::new(
                "EndpointGroupNotFoundException",
                StatusCode::BAD_REQUEST,
                format!("Endpoint group {arn} not found"),
            )
        })
}

fn endpoint_group_json(g: &EndpointGroupView) -> Value {
    let endpoints: Vec<Value> = g
        .endpoints
        .iter()
        .map(|e| {
            json!({
                "EndpointId": e.id,
                "Weight": e.weight,
                "HealthState": if g.healthy { "HEALTHY" } else { "UNHEALTHY" },
                "ClientIPPreservationEnabled": false,
            })
        })
        .collect();
    json!({
        "EndpointGroupArn": endpoint_group_arn(&g.region),
        "EndpointGroupRegion": g.region,
        "EndpointDescriptions": endpoints,
        "TrafficDialPercentage": g.dial,
        "HealthCheckPort": 443,
        "HealthCheckProtocol": "TCP",
        "HealthCheckIntervalSeconds": 30,
        "ThresholdCount": 3,
        "PortOverrides": [],
    })
}

fn describe_endpoint_group(sim: &mut Sim, input: &Map<String, Value>) -> Result<Value, AwsError> {
    let arn = required_string(input, "EndpointGroupArn")?;
    let ri = group_region(sim, arn)?;
    Ok(json!({ "EndpointGroup": endpoint_group_json(&sim.endpoint_group(ri)) }))
}

fn list_endpoint_groups(sim: &mut Sim, input: &Map<String, Value>) -> Result<Value, AwsError> {
    let listener = required_string(input, "ListenerArn")?;
    if listener != LISTENER_ARN {
        return Err(AwsError::new(
            "ListenerNotFoundException",
            StatusCode::BAD_REQUEST,
            format!("Listener {listener} not found"),
        ));
    }
    optional_number(input, "MaxResults", 1.0, 100.0)?;
    let groups: Vec<Value> = (0..sim.region_names().len())
        .map(|ri| endpoint_group_json(&sim.endpoint_group(ri)))
        .collect();
    Ok(json!({ "EndpointGroups": groups }))
}

fn update_endpoint_group(
    sim: &mut Sim,
    input: &Map<String, Value>,
    now: i64,
) -> Result<Value, AwsError> {
    let arn = required_string(input, "EndpointGroupArn")?;
    let dial = optional_number(input, "TrafficDialPercentage", 0.0, 100.0)?;
    optional_number(input, "HealthCheckPort", 1.0, 65535.0)?;
    optional_number(input, "HealthCheckIntervalSeconds", 10.0, 30.0)?;
    optional_number(input, "ThresholdCount", 1.0, 10.0)?;
    if let Some(p) = input.get("HealthCheckProtocol")
        && !matches!(p.as_str(), Some("TCP" | "HTTP" | "HTTPS"))
    {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{p}' at 'healthCheckProtocol' failed to satisfy constraint: Member must satisfy enum value set: [TCP, HTTP, HTTPS]"
        )));
    }
    let endpoints = match input.get("EndpointConfigurations") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            if list.len() > 10 {
                return Err(AwsError::validation(
                    "1 validation error detected: Value at 'endpointConfigurations' failed to satisfy constraint: Member must have length less than or equal to 10",
                ));
            }
            let mut out = Vec::new();
            for item in list {
                let Value::Object(m) = item else {
                    return Err(AwsError::new(
                        "SerializationException",
                        StatusCode::BAD_REQUEST,
                        "EndpointConfigurations items must be objects",
                    ));
                };
                let id = required_string(m, "EndpointId")?;
                let weight = optional_number(m, "Weight", 0.0, 255.0)?.unwrap_or(128.0);
                if let Some(v) = m.get("ClientIPPreservationEnabled")
                    && !v.is_boolean()
                {
                    return Err(AwsError::new(
                        "SerializationException",
                        StatusCode::BAD_REQUEST,
                        "ClientIPPreservationEnabled must be a boolean",
                    ));
                }
                out.push(Endpoint {
                    id: id.to_string(),
                    weight: weight as u8,
                });
            }
            Some(out)
        }
        Some(_) => {
            return Err(AwsError::new(
                "SerializationException",
                StatusCode::BAD_REQUEST,
                "EndpointConfigurations must be a list",
            ));
        }
    };
    let ri = group_region(sim, arn)?;
    sim.update_endpoint_group(ri, dial, endpoints, now);
    Ok(json!({ "EndpointGroup": endpoint_group_json(&sim.endpoint_group(ri)) }))
}

// ----- Route 53 ARC ----------------------------------------------------------

fn control_region(sim: &Sim, arn: &str) -> Result<usize, AwsError> {
    arn.strip_prefix(CONTROL_PANEL_ARN)
        .and_then(|r| r.strip_prefix("/routingcontrol/"))
        .and_then(|r| sim.region_index(r))
        .ok_or_else(|| {
            AwsError::new(
                "ResourceNotFoundException",
                StatusCode::NOT_FOUND,
                format!("Routing control {arn} not found"),
            )
        })
}

fn state_value(input: &Map<String, Value>) -> Result<bool, AwsError> {
    match required_string(input, "RoutingControlState")? {
        "On" => Ok(true),
        "Off" => Ok(false),
        other => Err(AwsError::validation(format!(
            "1 validation error detected: Value '{other}' at 'routingControlState' failed to satisfy constraint: Member must satisfy enum value set: [On, Off]"
        ))),
    }
}

fn safety_rules(input: &Map<String, Value>) -> Result<(), AwsError> {
    match input.get("SafetyRulesToOverride") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(l)) if l.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(AwsError::new(
            "SerializationException",
            StatusCode::BAD_REQUEST,
            "SafetyRulesToOverride must be a list of ARNs",
        )),
    }
}

fn state_name(on: bool) -> &'static str {
    if on { "On" } else { "Off" }
}

fn get_routing_control_state(sim: &mut Sim, input: &Map<String, Value>) -> Result<Value, AwsError> {
    let arn = required_string(input, "RoutingControlArn")?;
    let ri = control_region(sim, arn)?;
    let name = sim.region_names()[ri].clone();
    Ok(
        json!({"RoutingControlArn": arn, "RoutingControlState": state_name(sim.routing_control(ri)), "RoutingControlName": name}),
    )
}

fn update_routing_control_state(
    sim: &mut Sim,
    input: &Map<String, Value>,
    now: i64,
) -> Result<Value, AwsError> {
    let arn = required_string(input, "RoutingControlArn")?;
    let on = state_value(input)?;
    safety_rules(input)?;
    let ri = control_region(sim, arn)?;
    sim.set_routing_control(ri, on, now);
    Ok(json!({}))
}

fn update_routing_control_states(
    sim: &mut Sim,
    input: &Map<String, Value>,
    now: i64,
) -> Result<Value, AwsError> {
    safety_rules(input)?;
    let entries = match input.get("UpdateRoutingControlStateEntries") {
        None | Some(Value::Null) => {
            return Err(AwsError::validation(
                "1 validation error detected: Value null at 'updateRoutingControlStateEntries' failed to satisfy constraint: Member must not be null",
            ));
        }
        Some(Value::Array(l)) => l,
        Some(_) => {
            return Err(AwsError::new(
                "SerializationException",
                StatusCode::BAD_REQUEST,
                "UpdateRoutingControlStateEntries must be a list",
            ));
        }
    };
    // Validate every entry before changing anything: the call is atomic.
    let mut changes = Vec::new();
    for e in entries {
        let Value::Object(m) = e else {
            return Err(AwsError::new(
                "SerializationException",
                StatusCode::BAD_REQUEST,
                "entries must be objects",
            ));
        };
        let arn = required_string(m, "RoutingControlArn")?;
        let on = state_value(m)?;
        changes.push((control_region(sim, arn)?, on));
    }
    for (ri, on) in changes {
        sim.set_routing_control(ri, on, now);
    }
    Ok(json!({}))
}

fn list_routing_controls(sim: &mut Sim, input: &Map<String, Value>) -> Result<Value, AwsError> {
    let max = optional_number(input, "MaxResults", 1.0, 1000.0)?
        .map(|m| m as usize)
        .unwrap_or(500);
    if let Some(panel) = input.get("ControlPanelArn") {
        match panel.as_str() {
            Some(p) if p == CONTROL_PANEL_ARN => {}
            Some(p) => {
                return Err(AwsError::new(
                    "ResourceNotFoundException",
                    StatusCode::NOT_FOUND,
                    format!("Control panel {p} not found"),
                ));
            }
            None => {
                return Err(AwsError::new(
                    "SerializationException",
                    StatusCode::BAD_REQUEST,
                    "ControlPanelArn must be a string",
                ));
            }
        }
    }
    let start = match input.get("NextToken") {
        None | Some(Value::Null) => 0,
        Some(Value::String(t)) => t
            .parse::<usize>()
            .map_err(|_| AwsError::validation(format!("invalid NextToken {t}")))?,
        Some(_) => {
            return Err(AwsError::new(
                "SerializationException",
                StatusCode::BAD_REQUEST,
                "NextToken must be a string",
            ));
        }
    };
    let names = sim.region_names();
    let page: Vec<Value> = names
        .iter()
        .enumerate()
        .skip(start)
        .take(max)
        .map(|(ri, n)| {
            json!({
                "ControlPanelArn": CONTROL_PANEL_ARN,
                "ControlPanelName": "sim",
                "RoutingControlArn": routing_control_arn(n),
                "RoutingControlName": n,
                "RoutingControlState": state_name(sim.routing_control(ri)),
                "Owner": "000000000000",
            })
        })
        .collect();
    let mut out = json!({ "RoutingControls": page });
    if start + max < names.len() {
        out["NextToken"] = Value::String((start + max).to_string());
    }
    Ok(out)
}
