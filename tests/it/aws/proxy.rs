//! A small loopback HTTP server in front of a real emulator (moto or the
//! simulator). It forwards every request unchanged, except that it can:
//!
//! * answer the next N calls of an operation with an AWS error instead
//!   (throttling, access denied, a safety-rule conflict), to see the SDK's
//!   retries and gameday's error messages against a real server;
//! * speak CloudWatch's Smithy RPC v2 CBOR protocol to the SDK while talking
//!   awsJson1_0 to moto, which has no CBOR support (the SDK's CloudWatch
//!   client only speaks CBOR since late 2025): bodies are converted
//!   value-for-value, timestamps (CBOR tag 1) to and from epoch seconds;
//! * count the calls of each operation.
//!
//! It runs on its own thread and runtime, so tests stay synchronous.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use minicbor::data::{Tag, Token};
use serde_json::{Map, Number, Value};
use std::sync::{Arc, Mutex};

/// Answer the next `times` calls of `op` with the AWS error `code`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub op: String,
    pub times: usize,
    pub status: u16,
    pub code: String,
}

struct Shared {
    upstream: String,
    faults: Mutex<Vec<Fault>>,
    calls: Mutex<Vec<String>>,
    http: reqwest::Client,
}

pub struct Proxy {
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            faults: Mutex::new(vec![]),
            calls: Mutex::new(vec![]),
            http: gameday::tls::http_builder()
                .no_proxy()
                .build()
                .expect("http"),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(handle).with_state(state);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Proxy {
            url,
            shared,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn fail(&self, op: &str, times: usize, status: u16, code: &str) {
        self.shared.faults.lock().unwrap().push(Fault {
            op: op.into(),
            times,
            status,
            code: code.into(),
        });
    }

    /// How many calls of `op` arrived (faulted ones included).
    pub fn calls(&self, op: &str) -> usize {
        self.shared
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c == op)
            .count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum Protocol {
    /// `POST /service/{service}/operation/{op}`, `application/cbor`.
    Cbor { service: String },
    /// `X-Amz-Target: {service}.{op}`, awsJson 1.0 or 1.1.
    Json { content_type: String },
    /// Query and REST protocols: forwarded as they are.
    Other,
}

async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let (protocol, op) = if let Some(rest) = path.strip_prefix("/service/") {
        let (service, op) = rest.split_once("/operation/").unwrap_or((rest, ""));
        (
            Protocol::Cbor {
                service: service.to_string(),
            },
            op.to_string(),
        )
    } else if let Some(t) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/x-amz-json-1.1")
            .to_string();
        (
            Protocol::Json { content_type: ct },
            t.split_once('.').map_or("", |x| x.1).to_string(),
        )
    } else {
        (Protocol::Other, String::new())
    };
    s.calls.lock().unwrap().push(op.clone());

    let fault = {
        let mut faults = s.faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|f| f.op == op && f.times > 0)
            .map(|f| {
                f.times -= 1;
                f.clone()
            })
    };
    if let Some(f) = fault {
        let err = serde_json::json!({"__type": f.code, "message": format!("injected by the test proxy: {}", f.code)});
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
        return match &protocol {
            Protocol::Cbor { .. } => cbor_response(status, &err),
            Protocol::Json { content_type } => {
                let mut r = (status, err.to_string()).into_response();
                r.headers_mut().insert(
                    "content-type",
                    HeaderValue::from_str(content_type)
                        .unwrap_or(HeaderValue::from_static("application/json")),
                );
                r.headers_mut().insert(
                    "x-amzn-errortype",
                    HeaderValue::from_str(&f.code).unwrap_or(HeaderValue::from_static("Unknown")),
                );
                r
            }
            Protocol::Other => (status, err.to_string()).into_response(),
        };
    }

    let upstream = s.upstream.clone();
    match protocol {
        Protocol::Cbor { service } => {
            let input = if body.is_empty() {
                Value::Object(Map::new())
            } else {
                match cbor_to_json(&body) {
                    Ok(v) => v,
                    Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
                }
            };
            let mut req = s
                .http
                .post(format!("{upstream}/"))
                .header("x-amz-target", format!("{service}.{op}"))
                .header("content-type", "application/x-amz-json-1.0")
                .body(input.to_string());
            if let Some(a) = headers.get("authorization") {
                req = req.header("authorization", a);
            }
            match req.send().await {
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Object(Map::new()));
                    cbor_response(status, &v)
                }
            }
        }
        Protocol::Json { .. } | Protocol::Other => {
            let url = format!(
                "{upstream}{}",
                uri.path_and_query().map_or("/", |p| p.as_str())
            );
            let mut req = s.http.request(method, url).body(body);
            for (k, v) in &headers {
                if k != "host" && k != "content-length" {
                    req = req.header(k, v);
                }
            }
            match req.send().await {
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
                Ok(r) => {
                    let status = r.status();
                    let hs = r.headers().clone();
                    let bytes = r.bytes().await.unwrap_or_default();
                    let mut out = (status, bytes).into_response();
                    for (k, v) in &hs {
                        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
                            out.headers_mut().insert(k, v.clone());
                        }
                    }
                    out
                }
            }
        }
    }
}

