//! The simulator's HTTP listener: shared state, the ticker that moves the
//! model along the wall clock and records history, and the router that puts
//! every face on one port.
//!
//! | path | face |
//! |---|---|
//! | `GET /metrics` | Prometheus text exposition ([`super::metrics`]) |
//! | `GET/POST /api/v1/query`, `/api/v1/query_range`; `GET /api/v1/alerts`, `/api/v1/rules`, `/api/v1/status/buildinfo`, `/-/ready`, `/-/healthy` | Prometheus HTTP API over the recorded history ([`super::promapi`]) |
//! | `POST /` with `X-Amz-Target` | Global Accelerator and Route 53 ARC wire protocols ([`super::aws`]) |
//! | `PUT/GET /app/{region}/records/{key}`, `GET /app/{region}/health` | application API ([`super::app`]) |
//! | `GET /sim/truth`, `GET/POST /sim/faults`, `GET /` | ground truth, runtime faults, an index ([`super::app`]) |

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::SimError;
use super::config::SimConfig;
use super::history::History;
use super::model::Sim;

/// Largest request body accepted on any endpoint.
pub const MAX_BODY: usize = 64 * 1024;

/// State shared by every handler.
pub(crate) struct Shared {
    sim: Mutex<Sim>,
    pub(crate) history: History,
}

/// The wall clock, unix ms.
pub(crate) fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Sim> {
        // A poisoned lock only means a handler panicked mid-call; the model is
        // still consistent enough to keep serving.
        self.sim.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bring the model to the wall clock, run `f` at that instant, and record
    /// any samples taken on the way into the history.
    pub(crate) fn with_sim<R>(&self, f: impl FnOnce(&mut Sim, i64) -> R) -> R {
        let now = wall_ms();
        let mut sim = self.lock();
        sim.advance_to(now);
        let r = f(&mut sim, now);
        self.flush(&mut sim);
        r
    }

    fn flush(&self, sim: &mut Sim) {
        for (t, samples) in sim.take_recorded() {
            if let Err(e) = self.history.record(t, &samples) {
                tracing::warn!("{e}");
            }
        }
    }
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    ticker: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop serving and wait for the server to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.ticker.take() {
            t.abort();
            let _ = t.await;
        }
        if let Some(s) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), s).await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}

/// Start the simulator on `listen` (port 0 picks a free port).
pub async fn start(
    config: SimConfig,
    seed: u64,
    listen: SocketAddr,
) -> Result<SimHandle, SimError> {
    let history =
        History::new(config.history_retention + config.backfill).map_err(SimError::History)?;
    let tick = config.tick.max(Duration::from_millis(10));
    let backfill = config.backfill;
    let now = wall_ms();
    let start_ms = now - i64::try_from(backfill.as_millis()).unwrap_or(0);
    let mut sim = Sim::new(config, seed, start_ms);
    sim.set_recording(true);
    let shared = Arc::new(Shared {
        sim: Mutex::new(sim),
        history,
    });
    if !backfill.is_zero() {
        let s = shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut sim = s.lock();
            let mut t = start_ms;
            while t < now {
                t = (t + 60_000).min(now);
                sim.advance_to(t);
                s.flush(&mut sim);
            }
        })
        .await
        .map_err(|e| SimError::History(format!("backfill failed: {e}")))?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| SimError::Bind(listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| SimError::Bind(listen, e))?;
    let (stop, mut stopped) = watch::channel(false);

    let ticker_state = shared.clone();
    let ticker = tokio::spawn(async move {
        let mut iv = tokio::time::interval(tick);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            iv.tick().await;
            ticker_state.with_sim(|_, _| ());
        }
    });

    let app = router(shared);
    let server = tokio::spawn(async move {
        let graceful = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(graceful)
            .await
        {
            tracing::error!("simulator server stopped: {e}");
        }
    });
    Ok(SimHandle {
        addr,
        stop,
        server: Some(server),
        ticker: Some(ticker),
    })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(super::app::index).post(super::aws::dispatch))
        .route("/metrics", get(super::promapi::metrics))
        .route(
            "/api/v1/query",
            get(super::promapi::query).post(super::promapi::query),
        )
        .route(
            "/api/v1/query_range",
            get(super::promapi::query_range).post(super::promapi::query_range),
        )
        .route("/api/v1/alerts", get(super::promapi::alerts))
        .route("/api/v1/rules", get(super::promapi::rules))
        .route("/api/v1/status/buildinfo", get(super::promapi::buildinfo))
        .route("/-/ready", get(super::promapi::ready))
        .route("/-/healthy", get(super::promapi::ready))
        .route("/sim/truth", get(super::app::truth))
        .route(
            "/sim/faults",
            get(super::app::get_faults).post(super::app::set_faults),
        )
        .route(
            "/app/{region}/records/{key}",
            get(super::app::read).put(super::app::write),
        )
        .route("/app/{region}/health", get(super::app::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// A JSON error body `{"error": reason}` with `status`.
pub(crate) fn json_error(status: StatusCode, reason: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": reason.into() })),
    )
        .into_response()
}

async fn not_found(method: Method, uri: Uri) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
}