fn cbor_response(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, json_to_cbor(v, false)).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/cbor"));
    r.headers_mut()
        .insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    r
}

/// CBOR → JSON. Timestamps (tag 1) become epoch seconds.
pub fn cbor_to_json(bytes: &[u8]) -> Result<Value, String> {
    let mut tokens = minicbor::decode::Tokenizer::new(bytes);
    let v = value(&mut tokens)?;
    Ok(v.unwrap_or(Value::Null))
}

fn number(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// The next value, or None at a break.
fn value(t: &mut minicbor::decode::Tokenizer<'_, '_>) -> Result<Option<Value>, String> {
    let tok = t
        .next()
        .ok_or("unexpected end of CBOR")?
        .map_err(|e| e.to_string())?;
    Ok(Some(match tok {
        Token::Break => return Ok(None),
        Token::Bool(b) => Value::Bool(b),
        Token::U8(n) => Value::from(n),
        Token::U16(n) => Value::from(n),
        Token::U32(n) => Value::from(n),
        Token::U64(n) => Value::from(n),
        Token::I8(n) => Value::from(n),
        Token::I16(n) => Value::from(n),
        Token::I32(n) => Value::from(n),
        Token::I64(n) => Value::from(n),
        Token::Int(n) => Value::from(i64::try_from(n).map_err(|e| e.to_string())?),
        Token::F16(f) | Token::F32(f) => number(f64::from(f)),
        Token::F64(f) => number(f),
        Token::String(s) => Value::String(s.to_string()),
        Token::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Token::Null | Token::Undefined | Token::Simple(_) => Value::Null,
        Token::Tag(_) => value(t)?.unwrap_or(Value::Null),
        Token::Array(n) => {
            let mut out = vec![];
            for _ in 0..n {
                out.push(value(t)?.unwrap_or(Value::Null));
            }
            Value::Array(out)
        }
        Token::BeginArray => {
            let mut out = vec![];
            while let Some(v) = value(t)? {
                out.push(v);
            }
            Value::Array(out)
        }
        Token::Map(n) => {
            let mut out = Map::new();
            for _ in 0..n {
                let k = value(t)?.unwrap_or(Value::Null);
                let v = value(t)?.unwrap_or(Value::Null);
                out.insert(k.as_str().unwrap_or_default().to_string(), v);
            }
            Value::Object(out)
        }
        Token::BeginMap => {
            let mut out = Map::new();
            while let Some(k) = value(t)? {
                let v = value(t)?.unwrap_or(Value::Null);
                out.insert(k.as_str().unwrap_or_default().to_string(), v);
            }
            Value::Object(out)
        }
        Token::BeginBytes | Token::BeginString => {
            let mut s = String::new();
            while let Some(v) = value(t)? {
                s.push_str(v.as_str().unwrap_or_default());
            }
            Value::String(s)
        }
    }))
}

/// JSON → CBOR. Numbers under a key naming a timestamp (`…Timestamp`,
/// `Timestamps`, `…Time`) become timestamps (tag 1).
pub fn json_to_cbor(v: &Value, timestamp: bool) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    encode(&mut e, v, timestamp);
    e.into_writer()
}

fn is_timestamp_key(k: &str) -> bool {
    k.ends_with("Timestamp") || k == "Timestamps" || k.ends_with("Time")
}

fn encode(e: &mut minicbor::Encoder<Vec<u8>>, v: &Value, timestamp: bool) {
    let _ = match v {
        Value::Null => e.null().map(|_| ()),
        Value::Bool(b) => e.bool(*b).map(|_| ()),
        Value::Number(n) => {
            if timestamp {
                let _ = e.tag(Tag::new(1));
                e.f64(n.as_f64().unwrap_or_default()).map(|_| ())
            } else if let Some(i) = n.as_i64() {
                e.i64(i).map(|_| ())
            } else {
                e.f64(n.as_f64().unwrap_or_default()).map(|_| ())
            }
        }
        Value::String(s) => e.str(s).map(|_| ()),
        Value::Array(a) => {
            let _ = e.array(a.len() as u64);
            for x in a {
                encode(e, x, timestamp);
            }
            Ok(())
        }
        Value::Object(m) => {
            let _ = e.map(m.len() as u64);
            for (k, x) in m {
                let _ = e.str(k);
                encode(e, x, is_timestamp_key(k));
            }
            Ok(())
        }
    };
}
